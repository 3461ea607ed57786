//! One mapper from decoded Loki streams (either encoding) into our event model. JSON pushes
//! are `{"streams": [{"stream": {labels}, "values": [[ts_ns, line, {structured metadata}?],
//! …]}]}`.
//!
//! Well-known labels land on our fields — `level` (also `severity`, `detected_level`), `env` /
//! `environment`, `service` / `service_name` / `job` (in that order), `component` — and the
//! other labels become tags. Structured metadata goes to `context`, with `trace_id`, `span_id`,
//! `user_id`, `request_id` onto our fields. A line that is a JSON object is read as an event
//! (so structured logs keep their message, level and fields); any other line is the message.

use crate::ingest::formats::Malformed;
use serde_json::{json, Map, Value};

use super::{Entry, Stream};
use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, AGENT_MAX_EVENTS};

const LEVEL_LABELS: &[&str] = &["level", "severity", "detected_level"];
const ENV_LABELS: &[&str] = &["env", "environment", "deployment_environment"];
const SERVICE_LABELS: &[&str] = &["service", "service_name", "app", "job"];

fn first_label(labels: &mut Map<String, Value>, names: &[&str]) -> Option<Value> {
    let found = names.iter().find_map(|n| labels.get(*n).cloned());
    for n in names {
        labels.remove(*n);
    }
    found
}

/// A JSON push into streams.
pub fn json_streams(body: &[u8]) -> Result<Vec<Stream>, AppError> {
    let streams = super::super::root_array(body, "streams", "a Loki push request (JSON)")?;
    Ok(streams
        .into_iter()
        .map(|mut stream| Stream {
            labels: match stream.get_mut("stream").map(Value::take) {
                Some(Value::Object(labels)) => labels,
                _ => Map::new(),
            },
            entries: super::super::take_array(&mut stream, "values")
                .unwrap_or_default()
                .into_iter()
                .map(json_entry)
                .collect(),
        })
        .collect())
}

fn json_entry(entry: Value) -> Result<Entry, Malformed> {
    let Value::Array(parts) = entry else {
        return Err(Malformed::new(
            "a value must be [timestamp_ns, line] or [timestamp_ns, line, metadata]",
        ));
    };
    let mut parts = parts.into_iter();
    let ts = match parts.next() {
        Some(Value::String(ts)) => ts,
        _ => {
            return Err(Malformed::new(
                "the timestamp must be a string of nanoseconds",
            ))
        }
    };
    let nanos = ts
        .parse()
        .map_err(|_| format!("timestamp '{ts}' is not nanoseconds since the epoch"))?;
    let Some(Value::String(line)) = parts.next() else {
        return Err(Malformed::new("the log line must be a string"));
    };
    let metadata = match parts.next() {
        Some(Value::Object(metadata)) => metadata,
        _ => Map::new(),
    };
    Ok(Entry {
        nanos,
        line,
        metadata,
    })
}

/// Streams into raw items for the pipeline, in order.
pub fn streams_to_items(streams: Vec<Stream>, body_bytes: usize) -> Result<Vec<RawItem>, AppError> {
    let mut budget = crate::ingest::formats::budget::MappedBudget::for_body(body_bytes);
    let lines: usize = streams.iter().map(|s| s.entries.len()).sum();
    if lines > AGENT_MAX_EVENTS {
        return Err(AppError::PayloadTooLarge(format!(
            "The body holds {lines} log lines; the limit is {AGENT_MAX_EVENTS} per request."
        )));
    }
    if lines == 0 {
        return Err(AppError::InvalidEvents {
            message: "The body holds no log lines.".into(),
            errors: vec![],
        });
    }
    let mut items = Vec::with_capacity(lines);
    for Stream {
        mut labels,
        entries,
    } in streams
    {
        let level = first_label(&mut labels, LEVEL_LABELS);
        let environment = first_label(&mut labels, ENV_LABELS);
        let service = first_label(&mut labels, SERVICE_LABELS);
        let component = labels.remove("component");
        for entry in entries {
            let index = items.len();
            let item = match entry {
                Ok(entry) => {
                    let mut event = map_entry(entry, &labels);
                    for (field, value) in [
                        ("level", &level),
                        ("environment", &environment),
                        ("service", &service),
                        ("component", &component),
                    ] {
                        // A line's number left numeric is one whose scale its shape did not
                        // tell (`map_entry` named pino's already): the stream's level label
                        // names it, and wins.
                        let numeric = event.get(field).is_some_and(Value::is_number);
                        match value {
                            Some(v) if field == "level" && numeric => {
                                event.insert(field.to_string(), v.clone());
                            }
                            Some(v) => {
                                event.entry(field.to_string()).or_insert_with(|| v.clone());
                            }
                            None => {}
                        }
                    }
                    RawItem::Event(Value::Object(event))
                }
                Err(message) => RawItem::Rejected(ItemError::new(
                    index,
                    RejectReason::InvalidEvent,
                    message.into_message(),
                )),
            };
            items.push(budget.admit(index, item)?);
        }
    }
    Ok(items)
}

