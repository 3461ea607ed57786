//! What people decide about a group, read from their requests: when an ignored group reopens,
//! which fingerprints to merge, and the rules that assign new groups. Pure: the handler runs
//! these, `query::groups_store` and `triage::assign_store` write them, the group triggers apply them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AppError;

fn bad(message: impl Into<String>) -> AppError {
    AppError::InvalidParameter(message.into())
}

/// What to unmerge from `target`: one fingerprint named in the path, a list in
/// `?fingerprints=a,b`, or a JSON body `{"fingerprints": [...]}`, in that order.
pub fn unmerge_sources(
    target: &str,
    in_path: Option<&str>,
    listed: Option<&str>,
    body: &[u8],
) -> Result<Vec<String>, AppError> {
    let request = match (in_path, listed) {
        (Some(source), _) => serde_json::json!({ "fingerprints": [source] }),
        (None, Some(list)) => serde_json::json!({ "fingerprints": list.split(',').collect::<Vec<_>>() }),
        (None, None) if body.iter().all(u8::is_ascii_whitespace) => {
            return Err(bad(
                "name what to unmerge: a body {\"fingerprints\": [...]}, ?fingerprints=a,b, or DELETE …/merge/{fingerprint}",
            ))
        }
        (None, None) => serde_json::from_slice(body)
            .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?,
    };
    parse_fingerprints(&request, target)
}

/// Where a group stands in triage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GroupStatus {
    #[default]
    Open,
    Resolved,
    Ignored,
}

impl GroupStatus {
    pub const ALL: [GroupStatus; 3] = [
        GroupStatus::Open,
        GroupStatus::Resolved,
        GroupStatus::Ignored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Open => "open",
            GroupStatus::Resolved => "resolved",
            GroupStatus::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<GroupStatus> {
        GroupStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A `PUT /v1/groups/{fingerprint}` body: a status (with how it ends), an assignee, or both.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusChange {
    pub status: Option<GroupStatus>,
    /// `Some(None)` unassigns.
    pub assignee: Option<Option<String>>,
    /// Resolved in a release: events of older releases leave the group resolved.
    pub in_release: Option<String>,
    /// Resolved until an event of a release first seen after now.
    pub in_next_release: bool,
    pub until: Option<IgnoreUntil>,
}

/// A name of 1 to 200 characters, trimmed.
fn short_name(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty() && trimmed.chars().count() <= 200).then(|| trimmed.to_string())
}

/// Reads a status change, naming the first field that is wrong.
pub fn parse_status_change(body: &Value) -> Result<StatusChange, AppError> {
    let assignee = match body.get("assignee") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(a)) if short_name(a).is_some() => Some(short_name(a)),
        Some(_) => {
            return Err(bad(
                "assignee must be a name or e-mail address (1 to 200 characters), or null",
            ))
        }
    };
    let status = match body.get("status") {
        None if assignee.is_some() => None,
        status => Some(status.and_then(Value::as_str).and_then(GroupStatus::parse).ok_or_else(
            || bad("status must be open, resolved or ignored (it may be left out when assignee is set)"),
        )?),
    };
    let in_release = match body.get("in_release") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if short_name(r).is_some() => short_name(r),
        Some(_) => {
            return Err(bad(
                "in_release must be a release name (1 to 200 characters)",
            ))
        }
    };
    let in_next_release = match body.get("in_next_release") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(bad("in_next_release must be true or false")),
    };
    // {"at": time} | {"count": n, "window_seconds"?: s} | {"users": n}; none is forever.
    let until = match body.get("until") {
        None | Some(Value::Null) => None,
        Some(_) if status != Some(GroupStatus::Ignored) => {
            return Err(bad("until goes with status ignored"))
        }
        Some(Value::Object(u)) => Some(parse_until(u)?),
        Some(_) => return Err(bad(
            "until must be an object: {\"at\": time}, {\"count\": n, \"window_seconds\": s} or {\"users\": n}",
        )),
    };
    if (in_release.is_some() || in_next_release) && status != Some(GroupStatus::Resolved) {
        return Err(bad(
            "in_release and in_next_release go with status resolved",
        ));
    }
    if in_release.is_some() && in_next_release {
        return Err(bad("use in_release or in_next_release, not both"));
    }
    Ok(StatusChange {
        status,
        assignee,
        in_release,
        in_next_release,
        until,
    })
}

