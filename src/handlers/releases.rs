//! `GET /v1/releases` and `GET /v1/releases/{release}`: what each release introduced and
//! what regressed in it, its error rate against the release before it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Env, Response, Url};

use super::{json_response, query_pairs};
use crate::error::{invalid_parameter as bad, AppError};
use crate::platform::bindings;
use crate::query::groups::{Group, GROUP_COLUMNS};
use crate::security::auth::{scope_project, Principal};
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

#[derive(Debug, Serialize, Deserialize)]
struct ReleaseRow {
    project: String,
    release: String,
    first_event: String,
    last_event: String,
    events: i64,
    errors: i64,
}

fn view(r: &ReleaseRow) -> serde_json::Value {
    json!({
        "release": r.release,
        "project": if r.project.is_empty() { None } else { Some(&r.project) },
        "first_event": r.first_event,
        "last_event": r.last_event,
        "events": r.events,
        "errors": r.errors,
        "error_rate": if r.events > 0 { r.errors as f64 / r.events as f64 } else { 0.0 },
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
pub async fn list(url: &Url, env: &Env, principal: &Principal) -> Result<Response, AppError> {
    let project = project_of(url, principal)?;
    let rows: Vec<ReleaseRow> = d1::rows(
        &env.d1(bindings::DB)?,
        &SqlQuery {
            sql: "SELECT project, release, first_event, last_event, events, errors FROM releases
                  WHERE project = ? ORDER BY first_event DESC, release DESC LIMIT 100"
                .into(),
            binds: vec![Bind::Text(project)],
        },
    )
    .await?;
    json_response(
        200,
        &json!({ "releases": rows.iter().map(view).collect::<Vec<_>>() }),
    )
}

/// `GET /v1/releases/{release}`: the release, the groups it introduced and those that
/// regressed in it, and the release before it for comparison.
pub async fn get(
    release: &str,
    url: &Url,
    env: &Env,
    principal: &Principal,
) -> Result<Response, AppError> {
    let project = project_of(url, principal)?;
    let db = env.d1(bindings::DB)?;
    let found: Vec<ReleaseRow> = d1::rows(
        &db,
        &SqlQuery {
            sql: "SELECT project, release, first_event, last_event, events, errors FROM releases WHERE project = ? AND release = ?".into(),
            binds: vec![Bind::Text(project.clone()), Bind::Text(release.into())],
        },
    )
    .await?;
    let row = found
        .into_iter()
        .next()
        .ok_or_else(|| AppError::NotFound(format!("No release '{release}' has events.")))?;
    let previous: Vec<ReleaseRow> = d1::rows(
        &db,
        &SqlQuery {
            sql: "SELECT project, release, first_event, last_event, events, errors FROM releases
                  WHERE project = ? AND first_event < ? ORDER BY first_event DESC LIMIT 1"
                .into(),
            binds: vec![
                Bind::Text(project.clone()),
                Bind::Text(row.first_event.clone()),
            ],
        },
    )
    .await?;
    let project_bind = || {
        if project.is_empty() {
            "project IS NULL".to_string()
        } else {
            "project = ?".to_string()
        }
    };
    let mut binds = vec![Bind::Text(release.into())];
    if !project.is_empty() {
        binds.push(Bind::Text(project.clone()));
    }
    let introduced: Vec<Group> = d1::rows(
        &db,
        &SqlQuery {
            sql: format!("SELECT {GROUP_COLUMNS} FROM groups WHERE first_release = ? AND {} ORDER BY count DESC LIMIT 50", project_bind()),
            binds: binds.clone(),
        },
    )
    .await?;
    let regressed: Vec<Group> = d1::rows(
        &db,
        &SqlQuery {
            sql: format!(
                "SELECT {GROUP_COLUMNS} FROM groups WHERE last_release = ? AND {}
                   AND fingerprint IN (SELECT fingerprint FROM group_transitions WHERE kind = 'regression')
                 ORDER BY last_seen DESC LIMIT 50",
                project_bind()
            ),
            binds,
        },
    )
    .await?;
    let mut answer = view(&row);
    answer["previous"] = previous
        .first()
        .map(view)
        .unwrap_or(serde_json::Value::Null);
    answer["new_groups"] = serde_json::to_value(&introduced).unwrap_or_default();
    answer["regressed_groups"] = serde_json::to_value(&regressed).unwrap_or_default();
    json_response(200, &answer)
}
