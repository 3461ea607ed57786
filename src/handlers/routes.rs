//! The route table: one row per method and path, with who may call it and the handler that
//! answers. Matching, 404/405, CORS preflights, scopes, metric labels and the dispatch are all
//! derived from it, and a test holds the OpenAPI document to it. Adding a route is adding a row.

use crate::error::AppError;
use crate::security::auth::Scope;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: the dashboard's entry, the health check, the document.
    Public,
    /// A key with this scope; the browser origin is checked and the key rate-limited.
    Key(Scope),
    /// A key with this scope, neither origin-checked nor rate-limited (Prometheus scrapes).
    Scrape(Scope),
    /// An ingest key in a header or, for `navigator.sendBeacon` (which can set no header), in
    /// `?key=` with a `text/plain` body. `?key=` is refused everywhere else: a key in a URL
    /// lands in logs and histories.
    Beacon,
    /// An ingest key in the usual places or, for a Sentry `tunnel`, inside the envelope.
    EnvelopeKey,
    /// A read key, or a short-lived tail ticket in `?ticket=` (browsers' WebSockets).
    KeyOrTicket,
}

/// One route: a method, a path pattern (`{name}` is one non-empty segment), who may call it,
/// and (in the worker) the handler. The pattern is also the route's metrics label.
pub struct RouteRow {
    pub method: &'static str,
    pub pattern: &'static str,
    pub access: Access,
    #[cfg(target_arch = "wasm32")]
    pub(crate) handler: super::Handler,
}

impl RouteRow {
    /// The scope a caller needs; `None` for the public routes, which take no key.
    pub fn scope(&self) -> Option<Scope> {
        self.access.scope()
    }
}

impl Access {
    /// The scope a caller needs; `None` for the public routes, which take no key.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Access::Public => None,
            Access::Key(scope) | Access::Scrape(scope) => Some(scope),
            Access::Beacon | Access::EnvelopeKey => Some(Scope::Ingest),
            Access::KeyOrTicket => Some(Scope::Read),
        }
    }
}

/// Rows in matching order: the first row whose method and pattern match answers.
macro_rules! route_table {
    ($($method:ident $pattern:literal $access:expr => |$call:ident| $run:expr;)*) => {
        pub static ROUTES: &[RouteRow] = &[$(RouteRow {
            method: stringify!($method),
            pattern: $pattern,
            access: $access,
            #[cfg(target_arch = "wasm32")]
            handler: |$call| Box::pin($run),
        }),*];
    };
}

use Access::{Beacon, EnvelopeKey, Key, KeyOrTicket, Public, Scrape};
use Scope::{Admin, Ingest, Read, Sourcemaps};

