//! Native cost per event of the whole ingest pipeline: body parse → normalise → categorise →
//! fingerprint → triage → compact JSON for the queue. `cargo bench --bench pipeline`.
//!
//! A plain timing loop (no harness crate): medians of several runs over a realistic mix, so one
//! noisy run does not move the figure. A second line measures the same pipeline fed an OTLP/JSON
//! body (the mapping in front of it included), as the HTTP bench's formats phase sends it.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use edge_logger::ingest::formats::elastic::{bulk_response, parse_bulk, ItemOutcome};
use edge_logger::ingest::formats::otlp::{json, otlp_logs_to_items, Encoding};
use edge_logger::ingest::pipeline::{process_body, process_items};
use edge_logger::processors::normalize::IngestContext;
use prost::Message;
use uuid::Uuid;

const RUNS: usize = 15;
const BATCHES_PER_RUN: usize = 40;

fn mixed_batch() -> String {
    let kinds = [
        r#"{"message":"GET /api/users/42 200 in 12ms","level":"info","service":"api","endpoint":"/api/users/42","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#,
        r#"{"message":"User 98765 not found","level":"warn","component":"AuthValidator","environment":"prod","user_id":98765,"tags":{"region":"eu"}}"#,
        r#"{"message":"payment gateway timeout after 30000 ms","level":"error","service":"billing","endpoint":"/api/charges/9f8e7d6c5b4a","context":{"order":991,"attempt":3}}"#,
        r#"{"level":"error","environment":"production","error":{"type":"TypeError","message":"Cannot read properties of undefined (reading 'id')","stack":"TypeError: Cannot read properties of undefined (reading 'id')\n    at UserCard.render (https://app.example.com/assets/app.3f2a9c1b.js:10:5)\n    at load (https://app.example.com/assets/app.3f2a9c1b.js:20:1)\n    at commitRoot (https://app.example.com/node_modules/react-dom/index.js:1:1)"},"context":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"}}"#,
        r#"{"message":"KeyError: 'user_42'","level":"critical","error":{"type":"KeyError","message":"'user_42'","stack":"Traceback (most recent call last):\n  File \"/app/api/views.py\", line 12, in get_user\n    user = repo.find(id)\n  File \"/app/api/repo.py\", line 40, in find\n    raise KeyError(id)"}}"#,
    ];
    let events: Vec<&str> = (0..100).map(|i| kinds[i % kinds.len()]).collect();
    format!("[{}]", events.join(","))
}

/// 100 events of ours shaped like the bulk documents below (`bench/run.mjs`'s `event`).
fn simple_json_body() -> String {
    let events: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"message":"GET /api/users/{} answered 200 in {} ms","level":"{}","service":"api","endpoint":"/api/users/{}","trace_id":"{:032x}","tags":{{"region":"eu"}}}}"#,
                i % 9973,
                i % 900,
                if i % 10 == 0 { "error" } else { "info" },
                i % 9973,
                i + 1
            )
        })
        .collect();
    format!("[{}]", events.join(","))
}

/// 100 ECS documents shaped like the HTTP bench's bulk body (`bench/run.mjs`, formats phase).
fn bulk_body() -> String {
    (0..100)
        .map(|i| {
            format!(
                "{{\"create\":{{}}}}\n{{\"@timestamp\":\"2026-12-04T10:00:00.{:03}Z\",\"message\":\"GET /api/users/{} answered 200 in {} ms\",\"log\":{{\"level\":\"{}\"}},\"service\":{{\"name\":\"api\"}},\"url\":{{\"path\":\"/api/users/{}\"}},\"trace\":{{\"id\":\"{:032x}\"}},\"labels\":{{\"region\":\"eu\"}}}}\n",
                i,
                i % 9973,
                i % 900,
                if i % 10 == 0 { "error" } else { "info" },
                i % 9973,
                i + 1
            )
        })
        .collect()
}

/// 100 OTLP log records shaped like the HTTP bench's (`bench/run.mjs`, formats phase).
fn otlp_body() -> String {
    let records: Vec<String> = (0..100)
        .map(|i| {
            format!(
                r#"{{"timeUnixNano":"{}","severityText":"{}","body":{{"stringValue":"GET /api/users/{} answered 200 in {} ms"}},"traceId":"{:032x}","attributes":[{{"key":"http.route","value":{{"stringValue":"/api/users/{}"}}}},{{"key":"region","value":{{"stringValue":"eu"}}}}]}}"#,
                1_795_000_000_000_000_000u64 + i,
                if i % 10 == 0 { "ERROR" } else { "INFO" },
                i % 9973,
                i % 900,
                i + 1,
                i % 9973
            )
        })
        .collect();
    format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}},{{"key":"deployment.environment","value":{{"stringValue":"production"}}}}]}},"scopeLogs":[{{"scope":{{"name":"bench"}},"logRecords":[{}]}}]}}]}}"#,
        records.join(",")
    )
}

