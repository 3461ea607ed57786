//! `POST /v1/archive/restore {"day": "YYYY-MM-DD"}` (admin): a day of archived events back into
//! D1, through the queue and the consumer's idempotent insert (restoring twice stores once).

use serde_json::{json, Value};
use worker::{Env, Response};

use super::{json_response, read_json_body, Incoming};
use crate::error::AppError;
use crate::ingest::queue_message::pack;
use crate::ops::archive::{day_prefix, read_ndjson_gz, valid_day};
use crate::platform::bindings;
use crate::storage::queue::send_bytes;

pub async fn restore(req: &Incoming, env: &Env) -> Result<Response, AppError> {
    let body: Value = serde_json::from_slice(&read_json_body(req, 4096).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let day = body
        .get("day")
        .and_then(Value::as_str)
        .filter(|d| valid_day(d))
        .ok_or_else(|| AppError::InvalidParameter("day must be a date, YYYY-MM-DD".into()))?;
    let bucket = env.bucket(bindings::ARCHIVE).map_err(|_| {
        AppError::NotFound("This deployment has no ARCHIVE bucket; nothing was archived.".into())
    })?;
    let queue = env.queue(bindings::LOGS)?;
    let (mut objects, mut events) = (0usize, 0usize);
    let mut cursor: Option<String> = None;
    loop {
        let mut list = bucket.list().prefix(day_prefix(day));
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await?;
        for object in page.objects() {
            let Some(found) = bucket.get(object.key()).execute().await? else {
                continue;
            };
            let Some(object_body) = found.body() else {
                continue;
            };
            let lines = read_ndjson_gz(&object_body.bytes().await?)
                .map_err(|e| AppError::Internal(format!("{}: {e}", object.key())))?;
            events += lines.len();
            objects += 1;
            let (batches, _) = pack(None, lines.into_iter().enumerate().collect());
            for batch in batches {
                send_bytes(&queue, &batch.iter().map(|m| &m.body).collect::<Vec<_>>())
                    .await
                    .map_err(|e| AppError::Unavailable { message: format!("The queue refused the restore ({e}); run it again, restoring is idempotent."), retry_after: 5 })?;
            }
        }
        match (page.truncated(), page.cursor()) {
            (true, Some(next)) => cursor = Some(next),
            _ => break,
        }
    }
    json_response(
        202,
        &json!({ "day": day, "objects": objects, "events": events }),
    )
}
