//! Who is calling and what they may do. Pure: the edge reads headers and secrets and hands
//! them in. Today the only credential is the deployment's admin token; scoped keys (issue
//! "keys and scopes") resolve to the same `Principal` through `KeyResolver` at the edge.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ingest,
    Read,
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

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
}

impl Principal {
    pub fn admin_token() -> Self {
        Principal {
            key_id: "admin-token".into(),
            scopes: vec![Scope::Ingest, Scope::Read, Scope::Admin],
            project: None,
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

/// `Authorization: Bearer <t>` first, then `X-Api-Key: <t>`, then `?key=<t>`.
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
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => header,
        };
        if !token.is_empty() {
            return Some(Credential::Header(token.to_string()));
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

    #[test]
    fn scopes() {
        let admin = Principal::admin_token();
        for scope in [Scope::Ingest, Scope::Read, Scope::Admin] {
            assert!(admin.require(scope).is_ok());
        }
        let ingest_only = Principal {
            key_id: "k".into(),
            scopes: vec![Scope::Ingest],
            project: None,
        };
        assert!(ingest_only.require(Scope::Ingest).is_ok());
        assert_eq!(ingest_only.require(Scope::Read).unwrap_err().status(), 403);
    }
}
