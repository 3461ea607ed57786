//! Categorisation: `source_type`, `error_kind`, `component` and `route` for every event,
//! inferred where the sender did not say.
//!
//! `source_type` rules, first match wins (a sent value always wins):
//! 1. `ui`: a browser user agent in `context`/`tags`, browser-only error types or APIs
//!    (`window`, `document`, DOM, `ChunkLoadError`), or a stack whose frames are page URLs.
//! 2. `backend`: server stack formats (Python, JVM, .NET, Go, Rust, Node internals), SQL and
//!    network errors, or an `/api/` endpoint.
//! 3. `logic`: validation, assertion or domain/business-rule errors.
//! 4. otherwise `backend`: an event sent without any browser sign came from a server.

use serde_json::Value;

use super::route::route_template;
use super::stack::Frame;
use crate::model::StoredEvent;

pub fn categorize(event: &mut StoredEvent, frames: &[Frame]) {
    if event.source_type.is_empty() {
        event.source_type = infer_source_type(event).to_string();
    }
    event.error_kind = error_kind(event, frames);
    if event.component.is_none() {
        event.component = derive_component(event, frames);
    }
    event.route = event
        .endpoint
        .as_deref()
        .map(route_template)
        .filter(|r| !r.is_empty());
}

fn error_kind(event: &StoredEvent, frames: &[Frame]) -> Option<String> {
    let has_exception = event
        .error
        .as_ref()
        .is_some_and(|e| e.kind.is_some() || e.stack.is_some())
        || !frames.is_empty();
    if has_exception {
        Some("exception".into())
    } else if event.severity_number >= 17 {
        Some("error".into())
    } else {
        None
    }
}

fn text_of(event: &StoredEvent) -> String {
    let mut text = event.message.clone();
    if let Some(e) = &event.error {
        for part in [&e.kind, &e.message].into_iter().flatten() {
            text.push(' ');
            text.push_str(part);
        }
    }
    text
}

fn user_agent(event: &StoredEvent) -> Option<&str> {
    ["user_agent", "userAgent", "user-agent", "ua", "browser"]
        .iter()
        .find_map(|k| event.context.get(*k).or_else(|| event.tags.get(*k)))
        .and_then(Value::as_str)
}

fn infer_source_type(event: &StoredEvent) -> &'static str {
    let text = text_of(event);
    let lower = text.to_lowercase();
    let stack = event
        .error
        .as_ref()
        .and_then(|e| e.stack.as_deref())
        .unwrap_or("");

    let browser_ua = user_agent(event).is_some_and(|ua| {
        ua.contains("Mozilla/") || ua.contains("Safari") || ua.contains("Chrome")
    });
    const UI_WORDS: &[&str] = &[
        "window.",
        "document.",
        "dom ",
        "domexception",
        "chunkloaderror",
        "loading chunk",
        "resizeobserver",
        "hydration",
        "localstorage",
        "navigator.",
        "script error",
        "react",
        "render",
    ];
    let page_frames =
        stack.contains("http://") || stack.contains("https://") || stack.contains("webpack");
    if browser_ua || page_frames || UI_WORDS.iter().any(|w| lower.contains(w)) {
        return "ui";
    }

    const SERVER_STACK: &[&str] = &[
        "File \"",
        ".java:",
        ".cs:line",
        ".go:",
        ".rs:",
        "node:internal",
        "goroutine ",
    ];
    const BACKEND_WORDS: &[&str] = &[
        "sql",
        "database",
        "db ",
        "econnrefused",
        "econnreset",
        "etimedout",
        "connection refused",
        "connection reset",
        "timeout",
        "deadlock",
        "socket",
        "upstream",
        "http 5",
        "status 5",
        "redis",
        "postgres",
        "mysql",
        "queue",
        "d1_error",
    ];
    let api_endpoint = event
        .endpoint
        .as_deref()
        .is_some_and(|e| e.contains("/api/") || e.starts_with("api/"));
    if SERVER_STACK.iter().any(|s| stack.contains(s))
        || BACKEND_WORDS.iter().any(|w| lower.contains(w))
        || api_endpoint
    {
        return "backend";
    }

    const LOGIC_WORDS: &[&str] = &[
        "validation",
        "invalid",
        "assert",
        "not allowed",
        "rule",
        "constraint",
        "precondition",
        "illegalargument",
        "illegalstate",
        "domain",
    ];
    if LOGIC_WORDS.iter().any(|w| lower.contains(w)) {
        return "logic";
    }
    "backend"
}

