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
    /// The tenant: the project of the ingest key (`None` for the admin token and unbound keys).
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub project: Option<String>,
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
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub release: Option<String>,
    pub source_type: String,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub component: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub route: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub error_kind: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub error: Option<ErrorInfo>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub trace_id: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub span_id: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_empty")]
    pub tags: Map<String, Value>,
    #[serde(skip_serializing_if = "compact::skip_empty")]
    pub context: Map<String, Value>,
    pub fingerprint: String,
    pub fingerprint_reason: String,
    pub priority: u8,
    pub routing_key: String,
    pub triage: Triage,
    /// Names of the scrubbing rules that changed this event (never what they removed).
    #[serde(skip_serializing_if = "compact::skip_empty_list")]
    pub scrubbed: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ErrorInfo {
    #[serde(rename = "type")]
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "compact::skip_none")]
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

/// An event as the detail routes answer it (`GET /v1/logs/{id}`, a group's recent events): the
/// stored event plus its stack parsed into frames, innermost first. Frames are parsed when read,
/// not stored: they are derived from `error.stack`, and a detail page reads a few events at most.
#[derive(Debug, Serialize)]
pub struct DetailedEvent {
    #[serde(flatten)]
    pub event: StoredEvent,
    pub stack_frames: Vec<crate::processors::stack::Frame>,
}

impl From<StoredEvent> for DetailedEvent {
    fn from(event: StoredEvent) -> Self {
        let stack_frames = event
            .error
            .as_ref()
            .and_then(|e| e.stack.as_deref())
            .map(crate::processors::stack::parse_stack)
            .unwrap_or_default();
        DetailedEvent {
            event,
            stack_frames,
        }
    }
}

impl StoredEvent {
    /// The event as stored and queued: absent values left out.
    pub fn to_compact_json(&self) -> String {
        let _compact = compact::Mode::enter();
        // Sized up front: growing from serde_json's 128 bytes cost a copy per doubling (perf).
        let text_len = self.message.len()
            + self.error.as_ref().map_or(0, |e| {
                e.stack.as_deref().map_or(0, str::len) + e.message.as_deref().map_or(0, str::len)
            });
        let mut out = Vec::with_capacity(640 + text_len + text_len / 8);
        serde_json::to_writer(&mut out, self).expect("a StoredEvent always serialises");
        // serde_json writes only valid UTF-8.
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

/// One struct, two shapes: API answers carry every field (`null` where absent) so clients see a
/// stable shape; the queue and D1 carry only present values (`to_compact_json`), which saves
/// bytes on every stored event. A per-thread flag read by `skip_serializing_if` switches the
/// mode without a second copy of the struct.
mod compact {
    use serde_json::{Map, Value};
    use std::cell::Cell;

    thread_local! {
        static ON: Cell<bool> = const { Cell::new(false) };
    }

    /// Compact serialisation while alive; restores the full shape when dropped, even on panic.
    pub struct Mode;

    impl Mode {
        pub fn enter() -> Mode {
            ON.with(|on| on.set(true));
            Mode
        }
    }

    impl Drop for Mode {
        fn drop(&mut self) {
            ON.with(|on| on.set(false));
        }
    }

    pub fn skip_none<T>(value: &Option<T>) -> bool {
        value.is_none() && ON.with(Cell::get)
    }

    pub fn skip_empty(map: &Map<String, Value>) -> bool {
        map.is_empty() && ON.with(Cell::get)
    }

    pub fn skip_empty_list<T>(list: &[T]) -> bool {
        list.is_empty() && ON.with(Cell::get)
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
        assert!(
            compact.starts_with(r#"{"id":"a","event_id":"a""#),
            "field order kept: {compact}"
        );
        assert!(!compact.contains("\"tags\""), "{compact}");
        let back: StoredEvent = serde_json::from_str(&compact).unwrap();
        assert_eq!(back, event);
        let full = serde_json::to_value(&back).unwrap();
        assert!(
            full.get("service").unwrap().is_null(),
            "the full shape is back after compact mode"
        );
        assert!(full.get("tags").unwrap().is_object());
    }

    #[test]
    fn detail_answers_carry_the_parsed_stack() {
        let event = StoredEvent {
            error: Some(ErrorInfo {
                kind: Some("TypeError".into()),
                message: Some("x is undefined".into()),
                stack: Some("TypeError: x is undefined\n    at renderCart (https://shop.example/assets/app.1a2b3c4d.js:10:5)\n    at https://shop.example/assets/vendor.js:1:1".into()),
            }),
            ..Default::default()
        };
        let detail = serde_json::to_value(DetailedEvent::from(event)).unwrap();
        assert_eq!(
            detail["error"]["type"], "TypeError",
            "stored fields flattened"
        );
        assert_eq!(detail["stack_frames"][0]["function"], "renderCart");
        assert_eq!(detail["stack_frames"][0]["module"], "assets/app.js");
        assert_eq!(detail["stack_frames"][0]["in_app"], true);
        assert_eq!(detail["stack_frames"].as_array().unwrap().len(), 2);

        let plain = serde_json::to_value(DetailedEvent::from(StoredEvent::default())).unwrap();
        assert_eq!(plain["stack_frames"], serde_json::json!([]));
    }
}
