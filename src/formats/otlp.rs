//! OpenTelemetry logs over OTLP/HTTP with JSON encoding (`POST /otlp/v1/logs`), mapped into our
//! event model so they go through the same validation, scrubbing, triage, limits and queue.
//!
//! `resourceLogs[].resource.attributes` → `service` (`service.name`), `environment`
//! (`deployment.environment[.name]`), `release` (`service.version`), the rest under
//! `context.resource`; `scopeLogs[].scope.name` → `context.logger` (so it can name the
//! component); each `logRecords[]` → one event: `timeUnixNano` (else `observedTimeUnixNano`),
//! `severityNumber` (else `severityText`), `body` (any value; non-strings become JSON text),
//! `traceId`/`spanId` (hex, or base64 as some exporters send), attributes → `context`, with the
//! `exception.*` conventions → `error` and `http.route`, `url.path`, `user.id`, `session.id`
//! onto our fields.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::model::ItemError;
use crate::processors::body::{RawItem, MAX_EVENTS};

/// An OTLP `AnyValue` as plain JSON.
fn any_value(v: &Value) -> Value {
    let Some(obj) = v.as_object() else {
        return Value::Null;
    };
    if let Some(s) = obj.get("stringValue") {
        return s.clone();
    }
    if let Some(b) = obj.get("boolValue") {
        return b.clone();
    }
    if let Some(i) = obj.get("intValue") {
        // int64 travels as a string in OTLP/JSON.
        return match i {
            Value::String(s) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(s.clone())),
            other => other.clone(),
        };
    }
    if let Some(d) = obj.get("doubleValue") {
        return d.clone();
    }
    if let Some(a) = obj.get("arrayValue") {
        return Value::Array(
            a.get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().map(any_value).collect())
                .unwrap_or_default(),
        );
    }
    if let Some(kv) = obj.get("kvlistValue") {
        return Value::Object(attributes(kv.get("values")));
    }
    if let Some(bytes) = obj.get("bytesValue") {
        return bytes.clone();
    }
    Value::Null
}

/// `[{key, value: AnyValue}]` into a JSON object.
fn attributes(list: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for kv in list.and_then(Value::as_array).into_iter().flatten() {
        if let Some(key) = kv.get("key").and_then(Value::as_str) {
            out.insert(
                key.to_string(),
                kv.get("value").map(any_value).unwrap_or(Value::Null),
            );
        }
    }
    out
}

