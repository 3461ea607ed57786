//! `GET /v1/groups` parameters into SQL over the `groups` table, with a keyset cursor on the
//! chosen sort. Pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::logs::{
    parse_level_list, parse_limit, parse_time_param, refuse_unusable, split_cursor, MAX_LIMIT,
};
use crate::error::{invalid_parameter as bad, AppError};
use crate::processors::environment::normalize_environment;
use crate::processors::level::Level;
use crate::processors::timestamp::parse_text;
use crate::query::search::{
    bound, field_of, field_sql, find_field, level_names, plain_value, take_query, unsupported,
    Condition, Kind, Lowered, Op, Search,
};
use crate::storage::sql::{within_bind_limit, Bind, SqlQuery, Where};
use chrono::{DateTime, Utc};

pub const DEFAULT_GROUP_LIMIT: usize = 50;

/// The query parameters of `GET /v1/groups` (`key` is auth's); the OpenAPI document lists the
/// same (a test holds them in step).
pub const GROUP_PARAMS: &[&str] = &[
    "sort",
    "status",
    "project",
    "environment",
    "component",
    "route",
    "source_type",
    "error_kind",
    "level",
    "min_level",
    "q",
    "from",
    "to",
    "limit",
    "cursor",
    "window",
    "query",
    "first_release",
];

/// A row of `groups`, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub fingerprint: String,
    pub title: String,
    pub level: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub environment: Option<String>,
    pub component: Option<String>,
    pub route: Option<String>,
    pub status: String,
    pub source_type: Option<String>,
    pub error_kind: Option<String>,
    pub fingerprint_reason: Option<String>,
    pub last_event_id: Option<String>,
    pub project: Option<String>,
    /// The release of its first event and of its latest.
    #[serde(default)]
    pub first_release: Option<String>,
    #[serde(default)]
    pub last_release: Option<String>,
    /// Resolved in this release: older releases' events leave it resolved.
    #[serde(default)]
    pub resolved_in_release: Option<String>,
    /// Who works on it (free text or an e-mail address).
    #[serde(default)]
    pub assignee: Option<String>,
    /// The group it was merged into: its events count there until it is unmerged.
    #[serde(default)]
    pub merged_into: Option<String>,
    /// While ignored until a condition: the condition (`at`, `count`, `users`,
    /// `window_seconds`) and how far it has got (`events_so_far`: since it was ignored or in
    /// the current window; `users_so_far`: since it was ignored, or those whose latest event is
    /// within the window of the latest one, as the reopening counts them). Built by SQL
    /// (`GROUP_COLUMNS`) and passed through as it is: a typed copy cost the wasm 4 KB.
    #[serde(default, deserialize_with = "object_or_json_text")]
    pub ignored_until: Option<serde_json::Value>,
}

/// D1 answers a `json_object` column as text; a cached or API copy has the object itself.
fn object_or_json_text<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => {
            serde_json::from_str(&text).map_err(D::Error::custom)
        }
        Some(serde_json::Value::Null) | None => Ok(None),
        Some(value) => Ok(Some(value)),
    }
}

