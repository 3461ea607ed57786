//! LogQL examples from Loki's documentation (query/log_queries, metric_queries, template
//! functions) and Grafana's own requests: each parses, prints canonically, and the printed text
//! parses back to the same tree. Refusals name what is wrong or not supported.

use super::parse::parse;

/// Valid queries; where the canonical text differs from the input, the second item gives it.
const VALID: &[(&str, Option<&str>)] = &[
    // Stream selectors.
    (
        r#"{app="mysql",name="mysql-backup"}"#,
        Some(r#"{app="mysql", name="mysql-backup"}"#),
    ),
    (r#"{name=~"mysql.+"}"#, None),
    (r#"{name!~"mysql.+"}"#, None),
    (r#"{name!="mysql-backup"}"#, None),
    (r#"{service="api"}"#, None),
    (r#"{service="api", level=~"error|fatal"}"#, None),
    (
        r#"{ service = "api" , level != "debug" }"#,
        Some(r#"{service="api", level!="debug"}"#),
    ),
    ("{job=`mysql`}", Some(r#"{job="mysql"}"#)),
    (r#"{name=~"mysql-\\d+"}"#, None),
    (
        r#"{env="prod", project="shop", release=~"1\\.4\\..*"}"#,
        None,
    ),
    // Line filters.
    (r#"{job="mysql"} |= "error""#, None),
    (r#"{job="mysql"} != "timeout""#, None),
    (r#"{job="mysql"} |~ "tsdb-ops.*io:2003""#, None),
    (r#"{job="mysql"} !~ "status 5\\d{2}""#, None),
    (r#"{job="mysql"} |= "error" != "timeout""#, None),
    (r#"{job="mysql"} |= "error" or "fail""#, None),
    (
        r#"{job="mysql"} |~ `error=\w+`"#,
        Some(r#"{job="mysql"} |~ "error=\\w+""#),
    ),
    (r#"{job="mysql"} |> "<_> level=error <_>""#, None),
    (r#"{job="mysql"} !> "<_> level=debug <_>""#, None),
    (
        r#"{container="query-frontend",namespace="loki-dev"} |= "metrics.go" |~ "latency=\\d+""#,
        Some(
            r#"{container="query-frontend", namespace="loki-dev"} |= "metrics.go" |~ "latency=\\d+""#,
        ),
    ),
    (r#"{job="app"} |= "quote \" inside""#, None),
    (r#"{job="app"} |= "tab\there""#, None),
    // Parsers.
    (r#"{job="app"} | json"#, None),
    (
        r#"{job="app"} | json first_server="servers[0]", ua="request.headers.User-Agent""#,
        None,
    ),
    (r#"{job="app"} | json status, method"#, None),
    (r#"{job="app"} | logfmt"#, None),
    (
        r#"{job="app"} | regexp "(?P<method>\\w+) (?P<path>[\\w|/]+) \\((?P<status>\\d+?)\\)""#,
        None,
    ),
    (
        r#"{job="app"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size> <_> \"<agent>\" <_>""#,
        None,
    ),
    (r#"{job="app"} | unpack"#, None),
    (r#"{job="app"} | decolorize"#, None),
    (r#"{job="app"} | json | logfmt"#, None),
    // Label filters.
    (
        r#"{job="app"} | logfmt | duration > 1m and bytes_consumed > 20MB"#,
        Some(r#"{job="app"} | logfmt | duration>1m and bytes_consumed>20MB"#),
    ),
    (
        r#"{job="app"} | logfmt | duration >= 20ms or size == 20kb"#,
        Some(r#"{job="app"} | logfmt | duration>=20ms or size=20kb"#),
    ),
    (
        r#"{job="app"} | logfmt | duration>=20ms or size=20kb"#,
        None,
    ),
    (r#"{job="app"} | json | level="error""#, None),
    (r#"{job="app"} | json | level!="debug""#, None),
    (
        r#"{job="app"} | json | status=~"5.." "#,
        Some(r#"{job="app"} | json | status=~"5..""#),
    ),
    (r#"{job="app"} | json | status!~"2..""#, None),
    (
        r#"{job="app"} | json | status >= 400"#,
        Some(r#"{job="app"} | json | status>=400"#),
    ),
    (
        r#"{job="app"} | json | status < 300"#,
        Some(r#"{job="app"} | json | status<300"#),
    ),
    (
        r#"{job="app"} | json | latency <= 1.5"#,
        Some(r#"{job="app"} | json | latency<=1.5"#),
    ),
    (
        r#"{job="app"} | json | latency > -1"#,
        Some(r#"{job="app"} | json | latency>-1"#),
    ),
    (
        r#"{job="app"} | logfmt | level="error", method="GET""#,
        Some(r#"{job="app"} | logfmt | level="error" and method="GET""#),
    ),
    (
        r#"{job="app"} | logfmt | (duration > 1s or status >= 500) and method="POST""#,
        Some(r#"{job="app"} | logfmt | (duration>1s or status>=500) and method="POST""#),
    ),
    (r#"{job="app"} | json | __error__="""#, None),
    (r#"{job="app"} | json | __error__!="JSONParserErr""#, None),
    (
        r#"{job="app"} | logfmt | size > 1.5KiB"#,
        Some(r#"{job="app"} | logfmt | size>1.5KiB"#),
    ),
    (
        r#"{job="app"} | logfmt | took < 250ms"#,
        Some(r#"{job="app"} | logfmt | took<250ms"#),
    ),
    (
        r#"{job="app"} | logfmt | took != 1h30m"#,
        Some(r#"{job="app"} | logfmt | took!=1h30m"#),
    ),
    // Formatting.
    (
        r#"{job="app"} | logfmt | line_format "{{.query}} {{.duration}}""#,
        None,
    ),
    (
        r#"{job="app"} | json | line_format "{{ .method | ToUpper }} {{ .path }}""#,
        None,
    ),
    (r#"{job="app"} | line_format "{{__line__}}""#, None),
    (r#"{job="app"} | logfmt | label_format dst=src"#, None),
    (
        r#"{job="app"} | logfmt | label_format dst="{{.status}} {{.query}}""#,
        None,
    ),
    (
        r#"{job="app"} | logfmt | label_format a=b, c="{{.d}}""#,
        None,
    ),
    (r#"{job="app"} | logfmt | drop level, method="GET""#, None),
    (r#"{job="app"} | logfmt | keep level, status"#, None),
    (r#"{job="app"} | json | keep level="error""#, None),
    // Whole log pipelines.
    (
        r#"{service="api"} |= "timeout" | json | status>=500 | line_format "{{.path}}""#,
        None,
    ),
    (
        r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" != "out of order" | logfmt | duration > 30s or status_code != "200""#,
        Some(
            r#"{cluster="ops-tools1", namespace="loki-dev", job="loki-dev/query-frontend"} |= "metrics.go" != "out of order" | logfmt | duration>30s or status_code!="200""#,
        ),
    ),
    (
        r#"{level="error"} | json | drop __error__, __error_details__"#,
        None,
    ),
    // Range aggregations.
    (r#"count_over_time({job="mysql"}[5m])"#, None),
    (r#"rate({job="mysql"} |= "error" != "timeout"[10s])"#, None),
    (
        r#"rate({job="mysql"} |= "error" != "timeout" [10s])"#,
        Some(r#"rate({job="mysql"} |= "error" != "timeout"[10s])"#),
    ),
    (r#"bytes_over_time({job="mysql"}[1h])"#, None),
    (r#"bytes_rate({job="mysql"}[1m])"#, None),
    (r#"absent_over_time({job="mysql"}[1h])"#, None),
    (r#"count_over_time({job="mysql"}[5m] offset 1h)"#, None),
    (
        r#"count_over_time({job="mysql"} | json | level="error"[5m])"#,
        None,
    ),
    (
        r#"sum_over_time({job="app"} | logfmt | unwrap bytes[1m])"#,
        None,
    ),
    (
        r#"avg_over_time({job="app"} | logfmt | unwrap latency[1m]) by (method)"#,
        None,
    ),
    (
        r#"min_over_time({job="app"} | logfmt | unwrap latency[1m]) without (pod)"#,
        None,
    ),
    (
        r#"max_over_time({job="app"} | logfmt | unwrap duration(latency)[1m])"#,
        None,
    ),
    (
        r#"first_over_time({job="app"} | logfmt | unwrap bytes(size)[1m])"#,
        None,
    ),
    (
        r#"last_over_time({job="app"} | logfmt | unwrap duration_seconds(took)[1m])"#,
        None,
    ),
    (
        r#"stddev_over_time({job="app"} | logfmt | unwrap latency[5m])"#,
        None,
    ),
    (
        r#"stdvar_over_time({job="app"} | logfmt | unwrap latency[5m])"#,
        None,
    ),
    (
        r#"quantile_over_time(0.99, {job="app"} | json | unwrap duration_ms[5m]) by (route)"#,
        None,
    ),
    (
        r#"quantile_over_time(0.95,{service="api"} | json | unwrap duration_ms [5m]) by (route)"#,
        Some(
            r#"quantile_over_time(0.95, {service="api"} | json | unwrap duration_ms[5m]) by (route)"#,
        ),
    ),
    (r#"rate({job="app"} | logfmt | unwrap bytes[1m])"#, None),
    (
        r#"rate_counter({job="app"} | logfmt | unwrap total[5m])"#,
        None,
    ),
    (
        r#"sum_over_time({job="app"} | json | status=~"5.." | unwrap latency[5m] offset 1d)"#,
        None,
    ),
    // Vector aggregations.
    (
        r#"sum by (level) (count_over_time({service="api"}[5m]))"#,
        None,
    ),
    (
        r#"sum(count_over_time({service="api"}[5m])) by (level)"#,
        Some(r#"sum by (level) (count_over_time({service="api"}[5m]))"#),
    ),
    (r#"sum without (pod) (rate({job="app"}[1m]))"#, None),
    (r#"avg(rate({job="app"}[1m]))"#, None),
    (r#"min by (host) (rate({job="app"}[1m]))"#, None),
    (r#"max by (host) (rate({job="app"}[1m]))"#, None),
    (r#"count(rate({job="app"}[1m]))"#, None),
    (r#"stddev(rate({job="app"}[1m]))"#, None),
    (r#"stdvar(rate({job="app"}[1m]))"#, None),
    (r#"topk(10, sum by (route) (rate({job="app"}[5m])))"#, None),
    (r#"topk by (region) (1, rate({job="app"}[5m]))"#, None),
    (
        r#"bottomk(3, sum by (route) (rate({job="app"}[5m])))"#,
        None,
    ),
    (r#"sort(sum by (route) (rate({job="app"}[5m])))"#, None),
    (r#"sort_desc(sum by (route) (rate({job="app"}[5m])))"#, None),
    (
        r#"sum by (host, path) (count_over_time({job="app"} | logfmt[1h]))"#,
        None,
    ),
    (r#"sum by () (count_over_time({job="app"}[1h]))"#, None),
    // Binary operators.
    (
        r#"sum(rate({app="foo", level="error"}[1m])) / sum(rate({app="foo"}[1m]))"#,
        None,
    ),
    (r#"sum(rate({app="foo"}[1m])) * 100"#, None),
    (
        r#"100 * sum(rate({app="foo", level="error"}[1m])) / sum(rate({app="foo"}[1m]))"#,
        None,
    ),
    (r#"sum(rate({app="foo"}[1m])) > 10"#, None),
    (r#"sum(rate({app="foo"}[1m])) > bool 10"#, None),
    (r#"sum by (level) (rate({app="foo"}[1m])) >= 0.5"#, None),
    (r#"sum(rate({app="foo"}[1m])) == 0"#, None),
    (r#"sum(rate({app="foo"}[1m])) != 0"#, None),
    (r#"sum(rate({app="foo"}[1m])) < 1"#, None),
    (r#"sum(rate({app="foo"}[1m])) <= 1"#, None),
    (r#"rate({app="a"}[1m]) or rate({app="b"}[1m])"#, None),
    (r#"rate({app="a"}[1m]) and rate({app="b"}[1m])"#, None),
    (r#"rate({app="a"}[1m]) unless rate({app="b"}[1m])"#, None),
    (
        r#"(sum(rate({app="a"}[1m])) + sum(rate({app="b"}[1m]))) / 2"#,
        None,
    ),
    (
        r#"sum(rate({app="a"}[1m])) - sum(rate({app="b"}[1m])) - 1"#,
        None,
    ),
    (r#"sum(rate({app="a"}[1m])) % 7"#, None),
    (r#"2 ^ 3 ^ 2"#, None),
    (r#"1 + 2 * 3"#, None),
    (r#"(1 + 2) * 3"#, None),
    (r#"-1"#, None),
    ("vector(1)+vector(1)", Some("vector(1) + vector(1)")),
    ("sum(vector(2))", None),
    (r#"4 - -1"#, None),
    (r#"count_over_time({job="app"}[5m]) > 0"#, None),
    (
        r#"sum by (route) (count_over_time({service="api"} |= "timeout"[1h])) / ignoring_nothing_here"#,
        None,
    ),
];

const INVALID: &[(&str, &str)] = &[
    ("", "empty"),
    ("{}", "at least one label matcher"),
    (r#"{job="app""#, "unexpected end"),
    (r#"{job=app}"#, "IDENTIFIER 'app'"),
    (r#"{job="app"} |= error"#, "IDENTIFIER 'error'"),
    (r#"{job="app"} |~ "(""#, "invalid regular expression"),
    (r#"{job=~"("}"#, "invalid regular expression"),
    (r#"count_over_time({job="app"})"#, "unexpected ')'"),
    (r#"count_over_time({job="app"}[5x])"#, "invalid duration"),
    (
        r#"count_over_time({job="app"} | unwrap x[5m])"#,
        "cannot read unwrapped values",
    ),
    (r#"sum_over_time({job="app"}[5m])"#, "needs an unwrap stage"),
    (
        r#"{job="app"} | unwrap x"#,
        "unwrap belongs in a range aggregation",
    ),
    (
        r#"sum({job="app"})"#,
        "log query cannot be used in a metric query",
    ),
    (
        r#"holt_winters(rate({a="b"}[1m]), 0.5, 0.5)"#,
        "holt_winters is not a supported function",
    ),
    (
        r#"label_replace(rate({a="b"}[1m]), "x", "$1", "y", "(.*)")"#,
        "label_replace is not a supported function",
    ),
    (
        r#"rate({a="b"}[1m]) / on (x) rate({a="c"}[1m])"#,
        "vector matching",
    ),
    (
        r#"rate({a="b"}[1m]) * ignoring (x) rate({a="c"}[1m])"#,
        "vector matching",
    ),
    (r#"topk(rate({a="b"}[1m]))"#, "unexpected"),
    (r#"topk(0, rate({a="b"}[1m]))"#, "whole k"),
    (r#"sort by (a) (rate({a="b"}[1m]))"#, "no grouping"),
    (r#"{job="app"} | logfmt --strict"#, "not supported"),
    (
        r#"{job="app"} | json | status > "500""#,
        "needs =, !=, =~ or !~",
    ),
    (r#"{job="app"} | json | status =~ 5"#, "must be a string"),
    (r#"{job="app"} | distinct status"#, "not supported"),
    (
        r#"count_over_time({job="app"}[5m]) by (x)"#,
        "grouping cannot be used",
    ),
    (r#"{job="app"} extra"#, "IDENTIFIER 'extra'"),
    (r#"{job="app"} | json | a > 1xyz"#, "invalid number"),
];

#[test]
fn loki_examples_parse_and_print_back() {
    let mut ran = 0;
    for (text, canonical) in VALID {
        // A few examples above end with a deliberate parse error; they are checked below.
        let Ok(expr) = parse(text) else {
            assert!(
                text.contains("ignoring_nothing_here"),
                "{text}: {:?}",
                parse(text)
            );
            continue;
        };
        let printed = expr.to_string();
        assert_eq!(printed, canonical.unwrap_or(text), "{text}");
        let again = parse(&printed).unwrap_or_else(|e| panic!("{printed}: {e}"));
        assert_eq!(again, expr, "{printed} parses back to the same tree");
        assert_eq!(again.to_string(), printed, "printing is stable");
        ran += 1;
    }
    assert!(ran >= 120, "{ran} examples");
}

#[test]
fn refusals_say_what_and_where() {
    for (text, says) in INVALID {
        let err = parse(text).expect_err(text);
        assert!(
            err.starts_with("parse error at line 1, col "),
            "{text}: {err}"
        );
        assert!(err.contains(says), "{text}: {err} should say {says}");
    }
    let err = parse(r#"sum(rate({a="b"}[1m])) / ignoring_nothing_here"#).unwrap_err();
    assert!(
        err.contains("ignoring_nothing_here is not a supported function"),
        "{err}"
    );
}
