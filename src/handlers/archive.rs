//! `POST /v1/archive/restore {"day": "YYYY-MM-DD"}` (admin): a day of archived events back into
//! D1, through the queue and the consumer's idempotent insert (restoring twice stores once).

use serde_json::{json, Value};
use worker::Response;

use super::{json_response, read_json_body, Call};
use crate::error::AppError;
use crate::ops::archive::{restore_day, valid_day};

pub async fn restore(c: &Call<'_>) -> Result<Response, AppError> {
    let body: Value = serde_json::from_slice(&read_json_body(c.req, 4096).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let day = body
        .get("day")
        .and_then(Value::as_str)
        .filter(|d| valid_day(d))
        .ok_or_else(|| AppError::InvalidParameter("day must be a date, YYYY-MM-DD".into()))?;
    let (objects, events) = restore_day(c.env, day).await?;
    json_response(
        202,
        &json!({ "day": day, "objects": objects, "events": events }),
    )
}
