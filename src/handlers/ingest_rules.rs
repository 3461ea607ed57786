//! `GET|POST /v1/ingest-rules` and `DELETE /v1/ingest-rules/{id}`: drop and sample rules applied
//! at ingest (`controls::rules`), with each rule's hits.

use std::collections::HashMap;

use serde_json::{json, Value};
use worker::{D1Database, Response};

use super::{json_response, read_json_body, Call};
use crate::controls::rules::{parse_rule, IngestRule, MAX_RULES};
use crate::controls::store;
use crate::error::AppError;
use crate::platform::bindings;
use crate::security::auth::can_see;

/// Each rule with what it kept out so far (this isolate's pending counts written first).
async fn with_hits(
    env: &worker::Env,
    db: &D1Database,
    rules: Vec<IngestRule>,
) -> Result<Value, AppError> {
    crate::metrics::recorder::flush_now(env).await;
    let hits: HashMap<(String, String), f64> = crate::controls::store::hits(db).await?;
    let listed: Vec<Value> = rules
        .into_iter()
        .map(|r| {
            let count = |what: &str| {
                hits.get(&(r.id.clone(), what.to_string()))
                    .copied()
                    .unwrap_or(0.0) as u64
            };
            let (dropped, sampled_out) = (count("dropped"), count("sampled_out"));
            let mut rule = serde_json::to_value(&r).unwrap_or(Value::Null);
            rule["hits"] = json!({ "dropped": dropped, "sampled_out": sampled_out });
            rule
        })
        .collect();
    Ok(json!({ "rules": listed }))
}

/// A project-bound key sees the rules of every project and of its own.
pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let db = c.env.d1(bindings::DB)?;
    let principal = c.principal();
    let rules = store::list(&db)
        .await?
        .into_iter()
        .filter(|r| r.project.is_none() || can_see(principal, r.project.as_deref()))
        .collect();
    json_response(200, &with_hits(c.env, &db, rules).await?)
}

/// `POST {query, action, rate?, key?, project?, protect_errors?, expires_at?}`: one rule after
/// the others; applied within seconds everywhere, at once in this isolate.
pub async fn create(c: &Call<'_>) -> Result<Response, AppError> {
    let body: Value = serde_json::from_slice(&read_json_body(c.req, 16 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let id = format!("ingest_{}", uuid::Uuid::new_v4().simple());
    let rule = parse_rule(&body, id, crate::platform::clock::clock()?)
        .map_err(|e| AppError::InvalidParameter(e.message().to_string()))?;
    let db = c.env.d1(bindings::DB)?;
    if store::count(&db).await? >= MAX_RULES {
        return Err(AppError::InvalidParameter(format!(
            "a deployment holds at most {MAX_RULES} ingest rules; delete one first"
        )));
    }
    store::insert(&db, &rule).await?;
    json_response(201, &with_hits(c.env, &db, vec![rule]).await?["rules"][0])
}

pub async fn delete(c: &Call<'_>) -> Result<Response, AppError> {
    let id = c.param("id");
    let db = c.env.d1(bindings::DB)?;
    if !store::delete(&db, id).await? {
        return Err(AppError::NotFound(format!("No ingest rule '{id}'.")));
    }
    json_response(200, &json!({ "deleted": id }))
}
