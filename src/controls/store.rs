//! The ingest rules in D1, and this isolate's copy of them: read at most every
//! [`RULES_FRESH_MS`], so a change made anywhere applies everywhere within seconds, and at once
//! in the isolate that made it.

use std::cell::RefCell;
use std::rc::Rc;

use serde::Deserialize;
use worker::{console_warn, D1Database, Env, Result};

use super::rules::{ActiveRule, IngestRule};
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

/// How long an isolate trusts its copy of the rules.
pub const RULES_FRESH_MS: u64 = 5000;

thread_local! {
    static CACHE: RefCell<Option<(u64, Rc<Vec<ActiveRule>>)>> = const { RefCell::new(None) };
}

#[derive(Deserialize)]
struct Row {
    body: String,
}

/// Every rule, in the order they decide.
pub async fn list(db: &D1Database) -> Result<Vec<IngestRule>> {
    let rows: Vec<Row> = d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT body FROM ingest_rules ORDER BY created_at, id".into(),
            binds: vec![],
        },
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .collect())
}

pub async fn count(db: &D1Database) -> Result<usize> {
    Ok(list(db).await?.len())
}

pub async fn insert(db: &D1Database, rule: &IngestRule) -> Result<()> {
    let body = serde_json::to_string(rule)?;
    d1::execute(
        db,
        &SqlQuery {
            sql: "INSERT INTO ingest_rules (id, body, created_at) VALUES (?, ?, ?)".into(),
            binds: vec![
                Bind::Text(rule.id.clone()),
                Bind::Text(body),
                Bind::Text(rule.created_at.clone()),
            ],
        },
    )
    .await?;
    forget();
    Ok(())
}

/// True if a rule was deleted.
pub async fn delete(db: &D1Database, id: &str) -> Result<bool> {
    let changed = d1::execute(
        db,
        &SqlQuery {
            sql: "DELETE FROM ingest_rules WHERE id = ?".into(),
            binds: vec![Bind::Text(id.into())],
        },
    )
    .await?;
    forget();
    Ok(changed > 0)
}

/// Drops this isolate's copy: the next request reads the rules again.
pub fn forget() {
    CACHE.with(|c| c.borrow_mut().take());
}

/// The rules in force, from this isolate's copy while fresh. Unreadable rules are logged and
/// none applied (ingestion never fails for them); the next request tries again.
pub async fn active(env: &Env) -> Rc<Vec<ActiveRule>> {
    let now = crate::platform::clock::millis();
    if let Some(rules) = CACHE.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < RULES_FRESH_MS)
            .map(|(_, rules)| rules.clone())
    }) {
        return rules;
    }
    let read = match env.d1(crate::platform::bindings::DB) {
        Ok(db) => list(&db).await,
        Err(e) => Err(e),
    };
    match read {
        Ok(rules) => {
            let rules: Rc<Vec<ActiveRule>> =
                Rc::new(rules.into_iter().filter_map(ActiveRule::new).collect());
            CACHE.with(|c| *c.borrow_mut() = Some((now, rules.clone())));
            rules
        }
        Err(e) => {
            console_warn!("ingest rules unreadable, none applied to this request: {e}");
            Rc::new(Vec::new())
        }
    }
}

/// What each rule kept out so far, by `(rule, "dropped" | "sampled_out")`, from the counters.
pub async fn hits(db: &D1Database) -> Result<std::collections::HashMap<(String, String), f64>> {
    #[derive(Deserialize)]
    struct Counter {
        name: String,
        labels: String,
        value: f64,
    }
    let rows: Vec<Counter> = d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT name, labels, value FROM metric_counters
                  WHERE name IN ('edge_logger_events_dropped_total', 'edge_logger_events_sampled_out_total')"
                .into(),
            binds: vec![],
        },
    )
    .await?;
    let mut out = std::collections::HashMap::new();
    for row in rows {
        let what = if row.name == "edge_logger_events_dropped_total" {
            "dropped"
        } else {
            "sampled_out"
        };
        if let Some(rule) = label(&row.labels, "rule") {
            *out.entry((rule, what.to_string())).or_insert(0.0) += row.value;
        }
    }
    Ok(out)
}

/// A label's value in Prometheus label text (`project="a",rule="b"`).
fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(rest[..rest.find('"')?].to_string())
}

/// Every project's quota, by project.
type Quotas = Rc<std::collections::HashMap<String, Quota>>;

thread_local! {
    static QUOTAS: RefCell<Option<(u64, Quotas)>> = const { RefCell::new(None) };
}

use super::quota::Quota;

#[derive(Deserialize)]
struct QuotaRow {
    project: String,
    body: String,
}

