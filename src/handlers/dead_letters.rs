//! `GET /v1/dead-letters` and `POST /v1/dead-letters/replay` (admin).

use serde_json::{json, Value};
use worker::{Env, Response, Url};

use super::{json_response, query_pairs, read_json_body, Incoming};
use crate::error::AppError;
use crate::platform::bindings;
use crate::query::logs::{parse_limit, MAX_DEAD_LETTERS_LIMIT};
use crate::storage::dead_letters as store;
use crate::storage::queue::send_bytes;

pub async fn list(url: &Url, env: &Env) -> Result<Response, AppError> {
    let mut include_replayed = false;
    let mut limit = 100i64;
    for (key, value) in query_pairs(url) {
        match key.as_str() {
            "include_replayed" => {
                include_replayed = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(AppError::InvalidParameter(format!(
                            "include_replayed '{other}' is not true or false"
                        )))
                    }
                }
            }
            "limit" => limit = parse_limit(&value, MAX_DEAD_LETTERS_LIMIT)? as i64,
            "key" => {}
            other => return Err(AppError::InvalidParameter(format!("unknown query parameter '{other}'; /v1/dead-letters takes include_replayed and limit"))),
        }
    }
    let dead_letters = store::list(&env.d1(bindings::DB)?, include_replayed, limit).await?;
    json_response(200, &json!({ "dead_letters": dead_letters }))
}

/// Re-enqueues dead letters (all unreplayed, or `{"ids": [...]}`) onto the queue they failed in.
pub async fn replay(req: &Incoming, env: &Env) -> Result<Response, AppError> {
    let body = read_json_body(req, 64 * 1024).await?;
    let ids: Option<Vec<String>> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let value: Value = serde_json::from_slice(&body)
            .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
        if !value.is_object() {
            return Err(AppError::InvalidParameter(
                "The body is an object: {\"ids\": [...]}, or empty for every dead letter.".into(),
            ));
        }
        match value.get("ids") {
            None | Some(Value::Null) => None,
            Some(Value::Array(ids)) => Some(
                ids.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| AppError::InvalidParameter("ids must be strings".into()))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => {
                return Err(AppError::InvalidParameter(
                    "ids must be an array of dead-letter ids".into(),
                ))
            }
        }
    };
    let db = env.d1(bindings::DB)?;
    let letters = store::replayable(&db, ids.as_deref(), 100).await?;
    let now = crate::platform::clock::clock_text()?;
    let mut replayed = Vec::new();
    for letter in letters {
        let binding = if letter.queue.contains("alerts") {
            "ALERTS"
        } else {
            "LOGS"
        };
        // One send per letter: a message holds at most 120 KB, so each fits a batch on its own.
        send_bytes(&env.queue(binding)?, &[letter.body.as_bytes()]).await.map_err(|e| AppError::Unavailable { message: format!("The queue refused the replay: {e}. Nothing was marked replayed after this one."), retry_after: 5 })?;
        store::mark_replayed(&db, &letter.id, &now).await?;
        replayed.push(letter.id);
    }
    json_response(200, &json!({ "replayed": replayed.len(), "ids": replayed }))
}
