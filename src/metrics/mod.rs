//! Self-monitoring in the Prometheus text format. Pure: counters are rows of `metric_counters`
//! `(name, labels, value)`; this module names them, accumulates the edge's own counts between
//! flushes, and renders the exposition text.
//!
//! Where counts come from, and why they are right across isolates:
//! - what reaches D1 is counted in D1, by triggers or in the consumer's own statements, inside
//!   the same transactions (events stored, queue batches and retries, D1 write latency, alerts,
//!   deliveries): exact, whatever isolate did the work;
//! - what only the edge sees (requests accepted or rejected and why, rate-limit hits) is summed
//!   in each isolate and added to D1 with one upsert batch at most every 10 seconds, after the
//!   response (`waitUntil`). Sums across isolates are exact except for an isolate evicted between
//!   flushes, which loses at most its last 10 seconds. Workers Analytics Engine would avoid even
//!   that, but it cannot be read back without the account's API token, nor locally.

#[cfg(target_arch = "wasm32")]
pub(crate) mod recorder;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;

use std::collections::BTreeMap;

use crate::storage::sql::{Bind, SqlQuery};

/// `(name, type, help)` of every metric the service exposes.
pub const METRICS: &[(&str, &str, &str)] = &[
    (
        "edge_logger_billed_total",
        "counter",
        "What Cloudflare bills, counted from the runtime's own numbers, by line item (src/billing): rows read and written, queue operations, KV, requests.",
    ),
    (
        "edge_logger_requests_total",
        "counter",
        "HTTP requests answered, by route and status.",
    ),
    (
        "edge_logger_events_accepted_total",
        "counter",
        "Events answered 202 (durably queued), by level.",
    ),
    (
        "edge_logger_events_rejected_total",
        "counter",
        "Events rejected at ingest, by reason (the error code).",
    ),
    (
        "edge_logger_events_dropped_total",
        "counter",
        "Events an ingest rule dropped before the queue, by project and rule.",
    ),
    (
        "edge_logger_events_sampled_out_total",
        "counter",
        "Events an ingest rule's sample left out before the queue, by project and rule.",
    ),
    (
        "edge_logger_events_refused_quota_total",
        "counter",
        "Events a project's hard quota refused at ingest, by project.",
    ),
    (
        "edge_logger_rate_limited_total",
        "counter",
        "Requests refused by the per-key rate limit.",
    ),
    (
        "edge_logger_events_stored_total",
        "counter",
        "Events stored in the shards and counted in D1, by level (a redelivered event is stored once).",
    ),
    (
        "edge_logger_queue_batches_total",
        "counter",
        "Queue batches handled by the consumer, by queue.",
    ),
    (
        "edge_logger_queue_messages_total",
        "counter",
        "Queue messages handled, by queue and outcome (acked, retried).",
    ),
    (
        "edge_logger_d1_write_seconds",
        "histogram",
        "Time of the consumer's D1 write per batch.",
    ),
    (
        "edge_logger_alerts_total",
        "counter",
        "Alerts recorded, by status (notified, throttled, muted).",
    ),
    (
        "edge_logger_alert_deliveries_total",
        "counter",
        "Alert delivery attempts that ended, by channel and outcome (delivered, failed).",
    ),
    (
        "edge_logger_dead_letters_pending",
        "gauge",
        "Dead letters not replayed yet.",
    ),
    ("edge_logger_groups", "gauge", "Error groups, by status."),
];

/// Buckets of the D1 write latency histogram, in seconds.
pub const D1_WRITE_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// `label="value",…` with values escaped as the text format requires.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    // Two calls per request: written in one pass into one allocation.
    let size = pairs.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = String::with_capacity(size);
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out
}

/// Counts accumulated in one isolate between flushes.
#[derive(Debug, Default)]
pub struct Recorder {
    pending: BTreeMap<(String, String), f64>,
    last_flush_ms: u64,
}

/// Flush at most this often, and at once past this many distinct series.
const FLUSH_INTERVAL_MS: u64 = 10_000;
const FLUSH_SERIES: usize = 200;

impl Recorder {
    pub fn add(&mut self, name: &str, labels: String, value: f64) {
        *self
            .pending
            .entry((name.to_string(), labels))
            .or_insert(0.0) += value;
    }

