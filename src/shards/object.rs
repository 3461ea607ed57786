//! The event shard: a SQLite-backed Durable Object holding one project's events of one UTC day
//! (or of one numbered part of it). It answers JSON calls (`ShardCall`) from this worker only:
//! a Durable Object is reachable through its binding alone, never from the internet.
//!
//! Events are kept in compressed blocks (`block`), one row each; the summaries are held in
//! memory once read. A shard made by an earlier release also holds a row store, read beside the
//! blocks until `Compact` has rewritten it.
//!
//! Each call runs its statements without an `await` between them, so the runtime commits them
//! together: a write, its count and its seal are one atomic step.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_json::value::RawValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

use super::block::{self, Head, Incoming};
use super::retry;
use super::{
    BlockExport, ChangeAnswer, CompactAnswer, ExportAnswer, GroupAnswer, PageAnswer, ShardCall,
    ShardStats, WriteAnswer, WriteGroup, RETRY_WINDOW_MS,
};
use crate::model::StoredEvent;
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

/// Runs a statement for its effect.
fn run_effect(db: &SqlStorage, sql: &str, binds: Vec<SqlStorageValue>) -> Result<()> {
    exec(db, sql, Some(binds))?.to_array::<serde_json::Value>()?;
    Ok(())
}

fn failed(what: impl std::fmt::Display) -> worker::Error {
    worker::Error::RustError(what.to_string())
}

/// Blocks whose `event_id`s are kept in memory at most, for client retries (a retry asks the
/// blocks of its last minutes; more than this and the oldest are read again when asked).
const MAX_CACHED_ID_SETS: usize = 64;

/// What this instance knows of its storage, read once: whether a row store of an earlier
/// release is there, every block's summary, and recent blocks' `event_id`s.
#[derive(Default)]
struct Store {
    loaded: bool,
    legacy: bool,
    heads: Vec<Head>,
    ids: HashMap<i64, HashSet<String>>,
}

#[durable_object(fetch)]
pub struct EventShard {
    state: State,
    store: RefCell<Store>,
}

impl DurableObject for EventShard {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            store: RefCell::new(Store::default()),
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
            *self.store.borrow_mut() = Store::default();
            return Response::from_json(&ChangeAnswer::default());
        }
        let db = self.state.storage().sql();
        // What SQLite reads and writes from here to the answer is this call's (no await
        // between: no other call of this isolate runs in between).
        ROWS.with(|r| r.set((0, 0)));
        let mut store = self.store.borrow_mut();
        if !store.loaded {
            load(&db, &mut store)?;
        }
        let answer = answer(&db, &mut store, call)?;
        let (read, written) = ROWS.with(|r| r.replace((0, 0)));
        Response::ok(answer).inspect(|r| {
            let _ = r.headers().set("content-type", "application/json");
            let billed = crate::billing::Meter::header(read, written);
            let _ = r.headers().set(crate::billing::ROWS_HEADER, &billed);
        })
    }
}

