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