route_table! {
    GET    "/"                            Public => |c| super::root(c);
    GET    "/health"                      Public => |c| super::health::health(c);
    GET    "/openapi.json"                Public => |c| super::openapi(c);
    GET    "/metrics"                     Scrape(Read) => |c| super::metrics::serve(c);
    POST   "/v1/logs"                     Beacon => |c| super::ingest::ingest(c);
    POST   "/otlp/v1/logs"                Key(Ingest) => |c| super::ingest::ingest_otlp(c);
    POST   "/loki/api/v1/push"            Key(Ingest) => |c| super::ingest::ingest_loki(c);
    GET    "/loki/api/v1/query_range"     Key(Read) => |c| super::loki_read::query_range(c);
    POST   "/loki/api/v1/query_range"     Key(Read) => |c| super::loki_read::query_range(c);
    GET    "/loki/api/v1/query"           Key(Read) => |c| super::loki_read::query(c);
    POST   "/loki/api/v1/query"           Key(Read) => |c| super::loki_read::query(c);
    GET    "/loki/api/v1/labels"          Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/label/{name}/values" Key(Read) => |c| super::loki_read::label_values(c);
    GET    "/loki/api/v1/series"          Key(Read) => |c| super::loki_read::catalogue(c);
    POST   "/loki/api/v1/series"          Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/index/stats"     Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/index/volume"    Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/index/volume_range" Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/detected_labels" Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/detected_fields" Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/patterns"        Key(Read) => |c| super::loki_read::catalogue(c);
    GET    "/loki/api/v1/format_query"    Key(Read) => |c| super::loki_read::format_query(c);
    POST   "/loki/api/v1/format_query"    Key(Read) => |c| super::loki_read::format_query(c);
    GET    "/loki/api/v1/status/buildinfo" Key(Read) => |c| super::loki_read::buildinfo(c);
    GET    "/loki/api/v1/tail"            Key(Read) => |c| super::loki_read::tail(c);
    POST   "/api/{project}/envelope"      EnvelopeKey => |c| super::ingest::ingest_sentry(c);
    POST   "/_bulk"                       Key(Ingest) => |c| super::ingest::ingest_bulk(c);
    PUT    "/_bulk"                       Key(Ingest) => |c| super::ingest::ingest_bulk(c);
    POST   "/{index}/_bulk"               Key(Ingest) => |c| super::ingest::ingest_bulk(c);
    PUT    "/{index}/_bulk"               Key(Ingest) => |c| super::ingest::ingest_bulk(c);
    GET    "/_license"                    Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_xpack"                      Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_cluster/health"             Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_cat/health"                 Key(Ingest) => |c| super::elastic::cat_health(c);
    GET    "/_refresh"                    Key(Ingest) => |c| super::elastic::probe(c);
    POST   "/_refresh"                    Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/{index}/_refresh"            Key(Ingest) => |c| super::elastic::probe(c);
    POST   "/{index}/_refresh"            Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_index_template/{name}"      Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_index_template/{name}"      Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_index_template/{name}"      Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_template/{name}"            Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_template/{name}"            Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_template/{name}"            Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_component_template/{name}"  Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_component_template/{name}"  Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_component_template/{name}"  Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_ilm/policy/{name}"          Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_ilm/policy/{name}"          Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_ilm/policy/{name}"          Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_ingest/pipeline/{name}"     Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_ingest/pipeline/{name}"     Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_ingest/pipeline/{name}"     Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/_data_stream/{name}"         Key(Ingest) => |c| super::elastic::probe(c);
    PUT    "/_data_stream/{name}"         Key(Ingest) => |c| super::elastic::probe(c);
    DELETE "/_data_stream/{name}"         Key(Ingest) => |c| super::elastic::probe(c);
    GET    "/v1/logs"                     Key(Read) => |c| super::logs::list(c);
    GET    "/v1/logs/{id}"                Key(Read) => |c| super::logs::get(c);
    GET    "/v1/recent"                   Key(Read) => |c| super::logs::recent(c);
    GET    "/v1/stats"                    Key(Read) => |c| super::stats::stats(c);
    GET    "/v1/aggregate"                Key(Read) => |c| super::stats::aggregate(c);
    GET    "/v1/tail"                     KeyOrTicket => |c| super::tail::connect(c);
    POST   "/v1/tail/ticket"              Key(Read) => |c| super::tail::ticket(c);
    GET    "/v1/groups"                   Key(Read) => |c| super::groups::list(c);
    GET    "/v1/groups/{fingerprint}"     Key(Read) => |c| super::groups::get(c);
    PUT    "/v1/groups/{fingerprint}"     Key(Admin) => |c| super::groups::set_status(c);
    POST   "/v1/groups/{fingerprint}/notes" Key(Admin) => |c| super::groups::add_note(c);
    POST   "/v1/groups/{fingerprint}/tickets" Key(Admin) => |c| super::groups::open_ticket(c);
    GET    "/v1/groups/{fingerprint}/activity" Key(Read) => |c| super::groups::activity(c);
    POST   "/v1/groups/{fingerprint}/merge" Key(Admin) => |c| super::groups::merge(c);
    DELETE "/v1/groups/{fingerprint}/merge" Key(Admin) => |c| super::groups::unmerge(c);
    DELETE "/v1/groups/{fingerprint}/merge/{source}" Key(Admin) => |c| super::groups::unmerge(c);
    GET    "/v1/releases"                 Key(Read) => |c| super::releases::list(c);
    GET    "/v1/releases/{release}"       Key(Read) => |c| super::releases::get(c);
    GET    "/v1/releases/{release}/sourcemaps" Key(Read) => |c| super::sourcemaps::list(c);
    POST   "/v1/releases/{release}/sourcemaps" Key(Sourcemaps) => |c| super::sourcemaps::upload(c);
    DELETE "/v1/releases/{release}/sourcemaps" Key(Sourcemaps) => |c| super::sourcemaps::delete(c);
    GET    "/api/0/organizations/{org}/chunk-upload" Key(Sourcemaps) => |c| super::sourcemaps::chunk_options(c);
    POST   "/api/0/organizations/{org}/chunk-upload" Key(Sourcemaps) => |c| super::sourcemaps::upload_chunks(c);
    POST   "/api/0/organizations/{org}/artifactbundle/assemble" Key(Sourcemaps) => |c| super::sourcemaps::assemble(c);
    GET    "/v1/alert-rules"              Key(Read) => |c| super::alerts::list_rules(c);
    POST   "/v1/alert-rules"              Key(Admin) => |c| super::alerts::create_rule(c);
    POST   "/v1/alert-rules/test"         Key(Admin) => |c| super::alerts::test_channels(c);
    GET    "/v1/alert-rules/{id}"         Key(Read) => |c| super::alerts::get_rule(c);
    PUT    "/v1/alert-rules/{id}"         Key(Admin) => |c| super::alerts::update_rule(c);
    DELETE "/v1/alert-rules/{id}"         Key(Admin) => |c| super::alerts::delete_rule(c);
    GET    "/v1/alerts"                   Key(Read) => |c| super::alerts::list_alerts(c);
    GET    "/v1/ingest-rules"             Key(Read) => |c| super::ingest_rules::list(c);
    POST   "/v1/ingest-rules"             Key(Admin) => |c| super::ingest_rules::create(c);
    DELETE "/v1/ingest-rules/{id}"        Key(Admin) => |c| super::ingest_rules::delete(c);
    GET    "/v1/assign-rules"             Key(Read) => |c| super::assign_rules::list(c);
    PUT    "/v1/assign-rules"             Key(Admin) => |c| super::assign_rules::replace(c);
    POST   "/v1/assign-rules"             Key(Admin) => |c| super::assign_rules::append(c);
    DELETE "/v1/assign-rules/{id}"        Key(Admin) => |c| super::assign_rules::delete(c);
    GET    "/v1/keys"                     Key(Admin) => |c| super::keys::list(c);
    POST   "/v1/keys"                     Key(Admin) => |c| super::keys::create(c);
    DELETE "/v1/keys/{id}"                Key(Admin) => |c| super::keys::revoke(c);
    GET    "/v1/dead-letters"             Key(Admin) => |c| super::dead_letters::list(c);
    POST   "/v1/dead-letters/replay"      Key(Admin) => |c| super::dead_letters::replay(c);
    POST   "/v1/archive/restore"          Key(Admin) => |c| super::archive::restore(c);
    GET    "/v1/storage"                  Key(Admin) => |c| super::storage::report(c);
    GET    "/v1/usage"                    Key(Read) => |c| super::usage::usage(c);
    GET    "/v1/projects/{project}/quota" Key(Read) => |c| super::quotas::get(c);
    PUT    "/v1/projects/{project}/quota" Key(Admin) => |c| super::quotas::put(c);
    DELETE "/v1/projects/{project}/quota" Key(Admin) => |c| super::quotas::delete(c);
}