fn answer(db: &SqlStorage, store: &mut Store, call: ShardCall) -> Result<String> {
    let text = match call {
        ShardCall::Write {
            project,
            day,
            max_events,
            groups,
        } => serde_json::to_string(&write(db, store, &project, &day, max_events, groups)?),
        ShardCall::Page {
            plain,
            probe,
            walk,
            walk_above,
            filter,
            keep,
        } => {
            let mut pages = Vec::new();
            if store.legacy {
                let query = match (probe, walk) {
                    (Some(probe), Some(walk)) if count(db, &probe)? > walk_above => walk,
                    _ => plain,
                };
                let rows: Vec<DataRow> = run(db, &query)?.to_array()?;
                pages.push(rows.into_iter().map(|r| r.data).collect());
            }
            if let Some(filter) = filter {
                let clock = crate::platform::clock::clock().map_err(failed)?;
                let prepared = (*filter).prepare(clock).map_err(failed)?;
                pages.push(block::page(&store.heads, &prepared, keep, |reads| {
                    open_reads(db, reads)
                })?);
            }
            let rows = super::merge_pages(pages, keep.max(1))
                .into_iter()
                .map(RawValue::from_string)
                .collect::<std::result::Result<_, _>>()?;
            serde_json::to_string(&PageAnswer { rows })
        }
        ShardCall::Find { id } => serde_json::to_string(&find(db, store, &id)?),
        ShardCall::Rows { query } => {
            // SQL over the row store of an earlier release; a shard without one has no rows.
            let rows: Vec<serde_json::Value> = if store.legacy {
                run(db, &query)?.to_array()?
            } else {
                Vec::new()
            };
            serde_json::to_string(&rows)
        }
        ShardCall::Run { queries } => {
            // Counted, not taken from `changes()`: a statement that is not an insert, update or
            // delete leaves the previous statement's count there.
            let before = if store.legacy { legacy_count(db)? } else { 0 };
            for query in &queries {
                // Unbound statements may be several (a schema); bound ones are one each.
                let binds = (!query.binds.is_empty()).then(|| binds(query));
                exec(db, &query.sql, binds)?.to_array::<serde_json::Value>()?;
            }
            // A statement may have made or dropped a table.
            let had_legacy = store.legacy;
            store.legacy = count_of(db, sql::HAS_LEGACY)? > 0;
            let mut changes = 0;
            if store.legacy && !had_legacy {
                return serde_json::to_string(&ChangeAnswer {
                    changes,
                    stats: stats(db, store, true)?,
                })
                .map_err(failed);
            }
            if store.legacy {
                changes = (before - legacy_count(db)?).max(0);
                let events = meta_int(db, "events")? - changes;
                set_meta(db, "events", (events.max(0) as f64).into())?;
            }
            serde_json::to_string(&ChangeAnswer {
                changes,
                stats: stats(db, store, true)?,
            })
        }
        ShardCall::Expire {
            cutoffs,
            export,
            max_blocks,
        } => {
            let expired = block::expired(&store.heads, &cutoffs);
            let mut answer = ExportAnswer::default();
            if export {
                answer.blocks = exported(db, store, expired.into_iter().take(max_blocks))?;
            } else {
                answer.deleted = delete_blocks(db, store, &expired)?;
            }
            answer.stats = stats(db, store, answer.deleted > 0)?;
            serde_json::to_string(&answer)
        }
        ShardCall::DeleteBlocks { seqs } => {
            let deleted = delete_blocks(db, store, &seqs)?;
            serde_json::to_string(&ExportAnswer {
                deleted,
                stats: stats(db, store, deleted > 0)?,
                ..Default::default()
            })
        }
        ShardCall::Export { after, max_blocks } => {
            let seqs: Vec<i64> = store
                .heads
                .iter()
                .map(|h| h.seq)
                .filter(|seq| *seq > after)
                .take(max_blocks)
                .collect();
            serde_json::to_string(&ExportAnswer {
                blocks: exported(db, store, seqs.into_iter())?,
                stats: stats(db, store, false)?,
                ..Default::default()
            })
        }
        ShardCall::Compact { max_rows } => {
            let (moved, left) = compact(db, store, max_rows)?;
            serde_json::to_string(&CompactAnswer {
                moved,
                left,
                stats: stats(db, store, moved > 0)?,
            })
        }
        ShardCall::Stats => serde_json::to_string(&stats(db, store, false)?),
        ShardCall::Drop => unreachable!("answered before"),
    };
    text.map_err(failed)
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

fn count_of(db: &SqlStorage, sql: &str) -> Result<i64> {
    let rows: Vec<CountRow> = exec(db, sql, None)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n).unwrap_or(0.0) as i64)
}

fn legacy_count(db: &SqlStorage) -> Result<i64> {
    count_of(db, sql::COUNT)
}

fn meta(db: &SqlStorage, key: &str) -> Result<Option<serde_json::Value>> {
    let rows: Vec<ValueRow> = exec(db, sql::META_GET, Some(vec![key.into()]))?.to_array()?;
    Ok(rows.into_iter().next().and_then(|r| r.value))
}

fn meta_int(db: &SqlStorage, key: &str) -> Result<i64> {
    Ok(meta(db, key)?.and_then(|v| v.as_f64()).unwrap_or(0.0) as i64)
}

fn set_meta(db: &SqlStorage, key: &str, value: SqlStorageValue) -> Result<()> {
    run_effect(db, sql::META_SET, vec![key.into(), value])
}

