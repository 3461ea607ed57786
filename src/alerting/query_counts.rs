//! Threshold counts of alert rules: the consumer adds up each batch's events per rule, group
//! and window in memory (the rule's fields and its `match.query` with the live tail's matcher)
//! and writes them in the batch's counting transaction (`counting`). Pure.

use std::collections::BTreeMap;

use crate::alerting::rules::AlertRule;
use crate::model::StoredEvent;
use crate::processors::timestamp::parse_text;
use crate::query::search::{parse, Search};

/// An enabled threshold rule with a query, parsed once per batch.
pub struct QueryRule {
    pub id: String,
    pub rule: AlertRule,
    pub search: Search,
}

impl QueryRule {
    /// A threshold rule as the consumer counts it: its fields and its query (none: every
    /// event its fields match). `None` for a query that no longer parses.
    pub fn new(id: String, rule: AlertRule) -> Option<Self> {
        let search = match rule.matcher.query.as_deref() {
            Some(query) => parse(query).ok()?,
            None => Search::default(),
        };
        Some(QueryRule { id, rule, search })
    }
}

/// One counter row's increment: as the trigger keys them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCount {
    pub rule_id: String,
    pub group_key: String,
    pub window_start: i64,
    pub count: i64,
    pub last_event_id: String,
}

/// The increments these events make to the query rules' counters.
pub fn count(rules: &[QueryRule], events: &[StoredEvent]) -> Vec<QueryCount> {
    let mut counts: BTreeMap<(String, String, i64), (i64, String)> = BTreeMap::new();
    for event in events {
        let Some(at) = parse_text(&event.received_at) else {
            continue;
        };
        for r in rules {
            if !(r.rule.fields_match(event) && r.search.matches(event, at)) {
                continue;
            }
            let group_key = match r.rule.group_by.as_deref() {
                Some("fingerprint") => event.fingerprint.clone(),
                Some("component") => event.component.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let window = r.rule.threshold.window_seconds.max(1);
            let window_start = at.timestamp().div_euclid(window) * window;
            let entry = counts
                .entry((r.id.clone(), group_key, window_start))
                .or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = event.id.clone();
        }
    }
    counts
        .into_iter()
        .map(
            |((rule_id, group_key, window_start), (count, last_event_id))| QueryCount {
                rule_id,
                group_key,
                window_start,
                count,
                last_event_id,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rules::parse_rule;

    struct Utc0;
    impl crate::alerting::rules::TimeZones for Utc0 {
        fn local(
            &self,
            _: &str,
            _: chrono::DateTime<chrono::Utc>,
        ) -> Option<(chrono::Weekday, chrono::NaiveTime)> {
            None
        }
    }

    fn event(id: &str, at: &str, message: &str, component: &str, level: (&str, u8)) -> StoredEvent {
        serde_json::from_value(serde_json::json!({
            "id": id, "event_id": id, "received_at": at, "timestamp": at, "level": level.0,
            "severity_number": level.1, "message": message, "environment": "production",
            "source_type": "backend", "component": component, "tags": {"region": "eu"}, "context": {},
            "fingerprint": format!("fp-{component}"), "fingerprint_reason": "", "priority": 5,
            "routing_key": "", "triage": {"action": "", "hints": []}, "scrubbed": []
        }))
        .unwrap()
    }

    #[test]
    fn counts_matching_events_per_rule_group_and_window() {
        let rule = parse_rule(
            br#"{"name":"eu checkout","match":{"min_level":"warn","query":"region:eu !component:Noise payment"},"threshold":{"count":2,"window_seconds":60},"group_by":"component"}"#,
            &Utc0,
        )
        .unwrap();
        let rules = vec![QueryRule::new("r1".into(), rule).unwrap()];
        let events = vec![
            event(
                "a",
                "2026-12-04T12:00:01.000Z",
                "payment failed",
                "Cart",
                ("error", 17),
            ),
            event(
                "b",
                "2026-12-04T12:00:59.000Z",
                "payment slow",
                "Cart",
                ("warn", 13),
            ),
            event(
                "c",
                "2026-12-04T12:01:00.000Z",
                "payment failed",
                "Cart",
                ("error", 17),
            ),
            event(
                "d",
                "2026-12-04T12:00:02.000Z",
                "payment failed",
                "Noise",
                ("error", 17),
            ),
            event(
                "e",
                "2026-12-04T12:00:03.000Z",
                "payment info",
                "Cart",
                ("info", 9),
            ),
            event(
                "f",
                "2026-12-04T12:00:04.000Z",
                "login failed",
                "Cart",
                ("error", 17),
            ),
        ];
        let start = 1_796_385_600; // 2026-12-04T12:00:00Z
        assert_eq!(
            count(&rules, &events),
            vec![
                QueryCount {
                    rule_id: "r1".into(),
                    group_key: "Cart".into(),
                    window_start: start,
                    count: 2,
                    last_event_id: "b".into()
                },
                QueryCount {
                    rule_id: "r1".into(),
                    group_key: "Cart".into(),
                    window_start: start + 60,
                    count: 1,
                    last_event_id: "c".into()
                },
            ]
        );
    }

    #[test]
    fn rules_refuse_a_bad_query_and_queries_on_rates() {
        let bad = parse_rule(br#"{"name":"x","match":{"query":"level:loud"}}"#, &Utc0).unwrap_err();
        assert!(
            bad.message().starts_with("match.query: level 'loud'"),
            "{}",
            bad.message()
        );
        let status =
            parse_rule(br#"{"name":"x","match":{"query":"is:resolved"}}"#, &Utc0).unwrap_err();
        assert!(
            status.message().contains("match.query cannot"),
            "{}",
            status.message()
        );
        let rate = parse_rule(
            br#"{"name":"x","trigger":"spike","match":{"query":"a"}}"#,
            &Utc0,
        )
        .unwrap_err();
        assert!(
            rate.message().contains("spike and quiet"),
            "{}",
            rate.message()
        );
    }
}
