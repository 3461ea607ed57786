//! Lowering a search for a route: the terms its query parameters already express become those
//! parameters (so `query=` and the parameters give the same answer by construction), the rest
//! SQL conditions over the route's table (the SQL of one term, FTS5 expressions of free text).

use chrono::{DateTime, Utc};

use super::matcher::words;
use super::parse::parse;
use super::terms::{
    level_band, time_range, time_value, Condition, Kind, Op, Pattern, Search, Term,
};
use crate::error::AppError;
use crate::processors::timestamp::format_ts;
use crate::storage::sql::Bind;

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

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            other => other.as_str(),
        }
    }
}

impl Pattern {
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
}

#[cfg(test)]
mod tests {
    use super::super::print::value_text;
    use super::super::terms::testing::{now, pairs, Lcg};
    use super::*;
    use crate::query::groups::{parse_group_query, parse_group_search};
    use crate::query::logs::{parse_log_query, parse_log_search};
    use crate::query::stats::{parse_stats_query, parse_stats_search};

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