    /// The upserts to run now, if a flush is due; the pending counts are handed over.
    /// The upserts of the pending counts when a flush is due: `FLUSH_INTERVAL_MS` after the
    /// last one, or at `FLUSH_SERIES` series.
    pub fn flush_due(&mut self, now_ms: u64) -> Option<Vec<SqlQuery>> {
        if self.pending.is_empty() {
            return None;
        }
        if self.last_flush_ms == 0 {
            // The first request of an isolate starts the clock rather than flushing at once.
            self.last_flush_ms = now_ms;
        }
        if now_ms.saturating_sub(self.last_flush_ms) < FLUSH_INTERVAL_MS
            && self.pending.len() < FLUSH_SERIES
        {
            return None;
        }
        self.flush_all(now_ms)
    }

    /// The upserts of every pending count now (a scrape), the next flush due an interval after
    /// `now_ms`.
    pub fn flush_all(&mut self, now_ms: u64) -> Option<Vec<SqlQuery>> {
        self.last_flush_ms = now_ms;
        if self.pending.is_empty() {
            return None;
        }
        Some(
            std::mem::take(&mut self.pending)
                .into_iter()
                .map(|((name, labels), value)| increment(&name, &labels, value))
                .collect(),
        )
    }
}

/// The columns of `usage_events` an isolate counts at ingest, in [`usage_events_upsert`]'s order.
pub const USAGE_COLUMNS: [&str; 5] = [
    "received",
    "accepted",
    "dropped",
    "sampled_out",
    "refused_quota",
];

/// One upsert of every usage row an isolate counted (none when it counted nothing).
pub fn usage_events_upsert(
    rows: &std::collections::BTreeMap<(String, String, String, String), [i64; 5]>,
) -> Option<SqlQuery> {
    if rows.is_empty() {
        return None;
    }
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(|((day, project, service, level), n)| {
            serde_json::json!([day, project, service, level, n[0], n[1], n[2], n[3], n[4]])
        })
        .collect();
    Some(SqlQuery {
        sql: "INSERT INTO usage_events (day, project, service, level, received, accepted, dropped, sampled_out, refused_quota)
              SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8
              FROM json_each(?1) WHERE true
              ON CONFLICT DO UPDATE SET received = received + excluded.received, accepted = accepted + excluded.accepted,
                dropped = dropped + excluded.dropped, sampled_out = sampled_out + excluded.sampled_out,
                refused_quota = refused_quota + excluded.refused_quota"
            .into(),
        binds: vec![Bind::Text(serde_json::Value::Array(values).to_string())],
    })
}

/// One day's billed units of one item added to `usage_daily`.
pub fn usage_upsert(day: &str, item: &str, units: u64) -> SqlQuery {
    SqlQuery {
        sql: "INSERT INTO usage_daily (day, item, units) VALUES (?, ?, ?) ON CONFLICT (day, item) DO UPDATE SET units = units + excluded.units".into(),
        binds: vec![Bind::Text(day.into()), Bind::Text(item.into()), Bind::Int(units as i64)],
    }
}

/// One counter upsert.
pub fn increment(name: &str, labels: &str, value: f64) -> SqlQuery {
    SqlQuery {
        sql: "INSERT INTO metric_counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value".into(),
        binds: vec![Bind::Text(name.into()), Bind::Text(labels.into()), Bind::Real(value)],
    }
}

/// The histogram upserts for one observation.
pub fn observe_histogram(
    name: &str,
    base_labels: &[(&str, &str)],
    buckets: &[f64],
    value: f64,
) -> Vec<SqlQuery> {
    histogram_increments(name, base_labels, buckets, value)
        .into_iter()
        .map(|(series, labels, by)| increment(&series, &labels, by))
        .collect()
}

/// The series one observation of a histogram adds to: `(name, labels, by)` for each bucket it
/// falls in, the sum and the count.
pub fn histogram_increments(
    name: &str,
    base_labels: &[(&str, &str)],
    buckets: &[f64],
    value: f64,
) -> Vec<(String, String, f64)> {
    let mut out = Vec::with_capacity(buckets.len() + 3);
    for le in buckets
        .iter()
        .map(|b| b.to_string())
        .chain(std::iter::once("+Inf".to_string()))
    {
        let within = le == "+Inf" || value <= le.parse::<f64>().unwrap_or(f64::INFINITY);
        if within {
            let mut pairs = base_labels.to_vec();
            pairs.push(("le", &le));
            out.push((format!("{name}_bucket"), labels(&pairs), 1.0));
        }
    }
    out.push((format!("{name}_sum"), labels(base_labels), value));
    out.push((format!("{name}_count"), labels(base_labels), 1.0));
    out
}

