//! The artifact bundles `sentry-cli sourcemaps upload` sends: a `SYSB` header, then a ZIP
//! archive of the files and a `manifest.json` saying each file's URL, type (`minified_source`,
//! `source_map`) and headers (`debug-id`, `sourcemap`). The ZIP is read here by hand (the
//! central directory, stored or deflated entries through flate2, which the archive code
//! already uses): a few dozen lines against a crate and its features in the wasm.
//! Also the chunk checksums of the upload protocol (SHA-1, as sentry-cli computes them).

use crate::sourcemaps::MapError;
use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

/// The most bytes an assembled bundle, and any one file in it, may hold.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;

/// A file of a bundle, with what its manifest says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub url: String,
    pub kind: String,
    pub debug_id: Option<String>,
    /// The `sourcemap` header of a minified file: its map's URL, relative or absolute.
    pub sourcemap: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    files: BTreeMap<String, ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// SHA-1 in hex, as the upload protocol names chunks and bundles.
pub fn sha1_hex(bytes: &[u8]) -> String {
    sha1_smol::Sha1::from(bytes).digest().to_string()
}

fn u16_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize)
}

fn u32_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize)
}

/// The entries of a ZIP archive (name → contents), read through its central directory. Data
/// before the archive (the bundle's header) is allowed, as ZIP readers allow it.
pub fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, MapError> {
    let bad =
        |what: &str| MapError::new(format!("the bundle is not a readable ZIP archive ({what})"));
    let search_from = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (search_from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| bytes[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no end of central directory"))?;
    let entries = u16_at(bytes, eocd + 10).ok_or_else(|| bad("short"))?;
    let cd_size = u32_at(bytes, eocd + 12).ok_or_else(|| bad("short"))?;
    let cd_offset = u32_at(bytes, eocd + 16).ok_or_else(|| bad("short"))?;
    // Offsets count from the archive's start, which may follow a header.
    let shift = eocd
        .checked_sub(cd_offset + cd_size)
        .ok_or_else(|| bad("central directory out of range"))?;
    let mut at = cd_offset + shift;
    let mut out = BTreeMap::new();
    let mut total = 0usize;
    for _ in 0..entries {
        if bytes.get(at..at + 4) != Some(&[0x50, 0x4b, 0x01, 0x02]) {
            return Err(bad("a central directory entry is broken"));
        }
        let field = |off| u16_at(bytes, at + off).ok_or_else(|| bad("short entry"));
        let method = field(10)?;
        let compressed = u32_at(bytes, at + 20).ok_or_else(|| bad("short entry"))?;
        let size = u32_at(bytes, at + 24).ok_or_else(|| bad("short entry"))?;
        let (name_len, extra_len, comment_len) = (field(28)?, field(30)?, field(32)?);
        let local = u32_at(bytes, at + 42).ok_or_else(|| bad("short entry"))? + shift;
        let name = String::from_utf8_lossy(
            bytes
                .get(at + 46..at + 46 + name_len)
                .ok_or_else(|| bad("short name"))?,
        )
        .into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if size > MAX_FILE_BYTES || total + size > MAX_BUNDLE_BYTES {
            return Err(MapError::new(format!(
                "{name} is larger than a bundle may hold"
            )));
        }
        if bytes.get(local..local + 4) != Some(&[0x50, 0x4b, 0x03, 0x04]) {
            return Err(bad("a local header is broken"));
        }
        let data_at = local
            + 30
            + u16_at(bytes, local + 26).ok_or_else(|| bad("short"))?
            + u16_at(bytes, local + 28).ok_or_else(|| bad("short"))?;
        let data = bytes
            .get(data_at..data_at + compressed)
            .ok_or_else(|| bad("an entry runs past the end"))?;
        let contents = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .take(size as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{name} does not inflate: {e}"))?;
                out
            }
            other => {
                return Err(MapError::new(format!(
                    "{name} uses compression method {other}; only stored and deflate are read"
                )))
            }
        };
        if contents.len() != size {
            return Err(MapError::new(format!(
                "{name} is not the size its entry says"
            )));
        }
        total += size;
        out.insert(name, contents);
    }
    Ok(out)
}

/// The files of an artifact bundle, with their manifest entries.
pub fn read_bundle(bytes: &[u8]) -> Result<Vec<BundleFile>, MapError> {
    let mut entries = read_zip(bytes)?;
    let manifest: Manifest = serde_json::from_slice(
        &entries
            .remove("manifest.json")
            .ok_or("the bundle has no manifest.json")?,
    )
    .map_err(|e| format!("the bundle's manifest is not valid: {e}"))?;
    let mut files = Vec::new();
    for (path, info) in manifest.files {
        let Some(bytes) = entries.remove(&path) else {
            continue;
        };
        let header = |name: &str| {
            info.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        files.push(BundleFile {
            url: info.url,
            kind: info.kind,
            debug_id: header("debug-id").map(|id| id.to_ascii_lowercase()),
            sourcemap: header("sourcemap"),
            bytes,
        });
    }
    Ok(files)
}

/// A map reference resolved against the file that names it: `app.js.map` next to
/// `~/assets/app.js` is `~/assets/app.js.map`; an absolute URL or `~/…` stays as it is.
pub fn resolve_ref(file_url: &str, reference: &str) -> String {
    if reference.contains("://") || reference.starts_with('~') {
        return reference.to_string();
    }
    if let Some(path) = reference.strip_prefix('/') {
        return match file_url.split_once("://") {
            Some((scheme, rest)) => format!(
                "{scheme}://{}/{path}",
                rest.split('/').next().unwrap_or(rest)
            ),
            None => format!("~/{path}"),
        };
    }
    let dir = file_url.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut parts: Vec<&str> = dir.split('/').collect();
    for part in reference.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                if parts.len() > 1 {
                    parts.pop();
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A ZIP written by hand: stored or deflated entries, after a header.
    pub fn zip(header: &[u8], files: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = header.to_vec();
        let base = out.len();
        let mut central = Vec::new();
        for (name, data, deflate) in files {
            let body = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let offset = out.len() - base;
            let method: u16 = if *deflate { 8 } else { 0 };
            out.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc (not checked)
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0]);
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&(offset as u32).to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() - base;
        out.extend_from_slice(&central);
        out.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&(cd_offset as u32).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn reads_a_bundle_after_its_header() {
        let manifest = br#"{"files":{"files/_/_/app.js":{"type":"minified_source","url":"~/app.js","headers":{"debug-id":"A1B2C3D4-0000-4000-8000-000000000001","Sourcemap":"app.js.map"}},"files/_/_/app.js.map":{"type":"source_map","url":"~/app.js.map","headers":{"debug-id":"a1b2c3d4-0000-4000-8000-000000000001"}}}}"#;
        let bytes = zip(
            b"SYSB\x02\x00\x00\x00",
            &[
                ("manifest.json", manifest, true),
                ("files/_/_/app.js", b"function c(){}", false),
                ("files/_/_/app.js.map", b"{\"version\":3}", true),
            ],
        );
        let files = read_bundle(&bytes).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].url, "~/app.js");
        assert_eq!(
            files[0].debug_id.as_deref(),
            Some("a1b2c3d4-0000-4000-8000-000000000001")
        );
        assert_eq!(files[0].sourcemap.as_deref(), Some("app.js.map"));
        assert_eq!(files[1].bytes, b"{\"version\":3}");
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        assert!(read_bundle(b"not a zip at all")
            .unwrap_err()
            .message()
            .contains("not a readable ZIP"));
        let no_manifest = zip(b"", &[("a.js", b"x", false)]);
        assert!(read_bundle(&no_manifest)
            .unwrap_err()
            .message()
            .contains("manifest.json"));
        let mut truncated = zip(b"", &[("manifest.json", b"{}", true)]);
        truncated.drain(10..20);
        assert!(read_bundle(&truncated).is_err());
    }

    #[test]
    fn resolves_map_references() {
        assert_eq!(
            resolve_ref("~/assets/app.js", "app.js.map"),
            "~/assets/app.js.map"
        );
        assert_eq!(
            resolve_ref("~/assets/js/app.js", "../maps/app.map"),
            "~/assets/maps/app.map"
        );
        assert_eq!(
            resolve_ref("https://cdn.x/a/app.js", "/m/app.map"),
            "https://cdn.x/m/app.map"
        );
        assert_eq!(resolve_ref("~/a.js", "https://x/a.map"), "https://x/a.map");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
