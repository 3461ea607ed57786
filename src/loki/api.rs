//! The Loki query API's parameters and answers, as Grafana's Loki data source sends and reads
//! them: times in RFC 3339 or Unix seconds, milliseconds or nanoseconds, steps as durations or
//! seconds, and `{"status": "success", "data": {"resultType", "result", "stats"}}`. Pure.

use serde_json::{json, Map, Value};

use super::eval::{Answer, Labels, Series, Stream};
use super::logql::parse::parse_duration;
use super::logql::print::number;
use crate::error::AppError;

/// The most lines a log query returns, and the default (Loki's `max_entries_limit_per_query`
/// default and its `limit` default).
pub const MAX_LIMIT: usize = 5000;
pub const DEFAULT_LIMIT: usize = 100;
/// The most points a range query asks for (Loki's limit).
pub const MAX_POINTS: i64 = 11_000;

fn bad(message: String) -> AppError {
    AppError::InvalidParameter(message)
}

/// A time as Loki reads it: RFC 3339, or a Unix time in seconds, milliseconds, microseconds or
/// nanoseconds (read from its magnitude, as event timestamps are). In nanoseconds, to the
/// millisecond events are kept at.
pub fn parse_time(name: &str, text: &str) -> Result<i64, AppError> {
    let t = crate::processors::timestamp::parse_text(text).ok_or_else(|| {
        bad(format!(
            "cannot parse \"{}\" to a valid timestamp for {name}: use RFC 3339 or a Unix time",
            text.trim()
        ))
    })?;
    Ok(t.timestamp_millis().saturating_mul(1_000_000))
}

/// A step: a duration (`30s`, `5m`) or seconds (`15`, `0.5`). In milliseconds.
pub fn parse_step(text: &str) -> Result<i64, AppError> {
    let text = text.trim();
    let secs = text
        .parse::<f64>()
        .ok()
        .or_else(|| parse_duration(text))
        .filter(|s| *s > 0.0 && s.is_finite())
        .ok_or_else(|| {
            bad(format!(
                "invalid step \"{text}\": a duration (30s) or seconds (15)"
            ))
        })?;
    Ok(((secs * 1000.0).round() as i64).max(1))
}

/// What `query`/`query_range` and the other read routes were asked.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryParams {
    pub query: Option<String>,
    pub start_ns: i64,
    pub end_ns: i64,
    /// Instant queries: the time.
    pub time_ns: i64,
    pub limit: usize,
    pub backward: bool,
    pub step_ms: i64,
    pub matches: Vec<String>,
}

/// A parameter's value (the last one given).
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the parameters (query string and form body together); `now_ns` is the clock.
pub fn parse_params(pairs: &[(String, String)], now_ns: i64) -> Result<QueryParams, AppError> {
    let get = |k: &str| param(pairs, k);
    let end_ns = match get("end") {
        Some(t) if !t.is_empty() => parse_time("end", t)?,
        _ => now_ns,
    };
    let since_ms = match get("since") {
        Some(s) if !s.is_empty() => Some(parse_step(s)?),
        _ => None,
    };
    let start_ns = match get("start") {
        Some(t) if !t.is_empty() => parse_time("start", t)?,
        _ => end_ns.saturating_sub(since_ms.unwrap_or(3_600_000).saturating_mul(1_000_000)),
    };
    if end_ns < start_ns {
        return Err(bad("end timestamp must not be before start time".into()));
    }
    let time_ns = match get("time") {
        Some(t) if !t.is_empty() => parse_time("time", t)?,
        _ => now_ns,
    };
    let limit = match get("limit") {
        Some(l) if !l.is_empty() => l
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                bad(format!(
                    "invalid limit \"{l}\": a whole number of at least 1"
                ))
            })?,
        _ => DEFAULT_LIMIT,
    };
    if limit > MAX_LIMIT {
        return Err(bad(format!("max entries limit per query exceeded, limit > max_entries_limit ({limit} > {MAX_LIMIT})")));
    }
    let backward = match get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => true,
        Some("forward") => false,
        Some(other) => {
            return Err(bad(format!(
                "invalid direction \"{other}\": forward or backward"
            )))
        }
    };
    let range_ms = (end_ns.saturating_sub(start_ns) / 1_000_000).max(0);
    let step_ms = match get("step").or(get("interval")) {
        Some(s) if !s.is_empty() => parse_step(s)?,
        // Loki's default: the range over 250 points, at least a second.
        _ => ((range_ms / 250) / 1000).max(1) * 1000,
    };
    if range_ms / step_ms > MAX_POINTS {
        return Err(bad(format!("exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)")));
    }
    Ok(QueryParams {
        query: get("query").map(str::to_string),
        start_ns,
        end_ns,
        time_ns,
        limit,
        backward,
        step_ms,
        matches: pairs
            .iter()
            .filter(|(k, _)| k == "match[]" || k == "match")
            .map(|(_, v)| v.clone())
            .collect(),
    })
}

