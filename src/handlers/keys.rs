//! `POST/GET /v1/keys`, `DELETE /v1/keys/{id}` (admin only).

use serde::Serialize;
use worker::Response;

use super::{json_response, read_json_body, Call};
use crate::error::AppError;
use crate::platform::bindings;
use crate::platform::clock::clock_text;
use crate::security::keys::{generate_key, parse_new_key, KeyView};
use crate::security::store;

/// 256 bits from the platform's CSPRNG (`crypto.getRandomValues`, through uuid's v4).
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes
}

#[derive(Serialize)]
struct CreatedKey {
    #[serde(flatten)]
    view: KeyView,
    /// The plain key: shown in this answer only, never stored.
    key: String,
}

pub async fn create(c: &Call<'_>) -> Result<Response, AppError> {
    let (req, env) = (c.req, c.env);
    let new_key = parse_new_key(&read_json_body(req, 16 * 1024).await?)?;
    let (plain, prefix, hash) = generate_key(random_bytes());
    let id = format!("key_{}", uuid::Uuid::new_v4().simple());
    let record = new_key.into_record(id, prefix, hash, clock_text()?);
    store::insert(&env.d1(bindings::DB)?, &env.kv(bindings::HOT)?, &record).await?;
    json_response(
        201,
        &CreatedKey {
            view: KeyView::from(&record),
            key: plain,
        },
    )
}

pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let env = c.env;
    let keys: Vec<KeyView> = store::list(&env.d1(bindings::DB)?)
        .await?
        .iter()
        .map(KeyView::from)
        .collect();
    json_response(200, &serde_json::json!({ "keys": keys }))
}

pub async fn revoke(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env) = (c.param("id"), c.env);
    let record = store::revoke(
        &env.d1(bindings::DB)?,
        &env.kv(bindings::HOT)?,
        id,
        &clock_text()?,
    )
    .await?
    .ok_or_else(|| AppError::NotFound(format!("No key with id '{id}'.")))?;
    // Its open tails end now: in its project's hub, or in every hub for an unbound key.
    let hubs = match &record.project {
        Some(project) => vec![Some(project.clone())],
        None => {
            let mut all: Vec<Option<String>> =
                crate::shards::catalogue::projects(&env.d1(bindings::DB)?).await?;
            all.push(None);
            all.sort();
            all.dedup();
            all
        }
    };
    crate::tail::feed::revoke(env, id, hubs).await;
    json_response(200, &KeyView::from(&record))
}
