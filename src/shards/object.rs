//! The event shard: a SQLite-backed Durable Object holding one project's events of one UTC day
//! (or of one numbered part of it). It answers JSON calls (`ShardCall`) from this worker only:
//! a Durable Object is reachable through its binding alone, never from the internet.
//!
//! Each call runs its statements without an `await` between them, so the runtime commits them
//! together: a write, its count and its seal are one atomic step.

use std::cell::Cell;

use serde::Deserialize;
use serde_json::value::RawValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

use super::{
    json_array, ChangeAnswer, GroupAnswer, PageAnswer, Placement, ShardCall, ShardStats,
    WriteAnswer, WriteGroup,
};
use crate::shards::sql;
use crate::storage::sql::{Bind, SqlQuery};

thread_local! {
    /// SQLite rows this object read and wrote for the call being answered: reported in the
    /// answer's `billing::ROWS_HEADER` (the caller's meter counts them), never added to this
    /// isolate's own meter, which a worker in the same isolate may be flushing too.
    static ROWS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A cursor whose rows read and written are counted once it is done with (dropped after its
/// rows were taken: SQLite's counts are final then).
struct Metered(worker::SqlCursor);

impl std::ops::Deref for Metered {
    type Target = worker::SqlCursor;
    fn deref(&self) -> &worker::SqlCursor {
        &self.0
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        let (read, written) = (self.0.rows_read() as u64, self.0.rows_written() as u64);
        ROWS.with(|r| {
            let (total_read, total_written) = r.get();
            r.set((total_read + read, total_written + written));
        });
    }
}

/// Runs a statement; its rows are counted for the bill (see [`Metered`]).
fn exec(db: &SqlStorage, sql: &str, binds: Option<Vec<SqlStorageValue>>) -> Result<Metered> {
    Ok(Metered(db.exec(sql, binds)?))
}

#[durable_object(fetch)]
pub struct EventShard {
    state: State,
    schema_ready: Cell<bool>,
}

impl DurableObject for EventShard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Parsed from text by serde_json: the events inside stay raw JSON, never a JS object.
        let call: ShardCall = match serde_json::from_str(&req.text().await?) {
            Ok(call) => call,
            Err(e) => return Response::error(format!("not a shard call: {e}"), 400),
        };
        if let ShardCall::Drop = call {
            self.state.storage().delete_all().await?;
            self.schema_ready.set(false);
            return Response::from_json(&ChangeAnswer::default());
        }
        let db = self.state.storage().sql();
        // What SQLite reads and writes from here to the answer is this call's (no await
        // between: no other call of this isolate runs in between).
        ROWS.with(|r| r.set((0, 0)));
        if !self.schema_ready.get() {
            exec(&db, sql::SCHEMA, None)?;
            self.schema_ready.set(true);
        }
        let answer = match call {
            ShardCall::Write {
                project,
                day,
                max_events,
                groups,
                confirm,
            } => {
                if !confirm.is_empty() {
                    let tokens = serde_json::to_string(&confirm)?;
                    exec(&db, sql::CONFIRM_TOKENS, Some(vec![tokens.into()]))?
                        .to_array::<serde_json::Value>()?;
                }
                serde_json::to_string(&write(&db, &project, &day, max_events, groups)?)
            }
            ShardCall::Page {
                plain,
                probe,
                walk,
                walk_above,
            } => {
                let query = match (probe, walk) {
                    (Some(probe), Some(walk)) if count(&db, &probe)? > walk_above => walk,
                    _ => plain,
                };
                let rows: Vec<DataRow> = run(&db, &query)?.to_array()?;
                let rows = rows
                    .into_iter()
                    .map(|r| RawValue::from_string(r.data))
                    .collect::<std::result::Result<_, _>>()?;
                serde_json::to_string(&PageAnswer { rows })
            }
            ShardCall::Rows { query } => {
                let rows: Vec<serde_json::Value> = run(&db, &query)?.to_array()?;
                serde_json::to_string(&rows)
            }
            ShardCall::Run { queries } => {
                // Counted, not taken from `changes()`: a statement that is not an insert,
                // update or delete leaves the previous statement's count there.
                let before = true_count(&db)?;
                for query in &queries {
                    run(&db, query)?.to_array::<serde_json::Value>()?;
                }
                let events = true_count(&db)?;
                set_meta(&db, "events", (events as f64).into())?;
                let changes = (before - events).max(0);
                serde_json::to_string(&ChangeAnswer {
                    changes,
                    stats: stats(&db, true)?,
                })
            }
            ShardCall::Stats => serde_json::to_string(&stats(&db, false)?),
            ShardCall::Drop => unreachable!("answered above"),
        };
        let answer = answer.map_err(|e| worker::Error::RustError(e.to_string()))?;
        let (read, written) = ROWS.with(|r| r.replace((0, 0)));
        Response::ok(answer).inspect(|r| {
            let _ = r.headers().set("content-type", "application/json");
            let billed = crate::billing::Meter::header(read, written);
            let _ = r.headers().set(crate::billing::ROWS_HEADER, &billed);
        })
    }
}

