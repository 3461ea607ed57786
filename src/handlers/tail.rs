//! `GET /v1/tail` (a WebSocket of matching events, through the project's hub) and
//! `POST /v1/tail/ticket` (a short-lived ticket, for browsers, which cannot set headers on a
//! WebSocket).

use worker::{Headers, Method, Request, RequestInit, Response};

use super::{json_response, query_pairs, Call};
use crate::error::AppError;
use crate::platform::clock::millis;
use crate::security::auth::scope_project;
use crate::tail::{feed, hub_name, issue_ticket, parse_tail_request, Viewer, TICKET_MS};

pub async fn connect(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal) = (&c.url, c.env, c.principal());
    let asked = parse_tail_request(&query_pairs(url))?;
    let project = scope_project(principal, asked.project.clone())?;
    if let Some(name) = project.as_deref().filter(|_| principal.project.is_none()) {
        known_project(env, name).await?;
    }
    let viewer = Viewer::new(
        principal.key_id.clone(),
        asked.query,
        asked.rate,
        asked.limit,
        millis() as i64,
    );
    open(c, viewer, project, asked.cursor.map(|c| c.text())).await
}

/// Opens a viewer's WebSocket on its project's hub (`/v1/tail`, and Loki's tail).
pub(super) async fn open(
    c: &Call<'_>,
    viewer: Viewer,
    project: Option<String>,
    cursor: Option<String>,
) -> Result<Response, AppError> {
    let upgrade = c.req.header("upgrade")?;
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return Err(AppError::UpgradeRequired(format!(
            "{} is a WebSocket: connect with Upgrade: websocket (e.g. `npx edge-logger tail`).",
            c.url.path()
        )));
    }
    let hubs = feed::namespace(c.env).ok_or_else(|| AppError::Unavailable {
        message:
            "Live tail is not deployed: bind the TAIL_HUBS Durable Object (docs/manual/search.md, Live tail)."
                .into(),
        retry_after: 60,
    })?;
    let request = hub_request(&viewer, project.as_deref(), cursor)?;
    feed::watching(&hub_name(project.as_deref()));
    Ok(hubs
        .get_by_name(&hub_name(project.as_deref()))?
        .fetch_with_request(request)
        .await?)
}

/// A key bound to no project may tail any project that exists: one with stored events or a key
/// of its own. A made-up name would open a hub (a Durable Object) for nothing.
async fn known_project(env: &worker::Env, project: &str) -> Result<(), AppError> {
    let db = env.d1(crate::platform::bindings::DB)?;
    let known = crate::shards::catalogue::has_project(&db, project).await?
        || crate::security::store::project_has_key(&db, project).await?;
    match known {
        true => Ok(()),
        false => Err(AppError::NotFound(format!(
            "No project '{project}': nothing was stored for it and no key is bound to it."
        ))),
    }
}

/// The WebSocket upgrade a tail hub takes: the viewer, its project and where to resume.
fn hub_request(
    viewer: &Viewer,
    project: Option<&str>,
    cursor: Option<String>,
) -> Result<Request, AppError> {
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    let viewer = serde_json::to_string(viewer).map_err(|e| AppError::Internal(e.to_string()))?;
    headers.set("x-tail-viewer", &viewer)?;
    if let Some(project) = project {
        headers.set("x-tail-project", project)?;
    }
    if let Some(cursor) = cursor {
        headers.set("x-tail-cursor", &cursor)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    Ok(Request::new_with_init(
        "https://hub.internal/connect",
        &init,
    )?)
}

pub async fn ticket(c: &Call<'_>) -> Result<Response, AppError> {
    let (config, principal) = (&*c.config, c.principal());
    let secret = config
        .admin_token
        .as_deref()
        .ok_or_else(|| AppError::Unavailable {
            message:
                "Tail tickets are signed with ADMIN_TOKEN, which this deployment does not set."
                    .into(),
            retry_after: 60,
        })?;
    let expires = millis() as i64 + TICKET_MS;
    let ticket = issue_ticket(secret, &principal.key_id, expires);
    let expires_at = crate::processors::timestamp::from_millis(expires)
        .map(crate::processors::timestamp::format_ts)
        .unwrap_or_default();
    json_response(
        201,
        &serde_json::json!({
            "ticket": ticket,
            "expires_at": expires_at,
            "project": principal.project,
        }),
    )
}