/// The columns of a [`Group`], over `groups` (unaliased: `ignored_until` refers to it).
pub const GROUP_COLUMNS: &str = "fingerprint, title, level, count, first_seen, last_seen, environment, component, route, status, source_type, error_kind, fingerprint_reason, last_event_id, project, first_release, last_release, resolved_in_release, assignee, merged_into, \
CASE WHEN status = 'ignored' AND coalesce(ignore_until_at, ignore_until_count, ignore_until_users) IS NOT NULL THEN json_object(\
 'at', ignore_until_at, 'count', ignore_until_count, 'users', ignore_until_users, 'window_seconds', ignore_window_seconds, \
 'events_so_far', CASE WHEN ignore_until_count IS NULL THEN NULL \
   WHEN ignore_window_seconds IS NULL THEN count - ignore_count_base \
   WHEN ignore_window_start IS NULL \
     OR CAST(strftime('%s', 'now') AS INTEGER) - CAST(strftime('%s', ignore_window_start) AS INTEGER) >= ignore_window_seconds THEN 0 \
   ELSE ignore_window_count END, \
 'users_so_far', CASE WHEN ignore_until_users IS NULL THEN NULL \
   ELSE (SELECT count(*) FROM group_ignore_users u WHERE u.fingerprint = groups.fingerprint \
     AND (groups.ignore_window_seconds IS NULL OR CAST(strftime('%s', u.last_at) AS INTEGER) > \
       (SELECT max(CAST(strftime('%s', v.last_at) AS INTEGER)) FROM group_ignore_users v WHERE v.fingerprint = groups.fingerprint) \
       - groups.ignore_window_seconds)) END) END AS ignored_until";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSort {
    LastSeen,
    Count,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupQuery {
    pub project: Option<String>,
    pub sort: GroupSort,
    pub filters: Vec<(&'static str, Bind)>,
    pub levels: Vec<String>,
    pub min_severity: Option<u8>,
    pub title: Option<String>,
    pub seen_from: Option<String>,
    pub seen_to: Option<String>,
    pub limit: usize,
    /// (sort value, fingerprint) of the last row of the previous page.
    pub cursor: Option<(Bind, String)>,
    /// Hours of the trend window (`window=`, default 24): this many hours against the ones before.
    pub window_hours: u32,
    /// The terms of `query=` no parameter expresses, as SQL over `groups`.
    pub conditions: Vec<(String, Vec<Bind>)>,
}

pub fn parse_group_query(params: &[(String, String)]) -> Result<GroupQuery, AppError> {
    let mut q = GroupQuery {
        project: None,
        sort: GroupSort::LastSeen,
        filters: Vec::new(),
        levels: Vec::new(),
        min_severity: None,
        title: None,
        seen_from: None,
        seen_to: None,
        limit: DEFAULT_GROUP_LIMIT,
        cursor: None,
        window_hours: 24,
        conditions: Vec::new(),
    };
    let mut cursor_text = None;
    for (key, value) in params {
        let value = value.trim();
        refuse_unusable(key, value)?;
        if value.is_empty() && key != "key" {
            continue;
        }
        match key.as_str() {
            "sort" => {
                q.sort = match value {
                    "last_seen" => GroupSort::LastSeen,
                    "count" => GroupSort::Count,
                    other => {
                        return Err(bad(format!(
                            "sort '{other}' is unknown; use last_seen or count"
                        )))
                    }
                }
            }
            "status" => {
                if crate::triage::workflow::GroupStatus::parse(value).is_none() {
                    return Err(bad(format!(
                        "status '{value}' is unknown; use open, resolved or ignored"
                    )));
                }
                q.filters.push(("status", Bind::Text(value.into())));
            }
            "environment" => q.filters.push((
                "environment",
                Bind::Text(normalize_environment(value).unwrap_or_default()),
            )),
            "project" => q.project = Some(value.to_string()),
            "component" => q.filters.push(("component", Bind::Text(value.into()))),
            "first_release" => q.filters.push(("first_release", Bind::Text(value.into()))),
            "route" => q.filters.push(("route", Bind::Text(value.into()))),
            "source_type" => q.filters.push(("source_type", Bind::Text(value.into()))),
            "error_kind" => q.filters.push(("error_kind", Bind::Text(value.into()))),
            "level" => q.levels.extend(parse_level_list(value)?),
            "min_level" => {
                let level = Level::from_name(value).ok_or_else(|| {
                    bad(format!(
                        "min_level '{value}' is unknown; use one of {}",
                        Level::names()
                    ))
                })?;
                q.min_severity = Some(level.severity_number());
            }
            "q" => q.title = Some(value.to_string()),
            "from" => q.seen_from = Some(parse_time_param(key, value)?),
            "to" => q.seen_to = Some(parse_time_param(key, value)?),
            "limit" => q.limit = parse_limit(value, MAX_LIMIT)?,
            "cursor" => cursor_text = Some(value.to_string()),
            "window" => q.window_hours = crate::query::trends::parse_window(value)?,
            "key" | "query" => {}
            other => {
                return Err(bad(format!(
                    "unknown query parameter '{other}'; known: {}",
                    GROUP_PARAMS.join(", ")
                )))
            }
        }
    }
    if let Some(text) = cursor_text {
        let (sort, bind, fingerprint) = decode_group_cursor(&text)?;
        q.sort = sort;
        q.cursor = Some((bind, fingerprint));
    }
    within_bind_limit(&q.to_sql())?;
    Ok(q)
}

/// The parameters of `GET /v1/groups` with its `query=` applied.
pub fn parse_group_search(
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<GroupQuery, AppError> {
    let (mut params, search) = take_query(params)?;
    let Some(search) = search else {
        return parse_group_query(&params);
    };
    let lowered = lower_for_groups(&search, now)?;
    params.extend(lowered.params);
    let mut q = parse_group_query(&params)?;
    q.conditions = lowered.conditions;
    within_bind_limit(&q.to_sql())?;
    Ok(q)
}

const GROUP_TAKES: &str = "is:, level, environment, project, component, route, source_type, \
error_kind, fingerprint, release, first_release, assignee, count, first_seen, last_seen, \
timestamp and title text";

/// A group field as a column of `groups` (`timestamp` is when it was last seen).
fn groups_expr(field: &str) -> Option<&'static str> {
    Some(match field {
        "environment" => "environment",
        "project" => "project",
        "component" => "component",
        "route" => "route",
        "source_type" => "source_type",
        "error_kind" => "error_kind",
        "fingerprint" => "fingerprint",
        // A group's `release` is the release of its latest event.
        "release" => "last_release",
        "first_release" => "first_release",
        "assignee" => "assignee",
        "level" | "severity" => "severity_number",
        "count" => "count",
        "first_seen" => "first_seen",
        "last_seen" | "timestamp" => "last_seen",
        _ => return None,
    })
}

/// A search for `/v1/groups`: parameters where they say it, conditions for the rest.
pub fn lower_for_groups(search: &Search, now: DateTime<Utc>) -> Result<Lowered, AppError> {
    let mut out = Lowered::default();
    for term in &search.terms {
        match &term.condition {
            Condition::Text { text, .. } => {
                if term.negated || !out.once("q", text.clone()) {
                    let not = if term.negated { "NOT " } else { "" };
                    out.conditions.push((
                        format!("{not}instr(lower(title), lower(?)) > 0"),
                        vec![Bind::Text(text.clone())],
                    ));
                }
                continue;
            }
            Condition::Status(status) => {
                if term.negated || !out.once("status", status.to_string()) {
                    out.conditions
                        .push(field_sql(term, "status", Kind::Text, now));
                }
                continue;
            }
            Condition::Tag { .. } | Condition::Has { tag: Some(_), .. } => {
                return Err(unsupported(term, "/v1/groups", GROUP_TAKES))
            }
            _ => {}
        }
        let field = field_of(term).unwrap_or_default();
        let Some(expr) = groups_expr(field) else {
            return Err(unsupported(term, "/v1/groups", GROUP_TAKES));
        };
        let taken = match (field, plain_value(term), bound(term)) {
            ("environment" | "component" | "route" | "source_type" | "error_kind", Some(v), _) => {
                out.params.push((field.to_string(), v));
                true
            }
            ("project", Some(v), _) => out.once("project", v),
            ("first_release", Some(v), _) => out.once("first_release", v),
            ("level", _, Some((Op::Ge, v))) => out.once("min_level", v),
            ("level", _, _) => match level_names(term) {
                Some(names) => out.once("level", names),
                None => false,
            },
            _ => false,
        };
        if !taken {
            let kind = find_field(field).map(|f| f.kind).unwrap_or(Kind::Text);
            out.conditions.push(field_sql(term, expr, kind, now));
        }
    }
    Ok(out)
}

fn encode_group_cursor(sort: GroupSort, group: &Group) -> String {
    let value = match sort {
        GroupSort::LastSeen => format!("t{}", group.last_seen),
        GroupSort::Count => format!("c{}", group.count),
    };
    format!("{value}_{}", group.fingerprint)
}

/// `t<last_seen>_<fingerprint>` or `c<count>_<fingerprint>`. A cursor continues the listing
/// it came from, so its own kind decides the sort; every string of either shape is a valid
/// position. The base64 form of earlier releases is still read.
fn decode_group_cursor(cursor: &str) -> Result<(GroupSort, Bind, String), AppError> {
    let invalid = || bad("cursor is not one this API issued; start again without it");
    let current = match cursor.split_at_checked(1) {
        Some(("t", rest)) => {
            split_cursor(rest).map(|(at, fp)| (GroupSort::LastSeen, Bind::Text(at.into()), fp))
        }
        Some(("c", rest)) => rest
            .split_once('_')
            .filter(|(n, fp)| {
                !fp.is_empty()
                    && (1..=18).contains(&n.len())
                    && n.bytes().all(|b| b.is_ascii_digit())
            })
            .and_then(|(n, fp)| Some((GroupSort::Count, Bind::Int(n.parse().ok()?), fp))),
        _ => None,
    };
    if let Some((sort, bind, fingerprint)) = current {
        return Ok((sort, bind, fingerprint.to_string()));
    }
    // The base64 `t<last_seen>|<fp>` / `c<count>|<fp>` of earlier releases.
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (value, fingerprint) = text.split_once('|').ok_or_else(invalid)?;
    let (sort, bind) = match value.split_at_checked(1) {
        Some(("t", t)) if parse_text(t).is_some() => (GroupSort::LastSeen, Bind::Text(t.into())),
        Some(("c", c)) => (
            GroupSort::Count,
            Bind::Int(c.parse().map_err(|_| invalid())?),
        ),
        _ => return Err(invalid()),
    };
    Ok((sort, bind, fingerprint.to_string()))
}

impl GroupQuery {
    pub fn to_sql(&self) -> SqlQuery {
        let mut w = Where::default();
        // A merged group is listed as the group it was merged into.
        w.add("merged_into IS NULL", []);
        if let Some(project) = &self.project {
            w.add("project = ?", [Bind::Text(project.clone())]);
        }
        for (column, value) in &self.filters {
            w.add(format!("{column} = ?"), [value.clone()]);
        }
        w.any_of("level", &self.levels);
        if let Some(min) = self.min_severity {
            w.add("severity_number >= ?", [Bind::Int(min as i64)]);
        }
        if let Some(title) = &self.title {
            w.add(
                "instr(lower(title), lower(?)) > 0",
                [Bind::Text(title.clone())],
            );
        }
        for (condition, binds) in &self.conditions {
            w.add(condition.clone(), binds.iter().cloned());
        }
        if let Some(from) = &self.seen_from {
            w.add("last_seen >= ?", [Bind::Text(from.clone())]);
        }
        if let Some(to) = &self.seen_to {
            w.add("first_seen <= ?", [Bind::Text(to.clone())]);
        }
        let sort_column = match self.sort {
            GroupSort::LastSeen => "last_seen",
            GroupSort::Count => "count",
        };
        if let Some((value, fingerprint)) = &self.cursor {
            w.add(
                format!("({sort_column}, fingerprint) < (?, ?)"),
                [value.clone(), Bind::Text(fingerprint.clone())],
            );
        }
        let (where_clause, mut binds) = w.finish();
        binds.push(Bind::Int(self.limit as i64 + 1));
        SqlQuery {
            sql: format!("SELECT {GROUP_COLUMNS} FROM groups{where_clause} ORDER BY {sort_column} DESC, fingerprint DESC LIMIT ?"),
            binds,
        }
    }

    /// Rows (limit + 1 at most) into the page and the next cursor.
    pub fn into_page(&self, mut rows: Vec<Group>) -> (Vec<Group>, Option<String>) {
        let has_more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let next = if has_more {
            rows.last().map(|g| encode_group_cursor(self.sort, g))
        } else {
            None
        };
        (rows, next)
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

    fn group(fp: &str, count: i64, last_seen: &str) -> Group {
        Group {
            fingerprint: fp.into(),
            title: "t".into(),
            level: "error".into(),
            count,
            first_seen: last_seen.into(),
            last_seen: last_seen.into(),
            environment: None,
            component: None,
            route: None,
            status: "open".into(),
            source_type: None,
            error_kind: None,
            fingerprint_reason: None,
            last_event_id: None,
            project: None,
            first_release: None,
            last_release: None,
            resolved_in_release: None,
            assignee: None,
            merged_into: None,
            ignored_until: None,
        }
    }

    #[test]
    fn ignored_until_reads_from_d1_text_and_from_an_object() {
        let base = serde_json::to_value(group("a", 1, "2026-12-05T00:00:00Z")).unwrap();
        let condition = serde_json::json!({"at": null, "count": null, "users": 5, "window_seconds": 3600,
            "events_so_far": null, "users_so_far": 2});
        let expected = condition.clone();
        for (what, value) in [
            (
                "D1's json_object text",
                serde_json::Value::String(condition.to_string()),
            ),
            ("an object", condition.clone()),
        ] {
            let mut row = base.clone();
            row["ignored_until"] = value;
            let read: Group = serde_json::from_value(row).unwrap();
            assert_eq!(read.ignored_until.as_ref(), Some(&expected), "{what}");
        }
        for absent in [serde_json::Value::Null, serde_json::json!("null")] {
            let mut row = base.clone();
            row["ignored_until"] = absent;
            assert_eq!(
                serde_json::from_value::<Group>(row).unwrap().ignored_until,
                None
            );
        }
        let mut row = base.clone();
        row.as_object_mut().unwrap().remove("ignored_until");
        assert_eq!(
            serde_json::from_value::<Group>(row).unwrap().ignored_until,
            None
        );
    }

    #[test]
    fn default_is_newest_activity_first() {
        let q = parse_group_query(&[]).unwrap().to_sql();
        assert!(
            q.sql
                .ends_with("FROM groups WHERE merged_into IS NULL ORDER BY last_seen DESC, fingerprint DESC LIMIT ?"),
            "{}",
            q.sql
        );
        assert_eq!(q.binds, vec![Bind::Int(DEFAULT_GROUP_LIMIT as i64 + 1)]);
    }

    #[test]
    fn filters_and_sorts() {
        let q = parse_group_query(&params(&[
            ("sort", "count"),
            ("environment", "prod"),
            ("status", "open"),
            ("level", "error,fatal"),
            ("q", "timeout"),
            ("min_level", "warn"),
        ]))
        .unwrap()
        .to_sql();
        assert!(q.sql.contains("environment = ? AND status = ? AND level IN (?, ?) AND severity_number >= ? AND instr(lower(title), lower(?)) > 0"), "{}", q.sql);
        assert!(q.sql.contains("ORDER BY count DESC"));
        assert_eq!(q.binds[0], Bind::Text("production".into()));
        assert_eq!(q.sql.matches('?').count(), q.binds.len());
    }

    #[test]
    fn cursors_follow_the_sort() {
        for (sort, g) in [
            ("last_seen", group("b", 3, "2026-01-01T00:00:00.000Z")),
            ("count", group("b", 3, "2026-01-01T00:00:00.000Z")),
        ] {
            let q = parse_group_query(&params(&[("sort", sort), ("limit", "1")])).unwrap();
            let (page, next) =
                q.into_page(vec![g.clone(), group("a", 1, "2025-01-01T00:00:00.000Z")]);
            assert_eq!(page.len(), 1);
            let next_q = parse_group_query(&params(&[("sort", sort), ("cursor", &next.unwrap())]))
                .unwrap()
                .to_sql();
            assert!(
                next_q
                    .sql
                    .contains(&format!("({sort}, fingerprint) < (?, ?)")),
                "{}",
                next_q.sql
            );
        }
        // A cursor continues the listing it came from, whatever `sort` says.
        let q = parse_group_query(&params(&[("sort", "count"), ("limit", "1")])).unwrap();
        let (_, next) = q.into_page(vec![
            group("b", 3, "2026-01-01T00:00:00.000Z"),
            group("a", 1, "2026-01-01T00:00:00.000Z"),
        ]);
        let next = next.unwrap();
        assert_eq!(next, "c3_b");
        let continued =
            parse_group_query(&params(&[("cursor", &next), ("sort", "last_seen")])).unwrap();
        assert_eq!(continued.sort, GroupSort::Count);
        for bad in ["x3_b", "c_b", "c3_", "t2026_b"] {
            assert_eq!(
                parse_group_query(&params(&[("cursor", bad)]))
                    .unwrap_err()
                    .status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn bad_parameters() {
        for (k, v) in [
            ("sort", "name"),
            ("status", "done"),
            ("level", "loud"),
            ("min_level", "x"),
            ("limit", "0"),
            ("from", "soon"),
            ("cursor", "zz"),
            ("bogus", "1"),
        ] {
            assert_eq!(
                parse_group_query(&params(&[(k, v)])).unwrap_err().status(),
                400,
                "{k}={v}"
            );
        }
    }

    /// `is:new_in:<r>` and `first_release:<r>` are the `first_release` parameter; `release:`
    /// is the release of the latest event; `assignee:` takes wildcards and `has:`.
    #[test]
    fn release_and_assignee_terms() {
        let now = chrono::Utc::now();
        let by_param = parse_group_query(&params(&[("first_release", "1.4.0-RC")])).unwrap();
        for query in ["is:new_in:1.4.0-RC", "first_release:1.4.0-RC"] {
            let q = parse_group_search(&params(&[("query", query)]), now).unwrap();
            assert_eq!(q.to_sql(), by_param.to_sql(), "{query}");
        }
        // Empty, like every other filter of the route, is no filter.
        assert_eq!(
            parse_group_query(&params(&[("first_release", "")]))
                .unwrap()
                .to_sql(),
            parse_group_query(&[]).unwrap().to_sql()
        );
        let q = parse_group_search(
            &params(&[("query", "release:1.4.* assignee:ann* !has:assignee")]),
            now,
        )
        .unwrap()
        .to_sql();
        assert!(q.sql.contains("last_release LIKE ?"), "{}", q.sql);
        assert!(q.sql.contains("assignee LIKE ?"), "{}", q.sql);
        assert!(
            q.sql.contains("NOT coalesce(assignee IS NOT NULL, 0)"),
            "{}",
            q.sql
        );
        let err = parse_group_search(&params(&[("query", "is:new_in:")]), now).unwrap_err();
        assert!(err.to_string().contains("needs a release"), "{err}");
    }
}