#[derive(Deserialize)]
struct DataRow {
    data: String,
}

#[derive(Deserialize)]
struct CountRow {
    n: Option<f64>,
}

#[derive(Deserialize)]
struct ValueRow {
    value: Option<serde_json::Value>,
}

fn binds(query: &SqlQuery) -> Vec<SqlStorageValue> {
    query
        .binds
        .iter()
        .map(|b| match b {
            Bind::Text(s) => SqlStorageValue::from(s.as_str()),
            Bind::Int(n) => SqlStorageValue::from(*n as f64),
            Bind::Real(x) => SqlStorageValue::from(*x),
            Bind::Null => SqlStorageValue::Null,
        })
        .collect()
}

fn run(db: &SqlStorage, query: &SqlQuery) -> Result<Metered> {
    exec(db, &query.sql, Some(binds(query)))
}

fn count(db: &SqlStorage, query: &SqlQuery) -> Result<i64> {
    let rows: Vec<CountRow> = run(db, query)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).unwrap_or(0.0) as i64)
}

fn true_count(db: &SqlStorage) -> Result<i64> {
    let rows: Vec<CountRow> = exec(db, sql::COUNT, None)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).unwrap_or(0.0) as i64)
}

fn last_changes(db: &SqlStorage) -> Result<i64> {
    let rows: Vec<CountRow> = exec(db, sql::CHANGES, None)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).unwrap_or(0.0) as i64)
}

fn meta(db: &SqlStorage, key: &str) -> Result<Option<serde_json::Value>> {
    let rows: Vec<ValueRow> = exec(db, sql::META_GET, Some(vec![key.into()]))?.to_array()?;
    Ok(rows.into_iter().next().and_then(|r| r.value))
}

fn meta_int(db: &SqlStorage, key: &str) -> Result<i64> {
    Ok(meta(db, key)?.and_then(|v| v.as_f64()).unwrap_or(0.0) as i64)
}

fn set_meta(db: &SqlStorage, key: &str, value: SqlStorageValue) -> Result<()> {
    exec(db, sql::META_SET, Some(vec![key.into(), value]))?.to_array::<serde_json::Value>()?;
    Ok(())
}

/// The report the catalogue keeps. `changed`: this call changed rows, so the version moves on.
fn stats(db: &SqlStorage, changed: bool) -> Result<ShardStats> {
    #[derive(Deserialize)]
    struct Row {
        min_received: Option<String>,
        max_received: Option<String>,
        min_ts: Option<String>,
        max_ts: Option<String>,
    }
    let mut version = meta_int(db, "version")?;
    if changed {
        version += 1;
        set_meta(db, "version", (version as f64).into())?;
    }
    let row: Row = exec(db, sql::STATS, None)?.one()?;
    let events = meta_int(db, "events")?;
    Ok(ShardStats {
        version,
        events,
        bytes: db.database_size() as i64,
        min_received: row.min_received,
        max_received: row.max_received,
        min_ts: row.min_ts,
        max_ts: row.max_ts,
        sealed_after: meta(db, "sealed_after")?.and_then(|v| v.as_str().map(str::to_string)),
    })
}

