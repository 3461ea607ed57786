//! Categorisation: `source_type`, `error_kind`, `component` and `route` for every event,
//! inferred where the sender did not say.
//!
//! `source_type` rules, first match wins (a sent value always wins):
//! 1. `ui`: a browser user agent in `context`/`tags`; browser-only error types or APIs
//!    (`window`, `document`, DOM, `ChunkLoadError`, hydration, `Script error.`); a stack whose
//!    frames are page URLs or bundles; a UI path (a page URL or `#/route` as endpoint, or a
//!    page URL in `context.url`/`page`/`href`).
//! 2. `backend`: server stack formats (Python, JVM, .NET, Go, Rust, Node internals), SQL,
//!    database and network failures.
//! 3. `logic`: validation, assertion, invariant and domain/business-rule failures — the nature
//!    of the failure says more than where it happened, so this wins over rule 4.
//! 4. `backend`: an `/api/` endpoint or a `service` name.
//! 5. otherwise `backend`: an event with no browser sign came from a server.

use regex::Regex;
use serde_json::Value;
use std::sync::OnceLock;

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

/// The event's own words: message, exception type and exception message.
fn texts(event: &StoredEvent) -> impl Iterator<Item = &str> {
    let error = event.error.as_ref();
    std::iter::once(event.message.as_str())
        .chain(error.and_then(|e| e.kind.as_deref()))
        .chain(error.and_then(|e| e.message.as_deref()))
}

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
    "sessionstorage",
    "navigator.",
    "script error",
    "failed to fetch dynamically",
    "react",
    "render",
    "htmlelement",
    "queryselector",
];
const BACKEND_WORDS: &[&str] = &[
    "sql",
    "database",
    "econnrefused",
    "econnreset",
    "etimedout",
    "enotfound",
    "connection refused",
    "connection reset",
    "timed out",
    "timeout",
    "deadlock",
    "socket",
    "upstream",
    "bad gateway",
    "redis",
    "postgres",
    "mysql",
    "mongo",
    "d1_error",
    "dns",
    "tls",
    "certificate",
    "out of memory",
    "no space left",
];
const LOGIC_WORDS: &[&str] = &[
    "validation",
    "invalid",
    "assert",
    "not allowed",
    "business rule",
    "constraint",
    "precondition",
    "postcondition",
    "invariant",
    "illegalargument",
    "illegalstate",
    "domain",
    "insufficient funds",
    "out of stock",
    "not permitted by policy",
];
/// Marks of server runtimes' stack formats (case-sensitive, matched against the stack).
const SERVER_STACK: &[&str] = &[
    "File \"",
    ".java:",
    ".kt:",
    ".cs:line",
    ".go:",
    ".rs:",
    "node:internal",
    "goroutine ",
    ".py\"",
    "/usr/lib/",
];
const PAGE_FRAMES: &[&str] = &["http://", "https://", "webpack", "@vite"];

struct Keywords {
    ui: Regex,
    backend: Regex,
    logic: Regex,
    server_stack: Regex,
    page_frames: Regex,
}

/// Each word list as one literal alternation: one scan per text, compiled once per isolate.
fn keywords() -> &'static Keywords {
    static K: OnceLock<Keywords> = OnceLock::new();
    let build = |words: &[&str], case_insensitive: bool| {
        let alternation = words
            .iter()
            .map(|w| regex::escape(w))
            .collect::<Vec<_>>()
            .join("|");
        let flags = if case_insensitive { "(?i)" } else { "" };
        Regex::new(&format!("{flags}{alternation}")).expect("keyword list compiles")
    };
    K.get_or_init(|| Keywords {
        ui: build(UI_WORDS, true),
        backend: build(BACKEND_WORDS, true),
        logic: build(LOGIC_WORDS, true),
        server_stack: build(SERVER_STACK, false),
        page_frames: build(PAGE_FRAMES, false),
    })
}

fn user_agent(event: &StoredEvent) -> Option<&str> {
    ["user_agent", "userAgent", "user-agent", "ua", "browser"]
        .iter()
        .find_map(|k| event.context.get(*k).or_else(|| event.tags.get(*k)))
        .and_then(Value::as_str)
}

fn infer_source_type(event: &StoredEvent) -> &'static str {
    let k = keywords();
    let stack = event
        .error
        .as_ref()
        .and_then(|e| e.stack.as_deref())
        .unwrap_or("");
    let said = |re: &Regex| texts(event).any(|t| re.is_match(t));

    let browser_ua = user_agent(event).is_some_and(|ua| {
        ["Mozilla/", "Safari/", "Chrome/", "Firefox/"]
            .iter()
            .any(|b| ua.contains(b))
    });
    if browser_ua || k.page_frames.is_match(stack) || said(&k.ui) || has_ui_path(event) {
        return "ui";
    }
    if k.server_stack.is_match(stack) || said(&k.backend) {
        return "backend";
    }
    if said(&k.logic) {
        return "logic";
    }
    // Rule 4 (an `/api/` endpoint or a `service`) and rule 5 agree: a server sent it.
    "backend"
}

/// A page URL or client-side route rather than an API path.
fn has_ui_path(event: &StoredEvent) -> bool {
    let is_page = |s: &str| {
        (s.starts_with("http://") || s.starts_with("https://")) && !s.contains("/api/")
            || s.starts_with("#/")
    };
    event.endpoint.as_deref().is_some_and(is_page)
        || ["url", "page", "href", "page_url", "pageUrl"]
            .iter()
            .filter_map(|k| event.context.get(*k).and_then(Value::as_str))
            .any(is_page)
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

            ..Default::default()
        });
        let mut sent = event("window.foo failed");
        sent.source_type = "logic".into();
        let mut api = event("request done");
        api.endpoint = Some("/api/users/1".into());
        let mut service = event("started");
        service.service = Some("billing".into());
        let mut ui_page = event("button did nothing");
        ui_page
            .context
            .insert("url".into(), json!("https://app.example.com/settings"));
        let mut ui_route = event("step failed");
        ui_route.endpoint = Some("#/checkout/2".into());
        let mut service_validation = event("Validation failed: amount must be positive");
        service_validation.service = Some("billing".into());
        let mut python = event("boom");
        python.error = Some(ErrorInfo {
            kind: Some("KeyError".into()),
            message: None,
            stack: Some("  File \"/app/x.py\", line 1, in f".into()),

            ..Default::default()
        });
        let cases = vec![
            (ui_ua, "ui"),
            (ui_page, "ui"),
            (ui_route, "ui"),
            (event("Script error."), "ui"),
            (
                event("Hydration failed because the initial UI does not match"),
                "ui",
            ),
            (python, "backend"),
            (event("getaddrinfo ENOTFOUND db.internal"), "backend"),
            (event("request timed out after 30s"), "backend"),
            (service_validation, "logic"),
            (event("invariant violated: order total < 0"), "logic"),
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
            (event("user signed in"), "backend"),
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

            ..Default::default()
        });
        assert_eq!(run(java).component.as_deref(), Some("AuthValidator"));
        let mut js = event("bad");
        js.error = Some(ErrorInfo {
            kind: Some("X".into()),
            message: None,
            stack: Some("    at UserCard.render (https://x.com/app.js:1:1)".into()),

            ..Default::default()
        });
        assert_eq!(run(js).component.as_deref(), Some("UserCard"));
        let mut py = event("bad");
        py.error = Some(ErrorInfo {
            kind: Some("X".into()),
            message: None,
            stack: Some("  File \"/app/billing/charges.py\", line 3, in charge".into()),

            ..Default::default()
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
