//! The platform half of alerting: after each stored batch, and from the cron for rate rules,
//! turn threshold crossings and group transitions into alert records and queue their
//! deliveries on `ALERTS` (made by `crate::alerting::delivery`). Decisions (matching, mute,
//! throttle) are `crate::alerting::rules`', payloads `crate::alerting::channels`'.

use std::rc::Rc;

use worker::{console_error, console_warn, D1Database, Env};

use crate::alerting::channels::{deliveries_for, Action, AlertNotice, Delivery, EmailProvider};
use crate::alerting::keys::{nonce, CredentialKeySet};
use crate::alerting::receivers::CredentialKeys;
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
    pub(super) email: EmailProvider,
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
            .base_url()
            .and_then(|url| crate::alerting::destinations::check(&url, allowed).err());
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
    if candidates.is_empty() {
        return Ok(());
    }
    let keys = CredentialKeySet::of(env, db).await?;
    let mut deliveries = Vec::new();
    for candidate in candidates {
        deliveries.extend(record(db, env, s, &keys, candidate, now, now_text).await?);
    }
    queue_deliveries(env, &deliveries).await
}

async fn queue_deliveries(env: &Env, deliveries: &[Delivery]) -> worker::Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let bodies: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| serde_json::to_vec(d).expect("a delivery serialises"))
        .collect();
    let queue = env.queue(bindings::ALERTS)?;
    for chunk in bodies.chunks(50) {
        send_bytes(&queue, chunk).await?;
    }
    Ok(())
}

/// How long Alertmanager keeps a firing alert without hearing from us: three cron runs, so one
/// lost re-send does not resolve it.
const ALERTMANAGER_HOLD_SECONDS: i64 = 15 * 60;

fn in_seconds(now: chrono::DateTime<chrono::Utc>, seconds: i64) -> String {
    format_ts(now + chrono::Duration::seconds(seconds))
}

/// The deliveries of one notice to a list of channels, each recorded as pending (or skipped or
/// failed, with why) under `base.i`, sealed for the queue.
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    db: &D1Database,
    s: &Settings,
    keys: &CredentialKeySet,
    channels: &[Channel],
    notice: &AlertNotice,
    base: &str,
    only: impl Fn(&Channel) -> bool,
    now_text: &str,
) -> worker::Result<Vec<Delivery>> {
    let action = match (notice.action, base.contains(".resend")) {
        (_, true) => "resend",
        (a, false) => a.as_str(),
    };
    let (mut out, mut records) = (Vec::new(), Vec::new());
    let record =
        |id: &str, kind: &str, target: &str, status: &'static str, error: Option<String>| {
            store::NewDelivery {
                id: id.to_string(),
                channel_type: kind.to_string(),
                target: target.to_string(),
                status,
                error,
            }
        };
    for (i, channel) in channels.iter().enumerate() {
        if !only(channel) {
            continue;
        }
        let delivery_id = format!("{base}.{i}");
        let target = channel.display_target();
        let opened = match channel.opened(&CredentialKeys {
            keys: keys.opening(),
        }) {
            Ok(opened) => opened,
            Err(why) => {
                console_error!("alert {}: {why}", notice.alert_id);
                records.push(record(
                    &delivery_id,
                    channel.kind(),
                    &target,
                    "failed",
                    Some(why),
                ));
                continue;
            }
        };
        let made = deliveries_for(&opened, notice, delivery_id.clone(), &s.email);
        if made.is_empty() && channel.kind() == "email" {
            console_warn!(
                "alert {}: e-mail channel skipped, EMAIL_API_URL is not set",
                notice.alert_id
            );
            records.push(record(&delivery_id, "email", &target, "skipped", None));
        }
        for delivery in made {
            records.push(record(
                &delivery.delivery_id,
                &delivery.channel_type,
                &target,
                "pending",
                None,
            ));
            out.push(delivery.sealed(keys.sealing(), nonce()));
        }
    }
    // One D1 round trip for the alert's records, written before anything is queued.
    store::insert_deliveries(db, &notice.alert_id, action, now_text, &records).await?;
    Ok(out)
}

/// The channels a rule's alerts go to: the deployment's for built-in rules.
fn channels_of<'a>(s: &'a Settings, rule: &'a AlertRule, builtin: bool) -> &'a [Channel] {
    if builtin {
        &s.default_channels
    } else {
        &rule.channels
    }
}

