//! The platform half of alerting: after each stored batch, and from the cron for rate rules,
//! turn threshold crossings and group transitions into alert records and queue their
//! deliveries on `ALERTS` (made by `crate::alerting::delivery`). Decisions (matching, mute,
//! throttle) are `crate::alerting::rules`', payloads `crate::alerting::channels`'.

use std::rc::Rc;

use worker::{console_error, console_warn, D1Database, Env};

use crate::alerting::channels::{delivery_for, AlertNotice, Delivery, EmailProvider};
use crate::alerting::rules::{decide, AlertRule, Channel, Decision, Trigger};
use crate::alerting::store;
use crate::config::{AlertSettings, Config};
use crate::model::StoredEvent;
use crate::platform::bindings;
use crate::processors::timestamp::{format_ts, from_millis};
use crate::query::analysis::{AnomalyKind, HourlySeries, BASELINE_HOURS};
use crate::query::trends;
use crate::storage::d1;
use crate::storage::queue::send_bytes;

/// How far back threshold windows are looked at (the longest window is a day).
const LOOKBACK_SECONDS: i64 = 2 * 86_400;

/// The deployment's alert settings (read once per isolate, in `Config`) and the e-mail
/// provider they and the bindings make.
pub(super) struct Settings {
    config: Rc<Config>,
    email: EmailProvider,
    /// `ALERT_CHANNELS`, read once per isolate (`read_default_channels`).
    default_channels: Rc<Vec<Channel>>,
}

impl Settings {
    pub(super) fn of(env: &Env) -> Settings {
        let config = Config::get(env);
        let a = &config.alerts;
        let email = EmailProvider {
            url: a.email_api_url.clone(),
            api_key: a.email_api_key.clone(),
            from: a.email_from.clone(),
            binding: env.send_email(bindings::SEND_EMAIL).is_ok(),
        };
        let default_channels = DEFAULT_CHANNELS.with(|cell| {
            cell.get_or_init(|| Rc::new(read_default_channels(a)))
                .clone()
        });
        Settings {
            config,
            email,
            default_channels,
        }
    }

    pub(super) fn alerts(&self) -> &AlertSettings {
        &self.config.alerts
    }
}

thread_local! {
    /// `ALERT_CHANNELS`, read once per isolate like the rest of the settings.
    static DEFAULT_CHANNELS: std::cell::OnceCell<Rc<Vec<Channel>>> = const { std::cell::OnceCell::new() };
}

/// The built-in alerts' channels: `ALERT_CHANNELS` read, each one that names no public receiver
/// skipped; an unreadable value is logged and sends nothing.
fn read_default_channels(a: &AlertSettings) -> Vec<Channel> {
    let allowed = crate::alerting::destinations::Destinations {
        allow_loopback: a.allow_loopback,
    };
    let mut channels = crate::alerting::rules::default_channels(a.channels_json.as_deref())
        .unwrap_or_else(|problem| {
            console_error!("{problem}; built-in alerts are recorded but not sent");
            Vec::new()
        });
    channels.retain(|channel| {
        let refused = channel
            .url()
            .and_then(|url| crate::alerting::destinations::check(url, allowed).err());
        if let Some(why) = &refused {
            console_error!("ALERT_CHANNELS: {why}; that channel is skipped");
        }
        refused.is_none()
    });
    channels
}

pub(super) fn now() -> (chrono::DateTime<chrono::Utc>, String) {
    let t = crate::platform::clock::clock().unwrap_or_default();
    (t, format_ts(t))
}

pub(super) fn describe(e: &worker::Error) -> String {
    match e {
        worker::Error::D1(d1) => d1.cause(),
        other => other.to_string(),
    }
}

/// One candidate alert, from a crossing or a transition.
struct Candidate {
    rule_id: String,
    rule: AlertRule,
    builtin: bool,
    group_key: String,
    window_start: i64,
    count: i64,
    sample_event_id: Option<String>,
    /// Why a transition happened, when not the plain one (a group back from ignore).
    reason: Option<String>,
}

/// Runs after a batch was stored. Failures are logged, never raised: alerting must not make
/// the consumer retry events that are already stored.
pub async fn evaluate(db: &D1Database, env: &Env) {
    if let Err(e) = try_evaluate(db, env).await {
        console_error!(
            "alert evaluation failed (the next batch retries it): {}",
            describe(&e)
        );
    }
}

