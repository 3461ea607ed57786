//! The matcher of the search language: one event in memory against a search, with the same
//! meaning as the SQL (the tail hub, alert rules, and the shards' blocks, which are read and
//! filtered in Rust).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::terms::{
    find_field, level_band, time_range, time_value, Condition, Kind, Op, Pattern, Search, Term,
};
use crate::model::fields::role;
use crate::model::StoredEvent;
use crate::processors::timestamp::format_ts;

impl Search {
    /// Whether the event matches every term. Terms no event field answers (`is:`) match.
    pub fn matches(&self, event: &StoredEvent, now: DateTime<Utc>) -> bool {
        self.terms
            .iter()
            .all(|t| term_matches(t, event, now) != t.negated)
    }

    /// Texts every matching event's JSON must contain (ASCII-lowercased): the words of positive
    /// free text and the values of positive plain equalities. A cheap test that rules out most
    /// events before any is parsed (JSON keeps these characters as they are: serde_json escapes
    /// only quotes, backslashes and control characters, which no word or such value needs).
    pub fn literals(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in self.terms.iter().filter(|t| !t.negated) {
            match &t.condition {
                Condition::Text { text, .. } => out.extend(words(text)),
                Condition::Field {
                    op: Op::Eq,
                    values,
                    field,
                } if values.len() == 1
                    && !values[0].is_wildcard()
                    && find_field(field).is_some_and(|f| f.kind == Kind::Text) =>
                {
                    out.push(values[0].text())
                }
                Condition::Tag { values, .. } if values.len() == 1 && !values[0].is_wildcard() => {
                    out.push(values[0].text())
                }
                _ => {}
            }
        }
        out.iter()
            .map(|l| l.to_ascii_lowercase())
            .filter(|l| {
                !l.is_empty() && !l.chars().any(|c| c.is_control() || c == '"' || c == '\\')
            })
            .collect()
    }
}

fn term_matches(term: &Term, e: &StoredEvent, now: DateTime<Utc>) -> bool {
    match &term.condition {
        Condition::Text { text, phrase } => text_matches(e, text, *phrase),
        Condition::Field { field, op, values } => match event_value(e, field) {
            Some(v) => values.iter().any(|p| value_matches(field, &v, *op, p, now)),
            None => false,
        },
        Condition::Tag { name, values } => match tag_text(e, name) {
            Some(v) => values.iter().any(|p| p.matches(&v)),
            None => false,
        },
        Condition::Has { field: Some(f), .. } => event_value(e, f).is_some(),
        Condition::Has { tag: Some(t), .. } => tag_text(e, t).is_some(),
        Condition::Has { .. } | Condition::Status(_) => true,
    }
}

