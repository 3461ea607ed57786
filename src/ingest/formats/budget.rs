//! What a request may become once mapped. Another tool's format can share one value among many
//! events (Loki's stream labels, OTLP's resource and scope attributes), and our model gives
//! every event its own copy: a 341 KB push of one 40 KiB label on 10,000 lines would become
//! 400 MB. So each mapped event is measured as it is made, one at a time:
//! - past `MAX_EVENT_BYTES` (64 KiB, the limit of every format) it is rejected alone, as
//!   `event_too_large`, and dropped at once;
//! - the events of one request together may hold at most `MAPPED_MULTIPLE` times the body
//!   (decoded), or `MAPPED_FLOOR` for a small body; past that the whole request is a 413,
//!   before the next event is made.
//!
//! So a request's mapped events never hold more than that budget plus one event, whatever the
//! body shares (`npm run bench`, "hostile", measures the isolate's memory for each format).

use serde_json::Value;

use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, MAX_EVENT_BYTES};
use crate::processors::fields::Fields;

/// How many times its decoded body a request's mapped events may hold. Measured on real
/// shippers' batches: Kubernetes labels (~300 B) on short lines (~80 B) come to ~4×.
pub const MAPPED_MULTIPLE: usize = 6;
/// The budget of a small body: a single event of the largest size fits many times over.
pub const MAPPED_FLOOR: usize = 2 * 1024 * 1024;

/// Counts bytes written through it, keeping none.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of a value as compact JSON, without building the text.
pub fn json_size(value: &Value) -> usize {
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// The size of an event's fields as a compact JSON object (keys need no escaping: they are
/// our field names or the sender's, and an escape only lengthens them a little).
pub fn fields_size(fields: &Fields) -> usize {
    let pairs = fields.iter().enumerate();
    // `"key":value`, and a comma before every pair but the first, inside the braces.
    let bytes: usize = pairs
        .map(|(i, (key, value))| key.len() + 3 + json_size(value) + usize::from(i > 0))
        .sum();
    bytes + 2
}

/// The request's budget, charged as its events are mapped.
#[derive(Debug)]
pub struct MappedBudget {
    total: usize,
    used: usize,
}

impl MappedBudget {
    pub fn for_body(body_bytes: usize) -> Self {
        MappedBudget {
            total: body_bytes.saturating_mul(MAPPED_MULTIPLE).max(MAPPED_FLOOR),
            used: 0,
        }
    }

    /// The item to keep for a freshly mapped one: itself, or its rejection when the event is
    /// over the per-event limit. `Err` (413) when the request passes its budget.
    pub fn admit(&mut self, index: usize, item: RawItem) -> Result<RawItem, AppError> {
        let size = match &item {
            RawItem::Event(value) => json_size(value),
            RawItem::Object(fields) => fields_size(fields),
            RawItem::Rejected(_) => return Ok(item),
        };
        if size > MAX_EVENT_BYTES {
            return Ok(RawItem::Rejected(ItemError::new(
                index,
                RejectReason::EventTooLarge,
                format!(
                    "the event is {size} bytes once mapped; the limit is {MAX_EVENT_BYTES} bytes (64 KiB)"
                ),
            )));
        }
        self.used += size;
        if self.used > self.total {
            return Err(AppError::PayloadTooLarge(format!(
                "The request's events would hold more than {} bytes once mapped ({MAPPED_MULTIPLE} times the body): values shared by many events (stream labels, resource attributes) are copied into each. Send fewer events per request or smaller shared values.",
                self.total
            )));
        }
        Ok(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_are_the_compact_json() {
        let value = json!({"message": "héllo", "n": [1, 2]});
        assert_eq!(json_size(&value), value.to_string().len());
        let mut fields = Fields::with_capacity(2);
        fields.push("message", json!("héllo"));
        fields.push("n", json!([1, 2]));
        assert_eq!(fields_size(&fields), value.to_string().len());
    }

    #[test]
    fn a_large_event_is_rejected_alone_and_a_large_request_whole() {
        let mut budget = MappedBudget::for_body(100);
        let big = RawItem::Event(json!({"message": "x".repeat(MAX_EVENT_BYTES)}));
        match budget.admit(3, big).unwrap() {
            RawItem::Rejected(e) => {
                assert_eq!((e.index, e.code), (3, RejectReason::EventTooLarge));
            }
            other => panic!("{other:?}"),
        }
        let event = || RawItem::Event(json!({"message": "y".repeat(60_000)}));
        let fits = MAPPED_FLOOR / 60_000;
        for i in 0..fits {
            assert!(matches!(budget.admit(i, event()), Ok(RawItem::Event(_))));
        }
        assert_eq!(budget.admit(fits, event()).unwrap_err().status(), 413);
    }

    #[test]
    fn the_budget_grows_with_the_body() {
        assert_eq!(MappedBudget::for_body(10).total, MAPPED_FLOOR);
        assert_eq!(MappedBudget::for_body(1_000_000).total, 6_000_000);
    }
}
