//! What the pagers receive: PagerDuty's Events API v2, Opsgenie's Alert API and Prometheus
//! Alertmanager's `POST /api/v2/alerts`, each keyed so that a trigger, its re-sends and its
//! resolution land on one incident. Pure.

use serde_json::{json, Map, Value};

use super::notice::{Action, AlertNotice, HttpCall};

/// PagerDuty's severities from our levels.
pub fn pagerduty_severity(level: &str) -> &'static str {
    match level {
        "fatal" | "critical" | "alert" | "emergency" => "critical",
        "error" => "error",
        "warn" | "warning" => "warning",
        _ => "info",
    }
}

/// Opsgenie's P1 (highest) to P5 from triage's priority (10 highest).
pub fn opsgenie_priority(priority: u8) -> &'static str {
    match priority {
        9.. => "P1",
        8 => "P2",
        6..=7 => "P3",
        4..=5 => "P4",
        _ => "P5",
    }
}

fn custom_details(notice: &AlertNotice) -> Map<String, Value> {
    let mut details: Map<String, Value> = notice
        .facts()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase().replace(' ', "_"), Value::String(v)))
        .collect();
    let frames = notice.top_frames(5);
    if !frames.is_empty() {
        details.insert("top_frames".into(), json!(frames));
    }
    details.insert("fingerprint".into(), json!(notice.group_key));
    details.insert("alert_id".into(), json!(notice.alert_id));
    details
}

/// Events API v2 (`https://events.pagerduty.com/v2/enqueue`): `trigger` with the payload, or
/// `resolve` naming only the dedup key.
pub fn pagerduty(routing_key: &str, url: &str, notice: &AlertNotice) -> HttpCall {
    let dedup_key = format!("edge-logger/{}", notice.incident_key);
    let body = match notice.action {
        Action::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        Action::Trigger | Action::Test => {
            let sample = notice.sample_event.as_ref();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": notice.summary().chars().take(1024).collect::<String>(),
                    "source": sample.and_then(|e| e.service.clone()).unwrap_or_else(|| "edge-logger".into()),
                    "severity": if notice.action == Action::Test { "info" } else { pagerduty_severity(notice.level()) },
                    "timestamp": notice.fired_at,
                    "component": sample.and_then(|e| e.component.clone()),
                    "group": sample.map(|e| e.environment.clone()),
                    "class": notice.trigger,
                    "custom_details": custom_details(notice),
                },
                "links": [{"href": notice.url(), "text": "Open in edge-logger"}],
                "client": "edge-logger",
                "client_url": notice.url(),
            })
        }
    };
    HttpCall::post_json(url.to_string(), &body)
}

/// Opsgenie's Alert API: `POST /v2/alerts` with the incident's `alias`, or
/// `POST /v2/alerts/{alias}/close?identifierType=alias`.
pub fn opsgenie(api_key: &str, base: &str, tags: &[String], notice: &AlertNotice) -> HttpCall {
    let base = base.trim_end_matches('/');
    let alias: String = format!("edge-logger/{}", notice.incident_key)
        .chars()
        .take(512)
        .collect();
    let call = match notice.action {
        Action::Resolve => HttpCall::post_json(
            format!(
                "{base}/v2/alerts/{}/close?identifierType=alias",
                percent_encode(&alias)
            ),
            &json!({"source": "edge-logger", "user": "edge-logger", "note": "Resolved in edge-logger"}),
        ),
        Action::Trigger | Action::Test => {
            let mut all_tags: Vec<String> = vec!["edge-logger".into(), notice.level().into()];
            all_tags.extend(tags.iter().cloned());
            let details: Map<String, Value> = custom_details(notice)
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Value::String(text))
                })
                .collect();
            let description = format!(
                "{}\n\n{}\n\n{}",
                notice.title(),
                notice.top_frames(5).join("\n"),
                notice.url()
            );
            HttpCall::post_json(
                format!("{base}/v2/alerts"),
                &json!({
                    "message": notice.summary().chars().take(130).collect::<String>(),
                    "alias": alias,
                    "description": description.chars().take(15000).collect::<String>(),
                    "tags": all_tags,
                    "details": details,
                    "entity": notice.sample_event.as_ref().and_then(|e| e.service.clone()).unwrap_or_default(),
                    "source": "edge-logger",
                    "priority": if notice.action == Action::Test { "P5" } else { opsgenie_priority(notice.priority()) },
                }),
            )
        }
    };
    call.with_header("authorization", format!("GenieKey {api_key}"))
}

