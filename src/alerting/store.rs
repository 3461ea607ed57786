//! D1 calls for alerting: rules, threshold crossings, transitions, alerts and deliveries.

use crate::storage::d1::Metered;
use serde::{Deserialize, Serialize};
use worker::{D1Database, Result};

use crate::alerting::query_counts::QueryRule;
use crate::alerting::rules::AlertRule;
use crate::storage::d1::{num, opt_num, opt_text, text};

/// A rule as stored and as the API lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleRow {
    pub id: String,
    pub definition: String,
    pub builtin: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl RuleRow {
    pub fn rule(&self) -> Option<AlertRule> {
        serde_json::from_str(&self.definition).ok()
    }
}

const RULE_COLUMNS: &str = "id, definition, builtin, created_at, updated_at";

/// Inserts or replaces a rule, with its filters projected into the columns the counting
/// trigger joins on.
pub async fn upsert_rule(db: &D1Database, id: &str, rule: &AlertRule, now: &str) -> Result<()> {
    let definition =
        serde_json::to_string(rule).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let m = &rule.matcher;
    db.prepare(
                "INSERT INTO alert_rules (id, name, kind, project, min_severity, environment, component, route, fingerprint, q,
                                  threshold_count, window_seconds, group_by, enabled, builtin, definition, created_at, updated_at,
                                  max_severity, consecutive_windows, query)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 0, ?15, ?16, ?16, ?17, ?18, ?19)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, project = excluded.project,
           min_severity = excluded.min_severity, max_severity = excluded.max_severity,
           consecutive_windows = excluded.consecutive_windows, environment = excluded.environment, component = excluded.component,
           route = excluded.route, fingerprint = excluded.fingerprint, q = excluded.q, threshold_count = excluded.threshold_count,
           window_seconds = excluded.window_seconds, group_by = excluded.group_by, enabled = excluded.enabled,
           definition = excluded.definition, updated_at = excluded.updated_at, query = excluded.query",
    )
    .bind(&[
        text(id),
        text(&rule.name),
        text(rule.trigger.as_str()),
        opt_text(rule.project.as_deref()),
        num(rule.min_severity() as i64),
        opt_text(m.environment.as_deref()),
        opt_text(m.component.as_deref()),
        opt_text(m.route.as_deref()),
        opt_text(m.fingerprint.as_deref()),
        opt_text(m.q.as_deref()),
        num(rule.threshold.count),
        num(rule.threshold.window_seconds),
        opt_text(rule.group_by.as_deref()),
                num(rule.enabled as i64),
        text(&definition),
        text(now),
        num(rule.max_severity() as i64),
        num(rule.threshold.consecutive_windows),
        opt_text(m.query.as_deref()),
    ])?
    .run()
    .await?
    .metered();
    Ok(())
}

/// Enabled threshold rules: the consumer counts each batch's events into them.
pub async fn query_rules(db: &D1Database) -> Result<Vec<QueryRule>> {
    let rows: Vec<RuleRow> = db
        .prepare(format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled = 1 AND kind = 'threshold'"
        ))
        .all()
        .await?
        .metered()
        .results()?;
    Ok(rows
        .into_iter()
        .filter_map(|r| QueryRule::new(r.id.clone(), r.rule()?))
        .collect())
}

pub async fn list_rules(db: &D1Database) -> Result<Vec<RuleRow>> {
    db.prepare(format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY builtin DESC, created_at, id"
    ))
    .all()
    .await?
    .metered()
    .results()
}

pub async fn get_rule(db: &D1Database, id: &str) -> Result<Option<RuleRow>> {
    db.prepare(format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = ?1"
    ))
    .bind(&[text(id)])?
    .first(None)
    .await
}

