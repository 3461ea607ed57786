//! Drop and sample rules, applied at ingest before the queue, so that nothing they drop costs
//! anything downstream: a rule matches events with the search language (`level:debug
//! service:checkout`, `"health check"`) and drops them, or keeps a deterministic sample keyed by
//! a field (the trace id by default, so a kept trace stays whole). Errors and worse are kept
//! from sampling unless a rule says otherwise. The first rule that matches an event decides.
//!
//! Pure: a rule's body checked into a rule, and an event's verdict.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::StoredEvent;
use crate::processors::timestamp::{format_ts, parse_text};
use crate::query::search::{parse, Op, Search};

/// Rules a deployment may hold: each is matched against every event of every request.
pub const MAX_RULES: usize = 100;

/// The fields a sample may be keyed by: ids whose events belong together.
pub const SAMPLE_KEYS: &[&str] = &[
    "trace_id",
    "request_id",
    "session_id",
    "user_id",
    "fingerprint",
];

crate::error::message_error!(
    /// A rule's body that cannot be a rule; the message names the field.
    RuleError
);

/// What a rule does with the events it matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Drop,
    /// Keeps `rate` (0 < rate < 1) of the events, by their key's hash.
    Sample {
        rate: f64,
    },
}

/// A rule as stored and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngestRule {
    pub id: String,
    /// `None`: every project's events.
    pub project: Option<String>,
    pub query: String,
    #[serde(flatten)]
    pub action: Action,
    /// The field a sample is keyed by (an event without it is keyed by its own id).
    pub key: String,
    /// Errors and worse are kept from sampling (a drop still drops them).
    pub protect_errors: bool,
    pub expires_at: Option<String>,
    pub created_at: String,
}

/// A rule with its query parsed, ready to judge events.
#[derive(Debug, Clone)]
pub struct ActiveRule {
    pub rule: IngestRule,
    search: Search,
    /// Its terms on the level and on plain fields, read straight from the event: a rule whose
    /// gate fails is passed over without the search (which reads fields as text).
    gates: Vec<Gate>,
}

/// A term every matching event meets, checked without allocating.
#[derive(Debug, Clone)]
enum Gate {
    /// The severity number compared as the search language compares a level.
    Severity { op: Op, low: i64, high: i64 },
    /// A field equal to one of these values.
    Equals {
        field: &'static str,
        values: Vec<String>,
    },
}

impl Gate {
    fn of(term: &crate::query::search::Term) -> Option<Gate> {
        use crate::query::search::{level_band, Condition};
        if term.negated {
            return None;
        }
        let Condition::Field { field, op, values } = &term.condition else {
            return None;
        };
        if values.iter().any(|v| v.is_wildcard()) {
            return None;
        }
        match *field {
            "level" if values.len() == 1 => {
                let (low, high) = level_band(&values[0].text());
                Some(Gate::Severity { op: *op, low, high })
            }
            "service" | "environment" | "component" | "route" | "release" | "source_type"
            | "fingerprint"
                if *op == Op::Eq =>
            {
                Some(Gate::Equals {
                    field,
                    values: values.iter().map(|v| v.text()).collect(),
                })
            }
            _ => None,
        }
    }

    fn holds(&self, e: &StoredEvent) -> bool {
        match self {
            Gate::Severity { op, low, high } => {
                let n = e.severity_number as i64;
                match op {
                    Op::Eq => (*low..=*high).contains(&n),
                    Op::Ge => n >= *low,
                    Op::Lt => n < *low,
                    Op::Gt => n > *high,
                    Op::Le => n <= *high,
                }
            }
            Gate::Equals { field, values } => {
                let value = match *field {
                    "service" => e.service.as_deref(),
                    "environment" => Some(e.environment.as_str()),
                    "component" => e.component.as_deref(),
                    "route" => e.route.as_deref(),
                    "release" => e.release.as_deref(),
                    "source_type" => Some(e.source_type.as_str()),
                    "fingerprint" => Some(e.fingerprint.as_str()),
                    _ => return true,
                };
                value.is_some_and(|v| values.iter().any(|want| want == v))
            }
        }
    }
}

