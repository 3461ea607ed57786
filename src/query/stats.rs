//! `GET /v1/stats`: time buckets × one dimension, summed from the per-minute and per-hour count
//! rollups (never by scanning events). Pure: the edge passes `now`.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::{json, Map, Value};

use super::logs::{parse_level_list, parse_time, refuse_unusable};
use crate::error::{invalid_parameter as bad, AppError};
use crate::processors::environment::normalize_environment;
use crate::processors::level::Level;
use crate::query::analysis::HourlySeries;
use crate::query::search::{
    field_of, level_band, level_names, plain_value, take_query, time_range, unsupported, Condition,
    Lowered, Op, Search,
};
use crate::storage::sql::{within_bind_limit, Bind, SqlQuery, Where};

use crate::processors::timestamp::format_ts;

/// Most buckets one answer may hold (a day of minutes is 1,440).
pub const MAX_BUCKETS: i64 = 1500;

/// The query parameters of `GET /v1/stats` (`key` is auth's), as the OpenAPI document lists them.
pub const STATS_PARAMS: &[&str] = &[
    "from",
    "to",
    "bucket",
    "by",
    "project",
    "level",
    "environment",
    "component",
    "route",
    "source_type",
    "query",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketSize {
    Minute,
    Hour,
    Day,
}

impl BucketSize {
    fn duration(self) -> Duration {
        match self {
            BucketSize::Minute => Duration::minutes(1),
            BucketSize::Hour => Duration::hours(1),
            BucketSize::Day => Duration::days(1),
        }
    }

    /// The range asked for when `from` is absent.
    fn default_span(self) -> Duration {
        match self {
            BucketSize::Minute => Duration::hours(1),
            BucketSize::Hour => Duration::hours(24),
            BucketSize::Day => Duration::days(30),
        }
    }

    /// The width of rollup bucket keys (minute or hour rollups), and how many characters of a
    /// key make one of our buckets (a day is the first 10 characters of an hour key).
    fn key_widths(self) -> (usize, usize) {
        match self {
            BucketSize::Minute => (16, 16),
            BucketSize::Hour => (13, 13),
            BucketSize::Day => (13, 10),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            BucketSize::Minute => "1m",
            BucketSize::Hour => "1h",
            BucketSize::Day => "1d",
        }
    }
}

/// The dimensions every count rollup keeps (beside the project), what `by=` breaks down by.
pub const DIMENSIONS: &[&str] = &["level", "environment", "component", "route", "source_type"];

/// The dimensions `event_counts_hour_les` keeps together (migration 0007).
const NARROW: &[&str] = &["level", "environment", "source_type"];

/// Which rollup answers a query: the smallest that holds every column it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    /// `event_counts_minute`: every combination, per minute.
    Minute,
    /// `event_counts_hour`: every combination, per hour; the fallback for cross filters.
    Hour,
    /// `event_counts_hour_les`: level × environment × source type, per hour.
    HourNarrow,
    /// `event_counts_hour_dim`: one component or route value per row, per hour.
    HourDimension,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    /// `None`: every project summed (admin); the handler narrows it for project keys.
    pub project: Option<String>,
    pub bucket: BucketSize,
    pub by: &'static str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub filters: Vec<(&'static str, Vec<String>)>,
}

