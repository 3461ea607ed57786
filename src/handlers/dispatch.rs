//! The HTTP edge: route, authenticate, check the origin and the rate limit, call the handler,
//! and turn every `AppError` into the contract's JSON error body here and nowhere else.

use serde::Serialize;
use worker::{console_error, console_warn, Env, Response};

pub(crate) use crate::platform::incoming::Incoming;

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::routes::{match_route, Access, Matched, Routed};
use super::{elastic, ingest};
use crate::config::Config;
use crate::error::AppError;
use crate::ingest::formats::otlp;
use crate::metrics::recorder;
use crate::model::StoredEvent;
use crate::platform::bindings;
use crate::security::auth::{
    authorize_key, check_origin, extract_credential, match_admin_token, unauthorized_missing,
    unauthorized_unknown, Credential, Principal, RateTier,
};
use crate::security::keys::{lookup_prefix, origin_allowed};

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// What a handler knows about the caller.
pub(crate) struct Caller {
    pub principal: Principal,
    /// True when the key came in `?key=` (navigator.sendBeacon).
    pub key_in_query: bool,
}

/// What the request's `Origin` came to.
enum Cors {
    /// Not looked at yet (the request failed before), or no `Origin`.
    Unchecked,
    /// Cross-origin and allowed: echo this origin.
    Allowed(String),
    /// Same origin, or refused: no CORS headers.
    NoHeaders,
}

/// One request on its way to a handler: the route's row and parameters, the caller, and the
/// platform's handles. Every handler of the route table takes one.
pub(crate) struct Call<'a> {
    pub req: &'a Incoming,
    pub env: &'a Env,
    pub ctx: &'a worker::Context,
    pub url: worker::Url,
    pub config: Rc<Config>,
    pub caller: Caller,
    pub route: Matched,
    /// A Sentry tunnel's envelope, read before authentication (its key is inside).
    pub sentry_body: Cell<Option<Vec<u8>>>,
}

impl Call<'_> {
    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }

    /// The value of the pattern's `{name}` segment.
    pub fn param(&self, name: &str) -> &str {
        self.route.param(name)
    }
}

/// A route table's handler (see `routes::ROUTES`).
pub(crate) type Handler =
    for<'a> fn(&'a Call<'a>) -> Pin<Box<dyn Future<Output = Result<Response, AppError>> + 'a>>;

pub async fn handle(req: Incoming, env: &Env, ctx: &worker::Context) -> Response {
    crate::billing::add(crate::billing::Item::WorkerRequests, 1);
    let origin = req.header("origin").ok().flatten();
    // Parsed and routed once; the route also labels the request's metrics.
    let routed = req
        .url()
        .and_then(|url| match_route(&req.method(), url.path()).map(|routed| (url, routed)));
    let route_label = routed.as_ref().map_or("unmatched", |(_, r)| r.label());
    let mut cors = Cors::Unchecked;
    let outcome = match routed {
        Ok((_, Routed::Preflight)) => {
            // A preflight sets its own headers, and none when it refuses.
            cors = Cors::NoHeaders;
            preflight(&req, env, origin.as_deref()).await
        }
        Ok((url, Routed::Route(matched))) => {
            dispatch(&req, env, ctx, url, matched, origin.as_deref(), &mut cors).await
        }
        Err(err) => Err(err),
    };
    let response = outcome.unwrap_or_else(|err| failure(&req, route_label, &err));
    // A small body nothing read (a refusal, a probe's fixed answer): read it, so that the
    // connection stays usable for the client's next request. Unread, workerd may close it
    // under the client, which then sees a reset instead of its next answer.
    req.discard_unread_body().await;
    let status = response.status_code().to_string();
    let labels = [("route", route_label), ("status", status.as_str())];
    recorder::add("edge_logger_requests_total", &labels, 1.0);
    recorder::flush_later(env, ctx);
    let allow_origin = match (cors, origin) {
        (Cors::Allowed(origin), _) => Some(origin),
        // A request that failed before its origin was checked (a wrong key, say): let the page
        // read why, if some key allows that origin at all.
        (Cors::Unchecked, Some(origin)) if response.status_code() >= 400 => {
            preflight_allows(env, &origin).await.then_some(origin)
        }
        _ => None,
    };
    with_cors(response, allow_origin)
}

/// A failed request's answer: the contract's JSON error, or for an OTLP protobuf request a
/// protobuf `google.rpc.Status`, as OTLP/HTTP says.
fn failure(req: &Incoming, route_label: &str, err: &AppError) -> Response {
    if matches!(err, AppError::RateLimited { .. }) {
        recorder::add("edge_logger_rate_limited_total", &[], 1.0);
    }
    let protobuf = route_label == otlp::PATH
        && otlp::Encoding::of(req.header("content-type").ok().flatten().as_deref())
            .is_ok_and(|e| e == otlp::Encoding::Protobuf);
    error_response(err, protobuf)
}

