//! Sentry's envelope format (`POST /api/{project}/envelope/`), so any official Sentry SDK works
//! by pointing its DSN (or `tunnel`) at a logger domain. Only `event` items are stored (errors
//! and messages); sessions, transactions, attachments and client reports are acknowledged and
//! dropped.
//!
//! An envelope is newline-delimited: an envelope header, then for each item an item header and
//! a payload (of `length` bytes when the header says so, else up to the next newline).
//!
//! An event maps onto ours: `event_id` (dedupe on resend), `timestamp`, `level`, `release`,
//! `environment`, `server_name` → service, `logentry`/`message` → message (else the exception's
//! `type: value`), the last of `exception.values` → `error` with its frames rendered as a stack
//! (innermost first; frames Sentry marks `in_app: false` keep a `node_modules/` path so that
//! fingerprinting skips them as ours does), `fingerprint` (without `{{ default }}`), `tags`
//! (object or pairs), `user.id` → user_id, `request.url` → endpoint, `transaction`,
//! `breadcrumbs` (the last 20), `extra`, `contexts` → context.

use serde_json::{json, Map, Value};

use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, MAX_EVENTS};

/// The public key of the DSN in an envelope's header: how a Sentry `tunnel` authenticates
/// (the browser posts the envelope with no auth header; the DSN travels inside).
pub fn envelope_dsn_key(body: &[u8]) -> Option<String> {
    let mut rest = body;
    let header: Value = serde_json::from_slice(next_line(&mut rest)?).ok()?;
    let dsn = header.get("dsn")?.as_str()?;
    let (_, after_scheme) = dsn.split_once("://")?;
    let (user, _) = after_scheme.split_once('@')?;
    let key = user.split(':').next()?;
    (!key.is_empty()).then(|| key.to_string())
}

/// The event items of an envelope, each mapped onto our event model.
pub fn envelope_to_items(body: &[u8]) -> Result<Vec<RawItem>, AppError> {
    let mut budget = super::budget::MappedBudget::for_body(body.len());
    let mut rest = body;
    let header_line = next_line(&mut rest)
        .ok_or_else(|| AppError::InvalidJson("The envelope is empty.".into()))?;
    let envelope_header: Value = serde_json::from_slice(header_line)
        .map_err(|e| AppError::InvalidJson(format!("The envelope header is not JSON: {e}.")))?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let Some(header_line) = next_line(&mut rest) else {
            break;
        };
        if header_line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let header: Value = serde_json::from_slice(header_line)
            .map_err(|e| AppError::InvalidJson(format!("An item header is not JSON: {e}.")))?;
        let payload = match header.get("length").and_then(Value::as_u64) {
            Some(len) => {
                let len = len as usize;
                if len > rest.len() {
                    return Err(AppError::InvalidJson(
                        "An item is shorter than its declared length.".into(),
                    ));
                }
                let (payload, after) = rest.split_at(len);
                rest = after.strip_prefix(b"\n").unwrap_or(after);
                payload
            }
            None => next_line(&mut rest).unwrap_or_default(),
        };
        if header.get("type").and_then(Value::as_str) != Some("event") {
            continue;
        }
        if items.len() >= MAX_EVENTS {
            return Err(AppError::PayloadTooLarge(format!(
                "The envelope holds more than {MAX_EVENTS} events."
            )));
        }
        let index = items.len();
        let item = match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Object(event)) => {
                RawItem::Event(Value::Object(map_event(event, &envelope_header)))
            }
            Ok(_) => RawItem::Rejected(ItemError::new(
                index,
                RejectReason::InvalidEvent,
                "an event item must be a JSON object",
            )),
            Err(e) => RawItem::Rejected(ItemError::new(
                index,
                RejectReason::InvalidJson,
                format!("event item: {e}"),
            )),
        };
        items.push(budget.admit(index, item)?);
    }
    Ok(items)
}

fn next_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    if rest.is_empty() {
        return None;
    }
    match rest.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let line = &rest[..i];
            *rest = &rest[i + 1..];
            Some(line)
        }
        None => {
            let line = *rest;
            *rest = &[];
            Some(line)
        }
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o
            .get("formatted")
            .or_else(|| o.get("message"))
            .and_then(as_text),
        _ => None,
    }
}

