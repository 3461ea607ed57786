//! What people do by hand: test a channel before an incident (`POST /v1/alert-rules/test`),
//! and open a group's ticket (`POST /v1/groups/{fp}/tickets`). Both call the receiver at once,
//! not through the queue, so the answer says what the receiver said.

use serde::Serialize;
use serde_json::Value;
use worker::{D1Database, Env};

use super::calls::{execute, Failure};
use super::channels::{deliveries_for, Action, AlertNotice};
use super::destinations::Destinations;
use super::engine::Settings;
use super::keys::CredentialKeySet;
use super::receivers::CredentialKeys;
use super::rules::Channel;
use super::ticketing::{self, GroupTicket};
use super::tickets::{TicketAction, TicketStep};
use crate::error::AppError;
use crate::model::StoredEvent;
use crate::query::groups::Group;

/// What one channel's test got back.
#[derive(Serialize)]
pub struct TestResult {
    pub channel: usize,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub target: String,
    pub ok: bool,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
    /// For receivers that keep state: the test incident was closed again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<bool>,
}

fn test_notice(public_url: &str, now_text: &str) -> AlertNotice {
    let id = format!("test_{}", uuid::Uuid::new_v4().simple());
    AlertNotice {
        alert_id: id.clone(),
        rule_id: "test".into(),
        rule_name: "Test".into(),
        trigger: "test".into(),
        group_key: "test".into(),
        count: 1,
        window_start: None,
        window_seconds: None,
        fired_at: now_text.into(),
        link: format!("{public_url}/v1/alerts"),
        group_url: Some(format!("{public_url}/#/alerts")),
        release: None,
        reason: None,
        sample_event: Some(StoredEvent {
            message: "Test notification from edge-logger: this channel works.".into(),
            level: "info".into(),
            environment: "test".into(),
            service: Some("edge-logger".into()),
            priority: 1,
            ..Default::default()
        }),
        action: Action::Test,
        incident_key: id,
        first_seen: None,
        last_seen: None,
        group_count: None,
        ends_at: Some(now_text.into()),
    }
}

/// Sends a test notification to each channel and reports each receiver's answer. Receivers
/// that keep state (PagerDuty, Opsgenie) get the resolution right after; trackers are only
/// read (the project or repository), never written.
pub async fn test_channels(
    env: &Env,
    db: &D1Database,
    channels: &[Channel],
) -> Result<Vec<TestResult>, AppError> {
    let s = Settings::of(env);
    let keys = CredentialKeySet::of(env, db).await?;
    let allowed = Destinations {
        allow_loopback: s.alerts().allow_loopback,
    };
    let now_text = crate::platform::clock::clock_text()?;
    let notice = test_notice(&s.alerts().public_url, &now_text);
    let mut results = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let mut result = TestResult {
            channel: i,
            kind: channel.kind(),
            target: channel.display_target(),
            ok: false,
            status: None,
            error: None,
            resolved: None,
        };
        let opened = match channel.opened(&CredentialKeys {
            keys: keys.opening(),
        }) {
            Ok(c) => c,
            Err(why) => {
                result.error = Some(why);
                results.push(result);
                continue;
            }
        };
        let deliveries = deliveries_for(
            &opened,
            &notice,
            format!("{}.{i}", notice.alert_id),
            &s.email,
        );
        if deliveries.is_empty() {
            result.error = Some(
                "no e-mail provider is configured (EMAIL_API_URL or the SEND_EMAIL binding)".into(),
            );
        }
        for delivery in deliveries {
            let outcome = match &delivery.ticket {
                Some(step) => ticketing::run(db, step, &delivery.delivery_id, allowed).await.map(|_| 200),
                None if delivery.channel_type == super::channels::EMAIL_BINDING => Err(Failure::Permanent(
                    "e-mail through the SEND_EMAIL binding cannot be tested without sending; send a test alert instead".into(),
                )),
                None => match execute(&delivery.call(), allowed).await {
                    Ok(answer) => {
                        let status = answer.status;
                        result.status = Some(status);
                        answer.verdict().map(|_| status)
                    }
                    Err(f) => Err(f),
                },
            };
            match outcome {
                Ok(status) => {
                    result.ok = true;
                    result.status = Some(status);
                }
                Err(
                    Failure::Permanent(why)
                    | Failure::Retry { reason: why, .. }
                    | Failure::Invalid(why),
                ) => {
                    result.ok = false;
                    result.error = Some(why);
                    break;
                }
            }
        }
        if result.ok && opened.resolves() && !opened.is_tracker() {
            let closing = AlertNotice {
                action: Action::Resolve,
                ..notice.clone()
            };
            let mut resolved = true;
            for d in deliveries_for(
                &opened,
                &closing,
                format!("{}.{i}.resolve", notice.alert_id),
                &s.email,
            ) {
                resolved &= matches!(
                    execute(&d.call(), allowed)
                        .await
                        .map(|a| a.verdict().is_ok()),
                    Ok(true)
                );
            }
            result.resolved = Some(resolved);
        }
        results.push(result);
    }
    Ok(results)
}