/// Reads what the instance keeps in memory: the schema made, the row store's presence, and the
/// block summaries.
fn load(db: &SqlStorage, store: &mut Store) -> Result<()> {
    exec(db, sql::SCHEMA, None)?;
    store.legacy = count_of(db, sql::HAS_LEGACY)? > 0;
    store.heads.clear();
    let cursor = exec(db, sql::BLOCK_HEADS, None)?;
    for row in cursor.raw() {
        let row = row?;
        let (Some(SqlStorageValue::Integer(seq)), Some(SqlStorageValue::String(summary))) =
            (row.first(), row.get(1))
        else {
            return Err(failed("a block row without its number or summary"));
        };
        let bloom = match row.get(2) {
            Some(SqlStorageValue::Blob(bytes)) => bytes.clone(),
            _ => Vec::new(),
        };
        store.heads.push(Head {
            seq: *seq,
            summary: serde_json::from_str(summary).map_err(failed)?,
            bloom,
        });
    }
    drop(cursor);
    store.ids.clear();
    store.loaded = true;
    Ok(())
}

/// A block's data, compressed.
fn open_data(db: &SqlStorage, seq: i64) -> Result<Vec<u8>> {
    let read = block::BlockRead {
        seq,
        span: block::Span::Whole,
    };
    open_reads(db, &[read])?
        .pop()
        .ok_or_else(|| failed(format!("block {seq} is missing")))
}

/// Bytes of blocks' data, in one statement: SQLite cuts each span, so only the spans are copied
/// out to the worker, and a page's reads of many blocks cost one call.
fn open_reads(db: &SqlStorage, reads: &[block::BlockRead]) -> Result<Vec<Vec<u8>>> {
    let spans: Vec<(i64, i64, i64)> = reads
        .iter()
        .map(|read| match read.span {
            block::Span::Whole => (read.seq, 1, -1),
            block::Span::Bytes { offset, len } => (read.seq, offset as i64 + 1, len as i64),
        })
        .collect();
    let spans = serde_json::to_string(&spans)?;
    let cursor = exec(db, sql::BLOCK_SPANS, Some(vec![spans.into()]))?;
    let mut out = Vec::with_capacity(reads.len());
    for row in cursor.raw() {
        match row?.into_iter().next() {
            Some(SqlStorageValue::Blob(bytes)) => out.push(bytes),
            _ => return Err(failed("a block span that is not bytes")),
        }
    }
    if out.len() != reads.len() {
        return Err(failed(format!(
            "{} of {} block spans found",
            out.len(),
            reads.len()
        )));
    }
    Ok(out)
}

/// A block's events.
fn open(db: &SqlStorage, seq: i64) -> Result<Vec<String>> {
    block::decode(&open_data(db, seq)?).map_err(failed)
}

#[derive(Deserialize)]
struct EventIds<'a> {
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    event_id: Option<std::borrow::Cow<'a, str>>,
}

/// The key a client retry repeats: the `event_id` (the worker's `id` for an event without one).
fn retry_key(raw: &str) -> Option<String> {
    let ids: EventIds = serde_json::from_str(raw).ok()?;
    let event_id = ids.event_id.as_deref().unwrap_or_default();
    Some(block::retry_key(event_id, &ids.id).to_string())
}

/// Whether a block holds this retry key, from the kept sets (read and kept on a miss).
fn block_holds(db: &SqlStorage, store: &mut Store, seq: i64, key: &str) -> Result<bool> {
    if !store.ids.contains_key(&seq) {
        if store.ids.len() >= MAX_CACHED_ID_SETS {
            store.ids.clear();
        }
        let set = open(db, seq)?
            .iter()
            .filter_map(|raw| retry_key(raw))
            .collect();
        store.ids.insert(seq, set);
    }
    Ok(store.ids.get(&seq).is_some_and(|set| set.contains(key)))
}