pub fn parse_stats_query(
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<StatsQuery, AppError> {
    let mut bucket = BucketSize::Hour;
    let mut by = "level";
    let (mut from, mut to) = (None, None);
    let mut filters: Vec<(&'static str, Vec<String>)> = Vec::new();
    let mut project = None;
    for (key, value) in params {
        let value = value.trim();
        refuse_unusable(key, value)?;
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "bucket" => {
                bucket = match value {
                    "1m" => BucketSize::Minute,
                    "1h" => BucketSize::Hour,
                    "1d" => BucketSize::Day,
                    other => {
                        return Err(bad(format!(
                            "bucket '{other}' is unknown; use 1m, 1h or 1d"
                        )))
                    }
                }
            }
            "by" => {
                by = DIMENSIONS.iter().find(|d| **d == value).ok_or_else(|| {
                    bad(format!(
                        "by '{value}' is unknown; use one of {}",
                        DIMENSIONS.join(", ")
                    ))
                })?
            }
            "from" => from = Some(parse_time(key, value)?),
            "to" => to = Some(parse_time(key, value)?),
            "level" => filters.push(("level", parse_level_list(value)?)),
            "environment" => filters.push((
                "environment",
                vec![normalize_environment(value).unwrap_or_default()],
            )),
            "project" => project = Some(value.to_string()),
            "component" => filters.push(("component", vec![value.to_string()])),
            "route" => filters.push(("route", vec![value.to_string()])),
            "source_type" => filters.push(("source_type", vec![value.to_string()])),
            "key" | "query" => {}
            other => {
                return Err(bad(format!(
                    "unknown query parameter '{other}'; known: {}",
                    STATS_PARAMS.join(", ")
                )))
            }
        }
    }
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - bucket.default_span());
    if from > to {
        return Err(bad("from must not be after to"));
    }
    let query = StatsQuery {
        project,
        bucket,
        by,
        from,
        to,
        filters,
    };
    let count = query.bucket_starts().len() as i64;
    if count > MAX_BUCKETS {
        return Err(bad(format!(
            "that range holds {count} buckets of {}; the limit is {MAX_BUCKETS}: use a larger bucket or a shorter range",
            bucket.as_str()
        )));
    }
    within_bind_limit(&query.to_sql())?;
    Ok(query)
}

