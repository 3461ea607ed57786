//! `GET /v1/aggregate`: ad-hoc aggregation over the events a search matches — grouped by any
//! fields or tags (`by=service,tag.region`), a function (`fn=count|sum|avg|min|max|p50|p90|
//! p95|p99|count_distinct`) over a field (a numeric `context.*` value, or any field for
//! `count_distinct`), in time buckets. Pure: the parameters and the events in, the answer out.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::error::AppError;
use crate::model::StoredEvent;
use crate::processors::timestamp::{format_ts, from_millis, parse_text};

/// The most groups an answer holds (the largest by total), and the most `by` keys.
pub const MAX_GROUPS: usize = 100;
const MAX_BY: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AggFn {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    Quantile(f64),
    CountDistinct,
}

impl AggFn {
    fn parse(text: &str) -> Option<AggFn> {
        Some(match text {
            "count" => AggFn::Count,
            "sum" => AggFn::Sum,
            "avg" => AggFn::Avg,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "p50" => AggFn::Quantile(0.5),
            "p90" => AggFn::Quantile(0.9),
            "p95" => AggFn::Quantile(0.95),
            "p99" => AggFn::Quantile(0.99),
            "count_distinct" => AggFn::CountDistinct,
            _ => return None,
        })
    }

    fn needs_number(self) -> bool {
        !matches!(self, AggFn::Count | AggFn::CountDistinct)
    }
}

/// What is asked, after the search's own parameters (`query=`, filters, `from`, `to`).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub by: Vec<String>,
    pub func: AggFn,
    pub func_name: String,
    pub field: Option<String>,
    /// Bucket width in milliseconds; `None`: one bucket over the whole range.
    pub bucket_ms: Option<i64>,
    pub bucket_name: Option<String>,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::InvalidParameter(message.into())
}

fn known_key(key: &str) -> bool {
    key == "level"
        || key
            .strip_prefix("tag.")
            .or(key.strip_prefix("context."))
            .is_some_and(|rest| !rest.is_empty())
        || crate::model::fields::event_field(key)
            .is_some_and(|f| !matches!(f.field.name, "tags" | "context" | "message"))
}

/// Splits the parameters: the aggregation's own, and the rest for the search.
pub fn parse_aggregation(
    params: &[(String, String)],
) -> Result<(Aggregation, Vec<(String, String)>), AppError> {
    let mut by = Vec::new();
    let (mut func_name, mut field, mut bucket) = ("count".to_string(), None, None);
    let mut rest = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "by" => by.extend(
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            ),
            "fn" => func_name = v.trim().to_string(),
            "field" => field = Some(v.trim().to_string()).filter(|f| !f.is_empty()),
            "bucket" | "step" => bucket = Some(v.trim().to_string()).filter(|b| !b.is_empty()),
            "limit" | "cursor" => {
                return Err(bad(format!("{k} is not a parameter of /v1/aggregate")))
            }
            _ => rest.push((k.clone(), v.clone())),
        }
    }
    let func = AggFn::parse(&func_name).ok_or_else(|| bad(format!("fn '{func_name}' is unknown; use count, sum, avg, min, max, p50, p90, p95, p99 or count_distinct")))?;
    if by.len() > MAX_BY {
        return Err(bad(format!("by takes at most {MAX_BY} fields")));
    }
    if let Some(unknown) = by.iter().find(|k| !known_key(k)) {
        return Err(bad(format!("by: '{unknown}' is not a field; use a field (service, route, level…), tag.<name> or context.<name>")));
    }
    match (&field, func) {
        (None, f) if f != AggFn::Count => {
            return Err(bad(format!(
                "fn={func_name} needs field=, e.g. field=context.duration_ms"
            )))
        }
        (Some(f), _) if !known_key(f) => {
            return Err(bad(format!(
                "field: '{f}' is not a field; use context.<name>, tag.<name> or a field"
            )))
        }
        _ => {}
    }
    let bucket_ms = match bucket.as_deref() {
        None => None,
        Some(text) => Some(
            crate::processors::timestamp::parse_duration(text)
                .filter(|s| *s >= 1.0)
                .map(|s| (s * 1000.0) as i64)
                .ok_or_else(|| {
                    bad(format!(
                        "bucket '{text}' is not a duration of at least 1s (1m, 1h, 1d)"
                    ))
                })?,
        ),
    };
    Ok((
        Aggregation {
            by,
            func,
            func_name,
            field,
            bucket_ms,
            bucket_name: bucket,
        },
        rest,
    ))
}

