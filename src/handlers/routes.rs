//! The route table: method and path into a `Route`, 404/405 as contract errors. Pure, so that
//! the table is tested natively and later checked against the OpenAPI document.

use crate::error::AppError;
use crate::security::auth::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the dashboard for a browser, a pointer to the API for a JSON client.
    Root,
    Health,
    OpenApi,
    Metrics,
    SentryEnvelope,
    IngestOtlp,
    IngestLoki,
    IngestLogs,
    ListLogs,
    GetLog(String),
    Recent,
    ListGroups,
    GetGroup(String),
    Stats,
    CreateKey,
    ListKeys,
    RevokeKey(String),
    ListAlertRules,
    CreateAlertRule,
    GetAlertRule(String),
    UpdateAlertRule(String),
    DeleteAlertRule(String),
    ListAlerts,
    SetGroupStatus(String),
    ListDeadLetters,
    ReplayDeadLetters,
    RestoreArchive,
    /// `GET /v1/storage`: the event shards and the capacity left.
    Storage,
    /// `GET /v1/tail`: a WebSocket of matching events as they are accepted.
    Tail,
    /// `POST /v1/tail/ticket`: a short-lived ticket to open a tail without a header.
    TailTicket,
    /// sentry-cli's upload protocol: `GET|POST /api/0/organizations/{org}/chunk-upload/`.
    ChunkUploadOptions,
    ChunkUpload,
    /// `POST /api/0/organizations/{org}/artifactbundle/assemble/`.
    AssembleBundle,
    /// `POST|GET|DELETE /v1/releases/{release}/sourcemaps`.
    UploadSourcemap(String),
    ListSourcemaps(String),
    DeleteSourcemaps(String),
    /// `POST /v1/groups/{fingerprint}/notes`, `GET /v1/groups/{fingerprint}/activity`.
    AddGroupNote(String),
    GroupActivity(String),
    /// `POST /v1/groups/{fingerprint}/merge`; `DELETE` it (with a list) or
    /// `DELETE /v1/groups/{fingerprint}/merge/{source}` to unmerge.
    MergeGroups(String),
    UnmergeGroups(String, Option<String>),
    /// `GET|PUT|POST /v1/assign-rules`, `DELETE /v1/assign-rules/{id}`.
    ListAssignRules,
    ReplaceAssignRules,
    AddAssignRule,
    DeleteAssignRule(String),
    /// `GET /v1/releases` and `GET /v1/releases/{release}`.
    ListReleases,
    GetRelease(String),
    /// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's bulk API.
    ElasticBulk(Option<String>),
    /// What Elasticsearch clients ask before they send (licence, templates, policies), with
    /// its answer (JSON text), found once while routing.
    ElasticProbe(String),
    /// A CORS preflight (`OPTIONS`) for any route of the table.
    Preflight,
}

/// The OpenAPI 3.1 document, served at `/openapi.json` as a static asset (the build copies it
/// next to the dashboard, so its 17 KB gzipped stay out of the wasm); a test keeps it in step
/// with `TABLE`.
#[cfg(test)]
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// `(path pattern, allowed methods)` for 405 answers; `{id}` is one segment.
const TABLE: &[(&str, &str)] = &[
    ("/", "GET, HEAD"),
    ("/health", "GET, HEAD"),
    ("/openapi.json", "GET"),
    ("/metrics", "GET"),
    ("/v1/logs", "GET, POST"),
    ("/otlp/v1/logs", "POST"),
    ("/loki/api/v1/push", "POST"),
    ("/api/{project}/envelope", "POST"),
    ("/v1/logs/{id}", "GET"),
    ("/v1/recent", "GET"),
    ("/v1/groups", "GET"),
    ("/v1/groups/{fingerprint}", "GET, PUT"),
    ("/v1/stats", "GET"),
    ("/v1/keys", "GET, POST"),
    ("/v1/keys/{id}", "DELETE"),
    ("/v1/alert-rules", "GET, POST"),
    ("/v1/alert-rules/{id}", "GET, PUT, DELETE"),
    ("/v1/alerts", "GET"),
    ("/v1/dead-letters", "GET"),
    ("/v1/dead-letters/replay", "POST"),
    ("/v1/archive/restore", "POST"),
    ("/v1/storage", "GET"),
    ("/v1/tail", "GET"),
    ("/v1/tail/ticket", "POST"),
    ("/api/0/organizations/{org}/chunk-upload", "GET, POST"),
    ("/api/0/organizations/{org}/artifactbundle/assemble", "POST"),
    ("/v1/releases/{release}/sourcemaps", "GET, POST, DELETE"),
    ("/v1/releases", "GET"),
    ("/v1/groups/{fingerprint}/notes", "POST"),
    ("/v1/groups/{fingerprint}/activity", "GET"),
    ("/v1/groups/{fingerprint}/merge", "POST, DELETE"),
    ("/v1/groups/{fingerprint}/merge/{source}", "DELETE"),
    ("/v1/assign-rules", "GET, PUT, POST"),
    ("/v1/assign-rules/{id}", "DELETE"),
    ("/v1/releases/{release}", "GET"),
    ("/_bulk", "POST, PUT"),
    ("/{index}/_bulk", "POST, PUT"),
    ("/_license", "GET"),
    ("/_xpack", "GET"),
    ("/_cluster/health", "GET"),
    ("/_index_template/{name}", "GET, PUT, DELETE"),
    ("/_template/{name}", "GET, PUT, DELETE"),
    ("/_component_template/{name}", "GET, PUT, DELETE"),
    ("/_ilm/policy/{name}", "GET, PUT, DELETE"),
    ("/_ingest/pipeline/{name}", "GET, PUT, DELETE"),
    ("/_data_stream/{name}", "GET, PUT, DELETE"),
];

