//! LogQL evaluated over ten fixed entries whose answers were worked out by hand.
//!
//! Entry i is at minute i after T0: service, level, route, and a logfmt line.
//!  0 api info  /a GET 200 100ms    5 web error /a POST 500 300ms
//!  1 api error /a POST 500 900ms   6 api info  /a GET 200 300ms
//!  2 web info  /b GET 200 50ms     7 api info  /a GET 404 20ms
//!  3 api info  /b GET 200 200ms    8 web info  /b GET 200 10ms
//!  4 api error /b GET 503 700ms    9 api error /a POST 500 1000ms
//! Even entries' documents say `user: ann`, odd ones `user: bob`.

use serde_json::json;

use super::eval::*;
use super::logql::ast::{Expr, MetricExpr};
use super::logql::parse::parse;

const T0: i64 = 1_764_000_000_000;
const MIN: i64 = 60_000;

const ROWS: &[(&str, &str, &str, &str, u32, u32)] = &[
    ("api", "info", "/a", "GET", 200, 100),
    ("api", "error", "/a", "POST", 500, 900),
    ("web", "info", "/b", "GET", 200, 50),
    ("api", "info", "/b", "GET", 200, 200),
    ("api", "error", "/b", "GET", 503, 700),
    ("web", "error", "/a", "POST", 500, 300),
    ("api", "info", "/a", "GET", 200, 300),
    ("api", "info", "/a", "GET", 404, 20),
    ("web", "info", "/b", "GET", 200, 10),
    ("api", "error", "/a", "POST", 500, 1000),
];

fn line(i: usize) -> String {
    let (_, _, _, method, status, ms) = ROWS[i];
    format!("method={method} status={status} duration_ms={ms}")
}