fn labels_json(labels: &Labels) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<Map<_, _>>(),
    )
}

fn seconds(ms: i64) -> Value {
    let s = ms as f64 / 1000.0;
    if s.fract() == 0.0 {
        json!(s as i64)
    } else {
        json!(s)
    }
}

fn value_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        number(v)
    }
}

/// What a query read, as Loki's `stats.summary` says it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    pub lines: u64,
    pub bytes: u64,
    pub exec_seconds: f64,
    pub shards: u64,
}

fn stats(read: Read, returned: usize) -> Value {
    let per_second = |n: u64| {
        if read.exec_seconds > 0.0 {
            (n as f64 / read.exec_seconds) as u64
        } else {
            n
        }
    };
    json!({"summary": {
        "bytesProcessedPerSecond": per_second(read.bytes),
        "linesProcessedPerSecond": per_second(read.lines),
        "totalBytesProcessed": read.bytes,
        "totalLinesProcessed": read.lines,
        "execTime": read.exec_seconds,
        "queueTime": 0,
        "subqueries": 0,
        "totalEntriesReturned": returned,
        "splits": 1,
        "shards": read.shards,
        "totalPostFilterLines": returned,
    }})
}

fn success(result_type: &str, result: Value, stats_value: Value) -> Value {
    json!({"status": "success", "data": {"resultType": result_type, "result": result, "stats": stats_value}})
}

/// One stream as Loki writes it: its labels, and its lines as `["<ns>", "<line>"]`.
fn stream_json(s: &Stream) -> Value {
    json!({
        "stream": labels_json(&s.labels),
        "values": s.values.iter().map(|(ns, line)| json!([ns.to_string(), line])).collect::<Vec<_>>(),
    })
}

/// A log query's answer.
pub fn streams_answer(streams: &[Stream], read: Read) -> Value {
    let returned = streams.iter().map(|s| s.values.len()).sum();
    let result: Vec<Value> = streams.iter().map(stream_json).collect();
    success("streams", json!(result), stats(read, returned))
}