impl Route {
    /// The route's path pattern, for metrics labels (bounded cardinality, never raw paths).
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::Root => "/",
            Route::Health => "/health",
            Route::OpenApi => "/openapi.json",
            Route::IngestLogs | Route::ListLogs => "/v1/logs",
            Route::IngestOtlp => "/otlp/v1/logs",
            Route::IngestLoki => "/loki/api/v1/push",
            Route::SentryEnvelope => "/api/{project}/envelope",
            Route::GetLog(_) => "/v1/logs/{id}",
            Route::Recent => "/v1/recent",
            Route::ListGroups => "/v1/groups",
            Route::GetGroup(_) | Route::SetGroupStatus(_) => "/v1/groups/{fingerprint}",
            Route::Stats => "/v1/stats",
            Route::CreateKey | Route::ListKeys => "/v1/keys",
            Route::RevokeKey(_) => "/v1/keys/{id}",
            Route::ListAlertRules | Route::CreateAlertRule => "/v1/alert-rules",
            Route::GetAlertRule(_) | Route::UpdateAlertRule(_) | Route::DeleteAlertRule(_) => {
                "/v1/alert-rules/{id}"
            }
            Route::ListAlerts => "/v1/alerts",
            Route::ListDeadLetters => "/v1/dead-letters",
            Route::ReplayDeadLetters => "/v1/dead-letters/replay",
            Route::RestoreArchive => "/v1/archive/restore",
            Route::Storage => "/v1/storage",
            Route::Tail => "/v1/tail",
            Route::TailTicket => "/v1/tail/ticket",
            Route::ChunkUploadOptions | Route::ChunkUpload => {
                "/api/0/organizations/{org}/chunk-upload"
            }
            Route::AssembleBundle => "/api/0/organizations/{org}/artifactbundle/assemble",
            Route::UploadSourcemap(_) | Route::ListSourcemaps(_) | Route::DeleteSourcemaps(_) => {
                "/v1/releases/{release}/sourcemaps"
            }
            Route::ListReleases => "/v1/releases",
            Route::AddGroupNote(_) => "/v1/groups/{fingerprint}/notes",
            Route::GroupActivity(_) => "/v1/groups/{fingerprint}/activity",
            Route::MergeGroups(_) | Route::UnmergeGroups(_, None) => {
                "/v1/groups/{fingerprint}/merge"
            }
            Route::UnmergeGroups(_, Some(_)) => "/v1/groups/{fingerprint}/merge/{source}",
            Route::ListAssignRules | Route::ReplaceAssignRules | Route::AddAssignRule => {
                "/v1/assign-rules"
            }
            Route::DeleteAssignRule(_) => "/v1/assign-rules/{id}",
            Route::GetRelease(_) => "/v1/releases/{release}",
            Route::ElasticBulk(None) => "/_bulk",
            Route::ElasticBulk(Some(_)) => "/{index}/_bulk",
            Route::ElasticProbe(_) => "elasticsearch probe",
            Route::Metrics => "/metrics",
            Route::Preflight => "preflight",
        }
    }
}