async fn try_evaluate(db: &D1Database, env: &Env) -> worker::Result<()> {
    let s = Settings::of(env);
    let (now, now_text) = now();
    let mut candidates = Vec::new();
    for c in store::crossings(
        db,
        now.timestamp() - LOOKBACK_SECONDS,
        s.alerts().builtin_enabled,
    )
    .await?
    {
        let Some(rule) = serde_json::from_str::<AlertRule>(&c.definition).ok() else {
            continue;
        };
        candidates.push(Candidate {
            rule_id: c.rule_id,
            rule,
            builtin: c.builtin == 1,
            group_key: c.group_key,
            window_start: c.window_start,
            count: c.count,
            sample_event_id: c.last_event_id,
            reason: None,
        });
    }
    let transitions = store::claim_transitions(db).await?;
    if !transitions.is_empty() {
        let rules = store::transition_rules(db).await?;
        for t in transitions {
            let sample = match &t.event_id {
                Some(id) => sample_event(env, db, id)
                    .await?
                    .and_then(|d| serde_json::from_str::<StoredEvent>(&d).ok()),
                None => None,
            };
            for row in &rules {
                let Some(rule) = row.rule() else { continue };
                if !rule.trigger.takes_transition(&t.kind, t.reason.as_deref())
                    || !sample.as_ref().is_some_and(|e| rule.matches(e))
                {
                    continue;
                }
                candidates.push(Candidate {
                    rule_id: row.id.clone(),
                    rule,
                    builtin: row.builtin == 1,
                    group_key: t.fingerprint.clone(),
                    window_start: t.id,
                    count: 1,
                    sample_event_id: t.event_id.clone(),
                    reason: t.reason.clone(),
                });
            }
        }
    }
    record_and_send(db, env, &s, candidates, now, &now_text).await
}

/// Spike and quiet rules: each rule's hourly series from the rollups, judged by
/// `crate::query::analysis`. Run by the cron; at most one alert per rule and hour (the alert's window
/// is the hour, and alerts are unique per rule, group key and window).
pub async fn evaluate_rates(db: &D1Database, env: &Env) {
    if let Err(e) = try_evaluate_rates(db, env).await {
        console_error!(
            "rate alert evaluation failed (the next run retries it): {}",
            describe(&e)
        );
    }
}

async fn try_evaluate_rates(db: &D1Database, env: &Env) -> worker::Result<()> {
    let rules = store::rate_rules(db).await?;
    if rules.is_empty() {
        return Ok(());
    }
    let s = Settings::of(env);
    let (now, now_text) = now();
    let keys = trends::hour_keys(now, BASELINE_HOURS + 1);
    let hour_start = now.timestamp() - now.timestamp().rem_euclid(3600);
    let elapsed_fraction = trends::elapsed_fraction(now);
    let rules: Vec<(store::RuleRow, AlertRule)> = rules
        .into_iter()
        .filter_map(|row| row.rule().map(|rule| (row, rule)))
        .collect();
    // Every rule's series in one D1 round trip.
    let queries: Vec<_> = rules
        .iter()
        .map(|(_, rule)| crate::alerting::series::rule_query(rule, &keys))
        .collect();
    let series: Vec<Vec<trends::CountRow>> = d1::batch_rows(db, &queries).await?;
    let mut candidates = Vec::new();
    for ((row, rule), rows) in rules.into_iter().zip(series) {
        let counts = trends::series(&keys, &rows);
        let verdict = HourlySeries {
            counts: &counts,
            elapsed_fraction,
        }
        .anomaly();
        let wanted = match rule.trigger {
            Trigger::Spike => AnomalyKind::Spike,
            Trigger::Quiet => AnomalyKind::Drop,
            _ => continue,
        };
        if verdict.kind != Some(wanted) {
            continue;
        }
        candidates.push(Candidate {
            rule_id: row.id.clone(),
            builtin: row.builtin == 1,
            group_key: rule
                .matcher
                .fingerprint
                .clone()
                .unwrap_or_else(|| "all matching events".into()),
            window_start: hour_start,
            count: counts.last().copied().unwrap_or(0),
            sample_event_id: None,
            reason: None,
            rule,
        });
    }
    record_and_send(db, env, &s, candidates, now, &now_text).await
}

/// The event an alert shows as its sample, from the shards (newest first: it was just stored).
async fn sample_event(env: &Env, db: &D1Database, id: &str) -> worker::Result<Option<String>> {
    crate::shards::reader::by_id(env, db, id, None)
        .await
        .map_err(|e| worker::Error::RustError(format!("reading the sample event: {e:?}")))
}

/// Records each candidate alert and queues its deliveries on `ALERTS`.
async fn record_and_send(
    db: &D1Database,
    env: &Env,
    s: &Settings,
    candidates: Vec<Candidate>,
    now: chrono::DateTime<chrono::Utc>,
    now_text: &str,
) -> worker::Result<()> {
    let mut deliveries = Vec::new();
    for candidate in candidates {
        deliveries.extend(record(db, env, s, candidate, now, now_text).await?);
    }
    if !deliveries.is_empty() {
        let bodies: Vec<Vec<u8>> = deliveries
            .iter()
            .map(|d| serde_json::to_vec(d).expect("a delivery serialises"))
            .collect();
        let queue = env.queue(bindings::ALERTS)?;
        for chunk in bodies.chunks(50) {
            send_bytes(&queue, chunk).await?;
        }
    }
    Ok(())
}

