//! `GET /v1/groups`, `GET /v1/groups/{fingerprint}` and `PUT /v1/groups/{fingerprint}` (a
//! group's status): read from the tables the insert triggers maintain, never by scanning events.

use serde::Serialize;
use serde_json::Value;
use worker::{D1Database, Response};

use super::{json_response, open_events, query_pairs, read_json_body, Call};
use crate::error::AppError;
use crate::platform::bindings;
use crate::platform::clock::clock;
use crate::query::groups::{parse_group_search, Group};
use crate::query::groups_store as store;
use crate::query::logs::{into_page, LogQuery};
use crate::query::trends;
use crate::security::auth::{can_see, scope_project, Principal};
use crate::storage::d1;
use crate::triage::workflow;

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
    /// The fingerprints merged into it, with the events each brought.
    merged: Vec<store::MergedFingerprint>,
    events: Vec<crate::query::logs::DetailedEvent>,
    /// Its tickets, one per tracker (Jira, GitHub, ServiceNow).
    tickets: Vec<crate::alerting::ticketing::GroupTicket>,
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

pub async fn list(c: &Call<'_>) -> Result<Response, AppError> {
    let (url, env, principal) = (&c.url, c.env, c.principal());
    let mut query = parse_group_search(&query_pairs(url), crate::platform::clock::clock()?)?;
    query.project = scope_project(principal, query.project.take())?;
    let db = env.d1(bindings::DB)?;
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

pub async fn get(c: &Call<'_>) -> Result<Response, AppError> {
    let (config, fingerprint, env, principal) =
        (&*c.config, c.param("fingerprint"), c.env, c.principal());
    let db = env.d1(bindings::DB)?;
    let group = visible_group(&db, fingerprint, principal).await?;
    let merged = store::merged_into(&db, fingerprint).await?;
    // Its events are its own fingerprint's and those of the fingerprints merged into it.
    let mut events_query = LogQuery {
        project: group.project.clone(),
        exact: vec![("fingerprint", fingerprint.to_string())],
        limit: RECENT_EVENTS,
        ..Default::default()
    };
    let sources: Vec<String> = merged.iter().map(|m| m.fingerprint.clone()).collect();
    events_query.widen_fingerprint(&sources);
    let (mut events, _) = into_page(
        crate::shards::reader::page(env, &db, &events_query).await?,
        RECENT_EVENTS,
    )?;
    open_events(config, &mut events);
    let events = events.into_iter().map(Into::into).collect();
    let group = analyse_groups(&db, vec![group], 24)
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal("a group went missing while analysed".into()))?;
    json_response(
        200,
        &GroupDetail {
            tickets: crate::alerting::ticketing::of_group(&db, &group.group.fingerprint).await?,
            group,
            merged,
            events,
        },
    )
}

/// The group, if it exists and the caller may see its project; else 404 (a project-bound key
/// learns nothing of other projects' groups).
async fn visible_group(
    db: &D1Database,
    fingerprint: &str,
    principal: &Principal,
) -> Result<Group, AppError> {
    store::find(db, fingerprint)
        .await?
        .filter(|g| can_see(principal, g.project.as_deref()))
        .ok_or_else(|| AppError::NotFound(format!("No group with fingerprint '{fingerprint}'.")))
}

/// A visible group that was not merged into another: a merged one is changed through the
/// group it was merged into (409 names it).
async fn unmerged_group(
    db: &D1Database,
    fingerprint: &str,
    principal: &Principal,
) -> Result<Group, AppError> {
    let group = visible_group(db, fingerprint, principal).await?;
    match &group.merged_into {
        Some(target) => Err(AppError::Conflict(format!(
            "Group '{fingerprint}' was merged into '{target}'; change that group, or unmerge this one first."
        ))),
        None => Ok(group),
    }
}

