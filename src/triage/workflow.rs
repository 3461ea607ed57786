//! What people decide about a group, read from their requests: when an ignored group reopens,
//! which fingerprints to merge, and the rules that assign new groups. Pure: the handler runs
//! these, `storage::groups` and `storage::assign_rules` write them, the group triggers apply them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::AppError;

fn bad(message: impl Into<String>) -> AppError {
    AppError::InvalidParameter(message.into())
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
}
