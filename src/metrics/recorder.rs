//! The isolate's own counters (requests, accepted and rejected events, rate-limit hits): summed
//! here between flushes and added to D1 after responses, never delaying one (`crate::metrics`
//! says why this is exact enough).

use std::cell::RefCell;

use worker::{console_warn, Context, Env};

use crate::metrics::{labels, Recorder};
use crate::platform::bindings;
use crate::platform::clock::millis;
use crate::storage::d1;
use crate::storage::sql::SqlQuery;

/// A usage row's key: day, project, service, level.
type UsageKey = (String, String, String, String);

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
    /// What each project's events did at ingest, since the last flush: received, accepted,
    /// dropped, sampled out, refused by quota.
    static USAGE_EVENTS: RefCell<std::collections::BTreeMap<UsageKey, [i64; 5]>> = RefCell::new(Default::default());
    /// Billed units by day and item, since the last flush.
    static USAGE: RefCell<std::collections::BTreeMap<(String, &'static str), u64>> = RefCell::new(Default::default());
}

/// Moves what the isolate's meter counted into the billed counters and the day's usage.
fn take_billing() {
    let billed = crate::billing::take();
    if billed.is_empty() {
        return;
    }
    let day = crate::platform::clock::clock_text().unwrap_or_default();
    let day = day.get(..10).unwrap_or_default().to_string();
    for (item, units) in billed {
        add(
            "edge_logger_billed_total",
            &[("item", item.name())],
            units as f64,
        );
        USAGE.with(|u| {
            *u.borrow_mut()
                .entry((day.clone(), item.name()))
                .or_default() += units
        });
    }
}

/// What happened to events at ingest, by project, service and level: `column` is one of
/// [`crate::metrics::USAGE_COLUMNS`] (received, accepted, dropped, sampled_out, refused_quota).
pub fn count_usage(key: UsageKey, column: usize, events: i64) {
    USAGE_EVENTS.with(|u| u.borrow_mut().entry(key).or_default()[column] += events);
}

/// The day's usage upserts, when a flush writes.
fn usage_statements() -> Vec<SqlQuery> {
    let usage = USAGE.with(|u| std::mem::take(&mut *u.borrow_mut()));
    let events = USAGE_EVENTS.with(|u| std::mem::take(&mut *u.borrow_mut()));
    usage
        .into_iter()
        .map(|((day, item), units)| crate::metrics::usage_upsert(&day, item, units))
        .chain(crate::metrics::usage_events_upsert(&events))
        .collect()
}

pub fn add(name: &str, pairs: &[(&str, &str)], value: f64) {
    RECORDER.with(|r| r.borrow_mut().add(name, labels(pairs), value));
}

/// One observation of a histogram: its buckets, sum and count, as `metrics::observe_histogram`
/// writes them, added up here until the next flush.
pub fn observe(name: &str, base: &[(&str, &str)], buckets: &[f64], value: f64) {
    for (series, labels, by) in crate::metrics::histogram_increments(name, base, buckets, value) {
        RECORDER.with(|r| r.borrow_mut().add(&series, labels, by));
    }
}

/// The statements of a flush, when one is due (`all`: now, whatever is due): the pending
/// counts, the meter's billed units among them, and the day's usage.
fn pending(all: bool) -> Option<Vec<SqlQuery>> {
    take_billing();
    let now = millis();
    let mut statements = RECORDER.with(|r| {
        let mut r = r.borrow_mut();
        if all {
            r.flush_all(now)
        } else {
            r.flush_due(now)
        }
    })?;
    statements.extend(usage_statements());
    Some(statements)
}

/// Hands a due flush to `waitUntil`, so it never delays the response.
pub fn flush_later(env: &Env, ctx: &Context) {
    if let Some(statements) = pending(false) {
        let env = env.clone();
        ctx.wait_until(async move { write(&env, statements).await });
    }
}

/// [`flush_later`] for an event with no response to come after (a queue batch, the cron): the
/// flush, when due, is awaited.
pub async fn flush_if_due(env: &Env) {
    if let Some(statements) = pending(false) {
        write(env, statements).await;
    }
}

/// Writes this isolate's pending counts now, so a scrape sees everything up to now.
pub async fn flush_now(env: &Env) {
    if let Some(statements) = pending(true) {
        write(env, statements).await;
    }
}

/// One D1 batch (one round trip, one transaction) for all of a flush's upserts.
async fn write(env: &Env, statements: Vec<SqlQuery>) {
    let Ok(db) = env.d1(bindings::DB) else { return };
    if let Err(e) = d1::batch(&db, &statements).await {
        console_warn!("metrics flush failed (these counts are lost): {e}");
    }
}
