//! Protocol types: the stored event (what queues carry and queries return) and per-event errors.

pub mod fields;

use std::borrow::Cow;
use std::collections::BTreeMap;

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
    pub service: Option<String>,
    pub release: Option<String>,
    /// The release's version order (`processors::release`), when it is a semantic version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_key: Option<String>,
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
    /// Names of the scrubbing rules that changed this event (never what they removed).
    pub scrubbed: Vec<String>,
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
    /// The stack; its original frames once symbolicated (`raw_stack` keeps it as sent).
    pub stack: Option<String>,
    /// Debug ids of the minified files by URL (Sentry's `debug_meta.images`), which find their
    /// source maps whatever the release.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub debug_ids: BTreeMap<String, String>,
    /// The stack as sent, when source maps rewrote `stack`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_stack: Option<String>,
    /// JavaScript frames with their original positions and source context, innermost first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<SourceFrame>,
    /// What source maps did to this stack, and why not where they did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbolication: Option<Symbolication>,
}

/// One JavaScript frame after source maps: where it is in the original source, with a few
/// lines around it, and where it was in the minified file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SourceFrame {
    pub function: Option<String>,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub column: Option<u32>,
    pub in_app: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_context: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_line: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_context: Vec<String>,
    /// The frame as sent: function, URL, line and column in the minified file.
    pub minified: MinifiedFrame,
    /// Why this frame kept its minified position (no map, no mapping at that position…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmapped: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MinifiedFrame {
    pub function: Option<String>,
    pub url: String,
    pub line: u32,
    pub column: u32,
}

/// `status`: `symbolicated` (every frame that has a map), `partial`, or `unsymbolicated`; the
/// reasons name each map that was missing, late, too large or malformed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Symbolication {
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Triage {
    pub action: String,
    pub hints: Vec<Hint>,
}

/// Borrowed when made by triage (the texts are the rules' constants, not copied for every
/// event), owned when read back from storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Hint {
    pub rule: Cow<'static, str>,
    pub cause: Cow<'static, str>,
    pub suggestion: Cow<'static, str>,
}

/// Why one event of a request was not accepted: the `code` of its entry in the 202's `errors`,
/// and the `reason` label of `edge_logger_events_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The line or item is not JSON.
    InvalidJson,
    /// JSON, but not an event we can take (no message, a wrong type, an unknown level, …).
    InvalidEvent,
    /// Over the per-event size limit, as sent or once normalised.
    EventTooLarge,
    /// Valid, but the queue did not take it: the client should retry it.
    EnqueueFailed,
    /// Valid, but past its project's hard quota: sending it again before the window turns is
    /// refused again.
    QuotaExceeded,
}

impl RejectReason {
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::InvalidEvent => "invalid_event",
            RejectReason::EventTooLarge => "event_too_large",
            RejectReason::EnqueueFailed => "enqueue_failed",
            RejectReason::QuotaExceeded => "quota_exceeded",
        }
    }
}

/// Why one event of a request was rejected: `{"index", "code", "message"}` in the answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemError {
    pub index: usize,
    pub code: RejectReason,
    pub message: String,
}

impl ItemError {
    pub fn new(index: usize, code: RejectReason, message: impl Into<String>) -> Self {
        ItemError {
            index,
            code,
            message: message.into(),
        }
    }
}

