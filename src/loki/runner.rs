//! Events for a LogQL query, read through the shards newest first: the selector's `=`
//! matchers on stored fields are pushed down as filters (the shards skip blocks by them), the
//! rest is matched in memory by `eval`. Reading stops at a cap; the answer says when it did.

use worker::{D1Database, Env};

use super::api::Read;
use super::entries::{entry_with, LABELS};
use super::eval::{selects, Entry, Pipeline};
use super::logql::ast::{LogExpr, MatchOp, Matcher};
use crate::error::AppError;
use crate::processors::timestamp::{format_ts, from_millis};
use crate::query::logs::parse_log_query;
use crate::storage::d1::{opt_text, text, Metered};

/// The `=` matchers every selector shares, as `/v1/logs` filters.
fn pushed_down(selectors: &[&[Matcher]]) -> Vec<(String, String)> {
    let Some(first) = selectors.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|m| m.op == MatchOp::Eq && !m.value.is_empty())
        .filter(|m| selectors.iter().all(|s| s.contains(m)))
        .filter_map(|m| match m.name.as_str() {
            name if LABELS.contains(&name) => Some((m.name.clone(), m.value.clone())),
            name if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                Some((format!("tag.{name}"), m.value.clone()))
            }
            _ => None,
        })
        .collect()
}

/// What a read is for: every event of the range up to `cap`, or stop once `enough` of them
/// pass `want` (a log query's pipeline).
pub struct Wanted<'a> {
    /// The selectors an event must match one of; none: every event.
    pub selectors: Vec<&'a [Matcher]>,
    pub from_ns: i64,
    pub to_ns: i64,
    pub cap: usize,
    pub enough: Option<(usize, &'a LogExpr)>,
    /// Whether a `| json` stage reads the events' documents.
    pub needs_doc: bool,
}

/// The entries read (newest first), what was read, and whether the cap cut the range short.
pub async fn read(
    env: &Env,
    db: &D1Database,
    project: Option<String>,
    wanted: Wanted<'_>,
) -> Result<(Vec<Entry>, Read, bool), AppError> {
    let time = |ns: i64| {
        from_millis(ns.div_euclid(1_000_000))
            .map(format_ts)
            .unwrap_or_default()
    };
    let mut pairs = pushed_down(&wanted.selectors);
    pairs.retain(|(k, _)| k != "project");
    pairs.push(("from".into(), time(wanted.from_ns)));
    pairs.push(("to".into(), time(wanted.to_ns)));
    let mut query = parse_log_query(&pairs)?;
    query.project = project;
    let started = crate::platform::clock::millis();
    let pipeline = wanted
        .enough
        .map(|(n, log)| (n, log, Pipeline::new(&log.stages)));
    let (mut entries, mut read, mut passing) = (Vec::new(), Read::default(), 0usize);
    let selectors = &wanted.selectors;
    let doc = wanted.needs_doc;
    let cut = crate::shards::reader::scan(env, db, query, wanted.cap, |events| {
        for event in events {
            let entry = entry_with(event, doc);
            read.lines += 1;
            read.bytes += entry.line.len() as u64;
            if selectors.is_empty() || selectors.iter().any(|s| selects(s, &entry.labels)) {
                if let Some((_, log, p)) = &pipeline {
                    if selects(&log.selector, &entry.labels) && p.run(&entry).is_some() {
                        passing += 1;
                    }
                }
                entries.push(entry);
            }
        }
        pipeline.as_ref().is_none_or(|(n, ..)| passing < *n)
    })
    .await?;
    read.exec_seconds = (crate::platform::clock::millis().saturating_sub(started)) as f64 / 1000.0;
    Ok((entries, read, cut))
}

/// The minute rollup's rows from `from_ms` to `to_ms`, summed over every dimension but `dims`,
/// as weighted entries (`rollup::entry`).
pub async fn rollup_entries(
    db: &D1Database,
    project: Option<&str>,
    dims: &[&str],
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Entry>, AppError> {
    let minute = |ms: i64| {
        from_millis(ms)
            .map(format_ts)
            .unwrap_or_default()
            .chars()
            .take(16)
            .collect::<String>()
    };
    let columns: String = dims.iter().map(|d| format!(", {d}")).collect();
    let sql = format!(
        "SELECT bucket{columns}, sum(n) AS n FROM event_counts_minute WHERE bucket >= ?1 AND bucket <= ?2 AND (?3 IS NULL OR project = ?3) GROUP BY bucket{columns}"
    );
    let rows: Vec<serde_json::Map<String, serde_json::Value>> = db
        .prepare(&sql)
        .bind(&[
            text(&minute(from_ms)),
            text(&minute(to_ms)),
            opt_text(project),
        ])?
        .all()
        .await?
        .metered()
        .results()?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let get = |k: &str| row.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            let values: Vec<(&str, &str)> = dims.iter().map(|d| (*d, get(d))).collect();
            let n = row.get("n").and_then(|v| v.as_i64()).unwrap_or(0);
            super::rollup::entry(get("bucket"), &values, n)
        })
        .collect())
}