/// When an ignored group reopens: at a time, after `count` more events, or once `users`
/// distinct users have hit it (either within `window_seconds` when set). None set: never.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreUntil {
    pub at: Option<String>,
    pub count: Option<i64>,
    pub window_seconds: Option<i64>,
    pub users: Option<i64>,
}

/// `{"at": time}`, `{"count": n, "window_seconds"?: s}` or `{"users": n, "window_seconds"?: s}`
/// (a window from 60 s to 30 days).
pub fn parse_until(u: &Map<String, Value>) -> Result<IgnoreUntil, AppError> {
    if let Some(unknown) = u
        .keys()
        .find(|k| !["at", "count", "window_seconds", "users"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "until.{unknown} is unknown; use at, count or users (either with an optional window_seconds)"
        )));
    }
    let whole = |key: &str, max: i64| -> Result<Option<i64>, AppError> {
        match u.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| (1..=max).contains(n))
                .map(Some)
                .ok_or_else(|| {
                    bad(format!(
                        "until.{key} must be a whole number from 1 to {max}"
                    ))
                }),
        }
    };
    let count = whole("count", 1_000_000)?;
    let users = whole("users", 1_000_000)?;
    let window_seconds = match u.get("window_seconds") {
        None | Some(Value::Null) => None,
        Some(w) => Some(
            w.as_i64()
                .filter(|s| (60..=30 * 86_400).contains(s))
                .ok_or_else(|| bad("until.window_seconds must be from 60 to 2592000"))?,
        ),
    };
    let at = match u.get("at") {
        None | Some(Value::Null) => None,
        Some(at) => Some(
            at.as_str()
                .and_then(crate::processors::timestamp::parse_bound)
                .map(crate::processors::timestamp::format_ts)
                .ok_or_else(|| bad("until.at must be an RFC 3339 time"))?,
        ),
    };
    if window_seconds.is_some() && count.is_none() && users.is_none() {
        return Err(bad(
            "until.window_seconds goes with until.count or until.users",
        ));
    }
    let conditions = [at.is_some(), count.is_some(), users.is_some()];
    if conditions.iter().filter(|c| **c).count() != 1 {
        return Err(bad(
            "until takes one of at, count or users (either with an optional window_seconds)",
        ));
    }
    Ok(IgnoreUntil {
        at,
        count,
        window_seconds,
        users,
    })
}

/// At most this many fingerprints merge in one request.
pub const MAX_MERGE: usize = 50;

/// `{"fingerprints": [...]}`: the fingerprints to merge into (or split from) `target`, each
/// once, never the target itself.
pub fn parse_fingerprints(body: &Value, target: &str) -> Result<Vec<String>, AppError> {
    let list = body
        .get("fingerprints")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty() && l.len() <= MAX_MERGE)
        .ok_or_else(|| {
            bad(format!(
                "fingerprints must be a list of 1 to {MAX_MERGE} group fingerprints"
            ))
        })?;
    let mut out: Vec<String> = Vec::new();
    for item in list {
        let fp = item
            .as_str()
            .map(str::trim)
            .filter(|f| !f.is_empty() && f.len() <= 200)
            .ok_or_else(|| bad("each of fingerprints must be a group fingerprint (a string)"))?;
        if fp == target {
            return Err(bad(format!(
                "a group cannot be merged into itself ('{fp}')"
            )));
        }
        if !out.iter().any(|f| f == fp) {
            out.push(fp.to_string());
        }
    }
    Ok(out)
}

/// What an assignment rule looks at.
pub const RULE_FIELDS: [&str; 3] = ["component", "route", "service"];

/// A rule as given: new groups whose `field` matches `pattern` (a glob: `*` any run, `?` one
/// character; case-insensitive) are assigned to `assignee`, the first matching rule winning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignRule {
    pub field: String,
    pub pattern: String,
    pub assignee: String,
    /// Only this project's groups; none: every project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// One rule; `label` names it in errors (`rule`, `rules[2]`).
