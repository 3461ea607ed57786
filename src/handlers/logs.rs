//! Read routes: `GET /v1/logs`, `GET /v1/logs/{id}` (the event shards) and `GET /v1/recent`
//! (KV only).

use serde::Serialize;
use worker::Response;

use super::{json_response, open_events, query_pairs, Call};
use crate::error::AppError;
use crate::model::StoredEvent;
use crate::platform::bindings;
use crate::query::logs::DetailedEvent;
use crate::query::logs::{into_page, parse_limit, parse_log_search};
use crate::security::auth::{can_see, scope_project};
use crate::storage::HOT_FEED_SIZE;

#[derive(Serialize)]
struct LogsPage {
    logs: Vec<StoredEvent>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct RecentFeed {
    logs: Vec<StoredEvent>,
    /// Where the feed came from: always KV, never D1.
    source: &'static str,
}

pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal, config) = (&c.url, c.env, c.principal(), &*c.config);
    let mut query = parse_log_search(&query_pairs(url), crate::platform::clock::clock()?)?;
    query.project = scope_project(principal, query.project.take())?;
    let db = env.d1(bindings::DB)?;
    if let Some(fingerprint) = query.fingerprint().map(str::to_string) {
        let merged = crate::query::groups_store::merged_into(&db, &fingerprint).await?;
        let merged: Vec<String> = merged.into_iter().map(|m| m.fingerprint).collect();
        query.widen_fingerprint(&merged);
    }
    let rows = crate::shards::reader::page(env, &db, &query).await?;
    let (mut logs, next_cursor) = into_page(rows, query.limit)?;
    open_events(config, &mut logs);
    json_response(200, &LogsPage { logs, next_cursor })
}

pub async fn get(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env, principal, config) = (c.param("id"), c.env, c.principal(), &*c.config);
    let not_found = || AppError::NotFound(format!("No event with id '{id}'."));
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    let data = crate::shards::reader::by_id(
        env,
        &env.d1(bindings::DB)?,
        id,
        principal.project.as_deref(),
    )
    .await?
    .ok_or_else(not_found)?;
    let mut event: StoredEvent = serde_json::from_str(&data)
        .map_err(|e| AppError::Internal(format!("stored event {id}: {e}")))?;
    if !can_see(principal, event.project.as_deref()) {
        return Err(not_found());
    }
    open_events(config, std::slice::from_mut(&mut event));
    // Source context for its frames, and maps that came after the event applied now (what is
    // stored, and its group, stay as they were).
    crate::sourcemaps::resolve::apply_for_read(env, &mut event).await;
    json_response(200, &DetailedEvent::from(event))
}

pub async fn recent(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal, config) = (&c.url, c.env, c.principal(), &*c.config);
    let mut limit = HOT_FEED_SIZE;
    for (key, value) in query_pairs(url) {
        match key.as_str() {
            "limit" => limit = parse_limit(&value, HOT_FEED_SIZE)?,
            "key" => {}
            other => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown query parameter '{other}'; /v1/recent takes only limit"
                )))
            }
        }
    }
    let rows = crate::shards::reader::recent(env, principal.project.as_deref()).await?;
    let mut logs: Vec<StoredEvent> = rows
        .iter()
        .take(limit)
        .filter_map(|row| serde_json::from_str(row).ok())
        .collect();
    open_events(config, &mut logs);
    json_response(200, &RecentFeed { logs, source: "kv" })
}
