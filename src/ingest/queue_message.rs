//! Packing accepted events into queue messages and `send_batch` calls.
//!
//! A queue takes 5,000 messages a second, so one message per event would cap a domain at
//! 5,000 events/s. Instead a message carries as many events as fit in Cloudflare's 128 KB
//! message limit, and a `send_batch` carries up to 100 messages and 256 KB. The budgets below
//! leave headroom for the queue's own per-message envelope.
//!
//! A message body is UTF-8 JSON, `{"project": <p or null>, "events": [<compact events>]}`, sent
//! as bytes (a `Uint8Array`, V8 content type) so that its size is exactly what we measured here
//! and the consumer can hand it to D1's `json_each(?, '$.events')` without parsing the events.
//! All events of a message come from one request, hence one key and one project.

use crate::ingest::formats::Malformed;
use crate::model::{ItemError, RejectReason};

pub const MESSAGE_BUDGET_BYTES: usize = 120_000;
pub const BATCH_BUDGET_BYTES: usize = 240_000;
pub const BATCH_MAX_MESSAGES: usize = 100;

/// `T` names an event to its sender: its index in the request body, or, when the outbox packs
/// several requests' events together, the request and the index.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedMessage<T = usize> {
    /// `{"project":…,"events":[event,event,...]}` as UTF-8 JSON.
    pub body: Vec<u8>,
    /// The events inside, to report per-event outcomes.
    pub indexes: Vec<T>,
}

/// One `send_batch` call's worth of messages.
pub type PackedBatch<T = usize> = Vec<PackedMessage<T>>;

/// Packs `(index, compact JSON)` pairs greedily in order. An event too large for any message
/// comes back as a per-event error instead.
pub fn pack(
    project: Option<&str>,
    events: Vec<(usize, String)>,
) -> (Vec<PackedBatch>, Vec<ItemError>) {
    let (batches, too_large) = pack_tagged(project, events);
    let errors = too_large
        .into_iter()
        .map(|(index, bytes)| too_large_error(index, bytes))
        .collect();
    (batches, errors)
}

/// The error of an event that no message can hold.
pub fn too_large_error(index: usize, bytes: usize) -> ItemError {
    ItemError::new(
        index,
        RejectReason::EventTooLarge,
        format!("the processed event is {bytes} bytes; a queue message holds at most {MESSAGE_BUDGET_BYTES}"),
    )
}

fn envelope_head(project: Option<&str>) -> String {
    format!(
        r#"{{"project":{},"events":["#,
        serde_json::to_string(&project).expect("a string serialises")
    )
}

/// The most bytes of compact JSON one event of this project may have and still fit a message
/// on its own: the budget less the envelope, a separating comma and the closing `]}`.
pub fn event_budget(project: Option<&str>) -> usize {
    MESSAGE_BUDGET_BYTES - envelope_head(project).len() - 3
}

