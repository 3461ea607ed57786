//! `GET /health`: each dependency checked and timed; `degraded` instead of failing.

use serde_json::{json, Value};
use worker::{Env, Response};

use super::json_response;
use crate::error::AppError;
use crate::platform::bindings;
use crate::storage::{d1, kv};

fn check(started: u64, result: Result<(), String>) -> (bool, Value) {
    let latency_ms = crate::platform::clock::millis().saturating_sub(started);
    match result {
        Ok(()) => (true, json!({"status": "ok", "latency_ms": latency_ms})),
        Err(error) => (
            false,
            json!({"status": "error", "latency_ms": latency_ms, "error": error}),
        ),
    }
}

/// The shard that takes today's writes answers (the newest in the catalogue); with no shard yet,
/// the binding is there. A shard that cannot be reached is named in the error.
async fn newest_shard(env: &Env) -> Result<(), String> {
    let ns = crate::shards::client::namespace(env)
        .map_err(|e| format!("binding {}: {e}", bindings::EVENT_SHARDS))?;
    let db = env.d1(bindings::DB).map_err(|e| e.to_string())?;
    let (shards, _) = crate::storage::shards::catalogue(&db, None)
        .await
        .map_err(|e| format!("shard catalogue: {e}"))?;
    // The catalogue comes newest first.
    let Some(newest) = shards.first() else {
        return Ok(());
    };
    crate::shards::client::call::<crate::shards::ShardStats>(
        &ns,
        &newest.name,
        &crate::shards::ShardCall::Stats,
    )
    .await
    .map(|_| ())
}

pub async fn health(env: &Env) -> Result<Response, AppError> {
    let started = crate::platform::clock::millis();
    let d1_result = match env.d1(bindings::DB) {
        Ok(db) => d1::ping(&db).await.map_err(|e| e.to_string()),
        Err(e) => Err(format!("binding DB: {e}")),
    };
    let (d1_ok, d1_check) = check(started, d1_result);

    let started = crate::platform::clock::millis();
    let kv_result = match env.kv(bindings::HOT) {
        Ok(store) => kv::read_hot_feed(&store, None)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("binding HOT: {e}")),
    };
    let (kv_ok, kv_check) = check(started, kv_result);

    // A queue cannot be read without consuming it; the producer binding being present is what
    // the worker itself depends on. Enqueue failures show up as 503s and in the logs.
    let started = crate::platform::clock::millis();
    let queue_result = env
        .queue(bindings::LOGS)
        .map(|_| ())
        .map_err(|e| format!("binding {}: {e}", bindings::LOGS));
    let (queue_ok, queue_check) = check(started, queue_result);

    let started = crate::platform::clock::millis();
    let (shards_ok, shards_check) = check(started, newest_shard(env).await);

    // A set but unusable ENCRYPTION_KEY makes ingest refuse events: an operator must see it.
    let mut checks =
        json!({"d1": d1_check, "kv": kv_check, "queue": queue_check, "shards": shards_check});
    let encryption_ok = match &crate::config::Config::get(env).encryption {
        Ok(None) => true,
        Ok(Some(_)) => {
            checks["encryption"] = json!({"status": "ok"});
            true
        }
        Err(problem) => {
            checks["encryption"] = json!({"status": "error", "error": problem});
            false
        }
    };
    let status = if d1_ok && kv_ok && queue_ok && shards_ok && encryption_ok {
        "ok"
    } else {
        "degraded"
    };
    json_response(200, &json!({"status": status, "checks": checks}))
}
