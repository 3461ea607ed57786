//! `GET /v1/groups`, `GET /v1/groups/{fingerprint}` and `GET /v1/stats`: read from the tables
//! the insert triggers maintain, never by scanning events.

use serde::{Deserialize, Serialize};
use worker::{Date, Env, Response, Url};

use super::{json_response, query_pairs, Config};
use crate::auth::{can_see, scope_project, Principal};
use crate::error::AppError;
use crate::processors::timestamp::from_millis;
use crate::storage::d1;
use crate::storage::groups::{parse_group_query, Group, GROUP_COLUMNS};
use crate::storage::query::{into_page, Bind, LogQuery, SqlQuery};
use crate::storage::stats::parse_stats_query;

/// How many recent events the group page shows.
const RECENT_EVENTS: usize = 20;

#[derive(Serialize)]
struct GroupsPage {
    groups: Vec<Group>,
    next_cursor: Option<String>,
}

/// The group's fields with its most recent events.
#[derive(Serialize)]
struct GroupDetail {
    #[serde(flatten)]
    group: Group,
    events: Vec<crate::model::DetailedEvent>,
}

pub async fn list(url: &Url, env: &Env, principal: &Principal) -> Result<Response, AppError> {
    let mut query = parse_group_query(&query_pairs(url))?;
    query.project = scope_project(principal, query.project.take())?;
    let rows: Vec<Group> = d1::rows(&env.d1("DB")?, &query.to_sql()).await?;
    let (groups, next_cursor) = query.into_page(rows);
    json_response(
        200,
        &GroupsPage {
            groups,
            next_cursor,
        },
    )
}

pub async fn get(
    config: &Config,
    fingerprint: &str,
    env: &Env,
    principal: &Principal,
) -> Result<Response, AppError> {
    let db = env.d1("DB")?;
    let group_query = SqlQuery {
        sql: format!("SELECT {GROUP_COLUMNS} FROM groups WHERE fingerprint = ?"),
        binds: vec![Bind::Text(fingerprint.to_string())],
    };
    let group = d1::rows::<Group>(&db, &group_query)
        .await?
        .into_iter()
        .next()
        .filter(|g| can_see(principal, g.project.as_deref()))
        .ok_or_else(|| AppError::NotFound(format!("No group with fingerprint '{fingerprint}'.")))?;
    let events_query = LogQuery {
        exact: vec![("fingerprint", fingerprint.to_string())],
        limit: RECENT_EVENTS,
        ..Default::default()
    };
    let (mut events, _) = into_page(
        d1::data_rows(&db, &events_query.to_sql()).await?,
        RECENT_EVENTS,
    )?;
    config.open_events(&mut events);
    let events = events.into_iter().map(Into::into).collect();
    json_response(200, &GroupDetail { group, events })
}

#[derive(Deserialize)]
struct CountRow {
    b: String,
    k: Option<String>,
    n: i64,
}

pub async fn stats(url: &Url, env: &Env, principal: &Principal) -> Result<Response, AppError> {
    let now = from_millis(Date::now().as_millis() as i64)
        .ok_or_else(|| AppError::Internal("clock out of range".into()))?;
    let mut query = parse_stats_query(&query_pairs(url), now)?;
    query.project = scope_project(principal, query.project.take())?;
    let rows: Vec<CountRow> = d1::rows(&env.d1("DB")?, &query.to_sql()).await?;
    json_response(
        200,
        &query.answer(
            rows.into_iter()
                .map(|r| (r.b, r.k.unwrap_or_default(), r.n))
                .collect(),
        ),
    )
}
