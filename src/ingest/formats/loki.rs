//! Loki's push API (`POST /loki/api/v1/push`, JSON), as Promtail and Grafana Alloy send it,
//! mapped into our event model: `{"streams": [{"stream": {labels}, "values": [[ts_ns, line,
//! {structured metadata}?], …]}]}`.
//!
//! Well-known labels land on our fields — `level` (also `severity`, `detected_level`), `env` /
//! `environment`, `service` / `service_name` / `job` (in that order), `component` — and the
//! other labels become tags. Structured metadata goes to `context`, with `trace_id`, `span_id`,
//! `user_id`, `request_id` onto our fields. A line that is a JSON object is read as an event
//! (so structured logs keep their message, level and fields); any other line is the message.

use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, MAX_EVENTS};

const LEVEL_LABELS: &[&str] = &["level", "severity", "detected_level"];
const ENV_LABELS: &[&str] = &["env", "environment", "deployment_environment"];
const SERVICE_LABELS: &[&str] = &["service", "service_name", "app", "job"];
const METADATA_FIELDS: &[&str] = &["trace_id", "span_id", "user_id", "request_id", "session_id"];

fn first_label(labels: &mut Map<String, Value>, names: &[&str]) -> Option<Value> {
    let found = names.iter().find_map(|n| labels.get(*n).cloned());
    for n in names {
        labels.remove(*n);
    }
    found
}

pub fn loki_push_to_items(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
    let streams = super::root_array(body, "streams", "a Loki push request (JSON)")?;
    let mut items = Vec::new();
    for stream in streams {
        let mut labels = stream
            .get("stream")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let level = first_label(&mut labels, LEVEL_LABELS);
        let environment = first_label(&mut labels, ENV_LABELS);
        let service = first_label(&mut labels, SERVICE_LABELS);
        let component = labels.remove("component");
        for entry in stream
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if items.len() >= MAX_EVENTS {
                return Err(AppError::PayloadTooLarge(format!("The body holds more than {MAX_EVENTS} log lines; the limit is {MAX_EVENTS} per request.")));
            }
            let index = items.len();
            let mapped = map_entry(entry, &labels).map(|mut event| {
                for (field, value) in [
                    ("level", &level),
                    ("environment", &environment),
                    ("service", &service),
                    ("component", &component),
                ] {
                    if let Some(v) = value {
                        event.entry(field.to_string()).or_insert_with(|| v.clone());
                    }
                }
                Value::Object(event)
            });
            items.push(match mapped {
                Ok(event) => RawItem::Event(event),
                Err(message) => {
                    RawItem::Rejected(ItemError::new(index, RejectReason::InvalidEvent, message))
                }
            });
        }
    }
    if items.is_empty() {
        return Err(AppError::InvalidEvents {
            message: "The body holds no log lines.".into(),
            errors: vec![],
        });
    }
    Ok(items)
}

