//! The Loki query API, as Grafana's Loki data source calls it (`crate::loki`): each handler
//! reads the parameters (query string, and a form body on POST) and the caller's project, then
//! answers what `loki::serve` made.

use worker::{D1Database, Response};

use super::{json_response, query_pairs, Call};
use crate::error::AppError;
use crate::loki::serve::{self, Scope};
use crate::platform::bindings;
use crate::security::auth::scope_project;

/// The parameters: the query string and, for a form POST, its body.
async fn pairs(c: &Call<'_>) -> Result<Vec<(String, String)>, AppError> {
    let mut pairs = query_pairs(&c.url);
    let form = c.req.header("content-type")?.unwrap_or_default();
    if c.req.method() == "POST" && form.starts_with("application/x-www-form-urlencoded") {
        let body = c
            .req
            .body_within(64 * 1024, |size| {
                AppError::PayloadTooLarge(format!("The body is {size} bytes; the limit is 65536."))
            })
            .await?;
        let url = worker::Url::parse(&format!("http://form/?{}", String::from_utf8_lossy(&body)))
            .map_err(|_| AppError::InvalidParameter("the form body cannot be read".into()))?;
        pairs.extend(query_pairs(&url));
    }
    Ok(pairs)
}

/// The caller's project (`X-Scope-OrgID` names one when the key may read it), the
/// parameters and D1.
async fn prepare(
    c: &Call<'_>,
) -> Result<(Option<String>, Vec<(String, String)>, D1Database), AppError> {
    let tenant = c
        .req
        .header("x-scope-orgid")?
        .filter(|t| !t.trim().is_empty());
    let project = scope_project(c.principal(), tenant)?;
    Ok((project, pairs(c).await?, c.env.d1(bindings::DB)?))
}

fn scope<'a>(c: &'a Call<'a>, db: &'a D1Database, project: Option<String>) -> Scope<'a> {
    let now_ns = crate::platform::clock::millis() as i64 * 1_000_000;
    Scope {
        env: c.env,
        db,
        project,
        now_ns,
    }
}

pub async fn query_range(c: &Call<'_>) -> Result<Response, AppError> {
    let (project, pairs, db) = prepare(c).await?;
    json_response(
        200,
        &serve::query(&scope(c, &db, project), &pairs, false).await?,
    )
}

pub async fn query(c: &Call<'_>) -> Result<Response, AppError> {
    let (project, pairs, db) = prepare(c).await?;
    json_response(
        200,
        &serve::query(&scope(c, &db, project), &pairs, true).await?,
    )
}

/// `labels`, `series`, `index/*`, `detected_*`, `patterns`: which one is the route's last segment.
pub async fn catalogue(c: &Call<'_>) -> Result<Response, AppError> {
    let what = c
        .url
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (project, pairs, db) = prepare(c).await?;
    json_response(
        200,
        &serve::catalogue_answer(&scope(c, &db, project), &pairs, &what, None).await?,
    )
}

pub async fn label_values(c: &Call<'_>) -> Result<Response, AppError> {
    let (project, pairs, db) = prepare(c).await?;
    let name = Some(c.param("name"));
    json_response(
        200,
        &serve::catalogue_answer(&scope(c, &db, project), &pairs, "values", name).await?,
    )
}

pub async fn format_query(c: &Call<'_>) -> Result<Response, AppError> {
    json_response(200, &serve::format_query(&pairs(c).await?)?)
}

pub async fn buildinfo(_c: &Call<'_>) -> Result<Response, AppError> {
    json_response(200, &serve::buildinfo())
}

/// `GET /loki/api/v1/tail`: a WebSocket of Loki stream frames, through the project's tail hub.
pub async fn tail(c: &Call<'_>) -> Result<Response, AppError> {
    let pairs = query_pairs(&c.url);
    let text = crate::loki::api::param(&pairs, "query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| AppError::InvalidParameter("query is required: a log query".into()))?;
    match crate::loki::logql::parse::parse(text).map_err(AppError::InvalidParameter)? {
        crate::loki::logql::ast::Expr::Log(_) => {}
        _ => {
            return Err(AppError::InvalidParameter(
                "tail takes a log query, such as {service=\"api\"} |= \"error\"".into(),
            ))
        }
    }
    let tenant = c
        .req
        .header("x-scope-orgid")?
        .filter(|t| !t.trim().is_empty());
    let project = scope_project(c.principal(), tenant)?;
    let now = crate::platform::clock::millis() as i64;
    let mut viewer = crate::tail::Viewer::new(
        c.principal().key_id.clone(),
        String::new(),
        crate::tail::DEFAULT_RATE,
        None,
        now,
    );
    viewer.logql = Some(text.to_string());
    super::tail::open(c, viewer, project, None).await
}
