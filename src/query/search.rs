//! The search language: what a Sentry or Loki user types into one box, parsed once into terms
//! that every reader applies the same way (`/v1/logs`, `/v1/groups`, `/v1/stats`, alert rules'
//! `match.query` and the live tail).
//!
//! ```text
//! payment "gateway timeout"        free text (full text; a quoted phrase stays one phrase)
//! service:checkout                 a field equals a value
//! !service:checkout -env:dev       not (both prefixes)
//! component:[Auth,Cart]            any of
//! route:/api/*  release:*-rc       * wildcards on text fields
//! priority:>=8  level:>=warn       comparisons on numbers and levels
//! timestamp:>-1h  timestamp:<2026-12-01T00:00:00Z    times, relative or absolute
//! has:user_id  is:unresolved       presence; a group's status
//! is:new_in:1.4.0  assignee:ann*   a group first seen in a release; its assignee
//! tag[region]:eu  region:eu        tags (any key that is not a field is a tag)
//! ```
//!
//! Pure: the parser, the printer (`unparse`), the field table, the SQL of one term and the
//! in-memory matcher the tail hub and alert rules use. Nothing here imports `worker`.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;

use crate::error::{invalid_parameter as bad, AppError};
use crate::model::StoredEvent;
use crate::processors::level::Level;
use crate::processors::timestamp::{format_ts, parse_bound};
use crate::storage::sql::Bind;

/// The longest query accepted, in characters, and the most terms.
pub const MAX_QUERY_CHARS: usize = 2000;
pub const MAX_TERMS: usize = 32;
/// The most `*` in one value: each is a step of SQLite's `LIKE`, which refuses patterns past
/// its complexity limit (and a matcher's work grows with them).
pub const MAX_WILDCARDS: usize = 8;

use crate::model::fields::{role, EVENT_FIELDS};
pub use crate::model::fields::{Field, Kind};

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

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            other => other.as_str(),
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
    /// `LIKE` pattern with `\` as the escape.
    fn like(&self) -> String {
        self.0
            .iter()
            .map(|p| {
                p.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            })
            .collect::<Vec<_>>()
            .join("%")
    }
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

/// A 400 pointing at the token and its column.
fn at(column: usize, token: &str, what: impl std::fmt::Display) -> AppError {
    bad(format!("query: {what} at column {column} ('{token}')"))
}

/// The term's text as typed, for error messages.
pub fn term_text(term: &Term) -> String {
    unparse(&Search {
        terms: vec![term.clone()],
    })
}

/// A term of the search that a route cannot apply: a 400 naming it and what the route takes.
pub fn unsupported(term: &Term, route: &str, takes: &str) -> AppError {
    at(
        term.column,
        &term_text(term),
        format_args!("{route} cannot be filtered so; it takes {takes}"),
    )
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn column(&self) -> usize {
        self.pos + 1
    }
    fn token_from(&self, start: usize) -> String {
        let end = (start..self.chars.len())
            .find(|i| self.chars[*i].is_whitespace())
            .unwrap_or(self.chars.len())
            .max(self.pos.min(self.chars.len()));
        self.chars[start..end].iter().collect()
    }

    /// A value: quoted (with `\"` and `\\`) or bare up to whitespace (or `,`/`]` inside a
    /// list). `*` is a wildcard; `\*` a literal star.
    fn value(&mut self, in_list: bool) -> Result<Pattern, AppError> {
        let start = self.pos;
        let mut pieces = vec![String::new()];
        if self.peek() == Some('"') {
            self.pos += 1;
            loop {
                match self.peek() {
                    None => {
                        return Err(at(start + 1, &self.token_from(start), "an unclosed quote"))
                    }
                    Some('"') => {
                        self.pos += 1;
                        break;
                    }
                    Some('\\') if self.chars.get(self.pos + 1).is_some() => {
                        pieces.last_mut().unwrap().push(self.chars[self.pos + 1]);
                        self.pos += 2;
                    }
                    Some('*') => {
                        pieces.push(String::new());
                        self.pos += 1;
                    }
                    Some(c) => {
                        pieces.last_mut().unwrap().push(c);
                        self.pos += 1;
                    }
                }
            }
            return self.within_wildcards(start, pieces);
        }
        while let Some(c) = self.peek() {
            if c.is_whitespace() || (in_list && (c == ',' || c == ']')) {
                break;
            }
            match c {
                '\\' if self.chars.get(self.pos + 1).is_some() => {
                    pieces.last_mut().unwrap().push(self.chars[self.pos + 1]);
                    self.pos += 2;
                    continue;
                }
                '*' => pieces.push(String::new()),
                '"' => {
                    return Err(at(
                        self.column(),
                        &self.token_from(start),
                        "a quote inside a value (quote the whole value)",
                    ))
                }
                c => pieces.last_mut().unwrap().push(c),
            }
            self.pos += 1;
        }
        self.within_wildcards(start, pieces)
    }

    fn within_wildcards(&self, start: usize, pieces: Vec<String>) -> Result<Pattern, AppError> {
        if pieces.len() > MAX_WILDCARDS + 1 {
            return Err(at(
                start + 1,
                &self.token_from(start),
                format!("more than {MAX_WILDCARDS} wildcards (*) in one value"),
            ));
        }
        Ok(Pattern(pieces))
    }
}