pub fn parse_assign_rule(value: &Value, label: &str) -> Result<AssignRule, AppError> {
    let at_index = |m: String| bad(format!("{label}: {m}"));
    let object = value
        .as_object()
        .ok_or_else(|| at_index("must be an object {field, pattern, assignee}".into()))?;
    if let Some(unknown) = object
        .keys()
        .find(|k| !["field", "pattern", "assignee", "project"].contains(&k.as_str()))
    {
        return Err(at_index(format!(
            "{unknown} is unknown; a rule has field, pattern, assignee and project"
        )));
    }
    let text = |key: &str, max: usize| -> Result<Option<String>, AppError> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                Ok(Some(s.trim().to_string()))
            }
            Some(_) => Err(at_index(format!("{key} must be 1 to {max} characters"))),
        }
    };
    let field = text("field", 20)?
        .filter(|f| RULE_FIELDS.contains(&f.as_str()))
        .ok_or_else(|| at_index("field must be component, route or service".into()))?;
    let pattern = text("pattern", 200)?
        .ok_or_else(|| at_index("pattern is required (a glob such as checkout* )".into()))?;
    let assignee = text("assignee", 200)?.ok_or_else(|| at_index("assignee is required".into()))?;
    let project = text("project", 200)?;
    Ok(AssignRule {
        field,
        pattern,
        assignee,
        project,
    })
}

