//! The alert rules' routes (list, create, read, update, delete) and the fired alerts' list;
//! their paths are rows of the route table.

use serde::Serialize;
use serde_json::{json, Value};
use worker::Response;

use super::{json_response, query_pairs, read_json_body, Call};
use crate::alerting::keys::{nonce, CredentialKeySet};
use crate::alerting::receivers::shown_target;
use crate::alerting::rules::{parse_rule, parse_test_request, AlertRule};
use crate::alerting::store::{self as store, RuleRow};
use crate::alerting::time_zones::IntlZones;
use crate::error::AppError;
use crate::platform::bindings;
use crate::platform::clock::clock_text;
use crate::processors::timestamp::{format_ts, from_millis};
use crate::query::logs::{parse_limit, MAX_ALERTS_LIMIT};
use crate::security::auth::{can_see, scope_project, Principal};

#[derive(Serialize)]
struct RuleView {
    id: String,
    builtin: bool,
    #[serde(flatten)]
    rule: AlertRule,
    created_at: String,
    updated_at: String,
}

fn view(row: &RuleRow) -> Option<RuleView> {
    Some(RuleView {
        id: row.id.clone(),
        builtin: row.builtin == 1,
        rule: row.rule()?.redacted(),
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
    })
}

fn visible(principal: &Principal, rule: &AlertRule) -> bool {
    // Rules without a project watch every project: a project key sees them, not their events.
    rule.project.is_none() || can_see(principal, rule.project.as_deref())
}

pub async fn list_rules(c: &Call<'_>) -> Result<Response, AppError> {
    let (env, principal) = (c.env, c.principal());
    let rows = store::list_rules(&env.d1(bindings::DB)?).await?;
    let rules: Vec<RuleView> = rows
        .iter()
        .filter_map(view)
        .filter(|v| visible(principal, &v.rule))
        .collect();
    json_response(200, &json!({ "rules": rules }))
}

pub async fn get_rule(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env, principal) = (c.param("id"), c.env, c.principal());
    let row = store::get_rule(&env.d1(bindings::DB)?, id).await?;
    let rule = row
        .as_ref()
        .and_then(view)
        .filter(|v| visible(principal, &v.rule))
        .ok_or_else(|| AppError::NotFound(format!("No alert rule '{id}'.")))?;
    json_response(200, &rule)
}

/// A rule body read and checked: its form, then that it sends only to public receivers.
async fn read_rule(c: &Call<'_>) -> Result<crate::alerting::rules::AlertRule, AppError> {
    let rule = parse_rule(&read_json_body(c.req, 64 * 1024).await?, &IntlZones)?;
    let allowed = crate::alerting::destinations::Destinations {
        allow_loopback: c.config.alerts.allow_loopback,
    };
    rule.check_destinations(allowed)?;
    Ok(rule)
}

/// Channel credentials are stored sealed (`alerting::keys`).
async fn seal_credentials(
    env: &worker::Env,
    db: &worker::D1Database,
    rule: &mut AlertRule,
) -> Result<(), AppError> {
    let keys = CredentialKeySet::of(env, db).await?;
    for channel in &mut rule.channels {
        *channel = channel.sealed(keys.sealing(), nonce);
    }
    Ok(())
}

pub async fn create_rule(c: &Call<'_>) -> Result<Response, AppError> {
    let env = c.env;
    let mut rule = read_rule(c).await?;
    rule.restore_secrets(None)?;
    let id = format!("rule_{}", uuid::Uuid::new_v4().simple());
    let db = env.d1(bindings::DB)?;
    seal_credentials(env, &db, &mut rule).await?;
    store::upsert_rule(&db, &id, &rule, &clock_text()?).await?;
    let row = store::get_rule(&db, &id)
        .await?
        .ok_or_else(|| AppError::Internal("rule vanished after insert".into()))?;
    json_response(201, &view(&row))
}

pub async fn update_rule(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env) = (c.param("id"), c.env);
    let mut rule = read_rule(c).await?;
    let db = env.d1(bindings::DB)?;
    let existing = store::get_rule(&db, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No alert rule '{id}'.")))?;
    rule.restore_secrets(existing.rule().as_ref())?;
    seal_credentials(env, &db, &mut rule).await?;
    store::upsert_rule(&db, id, &rule, &clock_text()?).await?;
    let row = store::get_rule(&db, id)
        .await?
        .ok_or_else(|| AppError::Internal("rule vanished after update".into()))?;
    json_response(200, &view(&row))
}