/// A matched route: its row and the path's values for the pattern's `{name}` segments,
/// percent-decoded (`1.0%20beta` is `1.0 beta`).
#[derive(Debug)]
pub struct Matched {
    pub row: &'static RouteRow,
    params: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for RouteRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

impl Matched {
    /// The value of `{name}` in the path; empty when the pattern has no such segment.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// The value of `{name}`, or `None` when the pattern has no such segment.
    pub fn optional_param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a request comes to.
#[derive(Debug)]
pub enum Routed {
    Route(Matched),
    /// A CORS preflight (`OPTIONS`) for a path of the table.
    Preflight,
}

impl Routed {
    /// The metrics label: the row's pattern (bounded cardinality, never a raw path).
    pub fn label(&self) -> &'static str {
        match self {
            Routed::Route(matched) => matched.row.pattern,
            Routed::Preflight => "preflight",
        }
    }
}

/// A path segment as the client meant it; bytes that do not decode to UTF-8 stay as they came.
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

/// The pattern's parameters for these segments, or `None` when the pattern does not match.
fn match_pattern(pattern: &'static str, segments: &[&str]) -> Option<Vec<(&'static str, String)>> {
    let pattern_segments = pattern.trim_start_matches('/').split('/');
    if pattern_segments.clone().count() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (expected, actual) in pattern_segments.zip(segments) {
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !actual.is_empty() => params.push((name, percent_decoded(actual))),
            Some(_) => return None,
            None if expected == *actual => {}
            None => return None,
        }
    }
    Some(params)
}

/// The order of methods in an `Allow` header.
const METHOD_ORDER: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