/// `{"rules": [...]}`, the whole ordered list (at most 200 rules).
pub fn parse_assign_rules(body: &Value) -> Result<Vec<AssignRule>, AppError> {
    let rules = body
        .get("rules")
        .and_then(Value::as_array)
        .filter(|r| r.len() <= 200)
        .ok_or_else(|| bad("rules must be a list of at most 200 rules"))?;
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| parse_assign_rule(r, &format!("rules[{i}]")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn until(v: Value) -> Result<IgnoreUntil, AppError> {
        parse_until(v.as_object().unwrap())
    }

    #[test]
    fn ignore_until_forms() {
        assert_eq!(
            until(json!({"count": 100, "window_seconds": 3600})).unwrap(),
            IgnoreUntil {
                count: Some(100),
                window_seconds: Some(3600),
                ..Default::default()
            }
        );
        assert_eq!(until(json!({"users": 50})).unwrap().users, Some(50));
        assert_eq!(
            until(json!({"users": 50, "window_seconds": 86400})).unwrap(),
            IgnoreUntil {
                users: Some(50),
                window_seconds: Some(86400),
                ..Default::default()
            }
        );
        assert_eq!(
            until(json!({"at": "2026-12-24T10:00:00+01:00"}))
                .unwrap()
                .at
                .as_deref(),
            Some("2026-12-24T09:00:00.000Z")
        );
    }

    #[test]
    fn ignore_until_refusals_say_why() {
        let cases = [
            (json!({}), "one of at"),
            (json!({"count": 5, "users": 3}), "one of at"),
            (json!({"count": 0}), "until.count must be"),
            (json!({"users": "many"}), "until.users must be"),
            (
                json!({"window_seconds": 600}),
                "goes with until.count or until.users",
            ),
            (
                json!({"at": "2026-12-24T10:00:00Z", "window_seconds": 600}),
                "goes with",
            ),
            (
                json!({"count": 5, "window_seconds": 5}),
                "window_seconds must be",
            ),
            (json!({"at": "soon"}), "RFC 3339"),
            (json!({"minutes": 5}), "until.minutes is unknown"),
        ];
        for (body, says) in cases {
            let message = until(body.clone()).unwrap_err().to_string();
            assert!(message.contains(says), "{body}: {message}");
        }
    }

    #[test]
    fn fingerprints_to_merge() {
        assert_eq!(
            parse_fingerprints(&json!({"fingerprints": ["b", "c", "b"]}), "a").unwrap(),
            vec!["b", "c"]
        );
        for body in [
            json!({}),
            json!({"fingerprints": []}),
            json!({"fingerprints": [1]}),
            json!({"fingerprints": ["a"]}),
            json!({"fingerprints": vec!["x"; MAX_MERGE + 1]}),
        ] {
            assert!(parse_fingerprints(&body, "a").is_err(), "{body}");
        }
    }

    #[test]
    fn assign_rules() {
        let rules = parse_assign_rules(&json!({"rules": [
            {"field": "component", "pattern": "Checkout*", "assignee": "ann@example.com"},
            {"field": "service", "pattern": "api-?", "assignee": "payments", "project": "shop"},
        ]}))
        .unwrap();
        assert_eq!(rules[1].project.as_deref(), Some("shop"));
        let cases = [
            (json!({"rules": {}}), "rules must be a list"),
            (
                json!({"rules": [{"field": "level", "pattern": "*", "assignee": "a"}]}),
                "rules[0]: field must be",
            ),
            (
                json!({"rules": [{"field": "route", "assignee": "a"}]}),
                "rules[0]: pattern is required",
            ),
            (
                json!({"rules": [{"field": "route", "pattern": "/a", "assignee": ""}]}),
                "rules[0]: assignee must be",
            ),
            (
                json!({"rules": [{"field": "route", "pattern": "/a", "assignee": "b", "team": 1}]}),
                "team is unknown",
            ),
        ];
        for (body, says) in cases {
            let message = parse_assign_rules(&body).unwrap_err().to_string();
            assert!(message.contains(says), "{body}: {message}");
        }
    }

    #[test]
    fn status_changes_name_the_field_that_is_wrong() {
        use serde_json::json;
        let ok =
            parse_status_change(&json!({"status": "resolved", "in_release": " 1.4.0 "})).unwrap();
        assert_eq!(ok.status, Some(GroupStatus::Resolved));
        assert_eq!(ok.in_release.as_deref(), Some("1.4.0"));
        let assign = parse_status_change(&json!({"assignee": null})).unwrap();
        assert_eq!((assign.status, assign.assignee), (None, Some(None)));
        let ignored =
            parse_status_change(&json!({"status": "ignored", "until": {"count": 5}})).unwrap();
        assert_eq!(ignored.until.unwrap().count, Some(5));
        let cases = [
            (json!({}), "status"),
            (json!({"status": "closed"}), "status"),
            (json!({"status": "open", "assignee": 3}), "assignee"),
            (json!({"status": "open", "in_release": "1.0"}), "in_release"),
            (
                json!({"status": "resolved", "in_release": ""}),
                "in_release",
            ),
            (
                json!({"status": "resolved", "in_next_release": "yes"}),
                "in_next_release",
            ),
            (
                json!({"status": "resolved", "in_release": "1", "in_next_release": true}),
                "not both",
            ),
            (json!({"status": "open", "until": {"count": 1}}), "until"),
            (json!({"status": "ignored", "until": 5}), "until"),
        ];
        for (body, named) in cases {
            let err = parse_status_change(&body).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
            assert!(err.message().contains(named), "{body}: {}", err.message());
        }
    }

    #[test]
    fn unmerge_names_come_from_the_path_the_query_or_the_body() {
        let (a, b) = ("a".repeat(16), "b".repeat(16));
        let t = "c".repeat(16);
        assert_eq!(
            unmerge_sources(&t, Some(&a), Some(&b), b"").unwrap(),
            vec![a.clone()]
        );
        assert_eq!(
            unmerge_sources(&t, None, Some(&format!("{a},{b}")), b"").unwrap(),
            vec![a.clone(), b.clone()]
        );
        let body = format!(r#"{{"fingerprints":["{b}"]}}"#);
        assert_eq!(
            unmerge_sources(&t, None, None, body.as_bytes()).unwrap(),
            vec![b]
        );
        assert_eq!(
            unmerge_sources(&t, None, None, b"  ").unwrap_err().status(),
            400
        );
        assert_eq!(
            unmerge_sources(&t, None, None, b"{").unwrap_err().code(),
            "invalid_json"
        );
    }
}
