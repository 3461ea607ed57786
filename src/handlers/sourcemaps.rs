//! Source map uploads: sentry-cli's protocol (chunk upload options, chunks, artifact bundle
//! assembly) and a plain multipart `POST /v1/releases/{release}/sourcemaps`, with `GET` and
//! `DELETE` to list and remove a release's maps. Objects in R2 (`ARTIFACTS`), the index in D1.

use std::io::Read;

use serde::Deserialize;
use serde_json::json;
use worker::{Env, FormEntry, Response, Url};

use super::{json_response, read_json_body, Incoming};
use crate::error::{invalid_parameter as bad, AppError};
use crate::platform::bindings;
use crate::platform::clock::clock_text;
use crate::security::auth::{scope_project, Principal};
use crate::sourcemaps::bundle::{read_bundle, resolve_ref, sha1_hex, MAX_BUNDLE_BYTES};
use crate::sourcemaps::{index_url, MAX_MAP_BYTES};
use crate::storage::sourcemaps::{self as store, SourcemapRow};

/// What sentry-cli is told: chunks of 4 MiB, four to a request, gzip welcome.
const CHUNK_SIZE: usize = 4 * 1024 * 1024;
const CHUNKS_PER_REQUEST: usize = 4;
const MAX_REQUEST_BYTES: usize = 20 * 1024 * 1024;

