//! LogQL evaluated over entries (an event's labels, its line and its document): the pipeline
//! of a log query into streams, and metric queries into series over steps. Pure: the entries
//! and the steps come in, the answer goes out.

use std::collections::{BTreeMap, HashMap};

use regex::Regex;
use serde_json::Value;

use super::logql::ast::*;
use super::logql::parse::{parse_bytes, parse_duration};

pub type Labels = BTreeMap<String, String>;

/// One log line as LogQL sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ts_ns: i64,
    pub labels: Labels,
    pub line: String,
    /// The event as JSON, what `| json` reads when the line is not JSON itself.
    pub doc: Value,
    /// How many events it stands for: 1, or a rollup row's count (`rollup`).
    pub weight: f64,
}

/// A stream of the answer: its labels and its lines, `(ns, line)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub labels: Labels,
    pub values: Vec<(i64, String)>,
}

/// A series of the answer: its labels and its points, `(ms, value)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A label name as Loki accepts it: letters, digits and `_`, not starting with a digit.
pub fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

/// A pipeline with its regular expressions compiled once.
pub struct Pipeline {
    stages: Vec<Compiled>,
}

enum Compiled {
    Line(LineOp, Vec<String>, Vec<Regex>),
    Stage(Stage),
    Regexp(Regex),
    Pattern(Regex),
    Filter(LabelPred, HashMap<String, Regex>),
}

fn pattern_regex(pattern: &str) -> Regex {
    // `<name>` captures a field, `<_>` skips one; literal text is matched as written.
    let mut re = String::from("^");
    let mut rest = pattern;
    let mut seen = 0;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        re.push_str(&regex::escape(&rest[..open]));
        let name = &rest[open + 1..open + close];
        let last = !rest[open + close + 1..].contains('<');
        let body = if last && rest[open + close + 1..].is_empty() {
            ".*"
        } else {
            ".*?"
        };
        if name == "_" {
            re.push_str(&format!("(?:{body})"));
        } else if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
            re.push_str(&format!("(?P<{}>{body})", sanitize(name)));
            seen += 1;
        } else {
            re.push_str(&regex::escape(&rest[open..open + close + 1]));
        }
        rest = &rest[open + close + 1..];
    }
    re.push_str(&regex::escape(rest));
    if !rest.is_empty() || seen == 0 {
        re.push('$');
    }
    Regex::new(&re).unwrap_or_else(|_| Regex::new("^$").expect("a fixed pattern"))
}

fn collect_regexes(pred: &LabelPred, out: &mut HashMap<String, Regex>) {
    match pred {
        LabelPred::Cmp {
            op: CmpOp::Re | CmpOp::Nre,
            value: LabelValue::Text(re),
            ..
        } => {
            if let Ok(r) = Regex::new(&format!("^(?:{re})$")) {
                out.insert(re.clone(), r);
            }
        }
        LabelPred::And(a, b) | LabelPred::Or(a, b) => {
            collect_regexes(a, out);
            collect_regexes(b, out);
        }
        _ => {}
    }
}

impl Pipeline {
    pub fn new(stages: &[Stage]) -> Pipeline {
        let stages = stages
            .iter()
            .map(|s| match s {
                Stage::Line(op, values) => {
                    let regexes = match op {
                        LineOp::Re | LineOp::NotRe => {
                            values.iter().filter_map(|v| Regex::new(v).ok()).collect()
                        }
                        LineOp::Pattern | LineOp::NotPattern => {
                            values.iter().map(|v| pattern_regex(v)).collect()
                        }
                        _ => Vec::new(),
                    };
                    Compiled::Line(*op, values.clone(), regexes)
                }
                Stage::Regexp(re) => Compiled::Regexp(
                    Regex::new(re).unwrap_or_else(|_| Regex::new("^$").expect("fixed")),
                ),
                Stage::Pattern(p) => Compiled::Pattern(pattern_regex(p)),
                Stage::Filter(pred) => {
                    let mut regexes = HashMap::new();
                    collect_regexes(pred, &mut regexes);
                    Compiled::Filter(pred.clone(), regexes)
                }
                other => Compiled::Stage(other.clone()),
            })
            .collect();
        Pipeline { stages }
    }

