//! Scrubbing: secrets and personal data removed before an event is queued, so they never reach
//! the queue, D1, KV or a reader. The event records which rules fired (`scrubbed`), never what
//! they removed.
//!
//! Two kinds of rules, both data:
//! - key names: any value under a key that names a secret (`password`, `token`, `cookie`, …),
//!   at any depth of `context` or `tags`, is replaced whole, and so is the value of a `[name,
//!   value]` pair whose name does;
//! - patterns: bearer tokens, JWTs, private keys, passwords in URLs and connection strings,
//!   secrets in URL query strings, the token shapes of the major providers, Luhn-valid card
//!   numbers (in text and as JSON numbers), pairs written into text whose key names a secret
//!   (`password=…`, `token: …`, `"api_key": "…"`: the key stays, the value goes), and (on by
//!   default, switchable per deployment) e-mail and IP addresses, inside any string: message,
//!   exception type, message and stack, endpoint, context, tags.
//!
//! Correlation fields (`user_id`, `trace_id`, …: `role::CORRELATION` in `model::fields`) are left as sent: they are
//! identifiers the sender chose to attach, and masking them would break lookups.

use regex::{Regex, RegexSet};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::OnceLock;

use crate::model::StoredEvent;

pub const FILTERED: &str = "[Filtered]";

/// Per-deployment switches (`SCRUB_EMAILS`, `SCRUB_IPS`; both on unless set to `false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScrubConfig {
    pub emails: bool,
    pub ips: bool,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            emails: true,
            ips: true,
        }
    }
}

/// Key names whose values are secrets, matched case-insensitively: a word anywhere in the key
/// (`password_confirmation`, `new_password2`, `passphrase`, `X-Api-Key`), or a short name that
/// must stand alone as a key or one of its parts (`pwd`, `pass`, `pin`, `ssn`: so that
/// `passenger`, `spinner` and `compass` stay).
const SECRET_KEY_PATTERN: &str = r"(?i)passw(or)?d|passphrase|secret|token|api[-_.]?key|auth(orization)?$|cookie|session|credential|private[-_.]?key|access[-_.]?key|signature|csrf|xsrf|card[-_.]?(number|no)|(^|[-_.])(pass|pwd|pin|ssn|cvv|cvc|otp)([-_.]?\d*)$";

struct PatternRule {
    name: &'static str,
    pattern: &'static str,
    replacement: &'static str,
    /// Only when the deployment enables it (e-mail and IP masking).
    switch: Option<fn(&ScrubConfig) -> bool>,
    /// A second check on a candidate match (the Luhn checksum for cards).
    confirm: Option<fn(&str) -> bool>,
    /// Builds the replacement from the match's groups instead of `replacement`; `None` keeps
    /// the match as it is.
    rewrite: Option<fn(&regex::Captures) -> Option<String>>,
}

