//! Any query string for /v1/logs, /v1/groups and /v1/stats: parsed into SQL with as many binds
//! as placeholders, or refused with a 4xx; never a panic.
#![no_main]

use chrono::{TimeZone, Utc};
use edge_logger::query::{groups::parse_group_query, logs::parse_log_query, stats::parse_stats_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let params: Vec<(String, String)> = text
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (pair.to_string(), String::new()),
        })
        .collect();
    let check = |sql: String, binds: usize| assert_eq!(sql.matches('?').count(), binds, "{sql}");
    match parse_log_query(&params) {
        Ok(q) => {
            let s = q.to_sql();
            check(s.sql, s.binds.len());
        }
        Err(e) => assert_eq!(e.status(), 400),
    }
    match parse_group_query(&params) {
        Ok(q) => {
            let s = q.to_sql();
            check(s.sql, s.binds.len());
        }
        Err(e) => assert_eq!(e.status(), 400),
    }
    match parse_stats_query(&params, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()) {
        Ok(q) => {
            let s = q.to_sql();
            check(s.sql, s.binds.len());
        }
        Err(e) => assert_eq!(e.status(), 400),
    }
});