/// An event's fate under the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    Dropped { rule: String },
    SampledOut { rule: String },
}

fn bad(message: impl Into<String>) -> RuleError {
    RuleError::new(message.into())
}

/// Checks a `POST /v1/ingest-rules` body into a rule: `{"query", "action": "drop" | "sample" |
/// "sample(0.1)", "rate", "key", "project", "protect_errors", "expires_at"}`.
pub fn parse_rule(body: &Value, id: String, now: DateTime<Utc>) -> Result<IngestRule, RuleError> {
    let object = body
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    const KNOWN: &[&str] = &[
        "query",
        "action",
        "rate",
        "key",
        "project",
        "protect_errors",
        "expires_at",
    ];
    if let Some(unknown) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field '{unknown}'; a rule has {}",
            KNOWN.join(", ")
        )));
    }
    let text = |name: &str| -> Result<Option<String>, RuleError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Some(_) => Err(bad(format!("{name} must be a non-empty string"))),
        }
    };
    let query = text("query")?.ok_or_else(|| {
        bad("query is required: the events the rule matches, in the search language")
    })?;
    let search = parse(&query).map_err(|e| bad(format!("query: {}", e.message())))?;
    if let Some(term) = search.has_status() {
        return Err(bad(format!(
            "query: '{}' is a group's status; a rule matches events",
            crate::query::search::term_text(term)
        )));
    }
    let action_text = text("action")?.ok_or_else(|| bad("action is required: drop or sample"))?;
    let rate_field = match object.get("rate") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .ok_or_else(|| bad("rate must be a number between 0 and 1"))?,
        ),
    };
    let action = match action_text.to_ascii_lowercase().as_str() {
        "drop" if rate_field.is_none() => Action::Drop,
        "drop" => return Err(bad("rate: a drop rule takes no rate")),
        "sample" => Action::Sample {
            rate: rate_field
                .ok_or_else(|| bad("rate is required for sample: the share kept, e.g. 0.1"))?,
        },
        other => match other
            .strip_prefix("sample(")
            .and_then(|r| r.strip_suffix(')'))
        {
            Some(inner) if rate_field.is_none() => Action::Sample {
                rate: inner.trim().parse().map_err(|_| {
                    bad(format!(
                        "action: '{action_text}' has no number between its parentheses"
                    ))
                })?,
            },
            Some(_) => return Err(bad("rate: give the rate in sample(…) or in rate, not both")),
            None => {
                return Err(bad(format!(
                    "action '{action_text}' is unknown; use drop, sample or sample(0.1)"
                )))
            }
        },
    };
    if let Action::Sample { rate } = action {
        if !(rate > 0.0 && rate < 1.0) {
            return Err(bad(format!(
                "rate {rate} must be between 0 and 1 (exclusive): 0 is a drop rule, 1 no rule"
            )));
        }
    }
    let key = text("key")?.unwrap_or_else(|| "trace_id".into());
    if !SAMPLE_KEYS.contains(&key.as_str()) {
        return Err(bad(format!(
            "key '{key}' is not one of {}",
            SAMPLE_KEYS.join(", ")
        )));
    }
    let protect_errors = match object.get("protect_errors") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("protect_errors must be true or false")),
    };
    let expires_at = match text("expires_at")? {
        None => None,
        Some(at) => {
            let when = parse_text(&at)
                .or_else(|| {
                    DateTime::parse_from_rfc3339(&at)
                        .ok()
                        .map(|t| t.with_timezone(&Utc))
                })
                .ok_or_else(|| bad(format!("expires_at '{at}' is not an RFC 3339 time")))?;
            if when <= now {
                return Err(bad(format!("expires_at '{at}' has passed")));
            }
            Some(format_ts(when))
        }
    };
    let project = text("project")?;
    if let Some(p) = project
        .as_deref()
        .filter(|p| !crate::security::keys::valid_project(p))
    {
        return Err(bad(format!(
            "project '{p}' is not a project name: 1-64 of a-z, 0-9, - and _"
        )));
    }
    Ok(IngestRule {
        id,
        project,
        query,
        action,
        key,
        protect_errors,
        expires_at,
        created_at: format_ts(now),
    })
}