pub async fn delete_rule(c: &Call<'_>) -> Result<Response, AppError> {
    let (id, env) = (c.param("id"), c.env);
    let db = env.d1(bindings::DB)?;
    let existing = store::get_rule(&db, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("No alert rule '{id}'.")))?;
    if existing.builtin == 1 {
        return Err(AppError::Conflict(
            "A built-in rule cannot be deleted; PUT it with \"enabled\": false to switch it off."
                .into(),
        ));
    }
    store::delete_rule(&db, id).await?;
    json_response(200, &json!({ "id": id, "deleted": true }))
}

pub async fn list_alerts(c: &Call<'_>) -> Result<Response, AppError> {
    let mut limit = 50i64;
    let mut project = None;
    for (key, value) in query_pairs(&c.url) {
        match key.as_str() {
            "limit" => limit = parse_limit(&value, MAX_ALERTS_LIMIT)? as i64,
            "project" => project = Some(value),
            "key" => {}
            other => {
                return Err(AppError::InvalidParameter(format!(
                    "unknown query parameter '{other}'; /v1/alerts takes limit and project"
                )))
            }
        }
    }
    let project = scope_project(c.principal(), project)?;
    let (alerts, deliveries) =
        store::list_alerts(&c.env.d1(bindings::DB)?, project.as_deref(), limit).await?;
    let alerts: Vec<Value> = alerts.iter().map(|a| alert_view(a, &deliveries)).collect();
    json_response(200, &json!({ "alerts": alerts }))
}

/// An alert as `/v1/alerts` shows it, with its deliveries.
fn alert_view(a: &store::AlertRow, deliveries: &[store::DeliveryRow]) -> Value {
    let channels: Vec<Value> = deliveries
        .iter()
        .filter(|d| d.alert_id == a.id)
        .map(|d| {
            let mut shown = json!(d);
            shown["target"] = json!(shown_target(&d.channel_type, &d.target));
            shown
        })
        .collect();
    let window = a.window_seconds.map(|seconds| json!({"start": from_millis(a.window_start * 1000).map(format_ts), "seconds": seconds}));
    json!({
        "id": a.id,
        "rule": {"id": a.rule_id, "name": a.rule_name},
        "trigger": a.trigger,
        "project": a.project,
        "group_key": a.group_key,
        "count": a.count,
        "window": window,
        "status": a.status,
        "suppressed": a.suppressed,
        "sample_event_id": a.sample_event_id,
        "created_at": a.created_at,
        "resolved_at": a.resolved_at,
        "deliveries": channels,
    })
}

/// `POST /v1/alert-rules/test`: a test notification to each channel, the receivers' answers.
pub async fn test_channels(c: &Call<'_>) -> Result<Response, AppError> {
    let request = parse_test_request(&read_json_body(c.req, 64 * 1024).await?)?;
    let db = c.env.d1(bindings::DB)?;
    let stored = match &request.rule_id {
        Some(id) => Some(
            store::get_rule(&db, id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("No alert rule '{id}'.")))?,
        ),
        None => None,
    };
    let stored_rule = stored.as_ref().and_then(RuleRow::rule);
    let mut channels = match (request.channels, &stored_rule, &stored) {
        (Some(channels), _, _) => channels,
        (None, _, Some(row)) if row.builtin == 1 => {
            crate::alerting::rules::default_channels(c.config.alerts.channels_json.as_deref())
                .map_err(|e| AppError::Conflict(e.to_string()))?
        }
        (None, Some(rule), _) => rule.channels.clone(),
        (None, None, _) => Vec::new(),
    };
    let stored_channels = stored_rule.map(|r| r.channels).unwrap_or_default();
    for (i, channel) in channels.iter_mut().enumerate() {
        *channel = channel
            .restore_masked(i, &stored_channels)
            .map_err(AppError::InvalidParameter)?;
    }
    let allowed = crate::alerting::destinations::Destinations {
        allow_loopback: c.config.alerts.allow_loopback,
    };
    crate::alerting::rules::check_destinations(&channels, allowed)?;
    let results = crate::alerting::manual::test_channels(c.env, &db, &channels).await?;
    json_response(200, &json!({ "results": results }))
}
