//! Source map uploads: sentry-cli's protocol (chunk upload options, chunks, artifact bundle
//! assembly) and a plain multipart `POST /v1/releases/{release}/sourcemaps`, with `GET` and
//! `DELETE` to list and remove a release's maps. Objects in R2 (`ARTIFACTS`), the index in D1.

use std::io::Read;

use serde_json::json;
use worker::{FormEntry, Response};

use super::{json_response, read_json_body, Call};
use crate::error::{invalid_parameter as bad, AppError};
use crate::platform::bindings;
use crate::platform::clock::clock_text;
use crate::security::auth::scope_project;
use crate::sourcemaps::assembly::{
    self, valid_sha1, AssembleRequest, Target, CHUNKS_PER_REQUEST, CHUNK_SIZE, MAX_REQUEST_BYTES,
};
use crate::sourcemaps::bundle::{sha1_hex, MAX_BUNDLE_BYTES};
use crate::sourcemaps::store::{self as store, SourcemapRow};
use crate::sourcemaps::MAX_MAP_BYTES;

fn no_bucket() -> AppError {
    AppError::Unavailable {
        message:
            "Source maps are not deployed: bind the ARTIFACTS R2 bucket (docs/manual/sourcemaps.md)."
                .into(),
        retry_after: 60,
    }
}

fn too_large(size: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "The upload is {size} bytes; a request may hold {MAX_REQUEST_BYTES}."
    ))
}

/// `GET /api/0/organizations/{org}/chunk-upload/`: where and how to send chunks.
pub async fn chunk_options(c: &Call<'_>) -> Result<Response, AppError> {
    let url = &c.url;
    let upload_url = format!("{}{}", url.origin().ascii_serialization(), url.path());
    json_response(
        200,
        &json!({
            "url": upload_url,
            "chunkSize": CHUNK_SIZE,
            "chunksPerRequest": CHUNKS_PER_REQUEST,
            "maxFileSize": MAX_BUNDLE_BYTES,
            "maxRequestSize": MAX_REQUEST_BYTES,
            "maxWait": 60,
            "concurrency": 2,
            "hashAlgorithm": "sha1",
            "compression": ["gzip"],
            "accept": ["artifact_bundles", "artifact_bundles_v2", "sources"],
        }),
    )
}

/// `POST …/chunk-upload/`: chunks as multipart files named by their SHA-1 (`file`, or
/// `file_gzip` compressed); each is checked against its name and kept in R2.
pub async fn upload_chunks(c: &Call<'_>) -> Result<Response, AppError> {
    let (req, env) = (c.req, c.env);
    let bucket = store::bucket(env).ok_or_else(no_bucket)?;
    let form = req.form_data(MAX_REQUEST_BYTES, too_large).await?;
    let mut stored = 0;
    for (field, gzipped) in [("file", false), ("file_gzip", true)] {
        for entry in form.get_all(field).unwrap_or_default() {
            let FormEntry::File(file) = entry else {
                return Err(bad(format!("{field} must be a file named by its SHA-1")));
            };
            let name = file.name().to_ascii_lowercase();
            if !valid_sha1(&name) {
                return Err(bad(format!("chunk '{name}' is not named by its SHA-1")));
            }
            let mut bytes = file.bytes().await?;
            if gzipped {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(bytes.as_slice())
                    .take(CHUNK_SIZE as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| bad(format!("chunk {name} is not gzip: {e}")))?;
                bytes = out;
            }
            if bytes.len() > CHUNK_SIZE {
                return Err(too_large(bytes.len()));
            }
            if sha1_hex(&bytes) != name {
                return Err(bad(format!("chunk {name} does not have that SHA-1")));
            }
            store::put_object(&bucket, &format!("chunks/{name}"), bytes).await?;
            stored += 1;
        }
    }
    if stored == 0 {
        return Err(bad(
            "no chunk in the body: send files named file or file_gzip",
        ));
    }
    json_response(200, &json!({}))
}

pub async fn assemble(c: &Call<'_>) -> Result<Response, AppError> {
    let bucket = store::bucket(c.env).ok_or_else(no_bucket)?;
    let body = read_json_body(c.req, 1024 * 1024).await?;
    let request: AssembleRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("not an assemble request: {e}")))?;
    let project = c.principal().project.clone().unwrap_or_default();
    let db = c.env.d1(bindings::DB)?;
    json_response(
        200,
        &assembly::assemble(&bucket, &db, &project, request).await?,
    )
}

