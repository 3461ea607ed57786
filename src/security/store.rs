//! API keys in D1, with a KV cache in front so that authenticating a request does not read D1.
//!
//! The cache holds each key's record (hash included, never the key) under `apikey:<prefix>` for
//! 60 seconds, the shortest TTL KV allows; unknown prefixes are cached as `null` too, so that
//! guessing keys cannot make us read D1 on every request. Revoking deletes the cache entry: the
//! key stops working at once where it was revoked and within about 60 s everywhere else.

use crate::storage::d1::Metered;
use worker::{D1Database, KvStore};

use crate::storage::d1::{opt_text, text};

use crate::security::keys::{KeyRecord, KeyRow};

const CACHE_TTL_SECONDS: u64 = 60;
const ORIGINS_KEY: &str = "cors:origins";
const COLUMNS: &str =
    "id, prefix, hash, name, scopes, project, allowed_origins, rate_limit, created_at, revoked_at";

fn cache_key(prefix: &str) -> String {
    format!("apikey:{prefix}")
}

fn kv_error(e: worker::KvError) -> worker::Error {
    worker::Error::RustError(format!("KV: {e}"))
}

pub async fn find_by_prefix(
    db: &D1Database,
    kv: &KvStore,
    prefix: &str,
) -> worker::Result<Option<KeyRecord>> {
    crate::billing::add(crate::billing::Item::KvReads, 1);
    if let Ok(Some(cached)) = kv.get(&cache_key(prefix)).text().await {
        if let Ok(record) = serde_json::from_str::<Option<KeyRecord>>(&cached) {
            return Ok(record);
        }
    }
    let row: Option<KeyRow> = db
        .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE prefix = ?1"))
        .bind(&[text(prefix)])?
        .first(None)
        .await?;
    let record = row.map(KeyRecord::from);
    let text =
        serde_json::to_string(&record).map_err(|e| worker::Error::RustError(e.to_string()))?;
    // A failed cache write only costs the next request a D1 read.
    crate::billing::add(crate::billing::Item::KvWrites, 1);
    if let Ok(put) = kv.put(&cache_key(prefix), text) {
        let _ = put.expiration_ttl(CACHE_TTL_SECONDS).execute().await;
    }
    Ok(record)
}

pub async fn insert(db: &D1Database, kv: &KvStore, record: &KeyRecord) -> worker::Result<()> {
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    db.prepare(format!(
        "INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL)"
    ))
    .bind(&[
        text(&record.id),
        text(&record.prefix),
        text(&record.hash),
        text(&record.name),
        text(&json(&record.scopes)),
        opt_text(record.project.as_deref()),
        text(&json(&record.allowed_origins)),
        text(record.rate_limit.as_str()),
        text(&record.created_at),
    ])?
    .run()
    .await?
    .metered();
    // A `null` cached for this prefix (someone guessed it first) must not hide the new key.
    let _ = kv.delete(&cache_key(&record.prefix)).await;
    refresh_origins(db, kv).await
}

pub async fn list(db: &D1Database) -> worker::Result<Vec<KeyRecord>> {
    let rows: Vec<KeyRow> = db
        .prepare(format!(
            "SELECT {COLUMNS} FROM api_keys ORDER BY created_at DESC, id DESC"
        ))
        .all()
        .await?
        .metered()
        .results()?;
    Ok(rows.into_iter().map(KeyRecord::from).collect())
}

/// A key by its id (for tail tickets, which name the key they were issued to).
/// Whether some active key is bound to `project`.
pub async fn project_has_key(db: &D1Database, project: &str) -> worker::Result<bool> {
    let query = crate::storage::sql::SqlQuery {
        sql: "SELECT count(*) AS n FROM (SELECT 1 FROM api_keys WHERE project = ? AND revoked_at IS NULL LIMIT 1)".into(),
        binds: vec![crate::storage::sql::Bind::Text(project.into())],
    };
    Ok(crate::storage::d1::count(db, &query).await? > 0)
}

pub async fn find_by_id(db: &D1Database, id: &str) -> worker::Result<Option<KeyRecord>> {
    let row: Option<KeyRow> = db
        .prepare(format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))
        .bind(&[text(id)])?
        .first(None)
        .await?;
    Ok(row.map(KeyRecord::from))
}

/// Marks the key revoked (once) and drops it from the cache. `None` if there is no such key.
pub async fn revoke(
    db: &D1Database,
    kv: &KvStore,
    id: &str,
    now: &str,
) -> worker::Result<Option<KeyRecord>> {
    db.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
        .bind(&[text(id), text(now)])?
        .run()
        .await?
        .metered();
    let Some(record) = find_by_id(db, id).await? else {
        return Ok(None);
    };
    kv.delete(&cache_key(&record.prefix))
        .await
        .map_err(kv_error)?;
    refresh_origins(db, kv).await?;
    Ok(Some(record))
}

/// Every origin any active key allows: what a CORS preflight (which carries no key) may pass.
pub async fn allowed_origins(db: &D1Database, kv: &KvStore) -> worker::Result<Vec<String>> {
    crate::billing::add(crate::billing::Item::KvReads, 1);
    if let Ok(Some(origins)) = kv.get(ORIGINS_KEY).json::<Vec<String>>().await {
        return Ok(origins);
    }
    refresh_origins(db, kv).await?;
    read_origins(db).await
}

async fn read_origins(db: &D1Database) -> worker::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Row {
        allowed_origins: String,
    }
    let rows: Vec<Row> = db
        .prepare("SELECT allowed_origins FROM api_keys WHERE revoked_at IS NULL AND allowed_origins != '[]'")
        .all()
        .await?
        .metered()
        .results()?;
    let mut origins: Vec<String> = rows
        .iter()
        .flat_map(|r| serde_json::from_str::<Vec<String>>(&r.allowed_origins).unwrap_or_default())
        .collect();
    origins.sort();
    origins.dedup();
    Ok(origins)
}

async fn refresh_origins(db: &D1Database, kv: &KvStore) -> worker::Result<()> {
    let origins = read_origins(db).await?;
    let text =
        serde_json::to_string(&origins).map_err(|e| worker::Error::RustError(e.to_string()))?;
    crate::billing::add(crate::billing::Item::KvWrites, 1);
    kv.put(ORIGINS_KEY, text)
        .map_err(kv_error)?
        .expiration_ttl(CACHE_TTL_SECONDS)
        .execute()
        .await
        .map_err(kv_error)
}
