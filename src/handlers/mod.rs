//! The HTTP edge: route, authenticate, call the handler, and turn every `AppError` into the
//! contract's JSON error body here and nowhere else.

mod groups;
mod health;
mod ingest;
mod logs;

use serde::Serialize;
use worker::{console_error, Env, Request, Response};

use crate::auth::{
    extract_credential, match_admin_token, unauthorized_missing, unauthorized_unknown, Principal,
    Scope,
};
use crate::error::AppError;
use crate::routes::{match_route, Route};

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

/// Deployment settings read from the worker's vars and secrets.
pub(crate) struct Config {
    pub admin_token: Option<String>,
    pub default_environment: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Self {
        let text = |name: &str| -> Option<String> {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .ok()
                .filter(|s| !s.is_empty())
        };
        Config {
            admin_token: text("ADMIN_TOKEN"),
            default_environment: text("DEFAULT_ENVIRONMENT").unwrap_or_else(|| "production".into()),
        }
    }
}

pub async fn handle(mut req: Request, env: &Env) -> Response {
    match dispatch(&mut req, env).await {
        Ok(response) => response,
        Err(err) => error_response(&err),
    }
}

async fn dispatch(req: &mut Request, env: &Env) -> Result<Response, AppError> {
    let url = req.url()?;
    let route = match_route(req.method().as_ref(), url.path())?;
    if route == Route::Health {
        return health::health(env).await;
    }
    let config = Config::from_env(env);
    let principal = authenticate(req, &url, &config)?;
    match route {
        Route::Health => unreachable!("answered above"),
        Route::IngestLogs => {
            principal.require(Scope::Ingest)?;
            ingest::ingest(req, env, &config).await
        }
        Route::ListLogs => {
            principal.require(Scope::Read)?;
            logs::list(&url, env).await
        }
        Route::GetLog(id) => {
            principal.require(Scope::Read)?;
            logs::get(&id, env).await
        }
        Route::Recent => {
            principal.require(Scope::Read)?;
            logs::recent(&url, env).await
        }
        Route::ListGroups => {
            principal.require(Scope::Read)?;
            groups::list(&url, env).await
        }
        Route::GetGroup(fingerprint) => {
            principal.require(Scope::Read)?;
            groups::get(&fingerprint, env).await
        }
        Route::Stats => {
            principal.require(Scope::Read)?;
            groups::stats(&url, env).await
        }
    }
}

/// The admin token today; scoped keys will be looked up here when the admin token does not match.
fn authenticate(req: &Request, url: &worker::Url, config: &Config) -> Result<Principal, AppError> {
    let headers = req.headers();
    let authorization = headers.get("authorization")?;
    let api_key = headers.get("x-api-key")?;
    let query_key = url
        .query_pairs()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.into_owned());
    let credential = extract_credential(
        authorization.as_deref(),
        api_key.as_deref(),
        query_key.as_deref(),
    )
    .ok_or_else(unauthorized_missing)?;
    if config.admin_token.is_none() {
        console_error!("ADMIN_TOKEN is not set: every request is refused. Set it with `wrangler secret put ADMIN_TOKEN`.");
    }
    match_admin_token(&credential, config.admin_token.as_deref())?.ok_or_else(unauthorized_unknown)
}

pub(crate) fn query_pairs(url: &worker::Url) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A JSON response with the given status.
pub(crate) fn json_response<T: Serialize>(status: u16, body: &T) -> Result<Response, AppError> {
    Ok(Response::from_json(body)?.with_status(status))
}

fn error_response(err: &AppError) -> Response {
    if err.is_server_error() {
        console_error!("{err}");
    }
    let build = || -> worker::Result<Response> {
        let response = Response::from_json(&err.body())?.with_status(err.status());
        if let Some(seconds) = err.retry_after() {
            response
                .headers()
                .set("retry-after", &seconds.to_string())?;
        }
        if let Some(allow) = err.allow() {
            response.headers().set("allow", allow)?;
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
