//! `GET /v1/logs` query parameters into one SQL statement with `?` binds (D1 takes no named
//! parameters), plus the opaque keyset cursor over `(received_at, id)`.
//!
//! Pure: no D1 here. Every user value is bound, never spliced into SQL; column names come from
//! a fixed table.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::error::{invalid_parameter as bad, AppError};
use crate::model::StoredEvent;
use crate::processors::environment::normalize_environment;
use crate::processors::level::{parse_level, Level};
use crate::processors::timestamp::{format_ts, parse_bound, parse_text};
use crate::query::search::{
    bound, field_of, field_sql, find_field, fts_text, level_names, plain_value, tag_expr,
    take_query, time_value, unsupported, Condition, Kind, Lowered, Op, Search, Term,
};
use crate::storage::sql::{within_bind_limit, Bind, SqlQuery, Where};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
/// The largest `limit` of `GET /v1/alerts` and of `GET /v1/dead-letters`.
pub const MAX_ALERTS_LIMIT: usize = 500;
pub const MAX_DEAD_LETTERS_LIMIT: usize = 1000;

/// `limit=` on any list route: a whole number from 1 to the route's `max` (as the OpenAPI
/// document declares it; above it is a 400, not a silent cap).
pub fn parse_limit(value: &str, max: usize) -> Result<usize, AppError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            bad(format!(
                "limit '{value}' is not a whole number from 1 to {max}"
            ))
        })
}

/// Whether a query parameter is an exact-match filter (on the generated column of its name).
fn is_filter(name: &str) -> bool {
    crate::model::fields::names(crate::model::fields::role::FILTER).any(|f| f == name)
}