    /// The entry through every stage: `None` when a filter drops it; else its labels, line
    /// and, after `unwrap`, its value (`Some(None)`: the value did not parse, the sample drops).
    pub fn run(&self, entry: &Entry) -> Option<(Labels, String, Option<Option<f64>>)> {
        let mut labels = entry.labels.clone();
        let mut line = entry.line.clone();
        let mut unwrapped = None;
        for stage in &self.stages {
            match stage {
                Compiled::Line(op, values, regexes) => {
                    let hit = match op {
                        LineOp::Contains | LineOp::NotContains => {
                            values.iter().any(|v| line.contains(v.as_str()))
                        }
                        _ => regexes.iter().any(|r| r.is_match(&line)),
                    };
                    if hit == op.negated() {
                        return None;
                    }
                }
                Compiled::Regexp(re) => {
                    if let Some(caps) = re.captures(&line) {
                        for name in re.capture_names().flatten() {
                            if let Some(m) = caps.name(name) {
                                add_extracted(&mut labels, &sanitize(name), m.as_str().to_string());
                            }
                        }
                    }
                }
                Compiled::Pattern(re) => {
                    if let Some(caps) = re.captures(&line) {
                        for name in re.capture_names().flatten() {
                            if let Some(m) = caps.name(name) {
                                add_extracted(&mut labels, name, m.as_str().to_string());
                            }
                        }
                    }
                }
                Compiled::Filter(pred, regexes) => {
                    if !holds(pred, &labels, regexes) {
                        return None;
                    }
                }
                Compiled::Stage(stage) => match stage {
                    Stage::Json(params) => json_stage(params, &line, &entry.doc, &mut labels),
                    Stage::Logfmt => {
                        for (k, v) in logfmt(&line) {
                            add_extracted(&mut labels, &sanitize(&k), v);
                        }
                    }
                    Stage::Unpack => {
                        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&line) {
                            let mut next_line = None;
                            for (k, v) in map {
                                let Value::String(v) = v else { continue };
                                if k == "_entry" {
                                    next_line = Some(v);
                                } else {
                                    add_extracted(&mut labels, &sanitize(&k), v);
                                }
                            }
                            if let Some(l) = next_line {
                                line = l;
                            }
                        }
                    }
                    Stage::Decolorize => line = strip_ansi(&line),
                    Stage::LineFormat(template) => {
                        line = render(template, &labels, &line, entry.ts_ns)
                    }
                    Stage::LabelFormat(items) => {
                        for item in items {
                            match item {
                                Rename::Label(dst, src) => {
                                    let value = labels.remove(src).unwrap_or_default();
                                    labels.insert(dst.clone(), value);
                                }
                                Rename::Template(dst, t) => {
                                    let value = render(t, &labels, &line, entry.ts_ns);
                                    labels.insert(dst.clone(), value);
                                }
                            }
                        }
                    }
                    Stage::Drop(items) => labels.retain(|k, v| {
                        !items
                            .iter()
                            .any(|s| s.name == *k && s.value.as_deref().is_none_or(|w| w == v))
                    }),
                    Stage::Keep(items) => labels.retain(|k, v| {
                        items
                            .iter()
                            .any(|s| s.name == *k && s.value.as_deref().is_none_or(|w| w == v))
                    }),
                    Stage::Unwrap(label, conv) => {
                        let raw = labels.remove(label).unwrap_or_default();
                        let value = match conv {
                            None => raw.trim().parse::<f64>().ok(),
                            Some(Conversion::Bytes) => parse_bytes(raw.trim()),
                            Some(Conversion::Duration | Conversion::DurationSeconds) => {
                                parse_duration(raw.trim())
                            }
                        };
                        unwrapped = Some(value);
                    }
                    _ => {}
                },
            }
        }
        labels.retain(|_, v| !v.is_empty());
        Some((labels, line, unwrapped))
    }
}

/// An extracted label that collides with a stream label is kept as `<name>_extracted`.
fn add_extracted(labels: &mut Labels, name: &str, value: String) {
    let name = if labels.contains_key(name) && !name.ends_with("_extracted") {
        format!("{name}_extracted")
    } else {
        name.to_string()
    };
    labels.insert(name, value);
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    sanitize(k)
                } else {
                    format!("{prefix}_{}", sanitize(k))
                };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

fn json_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = doc;
    for part in path.split('.') {
        let (name, index) = match part.split_once('[') {
            Some((n, i)) => (n, i.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            at = at.get(name.trim_matches('"'))?;
        }
        if let Some(i) = index {
            at = at.get(i)?;
        }
    }
    Some(at)
}