const PATTERNS: &[PatternRule] = &[
    PatternRule {
        name: "private_key",
        pattern: r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        replacement: "[Private key]",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        name: "jwt",
        pattern: r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
        replacement: "[JWT]",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        name: "bearer_token",
        pattern: r"(?i)\b(?:bearer|basic|token)\s+[A-Za-z0-9\-._~+/]{8,}=*",
        replacement: "Bearer [Filtered]",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        // The password of a URL or connection string (`postgres://admin:pw@db`,
        // `redis://:pw@cache`, `https://user:pw@host`): the user and host stay.
        name: "url_password",
        pattern: r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)([^\s@/]+)(@)",
        replacement: "${1}[Filtered]${3}",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        name: "url_secret",
        pattern: r#"(?i)([?&;](?:access_token|refresh_token|id_token|token|api_key|apikey|key|password|passwd|secret|client_secret|signature|sig|code|auth)=)[^&#\s)'"<>]+"#,
        replacement: "${1}[Filtered]",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        // `key=value`, `key: value`, `"key": "value"` (and single quotes) inside a text. The
        // pattern only finds candidates whose key holds a secret word; `secret_pair` then
        // checks the key against the same list the context scrubber uses, so `author: x` or
        // `spinner=on` stay. An unquoted value never starts with `[`, so a value another rule
        // already replaced is not replaced again.
        name: "secret_pair",
        pattern: r#"(?i)(["']?[\w.-]*(?:pass|pwd|secret|token|api[-_]?key|auth|cookie|session|credential|private[-_]?key|access[-_]?key|signature|csrf|xsrf|ssn|card|cvv|pin)[\w.-]*["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"',;&)}\]\[]+)"#,
        replacement: "",
        switch: None,
        confirm: None,
        rewrite: Some(secret_pair),
    },
    PatternRule {
        // The token shapes the major providers issue, each with its own prefix: AWS, Stripe
        // (secret and restricted), GitHub (classic and fine-grained), GitLab, Slack, Google API
        // keys and OAuth tokens, OpenAI and Anthropic, npm, PyPI, SendGrid, Shopify,
        // DigitalOcean, Twilio, Mailgun, Square, Heroku-style `HRKU-`.
        name: "cloud_access_key",
        pattern: r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b|\b[sr]k_(?:live|test)_[0-9A-Za-z]{16,}\b|\bgh[pousr]_[0-9A-Za-z]{30,}\b|\bgithub_pat_[0-9A-Za-z_]{30,}|\bglpat-[0-9A-Za-z_-]{20,}|\bxox[abpre]-[0-9A-Za-z-]{10,}|\bAIza[0-9A-Za-z_-]{30,}|\bya29\.[0-9A-Za-z_-]{20,}|\bsk-(?:proj-|ant-|svcacct-)?[0-9A-Za-z_-]{20,}|\bnpm_[0-9A-Za-z]{30,}|\bpypi-[0-9A-Za-z_-]{40,}|\bSG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}|\bshp(?:at|ss|ca|pa)_[0-9a-fA-F]{32}\b|\bdo[por]_v1_[0-9a-f]{64}\b|\bSK[0-9a-fA-F]{32}\b|\bkey-[0-9a-zA-Z]{32}\b|\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,}|\bHRKU-[0-9A-Za-z_-]{20,}",
        replacement: "[Access key]",
        switch: None,
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        name: "credit_card",
        pattern: r"\b(?:\d[ -]?){12,18}\d\b",
        replacement: "[Card]",
        switch: None,
        confirm: Some(card_number),
        rewrite: None,
    },
    PatternRule {
        name: "email",
        pattern: r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
        replacement: "[email]",
        switch: Some(|c| c.emails),
        confirm: None,
        rewrite: None,
    },
    PatternRule {
        name: "ip_address",
        pattern: r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b|\b(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}\b",
        replacement: "[ip]",
        switch: Some(|c| c.ips),
        confirm: None,
        rewrite: None,
    },
];

struct Compiled {
    secret_key: Regex,
    any: RegexSet,
    each: Vec<Regex>,
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled {
        secret_key: Regex::new(SECRET_KEY_PATTERN).expect("secret key pattern compiles"),
        any: RegexSet::new(PATTERNS.iter().map(|p| p.pattern)).expect("scrub patterns compile"),
        each: PATTERNS
            .iter()
            .map(|p| Regex::new(p.pattern).expect("scrub pattern compiles"))
            .collect(),
    })
}

/// A payment card number: an issuer prefix (IIN) with a length that network issues, and a
/// valid Luhn checksum. The prefix check matters: one 13-digit epoch-milliseconds timestamp in
/// ten passes Luhn alone, and timestamps are everywhere in logs.
pub fn card_number(candidate: &str) -> bool {
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len();
    if !(13..=19).contains(&n) {
        return false;
    }
    let prefix = |len: usize| digits[..len].parse::<u32>().unwrap_or(0);
    let issued = match digits.as_bytes()[0] {
        b'4' => matches!(n, 13 | 16 | 19),                     // Visa
        b'5' => (51..=55).contains(&prefix(2)) && n == 16,     // Mastercard
        b'2' => (2221..=2720).contains(&prefix(4)) && n == 16, // Mastercard 2-series
        b'3' => match prefix(2) {
            34 | 37 => n == 15,                                                 // Amex
            35 => (3528..=3589).contains(&prefix(4)) && (16..=19).contains(&n), // JCB
            30 | 36 | 38 | 39 => (14..=19).contains(&n),                        // Diners
            _ => false,
        },
        b'6' => {
            (prefix(4) == 6011
                || prefix(2) == 65
                || (644..=649).contains(&prefix(3))
                || prefix(2) == 62)
                && (16..=19).contains(&n)
        } // Discover, UnionPay
        _ => false,
    };
    issued && luhn_valid(&digits)
}

