//! Calls to event shards: one JSON call per shard, and rounds of at most six at once.

use crate::platform::objects::CallError;
use futures_util::future::join_all;
use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{Env, ObjectNamespace};

use super::{ShardCall, MAX_PARALLEL_CALLS};
use crate::platform::bindings;

/// The shard namespace; its absence is a deployment error the caller reports.
pub fn namespace(env: &Env) -> worker::Result<ObjectNamespace> {
    env.durable_object(bindings::EVENT_SHARDS)
}

/// One call to the named shard. A shard's refusal (4xx/5xx) is an error carrying its text.
pub async fn call<T: DeserializeOwned>(
    namespace: &ObjectNamespace,
    shard: &str,
    call: &ShardCall,
) -> Result<T, CallError> {
    read(shard, call_text(namespace, shard, call).await)
}

/// The same kind of call to many shards, at most [`MAX_PARALLEL_CALLS`] open at once; answers
/// in the order of `calls`.
pub async fn call_all<T: DeserializeOwned>(
    namespace: &ObjectNamespace,
    calls: &[(String, ShardCall)],
) -> Vec<Result<T, CallError>> {
    let mut answers = Vec::with_capacity(calls.len());
    for round in calls.chunks(MAX_PARALLEL_CALLS) {
        let texts = join_all(
            round
                .iter()
                .map(|(shard, shard_call)| call_text(namespace, shard, shard_call)),
        )
        .await;
        answers.extend(
            round
                .iter()
                .zip(texts)
                .map(|((shard, _), text)| read(shard, text)),
        );
    }
    answers
}

fn read<T: DeserializeOwned>(shard: &str, text: Result<String, CallError>) -> Result<T, CallError> {
    serde_json::from_str(&text?)
        .map_err(|e| CallError::new(format!("shard {shard}: unreadable answer: {e}")))
}

/// The call itself, the same code for every answer type (the wasm stays small).
async fn call_text(
    namespace: &ObjectNamespace,
    shard: &str,
    call: &ShardCall,
) -> Result<String, CallError> {
    let body = serde_json::to_string(call).map_err(|e| CallError::new(e.to_string()))?;
    crate::platform::objects::post(
        namespace,
        shard,
        "https://shard.internal/",
        JsValue::from_str(&body),
    )
    .await
    .map_err(|e| CallError::new(format!("shard {e}")))
}