fn json_stage(params: &[(String, Option<String>)], line: &str, doc: &Value, labels: &mut Labels) {
    let parsed: Option<Value> = serde_json::from_str::<Value>(line)
        .ok()
        .filter(Value::is_object);
    let source = parsed.as_ref().unwrap_or(doc);
    if params.is_empty() {
        let mut fields = Vec::new();
        flatten("", source, &mut fields);
        for (k, v) in fields {
            add_extracted(labels, &k, v);
        }
        return;
    }
    for (name, path) in params {
        let found = json_path(source, path.as_deref().unwrap_or(name));
        let text = match found {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => continue,
            Some(other) => other.to_string(),
        };
        labels.insert(name.clone(), text);
    }
}

/// `key=value key2="quoted value"` pairs.
pub fn logfmt(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '=' {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            let value = if chars.get(i) == Some(&'"') {
                i += 1;
                let mut v = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                i += 1;
                v
            } else {
                let s = i;
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                chars[s..i].iter().collect()
            };
            if !key.is_empty() {
                out.push((key, value));
            }
        } else if !key.is_empty() {
            out.push((key, String::new()));
        }
    }
    out
}

fn strip_ansi(line: &str) -> String {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\x1b\[[0-9;]*[A-Za-z]").expect("ansi pattern"))
        .replace_all(line, "")
        .into_owned()
}

/// `line_format`/`label_format` templates: `{{.label}}`, `{{ .label }}`, `{{__line__}}`,
/// `{{__timestamp__}}`, with `| ToUpper`, `| ToLower` and `| TrimSpace`.
pub fn render(template: &str, labels: &Labels, line: &str, ts_ns: i64) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = rest[open + 2..open + close].trim();
        let mut parts = inner.split('|').map(str::trim);
        let head = parts.next().unwrap_or_default();
        let mut value = match head {
            "__line__" => line.to_string(),
            "__timestamp__" => crate::processors::timestamp::from_millis(ts_ns / 1_000_000)
                .map(crate::processors::timestamp::format_ts)
                .unwrap_or_default(),
            h => labels
                .get(h.trim_start_matches('.'))
                .cloned()
                .unwrap_or_default(),
        };
        for f in parts {
            value = match f {
                "ToUpper" | "upper" => value.to_uppercase(),
                "ToLower" | "lower" => value.to_lowercase(),
                "TrimSpace" => value.trim().to_string(),
                _ => value,
            };
        }
        out.push_str(&value);
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

fn compare(op: CmpOp, have: f64, want: f64) -> bool {
    match op {
        CmpOp::Eq => have == want,
        CmpOp::Ne => have != want,
        CmpOp::Gt => have > want,
        CmpOp::Ge => have >= want,
        CmpOp::Lt => have < want,
        CmpOp::Le => have <= want,
        CmpOp::Re | CmpOp::Nre => false,
    }
}

fn holds(pred: &LabelPred, labels: &Labels, regexes: &HashMap<String, Regex>) -> bool {
    match pred {
        LabelPred::And(a, b) => holds(a, labels, regexes) && holds(b, labels, regexes),
        LabelPred::Or(a, b) => holds(a, labels, regexes) || holds(b, labels, regexes),
        LabelPred::Cmp { label, op, value } => {
            let have = labels.get(label).map(String::as_str).unwrap_or("");
            match value {
                LabelValue::Text(want) => match op {
                    CmpOp::Eq => have == want,
                    CmpOp::Ne => have != want,
                    CmpOp::Re => regexes.get(want).is_some_and(|r| r.is_match(have)),
                    CmpOp::Nre => !regexes.get(want).is_some_and(|r| r.is_match(have)),
                    _ => false,
                },
                LabelValue::Number(want, _) => have
                    .trim()
                    .parse::<f64>()
                    .is_ok_and(|h| compare(*op, h, *want)),
                LabelValue::Duration(want, _) => {
                    parse_duration(have).is_some_and(|h| compare(*op, h, *want))
                }
                LabelValue::Bytes(want, _) => {
                    parse_bytes(have).is_some_and(|h| compare(*op, h, *want))
                }
            }
        }
    }
}

thread_local! {
    /// Selector regexes, compiled once per isolate rather than once per entry.
    static ANCHORED: std::cell::RefCell<HashMap<String, Option<Regex>>> = std::cell::RefCell::new(HashMap::new());
}

/// A label matcher's regex, anchored at both ends as Prometheus anchors it.
fn anchored(pattern: &str) -> Option<Regex> {
    ANCHORED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 1000 {
            cache.clear();
        }
        cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(&format!("^(?:{pattern})$")).ok())
            .clone()
    })
}

