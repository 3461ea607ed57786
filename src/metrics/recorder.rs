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

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

pub fn add(name: &str, pairs: &[(&str, &str)], value: f64) {
    RECORDER.with(|r| r.borrow_mut().add(name, labels(pairs), value));
}

/// Hands a due flush to `waitUntil`, so it never delays the response.
pub fn flush_later(env: &Env, ctx: &Context) {
    let Some(statements) = RECORDER.with(|r| r.borrow_mut().flush_due(millis())) else {
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move { write(&env, statements).await });
}

/// Writes this isolate's pending counts now, so a scrape sees everything up to now.
pub async fn flush_now(env: &Env) {
    if let Some(statements) = RECORDER.with(|r| r.borrow_mut().flush_all(millis())) {
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