/// Parameters that are not filters but are allowed on every route (`key` is auth's).
const OTHER_PARAMS: &[&str] = &[
    "level",
    "min_level",
    "environment",
    "project",
    "q",
    "from",
    "to",
    "limit",
    "cursor",
    "key",
    "query",
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogQuery {
    /// Asked for with `project=`; the handler then narrows it to what the key may see.
    pub project: Option<String>,
    pub levels: Vec<String>,
    pub min_severity: Option<u8>,
    pub environment: Option<String>,
    pub exact: Vec<(&'static str, String)>,
    pub tags: Vec<(String, String)>,
    pub text: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: usize,
    pub cursor: Option<(String, String)>,
    /// How a full-text page is found; see [`TextPlan`].
    pub text_plan: TextPlan,
    /// A `q` with no searchable word: nothing matches.
    pub match_nothing: bool,
    /// The terms of `query=` no parameter expresses, as SQL (see `search::Lowered`).
    pub conditions: Vec<(String, Vec<Bind>)>,
    /// The search terms behind `conditions`, for shards that match events in memory.
    pub terms: Vec<Term>,
    /// A group's fingerprint and those merged into it (also in `conditions`).
    pub fingerprints: Vec<String>,
    /// The clock `query=`'s relative times were read with.
    pub now: Option<String>,
}

/// A group's events: its own fingerprint's and those merged into it, as one condition.
pub fn any_fingerprint(fingerprints: &[String]) -> (String, Vec<Bind>) {
    let marks = vec!["?"; fingerprints.len()].join(", ");
    (
        format!("fingerprint IN ({marks})"),
        fingerprints.iter().cloned().map(Bind::Text).collect(),
    )
}

impl LogQuery {
    /// `fingerprint=` asks for a group: with the fingerprints merged into it, the filter becomes
    /// all of them.
    pub fn widen_fingerprint(&mut self, merged: &[String]) {
        let Some(at) = self.exact.iter().position(|(k, _)| *k == "fingerprint") else {
            return;
        };
        if merged.is_empty() {
            return;
        }
        let (_, own) = self.exact.remove(at);
        let all: Vec<String> = std::iter::once(own).chain(merged.iter().cloned()).collect();
        self.conditions.push(any_fingerprint(&all));
        self.fingerprints = all;
    }

    /// The fingerprint asked for with `fingerprint=`, if any.
    pub fn fingerprint(&self) -> Option<&str> {
        self.exact
            .iter()
            .find(|(k, _)| *k == "fingerprint")
            .map(|(_, v)| v.as_str())
    }
}

/// Two ways to find the newest page of full-text matches; which is fast depends on how many
/// rows match, so the edge counts them first (bounded by `text_match_probe`).
///
/// Measured at 1 M events (BENCHMARKS.md): sorting 10,000 matches by `received_at` takes about
/// 50 ms (each match's `received_at` is read from its JSON), while walking the `received_at`
/// index newest first and keeping rows whose `seq` is in the match set takes 2–4 ms; for a
/// term matching 200 rows the walk crosses the whole index (70 ms) and the sort takes 3 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextPlan {
    /// Collect the matches, sort them: best when few rows match.
    #[default]
    SortMatches,
    /// Walk `events_received` newest first, testing membership: best when many rows match.
    WalkNewest,
}

/// Above this many matches walking the newest-first index beats sorting the matches.
pub const WALK_NEWEST_ABOVE: i64 = 2000;

/// Counts the matches of an FTS query, stopping just past [`WALK_NEWEST_ABOVE`].
pub fn text_match_probe(text: &str) -> SqlQuery {
    SqlQuery {
        sql:
            "SELECT count(*) AS n FROM (SELECT 1 FROM events_fts WHERE events_fts MATCH ? LIMIT ?)"
                .into(),
        binds: vec![
            Bind::Text(text.to_string()),
            Bind::Int(WALK_NEWEST_ABOVE + 1),
        ],
    }
}

impl LogQuery {
    /// The plan for this query once the number of text matches (capped) is known. Walking only
    /// pays when nothing but time, project and cursor narrows the rows: another filter has an
    /// index of its own that the walk would bypass.
    pub fn plan_text(&mut self, matches: i64) {
        let only_text = self.levels.is_empty()
            && self.min_severity.is_none()
            && self.environment.is_none()
            && self.exact.is_empty()
            && self.tags.is_empty()
            && self.conditions.is_empty();
        self.text_plan = if only_text && matches > WALK_NEWEST_ABOVE {
            TextPlan::WalkNewest
        } else {
            TextPlan::SortMatches
        };
    }
}

/// Parameters whose empty value is refused: they are numbers, times, names or cursors, and the
/// OpenAPI document declares no empty value for them. An empty text filter means no filter.
pub const TYPED_PARAMS: &[&str] = &[
    "level",
    "min_level",
    "from",
    "to",
    "limit",
    "cursor",
    "sort",
    "status",
    "window",
    "bucket",
    "by",
];

/// `Err` for an empty value of a [`TYPED_PARAMS`] parameter.
/// A parameter no route can use: an empty typed value, or a control character (a NUL would
/// reach SQLite's full-text parser, which cannot take it).
pub fn refuse_unusable(key: &str, value: &str) -> Result<(), AppError> {
    if value.is_empty() && TYPED_PARAMS.contains(&key) {
        return Err(bad(format!("{key} is empty; leave it out for no {key}")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(bad(format!(
            "{key} holds the control character U+{:04X}; send text without it",
            c as u32
        )));
    }
    Ok(())
}

pub fn parse_log_query(params: &[(String, String)]) -> Result<LogQuery, AppError> {
    let mut q = LogQuery {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for (key, value) in params {
        let value = value.trim();
        refuse_unusable(key, value)?;
        if let Some(tag) = key.strip_prefix("tag.") {
            if tag.is_empty()
                || tag.len() > 128
                || !tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
            {
                return Err(bad(format!(
                    "'{key}' is not a valid tag filter; tag names are letters, digits and _-.:/"
                )));
            }
            q.tags.push((tag.to_string(), value.to_string()));
            continue;
        }
        if let Some(column) =
            crate::model::fields::names(crate::model::fields::role::FILTER).find(|name| name == key)
        {
            if !value.is_empty() {
                q.exact.push((column, value.to_string()));
            }
            continue;
        }
        match key.as_str() {
            "level" => q.levels.extend(parse_level_list(value)?),
            "min_level" if !value.is_empty() => {
                let sev = parse_level(Some(&serde_json::Value::String(value.to_string())))
                    .map_err(|e| bad(format!("min_level: {e}")))?;
                // A name means "this level and worse": its whole band.
                q.min_severity = Some(if Level::from_name(value).is_some() {
                    band_start(sev.level)
                } else {
                    sev.number
                });
            }
            "environment" if !value.is_empty() => q.environment = normalize_environment(value),
            "project" if !value.is_empty() => q.project = Some(value.to_string()),
            // Punctuation alone searches for nothing: an empty page, as a search box answers.
            "q" if !value.is_empty() => match fts_query(value) {
                Ok(text) => q.text = Some(text),
                Err(_) => q.match_nothing = true,
            },
            "from" if !value.is_empty() => q.from = Some(parse_time_param(key, value)?),
            "to" if !value.is_empty() => q.to = Some(parse_time_param(key, value)?),
            "limit" if !value.is_empty() => q.limit = parse_limit(value, MAX_LIMIT)?,
            "cursor" if !value.is_empty() => q.cursor = Some(decode_cursor(value)?),
            k if OTHER_PARAMS.contains(&k) => {}
            other => {
                let known: Vec<&str> =
                    crate::model::fields::names(crate::model::fields::role::FILTER)
                        .chain(OTHER_PARAMS.iter().copied().filter(|p| *p != "key"))
                        .collect();
                return Err(bad(format!(
                    "unknown query parameter '{other}'; known: {}, tag.<name>",
                    known.join(", ")
                )));
            }
        }
    }
    within_bind_limit(&q.to_sql())?;
    Ok(q)
}

/// The parameters of `GET /v1/logs` with its `query=` (the search language) applied.
pub fn parse_log_search(
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<LogQuery, AppError> {
    let (mut params, search) = take_query(params)?;
    let Some(search) = search else {
        return parse_log_query(&params);
    };
    let lowered = lower_for_logs(&search, now)?;
    params.extend(lowered.params);
    let mut q = parse_log_query(&params)?;
    q.conditions = lowered.conditions;
    q.terms = lowered.terms;
    q.now = Some(format_ts(now));
    within_bind_limit(&q.to_sql())?;
    Ok(q)
}

/// An event field as a SQL expression over the shards' `events` table.
pub fn logs_expr(field: &str) -> Option<&'static str> {
    Some(match field {
        "level" | "severity" => "severity_number",
        "priority" => "json_extract(data, '$.priority')",
        "timestamp" => "ts",
        "span_id" => "json_extract(data, '$.span_id')",
        "count" | "first_seen" | "last_seen" => return None,
        other => crate::query::search::fields()
            .find(|f| f.name == other)
            .map(|f| f.name)?,
    })
}

/// A search for `/v1/logs`: what its parameters say as parameters, the rest as conditions.
pub fn lower_for_logs(search: &Search, now: DateTime<Utc>) -> Result<Lowered, AppError> {
    let mut out = Lowered::default();
    let mut words: Vec<String> = Vec::new();
    for term in &search.terms {
        let field = field_of(term);
        match &term.condition {
            Condition::Text { text, phrase } => {
                if !term.negated && !phrase {
                    words.push(text.clone());
                    continue;
                }
                let not = if term.negated { "NOT " } else { "" };
                out.terms.push(term.clone());
                match fts_text(text, *phrase) {
                    Some(fts) => out.conditions.push((
                        format!(
                            "seq {not}IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)"
                        ),
                        vec![Bind::Text(fts)],
                    )),
                    None if term.negated => {}
                    None => out.conditions.push(("0".into(), vec![])),
                }
                continue;
            }
            Condition::Status(_) => {
                return Err(unsupported(
                    term,
                    "/v1/logs",
                    "event fields and tags (is: applies to /v1/groups)",
                ))
            }
            Condition::Tag { name, .. } => {
                if let Some(v) = plain_value(term) {
                    out.params.push((format!("tag.{name}"), v));
                } else {
                    out.terms.push(term.clone());
                    out.conditions
                        .push(field_sql(term, &tag_expr(name), Kind::Text, now));
                }
                continue;
            }
            Condition::Has {
                tag: Some(name), ..
            } => {
                out.terms.push(term.clone());
                out.conditions
                    .push(field_sql(term, &tag_expr(name), Kind::Text, now));
                continue;
            }
            _ => {}
        }
        let field = field.unwrap_or_default();
        let Some(expr) = logs_expr(field) else {
            return Err(unsupported(
                term,
                "/v1/logs",
                "event fields and tags (count, first_seen and last_seen are groups')",
            ));
        };
        let plain = plain_value(term);
        let taken = match (field, &plain, bound(term)) {
            (f, Some(v), _) if is_filter(f) => {
                out.params.push((f.to_string(), v.clone()));
                true
            }
            ("environment" | "project", Some(v), _) => out.once(field, v.clone()),
            ("level", _, Some((Op::Ge, v))) => out.once("min_level", v),
            ("level", _, _) => match level_names(term) {
                Some(names) => out.once("level", names),
                None => false,
            },
            ("timestamp", _, Some((op, v))) => {
                let name = if op == Op::Ge { "from" } else { "to" };
                match time_value(&v, now) {
                    Some(t) => out.once(name, format_ts(t)),
                    None => false,
                }
            }
            _ => false,
        };
        if !taken {
            let kind = find_field(field).map(|f| f.kind).unwrap_or(Kind::Text);
            out.terms.push(term.clone());
            out.conditions.push(field_sql(term, expr, kind, now));
        }
    }
    if !words.is_empty() {
        out.params.push(("q".into(), words.join(" ")));
    }
    Ok(out)
}

/// The lowest severity number of a level's band (`warn` → 13, so `min_level=warn` keeps 13–24).
fn band_start(level: Level) -> u8 {
    (1..=24)
        .find(|n| Level::from_severity_number(*n) == Some(level))
        .unwrap_or(1)
}

/// `error,WARNING` → `["error", "warn"]`; an unknown name is a 400 naming it.
pub fn parse_level_list(value: &str) -> Result<Vec<String>, AppError> {
    let mut levels: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim) {
        if name.is_empty() {
            return Err(bad(format!(
                "level '{value}' has an empty name; list levels as info,warn"
            )));
        }
        let level = Level::from_name(name).ok_or_else(|| {
            bad(format!(
                "level '{name}' is unknown; use one of {}",
                Level::names()
            ))
        })?;
        // `error,err,error` is one level: each distinct one is bound once.
        if !levels.iter().any(|l| l == level.as_str()) {
            levels.push(level.as_str().to_string());
        }
    }
    Ok(levels)
}

/// A `from`/`to` parameter: RFC 3339 or epoch milliseconds.
pub fn parse_time(key: &str, value: &str) -> Result<DateTime<Utc>, AppError> {
    parse_bound(value).ok_or_else(|| {
        bad(format!(
            "{key} '{value}' is not RFC 3339 or epoch milliseconds"
        ))
    })
}

/// A `from`/`to` parameter as stored time text.
pub fn parse_time_param(key: &str, value: &str) -> Result<String, AppError> {
    parse_time(key, value).map(format_ts)
}

/// User text into an FTS5 query that cannot be a syntax error: every word a quoted phrase,
/// all words required; a trailing `*` keeps prefix search.
pub fn fts_query(text: &str) -> Result<String, AppError> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w, true),
                None => (word, false),
            };
            if !word.chars().any(char::is_alphanumeric) {
                return None;
            }
            let quoted = format!("\"{}\"", word.replace('"', "\"\""));
            Some(if prefix { format!("{quoted}*") } else { quoted })
        })
        .take(16)
        .collect();
    if terms.is_empty() {
        return Err(bad("q has no searchable words"));
    }
    Ok(terms.join(" "))
}