fn with_cors(mut response: Response, allow_origin: Option<String>) -> Response {
    if let Some(origin) = allow_origin {
        let headers = response.headers_mut();
        let _ = headers.set("access-control-allow-origin", &origin);
        let _ = headers.set("access-control-expose-headers", "retry-after");
        let _ = headers.append("vary", "Origin");
    }
    response
}

async fn preflight_allows(env: &Env, origin: &str) -> bool {
    let (Ok(db), Ok(kv)) = (env.d1(bindings::DB), env.kv(bindings::HOT)) else {
        return false;
    };
    match crate::security::store::allowed_origins(&db, &kv).await {
        Ok(allowed) => origin_allowed(origin, &allowed),
        Err(_) => false,
    }
}

/// Authenticates the caller as the row's access says, checks the origin and the rate limit
/// where it asks for them, and calls the row's handler.
async fn dispatch(
    req: &Incoming,
    env: &Env,
    ctx: &worker::Context,
    url: worker::Url,
    route: Matched,
    origin: Option<&str>,
    cors: &mut Cors,
) -> Result<Response, AppError> {
    let config = Config::get(env);
    let row = route.row;
    let (caller, sentry_body) = identify(req, &url, env, &config, row.access).await?;
    if !matches!(row.access, Access::Public | Access::Scrape(_)) {
        *cors = Cors::NoHeaders;
        if let Some(allowed) = origin_allowed_for(origin, &url, &caller.principal)? {
            *cors = Cors::Allowed(allowed);
        }
        rate_limit(env, &caller.principal).await?;
    }
    permitted(row.access, &caller.principal)?;
    let sentry_body = Cell::new(sentry_body);
    let call = Call {
        req,
        env,
        ctx,
        url,
        config,
        caller,
        route,
        sentry_body,
    };
    (row.handler)(&call).await
}

/// The browser origin a cross-origin request may be answered to (`None`: same origin or none).
fn origin_allowed_for(
    origin: Option<&str>,
    url: &worker::Url,
    principal: &Principal,
) -> Result<Option<String>, AppError> {
    // Only a request with an Origin has one to compare (most ingest comes from servers).
    let own_origin = match origin {
        Some(_) => url.origin().ascii_serialization(),
        None => String::new(),
    };
    check_origin(origin, &own_origin, principal)
}

/// The row's scope, held by the caller; the metrics, which count every project, only for a
/// key bound to none.
fn permitted(access: Access, principal: &Principal) -> Result<(), AppError> {
    if let Some(scope) = access.scope() {
        principal.require(scope)?;
    }
    if matches!(access, Access::Scrape(_)) && principal.project.is_some() {
        return Err(AppError::Forbidden(
            "/metrics covers every project; scrape it with a key bound to no project.".into(),
        ));
    }
    Ok(())
}

/// The caller as the row's access says, and a Sentry tunnel's envelope when it had to be read
/// to find the key.
async fn identify(
    req: &Incoming,
    url: &worker::Url,
    env: &Env,
    config: &Config,
    access: Access,
) -> Result<(Caller, Option<Vec<u8>>), AppError> {
    if access == Access::Public {
        let principal = Principal::anonymous();
        return Ok((
            Caller {
                principal,
                key_in_query: false,
            },
            None,
        ));
    }
    // A Sentry `tunnel` sends no auth header: its DSN key is inside the envelope, so the body
    // is read here, once, and handed to the handler.
    let (mut tunnel_key, mut sentry_body) = (None, None);
    if access == Access::EnvelopeKey && !has_credential(req, url)? {
        let body = ingest::read_request_body(req).await?;
        tunnel_key = crate::ingest::formats::sentry::envelope_dsn_key(&body);
        sentry_body = Some(body);
    }
    let caller = authenticate(req, url, env, config, access, tunnel_key).await?;
    Ok((caller, sentry_body))
}

/// `GET /`: someone who opens the domain in a browser lands on the dashboard; any other client
/// gets where the API is, in the shape Elasticsearch answers (its clients ask `GET /` for the
/// version and the product header before they send to `_bulk`).
pub(crate) async fn root(c: &Call<'_>) -> Result<Response, AppError> {
    let req = c.req;
    let browser = req
        .header("accept")?
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"));
    if !browser {
        let user_agent = req.header("user-agent")?;
        let info = crate::ingest::formats::elastic::root_info(user_agent.as_deref());
        return elastic::answer(info);
    }
    let mut response = Response::empty()?.with_status(302);
    response.headers_mut().set("location", "/dashboard/")?;
    Ok(response)
}

