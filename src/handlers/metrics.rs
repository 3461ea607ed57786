//! The edge's own counters (requests, accepted and rejected events, rate-limit hits), summed
//! per isolate and flushed to D1 after responses; and `GET /metrics`.

use std::cell::RefCell;

use serde::Deserialize;
use worker::{console_warn, Context, Env, Response};

use crate::error::AppError;
use crate::ops::metrics::{labels, render, Recorder};
use crate::query::logs::SqlQuery;
use crate::storage::d1;

thread_local! {
    static RECORDER: RefCell<Recorder> = RefCell::new(Recorder::default());
}

pub fn add(name: &str, pairs: &[(&str, &str)], value: f64) {
    RECORDER.with(|r| r.borrow_mut().add(name, labels(pairs), value));
}

/// Hands a due flush to `waitUntil`, so it never delays the response.
pub fn flush_later(env: &Env, ctx: &Context) {
    let Some(statements) = RECORDER.with(|r| r.borrow_mut().flush_due(super::millis())) else {
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move { write(&env, statements).await });
}

async fn write(env: &Env, statements: Vec<SqlQuery>) {
    let Ok(db) = env.d1("DB") else { return };
    for statement in statements {
        if let Err(e) = d1::execute(&db, &statement).await {
            console_warn!("metrics flush failed (these counts are lost): {e}");
            return;
        }
    }
}

#[derive(Deserialize)]
struct Row {
    name: String,
    labels: String,
    value: f64,
}

pub async fn serve(env: &Env) -> Result<Response, AppError> {
    // This isolate's pending counts first, so a scrape sees everything up to now.
    let pending = RECORDER.with(|r| r.borrow_mut().flush_due(u64::MAX));
    if let Some(statements) = pending {
        write(env, statements).await;
    }
    let db = env.d1("DB")?;
    let counters: Vec<Row> = db
        .prepare("SELECT name, labels, value FROM metric_counters ORDER BY name, labels")
        .all()
        .await?
        .results()?;
    let gauges: Vec<Row> = db
        .prepare(
            "SELECT 'edge_logger_dead_letters_pending' AS name, '' AS labels, (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL) AS value
             UNION ALL SELECT 'edge_logger_groups', 'status=\"' || status || '\"', count(*) FROM groups GROUP BY status",
        )
        .all()
        .await?
        .results()?;
    let rows: Vec<(String, String, f64)> = counters
        .into_iter()
        .chain(gauges)
        .map(|r| (r.name, r.labels, r.value))
        .collect();
    let mut response = Response::ok(render(&rows))?;
    response
        .headers_mut()
        .set("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
    Ok(response)
}