/// An event's value for a key: a field from the field table, `tag.<name>`, or `context.<a.b>`.
pub fn value_of(event: &StoredEvent, key: &str) -> Option<String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    };
    if key == "level" {
        return Some(event.level.clone());
    }
    if let Some(tag) = key.strip_prefix("tag.") {
        return event.tags.get(tag).and_then(text);
    }
    if let Some(path) = key.strip_prefix("context.") {
        let mut parts = path.split('.');
        let mut at = event.context.get(parts.next()?)?;
        for part in parts {
            at = at.get(part)?;
        }
        return text(at);
    }
    crate::model::fields::event_field(key).and_then(|f| (f.value)(event))
}

/// The φ-quantile of the values, interpolated between the nearest ranks (as Prometheus and
/// Loki compute `quantile_over_time`): NaN for none, ∓∞ for φ outside [0, 1].
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = q * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    let w = rank - lo as f64;
    values[lo] * (1.0 - w) + values[hi] * w
}

#[derive(Default)]
struct Acc {
    events: u64,
    numbers: Vec<f64>,
    distinct: BTreeSet<String>,
}

impl Acc {
    fn value(&mut self, func: AggFn) -> Option<f64> {
        let n = self.numbers.len() as f64;
        Some(match func {
            AggFn::Count => self.events as f64,
            AggFn::CountDistinct => self.distinct.len() as f64,
            _ if self.numbers.is_empty() => return None,
            AggFn::Sum => self.numbers.iter().sum(),
            AggFn::Avg => self.numbers.iter().sum::<f64>() / n,
            AggFn::Min => self.numbers.iter().copied().fold(f64::INFINITY, f64::min),
            AggFn::Max => self
                .numbers
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max),
            AggFn::Quantile(q) => quantile(&mut self.numbers, q),
        })
    }
}

/// A group's total and its buckets.
type Group = (Acc, BTreeMap<i64, Acc>);