async fn all_quotas(db: &D1Database) -> Result<std::collections::HashMap<String, Quota>> {
    let rows: Vec<QuotaRow> = d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT project, body FROM project_quotas".into(),
            binds: vec![],
        },
    )
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((r.project, serde_json::from_str(&r.body).ok()?)))
        .collect())
}

/// A project's quota, from this isolate's copy of them all while fresh ([`RULES_FRESH_MS`]).
/// Unreadable quotas are logged and none applied to this request.
pub async fn quota_of(env: &Env, project: &str) -> Option<Quota> {
    let now = crate::platform::clock::millis();
    let cached = QUOTAS.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| now.saturating_sub(*at) < RULES_FRESH_MS)
            .map(|(_, q)| q.clone())
    });
    let quotas = match cached {
        Some(q) => q,
        None => {
            let read = match env.d1(crate::platform::bindings::DB) {
                Ok(db) => all_quotas(&db).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(q) => {
                    let q = Rc::new(q);
                    QUOTAS.with(|c| *c.borrow_mut() = Some((now, q.clone())));
                    q
                }
                Err(e) => {
                    console_warn!("quotas unreadable, none applied to this request: {e}");
                    return None;
                }
            }
        }
    };
    quotas.get(project).cloned()
}

pub async fn get_quota(db: &D1Database, project: &str) -> Result<Option<Quota>> {
    Ok(all_quotas(db).await?.remove(project))
}

pub async fn put_quota(db: &D1Database, project: &str, quota: &Quota, now: &str) -> Result<()> {
    d1::execute(
        db,
        &SqlQuery {
            sql: "INSERT INTO project_quotas (project, body, updated_at) VALUES (?, ?, ?)
                  ON CONFLICT (project) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at"
                .into(),
            binds: vec![
                Bind::Text(project.into()),
                Bind::Text(serde_json::to_string(quota)?),
                Bind::Text(now.into()),
            ],
        },
    )
    .await?;
    QUOTAS.with(|c| c.borrow_mut().take());
    Ok(())
}

pub async fn delete_quota(db: &D1Database, project: &str) -> Result<bool> {
    let changed = d1::execute(
        db,
        &SqlQuery {
            sql: "DELETE FROM project_quotas WHERE project = ?".into(),
            binds: vec![Bind::Text(project.into())],
        },
    )
    .await?;
    QUOTAS.with(|c| c.borrow_mut().take());
    Ok(changed > 0)
}

/// What a project has taken of its quota today and this minute.
pub async fn quota_used(
    db: &D1Database,
    project: &str,
    day: &str,
    minute: &str,
) -> Result<(i64, i64)> {
    #[derive(Deserialize)]
    struct Used {
        n_day: i64,
        n_minute: i64,
        minute: String,
    }
    let rows: Vec<Used> = d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT n_day, n_minute, minute FROM quota_counts WHERE project = ? AND day = ?"
                .into(),
            binds: vec![Bind::Text(project.into()), Bind::Text(day.into())],
        },
    )
    .await?;
    Ok(rows.first().map_or((0, 0), |u| {
        (u.n_day, if u.minute == minute { u.n_minute } else { 0 })
    }))
}

/// What a grant answered: how many events were taken, the day's count, and what the project
/// received today, in this five-minute window and yesterday (for spike protection).
#[derive(Debug, Default, Clone, Copy)]
pub struct Grant {
    pub granted: i64,
    pub day_count: i64,
    pub received_today: i64,
    pub this_window: i64,
    pub yesterday: i64,
}

/// Takes up to `wanted` events of a project's quota now, in one D1 batch (one round trip) with
/// yesterday's count.
pub async fn take(
    db: &D1Database,
    project: &str,
    quota: &Quota,
    wanted: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Grant> {
    let yesterday = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let statements = [
        super::quota::grant(project, quota, wanted, now),
        super::quota::received_on(project, &yesterday),
    ];
    let results: Vec<Vec<serde_json::Value>> = d1::batch_rows(db, &statements).await?;
    let int =
        |v: &serde_json::Value, k: &str| v.get(k).and_then(|n| n.as_f64()).unwrap_or(0.0) as i64;
    let mut grant = Grant::default();
    if let Some(row) = results.first().and_then(|r| r.first()) {
        grant.granted = int(row, "granted");
        grant.day_count = int(row, "day_count");
        grant.received_today = int(row, "received_day");
        grant.this_window = int(row, "n_five");
    }
    if let Some(row) = results.get(1).and_then(|r| r.first()) {
        grant.yesterday = int(row, "received_day");
    }
    Ok(grant)
}
