//! An event as LogQL sees it: its stream labels (the fields below, then its tags), its line
//! (the message) and the document `| json` reads. Pure; shared by queries and the live tail.

use super::eval::{Entry, Labels};
use crate::model::StoredEvent;
use crate::processors::timestamp::parse_text;

/// The stream labels: fields of the event field table (`crate::model::fields`), which
/// Grafana's label browser lists and selectors select on.
pub const LABELS: &[&str] = &[
    "service",
    "environment",
    "level",
    "component",
    "route",
    "project",
    "release",
    "source_type",
];

/// A label's value from the field table; `level` by its name (the table compares severities).
fn label_value(event: &StoredEvent, name: &str) -> Option<String> {
    match name {
        "level" => Some(event.level.clone()),
        _ => crate::model::fields::event_field(name).and_then(|f| (f.value)(event)),
    }
}

/// An event's entry.
pub fn entry_of(event: StoredEvent) -> Entry {
    entry_with(event, true)
}

/// An event's entry; without `doc` (no `| json` reads it) the document is left out, which a
/// metric query over many events does not pay for.
pub fn entry_with(event: StoredEvent, doc: bool) -> Entry {
    let mut labels = Labels::new();
    for name in LABELS {
        if let Some(v) = label_value(&event, name).filter(|v| !v.is_empty()) {
            labels.insert(name.to_string(), v);
        }
    }
    for (k, v) in &event.tags {
        let name = super::eval::sanitize(k);
        if labels.contains_key(&name) {
            continue;
        }
        let text = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            other => other.to_string(),
        };
        labels.insert(name, text);
    }
    let at = parse_text(&event.timestamp)
        .or_else(|| parse_text(&event.received_at))
        .unwrap_or_default();
    // What `| json` reads when the line is not JSON: the event's context at the top (where a
    // sender's own fields land: `| json | unwrap duration_ms`), with its ids beside it. Built
    // from the fields, not by serialising the whole event: a metric query makes one per event.
    if !doc {
        return Entry {
            ts_ns: at.timestamp_nanos_opt().unwrap_or_default(),
            labels,
            line: event.message,
            doc: serde_json::Value::Null,
            weight: 1.0,
        };
    }
    let mut doc = event.context;
    let ids = [
        ("trace_id", event.trace_id),
        ("span_id", event.span_id),
        ("request_id", event.request_id),
        ("user_id", event.user_id),
        ("session_id", event.session_id),
        ("endpoint", event.endpoint),
    ];
    for (k, v) in ids {
        if let Some(v) = v.filter(|_| !doc.contains_key(k)) {
            doc.insert(k.to_string(), serde_json::Value::String(v));
        }
    }
    Entry {
        ts_ns: at.timestamp_nanos_opt().unwrap_or_default(),
        labels,
        line: event.message,
        doc: serde_json::Value::Object(doc),
        weight: 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_a_field_of_the_table() {
        for name in LABELS {
            assert!(crate::model::fields::event_field(name).is_some(), "{name}");
        }
        let mut event = StoredEvent {
            message: "boom".into(),
            level: "error".into(),
            environment: "production".into(),
            service: Some("api".into()),
            source_type: "backend".into(),
            timestamp: "2026-12-07T10:00:00.000Z".into(),
            ..Default::default()
        };
        event
            .tags
            .insert("team-name".into(), serde_json::json!("pay"));
        event
            .tags
            .insert("level".into(), serde_json::json!("shadowed"));
        event
            .context
            .insert("duration_ms".into(), serde_json::json!(12));
        let entry = entry_of(event);
        let labels: Vec<(&str, &str)> = entry
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("environment", "production"),
                ("level", "error"),
                ("service", "api"),
                ("source_type", "backend"),
                ("team_name", "pay")
            ]
        );
        assert_eq!(entry.line, "boom");
        assert_eq!(entry.doc["duration_ms"], 12);
        assert_eq!(entry.ts_ns, 1_796_637_600_000_000_000);
    }
}
