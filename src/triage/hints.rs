//! Root-cause hints: a data table of well-known failure causes across stacks. Each row is a
//! pattern over the event's message, exception type and exception message, the likely cause,
//! a concrete suggestion, and optionally a triage action the match raises the event to (a
//! known-outage pattern deserves a page even at `error` level). Adding a rule is adding a row.
//!
//! All patterns are matched in one pass with a `RegexSet`, compiled once per isolate.

use std::sync::OnceLock;

use super::Action;
use crate::model::{Hint, StoredEvent};
use crate::processors::normalize::utf8_prefix;

pub struct HintRule {
    pub rule: &'static str,
    pub pattern: &'static str,
    pub cause: &'static str,
    pub suggestion: &'static str,
    /// The least action a match deserves, e.g. `Alert` for a full disk.
    pub raise_to: Option<Action>,
}

const fn rule(
    rule: &'static str,
    pattern: &'static str,
    cause: &'static str,
    suggestion: &'static str,
) -> HintRule {
    HintRule {
        rule,
        pattern,
        cause,
        suggestion,
        raise_to: None,
    }
}

const fn raising(
    rule: &'static str,
    pattern: &'static str,
    cause: &'static str,
    suggestion: &'static str,
    to: Action,
) -> HintRule {
    HintRule {
        rule,
        pattern,
        cause,
        suggestion,
        raise_to: Some(to),
    }
}

