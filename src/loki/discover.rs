//! What Grafana's label browser, autocomplete and Logs Drilldown ask besides queries: label
//! names and values, series, index stats, log volume, detected labels and fields, and line
//! patterns, each from the entries read for the range. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::eval::{logfmt, Entry, Labels};
use super::logql::parse::{parse_bytes, parse_duration};

/// Label names over the entries, sorted.
pub fn label_names(entries: &[Entry]) -> Vec<String> {
    let names: BTreeSet<&String> = entries.iter().flat_map(|e| e.labels.keys()).collect();
    names.into_iter().cloned().collect()
}

/// One label's values over the entries, sorted.
pub fn label_values(entries: &[Entry], name: &str) -> Vec<String> {
    let values: BTreeSet<&String> = entries.iter().filter_map(|e| e.labels.get(name)).collect();
    values.into_iter().cloned().collect()
}

/// The distinct label sets (streams).
pub fn series(entries: &[Entry]) -> Vec<Labels> {
    let sets: BTreeSet<&Labels> = entries.iter().map(|e| &e.labels).collect();
    sets.into_iter().cloned().collect()
}

/// `index/stats`: streams, chunks (our blocks' chunks, estimated), entries and bytes.
pub fn index_stats(entries: &[Entry]) -> Value {
    let bytes: usize = entries.iter().map(|e| e.line.len()).sum();
    json!({
        "streams": series(entries).len(),
        "chunks": entries.len().div_ceil(crate::shards::block::CHUNK_EVENTS),
        "entries": entries.len(),
        "bytes": bytes,
    })
}

