//! Each Loki read route's answer: parameters read (`api`), events read (`runner`), the query
//! evaluated (`eval`) or the catalogue made (`discover`). The handlers only pass the request.

use serde_json::{json, Value};
use worker::{D1Database, Env};

use super::api::{self, parse_params, QueryParams, Read};
use super::discover;
use super::eval::{self, Answer, Entry, Steps};
use super::logql::ast::{Expr, Matcher};
use super::logql::parse::parse;
use super::rollup;
use super::runner::{self, read, Wanted};
use crate::error::AppError;

/// The most events a log query reads to find its lines, and a metric query or a catalogue
/// reads in its range.
const LOG_CAP: usize = 20_000;
const METRIC_CAP: usize = 100_000;
const CATALOGUE_CAP: usize = 5_000;

/// Where a request reads: the events of one project (a project-bound key's, or the one
/// `X-Scope-OrgID` asks for), or all.
pub struct Scope<'a> {
    pub env: &'a Env,
    pub db: &'a D1Database,
    pub project: Option<String>,
    pub now_ns: i64,
}

fn bad(message: impl Into<String>) -> AppError {
    AppError::InvalidParameter(message.into())
}

fn selector_of(text: &str) -> Result<Vec<Matcher>, AppError> {
    match parse(text).map_err(bad)? {
        Expr::Log(log) => Ok(log.selector),
        Expr::Metric(_) => Err(bad(
            "a stream selector is expected here, such as {service=\"api\"}",
        )),
    }
}

/// Whether any pipeline parses the event's document (`| json`).
fn reads_json(logs: &[&super::logql::ast::LogExpr]) -> bool {
    logs.iter().any(|l| {
        l.stages
            .iter()
            .any(|s| matches!(s, super::logql::ast::Stage::Json(_)))
    })
}

fn with_warning(mut answer: Value, cut: bool, cap: usize) -> Value {
    if cut {
        answer["warnings"] = json!([format!(
            "the query read the newest {cap} events of its range and stopped; narrow the selector or the range for an exact answer"
        )]);
    }
    answer
}

/// `query_range` (`instant`: false) and `query`.
pub async fn query(
    s: &Scope<'_>,
    pairs: &[(String, String)],
    instant: bool,
) -> Result<Value, AppError> {
    let p = parse_params(pairs, s.now_ns)?;
    let text = p
        .query
        .clone()
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| bad("query is required"))?;
    match parse(&text).map_err(bad)? {
        Expr::Log(_) if instant => Err(bad("log queries are not supported as an instant query type, please change your query to a range query type")),
        Expr::Log(log) => {
            let wanted = Wanted {
                selectors: vec![&log.selector],
                from_ns: p.start_ns,
                to_ns: p.end_ns,
                cap: LOG_CAP,
                enough: Some((p.limit, &log)),
                needs_doc: reads_json(&[&log]),
            };
            let (entries, read_stats, cut) = read(s.env, s.db, s.project.clone(), wanted).await?;
            let streams = eval::streams(&log, &entries, p.limit, p.backward);
            Ok(with_warning(api::streams_answer(&streams, read_stats), cut, LOG_CAP))
        }
        Expr::Metric(m) => {
            let (start_ms, end_ms, step_ms) = match instant {
                true => (p.time_ns / 1_000_000, p.time_ns / 1_000_000, 1),
                false => (p.start_ns / 1_000_000, p.end_ns / 1_000_000, p.step_ms),
            };
            let logs = eval::log_exprs(&m);
            let steps = Steps { start_ms, end_ms, step_ms };
            let lookback = eval::lookback_ms(&m);
            let (entries, read_stats, cut) = if logs.is_empty() {
                (Vec::new(), Read::default(), false)
            } else if rollup::answers(&m, steps, lookback, s.now_ns / 1_000_000) {
                // Counted dimensions only: the minute rollup answers without reading an event.
                let dims = rollup::needed_dims(&m);
                let rows = runner::rollup_entries(s.db, s.project.as_deref(), &dims, start_ms - lookback, end_ms).await?;
                (rows, Read::default(), false)
            } else {
                let wanted = Wanted {
                    selectors: logs.iter().map(|l| l.selector.as_slice()).collect(),
                    from_ns: start_ms.saturating_sub(eval::lookback_ms(&m)).saturating_mul(1_000_000),
                    to_ns: end_ms.saturating_mul(1_000_000),
                    cap: METRIC_CAP,
                    enough: None,
                    needs_doc: reads_json(&logs),
                };
                read(s.env, s.db, s.project.clone(), wanted).await?
            };
            let answer = eval::metric(&m, &entries, steps);
            drop(entries);
            let body = match instant {
                true => api::instant_answer(&answer, start_ms, read_stats),
                false => api::matrix_answer(&answer, read_stats),
            };
            Ok(with_warning(body, cut, METRIC_CAP))
        }
    }
}

