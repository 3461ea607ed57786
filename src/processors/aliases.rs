//! Field names of other loggers read as ours, so JSON from pino, winston, bunyan, zap, logrus,
//! structlog, Python's `logging` JSON formatters and Elastic's ECS arrives well-formed. Our own
//! names always win; an alias only fills a field that is absent.
//!
//! - message: `msg` (pino, bunyan, zap, logrus), `event` (structlog), `body` (a string),
//!   `MESSAGE` (syslog-ng)
//! - timestamp: `@timestamp` (ECS), `time` (pino, bunyan, logrus), `ts` (zap), `dt`, `_time`,
//!   `asctime` (Python; its `2024-05-01 12:00:00,123` comma is read as a decimal point),
//!   `ISODATE` (syslog-ng), `timereported` (rsyslog's default template)
//! - level: `severity`, `log.level` (ECS, dotted or nested), `levelname` (Python), and when it
//!   is a level name `status`, `PRIORITY` (syslog-ng) or `priority` (rsyslog: `err`,
//!   `warning`, …); whole numbers from 25 to 60 — or up to 60 in a pino-shaped record (`pid`
//!   and `hostname`, pino's default bindings, or `msg` and `time`) — are on pino's and
//!   bunyan's scale: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
//! - service: `service.name` (OpenTelemetry, ECS; dotted or nested), `PROGRAM` (syslog-ng)
//! - host: `HOST` (syslog-ng) and `fromhost` (rsyslog) become the `host` tag
//! - error: ECS `error.type`, `error.message`, `error.stack_trace` (dotted or nested)

use serde_json::{Map, Value};

use super::fields::Fields;
use super::level::Level;

/// Shippers' names for our fields, as `(theirs, ours)`: syslog-ng's default template, rsyslog's,
/// pino's, winston's and ECS's time. Each fills our field when it is absent, in this order;
/// [`apply_aliases`] reads the rest (`event`, `body`, `ts`, `log.level`, `levelname`, …). `PRIORITY` and
/// `priority` fill `level` only when they name a level (`err`, `warning`, …).
const SHIPPER_NAMES: [(&str, &str); 10] = [
    ("msg", "message"),
    ("MESSAGE", "message"),
    ("@timestamp", "timestamp"),
    ("time", "timestamp"),
    ("ISODATE", "timestamp"),
    ("timereported", "timestamp"),
    ("severity", "level"),
    ("PRIORITY", "level"),
    ("priority", "level"),
    ("PROGRAM", "service"),
];

/// What a record's shape says before any field is moved: a pino level (pino's default
/// bindings `pid` and `hostname`, or `msg` with `time`, make 10–60 pino's scale rather than
/// OpenTelemetry's 1–24), and syslog's field names. Run first by [`apply_aliases`], and by the
/// Elasticsearch mapper on a whole document before it splits it.
pub fn shipper_shapes(obj: &mut Fields) {
    let pino_shaped = (obj.contains_key("pid") && obj.contains_key("hostname"))
        || (obj.contains_key("msg") && obj.contains_key("time"));
    if let Some(n) = obj.get("level").and_then(Value::as_f64) {
        // pino's scale ends at 60 (fatal); beyond it, or a fraction, the number stays as sent
        // and is refused by the level parser with a clear error.
        let on_pino_scale =
            n.fract() == 0.0 && n <= 60.0 && (n > 24.0 || (pino_shaped && n >= 1.0));
        if on_pino_scale {
            obj.insert("level".into(), Value::String(pino_level(n).as_str().into()));
        }
    }
    for (theirs, ours) in SHIPPER_NAMES {
        let usable = match obj.get(theirs) {
            Some(Value::String(v)) => {
                !theirs.eq_ignore_ascii_case("priority") || Level::from_name(v).is_some()
            }
            // An epoch number is a time, and a number a level.
            Some(Value::Number(_)) => matches!(ours, "timestamp" | "level"),
            _ => false,
        };
        if usable && !obj.contains_key(ours) {
            let value = obj.remove(theirs).expect("checked");
            obj.insert(ours.into(), value);
        }
    }
    // The sending host, as a tag (syslog-ng's `HOST`, rsyslog's `fromhost`).
    let host = ["HOST", "fromhost"]
        .iter()
        .find_map(|k| obj.get(k).filter(|h| h.is_string()).cloned());
    if let Some(host) = host {
        match obj.get_mut("tags") {
            Some(Value::Object(tags)) => {
                tags.entry("host".to_string()).or_insert(host);
            }
            Some(_) => {}
            None => {
                obj.insert("tags".into(), serde_json::json!({ "host": host }));
            }
        }
    }
}

