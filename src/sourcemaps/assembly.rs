//! sentry-cli's artifact bundle assembly: the request checked (sizes in `u64`, never wrapping
//! on wasm32), the bundle's minified files paired with their maps (pure), and the runner that
//! reads the chunks from R2, indexes each pair and records the bundle (wasm-only).

use serde::Deserialize;

use crate::error::AppError;
use crate::sourcemaps::bundle::{resolve_ref, BundleFile, MAX_BUNDLE_BYTES};

/// What sentry-cli is told: chunks of 4 MiB, four to a request, gzip welcome.
pub const CHUNK_SIZE: usize = 4 * 1024 * 1024;
pub const CHUNKS_PER_REQUEST: usize = 4;
pub const MAX_REQUEST_BYTES: usize = 20 * 1024 * 1024;

/// `POST /api/0/organizations/{org}/artifactbundle/assemble/`.
#[derive(Debug, Deserialize)]
pub struct AssembleRequest {
    pub checksum: String,
    #[serde(default)]
    pub chunks: Vec<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub dist: Option<String>,
}

pub fn valid_sha1(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The request's checksum and chunk names in lower case, once they are SHA-1 digests and the
/// chunks cannot make a bundle over `MAX_BUNDLE_BYTES` (plus the last, partial chunk).
pub fn checked(request: &AssembleRequest) -> Result<(String, Vec<String>), AppError> {
    let checksum = request.checksum.to_ascii_lowercase();
    if !valid_sha1(&checksum)
        || request.chunks.is_empty()
        || !request.chunks.iter().all(|c| valid_sha1(c))
    {
        return Err(AppError::InvalidParameter(
            "checksum and chunks must be SHA-1 hex digests, and chunks not empty".into(),
        ));
    }
    let most = request.chunks.len() as u64 * CHUNK_SIZE as u64;
    if most > (MAX_BUNDLE_BYTES + CHUNK_SIZE) as u64 {
        return Err(AppError::PayloadTooLarge(format!(
            "{} chunks may make {most} bytes; a bundle holds at most {MAX_BUNDLE_BYTES}",
            request.chunks.len()
        )));
    }
    let chunks = request
        .chunks
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    Ok((checksum, chunks))
}

/// A map to index, under the URL of its minified file, with that file when it came along.
#[derive(Debug, PartialEq)]
pub struct Pair<'a> {
    pub url: String,
    pub debug_id: Option<String>,
    pub map: &'a BundleFile,
    pub minified: Option<&'a BundleFile>,
}

/// Each minified file with its map (the one its `sourcemap` header names, else the one with
/// its debug id), then each map with a debug id whose minified file did not come along, under
/// its own URL less `.map` (it is found by that id).
pub fn pairs(files: &[BundleFile]) -> Vec<Pair<'_>> {
    let maps: Vec<&BundleFile> = files.iter().filter(|f| f.kind == "source_map").collect();
    let mut pairs = Vec::new();
    for file in files.iter().filter(|f| f.kind == "minified_source") {
        let named = file
            .sourcemap
            .as_deref()
            .map(|r| resolve_ref(&file.url, r))
            .and_then(|url| maps.iter().find(|m| m.url == url));
        let by_id = || {
            maps.iter()
                .find(|m| m.debug_id.is_some() && m.debug_id == file.debug_id)
        };
        if let Some(map) = named.or_else(by_id) {
            pairs.push(Pair {
                url: file.url.clone(),
                debug_id: file.debug_id.clone().or(map.debug_id.clone()),
                map,
                minified: Some(file),
            });
        }
    }
    for map in maps {
        let used = pairs.iter().any(|p| p.map.url == map.url);
        if map.debug_id.is_some() && !used {
            pairs.push(Pair {
                url: map.url.strip_suffix(".map").unwrap_or(&map.url).to_string(),
                debug_id: map.debug_id.clone(),
                map,
                minified: None,
            });
        }
    }
    pairs
}

/// The assemble answer sentry-cli reads: `ok`, `not_found` with the missing chunks, `error`.
pub fn answer(state: &str, missing: &[String], detail: Option<&str>) -> serde_json::Value {
    serde_json::json!({"state": state, "missingChunks": missing, "detail": detail})
}

#[cfg(target_arch = "wasm32")]
pub(crate) use runner::*;

#[cfg(target_arch = "wasm32")]
mod runner {
    use super::{answer, checked, pairs, AssembleRequest};
    use crate::error::{invalid_parameter as bad, AppError};
    use crate::platform::clock::clock_text;
    use crate::sourcemaps::bundle::{read_bundle, sha1_hex};
    use crate::sourcemaps::store::{self as store, SourcemapRow};
    use crate::sourcemaps::{index_url, MAX_MAP_BYTES};

    fn chunk_key(chunk: &str) -> String {
        format!("chunks/{chunk}")
    }