/// The entries of a catalogue request: the selectors of `query` / `match[]` (every event when
/// none), in the range (by default the last 6 hours, as Loki's).
async fn catalogue(
    s: &Scope<'_>,
    p: &QueryParams,
    selectors: &[Vec<Matcher>],
) -> Result<Vec<Entry>, AppError> {
    let chosen: Vec<&[Matcher]> = selectors.iter().map(Vec::as_slice).collect();
    let wanted = Wanted {
        selectors: chosen,
        from_ns: p.start_ns,
        to_ns: p.end_ns,
        cap: CATALOGUE_CAP,
        enough: None,
        needs_doc: false,
    };
    Ok(read(s.env, s.db, s.project.clone(), wanted).await?.0)
}

fn catalogue_params(pairs: &[(String, String)], now_ns: i64) -> Result<QueryParams, AppError> {
    let has_start = pairs.iter().any(|(k, _)| k == "start" || k == "since");
    let mut p = parse_params(pairs, now_ns)?;
    if !has_start {
        p.start_ns = p.end_ns.saturating_sub(6 * 3_600_000_000_000);
    }
    Ok(p)
}

fn selectors(p: &QueryParams) -> Result<Vec<Vec<Matcher>>, AppError> {
    p.query
        .iter()
        .chain(p.matches.iter())
        .filter(|t| !t.trim().is_empty())
        .map(|t| selector_of(t))
        .collect()
}

/// `labels`, `label/{name}/values`, `series`, `index/stats`, `detected_labels`,
/// `detected_fields`, `patterns`, `index/volume` and `volume_range`.
pub async fn catalogue_answer(
    s: &Scope<'_>,
    pairs: &[(String, String)],
    what: &str,
    name: Option<&str>,
) -> Result<Value, AppError> {
    let p = catalogue_params(pairs, s.now_ns)?;
    let chosen = selectors(&p)?;
    if what == "series" && chosen.is_empty() {
        return Err(bad("match[] is required: one or more stream selectors"));
    }
    let entries = catalogue(s, &p, &chosen).await?;
    let get = |k: &str| api::param(pairs, k);
    Ok(match what {
        "labels" => api::names_answer(discover::label_names(&entries)),
        "values" => api::names_answer(discover::label_values(&entries, name.unwrap_or_default())),
        "series" => api::series_answer(&discover::series(&entries)),
        "stats" => discover::index_stats(&entries),
        "detected_labels" => discover::detected_labels(&entries),
        "detected_fields" => discover::detected_fields(
            &entries,
            get("limit").and_then(|l| l.parse().ok()).unwrap_or(1000),
        ),
        "patterns" => {
            let step = get("step")
                .map(api::parse_step)
                .transpose()?
                .unwrap_or(60_000);
            json!({"status": "success", "data": discover::patterns(&entries, p.start_ns / 1_000_000, step, 50)})
        }
        _ => {
            let targets: Vec<String> = get("targetLabels")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            let by_labels = match get("aggregateBy") {
                None | Some("series") => false,
                Some("labels") => true,
                Some(other) => {
                    return Err(bad(format!(
                        "invalid aggregateBy \"{other}\": series or labels"
                    )))
                }
            };
            let limit = get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            let ranged = what == "volume_range";
            let buckets = ranged.then_some((p.start_ns / 1_000_000, p.step_ms));
            let volumes = discover::volume(&entries, &targets, by_labels, buckets, limit);
            let series: Vec<eval::Series> = volumes
                .into_iter()
                .map(|(labels, points)| eval::Series {
                    labels,
                    points: if ranged {
                        points
                    } else {
                        vec![(p.end_ns / 1_000_000, points.iter().map(|x| x.1).sum())]
                    },
                })
                .collect();
            let answer = Answer::Series(series);
            match ranged {
                true => api::matrix_answer(&answer, Read::default()),
                false => api::instant_answer(&answer, p.end_ns / 1_000_000, Read::default()),
            }
        }
    })
}

/// `format_query`: the query in canonical form.
pub fn format_query(pairs: &[(String, String)]) -> Result<Value, AppError> {
    let text = pairs
        .iter()
        .rev()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| bad("query is required"))?;
    let expr = parse(text).map_err(bad)?;
    Ok(json!({"status": "success", "data": expr.to_string()}))
}

/// `status/buildinfo`: the Loki version whose API this answers (Grafana enables features by it).
pub fn buildinfo() -> Value {
    json!({"version": "3.4.0", "revision": "edge-logger", "branch": "main", "buildUser": "edge-logger", "buildDate": "", "goVersion": ""})
}
