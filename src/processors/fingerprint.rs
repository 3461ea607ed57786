//! Fingerprints: the stable group key of an event, and a sentence saying how it was made.
//!
//! - A client-sent `fingerprint` is honoured as is.
//! - An exception groups by its type plus its in-app frames (function + module, never line
//!   numbers, which move with every deploy); without frames, by type plus message template.
//! - Any other event groups by its message template (numbers, ids, UUIDs, quoted values, hex,
//!   IPs, e-mails, paths and timestamps masked) plus its component.

use regex_automata::meta::Regex as MultiRegex;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

use super::stack::Frame;
use crate::model::StoredEvent;

/// How many frames from the top take part: deeper frames are framework plumbing that varies
/// with the call path, not with the bug.
const MAX_FRAMES: usize = 5;

/// Sets `fingerprint` and `fingerprint_reason`. A client fingerprint arrives in `fingerprint`.
///
/// What is hashed is a few lines of text (`exception\nTypeError\nmodule|function…`), fed to the
/// hash piece by piece rather than built as a string first: the bytes, and so every stored
/// group key, are the same as when it was one `format!` (a test pins them).
pub fn fingerprint(event: &mut StoredEvent, frames: &[Frame]) {
    let mut hash = Sha256::new();
    // Groups never span projects: the tenant is part of what is hashed.
    if let Some(project) = &event.project {
        hash_lines(&mut hash, &["project", project, ""]);
    }
    let component = event.component.as_deref().unwrap_or("");
    let reason = if !event.fingerprint.is_empty() {
        hash_lines(&mut hash, &["client", &event.fingerprint]);
        "client-sent fingerprint".to_string()
    } else if let Some(error) = event
        .error
        .as_ref()
        .filter(|_| event.error_kind.as_deref() == Some("exception"))
    {
        let kind = error.kind.as_deref().unwrap_or("Error");
        // The in-app frames when there are any, else the top frames whatever they are.
        let only_in_app = frames.iter().any(|f| f.in_app);
        let chosen = || {
            frames
                .iter()
                .filter(move |f| f.in_app || !only_in_app)
                .take(MAX_FRAMES)
        };
        let count = chosen().count();
        if count == 0 {
            let template = message_template(error.message.as_deref().unwrap_or(&event.message));
            hash_lines(&mut hash, &["exception", kind, &template]);
            let mut reason = format!("exception {kind} + message template '");
            push_short(&mut reason, &template);
            reason.push_str("' (no stack frames)");
            reason
        } else {
            hash_lines(&mut hash, &["exception", kind]);
            for frame in chosen() {
                // One line per frame: `module|function`.
                hash.update(b"\n");
                hash.update(frame.module.as_deref().unwrap_or("").as_bytes());
                hash.update(b"|");
                hash.update(frame.function.as_deref().unwrap_or("?").as_bytes());
            }
            let which = if only_in_app {
                "in-app frames"
            } else {
                "frames (none in-app)"
            };
            format!("exception {kind} + {count} {which}")
        }
    } else {
        let template = message_template(&event.message);
        hash_lines(&mut hash, &["message", component, &template]);
        let mut reason = String::with_capacity(template.len().min(84) + component.len() + 32);
        reason.push_str("message template '");
        push_short(&mut reason, &template);
        reason.push('\'');
        if !component.is_empty() {
            reason.push_str(" + component ");
            reason.push_str(component);
        }
        reason
    };
    event.fingerprint = hex16(&hash.finalize());
    event.fingerprint_reason = reason;
}

/// Feeds `parts` joined by newlines.
fn hash_lines(hash: &mut Sha256, parts: &[&str]) {
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash.update(b"\n");
        }
        hash.update(part.as_bytes());
    }
}

/// `s`, or its first 80 characters and an ellipsis.
fn push_short(out: &mut String, s: &str) {
    match s.char_indices().nth(80) {
        Some((cut, _)) => {
            out.push_str(&s[..cut]);
            out.push('…');
        }
        None => out.push_str(s),
    }
}

/// First 16 bytes of SHA-256, hex: short enough for URLs, wide enough never to collide by chance.
fn hex16(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in &digest[..16] {
        out.push(HEX[(byte >> 4) as usize] as char);
        out.push(HEX[(byte & 0xf) as usize] as char);
    }
    out
}

