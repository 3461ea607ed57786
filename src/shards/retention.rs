//! Retention: which events and housekeeping rows a scheduled run deletes. Pure: the edge runs
//! the statements, in bounded batches, from `#[event(scheduled)]`.
//!
//! Per-level retention, configurable per deployment (`RETENTION_DEBUG_DAYS` for trace and
//! debug, `RETENTION_INFO_DAYS` for info and notice, `RETENTION_WARN_DAYS`,
//! `RETENTION_ERROR_DAYS` for error and worse). Deleting an event removes it from the full-text
//! index (a trigger); groups keep their lifetime counts, and go once their last event is older
//! than the error retention.

use chrono::{DateTime, Duration, Utc};

use crate::processors::timestamp::format_ts;
use crate::storage::sql::{Bind, SqlQuery};

/// Rows one delete statement removes at most: small enough for the Workers CPU budget and
/// D1's per-query time, so one run is many short statements.
pub const DELETE_BATCH: i64 = 2000;
/// Delete statements per run at most (the cron runs every 5 minutes: ~5.7 million rows a day).
pub const MAX_BATCHES_PER_RUN: usize = 10;

/// The retention bands by number (a block's `band`), as archive objects name them.
pub const BAND_NAMES: [&str; 4] = ["debug", "info", "warn", "error"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionDays {
    pub debug: i64,
    pub info: i64,
    pub warn: i64,
    pub error: i64,
}

impl Default for RetentionDays {
    fn default() -> Self {
        RetentionDays {
            debug: 7,
            info: 30,
            warn: 30,
            error: 90,
        }
    }
}

impl RetentionDays {
    /// From the deployment's variables; a missing or unreadable value keeps its default.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let d = RetentionDays::default();
        let read = |name: &str, default: i64| {
            get(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| (1..=3650).contains(n))
                .unwrap_or(default)
        };
        RetentionDays {
            debug: read("RETENTION_DEBUG_DAYS", d.debug),
            info: read("RETENTION_INFO_DAYS", d.info),
            warn: read("RETENTION_WARN_DAYS", d.warn),
            error: read("RETENTION_ERROR_DAYS", d.error),
        }
    }

    pub fn longest(&self) -> i64 {
        self.debug.max(self.info).max(self.warn).max(self.error)
    }

    pub fn shortest(&self) -> i64 {
        self.debug.min(self.info).min(self.warn).min(self.error)
    }

    /// The oldest `received_at` each band keeps (debug, info, warn, error): a block whose
    /// newest event is older goes whole.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> [String; 4] {
        self.bands()
            .map(|(_, _, keep)| format_ts(now - Duration::days(keep)))
    }

    /// `(lowest severity, highest severity, days)` for each band.
    fn bands(&self) -> [(i64, i64, i64); 4] {
        [
            (1, 8, self.debug),
            (9, 12, self.info),
            (13, 16, self.warn),
            (17, 24, self.error),
        ]
    }
}

/// One bounded delete of expired events per band; run each repeatedly until it deletes fewer
/// than `DELETE_BATCH` rows.
pub fn event_deletes(days: &RetentionDays, now: DateTime<Utc>) -> Vec<SqlQuery> {
    days.bands()
        .iter()
        .map(|(low, high, keep)| SqlQuery {
            sql: "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE severity_number BETWEEN ? AND ? AND received_at < ? LIMIT ?)".into(),
            binds: vec![Bind::Int(*low), Bind::Int(*high), Bind::Text(format_ts(now - Duration::days(*keep))), Bind::Int(DELETE_BATCH)],
        })
        .collect()
}

/// With an archive: per band, the next expiring rows to archive (then delete by `seq`).
pub fn expiring_selects(days: &RetentionDays, now: DateTime<Utc>) -> Vec<(&'static str, SqlQuery)> {
    days.bands()
        .iter()
        .zip(BAND_NAMES)
        .map(|((low, high, keep), name)| {
            (
                name,
                SqlQuery {
                    sql: "SELECT seq, substr(received_at, 1, 10) AS day, data FROM events WHERE severity_number BETWEEN ? AND ? AND received_at < ? ORDER BY seq LIMIT ?".into(),
                    binds: vec![Bind::Int(*low), Bind::Int(*high), Bind::Text(format_ts(now - Duration::days(*keep))), Bind::Int(DELETE_BATCH)],
                },
            )
        })
        .collect()
}

/// Deletes exactly the rows that were archived.
pub fn delete_seqs(seqs: &[i64]) -> SqlQuery {
    SqlQuery {
        sql: "DELETE FROM events WHERE seq IN (SELECT value FROM json_each(?))".into(),
        binds: vec![Bind::Text(
            serde_json::to_string(seqs).expect("numbers serialise"),
        )],
    }
}