/// The stored time form a cursor position starts with: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub const CURSOR_TIME_PATTERN: &str =
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z";

/// A page position: `<received_at>_<id>`. Opaque to clients, but every string of this shape
/// is a valid position (the keyset compares it as text), so the OpenAPI document can declare
/// it as a pattern and any cursor that matches it is accepted.
pub fn encode_cursor(received_at: &str, id: &str) -> String {
    format!("{received_at}_{id}")
}

/// `<time>_<rest>` with the time in the stored form; `rest` non-empty.
pub fn split_cursor(cursor: &str) -> Option<(&str, &str)> {
    static TIME: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let time = TIME.get_or_init(|| {
        regex::Regex::new(&format!("^{CURSOR_TIME_PATTERN}$")).expect("cursor time pattern")
    });
    let (at, rest) = cursor.split_at_checked(24)?;
    let rest = rest.strip_prefix('_')?;
    (time.is_match(at) && !rest.is_empty()).then_some((at, rest))
}

pub fn decode_cursor(cursor: &str) -> Result<(String, String), AppError> {
    if let Some((received_at, id)) = split_cursor(cursor) {
        return Ok((received_at.to_string(), id.to_string()));
    }
    // The base64 form of earlier releases, so a listing paged across an upgrade continues.
    let invalid = || bad("cursor is not one this API issued; start again without it");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (received_at, id) = text.split_once('|').ok_or_else(invalid)?;
    if parse_text(received_at).is_none() || id.is_empty() {
        return Err(invalid());
    }
    Ok((received_at.to_string(), id.to_string()))
}