/// Alertmanager's `POST /api/v2/alerts`: the same labels on every send of one incident;
/// `endsAt` a little past the next re-send while firing (so a lost re-send still resolves it
/// in time) and the resolution time when resolved.
pub fn alertmanager(
    url: &str,
    basic: Option<(&str, &str)>,
    bearer: Option<&str>,
    notice: &AlertNotice,
) -> HttpCall {
    let sample = notice.sample_event.as_ref();
    let mut labels = Map::new();
    let alertname = match notice.action {
        Action::Test => "EdgeLoggerTest".to_string(),
        _ => notice.rule_name.clone(),
    };
    let pairs = [
        ("alertname", Some(alertname)),
        ("service", sample.and_then(|e| e.service.clone())),
        ("environment", sample.map(|e| e.environment.clone())),
        ("level", Some(notice.level().to_string())),
        (
            "severity",
            Some(pagerduty_severity(notice.level()).to_string()),
        ),
        ("fingerprint", Some(notice.group_key.clone())),
        ("project", sample.and_then(|e| e.project.clone())),
        ("rule_id", Some(notice.rule_id.clone())),
    ];
    for (name, value) in pairs {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            labels.insert(name.into(), Value::String(v));
        }
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": {
            "summary": notice.summary(),
            "description": format!("{}\n{}", notice.title(), notice.top_frames(3).join("\n")).trim_end().to_string(),
            "link": notice.url(),
        },
        "startsAt": notice.fired_at,
        "generatorURL": notice.url(),
    });
    if let Some(ends) = &notice.ends_at {
        alert["endsAt"] = json!(ends);
    }
    let call = HttpCall::post_json(
        format!("{}/api/v2/alerts", url.trim_end_matches('/')),
        &json!([alert]),
    );
    match (basic, bearer) {
        (Some((user, password)), _) => call.basic_auth(user, password),
        (None, Some(token)) => call.with_header("authorization", format!("Bearer {token}")),
        (None, None) => call,
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notice::tests_support::notice;

    #[test]
    fn pagerduty_trigger_and_resolve_share_the_dedup_key() {
        let n = notice();
        let trigger: Value = serde_json::from_str(
            &pagerduty("k".repeat(32).as_str(), "https://e/v2/enqueue", &n).body,
        )
        .unwrap();
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(trigger["payload"]["severity"], "error");
        assert_eq!(trigger["payload"]["source"], "api");
        assert_eq!(trigger["payload"]["custom_details"]["release"], "1.4.0");
        assert_eq!(
            trigger["links"][0]["href"],
            "https://logger.example.com/#/groups/abc"
        );
        let resolved = AlertNotice {
            action: Action::Resolve,
            ..n
        };
        let resolve: Value =
            serde_json::from_str(&pagerduty("k", "https://e", &resolved).body).unwrap();
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
        assert!(resolve.get("payload").is_none());
    }

    #[test]
    fn opsgenie_alias_priority_and_close() {
        let n = notice();
        let create = opsgenie("key", "https://api.eu.opsgenie.com", &["team-a".into()], &n);
        assert_eq!(create.url, "https://api.eu.opsgenie.com/v2/alerts");
        assert!(create
            .headers
            .contains(&("authorization".into(), "GenieKey key".into())));
        let body: Value = serde_json::from_str(&create.body).unwrap();
        assert_eq!(body["alias"], "edge-logger/group:abc");
        assert_eq!(body["priority"], "P2");
        assert!(body["message"].as_str().unwrap().chars().count() <= 130);
        assert!(body["details"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string));
        assert_eq!(body["tags"], json!(["edge-logger", "error", "team-a"]));
        let close = opsgenie(
            "key",
            "https://api.opsgenie.com/",
            &[],
            &AlertNotice {
                action: Action::Resolve,
                ..n
            },
        );
        assert_eq!(close.url, "https://api.opsgenie.com/v2/alerts/edge-logger%2Fgroup%3Aabc/close?identifierType=alias");
        for (p, want) in [(10, "P1"), (8, "P2"), (7, "P3"), (4, "P4"), (1, "P5")] {
            assert_eq!(opsgenie_priority(p), want);
        }
    }

    #[test]
    fn alertmanager_labels_are_stable_and_resolution_sets_ends_at() {
        let firing = AlertNotice {
            ends_at: Some("2026-11-23T12:15:30.000Z".into()),
            ..notice()
        };
        let call = alertmanager("https://am.example.com/", Some(("u", "p")), None, &firing);
        assert_eq!(call.url, "https://am.example.com/api/v2/alerts");
        assert!(call
            .headers
            .contains(&("authorization".into(), "Basic dTpw".into())));
        let body: Value = serde_json::from_str(&call.body).unwrap();
        let alert = &body[0];
        assert_eq!(alert["labels"]["alertname"], "errors");
        assert_eq!(alert["labels"]["fingerprint"], "abc");
        assert_eq!(alert["labels"]["environment"], "production");
        assert_eq!(alert["startsAt"], "2026-11-23T12:00:30.000Z");
        let resolved = AlertNotice {
            action: Action::Resolve,
            ends_at: Some("2026-11-23T13:00:00.000Z".into()),
            ..notice()
        };
        let again: Value =
            serde_json::from_str(&alertmanager("https://am", None, Some("t"), &resolved).body)
                .unwrap();
        assert_eq!(again[0]["labels"], alert["labels"]);
        assert_eq!(again[0]["endsAt"], "2026-11-23T13:00:00.000Z");
    }
}