impl Route {
    /// The scope a caller needs; `None` for the public routes, which take no key.
    pub fn scope(&self) -> Option<Scope> {
        use Route::*;
        match self {
            Root | Health | OpenApi | Preflight => None,
            IngestLogs | IngestOtlp | IngestLoki | SentryEnvelope | ElasticBulk(_)
            | ElasticProbe(_) => Some(Scope::Ingest),
            Metrics | ListLogs | GetLog(_) | Recent | ListGroups | GetGroup(_) | Stats
            | ListAlertRules | GetAlertRule(_) | ListAlerts | Tail | TailTicket
            | ListSourcemaps(_) | ListReleases | GetRelease(_) | GroupActivity(_)
            | ListAssignRules => Some(Scope::Read),
            AddGroupNote(_) | MergeGroups(_) | UnmergeGroups(..) | ReplaceAssignRules
            | AddAssignRule | DeleteAssignRule(_) => Some(Scope::Admin),
            ChunkUploadOptions | ChunkUpload | AssembleBundle | UploadSourcemap(_)
            | DeleteSourcemaps(_) => Some(Scope::Sourcemaps),
            CreateKey | ListKeys | RevokeKey(_) | CreateAlertRule | UpdateAlertRule(_)
            | DeleteAlertRule(_) | SetGroupStatus(_) | ListDeadLetters | ReplayDeadLetters
            | RestoreArchive | Storage => Some(Scope::Admin),
        }
    }
}

/// A path segment as the client meant it (`1.0%20beta` is `1.0 beta`); bytes that do not
/// decode to UTF-8 stay as they came.
pub fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|b| hex(*b)),
            bytes.get(i + 2).and_then(|b| hex(*b)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_string())
}