/// Records one alert (once, whichever consumer gets there first) and returns its deliveries.
async fn record(
    db: &D1Database,
    env: &Env,
    s: &Settings,
    c: Candidate,
    now: chrono::DateTime<chrono::Utc>,
    now_text: &str,
) -> worker::Result<Vec<Delivery>> {
    let last = store::last_notified(db, &c.rule_id, &c.group_key).await?;
    let last_at = last
        .as_ref()
        .and_then(|l| crate::processors::timestamp::parse_text(&l.created_at));
    let decision = decide(
        &c.rule,
        now,
        last_at,
        &crate::alerting::time_zones::IntlZones,
    );
    let alert_id = format!("alt_{}", uuid::Uuid::new_v4().simple());
    let is_threshold = c.rule.trigger.as_str() == "threshold";
    // Thresholds count within their window; rate rules judge one hour.
    let window_seconds = if is_threshold {
        Some(c.rule.threshold.window_seconds)
    } else if c.rule.trigger.is_rate() {
        Some(3600)
    } else {
        None
    };
    let inserted = store::insert_alert(
        db,
        &store::NewAlert {
            id: &alert_id,
            rule_id: &c.rule_id,
            rule_name: &c.rule.name,
            trigger: c.rule.trigger.as_str(),
            project: c.rule.project.as_deref(),
            group_key: &c.group_key,
            window_start: c.window_start,
            window_seconds,
            count: c.count,
            status: decision.as_str(),
            sample_event_id: c.sample_event_id.as_deref(),
            created_at: now_text,
        },
    )
    .await?;
    if !inserted {
        return Ok(Vec::new());
    }
    match decision {
        Decision::Muted => return Ok(Vec::new()),
        Decision::Throttled => {
            if let Some(last) = last {
                store::count_suppressed(db, &last.id).await?;
            }
            return Ok(Vec::new());
        }
        Decision::Notify => {}
    }
    let sample = match &c.sample_event_id {
        Some(id) => sample_event(env, db, id)
            .await?
            .and_then(|d| serde_json::from_str::<StoredEvent>(&d).ok()),
        None => None,
    };
    let is_rate = c.rule.trigger.is_rate();
    let about_a_group = c.rule.group_by.as_deref() == Some("fingerprint")
        || (!is_threshold && !is_rate)
        || (is_rate && c.rule.matcher.fingerprint.is_some());
    // The group's page in the dashboard, for people; `link` stays the API's.
    let group_url =
        about_a_group.then(|| format!("{}/#/groups/{}", s.alerts().public_url, c.group_key));
    let link = if about_a_group {
        format!("{}/v1/groups/{}", s.alerts().public_url, c.group_key)
    } else {
        format!(
            "{}/v1/logs?min_level={}",
            s.alerts().public_url,
            c.rule.matcher.min_level.as_deref().unwrap_or("trace")
        )
    };
    let window_start = window_seconds
        .is_some()
        .then(|| from_millis(c.window_start * 1000).map(format_ts))
        .flatten();
    let notice = AlertNotice {
        alert_id: alert_id.clone(),
        rule_id: c.rule_id.clone(),
        rule_name: c.rule.name.clone(),
        trigger: c.rule.trigger.as_str().into(),
        group_key: c.group_key.clone(),
        count: c.count,
        window_start,
        window_seconds,
        fired_at: now_text.to_string(),
        link,
        group_url,
        release: sample.as_ref().and_then(|e| e.release.clone()),
        reason: c.reason.clone(),
        sample_event: sample,
    };
    let channels = if c.builtin {
        &s.default_channels
    } else {
        &c.rule.channels
    };
    let mut out = Vec::new();
    for (i, channel) in channels.iter().enumerate() {
        let delivery_id = format!("{alert_id}.{i}");
        let target = match channel {
            Channel::Webhook { url, .. } | Channel::Slack { url } => url.clone(),
            Channel::Email { to } => to.join(", "),
        };
        match delivery_for(channel, &notice, delivery_id.clone(), &s.email) {
            Some(delivery) => {
                store::insert_delivery(
                    db,
                    &delivery_id,
                    &alert_id,
                    &delivery.channel_type,
                    &target,
                    "pending",
                    now_text,
                )
                .await?;
                out.push(delivery);
            }
            None => {
                console_warn!("alert {alert_id}: e-mail channel skipped, EMAIL_API_URL is not set");
                store::insert_delivery(
                    db,
                    &delivery_id,
                    &alert_id,
                    "email",
                    &target,
                    "skipped",
                    now_text,
                )
                .await?;
            }
        }
    }
    Ok(out)
}