impl StoredEvent {
    /// The event as stored and queued: absent values left out (`None`, empty maps and lists,
    /// a false `message_truncated`), fields in declaration order. API answers use serde's
    /// full shape instead (`null` where absent), so clients see a stable shape.
    ///
    /// Written by hand: through serde every key and value went through serde_json's generic
    /// string escaper and `io::Write` (38 calls an event), 18 % of the pipeline's instructions
    /// (callgrind). Here keys are constant bytes and strings are escaped exactly as serde_json
    /// escapes them; tests compare the two on awkward events and generated strings.
    pub fn to_compact_json(&self) -> String {
        let text_len = self.message.len()
            + self.error.as_ref().map_or(0, |e| {
                e.stack.as_deref().map_or(0, str::len) + e.message.as_deref().map_or(0, str::len)
            });
        let mut w = compact::Writer(Vec::with_capacity(640 + text_len + text_len / 8));
        w.raw(b"{\"id\":");
        w.string(&self.id);
        w.field(b"event_id", &self.event_id);
        w.optional(b"project", &self.project);
        w.field(b"received_at", &self.received_at);
        w.field(b"timestamp", &self.timestamp);
        w.field(b"level", &self.level);
        w.number(b"severity_number", self.severity_number);
        w.field(b"message", &self.message);
        if self.message_truncated {
            w.raw(b",\"message_truncated\":true");
        }
        w.field(b"environment", &self.environment);
        w.optional(b"service", &self.service);
        w.optional(b"release", &self.release);
        w.optional(b"release_key", &self.release_key);
        w.field(b"source_type", &self.source_type);
        w.optional(b"component", &self.component);
        w.optional(b"endpoint", &self.endpoint);
        w.optional(b"route", &self.route);
        w.optional(b"error_kind", &self.error_kind);
        if let Some(error) = &self.error {
            w.raw(b",\"error\":{");
            let mut first = true;
            for (key, value) in [
                (&b"type"[..], &error.kind),
                (b"message", &error.message),
                (b"stack", &error.stack),
                (b"raw_stack", &error.raw_stack),
            ] {
                if let Some(value) = value {
                    if !std::mem::take(&mut first) {
                        w.raw(b",");
                    }
                    w.key(key);
                    w.string(value);
                }
            }
            // What source maps add: rarer, so serde writes them.
            let extra = [
                (
                    &b"debug_ids"[..],
                    (!error.debug_ids.is_empty()).then(|| serde_json::to_vec(&error.debug_ids)),
                ),
                (
                    b"frames",
                    (!error.frames.is_empty()).then(|| serde_json::to_vec(&error.frames)),
                ),
                (
                    b"symbolication",
                    error.symbolication.as_ref().map(serde_json::to_vec),
                ),
            ];
            for (key, value) in extra {
                if let Some(Ok(json)) = value {
                    if !std::mem::take(&mut first) {
                        w.raw(b",");
                    }
                    w.key(key);
                    w.raw(&json);
                }
            }
            w.raw(b"}");
        }
        w.optional(b"trace_id", &self.trace_id);
        w.optional(b"span_id", &self.span_id);
        w.optional(b"request_id", &self.request_id);
        w.optional(b"user_id", &self.user_id);
        w.optional(b"session_id", &self.session_id);
        w.map(b"tags", &self.tags);
        w.map(b"context", &self.context);
        w.field(b"fingerprint", &self.fingerprint);
        w.field(b"fingerprint_reason", &self.fingerprint_reason);
        w.number(b"priority", self.priority);
        w.field(b"routing_key", &self.routing_key);
        w.raw(b",\"triage\":{\"action\":");
        w.string(&self.triage.action);
        w.raw(b",\"hints\":[");
        for (i, hint) in self.triage.hints.iter().enumerate() {
            w.raw(if i == 0 {
                b"{\"rule\":"
            } else {
                b",{\"rule\":"
            });
            w.string(&hint.rule);
            w.field(b"cause", &hint.cause);
            w.field(b"suggestion", &hint.suggestion);
            w.raw(b"}");
        }
        w.raw(b"]}");
        if !self.scrubbed.is_empty() {
            w.raw(b",\"scrubbed\":[");
            for (i, name) in self.scrubbed.iter().enumerate() {
                if i > 0 {
                    w.raw(b",");
                }
                w.string(name);
            }
            w.raw(b"]");
        }
        w.raw(b"}");
        // Only whole UTF-8 strings and ASCII were written.
        String::from_utf8(w.0).expect("the writer writes UTF-8")
    }
}

/// The compact JSON writer of [`StoredEvent::to_compact_json`].
mod compact {
    use serde_json::{Map, Value};

    pub struct Writer(pub Vec<u8>);

