//! One mapper from the decoded OTLP model (either encoding) into our event model, so that
//! OTLP logs go through the same validation, scrubbing, triage, limits and queue as ours.
//!
//! `resourceLogs[].resource.attributes` → `service` (`service.name`), `environment`
//! (`deployment.environment[.name]`), `release` (`service.version`), the rest under
//! `context.resource`; `scopeLogs[].scope.name` → `context.logger` (so it can name the
//! component); each log record → one event: `timeUnixNano` (else `observedTimeUnixNano`),
//! `severityNumber` (else `severityText`), `body` (any value; non-strings become JSON text),
//! `traceId`/`spanId` as hex, attributes → `context`, with the `exception.*` conventions →
//! `error` and `http.route`, `url.path`, `user.id`, `session.id` onto our fields.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value as Json};

use super::model::{AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Value};
use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, AGENT_MAX_EVENTS};
use crate::processors::fields::Fields;

/// An `AnyValue` as plain JSON, taken apart rather than copied.
fn any_value(v: Option<AnyValue>) -> Json {
    match v.and_then(|v| v.value) {
        None => Json::Null,
        Some(Value::String(s)) => Json::String(s),
        Some(Value::Bool(b)) => Json::Bool(b),
        Some(Value::Int(i)) => json!(i),
        Some(Value::Double(d)) => json!(d),
        Some(Value::Array(a)) => {
            Json::Array(a.values.into_iter().map(|v| any_value(Some(v))).collect())
        }
        Some(Value::Kvlist(kv)) => Json::Object(attributes(kv.values)),
        Some(Value::Bytes(b)) => Json::String(STANDARD.encode(b)),
    }
}

/// `[{key, value}]` into a JSON object.
fn attributes(list: Vec<KeyValue>) -> Map<String, Json> {
    list.into_iter()
        .map(|kv| (kv.key, any_value(kv.value)))
        .collect()
}

fn hex(bytes: &[u8]) -> Option<String> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (!bytes.is_empty() && bytes.iter().any(|b| *b != 0)).then(|| {
        bytes
            .iter()
            .flat_map(|b| {
                [
                    DIGITS[usize::from(b >> 4)] as char,
                    DIGITS[usize::from(b & 15)] as char,
                ]
            })
            .collect()
    })
}

fn text(map: &mut Map<String, Json>, key: &str) -> Option<Json> {
    map.remove(key).filter(|v| !v.is_null()).map(|v| match v {
        Json::String(_) => v,
        other => Json::String(other.to_string()),
    })
}

/// What every record of one `resourceLogs[]` entry shares.
struct Resource {
    /// Attributes not mapped onto our fields: `context.resource` of each event.
    rest: Map<String, Json>,
    service: Option<Json>,
    environment: Option<Json>,
    release: Option<Json>,
}

/// The decoded request into raw items for the pipeline, in order; `malformed` names records
/// the decoder could not read (by index), which are rejected alone.
pub fn request_to_items(
    request: ExportLogsServiceRequest,
    malformed: &[(usize, crate::ingest::formats::Malformed)],
    body_bytes: usize,
) -> Result<Vec<RawItem>, AppError> {
    let mut budget = crate::ingest::formats::budget::MappedBudget::for_body(body_bytes);
    let records: usize = request
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum();
    if records > AGENT_MAX_EVENTS {
        return Err(AppError::PayloadTooLarge(format!(
            "The body holds {records} log records; the limit is {AGENT_MAX_EVENTS} per request."
        )));
    }
    if records == 0 {
        return Err(AppError::InvalidEvents {
            message: "The body holds no log records.".into(),
            errors: vec![],
        });
    }
    let mut items = Vec::with_capacity(records);
    let mut malformed = malformed.iter().peekable();
    for rl in request.resource_logs {
        let mut rest = attributes(rl.resource.map(|r| r.attributes).unwrap_or_default());
        let resource = Resource {
            service: text(&mut rest, "service.name"),
            environment: text(&mut rest, "deployment.environment.name")
                .or_else(|| text(&mut rest, "deployment.environment")),
            release: text(&mut rest, "service.version"),
            rest,
        };
        for sl in rl.scope_logs {
            let scope = sl.scope.map(|s| s.name).filter(|s| !s.is_empty());
            for record in sl.log_records {
                let index = items.len();
                let item = match malformed.next_if(|(i, _)| *i == index) {
                    Some((_, reason)) => RawItem::Rejected(ItemError::new(
                        index,
                        RejectReason::InvalidEvent,
                        reason.message().to_string(),
                    )),
                    None => RawItem::Object(map_record(record, &resource, scope.as_deref())),
                };
                items.push(budget.admit(index, item)?);
            }
        }
    }
    Ok(items)
}