/// The error of a structured line as Node's loggers write it: pino's `err` object
/// (`{type, message, stack}`), or winston's `stack` beside the message (`format.errors()`).
fn structured_error(fields: &mut Map<String, Value>) {
    if fields.contains_key("error") {
        return;
    }
    if matches!(fields.get("err"), Some(Value::Object(_))) {
        if let Some(err) = fields.remove("err") {
            fields.insert("error".into(), err);
        }
    } else if let Some(Value::String(stack)) = fields.remove("stack") {
        let message = fields.get("message").cloned().unwrap_or(Value::Null);
        fields.insert("error".into(), json!({"message": message, "stack": stack}));
    }
}

/// Vector writes its own `source_type` (`file`, `kubernetes_logs`, …) into every event: a value
/// that is not one of ours is kept in `context` rather than refusing the line.
fn foreign_source_type(fields: &mut Map<String, Value>) {
    let ours = fields
        .get("source_type")
        .and_then(Value::as_str)
        .is_none_or(|t| ["ui", "logic", "backend"].contains(&t.to_ascii_lowercase().as_str()));
    if !ours {
        if let Some(value) = fields.remove("source_type") {
            let context = fields
                .entry("context".to_string())
                .or_insert_with(|| json!({}));
            if let Value::Object(context) = context {
                context.entry("source_type".to_string()).or_insert(value);
            }
        }
    }
}