/// Parses a query. An empty query has no terms.
pub fn parse(source: &str) -> Result<Search, AppError> {
    if source.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(format!(
            "query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut lx = Lexer {
        chars: source.chars().collect(),
        pos: 0,
    };
    let mut terms = Vec::new();
    loop {
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        if lx.peek().is_none() {
            break;
        }
        if terms.len() == MAX_TERMS {
            return Err(at(
                lx.column(),
                &lx.token_from(lx.pos),
                format_args!("more than {MAX_TERMS} terms"),
            ));
        }
        terms.push(term(&mut lx)?);
    }
    Ok(Search { terms })
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.:/@".contains(c)
}

fn term(lx: &mut Lexer) -> Result<Term, AppError> {
    let start = lx.pos;
    let column = lx.column();
    let negated = matches!(lx.peek(), Some('!') | Some('-'))
        && lx.chars.get(lx.pos + 1).is_some_and(|c| !c.is_whitespace());
    if negated {
        lx.pos += 1;
    }
    // A key is letters, digits and `_-./@` up to `:` (or `tag[name]:`); anything else is text.
    let key_start = lx.pos;
    let mut key_end = key_start;
    let mut tag_name: Option<String> = None;
    while key_end < lx.chars.len() && is_key_char(lx.chars[key_end]) && lx.chars[key_end] != ':' {
        key_end += 1;
    }
    let key: String = lx.chars[key_start..key_end].iter().collect();
    if key.eq_ignore_ascii_case("tag") && lx.chars.get(key_end) == Some(&'[') {
        let close = (key_end..lx.chars.len()).find(|i| lx.chars[*i] == ']');
        match close {
            Some(close) if lx.chars.get(close + 1) == Some(&':') => {
                tag_name = Some(lx.chars[key_end + 1..close].iter().collect());
                key_end = close;
            }
            _ => {
                return Err(at(
                    column,
                    &lx.token_from(start),
                    "tag[...] needs a name in brackets and then ':'",
                ))
            }
        }
        key_end += 1;
    }
    if key_end == key_start || lx.chars.get(key_end) != Some(&':') {
        // Free text.
        let quoted = lx.peek() == Some('"');
        let value = lx.value(false)?;
        let text = value.0.join("*");
        if text.trim().is_empty() {
            return Err(at(column, &lx.token_from(start), "an empty term"));
        }
        return Ok(Term {
            negated,
            condition: Condition::Text {
                text,
                phrase: quoted,
            },
            column,
        });
    }
    lx.pos = key_end + 1;
    let value_column = lx.column();
    let token = lx.token_from(start);
    if lx.peek().is_none_or(char::is_whitespace) {
        return Err(at(
            value_column,
            &token,
            "a key with no value (quote an empty value as \"\")",
        ));
    }
    let condition = match (&tag_name, key.to_ascii_lowercase().as_str()) {
        (Some(name), _) => Condition::Tag {
            name: valid_tag(name, column, &token)?,
            values: values(lx)?,
        },
        (None, "has") => {
            let v = lx.value(false)?;
            let name = v.text();
            match find_field(&name) {
                Some(f) => Condition::Has {
                    field: Some(f.name),
                    tag: None,
                },
                None => Condition::Has {
                    field: None,
                    tag: Some(valid_tag(&name, value_column, &token)?),
                },
            }
        }
        (None, "is") => {
            let typed = lx.value(false)?.text();
            // `is:new_in:<release>`: a group first seen in that release.
            if let Some(release) = typed
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("new_in:"))
                .map(|_| &typed[7..])
            {
                if release.is_empty() {
                    return Err(at(value_column, &token, "is:new_in: needs a release"));
                }
                Condition::Field {
                    field: "first_release",
                    op: Op::Eq,
                    values: vec![Pattern::literal(release)],
                }
            } else {
                let v = typed.to_ascii_lowercase();
                let status = STATUSES
                    .iter()
                    .find(|(name, _)| *name == v)
                    .map(|(_, stored)| *stored)
                    .ok_or_else(|| {
                        at(
                            value_column,
                            &token,
                            "is: takes unresolved, resolved, ignored or new_in:<release>",
                        )
                    })?;
                Condition::Status(status)
            }
        }
        (None, name) => match find_field(name) {
            Some(f) => field_condition(lx, f, value_column, &token)?,
            None => Condition::Tag {
                name: valid_tag(&key, column, &token)?,
                values: values(lx)?,
            },
        },
    };
    if lx.peek().is_some_and(|c| !c.is_whitespace()) {
        return Err(at(
            lx.column(),
            &token,
            "unexpected text after the value (quote a value with spaces)",
        ));
    }
    Ok(Term {
        negated,
        condition,
        column,
    })
}

