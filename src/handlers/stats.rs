//! `GET /v1/stats`: time buckets × one dimension, summed from the count rollups.

use serde::Deserialize;
use worker::Response;

use super::{json_response, query_pairs, Call};
use crate::error::AppError;
use crate::platform::bindings;
use crate::platform::clock::clock;
use crate::query::stats::parse_stats_search;
use crate::security::auth::scope_project;
use crate::storage::d1;

#[derive(Deserialize)]
struct CountRow {
    b: String,
    k: Option<String>,
    n: i64,
}

pub async fn stats(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal) = (&c.url, c.env, c.principal());
    let now = clock()?;
    let mut query = parse_stats_search(&query_pairs(url), now)?;
    query.project = scope_project(principal, query.project.take())?;
    // Up to 1,500 buckets × keys: packed by SQLite into one JSON text (stats by route over a
    // week is 8,400 rows).
    let rows: Vec<CountRow> =
        d1::rows_packed(&env.d1(bindings::DB)?, &query.to_sql(), &["b", "k", "n"]).await?;
    json_response(
        200,
        &query.answer(
            rows.into_iter()
                .map(|r| (r.b, r.k.unwrap_or_default(), r.n))
                .collect(),
            now,
        ),
    )
}

/// The most events `/v1/aggregate` reads; the answer says `truncated` past it.
const AGGREGATE_CAP: usize = 100_000;

/// `GET /v1/aggregate`: the events a search matches, grouped by any fields or tags, a function
/// over a field, in time buckets (`crate::query::aggregate`).
pub async fn aggregate(c: &Call<'_>) -> Result<Response, AppError> {
    let (aggregation, rest) = crate::query::aggregate::parse_aggregation(&query_pairs(&c.url))?;
    let mut query = crate::query::logs::parse_log_search(&rest, clock()?)?;
    query.project = scope_project(c.principal(), query.project.take())?;
    let db = c.env.d1(bindings::DB)?;
    let mut events = Vec::new();
    let truncated = crate::shards::reader::scan(c.env, &db, query, AGGREGATE_CAP, |page| {
        events.extend(page);
        true
    })
    .await?;
    c.config.open_events(&mut events);
    json_response(
        200,
        &crate::query::aggregate::aggregate(&aggregation, &events, truncated),
    )
}