fn map_entry(entry: Entry, labels: &Map<String, Value>) -> Map<String, Value> {
    // A JSON-object line is a structured log: its own fields come first.
    let structured = entry
        .line
        .starts_with('{')
        .then(|| serde_json::from_str::<Value>(&entry.line).ok())
        .flatten();
    let mut event = match structured {
        Some(Value::Object(fields))
            if fields.contains_key("message") || fields.contains_key("msg") =>
        {
            // The line's shape, while it is whole, tells pino's level scale (pino-loki moves
            // `hostname` into the labels but keeps `msg` and `time`).
            let mut shaped = crate::processors::fields::Fields::new(fields);
            crate::processors::aliases::shipper_shapes(&mut shaped);
            let mut fields: Map<String, Value> = shaped.into_iter().collect();
            if !fields.contains_key("message") {
                if let Some(msg) = fields.remove("msg") {
                    fields.insert("message".into(), msg);
                }
            }
            structured_error(&mut fields);
            foreign_source_type(&mut fields);
            fields
        }
        _ => Map::from_iter([("message".to_string(), Value::String(entry.line))]),
    };
    event
        .entry("timestamp".to_string())
        .or_insert(json!(entry.nanos));
    if !labels.is_empty() {
        let tags = event.entry("tags".to_string()).or_insert_with(|| json!({}));
        if let Value::Object(tags) = tags {
            for (k, v) in labels {
                tags.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let mut metadata = entry.metadata;
    for field in crate::model::fields::names(crate::model::fields::role::CORRELATION) {
        if let Some(v) = metadata.remove(field) {
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
    event
}

#[cfg(test)]
mod tests {
    use super::super::{loki_push_to_items, proto, Encoding};
    use super::*;
    use prost::Message;

    fn from_json(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
        loki_push_to_items(body, Encoding::Json)
    }

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
        let items = from_json(push().to_string().as_bytes()).unwrap();
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
    fn errors_of_structured_lines() {
        let line = |fields: Value| {
            let mut event = Map::new();
            let text = fields.to_string();
            let items = streams_to_items(
                vec![Stream {
                    labels: Map::new(),
                    entries: vec![Ok(Entry {
                        nanos: 1,
                        line: text,
                        metadata: Map::new(),
                    })],
                }],
                1_000,
            )
            .unwrap();
            if let RawItem::Event(Value::Object(e)) = &items[0] {
                event = e.clone();
            }
            event
        };
        let pino = line(
            json!({"msg": "charge failed", "err": {"type": "CardError", "message": "declined", "stack": "CardError: declined\n    at pay (/srv/pay.js:1:1)"}}),
        );
        assert_eq!(pino["error"]["type"], "CardError");
        assert!(!pino.contains_key("err"));
        let winston = line(
            json!({"message": "declined", "level": "error", "stack": "Error: declined\n    at pay (/srv/pay.js:1:1)", "trace_id": "5b8efff798038103d269b633813fc60c"}),
        );
        assert_eq!(winston["error"]["message"], "declined");
        assert_eq!(
            winston["error"]["stack"],
            "Error: declined\n    at pay (/srv/pay.js:1:1)"
        );
        assert_eq!(winston["trace_id"], "5b8efff798038103d269b633813fc60c");
        let vector =
            line(json!({"message": "from vector", "source_type": "file", "host": "web-2"}));
        assert_eq!(vector["context"]["source_type"], "file");
        assert!(!vector.contains_key("source_type"));
        let ours = line(json!({"message": "m", "source_type": "Backend"}));
        assert_eq!(ours["source_type"], "Backend");
        let own = line(json!({"message": "m", "error": {"type": "A"}, "stack": "kept"}));
        assert_eq!(
            (own["error"]["type"].as_str(), own["stack"].as_str()),
            (Some("A"), Some("kept"))
        );
    }

    #[test]
    fn through_the_pipeline() {
        use chrono::TimeZone;
        let ctx = crate::processors::normalize::IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
            "production",
        );
        let items = from_json(push().to_string().as_bytes()).unwrap();
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
                from_json(bad).unwrap_err().status(),
                400,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let items = from_json(json!({"streams": [{"stream": {}, "values": [["notanumber", "x"], ["1", 5], "x", ["1714564800000000000", "ok"]]}]}).to_string().as_bytes()).unwrap();
        let rejected = items
            .iter()
            .filter(|i| matches!(i, RawItem::Rejected(_)))
            .count();
        assert_eq!(rejected, 3);
    }

    /// The JSON push above as Promtail encodes it: protobuf, then a raw snappy block.
    fn push_protobuf() -> Vec<u8> {
        let entry = |ns: i64, line: &str, metadata: &[(&str, &str)]| proto::EntryAdapter {
            timestamp: Some(proto::Timestamp {
                seconds: ns / 1_000_000_000,
                nanos: (ns % 1_000_000_000) as i32,
            }),
            line: line.as_bytes().to_vec(),
            structured_metadata: metadata
                .iter()
                .map(|(n, v)| proto::LabelPairAdapter {
                    name: n.as_bytes().to_vec(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
        };
        let request = proto::PushRequest {
            streams: vec![
                proto::StreamAdapter {
                    labels: br#"{job="checkout", env="prod", level="error", component="Payments", namespace="shop", pod="web-1"}"#.to_vec(),
                    entries: vec![
                        entry(1714564800123000000, "payment failed for order 991", &[]),
                        entry(1714564800124000000, "upstream timeout", &[("trace_id", "abc123"), ("node", "n1")]),
                    ],
                },
                proto::StreamAdapter {
                    labels: br#"{service_name="api", detected_level="warn"}"#.to_vec(),
                    entries: vec![entry(1714564800125000000, r#"{"msg":"slow query","duration_ms":1200,"level":"info"}"#, &[])],
                },
            ],
        };
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn snappy_protobuf_and_json_map_alike() {
        let from_protobuf = loki_push_to_items(&push_protobuf(), Encoding::SnappyProtobuf).unwrap();
        let from_json = from_json(push().to_string().as_bytes()).unwrap();
        assert_eq!(from_protobuf, from_json);
        assert!(!super::super::undo_content_encoding(
            Encoding::SnappyProtobuf,
            Some("snappy")
        ));
        assert!(super::super::undo_content_encoding(
            Encoding::SnappyProtobuf,
            Some("gzip")
        ));
        assert!(super::super::undo_content_encoding(
            Encoding::Json,
            Some("snappy")
        ));
    }

    #[test]
    fn malformed_protobuf() {
        let block = push_protobuf();
        let protobuf = snap::raw::Decoder::new().decompress_vec(&block).unwrap();
        let truncated = snap::raw::Encoder::new()
            .compress_vec(&protobuf[..protobuf.len() - 5])
            .unwrap();
        let wrong_wire_type = snap::raw::Encoder::new()
            .compress_vec(&[0x08, 0x01])
            .unwrap();
        for bad in [
            &truncated[..],
            &wrong_wire_type,
            &protobuf,
            b"not snappy at all",
        ] {
            let err = loki_push_to_items(bad, Encoding::SnappyProtobuf).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
        }
        // A stream whose labels do not parse: its lines are rejected, the others kept.
        let request = proto::PushRequest {
            streams: vec![
                proto::StreamAdapter {
                    labels: b"job=broken".to_vec(),
                    entries: vec![proto::EntryAdapter {
                        line: b"lost?".to_vec(),
                        ..Default::default()
                    }],
                },
                proto::StreamAdapter {
                    labels: br#"{job="ok"}"#.to_vec(),
                    entries: vec![
                        proto::EntryAdapter {
                            timestamp: Some(proto::Timestamp {
                                seconds: -5,
                                nanos: 0,
                            }),
                            line: b"before the epoch".to_vec(),
                            ..Default::default()
                        },
                        proto::EntryAdapter {
                            line: b"\xffkept \xfe".to_vec(),
                            ..Default::default()
                        },
                    ],
                },
            ],
        };
        let block = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap();
        let items = loki_push_to_items(&block, Encoding::SnappyProtobuf).unwrap();
        assert!(matches!(&items[0], RawItem::Rejected(e) if e.message.contains("malformed")));
        assert!(matches!(&items[1], RawItem::Rejected(e) if e.message.contains("epoch")));
        let RawItem::Event(kept) = &items[2] else {
            panic!("{:?}", items[2])
        };
        assert_eq!(
            kept["message"], "\u{fffd}kept \u{fffd}",
            "invalid UTF-8 kept lossily"
        );
    }
}