/// Whether the shard's blocks hold an event of this retry key received within the retry window
/// of `received_at`: exact, the lookup's candidates confirmed by reading them.
fn holds(
    db: &SqlStorage,
    store: &mut Store,
    lookup: &retry::Lookup,
    key: &str,
    received_at: &str,
) -> Result<bool> {
    for seq in lookup.candidates(&store.heads, key, received_at) {
        if block_holds(db, store, seq, key)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `event_id`s of these events the legacy rows hold: one statement for a whole group.
fn legacy_held(
    db: &SqlStorage,
    store: &Store,
    project: &str,
    events: &[Box<RawValue>],
) -> Result<HashSet<String>> {
    #[derive(Deserialize)]
    struct Id {
        event_id: String,
    }
    if !store.legacy || events.is_empty() {
        return Ok(HashSet::new());
    }
    let array = super::json_array(events.iter().map(|e| e.get()));
    let held: Vec<Id> = exec(
        db,
        sql::HELD_EVENT_IDS,
        Some(vec![project.into(), array.into()]),
    )?
    .to_array()?;
    Ok(held.into_iter().map(|h| h.event_id).collect())
}

/// Events of a token not yet confirmed counted in the legacy rows.
fn legacy_uncounted(db: &SqlStorage, token: &str) -> Result<Vec<String>> {
    let rows: Vec<DataRow> =
        exec(db, sql::UNCOUNTED_OF_TOKEN, Some(vec![token.into()]))?.to_array()?;
    Ok(rows.into_iter().map(|r| r.data).collect())
}

/// Stores blocks; their summaries join the kept ones.
fn insert_blocks(db: &SqlStorage, store: &mut Store, blocks: Vec<block::Block>) -> Result<()> {
    #[derive(Deserialize)]
    struct Seq {
        seq: f64,
    }
    for b in blocks {
        let summary = serde_json::to_string(&b.summary)?;
        let row: Seq = exec(
            db,
            sql::INSERT_BLOCK,
            Some(vec![
                summary.into(),
                SqlStorageValue::Blob(b.bloom.clone()),
                SqlStorageValue::Blob(b.data),
            ]),
        )?
        .one()?;
        store.heads.push(Head {
            seq: row.seq as i64,
            summary: b.summary,
            bloom: b.bloom,
        });
    }
    Ok(())
}

/// The report the catalogue keeps. `changed`: this call changed rows, so the version moves on.
fn stats(db: &SqlStorage, store: &Store, changed: bool) -> Result<ShardStats> {
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
    let mut out = ShardStats {
        version,
        events: meta_int(db, "events")?,
        bytes: db.database_size() as i64,
        sealed_after: meta(db, "sealed_after")?.and_then(|v| v.as_str().map(str::to_string)),
        ..Default::default()
    };
    let widen = |min: &mut Option<String>, max: &mut Option<String>, lo: &str, hi: &str| {
        if min.as_deref().is_none_or(|m| lo < m) {
            *min = Some(lo.to_string());
        }
        if max.as_deref().is_none_or(|m| hi > m) {
            *max = Some(hi.to_string());
        }
    };
    for h in &store.heads {
        let s = &h.summary;
        widen(
            &mut out.min_received,
            &mut out.max_received,
            &s.min_received,
            &s.max_received,
        );
        widen(&mut out.min_ts, &mut out.max_ts, &s.min_ts, &s.max_ts);
    }
    if store.legacy {
        let row: Row = exec(db, sql::STATS, None)?.one()?;
        if let (Some(lo), Some(hi)) = (&row.min_received, &row.max_received) {
            widen(&mut out.min_received, &mut out.max_received, lo, hi);
        }
        if let (Some(lo), Some(hi)) = (&row.min_ts, &row.max_ts) {
            widen(&mut out.min_ts, &mut out.max_ts, lo, hi);
        }
    }
    Ok(out)
}

/// The newest `received_at` the shard holds, with events about to be stored in this call.
fn newest(db: &SqlStorage, store: &Store, pending: &str) -> Result<Option<String>> {
    #[derive(Deserialize)]
    struct At {
        at: Option<String>,
    }
    let mut at: Option<String> = store
        .heads
        .iter()
        .map(|h| h.summary.max_received.clone())
        .max();
    if store.legacy {
        let row: At = exec(db, sql::NEWEST_RECEIVED, None)?.one()?;
        at = at.max(row.at);
    }
    if !pending.is_empty() {
        at = at.max(Some(pending.to_string()));
    }
    Ok(at)
}

/// Seals the shard at the newest `received_at` it holds: later events go to the next shard.
/// Events received before the seal (still in flight when it came) keep coming here, which
/// bounds a shard's overfill by what was in flight, as `received_at` is stamped at ingest.
fn seal(db: &SqlStorage, store: &Store, pending: &str) -> Result<Option<String>> {
    let at = newest(db, store, pending)?;
    if let Some(at) = &at {
        set_meta(db, "sealed_after", at.as_str().into())?;
    }
    Ok(at)
}

/// One event of a write, parsed.
struct Kept {
    group: usize,
    token: Option<String>,
    raw: Box<RawValue>,
    event: StoredEvent,
}

/// Stores each group's events that belong here (of its day, and at or before the seal if
/// sealed), drops the others whose `event_id` it holds (client retries), hands back the rest,
/// and seals the shard once it holds `max_events`. A redelivered event is found by its
/// `event_id` among the blocks of its minutes and stored once; a group's answer lists every
/// event its token stored, now and before, for D1 to count (once: D1's ledger knows the
/// token). All new events of the call go into one set of blocks, one row per band.
fn write(
    db: &SqlStorage,
    store: &mut Store,
    project: &str,
    day: &str,
    max_events: u64,
    groups: Vec<WriteGroup>,
) -> Result<WriteAnswer> {
    let mut sealed_after = meta(db, "sealed_after")?.and_then(|v| v.as_str().map(str::to_string));
    let mut events = meta_int(db, "events")?;
    let mut answers: Vec<GroupAnswer> = Vec::with_capacity(groups.len());
    let mut kept: Vec<Kept> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut pending_newest = String::new();
    // Each event parsed once; the blocks its retry may repeat found once for the whole write.
    let groups: Vec<(WriteGroup, Vec<Option<StoredEvent>>)> = groups
        .into_iter()
        .map(|group| {
            let parsed = group
                .events
                .iter()
                .map(|raw| {
                    serde_json::from_str::<StoredEvent>(raw.get())
                        .ok()
                        .filter(|e| !e.received_at.is_empty())
                })
                .collect();
            (group, parsed)
        })
        .collect();
    let lookup = retry::Lookup::new(
        &store.heads,
        groups
            .iter()
            .flat_map(|(_, parsed)| parsed.iter().flatten())
            .map(|e| (block::key_of(e), e.received_at.as_str())),
        RETRY_WINDOW_MS,
    );
    let tokens: HashSet<&str> = groups
        .iter()
        .filter_map(|(group, _)| group.token.as_deref())
        .collect();
    let redelivered: HashSet<String> = block::held_tokens(&store.heads, &tokens)
        .into_iter()
        .map(str::to_string)
        .collect();
    for (index, (group, parsed)) in groups.into_iter().enumerate() {
        // Full: seal at the newest event held, before this group, so that one call carrying
        // many messages overfills the shard by at most one message.
        if sealed_after.is_none() && events >= max_events as i64 {
            sealed_after = seal(db, store, &pending_newest)?;
        }
        let mut answer = GroupAnswer::default();
        // What the token stored before (a redelivery, or an earlier hop of this delivery):
        // counted with what it stores now, in one go.
        if let Some(token) = group.token.as_deref() {
            if redelivered.contains(token) {
                for raw in block::token_events(&store.heads, token, |seq| open(db, seq))? {
                    answer.uncounted.push(RawValue::from_string(raw)?);
                }
            }
        }
        let in_rows = legacy_held(db, store, project, &group.events)?;
        for (event, parsed) in group.events.into_iter().zip(parsed) {
            let Some(parsed) = parsed else {
                continue;
            };
            let received_at = parsed.received_at.as_str();
            let here = super::day_of(received_at) == day
                && sealed_after.as_deref().is_none_or(|cut| received_at <= cut);
            let key = block::key_of(&parsed);
            let duplicate = seen.contains(key)
                || in_rows.contains(key)
                || holds(db, store, &lookup, key, received_at)?;
            if !here {
                if !duplicate {
                    answer.moved.push(event);
                }
                continue;
            }
            if duplicate {
                continue;
            }
            seen.insert(key.to_string());
            if received_at > pending_newest.as_str() {
                pending_newest = received_at.to_string();
            }
            events += 1;
            kept.push(Kept {
                group: index,
                token: group.token.clone(),
                raw: event,
                event: parsed,
            });
        }
        if let (Some(token), true) = (group.token.as_deref(), store.legacy) {
            for raw in legacy_uncounted(db, token)? {
                answer.uncounted.push(RawValue::from_string(raw)?);
            }
        }
        answers.push(answer);
    }
    if !kept.is_empty() {
        let incoming: Vec<Incoming<'_>> = kept
            .iter()
            .map(|k| Incoming {
                token: k.token.as_deref(),
                raw: k.raw.get(),
                event: &k.event,
            })
            .collect();
        let blocks = block::build(&incoming);
        insert_blocks(db, store, blocks)?;
        for k in kept {
            if k.token.is_some() {
                answers[k.group].uncounted.push(k.raw);
            }
        }
    }
    set_meta(db, "events", (events as f64).into())?;
    if sealed_after.is_none() && events >= max_events as i64 {
        seal(db, store, "")?;
    }
    Ok(WriteAnswer {
        groups: answers,
        stats: stats(db, store, true)?,
    })
}

/// One event by id: the chunks of blocks whose filters may hold it, then the legacy rows.
fn find(db: &SqlStorage, store: &Store, id: &str) -> Result<Option<DataRow>> {
    let token = crate::query::filter::id_token(id);
    let is = |raw: &str| id_of(raw).as_deref() == Some(id);
    if let Some(raw) = block::find(&store.heads, &token, is, |reads| open_reads(db, reads))? {
        return Ok(Some(DataRow { data: raw }));
    }
    if store.legacy {
        let rows: Vec<DataRow> = exec(db, sql::LEGACY_BY_ID, Some(vec![id.into()]))?.to_array()?;
        return Ok(rows.into_iter().next());
    }
    Ok(None)
}

fn id_of(raw: &str) -> Option<String> {
    serde_json::from_str::<EventIds>(raw)
        .ok()
        .map(|ids| ids.id.into_owned())
}

impl serde::Serialize for DataRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("data", &self.data)?;
        map.end()
    }
}