/// Seals the shard at the newest `received_at` it holds: later events go to the next shard.
/// Events received before the seal (still in flight when it came) keep coming here, which
/// bounds a shard's overfill by what was in flight, as `received_at` is stamped at ingest.
fn seal(db: &SqlStorage) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct At {
        at: Option<String>,
    }
    let newest: At = exec(db, sql::NEWEST_RECEIVED, None)?.one()?;
    if let Some(at) = &newest.at {
        set_meta(db, "sealed_after", at.as_str().into())?;
    }
    Ok(newest.at)
}

/// The events whose `event_id` this shard does not hold.
fn without_stored(
    db: &SqlStorage,
    project: &str,
    events: Vec<Box<RawValue>>,
) -> Result<Vec<Box<RawValue>>> {
    if events.is_empty() {
        return Ok(events);
    }
    #[derive(Deserialize)]
    struct Id {
        event_id: String,
    }
    let array = json_array(events.iter().map(|e| e.get()));
    let held: Vec<Id> = exec(
        db,
        sql::HELD_EVENT_IDS,
        Some(vec![project.into(), array.into()]),
    )?
    .to_array()?;
    if held.is_empty() {
        return Ok(events);
    }
    let held: std::collections::HashSet<String> = held.into_iter().map(|h| h.event_id).collect();
    Ok(events
        .into_iter()
        .filter(|e| {
            serde_json::from_str::<Id>(e.get()).map_or(true, |id| !held.contains(&id.event_id))
        })
        .collect())
}

/// Stores each group's events that belong here (of its day, and at or before the seal if
/// sealed), drops the others whose `event_id` it holds (client retries), hands back the rest,
/// and seals the shard once it holds `max_events`.
fn write(
    db: &SqlStorage,
    project: &str,
    day: &str,
    max_events: u64,
    groups: Vec<WriteGroup>,
) -> Result<WriteAnswer> {
    let mut sealed_after = meta(db, "sealed_after")?.and_then(|v| v.as_str().map(str::to_string));
    let mut events = meta_int(db, "events")?;
    let mut answers = Vec::with_capacity(groups.len());
    for group in groups {
        // Full: seal at the newest event held, before this group, so that one call carrying
        // many messages overfills the shard by at most one message.
        if sealed_after.is_none() && events >= max_events as i64 {
            sealed_after = seal(db)?;
        }
        let (keep, moved): (Vec<Box<RawValue>>, Vec<Box<RawValue>>) =
            group.events.into_iter().partition(|event| {
                serde_json::from_str::<Placement>(event.get()).is_ok_and(|p| {
                    super::day_of(&p.received_at) == day
                        && sealed_after
                            .as_deref()
                            .is_none_or(|cut| p.received_at.as_ref() <= cut)
                })
            });
        let moved = without_stored(db, project, moved)?;
        let mut uncounted = Vec::new();
        if !keep.is_empty() {
            let array = json_array(keep.iter().map(|e| e.get()));
            exec(db, sql::INSERT_EVENTS, Some(vec![array.into()]))?
                .to_array::<serde_json::Value>()?;
            let stored = last_changes(db)?;
            events += stored;
            if let Some(token) = &group.token {
                if stored > 0 {
                    exec(
                        db,
                        sql::RECORD_RANGE,
                        Some(vec![token.as_str().into(), (stored as f64).into()]),
                    )?
                    .to_array::<serde_json::Value>()?;
                }
                let rows: Vec<DataRow> = exec(
                    db,
                    sql::UNCOUNTED_OF_TOKEN,
                    Some(vec![token.as_str().into()]),
                )?
                .to_array()?;
                uncounted = rows
                    .into_iter()
                    .map(|r| RawValue::from_string(r.data))
                    .collect::<std::result::Result<_, _>>()?;
            }
        }
        answers.push(GroupAnswer { uncounted, moved });
    }
    set_meta(db, "events", (events as f64).into())?;
    if sealed_after.is_none() && events >= max_events as i64 {
        seal(db)?;
    }
    Ok(WriteAnswer {
        groups: answers,
        stats: stats(db, true)?,
    })
}
