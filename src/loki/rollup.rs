//! Metric queries the count rollups answer without reading an event: a `sum` (by counted
//! dimensions, or of everything) of `count_over_time` or `rate` over a selector on counted
//! dimensions only, no pipeline, in whole minutes — what Grafana's dashboards and its logs
//! volume ask of a level or an environment. The minute rollup (`event_counts_minute`, kept 7
//! days, by event time) holds exactly those counts. Pure: which queries qualify, and the rows
//! as weighted entries for `eval`.

use super::eval::{Entry, Labels, Steps};
use super::logql::ast::{MetricExpr, RangeFn, VecOp};
use crate::query::stats::DIMENSIONS;

/// Whether the minute rollup counts by this label: a dimension of the count rollups
/// (`query::stats::DIMENSIONS`), or the project.
fn counted(name: &str) -> bool {
    name == "project" || DIMENSIONS.contains(&name)
}

/// How long the minute rollup is kept.
pub const KEPT_MS: i64 = 7 * 86_400_000;

const MINUTE: i64 = 60_000;

fn answerable(expr: &MetricExpr, under_sum: bool) -> bool {
    match expr {
        MetricExpr::Range {
            func,
            log,
            range,
            offset,
            grouping,
            ..
        } => {
            under_sum
                && matches!(func, RangeFn::Count | RangeFn::Rate)
                && log.stages.is_empty()
                && grouping.is_none()
                && log.selector.iter().all(|m| counted(&m.name))
                && range.0 % MINUTE == 0
                && offset.as_ref().is_none_or(|o| o.0 % MINUTE == 0)
        }
        MetricExpr::Vector {
            op,
            grouping,
            inner,
            ..
        } => {
            let coarser = grouping
                .as_ref()
                .is_none_or(|g| !g.without && g.labels.iter().all(|l| counted(l)));
            answerable(inner, *op == VecOp::Sum && coarser)
        }
        MetricExpr::Binary { lhs, rhs, .. } => answerable(lhs, false) && answerable(rhs, false),
        MetricExpr::Paren(inner) => answerable(inner, under_sum),
        MetricExpr::Number(_) | MetricExpr::VectorOf(_) => true,
    }
}

/// Whether the rollups answer this query at these steps (minute-aligned, within the last
/// [`KEPT_MS`] before `now_ms`, reading at least one range).
pub fn answers(expr: &MetricExpr, steps: Steps, lookback_ms: i64, now_ms: i64) -> bool {
    let aligned = steps.start_ms % MINUTE == 0
        && (steps.start_ms == steps.end_ms || steps.step_ms % MINUTE == 0);
    aligned
        && steps.start_ms - lookback_ms >= now_ms - KEPT_MS
        && !super::eval::log_exprs(expr).is_empty()
        && answerable(expr, false)
}

/// The dimensions a qualifying query reads (its selectors' and its groupings'), so the rollup
/// is summed over the others before it leaves D1.
pub fn needed_dims(expr: &MetricExpr) -> Vec<&'static str> {
    fn walk(expr: &MetricExpr, out: &mut Vec<String>) {
        match expr {
            MetricExpr::Range { log, .. } => {
                out.extend(log.selector.iter().map(|m| m.name.clone()))
            }
            MetricExpr::Vector {
                grouping, inner, ..
            } => {
                out.extend(grouping.iter().flat_map(|g| g.labels.clone()));
                walk(inner, out);
            }
            MetricExpr::Binary { lhs, rhs, .. } => {
                walk(lhs, out);
                walk(rhs, out);
            }
            MetricExpr::Paren(inner) => walk(inner, out),
            MetricExpr::Number(_) | MetricExpr::VectorOf(_) => {}
        }
    }
    let mut names = Vec::new();
    walk(expr, &mut names);
    DIMENSIONS
        .iter()
        .copied()
        .chain(["project"])
        .filter(|d| names.iter().any(|n| n == d))
        .collect()
}

