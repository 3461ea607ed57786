//! Source maps in R2 (`ARTIFACTS`: chunks of uploads, maps, minified files) and their index in
//! D1 (`sourcemaps`). Objects are named by the SHA-1 of their contents, so an upload repeated
//! stores nothing twice.

use serde::{Deserialize, Serialize};
use worker::{Bucket, D1Database, Env, Result};

use crate::platform::bindings;
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

/// The bucket, if bound (without it uploads answer 503 and events keep their stacks as sent).
pub fn bucket(env: &Env) -> Option<Bucket> {
    env.bucket(bindings::ARTIFACTS).ok()
}

/// A row of the index, as `GET /v1/releases/{release}/sourcemaps` lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourcemapRow {
    pub id: String,
    pub project: String,
    pub release: String,
    pub dist: String,
    pub url: String,
    pub debug_id: Option<String>,
    pub map_key: String,
    pub source_key: Option<String>,
    pub map_bytes: i64,
    pub created_at: String,
}

const COLUMNS: &str =
    "id, project, release, dist, url, debug_id, map_key, source_key, map_bytes, created_at";

pub async fn put_object(bucket: &Bucket, key: &str, bytes: Vec<u8>) -> Result<()> {
    bucket.put(key, bytes).execute().await.map(|_| ())
}

pub async fn get_object(bucket: &Bucket, key: &str) -> Result<Option<Vec<u8>>> {
    match bucket.get(key).execute().await? {
        Some(object) => match object.body() {
            Some(body) => Ok(Some(body.bytes().await?)),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

pub async fn has_object(bucket: &Bucket, key: &str) -> Result<bool> {
    Ok(bucket.head(key).await?.is_some())
}

pub async fn delete_object(bucket: &Bucket, key: &str) -> Result<()> {
    bucket.delete(key).await
}

/// Rows as stored: an absent debug id or minified file is stored as '' (D1 binds no NULL here).
fn present(mut rows: Vec<SourcemapRow>) -> Vec<SourcemapRow> {
    for r in &mut rows {
        r.debug_id = r.debug_id.take().filter(|s| !s.is_empty());
        r.source_key = r.source_key.take().filter(|s| !s.is_empty());
    }
    rows
}

/// Adds or replaces a row (same project, release, dist and URL: the newest upload wins).
pub fn upsert(row: &SourcemapRow, bundle: Option<&str>) -> SqlQuery {
    SqlQuery {
        sql: format!(
            "INSERT INTO sourcemaps ({COLUMNS}, bundle) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (project, release, dist, url) DO UPDATE SET debug_id = excluded.debug_id,
               map_key = excluded.map_key, source_key = excluded.source_key,
               map_bytes = excluded.map_bytes, bundle = excluded.bundle, created_at = excluded.created_at"
        ),
        binds: vec![
            Bind::Text(row.id.clone()),
            Bind::Text(row.project.clone()),
            Bind::Text(row.release.clone()),
            Bind::Text(row.dist.clone()),
            Bind::Text(row.url.clone()),
            row.debug_id.clone().map_or(Bind::Text(String::new()), Bind::Text),
            Bind::Text(row.map_key.clone()),
            row.source_key.clone().map_or(Bind::Text(String::new()), Bind::Text),
            Bind::Int(row.map_bytes),
            Bind::Text(row.created_at.clone()),
            bundle.map_or(Bind::Text(String::new()), |b| Bind::Text(b.into())),
        ],
    }
}

/// Runs statements in one D1 batch.
pub async fn write(db: &D1Database, statements: &[SqlQuery]) -> Result<()> {
    d1::batch(db, statements).await
}

/// A release's rows a key may see (`project`: the key's, or `None` for all).
pub async fn list(
    db: &D1Database,
    release: &str,
    project: Option<&str>,
) -> Result<Vec<SourcemapRow>> {
    let (filter, mut binds) = match project {
        Some(p) => (" AND project IN (?, '')", vec![Bind::Text(p.into())]),
        None => ("", vec![]),
    };
    binds.insert(0, Bind::Text(release.into()));
    d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {COLUMNS} FROM sourcemaps WHERE release = ?{filter} ORDER BY url, dist"
            ),
            binds,
        },
    )
    .await
    .map(present)
}

