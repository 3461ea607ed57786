//! The tree a query parses into: terms of conditions on fields, tags, statuses and free text;
//! the field table the language knows, and what every stage shares (times, level bands, the
//! errors that point at a column).

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::error::{invalid_parameter as bad, AppError};
use crate::model::fields::{role, EVENT_FIELDS};
pub use crate::model::fields::{Field, Kind};
use crate::processors::level::Level;
use crate::processors::timestamp::parse_bound;

/// The longest query accepted, in characters, and the most terms.
pub const MAX_QUERY_CHARS: usize = 2000;
pub const MAX_TERMS: usize = 32;
/// The most `*` in one value: each is a step of SQLite's `LIKE`, which refuses patterns past
/// its complexity limit (and a matcher's work grows with them).
pub const MAX_WILDCARDS: usize = 8;

/// Fields of groups rather than events (`/v1/groups` applies them).
const GROUP_FIELDS: &[Field] = &[
    group_field("count", &["times_seen"], Kind::Number),
    group_field("first_seen", &[], Kind::Time),
    group_field("last_seen", &[], Kind::Time),
    group_field("first_release", &["firstRelease"], Kind::Text),
    group_field("assignee", &["assigned"], Kind::Text),
];

const fn group_field(name: &'static str, aliases: &'static [&'static str], kind: Kind) -> Field {
    Field {
        name,
        aliases,
        kind,
    }
}

/// Every field the language knows: the searchable event fields of `model::fields`, then the
/// groups' own. Routes apply the ones they hold (see each route's table); any other key is a
/// tag.
pub fn fields() -> impl Iterator<Item = &'static Field> {
    let events = EVENT_FIELDS.iter().filter(|f| f.is(role::SEARCH));
    events.map(|f| &f.field).chain(GROUP_FIELDS.iter())
}

/// The field a key names (by name or alias, case-insensitive).
pub fn find_field(key: &str) -> Option<&'static Field> {
    fields().find(|f| {
        f.name.eq_ignore_ascii_case(key) || f.aliases.iter().any(|a| a.eq_ignore_ascii_case(key))
    })
}

/// A group's status for `is:`.
pub const STATUSES: &[(&str, &str)] = &[
    ("unresolved", "open"),
    ("open", "open"),
    ("resolved", "resolved"),
    ("ignored", "ignored"),
];

/// A comparison of a `key:value` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
        }
    }
}

/// A value as typed: its literal pieces between `*` wildcards (one piece: no wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub Vec<String>);

impl Pattern {
    pub fn literal(text: &str) -> Self {
        Pattern(vec![text.to_string()])
    }
    pub fn is_wildcard(&self) -> bool {
        self.0.len() > 1
    }
    /// The text with no wildcard (the pieces joined by `*` when there are some).
    pub fn text(&self) -> String {
        self.0.join("*")
    }
}

/// What a term asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Free text: a word (or a `*`-ended prefix) or a quoted phrase.
    Text { text: String, phrase: bool },
    /// A field compared with values: `Eq` with one or more (any of), others with one.
    Field {
        field: &'static str,
        op: Op,
        values: Vec<Pattern>,
    },
    /// A tag equal to any of the values.
    Tag { name: String, values: Vec<Pattern> },
    /// `has:` a field or a tag.
    Has {
        field: Option<&'static str>,
        tag: Option<String>,
    },
    /// `is:` a group status (stored name: open, resolved, ignored).
    Status(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub negated: bool,
    pub condition: Condition,
    /// 1-based column of the term's first character, for errors about it later.
    pub column: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    pub terms: Vec<Term>,
}

impl Search {
    /// The terms of a kind, e.g. to refuse `is:` where there are no groups.
    pub fn has_status(&self) -> Option<&Term> {
        self.terms
            .iter()
            .find(|t| matches!(t.condition, Condition::Status(_)))
    }
}

/// A 400 pointing at the token and its column.
pub(super) fn at(column: usize, token: &str, what: impl std::fmt::Display) -> AppError {
    bad(format!("query: {what} at column {column} ('{token}')"))
}

/// A time value: `-1h` (`s`, `m`, `h`, `d`, `w` before now), `2026-12-01`, RFC 3339 or epoch ms.
pub fn time_value(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(rel) = text.strip_prefix('-') {
        let (n, unit) = rel.split_at(rel.len().checked_sub(1)?);
        let n: i64 = n.parse().ok().filter(|n| (0..=100_000).contains(n))?;
        let span = match unit {
            "s" => Duration::seconds(n),
            "m" => Duration::minutes(n),
            "h" => Duration::hours(n),
            "d" => Duration::days(n),
            "w" => Duration::weeks(n),
            _ => return None,
        };
        return Some(now - span);
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc());
    }
    parse_bound(text)
}

/// `[from, to]` of a time term with `:` (no comparison): a date is that whole day, a relative
/// time everything since it, anything else that instant.
pub fn time_range(text: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let t = time_value(text, now)?;
    if text.starts_with('-') {
        Some((t, now))
    } else if NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() {
        Some((t, t + Duration::days(1) - Duration::milliseconds(1)))
    } else {
        Some((t, t))
    }
}

/// The severity numbers of a level's band (`warn` → 13..=16).
pub fn level_band(name: &str) -> (i64, i64) {
    let level = Level::from_name(name).unwrap_or(Level::Info);
    let numbers: Vec<i64> = (1..=24)
        .filter(|n| Level::from_severity_number(*n as u8) == Some(level))
        .collect();
    (
        numbers.first().copied().unwrap_or(9),
        numbers.last().copied().unwrap_or(9),
    )
}

#[cfg(test)]
pub(super) mod testing {
    //! What the stages' tests share: one clock, parameter pairs and a seeded generator.
    use chrono::{DateTime, Utc};

    pub fn now() -> DateTime<Utc> {
        "2026-12-04T12:00:00Z".parse().unwrap()
    }

    pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A small deterministic generator (no randomness between runs: a failure reproduces).
    pub struct Lcg(pub u64);
    impl Lcg {
        pub fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[(self.next() as usize) % items.len()]
        }
    }
}
