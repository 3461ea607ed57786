//! Hourly series for trends, sparklines, anomaly badges and rate alerts, read from the rollups
//! (`group_counts_hour`, `event_counts_hour`), never from events. Pure: SQL in, rows out.

use std::collections::HashMap;

use chrono::{DateTime, Duration, DurationRound, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::processors::timestamp::format_ts;
use crate::query::analysis::{Anomaly, HourlySeries, Trend, BASELINE_HOURS};
use crate::storage::sql::{Bind, SqlQuery};

/// Hours shown by a sparkline.
pub const SPARKLINE_HOURS: usize = 24;
/// The longest trend window a query may ask for (a week).
pub const MAX_WINDOW_HOURS: u32 = 168;

/// `bucket, n` rows of one series, or `fingerprint, bucket, n` of several.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CountRow {
    #[serde(default)]
    pub fingerprint: Option<String>,
    pub bucket: String,
    pub n: i64,
}

/// The last `hours` hour keys (`YYYY-MM-DDTHH`), oldest first, ending with the open hour.
pub fn hour_keys(now: DateTime<Utc>, hours: usize) -> Vec<String> {
    let open = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
    (0..hours)
        .rev()
        .map(|back| format_ts(open - Duration::hours(back as i64))[..13].to_string())
        .collect()
}

/// How much of the open hour has gone (0–1).
pub fn elapsed_fraction(now: DateTime<Utc>) -> f64 {
    f64::from(now.minute() * 60 + now.second()) / 3600.0
}

/// Hours of history a trend over `window_hours` and an anomaly score need together.
pub fn history_hours(window_hours: u32) -> usize {
    (2 * window_hours as usize).max(BASELINE_HOURS + 1)
}

/// Counts per hour key, zeros where no row exists.
pub fn series<'a>(keys: &[String], rows: impl IntoIterator<Item = &'a CountRow>) -> Vec<i64> {
    let mut counts = vec![0; keys.len()];
    for row in rows {
        if let Ok(i) = keys.binary_search(&row.bucket) {
            counts[i] += row.n;
        }
    }
    counts
}

/// Rows of several groups into one series each, in one pass over the rows (a page of 1,000
/// groups brings ~48,000 rows; filtering them once per group would be quadratic).
pub fn series_by_fingerprint(keys: &[String], rows: &[CountRow]) -> HashMap<String, Vec<i64>> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    for row in rows {
        let (Some(fingerprint), Ok(i)) = (&row.fingerprint, keys.binary_search(&row.bucket)) else {
            continue;
        };
        out.entry(fingerprint.clone())
            .or_insert_with(|| vec![0; keys.len()])[i] += row.n;
    }
    out
}

/// The hourly counts of some groups since `keys[0]`, each with those of the fingerprints merged
/// into it (hours are counted under an event's own fingerprint, so a merge and an unmerge both
/// leave every group's series exact). The fingerprints travel as one JSON parameter: a page
/// may hold 1,000 groups and D1 binds at most 100 parameters per statement.
pub fn groups_query(fingerprints: &[String], keys: &[String]) -> SqlQuery {
    SqlQuery {
        sql: "SELECT CASE WHEN m.target IN (SELECT value FROM json_each(?1)) THEN m.target ELSE h.fingerprint END AS fingerprint,
                     h.bucket, h.n
              FROM group_counts_hour h LEFT JOIN group_merges m ON m.source = h.fingerprint
              WHERE h.fingerprint IN (SELECT value FROM json_each(?1)
                                      UNION SELECT source FROM group_merges WHERE target IN (SELECT value FROM json_each(?1)))
                AND h.bucket >= ?2"
            .into(),
        binds: vec![
            Bind::Text(serde_json::to_string(fingerprints).expect("strings serialise")),
            Bind::Text(keys[0].clone()),
        ],
    }
}

/// What a group answer adds: its last day per hour, its trend and its anomaly score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesAnalysis {
    pub sparkline: Vec<i64>,
    pub trend: Trend,
    pub anomaly: Anomaly,
}

