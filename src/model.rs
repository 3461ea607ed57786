//! Protocol types: the stored event (what queues carry and queries return) and per-event errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An event after the whole ingest pipeline: normalised, categorised, triaged.
///
/// This one type is what the producer puts on the queue, what D1 keeps (as JSON in
/// `events.data`) and what queries return. On the queue and in D1 absent values are omitted to
/// save bytes; `serde(default)` fills them back so every query answer has the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct StoredEvent {
    pub id: String,
    pub event_id: String,
    /// When the worker received the event, `YYYY-MM-DDTHH:MM:SS.mmmZ` (fixed width, so that
    /// text order is time order in D1 indexes).
    pub received_at: String,
    /// When the event happened, same format; defaults to `received_at`.
    pub timestamp: String,
    pub level: String,
    pub severity_number: u8,
    pub message: String,
    /// True when `message` was cut to the contract's 16 KiB.
    #[serde(skip_serializing_if = "is_false")]
    pub message_truncated: bool,
    pub environment: String,
    pub service: Option<String>,
    pub release: Option<String>,
    pub source_type: String,
    pub component: Option<String>,
    pub endpoint: Option<String>,
    pub route: Option<String>,
    pub error_kind: Option<String>,
    pub error: Option<ErrorInfo>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub request_id: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub tags: Map<String, Value>,
    pub context: Map<String, Value>,
    pub fingerprint: String,
    pub fingerprint_reason: String,
    pub priority: u8,
    pub routing_key: String,
    pub triage: Triage,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
    pub stack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Triage {
    pub action: String,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Hint {
    pub rule: String,
    pub cause: String,
    pub suggestion: String,
}

/// Why one event of a request was rejected: `{"index", "code", "message"}` in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    pub index: usize,
    pub code: String,
    pub message: String,
}

impl ItemError {
    pub fn new(index: usize, code: &str, message: impl Into<String>) -> Self {
        ItemError {
            index,
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl StoredEvent {
    /// The event as stored and queued: absent values left out.
    pub fn to_compact_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("a StoredEvent always serialises");
        if let Value::Object(map) = &mut value {
            map.retain(|_, v| match v {
                Value::Null => false,
                Value::Object(o) => !o.is_empty(),
                _ => true,
            });
        }
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_json_round_trips_to_the_full_shape() {
        let event = StoredEvent {
            id: "a".into(),
            event_id: "a".into(),
            message: "hello".into(),
            level: "info".into(),
            severity_number: 9,
            ..Default::default()
        };
        let compact = event.to_compact_json();
        assert!(!compact.contains("null"), "{compact}");
        assert!(!compact.contains("\"tags\""), "{compact}");
        let back: StoredEvent = serde_json::from_str(&compact).unwrap();
        assert_eq!(back, event);
        let full = serde_json::to_value(&back).unwrap();
        assert!(full.get("service").unwrap().is_null());
        assert!(full.get("tags").unwrap().is_object());
    }
}
