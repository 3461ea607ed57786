//! `GET /v1/usage` (admin): what the service cost by day, counted from the runtime's own
//! numbers (`crate::billing`) and priced at the list prices kept there.

use worker::Response;

use super::{json_response, query_pairs, Call};
use crate::error::AppError;
use crate::ops::archive::valid_day;
use crate::platform::bindings;

pub async fn usage(c: &Call<'_>) -> Result<Response, AppError> {
    let today = crate::platform::clock::clock_text()?[..10].to_string();
    let month_ago = crate::platform::clock::clock()? - chrono::Duration::days(30);
    let (mut from, mut to) = (month_ago.format("%Y-%m-%d").to_string(), today);
    for (key, value) in query_pairs(&c.url) {
        match key.as_str() {
            "from" | "to" if !valid_day(&value) => {
                return Err(AppError::InvalidParameter(format!(
                    "{key} must be a date, YYYY-MM-DD"
                )))
            }
            "from" => from = value,
            "to" => to = value,
            other => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown query parameter '{other}'; /v1/usage takes from and to"
                )))
            }
        }
    }
    let db = c.env.d1(bindings::DB)?;
    let rows = crate::metrics::store::usage(&db, &from, &to).await?;
    let stored = crate::shards::catalogue::stored_by_day(&db, &from, &to).await?;
    let mut report = crate::billing::usage_report(&rows, &stored);
    report["from"] = from.into();
    report["to"] = to.into();
    json_response(200, &report)
}
