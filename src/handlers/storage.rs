//! `GET /v1/storage` (admin): the event shards with their project, day, events and bytes, the
//! totals, the events still in D1, and how much more the deployment can hold.

use worker::Response;

use super::{json_response, Call};
use crate::error::AppError;
use crate::platform::bindings;
use crate::shards::catalogue;
use crate::shards::storage_report;
use crate::storage::d1;

pub async fn report(c: &Call<'_>) -> Result<Response, AppError> {
    let (env, config) = (c.env, &*c.config);
    let db = env.d1(bindings::DB)?;
    let (shards, legacy) = catalogue::catalogue(&db, None).await?;
    let d1_events = if legacy {
        d1::count(&db, &catalogue::legacy_count()).await?
    } else {
        0
    };
    json_response(
        200,
        &storage_report(&shards, d1_events, config.shard_max_events),
    )
}
