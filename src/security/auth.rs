//! Who is calling and what they may do. Pure: the edge reads headers, secrets and key records
//! and hands them in. The deployment's admin token and API keys (`crate::security::keys`) both resolve
//! to a `Principal`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::security::keys::KeyRecord;

pub use crate::security::scopes::{RateTier, Scope};

/// Where the credential came from: the query string only suits ingest-scoped keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Header(String),
    Query(String),
}

impl Credential {
    pub fn token(&self) -> &str {
        match self {
            Credential::Header(t) | Credential::Query(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `admin-token` for the deployment token; a key's id otherwise.
    pub key_id: String,
    pub scopes: Vec<Scope>,
    /// A key bound to a project sees only that project (tenant isolation); `None` sees all.
    pub project: Option<String>,
    /// Origins a browser may call from with this key (empty: not from browsers).
    pub allowed_origins: Vec<String>,
    pub rate_limit: RateTier,
}

impl Principal {
    pub fn admin_token() -> Self {
        Principal {
            key_id: "admin-token".into(),
            scopes: vec![Scope::Ingest, Scope::Read, Scope::Admin],
            project: None,
            allowed_origins: Vec::new(),
            rate_limit: RateTier::High,
        }
    }

    /// The caller an API key stands for.
    pub fn of_key(record: &KeyRecord) -> Self {
        Principal {
            key_id: record.id.clone(),
            scopes: record
                .scopes
                .iter()
                .filter_map(|s| Scope::parse(s))
                .collect(),
            project: record.project.clone(),
            allowed_origins: record.allowed_origins.clone(),
            rate_limit: record.rate_limit,
        }
    }

    /// The caller of a public route: no key, no scope, no project.
    pub fn anonymous() -> Self {
        Principal {
            key_id: "anonymous".into(),
            scopes: Vec::new(),
            project: None,
            allowed_origins: Vec::new(),
            rate_limit: RateTier::Default,
        }
    }

    /// `admin` may do everything; otherwise the scope must be held.
    pub fn require(&self, scope: Scope) -> Result<(), AppError> {
        if self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "This key lacks the '{}' scope this route needs.",
                scope.as_str()
            )))
        }
    }
}

/// `Authorization` first — `Bearer <t>`, or as Elasticsearch clients send a key: `ApiKey <t>`
/// (the key itself, or base64 of `id:key`) and `Basic` with the key as the password (or as the
/// user name when the password is empty) — then `X-Api-Key: <t>`, then `?key=<t>`.
pub fn extract_credential(
    authorization: Option<&str>,
    api_key: Option<&str>,
    query_key: Option<&str>,
) -> Option<Credential> {
    if let Some(header) = authorization
        .map(str::trim)
        .filter(|h| !h.is_empty() && !h.eq_ignore_ascii_case("bearer"))
    {
        let token = match header.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => {
                rest.trim().to_string()
            }
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("apikey") => {
                let rest = rest.trim();
                decoded_pair(rest).map_or_else(|| rest.to_string(), |(_, key)| key)
            }
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") => {
                match decoded_pair(rest.trim()) {
                    Some((user, password)) if password.is_empty() => user,
                    Some((_, password)) => password,
                    None => String::new(),
                }
            }
            _ => header.to_string(),
        };
        if !token.is_empty() {
            return Some(Credential::Header(token));
        }
    }
    if let Some(key) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
        return Some(Credential::Header(key.to_string()));
    }
    query_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| Credential::Query(k.to_string()))
}

/// `base64("a:b")` as `(a, b)`; `None` when it is not base64 of UTF-8 with a colon.
fn decoded_pair(encoded: &str) -> Option<(String, String)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.to_string(), b.to_string()))
}