pub fn match_route(method: &str, path: &str) -> Result<Route, AppError> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = if method == "HEAD" { "GET" } else { method };
    let route = match (method, segments.as_slice()) {
        ("GET", [""]) => Route::Root,
        ("GET", ["health"]) => Route::Health,
        ("GET", ["openapi.json"]) => Route::OpenApi,
        ("GET", ["metrics"]) => Route::Metrics,
        ("POST", ["v1", "logs"]) => Route::IngestLogs,
        ("POST", ["otlp", "v1", "logs"]) => Route::IngestOtlp,
        ("POST", ["loki", "api", "v1", "push"]) => Route::IngestLoki,
        ("POST", ["api", project, "envelope"]) if !project.is_empty() => Route::SentryEnvelope,
        ("GET", ["v1", "logs"]) => Route::ListLogs,
        ("GET", ["v1", "logs", id]) if !id.is_empty() => Route::GetLog(id.to_string()),
        ("GET", ["v1", "recent"]) => Route::Recent,
        ("GET", ["v1", "groups"]) => Route::ListGroups,
        ("GET", ["v1", "groups", fingerprint]) if !fingerprint.is_empty() => {
            Route::GetGroup(fingerprint.to_string())
        }
        ("GET", ["v1", "stats"]) => Route::Stats,
        ("GET", ["v1", "tail"]) => Route::Tail,
        ("POST", ["v1", "tail", "ticket"]) => Route::TailTicket,
        ("GET", ["api", "0", "organizations", org, "chunk-upload"]) if !org.is_empty() => {
            Route::ChunkUploadOptions
        }
        ("POST", ["api", "0", "organizations", org, "chunk-upload"]) if !org.is_empty() => {
            Route::ChunkUpload
        }
        ("POST", ["api", "0", "organizations", org, "artifactbundle", "assemble"])
            if !org.is_empty() =>
        {
            Route::AssembleBundle
        }
        ("POST", ["v1", "releases", release, "sourcemaps"]) if !release.is_empty() => {
            Route::UploadSourcemap(percent_decoded(release))
        }
        ("GET", ["v1", "releases", release, "sourcemaps"]) if !release.is_empty() => {
            Route::ListSourcemaps(percent_decoded(release))
        }
        ("GET", ["v1", "releases"]) => Route::ListReleases,
        ("POST", ["v1", "groups", fingerprint, "notes"]) if !fingerprint.is_empty() => {
            Route::AddGroupNote(fingerprint.to_string())
        }
        ("GET", ["v1", "groups", fingerprint, "activity"]) if !fingerprint.is_empty() => {
            Route::GroupActivity(fingerprint.to_string())
        }
        ("POST", ["v1", "groups", fingerprint, "merge"]) if !fingerprint.is_empty() => {
            Route::MergeGroups(fingerprint.to_string())
        }
        ("DELETE", ["v1", "groups", fingerprint, "merge"]) if !fingerprint.is_empty() => {
            Route::UnmergeGroups(fingerprint.to_string(), None)
        }
        ("DELETE", ["v1", "groups", fingerprint, "merge", source])
            if !fingerprint.is_empty() && !source.is_empty() =>
        {
            Route::UnmergeGroups(fingerprint.to_string(), Some(source.to_string()))
        }
        ("GET", ["v1", "assign-rules"]) => Route::ListAssignRules,
        ("PUT", ["v1", "assign-rules"]) => Route::ReplaceAssignRules,
        ("POST", ["v1", "assign-rules"]) => Route::AddAssignRule,
        ("DELETE", ["v1", "assign-rules", id]) if !id.is_empty() => {
            Route::DeleteAssignRule(id.to_string())
        }
        ("GET", ["v1", "releases", release]) if !release.is_empty() => {
            Route::GetRelease(percent_decoded(release))
        }
        ("DELETE", ["v1", "releases", release, "sourcemaps"]) if !release.is_empty() => {
            Route::DeleteSourcemaps(percent_decoded(release))
        }
        ("POST", ["v1", "keys"]) => Route::CreateKey,
        ("GET", ["v1", "keys"]) => Route::ListKeys,
        ("DELETE", ["v1", "keys", id]) if !id.is_empty() => Route::RevokeKey(id.to_string()),
        ("PUT", ["v1", "groups", fingerprint]) if !fingerprint.is_empty() => {
            Route::SetGroupStatus(fingerprint.to_string())
        }
        ("GET", ["v1", "alert-rules"]) => Route::ListAlertRules,
        ("POST", ["v1", "alert-rules"]) => Route::CreateAlertRule,
        ("GET", ["v1", "alert-rules", id]) if !id.is_empty() => Route::GetAlertRule(id.to_string()),
        ("PUT", ["v1", "alert-rules", id]) if !id.is_empty() => {
            Route::UpdateAlertRule(id.to_string())
        }
        ("DELETE", ["v1", "alert-rules", id]) if !id.is_empty() => {
            Route::DeleteAlertRule(id.to_string())
        }
        ("GET", ["v1", "alerts"]) => Route::ListAlerts,
        ("GET", ["v1", "dead-letters"]) => Route::ListDeadLetters,
        ("POST", ["v1", "dead-letters", "replay"]) => Route::ReplayDeadLetters,
        ("POST", ["v1", "archive", "restore"]) => Route::RestoreArchive,
        ("GET", ["v1", "storage"]) => Route::Storage,
        ("POST" | "PUT", ["_bulk"]) => Route::ElasticBulk(None),
        ("POST" | "PUT", [index, "_bulk"]) if !index.is_empty() => {
            // The name is checked by the handler, so a bad one is a 400 that says why.
            Route::ElasticBulk(Some(index.to_string()))
        }
        ("OPTIONS", _) if allowed_methods(&segments).is_some() => Route::Preflight,
        (method, [probe, ..]) if probe.starts_with('_') => {
            match crate::ingest::formats::elastic::probe_answer(method, &segments) {
                Some(answer) => Route::ElasticProbe(answer),
                None => return Err(miss(path, &segments)),
            }
        }
        _ => return Err(miss(path, &segments)),
    };
    Ok(route)
}

/// 405 with the methods the path allows, else 404.
fn miss(path: &str, segments: &[&str]) -> AppError {
    match allowed_methods(segments) {
        Some(allowed) => AppError::MethodNotAllowed(allowed),
        None => AppError::NotFound(format!("No route {path}; see /openapi.json for the API.")),
    }
}

fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    TABLE.iter().find_map(|(pattern, allowed)| {
        let pattern_segments: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
        let matches = pattern_segments.len() == segments.len()
            && pattern_segments
                .iter()
                .zip(segments)
                .all(|(p, s)| *p == *s || (p.starts_with('{') && !s.is_empty()));
        matches.then_some(*allowed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            ("GET", "/", Route::Root),
            ("HEAD", "/", Route::Root),
            ("GET", "/health", Route::Health),
            ("HEAD", "/health", Route::Health),
            ("POST", "/v1/logs", Route::IngestLogs),
            ("POST", "/v1/logs/", Route::IngestLogs),
            ("GET", "/v1/logs", Route::ListLogs),
            ("GET", "/v1/logs/abc", Route::GetLog("abc".into())),
            ("GET", "/v1/recent", Route::Recent),
            ("GET", "/v1/groups", Route::ListGroups),
            (
                "GET",
                "/v1/groups/0f00b2d9",
                Route::GetGroup("0f00b2d9".into()),
            ),
            ("GET", "/v1/stats", Route::Stats),
            ("POST", "/v1/keys", Route::CreateKey),
            ("GET", "/v1/keys", Route::ListKeys),
            ("DELETE", "/v1/keys/key_1", Route::RevokeKey("key_1".into())),
            ("OPTIONS", "/v1/logs", Route::Preflight),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                match_route(method, path).unwrap(),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn misses_are_404_or_405() {
        let cases = [
            ("POST", "/", 405),
            ("GET", "/v2/logs", 404),
            ("GET", "/v1/logs/a/b", 404),
            ("DELETE", "/v1/logs", 405),
            ("PUT", "/v1/logs/abc", 405),
            ("POST", "/health", 405),
            ("POST", "/v1/recent", 405),
            ("OPTIONS", "/v1/nope", 404),
            ("GET", "/v1/keys/key_1", 405),
        ];
        for (method, path, status) in cases {
            let err = match_route(method, path).unwrap_err();
            assert_eq!(err.status(), status, "{method} {path}");
        }
        assert_eq!(
            match_route("DELETE", "/v1/logs").unwrap_err().allow(),
            Some("GET, POST")
        );
    }

    /// The OpenAPI document and the router list the same routes and methods, so neither can
    /// drift from the other.
    #[test]
    fn openapi_document_matches_the_router() {
        let doc: serde_json::Value =
            serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut documented: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| format!("{} {path}", m.to_uppercase()))
            })
            .collect();
        let mut routed: Vec<String> = TABLE
            .iter()
            .flat_map(|(path, methods)| {
                methods
                    .split(", ")
                    .filter(|m| *m != "HEAD")
                    .map(move |m| format!("{m} {path}"))
            })
            .collect();
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
        // Every $ref points at a schema that exists.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in OPENAPI_JSON
            .split("\"$ref\": \"#/components/schemas/")
            .skip(1)
        {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "missing schema {name}");
        }
    }

    #[test]
    fn scopes() {
        let cases = [
            ("GET", "/", None),
            ("GET", "/health", None),
            ("OPTIONS", "/v1/logs", None),
            ("POST", "/v1/logs", Some(Scope::Ingest)),
            ("POST", "/api/1/envelope", Some(Scope::Ingest)),
            ("GET", "/v1/logs", Some(Scope::Read)),
            ("GET", "/metrics", Some(Scope::Read)),
            ("GET", "/v1/alert-rules/r", Some(Scope::Read)),
            ("PUT", "/v1/alert-rules/r", Some(Scope::Admin)),
            ("PUT", "/v1/groups/f", Some(Scope::Admin)),
            ("GET", "/v1/keys", Some(Scope::Admin)),
            ("GET", "/v1/dead-letters", Some(Scope::Admin)),
            ("GET", "/v1/storage", Some(Scope::Admin)),
            ("POST", "/_bulk", Some(Scope::Ingest)),
            ("PUT", "/logs-app/_bulk", Some(Scope::Ingest)),
            ("HEAD", "/_index_template/filebeat", Some(Scope::Ingest)),
            ("PUT", "/_ilm/policy/filebeat", Some(Scope::Ingest)),
        ];
        for (method, path, scope) in cases {
            assert_eq!(
                match_route(method, path).unwrap().scope(),
                scope,
                "{method} {path}"
            );
        }
    }

    /// A bad index name, `_`-prefixed too, reaches the bulk handler and its 400 that says why,
    /// never a 405 naming the very method that was used.
    #[test]
    fn any_index_name_is_the_bulk_api() {
        for (method, path) in [
            ("PUT", "/__main__/_bulk"),
            ("POST", "/_x/_bulk"),
            ("POST", "/Logs/_bulk"),
        ] {
            let index = path.split('/').nth(1).unwrap().to_string();
            assert_eq!(
                match_route(method, path).unwrap(),
                Route::ElasticBulk(Some(index)),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn every_table_entry_routes() {
        for (pattern, allowed) in TABLE {
            let path = pattern
                .replace("{id}", "x")
                .replace("{fingerprint}", "x")
                .replace("{index}", "x")
                .replace("{name}", "x");
            for method in allowed.split(", ") {
                assert!(match_route(method, &path).is_ok(), "{method} {path}");
            }
        }
    }
}