/// One rollup row (`bucket` is `YYYY-MM-DDTHH:MM`) as an entry weighing its count, inside its
/// minute (so a window `(t - range, t]` of whole minutes holds it exactly when it holds the
/// minute).
pub fn entry(bucket: &str, dims: &[(&str, &str)], n: i64) -> Option<Entry> {
    let at = crate::processors::timestamp::parse_text(&format!("{bucket}:00.000Z"))?;
    let labels: Labels = dims
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Entry {
        ts_ns: (at.timestamp_millis() + 1) * 1_000_000,
        labels,
        line: String::new(),
        doc: serde_json::Value::Null,
        weight: n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loki::eval::{metric, Answer};
    use crate::loki::logql::ast::Expr;
    use crate::loki::logql::parse::parse;

    fn m(q: &str) -> MetricExpr {
        match parse(q).unwrap() {
            Expr::Metric(m) => m,
            _ => panic!("{q}"),
        }
    }

    const NOW: i64 = 1_764_000_000_000;

    #[test]
    fn which_queries_the_rollups_answer() {
        let steps = Steps {
            start_ms: NOW - 3_600_000,
            end_ms: NOW,
            step_ms: 60_000,
        };
        let yes = [
            r#"sum by (level) (count_over_time({environment="production"}[5m]))"#,
            r#"sum(rate({level=~"error|fatal"}[1m]))"#,
            r#"sum by (route) (count_over_time({level="error", route!="/health"}[1h])) / 60"#,
            r#"sum(count_over_time({level="error"}[5m])) / sum(count_over_time({level=~".+"}[5m]))"#,
        ];
        for q in yes {
            assert!(answers(&m(q), steps, 3_600_000, NOW), "{q}");
        }
        let no = [
            r#"count_over_time({level="error"}[5m])"#,
            r#"sum by (service) (count_over_time({level="error"}[5m]))"#,
            r#"sum(count_over_time({service="api"}[5m]))"#,
            r#"sum(count_over_time({level="error"} |= "x" [5m]))"#,
            r#"sum(bytes_over_time({level="error"}[5m]))"#,
            r#"avg(count_over_time({level="error"}[5m]))"#,
            r#"sum(count_over_time({level="error"}[90s]))"#,
            r#"sum without (level) (count_over_time({level="error"}[5m]))"#,
        ];
        for q in no {
            assert!(!answers(&m(q), steps, 300_000, NOW), "{q}");
        }
        let unaligned = Steps {
            start_ms: NOW - 3_600_000 + 1,
            ..steps
        };
        assert!(!answers(&m(yes[0]), unaligned, 300_000, NOW));
        let too_old = Steps {
            start_ms: NOW - 8 * 86_400_000,
            ..steps
        };
        assert!(!answers(&m(yes[0]), too_old, 300_000, NOW));
    }

    #[test]
    fn rows_count_like_the_events_they_sum() {
        // 3 errors and 2 infos in the minute at 12:00, 4 errors at 12:03.
        let rows = [
            entry("2025-11-24T12:00", &[("level", "error"), ("route", "")], 3).unwrap(),
            entry("2025-11-24T12:00", &[("level", "info"), ("route", "")], 2).unwrap(),
            entry(
                "2025-11-24T12:03",
                &[("level", "error"), ("route", "/a")],
                4,
            )
            .unwrap(),
        ];
        let at = |h: u32, min: u32| {
            crate::processors::timestamp::parse_text(&format!("2025-11-24T{h:02}:{min:02}:00.000Z"))
                .unwrap()
                .timestamp_millis()
        };
        let steps = Steps {
            start_ms: at(12, 1),
            end_ms: at(12, 4),
            step_ms: 180_000,
        };
        let Answer::Series(series) = metric(
            &m(r#"sum by (level) (count_over_time({level=~".+"}[2m]))"#),
            &rows,
            steps,
        ) else {
            panic!()
        };
        let got: Vec<(String, Vec<(i64, f64)>)> = series
            .into_iter()
            .map(|s| (s.labels["level"].clone(), s.points))
            .collect();
        assert_eq!(
            got,
            vec![
                ("error".into(), vec![(at(12, 1), 3.0), (at(12, 4), 4.0)]),
                ("info".into(), vec![(at(12, 1), 2.0)])
            ]
        );
    }
}