/// `POST /v1/groups/{fingerprint}/merge` `{"fingerprints": [...]}`: those groups' events,
/// past and future, count into this one until they are unmerged.
pub async fn merge(c: &Call<'_>) -> Result<Response, AppError> {
    let (fingerprint, req, env, principal) = (c.param("fingerprint"), c.req, c.env, c.principal());
    let body: Value = serde_json::from_slice(&read_json_body(req, 16 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let sources = workflow::parse_fingerprints(&body, fingerprint)?;
    let db = env.d1(bindings::DB)?;
    let target = unmerged_group(&db, fingerprint, principal).await?;
    let mut statements = Vec::new();
    let now = crate::platform::clock::clock_text()?;
    for source in &sources {
        let group = store::find(&db, source)
            .await?
            .filter(|g| can_see(principal, g.project.as_deref()))
            .ok_or_else(|| {
                AppError::InvalidParameter(format!("fingerprints: no group '{source}'"))
            })?;
        if group.project != target.project {
            return Err(AppError::InvalidParameter(format!(
                "fingerprints: '{source}' is in another project; groups merge within one project"
            )));
        }
        if let Some(into) = &group.merged_into {
            return Err(AppError::Conflict(format!(
                "Group '{source}' is already merged into '{into}'; unmerge it first."
            )));
        }
        statements.extend(store::merge_statements(
            &target.fingerprint,
            source,
            &principal.key_id,
            &now,
        ));
    }
    d1::batch(&db, &statements).await?;
    merged_answer(&db, &target.fingerprint).await
}

/// `DELETE /v1/groups/{fingerprint}/merge` `{"fingerprints": [...]}` (or `?fingerprints=a,b`),
/// and `DELETE /v1/groups/{fingerprint}/merge/{source}`: those fingerprints' future events are
/// their own groups' again, and this group gives back every event they brought.
pub async fn unmerge(c: &Call<'_>) -> Result<Response, AppError> {
    let (fingerprint, principal) = (c.param("fingerprint"), c.principal());
    let in_path = c.route.optional_param("source");
    let listed = query_pairs(&c.url)
        .into_iter()
        .find(|(k, _)| k == "fingerprints")
        .map(|(_, v)| v);
    let body = match in_path.is_none() && listed.is_none() {
        true => read_json_body(c.req, 16 * 1024).await?,
        false => Vec::new(),
    };
    let sources = workflow::unmerge_sources(fingerprint, in_path, listed.as_deref(), &body)?;
    let db = c.env.d1(bindings::DB)?;
    let target = unmerged_group(&db, fingerprint, principal).await?;
    let merged = store::merged_into(&db, &target.fingerprint).await?;
    if let Some(missing) = sources
        .iter()
        .find(|s| !merged.iter().any(|m| &m.fingerprint == *s))
    {
        return Err(AppError::NotFound(format!(
            "'{missing}' is not merged into group '{fingerprint}'."
        )));
    }
    let now = crate::platform::clock::clock_text()?;
    let statements: Vec<_> = sources
        .iter()
        .flat_map(|s| store::unmerge_statements(&target.fingerprint, s, &principal.key_id, &now))
        .collect();
    d1::batch(&db, &statements).await?;
    merged_answer(&db, &target.fingerprint).await
}

/// The group after a merge or unmerge, with what is merged into it.
async fn merged_answer(db: &D1Database, fingerprint: &str) -> Result<Response, AppError> {
    let group = store::find(db, fingerprint)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No group with fingerprint '{fingerprint}'.")))?;
    let merged = store::merged_into(db, fingerprint).await?;
    json_response(
        200,
        &serde_json::json!({ "group": group, "merged": merged }),
    )
}

pub async fn set_status(c: &Call<'_>) -> Result<Response, AppError> {
    let body: Value = serde_json::from_slice(&read_json_body(c.req, 16 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let change = workflow::parse_status_change(&body)?;
    let resolved_after = change
        .in_next_release
        .then(crate::platform::clock::clock_text)
        .transpose()?;
    let db = c.env.d1(bindings::DB)?;
    let group = unmerged_group(&db, c.param("fingerprint"), c.principal()).await?;
    let now = crate::platform::clock::clock_text()?;
    let by = &c.principal().key_id;
    if let Some(assignee) = &change.assignee {
        store::set_assignee(&db, &group.fingerprint, assignee.as_deref()).await?;
        let detail = serde_json::json!({"from": group.assignee, "to": assignee});
        store::add_activity(&db, &group.fingerprint, "assigned", by, &detail, &now).await?;
    }
    if let Some(status) = change.status {
        let key = change
            .in_release
            .as_deref()
            .and_then(crate::processors::release::release_key);
        let in_release = change.in_release.as_deref().map(|r| (r, key.as_deref()));
        let until = change.until.as_ref();
        let (fp, after) = (&group.fingerprint, resolved_after.as_deref());
        store::set_status(&db, fp, status.as_str(), in_release, after, until).await?;
        let detail = serde_json::json!({
            "from": group.status, "to": status, "in_release": change.in_release,
            "in_next_release": change.in_next_release, "until": body.get("until"),
        });
        store::add_activity(&db, &group.fingerprint, "status", by, &detail, &now).await?;
        if status == workflow::GroupStatus::Resolved {
            // Pagers, Alertmanager and trackers close what this group's alerts opened.
            if let Err(e) = crate::alerting::engine::resolve_group(&db, c.env, fp).await {
                worker::console_error!("resolving the alerts of group {fp}: {e}");
            }
        }
    }
    // Read back: the group as stored now, `ignored_until` and its progress included.
    let answer = store::find(&db, &group.fingerprint).await?.unwrap_or(group);
    json_response(200, &answer)
}

/// `POST /v1/groups/{fingerprint}/notes` `{"text", "author"?}`: a note in the group's history.
pub async fn add_note(c: &Call<'_>) -> Result<Response, AppError> {
    let (fingerprint, req, env, principal) = (c.param("fingerprint"), c.req, c.env, c.principal());
    // 64 KiB: the longest note (4000 characters, each possibly an escaped surrogate pair of
    // 12 bytes) and author always fit, so a valid note is never refused as too large.
    let body: Value = serde_json::from_slice(&read_json_body(req, 64 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let text = body
        .get("text")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.chars().count() <= 4000)
        .ok_or_else(|| {
            AppError::InvalidParameter("text is required: 1 to 4000 characters".into())
        })?;
    let author = match body.get("author") {
        None | Some(Value::Null) => principal.key_id.clone(),
        Some(Value::String(a)) if !a.trim().is_empty() && a.chars().count() <= 200 => {
            a.trim().to_string()
        }
        Some(_) => {
            return Err(AppError::InvalidParameter(
                "author must be 1 to 200 characters".into(),
            ))
        }
    };
    let db = env.d1(bindings::DB)?;
    let group = visible_group(&db, fingerprint, principal).await?;
    let now = crate::platform::clock::clock_text()?;
    let detail = serde_json::json!({ "text": text, "key": principal.key_id });
    store::add_activity(&db, &group.fingerprint, "note", &author, &detail, &now).await?;
    json_response(
        201,
        &serde_json::json!({ "kind": "note", "actor": author, "detail": detail, "at": now }),
    )
}

/// `GET /v1/groups/{fingerprint}/activity`: its history, newest first.
pub async fn activity(c: &Call<'_>) -> Result<Response, AppError> {
    let (fingerprint, env, principal) = (c.param("fingerprint"), c.env, c.principal());
    let db = env.d1(bindings::DB)?;
    let group = visible_group(&db, fingerprint, principal).await?;
    let rows = store::activity(&db, &group.fingerprint).await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "kind": r.kind, "actor": r.actor, "at": r.at,
                "detail": serde_json::from_str::<Value>(&r.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    json_response(200, &serde_json::json!({ "activity": entries }))
}

/// `POST /v1/groups/{fingerprint}/tickets` `{"channel": "jira" | {…}, "rule_id"?}`: the group's
/// ticket in that tracker, created now unless it has one (201 created, 200 existing).
pub async fn open_ticket(c: &Call<'_>) -> Result<Response, AppError> {
    let body: Value = serde_json::from_slice(&read_json_body(c.req, 64 * 1024).await?)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let db = c.env.d1(bindings::DB)?;
    let group = unmerged_group(&db, c.param("fingerprint"), c.principal()).await?;
    let rules = crate::alerting::store::list_rules(&db).await?;
    let named = body.get("rule_id").and_then(Value::as_str);
    let defaults =
        crate::alerting::rules::default_channels(c.config.alerts.channels_json.as_deref())
            .unwrap_or_default();
    let rule_channels: Vec<_> = rules
        .iter()
        .filter(|r| named.is_none_or(|id| r.id == id))
        .filter_map(|r| r.rule())
        .filter(|r| r.project.is_none() || r.project == group.project)
        .flat_map(|r| r.channels)
        .collect();
    let defaults = if named.is_some() {
        &[][..]
    } else {
        &defaults[..]
    };
    let candidates = defaults.iter().chain(rule_channels.iter());
    let wanted = body.get("channel").unwrap_or(&Value::Null);
    let channel = crate::alerting::manual::pick_tracker(wanted, candidates)?.ok_or_else(|| {
        AppError::NotFound(format!(
            "No {wanted} channel in ALERT_CHANNELS or the alert rules."
        ))
    })?;
    if wanted.is_object() {
        let allowed = crate::alerting::destinations::Destinations {
            allow_loopback: c.config.alerts.allow_loopback,
        };
        channel
            .validate(0, crate::alerting::rules::channel_url_ok)
            .map_err(AppError::InvalidParameter)?;
        crate::alerting::rules::check_destinations(std::slice::from_ref(&channel), allowed)?;
    }
    let (ticket, created) =
        crate::alerting::manual::open_ticket(c.env, &db, &channel, &group).await?;
    json_response(
        if created { 201 } else { 200 },
        &serde_json::json!({ "ticket": ticket, "created": created }),
    )
}