impl LogQuery {
    /// The page query: newest first, one row more than the limit to know whether a next page exists.
    pub fn to_sql(&self) -> SqlQuery {
        let mut w = Where::default();
        if let Some(project) = &self.project {
            w.add("project = ?", [Bind::Text(project.clone())]);
        }
        w.any_of("level", &self.levels);
        if let Some(min) = self.min_severity {
            w.add("severity_number >= ?", [Bind::Int(min as i64)]);
        }
        if let Some(env) = &self.environment {
            w.add("environment = ?", [Bind::Text(env.clone())]);
        }
        for (column, value) in &self.exact {
            w.add(format!("{column} = ?"), [Bind::Text(value.clone())]);
        }
        for (tag, value) in &self.tags {
            w.add(
                "json_extract(data, ?) = ?",
                [
                    Bind::Text(format!("$.tags.\"{tag}\"")),
                    Bind::Text(value.clone()),
                ],
            );
        }
        if self.match_nothing {
            w.add("0", []);
        }
        for (condition, binds) in &self.conditions {
            w.add(condition.clone(), binds.iter().cloned());
        }
        if let Some(text) = &self.text {
            w.add(
                "seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)",
                [Bind::Text(text.clone())],
            );
        }
        if let Some(from) = &self.from {
            w.add("ts >= ?", [Bind::Text(from.clone())]);
        }
        if let Some(to) = &self.to {
            w.add("ts <= ?", [Bind::Text(to.clone())]);
        }
        if let Some((received_at, id)) = &self.cursor {
            w.add(
                "(received_at, id) < (?, ?)",
                [Bind::Text(received_at.clone()), Bind::Text(id.clone())],
            );
        }
        let (where_clause, mut binds) = w.finish();
        binds.push(Bind::Int(self.limit as i64 + 1));
        SqlQuery {
            sql: format!(
                "SELECT data FROM events{index}{where_clause} ORDER BY received_at DESC, id DESC LIMIT ?",
                index = match (&self.text, self.text_plan) {
                    (Some(_), TextPlan::WalkNewest) => " INDEXED BY events_received",
                    _ => "",
                }
            ),
            binds,
        }
    }
}

