//! The hourly series a spike or quiet rule watches, read from the rollups (pure). The series'
//! keys and their analysis are `query::trends`'.

use crate::alerting::rules::AlertRule;
use crate::processors::level::Level;
use crate::storage::sql::{Bind, SqlQuery, Where};

/// The hourly counts of the events a spike or quiet rule watches: one group's counts when the
/// rule names a fingerprint, otherwise the full hourly rollup narrowed by the rule's filters.
pub fn rule_query(rule: &AlertRule, keys: &[String]) -> SqlQuery {
    let m = &rule.matcher;
    let mut w = Where::default();
    if let Some(fingerprint) = &m.fingerprint {
        // The group's own hours and those of the fingerprints merged into it.
        w.add(
            "(fingerprint = ? OR fingerprint IN (SELECT source FROM group_merges WHERE target = ?))",
            [Bind::Text(fingerprint.clone()), Bind::Text(fingerprint.clone())],
        );
        w.add("bucket >= ?", [Bind::Text(keys[0].clone())]);
        let (clause, binds) = w.finish();
        return SqlQuery {
            sql: format!("SELECT bucket, n FROM group_counts_hour{clause}"),
            binds,
        };
    }
    w.add("bucket >= ?", [Bind::Text(keys[0].clone())]);
    let (min, max) = (rule.min_severity(), rule.max_severity());
    if min > 0 || max < 24 {
        let levels: Vec<String> = Level::ALL
            .iter()
            .filter(|l| (min..=max).contains(&l.severity_number()))
            .map(|l| l.as_str().to_string())
            .collect();
        w.any_of("level", &levels);
    }
    if let Some(project) = &rule.project {
        w.add("project = ?", [Bind::Text(project.clone())]);
    }
    for (column, value) in [
        ("environment", &m.environment),
        ("component", &m.component),
        ("route", &m.route),
    ] {
        if let Some(v) = value {
            w.add(format!("{column} = ?"), [Bind::Text(v.clone())]);
        }
    }
    let (clause, binds) = w.finish();
    SqlQuery {
        sql: format!("SELECT bucket, sum(n) AS n FROM event_counts_hour{clause} GROUP BY bucket"),
        binds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::rules::{RuleMatch, Trigger};
    use crate::query::trends::hour_keys;
    use chrono::{DateTime, TimeZone, Utc};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 0).unwrap()
    }

    fn rule(matcher: RuleMatch) -> AlertRule {
        serde_json::from_value(serde_json::json!({"name": "r", "trigger": "spike"}))
            .map(|r: AlertRule| AlertRule {
                matcher,
                trigger: Trigger::Spike,
                ..r
            })
            .unwrap()
    }

    #[test]
    fn rule_series_come_from_the_narrowest_rollup() {
        let keys = hour_keys(now(), 25);
        let by_group = rule_query(
            &rule(RuleMatch {
                fingerprint: Some("fp1".into()),
                ..Default::default()
            }),
            &keys,
        );
        assert!(by_group
            .sql
            .starts_with("SELECT bucket, n FROM group_counts_hour WHERE (fingerprint = ? OR"));
        let filtered = rule_query(
            &rule(RuleMatch {
                min_level: Some("error".into()),
                environment: Some("production".into()),
                component: Some("Checkout".into()),
                ..Default::default()
            }),
            &keys,
        );
        assert!(filtered.sql.contains("FROM event_counts_hour WHERE bucket >= ? AND level IN (?, ?, ?, ?, ?) AND environment = ? AND component = ? GROUP BY bucket"), "{}", filtered.sql);
        assert_eq!(filtered.sql.matches('?').count(), filtered.binds.len());
        assert!(filtered.binds.contains(&Bind::Text("critical".into())));
        assert!(!filtered.binds.contains(&Bind::Text("warn".into())));
    }
}
