//! OTLP/JSON into the protobuf model. OTLP/JSON is the protobuf's JSON mapping with two
//! exceptions this follows: `traceId`/`spanId` are hex (some exporters send base64 of the
//! raw bytes, which is read too), and enums are numbers. 64-bit integers may be strings.
//! Fields of the wrong type are skipped rather than refused, as protobuf decoders skip what
//! they do not know; a log record that is not an object is reported, not mapped.

use crate::ingest::formats::Malformed;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value as Json};

use super::model::{
    AnyValue, ArrayValue, ExportLogsServiceRequest, InstrumentationScope, KeyValue, KeyValueList,
    LogRecord, Resource, ResourceLogs, ScopeLogs, Value,
};
use crate::error::AppError;

/// The request, and `(record index, reason)` for each record that could not be read (it stays
/// in the request as an empty record, so that indexes keep their place).
pub struct Decoded {
    pub request: ExportLogsServiceRequest,
    pub malformed: Vec<(usize, Malformed)>,
}

pub fn decode(body: &[u8]) -> Result<Decoded, AppError> {
    let resource_logs = super::super::root_array(body, "resourceLogs", "OTLP/JSON")?;
    let mut malformed = Vec::new();
    let mut index = 0;
    let resource_logs = resource_logs
        .into_iter()
        .map(|mut rl| ResourceLogs {
            resource: Some(Resource {
                attributes: key_values(
                    rl.get_mut("resource")
                        .and_then(|r| r.get_mut("attributes"))
                        .map(Json::take),
                ),
            }),
            scope_logs: super::super::take_array(&mut rl, "scopeLogs")
                .unwrap_or_default()
                .into_iter()
                .map(|mut sl| ScopeLogs {
                    scope: sl.get("scope").map(|s| InstrumentationScope {
                        name: s
                            .get("name")
                            .and_then(Json::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    }),
                    log_records: super::super::take_array(&mut sl, "logRecords")
                        .unwrap_or_default()
                        .into_iter()
                        .map(|record| {
                            let mapped = log_record(record).unwrap_or_else(|reason| {
                                malformed.push((index, reason));
                                LogRecord::default()
                            });
                            index += 1;
                            mapped
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Ok(Decoded {
        request: ExportLogsServiceRequest { resource_logs },
        malformed,
    })
}

fn log_record(record: Json) -> Result<LogRecord, Malformed> {
    let Json::Object(mut record) = record else {
        return Err(Malformed::new("a log record must be an object"));
    };
    Ok(LogRecord {
        time_unix_nano: unsigned(record.get("timeUnixNano")),
        observed_time_unix_nano: unsigned(record.get("observedTimeUnixNano")),
        severity_number: record
            .get("severityNumber")
            .and_then(Json::as_i64)
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(0),
        severity_text: string(&mut record, "severityText"),
        body: record.remove("body").and_then(any_value),
        attributes: key_values(record.remove("attributes")),
        trace_id: id_bytes(record.get("traceId")),
        span_id: id_bytes(record.get("spanId")),
        event_name: string(&mut record, "eventName"),
    })
}

fn string(record: &mut Map<String, Json>, key: &str) -> String {
    match record.remove(key) {
        Some(Json::String(s)) => s,
        _ => String::new(),
    }
}

/// A fixed64: a string in OTLP/JSON, a number from lenient exporters.
fn unsigned(v: Option<&Json>) -> u64 {
    match v {
        Some(Json::String(s)) => s.parse().unwrap_or(0),
        Some(Json::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// Hex, as OTLP/JSON says, or base64 of the raw bytes, as some exporters send.
fn id_bytes(v: Option<&Json>) -> Vec<u8> {
    let Some(s) = v.and_then(Json::as_str).map(str::trim) else {
        return Vec::new();
    };
    if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..s.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
            .collect();
    }
    STANDARD.decode(s).unwrap_or_default()
}

fn key_values(list: Option<Json>) -> Vec<KeyValue> {
    let Some(Json::Array(list)) = list else {
        return Vec::new();
    };
    list.into_iter()
        .filter_map(|kv| {
            let Json::Object(mut kv) = kv else {
                return None;
            };
            let Some(Json::String(key)) = kv.remove("key") else {
                return None;
            };
            Some(KeyValue {
                key,
                value: kv.remove("value").and_then(any_value),
            })
        })
        .collect()
}

fn any_value(v: Json) -> Option<AnyValue> {
    let Json::Object(mut obj) = v else {
        return None;
    };
    let (key, value) = obj.iter_mut().next()?;
    let value = match (key.as_str(), value.take()) {
        ("stringValue", Json::String(s)) => Value::String(s),
        ("boolValue", Json::Bool(b)) => Value::Bool(b),
        // int64 travels as a string in OTLP/JSON.
        ("intValue", Json::String(s)) => s.parse().map(Value::Int).unwrap_or(Value::String(s)),
        ("intValue", Json::Number(n)) => Value::Int(n.as_i64()?),
        ("doubleValue", Json::Number(n)) => Value::Double(n.as_f64()?),
        ("arrayValue", mut a) => Value::Array(ArrayValue {
            values: match a.get_mut("values").map(Json::take) {
                Some(Json::Array(values)) => values.into_iter().filter_map(any_value).collect(),
                _ => Vec::new(),
            },
        }),
        ("kvlistValue", mut kv) => Value::Kvlist(KeyValueList {
            values: key_values(kv.get_mut("values").map(Json::take)),
        }),
        ("bytesValue", Json::String(s)) => Value::Bytes(STANDARD.decode(&s).unwrap_or_default()),
        _ => return Some(AnyValue { value: None }),
    };
    Some(AnyValue { value: Some(value) })
}