/// Median µs per event of `f` (which handles one 100-event body and returns the event count).
fn median_us(mut f: impl FnMut() -> usize) -> (f64, f64, f64) {
    for _ in 0..5 {
        f();
    }
    let mut per_event_ns: Vec<f64> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let events: usize = (0..BATCHES_PER_RUN).map(|_| f()).sum();
            started.elapsed().as_nanos() as f64 / events as f64
        })
        .collect();
    per_event_ns.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (
        per_event_ns[RUNS / 2] / 1000.0,
        per_event_ns[0] / 1000.0,
        per_event_ns[RUNS - 1] / 1000.0,
    )
}

fn main() {
    let body = mixed_batch();
    let ctx = IngestContext::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap(),
        "production",
    );
    let mut counter = 0u128;
    let mut next_id = || {
        counter += 1;
        Uuid::from_u128(counter)
    };

    // Warm up: compile regexes once, as an isolate does on its first request.
    for _ in 0..5 {
        let out = process_body(
            Some("application/json"),
            body.as_bytes(),
            &ctx,
            &mut next_id,
        )
        .unwrap();
        std::hint::black_box(
            out.accepted
                .iter()
                .map(|(_, e)| e.to_compact_json().len())
                .sum::<usize>(),
        );
    }

    let mut per_event_ns: Vec<f64> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut events = 0usize;
        for _ in 0..BATCHES_PER_RUN {
            let out = process_body(
                Some("application/json"),
                body.as_bytes(),
                &ctx,
                &mut next_id,
            )
            .unwrap();
            for (_, event) in &out.accepted {
                std::hint::black_box(event.to_compact_json());
            }
            events += out.accepted.len();
        }
        per_event_ns.push(started.elapsed().as_nanos() as f64 / events as f64);
    }
    per_event_ns.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = per_event_ns[RUNS / 2];
    println!(
        "pipeline (parse→normalise→categorise→fingerprint→triage→serialise): median {:.2} µs/event, min {:.2}, max {:.2} ({} runs × {} events, mixed info/warn/error/JS and Python exceptions)",
        median / 1000.0,
        per_event_ns[0] / 1000.0,
        per_event_ns[RUNS - 1] / 1000.0,
        RUNS,
        BATCHES_PER_RUN * 100
    );

    let otlp = otlp_body();
    let protobuf = json::decode(otlp.as_bytes())
        .unwrap()
        .request
        .encode_to_vec();
    for (name, body, encoding) in [
        ("OTLP/JSON", otlp.as_bytes(), Encoding::Json),
        ("OTLP protobuf", protobuf.as_slice(), Encoding::Protobuf),
    ] {
        let (median, min, max) = median_us(|| {
            let items = otlp_logs_to_items(body, encoding).unwrap();
            let out = process_items(items, &ctx, &mut next_id).unwrap();
            for (_, event) in &out.accepted {
                std::hint::black_box(event.to_compact_json());
            }
            out.accepted.len()
        });
        println!(
            "{name} body → the same pipeline: median {median:.2} µs/event, min {min:.2}, max {max:.2} ({RUNS} runs × {} events)",
            BATCHES_PER_RUN * 100
        );
    }

    // Our JSON body with the same 100 events as the bulk body, the baseline of both agents' lines.
    let same_events = simple_json_body();
    let (median, min, max) = median_us(|| {
        let out = process_body(
            Some("application/json"),
            same_events.as_bytes(),
            &ctx,
            &mut next_id,
        )
        .unwrap();
        for (_, event) in &out.accepted {
            std::hint::black_box(event.to_compact_json());
        }
        out.accepted.len()
    });
    println!(
        "our JSON body of the same simple events: median {median:.2} µs/event, min {min:.2}, max {max:.2} ({RUNS} runs × {} events)",
        BATCHES_PER_RUN * 100
    );

    let bulk = bulk_body();
    let (median, min, max) = median_us(|| {
        let parsed = parse_bulk(bulk.as_bytes(), None).unwrap();
        let out = process_items(parsed.items, &ctx, &mut next_id).unwrap();
        let mut outcomes = Vec::with_capacity(out.accepted.len());
        for (_, event) in &out.accepted {
            std::hint::black_box(event.to_compact_json());
            outcomes.push(ItemOutcome::Created(event.id.clone()));
        }
        std::hint::black_box(bulk_response(&parsed.actions, &outcomes, 1));
        out.accepted.len()
    });
    println!(
        "Elasticsearch bulk body → the same pipeline, with the bulk answer: median {median:.2} µs/event, min {min:.2}, max {max:.2} ({RUNS} runs × {} events)",
        BATCHES_PER_RUN * 100
    );
}