/// The group's notice, for a ticket opened by hand.
fn group_notice(
    group: &Group,
    sample: Option<StoredEvent>,
    public_url: &str,
    now_text: &str,
) -> AlertNotice {
    let fp = &group.fingerprint;
    AlertNotice {
        alert_id: format!("manual_{}", uuid::Uuid::new_v4().simple()),
        rule_id: "manual".into(),
        rule_name: "Ticket".into(),
        trigger: "new_group".into(),
        group_key: fp.clone(),
        count: group.count,
        window_start: None,
        window_seconds: None,
        fired_at: now_text.into(),
        link: format!("{public_url}/v1/groups/{fp}"),
        group_url: Some(format!("{public_url}/#/groups/{fp}")),
        release: group.last_release.clone(),
        reason: None,
        sample_event: sample.or_else(|| {
            Some(StoredEvent {
                message: group.title.clone(),
                level: group.level.clone(),
                environment: group.environment.clone().unwrap_or_default(),
                project: group.project.clone(),
                ..Default::default()
            })
        }),
        action: Action::Trigger,
        incident_key: format!("group:{fp}"),
        first_seen: Some(group.first_seen.clone()),
        last_seen: Some(group.last_seen.clone()),
        group_count: Some(group.count),
        ends_at: None,
    }
}

/// Opens the group's ticket in the tracker of `channel` unless it has one; the ticket and
/// whether it was created now.
pub async fn open_ticket(
    env: &Env,
    db: &D1Database,
    channel: &Channel,
    group: &Group,
) -> Result<(GroupTicket, bool), AppError> {
    let s = Settings::of(env);
    let keys = CredentialKeySet::of(env, db).await?;
    let opened = channel
        .opened(&CredentialKeys {
            keys: keys.opening(),
        })
        .map_err(AppError::Conflict)?;
    let sample = match &group.last_event_id {
        Some(id) => crate::shards::reader::by_id(env, db, id, group.project.as_deref())
            .await?
            .and_then(|text| serde_json::from_str::<StoredEvent>(&text).ok()),
        None => None,
    };
    let now_text = crate::platform::clock::clock_text()?;
    let notice = group_notice(group, sample, &s.alerts().public_url, &now_text);
    let mut step = TicketStep::of(&opened, &notice);
    step.action = TicketAction::Open;
    let allowed = Destinations {
        allow_loopback: s.alerts().allow_loopback,
    };
    let me = format!("manual_{}", uuid::Uuid::new_v4().simple());
    let outcome = ticketing::run(db, &step, &me, allowed).await;
    let tracker_said = |why: String| AppError::BadGateway(format!("The tracker refused: {why}"));
    let created = match outcome {
        Ok(Some(note)) => note.starts_with("created"),
        Ok(None) => true,
        Err(Failure::Invalid(why)) => {
            return Err(AppError::InvalidParameter(format!("channel: {why}")))
        }
        Err(Failure::Permanent(why) | Failure::Retry { reason: why, .. }) => {
            return Err(tracker_said(why))
        }
    };
    let ticket = ticketing::of_group(db, &group.fingerprint)
        .await?
        .into_iter()
        .find(|t| t.tracker == step.tracker)
        .ok_or_else(|| {
            AppError::Conflict(
                "Another request is creating this group's ticket; try again in a moment.".into(),
            )
        })?;
    Ok((ticket, created))
}

/// The channel a ticket request names: a channel object, or a tracker type found in the named
/// rule, else in `ALERT_CHANNELS`, else in the rules.
pub fn pick_tracker<'a>(
    wanted: &Value,
    candidates: impl Iterator<Item = &'a Channel>,
) -> Result<Option<Channel>, AppError> {
    match wanted {
        Value::String(kind) => Ok(candidates
            .filter(|c| c.is_tracker())
            .find(|c| c.kind() == kind)
            .cloned()),
        Value::Object(_) => {
            let channel: Channel = serde_json::from_value(wanted.clone()).map_err(|e| {
                AppError::InvalidParameter(format!("channel is not a valid channel: {e}"))
            })?;
            if !channel.is_tracker() {
                return Err(AppError::InvalidParameter(
                    "channel must be a jira, github or servicenow channel".into(),
                ));
            }
            Ok(Some(channel))
        }
        _ => Err(AppError::InvalidParameter(
            "channel is required: a tracker type (jira, github, servicenow) or a channel object"
                .into(),
        )),
    }
}
