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
pub fn fingerprint(event: &mut StoredEvent, frames: &[Frame]) {
    let component = event.component.as_deref().unwrap_or("");
    let (material, reason) = if !event.fingerprint.is_empty() {
        (
            format!("client\n{}", event.fingerprint),
            "client-sent fingerprint".to_string(),
        )
    } else if let Some(error) = event
        .error
        .as_ref()
        .filter(|_| event.error_kind.as_deref() == Some("exception"))
    {
        let kind = error.kind.as_deref().unwrap_or("Error");
        let in_app: Vec<&Frame> = frames
            .iter()
            .filter(|f| f.in_app)
            .take(MAX_FRAMES)
            .collect();
        let chosen: Vec<&Frame> = if in_app.is_empty() {
            frames.iter().take(MAX_FRAMES).collect()
        } else {
            in_app.clone()
        };
        if chosen.is_empty() {
            let template = message_template(error.message.as_deref().unwrap_or(&event.message));
            (
                format!("exception\n{kind}\n{template}"),
                format!(
                    "exception {kind} + message template '{}' (no stack frames)",
                    short(&template)
                ),
            )
        } else {
            let frame_keys: Vec<String> = chosen
                .iter()
                .map(|f| {
                    format!(
                        "{}|{}",
                        f.module.as_deref().unwrap_or(""),
                        f.function.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            let which = if in_app.is_empty() {
                "frames (none in-app)"
            } else {
                "in-app frames"
            };
            (
                format!("exception\n{kind}\n{}", frame_keys.join("\n")),
                format!("exception {kind} + {} {which}", chosen.len()),
            )
        }
    } else {
        let template = message_template(&event.message);
        let reason = if component.is_empty() {
            format!("message template '{}'", short(&template))
        } else {
            format!(
                "message template '{}' + component {component}",
                short(&template)
            )
        };
        (format!("message\n{component}\n{template}"), reason)
    };
    // Groups never span projects: the tenant is part of what is hashed.
    let material = match &event.project {
        Some(project) => format!("project\n{project}\n{material}"),
        None => material,
    };
    event.fingerprint = hash_hex(&material);
    event.fingerprint_reason = reason;
}

fn short(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// First 16 bytes of SHA-256, hex: short enough for URLs, wide enough never to collide by chance.
fn hash_hex(material: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(material.as_bytes());
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
    masked.split_whitespace().collect::<Vec<_>>().join(" ")
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
}
