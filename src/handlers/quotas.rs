//! `GET|PUT|DELETE /v1/projects/{project}/quota`: a project's events per day and per minute,
//! hard (refused past it) or soft (sampled past it), and what it has taken today.

use serde_json::{json, Value};
use worker::Response;

use super::{json_response, read_json_body, Call};
use crate::controls::quota::{parse_quota, windows, Quota};
use crate::controls::store;
use crate::error::AppError;
use crate::platform::bindings;
use crate::security::auth::can_see;
use crate::security::keys::valid_project;

async fn answer(
    c: &Call<'_>,
    status: u16,
    project: &str,
    quota: &Quota,
) -> Result<Response, AppError> {
    let (day, minute) = windows(crate::platform::clock::clock()?);
    let (today, this_minute) =
        store::quota_used(&c.env.d1(bindings::DB)?, project, &day, &minute).await?;
    let mut body: Value =
        serde_json::to_value(quota).map_err(|e| AppError::Internal(e.to_string()))?;
    body["project"] = project.into();
    body["used"] = json!({ "day": day, "events_today": today, "minute": minute, "events_this_minute": this_minute });
    json_response(status, &body)
}

/// A project-bound key reads its own project's quota only.
pub async fn get(c: &Call<'_>) -> Result<Response, AppError> {
    let project = c.param("project");
    if !can_see(c.principal(), Some(project)) {
        return Err(AppError::NotFound(format!(
            "No quota for project '{project}'."
        )));
    }
    match store::get_quota(&c.env.d1(bindings::DB)?, project).await? {
        Some(quota) => answer(c, 200, project, &quota).await,
        None => Err(AppError::NotFound(format!(
            "Project '{project}' has no quota."
        ))),
    }
}

/// `PUT {events_per_day?, events_per_minute?, mode?, sample_rate?}`: in force within seconds
/// everywhere, at once in this isolate.
pub async fn put(c: &Call<'_>) -> Result<Response, AppError> {
    let project = c.param("project");
    if !valid_project(project) {
        return Err(AppError::InvalidParameter(format!(
            "project '{project}' is not a project name: 1-64 of a-z, 0-9, - and _, as keys take"
        )));
    }
    let body: Value = serde_json::from_slice(&read_json_body(c.req, 4 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let quota =
        parse_quota(&body).map_err(|e| AppError::InvalidParameter(e.message().to_string()))?;
    let now = crate::platform::clock::clock_text()?;
    store::put_quota(&c.env.d1(bindings::DB)?, project, &quota, &now).await?;
    answer(c, 200, project, &quota).await
}

pub async fn delete(c: &Call<'_>) -> Result<Response, AppError> {
    let project = c.param("project");
    if !store::delete_quota(&c.env.d1(bindings::DB)?, project).await? {
        return Err(AppError::NotFound(format!(
            "Project '{project}' has no quota."
        )));
    }
    json_response(200, &json!({ "deleted": project }))
}