fn map_entry(entry: &Value, labels: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let parts = entry
        .as_array()
        .ok_or("a value must be [timestamp_ns, line] or [timestamp_ns, line, metadata]")?;
    let ts = parts
        .first()
        .and_then(Value::as_str)
        .ok_or("the timestamp must be a string of nanoseconds")?;
    let ns: u64 = ts
        .parse()
        .map_err(|_| format!("timestamp '{ts}' is not nanoseconds since the epoch"))?;
    let line = parts
        .get(1)
        .and_then(Value::as_str)
        .ok_or("the log line must be a string")?;
    // A JSON-object line is a structured log: its own fields come first.
    let mut event = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields))
            if fields.contains_key("message") || fields.contains_key("msg") =>
        {
            let mut fields = fields;
            if !fields.contains_key("message") {
                if let Some(msg) = fields.remove("msg") {
                    fields.insert("message".into(), msg);
                }
            }
            fields
        }
        _ => Map::from_iter([("message".to_string(), json!(line))]),
    };
    event.entry("timestamp".to_string()).or_insert(json!(ns));
    if !labels.is_empty() {
        let tags = event.entry("tags".to_string()).or_insert_with(|| json!({}));
        if let Value::Object(tags) = tags {
            for (k, v) in labels {
                tags.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    if let Some(Value::Object(metadata)) = parts.get(2) {
        let mut metadata = metadata.clone();
        for field in METADATA_FIELDS {
            if let Some(v) = metadata.remove(*field) {
                event.entry(field.to_string()).or_insert(v);
            }
        }
        if !metadata.is_empty() {
            let context = event
                .entry("context".to_string())
                .or_insert_with(|| json!({}));
            if let Value::Object(context) = context {
                for (k, v) in metadata {
                    context.entry(k).or_insert(v);
                }
            }
        }
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push() -> Value {
        // The shape Promtail and Grafana Alloy send (Loki's JSON push format, with structured metadata).
        json!({"streams": [
            {"stream": {"job": "checkout", "env": "prod", "level": "error", "component": "Payments", "namespace": "shop", "pod": "web-1"},
             "values": [
                ["1714564800123000000", "payment failed for order 991"],
                ["1714564800124000000", "upstream timeout", {"trace_id": "abc123", "node": "n1"}]
             ]},
            {"stream": {"service_name": "api", "detected_level": "warn"},
             "values": [["1714564800125000000", "{\"msg\":\"slow query\",\"duration_ms\":1200,\"level\":\"info\"}"]]}
        ]})
    }

    #[test]
    fn streams_map_onto_our_fields() {
        let items = loki_push_to_items(push().to_string().as_bytes()).unwrap();
        assert_eq!(items.len(), 3);
        let RawItem::Event(first) = &items[0] else {
            panic!()
        };
        assert_eq!(first["message"], "payment failed for order 991");
        assert_eq!(first["level"], "error");
        assert_eq!(first["environment"], "prod");
        assert_eq!(first["service"], "checkout");
        assert_eq!(first["component"], "Payments");
        assert_eq!(first["timestamp"], json!(1714564800123000000_u64));
        assert_eq!(first["tags"], json!({"namespace": "shop", "pod": "web-1"}));
        let RawItem::Event(second) = &items[1] else {
            panic!()
        };
        assert_eq!(second["trace_id"], "abc123");
        assert_eq!(second["context"]["node"], "n1");
        let RawItem::Event(third) = &items[2] else {
            panic!()
        };
        assert_eq!(third["message"], "slow query");
        assert_eq!(
            third["level"], "info",
            "the line's own level wins over the stream's"
        );
        assert_eq!(third["service"], "api");
        assert_eq!(third["duration_ms"], 1200);
    }

    #[test]
    fn through_the_pipeline() {
        use chrono::TimeZone;
        let ctx = crate::processors::normalize::IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
            "production",
        );
        let items = loki_push_to_items(push().to_string().as_bytes()).unwrap();
        let out = crate::ingest::pipeline::process_items(items, &ctx, uuid::Uuid::new_v4).unwrap();
        assert_eq!(out.accepted.len(), 3);
        let slow = &out.accepted[2].1;
        assert_eq!(
            slow.context["duration_ms"], 1200,
            "unknown fields of a JSON line land in context"
        );
        assert_eq!(out.accepted[0].1.timestamp, "2024-05-01T12:00:00.123Z");
    }

    #[test]
    fn malformed() {
        for bad in [&b"{"[..], b"{}", b"{\"streams\": {}}", b"{\"streams\": []}"] {
            assert_eq!(
                loki_push_to_items(bad).unwrap_err().status(),
                400,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let items = loki_push_to_items(json!({"streams": [{"stream": {}, "values": [["notanumber", "x"], ["1", 5], "x", ["1714564800000000000", "ok"]]}]}).to_string().as_bytes()).unwrap();
        let rejected = items
            .iter()
            .filter(|i| matches!(i, RawItem::Rejected(_)))
            .count();
        assert_eq!(rejected, 3);
    }
}