pub const RULES: &[HintRule] = &[
    // Network and dependencies
    rule("connection_refused", r"(?i)econnrefused|connection refused|actively refused|no route to host|ehostunreach",
        "A dependency is down or not listening on that host and port.",
        "Check that the target service is up and its host/port are right; check its recent deploys and health checks."),
    rule("connection_reset", r"(?i)econnreset|connection reset|reset by peer|broken pipe|epipe|socket hang up|unexpected eof",
        "The other side closed the connection mid-request (crash, restart, idle timeout or proxy).",
        "Retry idempotent calls; align keep-alive/idle timeouts with the proxy or load balancer; check the peer's logs."),
    rule("timeout", r"(?i)\btimed? ?out\b|etimedout|deadline exceeded|\b504\b|gateway time-?out|esockettimedout",
        "A dependency answered too slowly or not at all.",
        "Check the latency of the upstream named in the event; set explicit timeouts and retry with backoff."),
    rule("dns_failure", r"(?i)enotfound|eai_again|getaddrinfo|name or service not known|no such host|nxdomain|could not resolve host|temporary failure in name resolution",
        "A host name did not resolve.",
        "Check the host name and the DNS configuration of the environment; watch for typos in URLs from config."),
    raising("tls_certificate", r"(?i)cert(ificate)?[_ ]has[_ ]expired|certificate expired|unable to verify (the first|leaf) certificate|self[- ]signed certificate|x509:|ssl routines|handshake failure|err_cert_|unable_to_verify_leaf_signature|sslhandshakeexception|certificate verify failed",
        "A TLS handshake failed: expired, self-signed or untrusted certificate, or a protocol mismatch.",
        "Check the certificate's expiry and chain on the target host; renew it, or fix the trust store of the client.", Action::Alert),
    rule("upstream_5xx", r"(?i)\b50[023]\b.*(bad gateway|service unavailable|error)|bad gateway|service unavailable|upstream connect error|status code 5\d\d",
        "An upstream service failed or is overloaded.",
        "Check the upstream's health and error rate; add retries with backoff and a circuit breaker."),
    rule("network_offline", r"(?i)failed to fetch|networkerror when attempting|network request failed|net::err_internet_disconnected|err_network_changed|^load failed$",
        "The browser could not reach the server: offline, blocked by an extension, or the request was aborted.",
        "Treat as noise unless it spikes; if it does, check the API's availability and CORS/CSP settings."),
    // Auth
    rule("upstream_unauthorized", r"(?i)\b401\b|unauthori[sz]ed|invalid api key|invalid credentials|authentication failed",
        "A request carried no credential, or one the server does not accept.",
        "Check that the credential is sent and current for this environment; rotate keys that leaked or changed."),
    rule("upstream_forbidden", r"(?i)\b403\b|forbidden|access denied|not authori[sz]ed to|insufficient (scope|permissions)",
        "The credential is valid but lacks permission for this action.",
        "Check the key's scopes/roles and the resource's policy; grant the least permission that works."),
    rule("token_expired", r"(?i)jwt expired|token (has )?expired|tokenexpirederror|expiredsignature|invalid_grant|refresh token",
        "An access or refresh token expired.",
        "Refresh tokens before expiry and retry once on 401; check clock skew between services."),
    rule("rate_limited", r"(?i)\b429\b|too many requests|rate ?limit|throttl|quota exceeded for",
        "An upstream rate limit was hit.",
        "Back off using Retry-After, batch calls, cache results, or request a higher quota."),
    // Resources
    raising("out_of_memory", r"(?i)out of memory|outofmemoryerror|heap out of memory|memoryerror|oom[- ]?kill|cannot allocate memory|allocation failed|memory limit exceeded",
        "The process ran out of memory.",
        "Look for unbounded caches, large payloads or leaks (heap snapshot); raise the limit only after that.", Action::Alert),
    raising("disk_full", r"(?i)enospc|no space left on device|disk (is )?full|database or disk is full",
        "A disk or storage volume is full.",
        "Free space or grow the volume; check log rotation, temp files and retention.", Action::Alert),
    rule("too_many_open_files", r"(?i)emfile|enfile|too many open files",
        "The process hit its file-descriptor limit: leaked sockets or files, or a limit set too low.",
        "Close files and responses in finally blocks; reuse HTTP connections; raise ulimit -n if usage is legitimate."),
    rule("stack_overflow", r"(?i)maximum call stack size exceeded|stackoverflowerror|recursionerror|stack overflow|goroutine stack exceeds",
        "Unbounded recursion, often a cycle in data or mutually recursive calls.",
        "Find the repeating frames in the stack; add a base case or cycle check, or iterate instead."),
    // Code defects
    rule("null_reference", r"(?i)cannot read propert(y|ies) of (undefined|null)|undefined is not (a function|an object)|null is not an object|nullpointerexception|nullreferenceexception|'nonetype' object|nil pointer dereference|cannot set propert(y|ies) of (undefined|null)",
        "Code used a value that was null or undefined.",
        "Guard the value named in the message; check the API response or state it came from."),
    rule("undefined_name", r"(?i)referenceerror: .* is not defined|nameerror: name .* is not defined|undefined method|nomethoderror|is not a function|attributeerror: .* has no attribute",
        "Code referenced a name, method or attribute that does not exist at run time.",
        "Check for typos, a missing import, or a dependency whose API changed in this release."),
    rule("index_out_of_range", r"(?i)index out of (range|bounds)|indexerror|arrayindexoutofboundsexception|indexoutofrangeexception|out of bounds|list index out of range",
        "Code read past the end of a list or array.",
        "Check the length before indexing; empty results are the usual cause."),
    rule("type_mismatch", r"(?i)is not iterable|unsupported operand type|classcastexception|invalidcastexception|cannot unmarshal|typeerror: .* must be|expected .* but (got|found)",
        "A value had a different type than the code expected.",
        "Validate inputs at the boundary; check the shape of the API response or config value involved."),
    rule("json_parse", r"(?i)unexpected token .* in json|json\.parse|jsondecodeerror|unexpected end of json input|looking for beginning of value|expected value at line|is not valid json|malformed json",
        "A response or input that should be JSON was not (often an HTML error page or an empty body).",
        "Log the raw body and status of the failing call; check the Content-Type before parsing."),
    rule("encoding_error", r"(?i)unicodedecodeerror|unicodeencodeerror|invalid utf-?8|malformed utf-?8|invalid byte sequence",
        "Text arrived in an encoding the code did not expect.",
        "Decode with the declared charset; validate or normalise text at the boundary."),
    rule("rust_unwrap", r"called `(option|result)::unwrap\(\)` on an? `(none|err)`|called `Result::unwrap\(\)`|called `Option::unwrap\(\)`",
        "Rust code unwrapped a None or an Err.",
        "Handle the None/Err case with `?` or a default; the panic message names the call site."),
    rule("concurrent_modification", r"(?i)concurrentmodificationexception|concurrent map (writes|read and map write)|collection was modified",
        "A collection was changed while being iterated, or shared without a lock.",
        "Copy before iterating, or guard shared state with a lock or a concurrent collection."),
    rule("validation_error", r"(?i)validationerror|validation failed|invalid input|\b422\b|unprocessable entity|constraint violation",
        "Input failed validation: a client bug or a contract mismatch between services.",
        "Check which field failed and who sent it; keep validation messages specific."),
    rule("payload_too_large", r"(?i)\b413\b|payload too large|request entity too large|body exceeded|maxrequestsize",
        "A request body was larger than the server accepts.",
        "Paginate or chunk uploads, compress, or raise the limit deliberately."),
    // Databases
    rule("database_deadlock", r"(?i)deadlock|database is locked|sqlite_busy|lock wait timeout|could not serialize access|serialization failure",
        "Transactions are contending for the same rows or locks.",
        "Keep transactions short, touch rows in a consistent order, and retry on serialization failures."),
    rule("unique_violation", r"(?i)duplicate key value violates unique constraint|unique constraint failed|duplicate entry .* for key|e11000 duplicate key|\b23505\b|uniqueviolation",
        "An insert collided with an existing row on a unique key: a double submit or a race.",
        "Make the write idempotent (upsert or insert-or-ignore) and handle the duplicate as success where it is one."),
    raising("missing_migration", r"(?i)relation .* does not exist|no such table|table .* doesn't exist|no such column|column .* does not exist|unknown column|undefined column",
        "The code expects a table or column the database does not have: a migration was not applied.",
        "Apply pending migrations for this environment before (or as part of) the deploy.", Action::Escalate),
    rule("connection_pool_exhausted", r"(?i)too many connections|connection pool exhausted|remaining connection slots are reserved|timeout acquiring a connection|connection is not available, request timed out|queuepool limit|pool timeout|sorry, too many clients",
        "All database connections are in use.",
        "Release connections promptly, size the pool to the database's limit divided by instances, or add a pooler."),
    rule("slow_query", r"(?i)slow query|statement timeout|canceling statement due to statement timeout|query (took|exceeded)|n\+1",
        "A query is too slow: a missing index, a full scan, or N+1 queries in a loop.",
        "Run EXPLAIN on the query, add the missing index, and batch lookups made inside loops."),
    // Runtime platforms
    rule("serverless_timeout", r"(?i)task timed out after|exceeded cpu|cpu time limit|function_invocation_timeout|script will never generate a response|execution timed out|lambda.*timeout",
        "A serverless function ran past its time or CPU limit.",
        "Move slow work to a queue or background task, stream the response, or raise the limit if it is legitimate."),
    rule("worker_exception", r"(?i)worker threw exception|durable object reset|exceeded (memory|subrequest) limit|too many subrequests",
        "A Cloudflare Worker hit a platform limit or threw before responding.",
        "Check the limit named in the message; batch subrequests and keep per-request memory small."),
    rule("file_not_found", r"(?i)enoent|no such file or directory|filenotfound(error|exception)|could not find file",
        "A file or path the code needs does not exist in this environment.",
        "Check paths relative to the working directory and that build artefacts are deployed."),
    rule("permission_denied_fs", r"(?i)eacces|eperm|operation not permitted|permission denied",
        "The process lacks permission for a file, port or operation.",
        "Check file ownership and mode, the user the service runs as, and ports below 1024."),
    // Browser
    rule("cors", r"(?i)blocked by cors|cors policy|access-control-allow-origin|cross-origin request blocked",
        "The browser blocked a cross-origin request.",
        "Add the page's origin to the API's allowed origins, and answer the preflight (OPTIONS) too."),
    rule("stale_assets", r"(?i)chunkloaderror|loading (css )?chunk \S+ failed|failed to fetch dynamically imported module|importing a module script failed",
        "The page asked for a bundle chunk that a newer deploy removed.",
        "Keep old assets for a while after deploys, or reload the page once when a chunk fails to load."),
    rule("cross_origin_script_error", r"(?i)^script error\.?$",
        "An error in a cross-origin script was hidden by the browser.",
        "Serve scripts with CORS headers and add crossorigin=\"anonymous\" to the script tag to see the real error."),
    rule("hydration_mismatch", r"(?i)hydration failed|does not match server-rendered html|hydration mismatch|minified react error #(418|423|425)",
        "Server-rendered HTML differed from the first client render.",
        "Avoid time, randomness or browser-only APIs during render; render them after mount."),
    rule("resize_observer_noise", r"(?i)resizeobserver loop (limit exceeded|completed with undelivered notifications)",
        "A benign browser warning about layout changes inside a ResizeObserver callback.",
        "Usually safe to ignore; filter it out in the SDK if it is noisy."),
];