/// Deletes blocks; answers the events they held.
fn delete_blocks(db: &SqlStorage, store: &mut Store, seqs: &[i64]) -> Result<i64> {
    let gone: i64 = store
        .heads
        .iter()
        .filter(|h| seqs.contains(&h.seq))
        .map(|h| h.summary.count as i64)
        .sum();
    if gone == 0 {
        return Ok(0);
    }
    run_effect(
        db,
        sql::DELETE_BLOCKS,
        vec![serde_json::to_string(seqs)?.into()],
    )?;
    store.heads.retain(|h| !seqs.contains(&h.seq));
    for seq in seqs {
        store.ids.remove(seq);
    }
    let events = (meta_int(db, "events")? - gone).max(0);
    set_meta(db, "events", (events as f64).into())?;
    Ok(gone)
}

fn exported(
    db: &SqlStorage,
    store: &Store,
    seqs: impl Iterator<Item = i64>,
) -> Result<Vec<BlockExport>> {
    let mut out = Vec::new();
    for seq in seqs {
        let band = store
            .heads
            .iter()
            .find(|h| h.seq == seq)
            .map_or(0, |h| h.summary.band);
        let events = open(db, seq)?
            .into_iter()
            .map(RawValue::from_string)
            .collect::<std::result::Result<_, _>>()?;
        out.push(BlockExport { seq, band, events });
    }
    Ok(out)
}

