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
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, MAX_EVENTS};
use crate::processors::fields::Fields;

/// An OTLP `AnyValue` as plain JSON, taken apart rather than copied.
fn any_value(v: Value) -> Value {
    let Value::Object(mut obj) = v else {
        return Value::Null;
    };
    if let Some(s) = obj.remove("stringValue") {
        return s;
    }
    if let Some(b) = obj.remove("boolValue") {
        return b;
    }
    if let Some(i) = obj.remove("intValue") {
        // int64 travels as a string in OTLP/JSON.
        return match i {
            Value::String(s) => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or(Value::String(s)),
            other => other,
        };
    }
    if let Some(d) = obj.remove("doubleValue") {
        return d;
    }
    if let Some(mut a) = obj.remove("arrayValue") {
        return Value::Array(match a.get_mut("values").map(Value::take) {
            Some(Value::Array(values)) => values.into_iter().map(any_value).collect(),
            _ => Vec::new(),
        });
    }
    if let Some(mut kv) = obj.remove("kvlistValue") {
        return Value::Object(attributes(kv.get_mut("values").map(Value::take)));
    }
    obj.remove("bytesValue").unwrap_or(Value::Null)
}

/// `[{key, value: AnyValue}]` into a JSON object.
fn attributes(list: Option<Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(Value::Array(list)) = list else {
        return out;
    };
    for kv in list {
        let Value::Object(mut kv) = kv else { continue };
        if let Some(Value::String(key)) = kv.remove("key") {
            out.insert(
                key,
                kv.remove("value").map(any_value).unwrap_or(Value::Null),
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

/// What every record of one `resourceLogs[]` entry shares.
struct Resource {
    /// Attributes not mapped onto our fields: `context.resource` of each event.
    rest: Map<String, Value>,
    service: Option<Value>,
    environment: Option<Value>,
    release: Option<Value>,
}

/// The request body into raw items for the pipeline, in order. A malformed envelope is a 400;
/// a malformed record is rejected alone.
pub fn otlp_logs_to_items(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
    let resource_logs = super::root_array(body, "resourceLogs", "OTLP/JSON")?;
    let mut items = Vec::new();
    for mut rl in resource_logs {
        let mut rest = attributes(
            rl.get_mut("resource")
                .and_then(|r| r.get_mut("attributes"))
                .map(Value::take),
        );
        let resource = Resource {
            service: text(&mut rest, "service.name"),
            environment: text(&mut rest, "deployment.environment.name")
                .or_else(|| text(&mut rest, "deployment.environment")),
            release: text(&mut rest, "service.version"),
            rest,
        };
        for mut sl in super::take_array(&mut rl, "scopeLogs").unwrap_or_default() {
            let scope = sl
                .get("scope")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            for record in super::take_array(&mut sl, "logRecords").unwrap_or_default() {
                if items.len() >= MAX_EVENTS {
                    return Err(AppError::PayloadTooLarge(format!("The body holds more than {MAX_EVENTS} log records; the limit is {MAX_EVENTS} per request.")));
                }
                let index = items.len();
                items.push(match map_record(record, &resource, scope.as_deref()) {
                    Ok(event) => RawItem::Object(event),
                    Err(message) => RawItem::Rejected(ItemError::new(
                        index,
                        RejectReason::InvalidEvent,
                        message,
                    )),
                });
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

/// One log record into an event's fields, its values moved rather than copied.
fn map_record(record: Value, resource: &Resource, scope: Option<&str>) -> Result<Fields, String> {
    let Value::Object(mut record) = record else {
        return Err("a log record must be an object".into());
    };
    let mut attrs = attributes(record.remove("attributes"));
    let message = match record.remove("body").map(any_value) {
        Some(Value::String(s)) => Value::String(s),
        Some(Value::Null) | None => Value::Null,
        Some(other) => Value::String(other.to_string()),
    };
    let mut event = Fields::with_capacity(12);
    event.push("message", message);
    if let Some(n) = record
        .get("severityNumber")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
    {
        event.push("level", json!(n));
    } else if let Some(t) = record
        .remove("severityText")
        .filter(|t| t.as_str().is_some_and(|t| !t.is_empty()))
    {
        event.push("level", t);
    }
    if let Some(ns) =
        nanos(record.get("timeUnixNano")).or_else(|| nanos(record.get("observedTimeUnixNano")))
    {
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
    if let Some(id) = otlp_id(record.get("traceId")) {
        event.push("trace_id", json!(id));
    }
    if let Some(id) = otlp_id(record.get("spanId")) {
        event.push("span_id", json!(id));
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
    for (convention, ours) in [
        ("http.route", "endpoint"),
        ("url.path", "endpoint"),
        ("user.id", "user_id"),
        ("session.id", "session_id"),
        ("event.id", "event_id"),
    ] {
        if let Some(v) = text(&mut attrs, convention) {
            event.insert_if_absent(ours.to_string(), v);
        }
    }
    if let Some(scope) = scope {
        attrs
            .entry("logger".to_string())
            .or_insert_with(|| json!(scope));
    }
    if !resource.rest.is_empty() {
        attrs.insert("resource".into(), Value::Object(resource.rest.clone()));
    }
    event.push("context", Value::Object(attrs));
    Ok(event)
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
            let err = otlp_logs_to_items(bad).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(bad));
        }
        let items = events(
            &json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [5, {"body": {"stringValue": "ok"}}]}]}]}),
        );
        assert!(matches!(&items[0], RawItem::Rejected(e) if e.index == 0));
        assert!(matches!(&items[1], RawItem::Object(_)));
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