/// Sends the resolution of alerts that were just marked resolved: once per rule and incident,
/// to the channels that keep state.
async fn send_resolutions(
    db: &D1Database,
    env: &Env,
    resolved: Vec<store::OpenAlert>,
    now_text: &str,
) -> worker::Result<usize> {
    if resolved.is_empty() {
        return Ok(0);
    }
    let s = Settings::of(env);
    let keys = CredentialKeySet::of(env, db).await?;
    let rules = store::rules_by_id(db, resolved.iter().map(|a| a.rule_id.as_str())).await?;
    let mut seen = std::collections::HashSet::new();
    let mut deliveries = Vec::new();
    for alert in resolved {
        let Some(mut notice) = serde_json::from_str::<AlertNotice>(&alert.notice).ok() else {
            continue;
        };
        if !seen.insert((alert.rule_id.clone(), notice.incident_key.clone())) {
            continue;
        }
        let Some((rule, builtin)) = rules.get(&alert.rule_id) else {
            continue;
        };
        notice.action = Action::Resolve;
        notice.ends_at = Some(now_text.to_string());
        let base = format!("{}.resolve", alert.id);
        deliveries.extend(
            dispatch(
                db,
                &s,
                &keys,
                channels_of(&s, rule, *builtin),
                &notice,
                &base,
                Channel::resolves,
                now_text,
            )
            .await?,
        );
    }
    let sent = deliveries.len();
    queue_deliveries(env, &deliveries).await?;
    Ok(sent)
}

/// A group was resolved: its open alerts are resolved at their receivers.
pub async fn resolve_group(db: &D1Database, env: &Env, fingerprint: &str) -> worker::Result<usize> {
    let (_, now_text) = now();
    let resolved = store::resolve_open_alerts(db, Some(fingerprint), None, &now_text).await?;
    send_resolutions(db, env, resolved, &now_text).await
}

/// From the cron: thresholds whose condition cleared (a whole window after the last crossing
/// passed without another) are resolved; alerts still firing are re-sent to Alertmanager
/// channels, which forget an alert nobody repeats.
pub async fn maintain_open_alerts(db: &D1Database, env: &Env) {
    if let Err(e) = try_maintain(db, env).await {
        console_error!("open alerts: {}", describe(&e));
    }
}

async fn try_maintain(db: &D1Database, env: &Env) -> worker::Result<()> {
    let (now, now_text) = now();
    let cleared = store::resolve_open_alerts(db, None, Some(now.timestamp()), &now_text).await?;
    send_resolutions(db, env, cleared, &now_text).await?;
    let firing = store::open_alerts(db).await?;
    if firing.is_empty() {
        return Ok(());
    }
    let s = Settings::of(env);
    let keys = CredentialKeySet::of(env, db).await?;
    let rules = store::rules_by_id(db, firing.iter().map(|a| a.rule_id.as_str())).await?;
    let mut deliveries = Vec::new();
    for alert in firing {
        let (Some(mut notice), Some((rule, builtin))) = (
            serde_json::from_str::<AlertNotice>(&alert.notice).ok(),
            rules.get(&alert.rule_id),
        ) else {
            continue;
        };
        let is_alertmanager = |c: &Channel| matches!(c, Channel::Alertmanager { .. });
        let channels = channels_of(&s, rule, *builtin);
        if !channels.iter().any(is_alertmanager) {
            continue;
        }
        notice.ends_at = Some(in_seconds(now, ALERTMANAGER_HOLD_SECONDS));
        let base = format!("{}.resend", alert.id);
        deliveries.extend(
            dispatch(
                db,
                &s,
                &keys,
                channels,
                &notice,
                &base,
                is_alertmanager,
                &now_text,
            )
            .await?,
        );
    }
    queue_deliveries(env, &deliveries).await
}

/// Records one alert (once, whichever consumer gets there first) and returns its deliveries.
async fn record(
    db: &D1Database,
    env: &Env,
    s: &Settings,
    keys: &CredentialKeySet,
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
    let group = match about_a_group {
        true => crate::query::groups_store::find(db, &c.group_key).await?,
        false => None,
    };
    let incident_key = match is_threshold || is_rate {
        true => format!("rule:{}:{}", c.rule_id, c.group_key),
        false => format!("group:{}", c.group_key),
    };
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
        action: Action::Trigger,
        incident_key,
        first_seen: group.as_ref().map(|g| g.first_seen.clone()),
        last_seen: group.as_ref().map(|g| g.last_seen.clone()),
        group_count: group.as_ref().map(|g| g.count),
        ends_at: Some(in_seconds(now, ALERTMANAGER_HOLD_SECONDS)),
    };
    let channels = channels_of(s, &c.rule, c.builtin);
    if channels.iter().any(Channel::resolves) {
        let kept = serde_json::to_string(&notice.for_keeping()).expect("a notice serialises");
        store::keep_notice(db, &alert_id, &kept).await?;
    }
    dispatch(
        db,
        s,
        keys,
        channels,
        &notice,
        &alert_id,
        |_| true,
        now_text,
    )
    .await
}
