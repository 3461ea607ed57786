//! D1's side of the event shards: the shard catalogue, the count ledger that makes D1's counts
//! exact across shard and D1 failures, and the events still in D1 from before the shards.

use serde::Deserialize;
use worker::{D1Database, Result};

use crate::shards::ShardInfo;
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

const CATALOGUE_COLUMNS: &str = "name, project, day, seq, version, events, bytes, min_received, max_received, min_ts, max_ts, sealed_after";

#[derive(Deserialize)]
struct StateRow {
    value: Option<String>,
}

const LEGACY_STATE: &str = "SELECT value FROM storage_state WHERE key = 'legacy_events'";

/// Whether the state row says D1 still holds events from before the shards.
fn legacy_in(rows: Vec<serde_json::Value>) -> bool {
    rows.into_iter()
        .filter_map(|v| serde_json::from_value::<StateRow>(v).ok())
        .next()
        .and_then(|r| r.value)
        .is_some_and(|v| v != "migrated")
}

/// The catalogue (one project's shards, or all) and whether D1 still holds events from before
/// the shards, in one round trip.
pub async fn catalogue(db: &D1Database, project: Option<&str>) -> Result<(Vec<ShardInfo>, bool)> {
    let (filter, binds) = match project {
        Some(project) => (" WHERE project = ?", vec![Bind::Text(project.to_string())]),
        None => ("", vec![]),
    };
    let shards = SqlQuery {
        sql: format!("SELECT {CATALOGUE_COLUMNS} FROM shards{filter} ORDER BY day DESC, seq DESC"),
        binds,
    };
    let state = SqlQuery {
        sql: LEGACY_STATE.into(),
        binds: vec![],
    };
    let mut results = d1::batch_rows::<serde_json::Value>(db, &[shards, state]).await?;
    let legacy = legacy_in(results.pop().unwrap_or_default());
    let infos = results
        .pop()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| serde_json::from_value(v).ok())
        .collect();
    Ok((infos, legacy))
}

/// Whether D1 still holds events from before the shards.
/// Every project that has events (`None`: events sent without one).
/// The events stored and bytes kept, by day of the days from `from` to `to` (inclusive).
pub async fn stored_by_day(
    db: &D1Database,
    from: &str,
    to: &str,
) -> Result<Vec<crate::billing::StoredRow>> {
    let query = SqlQuery {
        sql: "SELECT day, sum(events) AS events, sum(bytes) AS bytes FROM shards WHERE day >= ? AND day <= ? GROUP BY day ORDER BY day".into(),
        binds: vec![Bind::Text(from.into()), Bind::Text(to.into())],
    };
    d1::rows(db, &query).await
}

/// The bytes each project's shards keep, by day.
pub async fn bytes_by_project(
    db: &D1Database,
    from: &str,
    to: &str,
) -> Result<Vec<crate::billing::ProjectBytesRow>> {
    let query = SqlQuery {
        sql: "SELECT day, project, sum(bytes) AS bytes FROM shards WHERE day >= ? AND day <= ? GROUP BY day, project".into(),
        binds: vec![Bind::Text(from.into()), Bind::Text(to.into())],
    };
    d1::rows(db, &query).await
}

/// Whether any event of `project` was ever stored.
pub async fn has_project(db: &D1Database, project: &str) -> Result<bool> {
    let query = SqlQuery {
        sql: "SELECT count(*) AS n FROM (SELECT 1 FROM shards WHERE project = ? LIMIT 1)".into(),
        binds: vec![Bind::Text(project.into())],
    };
    Ok(d1::count(db, &query).await? > 0)
}

pub async fn projects(db: &D1Database) -> Result<Vec<Option<String>>> {
    #[derive(Deserialize)]
    struct Row {
        project: Option<String>,
    }
    let query = SqlQuery {
        sql: "SELECT DISTINCT project FROM shards".into(),
        binds: vec![],
    };
    Ok(d1::rows::<Row>(db, &query)
        .await?
        .into_iter()
        .map(|r| r.project.filter(|p| !p.is_empty()))
        .collect())
}

pub async fn legacy_pending(db: &D1Database) -> Result<bool> {
    let query = SqlQuery {
        sql: LEGACY_STATE.into(),
        binds: vec![],
    };
    Ok(legacy_in(d1::rows(db, &query).await?))
}

