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