pub(crate) fn tag_text(e: &StoredEvent, name: &str) -> Option<String> {
    match e.tags.get(name)? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A field of an event as text (numbers as digits); `None` where the event has none.
pub fn event_value(e: &StoredEvent, field: &str) -> Option<String> {
    let field = crate::model::fields::event_field(field).filter(|f| f.is(role::SEARCH))?;
    (field.value)(e)
}

fn value_matches(field: &str, actual: &str, op: Op, p: &Pattern, now: DateTime<Utc>) -> bool {
    let kind = find_field(field).map(|f| f.kind).unwrap_or(Kind::Text);
    let cmp = |a: i64, b: i64| match op {
        Op::Eq => a == b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
    };
    match kind {
        Kind::Text => p.matches(actual),
        Kind::Level => {
            let n: i64 = actual.parse().unwrap_or(0);
            let (low, high) = level_band(&p.text());
            match op {
                Op::Eq => (low..=high).contains(&n),
                Op::Ge | Op::Lt => cmp(n, low),
                Op::Gt | Op::Le => cmp(n, high),
            }
        }
        Kind::Number => match (actual.parse::<i64>(), p.text().parse::<i64>()) {
            (Ok(a), Ok(b)) => cmp(a, b),
            _ => false,
        },
        Kind::Time => {
            let text = p.text();
            if op == Op::Eq {
                time_range(&text, now).is_some_and(|(from, to)| {
                    let (from, to) = (format_ts(from), format_ts(to));
                    actual >= from.as_str() && actual <= to.as_str()
                })
            } else {
                time_value(&text, now).is_some_and(|t| {
                    let t = format_ts(t);
                    match op {
                        Op::Gt => actual > t.as_str(),
                        Op::Ge => actual >= t.as_str(),
                        Op::Lt => actual < t.as_str(),
                        _ => actual <= t.as_str(),
                    }
                })
            }
        }
    }
}

/// Lowercase words as SQLite's `unicode61` tokenizer splits them (letters and digits).
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Full text in memory as the FTS index answers it: every word of the term (a phrase: in
/// order) among the words of the message, error type, error message or stack; a trailing `*`
/// makes the last word a prefix.
pub(crate) fn text_matches(e: &StoredEvent, text: &str, phrase: bool) -> bool {
    let prefix = text.ends_with('*');
    let wanted = words(text);
    if wanted.is_empty() {
        return false;
    }
    let error = e.error.as_ref();
    let fields = [
        Some(e.message.as_str()),
        error.and_then(|x| x.kind.as_deref()),
        error.and_then(|x| x.message.as_deref()),
        error.and_then(|x| x.stack.as_deref()),
    ];
    let word_is = |have: &str, i: usize| {
        if prefix && i == wanted.len() - 1 {
            have.starts_with(wanted[i].as_str())
        } else {
            have == wanted[i]
        }
    };
    fields.iter().flatten().any(|f| {
        let have = words(f);
        if phrase {
            have.windows(wanted.len())
                .any(|w| w.iter().enumerate().all(|(i, h)| word_is(h, i)))
        } else {
            (0..wanted.len()).all(|i| have.iter().any(|h| word_is(h, i)))
        }
    })
}

impl Pattern {
    /// Whether `text` matches, ASCII case-insensitively as SQLite's `LIKE` does; exact otherwise.
    pub fn matches(&self, text: &str) -> bool {
        if !self.is_wildcard() {
            return self.0[0] == text;
        }
        let text = text.to_ascii_lowercase();
        let pieces: Vec<String> = self.0.iter().map(|p| p.to_ascii_lowercase()).collect();
        let (first, rest) = pieces.split_first().expect("a pattern has a piece");
        let Some(mut tail) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        let (last, middle) = rest.split_last().expect("a wildcard has two pieces");
        for piece in middle {
            match tail.find(piece.as_str()) {
                Some(at) => tail = &tail[at + piece.len()..],
                None => return false,
            }
        }
        tail.len() >= last.len() && tail.ends_with(last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::super::terms::testing::now;
    use super::*;

    fn event() -> StoredEvent {
        serde_json::from_value(serde_json::json!({
            "id": "i", "event_id": "e", "project": "shop", "received_at": "2026-12-04T11:30:00.000Z",
            "timestamp": "2026-12-04T11:30:00.000Z", "level": "error", "severity_number": 17,
            "message": "Payment gateway timeout after 30s", "environment": "production",
            "service": "checkout", "release": "1.4.0", "source_type": "backend",
            "component": "Cart", "route": "/api/cart/:id", "error": {"type": "TimeoutError"},
            "user_id": "42", "tags": {"region": "eu-west", "n": 3}, "context": {},
            "fingerprint": "f", "fingerprint_reason": "r", "priority": 8, "routing_key": "k",
            "triage": {"action": "page", "hints": []}, "scrubbed": []
        }))
        .unwrap()
    }

    #[test]
    fn matches_events_in_memory() {
        let e = event();
        let yes = [
            "payment",
            "Gateway TIMEOUT",
            "\"gateway timeout\"",
            "pay*",
            "timeouterror",
            "service:checkout",
            "!service:web",
            "-release:2*",
            "component:[Auth,Cart]",
            "route:/api/*",
            "route:*/:id",
            "priority:>=8",
            "priority:8",
            "level:>=warn",
            "level:error",
            "level:<fatal",
            "timestamp:>-1h",
            "timestamp:2026-12-04",
            "has:user_id",
            "has:region",
            "!has:trace_id",
            "region:eu-*",
            "tag[n]:3",
            "env:prod",
            "is:resolved",
            "user.id:42",
            "error.type:TimeoutError",
            "severity:17",
            "received:>2026-12-04",
        ];
        // The hub's prefilter never rules out a match: every literal is in the event's JSON.
        let json = serde_json::to_string(&e).unwrap().to_ascii_lowercase();
        for q in yes {
            let s = parse(q).unwrap();
            assert!(s.matches(&e, now()), "{q}");
            for literal in s.literals() {
                assert!(json.contains(&literal), "{q}: {literal}");
            }
        }
        assert_eq!(
            parse("Payment \"Gateway X\" service:Checkout !env:dev region:EU* tag[k]:V")
                .unwrap()
                .literals(),
            vec!["payment", "gateway", "x", "checkout", "v"]
        );
        let no = [
            "\"timeout gateway\"",
            "payments",
            "service:web",
            "!component:Cart",
            "priority:>8",
            "level:>=fatal",
            "level:warn",
            "timestamp:<-1h",
            "has:trace_id",
            "region:us*",
            "tag[missing]:x",
            "route:/api",
            "checkout -payment",
        ];
        for q in no {
            assert!(!parse(q).unwrap().matches(&e, now()), "{q}");
        }
    }
}