/// Housekeeping that keeps derived tables bounded, each one statement.
pub fn housekeeping(days: &RetentionDays, now: DateTime<Utc>) -> Vec<SqlQuery> {
    let ago = |d: i64| Bind::Text(format_ts(now - Duration::days(d)));
    let minute_key = |d: i64| Bind::Text(format_ts(now - Duration::days(d))[..16].to_string());
    let hour_key = |d: i64| Bind::Text(format_ts(now - Duration::days(d))[..13].to_string());
    let q = |sql: &str, binds: Vec<Bind>| SqlQuery {
        sql: sql.into(),
        binds,
    };
    vec![
        // Groups whose newest event has expired under the longest retention.
        q("DELETE FROM groups WHERE last_seen < ?", vec![ago(days.longest())]),
        // Threshold windows are at most a day long; two days of counters is plenty.
        q("DELETE FROM alert_counters WHERE window_start < ?", vec![Bind::Int((now - Duration::days(2)).timestamp())]),
        q("DELETE FROM group_transitions WHERE claimed = 1 AND at < ?", vec![ago(1)]),
        // Minute buckets serve short ranges; hour buckets live as long as the events.
        q("DELETE FROM event_counts_minute WHERE bucket < ?", vec![minute_key(7)]),
        q("DELETE FROM event_counts_hour WHERE bucket < ?", vec![hour_key(days.longest())]),
        q("DELETE FROM event_counts_hour_les WHERE bucket < ?", vec![hour_key(days.longest())]),
        q("DELETE FROM group_counts_hour WHERE bucket < ?", vec![hour_key(days.longest())]),
        q("DELETE FROM event_counts_hour_dim WHERE dim IN ('component', 'route') AND bucket < ?", vec![hour_key(days.longest())]),
        q("DELETE FROM alert_deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE created_at < ?)", vec![ago(90)]),
        q("DELETE FROM alerts WHERE created_at < ?", vec![ago(90)]),
        q("DELETE FROM dead_letters WHERE replayed_at IS NOT NULL AND replayed_at < ?", vec![ago(30)]),
        // A counted token keeps a redelivered message from counting twice; a counted message
        // was acked, so only a lost ack brings it back, within minutes.
        q("DELETE FROM count_ledger WHERE at < ?", vec![ago(30)]),
        q("DELETE FROM count_ledger_seconds WHERE second < ?", vec![Bind::Text(format_ts(now - Duration::days(30))[..19].to_string())]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(RetentionDays::from_vars(|_| None), RetentionDays::default());
        let custom = RetentionDays::from_vars(|name| match name {
            "RETENTION_DEBUG_DAYS" => Some("3".into()),
            "RETENTION_ERROR_DAYS" => Some("365".into()),
            "RETENTION_INFO_DAYS" => Some("zero".into()),
            "RETENTION_WARN_DAYS" => Some("0".into()),
            _ => None,
        });
        assert_eq!(
            custom,
            RetentionDays {
                debug: 3,
                info: 30,
                warn: 30,
                error: 365
            }
        );
        assert_eq!(custom.longest(), 365);
    }

    #[test]
    fn block_cutoffs_follow_the_bands_of_blocks() {
        let days = RetentionDays::default();
        let cutoffs = days.cutoffs(now());
        assert_eq!(cutoffs[0], format_ts(now() - Duration::days(7)));
        assert_eq!(cutoffs[3], format_ts(now() - Duration::days(90)));
        // The bands of retention are the bands blocks are split by.
        for (band, (low, high, _)) in days.bands().iter().enumerate() {
            assert_eq!(crate::shards::block::band_of(*low as u8), band as u8);
            assert_eq!(crate::shards::block::band_of(*high as u8), band as u8);
        }
    }

    #[test]
    fn each_band_has_its_cutoff_and_a_bounded_batch() {
        let deletes = event_deletes(&RetentionDays::default(), now());
        assert_eq!(deletes.len(), 4);
        let cutoffs: Vec<&Bind> = deletes.iter().map(|d| &d.binds[2]).collect();
        assert_eq!(cutoffs[0], &Bind::Text("2026-11-16T12:00:00.000Z".into()));
        assert_eq!(cutoffs[1], &Bind::Text("2026-10-24T12:00:00.000Z".into()));
        assert_eq!(cutoffs[3], &Bind::Text("2026-08-25T12:00:00.000Z".into()));
        for d in &deletes {
            assert!(d.sql.contains("LIMIT ?"));
            assert_eq!(d.binds.last(), Some(&Bind::Int(DELETE_BATCH)));
            assert_eq!(d.sql.matches('?').count(), d.binds.len());
        }
        // The bands cover 1..=24 without gaps or overlaps.
        let mut covered = vec![];
        for d in &deletes {
            if let (Bind::Int(lo), Bind::Int(hi)) = (&d.binds[0], &d.binds[1]) {
                covered.extend(*lo..=*hi);
            }
        }
        assert_eq!(covered, (1..=24).collect::<Vec<_>>());
    }

    #[test]
    fn housekeeping_statements_bind_what_they_use() {
        for q in housekeeping(&RetentionDays::default(), now()) {
            assert_eq!(q.sql.matches('?').count(), q.binds.len(), "{}", q.sql);
        }
    }
}