/// The Luhn checksum.
pub fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A `key=value` candidate with its value filtered, when its key names a secret; `None` keeps
/// it as it is. The value keeps its quotes; an `Authorization: Bearer …` pair keeps its scheme
/// (the `bearer_token` rule has already filtered the token after it).
fn secret_pair(caps: &regex::Captures) -> Option<String> {
    let secret_key = &compiled().secret_key;
    let head = caps.get(1)?.as_str();
    let value = caps.get(2)?.as_str();
    let key = head
        .trim_end()
        .trim_end_matches([':', '='])
        .trim_end()
        .trim_matches(['"', '\'']);
    if !secret_key.is_match(key)
        || value.eq_ignore_ascii_case("bearer")
        || value.eq_ignore_ascii_case("basic")
    {
        return None;
    }
    let filtered = match value.chars().next() {
        Some(quote @ ('"' | '\'')) => format!("{quote}{FILTERED}{quote}"),
        _ => FILTERED.to_string(),
    };
    Some(format!("{head}{filtered}"))
}

/// Scrubs one string in place, adding the names of the rules that changed it to `fired`.
fn scrub_string(text: &mut String, config: &ScrubConfig, fired: &mut BTreeSet<&'static str>) {
    let c = compiled();
    // Most texts match nothing: `is_match` stops at the first match and skips the overlapping
    // search that `matches` needs to name every pattern (callgrind: half the cost).
    if !c.any.is_match(text) {
        return;
    }
    let matched = c.any.matches(text);
    for index in matched.iter() {
        let rule = &PATTERNS[index];
        if rule.switch.is_some_and(|on| !on(config)) {
            continue;
        }
        let mut changed = false;
        let replaced = c.each[index].replace_all(text, |caps: &regex::Captures| {
            let whole = caps.get(0).map_or("", |m| m.as_str());
            if let Some(rewrite) = rule.rewrite {
                return match rewrite(caps) {
                    Some(out) => {
                        changed = true;
                        out
                    }
                    None => whole.to_string(),
                };
            }
            if rule.confirm.is_some_and(|ok| !ok(whole)) {
                return whole.to_string();
            }
            changed = true;
            let mut out = String::new();
            caps.expand(rule.replacement, &mut out);
            out
        });
        if changed {
            *text = replaced.into_owned();
            fired.insert(rule.name);
        }
    }
}

/// Scrubs every string under `root`, at any depth, with an explicit stack (a hostile body
/// cannot exhaust the call stack): values under a key that names a secret are replaced whole,
/// so are the second items of `[name, value]` pairs whose name does (Sentry's headers and query
/// strings, pair lists in `context`), and integers that are card numbers.
fn scrub_tree(
    root: &mut Map<String, Value>,
    config: &ScrubConfig,
    fired: &mut BTreeSet<&'static str>,
) {
    let secret_key = &compiled().secret_key;
    let mut stack: Vec<&mut Value> = Vec::new();
    let filter = |value: &mut Value, fired: &mut BTreeSet<&'static str>| {
        if !matches!(value, Value::Null) && value.as_str() != Some(FILTERED) {
            *value = Value::String(FILTERED.into());
            fired.insert("secret_key");
        }
    };
    for (key, value) in root.iter_mut() {
        match secret_key.is_match(key) {
            true => filter(value, fired),
            false => stack.push(value),
        }
    }
    while let Some(value) = stack.pop() {
        match value {
            Value::String(text) => scrub_string(text, config, fired),
            Value::Number(n) => {
                if n.as_u64().is_some_and(|n| card_number(&n.to_string())) {
                    *value = Value::String("[Card]".into());
                    fired.insert("credit_card");
                }
            }
            Value::Array(items) => {
                let pair_name = match items.as_slice() {
                    [Value::String(name), _] => Some(secret_key.is_match(name)),
                    _ => None,
                };
                if pair_name == Some(true) {
                    filter(&mut items[1], fired);
                } else {
                    stack.extend(items.iter_mut());
                }
            }
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    match secret_key.is_match(key) {
                        true => filter(child, fired),
                        false => stack.push(child),
                    }
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }
}