fn entries() -> Vec<Entry> {
    ROWS.iter()
        .enumerate()
        .map(|(i, (service, level, route, ..))| Entry {
            ts_ns: (T0 + i as i64 * MIN) * 1_000_000,
            labels: [("service", *service), ("level", *level), ("route", *route)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            line: line(i),
            doc: json!({"message": line(i), "user": if i % 2 == 0 { "ann" } else { "bob" }, "context": {"region": "eu"}}),
            weight: 1.0,
        })
        .collect()
}

fn lines(query: &str, limit: usize, backward: bool) -> Vec<String> {
    let Ok(Expr::Log(log)) = parse(query) else {
        panic!("{query} is a log query")
    };
    let mut all: Vec<(i64, String)> = streams(&log, &entries(), limit, backward)
        .into_iter()
        .flat_map(|s| s.values)
        .collect();
    all.sort_by_key(|(t, _)| if backward { -t } else { *t });
    all.into_iter().map(|(_, l)| l).collect()
}

fn metric_at(query: &str, steps: Steps) -> Answer {
    let Ok(Expr::Metric(m)) = parse(query) else {
        panic!("{query} is a metric query")
    };
    metric(&m, &entries(), steps)
}

fn instant(query: &str) -> Vec<(Vec<(String, String)>, f64)> {
    let at = T0 + 9 * MIN;
    match metric_at(
        query,
        Steps {
            start_ms: at,
            end_ms: at,
            step_ms: 1,
        },
    ) {
        Answer::Series(series) => series
            .into_iter()
            .map(|s| {
                (
                    s.labels.into_iter().collect(),
                    s.points.last().expect("a point").1,
                )
            })
            .collect(),
        Answer::Scalar(points) => vec![(Vec::new(), points[0].1)],
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn log_queries_select_filter_parse_and_format() {
    assert_eq!(
        lines(r#"{service="api"}"#, 3, true),
        vec![line(9), line(7), line(6)]
    );
    assert_eq!(
        lines(r#"{service="api"}"#, 2, false),
        vec![line(0), line(1)]
    );
    assert_eq!(
        lines(r#"{service="api"} | logfmt | status>=500"#, 100, true),
        vec![line(9), line(4), line(1)]
    );
    assert_eq!(
        lines(
            r#"{service="api"} | logfmt | status>=500 | line_format "{{.method}} {{.status}}""#,
            100,
            true
        ),
        vec!["POST 500", "GET 503", "POST 500"]
    );
    assert_eq!(
        lines(r#"{service="api"} |= "POST""#, 100, false),
        vec![line(1), line(9)]
    );
    assert_eq!(
        lines(r#"{service="api"} != "GET" or "POST""#, 100, false),
        Vec::<String>::new()
    );
    assert_eq!(
        lines(
            r#"{service=~"a.*", level!="info"} |~ "status=5\\d\\d""#,
            100,
            false
        ),
        vec![line(1), line(4), line(9)]
    );
    assert_eq!(
        lines(r#"{service="api"} |> "method=<_> status=5<_>""#, 100, false).len(),
        3
    );
    assert_eq!(
        lines(
            r#"{service="api"} | pattern "method=<method> status=<status> <_>" | method="POST""#,
            100,
            false
        ),
        vec![line(1), line(9)]
    );
    assert_eq!(
        lines(r#"{service="web"} | json | user="ann""#, 100, false),
        vec![line(2), line(8)]
    );
    assert_eq!(
        lines(
            r#"{service="web"} | json | context_region="eu""#,
            100,
            false
        )
        .len(),
        3
    );
    assert_eq!(
        lines(
            r#"{service="api"} | logfmt | duration_ms > 250 and method="GET""#,
            100,
            false
        ),
        vec![line(4), line(6)]
    );
    assert_eq!(
        lines(
            r#"{service="api"} | regexp "status=(?P<code>\\d+)" | code="404""#,
            100,
            false
        ),
        vec![line(7)]
    );
    assert_eq!(
        lines(
            r#"{level="error"} | logfmt | status!="500" or route="/b""#,
            100,
            false
        ),
        vec![line(4)]
    );
    // Labels after the pipeline make the streams: label_format and keep leave only `code`.
    let Ok(Expr::Log(log)) =
        parse(r#"{service="api"} | logfmt | label_format code=status | keep code"#)
    else {
        panic!()
    };
    let got: Vec<(Vec<(String, String)>, usize)> = streams(&log, &entries(), 100, true)
        .into_iter()
        .map(|s| (s.labels.into_iter().collect(), s.values.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (labels(&[("code", "200")]), 3),
            (labels(&[("code", "404")]), 1),
            (labels(&[("code", "500")]), 2),
            (labels(&[("code", "503")]), 1)
        ]
    );
}

#[test]
fn metric_queries_answer_what_was_worked_out_by_hand() {
    assert_eq!(
        instant(r#"sum(count_over_time({service="api"}[10m]))"#),
        vec![(vec![], 7.0)]
    );
    assert_eq!(
        instant(r#"sum by (level) (count_over_time({service=~".+"}[10m]))"#),
        vec![
            (labels(&[("level", "error")]), 4.0),
            (labels(&[("level", "info")]), 6.0)
        ]
    );
    assert_eq!(
        instant(r#"sum(rate({service="api"}[5m]))"#),
        vec![(vec![], 3.0 / 300.0)]
    );
    assert_eq!(
        instant(
            r#"quantile_over_time(0.5, {service="api"} | logfmt | unwrap duration_ms [10m]) by (route)"#
        ),
        vec![
            (labels(&[("route", "/a")]), 300.0),
            (labels(&[("route", "/b")]), 450.0)
        ]
    );
    assert_eq!(
        instant(r#"max_over_time({service="api"} | logfmt | unwrap duration_ms [10m]) by (level)"#),
        vec![
            (labels(&[("level", "error")]), 1000.0),
            (labels(&[("level", "info")]), 300.0)
        ]
    );
    assert_eq!(
        instant(
            r#"sum(avg_over_time({service="web"} | logfmt | unwrap duration_ms [10m]) by (service))"#
        ),
        vec![(vec![], 120.0)]
    );
    assert_eq!(
        instant(r#"topk(1, sum by (route) (count_over_time({service=~".+"}[10m])))"#),
        vec![(labels(&[("route", "/a")]), 6.0)]
    );
    assert_eq!(
        instant(r#"bottomk(1, sum by (route) (count_over_time({service=~".+"}[10m])))"#),
        vec![(labels(&[("route", "/b")]), 4.0)]
    );
    assert_eq!(
        instant(
            r#"sum(count_over_time({service="api"}[10m])) / sum(count_over_time({service=~".+"}[10m]))"#
        ),
        vec![(vec![], 0.7)]
    );
    assert_eq!(
        instant(r#"sum(count_over_time({service="api"}[10m])) * 10 + 1"#),
        vec![(vec![], 71.0)]
    );
    assert_eq!(
        instant(r#"absent_over_time({service="nope"}[5m])"#),
        vec![(labels(&[("service", "nope")]), 1.0)]
    );
    assert_eq!(instant(r#"absent_over_time({service="api"}[5m])"#), vec![]);
    assert_eq!(
        instant(r#"sum by (route) (count_over_time({service="api"}[10m])) > 2"#),
        vec![(labels(&[("route", "/a")]), 5.0)]
    );
    assert_eq!(
        instant(r#"sum by (route) (count_over_time({service="api"}[10m])) > bool 2"#),
        vec![
            (labels(&[("route", "/a")]), 1.0),
            (labels(&[("route", "/b")]), 0.0)
        ]
    );
    assert_eq!(
        instant(r#"sum(count_over_time({service="api"}[5m] offset 5m))"#),
        vec![(vec![], 4.0)]
    );
    let web_bytes: usize = [2, 5, 8].iter().map(|i| line(*i).len()).sum();
    assert_eq!(
        instant(r#"sum(bytes_over_time({service="web"}[10m]))"#),
        vec![(vec![], web_bytes as f64)]
    );
    assert_eq!(
        instant(r#"count(sum by (route, level) (count_over_time({service=~".+"}[10m])))"#),
        vec![(vec![], 4.0)]
    );
    assert_eq!(instant("1 + 2 * 3"), vec![(vec![], 7.0)]);
    assert_eq!(
        instant("vector(1)+vector(1)"),
        vec![(vec![], 2.0)],
        "Grafana's health check"
    );
    assert_eq!(instant("2 ^ 3 ^ 2"), vec![(vec![], 512.0)]);
    assert_eq!(
        instant(
            r#"sum by (route) (count_over_time({level="error"}[10m])) and sum by (route) (count_over_time({service="web", level="error"}[10m]))"#
        ),
        vec![(labels(&[("route", "/a")]), 3.0)]
    );
    assert_eq!(
        instant(
            r#"sum by (route) (count_over_time({level="error"}[10m])) unless sum by (route) (count_over_time({service="web", route="/a"}[10m]))"#
        ),
        vec![(labels(&[("route", "/b")]), 1.0)]
    );
}

#[test]
fn range_queries_step_through_windows() {
    let steps = Steps {
        start_ms: T0 + 4 * MIN,
        end_ms: T0 + 9 * MIN,
        step_ms: 5 * MIN,
    };
    let Answer::Series(series) = metric_at(r#"sum(count_over_time({service="api"}[5m]))"#, steps)
    else {
        panic!()
    };
    assert_eq!(series.len(), 1);
    assert_eq!(
        series[0].points,
        vec![(T0 + 4 * MIN, 4.0), (T0 + 9 * MIN, 3.0)]
    );
    let Ok(Expr::Metric(m)) =
        parse(r#"sum by (level) (count_over_time({service="api"}[5m] offset 1h))"#)
    else {
        panic!()
    };
    assert_eq!(lookback_ms(&m), 65 * MIN);
    assert!(matches!(m, MetricExpr::Vector { .. }));
}