/// Rewrites the oldest `max_rows` legacy rows as blocks (keeping the tokens D1 has yet to
/// count), deletes them, and drops the row store once empty: one transaction, so a read sees
/// every event once, before or after. Answers (rows moved, rows left).
fn compact(db: &SqlStorage, store: &mut Store, max_rows: i64) -> Result<(i64, i64)> {
    if !store.legacy {
        return Ok((0, 0));
    }
    #[derive(Deserialize)]
    struct Row {
        seq: f64,
        data: String,
        token: Option<String>,
    }
    let rows: Vec<Row> = exec(
        db,
        sql::LEGACY_OLDEST,
        Some(vec![(max_rows.max(1) as f64).into()]),
    )?
    .to_array()?;
    let parsed: Vec<StoredEvent> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.data))
        .collect::<std::result::Result<_, _>>()?;
    if let Some(last) = rows.last().map(|r| r.seq) {
        let incoming: Vec<Incoming<'_>> = rows
            .iter()
            .zip(&parsed)
            .map(|(r, event)| Incoming {
                token: r.token.as_deref(),
                raw: &r.data,
                event,
            })
            .collect();
        insert_blocks(db, store, block::build(&incoming))?;
        run_effect(db, sql::LEGACY_DELETE_UPTO, vec![last.into()])?;
        run_effect(db, sql::LEGACY_TOKENS_UPTO, vec![last.into()])?;
    }
    let left = legacy_count(db)?;
    if left == 0 {
        exec(db, sql::LEGACY_DROP, None)?;
        store.legacy = false;
    }
    Ok((rows.len() as i64, left))
}
