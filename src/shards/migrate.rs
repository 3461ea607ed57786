//! The move of events stored in D1 before the shards: on every cron run, batch by batch, the
//! oldest D1 events are written into their shards (uncounted: D1 counted them when they
//! arrived) and only then deleted from D1. Resumable and idempotent: a batch written but not
//! deleted is written again next time and the shards ignore what they hold; reads ask D1 and
//! the shards until D1 is empty, and keep an event found in both once.
//!
//! Then the rewrite of shards made by earlier releases, which kept a row per event: each cron
//! run asks every shard to rewrite a bounded number of its oldest rows as blocks, in one
//! transaction per call (a read sees each event once, in rows or in a block), until no shard
//! has rows left; D1's `storage_state` then says so and the runs stop asking.

use crate::platform::objects::CallError;
use serde::Deserialize;
use serde_json::value::RawValue;
use worker::{console_error, D1Database, Env};

use super::writer::{write, MessageEvents};
use crate::shards::catalogue;
use crate::storage::d1;

/// Events per batch: ≈1 MB read from D1 and one shard call per day they span.
const BATCH: i64 = 500;
/// A run stops after this long, leaving the rest to the next one (cron every 5 minutes).
const RUN_BUDGET_MS: u64 = 20_000;

#[derive(Deserialize)]
struct LegacyRow {
    seq: i64,
    data: String,
}

/// Moves what fits in one run; returns the events moved.
pub async fn run(env: &Env, db: &D1Database, max_events: u64) -> usize {
    let started = crate::platform::clock::millis();
    let mut moved = 0;
    match catalogue::legacy_pending(db).await {
        Ok(true) => {}
        Ok(false) => return moved,
        Err(e) => {
            console_error!("moving D1 events: reading the storage state failed: {e}");
            return moved;
        }
    }
    // A step that finds D1 empty marks the move done and returns 0.
    loop {
        match step(env, db, max_events).await {
            Ok(0) => return moved,
            Ok(n) => moved += n,
            Err(e) => {
                console_error!("moving D1 events into shards stopped, the next run resumes: {e}");
                return moved;
            }
        }
        if crate::platform::clock::millis().saturating_sub(started) > RUN_BUDGET_MS {
            return moved;
        }
    }
}

/// One batch: read, write into shards, then delete from D1 with the catalogue's reports in one
/// D1 transaction. An empty D1 marks the move done.
async fn step(env: &Env, db: &D1Database, max_events: u64) -> Result<usize, CallError> {
    let now = crate::platform::clock::clock_text().map_err(|e| CallError::new(format!("{e:?}")))?;
    let rows: Vec<LegacyRow> = d1::rows(db, &catalogue::legacy_page(BATCH))
        .await
        .map_err(|e| CallError::new(e.to_string()))?;
    if rows.is_empty() {
        d1::execute(db, &catalogue::legacy_done(&now))
            .await
            .map_err(|e| CallError::new(e.to_string()))?;
        return Ok(0);
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let events = rows
        .into_iter()
        .map(|r| RawValue::from_string(r.data))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CallError::new(format!("an event in D1 is not JSON: {e}")))?;
    let written = write(
        env,
        db,
        vec![MessageEvents {
            body: String::new(),
            events,
        }],
        false,
        max_events,
        &now,
    )
    .await;
    if let Some(Err(reason)) = written.counts.first() {
        return Err(reason.clone());
    }
    let mut statements = written.catalogue;
    statements.push(crate::shards::retention::delete_seqs(&seqs));
    d1::batch(db, &statements)
        .await
        .map_err(|e| CallError::new(e.to_string()))?;
    Ok(seqs.len())
}

/// Rows a shard rewrites per call: a few blocks' worth, well within a call's CPU time.
const REWRITE_ROWS: i64 = 2000;

/// One run of the row-to-block rewrite; returns the rows rewritten.
pub async fn rewrite_rows(env: &Env, db: &D1Database) -> usize {
    use crate::shards::{client::call, CompactAnswer, ShardCall, ShardInfo};
    match catalogue::rows_rewritten(db).await {
        Ok(false) => {}
        Ok(true) => return 0,
        Err(e) => {
            console_error!("rewriting shard rows: reading the storage state failed: {e}");
            return 0;
        }
    }
    let started = crate::platform::clock::millis();
    let (shards, _) = match catalogue::catalogue(db, None).await {
        Ok(found) => found,
        Err(e) => {
            console_error!("rewriting shard rows: reading the catalogue failed: {e}");
            return 0;
        }
    };
    let Ok(ns) = crate::shards::client::namespace(env) else {
        return 0;
    };
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    let mut moved = 0;
    let mut all_done = true;
    for shard in &shards {
        loop {
            if crate::platform::clock::millis().saturating_sub(started) > RUN_BUDGET_MS {
                return moved;
            }
            let call_compact = ShardCall::Compact {
                max_rows: REWRITE_ROWS,
            };
            match call::<CompactAnswer>(&ns, &shard.name, &call_compact).await {
                Ok(answer) => {
                    moved += answer.moved as usize;
                    if answer.moved > 0 {
                        let report = ShardInfo {
                            stats: answer.stats,
                            ..shard.clone()
                        };
                        if let Err(e) = d1::execute(db, &catalogue::upsert(&report, &now)).await {
                            console_error!(
                                "rewriting shard rows: catalogue of {} not updated: {e}",
                                shard.name
                            );
                        }
                    }
                    if answer.left == 0 {
                        break;
                    }
                }
                Err(e) => {
                    console_error!(
                        "rewriting the rows of {} stopped, the next run resumes: {e}",
                        shard.name
                    );
                    all_done = false;
                    break;
                }
            }
        }
    }
    if all_done {
        if let Err(e) = d1::execute(db, &catalogue::rows_rewritten_done(&now)).await {
            console_error!("rewriting shard rows: the done mark failed: {e}");
        }
    }
    moved
}