pub fn match_route(method: &str, path: &str) -> Result<Routed, AppError> {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = if method == "HEAD" { "GET" } else { method };
    let mut allowed: Vec<&'static str> = Vec::new();
    for row in ROUTES {
        let Some(params) = match_pattern(row.pattern, &segments) else {
            continue;
        };
        if row.method == method {
            return Ok(Routed::Route(Matched { row, params }));
        }
        if !allowed.contains(&row.method) {
            allowed.push(row.method);
        }
    }
    match (method, allowed.is_empty()) {
        (_, true) => Err(AppError::NotFound(format!(
            "No route {path}; see /openapi.json for the API."
        ))),
        ("OPTIONS", false) => Ok(Routed::Preflight),
        (_, false) => {
            allowed.sort_by_key(|m| METHOD_ORDER.iter().position(|o| o == m));
            Err(AppError::MethodNotAllowed(allowed.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(method: &str, path: &str) -> (&'static str, Vec<(&'static str, String)>) {
        match match_route(method, path).unwrap() {
            Routed::Route(m) => (m.row.pattern, m.params),
            Routed::Preflight => ("preflight", vec![]),
        }
    }

    #[test]
    fn routes() {
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            &'static [(&'static str, &'static str)],
        );
        let cases: &[Case] = &[
            ("GET", "/", "/", &[]),
            ("HEAD", "/", "/", &[]),
            ("HEAD", "/health", "/health", &[]),
            ("POST", "/v1/logs", "/v1/logs", &[]),
            ("POST", "/v1/logs/", "/v1/logs", &[]),
            ("GET", "/v1/logs/abc", "/v1/logs/{id}", &[("id", "abc")]),
            (
                "PUT",
                "/v1/groups/0f00",
                "/v1/groups/{fingerprint}",
                &[("fingerprint", "0f00")],
            ),
            (
                "DELETE",
                "/v1/groups/a/merge/b",
                "/v1/groups/{fingerprint}/merge/{source}",
                &[("fingerprint", "a"), ("source", "b")],
            ),
            (
                "GET",
                "/v1/releases/1.0%20beta",
                "/v1/releases/{release}",
                &[("release", "1.0 beta")],
            ),
            (
                "GET",
                "/v1/releases/shop%401.0/sourcemaps",
                "/v1/releases/{release}/sourcemaps",
                &[("release", "shop@1.0")],
            ),
            (
                "PUT",
                "/logs-app/_bulk",
                "/{index}/_bulk",
                &[("index", "logs-app")],
            ),
            (
                "HEAD",
                "/_index_template/filebeat",
                "/_index_template/{name}",
                &[("name", "filebeat")],
            ),
            ("OPTIONS", "/v1/logs", "preflight", &[]),
        ];
        for (method, path, pattern, params) in cases {
            let (got, got_params) = routed(method, path);
            assert_eq!(got, *pattern, "{method} {path}");
            let params: Vec<(&str, String)> =
                params.iter().map(|(n, v)| (*n, v.to_string())).collect();
            assert_eq!(got_params, params, "{method} {path}");
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
            ("GET", "/_unknown_probe", 404),
            ("DELETE", "/_refresh", 405),
            ("POST", "/_license", 405),
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

    /// A bad index name, `_`-prefixed too, reaches the bulk handler and its 400 that says why,
    /// never a 405 naming the very method that was used.
    #[test]
    fn any_index_name_is_the_bulk_api() {
        for (method, path) in [
            ("PUT", "/__main__/_bulk"),
            ("POST", "/_x/_bulk"),
            ("POST", "/Logs/_bulk"),
        ] {
            assert_eq!(routed(method, path).0, "/{index}/_bulk", "{method} {path}");
        }
    }

    /// Each row answers its own method and path (no earlier row shadows it), and no two rows
    /// declare the same method and pattern.
    #[test]
    fn every_row_routes_to_itself() {
        for row in ROUTES {
            let path = row
                .pattern
                .split('/')
                .map(|s| if s.starts_with('{') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(routed(row.method, &path).0, row.pattern, "{row:?}");
            let same = ROUTES
                .iter()
                .filter(|r| r.method == row.method && r.pattern == row.pattern)
                .count();
            assert_eq!(same, 1, "{row:?} is declared {same} times");
        }
    }

    /// Every route but the public three needs a key; a read key changes nothing but its own
    /// tail ticket (Loki's read routes take their parameters as a form POST too, and change
    /// nothing), and an ingest key only sends (and answers agents' probes).
    #[test]
    fn scopes() {
        for row in ROUTES {
            let public = ["/", "/health", "/openapi.json"].contains(&row.pattern);
            assert_eq!(row.scope().is_none(), public, "{row:?}");
            if row.method != "GET" && row.scope() == Some(Scope::Read) {
                let loki_read =
                    row.pattern.starts_with("/loki/api/v1/") && row.pattern != "/loki/api/v1/push";
                assert!(row.pattern == "/v1/tail/ticket" || loki_read, "{row:?}");
            }
            // What an ingest key may read is Elasticsearch's API (`_license`, `/{index}/_refresh`).
            if row.method == "GET" && row.scope() == Some(Scope::Ingest) {
                let elastic = row.pattern.split('/').any(|s| s.starts_with('_'));
                assert!(elastic, "{row:?}");
            }
        }
    }
}
