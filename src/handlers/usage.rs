//! `GET /v1/usage` (admin, or a read key for its own project): what the service cost by day,
//! counted from the runtime's own numbers (`crate::billing`) and priced at the list prices kept
//! there, and what each project's events did (`by=project|day|service|level`).

use worker::Response;

use super::{json_response, query_pairs, Call};
use crate::billing::By;
use crate::error::AppError;
use crate::ops::archive::valid_day;
use crate::platform::bindings;
use crate::security::scopes::Scope;

pub async fn usage(c: &Call<'_>) -> Result<Response, AppError> {
    let principal = c.principal();
    let admin = principal.scopes.contains(&Scope::Admin);
    if !admin && principal.project.is_none() {
        return Err(AppError::Forbidden(
            "usage is the admin's, or a project-bound key's for its own project".into(),
        ));
    }
    let today = crate::platform::clock::clock_text()?[..10].to_string();
    let month_ago = crate::platform::clock::clock()? - chrono::Duration::days(30);
    let (mut from, mut to, mut by) = (month_ago.format("%Y-%m-%d").to_string(), today, By::Day);
    for (key, value) in query_pairs(&c.url) {
        match key.as_str() {
            "from" | "to" if !valid_day(&value) => {
                return Err(AppError::InvalidParameter(format!(
                    "{key} must be a date, YYYY-MM-DD"
                )))
            }
            "from" => from = value,
            "to" => to = value,
            "by" => {
                by = By::parse(&value).ok_or_else(|| {
                    AppError::InvalidParameter(format!(
                        "by '{value}' is not project, day, service or level"
                    ))
                })?
            }
            other => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown query parameter '{other}'; /v1/usage takes from, to and by"
                )))
            }
        }
    }
    let db = c.env.d1(bindings::DB)?;
    let rows = crate::metrics::store::usage(&db, &from, &to).await?;
    let events = crate::metrics::store::usage_events(&db, &from, &to).await?;
    let bytes = crate::shards::catalogue::bytes_by_project(&db, &from, &to).await?;
    let only = (!admin).then_some(principal.project.as_deref()).flatten();
    let groups = crate::billing::breakdown(by, &rows, &events, &bytes, only);
    let mut report = if admin {
        let stored = crate::shards::catalogue::stored_by_day(&db, &from, &to).await?;
        crate::billing::usage_report(&rows, &stored)
    } else {
        serde_json::json!({ "project": only })
    };
    report["from"] = from.into();
    report["to"] = to.into();
    report["groups"] = groups.into();
    json_response(200, &report)
}
