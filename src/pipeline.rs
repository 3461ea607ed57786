//! The ingest pipeline, top to bottom: body → events → normalise → categorise → fingerprint →
//! triage. Pure: the clock and the ids come in as values, so it runs the same natively and in
//! the worker.

use serde_json::Value;
use uuid::Uuid;

use crate::error::AppError;
use crate::model::{ItemError, StoredEvent};
use crate::processors::body::{body_format, split_events, RawItem};
use crate::processors::categorize::categorize;
use crate::processors::fingerprint::fingerprint;
use crate::processors::normalize::{normalize_event, IngestContext};
use crate::processors::stack::parse_stack;
use crate::triage::triage;

/// What a request body turned into: the events to enqueue, with their index in the body,
/// and the per-index errors of the rest.
#[derive(Debug, Default)]
pub struct IngestOutcome {
    pub accepted: Vec<(usize, StoredEvent)>,
    pub errors: Vec<ItemError>,
}

/// One event through every step.
pub fn process_event(
    value: Value,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, String> {
    let mut event = normalize_event(value, ctx, random_id)?;
    let frames = event
        .error
        .as_ref()
        .and_then(|e| e.stack.as_deref())
        .map(parse_stack)
        .unwrap_or_default();
    categorize(&mut event, &frames);
    fingerprint(&mut event, &frames);
    triage(&mut event);
    Ok(event)
}

/// A whole body. `next_id` is called once per event that has no `event_id` of its own.
/// Errors only when nothing in the body is usable (the contract's 400/413/415).
pub fn process_body(
    content_type: Option<&str>,
    body: &[u8],
    ctx: &IngestContext,
    mut next_id: impl FnMut() -> Uuid,
) -> Result<IngestOutcome, AppError> {
    let format = body_format(content_type)?;
    let items = split_events(format, body)?;
    let mut outcome = IngestOutcome::default();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            RawItem::Rejected(e) => outcome.errors.push(e),
            RawItem::Event(value) => match process_event(value, ctx, next_id()) {
                Ok(event) => outcome.accepted.push((index, event)),
                Err(message) => {
                    outcome
                        .errors
                        .push(ItemError::new(index, "invalid_event", message))
                }
            },
        }
    }
    if outcome.accepted.is_empty() {
        let message = if outcome.errors.len() == 1 {
            format!("The event is not usable: {}.", outcome.errors[0].message)
        } else {
            format!(
                "None of the {} events is usable; see errors.",
                outcome.errors.len()
            )
        };
        let all_bad_json = outcome.errors.iter().all(|e| e.code == "invalid_json");
        return Err(if all_bad_json && outcome.errors.len() == 1 {
            AppError::InvalidJson(message)
        } else {
            AppError::InvalidEvents {
                message,
                errors: outcome.errors,
            }
        });
    }
    Ok(outcome)
}