struct Compiled {
    set: regex::bytes::RegexSet,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        // ASCII classes and case folding: the patterns are English words and codes, and the
        // Unicode forms made the lazy DFA's states several times larger (this set was the
        // pipeline's largest native cost in `perf`, 10 %). Bytes, because without Unicode a
        // `.` may match inside a multi-byte character, which only the bytes API allows.
        set: regex::bytes::RegexSetBuilder::new(RULES.iter().map(|r| r.pattern))
            .unicode(false)
            .build()
            .expect("hint patterns compile"),
    })
}

/// Hints for warnings and worse (routine logs carry none), and the highest action they raise to.
pub fn matching_hints(event: &StoredEvent) -> (Vec<Hint>, Option<Action>) {
    if event.severity_number < 13 {
        return (Vec::new(), None);
    }
    let mut texts: Vec<&str> = vec![event.message.lines().next().unwrap_or("")];
    if let Some(e) = &event.error {
        texts.extend(e.kind.as_deref());
        texts.extend(e.message.as_deref().map(|m| m.lines().next().unwrap_or("")));
    }
    let mut hints = Vec::new();
    let mut raise: Option<Action> = None;
    let mut seen = [false; RULES.len()];
    for text in texts {
        // Bound the work per event: the first line and 2 KiB say what kind of failure it is.
        let text = utf8_prefix(text, 2048);
        // Most texts match no hint; `is_match` is the cheaper question (see `scrub_string`).
        if !compiled().set.is_match(text.as_bytes()) {
            continue;
        }
        for index in compiled().set.matches(text.as_bytes()).into_iter() {
            if std::mem::replace(&mut seen[index], true) {
                continue;
            }
            let r = &RULES[index];
            hints.push(Hint {
                rule: r.rule.into(),
                cause: r.cause.into(),
                suggestion: r.suggestion.into(),
            });
            raise = raise.max(r.raise_to);
        }
    }
    (hints, raise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorInfo;
    use regex::Regex;

    /// Each pattern on its own, to check positives and negatives rule by rule.
    fn rule_regex(rule: &HintRule) -> Regex {
        Regex::new(rule.pattern).expect("hint pattern compiles")
    }

    fn hints_for(message: &str) -> Vec<String> {
        let e = StoredEvent {
            message: message.into(),
            severity_number: 17,
            ..Default::default()
        };
        matching_hints(&e)
            .0
            .into_iter()
            .map(|h| h.rule.into_owned())
            .collect()
    }

    /// (rule, messages that must match it, messages that must not)
    const CORPUS: &[(&str, &[&str], &[&str])] = &[
        ("connection_refused", &["connect ECONNREFUSED 127.0.0.1:6379", "dial tcp 10.0.0.5:5432: connect: connection refused"], &["user refused the cookie banner"]),
        ("connection_reset", &["read ECONNRESET", "Connection reset by peer", "socket hang up"], &["password reset email sent"]),
        ("timeout", &["upstream request timed out after 30s", "context deadline exceeded", "504 Gateway Timeout"], &["timeouts configured"]),
        ("dns_failure", &["getaddrinfo ENOTFOUND api.example.com", "dial tcp: lookup db: no such host"], &["host found"]),
        ("tls_certificate", &["certificate has expired", "x509: certificate signed by unknown authority", "SSLHandshakeException: PKIX path building failed"], &["certificate renewed"]),
        ("upstream_5xx", &["502 Bad Gateway", "upstream connect error or disconnect/reset before headers", "Request failed with status code 503"], &["status code 200"]),
        ("network_offline", &["TypeError: Failed to fetch", "NetworkError when attempting to fetch resource."], &["fetched 10 rows"]),
        ("upstream_unauthorized", &["Request failed with status code 401", "Unauthorized"], &["authorized user"]),
        ("upstream_forbidden", &["403 Forbidden", "AccessDenied: Access Denied"], &["access granted"]),
        ("token_expired", &["TokenExpiredError: jwt expired", "invalid_grant: refresh token expired"], &["token issued"]),
        ("rate_limited", &["HTTP 429 Too Many Requests", "Rate limit exceeded", "ThrottlingException"], &["rated 5 stars"]),
        ("out_of_memory", &["FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory", "java.lang.OutOfMemoryError: Java heap space", "MemoryError"], &["memory usage 40%"]),
        ("disk_full", &["ENOSPC: no space left on device, write", "database or disk is full"], &["disk usage normal"]),
        ("too_many_open_files", &["EMFILE: too many open files", "accept: too many open files"], &["opened file"]),
        ("stack_overflow", &["RangeError: Maximum call stack size exceeded", "RecursionError: maximum recursion depth exceeded", "java.lang.StackOverflowError"], &["stack trace attached"]),
        ("null_reference", &["TypeError: Cannot read properties of undefined (reading 'id')", "java.lang.NullPointerException", "AttributeError: 'NoneType' object has no attribute 'x'", "panic: runtime error: invalid memory address or nil pointer dereference"], &["value is defined"]),
        ("undefined_name", &["ReferenceError: foo is not defined", "NameError: name 'bar' is not defined", "NoMethodError: undefined method `x' for nil"], &["defined"]),
        ("index_out_of_range", &["IndexError: list index out of range", "panic: runtime error: index out of range [3] with length 2", "java.lang.ArrayIndexOutOfBoundsException: 5"], &["index rebuilt"]),
        ("type_mismatch", &["TypeError: x is not iterable", "TypeError: unsupported operand type(s) for +: 'int' and 'str'", "json: cannot unmarshal string into Go value of type int"], &["types checked"]),
        ("json_parse", &["SyntaxError: Unexpected token < in JSON at position 0", "json.decoder.JSONDecodeError: Expecting value", "Unexpected end of JSON input"], &["parsed json ok"]),
        ("encoding_error", &["UnicodeDecodeError: 'utf-8' codec can't decode byte", "invalid UTF-8 in request body"], &["encoded"]),
        ("rust_unwrap", &["called `Option::unwrap()` on a `None` value", "called `Result::unwrap()` on an `Err` value: ParseIntError"], &["unwrapped present"]),
        ("concurrent_modification", &["java.util.ConcurrentModificationException", "fatal error: concurrent map writes"], &["concurrent users: 5"]),
        ("validation_error", &["ValidationError: email is invalid", "422 Unprocessable Entity"], &["validated"]),
        ("payload_too_large", &["413 Payload Too Large", "PayloadTooLargeError: request entity too large"], &["payload sent"]),
        ("database_deadlock", &["ERROR: deadlock detected", "SQLITE_BUSY: database is locked", "Lock wait timeout exceeded; try restarting transaction"], &["database ready"]),
        ("unique_violation", &["duplicate key value violates unique constraint \"users_email_key\"", "UNIQUE constraint failed: users.email", "E11000 duplicate key error collection"], &["unique visitors 5"]),
        ("missing_migration", &["relation \"orders\" does not exist", "no such table: events", "Unknown column 'x' in 'field list'"], &["table created"]),
        ("connection_pool_exhausted", &["FATAL: sorry, too many clients already", "HikariPool-1 - Connection is not available, request timed out after 30000ms.", "QueuePool limit of size 5 overflow 10 reached"], &["pool created"]),
        ("slow_query", &["canceling statement due to statement timeout", "slow query: 2.3s SELECT"], &["query ok"]),
        ("serverless_timeout", &["Task timed out after 30.03 seconds", "Worker exceeded CPU time limit.", "FUNCTION_INVOCATION_TIMEOUT"], &["function invoked"]),
        ("worker_exception", &["Worker threw exception", "Too many subrequests."], &["worker started"]),
        ("file_not_found", &["ENOENT: no such file or directory, open '/app/x.json'", "FileNotFoundError: [Errno 2]"], &["file saved"]),
        ("permission_denied_fs", &["EACCES: permission denied, open '/var/log/app.log'", "Operation not permitted"], &["permission granted"]),
        ("cors", &["Access to fetch at 'https://api.x.com' from origin 'https://x.com' has been blocked by CORS policy"], &["course created"]),
        ("stale_assets", &["ChunkLoadError: Loading chunk 42 failed.", "TypeError: Failed to fetch dynamically imported module: https://x.com/assets/a.js"], &["chunk uploaded"]),
        ("cross_origin_script_error", &["Script error.", "Script error"], &["Script errors in module x"]),
        ("hydration_mismatch", &["Error: Hydration failed because the initial UI does not match what was rendered on the server.", "Minified React error #418"], &["hydrated"]),
        ("resize_observer_noise", &["ResizeObserver loop limit exceeded", "ResizeObserver loop completed with undelivered notifications."], &["resize done"]),
    ];

    #[test]
    fn at_least_thirty_rules_each_complete_and_unique() {
        assert!(RULES.len() >= 30, "{}", RULES.len());
        let mut names: Vec<&str> = RULES.iter().map(|r| r.rule).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), RULES.len(), "rule names are unique");
        for r in RULES {
            assert!(
                !r.cause.is_empty() && !r.suggestion.is_empty(),
                "{}",
                r.rule
            );
            rule_regex(r);
        }
    }

    #[test]
    fn every_rule_has_positive_and_negative_cases() {
        for r in RULES {
            assert!(
                CORPUS.iter().any(|(name, _, _)| *name == r.rule),
                "rule {} has no corpus",
                r.rule
            );
        }
        for (rule, positives, negatives) in CORPUS {
            let regex = rule_regex(
                RULES
                    .iter()
                    .find(|r| r.rule == *rule)
                    .unwrap_or_else(|| panic!("unknown rule {rule}")),
            );
            for text in *positives {
                assert!(
                    hints_for(text).contains(&rule.to_string()),
                    "{rule} should match {text:?}: {:?}",
                    hints_for(text)
                );
            }
            for text in *negatives {
                assert!(!regex.is_match(text), "{rule} should not match {text:?}");
            }
        }
    }

    #[test]
    fn routine_logs_carry_no_hints_and_exception_fields_count() {
        let info = StoredEvent {
            message: "request timed out".into(),
            severity_number: 9,
            ..Default::default()
        };
        assert!(matching_hints(&info).0.is_empty());
        let exc = StoredEvent {
            message: "checkout failed".into(),
            severity_number: 17,
            error: Some(ErrorInfo {
                kind: Some("OutOfMemoryError".into()),
                message: Some("Java heap space".into()),
                stack: None,
                ..Default::default()
            }),
            ..Default::default()
        };
        let (hints, raise) = matching_hints(&exc);
        assert_eq!(
            hints.iter().map(|h| h.rule.as_ref()).collect::<Vec<_>>(),
            vec!["out_of_memory"]
        );
        assert_eq!(raise, Some(Action::Alert));
        assert!(hints_for("user signed in").is_empty());
    }
}