    /// serde_json's escapes: `"`, `\\` and the control characters, with the short forms
    /// `\b \t \n \f \r` and `\u00xx` (lowercase) for the rest; everything else as is.
    const fn escape(byte: u8) -> u8 {
        match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0a => b'n',
            0x0c => b'f',
            0x0d => b'r',
            0x00..=0x1f => b'u',
            _ => 0,
        }
    }

    const ESCAPE: [u8; 256] = {
        let mut table = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            table[i] = escape(i as u8);
            i += 1;
        }
        table
    };

    /// The index of the first byte at or after `from` that needs escaping. Eight bytes at a
    /// time while none does (most text has nothing to escape): a word has such a byte if one
    /// of its bytes is below 0x20 or equals `"` or `\\` (the classic has-zero-byte tests).
    fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS;
        let mut i = from;
        while let Some(chunk) = bytes.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
            if control | zero_byte(w ^ (ONES * b'"' as u64)) | zero_byte(w ^ (ONES * b'\\' as u64))
                != 0
            {
                break;
            }
            i += 8;
        }
        bytes[i.min(bytes.len())..]
            .iter()
            .position(|&b| ESCAPE[b as usize] != 0)
            .map(|p| i + p)
    }

    impl Writer {
        pub fn raw(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }

        pub fn key(&mut self, key: &[u8]) {
            self.0.push(b'"');
            self.0.extend_from_slice(key);
            self.0.extend_from_slice(b"\":");
        }

        pub fn string(&mut self, text: &str) {
            let bytes = text.as_bytes();
            self.0.reserve(bytes.len() + 2);
            self.0.push(b'"');
            let mut start = 0;
            let mut i = 0;
            while let Some(at) = next_escape(bytes, i) {
                let (byte, escape) = (bytes[at], ESCAPE[bytes[at] as usize]);
                self.0.extend_from_slice(&bytes[start..at]);
                i = at + 1;
                start = i;
                if escape == b'u' {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.0.extend_from_slice(b"\\u00");
                    self.0.push(HEX[(byte >> 4) as usize]);
                    self.0.push(HEX[(byte & 0xf) as usize]);
                } else {
                    self.0.extend_from_slice(&[b'\\', escape]);
                }
            }
            self.0.extend_from_slice(&bytes[start..]);
            self.0.push(b'"');
        }

        /// `,"key":"value"`
        pub fn field(&mut self, key: &[u8], value: &str) {
            self.0.push(b',');
            self.key(key);
            self.string(value);
        }

        pub fn optional(&mut self, key: &[u8], value: &Option<String>) {
            if let Some(value) = value {
                self.field(key, value);
            }
        }

        pub fn number(&mut self, key: &[u8], value: u8) {
            self.0.push(b',');
            self.key(key);
            if value >= 100 {
                self.0.push(b'0' + value / 100);
            }
            if value >= 10 {
                self.0.push(b'0' + value / 10 % 10);
            }
            self.0.push(b'0' + value % 10);
        }

        /// A non-empty map through serde_json (tags and context hold arbitrary JSON).
        pub fn map(&mut self, key: &[u8], map: &Map<String, Value>) {
            if map.is_empty() {
                return;
            }
            self.0.push(b',');
            self.key(key);
            serde_json::to_writer(&mut self.0, map).expect("a JSON map always serialises");
        }
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

    /// serde's full shape with what the compact form leaves out removed: the reference.
    fn compact_by_serde(event: &StoredEvent) -> Value {
        let mut full = serde_json::to_value(event).unwrap();
        let object = full.as_object_mut().unwrap();
        object.retain(|_, v| match v {
            Value::Null => false,
            Value::Object(m) => !m.is_empty(),
            Value::Array(a) => !a.is_empty(),
            _ => true,
        });
        if let Some(Value::Object(error)) = object.get_mut("error") {
            error.retain(|_, v| !v.is_null());
        }
        full
    }

    fn awkward_events() -> Vec<StoredEvent> {
        let nasty = "quote \" backslash \\ slash / nul \u{0} bell \u{7} tab \t nl \n cr \r ff \u{c} bs \u{8} esc \u{1b} us \u{1f} del \u{7f} é 漢字 😀 \u{2028}";
        let mut tags = Map::new();
        tags.insert("region".into(), Value::from("eu"));
        tags.insert(nasty.into(), Value::from(nasty));
        let mut context = Map::new();
        context.insert(
            "n".into(),
            serde_json::json!({"a": [1, 2.5, null, true, "x\u{1}"], "b": -3}),
        );
        vec![
            StoredEvent::default(),
            StoredEvent {
                id: "a".into(),
                event_id: nasty.into(),
                project: Some("shop".into()),
                received_at: "2026-11-23T08:00:00.000Z".into(),
                timestamp: "2026-11-23T08:00:00.000Z".into(),
                level: "critical".into(),
                severity_number: 255,
                message: nasty.repeat(3),
                message_truncated: true,
                environment: "production".into(),
                service: Some("api".into()),
                release: Some(nasty.into()),
                release_key: Some("k".into()),
                source_type: "backend".into(),
                component: Some("C".into()),
                endpoint: Some("/x?y=\"z\"".into()),
                route: Some("/x".into()),
                error_kind: Some("exception".into()),
                error: Some(ErrorInfo {
                    kind: Some("TypeError".into()),
                    message: None,
                    stack: Some(format!("at a\n{nasty}")),
                    ..Default::default()
                }),
                trace_id: Some("t".into()),
                span_id: Some("s".into()),
                request_id: Some("r".into()),
                user_id: Some("u".into()),
                session_id: Some("se".into()),
                tags,
                context,
                fingerprint: "f".into(),
                fingerprint_reason: nasty.into(),
                priority: 7,
                routing_key: "k".into(),
                triage: Triage {
                    action: "alert".into(),
                    hints: vec![
                        Hint {
                            rule: "a".into(),
                            cause: nasty.into(),
                            suggestion: "s".into(),
                        },
                        Hint {
                            rule: "b".into(),
                            cause: "c".into(),
                            suggestion: "".into(),
                        },
                    ],
                },
                scrubbed: vec!["email".into(), "jwt".into()],
            },
            StoredEvent {
                severity_number: 10,
                priority: 99,
                error: Some(ErrorInfo::default()),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn compact_json_is_serdes_shape_without_absent_values_and_escapes_alike() {
        for event in awkward_events() {
            let compact = event.to_compact_json();
            let parsed: Value = serde_json::from_str(&compact).unwrap();
            assert_eq!(parsed, compact_by_serde(&event), "{compact}");
            // Strings are escaped byte for byte as serde_json escapes them.
            for text in [&event.message, &event.event_id, &event.fingerprint_reason] {
                assert!(
                    compact.contains(&serde_json::to_string(text).unwrap()),
                    "{text:?}"
                );
            }
            let back: StoredEvent = serde_json::from_str(&compact).unwrap();
            assert_eq!(back, event, "round trip");
        }
    }

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        // Escapes at every offset within and across 8-byte words, among long clean runs.
        let pieces = [
            "a",
            "0123456789",
            "\"",
            "\\",
            "\n",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "😀",
            " ",
            "/",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(state % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            let mut w = compact::Writer(Vec::new());
            w.string(&text);
            assert_eq!(
                String::from_utf8(w.0).unwrap(),
                serde_json::to_string(&text).unwrap()
            );
        }
    }

    #[test]
    fn detail_answers_carry_the_parsed_stack() {
        let event = StoredEvent {
            error: Some(ErrorInfo {
                kind: Some("TypeError".into()),
                message: Some("x is undefined".into()),
                stack: Some("TypeError: x is undefined\n    at renderCart (https://shop.example/assets/app.1a2b3c4d.js:10:5)\n    at https://shop.example/assets/vendor.js:1:1".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let detail = serde_json::to_value(crate::query::logs::DetailedEvent::from(event)).unwrap();
        assert_eq!(
            detail["error"]["type"], "TypeError",
            "stored fields flattened"
        );
        assert_eq!(detail["stack_frames"][0]["function"], "renderCart");
        assert_eq!(detail["stack_frames"][0]["module"], "assets/app.js");
        assert_eq!(detail["stack_frames"][0]["in_app"], true);
        assert_eq!(detail["stack_frames"].as_array().unwrap().len(), 2);

        let plain = serde_json::to_value(crate::query::logs::DetailedEvent::from(
            StoredEvent::default(),
        ))
        .unwrap();
        assert_eq!(plain["stack_frames"], serde_json::json!([]));
    }
}