/// Sentry frames (outermost first) as a V8-style stack (innermost first).
fn render_stack(kind: &str, value: &str, frames: &[Value]) -> String {
    let mut lines = vec![format!("{kind}: {value}")];
    for frame in frames.iter().rev() {
        let function = frame
            .get("function")
            .and_then(Value::as_str)
            .unwrap_or("<anonymous>");
        // A browser frame's URL stays a URL: source maps find the file by it.
        let url = frame
            .get("abs_path")
            .or_else(|| frame.get("filename"))
            .and_then(Value::as_str)
            .filter(|f| f.contains("://"));
        let file = url
            .or_else(|| {
                frame
                    .get("module")
                    .or_else(|| frame.get("filename"))
                    .or_else(|| frame.get("abs_path"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("<unknown>");
        let file = if url.is_some() {
            file.to_string()
        } else if frame.get("in_app") == Some(&Value::Bool(false)) && !file.contains("node_modules")
        {
            format!("node_modules/{file}")
        } else {
            file.to_string()
        };
        let line = frame.get("lineno").and_then(Value::as_u64).unwrap_or(0);
        let col = frame.get("colno").and_then(Value::as_u64).unwrap_or(0);
        lines.push(format!("    at {function} ({file}:{line}:{col})"));
    }
    lines.join("\n")
}

fn map_event(mut s: Map<String, Value>, envelope_header: &Value) -> Map<String, Value> {
    let mut e = Map::new();
    let exception = s
        .remove("exception")
        .and_then(|x| match x {
            Value::Object(mut o) => o.remove("values"),
            Value::Array(a) => Some(Value::Array(a)),
            _ => None,
        })
        .and_then(|v| v.as_array().and_then(|a| a.last().cloned()));
    if let Some(exc) = &exception {
        let kind = exc.get("type").and_then(Value::as_str).unwrap_or("Error");
        let value = exc.get("value").and_then(Value::as_str).unwrap_or("");
        let frames = exc
            .get("stacktrace")
            .and_then(|st| st.get("frames"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let stack = (!frames.is_empty()).then(|| render_stack(kind, value, &frames));
        // `debug_meta.images` of type sourcemap: each minified file's debug id.
        let debug_ids: Map<String, Value> = s
            .get("debug_meta")
            .and_then(|d| d.get("images"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| i.get("type").and_then(Value::as_str) == Some("sourcemap"))
            .filter_map(|i| {
                let file = i.get("code_file")?.as_str()?;
                let id = i.get("debug_id")?.as_str()?;
                crate::processors::normalize::valid_debug_id(id)
                    .then(|| (file.to_string(), Value::String(id.to_string())))
            })
            .take(100)
            .collect();
        e.insert(
            "error".into(),
            json!({"type": kind, "message": value, "stack": stack, "debug_ids": debug_ids}),
        );
    }
    let message = s
        .remove("logentry")
        .as_ref()
        .and_then(as_text)
        .or_else(|| s.remove("message").as_ref().and_then(as_text))
        .or_else(|| {
            exception.as_ref().map(|x| {
                format!(
                    "{}: {}",
                    x.get("type").and_then(Value::as_str).unwrap_or("Error"),
                    x.get("value").and_then(Value::as_str).unwrap_or("")
                )
            })
        });
    if let Some(m) = message {
        e.insert("message".into(), json!(m));
    }
    let event_id = s
        .remove("event_id")
        .or_else(|| envelope_header.get("event_id").cloned());
    if let Some(id) = event_id {
        e.insert("event_id".into(), id);
    }
    for (theirs, ours) in [
        ("timestamp", "timestamp"),
        ("level", "level"),
        ("release", "release"),
        ("environment", "environment"),
        ("server_name", "service"),
    ] {
        if let Some(v) = s.remove(theirs).filter(|v| !v.is_null()) {
            e.insert(ours.into(), v);
        }
    }
    if let Some(Value::Array(parts)) = s.remove("fingerprint") {
        let parts: Vec<Value> = parts
            .into_iter()
            .filter(|p| p.as_str() != Some("{{ default }}") && p.as_str() != Some("{{default}}"))
            .collect();
        if !parts.is_empty() {
            e.insert("fingerprint".into(), Value::Array(parts));
        }
    }
    match s.remove("tags") {
        Some(Value::Object(tags)) => {
            e.insert("tags".into(), Value::Object(tags));
        }
        Some(Value::Array(pairs)) => {
            let tags: Map<String, Value> = pairs
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.clone())))
                .collect();
            e.insert("tags".into(), Value::Object(tags));
        }
        _ => {}
    }
    let mut context = Map::new();
    if let Some(Value::Object(user)) = s.remove("user") {
        if let Some(id) = user.get("id").cloned().filter(|v| !v.is_null()) {
            e.insert("user_id".into(), id);
        }
        context.insert("user".into(), Value::Object(user));
    }
    if let Some(Value::Object(request)) = s.remove("request") {
        if let Some(url) = request.get("url").cloned() {
            e.insert("endpoint".into(), url);
        }
        if let Some(ua) = request
            .get("headers")
            .and_then(|h| h.get("User-Agent").or_else(|| h.get("user-agent")))
            .cloned()
        {
            context.insert("user_agent".into(), ua);
        }
        context.insert("request".into(), Value::Object(request));
    }
    if let Some(transaction) = s.remove("transaction") {
        e.entry("endpoint".to_string())
            .or_insert_with(|| transaction.clone());
        context.insert("transaction".into(), transaction);
    }
    if let Some(breadcrumbs) = s.remove("breadcrumbs") {
        let list = match breadcrumbs {
            Value::Object(mut o) => o.remove("values").unwrap_or(Value::Null),
            other => other,
        };
        if let Value::Array(mut list) = list {
            let keep = list.len().saturating_sub(20);
            context.insert("breadcrumbs".into(), Value::Array(list.split_off(keep)));
        }
    }
    if let Some(logger) = s.remove("logger") {
        context.insert("logger".into(), logger);
    }
    for key in ["extra", "contexts", "platform", "sdk", "modules"] {
        if let Some(v) = s.remove(key).filter(|v| !v.is_null()) {
            if key == "modules" {
                continue; // the installed packages: large and not about this event
            }
            context.insert(key.into(), v);
        }
    }
    if !context.is_empty() {
        e.insert("context".into(), Value::Object(context));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event: Value) -> Vec<u8> {
        let payload = event.to_string();
        format!(
            "{}\n{}\n{}\n{}\n{}\n",
            json!({"event_id": "9ec79c33ec9942ab8353589fcb2e04dc", "sent_at": "2024-05-01T12:00:01Z"}),
            json!({"type": "event", "length": payload.len()}),
            payload,
            json!({"type": "session"}),
            json!({"sid": "x", "status": "ok"})
        )
        .into_bytes()
    }

    fn node_error() -> Value {
        json!({
            "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
            "timestamp": 1714564800.123,
            "platform": "node",
            "level": "error",
            "release": "shop@1.2.3",
            "environment": "production",
            "server_name": "web-1",
            "exception": {"values": [{"type": "TypeError", "value": "Cannot read properties of undefined (reading 'id')",
                "stacktrace": {"frames": [
                    {"filename": "node:internal/process/task_queues", "function": "process.processTicksAndRejections", "lineno": 95, "colno": 5, "in_app": false},
                    {"filename": "/srv/app/routes/users.js", "module": "routes:users", "function": "getUser", "lineno": 42, "colno": 13, "in_app": true},
                    {"filename": "/srv/app/lib/users.js", "function": "UserService.find", "lineno": 10, "colno": 3, "in_app": true}
                ]}}]},
            "tags": {"region": "eu"},
            "user": {"id": "u-7", "email": "jane@example.com"},
            "request": {"url": "https://shop.example.com/api/users/42", "method": "GET", "headers": {"User-Agent": "curl/8"}},
            "breadcrumbs": {"values": [{"message": "GET /api/users/42", "category": "http"}]},
            "fingerprint": ["{{ default }}", "users"],
            "extra": {"attempt": 2}
        })
    }

    #[test]
    fn an_error_event_maps_onto_ours() {
        let items = envelope_to_items(&envelope(node_error())).unwrap();
        assert_eq!(items.len(), 1, "sessions are acknowledged, not stored");
        let RawItem::Event(e) = &items[0] else {
            panic!()
        };
        assert_eq!(e["event_id"], "9ec79c33ec9942ab8353589fcb2e04dc");
        assert_eq!(
            e["message"],
            "TypeError: Cannot read properties of undefined (reading 'id')"
        );
        assert_eq!(e["service"], "web-1");
        assert_eq!(e["user_id"], "u-7");
        assert_eq!(e["endpoint"], "https://shop.example.com/api/users/42");
        assert_eq!(e["fingerprint"], json!(["users"]));
        let stack = e["error"]["stack"].as_str().unwrap();
        assert!(stack.starts_with("TypeError: Cannot read"), "{stack}");
        let lines: Vec<&str> = stack.lines().collect();
        assert_eq!(
            lines[1], "    at UserService.find (/srv/app/lib/users.js:10:3)",
            "innermost first"
        );
        assert!(lines[3].contains("node_modules/node:internal"), "{stack}");
    }

    #[test]
    fn through_the_pipeline_frames_drive_the_fingerprint() {
        use chrono::TimeZone;
        let ctx = crate::processors::normalize::IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
            "production",
        );
        let mut without_client_fingerprint = node_error();
        without_client_fingerprint
            .as_object_mut()
            .unwrap()
            .remove("fingerprint");
        let out = crate::ingest::pipeline::process_items(
            envelope_to_items(&envelope(without_client_fingerprint)).unwrap(),
            &ctx,
            uuid::Uuid::new_v4,
        )
        .unwrap();
        let e = &out.accepted[0].1;
        assert_eq!(e.error_kind.as_deref(), Some("exception"));
        assert_eq!(
            e.fingerprint_reason,
            "exception TypeError + 2 in-app frames"
        );
        assert_eq!(e.component.as_deref(), Some("UserService"));
        assert_eq!(e.route.as_deref(), Some("/api/users/:id"));
        assert_eq!(e.timestamp, "2024-05-01T12:00:00.123Z");
        assert_eq!(
            e.context["user"]["email"], "[email]",
            "scrubbed like everything else"
        );
    }

    #[test]
    fn tunnel_dsn_keys() {
        assert_eq!(
            envelope_dsn_key(b"{\"dsn\":\"https://elk_abc@logger.example.com/1\"}\n{}").as_deref(),
            Some("elk_abc")
        );
        assert_eq!(
            envelope_dsn_key(b"{\"dsn\":\"https://elk_abc:secret@h/1\"}").as_deref(),
            Some("elk_abc")
        );
        assert_eq!(envelope_dsn_key(b"{\"event_id\":\"x\"}\n"), None);
        assert_eq!(envelope_dsn_key(b"{\"dsn\":\"not a url\"}"), None);
        assert_eq!(envelope_dsn_key(b""), None);
    }

    #[test]
    fn messages_and_malformed_envelopes() {
        let message = envelope(json!({"message": {"formatted": "cache warmed"}, "level": "info"}));
        let RawItem::Event(e) = &envelope_to_items(&message).unwrap()[0] else {
            panic!()
        };
        assert_eq!(e["message"], "cache warmed");
        let logentry = envelope(
            json!({"logentry": {"message": "user %s in", "params": ["x"]}, "level": "warning"}),
        );
        let RawItem::Event(e) = &envelope_to_items(&logentry).unwrap()[0] else {
            panic!()
        };
        assert_eq!(e["message"], "user %s in");
        // Without `length`, the payload runs to the end of its line.
        let no_length = b"{}\n{\"type\":\"event\"}\n{\"message\":\"no length\"}\n";
        assert!(
            matches!(&envelope_to_items(no_length).unwrap()[0], RawItem::Event(e) if e["message"] == "no length")
        );
        assert!(envelope_to_items(b"").is_err());
        assert!(envelope_to_items(b"not json\n").is_err());
        assert!(envelope_to_items(b"{}\n{\"type\":\"event\",\"length\":999}\n{}").is_err());
        assert!(
            envelope_to_items(b"{}\n{\"type\":\"session\"}\n{}\n")
                .unwrap()
                .is_empty(),
            "nothing to store is not an error"
        );
    }
}