/// The exposition text: `# HELP`/`# TYPE` for every known metric, then its samples.
pub fn render(rows: &[(String, String, f64)]) -> String {
    let mut out = String::new();
    for (name, kind, help) in METRICS {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        let family: Vec<&(String, String, f64)> = rows
            .iter()
            .filter(|(n, _, _)| {
                n == name
                    || (*kind == "histogram"
                        && n.strip_prefix(name)
                            .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s)))
            })
            .collect();
        for (n, l, v) in family {
            let value = if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", *v as i64)
            } else {
                format!("{v}")
            };
            if l.is_empty() {
                out.push_str(&format!("{n} {value}\n"));
            } else {
                out.push_str(&format!("{n}{{{l}}} {value}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(
            labels(&[("route", "/a\"b\\c\nd"), ("status", "200")]),
            r#"route="/a\"b\\c\nd",status="200""#
        );
    }

    #[test]
    fn recorder_flushes_by_time_or_size() {
        let mut r = Recorder::default();
        assert!(r.flush_due(1_000).is_none());
        r.add(
            "edge_logger_requests_total",
            labels(&[("status", "202")]),
            1.0,
        );
        r.add(
            "edge_logger_requests_total",
            labels(&[("status", "202")]),
            1.0,
        );
        assert!(
            r.flush_due(1_000).is_none(),
            "the first request starts the clock"
        );
        assert!(r.flush_due(5_000).is_none());
        let flushed = r.flush_due(11_001).unwrap();
        assert_eq!(flushed.len(), 1);
        assert_eq!(flushed[0].binds[2], Bind::Real(2.0));
        assert!(r.flush_due(30_000).is_none(), "nothing pending");
        for i in 0..FLUSH_SERIES {
            r.add(
                "edge_logger_events_rejected_total",
                labels(&[("reason", &i.to_string())]),
                1.0,
            );
        }
        assert_eq!(
            r.flush_due(11_002).unwrap().len(),
            FLUSH_SERIES,
            "many series flush early"
        );
    }

    #[test]
    fn histogram_observations_fill_cumulative_buckets() {
        let q = observe_histogram("edge_logger_d1_write_seconds", &[], D1_WRITE_BUCKETS, 0.03);
        let bucket_labels: Vec<String> = q
            .iter()
            .filter(|s| matches!(&s.binds[0], Bind::Text(n) if n.ends_with("_bucket")))
            .map(|s| match &s.binds[1] {
                Bind::Text(l) => l.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            bucket_labels.first().map(String::as_str),
            Some(r#"le="0.05""#)
        );
        assert_eq!(
            bucket_labels.last().map(String::as_str),
            Some(r#"le="+Inf""#)
        );
        assert_eq!(q.len(), 7 + 1 + 2);
    }

    #[test]
    fn rendering() {
        let text = render(&[
            (
                "edge_logger_requests_total".into(),
                labels(&[("route", "/v1/logs"), ("status", "202")]),
                3.0,
            ),
            (
                "edge_logger_d1_write_seconds_bucket".into(),
                labels(&[("le", "+Inf")]),
                2.0,
            ),
            (
                "edge_logger_d1_write_seconds_sum".into(),
                String::new(),
                0.061,
            ),
            (
                "edge_logger_dead_letters_pending".into(),
                String::new(),
                0.0,
            ),
        ]);
        assert!(text.contains("# TYPE edge_logger_requests_total counter\nedge_logger_requests_total{route=\"/v1/logs\",status=\"202\"} 3\n"));
        assert!(text.contains("edge_logger_d1_write_seconds_bucket{le=\"+Inf\"} 2\nedge_logger_d1_write_seconds_sum 0.061\n"));
        assert!(text.contains("edge_logger_dead_letters_pending 0\n"));
        for (name, _, _) in METRICS {
            assert!(text.contains(&format!("# HELP {name} ")));
        }
    }

    /// A scrape flushes everything, and counting goes on after it: the next flush is due an
    /// interval after the scrape, not never.
    #[test]
    fn counting_goes_on_after_a_scrape() {
        let mut r = Recorder::default();
        r.add("edge_logger_requests_total", "a".into(), 1.0);
        assert_eq!(
            r.flush_due(1_000),
            None,
            "the first request starts the clock"
        );
        assert_eq!(r.flush_all(2_000).map(|s| s.len()), Some(1));
        r.add("edge_logger_requests_total", "a".into(), 1.0);
        assert_eq!(r.flush_due(2_000 + FLUSH_INTERVAL_MS - 1), None);
        assert_eq!(
            r.flush_due(2_000 + FLUSH_INTERVAL_MS).map(|s| s.len()),
            Some(1)
        );
        r.add("edge_logger_requests_total", "a".into(), 1.0);
        assert_eq!(
            r.flush_due(2_000 + 2 * FLUSH_INTERVAL_MS).map(|s| s.len()),
            Some(1)
        );
    }
}