impl ActiveRule {
    /// `None` for a rule whose query no longer parses (after a change of the language): it
    /// then matches nothing rather than everything.
    pub fn new(rule: IngestRule) -> Option<Self> {
        let mut search = parse(&rule.query).ok()?;
        // Every term must hold, so their order is free: fields first, full text (which splits
        // the event's texts into words) last, so that most events are ruled out before it.
        search
            .terms
            .sort_by_key(|t| matches!(t.condition, crate::query::search::Condition::Text { .. }));
        let gates = search.terms.iter().filter_map(Gate::of).collect();
        Some(ActiveRule {
            rule,
            search,
            gates,
        })
    }
}

/// A stable hash of a sample key into [0, 1): the same key, the same side of every rate.
pub fn unit_hash(key: &str) -> f64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut top = [0u8; 8];
    top.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(top) >> 11) as f64 / (1u64 << 53) as f64
}

fn sample_key(e: &StoredEvent, key: &str) -> String {
    let value = match key {
        "trace_id" => e.trace_id.clone(),
        "request_id" => e.request_id.clone(),
        "session_id" => e.session_id.clone(),
        "user_id" => e.user_id.clone(),
        "fingerprint" => Some(e.fingerprint.clone()),
        _ => None,
    };
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| e.id.clone())
}

/// The first active rule (of the event's project or of all, not expired) that matches decides.
pub fn verdict(rules: &[ActiveRule], e: &StoredEvent, now: DateTime<Utc>) -> Verdict {
    verdict_at(rules, e, now, &format_ts(now))
}

fn verdict_at(
    rules: &[ActiveRule],
    e: &StoredEvent,
    now: DateTime<Utc>,
    now_text: &str,
) -> Verdict {
    for active in rules {
        let rule = &active.rule;
        if rule.expires_at.as_deref().is_some_and(|at| at <= now_text)
            || rule
                .project
                .as_ref()
                .is_some_and(|p| e.project.as_ref() != Some(p))
        {
            continue;
        }
        if !active.gates.iter().all(|g| g.holds(e)) || !active.search.matches(e, now) {
            continue;
        }
        return match rule.action {
            Action::Drop => Verdict::Dropped {
                rule: rule.id.clone(),
            },
            Action::Sample { .. } if rule.protect_errors && e.severity_number >= 17 => {
                Verdict::Keep
            }
            Action::Sample { rate } => {
                if unit_hash(&sample_key(e, &rule.key)) < rate {
                    Verdict::Keep
                } else {
                    Verdict::SampledOut {
                        rule: rule.id.clone(),
                    }
                }
            }
        };
    }
    Verdict::Keep
}

/// An event a rule kept out, as the 202 answer reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedEvent {
    pub index: usize,
    /// The id the event would have had.
    pub id: String,
    pub rule: String,
    /// `dropped` or `sampled_out`.
    pub reason: &'static str,
    #[serde(skip)]
    pub project: Option<String>,
}