/// Removes a release's rows (a project key: its own only); the keys they pointed at.
pub async fn delete_release(
    db: &D1Database,
    release: &str,
    project: Option<&str>,
) -> Result<Vec<SourcemapRow>> {
    let rows = list(db, release, project).await?;
    let rows: Vec<SourcemapRow> = rows
        .into_iter()
        .filter(|r| project.is_none() || r.project == project.unwrap_or_default())
        .collect();
    let statements: Vec<SqlQuery> = rows
        .iter()
        .map(|r| SqlQuery {
            sql: "DELETE FROM sourcemaps WHERE id = ?".into(),
            binds: vec![Bind::Text(r.id.clone())],
        })
        .collect();
    if !statements.is_empty() {
        d1::batch(db, &statements).await?;
    }
    Ok(rows)
}

/// Whether any other row still points at an object (maps are shared between releases).
pub async fn still_used(db: &D1Database, key: &str) -> Result<bool> {
    Ok(d1::count(
        db,
        &SqlQuery {
            sql: "SELECT count(*) AS n FROM sourcemaps WHERE map_key = ?1 OR source_key = ?1"
                .into(),
            binds: vec![Bind::Text(key.into())],
        },
    )
    .await?
        > 0)
}

/// The rows that may serve an event: by the debug ids of its files, or by its release and its
/// files' URL keys; the event's project or uploads for every project.
pub async fn candidates(
    db: &D1Database,
    project: Option<&str>,
    release: Option<&str>,
    debug_ids: &[String],
    url_keys: &[String],
) -> Result<Vec<SourcemapRow>> {
    let mut conditions = Vec::new();
    let mut binds = vec![Bind::Text(project.unwrap_or_default().into())];
    if !debug_ids.is_empty() {
        conditions.push(format!(
            "debug_id IN ({})",
            vec!["?"; debug_ids.len()].join(", ")
        ));
        binds.extend(debug_ids.iter().cloned().map(Bind::Text));
    }
    if let (Some(release), false) = (release, url_keys.is_empty()) {
        conditions.push(format!(
            "(release = ? AND url IN ({}))",
            vec!["?"; url_keys.len()].join(", ")
        ));
        binds.push(Bind::Text(release.into()));
        binds.extend(url_keys.iter().cloned().map(Bind::Text));
    }
    if conditions.is_empty() {
        return Ok(Vec::new());
    }
    d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {COLUMNS} FROM sourcemaps WHERE project IN (?, '') AND ({}) LIMIT 200",
                conditions.join(" OR ")
            ),
            binds,
        },
    )
    .await
    .map(present)
}

/// Whether the deployment holds any map at all (events skip the lookup when it holds none).
pub async fn any(db: &D1Database) -> Result<bool> {
    Ok(d1::count(
        db,
        &SqlQuery {
            sql: "SELECT count(*) AS n FROM (SELECT 1 FROM sourcemaps LIMIT 1)".into(),
            binds: vec![],
        },
    )
    .await?
        > 0)
}

/// Records an assembled bundle; whether it was already.
/// Remembers a bundle assembled for a project (`''` for keys bound to none).
pub fn record_bundle(project: &str, checksum: &str, files: usize, now: &str) -> SqlQuery {
    SqlQuery {
        sql: "INSERT OR REPLACE INTO sourcemap_bundles (project, checksum, files, created_at) VALUES (?, ?, ?, ?)".into(),
        binds: vec![Bind::Text(project.into()), Bind::Text(checksum.into()), Bind::Int(files as i64), Bind::Text(now.into())],
    }
}

/// Whether this project already assembled the bundle.
pub async fn bundle_known(db: &D1Database, project: &str, checksum: &str) -> Result<bool> {
    Ok(d1::count(
        db,
        &SqlQuery {
            sql: "SELECT count(*) AS n FROM sourcemap_bundles WHERE project = ? AND checksum = ?"
                .into(),
            binds: vec![Bind::Text(project.into()), Bind::Text(checksum.into())],
        },
    )
    .await?
        > 0)
}
