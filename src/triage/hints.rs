//! Root-cause hints: a data table of patterns over message and exception, each with the likely
//! cause and what to try. Data, not code, so that adding a rule is adding a row.

use regex::Regex;
use std::sync::OnceLock;

use crate::model::{Hint, StoredEvent};

/// `(rule, pattern over message + error type + error message, cause, suggestion)`
const RULES: &[(&str, &str, &str, &str)] = &[
    (
        "timeout",
        r"(?i)timed? ?out|etimedout|deadline exceeded|504 gateway",
        "A dependency answered too slowly or not at all.",
        "Check the latency of the upstream named in the event; set explicit timeouts and retry with backoff.",
    ),
    (
        "connection_refused",
        r"(?i)econnrefused|connection refused|econnreset|connection reset|no route to host",
        "A dependency is down or unreachable from this service.",
        "Check that the target host and port are up and reachable; check recent deploys of that dependency.",
    ),
    (
        "null_reference",
        r"(?i)cannot read propert(y|ies) of (undefined|null)|undefined is not (a function|an object)|is not a function|nullpointerexception|nullreferenceexception|'nonetype' object|nil pointer dereference",
        "Code used a value that was null or undefined.",
        "Guard the value named in the message; check the API response or state it came from.",
    ),
    (
        "out_of_memory",
        r"(?i)out of memory|outofmemoryerror|heap out of memory|memoryerror|oom[- ]?kill|cannot allocate memory",
        "The process ran out of memory.",
        "Look for unbounded caches or large payloads; raise the memory limit only after that.",
    ),
    (
        "auth_failure",
        r"(?i)\b(401|403)\b|unauthori[sz]ed|forbidden|invalid token|jwt expired|token expired|permission denied",
        "A credential was missing, expired or lacked permission.",
        "Check token expiry and refresh, the key's scopes, and clock skew between services.",
    ),
    (
        "database_contention",
        r"(?i)deadlock|database is locked|sqlite_busy|lock wait timeout|too many connections|could not serialize",
        "The database is contended: locks or the connection pool are exhausted.",
        "Shorten transactions, add the missing index, or size the connection pool to the database's limit.",
    ),
    (
        "rate_limited",
        r"(?i)\b429\b|too many requests|rate limit",
        "An upstream rate limit was hit.",
        "Back off using Retry-After, batch calls, or request a higher quota.",
    ),
    (
        "cors",
        r"(?i)blocked by cors|cors policy|access-control-allow-origin",
        "The browser blocked a cross-origin request.",
        "Add the page's origin to the API's allowed origins, including preflight (OPTIONS) answers.",
    ),
    (
        "stale_assets",
        r"(?i)chunkloaderror|loading chunk \S+ failed|failed to fetch dynamically imported module",
        "The page asked for a bundle chunk that a newer deploy removed.",
        "Keep old assets for a while after deploys, or reload the page when a chunk fails to load.",
    ),
    (
        "disk_full",
        r"(?i)enospc|no space left on device|disk full|quota exceeded",
        "A disk or storage quota is full.",
        "Free space or raise the quota; check log rotation and temporary files.",
    ),
];

pub fn hint_rules() -> &'static [(&'static str, Regex, &'static str, &'static str)] {
    static COMPILED: OnceLock<Vec<(&'static str, Regex, &'static str, &'static str)>> =
        OnceLock::new();
    COMPILED.get_or_init(|| {
        RULES
            .iter()
            .map(|(rule, pattern, cause, suggestion)| {
                (
                    *rule,
                    Regex::new(pattern).expect("hint pattern compiles"),
                    *cause,
                    *suggestion,
                )
            })
            .collect()
    })
}

/// Hints for warnings and worse; routine logs carry none.
pub fn matching_hints(event: &StoredEvent) -> Vec<Hint> {
    if event.severity_number < 13 {
        return Vec::new();
    }
    let mut text: String = event.message.chars().take(2048).collect();
    if let Some(e) = &event.error {
        for part in [&e.kind, &e.message].into_iter().flatten() {
            text.push('\n');
            text.extend(part.chars().take(1024));
        }
    }
    hint_rules()
        .iter()
        .filter(|(_, re, _, _)| re.is_match(&text))
        .map(|(rule, _, cause, suggestion)| Hint {
            rule: rule.to_string(),
            cause: cause.to_string(),
            suggestion: suggestion.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints_for(message: &str, sev: u8) -> Vec<String> {
        let e = StoredEvent {
            message: message.into(),
            severity_number: sev,
            ..Default::default()
        };
        matching_hints(&e).into_iter().map(|h| h.rule).collect()
    }

    #[test]
    fn rules_match_their_corpus() {
        let cases = [
            ("upstream request timed out after 30s", "timeout"),
            ("connect ECONNREFUSED 127.0.0.1:6379", "connection_refused"),
            (
                "TypeError: Cannot read properties of undefined (reading 'id')",
                "null_reference",
            ),
            ("java.lang.NullPointerException", "null_reference"),
            (
                "FATAL ERROR: JavaScript heap out of memory",
                "out_of_memory",
            ),
            ("jwt expired", "auth_failure"),
            ("request failed with status 403", "auth_failure"),
            ("SQLITE_BUSY: database is locked", "database_contention"),
            ("HTTP 429 Too Many Requests", "rate_limited"),
            (
                "blocked by CORS policy: No 'Access-Control-Allow-Origin'",
                "cors",
            ),
            ("ChunkLoadError: Loading chunk 42 failed.", "stale_assets"),
            ("ENOSPC: no space left on device", "disk_full"),
        ];
        for (message, rule) in cases {
            let got = hints_for(message, 17);
            assert!(got.contains(&rule.to_string()), "{message}: {got:?}");
        }
        assert!(hints_for("user signed in", 17).is_empty());
        assert!(
            hints_for("request timed out", 9).is_empty(),
            "info logs carry no hints"
        );
        for (rule, _, cause, suggestion) in hint_rules() {
            assert!(!rule.is_empty() && !cause.is_empty() && !suggestion.is_empty());
        }
    }
}
