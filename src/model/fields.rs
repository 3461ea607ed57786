//! The event fields, declared once: each field's name, its kind in the search language, the
//! other names it answers to, and what it is for. The search language's fields, the exact
//! filters of `/v1/logs`, the contract's field list, the OpenTelemetry attributes and Loki's
//! structured metadata that fill a field, and the value the matcher reads are all derived from
//! this table; tests hold the storage schema and the compact JSON writer to it.
//!
//! Adding a field: a row here, the member of `StoredEvent` (and its line in the compact
//! writer), and its generated column in the shards' schema (`shards/sql.rs`) if it is a filter.

use super::StoredEvent;

/// How the search language compares a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text: exact, wildcard or quoted.
    Text,
    /// A level name, compared by severity (`level:>=warn`).
    Level,
    /// A whole number: equality or comparison.
    Number,
    /// A time: comparison with an absolute or relative time.
    Time,
}

/// A field of the search language: its name, the other names it answers to, and its kind.
pub struct Field {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub kind: Kind,
}

/// What a field is for.
pub mod role {
    /// A field of the contract that senders set (anything else they send lands in `context`).
    pub const SENT: u8 = 1;
    /// The search language knows it (`key:value`).
    pub const SEARCH: u8 = 2;
    /// An exact filter of `/v1/logs` (`?service=`), on a generated column of the same name.
    pub const FILTER: u8 = 4;
    /// An id that links events (trace, request, user): left as sent by the scrubber, and read
    /// from Loki's structured metadata.
    pub const CORRELATION: u8 = 8;
}

/// One event field.
pub struct EventField {
    pub field: Field,
    /// `role::*` bits.
    pub roles: u8,
    /// OpenTelemetry attributes (semantic conventions) that fill this field when it is unset.
    pub otel: &'static [&'static str],
    /// The value the matcher compares, as text; `None` where the event has none.
    pub value: fn(&StoredEvent) -> Option<String>,
}

impl EventField {
    pub fn is(&self, role: u8) -> bool {
        self.roles & role != 0
    }
}

use role::{CORRELATION as ID, FILTER, SEARCH, SENT};

macro_rules! event_fields {
    ($($name:literal $kind:ident [$($alias:literal),*] $roles:expr, otel [$($otel:literal),*], |$e:ident| $value:expr;)*) => {
        pub static EVENT_FIELDS: &[EventField] = &[$(EventField {
            field: Field { name: $name, aliases: &[$($alias),*], kind: Kind::$kind },
            roles: $roles,
            otel: &[$($otel),*],
            value: |$e| $value,
        }),*];
    };
}

fn text(value: &Option<String>) -> Option<String> {
    value.clone()
}

event_fields! {
    "message"      Text   []                          SENT, otel [], |e| Some(e.message.clone());
    "level"        Level  []                          SENT | SEARCH, otel [], |e| Some(e.severity_number.to_string());
    "severity"     Number ["severity_number"]         SEARCH, otel [], |e| Some(e.severity_number.to_string());
    "timestamp"    Time   ["time"]                    SENT | SEARCH, otel [], |e| Some(e.timestamp.clone());
    "received_at"  Time   ["received"]                SEARCH, otel [], |e| Some(e.received_at.clone());
    "event_id"     Text   ["id"]                      SENT | SEARCH, otel ["event.id"], |e| Some(e.event_id.clone());
    "environment"  Text   ["env"]                     SENT | SEARCH, otel [], |e| Some(e.environment.clone());
    "project"      Text   []                          SEARCH, otel [], |e| text(&e.project);
    "service"      Text   ["service.name"]            SENT | SEARCH | FILTER, otel [], |e| text(&e.service);
    "release"      Text   ["service.version"]         SENT | SEARCH | FILTER, otel [], |e| text(&e.release);
    "source_type"  Text   ["source"]                  SENT | SEARCH | FILTER, otel [], |e| Some(e.source_type.clone());
    "component"    Text   []                          SENT | SEARCH | FILTER, otel [], |e| text(&e.component);
    "endpoint"     Text   ["url.path"]                SENT | SEARCH | FILTER, otel ["http.route", "url.path"], |e| text(&e.endpoint);
    "route"        Text   []                          SEARCH | FILTER, otel [], |e| text(&e.route);
    "fingerprint"  Text   []                          SENT | SEARCH | FILTER, otel [], |e| Some(e.fingerprint.clone());
    "error"        Text   []                          SENT, otel [], |e| e.error.as_ref().and_then(|x| x.message.clone());
    "error_kind"   Text   []                          SEARCH | FILTER, otel [], |e| text(&e.error_kind);
    "error_type"   Text   ["error.type", "error"]     SEARCH, otel [], |e| e.error.as_ref().and_then(|x| x.kind.clone());
    "trace_id"     Text   ["trace", "trace.id"]       SENT | SEARCH | FILTER | ID, otel [], |e| text(&e.trace_id);
    "span_id"      Text   ["span.id"]                 SENT | SEARCH | ID, otel [], |e| text(&e.span_id);
    "request_id"   Text   []                          SENT | SEARCH | FILTER | ID, otel [], |e| text(&e.request_id);
    "user_id"      Text   ["user", "user.id"]         SENT | SEARCH | FILTER | ID, otel ["user.id"], |e| text(&e.user_id);
    "session_id"   Text   []                          SENT | SEARCH | FILTER | ID, otel ["session.id"], |e| text(&e.session_id);
    "priority"     Number []                          SEARCH, otel [], |e| Some(e.priority.to_string());
    "tags"         Text   []                          SENT, otel [], |_e| None;
    "context"      Text   []                          SENT, otel [], |_e| None;
}