fn valid_tag(name: &str, column: usize, token: &str) -> Result<String, AppError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    {
        return Err(at(
            column,
            token,
            format_args!("'{name}' is neither a field nor a tag name (letters, digits and _-.:/)"),
        ));
    }
    Ok(name.to_string())
}

/// One value or `[a, b, …]`.
fn values(lx: &mut Lexer) -> Result<Vec<Pattern>, AppError> {
    if lx.peek() != Some('[') {
        return Ok(vec![lx.value(false)?]);
    }
    let start = lx.pos;
    lx.pos += 1;
    let mut out = Vec::new();
    loop {
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        out.push(lx.value(true)?);
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        match lx.peek() {
            Some(',') => lx.pos += 1,
            Some(']') => {
                lx.pos += 1;
                break;
            }
            _ => return Err(at(start + 1, &lx.token_from(start), "an unclosed [ list")),
        }
    }
    if out.len() > 20 {
        return Err(at(start + 1, "[…]", "more than 20 values in a list"));
    }
    Ok(out)
}

fn field_condition(
    lx: &mut Lexer,
    f: &'static Field,
    column: usize,
    token: &str,
) -> Result<Condition, AppError> {
    let op = [Op::Ge, Op::Le, Op::Gt, Op::Lt]
        .into_iter()
        .find(|op| {
            let s = op.as_str();
            lx.chars[lx.pos..]
                .iter()
                .take(s.len())
                .copied()
                .eq(s.chars())
        })
        .unwrap_or(Op::Eq);
    lx.pos += op.as_str().len();
    if op != Op::Eq && matches!(f.kind, Kind::Text) {
        return Err(at(
            column,
            token,
            format_args!(
                "{} is text: compare it with : or * wildcards, not {}",
                f.name,
                op.as_str()
            ),
        ));
    }
    let values = if op == Op::Eq {
        values(lx)?
    } else {
        vec![lx.value(false)?]
    };
    for v in &values {
        if v.is_wildcard() && f.kind != Kind::Text {
            return Err(at(
                column,
                token,
                format_args!("{} takes no * wildcard", f.name),
            ));
        }
        let text = v.text();
        let ok = match f.kind {
            Kind::Text => true,
            Kind::Level => Level::from_name(&text).is_some(),
            Kind::Number => text.parse::<i64>().is_ok(),
            Kind::Time => time_value(&text, DateTime::UNIX_EPOCH).is_some(),
        };
        if !ok {
            let what = match f.kind {
                Kind::Level => format!("level '{text}' is unknown; use one of {}", Level::names()),
                Kind::Number => format!("{} takes a whole number, not '{text}'", f.name),
                _ => format!(
                    "{} takes a time: RFC 3339, a date, epoch milliseconds or -1h/-30m/-7d",
                    f.name
                ),
            };
            return Err(at(column, token, what));
        }
    }
    // Environments are compared as stored (`prod` is `production`), wildcards as typed.
    let values = if f.name == "environment" {
        values
            .into_iter()
            .map(|v| match v.is_wildcard() {
                false => crate::processors::environment::normalize_environment(&v.text())
                    .map(|env| Pattern::literal(&env))
                    .unwrap_or(v),
                true => v,
            })
            .collect()
    } else {
        values
    };
    if op == Op::Eq && f.kind == Kind::Time && values.len() > 1 {
        return Err(at(column, token, format_args!("{} takes one time", f.name)));
    }
    Ok(Condition::Field {
        field: f.name,
        op,
        values,
    })
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

/// The query as canonical text: `parse(unparse(s)) == s` for every parsed `s`.
pub fn unparse(search: &Search) -> String {
    search
        .terms
        .iter()
        .map(|t| {
            let mut out = String::new();
            if t.negated {
                out.push('!');
            }
            match &t.condition {
                Condition::Text { text, phrase } => {
                    let p = Pattern(text.split('*').map(str::to_string).collect());
                    if *phrase || needs_quotes(&p) || text.starts_with(['!', '-']) {
                        out.push_str(&quoted(&p));
                    } else {
                        out.push_str(&bare(&p));
                    }
                }
                Condition::Field { field, op, values } => {
                    out.push_str(field);
                    out.push(':');
                    out.push_str(op.as_str());
                    out.push_str(&list(values));
                }
                Condition::Tag { name, values } => {
                    if find_field(name).is_some() || ["has", "is", "tag"].contains(&name.as_str()) {
                        out.push_str(&format!("tag[{name}]:"));
                    } else {
                        out.push_str(name);
                        out.push(':');
                    }
                    out.push_str(&list(values));
                }
                Condition::Has { field, tag } => {
                    out.push_str("has:");
                    out.push_str(
                        field
                            .map(str::to_string)
                            .or(tag.clone())
                            .unwrap_or_default()
                            .as_str(),
                    );
                }
                Condition::Status(s) => {
                    out.push_str("is:");
                    out.push_str(if *s == "open" { "unresolved" } else { s });
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn list(values: &[Pattern]) -> String {
    if values.len() == 1 {
        return value_text(&values[0]);
    }
    format!(
        "[{}]",
        values.iter().map(value_text).collect::<Vec<_>>().join(",")
    )
}

fn needs_quotes(p: &Pattern) -> bool {
    let text = p.0.concat();
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || "\"[],:<>=".contains(c))
}

fn value_text(p: &Pattern) -> String {
    if needs_quotes(p) {
        quoted(p)
    } else {
        bare(p)
    }
}

fn escape(piece: &str) -> String {
    piece
        .replace('\\', "\\\\")
        .replace('*', "\\*")
        .replace('"', "\\\"")
}

fn bare(p: &Pattern) -> String {
    p.0.iter().map(|s| escape(s)).collect::<Vec<_>>().join("*")
}

fn quoted(p: &Pattern) -> String {
    format!("\"{}\"", bare(p))
}

// ---------------------------------------------------------------------------------------------
// SQL of one term.

/// The SQL of a field or tag term over `expr` (a column or JSON path expression), negation
/// included: a negated term also keeps rows where the field is absent, as Sentry's `!key:v`.
pub fn field_sql(term: &Term, expr: &str, kind: Kind, now: DateTime<Utc>) -> (String, Vec<Bind>) {
    let (sql, binds) = match &term.condition {
        Condition::Field { op, values, .. } => compare_sql(expr, kind, *op, values, now),
        Condition::Tag { values, .. } => compare_sql(expr, Kind::Text, Op::Eq, values, now),
        Condition::Has { .. } => (format!("{expr} IS NOT NULL"), vec![]),
        Condition::Status(s) => (format!("{expr} = ?"), vec![Bind::Text(s.to_string())]),
        Condition::Text { .. } => ("1".into(), vec![]),
    };
    if term.negated {
        (format!("NOT coalesce({sql}, 0)"), binds)
    } else {
        (sql, binds)
    }
}

fn compare_sql(
    expr: &str,
    kind: Kind,
    op: Op,
    values: &[Pattern],
    now: DateTime<Utc>,
) -> (String, Vec<Bind>) {
    match kind {
        Kind::Text => {
            let mut parts = Vec::new();
            let mut binds = Vec::new();
            let exact: Vec<&Pattern> = values.iter().filter(|v| !v.is_wildcard()).collect();
            if !exact.is_empty() {
                parts.push(format!("{expr} IN ({})", vec!["?"; exact.len()].join(", ")));
                binds.extend(exact.iter().map(|v| Bind::Text(v.text())));
            }
            for v in values.iter().filter(|v| v.is_wildcard()) {
                parts.push(format!("{expr} LIKE ? ESCAPE '\\'"));
                binds.push(Bind::Text(v.like()));
            }
            (or(parts), binds)
        }
        Kind::Level => {
            let (sql, binds): (Vec<String>, Vec<Vec<Bind>>) = values
                .iter()
                .map(|v| {
                    let (low, high) = level_band(&v.text());
                    match op {
                        Op::Eq => (
                            format!("{expr} BETWEEN ? AND ?"),
                            vec![Bind::Int(low), Bind::Int(high)],
                        ),
                        Op::Ge => (format!("{expr} >= ?"), vec![Bind::Int(low)]),
                        Op::Gt => (format!("{expr} > ?"), vec![Bind::Int(high)]),
                        Op::Le => (format!("{expr} <= ?"), vec![Bind::Int(high)]),
                        Op::Lt => (format!("{expr} < ?"), vec![Bind::Int(low)]),
                    }
                })
                .unzip();
            (or(sql), binds.concat())
        }
        Kind::Number => {
            let binds: Vec<Bind> = values
                .iter()
                .map(|v| Bind::Int(v.text().parse().unwrap_or(0)))
                .collect();
            if op == Op::Eq {
                (
                    format!("{expr} IN ({})", vec!["?"; binds.len()].join(", ")),
                    binds,
                )
            } else {
                (format!("{expr} {} ?", op.sql()), binds)
            }
        }
        Kind::Time => {
            let text = values[0].text();
            if op == Op::Eq {
                let (from, to) = time_range(&text, now).unwrap_or((now, now));
                (
                    format!("{expr} BETWEEN ? AND ?"),
                    vec![Bind::Text(format_ts(from)), Bind::Text(format_ts(to))],
                )
            } else {
                let t = time_value(&text, now).unwrap_or(now);
                (
                    format!("{expr} {} ?", op.sql()),
                    vec![Bind::Text(format_ts(t))],
                )
            }
        }
    }
}

fn or(parts: Vec<String>) -> String {
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", parts.join(" OR "))
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

// ---------------------------------------------------------------------------------------------
// Matching one event in memory (the tail hub and alert rules): the same meaning as the SQL.

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

    /// The terms of a kind, e.g. to refuse `is:` where there are no groups.
    pub fn has_status(&self) -> Option<&Term> {
        self.terms
            .iter()
            .find(|t| matches!(t.condition, Condition::Status(_)))
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

/// The FTS5 expression of a free-text term: its words quoted, as one phrase or all required.
pub fn fts_text(text: &str, phrase: bool) -> Option<String> {
    let prefix = text.ends_with('*');
    let w = words(text);
    if w.is_empty() {
        return None;
    }
    let star = if prefix { "*" } else { "" };
    Some(if phrase {
        format!("\"{}\"{star}", w.join(" "))
    } else {
        let last = w.len() - 1;
        w.iter()
            .enumerate()
            .map(|(i, word)| format!("\"{word}\"{}", if i == last { star } else { "" }))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

// ---------------------------------------------------------------------------------------------
// Lowering a search for a route: the terms its query parameters already express become those
// parameters (so `query=` and the parameters give the same answer by construction), the rest
// SQL conditions over the route's table.

/// Query parameters as pairs, in order.
pub type Params = Vec<(String, String)>;

/// A search split for one route.
#[derive(Debug, Default, PartialEq)]
pub struct Lowered {
    pub params: Vec<(String, String)>,
    pub conditions: Vec<(String, Vec<Bind>)>,
    /// The terms behind `conditions`, where a reader matches events in memory too.
    pub terms: Vec<Term>,
}

impl Lowered {
    /// A parameter that takes one value: used once, later terms become conditions (`env:a
    /// env:b` is both, where `environment=a&environment=b` would keep the last).
    pub fn once(&mut self, name: &str, value: String) -> bool {
        if self.params.iter().any(|(n, _)| n == name) {
            return false;
        }
        self.params.push((name.to_string(), value));
        true
    }
}

/// `query=` taken out of the parameters and parsed (the last one, if several).
pub fn take_query(params: &[(String, String)]) -> Result<(Params, Option<Search>), AppError> {
    let mut rest = Vec::with_capacity(params.len());
    let mut search = None;
    for (k, v) in params {
        if k == "query" {
            search = Some(parse(v)?);
        } else {
            rest.push((k.clone(), v.clone()));
        }
    }
    Ok((rest, search))
}

/// The one value of a term that is a plain positive equality (`key:value`, no list, no `*`).
pub fn plain_value(term: &Term) -> Option<String> {
    let values = match &term.condition {
        Condition::Field {
            op: Op::Eq, values, ..
        }
        | Condition::Tag { values, .. } => values,
        _ => return None,
    };
    match values.as_slice() {
        [v] if !term.negated && !v.is_wildcard() => Some(v.text()),
        _ => None,
    }
}

/// The comparison and value of a positive `field:>=v`/`field:<=v` term.
pub fn bound(term: &Term) -> Option<(Op, String)> {
    match &term.condition {
        Condition::Field { op, values, .. } if !term.negated && matches!(op, Op::Ge | Op::Le) => {
            Some((*op, values[0].text()))
        }
        _ => None,
    }
}

/// The field a term names, if it is a field term.
pub fn field_of(term: &Term) -> Option<&'static str> {
    match term.condition {
        Condition::Field { field, .. } => Some(field),
        Condition::Has { field, .. } => field,
        _ => None,
    }
}

/// A tag's value as a JSON path expression over `data` (tag names are letters, digits and
/// `_-.:/`, checked by the parser, so the name cannot leave its quotes).
pub fn tag_expr(name: &str) -> String {
    format!("json_extract(data, '$.tags.\"{name}\"')")
}

/// `level:warn` or `level:[warn,error]` (positive, no wildcard) as the `level` parameter's list.
pub fn level_names(term: &Term) -> Option<String> {
    match &term.condition {
        Condition::Field {
            field: "level",
            op: Op::Eq,
            values,
        } if !term.negated && !values.iter().any(Pattern::is_wildcard) => Some(
            values
                .iter()
                .map(Pattern::text)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::groups::{parse_group_query, parse_group_search};
    use crate::query::logs::{parse_log_query, parse_log_search};
    use crate::query::stats::{parse_stats_query, parse_stats_search};

    fn now() -> DateTime<Utc> {
        "2026-12-04T12:00:00Z".parse().unwrap()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_form() {
        let cases: &[(&str, &str)] = &[
            ("payment", "payment"),
            ("\"gateway timeout\"", "\"gateway timeout\""),
            ("service:checkout", "service:checkout"),
            (
                "!service:checkout -env:dev",
                "!service:checkout !environment:development",
            ),
            ("component:[Auth, Cart]", "component:[Auth,Cart]"),
            ("route:/api/*", "route:/api/*"),
            ("priority:>=8 level:>=warn", "priority:>=8 level:>=warn"),
            ("timestamp:>-1h", "timestamp:>-1h"),
            ("has:user_id has:region", "has:user_id has:region"),
            (
                "is:unresolved is:resolved is:ignored",
                "is:unresolved is:resolved is:ignored",
            ),
            ("tag[region]:eu region:eu", "region:eu region:eu"),
            ("tag[service]:x", "tag[service]:x"),
            ("release:\"1.0 beta\"", "release:\"1.0 beta\""),
            ("error.type:TypeError", "error_type:TypeError"),
            ("user.id:42 trace:abc", "user_id:42 trace_id:abc"),
            ("message:\"a\\\"b\"", "message:\"a\\\"b\""),
            ("  pay*  ", "pay*"),
            ("release:1.0\\*", "release:1.0\\*"),
            ("", ""),
        ];
        for (query, canonical) in cases {
            let s = parse(query).unwrap_or_else(|e| panic!("{query}: {}", e.message()));
            assert_eq!(unparse(&s), *canonical, "{query}");
        }
    }

    #[test]
    fn refuses_with_the_token_and_its_column() {
        let cases: &[(&str, &str)] = &[
            ("service:", "column 9"),
            ("level:loud", "level 'loud' is unknown"),
            ("a \"unclosed", "column 3"),
            ("priority:>=high", "whole number"),
            ("priority:8*", "no * wildcard"),
            ("service:>x", "service is text"),
            ("is:maybe", "is: takes unresolved"),
            ("timestamp:>yesterday", "takes a time"),
            ("tag[]:x", "neither a field nor a tag"),
            ("tag[a:x", "tag[...] needs a name"),
            ("component:[a,b", "unclosed [ list"),
            ("x:a\"b", "quote inside a value"),
            ("has:\"bad name\"", "neither a field nor a tag"),
        ];
        for (query, wanted) in cases {
            let err = parse(query).unwrap_err().message();
            assert!(err.contains(wanted), "{query}: {err}");
            assert!(err.starts_with("query: "), "{query}: {err}");
        }
        let err = parse("ok level:loud").unwrap_err().message();
        assert!(err.contains("at column 10 ('level:loud')"), "{err}");
        let long = "a ".repeat(MAX_TERMS + 1);
        assert!(parse(&long).unwrap_err().message().contains("more than"));
    }

    #[test]
    fn routes_refuse_what_they_cannot_apply() {
        let refuse = |r: Result<(), AppError>, wanted: &str| {
            let m = r.unwrap_err().message();
            assert!(m.contains(wanted), "{m}");
        };
        refuse(
            parse_log_search(&pairs(&[("query", "x is:resolved")]), now()).map(|_| ()),
            "column 3 ('is:resolved')",
        );
        refuse(
            parse_log_search(&pairs(&[("query", "count:>5")]), now()).map(|_| ()),
            "/v1/logs cannot",
        );
        refuse(
            parse_group_search(&pairs(&[("query", "region:eu")]), now()).map(|_| ()),
            "/v1/groups cannot",
        );
        refuse(
            parse_stats_search(&pairs(&[("query", "!level:error")]), now()).map(|_| ()),
            "/v1/stats cannot",
        );
    }

    /// A small deterministic generator (no randomness between runs: a failure reproduces).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[(self.next() as usize) % items.len()]
        }
    }

    const WORDS: &[&str] = &[
        "checkout", "a b", "x\"y", "/api/:id", "1.0", "é", "x*", "[z]", "k:v",
    ];

    /// Every parameter the search language says the same way: for random sets of them, the
    /// parameters and the equivalent `query=` parse into the same query.
    #[test]
    fn parameters_and_query_give_the_same_query() {
        let mut rng = Lcg(7);
        for _ in 0..3000 {
            let mut params: Vec<(String, String)> = Vec::new();
            let mut terms: Vec<String> = Vec::new();
            for _ in 0..(rng.next() % 5) {
                let value = rng.pick(WORDS).to_string();
                let quoted = value_text(&Pattern::literal(&value));
                match rng.next() % 9 {
                    0 => {
                        let f = *rng.pick(&[
                            "service",
                            "component",
                            "route",
                            "release",
                            "trace_id",
                            "user_id",
                        ]);
                        params.push((f.into(), value));
                        terms.push(format!("{f}:{quoted}"));
                    }
                    1 if !params.iter().any(|(k, _)| k == "environment") => {
                        params.push(("environment".into(), "production".into()));
                        terms.push("env:prod".into());
                    }
                    2 if !params.iter().any(|(k, _)| k == "level") => {
                        params.push(("level".into(), "warn,error".into()));
                        terms.push("level:[warn,error]".into());
                    }
                    3 if !params.iter().any(|(k, _)| k == "min_level") => {
                        params.push(("min_level".into(), "error".into()));
                        terms.push("level:>=error".into());
                    }
                    4 => {
                        params.push(("tag.region".into(), value));
                        terms.push(format!("tag[region]:{quoted}"));
                    }
                    5 if !params.iter().any(|(k, _)| k == "from") => {
                        params.push(("from".into(), "2026-12-04T11:00:00.000Z".into()));
                        terms.push("timestamp:>=-1h".into());
                    }
                    6 if !params.iter().any(|(k, _)| k == "to") => {
                        params.push(("to".into(), "2026-12-01T00:00:00.000Z".into()));
                        terms.push("timestamp:<=2026-12-01".into());
                    }
                    7 if !params.iter().any(|(k, _)| k == "project") => {
                        params.push(("project".into(), "shop".into()));
                        terms.push("project:shop".into());
                    }
                    _ => {}
                }
            }
            let query = terms.join(" ");
            let by_params = parse_log_query(&params);
            let by_query = parse_log_search(&pairs(&[("query", &query)]), now());
            match (by_params, by_query) {
                (Ok(mut a), Ok(mut b)) => {
                    // The same filters, bound in the same order within each kind.
                    a.exact.sort();
                    b.exact.sort();
                    a.tags.sort();
                    b.tags.sort();
                    // The search remembers its clock; parameters have none to remember.
                    b.now = None;
                    assert_eq!(a, b, "{query}");
                }
                (a, b) => panic!("{query}: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
            }
        }
    }

    #[test]
    fn groups_and_stats_take_their_parameters_as_query() {
        let groups = [
            (vec![("status", "resolved")], "is:resolved"),
            (
                vec![("status", "open"), ("level", "error")],
                "is:unresolved level:error",
            ),
            (
                vec![("component", "Auth"), ("q", "timeout")],
                "component:Auth timeout",
            ),
            (
                vec![("min_level", "warn"), ("project", "p")],
                "level:>=warn project:p",
            ),
        ];
        for (params, query) in groups {
            let a = parse_group_query(&pairs(&params)).unwrap();
            let b = parse_group_search(&pairs(&[("query", query)]), now()).unwrap();
            assert_eq!(a.to_sql(), b.to_sql(), "{query}");
        }
        let stats = [
            (
                vec![("level", "error,critical,alert,fatal,emergency")],
                "level:>=error",
            ),
            (
                vec![("component", "Auth"), ("environment", "production")],
                "component:Auth env:prod",
            ),
            (vec![("from", "2026-12-04T11:00:00.000Z")], "timestamp:>-1h"),
        ];
        for (params, query) in stats {
            let a = parse_stats_query(&pairs(&params), now()).unwrap();
            let b = parse_stats_search(&pairs(&[("query", query)]), now()).unwrap();
            assert_eq!(a, b, "{query}");
        }
    }

    /// Random queries print and parse back to themselves.
    #[test]
    fn unparse_round_trips() {
        let mut rng = Lcg(11);
        let atoms = [
            "svc",
            "\"two words\"",
            "-x",
            "!service:a",
            "component:[a,\"b c\"]",
            "route:/a/*",
            "priority:>3",
            "level:<=info",
            "timestamp:<-2d",
            "has:trace_id",
            "is:ignored",
            "tag[k.v]:\"q\\\"\"",
            "zone:eu*",
            "release:1.0\\*",
            "pay*",
            "user:\"\"",
        ];
        for _ in 0..2000 {
            let q: Vec<&str> = (0..(1 + rng.next() % 6))
                .map(|_| *rng.pick(&atoms))
                .collect();
            let q = q.join(" ");
            let parsed = parse(&q).unwrap_or_else(|e| panic!("{q}: {}", e.message()));
            let printed = unparse(&parsed);
            let again = parse(&printed).unwrap();
            assert_eq!(
                strip_columns(again),
                strip_columns(parsed),
                "{q} → {printed}"
            );
            assert_eq!(unparse(&parse(&printed).unwrap()), printed);
        }
    }

    fn strip_columns(mut s: Search) -> Search {
        for t in &mut s.terms {
            t.column = 0;
        }
        s
    }

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

    #[test]
    fn sql_of_negations_keeps_rows_without_the_field() {
        let s = parse("!service:a").unwrap();
        let (sql, binds) = field_sql(&s.terms[0], "service", Kind::Text, now());
        assert_eq!(sql, "NOT coalesce(service IN (?), 0)");
        assert_eq!(binds, vec![Bind::Text("a".into())]);
        let s = parse("route:[/a/*,/b]").unwrap();
        let (sql, binds) = field_sql(&s.terms[0], "route", Kind::Text, now());
        assert_eq!(sql, "(route IN (?) OR route LIKE ? ESCAPE '\\')");
        assert_eq!(
            binds,
            vec![Bind::Text("/b".into()), Bind::Text("/a/%".into())]
        );
        let s = parse("x:50%_*").unwrap();
        let (_, binds) = field_sql(&s.terms[0], "x", Kind::Text, now());
        assert_eq!(binds, vec![Bind::Text("50\\%\\_%".into())]);
    }
}