fn no_bucket() -> AppError {
    AppError::Unavailable {
        message:
            "Source maps are not deployed: bind the ARTIFACTS R2 bucket (README, Source maps)."
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
pub fn chunk_options(url: &Url) -> Result<Response, AppError> {
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

fn valid_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST …/chunk-upload/`: chunks as multipart files named by their SHA-1 (`file`, or
/// `file_gzip` compressed); each is checked against its name and kept in R2.
pub async fn upload_chunks(req: &Incoming, env: &Env) -> Result<Response, AppError> {
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

#[derive(Deserialize)]
struct AssembleRequest {
    checksum: String,
    #[serde(default)]
    chunks: Vec<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<String>,
}

/// `POST …/artifactbundle/assemble/`: the chunks still missing, or the bundle assembled, read
/// and indexed (synchronously: sentry-cli's next poll finds it `ok`).
pub async fn assemble(
    req: &Incoming,
    env: &Env,
    principal: &Principal,
) -> Result<Response, AppError> {
    let bucket = store::bucket(env).ok_or_else(no_bucket)?;
    let body: AssembleRequest = serde_json::from_slice(&read_json_body(req, 1024 * 1024).await?)
        .map_err(|e| bad(format!("not an assemble request: {e}")))?;
    let checksum = body.checksum.to_ascii_lowercase();
    if !valid_sha1(&checksum)
        || body.chunks.iter().any(|c| !valid_sha1(c))
        || body.chunks.is_empty()
    {
        return Err(bad(
            "checksum and chunks must be SHA-1 hex digests, and chunks not empty",
        ));
    }
    if body.chunks.len() * CHUNK_SIZE > MAX_BUNDLE_BYTES + CHUNK_SIZE {
        return Err(too_large(body.chunks.len() * CHUNK_SIZE));
    }
    let db = env.d1(bindings::DB)?;
    if store::bundle_known(&db, &checksum).await? {
        return json_response(
            200,
            &json!({"state": "ok", "missingChunks": [], "detail": null}),
        );
    }
    let mut missing = Vec::new();
    for chunk in &body.chunks {
        if !store::has_object(&bucket, &format!("chunks/{}", chunk.to_ascii_lowercase())).await? {
            missing.push(chunk.to_ascii_lowercase());
        }
    }
    if !missing.is_empty() {
        return json_response(
            200,
            &json!({"state": "not_found", "missingChunks": missing, "detail": null}),
        );
    }
    let mut bytes = Vec::new();
    for chunk in &body.chunks {
        let part = store::get_object(&bucket, &format!("chunks/{}", chunk.to_ascii_lowercase()))
            .await?
            .unwrap_or_default();
        bytes.extend_from_slice(&part);
    }
    let error = |detail: String| {
        json_response(
            200,
            &json!({"state": "error", "missingChunks": [], "detail": detail}),
        )
    };
    if sha1_hex(&bytes) != checksum {
        return error("the chunks do not make up a file with that checksum".into());
    }
    let files = match read_bundle(&bytes) {
        Ok(files) => files,
        Err(e) => return error(e),
    };
    let project = principal.project.clone().unwrap_or_default();
    let release = body.version.unwrap_or_default();
    let dist = body.dist.unwrap_or_default();
    let now = clock_text()?;
    let maps: Vec<&crate::sourcemaps::bundle::BundleFile> =
        files.iter().filter(|f| f.kind == "source_map").collect();
    let mut rows = Vec::new();
    let mut used_maps = Vec::new();
    for file in files.iter().filter(|f| f.kind == "minified_source") {
        // Its map: the one its `sourcemap` header names, else the one with its debug id.
        let map = file
            .sourcemap
            .as_deref()
            .map(|r| resolve_ref(&file.url, r))
            .and_then(|url| maps.iter().find(|m| m.url == url))
            .or_else(|| {
                maps.iter()
                    .find(|m| m.debug_id.is_some() && m.debug_id == file.debug_id)
            });
        let Some(map) = map else { continue };
        used_maps.push(map.url.clone());
        let row = index(
            &bucket,
            &project,
            &release,
            &dist,
            &file.url,
            file.debug_id.clone().or(map.debug_id.clone()),
            &map.bytes,
            Some(&file.bytes),
            &now,
        )
        .await?;
        rows.push(row);
    }
    // A map with a debug id whose minified file did not come along is found by that id.
    for map in maps
        .iter()
        .filter(|m| m.debug_id.is_some() && !used_maps.contains(&m.url))
    {
        let url = map.url.strip_suffix(".map").unwrap_or(&map.url).to_string();
        rows.push(
            index(
                &bucket,
                &project,
                &release,
                &dist,
                &url,
                map.debug_id.clone(),
                &map.bytes,
                None,
                &now,
            )
            .await?,
        );
    }
    let mut statements: Vec<_> = rows
        .iter()
        .map(|r| store::upsert(r, Some(&checksum)))
        .collect();
    statements.push(store::record_bundle(&checksum, rows.len(), &now));
    store::write(&db, &statements).await?;
    for chunk in &body.chunks {
        let _ =
            store::delete_object(&bucket, &format!("chunks/{}", chunk.to_ascii_lowercase())).await;
    }
    crate::sourcemaps::resolve::forget();
    json_response(
        200,
        &json!({"state": "ok", "missingChunks": [], "detail": null}),
    )
}

/// Stores a map (and its minified file) under their SHA-1 and makes their index row.
#[allow(clippy::too_many_arguments)]
async fn index(
    bucket: &worker::Bucket,
    project: &str,
    release: &str,
    dist: &str,
    url: &str,
    debug_id: Option<String>,
    map: &[u8],
    minified: Option<&[u8]>,
    now: &str,
) -> Result<SourcemapRow, AppError> {
    let url = index_url(url).map_err(bad)?;
    if map.len() > MAX_MAP_BYTES {
        return Err(AppError::PayloadTooLarge(format!(
            "the map of {url} is {} bytes; at most {MAX_MAP_BYTES} are kept",
            map.len()
        )));
    }
    let map_key = format!("maps/{}", sha1_hex(map));
    store::put_object(bucket, &map_key, map.to_vec()).await?;
    let source_key = match minified {
        Some(source) => {
            let key = format!("sources/{}", sha1_hex(source));
            store::put_object(bucket, &key, source.to_vec()).await?;
            Some(key)
        }
        None => None,
    };
    Ok(SourcemapRow {
        id: format!("sm_{}", uuid::Uuid::new_v4().simple()),
        project: project.into(),
        release: release.into(),
        dist: dist.into(),
        url,
        debug_id: debug_id.filter(|d| crate::processors::normalize::valid_debug_id(d)),
        map_key,
        source_key,
        map_bytes: map.len() as i64,
        created_at: now.into(),
    })
}

/// `POST /v1/releases/{release}/sourcemaps`: multipart `url` (the minified file's URL or
/// `~/path`), `sourcemap` (the map), and optionally `file` (the minified file), `dist`,
/// `debug_id`.
pub async fn upload(
    req: &Incoming,
    env: &Env,
    principal: &Principal,
    release: &str,
) -> Result<Response, AppError> {
    valid_release(release)?;
    let bucket = store::bucket(env).ok_or_else(no_bucket)?;
    let form = req
        .form_data(MAX_REQUEST_BYTES + MAX_MAP_BYTES, too_large)
        .await?;
    let field = |name: &str| form.get_field(name).filter(|v| !v.trim().is_empty());
    let url = field("url").ok_or_else(|| {
        bad("url is required: the minified file's URL (https://…/app.js or ~/app.js)")
    })?;
    let map = match form.get("sourcemap") {
        Some(FormEntry::File(file)) => file.bytes().await?,
        Some(FormEntry::Field(text)) => text.into_bytes(),
        None => return Err(bad("sourcemap is required: the map file")),
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(&map).is_err() {
        return Err(bad("sourcemap is not JSON"));
    }
    let minified = match form.get("file") {
        Some(FormEntry::File(file)) => Some(file.bytes().await?),
        Some(FormEntry::Field(text)) => Some(text.into_bytes()),
        None => None,
    };
    let debug_id = field("debug_id");
    if let Some(id) = &debug_id {
        if !crate::processors::normalize::valid_debug_id(id) {
            return Err(bad("debug_id is not a debug id (a UUID)"));
        }
    }
    let project = principal.project.clone().unwrap_or_default();
    let row = index(
        &bucket,
        &project,
        release,
        &field("dist").unwrap_or_default(),
        &url,
        debug_id.map(|d| d.to_ascii_lowercase()),
        &map,
        minified.as_deref(),
        &clock_text()?,
    )
    .await?;
    store::write(&env.d1(bindings::DB)?, &[store::upsert(&row, None)]).await?;
    crate::sourcemaps::resolve::forget();
    json_response(201, &view(&row))
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
pub async fn list(env: &Env, principal: &Principal, release: &str) -> Result<Response, AppError> {
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
pub async fn delete(env: &Env, principal: &Principal, release: &str) -> Result<Response, AppError> {
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
