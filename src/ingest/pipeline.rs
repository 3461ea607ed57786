//! The ingest pipeline, top to bottom: body → events → normalise → categorise → fingerprint →
//! triage. Pure: the clock and the ids come in as values, so it runs the same natively and in
//! the worker.

use crate::processors::Invalid;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::controls::rules::DroppedEvent;
use crate::error::AppError;
use crate::model::{ItemError, RejectReason, StoredEvent};
use crate::processors::body::{body_format, split_events, RawItem};
use crate::processors::categorize::categorize;
use crate::processors::fields::Fields;
use crate::processors::fingerprint::fingerprint;
use crate::processors::normalize::{normalize_event, normalize_fields, IngestContext};
use crate::processors::scrub::scrub;
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
) -> Result<StoredEvent, Invalid> {
    prepare_event(value, ctx, random_id).map(enrich)
}

/// Normalised and scrubbed: what source maps work on, before anything reads the frames.
fn prepare_event(
    value: Value,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, Invalid> {
    normalize_event(value, ctx, random_id).map(|mut event| {
        // Scrub first: no later step, and nothing queued or stored, ever sees the secrets.
        scrub(&mut event, &ctx.scrub);
        event
    })
}

/// [`process_event`] for an object already read into its fields (our own body formats).
pub fn process_fields(
    fields: Fields,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, Invalid> {
    prepare_fields(fields, ctx, random_id).map(enrich)
}

fn prepare_fields(
    fields: Fields,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, Invalid> {
    normalize_fields(fields, ctx, random_id).map(|mut event| {
        scrub(&mut event, &ctx.scrub);
        event
    })
}

/// The steps that read the frames: categorise, fingerprint, triage. Run once, after source
/// maps (when the edge applies them), so that grouping sees the original frames.
pub fn enrich(mut event: StoredEvent) -> StoredEvent {
    let frames = event
        .error
        .as_ref()
        .and_then(|e| e.stack.as_deref())
        .map(parse_stack)
        .unwrap_or_default();
    categorize(&mut event, &frames);
    fingerprint(&mut event, &frames);
    triage(&mut event);
    event
}

/// A whole body. `next_id` is called once per event that has no `event_id` of its own.
/// Errors only when nothing in the body is usable (the contract's 400/413/415).
pub fn process_body(
    content_type: Option<&str>,
    body: &[u8],
    ctx: &IngestContext,
    next_id: impl FnMut() -> Uuid,
) -> Result<IngestOutcome, AppError> {
    prepare_body(content_type, body, ctx, next_id).map(enrich_all)
}

/// [`process_body`] up to [`enrich`]: the edge applies source maps in between.
pub fn prepare_body(
    content_type: Option<&str>,
    body: &[u8],
    ctx: &IngestContext,
    next_id: impl FnMut() -> Uuid,
) -> Result<IngestOutcome, AppError> {
    let format = body_format(content_type)?;
    prepare_items(split_events(format, body)?, ctx, next_id)
}

/// Raw items (from our own body format or mapped from another protocol) through every step.
/// Errors only when nothing is usable.
pub fn process_items(
    items: Vec<RawItem>,
    ctx: &IngestContext,
    next_id: impl FnMut() -> Uuid,
) -> Result<IngestOutcome, AppError> {
    prepare_items(items, ctx, next_id).map(enrich_all)
}

/// [`enrich`] for every accepted event of an outcome.
pub fn enrich_all(mut outcome: IngestOutcome) -> IngestOutcome {
    outcome.accepted = outcome
        .accepted
        .into_iter()
        .map(|(index, event)| (index, enrich(event)))
        .collect();
    outcome
}

/// [`process_items`] up to [`enrich`].
pub fn prepare_items(
    items: Vec<RawItem>,
    ctx: &IngestContext,
    mut next_id: impl FnMut() -> Uuid,
) -> Result<IngestOutcome, AppError> {
    let mut outcome = IngestOutcome::default();
    for (index, item) in items.into_iter().enumerate() {
        let processed = match item {
            RawItem::Rejected(e) => {
                outcome.errors.push(e);
                continue;
            }
            RawItem::Event(value) => prepare_event(value, ctx, next_id()),
            RawItem::Object(fields) => prepare_fields(fields, ctx, next_id()),
        };
        match processed {
            Ok(event) => outcome.accepted.push((index, event)),
            Err(message) => outcome.errors.push(ItemError::new(
                index,
                RejectReason::InvalidEvent,
                message.into_message(),
            )),
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
        let all_bad_json = outcome
            .errors
            .iter()
            .all(|e| e.code == RejectReason::InvalidJson);
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

/// The 202 body: `{"accepted", "rejected", "ids", "errors"}`, and `dropped` when ingest rules
/// kept events out (by index, with the rule and whether it dropped or sampled them out).
#[derive(Debug, Serialize)]
pub struct IngestAnswer {
    pub accepted: usize,
    pub rejected: usize,
    pub ids: Vec<String>,
    pub errors: Vec<ItemError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedEvent>,
}

/// Whether a request is refused as a whole: nothing queued, and not every usable event kept
/// out by the ingest rules (those were handled as asked: a request of only them is answered).
pub fn nothing_taken<T>(queued: &[T], unqueued: &[usize], dropped: &[DroppedEvent]) -> bool {
    queued.is_empty() && (dropped.is_empty() || !unqueued.is_empty())
}

/// The 202 body once enqueueing is over: `queued` are `(index, id)` of events that reached the
/// queue; `unqueued` are indexes whose `send_batch` failed (retryable, so they are reported
/// with code `enqueue_failed` and the answer carries `Retry-After`). If nothing was queued the
/// answer is the contract's 503, never a 202.
pub fn ingest_answer(
    mut queued: Vec<(usize, String)>,
    mut errors: Vec<ItemError>,
    unqueued: Vec<usize>,
    dropped: Vec<DroppedEvent>,
    retry_after: u32,
) -> Result<(IngestAnswer, Option<u32>), AppError> {
    if nothing_taken(&queued, &unqueued, &dropped) {
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
            RejectReason::EnqueueFailed,
            "the queue was unavailable for this event; send it again",
        )
    }));
    errors.sort_by_key(|e| e.index);
    queued.sort_by_key(|(index, _)| *index);
    let body = IngestAnswer {
        accepted: queued.len(),
        rejected: errors.len(),
        ids: queued.into_iter().map(|(_, id)| id).collect(),
        errors,
        dropped,
    };
    Ok((body, partial.then_some(retry_after)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn ctx() -> IngestContext {
        IngestContext::new(
            Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
            "production",
        )
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
            .map(|e| (e.index, e.code.code()))
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

    fn fingerprint_of(event: Value) -> String {
        process_event(event, &ctx(), Uuid::nil())
            .unwrap()
            .fingerprint
    }

    /// Pairs that must group together, through the whole pipeline (not just the fingerprint step).
    #[test]
    fn fingerprint_corpus_pairs_that_must_group() {
        let js = |file: &str, line: u32, msg: &str| {
            serde_json::json!({"message": msg, "level": "error", "error": {"type": "TypeError", "message": msg,
                "stack": format!("TypeError: {msg}\n    at UserCard.render (https://app.example.com/assets/{file}:{line}:5)\n    at load (https://app.example.com/assets/{file}:{}:1)\n    at commit (https://app.example.com/node_modules/react-dom/index.js:1:1)", line + 10)}})
        };
        let py = |line: u32, key: &str| {
            serde_json::json!({"message": format!("KeyError: '{key}'"), "level": "error", "error": {"type": "KeyError", "message": format!("'{key}'"),
                "stack": format!("Traceback (most recent call last):\n  File \"/app/api/views.py\", line {line}, in get_user\n  File \"/app/api/repo.py\", line {}, in find", line + 30)}})
        };
        let pairs: Vec<(Value, Value)> = vec![
            (
                serde_json::json!({"message": "User 1234 not found", "component": "Auth"}),
                serde_json::json!({"message": "User 98765 not found", "component": "Auth"}),
            ),
            (
                serde_json::json!({"message": "Order 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed"}),
                serde_json::json!({"message": "Order 0b5f7a38-1111-4b7a-9c41-e1d20b5f7a38 failed"}),
            ),
            (
                serde_json::json!({"message": "login failed for jane@example.com from 10.0.0.1"}),
                serde_json::json!({"message": "login failed for bob@corp.io from 192.168.1.20"}),
            ),
            (
                serde_json::json!({"message": "cache miss for key 'user:42' after 12.5ms"}),
                serde_json::json!({"message": "cache miss for key 'user:7' after 3ms"}),
            ),
            (
                serde_json::json!({"message": "job 2024-05-01T12:00:00Z took 300 ms"}),
                serde_json::json!({"message": "job 2024-06-02T01:02:03Z took 12 ms"}),
            ),
            (
                serde_json::json!({"message": "open /var/data/a.txt failed"}),
                serde_json::json!({"message": "open /srv/tmp/b.log failed"}),
            ),
            (
                serde_json::json!({"message": "commit 9f8e7d6c5b4a rejected"}),
                serde_json::json!({"message": "commit 0a1b2c3d4e5f rejected"}),
            ),
            (
                serde_json::json!({"message": "x", "fingerprint": ["checkout"]}),
                serde_json::json!({"message": "y", "fingerprint": ["checkout"]}),
            ),
            (
                js(
                    "app.3f2a9c1b.js",
                    10,
                    "Cannot read properties of undefined (reading 'id')",
                ),
                js(
                    "app.77aa0b12.js",
                    99,
                    "Cannot read properties of undefined (reading 'name')",
                ),
            ),
            (py(12, "user_42"), py(14, "user_43")),
        ];
        for (a, b) in pairs {
            assert_eq!(
                fingerprint_of(a.clone()),
                fingerprint_of(b.clone()),
                "must group:\n{a}\n{b}"
            );
        }
    }

    #[test]
    fn fingerprint_corpus_pairs_that_must_not_group() {
        let exc = |kind: &str, function: &str| {
            serde_json::json!({"message": "boom", "level": "error", "error": {"type": kind, "message": "boom",
                "stack": format!("    at {function} (https://app.example.com/app.js:1:1)")}})
        };
        let pairs: Vec<(Value, Value)> = vec![
            (
                serde_json::json!({"message": "User 1 not found", "component": "Auth"}),
                serde_json::json!({"message": "User 1 not found", "component": "Billing"}),
            ),
            (
                serde_json::json!({"message": "User 1 not found"}),
                serde_json::json!({"message": "Order 1 not found"}),
            ),
            (
                serde_json::json!({"message": "payment declined"}),
                serde_json::json!({"message": "payment accepted"}),
            ),
            (
                exc("TypeError", "UserCard.render"),
                exc("RangeError", "UserCard.render"),
            ),
            (
                exc("TypeError", "UserCard.render"),
                exc("TypeError", "Checkout.pay"),
            ),
            (
                exc("TypeError", "UserCard.render"),
                serde_json::json!({"message": "boom", "level": "error"}),
            ),
            (
                serde_json::json!({"message": "x", "fingerprint": ["a"]}),
                serde_json::json!({"message": "x", "fingerprint": ["b"]}),
            ),
            (
                serde_json::json!({"message": "x", "fingerprint": "a"}),
                serde_json::json!({"message": "x"}),
            ),
        ];
        for (a, b) in pairs {
            assert_ne!(
                fingerprint_of(a.clone()),
                fingerprint_of(b.clone()),
                "must not group:\n{a}\n{b}"
            );
        }
    }

    #[test]
    fn answers_after_enqueueing() {
        let (body, retry) = ingest_answer(
            vec![(2, "b".into()), (0, "a".into())],
            vec![ItemError::new(
                1,
                RejectReason::InvalidEvent,
                "message is required",
            )],
            vec![],
            vec![],
            5,
        )
        .unwrap();
        assert_eq!((body.accepted, body.rejected), (2, 1));
        assert_eq!(body.ids, vec!["a", "b"]);
        let text = serde_json::to_string(&body).unwrap();
        assert!(
            text.starts_with(r#"{"accepted":2,"rejected":1,"ids":["a","b"],"errors":[{"index":1"#),
            "{text}"
        );
        assert_eq!(retry, None);

        let (body, retry) =
            ingest_answer(vec![(0, "a".into())], vec![], vec![1, 2], vec![], 5).unwrap();
        assert_eq!(body.rejected, 2);
        assert_eq!(body.errors[0].code, RejectReason::EnqueueFailed);
        assert_eq!(retry, Some(5));

        let err = ingest_answer(vec![], vec![], vec![0, 1], vec![], 5).unwrap_err();
        assert_eq!((err.status(), err.retry_after()), (503, Some(5)));
        let err = ingest_answer(
            vec![],
            vec![ItemError::new(0, RejectReason::EventTooLarge, "x")],
            vec![],
            vec![],
            5,
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);

        // Everything kept out by the rules is answered: nothing to send again.
        let dropped = DroppedEvent {
            index: 0,
            id: "a".into(),
            rule: "r1".into(),
            reason: "dropped",
            project: None,
        };
        let (body, retry) = ingest_answer(vec![], vec![], vec![], vec![dropped], 5).unwrap();
        assert_eq!((body.accepted, body.dropped.len(), retry), (0, 1, None));
        let text = serde_json::to_string(&body).unwrap();
        assert!(
            text.ends_with(r#""dropped":[{"index":0,"id":"a","rule":"r1","reason":"dropped"}]}"#),
            "{text}"
        );
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