/// Splits a request's events into those the rules keep and those they keep out.
pub fn apply(
    rules: &[ActiveRule],
    events: Vec<(usize, StoredEvent)>,
    now: DateTime<Utc>,
) -> (Vec<(usize, StoredEvent)>, Vec<DroppedEvent>) {
    if rules.is_empty() {
        return (events, Vec::new());
    }
    let mut kept = Vec::with_capacity(events.len());
    let mut out = Vec::new();
    let now_text = format_ts(now);
    for (index, event) in events {
        let (rule, reason) = match verdict_at(rules, &event, now, &now_text) {
            Verdict::Keep => {
                kept.push((index, event));
                continue;
            }
            Verdict::Dropped { rule } => (rule, "dropped"),
            Verdict::SampledOut { rule } => (rule, "sampled_out"),
        };
        out.push(DroppedEvent {
            index,
            id: event.id,
            rule,
            reason,
            project: event.project,
        });
    }
    (kept, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        parse_text("2026-12-07T12:00:00.000Z").unwrap()
    }

    fn rule(body: Value) -> Result<IngestRule, RuleError> {
        parse_rule(&body, "r1".into(), now())
    }

    fn event(level: &str, severity: u8, service: &str, trace: &str) -> StoredEvent {
        StoredEvent {
            id: format!("id-{trace}-{service}"),
            level: level.into(),
            severity_number: severity,
            message: "GET /health answered 200".into(),
            service: Some(service.into()),
            trace_id: (!trace.is_empty()).then(|| trace.to_string()),
            project: Some("shop".into()),
            ..Default::default()
        }
    }

    #[test]
    fn bodies_become_rules_or_name_their_field() {
        let ok = rule(json!({"query": "level:debug service:checkout", "action": "drop"})).unwrap();
        assert_eq!(
            (ok.action.clone(), ok.key.as_str(), ok.protect_errors),
            (Action::Drop, "trace_id", true)
        );
        assert_eq!(
            rule(json!({"query": "x", "action": "sample(0.25)"}))
                .unwrap()
                .action,
            Action::Sample { rate: 0.25 }
        );
        assert_eq!(
            rule(json!({"query": "x", "action": "sample", "rate": 0.1, "key": "request_id"}))
                .unwrap()
                .key,
            "request_id"
        );
        let refusals = [
            (json!([]), "JSON object"),
            (json!({"action": "drop"}), "query is required"),
            (json!({"query": "x"}), "action is required"),
            (json!({"query": "x", "action": "keep"}), "action 'keep'"),
            (
                json!({"query": "x", "action": "sample"}),
                "rate is required",
            ),
            (
                json!({"query": "x", "action": "sample", "rate": 1.5}),
                "rate 1.5",
            ),
            (
                json!({"query": "x", "action": "sample", "rate": "half"}),
                "rate must be a number",
            ),
            (
                json!({"query": "x", "action": "sample(abc)"}),
                "action: 'sample(abc)'",
            ),
            (
                json!({"query": "x", "action": "drop", "rate": 0.5}),
                "rate: a drop rule",
            ),
            (
                json!({"query": "x", "action": "drop", "key": "color"}),
                "key 'color'",
            ),
            (
                json!({"query": "x", "action": "drop", "expires_at": "tomorrow"}),
                "expires_at 'tomorrow'",
            ),
            (
                json!({"query": "x", "action": "drop", "expires_at": "2020-01-01T00:00:00Z"}),
                "has passed",
            ),
            (
                json!({"query": "x", "action": "drop", "colour": 1}),
                "unknown field 'colour'",
            ),
            (json!({"query": "level:", "action": "drop"}), "query:"),
            (
                json!({"query": "is:resolved", "action": "drop"}),
                "group's status",
            ),
            (
                json!({"query": "x", "action": "drop", "protect_errors": "yes"}),
                "protect_errors",
            ),
            (
                json!({"query": "x", "action": "drop", "project": "Shop Front"}),
                "project 'Shop Front'",
            ),
        ];
        for (body, says) in refusals {
            let message = rule(body.clone()).unwrap_err().message().to_string();
            assert!(message.contains(says), "{body}: {message}");
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules: Vec<ActiveRule> = [
            json!({"query": "level:debug service:checkout", "action": "drop"}),
            json!({"query": "\"health\"", "action": "sample(0.5)"}),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, b)| ActiveRule::new(parse_rule(&b, format!("r{i}"), now()).unwrap()).unwrap())
        .collect();
        assert_eq!(
            verdict(&rules, &event("debug", 5, "checkout", "t"), now()),
            Verdict::Dropped { rule: "r0".into() }
        );
        // Debug of another service is not the drop rule's; it is a health check, sampled.
        let other = verdict(&rules, &event("debug", 5, "api", "t1"), now());
        assert!(matches!(other, Verdict::Keep | Verdict::SampledOut { .. }));
        // An error is kept from sampling by default.
        assert_eq!(
            verdict(&rules, &event("error", 17, "api", "t1"), now()),
            Verdict::Keep
        );
    }

    #[test]
    fn an_expired_or_other_projects_rule_does_nothing() {
        let mut r = parse_rule(&json!({"query": "x*", "action": "drop", "project": "blog", "expires_at": "2026-12-07T13:00:00Z"}), "r".into(), now()).unwrap();
        let e = StoredEvent {
            message: "xyz".into(),
            project: Some("blog".into()),
            ..Default::default()
        };
        let active = |r: &IngestRule| vec![ActiveRule::new(r.clone()).unwrap()];
        assert_eq!(
            verdict(&active(&r), &e, now()),
            Verdict::Dropped { rule: "r".into() }
        );
        assert_eq!(
            verdict(
                &active(&r),
                &StoredEvent {
                    project: Some("shop".into()),
                    ..e.clone()
                },
                now()
            ),
            Verdict::Keep
        );
        r.expires_at = Some("2026-12-07T11:00:00.000Z".into());
        assert_eq!(verdict(&active(&r), &e, now()), Verdict::Keep);
    }

    #[test]
    fn a_gate_never_rules_out_an_event_its_search_matches() {
        let queries = [
            "level:debug service:checkout",
            "level:>=warn env:production",
            "level:<info component:[Auth,Cart]",
            "level:>error release:1.0 source:backend",
            "level:<=warn fingerprint:fp1 route:/api/:id",
        ];
        let levels = [
            ("debug", 5),
            ("info", 9),
            ("warn", 13),
            ("error", 17),
            ("fatal", 21),
        ];
        for query in queries {
            let rule = ActiveRule::new(
                parse_rule(
                    &json!({"query": query, "action": "drop"}),
                    "g".into(),
                    now(),
                )
                .unwrap(),
            )
            .unwrap();
            assert!(!rule.gates.is_empty(), "{query}");
            for (level, severity) in levels {
                for service in ["checkout", "api"] {
                    let e = StoredEvent {
                        level: level.into(),
                        severity_number: severity,
                        service: Some(service.into()),
                        environment: "production".into(),
                        component: Some("Auth".into()),
                        release: Some("1.0".into()),
                        source_type: "backend".into(),
                        fingerprint: "fp1".into(),
                        route: Some("/api/:id".into()),
                        ..Default::default()
                    };
                    let gated = rule.gates.iter().all(|g| g.holds(&e));
                    let matched = rule.search.matches(&e, now());
                    assert!(
                        gated || !matched,
                        "{query} on {level} {service}: the gate ruled out a match"
                    );
                }
            }
        }
    }

    #[test]
    fn a_sample_keeps_whole_traces_and_its_rate() {
        let rules = vec![ActiveRule::new(
            parse_rule(
                &json!({"query": "service:api", "action": "sample(0.1)"}),
                "s".into(),
                now(),
            )
            .unwrap(),
        )
        .unwrap()];
        let mut kept_traces = 0;
        for trace in 0..10_000 {
            let verdicts: Vec<Verdict> = (0..3)
                .map(|span| {
                    let mut e = event("info", 9, "api", &format!("trace-{trace}"));
                    e.id = format!("{trace}-{span}");
                    verdict(&rules, &e, now())
                })
                .collect();
            assert!(
                verdicts.windows(2).all(|w| w[0] == w[1]),
                "a trace is kept or dropped whole"
            );
            if verdicts[0] == Verdict::Keep {
                kept_traces += 1;
            }
        }
        assert!(
            (800..=1200).contains(&kept_traces),
            "10 % ± 2 % of 10,000 traces: {kept_traces}"
        );
    }
}