/// Rewrites known aliases in place, before normalisation.
pub fn apply_aliases(obj: &mut Fields) {
    // Most events use our names: one look at the keys instead of twenty lookups.
    if !obj.iter().any(|(key, value)| may_be_alias(key, value)) {
        return;
    }
    shipper_shapes(obj);

    if !obj.contains_key("message") {
        for key in ["event", "body"] {
            if obj.get(key).is_some_and(Value::is_string) {
                let v = obj.remove(key).expect("checked");
                obj.insert("message".into(), v);
                break;
            }
        }
    }

    if !obj.contains_key("timestamp") {
        for key in ["ts", "dt", "_time", "asctime", "ISODATE", "timereported"] {
            if let Some(v) = obj.remove(key) {
                let v = match v {
                    // Python's logging writes milliseconds after a comma.
                    Value::String(s) if key == "asctime" => Value::String(s.replacen(',', ".", 1)),
                    other => other,
                };
                obj.insert("timestamp".into(), v);
                break;
            }
        }
    }

    if !obj.contains_key("level") {
        let nested_log_level = obj
            .get_mut("log")
            .and_then(Value::as_object_mut)
            .and_then(|log| log.remove("level"));
        let candidate = ["log.level", "levelname"]
            .iter()
            .find_map(|k| obj.remove(k))
            .or(nested_log_level)
            .or_else(|| {
                // `status` is a level only when it names one (it is often an HTTP status).
                obj.get("status")
                    .and_then(Value::as_str)
                    .filter(|s| Level::from_name(s).is_some())
                    .map(|s| Value::String(s.to_string()))
            });
        if let Some(level) = candidate {
            obj.insert("level".into(), level);
        }
        if obj
            .get("log")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            obj.remove("log");
        }
    }
    if !obj.get("service").is_some_and(Value::is_string) {
        let nested = obj
            .get_mut("service")
            .and_then(Value::as_object_mut)
            .and_then(|s| s.remove("name"));
        if let Some(name) = obj.remove("service.name").or(nested) {
            if obj
                .get("service")
                .and_then(Value::as_object)
                .is_some_and(|s| !s.is_empty())
            {
                let rest = obj.remove("service").expect("checked");
                obj.insert_if_absent("service_details".to_string(), rest);
            }
            obj.insert("service".into(), name);
        }
    }

    // ECS errors: dotted keys, or `stack_trace` inside a nested `error`.
    let dotted: Vec<(&str, &str)> = [
        ("error.type", "type"),
        ("error.message", "message"),
        ("error.stack_trace", "stack"),
    ]
    .into_iter()
    .filter(|(k, _)| obj.contains_key(k))
    .collect();
    if !dotted.is_empty() && !obj.contains_key("error") {
        let mut error = Map::new();
        for (key, field) in dotted {
            error.insert(field.into(), obj.remove(key).expect("checked"));
        }
        obj.insert("error".into(), Value::Object(error));
    }
    if let Some(error) = obj.get_mut("error").and_then(Value::as_object_mut) {
        if !error.contains_key("stack") {
            if let Some(stack) = error.remove("stack_trace") {
                error.insert("stack".into(), stack);
            }
        }
    }
}

/// Whether a field is one that [`apply_aliases`] reads: an alias, or one of our own names in a
/// shape that is rewritten (a numeric level, a nested service or error).
fn may_be_alias(key: &str, value: &Value) -> bool {
    match key {
        "msg" | "event" | "body" | "@timestamp" | "time" | "ts" | "dt" | "_time" | "asctime"
        | "log" | "severity" | "log.level" | "levelname" | "status" | "service.name"
        | "error.type" | "error.message" | "error.stack_trace" | "MESSAGE" | "ISODATE"
        | "timereported" | "PRIORITY" | "priority" | "PROGRAM" | "HOST" | "fromhost" => true,
        "level" => value.is_number(),
        "service" | "error" => value.is_object(),
        _ => false,
    }
}

