//! Reads across shards: a page of `/v1/logs` asks only the shards its project and time range
//! touch, in rounds of days from the newest (`day_rounds`), and stops once the page is full; an
//! event by id asks the shards nearest the instant its id leads with first. While D1 still
//! holds events from before the shards, it is asked too and its rows merged in (an event in
//! both while it moves is kept once).

use crate::platform::objects::CallError;
use worker::{console_error, D1Database, Env};

use super::client::{call_all, namespace};
use super::{day_rounds, merge_pages, plan_reads, PageAnswer, ReadBounds, ShardCall, ShardInfo};
use crate::error::AppError;
use crate::query::logs::{text_match_probe, LogQuery, TextPlan, WALK_NEWEST_ABOVE};
use crate::shards::catalogue;
use crate::storage::d1;

fn unavailable(what: &str, reason: CallError) -> AppError {
    console_error!("{what}: {reason}");
    AppError::Unavailable {
        message: format!("{what}: a storage shard did not answer; try again shortly."),
        retry_after: 2,
    }
}

/// The shard call for a page of `query` that needs `keep` events: the plain plan, and the
/// newest-first walk with the probe that chooses it when only full text narrows the rows.
fn page_call(query: &LogQuery, keep: usize) -> ShardCall {
    let mut plain = query.clone();
    plain.text_plan = TextPlan::SortMatches;
    let mut walk = query.clone();
    walk.plan_text(i64::MAX);
    let walkable = query.text.is_some() && walk.text_plan == TextPlan::WalkNewest;
    ShardCall::Page {
        plain: plain.to_sql(),
        probe: walkable
            .then(|| query.text.as_deref().map(text_match_probe))
            .flatten(),
        walk: walkable.then(|| walk.to_sql()),
        walk_above: WALK_NEWEST_ABOVE,
        filter: Some(Box::new(query.filter())),
        keep,
    }
}

/// Up to `query.limit + 1` stored events' JSON, newest first (the extra row says a next page
/// exists).
pub async fn page(env: &Env, db: &D1Database, query: &LogQuery) -> Result<Vec<String>, AppError> {
    let keep = query.limit + 1;
    let (shards, legacy) = catalogue::catalogue(db, query.project.as_deref()).await?;
    let bounds = ReadBounds {
        project: query.project.clone(),
        ts_from: query.from.clone(),
        ts_to: query.to.clone(),
        received_until: query.cursor.as_ref().map(|(at, _)| at.clone()),
    };
    let mut pages: Vec<Vec<String>> = Vec::new();
    if legacy {
        let mut old = query.clone();
        if let Some(text) = &old.text {
            let matches = d1::count(db, &text_match_probe(text)).await?;
            old.plan_text(matches);
        }
        pages.push(d1::data_rows(db, &old.to_sql()).await?);
    }
    let plan = plan_reads(&shards, &bounds);
    if plan.is_empty() || query.match_nothing {
        return Ok(merge_pages(pages, keep));
    }
    let ns = namespace(env).map_err(|e| unavailable("reading events", e.to_string().into()))?;
    let mut call = page_call(query, keep);
    let mut found = 0;
    for round in day_rounds(plan) {
        // Older days than the rounds before: each shard needs to answer only what the page
        // still lacks (the rounds before found fewer than `keep`, so they sent all they hold).
        if let ShardCall::Page { keep: lacking, .. } = &mut call {
            *lacking = keep - found;
        }
        let calls: Vec<(String, ShardCall)> = round
            .iter()
            .map(|s| (s.name.clone(), call.clone()))
            .collect();
        for answer in call_all::<PageAnswer>(&ns, &calls).await {
            let rows: Vec<String> = answer
                .map_err(|e| unavailable("reading events", e))?
                .rows
                .into_iter()
                .map(|r| r.get().to_string())
                .collect();
            found += rows.len();
            pages.push(rows);
        }
        if found >= keep {
            break;
        }
    }
    Ok(merge_pages(pages, keep))
}

/// Events read per page of [`scan`].
const SCAN_PAGE: usize = 5000;