/// One log record into an event's fields, its values moved rather than copied.
fn map_record(record: LogRecord, resource: &Resource, scope: Option<&str>) -> Fields {
    let mut attrs = attributes(record.attributes);
    let message = match any_value(record.body) {
        Json::String(s) => Json::String(s),
        Json::Null => Json::Null,
        other => Json::String(other.to_string()),
    };
    let mut event = Fields::with_capacity(12);
    event.push("message", message);
    if record.severity_number > 0 {
        event.push("level", json!(record.severity_number));
    } else if !record.severity_text.is_empty() {
        event.push("level", Json::String(record.severity_text));
    }
    let time = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|ns| *ns > 0);
    if let Some(ns) = time {
        event.push("timestamp", json!(ns));
    }
    for (ours, value) in [
        ("service", &resource.service),
        ("environment", &resource.environment),
        ("release", &resource.release),
    ] {
        if let Some(v) = value {
            event.push(ours, v.clone());
        }
    }
    if let Some(id) = hex(&record.trace_id) {
        event.push("trace_id", Json::String(id));
    }
    if let Some(id) = hex(&record.span_id) {
        event.push("span_id", Json::String(id));
    }
    // Semantic conventions onto our fields.
    let exception_type = text(&mut attrs, "exception.type");
    let exception_message = text(&mut attrs, "exception.message");
    let exception_stack = text(&mut attrs, "exception.stacktrace");
    if exception_type.is_some() || exception_message.is_some() || exception_stack.is_some() {
        event.push(
            "error",
            json!({"type": exception_type, "message": exception_message, "stack": exception_stack}),
        );
    }
    // The semantic conventions' attributes that fill our fields (`model::fields`).
    let conventions = crate::model::fields::EVENT_FIELDS
        .iter()
        .flat_map(|f| f.otel.iter().map(move |c| (*c, f.field.name)));
    for (convention, ours) in conventions {
        if let Some(v) = text(&mut attrs, convention) {
            event.insert_if_absent(ours.to_string(), v);
        }
    }
    if !record.event_name.is_empty() {
        attrs
            .entry("event.name".to_string())
            .or_insert(Json::String(record.event_name));
    }
    if let Some(scope) = scope {
        attrs
            .entry("logger".to_string())
            .or_insert_with(|| json!(scope));
    }
    if !resource.rest.is_empty() {
        attrs.insert("resource".into(), Json::Object(resource.rest.clone()));
    }
    event.push("context", Json::Object(attrs));
    event
}

#[cfg(test)]
mod tests {
    use super::super::{export_response, otlp_logs_to_items, rpc_status, Encoding};
    use super::*;
    use crate::ingest::formats::otlp::model::{
        ExportLogsServiceResponse, ResourceLogs, ScopeLogs, Status,
    };
    use prost::Message;
    use serde_json::Value;

    fn otlp_json(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
        otlp_logs_to_items(body, Encoding::Json)
    }

    fn events(body: &Value) -> Vec<RawItem> {
        otlp_json(body.to_string().as_bytes()).unwrap()
    }

    /// A mapped record as one JSON object, to look into.
    fn event(item: &RawItem) -> Value {
        match item {
            RawItem::Object(fields) => Value::Object(fields.clone().into_iter().collect()),
            other => panic!("{other:?}"),
        }
    }