/// [`pack`] for any tag; events too large for a message come back as `(tag, bytes)`.
pub fn pack_tagged<T>(
    project: Option<&str>,
    events: Vec<(T, String)>,
) -> (Vec<PackedBatch<T>>, Vec<(T, usize)>) {
    let head = envelope_head(project);
    let budget = event_budget(project);
    let open = || PackedMessage {
        body: head.as_bytes().to_vec(),
        indexes: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut messages: Vec<PackedMessage<T>> = Vec::new();
    let mut current = open();
    for (index, json) in events {
        if json.len() > budget {
            errors.push((index, json.len()));
            continue;
        }
        if current.body.len() + json.len() + 3 > MESSAGE_BUDGET_BYTES {
            messages.push(close(std::mem::replace(&mut current, open())));
        }
        if !current.indexes.is_empty() {
            current.body.push(b',');
        }
        current.body.extend_from_slice(json.as_bytes());
        current.indexes.push(index);
    }
    if !current.indexes.is_empty() {
        messages.push(close(current));
    }

    let mut batches: Vec<PackedBatch<T>> = Vec::new();
    let mut batch: PackedBatch<T> = Vec::new();
    let mut batch_bytes = 0;
    for message in messages {
        if !batch.is_empty()
            && (batch.len() == BATCH_MAX_MESSAGES
                || batch_bytes + message.body.len() > BATCH_BUDGET_BYTES)
        {
            batches.push(std::mem::take(&mut batch));
            batch_bytes = 0;
        }
        batch_bytes += message.body.len();
        batch.push(message);
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    (batches, errors)
}

fn close<T>(mut message: PackedMessage<T>) -> PackedMessage<T> {
    message.body.extend_from_slice(b"]}");
    message
}

/// What the consumer reads of a message: the project, and the events left unparsed.
#[derive(Debug, serde::Deserialize)]
pub struct MessageEnvelope<'a> {
    pub project: Option<String>,
    #[serde(borrow)]
    pub events: &'a serde_json::value::RawValue,
}

pub fn read_envelope(body: &str) -> Result<MessageEnvelope<'_>, Malformed> {
    let envelope: MessageEnvelope =
        serde_json::from_str(body).map_err(|e| format!("not an event message: {e}"))?;
    if !envelope.events.get().starts_with('[') {
        return Err(Malformed::new(
            "not an event message: events is not an array",
        ));
    }
    Ok(envelope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn events(n: usize, size: usize) -> Vec<(usize, String)> {
        (0..n)
            .map(|i| {
                (
                    i,
                    format!("{{\"m\":\"{}\"}}", "x".repeat(size.saturating_sub(8))),
                )
            })
            .collect()
    }

    fn all_indexes(batches: &[PackedBatch]) -> Vec<usize> {
        batches
            .iter()
            .flatten()
            .flat_map(|m| m.indexes.clone())
            .collect()
    }

    #[test]
    fn small_requests_are_one_message_in_one_batch() {
        let (batches, errors) = pack(None, events(100, 500));
        assert!(errors.is_empty());
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].len(), 1);
        let parsed: Vec<Value> = serde_json::from_str(
            read_envelope(std::str::from_utf8(&batches[0][0].body).unwrap())
                .unwrap()
                .events
                .get(),
        )
        .unwrap();
        assert_eq!(parsed.len(), 100);
    }

    #[test]
    fn a_full_request_respects_every_limit_and_loses_nothing() {
        // 1000 events of ~1 KiB, the biggest request by count.
        for (n, size) in [
            (1000, 1024),
            (1000, 1000),
            (16, 64 * 1024),
            (3, 119_000),
            (1, 10),
        ] {
            let (batches, errors) = pack(None, events(n, size));
            assert!(errors.is_empty());
            assert_eq!(
                all_indexes(&batches),
                (0..n).collect::<Vec<_>>(),
                "order kept, none lost"
            );
            for batch in &batches {
                assert!(batch.len() <= BATCH_MAX_MESSAGES);
                assert!(batch.iter().map(|m| m.body.len()).sum::<usize>() <= BATCH_BUDGET_BYTES);
                for m in batch {
                    assert!(m.body.len() <= MESSAGE_BUDGET_BYTES);
                    let parsed: Vec<Value> = serde_json::from_str(
                        read_envelope(std::str::from_utf8(&m.body).unwrap())
                            .unwrap()
                            .events
                            .get(),
                    )
                    .unwrap();
                    assert_eq!(parsed.len(), m.indexes.len());
                }
            }
        }
    }

    #[test]
    fn an_event_too_big_for_a_message_is_rejected_alone() {
        let mut input = events(2, 100);
        input.insert(1, (7, "x".repeat(MESSAGE_BUDGET_BYTES)));
        let (batches, errors) = pack(None, input);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, 7);
        assert_eq!(all_indexes(&batches), vec![0, 1]);
    }

    #[test]
    fn the_envelope_names_the_project() {
        let (batches, _) = pack(Some("shop"), events(2, 50));
        let body = std::str::from_utf8(&batches[0][0].body).unwrap();
        let envelope = read_envelope(body).unwrap();
        assert_eq!(envelope.project.as_deref(), Some("shop"));
        assert!(read_envelope("[1,2]").is_err());
        assert!(read_envelope(r#"{"project":null,"events":{}}"#).is_err());
        assert!(read_envelope("not json").is_err());
    }

    #[test]
    fn nothing_in_nothing_out() {
        let (batches, errors) = pack(None, vec![]);
        assert!(batches.is_empty() && errors.is_empty());
    }
}