/// The fields with a role, in the table's order.
pub fn with_role(role: u8) -> impl Iterator<Item = &'static EventField> {
    EVENT_FIELDS.iter().filter(move |f| f.is(role))
}

/// The names of the fields with a role.
pub fn names(role: u8) -> impl Iterator<Item = &'static str> {
    with_role(role).map(|f| f.field.name)
}

/// The event field of this name.
pub fn event_field(name: &str) -> Option<&'static EventField> {
    EVENT_FIELDS.iter().find(|f| f.field.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_aliases_name_no_other_field() {
        for f in EVENT_FIELDS {
            let same = EVENT_FIELDS
                .iter()
                .filter(|g| g.field.name == f.field.name)
                .count();
            assert_eq!(same, 1, "{}", f.field.name);
            for alias in f.field.aliases {
                let clash = EVENT_FIELDS
                    .iter()
                    .any(|g| g.field.name == *alias && g.is(SEARCH));
                assert!(!clash || *alias == "error", "{alias}");
            }
        }
    }

    /// Every member of the stored event that a sender sets is a field of the table, and every
    /// field sent is a member: the compact writer and serde agree with the table.
    #[test]
    fn the_stored_event_holds_every_sent_field() {
        let event = StoredEvent::default();
        let full = serde_json::to_value(&event).unwrap();
        for name in names(SENT) {
            assert!(
                full.get(name).is_some(),
                "{name} is not a member of StoredEvent"
            );
        }
        for name in names(SEARCH) {
            let member = full.get(name).is_some() || ["severity", "error_type"].contains(&name);
            assert!(member, "{name}: searchable but not stored");
        }
    }

    /// Each exact filter is a generated column of the row store earlier releases left in shards
    /// (read until it is rewritten as blocks), so the same SQL answers there.
    #[test]
    fn every_filter_is_a_generated_column() {
        let schema = crate::shards::sql::LEGACY_SCHEMA;
        for name in names(FILTER) {
            let column = format!("\n  {name} ");
            assert!(schema.contains(&column), "no generated column {name}");
        }
    }

    /// The SDK's `Fields` type (what a caller may set) names every field a sender sets, but
    /// the message (an argument of its own) and the fingerprint (the worker's to derive).
    #[test]
    fn the_sdk_types_name_every_sent_field() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/src/index.d.ts");
        let types = std::fs::read_to_string(path).unwrap();
        let fields = types.split("export type Fields = {").nth(1).unwrap();
        let fields = fields.split("};").next().unwrap();
        for name in names(SENT).filter(|n| !["message", "fingerprint"].contains(n)) {
            assert!(
                fields.contains(&format!("  {name}?:")),
                "the SDK's Fields lacks {name}"
            );
        }
    }

    /// The hand-written compact writer (kept for speed) writes every field of the table an
    /// event holds: an event with every sent field set comes out with each of them.
    #[test]
    fn the_compact_writer_writes_every_sent_field() {
        let event: StoredEvent = serde_json::from_value(serde_json::json!({
            "message": "m", "level": "error", "timestamp": "2026-12-07T10:00:00.000Z",
            "event_id": "e", "environment": "prod", "service": "s", "release": "r",
            "source_type": "backend", "component": "c", "endpoint": "/x", "fingerprint": "f",
            "error": {"type": "T", "message": "boom"}, "trace_id": "t", "span_id": "sp",
            "request_id": "rq", "user_id": "u", "session_id": "se",
            "tags": {"k": "v"}, "context": {"k": "v"},
        }))
        .unwrap();
        let compact: serde_json::Value = serde_json::from_str(&event.to_compact_json()).unwrap();
        for name in names(SENT) {
            assert!(
                compact.get(name).is_some(),
                "the compact writer leaves out {name}"
            );
        }
    }
}