/// Sparkline, trend and anomaly of one hourly series.
pub fn analyse(counts: &[i64], now: DateTime<Utc>, window_hours: u32) -> SeriesAnalysis {
    let s = HourlySeries {
        counts,
        elapsed_fraction: elapsed_fraction(now),
    };
    SeriesAnalysis {
        sparkline: counts[counts.len().saturating_sub(SPARKLINE_HOURS)..].to_vec(),
        trend: s.trend(window_hours),
        anomaly: s.anomaly(),
    }
}

/// `window=` on `/v1/groups`: hours, 1 to a week.
pub fn parse_window(value: &str) -> Result<u32, crate::error::AppError> {
    let hours = value.trim().trim_end_matches('h');
    hours
        .parse::<u32>()
        .ok()
        .filter(|h| (1..=MAX_WINDOW_HOURS).contains(h))
        .ok_or_else(|| {
            crate::error::invalid_parameter(format!(
                "window '{value}' must be a number of hours from 1 to {MAX_WINDOW_HOURS}, e.g. 24h"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 15, 0).unwrap()
    }

    #[test]
    fn hour_keys_end_with_the_open_hour() {
        let keys = hour_keys(now(), 3);
        assert_eq!(keys, ["2026-11-23T08", "2026-11-23T09", "2026-11-23T10"]);
        assert_eq!(elapsed_fraction(now()), 0.25);
        assert_eq!(history_hours(1), 25);
        assert_eq!(history_hours(24), 48);
    }

    #[test]
    fn rows_become_a_series_with_zeros() {
        let keys = hour_keys(now(), 4);
        let rows = [
            CountRow {
                fingerprint: None,
                bucket: "2026-11-23T09".into(),
                n: 4,
            },
            CountRow {
                fingerprint: None,
                bucket: "2026-11-23T10".into(),
                n: 1,
            },
            CountRow {
                fingerprint: None,
                bucket: "2026-11-22T00".into(),
                n: 99,
            },
        ];
        assert_eq!(series(&keys, &rows), [0, 0, 4, 1]);
    }

    #[test]
    fn rows_of_many_groups_become_one_series_each() {
        let keys = hour_keys(now(), 3);
        let row = |fp: &str, bucket: &str, n| CountRow {
            fingerprint: Some(fp.into()),
            bucket: bucket.into(),
            n,
        };
        let rows = [
            row("a", "2026-11-23T10", 2),
            row("b", "2026-11-23T08", 1),
            row("a", "2026-11-23T09", 5),
            row("a", "2026-11-20T00", 9),
        ];
        let by = series_by_fingerprint(&keys, &rows);
        assert_eq!(by["a"], [0, 5, 2]);
        assert_eq!(by["b"], [1, 0, 0]);
        assert_eq!(by.len(), 2);
    }

    #[test]
    fn a_thousand_groups_bind_two_parameters() {
        let fingerprints: Vec<String> = (0..1000).map(|i| format!("fp{i}")).collect();
        let q = groups_query(&fingerprints, &hour_keys(now(), 25));
        assert_eq!(
            q.binds.len(),
            2,
            "D1 allows 100 bound parameters per statement"
        );
        // Numbered: the list is bound once and read three times.
        let marks: std::collections::BTreeSet<&str> = ["?1", "?2"]
            .into_iter()
            .filter(|m| q.sql.contains(m))
            .collect();
        assert_eq!(marks.len(), 2);
        assert_eq!(q.sql.matches('?').count(), q.sql.matches("?1").count() + 1);
    }

    #[test]
    fn windows() {
        assert_eq!(parse_window("24h").unwrap(), 24);
        assert_eq!(parse_window("6").unwrap(), 6);
        for bad in ["0", "169", "day", "-1", ""] {
            assert_eq!(parse_window(bad).unwrap_err().status(), 400, "{bad}");
        }
    }
}