/// A range query's answer (`matrix`; a scalar query answers one series without labels).
pub fn matrix_answer(answer: &Answer, read: Read) -> Value {
    let series: Vec<Series> = match answer {
        Answer::Series(s) => s.clone(),
        Answer::Scalar(points) => vec![Series {
            labels: Labels::new(),
            points: points.clone(),
        }],
    };
    let result: Vec<Value> = series
        .iter()
        .map(|s| {
            json!({
                "metric": labels_json(&s.labels),
                "values": s.points.iter().map(|(t, v)| json!([seconds(*t), value_text(*v)])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let returned = series.len();
    success("matrix", json!(result), stats(read, returned))
}

/// An instant query's answer: `vector`, or `scalar` for a number.
pub fn instant_answer(answer: &Answer, at_ms: i64, read: Read) -> Value {
    match answer {
        Answer::Scalar(points) => {
            let v = points.first().map(|p| p.1).unwrap_or(f64::NAN);
            success(
                "scalar",
                json!([seconds(at_ms), value_text(v)]),
                stats(read, 1),
            )
        }
        Answer::Series(series) => {
            let result: Vec<Value> = series
                .iter()
                .filter_map(|s| {
                    let (t, v) = s.points.last()?;
                    Some(json!({"metric": labels_json(&s.labels), "value": [seconds(*t), value_text(*v)]}))
                })
                .collect();
            let n = result.len();
            success("vector", json!(result), stats(read, n))
        }
    }
}

/// A live tail frame, as Loki's `/loki/api/v1/tail` sends them.
pub fn tail_frame(streams: &[Stream], dropped: u64) -> String {
    let streams: Vec<Value> = streams.iter().map(stream_json).collect();
    let dropped = match dropped {
        0 => Value::Null,
        n => json!([{"labels": {}, "timestamp": n.to_string()}]),
    };
    json!({"streams": streams, "dropped_entries": dropped}).to_string()
}

/// `labels`, `label/{name}/values`: `{"status": "success", "data": [...]}`.
pub fn names_answer(names: impl IntoIterator<Item = String>) -> Value {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort();
    names.dedup();
    json!({"status": "success", "data": names})
}

/// `series`: the label sets.
pub fn series_answer(sets: &[Labels]) -> Value {
    json!({"status": "success", "data": sets.iter().map(labels_json).collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form_grafana_sends() {
        let ns = 1_764_000_000_000_000_000i64;
        for (text, want) in [
            ("1764000000", ns),
            ("1764000000.5", ns + 500_000_000),
            ("1764000000000", ns),
            ("1764000000000000000", ns),
            ("2025-11-24T16:00:00Z", ns),
            ("2025-11-24T16:00:00.000Z", ns),
        ] {
            assert_eq!(parse_time("start", text).unwrap(), want, "{text}");
        }
        assert_eq!(parse_time("start", "yesterday").unwrap_err().status(), 400);
        assert_eq!(parse_step("30s").unwrap(), 30_000);
        assert_eq!(parse_step("15").unwrap(), 15_000);
        assert_eq!(parse_step("0.5").unwrap(), 500);
        assert!(parse_step("0").is_err() && parse_step("soon").is_err());
    }

    #[test]
    fn params_default_as_loki_does() {
        let now = 1_764_000_000_000_000_000i64;
        let p = parse_params(&[("query".into(), "{a=\"b\"}".into())], now).unwrap();
        assert_eq!((p.end_ns, p.start_ns), (now, now - 3_600_000_000_000));
        assert_eq!((p.limit, p.backward, p.step_ms), (100, true, 14_000));
        let pairs = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(parse_params(&pairs(&[("limit", "6000")]), now).is_err());
        assert!(parse_params(&pairs(&[("direction", "sideways")]), now).is_err());
        assert!(parse_params(
            &pairs(&[("start", "1764000000"), ("end", "1763000000")]),
            now
        )
        .is_err());
        assert!(parse_params(
            &pairs(&[
                ("start", "1700000000"),
                ("end", "1764000000"),
                ("step", "1s")
            ]),
            now
        )
        .is_err());
        let forward = parse_params(
            &pairs(&[
                ("direction", "FORWARD"),
                ("since", "5m"),
                ("match[]", "{a=\"b\"}"),
            ]),
            now,
        )
        .unwrap();
        assert!(!forward.backward);
        assert_eq!(forward.start_ns, now - 300_000_000_000);
        assert_eq!(forward.matches, vec!["{a=\"b\"}"]);
    }

    #[test]
    fn answers_have_loki_shapes() {
        let mut labels = Labels::new();
        labels.insert("level".into(), "error".into());
        let streams = streams_answer(
            &[Stream {
                labels: labels.clone(),
                values: vec![(1_764_000_000_000_000_000, "boom".into())],
            }],
            Read::default(),
        );
        assert_eq!(streams["status"], "success");
        assert_eq!(streams["data"]["resultType"], "streams");
        assert_eq!(
            streams["data"]["result"][0]["values"][0],
            json!(["1764000000000000000", "boom"])
        );
        assert_eq!(
            streams["data"]["stats"]["summary"]["totalEntriesReturned"],
            1
        );
        let series = Answer::Series(vec![Series {
            labels,
            points: vec![(1_764_000_000_000, 3.0), (1_764_000_060_500, 0.25)],
        }]);
        let matrix = matrix_answer(&series, Read::default());
        assert_eq!(
            matrix["data"]["result"][0]["values"],
            json!([[1764000000, "3"], [1764000060.5, "0.25"]])
        );
        let vector = instant_answer(&series, 1_764_000_060_500, Read::default());
        assert_eq!(vector["data"]["resultType"], "vector");
        assert_eq!(
            vector["data"]["result"][0]["value"],
            json!([1764000060.5, "0.25"])
        );
        let scalar = instant_answer(
            &Answer::Scalar(vec![(1_764_000_000_000, 2.0)]),
            1_764_000_000_000,
            Read::default(),
        );
        assert_eq!(scalar["data"]["result"], json!([1764000000, "2"]));
    }
}