/// `/openapi.json` is a static asset, served before the worker runs; this answers only where
/// the worker is asked first (`run_worker_first`), from the same file.
pub(crate) async fn openapi(c: &Call<'_>) -> Result<Response, AppError> {
    let assets = c
        .env
        .assets(bindings::ASSETS)
        .map_err(|_| AppError::Unavailable {
            message: "The static assets (ASSETS) are not bound, so /openapi.json is not deployed."
                .into(),
            retry_after: 60,
        })?;
    Ok(assets.fetch(c.url.to_string(), None).await?)
}

/// Opens the sealed fields of events served to an authorised reader (see `Config`).
pub(crate) fn open_events(config: &Config, events: &mut [StoredEvent]) {
    for id in config.open_events(events) {
        console_warn!("event {id} has fields sealed with another key");
    }
}

/// The admin token first (no lookup), then API keys by their prefix.
/// Whether the request carries any credential of its own (header or query).
fn has_credential(req: &Incoming, url: &worker::Url) -> Result<bool, AppError> {
    Ok(req.header("authorization")?.is_some()
        || req.header("x-api-key")?.is_some()
        || req.header("x-sentry-auth")?.is_some()
        || url
            .query_pairs()
            .any(|(k, _)| k == "key" || k == "sentry_key"))
}

/// `tunnel_key`: a Sentry DSN key read from the envelope itself; it counts as a query key
/// (ingest-only keys), since it travels with the data rather than in a header.
async fn authenticate(
    req: &Incoming,
    url: &worker::Url,
    env: &Env,
    config: &Config,
    access: Access,
    tunnel_key: Option<String>,
) -> Result<Caller, AppError> {
    let query = |name: &str| query_value(url, name);
    if access == Access::KeyOrTicket {
        if let Some(ticket) = query("ticket") {
            let principal = ticket_principal(&ticket, env, config).await?;
            return Ok(Caller {
                principal,
                key_in_query: false,
            });
        }
    }
    let credential = credential(req, url, access, tunnel_key)?;
    let key_in_query = matches!(credential, Credential::Query(_));
    if key_in_query && !matches!(access, Access::Beacon | Access::EnvelopeKey) {
        return Err(AppError::Unauthorized(
            "A key in ?key= is accepted only by POST /v1/logs (navigator.sendBeacon); send it in an Authorization or X-Api-Key header.".into(),
        ));
    }
    let principal = match match_admin_token(&credential, config.admin_token.as_deref())? {
        Some(admin) => admin,
        None => {
            let prefix = lookup_prefix(credential.token()).ok_or_else(unauthorized_unknown)?;
            let (db, kv) = (env.d1(bindings::DB)?, env.kv(bindings::HOT)?);
            let record = crate::security::store::find_by_prefix(&db, &kv, prefix).await?;
            authorize_key(&credential, record.as_ref())?
        }
    };
    Ok(Caller {
        principal,
        key_in_query,
    })
}

