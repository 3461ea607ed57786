//! `GET|PUT|POST /v1/assign-rules` and `DELETE /v1/assign-rules/{id}`: the ordered rules that
//! assign each new group (by its component, route or service) to someone.

use serde_json::{json, Value};
use worker::{Env, Response};

use super::{json_response, read_json_body, Call, Incoming};
use crate::error::AppError;
use crate::platform::bindings;
use crate::security::auth::can_see;
use crate::triage::assign_store as store;
use crate::triage::workflow;

fn new_id() -> String {
    format!("assign_{}", uuid::Uuid::new_v4().simple())
}

async fn read_body(req: &Incoming) -> Result<Value, AppError> {
    serde_json::from_slice(&read_json_body(req, 64 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))
}

async fn answer(env: &Env, status: u16) -> Result<Response, AppError> {
    let rules = store::list(&env.d1(bindings::DB)?).await?;
    json_response(status, &json!({ "rules": rules }))
}

/// A project-bound read key sees the rules of every project and of its own, as with alert rules.
pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (env, principal) = (c.env, c.principal());
    let rules: Vec<_> = store::list(&env.d1(bindings::DB)?)
        .await?
        .into_iter()
        .filter(|r| r.rule.project.is_none() || can_see(principal, r.rule.project.as_deref()))
        .collect();
    json_response(200, &json!({ "rules": rules }))
}

/// `PUT {"rules": [...]}`: the whole list, first match wins.
pub async fn replace(c: &Call<'_>) -> Result<Response, AppError> {
    let (req, env) = (c.req, c.env);
    let rules = workflow::parse_assign_rules(&read_body(req).await?)?;
    let now = crate::platform::clock::clock_text()?;
    let rules: Vec<_> = rules.into_iter().map(|r| (new_id(), r)).collect();
    store::replace(&env.d1(bindings::DB)?, &rules, &now).await?;
    answer(env, 200).await
}

/// `POST {field, pattern, assignee, project?}`: one rule after the others.
pub async fn append(c: &Call<'_>) -> Result<Response, AppError> {
    let (req, env) = (c.req, c.env);
    let rule = workflow::parse_assign_rule(&read_body(req).await?, "rule")?;
    let now = crate::platform::clock::clock_text()?;
    store::append(&env.d1(bindings::DB)?, &new_id(), &rule, &now).await?;
    answer(env, 201).await
}

pub async fn delete(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env) = (c.param("id"), c.env);
    if !store::delete(&env.d1(bindings::DB)?, id).await? {
        return Err(AppError::NotFound(format!("No assignment rule '{id}'.")));
    }
    answer(env, 200).await
}