/// Whether every shard's rows of an earlier release have been rewritten as blocks.
pub async fn rows_rewritten(db: &D1Database) -> Result<bool> {
    #[derive(serde::Deserialize)]
    struct Row {
        value: Option<String>,
    }
    let query = SqlQuery {
        sql: "SELECT value FROM storage_state WHERE key = 'shard_rows'".into(),
        binds: vec![],
    };
    Ok(d1::rows::<Row>(db, &query)
        .await?
        .into_iter()
        .any(|r| r.value.as_deref() == Some("blocks")))
}

/// Records that no shard holds rows any more: every event is in blocks.
pub fn rows_rewritten_done(now: &str) -> SqlQuery {
    SqlQuery {
        sql: "INSERT INTO storage_state (key, value, updated_at) VALUES ('shard_rows', 'blocks', ?)
              ON CONFLICT (key) DO UPDATE SET value = 'blocks', updated_at = excluded.updated_at"
            .into(),
        binds: vec![Bind::Text(now.into())],
    }
}

/// The catalogue rows of the given days (any project), for routing a write.
pub async fn days(db: &D1Database, days: &[&str]) -> Result<Vec<ShardInfo>> {
    d1::rows(
        db,
        &SqlQuery {
            sql: format!("SELECT {CATALOGUE_COLUMNS} FROM shards WHERE day IN (SELECT value FROM json_each(?))"),
            binds: vec![Bind::Text(serde_json::to_string(days).unwrap_or_default())],
        },
    )
    .await
}

/// Records a shard's report; an older report (lower version) than the one kept changes nothing.
pub fn upsert(shard: &ShardInfo, now: &str) -> SqlQuery {
    let stats = &shard.stats;
    let opt = |v: &Option<String>| v.clone().map_or(Bind::Text(String::new()), Bind::Text);
    SqlQuery {
        sql: "INSERT INTO shards (name, project, day, seq, version, events, bytes, min_received, max_received, min_ts, max_ts, sealed_after, created_at, updated_at)
              VALUES (?, ?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), nullif(?, ''), nullif(?, ''), nullif(?, ''), ?, ?)
              ON CONFLICT (name) DO UPDATE SET version = excluded.version, events = excluded.events, bytes = excluded.bytes,
                min_received = excluded.min_received, max_received = excluded.max_received, min_ts = excluded.min_ts,
                max_ts = excluded.max_ts, sealed_after = excluded.sealed_after, updated_at = excluded.updated_at
              WHERE excluded.version > shards.version"
            .into(),
        binds: vec![
            Bind::Text(shard.name.clone()),
            Bind::Text(shard.project.clone()),
            Bind::Text(shard.day.clone()),
            Bind::Int(shard.seq as i64),
            Bind::Int(stats.version),
            Bind::Int(stats.events),
            Bind::Int(stats.bytes),
            opt(&stats.min_received),
            opt(&stats.max_received),
            opt(&stats.min_ts),
            opt(&stats.max_ts),
            opt(&stats.sealed_after),
            Bind::Text(now.into()),
            Bind::Text(now.into()),
        ],
    }
}

/// Forgets a dropped shard.
pub fn remove(name: &str) -> SqlQuery {
    SqlQuery {
        sql: "DELETE FROM shards WHERE name = ?".into(),
        binds: vec![Bind::Text(name.into())],
    }
}

/// The oldest events still in D1, for the move into shards.
pub fn legacy_page(limit: i64) -> SqlQuery {
    SqlQuery {
        sql: "SELECT seq, data FROM events ORDER BY seq LIMIT ?".into(),
        binds: vec![Bind::Int(limit)],
    }
}

/// Records that D1 holds no more events: reads stop asking it.
pub fn legacy_done(now: &str) -> SqlQuery {
    SqlQuery {
        sql: "INSERT INTO storage_state (key, value, updated_at) VALUES ('legacy_events', 'migrated', ?)
              ON CONFLICT (key) DO UPDATE SET value = 'migrated', updated_at = excluded.updated_at"
            .into(),
        binds: vec![Bind::Text(now.into())],
    }
}

/// How many events D1 still holds (for `/v1/storage`).
pub fn legacy_count() -> SqlQuery {
    SqlQuery {
        sql: "SELECT count(*) AS n FROM events".into(),
        binds: vec![],
    }
}