/// The top in-app frame's class or module, else a `logger` name from the context.
fn derive_component(event: &StoredEvent, frames: &[Frame]) -> Option<String> {
    let top = frames.iter().find(|f| f.in_app).or(frames.first());
    if let Some(frame) = top {
        // `UserCard.render` → `UserCard`; `com.acme.auth.AuthValidator` → `AuthValidator`.
        if let Some(function) = &frame.function {
            if let Some((class, _)) = function.rsplit_once('.') {
                if class.chars().next().is_some_and(char::is_uppercase) {
                    return Some(class.rsplit('.').next().unwrap_or(class).to_string());
                }
            }
        }
        if let Some(module) = &frame.module {
            let last = module
                .rsplit(['.', '/', ':'])
                .find(|part| {
                    !part.is_empty() && !matches!(*part, "js" | "ts" | "jsx" | "tsx" | "mjs" | "py")
                })
                .unwrap_or(module);
            let last = last.trim_start_matches("(*").trim_end_matches(')');
            if !last.is_empty() {
                return Some(last.to_string());
            }
        }
    }
    ["logger", "logger_name", "loggerName", "module"]
        .iter()
        .find_map(|k| event.context.get(*k))
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorInfo;
    use crate::processors::stack::parse_stack;
    use serde_json::json;

    fn event(message: &str) -> StoredEvent {
        StoredEvent {
            message: message.into(),
            level: "info".into(),
            severity_number: 9,
            ..Default::default()
        }
    }

    fn run(mut e: StoredEvent) -> StoredEvent {
        let frames = e
            .error
            .as_ref()
            .and_then(|x| x.stack.as_deref())
            .map(parse_stack)
            .unwrap_or_default();
        categorize(&mut e, &frames);
        e
    }

    #[test]
    fn source_type_rules() {
        let mut ui_ua = event("clicked");
        ui_ua.context.insert(
            "user_agent".into(),
            json!("Mozilla/5.0 (X11; Linux x86_64)"),
        );
        let mut ui_stack = event("TypeError: x is undefined");
        ui_stack.error = Some(ErrorInfo {
            kind: Some("TypeError".into()),
            message: None,
            stack: Some("at render (https://app.example.com/app.js:1:1)".into()),
        });
        let mut sent = event("window.foo failed");
        sent.source_type = "logic".into();
        let mut api = event("request done");
        api.endpoint = Some("/api/users/1".into());
        let mut service = event("started");
        service.service = Some("billing".into());
        let cases = vec![
            (ui_ua, "ui"),
            (ui_stack, "ui"),
            (event("Cannot read document.cookie"), "ui"),
            (event("ChunkLoadError: Loading chunk 7 failed"), "ui"),
            (sent, "logic"),
            (event("SQL error: relation users does not exist"), "backend"),
            (event("connect ECONNREFUSED 10.0.0.1:5432"), "backend"),
            (api, "backend"),
            (event("Validation failed: email is invalid"), "logic"),
            (event("assertion failed: balance >= 0"), "logic"),
            (service, "backend"),
            (event("hello"), "backend"),
        ];
        for (e, expected) in cases {
            let msg = e.message.clone();
            assert_eq!(run(e).source_type, expected, "{msg}");
        }
    }

    #[test]
    fn error_kinds() {
        let mut exc = event("boom");
        exc.error = Some(ErrorInfo {
            kind: Some("Error".into()),
            ..Default::default()
        });
        let mut err = event("boom");
        err.severity_number = 17;
        let mut msg_only = event("boom");
        msg_only.severity_number = 17;
        msg_only.error = Some(ErrorInfo {
            message: Some("boom".into()),
            ..Default::default()
        });
        assert_eq!(run(exc).error_kind.as_deref(), Some("exception"));
        assert_eq!(run(err).error_kind.as_deref(), Some("error"));
        assert_eq!(run(msg_only).error_kind.as_deref(), Some("error"));
        assert_eq!(run(event("fine")).error_kind, None);
    }

    #[test]
    fn component_from_frames_or_logger() {
        let mut java = event("bad");
        java.error = Some(ErrorInfo {
            kind: Some("X".into()),
            message: None,
            stack: Some("\tat com.acme.auth.AuthValidator.validate(AuthValidator.java:42)".into()),
        });
        assert_eq!(run(java).component.as_deref(), Some("AuthValidator"));
        let mut js = event("bad");
        js.error = Some(ErrorInfo {
            kind: Some("X".into()),
            message: None,
            stack: Some("    at UserCard.render (https://x.com/app.js:1:1)".into()),
        });
        assert_eq!(run(js).component.as_deref(), Some("UserCard"));
        let mut py = event("bad");
        py.error = Some(ErrorInfo {
            kind: Some("X".into()),
            message: None,
            stack: Some("  File \"/app/billing/charges.py\", line 3, in charge".into()),
        });
        assert_eq!(run(py).component.as_deref(), Some("charges"));
        let mut logger = event("x");
        logger
            .context
            .insert("logger".into(), json!("payments.worker"));
        assert_eq!(run(logger).component.as_deref(), Some("payments.worker"));
        let mut sent = event("x");
        sent.component = Some("Mine".into());
        assert_eq!(run(sent).component.as_deref(), Some("Mine"));
    }

    #[test]
    fn route_from_endpoint() {
        let mut e = event("x");
        e.endpoint = Some("/api/users/42".into());
        let e = run(e);
        assert_eq!(e.endpoint.as_deref(), Some("/api/users/42"));
        assert_eq!(e.route.as_deref(), Some("/api/users/:id"));
    }
}