/// Every event a query matches, newest first, page by page: `keep` sees each page and says
/// whether to read on. Stops at `cap` events; `true` in the answer when the cap cut it short.
pub async fn scan(
    env: &Env,
    db: &D1Database,
    mut query: LogQuery,
    cap: usize,
    mut keep: impl FnMut(Vec<crate::model::StoredEvent>) -> bool,
) -> Result<bool, AppError> {
    query.limit = SCAN_PAGE;
    let mut read = 0;
    loop {
        let rows = page(env, db, &query).await?;
        let (events, next) = crate::query::logs::into_page(rows, SCAN_PAGE)?;
        read += events.len();
        let more = keep(events);
        match next {
            Some(cursor) if more && read < cap => {
                query.cursor = Some(crate::query::logs::decode_cursor(&cursor)?)
            }
            Some(_) if more => return Ok(true),
            _ => return Ok(false),
        }
    }
}

#[derive(serde::Deserialize)]
struct FoundRow {
    data: String,
}

/// One event by id, from the shards the project may hold (every shard for `None`), newest
/// first, six at a time.
pub async fn by_id(
    env: &Env,
    db: &D1Database,
    id: &str,
    project: Option<&str>,
) -> Result<Option<String>, AppError> {
    let (shards, legacy) = catalogue::catalogue(db, project).await?;
    if legacy {
        if let Some(data) = d1::event_by_id(db, id).await? {
            return Ok(Some(data));
        }
    }
    let bounds = ReadBounds {
        project: project.map(str::to_string),
        ..Default::default()
    };
    let planned: Vec<ShardInfo> = plan_reads(&shards, &bounds).into_iter().flatten().collect();
    let ordered = super::by_id_order(planned, id);
    if ordered.is_empty() {
        return Ok(None);
    }
    let ns = namespace(env).map_err(|e| unavailable("reading an event", e.to_string().into()))?;
    let find = ShardCall::Find { id: id.to_string() };
    for round in super::rounds(&ordered) {
        let calls: Vec<(String, ShardCall)> = round
            .iter()
            .map(|s| (s.name.clone(), find.clone()))
            .collect();
        for answer in call_all::<Option<FoundRow>>(&ns, &calls).await {
            if let Some(found) = answer.map_err(|e| unavailable("reading an event", e))? {
                return Ok(Some(found.data));
            }
        }
    }
    Ok(None)
}

/// The newest events of the hot feed (the deployment's, or a project's), newest first: from KV
/// while the feed is fresh, else read from the shards and kept in KV for the next readers. A
/// failed KV write is logged; the answer is the fresh read.
pub async fn recent(env: &Env, project: Option<&str>) -> Result<Vec<String>, AppError> {
    use crate::storage::{kv, HOT_FEED_SIZE};
    let store = env
        .kv(crate::platform::bindings::HOT)
        .map_err(|e| AppError::Internal(format!("KV binding HOT: {e}")))?;
    let now = crate::platform::clock::millis();
    let kept = kv::read_hot_feed(&store, project)
        .await
        .map_err(|e| AppError::Internal(format!("KV read: {e}")))?;
    if let Some((text, at_ms)) = kept {
        if now.saturating_sub(at_ms) < kv::FEED_FRESH_MS {
            let rows: Vec<Box<serde_json::value::RawValue>> =
                serde_json::from_str(&text).unwrap_or_default();
            return Ok(rows.into_iter().map(|r| r.get().to_string()).collect());
        }
    }
    let db = env
        .d1(crate::platform::bindings::DB)
        .map_err(|e| AppError::Internal(format!("D1 binding DB: {e}")))?;
    let query = LogQuery {
        project: project.map(str::to_string),
        limit: HOT_FEED_SIZE,
        ..Default::default()
    };
    let mut rows = page(env, &db, &query).await?;
    rows.truncate(HOT_FEED_SIZE);
    if let Err(e) = kv::write_hot_feed(&store, project, &rows, now).await {
        worker::console_warn!("hot feed: KV write failed (the next read tries again): {e}");
    }
    Ok(rows)
}