    fn export() -> Value {
        json!({"resourceLogs": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "checkout"}},
                {"key": "deployment.environment", "value": {"stringValue": "prod"}},
                {"key": "service.version", "value": {"stringValue": "1.4.2"}},
                {"key": "host.name", "value": {"stringValue": "web-1"}}
            ]},
            "scopeLogs": [{
                "scope": {"name": "com.acme.PaymentService"},
                "logRecords": [
                    {"timeUnixNano": "1714564800123000000", "severityNumber": 17, "severityText": "ERROR",
                     "body": {"stringValue": "payment failed"},
                     "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                     "attributes": [
                        {"key": "exception.type", "value": {"stringValue": "CardError"}},
                        {"key": "exception.message", "value": {"stringValue": "declined"}},
                        {"key": "exception.stacktrace", "value": {"stringValue": "CardError: declined\n    at pay (/srv/pay.js:1:1)"}},
                        {"key": "http.route", "value": {"stringValue": "/api/pay/:id"}},
                        {"key": "retry", "value": {"intValue": "3"}},
                        {"key": "cart", "value": {"kvlistValue": {"values": [{"key": "items", "value": {"intValue": 2}}]}}}
                     ]},
                    {"observedTimeUnixNano": 1714564800000000000_u64, "severityText": "warn",
                     "body": {"kvlistValue": {"values": [{"key": "msg", "value": {"stringValue": "slow"}}]}},
                     "traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ="}
                ]
            }]
        }]})
    }

    #[test]
    fn records_map_onto_our_fields() {
        let items = events(&export());
        assert_eq!(items.len(), 2);
        let first = event(&items[0]);
        assert_eq!(first["message"], "payment failed");
        assert_eq!(first["level"], 17);
        assert_eq!(first["timestamp"], json!(1714564800123000000_u64));
        assert_eq!(first["service"], "checkout");
        assert_eq!(first["environment"], "prod");
        assert_eq!(first["release"], "1.4.2");
        assert_eq!(first["trace_id"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(first["error"]["type"], "CardError");
        assert_eq!(first["endpoint"], "/api/pay/:id");
        assert_eq!(first["context"]["retry"], 3);
        assert_eq!(first["context"]["cart"]["items"], 2);
        assert_eq!(first["context"]["logger"], "com.acme.PaymentService");
        assert_eq!(first["context"]["resource"]["host.name"], "web-1");
        let second = event(&items[1]);
        assert_eq!(second["message"], r#"{"msg":"slow"}"#);
        assert_eq!(second["level"], "warn");
        assert_eq!(
            second["trace_id"], "5b8efff798038103d269b633813fc60c",
            "base64 ids become hex"
        );
        assert_eq!(second["span_id"], "eee19b7ec3c1b174");
    }

    #[test]
    fn through_the_pipeline() {
        use chrono::TimeZone;
        let ctx = crate::processors::normalize::IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
            "production",
        );
        let outcome =
            crate::ingest::pipeline::process_items(events(&export()), &ctx, uuid::Uuid::new_v4)
                .unwrap();
        let e = &outcome.accepted[0].1;
        assert_eq!(
            (
                e.level.as_str(),
                e.environment.as_str(),
                e.timestamp.as_str()
            ),
            ("error", "production", "2024-05-01T12:00:00.123Z")
        );
        assert_eq!(e.error_kind.as_deref(), Some("exception"));
        assert_eq!(e.route.as_deref(), Some("/api/pay/:id"));
        assert_eq!(outcome.accepted[1].1.level, "warn");
    }

    #[test]
    fn malformed_bodies_and_records() {
        for bad in [
            &b"{"[..],
            b"[]",
            b"{}",
            b"{\"resourceLogs\": 5}",
            b"{\"resourceLogs\": []}",
        ] {
            let err = otlp_json(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
        let items = events(
            &json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [5, {"body": {"stringValue": "ok"}}]}]}]}),
        );
        assert!(matches!(&items[0], RawItem::Rejected(e) if e.index == 0));
        assert!(matches!(&items[1], RawItem::Object(_)));
        let many: Vec<Value> = (0..=AGENT_MAX_EVENTS)
            .map(|_| json!({"body": {"stringValue": "x"}}))
            .collect();
        let err = otlp_json(
            json!({"resourceLogs": [{"scopeLogs": [{"logRecords": many}]}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn answers() {
        assert_eq!(export_response(0, None, Encoding::Json), b"{}");
        let partial: Value = serde_json::from_slice(&export_response(
            2,
            Some("message is required"),
            Encoding::Json,
        ))
        .unwrap();
        assert_eq!(
            partial,
            json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "message is required"}})
        );
        assert!(export_response(0, None, Encoding::Protobuf).is_empty());
        let decoded = ExportLogsServiceResponse::decode(
            export_response(3, Some("too long"), Encoding::Protobuf).as_slice(),
        )
        .unwrap();
        let p = decoded.partial_success.unwrap();
        assert_eq!(
            (p.rejected_log_records, p.error_message.as_str()),
            (3, "too long")
        );
        let status = Status::decode(rpc_status(400, "bad body").as_slice()).unwrap();
        assert_eq!((status.code, status.message.as_str()), (3, "bad body"));
    }

    /// The protobuf of the JSON export (as an exporter would encode it).
    fn export_protobuf() -> ExportLogsServiceRequest {
        use crate::ingest::formats::otlp::model::{InstrumentationScope, Resource};
        let kv = |key: &str, value: Value| KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(match value {
                    Value::String(s) => super::Value::String(s),
                    Value::Number(n) => super::Value::Int(n.as_i64().unwrap()),
                    other => panic!("{other}"),
                }),
            }),
        };
        let cart = KeyValue {
            key: "cart".into(),
            value: Some(AnyValue {
                value: Some(super::Value::Kvlist(super::super::model::KeyValueList {
                    values: vec![kv("items", json!(2))],
                })),
            }),
        };
        let hex_bytes = |s: &str| {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", json!("checkout")),
                        kv("deployment.environment", json!("prod")),
                        kv("service.version", json!("1.4.2")),
                        kv("host.name", json!("web-1")),
                    ],
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "com.acme.PaymentService".into(),
                    }),
                    log_records: vec![
                        LogRecord {
                            time_unix_nano: 1714564800123000000,
                            severity_number: 17,
                            severity_text: "ERROR".into(),
                            body: Some(AnyValue {
                                value: Some(super::Value::String("payment failed".into())),
                            }),
                            trace_id: hex_bytes("5b8efff798038103d269b633813fc60c"),
                            span_id: hex_bytes("eee19b7ec3c1b174"),
                            attributes: vec![
                                kv("exception.type", json!("CardError")),
                                kv("exception.message", json!("declined")),
                                kv(
                                    "exception.stacktrace",
                                    json!("CardError: declined\n    at pay (/srv/pay.js:1:1)"),
                                ),
                                kv("http.route", json!("/api/pay/:id")),
                                kv("retry", json!(3)),
                                cart,
                            ],
                            ..Default::default()
                        },
                        LogRecord {
                            observed_time_unix_nano: 1714564800000000000,
                            severity_text: "warn".into(),
                            body: Some(AnyValue {
                                value: Some(super::Value::Kvlist(
                                    super::super::model::KeyValueList {
                                        values: vec![kv("msg", json!("slow"))],
                                    },
                                )),
                            }),
                            trace_id: hex_bytes("5b8efff798038103d269b633813fc60c"),
                            span_id: hex_bytes("eee19b7ec3c1b174"),
                            ..Default::default()
                        },
                    ],
                }],
            }],
        }
    }

    #[test]
    fn protobuf_and_json_map_alike() {
        let wire = export_protobuf().encode_to_vec();
        let from_protobuf = otlp_logs_to_items(&wire, Encoding::Protobuf).unwrap();
        assert_eq!(from_protobuf, events(&export()));
    }

    #[test]
    fn malformed_protobuf_is_a_400() {
        let wire = export_protobuf().encode_to_vec();
        let truncated = &wire[..wire.len() - 7];
        // Field 1 (resource_logs) announced as a varint where a message is expected.
        let wrong_wire_type = [0x08, 0x01];
        // A length prefix far past the end of the body.
        let length_lie = [0x0a, 0xff, 0xff, 0xff, 0x0f, 0x00];
        for bad in [
            truncated,
            &wrong_wire_type[..],
            &length_lie[..],
            b"{\"resourceLogs\": []}",
        ] {
            let err = otlp_logs_to_items(bad, Encoding::Protobuf).unwrap_err();
            assert_eq!(err.status(), 400, "{bad:?}");
        }
        assert_eq!(
            otlp_logs_to_items(&[], Encoding::Protobuf)
                .unwrap_err()
                .status(),
            400,
            "an empty request holds no records"
        );
    }

    #[test]
    fn encodings_by_content_type() {
        for (header, expected) in [
            (Some("application/x-protobuf"), Ok(Encoding::Protobuf)),
            (Some("application/json; charset=utf-8"), Ok(Encoding::Json)),
            (Some("text/plain"), Err(415)),
            (None, Err(415)),
        ] {
            assert_eq!(
                Encoding::of(header).map_err(|e| e.status()),
                expected,
                "{header:?}"
            );
        }
    }
}