impl LogQuery {
    /// The query as a shard matches it over the events of its blocks.
    pub fn filter(&self) -> crate::query::filter::EventFilter {
        crate::query::filter::EventFilter {
            project: self.project.clone(),
            levels: self.levels.clone(),
            min_severity: self.min_severity,
            environment: self.environment.clone(),
            exact: self
                .exact
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            tags: self.tags.clone(),
            text: self.text.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            cursor: self.cursor.clone(),
            match_nothing: self.match_nothing,
            fingerprints: self.fingerprints.clone(),
            search: crate::query::search::unparse(&Search {
                terms: self.terms.clone(),
            }),
            now: self.now.clone(),
        }
    }
}

/// Rows of `data` (limit + 1 of them at most) into the page and the next cursor.
pub fn into_page(
    rows: Vec<String>,
    limit: usize,
) -> Result<(Vec<StoredEvent>, Option<String>), AppError> {
    let has_more = rows.len() > limit;
    let events: Vec<StoredEvent> = rows
        .iter()
        .take(limit)
        .map(|data| {
            serde_json::from_str(data)
                .map_err(|e| AppError::Internal(format!("stored event is not valid: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let next = if has_more {
        events.last().map(|e| encode_cursor(&e.received_at, &e.id))
    } else {
        None
    };
    Ok((events, next))
}

/// An event as the detail routes answer it (`GET /v1/logs/{id}`, a group's recent events): the
/// stored event plus its stack parsed into frames, innermost first. Frames are parsed when read,
/// not stored: they are derived from `error.stack`, and a detail page reads a few events at most.
#[derive(Debug, serde::Serialize)]
pub struct DetailedEvent {
    #[serde(flatten)]
    pub event: StoredEvent,
    pub stack_frames: Vec<crate::processors::stack::Frame>,
}

impl From<StoredEvent> for DetailedEvent {
    fn from(event: StoredEvent) -> Self {
        let stack_frames = event
            .error
            .as_ref()
            .and_then(|e| e.stack.as_deref())
            .map(crate::processors::stack::parse_stack)
            .unwrap_or_default();
        DetailedEvent {
            event,
            stack_frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sql(pairs: &[(&str, &str)]) -> SqlQuery {
        parse_log_query(&params(pairs)).unwrap().to_sql()
    }

    #[test]
    fn where_keeps_binds_in_condition_order_and_skips_an_empty_in_list() {
        let mut w = Where::default();
        w.add("a = ?", [Bind::Int(1)]);
        w.any_of("level", &[]);
        w.any_of("env", &["x".into(), "y".into()]);
        let (clause, binds) = w.finish();
        assert_eq!(clause, " WHERE a = ? AND env IN (?, ?)");
        assert_eq!(
            binds,
            vec![Bind::Int(1), Bind::Text("x".into()), Bind::Text("y".into())]
        );
        assert_eq!(Where::default().finish(), (String::new(), vec![]));
    }

    #[test]
    fn limit_is_from_one_and_capped_at_the_route_maximum() {
        assert_eq!(parse_limit("20", 500).unwrap(), 20);
        assert_eq!(parse_limit("500", 500).unwrap(), 500);
        assert!(
            parse_limit("501", 500).is_err(),
            "above the maximum is refused, not capped"
        );
        for bad in ["0", "-1", "ten", "1.5"] {
            let e = parse_limit(bad, 500).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }

    #[test]
    fn no_filters_is_the_newest_page() {
        let q = sql(&[]);
        assert_eq!(
            q.sql,
            "SELECT data FROM events ORDER BY received_at DESC, id DESC LIMIT ?"
        );
        assert_eq!(q.binds, vec![Bind::Int(101)]);
    }

    /// (query parameters, SQL fragment expected, leading binds expected)
    type FilterCase<'a> = (Vec<(&'a str, &'a str)>, &'a str, Vec<Bind>);

    #[test]
    fn each_filter_binds_its_value() {
        let cases: Vec<FilterCase> = vec![
            (
                vec![("level", "error,WARNING")],
                "level IN (?, ?)",
                vec![Bind::Text("error".into()), Bind::Text("warn".into())],
            ),
            (
                vec![("min_level", "warn")],
                "severity_number >= ?",
                vec![Bind::Int(13)],
            ),
            (
                vec![("min_level", "18")],
                "severity_number >= ?",
                vec![Bind::Int(18)],
            ),
            (
                vec![("environment", "prod")],
                "environment = ?",
                vec![Bind::Text("production".into())],
            ),
            (
                vec![("service", "api")],
                "service = ?",
                vec![Bind::Text("api".into())],
            ),
            (
                vec![("source_type", "ui")],
                "source_type = ?",
                vec![Bind::Text("ui".into())],
            ),
            (
                vec![("component", "Auth")],
                "component = ?",
                vec![Bind::Text("Auth".into())],
            ),
            (
                vec![("endpoint", "/a/1")],
                "endpoint = ?",
                vec![Bind::Text("/a/1".into())],
            ),
            (
                vec![("route", "/a/:id")],
                "route = ?",
                vec![Bind::Text("/a/:id".into())],
            ),
            (
                vec![("fingerprint", "abc")],
                "fingerprint = ?",
                vec![Bind::Text("abc".into())],
            ),
            (
                vec![("error_kind", "exception")],
                "error_kind = ?",
                vec![Bind::Text("exception".into())],
            ),
            (
                vec![("trace_id", "t")],
                "trace_id = ?",
                vec![Bind::Text("t".into())],
            ),
            (
                vec![("request_id", "r")],
                "request_id = ?",
                vec![Bind::Text("r".into())],
            ),
            (
                vec![("user_id", "u")],
                "user_id = ?",
                vec![Bind::Text("u".into())],
            ),
            (
                vec![("tag.region", "eu")],
                "json_extract(data, ?) = ?",
                vec![
                    Bind::Text("$.tags.\"region\"".into()),
                    Bind::Text("eu".into()),
                ],
            ),
            (
                vec![("q", "payment failed")],
                "events_fts MATCH ?",
                vec![Bind::Text("\"payment\" \"failed\"".into())],
            ),
            (
                vec![("from", "2024-05-01T00:00:00Z")],
                "ts >= ?",
                vec![Bind::Text("2024-05-01T00:00:00.000Z".into())],
            ),
            (
                vec![("to", "1714564800000")],
                "ts <= ?",
                vec![Bind::Text("2024-05-01T12:00:00.000Z".into())],
            ),
        ];
        for (input, fragment, expected_binds) in cases {
            let q = sql(&input);
            assert!(q.sql.contains(fragment), "{input:?}: {}", q.sql);
            assert_eq!(
                &q.binds[..expected_binds.len()],
                &expected_binds[..],
                "{input:?}"
            );
            assert_eq!(q.sql.matches('?').count(), q.binds.len(), "{input:?}");
        }
    }

    #[test]
    fn filters_combine_with_and_and_cursor_is_keyset() {
        let cursor = encode_cursor("2026-01-01T00:00:00.000Z", "abc");
        let q = sql(&[
            ("level", "error"),
            ("environment", "production"),
            ("cursor", &cursor),
            ("limit", "5"),
        ]);
        assert!(
            q.sql
                .contains("level IN (?) AND environment = ? AND (received_at, id) < (?, ?)"),
            "{}",
            q.sql
        );
        assert_eq!(q.binds.last(), Some(&Bind::Int(6)));
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
    }

    #[test]
    fn a_search_for_punctuation_alone_matches_nothing() {
        let q = parse_log_query(&params(&[("q", "*** ---")])).unwrap();
        assert!(q.match_nothing && q.text.is_none());
        assert!(q.to_sql().sql.contains(" WHERE 0"), "{}", q.to_sql().sql);
    }

    #[test]
    fn every_cursor_of_the_documented_shape_is_a_position() {
        for cursor in [
            "2026-01-01T00:00:00.000Z_x",
            "9999-99-99T99:99:99.999Z_0190-abc",
        ] {
            assert!(decode_cursor(cursor).is_ok(), "{cursor}");
        }
        for cursor in [
            "2026-01-01T00:00:00.000Z_",
            "2026-01-01T00:00:00Z_x",
            "_x",
            "x",
        ] {
            assert!(decode_cursor(cursor).is_err(), "{cursor}");
        }
        // The base64 form earlier releases issued.
        let legacy = URL_SAFE_NO_PAD.encode("2026-01-01T00:00:00.000Z|id-1");
        assert_eq!(decode_cursor(&legacy).unwrap().1, "id-1");
    }

    #[test]
    fn time_bounds_past_the_stored_range_are_its_ends() {
        let q = parse_log_query(&params(&[
            ("from", "0001-01-01T00:00:00+05:00"),
            ("to", "9999-12-31T23:59:59-05:00"),
        ]))
        .unwrap();
        assert_eq!(q.from.as_deref(), Some("0001-01-01T00:00:00.000Z"));
        assert_eq!(q.to.as_deref(), Some("9999-12-31T23:59:59.999Z"));
    }

    #[test]
    fn limits() {
        assert_eq!(
            parse_log_query(&params(&[("limit", "1000")]))
                .unwrap()
                .limit,
            MAX_LIMIT
        );
        assert!(parse_log_query(&params(&[("limit", "1001")])).is_err());
        assert_eq!(
            parse_log_query(&params(&[("limit", "1")])).unwrap().limit,
            1
        );
    }

    #[test]
    fn bad_parameters_are_400s_with_reasons() {
        let cases: Vec<(&str, &str, &str)> = vec![
            ("level", "loud", "level 'loud'"),
            ("min_level", "99", "min_level"),
            ("limit", "0", "limit"),
            ("limit", "-1", "limit"),
            ("limit", "ten", "limit"),
            ("from", "yesterday", "from"),
            ("to", "2024-13-01", "to"),
            ("cursor", "!!!", "cursor"),
            ("cursor", "Zm9v", "cursor"),
            ("tag.", "x", "tag filter"),
            ("tag.a\"b", "x", "tag filter"),
            ("levle", "error", "unknown query parameter 'levle'"),
        ];
        for (key, value, expected) in cases {
            let err = parse_log_query(&params(&[(key, value)])).unwrap_err();
            assert_eq!(err.status(), 400, "{key}={value}");
            assert!(
                err.message().contains(expected),
                "{key}={value}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn repeated_filters_stay_within_d1s_parameter_limit() {
        let levels = vec![("level".to_string(), "error,err,ERROR,error".to_string())];
        assert_eq!(parse_log_query(&levels).unwrap().levels, ["error"]);
        let tags: Vec<(String, String)> = (0..60)
            .map(|i| (format!("tag.t{i}"), "x".to_string()))
            .collect();
        let err = parse_log_query(&tags).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message().contains("too many filters"),
            "{}",
            err.message()
        );
        let fine: Vec<(String, String)> = (0..20)
            .map(|i| (format!("tag.t{i}"), "x".to_string()))
            .collect();
        assert!(parse_log_query(&fine).is_ok());
        let groups: Vec<(String, String)> = (0..120)
            .map(|_| ("component".to_string(), "A".to_string()))
            .collect();
        assert_eq!(
            crate::query::groups::parse_group_query(&groups)
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn many_text_matches_walk_the_newest_index_few_are_sorted() {
        let mut q = parse_log_query(&[("q".into(), "timeout".into())]).unwrap();
        assert!(!q.to_sql().sql.contains("INDEXED BY"));
        q.plan_text(WALK_NEWEST_ABOVE + 1);
        assert_eq!(q.text_plan, TextPlan::WalkNewest);
        assert!(q
            .to_sql()
            .sql
            .starts_with("SELECT data FROM events INDEXED BY events_received WHERE seq IN"));
        q.plan_text(WALK_NEWEST_ABOVE);
        assert_eq!(q.text_plan, TextPlan::SortMatches);

        let mut filtered = parse_log_query(&[
            ("q".into(), "timeout".into()),
            ("level".into(), "error".into()),
        ])
        .unwrap();
        filtered.plan_text(1_000_000);
        assert_eq!(
            filtered.text_plan,
            TextPlan::SortMatches,
            "the level index stays usable"
        );
        let probe = text_match_probe("\"timeout\"");
        assert_eq!(probe.sql.matches('?').count(), probe.binds.len());
    }

    #[test]
    fn fts_queries_cannot_inject_syntax() {
        let cases = [
            ("timeout", "\"timeout\""),
            ("db time*", "\"db\" \"time\"*"),
            ("a\"b OR c", "\"a\"\"b\" \"OR\" \"c\""),
            ("NEAR(x y)", "\"NEAR(x\" \"y)\""),
            ("  spaced   out ", "\"spaced\" \"out\""),
        ];
        for (input, expected) in cases {
            assert_eq!(fts_query(input).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn cursor_round_trips_and_pages_know_when_to_stop() {
        let c = encode_cursor("2026-01-01T00:00:00.000Z", "id-1");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            ("2026-01-01T00:00:00.000Z".into(), "id-1".into())
        );
        let row = |i: u32| {
            format!(r#"{{"id":"id-{i}","received_at":"2026-01-01T00:00:0{i}.000Z","message":"m"}}"#)
        };
        let (events, next) = into_page(vec![row(3), row(2), row(1)], 2).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(decode_cursor(&next.unwrap()).unwrap().1, "id-2");
        let (events, next) = into_page(vec![row(1)], 2).unwrap();
        assert_eq!((events.len(), next), (1, None));
    }

    /// `fingerprint=` of a group with merges asks for all of its fingerprints; without merges,
    /// or without the parameter, the query is unchanged.
    #[test]
    fn fingerprint_widens_to_merged_ones() {
        let mut q = LogQuery {
            exact: vec![("fingerprint", "t".into()), ("component", "Cart".into())],
            ..Default::default()
        };
        let before = q.clone();
        q.widen_fingerprint(&[]);
        assert_eq!(q, before);
        q.widen_fingerprint(&["a".into(), "b".into()]);
        assert_eq!(q.exact, vec![("component", "Cart".to_string())]);
        assert_eq!(
            q.conditions,
            vec![(
                "fingerprint IN (?, ?, ?)".to_string(),
                vec![
                    Bind::Text("t".into()),
                    Bind::Text("a".into()),
                    Bind::Text("b".into())
                ]
            )]
        );
        assert_eq!(q.fingerprint(), None);
    }

    fn fixed_now() -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 1, 0, 0, 0).unwrap()
    }

    /// Found by hostile probing: each was a 5xx from SQLite; now a 400 that names the problem.
    #[test]
    fn input_sqlite_cannot_take_is_a_400() {
        let nul = parse_log_search(&params(&[("q", "a\u{0}b")]), fixed_now()).unwrap_err();
        assert_eq!(nul.status(), 400);
        assert!(nul.message().contains("U+0000"), "{}", nul.message());
        let stars = format!("component:*{}b", "a*".repeat(26));
        let many = parse_log_search(&params(&[("query", &stars)]), fixed_now()).unwrap_err();
        assert_eq!(many.status(), 400);
        assert!(many.message().contains("wildcards"), "{}", many.message());
        assert!(parse_log_search(
            &params(&[("query", "component:*a*b*c*")]),
            chrono::Utc::now()
        )
        .is_ok());
    }
}
