//! The hostile-input corpus (`tests/fixtures/hostile.json`) through the pure pipeline: every
//! body-level case is a clear 4xx with the expected code, never a panic. The same corpus runs
//! through the real worker in `tests/hostile.test.mjs`.

use chrono::{TimeZone, Utc};
use edge_logger::ingest::pipeline::process_body;
use edge_logger::processors::normalize::IngestContext;
use serde_json::Value;

pub fn case_body(case: &Value) -> Vec<u8> {
    if let Some(text) = case["body"].as_str() {
        return text.as_bytes().to_vec();
    }
    if let Some(hex) = case["body_hex"].as_str() {
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
    }
    let r = &case["repeat"];
    let mut body = r["prefix"].as_str().unwrap().to_string();
    body.push_str(
        &r["unit"]
            .as_str()
            .unwrap()
            .repeat(r["count"].as_u64().unwrap() as usize),
    );
    body.push_str(r["suffix"].as_str().unwrap());
    body.into_bytes()
}

#[test]
fn every_hostile_body_is_a_clear_4xx() {
    let corpus: Vec<Value> = serde_json::from_str(include_str!("fixtures/hostile.json")).unwrap();
    assert!(corpus.len() >= 60, "the corpus has {} cases", corpus.len());
    let ctx = IngestContext::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(),
        "production",
    );
    let mut checked = 0;
    for case in corpus
        .iter()
        .filter(|c| !c["edge_only"].as_bool().unwrap_or(false))
    {
        let name = case["name"].as_str().unwrap();
        let body = case_body(case);
        let content_type = case["content_type"].as_str();
        let result = std::panic::catch_unwind(|| {
            process_body(content_type, &body, &ctx, uuid::Uuid::new_v4)
        });
        let outcome = result.unwrap_or_else(|_| panic!("{name}: panicked"));
        let err = match outcome {
            Err(err) => err,
            Ok(out) => panic!(
                "{name}: accepted {} events, expected a 4xx",
                out.accepted.len()
            ),
        };
        assert_eq!(
            err.status() as u64,
            case["status"].as_u64().unwrap(),
            "{name}: {err}"
        );
        assert_eq!(err.code(), case["code"].as_str().unwrap(), "{name}: {err}");
        assert!(!err.message().is_empty(), "{name}");
        checked += 1;
    }
    assert!(checked >= 60, "{checked} native cases");
}