/// Deletes a user rule (built-in rules are switched off, not deleted). True if one was deleted.
pub async fn delete_rule(db: &D1Database, id: &str) -> Result<bool> {
    let result = db
        .prepare("DELETE FROM alert_rules WHERE id = ?1 AND builtin = 0")
        .bind(&[text(id)])?
        .run()
        .await?
        .metered();
    db.prepare("DELETE FROM alert_counters WHERE rule_id = ?1")
        .bind(&[text(id)])?
        .run()
        .await?
        .metered();
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// A threshold window that reached its count and has no alert yet.
#[derive(Debug, Deserialize)]
pub struct Crossing {
    pub rule_id: String,
    pub definition: String,
    pub builtin: i64,
    pub group_key: String,
    pub window_start: i64,
    pub count: i64,
    pub last_event_id: Option<String>,
}

pub async fn crossings(
    db: &D1Database,
    since: i64,
    builtin_enabled: bool,
) -> Result<Vec<Crossing>> {
    db.prepare(
        "SELECT c.rule_id, r.definition, r.builtin, c.group_key, c.window_start, c.count, c.last_event_id
         FROM alert_counters c JOIN alert_rules r ON r.id = c.rule_id
                  WHERE r.enabled = 1 AND c.count >= r.threshold_count AND c.window_start >= ?1 AND (r.builtin = 0 OR ?2 = 1)
           AND (r.consecutive_windows <= 1 OR r.consecutive_windows - 1 <= (
                 SELECT count(*) FROM alert_counters p
                 WHERE p.rule_id = c.rule_id AND p.group_key = c.group_key AND p.count >= r.threshold_count
                   AND p.window_start >= c.window_start - (r.consecutive_windows - 1) * r.window_seconds
                   AND p.window_start < c.window_start))
           AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.rule_id = c.rule_id AND a.group_key = c.group_key AND a.window_start = c.window_start)
         LIMIT 100",
    )
    .bind(&[num(since), num(builtin_enabled as i64)])?
    .all()
    .await?
    .metered()
    .results()
}

#[derive(Debug, Deserialize)]
pub struct Transition {
    pub id: i64,
    pub kind: String,
    pub fingerprint: String,
    pub event_id: Option<String>,
    /// Why a regression happened when it is not a resolved group's (`ignore_until`).
    pub reason: Option<String>,
}

/// Claims unclaimed transitions atomically: two consumers never both get one.
pub async fn claim_transitions(db: &D1Database) -> Result<Vec<Transition>> {
    db.prepare(
        "UPDATE group_transitions SET claimed = 1
         WHERE id IN (SELECT id FROM group_transitions WHERE claimed = 0 ORDER BY id LIMIT 100)
         RETURNING id, kind, fingerprint, event_id, reason",
    )
    .all()
    .await?
    .metered()
    .results()
}

pub async fn transition_rules(db: &D1Database) -> Result<Vec<RuleRow>> {
    db.prepare(format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled = 1 AND kind IN ('new_group', 'regression')")).all().await?.metered().results()
}

/// Enabled spike and quiet rules, judged by the cron.
pub async fn rate_rules(db: &D1Database) -> Result<Vec<RuleRow>> {
    db.prepare(format!(
        "SELECT {RULE_COLUMNS} FROM alert_rules WHERE enabled = 1 AND kind IN ('spike', 'quiet')"
    ))
    .all()
    .await?
    .metered()
    .results()
}

#[derive(Debug, Deserialize)]
pub struct LastNotified {
    pub id: String,
    pub created_at: String,
}

pub async fn last_notified(
    db: &D1Database,
    rule_id: &str,
    group_key: &str,
) -> Result<Option<LastNotified>> {
    db.prepare("SELECT id, created_at FROM alerts WHERE rule_id = ?1 AND group_key = ?2 AND status = 'notified' ORDER BY created_at DESC LIMIT 1")
        .bind(&[text(rule_id), text(group_key)])?
        .first(None)
        .await
}

pub struct NewAlert<'a> {
    pub id: &'a str,
    pub rule_id: &'a str,
    pub rule_name: &'a str,
    pub trigger: &'a str,
    pub project: Option<&'a str>,
    pub group_key: &'a str,
    pub window_start: i64,
    pub window_seconds: Option<i64>,
    pub count: i64,
    pub status: &'a str,
    pub sample_event_id: Option<&'a str>,
    pub created_at: &'a str,
}