/// Trace and span ids: OTLP/JSON says hex; some exporters send base64 of the raw bytes.
fn otlp_id(v: Option<&Value>) -> Option<String> {
    let s = v?.as_str()?.trim();
    if s.is_empty() {
        return None;
    }
    if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(s.to_ascii_lowercase());
    }
    let bytes = STANDARD.decode(s).ok()?;
    (bytes.len() == 16 || bytes.len() == 8)
        .then(|| bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn nanos(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

fn text(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    map.remove(key).filter(|v| !v.is_null()).map(|v| match v {
        Value::String(_) => v,
        other => Value::String(other.to_string()),
    })
}

/// The request body into raw items for the pipeline, in order. A malformed envelope is a 400;
/// a malformed record is rejected alone.
pub fn otlp_logs_to_items(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
    let resource_logs = super::root_array(body, "resourceLogs", "OTLP/JSON")?;
    let mut items = Vec::new();
    for rl in resource_logs {
        let mut resource = attributes(rl.get("resource").and_then(|r| r.get("attributes")));
        let service = text(&mut resource, "service.name");
        let environment = text(&mut resource, "deployment.environment.name")
            .or_else(|| text(&mut resource, "deployment.environment"));
        let release = text(&mut resource, "service.version");
        for sl in rl
            .get("scopeLogs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let scope = sl
                .get("scope")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            for record in sl
                .get("logRecords")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if items.len() >= MAX_EVENTS {
                    return Err(AppError::PayloadTooLarge(format!("The body holds more than {MAX_EVENTS} log records; the limit is {MAX_EVENTS} per request.")));
                }
                let index = items.len();
                items.push(
                    match map_record(record, &resource, scope, &service, &environment, &release) {
                        Ok(event) => RawItem::Event(event),
                        Err(message) => {
                            RawItem::Rejected(ItemError::new(index, "invalid_event", message))
                        }
                    },
                );
            }
        }
    }
    if items.is_empty() {
        return Err(AppError::InvalidEvents {
            message: "The body holds no log records.".into(),
            errors: vec![],
        });
    }
    Ok(items)
}

fn map_record(
    record: &Value,
    resource: &Map<String, Value>,
    scope: Option<&str>,
    service: &Option<Value>,
    environment: &Option<Value>,
    release: &Option<Value>,
) -> Result<Value, String> {
    if !record.is_object() {
        return Err("a log record must be an object".into());
    }
    let mut attrs = attributes(record.get("attributes"));
    let message = match record.get("body").map(any_value) {
        Some(Value::String(s)) => Value::String(s),
        Some(Value::Null) | None => Value::Null,
        Some(other) => Value::String(other.to_string()),
    };
    let mut event = Map::new();
    event.insert("message".into(), message);
    if let Some(n) = record
        .get("severityNumber")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
    {
        event.insert("level".into(), json!(n));
    } else if let Some(t) = record
        .get("severityText")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        event.insert("level".into(), json!(t));
    }
    if let Some(ns) =
        nanos(record.get("timeUnixNano")).or_else(|| nanos(record.get("observedTimeUnixNano")))
    {
        event.insert("timestamp".into(), json!(ns));
    }
    for (ours, value) in [
        ("service", service),
        ("environment", environment),
        ("release", release),
    ] {
        if let Some(v) = value {
            event.insert(ours.into(), v.clone());
        }
    }
    if let Some(id) = otlp_id(record.get("traceId")) {
        event.insert("trace_id".into(), json!(id));
    }
    if let Some(id) = otlp_id(record.get("spanId")) {
        event.insert("span_id".into(), json!(id));
    }
    // Semantic conventions onto our fields.
    let exception_type = text(&mut attrs, "exception.type");
    let exception_message = text(&mut attrs, "exception.message");
    let exception_stack = text(&mut attrs, "exception.stacktrace");
    if exception_type.is_some() || exception_message.is_some() || exception_stack.is_some() {
        event.insert(
            "error".into(),
            json!({"type": exception_type, "message": exception_message, "stack": exception_stack}),
        );
    }
    for (convention, ours) in [
        ("http.route", "endpoint"),
        ("url.path", "endpoint"),
        ("user.id", "user_id"),
        ("session.id", "session_id"),
        ("event.id", "event_id"),
    ] {
        if let Some(v) = text(&mut attrs, convention) {
            event.entry(ours.to_string()).or_insert(v);
        }
    }
    if let Some(scope) = scope {
        attrs
            .entry("logger".to_string())
            .or_insert_with(|| json!(scope));
    }
    if !resource.is_empty() {
        attrs.insert("resource".into(), Value::Object(resource.clone()));
    }
    event.insert("context".into(), Value::Object(attrs));
    Ok(Value::Object(event))
}

/// The OTLP answer: `{}` when everything was accepted, else `partialSuccess`.
pub fn export_response(rejected: usize, first_error: Option<&str>) -> Value {
    if rejected == 0 {
        json!({})
    } else {
        json!({"partialSuccess": {"rejectedLogRecords": rejected.to_string(), "errorMessage": first_error.unwrap_or("some log records were rejected")}})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(body: &Value) -> Vec<RawItem> {
        otlp_logs_to_items(body.to_string().as_bytes()).unwrap()
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
        let RawItem::Event(first) = &items[0] else {
            panic!("{:?}", items[0])
        };
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
        let RawItem::Event(second) = &items[1] else {
            panic!()
        };
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
            crate::pipeline::process_items(events(&export()), &ctx, uuid::Uuid::new_v4).unwrap();
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
            let err = otlp_logs_to_items(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
        let items = events(
            &json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [5, {"body": {"stringValue": "ok"}}]}]}]}),
        );
        assert!(matches!(&items[0], RawItem::Rejected(e) if e.index == 0));
        assert!(matches!(&items[1], RawItem::Event(_)));
        let many: Vec<Value> = (0..1001)
            .map(|_| json!({"body": {"stringValue": "x"}}))
            .collect();
        let err = otlp_logs_to_items(
            json!({"resourceLogs": [{"scopeLogs": [{"logRecords": many}]}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(err.status(), 413);
    }

    #[test]
    fn answers() {
        assert_eq!(export_response(0, None), json!({}));
        assert_eq!(
            export_response(2, Some("message is required")),
            json!({"partialSuccess": {"rejectedLogRecords": "2", "errorMessage": "message is required"}})
        );
    }
}