/// Sentry SDKs authenticate with their DSN's public key: `X-Sentry-Auth: Sentry sentry_key=<key>, …`
/// or `?sentry_key=<key>` (browsers; treated like `?key=`, so only ingest-only keys pass).
pub fn sentry_credential(
    x_sentry_auth: Option<&str>,
    query_key: Option<&str>,
) -> Option<Credential> {
    let from_header = x_sentry_auth.and_then(|h| {
        h.trim()
            .strip_prefix("Sentry")
            .unwrap_or(h)
            .split(',')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| k.trim() == "sentry_key")
            .map(|(_, v)| v.trim().to_string())
    });
    from_header
        .filter(|k| !k.is_empty())
        .map(Credential::Header)
        .or_else(|| {
            query_key
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Credential::Query(k.to_string()))
        })
}

/// Compares in constant time, over digests so that not even the length leaks.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

/// Resolves a credential against the admin token. `Ok(None)` means "not the admin token":
/// the edge then asks the key store (when keys exist) before answering 401.
pub fn match_admin_token(
    credential: &Credential,
    admin_token: Option<&str>,
) -> Result<Option<Principal>, AppError> {
    let Some(expected) = admin_token.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if !token_matches(credential.token(), expected) {
        return Ok(None);
    }
    if matches!(credential, Credential::Query(_)) {
        // A token in a URL ends up in logs and browser history: only ingest keys may go there.
        return Err(AppError::Unauthorized(
            "The admin token is not accepted in the query string; send it as 'Authorization: Bearer <token>'.".into(),
        ));
    }
    Ok(Some(Principal::admin_token()))
}

/// Resolves a credential against the key record found by its prefix (if any). Revoked keys,
/// wrong secrets and unknown prefixes all answer the same 401, so nothing is learnt by probing.
pub fn authorize_key(
    credential: &Credential,
    record: Option<&KeyRecord>,
) -> Result<Principal, AppError> {
    let record = record
        .filter(|r| r.revoked_at.is_none() && r.matches(credential.token()))
        .ok_or_else(unauthorized_unknown)?;
    let principal = Principal::of_key(record);
    if matches!(credential, Credential::Query(_)) && principal.scopes != [Scope::Ingest] {
        return Err(AppError::Unauthorized(
            "Only ingest-only keys may be sent as ?key=; send this key in the Authorization header.".into(),
        ));
    }
    Ok(principal)
}

/// The project a read may see: a project-bound key sees only its own (asking for another is a
/// 403); an unbound key or the admin token sees all, or the one it asks for.
pub fn scope_project(
    principal: &Principal,
    requested: Option<String>,
) -> Result<Option<String>, AppError> {
    match (&principal.project, requested) {
        (Some(own), Some(asked)) if *own != asked => Err(AppError::Forbidden(format!(
            "This key reads only project '{own}', not '{asked}'."
        ))),
        (Some(own), _) => Ok(Some(own.clone())),
        (None, asked) => Ok(asked),
    }
}

/// Whether a stored item of `project` is visible to this principal (404 otherwise, so that
/// another tenant's ids are not even confirmed to exist).
pub fn can_see(principal: &Principal, project: Option<&str>) -> bool {
    principal
        .project
        .as_deref()
        .is_none_or(|own| Some(own) == project)
}

/// Browser requests: `Ok(Some(origin))` when a cross-origin request may go on (echo it in
/// `Access-Control-Allow-Origin`), `Ok(None)` when no CORS applies (no `Origin`, or the
/// worker's own origin), and 403 when the key does not allow that origin.
pub fn check_origin(
    origin: Option<&str>,
    own_origin: &str,
    principal: &Principal,
) -> Result<Option<String>, AppError> {
    let Some(origin) = origin.map(str::trim).filter(|o| !o.is_empty()) else {
        return Ok(None);
    };
    if origin.eq_ignore_ascii_case(own_origin) {
        return Ok(None);
    }
    if crate::security::keys::origin_allowed(origin, &principal.allowed_origins) {
        return Ok(Some(origin.to_string()));
    }
    Err(AppError::Forbidden(format!(
        "Origin '{}' may not use this key; add it to the key's allowed_origins.",
        crate::processors::level::truncate_for_message(origin)
    )))
}