/// Records an alert once per rule, group and window. False when another consumer already did.
pub async fn insert_alert(db: &D1Database, a: &NewAlert<'_>) -> Result<bool> {
    let result = db
        .prepare(
            "INSERT OR IGNORE INTO alerts (id, rule_id, rule_name, trigger, project, group_key, window_start, window_seconds, count, status, sample_event_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .bind(&[
            text(a.id),
            text(a.rule_id),
            text(a.rule_name),
            text(a.trigger),
            opt_text(a.project),
            text(a.group_key),
            num(a.window_start),
            opt_num(a.window_seconds),
            num(a.count),
            text(a.status),
            opt_text(a.sample_event_id),
            text(a.created_at),
        ])?
        .run()
        .await?
        .metered();
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

pub async fn count_suppressed(db: &D1Database, alert_id: &str) -> Result<()> {
    db.prepare("UPDATE alerts SET suppressed = suppressed + 1 WHERE id = ?1")
        .bind(&[text(alert_id)])?
        .run()
        .await?
        .metered();
    Ok(())
}

/// A delivery's record as first written.
pub struct NewDelivery {
    pub id: String,
    pub channel_type: String,
    /// The receiver as people read it: never a credential.
    pub target: String,
    pub status: &'static str,
    pub error: Option<String>,
}

/// Records an alert's deliveries in one D1 round trip. A re-send reuses its rows: one per
/// alert and channel, however long it fires.
pub async fn insert_deliveries(
    db: &D1Database,
    alert_id: &str,
    action: &str,
    now: &str,
    rows: &[NewDelivery],
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let statements = rows
        .iter()
        .map(|r| {
            db.prepare("INSERT OR REPLACE INTO alert_deliveries (id, alert_id, channel_type, target, status, attempts, updated_at, action, last_error) VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?8)")
                .bind(&[text(&r.id), text(alert_id), text(&r.channel_type), text(&r.target), text(r.status), text(now), text(action), opt_text(r.error.as_deref())])
        })
        .collect::<Result<Vec<_>>>()?;
    db.batch(statements)
        .await?
        .iter()
        .for_each(crate::storage::d1::metered);
    Ok(())
}

/// Keeps the notice an alert sent, for its re-sends and its resolution.
pub async fn keep_notice(db: &D1Database, alert_id: &str, notice: &str) -> Result<()> {
    db.prepare("UPDATE alerts SET notice = ?2 WHERE id = ?1")
        .bind(&[text(alert_id), text(notice)])?
        .run()
        .await?
        .metered();
    Ok(())
}

/// An open alert with stateful channels.
#[derive(Debug, Deserialize)]
pub struct OpenAlert {
    pub id: String,
    pub rule_id: String,
    pub notice: String,
}

/// Marks open alerts resolved and returns them (each once, whoever asks first): a group's
/// (`fingerprint`), or, with `cleared_at` (Unix seconds), thresholds and rates whose last
/// crossing is more than a whole window old.
pub async fn resolve_open_alerts(
    db: &D1Database,
    fingerprint: Option<&str>,
    cleared_at: Option<i64>,
    now: &str,
) -> Result<Vec<OpenAlert>> {
    db.prepare(
        "UPDATE alerts SET resolved_at = ?3
         WHERE resolved_at IS NULL AND status = 'notified' AND notice IS NOT NULL
           AND (?1 IS NULL OR group_key = ?1)
           AND (?2 IS NULL OR (window_seconds IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM alerts b WHERE b.rule_id = alerts.rule_id AND b.group_key = alerts.group_key
                   AND b.window_start + 2 * b.window_seconds > ?2)))
         RETURNING id, rule_id, notice",
    )
    .bind(&[opt_text(fingerprint), opt_num(cleared_at), text(now)])?
    .all()
    .await?
    .metered()
    .results()
}