/// Whether an entry's stream labels satisfy the selector.
pub fn selects(selector: &[Matcher], labels: &Labels) -> bool {
    selector.iter().all(|m| {
        let have = labels.get(&m.name).map(String::as_str).unwrap_or("");
        match m.op {
            MatchOp::Eq => have == m.value,
            MatchOp::Ne => have != m.value,
            MatchOp::Re | MatchOp::Nre => {
                let hit = anchored(&m.value).is_some_and(|r| r.is_match(have));
                hit == (m.op == MatchOp::Re)
            }
        }
    })
}

/// A log query's streams: newest first (`backward`) or oldest first, at most `limit` lines.
pub fn streams(log: &LogExpr, entries: &[Entry], limit: usize, backward: bool) -> Vec<Stream> {
    let pipeline = Pipeline::new(&log.stages);
    let mut sorted: Vec<&Entry> = entries
        .iter()
        .filter(|e| selects(&log.selector, &e.labels))
        .collect();
    sorted.sort_by_key(|e| e.ts_ns);
    if backward {
        sorted.reverse();
    }
    let mut by_labels: BTreeMap<Labels, Vec<(i64, String)>> = BTreeMap::new();
    let mut kept = 0;
    for entry in sorted {
        if kept >= limit {
            break;
        }
        if let Some((labels, line, _)) = pipeline.run(entry) {
            by_labels
                .entry(labels)
                .or_default()
                .push((entry.ts_ns, line));
            kept += 1;
        }
    }
    by_labels
        .into_iter()
        .map(|(labels, values)| Stream { labels, values })
        .collect()
}

/// The steps of a query, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

impl Steps {
    pub fn times(&self) -> Vec<i64> {
        let mut out = Vec::new();
        let mut t = self.start_ms;
        while t <= self.end_ms && out.len() < 11_000 {
            out.push(t);
            t += self.step_ms.max(1);
        }
        out
    }
}

/// The earliest entry a metric query reads: its widest range and offset before the start.
pub fn lookback_ms(expr: &MetricExpr) -> i64 {
    match expr {
        MetricExpr::Range { range, offset, .. } => range.0 + offset.as_ref().map_or(0, |o| o.0),
        MetricExpr::Vector { inner, .. } | MetricExpr::Paren(inner) => lookback_ms(inner),
        MetricExpr::Binary { lhs, rhs, .. } => lookback_ms(lhs).max(lookback_ms(rhs)),
        MetricExpr::Number(_) | MetricExpr::VectorOf(_) => 0,
    }
}

/// Every log expression a metric query reads.
pub fn log_exprs(expr: &MetricExpr) -> Vec<&LogExpr> {
    match expr {
        MetricExpr::Range { log, .. } => vec![log],
        MetricExpr::Vector { inner, .. } | MetricExpr::Paren(inner) => log_exprs(inner),
        MetricExpr::Binary { lhs, rhs, .. } => {
            let mut all = log_exprs(lhs);
            all.extend(log_exprs(rhs));
            all
        }
        MetricExpr::Number(_) | MetricExpr::VectorOf(_) => Vec::new(),
    }
}

/// A metric query's value: series at each step, or a scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Series(Vec<Series>),
    Scalar(Vec<(i64, f64)>),
}

