//! `GET /v1/dead-letters` and `POST /v1/dead-letters/replay` (admin).

use serde_json::json;
use worker::Response;

use super::{json_response, query_pairs, read_json_body, Call};
use crate::dead_letters::store;
use crate::error::AppError;
use crate::platform::bindings;
use crate::query::logs::{parse_limit, MAX_DEAD_LETTERS_LIMIT};
use crate::storage::queue::send_bytes;

pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env) = (&c.url, c.env);
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
pub async fn replay(c: &Call<'_>) -> Result<Response, AppError> {
    let ids = crate::dead_letters::replay_ids(&read_json_body(c.req, 64 * 1024).await?)?;
    let db = c.env.d1(bindings::DB)?;
    let letters = store::replayable(&db, ids.as_deref(), 100).await?;
    let now = crate::platform::clock::clock_text()?;
    let mut replayed = Vec::new();
    for letter in letters {
        let queue = c
            .env
            .queue(crate::dead_letters::replay_binding(&letter.queue))?;
        // One send per letter: a message holds at most 120 KB, so each fits a batch on its own.
        send_bytes(&queue, &[letter.body.as_bytes()]).await.map_err(|e| AppError::Unavailable { message: format!("The queue refused the replay: {e}. Nothing was marked replayed after this one."), retry_after: 5 })?;
        store::mark_replayed(&db, &letter.id, &now).await?;
        replayed.push(letter.id);
    }
    json_response(200, &json!({ "replayed": replayed.len(), "ids": replayed }))
}
