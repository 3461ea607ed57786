//! `GET /v1/groups`, `GET /v1/groups/{fingerprint}` and `GET /v1/stats`: read from the tables
//! the insert triggers maintain, never by scanning events.

use serde::{Deserialize, Serialize};
use worker::{D1Database, Env, Response, Url};

use super::{clock, json_response, query_pairs, Config};
use crate::error::AppError;
use crate::query::groups::{parse_group_query, Group, GROUP_COLUMNS};
use crate::query::logs::{into_page, Bind, LogQuery, SqlQuery};
use crate::query::stats::parse_stats_query;
use crate::query::trends;
use crate::security::auth::{can_see, scope_project, Principal};
use crate::storage::d1;

/// How many recent events the group page shows.
const RECENT_EVENTS: usize = 20;

/// A group with its last day of hourly counts, its trend and its anomaly score.
#[derive(Serialize)]
struct AnalysedGroup {
    #[serde(flatten)]
    group: Group,
    #[serde(flatten)]
    analysis: trends::SeriesAnalysis,
}

#[derive(Serialize)]
struct GroupsPage {
    groups: Vec<AnalysedGroup>,
    next_cursor: Option<String>,
}

/// The group's fields, its analysis, and its most recent events.
#[derive(Serialize)]
struct GroupDetail {
    #[serde(flatten)]
    group: AnalysedGroup,
    events: Vec<crate::model::DetailedEvent>,
}

/// Adds sparkline, trend and anomaly to each group, from one read of `group_counts_hour`.
async fn analyse_groups(
    db: &D1Database,
    groups: Vec<Group>,
    window_hours: u32,
) -> Result<Vec<AnalysedGroup>, AppError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock()?;
    let keys = trends::hour_keys(now, trends::history_hours(window_hours));
    let fingerprints: Vec<String> = groups.iter().map(|g| g.fingerprint.clone()).collect();
    let rows: Vec<trends::CountRow> =
        d1::rows(db, &trends::groups_query(&fingerprints, &keys)).await?;
    let mut series = trends::series_by_fingerprint(&keys, &rows);
    Ok(groups
        .into_iter()
        .map(|group| {
            let counts = series
                .remove(&group.fingerprint)
                .unwrap_or_else(|| vec![0; keys.len()]);
            AnalysedGroup {
                analysis: trends::analyse(&counts, now, window_hours),
                group,
            }
        })
        .collect())
}

pub async fn list(url: &Url, env: &Env, principal: &Principal) -> Result<Response, AppError> {
    let mut query = parse_group_query(&query_pairs(url))?;
    query.project = scope_project(principal, query.project.take())?;
    let db = env.d1("DB")?;
    let rows: Vec<Group> = d1::rows(&db, &query.to_sql()).await?;
    let (groups, next_cursor) = query.into_page(rows);
    let groups = analyse_groups(&db, groups, query.window_hours).await?;
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
    let group = analyse_groups(&db, vec![group], 24)
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal("a group went missing while analysed".into()))?;
    json_response(200, &GroupDetail { group, events })
}

#[derive(Deserialize)]
struct CountRow {
    b: String,
    k: Option<String>,
    n: i64,
}

pub async fn stats(url: &Url, env: &Env, principal: &Principal) -> Result<Response, AppError> {
    let now = clock()?;
    let mut query = parse_stats_query(&query_pairs(url), now)?;
    query.project = scope_project(principal, query.project.take())?;
    // Up to 1,500 buckets × keys: packed by SQLite into one JSON text (stats by route over a
    // week is 8,400 rows).
    let rows: Vec<CountRow> =
        d1::rows_packed(&env.d1("DB")?, &query.to_sql(), &["b", "k", "n"]).await?;
    json_response(
        200,
        &query.answer(
            rows.into_iter()
                .map(|r| (r.b, r.k.unwrap_or_default(), r.n))
                .collect(),
            now,
        ),
    )
}