/// Alerts still firing at stateful channels, newest first.
pub async fn open_alerts(db: &D1Database) -> Result<Vec<OpenAlert>> {
    db.prepare(
        "SELECT id, rule_id, notice FROM alerts
         WHERE resolved_at IS NULL AND status = 'notified' AND notice IS NOT NULL
         ORDER BY created_at DESC LIMIT 500",
    )
    .all()
    .await?
    .metered()
    .results()
}

/// Rules by id, with whether each is built in.
pub async fn rules_by_id<'a>(
    db: &D1Database,
    ids: impl Iterator<Item = &'a str>,
) -> Result<std::collections::HashMap<String, (AlertRule, bool)>> {
    let ids: Vec<&str> = ids.collect();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let rows: Vec<RuleRow> = db
        .prepare(format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE id IN (SELECT value FROM json_each(?1))"
        ))
        .bind(&[text(&ids)])?
        .all()
        .await?
        .metered()
        .results()?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.id.clone(), (row.rule()?, row.builtin == 1))))
        .collect())
}

/// Records one delivery attempt; returns the attempts made so far.
pub async fn record_attempt(
    db: &D1Database,
    id: &str,
    delivered: bool,
    error: Option<&str>,
    max_attempts: i64,
    now: &str,
) -> Result<i64> {
    #[derive(Deserialize)]
    struct Row {
        attempts: i64,
    }
    let row: Option<Row> = db
        .prepare(
            "UPDATE alert_deliveries SET attempts = attempts + 1, last_error = ?3, updated_at = ?5,
               status = CASE WHEN ?2 = 1 THEN 'delivered' WHEN attempts + 1 >= ?4 THEN 'failed' ELSE 'retrying' END
             WHERE id = ?1 RETURNING attempts",
        )
        .bind(&[text(id), num(delivered as i64), opt_text(error), num(max_attempts), text(now)])?
        .first(None)
        .await?;
    Ok(row.map(|r| r.attempts).unwrap_or(max_attempts))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct AlertRow {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub trigger: String,
    pub project: Option<String>,
    pub group_key: String,
    pub window_start: i64,
    pub window_seconds: Option<i64>,
    pub count: i64,
    pub status: String,
    pub suppressed: i64,
    pub sample_event_id: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub resolved_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: String,
    pub alert_id: String,
    pub channel_type: String,
    pub target: String,
    #[serde(default)]
    pub action: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: String,
}

/// Newest alerts first, with their deliveries; `project` narrows to one tenant.
pub async fn list_alerts(
    db: &D1Database,
    project: Option<&str>,
    limit: i64,
) -> Result<(Vec<AlertRow>, Vec<DeliveryRow>)> {
    let alerts: Vec<AlertRow> = db
        .prepare(
            "SELECT id, rule_id, rule_name, trigger, project, group_key, window_start, window_seconds,
                    coalesce((SELECT c.count FROM alert_counters c WHERE c.rule_id = a.rule_id AND c.group_key = a.group_key AND c.window_start = a.window_start), count) AS count,
                    status, suppressed, sample_event_id, created_at, resolved_at
             FROM alerts a WHERE (?1 IS NULL OR project = ?1) ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .bind(&[opt_text(project), num(limit)])?
        .all()
        .await?
        .metered()
        .results()?;
    if alerts.is_empty() {
        return Ok((alerts, Vec::new()));
    }
    let ids = serde_json::to_string(&alerts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into());
    let deliveries: Vec<DeliveryRow> = db
        .prepare("SELECT id, alert_id, channel_type, target, action, status, attempts, last_error, updated_at FROM alert_deliveries WHERE alert_id IN (SELECT value FROM json_each(?1)) ORDER BY id")
        .bind(&[text(&ids)])?
        .all()
        .await?
        .metered()
        .results()?;
    Ok((alerts, deliveries))
}
