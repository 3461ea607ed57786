//! The HTTP edge: route, authenticate, check the origin and the rate limit, call the handler,
//! and turn every `AppError` into the contract's JSON error body here and nowhere else.

use serde::Serialize;
use worker::{console_error, console_warn, Env, Response};

pub(crate) use crate::platform::incoming::Incoming;

use super::routes::{match_route, Route};
use super::{
    alerts, archive, assign_rules, dead_letters, elastic, groups, health, ingest, keys, logs,
    metrics, releases, sourcemaps, stats, storage, tail,
};
use crate::config::Config;
use crate::error::AppError;
use crate::model::StoredEvent;
use crate::ops::recorder;
use crate::platform::bindings;
use crate::security::auth::{
    authorize_key, check_origin, extract_credential, match_admin_token, unauthorized_missing,
    unauthorized_unknown, Credential, Principal,
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

pub async fn handle(req: Incoming, env: &Env, ctx: &worker::Context) -> Response {
    let origin = req.header("origin").ok().flatten();
    // Parsed and routed once; the route also labels the request's metrics.
    let routed = req
        .url()
        .and_then(|url| match_route(&req.method(), url.path()).map(|route| (url, route)));
    let route = routed.as_ref().ok().map(|(_, route)| route.clone());
    let route_label = route.as_ref().map_or("unmatched", Route::pattern);
    let mut cors = Cors::Unchecked;
    let outcome = match routed {
        Ok((url, route)) => {
            dispatch(&req, env, ctx, url, route, origin.as_deref(), &mut cors).await
        }
        Err(err) => Err(err),
    };
    let response = match outcome {
        Ok(response) => response,
        Err(err) => {
            if route == Some(Route::IngestLogs) {
                let events = match &err {
                    AppError::InvalidEvents { errors, .. } if !errors.is_empty() => errors.len(),
                    _ => 1,
                };
                recorder::add(
                    "edge_logger_events_rejected_total",
                    &[("reason", err.code())],
                    events as f64,
                );
            }
            if matches!(err, AppError::RateLimited { .. }) {
                recorder::add("edge_logger_rate_limited_total", &[], 1.0);
            }
            // OTLP/HTTP answers a protobuf request's failure as a protobuf `google.rpc.Status`.
            let protobuf = route == Some(Route::IngestOtlp)
                && crate::ingest::formats::otlp::Encoding::of(
                    req.header("content-type").ok().flatten().as_deref(),
                )
                .is_ok_and(|e| e == crate::ingest::formats::otlp::Encoding::Protobuf);
            error_response(&err, protobuf)
        }
    };
    // A small body nothing read (a refusal, a probe's fixed answer): read it, so that the
    // connection stays usable for the client's next request. Unread, workerd may close it
    // under the client, which then sees a reset instead of its next answer.
    req.discard_unread_body().await;
    recorder::add(
        "edge_logger_requests_total",
        &[
            ("route", route_label),
            ("status", &response.status_code().to_string()),
        ],
        1.0,
    );
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
    match crate::storage::keys::allowed_origins(&db, &kv).await {
        Ok(allowed) => origin_allowed(origin, &allowed),
        Err(_) => false,
    }
}

async fn dispatch(
    req: &Incoming,
    env: &Env,
    ctx: &worker::Context,
    url: worker::Url,
    route: Route,
    origin: Option<&str>,
    cors: &mut Cors,
) -> Result<Response, AppError> {
    match route {
        Route::Root => return root(req),
        Route::Health => return health::health(env).await,
        Route::OpenApi => return openapi(env, &req.url()?).await,
        Route::Preflight => {
            // A preflight sets its own headers, and none when it refuses.
            *cors = Cors::NoHeaders;
            return preflight(req, env, origin).await;
        }
        Route::Metrics => {
            // Scraped by Prometheus: no origin check or rate limit, only the key's scope.
            let config = Config::get(env);
            let caller = authenticate(req, &url, env, &config, &route, None).await?;
            require_scope(&route, &caller.principal)?;
            return metrics::serve(env).await;
        }
        _ => {}
    }
    let config = Config::get(env);
    // A Sentry `tunnel` sends no auth header: its DSN key is inside the envelope, so the body
    // is read here, once, and handed to the handler.
    let mut sentry_body = None;
    let mut tunnel_key = None;
    if route == Route::SentryEnvelope && !has_credential(req, &url)? {
        let body = ingest::read_request_body(req).await?;
        tunnel_key = crate::ingest::formats::sentry::envelope_dsn_key(&body);
        sentry_body = Some(body);
    }
    let caller = authenticate(req, &url, env, &config, &route, tunnel_key).await?;
    *cors = Cors::NoHeaders;
    // Only a request with an Origin has one to compare (most ingest comes from servers).
    let own_origin = match origin {
        Some(_) => url.origin().ascii_serialization(),
        None => String::new(),
    };
    if let Some(allowed) = check_origin(origin, &own_origin, &caller.principal)? {
        *cors = Cors::Allowed(allowed);
    }
    rate_limit(env, &caller.principal).await?;

    let principal = &caller.principal;
    require_scope(&route, principal)?;
    match route {
        Route::Root | Route::Health | Route::OpenApi | Route::Metrics | Route::Preflight => {
            unreachable!("answered above")
        }
        Route::ElasticBulk(index) => {
            ingest::ingest_bulk(req, env, ctx, &config, &caller, index.as_deref()).await
        }
        Route::ElasticProbe(answer) => elastic::answer(answer),
        Route::IngestLogs => ingest::ingest(req, env, ctx, &config, &caller).await,
        Route::IngestOtlp => ingest::ingest_otlp(req, env, ctx, &config, &caller).await,
        Route::IngestLoki => ingest::ingest_loki(req, env, ctx, &config, &caller).await,
        Route::SentryEnvelope => {
            ingest::ingest_sentry(req, env, ctx, &config, &caller, sentry_body).await
        }
        Route::ListLogs => logs::list(&url, env, principal, &config).await,
        Route::GetLog(id) => logs::get(&id, env, principal, &config).await,
        Route::Recent => logs::recent(&url, env, principal, &config).await,
        Route::ListGroups => groups::list(&url, env, principal).await,
        Route::GetGroup(fingerprint) => groups::get(&config, &fingerprint, env, principal).await,
        Route::SetGroupStatus(fingerprint) => {
            groups::set_status(&fingerprint, req, env, principal).await
        }
        Route::Stats => stats::stats(&url, env, principal).await,
        Route::CreateKey => keys::create(req, env).await,
        Route::ListKeys => keys::list(env).await,
        Route::RevokeKey(id) => keys::revoke(&id, env).await,
        Route::ListAlertRules => alerts::list_rules(env, principal).await,
        Route::GetAlertRule(id) => alerts::get_rule(&id, env, principal).await,
        Route::CreateAlertRule => alerts::create_rule(req, env).await,
        Route::UpdateAlertRule(id) => alerts::update_rule(&id, req, env).await,
        Route::DeleteAlertRule(id) => alerts::delete_rule(&id, env).await,
        Route::ListAlerts => alerts::list_alerts(&url, env, principal).await,
        Route::ListDeadLetters => dead_letters::list(&url, env).await,
        Route::ReplayDeadLetters => dead_letters::replay(req, env).await,
        Route::RestoreArchive => archive::restore(req, env).await,
        Route::Storage => storage::report(env, &config).await,
        Route::Tail => tail::connect(req, &url, env, principal).await,
        Route::TailTicket => tail::ticket(&config, principal),
        Route::ChunkUploadOptions => sourcemaps::chunk_options(&url),
        Route::ChunkUpload => sourcemaps::upload_chunks(req, env).await,
        Route::AssembleBundle => sourcemaps::assemble(req, env, principal).await,
        Route::UploadSourcemap(release) => sourcemaps::upload(req, env, principal, &release).await,
        Route::ListSourcemaps(release) => sourcemaps::list(env, principal, &release).await,
        Route::DeleteSourcemaps(release) => sourcemaps::delete(env, principal, &release).await,
        Route::ListReleases => releases::list(&url, env, principal).await,
        Route::AddGroupNote(fingerprint) => {
            groups::add_note(&fingerprint, req, env, principal).await
        }
        Route::GroupActivity(fingerprint) => groups::activity(&fingerprint, env, principal).await,
        Route::MergeGroups(fingerprint) => groups::merge(&fingerprint, req, env, principal).await,
        Route::UnmergeGroups(fingerprint, source) => {
            groups::unmerge(&fingerprint, source.as_deref(), req, &url, env, principal).await
        }
        Route::ListAssignRules => assign_rules::list(env, principal).await,
        Route::ReplaceAssignRules => assign_rules::replace(req, env).await,
        Route::AddAssignRule => assign_rules::append(req, env).await,
        Route::DeleteAssignRule(id) => assign_rules::delete(&id, env).await,
        Route::GetRelease(release) => releases::get(&release, &url, env, principal).await,
    }
}

/// The route table's scope for this route, required of the caller.
fn require_scope(route: &Route, principal: &Principal) -> Result<(), AppError> {
    route
        .scope()
        .map_or(Ok(()), |scope| principal.require(scope))
}

/// `GET /`: someone who opens the domain in a browser lands on the dashboard; any other client
/// gets where the API is, in the shape Elasticsearch answers (its clients ask `GET /` for the
/// version and the product header before they send to `_bulk`).
fn root(req: &Incoming) -> Result<Response, AppError> {
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
async fn openapi(env: &Env, url: &worker::Url) -> Result<Response, AppError> {
    let assets = env
        .assets(bindings::ASSETS)
        .map_err(|_| AppError::Unavailable {
            message: "The static assets (ASSETS) are not bound, so /openapi.json is not deployed."
                .into(),
            retry_after: 60,
        })?;
    Ok(assets.fetch(url.to_string(), None).await?)
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
    route: &Route,
    tunnel_key: Option<String>,
) -> Result<Caller, AppError> {
    let authorization = req.header("authorization")?;
    let api_key = req.header("x-api-key")?;
    let query = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if *route == Route::Tail {
        if let Some(ticket) = query("ticket") {
            return Ok(Caller {
                principal: ticket_principal(&ticket, env, config).await?,
                key_in_query: false,
            });
        }
    }
    let sentry = if *route == Route::SentryEnvelope {
        crate::security::auth::sentry_credential(
            req.header("x-sentry-auth")?.as_deref(),
            query("sentry_key").as_deref(),
        )
    } else {
        None
    };
    let credential = sentry
        .or_else(|| {
            extract_credential(
                authorization.as_deref(),
                api_key.as_deref(),
                query("key").as_deref(),
            )
        })
        .or_else(|| tunnel_key.map(Credential::Query))
        .ok_or_else(unauthorized_missing)?;
    let key_in_query = matches!(credential, Credential::Query(_));
    if let Some(principal) = match_admin_token(&credential, config.admin_token.as_deref())? {
        return Ok(Caller {
            principal,
            key_in_query,
        });
    }
    let prefix = lookup_prefix(credential.token()).ok_or_else(unauthorized_unknown)?;
    let record = crate::storage::keys::find_by_prefix(
        &env.d1(bindings::DB)?,
        &env.kv(bindings::HOT)?,
        prefix,
    )
    .await?;
    let principal = authorize_key(&credential, record.as_ref())?;
    Ok(Caller {
        principal,
        key_in_query,
    })
}

/// Seconds to wait after a refusal: the period of the rate-limiting bindings.
const RATE_LIMIT_PERIOD_SECONDS: u32 = 10;

/// Per key, with the platform's rate-limiting binding of the key's tier. A deployment without
/// the binding is not limited (and says so in its logs).
async fn rate_limit(env: &Env, principal: &Principal) -> Result<(), AppError> {
    let binding = match principal.rate_limit.as_str() {
        "low" => bindings::RATE_LIMIT_LOW,
        "high" => bindings::RATE_LIMIT_HIGH,
        _ => bindings::RATE_LIMIT,
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
        crate::storage::keys::allowed_origins(&env.d1(bindings::DB)?, &env.kv(bindings::HOT)?)
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
    crate::storage::keys::find_by_id(&env.d1(bindings::DB)?, &key_id)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .map(|r| r.principal())
        .ok_or_else(|| {
            AppError::Unauthorized("The key this tail ticket was issued to is revoked.".into())
        })
}