/// Scrubs an event in place and records the rules that fired in `event.scrubbed`.
pub fn scrub(event: &mut StoredEvent, config: &ScrubConfig) {
    let mut fired = BTreeSet::new();
    scrub_string(&mut event.message, config, &mut fired);
    if let Some(error) = &mut event.error {
        let fields = [&mut error.kind, &mut error.message, &mut error.stack];
        for field in fields.into_iter().flatten() {
            scrub_string(field, config, &mut fired);
        }
    }
    if let Some(endpoint) = &mut event.endpoint {
        scrub_string(endpoint, config, &mut fired);
    }
    scrub_tree(&mut event.tags, config, &mut fired);
    scrub_tree(&mut event.context, config, &mut fired);
    event.scrubbed = fired.into_iter().map(str::to_string).collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorInfo;
    use serde_json::json;

    fn scrubbed_message(message: &str, config: ScrubConfig) -> (String, Vec<String>) {
        let mut e = StoredEvent {
            message: message.into(),
            ..Default::default()
        };
        scrub(&mut e, &config);
        (e.message, e.scrubbed)
    }

    /// Each `(input, scrubbed, rules fired)` case.
    fn assert_scrubbed(cases: &[(&str, &str, &[&str])], config: ScrubConfig) {
        for (input, expected, rules) in cases {
            let (out, fired) = scrubbed_message(input, config);
            assert_eq!(out, *expected, "{input}");
            let rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
            assert_eq!(fired, rules, "{input}");
        }
    }

    #[test]
    fn patterns_in_strings() {
        let on = ScrubConfig::default();
        let cases: Vec<(&str, &str, &[&str])> = vec![
            ("auth failed for Bearer abcdef1234567890xyz", "auth failed for Bearer [Filtered]", &["bearer_token"]),
            ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c rejected", "token [JWT] rejected", &["jwt"]),
            ("key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- leaked", "key [Private key] leaked", &["private_key"]),
            ("GET /reset?token=abc123&lang=en failed", "GET /reset?token=[Filtered]&lang=en failed", &["url_secret"]),
            ("https://x.com/cb?code=XYZ&state=1", "https://x.com/cb?code=[Filtered]&state=1", &["url_secret"]),
            ("used AKIAIOSFODNN7EXAMPLE in us-east-1", "used [Access key] in us-east-1", &["cloud_access_key"]),
            ("charge 4111 1111 1111 1111 declined", "charge [Card] declined", &["credit_card"]),
            ("charge 4111-1111-1111-1111 declined", "charge [Card] declined", &["credit_card"]),
            ("order 4111111111111112 shipped", "order 4111111111111112 shipped", &[]),
            ("ts 1714564800123 id 0000000000000000", "ts 1714564800123 id 0000000000000000", &[]),
            ("login failed for jane.doe@example.com", "login failed for [email]", &["email"]),
            ("from 203.0.113.7 via 10.0.0.1", "from [ip] via [ip]", &["ip_address"]),
            ("version 1.2.3.4000 released", "version 1.2.3.4000 released", &[]),
            ("nothing secret here", "nothing secret here", &[]),
            ("login failed password=hunter2", "login failed password=[Filtered]", &["secret_pair"]),
            ("login failed password = hunter2 for bob", "login failed password = [Filtered] for bob", &["secret_pair"]),
            ("config api_key: sk-123abc, region: eu", "config api_key: [Filtered], region: eu", &["secret_pair"]),
            (r#"body {"user": "bob", "password": "hunter 2"} refused"#, r#"body {"user": "bob", "password": "[Filtered]"} refused"#, &["secret_pair"]),
            ("body {'client_secret': 'abc'}", "body {'client_secret': '[Filtered]'}", &["secret_pair"]),
            ("X-Auth-Token=abc123&next=1", "X-Auth-Token=[Filtered]&next=1", &["secret_pair"]),
            ("Authorization: Bearer abcdef1234567890xyz", "Authorization: Bearer [Filtered]", &["bearer_token"]),
            ("GET /login?password=abc failed", "GET /login?password=[Filtered] failed", &["url_secret"]),
            ("author: bob, spinner=on, pinned: 3, tokenizer ready", "author: bob, spinner=on, pinned: 3, tokenizer ready", &[]),
        ];
        assert_scrubbed(&cases, on);
    }

    #[test]
    fn email_and_ip_masking_can_be_switched_off() {
        let off = ScrubConfig {
            emails: false,
            ips: false,
        };
        let (out, fired) = scrubbed_message("jane@example.com from 203.0.113.7", off);
        assert_eq!(out, "jane@example.com from 203.0.113.7");
        assert!(fired.is_empty());
        let (out, _) = scrubbed_message("Bearer abcdefgh12345678 for jane@example.com", off);
        assert_eq!(
            out, "Bearer [Filtered] for jane@example.com",
            "secrets are always scrubbed"
        );
    }

    #[test]
    fn secret_keys_anywhere_in_context_and_tags() {
        let mut e = StoredEvent {
            message: "x".into(),
            context: json!({
                "password": "hunter2",
                "user": {"name": "jane", "apiKey": "k-123", "Session-Id": "s-9", "prefs": [{"authToken": "t"}]},
                "headers": {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": "sid=1", "accept": "json"},
                "note": "contact me at jane@example.com",
                "count": 3,
                "token_count": null
            })
            .as_object()
            .unwrap()
            .clone(),
            tags: json!({"client_secret": "abc", "region": "eu"}).as_object().unwrap().clone(),
            error: Some(ErrorInfo { kind: Some("Err".into()), message: Some("Bearer abcdefgh12345678".into()), stack: Some("at x (https://x.com/?api_key=zzz:1:1)".into()), ..Default::default() }),
            ..Default::default()
        };
        scrub(&mut e, &ScrubConfig::default());
        let c = Value::Object(e.context.clone());
        assert_eq!(c["password"], FILTERED);
        assert_eq!(c["user"]["name"], "jane");
        assert_eq!(c["user"]["apiKey"], FILTERED);
        assert_eq!(c["user"]["Session-Id"], FILTERED);
        assert_eq!(c["user"]["prefs"][0]["authToken"], FILTERED);
        assert_eq!(c["headers"]["Authorization"], FILTERED);
        assert_eq!(c["headers"]["Cookie"], FILTERED);
        assert_eq!(c["headers"]["accept"], "json");
        assert_eq!(c["note"], "contact me at [email]");
        assert_eq!(c["count"], 3);
        assert!(c["token_count"].is_null(), "nothing to hide in a null");
        assert_eq!(e.tags["client_secret"], FILTERED);
        assert_eq!(e.tags["region"], "eu");
        let err = e.error.unwrap();
        assert_eq!(err.message.as_deref(), Some("Bearer [Filtered]"));
        assert_eq!(
            err.stack.as_deref(),
            Some("at x (https://x.com/?api_key=[Filtered])"),
            "line:col may go too; the parenthesis stays"
        );
        assert_eq!(
            e.scrubbed,
            vec!["bearer_token", "email", "secret_key", "url_secret"]
        );
        let stored = serde_json::to_string(&c).unwrap();
        for secret in ["hunter2", "k-123", "dXNlcjpwYXNz", "jane@example.com"] {
            assert!(!stored.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn card_numbers_need_an_issuer_prefix_not_just_luhn() {
        for card in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "340000000000009",
            "6011000000000004",
            "3530111333300000",
            "2223003122003222",
        ] {
            assert!(card_number(card), "{card}");
        }
        // Luhn-valid, but epoch milliseconds and order numbers, not cards.
        for not_card in [
            "1795425480120",
            "1714564800121",
            "9999999999999995",
            "1234567812345670",
        ] {
            assert!(
                luhn_valid(not_card),
                "{not_card} should pass Luhn for this test to mean anything"
            );
            assert!(!card_number(not_card), "{not_card}");
        }
        let (out, fired) =
            scrubbed_message("job crit-1795425480120 took 3s", ScrubConfig::default());
        assert_eq!(out, "job crit-1795425480120 took 3s");
        assert!(fired.is_empty());
    }

    #[test]
    fn luhn() {
        for valid in [
            "4111111111111111",
            "5500 0000 0000 0004",
            "3400-0000-0000-009",
            "6011000000000004",
        ] {
            assert!(luhn_valid(valid), "{valid}");
        }
        for invalid in [
            "4111111111111112",
            "1234567812345678",
            "0000000000000000",
            "12345",
        ] {
            assert!(!luhn_valid(invalid), "{invalid}");
        }
    }

    /// What hostile probing found stored in clear: each is scrubbed now.
    #[test]
    fn provider_tokens_connection_strings_and_userinfo() {
        let on = ScrubConfig::default();
        let cases: Vec<(&str, &str, &[&str])> = vec![
            ("pat github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS leaked", "pat [Access key] leaked", &["cloud_access_key"]),
            ("stripe rk_live_51H8abcdefghijklmnopqrstu used", "stripe [Access key] used", &["cloud_access_key"]),
            ("maps AIzaSyD-abcdefghijklmnopqrstuvwxyz12345 quota", "maps [Access key] quota", &["cloud_access_key"]),
            ("gitlab glpat-abcdefghij0123456789 ok", "gitlab [Access key] ok", &["cloud_access_key"]),
            ("openai sk-proj-abcdefghijklmnopqrstuvwxyz0123 ok", "openai [Access key] ok", &["cloud_access_key"]),
            ("db postgres://admin:s3cr3t!@db.internal:5432/shop down", "db postgres://admin:[Filtered]@db.internal:5432/shop down", &["url_password"]),
            ("cache redis://:p4ss@cache:6379/0 down", "cache redis://:[Filtered]@cache:6379/0 down", &["url_password"]),
            ("GET https://user:pw123@api.example.com/x", "GET https://user:[Filtered]@api.example.com/x", &["url_password"]),
            ("see https://example.com:8443/path ok", "see https://example.com:8443/path ok", &[]),
        ];
        assert_scrubbed(&cases, on);
    }

    #[test]
    fn keys_pairs_numbers_and_depth() {
        let mut deep = json!({"password": "deep-secret"});
        for _ in 0..40 {
            deep = json!({ "next": deep });
        }
        let mut e = StoredEvent {
            message: "x".into(),
            context: json!({
                "password_confirmation": "a1", "passphrase": "a2", "new_password2": "a3",
                "passenger": "kept", "compass": "kept", "spinner": "kept", "pin": "1234",
                "card": 4111111111111111u64, "order": 4111111111111112u64, "ts": 1714564800123u64,
                "headers": [["X-Api-Key", "k-1"], ["Cookie", "sid=2"], ["Accept", "json"]],
                "query_string": [["token", "t-3"], ["page", "2"]],
                "deep": deep,
                "extra": {"dsn": "mysql://root:rootpw@db/app"},
            })
            .as_object()
            .unwrap()
            .clone(),
            error: Some(ErrorInfo {
                kind: Some("AuthError ghp_abcdefghijklmnopqrstuvwxyz0123456789".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        scrub(&mut e, &ScrubConfig::default());
        let stored = serde_json::to_string(&e).unwrap();
        for secret in [
            "a1\"",
            "a2\"",
            "a3\"",
            "1234",
            "4111111111111111",
            "k-1",
            "sid=2",
            "t-3",
            "deep-secret",
            "rootpw",
            "ghp_abc",
        ] {
            assert!(!stored.contains(secret), "{secret} leaked: {stored}");
        }
        for kept in [
            "\"passenger\":\"kept\"",
            "\"compass\":\"kept\"",
            "\"spinner\":\"kept\"",
            "4111111111111112",
            "1714564800123",
            "[\"Accept\",\"json\"]",
            "[\"page\",\"2\"]",
        ] {
            assert!(stored.contains(kept), "{kept} was lost: {stored}");
        }
    }
}