/// `POST /v1/releases/{release}/sourcemaps`: multipart `url` (the minified file's URL or
/// `~/path`), `sourcemap` (the map), and optionally `file` (the minified file), `dist`,
/// `debug_id`.
pub async fn upload(c: &Call<'_>) -> Result<Response, AppError> {
    let release = c.param("release");
    valid_release(release)?;
    let bucket = store::bucket(c.env).ok_or_else(no_bucket)?;
    let form = c
        .req
        .form_data(MAX_REQUEST_BYTES + MAX_MAP_BYTES, too_large)
        .await?;
    let field = |name: &str| form.get_field(name).filter(|v| !v.trim().is_empty());
    let url = field("url").ok_or_else(|| {
        bad("url is required: the minified file's URL (https://…/app.js or ~/app.js)")
    })?;
    let map = form_bytes(&form, "sourcemap")
        .await?
        .ok_or_else(|| bad("sourcemap is required: the map file"))?;
    if serde_json::from_slice::<serde::de::IgnoredAny>(&map).is_err() {
        return Err(bad("sourcemap is not JSON"));
    }
    let minified = form_bytes(&form, "file").await?;
    let debug_id = field("debug_id").map(|d| d.to_ascii_lowercase());
    if debug_id
        .as_deref()
        .is_some_and(|id| !crate::processors::normalize::valid_debug_id(id))
    {
        return Err(bad("debug_id is not a debug id (a UUID)"));
    }
    let project = c.principal().project.clone().unwrap_or_default();
    let (dist, now) = (field("dist").unwrap_or_default(), clock_text()?);
    let target = Target {
        project: &project,
        release,
        dist: &dist,
        now: &now,
    };
    let row = assembly::index(&bucket, &target, &url, debug_id, &map, minified.as_deref()).await?;
    store::write(&c.env.d1(bindings::DB)?, &[store::upsert(&row, None)]).await?;
    crate::sourcemaps::resolve::forget();
    json_response(201, &view(&row))
}

/// A form entry's bytes, a file or a text field alike.
async fn form_bytes(form: &worker::FormData, name: &str) -> Result<Option<Vec<u8>>, AppError> {
    Ok(match form.get(name) {
        Some(FormEntry::File(file)) => Some(file.bytes().await?),
        Some(FormEntry::Field(text)) => Some(text.into_bytes()),
        None => None,
    })
}

fn view(r: &SourcemapRow) -> serde_json::Value {
    json!({
        "id": r.id, "release": r.release, "dist": r.dist, "url": r.url, "debug_id": r.debug_id,
        "project": if r.project.is_empty() { None } else { Some(&r.project) },
        "map_bytes": r.map_bytes, "has_minified_file": r.source_key.is_some(), "created_at": r.created_at,
    })
}

fn valid_release(release: &str) -> Result<(), AppError> {
    if release.chars().count() > 200 || release.chars().any(char::is_control) {
        return Err(bad(
            "the release is at most 200 characters, without control characters",
        ));
    }
    Ok(())
}

/// `GET /v1/releases/{release}/sourcemaps`.
pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (env, principal, release) = (c.env, c.principal(), c.param("release"));
    valid_release(release)?;
    let project = scope_project(principal, None)?;
    let rows = store::list(&env.d1(bindings::DB)?, release, project.as_deref()).await?;
    json_response(
        200,
        &json!({ "sourcemaps": rows.iter().map(view).collect::<Vec<_>>() }),
    )
}

/// `DELETE /v1/releases/{release}/sourcemaps`: the release's maps (a project key: its own),
/// and the stored objects no other release still uses.
pub async fn delete(c: &Call<'_>) -> Result<Response, AppError> {
    let (env, principal, release) = (c.env, c.principal(), c.param("release"));
    valid_release(release)?;
    let db = env.d1(bindings::DB)?;
    let rows = store::delete_release(&db, release, principal.project.as_deref()).await?;
    if let Some(bucket) = store::bucket(env) {
        for key in rows
            .iter()
            .flat_map(|r| std::iter::once(r.map_key.clone()).chain(r.source_key.clone()))
        {
            if !store::still_used(&db, &key).await? {
                let _ = store::delete_object(&bucket, &key).await;
            }
        }
    }
    crate::sourcemaps::resolve::forget();
    json_response(200, &json!({ "deleted": rows.len() }))
}
