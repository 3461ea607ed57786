//! `GET /health`: each dependency checked and timed; `degraded` instead of failing.

use serde_json::{json, Value};
use worker::{Env, Response};

use super::{json_response, Call};
use crate::error::AppError;
use crate::platform::bindings;
use crate::storage::{d1, kv};

crate::error::message_error!(
    /// Why a dependency's check failed, as `/health` shows it.
    Unhealthy
);

impl From<crate::platform::objects::CallError> for Unhealthy {
    fn from(e: crate::platform::objects::CallError) -> Self {
        Unhealthy::new(e.into_message())
    }
}

/// A dependency's check, timed: whether it passed, and its JSON.
async fn timed(check: impl std::future::Future<Output = Result<(), Unhealthy>>) -> (bool, Value) {
    let started = crate::platform::clock::millis();
    let result = check.await;
    let latency_ms = crate::platform::clock::millis().saturating_sub(started);
    match result {
        Ok(()) => (true, json!({"status": "ok", "latency_ms": latency_ms})),
        Err(error) => (
            false,
            json!({"status": "error", "latency_ms": latency_ms, "error": error.message()}),
        ),
    }
}

async fn d1_answers(env: &Env) -> Result<(), Unhealthy> {
    let db = env
        .d1(bindings::DB)
        .map_err(|e| Unhealthy::new(format!("binding DB: {e}")))?;
    d1::ping(&db)
        .await
        .map_err(|e| Unhealthy::new(e.to_string()))
}

async fn kv_answers(env: &Env) -> Result<(), Unhealthy> {
    let store = env
        .kv(bindings::HOT)
        .map_err(|e| Unhealthy::new(format!("binding HOT: {e}")))?;
    kv::read_hot_feed(&store, None)
        .await
        .map(|_| ())
        .map_err(|e| Unhealthy::new(e.to_string()))
}

/// A queue cannot be read without consuming it; the producer binding being present is what
/// the worker itself depends on. Enqueue failures show up as 503s and in the logs.
async fn queue_bound(env: &Env) -> Result<(), Unhealthy> {
    env.queue(bindings::LOGS)
        .map(|_| ())
        .map_err(|e| Unhealthy::new(format!("binding {}: {e}", bindings::LOGS)))
}

/// A set but unusable ENCRYPTION_KEY makes ingest refuse events: an operator must see it.
fn encryption_check(env: &Env) -> (bool, Option<Value>) {
    match &crate::config::Config::get(env).encryption {
        Ok(None) => (true, None),
        Ok(Some(_)) => (true, Some(json!({"status": "ok"}))),
        Err(problem) => (
            false,
            Some(json!({"status": "error", "error": problem.message()})),
        ),
    }
}

/// The shard that takes today's writes answers (the newest in the catalogue); with no shard yet,
/// the binding is there. A shard that cannot be reached is named in the error.
async fn newest_shard(env: &Env) -> Result<(), Unhealthy> {
    let ns = crate::shards::client::namespace(env)
        .map_err(|e| Unhealthy::new(format!("binding {}: {e}", bindings::EVENT_SHARDS)))?;
    let db = env
        .d1(bindings::DB)
        .map_err(|e| Unhealthy::new(e.to_string()))?;
    let (shards, _) = crate::shards::catalogue::catalogue(&db, None)
        .await
        .map_err(|e| Unhealthy::new(format!("shard catalogue: {e}")))?;
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
    .map_err(Unhealthy::from)
}

pub async fn health(c: &Call<'_>) -> Result<Response, AppError> {
    let (d1_ok, d1) = timed(d1_answers(c.env)).await;
    let (kv_ok, kv) = timed(kv_answers(c.env)).await;
    let (queue_ok, queue) = timed(queue_bound(c.env)).await;
    let (shards_ok, shards) = timed(newest_shard(c.env)).await;
    let mut checks = json!({"d1": d1, "kv": kv, "queue": queue, "shards": shards});
    let (encryption_ok, encryption) = encryption_check(c.env);
    if let Some(encryption) = encryption {
        checks["encryption"] = encryption;
    }
    let status = match d1_ok && kv_ok && queue_ok && shards_ok && encryption_ok {
        true => "ok",
        false => "degraded",
    };
    json_response(200, &json!({"status": status, "checks": checks}))
}
