//! Any bytes as a request body, under each content type we read: the pipeline must answer
//! (accept or a 4xx), never panic, and every accepted event must survive its trip through the
//! queue's compact JSON unchanged.
#![no_main]

use chrono::{TimeZone, Utc};
use edge_logger::model::StoredEvent;
use edge_logger::ingest::pipeline::process_body;
use edge_logger::processors::normalize::IngestContext;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/x-ndjson"),
    Some("text/plain;charset=UTF-8"),
    Some("application/json; charset=latin1"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[selector as usize % CONTENT_TYPES.len()];
    let mut ctx = IngestContext::new(Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap(), "production");
    if selector & 0x80 != 0 {
        ctx.project = Some("fuzz".into());
    }
    let mut n = 0u128;
    match process_body(content_type, body, &ctx, || {
        n += 1;
        uuid::Uuid::from_u128(n)
    }) {
        Ok(outcome) => {
            for (_, event) in outcome.accepted {
                let compact = event.to_compact_json();
                let back: StoredEvent = serde_json::from_str(&compact).expect("compact JSON reads back");
                assert_eq!(back, event, "queue round trip changed the event");
            }
        }
        Err(err) => assert!((400..500).contains(&err.status()), "{err}"),
    }
});