pub fn unauthorized_missing() -> AppError {
    AppError::Unauthorized(
        "An API key is required: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'.".into(),
    )
}

pub fn unauthorized_unknown() -> AppError {
    AppError::Unauthorized("The API key is not valid.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_sources_in_order() {
        let cases = [
            (
                (Some("Bearer abc"), None, None),
                Some(Credential::Header("abc".into())),
            ),
            (
                (Some("bearer   abc "), None, None),
                Some(Credential::Header("abc".into())),
            ),
            (
                (Some("abc"), None, None),
                Some(Credential::Header("abc".into())),
            ),
            (
                (None, Some("k1"), None),
                Some(Credential::Header("k1".into())),
            ),
            (
                (None, None, Some("q1")),
                Some(Credential::Query("q1".into())),
            ),
            (
                (Some("Bearer h"), Some("k"), Some("q")),
                Some(Credential::Header("h".into())),
            ),
            (
                (Some("Bearer "), Some("k"), None),
                Some(Credential::Header("k".into())),
            ),
            ((Some(""), Some(" "), Some("")), None),
            ((None, None, None), None),
            // Elasticsearch clients: ApiKey as is, ApiKey of base64("id:key"), Basic.
            (
                (Some("ApiKey elk_abc"), None, None),
                Some(Credential::Header("elk_abc".into())),
            ),
            (
                (Some("ApiKey aWQ6ZWxrX2FiYw=="), None, None),
                Some(Credential::Header("elk_abc".into())),
            ),
            (
                (Some("Basic ZWxhc3RpYzplbGtfYWJj"), None, None),
                Some(Credential::Header("elk_abc".into())),
            ),
            (
                (Some("Basic ZWxrX2FiYzo="), None, None),
                Some(Credential::Header("elk_abc".into())),
            ),
            (
                (Some("Basic !!!"), None, Some("q")),
                Some(Credential::Query("q".into())),
            ),
        ];
        for ((auth, key, query), expected) in cases {
            assert_eq!(
                extract_credential(auth, key, query),
                expected,
                "{auth:?} {key:?} {query:?}"
            );
        }
    }

    #[test]
    fn sentry_auth() {
        let header = "Sentry sentry_version=7, sentry_client=sentry.javascript.node/9.0.0, sentry_key=elk_abc123";
        assert_eq!(
            sentry_credential(Some(header), None),
            Some(Credential::Header("elk_abc123".into()))
        );
        assert_eq!(
            sentry_credential(None, Some("elk_q")),
            Some(Credential::Query("elk_q".into()))
        );
        assert_eq!(
            sentry_credential(Some("Sentry sentry_version=7"), None),
            None
        );
        assert_eq!(sentry_credential(None, None), None);
    }

    #[test]
    fn admin_token_matching() {
        let header = Credential::Header("dev-admin-token".into());
        assert_eq!(
            match_admin_token(&header, Some("dev-admin-token")).unwrap(),
            Some(Principal::admin_token())
        );
        assert_eq!(
            match_admin_token(
                &Credential::Header("dev-admin-tokeN".into()),
                Some("dev-admin-token")
            )
            .unwrap(),
            None
        );
        assert_eq!(
            match_admin_token(&Credential::Header("dev".into()), Some("dev-admin-token")).unwrap(),
            None
        );
        assert_eq!(
            match_admin_token(&header, None).unwrap(),
            None,
            "no token configured: nothing matches"
        );
        assert_eq!(
            match_admin_token(&Credential::Header(String::new()), Some("")).unwrap(),
            None
        );
        let err = match_admin_token(
            &Credential::Query("dev-admin-token".into()),
            Some("dev-admin-token"),
        )
        .unwrap_err();
        assert_eq!(err.status(), 401);
    }

    fn record(scopes: &[&str], plain: &str) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            prefix: plain[..12].into(),
            hash: crate::security::keys::hash_key(plain),
            name: "n".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            project: Some("shop".into()),
            allowed_origins: vec![],
            rate_limit: RateTier::Default,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            revoked_at: None,
        }
    }

    #[test]
    fn keys_authorize_by_hash_scope_and_place() {
        let plain = "elk_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let ingest = record(&["ingest"], plain);
        let header = Credential::Header(plain.into());
        let query = Credential::Query(plain.into());
        assert_eq!(
            authorize_key(&header, Some(&ingest))
                .unwrap()
                .project
                .as_deref(),
            Some("shop")
        );
        assert!(
            authorize_key(&query, Some(&ingest)).is_ok(),
            "ingest keys may ride in the URL"
        );
        let reader = record(&["read"], plain);
        assert_eq!(
            authorize_key(&query, Some(&reader)).unwrap_err().status(),
            401
        );
        assert!(authorize_key(&header, Some(&reader)).is_ok());
        let revoked = KeyRecord {
            revoked_at: Some("2026-01-02T00:00:00.000Z".into()),
            ..ingest.clone()
        };
        assert_eq!(
            authorize_key(&header, Some(&revoked)).unwrap_err().status(),
            401
        );
        assert_eq!(
            authorize_key(&Credential::Header(format!("{plain}x")), Some(&ingest))
                .unwrap_err()
                .status(),
            401
        );
        assert_eq!(authorize_key(&header, None).unwrap_err().status(), 401);
    }

    #[test]
    fn origins_of_browser_requests() {
        let browser = Principal {
            allowed_origins: vec!["https://app.example.com".into()],
            scopes: vec![Scope::Ingest],
            ..Principal::admin_token()
        };
        let admin = Principal::admin_token();
        let own = "https://logger.example.com";
        assert_eq!(
            check_origin(None, own, &admin).unwrap(),
            None,
            "curl and servers send no Origin"
        );
        assert_eq!(
            check_origin(Some("https://logger.example.com"), own, &admin).unwrap(),
            None,
            "same origin"
        );
        assert_eq!(
            check_origin(Some("https://app.example.com"), own, &browser).unwrap(),
            Some("https://app.example.com".into())
        );
        assert_eq!(
            check_origin(Some("https://evil.example"), own, &browser)
                .unwrap_err()
                .status(),
            403
        );
        assert_eq!(
            check_origin(Some("https://app.example.com"), own, &admin)
                .unwrap_err()
                .status(),
            403,
            "admin token never from a page"
        );
        assert_eq!(
            check_origin(Some("null"), own, &browser)
                .unwrap_err()
                .status(),
            403
        );
    }

    #[test]
    fn project_scoping() {
        let admin = Principal::admin_token();
        let shop = Principal {
            project: Some("shop".into()),
            scopes: vec![Scope::Read],
            ..Principal::admin_token()
        };
        assert_eq!(scope_project(&admin, None).unwrap(), None);
        assert_eq!(
            scope_project(&admin, Some("blog".into())).unwrap(),
            Some("blog".into())
        );
        assert_eq!(scope_project(&shop, None).unwrap(), Some("shop".into()));
        assert_eq!(
            scope_project(&shop, Some("shop".into())).unwrap(),
            Some("shop".into())
        );
        assert_eq!(
            scope_project(&shop, Some("blog".into()))
                .unwrap_err()
                .status(),
            403
        );
        assert!(can_see(&admin, Some("blog")) && can_see(&admin, None));
        assert!(can_see(&shop, Some("shop")));
        assert!(!can_see(&shop, Some("blog")) && !can_see(&shop, None));
    }

    #[test]
    fn scopes() {
        let admin = Principal::admin_token();
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
            assert!(admin.require(scope).is_ok());
        }
        let ingest_only = Principal {
            scopes: vec![Scope::Ingest],
            ..Principal::admin_token()
        };
        assert!(ingest_only.require(Scope::Ingest).is_ok());
        assert_eq!(ingest_only.require(Scope::Read).unwrap_err().status(), 403);
    }
}