/// The labels an entry's volume is counted under: the target labels when given, else the
/// whole stream (`aggregate_by=series`) or each label on its own (`labels`).
fn volume_keys(labels: &Labels, targets: &[String], by_labels: bool) -> Vec<Labels> {
    if !targets.is_empty() {
        let key: Labels = labels
            .iter()
            .filter(|(k, _)| targets.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return vec![key];
    }
    if by_labels {
        return labels
            .iter()
            .map(|(k, v)| Labels::from([(k.clone(), v.clone())]))
            .collect();
    }
    vec![labels.clone()]
}

/// `index/volume` (one bucket: `step_ms` None) and `volume_range`: bytes per key and bucket,
/// the largest `limit` keys.
pub fn volume(
    entries: &[Entry],
    targets: &[String],
    by_labels: bool,
    buckets: Option<(i64, i64)>,
    limit: usize,
) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let mut by_key: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
    for e in entries {
        let bucket = match buckets {
            Some((start_ms, step_ms)) => {
                let ms = e.ts_ns / 1_000_000;
                start_ms + (ms - start_ms).div_euclid(step_ms) * step_ms
            }
            None => 0,
        };
        for key in volume_keys(&e.labels, targets, by_labels) {
            *by_key.entry(key).or_default().entry(bucket).or_default() += e.line.len() as f64;
        }
    }
    let mut out: Vec<(Labels, Vec<(i64, f64)>)> = by_key
        .into_iter()
        .map(|(k, points)| (k, points.into_iter().collect()))
        .collect();
    let total = |p: &Vec<(i64, f64)>| p.iter().map(|x| x.1).sum::<f64>();
    out.sort_by(|a, b| {
        total(&b.1)
            .partial_cmp(&total(&a.1))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    out.truncate(limit);
    out
}

/// `detected_labels`: each stream label with its cardinality.
pub fn detected_labels(entries: &[Entry]) -> Value {
    let labels: Vec<Value> = label_names(entries)
        .into_iter()
        .map(|name| json!({"label": name, "cardinality": label_values(entries, &name).len()}))
        .collect();
    json!({"detectedLabels": labels})
}

fn field_type(values: &BTreeSet<String>) -> &'static str {
    let all = |f: fn(&str) -> bool| values.iter().all(|v| f(v));
    if all(|v| v.parse::<i64>().is_ok()) {
        "int"
    } else if all(|v| v.parse::<f64>().is_ok()) {
        "float"
    } else if all(|v| v == "true" || v == "false") {
        "boolean"
    } else if all(|v| parse_duration(v).is_some()) {
        "duration"
    } else if all(|v| parse_bytes(v).is_some()) {
        "bytes"
    } else {
        "string"
    }
}

/// `detected_fields`: fields found in the lines by the JSON and logfmt parsers, with their
/// type, cardinality and parser.
pub fn detected_fields(entries: &[Entry], limit: usize) -> Value {
    let mut fields: BTreeMap<String, (BTreeSet<String>, &'static str)> = BTreeMap::new();
    for e in entries {
        let (pairs, parser): (Vec<(String, String)>, &str) =
            match serde_json::from_str::<Value>(&e.line) {
                Ok(Value::Object(map)) => (
                    map.into_iter()
                        .filter(|(_, v)| !v.is_object() && !v.is_array() && !v.is_null())
                        .map(|(k, v)| {
                            (
                                k,
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    "json",
                ),
                _ => (
                    logfmt(&e.line)
                        .into_iter()
                        .filter(|(_, v)| !v.is_empty())
                        .collect(),
                    "logfmt",
                ),
            };
        for (k, v) in pairs {
            let slot = fields
                .entry(super::eval::sanitize(&k))
                .or_insert_with(|| (BTreeSet::new(), parser));
            if slot.0.len() < 1000 {
                slot.0.insert(v);
            }
        }
    }
    let list: Vec<Value> = fields
        .into_iter()
        .take(limit)
        .map(|(label, (values, parser))| {
            json!({"label": label, "type": field_type(&values), "cardinality": values.len(), "parsers": [parser]})
        })
        .collect();
    json!({"fields": list, "limit": limit})
}

/// A line's pattern: the message template groups are made by
/// (`processors::fingerprint::message_template`: numbers, ids, hex, quoted values masked),
/// each mask written as Loki's `<_>`.
pub fn pattern_of(line: &str) -> String {
    static MASK: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let mask = MASK.get_or_init(|| regex::Regex::new(r"<[a-z_]+>").expect("a fixed pattern"));
    let template = crate::processors::fingerprint::message_template(line);
    mask.replace_all(&template, "<_>").into_owned()
}

/// `patterns`: the commonest line patterns with their counts per bucket.
pub fn patterns(entries: &[Entry], start_ms: i64, step_ms: i64, limit: usize) -> Vec<Value> {
    let mut by_pattern: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
    for e in entries {
        let ms = e.ts_ns / 1_000_000;
        let bucket = start_ms + (ms - start_ms).div_euclid(step_ms.max(1)) * step_ms.max(1);
        *by_pattern
            .entry(pattern_of(&e.line))
            .or_default()
            .entry(bucket)
            .or_default() += 1;
    }
    let mut list: Vec<(String, BTreeMap<i64, u64>)> = by_pattern.into_iter().collect();
    list.sort_by_key(|(_, b)| std::cmp::Reverse(b.values().sum::<u64>()));
    list.into_iter()
        .take(limit)
        .map(|(pattern, buckets)| {
            let samples: Vec<Value> = buckets
                .into_iter()
                .map(|(t, n)| json!([t / 1000, n]))
                .collect();
            json!({"pattern": pattern, "samples": samples})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ms: i64, labels: &[(&str, &str)], line: &str) -> Entry {
        Entry {
            ts_ns: ms * 1_000_000,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            line: line.into(),
            doc: Value::Null,
            weight: 1.0,
        }
    }

    #[test]
    fn labels_series_stats_and_volume() {
        let e = vec![
            entry(
                0,
                &[("service", "api"), ("level", "error")],
                "status=500 took=1.5s",
            ),
            entry(
                60_000,
                &[("service", "api"), ("level", "info")],
                "status=200 took=20ms",
            ),
            entry(
                120_000,
                &[("service", "web"), ("level", "info")],
                r#"{"status": 200, "user": "ann"}"#,
            ),
        ];
        assert_eq!(label_names(&e), vec!["level", "service"]);
        assert_eq!(label_values(&e, "service"), vec!["api", "web"]);
        assert_eq!(series(&e).len(), 3);
        assert_eq!(index_stats(&e)["entries"], 3);
        let by_service = volume(&e, &["service".into()], false, None, 10);
        assert_eq!(
            by_service[0].0,
            Labels::from([("service".to_string(), "api".to_string())])
        );
        assert_eq!(
            by_service[0].1[0].1,
            ("status=500 took=1.5s".len() + "status=200 took=20ms".len()) as f64
        );
        let ranged = volume(&e, &["level".into()], false, Some((0, 120_000)), 10);
        assert_eq!(
            ranged
                .iter()
                .find(|(k, _)| k["level"] == "info")
                .unwrap()
                .1
                .len(),
            2
        );
        let fields = detected_fields(&e, 100);
        let list = fields["fields"].as_array().unwrap();
        let status = list.iter().find(|f| f["label"] == "status").unwrap();
        assert_eq!(
            (status["type"].as_str(), status["cardinality"].as_u64()),
            (Some("int"), Some(2))
        );
        let took = list.iter().find(|f| f["label"] == "took").unwrap();
        assert_eq!(took["type"], "duration");
        assert_eq!(
            detected_labels(&e)["detectedLabels"][1],
            json!({"label": "service", "cardinality": 2})
        );
    }

    #[test]
    fn patterns_mask_what_varies() {
        assert_eq!(
            pattern_of("request 12 for user 977 took 35 ms"),
            "request <_> for user <_> took <_> ms"
        );
        // As groups are made: a status stays in the pattern, the path's id does not.
        assert_eq!(
            pattern_of("GET /api/r7/12 status=500"),
            "GET <_> status=500"
        );
        let e = vec![
            entry(0, &[], "took 5 ms"),
            entry(1000, &[], "took 9 ms"),
            entry(2000, &[], "started"),
        ];
        let p = patterns(&e, 0, 60_000, 10);
        assert_eq!(p[0], json!({"pattern": "took <_> ms", "samples": [[0, 2]]}));
    }
}
