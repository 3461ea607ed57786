//! API keys: creation requests, key material, stored records, origin checks. Pure.
//!
//! A key is `elk_` + 64 hex characters (256 random bits from the platform's CSPRNG): only
//! `[a-z0-9_]`, so it also fits where Sentry DSNs and other tools expect a plain word.
//! Only its SHA-256 is stored, with a 12-character public prefix to find the record; the plain
//! key is shown once, in the answer to `POST /v1/keys`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{invalid_parameter as bad, AppError};
use crate::security::scopes::Scope;

pub const KEY_PREFIX: &str = "elk_";
/// Characters of the key that are stored in clear to find its record.
pub const LOOKUP_PREFIX_LEN: usize = 12;
const MAX_ORIGINS: usize = 50;

pub use crate::security::scopes::RateTier;

/// What `api_keys` holds for a key (and what the KV cache holds, hash included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub prefix: String,
    pub hash: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub project: Option<String>,
    pub allowed_origins: Vec<String>,
    pub rate_limit: RateTier,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A row of `api_keys` as D1 returns it (lists are JSON text there).
#[derive(Debug, Clone, Deserialize)]
pub struct KeyRow {
    pub id: String,
    pub prefix: String,
    pub hash: String,
    pub name: String,
    pub scopes: String,
    pub project: Option<String>,
    pub allowed_origins: String,
    pub rate_limit: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<KeyRow> for KeyRecord {
    fn from(row: KeyRow) -> Self {
        KeyRecord {
            id: row.id,
            prefix: row.prefix,
            hash: row.hash,
            name: row.name,
            // Written by us as JSON arrays; an unreadable list grants nothing.
            scopes: serde_json::from_str(&row.scopes).unwrap_or_default(),
            project: row.project,
            allowed_origins: serde_json::from_str(&row.allowed_origins).unwrap_or_default(),
            // A tier this build does not know limits like the default one.
            rate_limit: RateTier::parse(&row.rate_limit).unwrap_or_default(),
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

impl NewKey {
    /// The record to store for this request, given fresh key material and the time.
    pub fn into_record(
        self,
        id: String,
        prefix: String,
        hash: String,
        created_at: String,
    ) -> KeyRecord {
        KeyRecord {
            id,
            prefix,
            hash,
            name: self.name,
            scopes: self.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            project: self.project,
            allowed_origins: self.allowed_origins,
            rate_limit: self.rate_limit,
            created_at,
            revoked_at: None,
        }
    }
}

/// The public view of a key: everything but the hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyView {
    pub id: String,
    pub prefix: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub project: Option<String>,
    pub allowed_origins: Vec<String>,
    pub rate_limit: RateTier,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl From<&KeyRecord> for KeyView {
    fn from(r: &KeyRecord) -> Self {
        KeyView {
            id: r.id.clone(),
            prefix: r.prefix.clone(),
            name: r.name.clone(),
            scopes: r.scopes.clone(),
            project: r.project.clone(),
            allowed_origins: r.allowed_origins.clone(),
            rate_limit: r.rate_limit,
            created_at: r.created_at.clone(),
            revoked_at: r.revoked_at.clone(),
        }
    }
}

/// A validated `POST /v1/keys` body.
#[derive(Debug, Clone, PartialEq)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub project: Option<String>,
    pub allowed_origins: Vec<String>,
    pub rate_limit: RateTier,
}

pub fn parse_new_key(body: &[u8]) -> Result<NewKey, AppError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let Value::Object(obj) = value else {
        return Err(bad("the body must be an object: {\"name\", \"scopes\", \"project\", \"allowed_origins\", \"rate_limit\"}"));
    };
    for key in obj.keys() {
        if !["name", "scopes", "project", "allowed_origins", "rate_limit"].contains(&key.as_str()) {
            return Err(bad(format!("unknown field '{key}'; a key has name, scopes, project, allowed_origins, rate_limit")));
        }
    }
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("");
    if name.is_empty() || name.chars().count() > 100 {
        return Err(bad("name is required: 1 to 100 characters"));
    }
    let scopes_value = obj.get("scopes").and_then(Value::as_array).ok_or_else(|| {
        bad("scopes is required: a non-empty array of ingest, read, sourcemaps, admin")
    })?;
    let mut scopes = Vec::new();
    for s in scopes_value {
        let scope = match s.as_str() {
            Some("ingest") => Scope::Ingest,
            Some("read") => Scope::Read,
            Some("sourcemaps") => Scope::Sourcemaps,
            Some("admin") => Scope::Admin,
            _ => {
                return Err(bad(format!(
                    "scope {s} is unknown; use ingest, read, sourcemaps or admin"
                )))
            }
        };
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err(bad("scopes must not be empty"));
    }
    let project = match obj.get("project") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if valid_project(p) => Some(p.clone()),
        Some(_) => {
            return Err(bad(
                "project must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
            ))
        }
    };
    if project.is_some() && scopes.contains(&Scope::Admin) {
        return Err(bad(
            "an admin key sees every project; it cannot be bound to one",
        ));
    }
    let mut allowed_origins = Vec::new();
    match obj.get("allowed_origins") {
        None | Some(Value::Null) => {}
        Some(Value::Array(origins)) => {
            if origins.len() > MAX_ORIGINS {
                return Err(bad(format!(
                    "allowed_origins holds at most {MAX_ORIGINS} origins"
                )));
            }
            for o in origins {
                let origin = o
                    .as_str()
                    .ok_or_else(|| bad("allowed_origins must be strings"))?;
                allowed_origins.push(normalize_origin(origin).ok_or_else(|| {
                    bad(format!("'{origin}' is not an origin: use scheme://host[:port], e.g. https://app.example.com or https://*.example.com"))
                })?);
            }
        }
        Some(_) => return Err(bad("allowed_origins must be an array of origins")),
    }
    if !allowed_origins.is_empty() && scopes != [Scope::Ingest] {
        // A key a browser holds is public; only ingest may be public.
        return Err(bad(
            "allowed_origins is for browser keys, which may only have the ingest scope",
        ));
    }
    let rate_limit = match obj.get("rate_limit") {
        None | Some(Value::Null) => RateTier::Default,
        Some(Value::String(t)) if RateTier::parse(t).is_some() => {
            RateTier::parse(t).unwrap_or_default()
        }
        Some(_) => return Err(bad("rate_limit must be one of default, low, high")),
    };
    Ok(NewKey {
        name: name.to_string(),
        scopes,
        project,
        allowed_origins,
        rate_limit,
    })
}

pub fn valid_project(p: &str) -> bool {
    (1..=64).contains(&p.len())
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `HTTPS://App.Example.com:443/` → `https://app.example.com`; `https://*.example.com` stays a
/// pattern. Anything with a path, query, credentials or another scheme is not an origin.
pub fn normalize_origin(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/');
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return None;
    }
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let rest = rest.to_ascii_lowercase();
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h.to_string(), Some(p.to_string()))
        }
        Some(_) => return None,
        None => (rest.clone(), None),
    };
    // A host name (or `*.` and one) or an IPv4 address, with an optional port: the OpenAPI
    // document's pattern for allowed_origins says the same. (IPv6 literals are not taken.)
    static HOST: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let host_ok = HOST.get_or_init(|| {
        regex::Regex::new(r"^(?:\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")
            .expect("origin host pattern")
    });
    if !host_ok.is_match(&host) || port.as_ref().is_some_and(|p| p.len() > 5) {
        return None;
    }
    let default_port = matches!(
        (scheme.as_str(), port.as_deref()),
        ("https", Some("443")) | ("http", Some("80"))
    );
    Some(match port {
        Some(p) if !default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Whether a request's `Origin` is one of the allowed origins (exact, or `*.` subdomain pattern).
pub fn origin_allowed(origin: &str, allowed: &[String]) -> bool {
    let Some(origin) = normalize_origin(origin) else {
        return false;
    };
    if origin.contains('*') {
        return false;
    }
    allowed
        .iter()
        .any(|pattern| match pattern.split_once("://*.") {
            Some((scheme, suffix)) => {
                origin
                    .strip_prefix(&format!("{scheme}://"))
                    .is_some_and(|host| {
                        host.ends_with(&format!(".{suffix}")) && host.len() > suffix.len() + 1
                    })
            }
            None => *pattern == origin,
        })
}

/// A fresh key from 32 random bytes: `(plain key, lookup prefix, SHA-256 hex)`.
pub fn generate_key(random: [u8; 32]) -> (String, String, String) {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let plain = format!("{KEY_PREFIX}{hex}");
    let prefix = plain[..LOOKUP_PREFIX_LEN].to_string();
    let hash = hash_key(&plain);
    (plain, prefix, hash)
}

pub fn hash_key(plain: &str) -> String {
    Sha256::digest(plain.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The lookup prefix of a presented credential, if it has our key shape.
pub fn lookup_prefix(presented: &str) -> Option<&str> {
    (presented.starts_with(KEY_PREFIX)
        && presented.len() > LOOKUP_PREFIX_LEN
        && presented.is_char_boundary(LOOKUP_PREFIX_LEN))
    .then(|| &presented[..LOOKUP_PREFIX_LEN])
}

impl KeyRecord {
    /// Constant-time check of a presented key against this record's hash.
    pub fn matches(&self, presented: &str) -> bool {
        let computed = hash_key(presented);
        computed.as_bytes().ct_eq(self.hash.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_requests() {
        let ok = parse_new_key(br#"{"name":"web","scopes":["ingest"],"project":"shop","allowed_origins":["HTTPS://App.Example.com:443/","https://*.example.org"]}"#).unwrap();
        assert_eq!(ok.scopes, vec![Scope::Ingest]);
        assert_eq!(
            ok.allowed_origins,
            vec!["https://app.example.com", "https://*.example.org"]
        );
        assert_eq!(ok.rate_limit, RateTier::Default);
        let reader = parse_new_key(
            br#"{"name":"grafana","scopes":["read","read"],"project":"shop","rate_limit":"high"}"#,
        )
        .unwrap();
        assert_eq!(reader.scopes, vec![Scope::Read]);
        assert_eq!(reader.rate_limit, RateTier::High);

        let bad_bodies: &[(&[u8], &str)] = &[
            (b"{", "JSON"),
            (b"[]", "object"),
            (br#"{"scopes":["ingest"]}"#, "name"),
            (br#"{"name":"","scopes":["ingest"]}"#, "name"),
            (br#"{"name":"x"}"#, "scopes"),
            (br#"{"name":"x","scopes":[]}"#, "scopes"),
            (br#"{"name":"x","scopes":["write"]}"#, "scope"),
            (br#"{"name":"x","scopes":["admin"],"project":"p"}"#, "admin"),
            (
                br#"{"name":"x","scopes":["ingest"],"project":"Has Space"}"#,
                "project",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"allowed_origins":["app.example.com"]}"#,
                "origin",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"allowed_origins":["https://x.com/path"]}"#,
                "origin",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"allowed_origins":["ftp://x.com"]}"#,
                "origin",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"allowed_origins":["https://a.*.com"]}"#,
                "origin",
            ),
            (
                br#"{"name":"x","scopes":["ingest","read"],"allowed_origins":["https://x.com"]}"#,
                "browser keys",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"rate_limit":"unlimited"}"#,
                "rate_limit",
            ),
            (
                br#"{"name":"x","scopes":["ingest"],"owner":"me"}"#,
                "unknown field",
            ),
        ];
        for (body, expected) in bad_bodies {
            let err = parse_new_key(body).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(body));
            assert!(
                err.message().contains(expected),
                "{}: {}",
                String::from_utf8_lossy(body),
                err.message()
            );
        }
    }

    #[test]
    fn origins() {
        let allowed = vec![
            "https://app.example.com".to_string(),
            "https://*.example.org".to_string(),
            "http://localhost:3000".to_string(),
        ];
        let cases = [
            ("https://app.example.com", true),
            ("https://APP.example.com", true),
            ("https://app.example.com:443", true),
            ("http://app.example.com", false),
            ("https://evil.com", false),
            ("https://app.example.com.evil.com", false),
            ("https://shop.example.org", true),
            ("https://a.b.example.org", true),
            ("https://example.org", false),
            ("https://evilexample.org", false),
            ("http://localhost:3000", true),
            ("http://localhost:3001", false),
            ("null", false),
            ("", false),
        ];
        for (origin, expected) in cases {
            assert_eq!(origin_allowed(origin, &allowed), expected, "{origin}");
        }
    }

    #[test]
    fn key_material() {
        let (plain, prefix, hash) = generate_key([7u8; 32]);
        assert!(plain.starts_with("elk_"));
        assert_eq!(plain.len(), 4 + 64);
        assert!(
            plain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "a word, for DSNs"
        );
        assert_eq!(prefix, &plain[..12]);
        assert_eq!(lookup_prefix(&plain), Some(prefix.as_str()));
        assert_eq!(hash.len(), 64);
        let record = KeyRecord {
            id: "key_1".into(),
            prefix,
            hash,
            name: "n".into(),
            scopes: vec!["ingest".into()],
            project: Some("shop".into()),
            allowed_origins: vec![],
            rate_limit: RateTier::Default,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            revoked_at: None,
        };
        assert!(record.matches(&plain));
        assert!(!record.matches(&format!("{plain}x")));
        assert!(!record.matches("elk_AAAAAAAA"));
        let p = crate::security::auth::Principal::of_key(&record);
        assert_eq!(
            (p.scopes, p.project.as_deref()),
            (vec![Scope::Ingest], Some("shop"))
        );
        assert_eq!(lookup_prefix("dev-admin-token"), None);
        assert_eq!(lookup_prefix("elk_short"), None);
    }
}