/// The parameters of `GET /v1/stats` with its `query=` applied. Counts come from rollups
/// keyed by level, environment, component, route and source type, so only positive filters on
/// those (and the time range) can narrow them.
pub fn parse_stats_search(
    params: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<StatsQuery, AppError> {
    let (mut params, search) = take_query(params)?;
    if let Some(search) = search {
        params.extend(lower_for_stats(&search, now)?);
    }
    parse_stats_query(&params, now)
}

const STATS_TAKES: &str = "level (names or >=, <=), environment, component, route, \
source_type, project and timestamp, without ! or *";

/// A search for `/v1/stats`, as its parameters.
pub fn lower_for_stats(
    search: &Search,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String)>, AppError> {
    let mut out = Lowered::default();
    for term in &search.terms {
        let field = field_of(term).unwrap_or_default();
        let taken = match (field, &term.condition) {
            ("level", Condition::Field { op, values, .. }) if !term.negated => {
                let names = match op {
                    Op::Eq => level_names(term),
                    op => {
                        let (low, high) = level_band(&values[0].text());
                        let keep = |band: (i64, i64)| match op {
                            Op::Ge => band.0 >= low,
                            Op::Gt => band.0 > high,
                            Op::Le => band.1 <= high,
                            _ => band.1 < low,
                        };
                        let names: Vec<&str> = Level::ALL
                            .iter()
                            .map(|l| l.as_str())
                            .filter(|n| keep(level_band(n)))
                            .collect();
                        (!names.is_empty()).then(|| names.join(","))
                    }
                };
                names.is_some_and(|n| out.once("level", n))
            }
            ("environment" | "component" | "route" | "source_type", _) => match plain_value(term) {
                Some(v) => {
                    out.params.push((field.to_string(), v));
                    true
                }
                None => false,
            },
            ("project", _) => plain_value(term).is_some_and(|v| out.once("project", v)),
            ("timestamp", Condition::Field { op, values, .. }) if !term.negated => {
                let text = values[0].text();
                match (op, time_range(&text, now)) {
                    (Op::Eq, Some((from, to))) => {
                        out.once("from", format_ts(from)) && out.once("to", format_ts(to))
                    }
                    (Op::Ge | Op::Gt, Some((t, _))) => out.once("from", format_ts(t)),
                    (Op::Le | Op::Lt, Some((t, _))) => out.once("to", format_ts(t)),
                    _ => false,
                }
            }
            _ => false,
        };
        if !taken {
            return Err(unsupported(term, "/v1/stats", STATS_TAKES));
        }
    }
    Ok(out.params)
}

fn floor(t: DateTime<Utc>, size: BucketSize) -> DateTime<Utc> {
    t.duration_trunc(size.duration()).unwrap_or(t)
}

impl StatsQuery {
    /// Every bucket start in the range, so that quiet buckets show as zeros.
    pub fn bucket_starts(&self) -> Vec<DateTime<Utc>> {
        let mut starts = Vec::new();
        let mut t = floor(self.from, self.bucket);
        let end = floor(self.to, self.bucket);
        while t <= end && starts.len() as i64 <= MAX_BUCKETS {
            starts.push(t);
            t += self.bucket.duration();
        }
        starts
    }

    /// The smallest rollup holding the breakdown and every filtered column.
    pub fn rollup(&self) -> Rollup {
        if self.bucket == BucketSize::Minute {
            return Rollup::Minute;
        }
        let filtered = || self.filters.iter().map(|(column, _)| *column);
        if NARROW.contains(&self.by) && filtered().all(|c| NARROW.contains(&c)) {
            Rollup::HourNarrow
        } else if matches!(self.by, "component" | "route") && filtered().all(|c| c == self.by) {
            Rollup::HourDimension
        } else {
            Rollup::Hour
        }
    }

    pub fn to_sql(&self) -> SqlQuery {
        let (row_width, width) = self.bucket.key_widths();
        let from_key = format_ts(floor(self.from, self.bucket))[..row_width].to_string();
        let to_key = format_ts(self.to)[..row_width].to_string();
        let mut w = Where::default();
        let (table, key_column) = match self.rollup() {
            Rollup::Minute => ("event_counts_minute", self.by),
            Rollup::Hour => ("event_counts_hour", self.by),
            Rollup::HourNarrow => ("event_counts_hour_les", self.by),
            Rollup::HourDimension => {
                w.add("dim = ?", [Bind::Text(self.by.to_string())]);
                ("event_counts_hour_dim", "value")
            }
        };
        w.add("bucket >= ?", [Bind::Text(from_key)]);
        w.add("bucket <= ?", [Bind::Text(to_key)]);
        if let Some(project) = &self.project {
            w.add("project = ?", [Bind::Text(project.clone())]);
        }
        for (column, values) in &self.filters {
            // In the one-dimension rollup the filtered dimension is the `value` column.
            let column = if *column == self.by {
                key_column
            } else {
                column
            };
            w.any_of(column, values);
        }
        let (where_clause, binds) = w.finish();
        SqlQuery {
            sql: format!(
                "SELECT substr(bucket, 1, {width}) AS b, {key_column} AS k, sum(n) AS n FROM {table}{where_clause} GROUP BY b, k ORDER BY b"
            ),
            binds,
        }
    }

    /// Rows `(bucket key, dimension value, count)` into the contract's answer, with each key's
    /// `analysis`: its last bucket against the one before (trend) and against up to 24 before
    /// it (anomaly), by `crate::query::analysis` with one bucket as the unit.
    pub fn answer(&self, rows: Vec<(String, String, i64)>, now: DateTime<Utc>) -> Value {
        let (_, width) = self.bucket.key_widths();
        let starts = self.bucket_starts();
        let mut buckets: Vec<(String, Map<String, Value>)> = starts
            .iter()
            .map(|t| (format_ts(*t)[..width].to_string(), Map::new()))
            .collect();
        let mut totals = Map::new();
        for (bucket_key, key, n) in rows {
            let key = if key.is_empty() {
                "(none)".to_string()
            } else {
                key
            };
            if let Ok(i) = buckets.binary_search_by(|(b, _)| b.as_str().cmp(bucket_key.as_str())) {
                let counts = &mut buckets[i].1;
                let current = counts.get(&key).and_then(Value::as_i64).unwrap_or(0);
                counts.insert(key.clone(), json!(current + n));
                let total = totals.get(&key).and_then(Value::as_i64).unwrap_or(0);
                totals.insert(key, json!(total + n));
            }
        }
        let last_start = starts.last().copied().unwrap_or(self.to);
        let elapsed = ((now - last_start).num_milliseconds() as f64
            / self.bucket.duration().num_milliseconds() as f64)
            .clamp(0.0, 1.0);
        let mut analysis = Map::new();
        for key in totals.keys() {
            let counts: Vec<i64> = buckets
                .iter()
                .map(|(_, c)| c.get(key).and_then(Value::as_i64).unwrap_or(0))
                .collect();
            let series = HourlySeries {
                counts: &counts,
                elapsed_fraction: elapsed,
            };
            analysis.insert(
                key.clone(),
                json!({"trend": series.trend(1), "anomaly": series.anomaly()}),
            );
        }
        let buckets: Vec<Value> = starts
            .iter()
            .zip(buckets)
            .map(|(start, (_, counts))| json!({"start": format_ts(*start), "counts": counts}))
            .collect();
        json!({
            "bucket": self.bucket.as_str(),
            "by": self.by,
            "from": format_ts(self.from),
            "to": format_ts(self.to),
            "buckets": buckets,
            "totals": totals,
            "analysis": analysis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 30, 15).unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_level_list_of_only_commas_or_nothing_is_a_400_not_broken_sql() {
        for value in [",", "", "error,", "info,,warn"] {
            let err = parse_stats_query(&params(&[("level", value)]), now()).unwrap_err();
            assert_eq!(err.status(), 400, "level={value}");
        }
    }

    #[test]
    fn defaults_are_a_day_of_hours_by_level() {
        let q = parse_stats_query(&[], now()).unwrap();
        assert_eq!((q.bucket, q.by), (BucketSize::Hour, "level"));
        assert_eq!(
            q.bucket_starts().len(),
            25,
            "24 hours back, both ends' buckets included"
        );
        let sql = q.to_sql();
        assert!(
            sql.sql.starts_with(
                "SELECT substr(bucket, 1, 13) AS b, level AS k, sum(n) AS n FROM event_counts_hour_les"
            ),
            "{}",
            sql.sql
        );
        assert_eq!(
            sql.binds[..2],
            [
                Bind::Text("2026-11-22T08".into()),
                Bind::Text("2026-11-23T08".into())
            ]
        );
    }

    #[test]
    fn minute_and_day_buckets_pick_their_rollup() {
        let q =
            parse_stats_query(&params(&[("bucket", "1m"), ("by", "component")]), now()).unwrap();
        assert!(q
            .to_sql()
            .sql
            .contains("substr(bucket, 1, 16) AS b, component AS k"));
        assert!(q.to_sql().sql.contains("event_counts_minute"));
        assert_eq!(q.bucket_starts().len(), 61);
        let q = parse_stats_query(
            &params(&[("bucket", "1d"), ("from", "2026-11-01T00:00:00Z")]),
            now(),
        )
        .unwrap();
        let sql = q.to_sql();
        assert!(
            sql.sql.contains("substr(bucket, 1, 10) AS b") && sql.sql.contains("event_counts_hour")
        );
        assert_eq!(q.bucket_starts().len(), 23);
    }

    #[test]
    fn the_smallest_rollup_that_holds_the_query_answers_it() {
        let cases: &[(&[(&str, &str)], Rollup)] = &[
            (&[], Rollup::HourNarrow),
            (
                &[("by", "environment"), ("level", "error")],
                Rollup::HourNarrow,
            ),
            (
                &[
                    ("by", "source_type"),
                    ("environment", "prod"),
                    ("level", "warn"),
                ],
                Rollup::HourNarrow,
            ),
            (&[("by", "level"), ("component", "Auth")], Rollup::Hour),
            (&[("by", "component")], Rollup::HourDimension),
            (
                &[("by", "route"), ("route", "/api/users/:id")],
                Rollup::HourDimension,
            ),
            (&[("by", "route"), ("level", "error")], Rollup::Hour),
            (
                &[
                    ("by", "component"),
                    ("bucket", "1d"),
                    ("from", "2026-11-01T00:00:00Z"),
                ],
                Rollup::HourDimension,
            ),
            (&[("bucket", "1m")], Rollup::Minute),
            (&[("bucket", "1m"), ("by", "route")], Rollup::Minute),
        ];
        for (pairs, want) in cases {
            let q = parse_stats_query(&params(pairs), now()).unwrap();
            assert_eq!(q.rollup(), *want, "{pairs:?}");
            let sql = q.to_sql();
            assert_eq!(sql.sql.matches('?').count(), sql.binds.len(), "{}", sql.sql);
        }
        let dim =
            parse_stats_query(&params(&[("by", "route"), ("route", "/a/:id")]), now()).unwrap();
        let sql = dim.to_sql();
        assert!(
            sql.sql.starts_with("SELECT substr(bucket, 1, 13) AS b, value AS k, sum(n) AS n FROM event_counts_hour_dim WHERE dim = ? AND bucket >= ? AND bucket <= ? AND value IN (?)"),
            "{}",
            sql.sql
        );
        assert_eq!(sql.binds[0], Bind::Text("route".into()));
    }

    #[test]
    fn answer_fills_quiet_buckets_and_totals() {
        let q = parse_stats_query(&params(&[("from", "2026-11-23T06:10:00Z")]), now()).unwrap();
        let answer = q.answer(
            vec![
                ("2026-11-23T06".into(), "error".into(), 2),
                ("2026-11-23T08".into(), "error".into(), 1),
                ("2026-11-23T08".into(), "info".into(), 5),
                ("2026-11-23T08".into(), "".into(), 1),
            ],
            now(),
        );
        let buckets = answer["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 3);
        assert_eq!(buckets[0]["start"], "2026-11-23T06:00:00.000Z");
        assert_eq!(buckets[0]["counts"], json!({"error": 2}));
        assert_eq!(buckets[1]["counts"], json!({}));
        assert_eq!(
            buckets[2]["counts"],
            json!({"error": 1, "info": 5, "(none)": 1})
        );
        assert_eq!(
            answer["totals"],
            json!({"error": 3, "info": 5, "(none)": 1})
        );
        // The 08:00 bucket is half gone at 08:30: 1 error so far is a rate of 2 per hour.
        let error = &answer["analysis"]["error"];
        assert_eq!(error["trend"]["current"], 1);
        assert_eq!(error["trend"]["previous"], 0);
        assert_eq!(error["trend"]["direction"], "new");
        assert_eq!(error["anomaly"]["current_rate"], 2.0);
        assert!(error["anomaly"]["kind"].is_null());
    }

    #[test]
    fn filters_bind_values() {
        let q = parse_stats_query(
            &params(&[
                ("environment", "prod"),
                ("level", "error,warning"),
                ("source_type", "ui"),
            ]),
            now(),
        )
        .unwrap();
        let sql = q.to_sql();
        assert!(
            sql.sql
                .contains("environment IN (?) AND level IN (?, ?) AND source_type IN (?)"),
            "{}",
            sql.sql
        );
        assert_eq!(sql.sql.matches('?').count(), sql.binds.len());
        assert!(sql.binds.contains(&Bind::Text("production".into())));
        assert!(sql.binds.contains(&Bind::Text("warn".into())));
    }

    #[test]
    fn bad_parameters() {
        let cases = [
            ("bucket", "5m"),
            ("by", "user_id"),
            ("from", "yesterday"),
            ("level", "loud"),
            ("bogus", "1"),
        ];
        for (k, v) in cases {
            assert_eq!(
                parse_stats_query(&params(&[(k, v)]), now())
                    .unwrap_err()
                    .status(),
                400,
                "{k}={v}"
            );
        }
        let too_many = parse_stats_query(
            &params(&[("bucket", "1m"), ("from", "2026-11-01T00:00:00Z")]),
            now(),
        )
        .unwrap_err();
        assert!(
            too_many.message().contains("limit"),
            "{}",
            too_many.message()
        );
        let backwards = parse_stats_query(
            &params(&[
                ("from", "2026-11-23T09:00:00Z"),
                ("to", "2026-11-23T08:00:00Z"),
            ]),
            now(),
        )
        .unwrap_err();
        assert_eq!(backwards.status(), 400);
    }
}