/// pino's and bunyan's numeric levels.
fn pino_level(n: f64) -> Level {
    match n {
        n if n <= 10.0 => Level::Trace,
        n if n <= 20.0 => Level::Debug,
        n if n <= 30.0 => Level::Info,
        n if n <= 40.0 => Level::Warn,
        n if n <= 50.0 => Level::Error,
        _ => Level::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use crate::ingest::pipeline::process_event;
    use crate::processors::normalize::IngestContext;
    use chrono::TimeZone;
    use serde_json::{json, Value};

    fn event(v: Value) -> crate::model::StoredEvent {
        let ctx = IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
            "production",
        );
        process_event(v, &ctx, uuid::Uuid::nil()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// One real-shaped line from each logger: (name, line, message, level, timestamp).
    #[test]
    fn a_line_from_each_logger_arrives_well_formed() {
        let cases: Vec<(&str, Value, &str, &str, &str)> = vec![
            (
                "pino",
                json!({"level": 30, "time": 1714564800123_i64, "pid": 4242, "hostname": "web-1", "msg": "request done", "reqId": "r1"}),
                "request done",
                "info",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "pino error",
                json!({"level": 50, "time": 1714564800123_i64, "pid": 1, "hostname": "h", "msg": "boom", "err": {"type": "Error", "message": "boom"}}),
                "boom",
                "error",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "pino trace (10 is not OTel's notice in a pino record)",
                json!({"level": 10, "time": 1714564800123_i64, "pid": 1, "hostname": "h", "msg": "fine"}),
                "fine",
                "trace",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "bunyan",
                json!({"name": "api", "hostname": "h", "pid": 7, "level": 40, "msg": "slow", "time": "2024-05-01T12:00:00.123Z", "v": 0}),
                "slow",
                "warn",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "winston",
                json!({"level": "error", "message": "db down", "timestamp": "2024-05-01T12:00:00.123Z", "service": "billing"}),
                "db down",
                "error",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "zap",
                json!({"level": "warn", "ts": 1714564800.123, "caller": "main.go:42", "msg": "retrying", "attempt": 3}),
                "retrying",
                "warn",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "logrus",
                json!({"level": "info", "msg": "started", "time": "2024-05-01T14:00:00+02:00"}),
                "started",
                "info",
                "2024-05-01T12:00:00.000Z",
            ),
            (
                "structlog",
                json!({"event": "user logged in", "level": "info", "timestamp": "2024-05-01T12:00:00.123456Z", "logger": "auth"}),
                "user logged in",
                "info",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "python logging (python-json-logger)",
                json!({"asctime": "2024-05-01 12:00:00,123", "levelname": "WARNING", "name": "app.db", "message": "pool low"}),
                "pool low",
                "warn",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "ECS",
                json!({"@timestamp": "2024-05-01T12:00:00.123Z", "log": {"level": "error", "logger": "x"}, "message": "payment failed", "service": {"name": "checkout"}, "error": {"type": "CardError", "message": "declined", "stack_trace": "at pay (/srv/pay.js:1:1)"}}),
                "payment failed",
                "error",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "ECS dotted",
                json!({"@timestamp": "2024-05-01T12:00:00.123Z", "log.level": "critical", "message": "disk", "service.name": "storage", "error.type": "IOError", "error.stack_trace": "at write (/srv/io.js:1:1)"}),
                "disk",
                "critical",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "severity + dt",
                json!({"msg": "x", "severity": "notice", "dt": "2024-05-01T12:00:00.123Z"}),
                "x",
                "notice",
                "2024-05-01T12:00:00.123Z",
            ),
            (
                "status as a level",
                json!({"message": "x", "status": "warn", "_time": "2024-05-01T12:00:00.123Z"}),
                "x",
                "warn",
                "2024-05-01T12:00:00.123Z",
            ),
        ];
        for (name, line, message, level, timestamp) in cases {
            let e = event(line);
            assert_eq!(
                (e.message.as_str(), e.level.as_str(), e.timestamp.as_str()),
                (message, level, timestamp),
                "{name}"
            );
        }
        let ecs = event(
            json!({"@timestamp": "2024-05-01T12:00:00.123Z", "log": {"level": "error"}, "message": "m", "service": {"name": "checkout", "version": "1"}, "error": {"type": "CardError", "stack_trace": "at pay (/srv/pay.js:1:1)"}}),
        );
        assert_eq!(ecs.service.as_deref(), Some("checkout"));
        assert_eq!(ecs.context["service_details"]["version"], "1");
        assert_eq!(
            ecs.error.as_ref().and_then(|e| e.stack.as_deref()),
            Some("at pay (/srv/pay.js:1:1)")
        );
        assert_eq!(ecs.error_kind.as_deref(), Some("exception"));
        let dotted =
            event(json!({"message": "m", "service.name": "storage", "error.type": "IOError"}));
        assert_eq!(
            (
                dotted.service.as_deref(),
                dotted.error.as_ref().and_then(|e| e.kind.as_deref())
            ),
            (Some("storage"), Some("IOError"))
        );
    }

    #[test]
    fn our_names_win_and_http_statuses_are_not_levels() {
        let e = event(
            json!({"message": "ours", "msg": "theirs", "level": "error", "severity": "info", "timestamp": "2024-05-01T12:00:00Z", "time": 1}),
        );
        assert_eq!(
            (e.message.as_str(), e.level.as_str(), e.timestamp.as_str()),
            ("ours", "error", "2024-05-01T12:00:00.000Z")
        );
        assert_eq!(
            e.context["msg"], "theirs",
            "an alias that is not used stays in context"
        );
        let http = event(json!({"message": "GET /x", "status": 404}));
        assert_eq!(http.level, "info");
        assert_eq!(http.context["status"], 404);
        let otel = event(json!({"message": "x", "level": 17}));
        assert_eq!(
            otel.level, "error",
            "24 and below stay OpenTelemetry numbers outside pino records"
        );
        let pino_high = event(json!({"message": "x", "level": 60}));
        assert_eq!(pino_high.level, "fatal");
    }
}