fn query_value(url: &worker::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The request's credential: Sentry's own places first on the envelope route, then a header
/// or `?key=`, then a tunnel's key read from the envelope.
fn credential(
    req: &Incoming,
    url: &worker::Url,
    access: Access,
    tunnel_key: Option<String>,
) -> Result<Credential, AppError> {
    let sentry = match access {
        Access::EnvelopeKey => crate::security::auth::sentry_credential(
            req.header("x-sentry-auth")?.as_deref(),
            query_value(url, "sentry_key").as_deref(),
        ),
        _ => None,
    };
    let (authorization, api_key) = (req.header("authorization")?, req.header("x-api-key")?);
    let key = query_value(url, "key");
    sentry
        .or_else(|| {
            extract_credential(authorization.as_deref(), api_key.as_deref(), key.as_deref())
        })
        .or_else(|| tunnel_key.map(Credential::Query))
        .ok_or_else(unauthorized_missing)
}

/// Seconds to wait after a refusal: the period of the rate-limiting bindings.
const RATE_LIMIT_PERIOD_SECONDS: u32 = 10;

/// Per key, with the platform's rate-limiting binding of the key's tier. A deployment without
/// the binding is not limited (and says so in its logs).
async fn rate_limit(env: &Env, principal: &Principal) -> Result<(), AppError> {
    let binding = match principal.rate_limit {
        RateTier::Low => bindings::RATE_LIMIT_LOW,
        RateTier::High => bindings::RATE_LIMIT_HIGH,
        RateTier::Default => bindings::RATE_LIMIT,
    };
    let Ok(limiter) = env.rate_limiter(binding) else {
        console_warn!("rate limiting is off: no {binding} binding");
        return Ok(());
    };
    match limiter.limit(principal.key_id.clone()).await {
        Ok(outcome) if !outcome.success => Err(AppError::RateLimited {
            retry_after: RATE_LIMIT_PERIOD_SECONDS,
        }),
        Ok(_) => Ok(()),
        Err(e) => {
            // Failing open: a limiter outage must not take ingestion down with it.
            console_warn!("rate limiter {binding} failed, letting the request through: {e}");
            Ok(())
        }
    }
}

/// A preflight carries no key, so it may pass for any origin some active key allows; the real
/// request is then checked against its own key's origins.
async fn preflight(req: &Incoming, env: &Env, origin: Option<&str>) -> Result<Response, AppError> {
    let origin = origin
        .ok_or_else(|| AppError::InvalidParameter("A preflight needs an Origin header.".into()))?;
    let allowed =
        crate::security::store::allowed_origins(&env.d1(bindings::DB)?, &env.kv(bindings::HOT)?)
            .await?;
    if !origin_allowed(origin, &allowed) {
        return Err(AppError::Forbidden(format!(
            "Origin '{origin}' is not allowed by any key."
        )));
    }
    let requested = req
        .header("access-control-request-method")?
        .unwrap_or_default();
    if !requested.is_empty() && !requested.eq_ignore_ascii_case("POST") {
        return Err(AppError::Forbidden(
            "Browsers may only POST events; browser keys are ingest-only.".into(),
        ));
    }
    let mut response = Response::empty()?.with_status(204);
    let headers = response.headers_mut();
    headers.set("access-control-allow-origin", origin)?;
    headers.set("access-control-allow-methods", "POST")?;
    headers.set(
        "access-control-allow-headers",
        "authorization, x-api-key, content-type, content-encoding",
    )?;
    headers.set("access-control-max-age", "600")?;
    headers.set("vary", "Origin")?;
    Ok(response)
}

pub(crate) fn query_pairs(url: &worker::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A response of the given status and content type.
fn typed_response(status: u16, content_type: &str, body: Vec<u8>) -> worker::Result<Response> {
    let mut response = Response::from_bytes(body)?.with_status(status);
    response.headers_mut().set("content-type", content_type)?;
    Ok(response)
}

/// [`typed_response`] for handlers.
pub(crate) fn bytes_response(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> Result<Response, AppError> {
    Ok(typed_response(status, content_type, body)?)
}

/// A JSON response with the given status.
pub(crate) fn json_response<T: Serialize>(status: u16, body: &T) -> Result<Response, AppError> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// Reads a small JSON request body (admin routes), refusing what is not JSON or too large.
pub(crate) async fn read_json_body(req: &Incoming, limit: usize) -> Result<Vec<u8>, AppError> {
    if let Some(content_type) = req.header("content-type")? {
        if !content_type
            .to_ascii_lowercase()
            .starts_with("application/json")
        {
            return Err(AppError::UnsupportedMediaType(
                "Send the body as application/json.".into(),
            ));
        }
    }
    req.body_within(limit, |size| {
        AppError::PayloadTooLarge(format!("The body is {size} bytes; the limit is {limit}."))
    })
    .await
}

fn error_response(err: &AppError, protobuf: bool) -> Response {
    if err.is_server_error() {
        console_error!("{err}");
    }
    let build = || -> worker::Result<Response> {
        let mut response = if protobuf {
            let status = crate::ingest::formats::otlp::rpc_status(err.status(), &err.message());
            typed_response(
                err.status(),
                crate::ingest::formats::otlp::PROTOBUF_CONTENT_TYPE,
                status,
            )?
        } else {
            Response::from_json(&err.body())?.with_status(err.status())
        };
        if let Some(seconds) = err.retry_after() {
            response
                .headers_mut()
                .set("retry-after", &seconds.to_string())?;
        }
        if let Some(allow) = err.allow() {
            response.headers_mut().set("allow", allow)?;
        }
        Ok(response)
    };
    build().unwrap_or_else(|e| {
        console_error!("could not build the error response: {e}");
        Response::error(
            r#"{"error":{"code":"internal_error","message":"An internal error occurred."}}"#,
            500,
        )
        .expect("a plain response always builds")
    })
}

/// Who a tail ticket stands for: the key it was issued to, if that key is still active (a
/// ticket of a revoked key opens nothing), or the admin token.
async fn ticket_principal(ticket: &str, env: &Env, config: &Config) -> Result<Principal, AppError> {
    let secret = config
        .admin_token
        .as_deref()
        .ok_or_else(|| AppError::Unauthorized("This deployment issues no tail tickets.".into()))?;
    let key_id =
        crate::tail::verify_ticket(secret, ticket, crate::platform::clock::millis() as i64)?;
    if key_id == Principal::admin_token().key_id {
        return Ok(Principal::admin_token());
    }
    crate::security::store::find_by_id(&env.d1(bindings::DB)?, &key_id)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .map(|r| Principal::of_key(&r))
        .ok_or_else(|| {
            AppError::Unauthorized("The key this tail ticket was issued to is revoked.".into())
        })
}