/// The 202 body once enqueueing is over: `queued` are `(index, id)` of events that reached the
/// queue; `unqueued` are indexes whose `send_batch` failed (retryable, so they are reported
/// with code `enqueue_failed` and the answer carries `Retry-After`). If nothing was queued the
/// answer is the contract's 503, never a 202.
pub fn ingest_answer(
    mut queued: Vec<(usize, String)>,
    mut errors: Vec<ItemError>,
    unqueued: Vec<usize>,
    retry_after: u32,
) -> Result<(Value, Option<u32>), AppError> {
    if queued.is_empty() {
        if unqueued.is_empty() {
            return Err(AppError::InvalidEvents {
                message: "No event in the body is usable; see errors.".into(),
                errors,
            });
        }
        return Err(AppError::Unavailable {
            message: "The queue is unavailable; nothing was accepted. Retry the same request."
                .into(),
            retry_after,
        });
    }
    let partial = !unqueued.is_empty();
    errors.extend(unqueued.into_iter().map(|index| {
        ItemError::new(
            index,
            "enqueue_failed",
            "the queue was unavailable for this event; send it again",
        )
    }));
    errors.sort_by_key(|e| e.index);
    queued.sort_by_key(|(index, _)| *index);
    let body = serde_json::json!({
        "accepted": queued.len(),
        "rejected": errors.len(),
        "ids": queued.into_iter().map(|(_, id)| id).collect::<Vec<_>>(),
        "errors": errors,
    });
    Ok((body, partial.then_some(retry_after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ctx() -> IngestContext {
        IngestContext {
            received_at: Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
            default_environment: "production".into(),
        }
    }

    fn ids() -> impl FnMut() -> Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            Uuid::from_u128(n)
        }
    }

    #[test]
    fn partial_acceptance_keeps_indexes() {
        let body =
            br#"[{"message":"ok"},{"level":"error"},{"message":"also ok","level":"warn"},7]"#;
        let out = process_body(Some("application/json"), body, &ctx(), ids()).unwrap();
        let indexes: Vec<usize> = out.accepted.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![0, 2]);
        let errs: Vec<(usize, &str)> = out
            .errors
            .iter()
            .map(|e| (e.index, e.code.as_str()))
            .collect();
        assert_eq!(errs, vec![(1, "invalid_event"), (3, "invalid_event")]);
    }

    #[test]
    fn nothing_usable_is_a_400_listing_each_event() {
        let err = process_body(
            Some("application/json"),
            br#"[{"level":"error"},{}]"#,
            &ctx(),
            ids(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.code(), "invalid_event");
        assert_eq!(err.body()["errors"].as_array().unwrap().len(), 2);
        let err = process_body(Some("application/x-ndjson"), b"{bad", &ctx(), ids()).unwrap_err();
        assert_eq!(err.code(), "invalid_json");
    }

    #[test]
    fn answers_after_enqueueing() {
        let (body, retry) = ingest_answer(
            vec![(2, "b".into()), (0, "a".into())],
            vec![ItemError::new(1, "invalid_event", "message is required")],
            vec![],
            5,
        )
        .unwrap();
        assert_eq!(body["accepted"], 2);
        assert_eq!(body["rejected"], 1);
        assert_eq!(body["ids"], serde_json::json!(["a", "b"]));
        assert_eq!(retry, None);

        let (body, retry) = ingest_answer(vec![(0, "a".into())], vec![], vec![1, 2], 5).unwrap();
        assert_eq!(body["rejected"], 2);
        assert_eq!(body["errors"][0]["code"], "enqueue_failed");
        assert_eq!(retry, Some(5));

        let err = ingest_answer(vec![], vec![], vec![0, 1], 5).unwrap_err();
        assert_eq!((err.status(), err.retry_after()), (503, Some(5)));
        let err = ingest_answer(
            vec![],
            vec![ItemError::new(0, "event_too_large", "x")],
            vec![],
            5,
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn every_stored_field_of_the_contract_is_filled() {
        let body = br#"{"message":"TypeError: Cannot read properties of undefined (reading 'id')","level":"error","environment":"prod","endpoint":"/api/users/42",
            "error":{"type":"TypeError","message":"Cannot read properties of undefined","stack":"    at UserCard.render (https://app.example.com/app.js:1:1)"}}"#;
        let out = process_body(None, body, &ctx(), ids()).unwrap();
        let e = &out.accepted[0].1;
        assert_eq!(e.level, "error");
        assert_eq!(e.severity_number, 17);
        assert_eq!(e.environment, "production");
        assert_eq!(e.source_type, "ui");
        assert_eq!(e.error_kind.as_deref(), Some("exception"));
        assert_eq!(e.component.as_deref(), Some("UserCard"));
        assert_eq!(e.route.as_deref(), Some("/api/users/:id"));
        assert_eq!(e.fingerprint.len(), 32);
        assert!(!e.fingerprint_reason.is_empty());
        assert!((1..=10).contains(&e.priority));
        assert_eq!(e.routing_key, "production.ui.UserCard.error");
        assert_eq!(e.triage.action, "escalate");
        assert!(e.triage.hints.iter().any(|h| h.rule == "null_reference"));
    }
}