/// What varies inside otherwise identical messages, in priority order: where two could match at
/// the same place, the earlier wins (a timestamp before its digits, a URL before its path).
const MASKS: &[(&str, &str)] = &[
    (
        r"(?i:\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)",
        "<uuid>",
    ),
    (
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
        "<timestamp>",
    ),
    (r"\b\d{2}:\d{2}:\d{2}(?:\.\d+)?\b", "<time>"),
    (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>"),
    (r"\b(?:https?|wss?)://[^\s'\x22]+", "<url>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "<ip>"),
    (r"(?i:[0-9a-f:]*::[0-9a-f:]+\b)", IPV6),
    (r"'[^']*'|\x22[^\x22]*\x22|`[^`]*`", "<str>"),
    (r"(?:/[\w.@~-]+){2,}/?", "<path>"),
    (r"(?i:\b0x[0-9a-f]+\b)", "<hex>"),
    (
        r"(?i:\b[0-9a-f]*\d[0-9a-f]*[a-f][0-9a-f]*\b|\b[0-9a-f]*[a-f][0-9a-f]*\d[0-9a-f]*\b)",
        "<hex>",
    ),
    // Every run of digits, also inside words (`worker3`, `12.5ms`).
    (r"\d+(?:[.,]\d+)*", NUMBER),
];
const IPV6: &str = "<ip>";
const NUMBER: &str = "<num>";

/// All masks as one multi-pattern regex: a message is scanned once, not once per mask, and each
/// match says which mask it is. Leftmost-first across patterns in order, as the alternation
/// `(mask0)|(mask1)|…` would be; a test compares the two on generated messages.
fn masker() -> &'static MultiRegex {
    static MASKER: OnceLock<MultiRegex> = OnceLock::new();
    MASKER.get_or_init(|| {
        let patterns: Vec<&str> = MASKS.iter().map(|(pattern, _)| *pattern).collect();
        MultiRegex::new_many(&patterns).expect("mask patterns compile")
    })
}

/// A message with its variable parts masked: `User 1234 not found` → `User <num> not found`.
pub fn message_template(message: &str) -> String {
    // Only the first line, and only a bounded prefix, names the kind of message.
    let first_line = message.lines().next().unwrap_or("");
    let end = first_line
        .char_indices()
        .nth(512)
        .map(|(i, _)| i)
        .unwrap_or(first_line.len());
    let bounded = &first_line[..end];
    // The lazy DFA finds each match and its pattern: no capture engine (which, run for the
    // matches that are not plain digits, was still 3 % of the pipeline in callgrind).
    let mut masked = String::with_capacity(bounded.len());
    let mut last = 0;
    for m in masker().find_iter(bounded) {
        masked.push_str(&bounded[last..m.start()]);
        last = m.end();
        let text = &bounded[m.range()];
        let placeholder = MASKS[m.pattern().as_usize()].1;
        let keep = match placeholder {
            // `std::fs` is a path, not an address.
            IPV6 => !text.bytes().any(|b| b.is_ascii_digit()),
            NUMBER => is_http_status(bounded, m.start(), text),
            _ => false,
        };
        masked.push_str(if keep { text } else { placeholder });
    }
    masked.push_str(&bounded[last..]);
    collapse_whitespace(&masked)
}

/// Words separated by single spaces: `split_whitespace().join(" ")` in one allocation.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A 3-digit 1xx–5xx right after `status`, `HTTP`, `code`…: a 404 and a 500 are different problems.
fn is_http_status(text: &str, start: usize, digits: &str) -> bool {
    const STATUS_WORDS: &[&str] = &["status", "http", "code", "response", "returned", "error"];
    let d = digits.as_bytes();
    d.len() == 3 && d.iter().all(u8::is_ascii_digit) && (b'1'..=b'5').contains(&d[0]) && {
        let before = text[..start]
            .trim_end_matches([' ', ':', '=', '/', '.', '1'])
            .to_ascii_lowercase();
        STATUS_WORDS.iter().any(|w| before.ends_with(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorInfo;
    use crate::processors::stack::parse_stack;
    use regex::Regex;

    /// The straightforward form: captures for every match. `message_template` must agree.
    fn template_by_captures(message: &str) -> String {
        let first_line = message.lines().next().unwrap_or("");
        let end = first_line
            .char_indices()
            .nth(512)
            .map_or(first_line.len(), |(i, _)| i);
        let bounded = &first_line[..end];
        // The masks as one alternation of capture groups: the form the fast path must agree with.
        static ALTERNATION: OnceLock<Regex> = OnceLock::new();
        let masker = ALTERNATION.get_or_init(|| {
            let groups: Vec<String> = MASKS.iter().map(|(p, _)| format!("({p})")).collect();
            Regex::new(&groups.join("|")).unwrap()
        });
        let masked = masker.replace_all(bounded, |caps: &regex::Captures| {
            let (index, m) = (1..caps.len())
                .find_map(|i| caps.get(i).map(|m| (i - 1, m)))
                .unwrap();
            let keep = match MASKS[index].1 {
                IPV6 => !m.as_str().bytes().any(|b| b.is_ascii_digit()),
                NUMBER => is_http_status(bounded, m.start(), m.as_str()),
                _ => false,
            };
            if keep {
                m.as_str().to_string()
            } else {
                MASKS[index].1.to_string()
            }
        });
        masked.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_fast_template_agrees_with_captures_everywhere() {
        let pieces = [
            "User",
            "42",
            "x42",
            "worker3",
            "12.5ms",
            "1.2.3.4",
            "10.0.0.1:8080",
            "::1",
            "std::fs",
            "fe80::1ff:fe23",
            "0xdeadBEEF",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "deadbeef1",
            "2026-11-23T10:00:00Z",
            "2026-11-23",
            "10:15:00.5",
            "a@b.io",
            "https://x.io/a?b=1",
            "'quoted 7'",
            "\"dq 8\"",
            "`bt 9`",
            "/usr/lib/x.so",
            "status 404",
            "HTTP/1.1 500",
            "code=503",
            "1,234,567",
            "v2",
            "é9",
            "(17)",
            "[404]",
            "-",
            "a1b2",
            "abc",
            "99.",
            ".5",
        ];
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..3000 {
            let words = 1 + next(8);
            let seps = [" ", "", ":", "/", "=", ", "];
            let mut message = String::new();
            for _ in 0..words {
                message.push_str(pieces[next(pieces.len())]);
                message.push_str(seps[next(seps.len())]);
            }
            assert_eq!(
                message_template(&message),
                template_by_captures(&message),
                "{message:?}"
            );
        }
    }

    #[test]
    fn templates_mask_the_variable_parts() {
        let cases = [
            ("User 1234 not found", "User <num> not found"),
            ("User 98765 not found", "User <num> not found"),
            (
                "Order 3fa85f64-5717-4562-b3fc-2c963f66afa6 failed",
                "Order <uuid> failed",
            ),
            (
                "login failed for jane@example.com",
                "login failed for <email>",
            ),
            (
                "connect ECONNREFUSED 10.0.0.1:5432",
                "connect ECONNREFUSED <ip>",
            ),
            ("key 'abc' missing", "key <str> missing"),
            ("key \"abc\" missing", "key <str> missing"),
            ("open /var/data/file.txt failed", "open <path> failed"),
            ("at 2024-05-01T12:00:00Z job ran", "at <timestamp> job ran"),
            ("object 0xdeadbeef freed", "object <hex> freed"),
            ("commit 9f8e7d6c5b4a applied", "commit <hex> applied"),
            ("took 12.5 ms", "took <num> ms"),
            ("took 12.5ms on worker3", "took <num>ms on worker<num>"),
            (
                "request failed with status 503",
                "request failed with status 503",
            ),
            ("HTTP/1.1 404 for item 12", "HTTP/<num> 404 for item <num>"),
            (
                "upstream returned 502 after 3 tries",
                "upstream returned 502 after <num> tries",
            ),
            ("status code: 429", "status code: 429"),
            ("error 42 in step 7", "error <num> in step <num>"),
            (
                "std::fs::read failed on ::1",
                "std::fs::read failed on <ip>",
            ),
            (
                "GET https://api.x.com/v1/users?id=4 -> 500",
                "GET <url> -> <num>",
            ),
            ("first line 1\nsecond line 2", "first line <num>"),
            ("no variables here", "no variables here"),
        ];
        for (input, expected) in cases {
            assert_eq!(message_template(input), expected, "{input}");
        }
    }

    fn fp(mut e: StoredEvent) -> StoredEvent {
        let frames = e
            .error
            .as_ref()
            .and_then(|x| x.stack.as_deref())
            .map(parse_stack)
            .unwrap_or_default();
        if e.error
            .as_ref()
            .is_some_and(|x| x.kind.is_some() || x.stack.is_some())
        {
            e.error_kind = Some("exception".into());
        }
        fingerprint(&mut e, &frames);
        e
    }

    fn msg(m: &str, component: Option<&str>) -> StoredEvent {
        StoredEvent {
            message: m.into(),
            component: component.map(Into::into),
            ..Default::default()
        }
    }

    fn exc(kind: &str, message: &str, stack: &str) -> StoredEvent {
        StoredEvent {
            message: message.into(),
            error: Some(ErrorInfo {
                kind: Some(kind.into()),
                message: Some(message.into()),
                stack: Some(stack.into()),

                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn variable_messages_share_a_group_and_components_split_it() {
        let a = fp(msg("User 1234 not found", Some("Auth")));
        let b = fp(msg("User 98765 not found", Some("Auth")));
        let c = fp(msg("User 98765 not found", Some("Billing")));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.fingerprint.len(), 32);
        assert_eq!(
            a.fingerprint_reason,
            "message template 'User <num> not found' + component Auth"
        );
    }

    #[test]
    fn exceptions_group_by_type_and_in_app_frames_not_lines() {
        let s1 = "    at UserCard.render (https://x.com/app.js:10:5)\n    at load (https://x.com/app.js:20:1)\n    at x (node_modules/react/index.js:1:1)";
        let s2 = "    at UserCard.render (https://x.com/app.js:99:7)\n    at load (https://x.com/app.js:120:3)\n    at y (node_modules/react/index.js:5:5)";
        let a = fp(exc("TypeError", "x of undefined (reading 'id')", s1));
        let b = fp(exc("TypeError", "y of undefined (reading 'name')", s2));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(
            a.fingerprint_reason,
            "exception TypeError + 2 in-app frames"
        );
        let other_type = fp(exc("RangeError", "x", s1));
        assert_ne!(a.fingerprint, other_type.fingerprint);
        let other_frames = fp(exc(
            "TypeError",
            "x",
            "    at Checkout.pay (https://x.com/app.js:1:1)",
        ));
        assert_ne!(a.fingerprint, other_frames.fingerprint);
    }

    #[test]
    fn exception_without_frames_uses_type_and_template() {
        let a = fp(exc("KeyError", "'user_42'", ""));
        let b = fp(exc("KeyError", "'user_43'", ""));
        assert_eq!(a.fingerprint, b.fingerprint);
        assert!(
            a.fingerprint_reason.contains("no stack frames"),
            "{}",
            a.fingerprint_reason
        );
    }

    #[test]
    fn client_fingerprint_wins() {
        let mut e = msg("anything 1", None);
        e.fingerprint = "checkout\u{1f}card".into();
        let mut f = msg("something else 2", Some("X"));
        f.fingerprint = "checkout\u{1f}card".into();
        let (e, f) = (fp(e), fp(f));
        assert_eq!(e.fingerprint, f.fingerprint);
        assert_eq!(e.fingerprint_reason, "client-sent fingerprint");
        assert_eq!(e.fingerprint.len(), 32);
    }

    /// Fingerprints are stored group keys: a release that computed them differently would split
    /// every existing group in two. These values were made by the first release; they must
    /// never change (the reasons may).
    #[test]
    fn fingerprints_stay_what_earlier_releases_stored() {
        let js = "    at UserCard.render (https://x.com/app.js:10:5)\n    at load (https://x.com/app.js:20:1)\n    at x (node_modules/react/index.js:1:1)";
        let vendor_only = "    at x (node_modules/react/index.js:1:1)\n    at y (node_modules/react-dom/index.js:2:2)";
        let mut client = msg("anything", None);
        client.fingerprint = "checkout\u{1f}card".into();
        let mut in_project = msg("User 1234 not found", Some("Auth"));
        in_project.project = Some("shop".into());
        let mut exc_in_project = exc("TypeError", "x", js);
        exc_in_project.project = Some("shop".into());
        let cases = [
            (
                msg("User 1234 not found", Some("Auth")),
                "84ce28c5b272d42ccf93cff8726fedb0",
            ),
            (
                msg("GET /api/users/42 200 in 12ms", None),
                "d0f4c69c6b8db700eedaf918ee06c7fe",
            ),
            (in_project, "994f47044a8471559c0c26bb60914333"),
            (client, "088f178301ee9b4cc781ad344a215c30"),
            (
                exc("TypeError", "x of undefined", js),
                "786df30f39d139bb2372de8556279db1",
            ),
            (
                exc("TypeError", "x of undefined", vendor_only),
                "70a5478e834b01346a33e2f131f69eb3",
            ),
            (
                exc("KeyError", "'user_42'", ""),
                "8a27b7645dae275c6a3efd92ab5b4687",
            ),
            (exc_in_project, "78073b7ad061e99faf4238de4dc5ed56"),
        ];
        for (event, want) in cases {
            let message = event.message.clone();
            assert_eq!(fp(event).fingerprint, want, "{message}");
        }
    }
}
