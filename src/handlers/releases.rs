//! `GET /v1/releases` and `GET /v1/releases/{release}`: what each release introduced and
//! what regressed in it, its error rate against the release before it.

use serde_json::json;
use worker::{Response, Url};

use super::{json_response, query_pairs, Call};
use crate::error::{invalid_parameter as bad, AppError};
use crate::platform::bindings;
use crate::query::releases_store::{self as store, ReleaseRow};
use crate::security::auth::{scope_project, Principal};

fn view(r: &ReleaseRow) -> serde_json::Value {
    json!({
        "release": r.release,
        "project": if r.project.is_empty() { None } else { Some(&r.project) },
        "first_event": r.first_event,
        "last_event": r.last_event,
        "events": r.events,
        "errors": r.errors,
        "error_rate": if r.events > 0 { r.errors as f64 / r.events as f64 } else { 0.0 },
        "new_groups": r.new_groups,
        "environments": serde_json::from_str::<serde_json::Value>(&r.environments).unwrap_or_else(|_| json!([])),
    })
}

fn project_of(url: &Url, principal: &Principal) -> Result<String, AppError> {
    let mut asked = None;
    for (k, v) in query_pairs(url) {
        match k.as_str() {
            "project" if !v.is_empty() => asked = Some(v),
            "project" => return Err(bad("project is empty; leave it out for none")),
            "key" => {}
            other => {
                return Err(bad(format!(
                    "unknown query parameter '{other}'; known: project"
                )))
            }
        }
    }
    Ok(scope_project(principal, asked)?.unwrap_or_default())
}

/// `GET /v1/releases`: newest first (by first event), 100 at most.
pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal) = (&c.url, c.env, c.principal());
    let project = project_of(url, principal)?;
    let rows = store::list(&env.d1(bindings::DB)?, &project).await?;
    json_response(
        200,
        &json!({ "releases": rows.iter().map(view).collect::<Vec<_>>() }),
    )
}

/// `GET /v1/releases/{release}`: the release, the groups it introduced and those that
/// regressed in it, and the release before it for comparison.
pub async fn get(c: &Call<'_>) -> Result<Response, AppError> {
    let (release, url, env, principal) = (c.param("release"), &c.url, c.env, c.principal());
    let project = project_of(url, principal)?;
    let db = env.d1(bindings::DB)?;
    let row = store::find(&db, &project, release)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No release '{release}' has events.")))?;
    let previous = store::previous(&db, &project, &row.first_event).await?;
    let (introduced, regressed) = store::groups_of(&db, &project, release).await?;
    let mut answer = view(&row);
    answer["previous"] = previous
        .as_ref()
        .map(view)
        .unwrap_or(serde_json::Value::Null);
    answer["introduced_groups"] = serde_json::to_value(&introduced).unwrap_or_default();
    answer["regressed_groups"] = serde_json::to_value(&regressed).unwrap_or_default();
    json_response(200, &answer)
}