/// The answer: each group (the largest [`MAX_GROUPS`] by events) with its total and points.
pub fn aggregate(a: &Aggregation, events: &[StoredEvent], truncated: bool) -> Value {
    let mut groups: BTreeMap<Vec<Option<String>>, Group> = BTreeMap::new();
    for e in events {
        let key: Vec<Option<String>> = a.by.iter().map(|k| value_of(e, k)).collect();
        let at = parse_text(&e.timestamp)
            .unwrap_or_default()
            .timestamp_millis();
        let bucket = a.bucket_ms.map_or(0, |w| at.div_euclid(w) * w);
        let (total, buckets) = groups.entry(key).or_default();
        for acc in [total, buckets.entry(bucket).or_default()] {
            acc.events += 1;
            match (a.func, &a.field) {
                (AggFn::CountDistinct, Some(f)) => {
                    if let Some(v) = value_of(e, f) {
                        acc.distinct.insert(v);
                    }
                }
                (f, Some(field)) if f.needs_number() => {
                    if let Some(n) = value_of(e, field).and_then(|v| v.trim().parse::<f64>().ok()) {
                        acc.numbers.push(n);
                    }
                }
                _ => {}
            }
        }
    }
    let mut list: Vec<_> = groups.into_iter().collect();
    list.sort_by_key(|(_, (total, _))| std::cmp::Reverse(total.events));
    let shown: Vec<Value> = list
        .into_iter()
        .take(MAX_GROUPS)
        .map(|(key, (mut total, buckets))| {
            let key: serde_json::Map<String, Value> = a.by.iter().cloned().zip(key.into_iter().map(|v| json!(v))).collect();
            let points: Vec<Value> = match a.bucket_ms {
                None => Vec::new(),
                Some(_) => buckets
                    .into_iter()
                    .map(|(t, mut acc)| json!({"t": from_millis(t).map(format_ts), "value": acc.value(a.func), "events": acc.events}))
                    .collect(),
            };
            json!({"key": key, "value": total.value(a.func), "events": total.events, "points": points})
        })
        .collect();
    json!({
        "fn": a.func_name,
        "field": a.field,
        "by": a.by,
        "bucket": a.bucket_name,
        "groups": shown,
        "events_read": events.len(),
        "truncated": truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(minute: i64, service: &str, region: &str, ms: f64, user: &str) -> StoredEvent {
        let mut e = StoredEvent {
            service: Some(service.into()),
            level: "info".into(),
            user_id: Some(user.into()),
            timestamp: format_ts(from_millis(1_764_000_000_000 + minute * 60_000).unwrap()),
            ..Default::default()
        };
        e.tags.insert("region".into(), json!(region));
        e.context.insert("duration_ms".into(), json!(ms));
        e
    }

    fn params(kv: &[(&str, &str)]) -> Vec<(String, String)> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn groups_functions_and_buckets() {
        let events = vec![
            event(0, "api", "eu", 100.0, "a"),
            event(1, "api", "eu", 300.0, "b"),
            event(2, "api", "us", 200.0, "a"),
            event(61, "web", "eu", 50.0, "c"),
        ];
        let (a, rest) = parse_aggregation(&params(&[
            ("by", "service"),
            ("fn", "p50"),
            ("field", "context.duration_ms"),
            ("bucket", "1h"),
            ("query", "level:info"),
        ]))
        .unwrap();
        assert_eq!(rest, params(&[("query", "level:info")]));
        let out = aggregate(&a, &events, false);
        assert_eq!(out["groups"][0]["key"], json!({"service": "api"}));
        assert_eq!(out["groups"][0]["value"], 200.0);
        assert_eq!(out["groups"][0]["points"][0]["events"], 3);
        assert_eq!(
            out["groups"][1]["points"][0]["t"],
            "2025-11-24T17:00:00.000Z"
        );
        let (a, _) = parse_aggregation(&params(&[
            ("by", "service,tag.region"),
            ("fn", "count_distinct"),
            ("field", "user_id"),
        ]))
        .unwrap();
        let out = aggregate(&a, &events, false);
        assert_eq!(
            out["groups"][0],
            json!({"key": {"service": "api", "tag.region": "eu"}, "value": 2.0, "events": 2, "points": []})
        );
        let (a, _) =
            parse_aggregation(&params(&[("fn", "avg"), ("field", "context.duration_ms")])).unwrap();
        assert_eq!(aggregate(&a, &events, true)["groups"][0]["value"], 162.5);
        let (a, _) = parse_aggregation(&params(&[("by", "level")])).unwrap();
        assert_eq!(aggregate(&a, &events, false)["groups"][0]["value"], 4.0);
    }

    #[test]
    fn bad_parameters_say_which() {
        for (kv, says) in [
            (vec![("fn", "median")], "fn 'median'"),
            (vec![("fn", "sum")], "needs field="),
            (vec![("by", "nonsense")], "by: 'nonsense'"),
            (vec![("fn", "max"), ("field", "bogus")], "field: 'bogus'"),
            (vec![("bucket", "soon")], "bucket 'soon'"),
            (vec![("limit", "5")], "limit is not a parameter"),
            (vec![("by", "a,b,c,d,e,f")], "at most 5"),
        ] {
            let err = parse_aggregation(&params(&kv)).unwrap_err();
            assert_eq!(err.status(), 400);
            assert!(err.message().contains(says), "{kv:?}: {}", err.message());
        }
    }
}