    /// Assembles a bundle from its uploaded chunks and indexes its maps for `project`.
    pub async fn assemble(
        bucket: &worker::Bucket,
        db: &worker::D1Database,
        project: &str,
        request: AssembleRequest,
    ) -> Result<serde_json::Value, AppError> {
        let (checksum, chunks) = checked(&request)?;
        if store::bundle_known(db, project, &checksum).await? {
            return Ok(answer("ok", &[], None));
        }
        let mut missing = Vec::new();
        for chunk in &chunks {
            if !store::has_object(bucket, &chunk_key(chunk)).await? {
                missing.push(chunk.clone());
            }
        }
        if !missing.is_empty() {
            return Ok(answer("not_found", &missing, None));
        }
        let mut bytes = Vec::new();
        for chunk in &chunks {
            let part = store::get_object(bucket, &chunk_key(chunk)).await?;
            bytes.extend_from_slice(&part.unwrap_or_default());
        }
        if sha1_hex(&bytes) != checksum {
            let detail = "the chunks do not make up a file with that checksum";
            return Ok(answer("error", &[], Some(detail)));
        }
        let files = match read_bundle(&bytes) {
            Ok(files) => files,
            Err(e) => return Ok(answer("error", &[], Some(e.message()))),
        };
        let release = request.version.unwrap_or_default();
        let dist = request.dist.unwrap_or_default();
        let now = clock_text()?;
        let mut rows = Vec::new();
        for pair in pairs(&files) {
            let minified = pair.minified.map(|f| f.bytes.as_slice());
            let target = Target {
                project,
                release: &release,
                dist: &dist,
                now: &now,
            };
            rows.push(
                index(
                    bucket,
                    &target,
                    &pair.url,
                    pair.debug_id,
                    &pair.map.bytes,
                    minified,
                )
                .await?,
            );
        }
        let mut statements: Vec<_> = rows
            .iter()
            .map(|r| store::upsert(r, Some(&checksum)))
            .collect();
        statements.push(store::record_bundle(project, &checksum, rows.len(), &now));
        store::write(db, &statements).await?;
        for chunk in &chunks {
            let _ = store::delete_object(bucket, &chunk_key(chunk)).await;
        }
        crate::sourcemaps::resolve::forget();
        Ok(answer("ok", &[], None))
    }

    /// Where indexed maps belong: a project's release and dist, at a time.
    pub struct Target<'a> {
        pub project: &'a str,
        pub release: &'a str,
        pub dist: &'a str,
        pub now: &'a str,
    }

    /// Stores a map (and its minified file) in R2 by content and returns its index row.
    pub async fn index(
        bucket: &worker::Bucket,
        target: &Target<'_>,
        url: &str,
        debug_id: Option<String>,
        map: &[u8],
        minified: Option<&[u8]>,
    ) -> Result<SourcemapRow, AppError> {
        let url = index_url(url).map_err(|e| bad(e.into_message()))?;
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
            project: target.project.into(),
            release: target.release.into(),
            dist: target.dist.into(),
            url,
            debug_id: debug_id.filter(|d| crate::processors::normalize::valid_debug_id(d)),
            map_key,
            source_key,
            map_bytes: map.len() as i64,
            created_at: target.now.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str, kind: &str, debug_id: Option<&str>, sourcemap: Option<&str>) -> BundleFile {
        BundleFile {
            url: url.into(),
            kind: kind.into(),
            debug_id: debug_id.map(String::from),
            sourcemap: sourcemap.map(String::from),
            bytes: url.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_chunk_count_that_would_wrap_32_bits_is_too_large() {
        let sha = "a".repeat(40);
        for (chunks, status) in [
            (1, None),
            (17, None),
            (18, Some(413)),
            (1_025, Some(413)),
            (1_040, Some(413)),
        ] {
            let request = AssembleRequest {
                checksum: sha.clone(),
                chunks: vec![sha.clone(); chunks],
                version: None,
                dist: None,
            };
            assert_eq!(
                checked(&request).err().map(|e| e.status()),
                status,
                "{chunks} chunks"
            );
        }
        let bad = AssembleRequest {
            checksum: "x".into(),
            chunks: vec![],
            version: None,
            dist: None,
        };
        assert_eq!(checked(&bad).unwrap_err().status(), 400);
    }

    #[test]
    fn minified_files_pair_with_their_maps_by_header_then_debug_id() {
        let files = vec![
            file("~/a.js", "minified_source", None, Some("a.js.map")),
            file("~/a.js.map", "source_map", None, None),
            file("~/b.js", "minified_source", Some("id-b"), None),
            file("~/b.map", "source_map", Some("id-b"), None),
            file("~/c.js.map", "source_map", Some("id-c"), None),
            file("~/d.js.map", "source_map", None, None),
        ];
        let got: Vec<(String, Option<String>, String, bool)> = pairs(&files)
            .into_iter()
            .map(|p| (p.url, p.debug_id, p.map.url.clone(), p.minified.is_some()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("~/a.js".into(), None, "~/a.js.map".into(), true),
                ("~/b.js".into(), Some("id-b".into()), "~/b.map".into(), true),
                (
                    "~/c.js".into(),
                    Some("id-c".into()),
                    "~/c.js.map".into(),
                    false
                ),
            ]
        );
    }
}