fn group_key(labels: &Labels, grouping: &Option<Grouping>) -> Labels {
    match grouping {
        None => Labels::new(),
        Some(g) if g.without => labels
            .iter()
            .filter(|(k, _)| !g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(g) => labels
            .iter()
            .filter(|(k, _)| g.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn range_value(
    func: RangeFn,
    param: Option<f64>,
    window: &[(i64, f64)],
    range_s: f64,
) -> Option<f64> {
    if window.is_empty() {
        return None;
    }
    let values = || window.iter().map(|(_, v)| *v);
    let n = window.len() as f64;
    let sum: f64 = values().sum();
    let mean = sum / n;
    Some(match func {
        RangeFn::Count => sum,
        RangeFn::Rate => sum / range_s,
        RangeFn::Bytes | RangeFn::Sum => sum,
        RangeFn::BytesRate => sum / range_s,
        RangeFn::Absent => return None,
        RangeFn::Avg => mean,
        RangeFn::Min => values().fold(f64::INFINITY, f64::min),
        RangeFn::Max => values().fold(f64::NEG_INFINITY, f64::max),
        RangeFn::First => window[0].1,
        RangeFn::Last => window[window.len() - 1].1,
        RangeFn::Stdvar => values().map(|v| (v - mean).powi(2)).sum::<f64>() / n,
        RangeFn::Stddev => (values().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
        RangeFn::Quantile => crate::query::aggregate::quantile(
            &mut values().collect::<Vec<_>>(),
            param.unwrap_or(0.5),
        ),
        RangeFn::RateCounter => {
            let mut total = 0.0;
            for pair in window.windows(2) {
                let d = pair[1].1 - pair[0].1;
                total += if d < 0.0 { pair[1].1 } else { d };
            }
            total / range_s
        }
    })
}

#[allow(clippy::too_many_arguments)]
fn eval_range(
    func: RangeFn,
    param: Option<f64>,
    log: &LogExpr,
    range_ms: i64,
    offset_ms: i64,
    grouping: &Option<Grouping>,
    entries: &[Entry],
    times: &[i64],
) -> Vec<Series> {
    let pipeline = Pipeline::new(&log.stages);
    let mut samples: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| selects(&log.selector, &e.labels)) {
        let Some((labels, line, unwrapped)) = pipeline.run(entry) else {
            continue;
        };
        let value = match (func, unwrapped) {
            (_, Some(Some(v))) => v,
            (_, Some(None)) => continue,
            (RangeFn::Bytes | RangeFn::BytesRate, None) => line.len() as f64 * entry.weight,
            (_, None) => entry.weight,
        };
        let key = match grouping {
            Some(_) => group_key(&labels, grouping),
            None => labels,
        };
        samples
            .entry(key)
            .or_default()
            .push((entry.ts_ns / 1_000_000, value));
    }
    if func == RangeFn::Absent {
        let labels: Labels = log
            .selector
            .iter()
            .filter(|m| m.op == MatchOp::Eq)
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        let all: Vec<i64> = samples.values().flatten().map(|(t, _)| *t).collect();
        let points: Vec<(i64, f64)> = times
            .iter()
            .filter(|t| {
                let (from, to) = (**t - offset_ms - range_ms, **t - offset_ms);
                !all.iter().any(|s| *s > from && *s <= to)
            })
            .map(|t| (*t, 1.0))
            .collect();
        return if points.is_empty() {
            Vec::new()
        } else {
            vec![Series { labels, points }]
        };
    }
    let range_s = range_ms as f64 / 1000.0;
    samples
        .into_iter()
        .filter_map(|(labels, mut points)| {
            points.sort_by_key(|(t, _)| *t);
            let mut out = Vec::new();
            let (mut lo, mut hi) = (0usize, 0usize);
            for t in times {
                let (from, to) = (t - offset_ms - range_ms, t - offset_ms);
                while lo < points.len() && points[lo].0 <= from {
                    lo += 1;
                }
                hi = hi.max(lo);
                while hi < points.len() && points[hi].0 <= to {
                    hi += 1;
                }
                if let Some(v) = range_value(func, param, &points[lo..hi], range_s) {
                    out.push((*t, v));
                }
            }
            (!out.is_empty()).then_some(Series {
                labels,
                points: out,
            })
        })
        .collect()
}

fn aggregate(
    op: VecOp,
    param: Option<f64>,
    grouping: &Option<Grouping>,
    input: Vec<Series>,
    times: &[i64],
) -> Vec<Series> {
    let index: Vec<HashMap<i64, f64>> = input
        .iter()
        .map(|s| s.points.iter().copied().collect())
        .collect();
    if matches!(op, VecOp::Sort | VecOp::SortDesc) {
        let mut out = input;
        let last = |s: &Series| s.points.last().map(|p| p.1).unwrap_or(f64::NAN);
        out.sort_by(|a, b| {
            last(a)
                .partial_cmp(&last(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        if op == VecOp::SortDesc {
            out.reverse();
        }
        return out;
    }
    if matches!(op, VecOp::Topk | VecOp::Bottomk) {
        let k = param.unwrap_or(1.0) as usize;
        let mut keep: Vec<Vec<(i64, f64)>> = vec![Vec::new(); input.len()];
        for t in times {
            let mut groups: BTreeMap<Labels, Vec<(usize, f64)>> = BTreeMap::new();
            for (i, s) in input.iter().enumerate() {
                if let Some(v) = index[i].get(t) {
                    groups
                        .entry(group_key(&s.labels, grouping))
                        .or_default()
                        .push((i, *v));
                }
            }
            for (_, mut members) in groups {
                members.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
                if op == VecOp::Bottomk {
                    members.reverse();
                }
                for (i, v) in members.into_iter().take(k) {
                    keep[i].push((*t, v));
                }
            }
        }
        return input
            .into_iter()
            .zip(keep)
            .filter(|(_, p)| !p.is_empty())
            .map(|(s, points)| Series {
                labels: s.labels,
                points,
            })
            .collect();
    }
    let mut groups: BTreeMap<Labels, Vec<usize>> = BTreeMap::new();
    for (i, s) in input.iter().enumerate() {
        groups
            .entry(group_key(&s.labels, grouping))
            .or_default()
            .push(i);
    }
    groups
        .into_iter()
        .filter_map(|(labels, members)| {
            let points: Vec<(i64, f64)> = times
                .iter()
                .filter_map(|t| {
                    let values: Vec<f64> = members
                        .iter()
                        .filter_map(|i| index[*i].get(t).copied())
                        .collect();
                    if values.is_empty() {
                        return None;
                    }
                    let n = values.len() as f64;
                    let sum: f64 = values.iter().sum();
                    let mean = sum / n;
                    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    Some((
                        *t,
                        match op {
                            VecOp::Sum => sum,
                            VecOp::Avg => mean,
                            VecOp::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                            VecOp::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                            VecOp::Count => n,
                            VecOp::Stddev => var.sqrt(),
                            VecOp::Stdvar => var,
                            _ => sum,
                        },
                    ))
                })
                .collect();
            (!points.is_empty()).then_some(Series { labels, points })
        })
        .collect()
}

fn apply(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => (a == b) as u8 as f64,
        BinOp::Ne => (a != b) as u8 as f64,
        BinOp::Gt => (a > b) as u8 as f64,
        BinOp::Ge => (a >= b) as u8 as f64,
        BinOp::Lt => (a < b) as u8 as f64,
        BinOp::Le => (a <= b) as u8 as f64,
        BinOp::Or | BinOp::And | BinOp::Unless => a,
    }
}

/// One pair of values through a binary operator: `None` drops the point (a comparison that
/// fails without `bool`).
fn combine(op: BinOp, return_bool: bool, a: f64, b: f64, keep_left: bool) -> Option<f64> {
    let r = apply(op, a, b);
    if op.is_comparison() && !return_bool {
        return (r == 1.0).then_some(if keep_left { a } else { b });
    }
    Some(r)
}

fn binary(op: BinOp, return_bool: bool, lhs: Answer, rhs: Answer) -> Answer {
    match (lhs, rhs) {
        (Answer::Scalar(a), Answer::Scalar(b)) => Answer::Scalar(
            a.iter()
                .zip(b.iter())
                .map(|((t, x), (_, y))| (*t, apply(op, *x, *y)))
                .collect(),
        ),
        (Answer::Series(series), Answer::Scalar(s)) => {
            scalar_side(op, return_bool, series, s, false)
        }
        (Answer::Scalar(s), Answer::Series(series)) => {
            scalar_side(op, return_bool, series, s, true)
        }
        (Answer::Series(left), Answer::Series(right)) => {
            let right_by: BTreeMap<Labels, HashMap<i64, f64>> = right
                .iter()
                .map(|s| (s.labels.clone(), s.points.iter().copied().collect()))
                .collect();
            let out = match op {
                BinOp::And => left
                    .into_iter()
                    .filter_map(|s| {
                        let other = right_by.get(&s.labels)?;
                        let points: Vec<_> = s
                            .points
                            .into_iter()
                            .filter(|(t, _)| other.contains_key(t))
                            .collect();
                        (!points.is_empty()).then_some(Series {
                            labels: s.labels,
                            points,
                        })
                    })
                    .collect(),
                BinOp::Unless => left
                    .into_iter()
                    .filter_map(|s| {
                        let empty = HashMap::new();
                        let other = right_by.get(&s.labels).unwrap_or(&empty);
                        let points: Vec<_> = s
                            .points
                            .into_iter()
                            .filter(|(t, _)| !other.contains_key(t))
                            .collect();
                        (!points.is_empty()).then_some(Series {
                            labels: s.labels,
                            points,
                        })
                    })
                    .collect(),
                BinOp::Or => {
                    let left_by: BTreeMap<Labels, HashMap<i64, f64>> = left
                        .iter()
                        .map(|s| (s.labels.clone(), s.points.iter().copied().collect()))
                        .collect();
                    let mut out = left;
                    for s in right {
                        let empty = HashMap::new();
                        let mine = left_by.get(&s.labels).unwrap_or(&empty);
                        let points: Vec<_> = s
                            .points
                            .into_iter()
                            .filter(|(t, _)| !mine.contains_key(t))
                            .collect();
                        if !points.is_empty() {
                            out.push(Series {
                                labels: s.labels,
                                points,
                            });
                        }
                    }
                    out
                }
                _ => left
                    .into_iter()
                    .filter_map(|s| {
                        let other = right_by.get(&s.labels)?;
                        let labels = s.labels.clone();
                        let mapped = map_series(vec![s], |t, v| {
                            other
                                .get(&t)
                                .and_then(|w| combine(op, return_bool, v, *w, true))
                        });
                        mapped.into_iter().next().map(|m| Series {
                            labels,
                            points: m.points,
                        })
                    })
                    .collect(),
            };
            Answer::Series(out)
        }
    }
}

/// A vector against a scalar (on the left when `scalar_left`): set operators keep the vector.
fn scalar_side(
    op: BinOp,
    return_bool: bool,
    series: Vec<Series>,
    scalar: Vec<(i64, f64)>,
    scalar_left: bool,
) -> Answer {
    if matches!(op, BinOp::Or | BinOp::And | BinOp::Unless) {
        return Answer::Series(series);
    }
    let at: HashMap<i64, f64> = scalar.into_iter().collect();
    Answer::Series(map_series(series, |t, v| {
        let s = at.get(&t).copied().unwrap_or(f64::NAN);
        match scalar_left {
            true => combine(op, return_bool, s, v, false),
            false => combine(op, return_bool, v, s, true),
        }
    }))
}

fn map_series(series: Vec<Series>, f: impl Fn(i64, f64) -> Option<f64>) -> Vec<Series> {
    series
        .into_iter()
        .filter_map(|s| {
            let points: Vec<(i64, f64)> = s
                .points
                .iter()
                .filter_map(|(t, v)| f(*t, *v).map(|r| (*t, r)))
                .collect();
            (!points.is_empty()).then_some(Series {
                labels: s.labels,
                points,
            })
        })
        .collect()
}

/// A metric query over entries at the given steps.
pub fn metric(expr: &MetricExpr, entries: &[Entry], steps: Steps) -> Answer {
    let times = steps.times();
    eval(expr, entries, &times)
}

fn eval(expr: &MetricExpr, entries: &[Entry], times: &[i64]) -> Answer {
    match expr {
        MetricExpr::Number(n) => Answer::Scalar(times.iter().map(|t| (*t, *n)).collect()),
        MetricExpr::VectorOf(n) => Answer::Series(vec![Series {
            labels: Labels::new(),
            points: times.iter().map(|t| (*t, *n)).collect(),
        }]),
        MetricExpr::Paren(inner) => eval(inner, entries, times),
        MetricExpr::Range {
            func,
            param,
            log,
            range,
            offset,
            grouping,
        } => Answer::Series(eval_range(
            *func,
            *param,
            log,
            range.0,
            offset.as_ref().map_or(0, |o| o.0),
            grouping,
            entries,
            times,
        )),
        MetricExpr::Vector {
            op,
            param,
            grouping,
            inner,
        } => match eval(inner, entries, times) {
            Answer::Series(s) => Answer::Series(aggregate(*op, *param, grouping, s, times)),
            scalar => scalar,
        },
        MetricExpr::Binary {
            op,
            return_bool,
            lhs,
            rhs,
        } => binary(
            *op,
            *return_bool,
            eval(lhs, entries, times),
            eval(rhs, entries, times),
        ),
    }
}
