//! Where events live: SQLite-backed Durable Objects ("shards"), one per project and UTC day of
//! `received_at`, split into further numbered shards of the same day when one passes
//! `SHARD_MAX_EVENTS`. D1 keeps the control plane and the shard catalogue; a shard keeps its
//! events in compressed blocks (`block`), and a shard of an earlier release its row store too
//! until that is rewritten.
//!
//! Placement is a function of the event alone: its project, the day of its `received_at`, and
//! which numbered shard of that day covers its `received_at`. A shard that fills seals itself at
//! the newest `received_at` it holds: it keeps accepting events at or before that instant (late
//! queue deliveries) and hands back anything later, which goes to the next number. A seal only
//! ever cuts off the future, so a redelivered event lands on the shard that stored it the first
//! time, and the shards of a day hold disjoint, ordered ranges of `received_at`.
//!
//! Pure: the plan of a write, of a read and of retention, the wire types of a shard call, the
//! merge of pages, and the blocks. The Durable Object itself is `object`, the calls to it `client`, the fan-out
//! reads `reader`, the writes `writer`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::processors::timestamp::{format_ts, parse_text};
use crate::shards::retention::RetentionDays;
use crate::storage::sql::SqlQuery;

pub mod block;
#[cfg(target_arch = "wasm32")]
pub(crate) mod catalogue;
#[cfg(target_arch = "wasm32")]
pub mod client;
#[cfg(target_arch = "wasm32")]
pub mod migrate;
#[cfg(target_arch = "wasm32")]
pub mod object;
#[cfg(target_arch = "wasm32")]
pub mod reader;
pub mod retention;
pub mod retry;
pub mod sql;
#[cfg(target_arch = "wasm32")]
pub mod writer;

/// Default of `SHARD_MAX_EVENTS`: a million events is well under 1 GB in blocks (and was ≈4 GB
/// in the row store of earlier releases), far below a Durable Object's 10 GB; a shard's
/// summaries, held in memory, stay a few megabytes.
pub const DEFAULT_SHARD_MAX_EVENTS: u64 = 1_000_000;

/// Workers allow six open connections at once; shard calls are made at most this many at a time.
pub const MAX_PARALLEL_CALLS: usize = 6;

/// A shard's name: the Durable Object's name and the catalogue's key. The project comes last so
/// that any project name (which may hold `:`) keeps the name unambiguous.
pub fn shard_name(project: &str, day: &str, seq: u32) -> String {
    format!("events:{day}:{seq}:{project}")
}

/// The UTC day of a stored time (`2026-11-23T08:20:58.123Z` → `2026-11-23`).
pub fn day_of(received_at: &str) -> &str {
    received_at.get(..10).unwrap_or(received_at)
}

/// The UTC day before a day (`2026-12-01` → `2026-11-30`); `''` for a text that is no day.
pub fn day_before(day: &str) -> String {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.pred_opt())
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A row of the shard catalogue (D1 `shards`): where the shard is, and its last report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ShardInfo {
    pub name: String,
    /// `''` for events without a project.
    pub project: String,
    pub day: String,
    pub seq: u32,
    #[serde(flatten)]
    pub stats: ShardStats,
}

/// What a shard says of itself after every change; `version` orders the reports of concurrent
/// writers so the catalogue keeps the newest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ShardStats {
    pub version: i64,
    pub events: i64,
    pub bytes: i64,
    pub min_received: Option<String>,
    pub max_received: Option<String>,
    pub min_ts: Option<String>,
    pub max_ts: Option<String>,
    /// Set once the shard is full: it holds no event received after this instant.
    pub sealed_after: Option<String>,
}

/// The numbered shard of a day that covers `received_at`, given that day's catalogue rows in
/// `seq` order: the first that is not sealed before it; past the last sealed one, the next number.
/// A catalogue that lags behind a seal only costs a hop: the shard hands the event back.
pub fn route(day_chain: &[&ShardInfo], received_at: &str) -> u32 {
    for shard in day_chain {
        match &shard.stats.sealed_after {
            Some(cut) if received_at > cut.as_str() => continue,
            _ => return shard.seq,
        }
    }
    day_chain.last().map_or(0, |s| s.seq + 1)
}

/// How long after a seal, or after midnight, an event may be a client's retry of one stored in
/// the shard before: such an event goes through that shard first, which drops it if it holds
/// its `event_id` and hands it on otherwise.
pub const RETRY_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The first shard a write of this event asks: the shard that covers it, or, within
/// [`RETRY_WINDOW_MS`] of that shard's start, the shard before it (which dedupes and hands on).
/// Returns `(day, seq)`.
pub fn first_hop(
    known: &[ShardInfo],
    project: &str,
    day: &str,
    received_at: &str,
) -> (String, u32) {
    let chain = day_chain(known, project, day);
    let seq = route(&chain, received_at);
    let Some(at) = parse_text(received_at) else {
        return (day.to_string(), seq);
    };
    let window = Duration::milliseconds(RETRY_WINDOW_MS);
    if seq > 0 {
        let before = chain.iter().find(|s| s.seq == seq - 1);
        if let Some(cut) = before
            .and_then(|s| s.stats.sealed_after.as_deref())
            .and_then(parse_text)
        {
            if at <= cut + window {
                return (day.to_string(), seq - 1);
            }
        }
        return (day.to_string(), seq);
    }
    let midnight = at.date_naive().and_hms_opt(0, 0, 0).map(|m| m.and_utc());
    if midnight.is_some_and(|m| at < m + window) {
        let yesterday = day_before(day);
        if let Some(last) = day_chain(known, project, &yesterday).last() {
            return (yesterday, last.seq);
        }
    }
    (day.to_string(), seq)
}

/// Where an event a shard handed back goes next: the next shard of its day, or, handed back by
/// the day before, the shard of its own day that covers it.
pub fn next_hop(
    known: &[ShardInfo],
    project: &str,
    from_day: &str,
    from_seq: u32,
    received_at: &str,
) -> (String, u32) {
    let day = day_of(received_at);
    if day == from_day {
        return (day.to_string(), from_seq + 1);
    }
    (
        day.to_string(),
        route(&day_chain(known, project, day), received_at),
    )
}

/// A short name of a shard that any project name leaves safe in an archive object's key.
pub fn archive_tag(shard: &ShardInfo) -> String {
    let hash = Sha256::digest(shard.name.as_bytes());
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("s{}-{short}", shard.seq)
}

/// The token under which a message's events are counted into D1 once: the same message body
/// written to the same shard gives the same token, on redelivery and on a dead-letter replay.
pub fn count_token(message_body: &str, shard: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(message_body.as_bytes());
    hash.update(b"\n");
    hash.update(shard.as_bytes());
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A call to a shard, as JSON in the body of the Durable Object's fetch: `{"write": {…}}`,
/// `"stats"`. Externally tagged, because an internally tagged enum buffers its content, which
/// raw JSON values cannot pass through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardCall {
    /// Store events (once per `event_id` of the project), one group per token. Events of
    /// another day, or received after the shard's seal, are handed back unless the shard
    /// already holds their `event_id` (a client's retry): then they are dropped.
    Write {
        project: String,
        day: String,
        max_events: u64,
        groups: Vec<WriteGroup>,
    },
    /// A page of a log query: from the blocks, `filter` matched in memory (`keep` events at
    /// most); from rows a shard of an earlier release still holds, `plain`, or `walk` when
    /// `probe` counts more matches than `walk_above` (see `query::logs::TextPlan`).
    Page {
        plain: SqlQuery,
        probe: Option<SqlQuery>,
        walk: Option<SqlQuery>,
        walk_above: i64,
        #[serde(default)]
        filter: Option<Box<crate::query::filter::EventFilter>>,
        #[serde(default)]
        keep: usize,
    },
    /// One event by its `id`: `{"data": …}` or `null`.
    Find {
        id: String,
    },
    /// Blocks past their band's retention (`cutoffs[band]`: the oldest `received_at` kept):
    /// with `export`, at most `max_blocks` of them with their events, nothing deleted
    /// (`DeleteBlocks` follows once they are archived); without, deleted at once.
    Expire {
        cutoffs: [String; 4],
        export: bool,
        max_blocks: usize,
    },
    /// Deletes these blocks (archived by the caller).
    DeleteBlocks {
        seqs: Vec<i64>,
    },
    /// Every block's events, in block order: the blocks after `after`, `max_blocks` at most.
    Export {
        after: i64,
        max_blocks: usize,
    },
    /// Rewrites at most `max_rows` of the rows a shard of an earlier release holds into blocks,
    /// oldest first, in one transaction; answers how many rows are left.
    Compact {
        max_rows: i64,
    },
    /// Rows of any read-only statement, as JSON objects.
    Rows {
        query: SqlQuery,
    },
    /// Statements that change rows (retention); answers the rows changed.
    Run {
        queries: Vec<SqlQuery>,
    },
    Stats,
    /// Delete everything the shard holds.
    Drop,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteGroup {
    /// `None`: stored without counting (events moved from D1, already counted there).
    pub token: Option<String>,
    pub events: Vec<Box<RawValue>>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct WriteAnswer {
    pub groups: Vec<GroupAnswer>,
    pub stats: ShardStats,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct GroupAnswer {
    /// Every event the shard holds under this group's token: stored now, by an earlier call of
    /// the same delivery, or by an earlier delivery (D1's ledger counts a token once).
    pub uncounted: Vec<Box<RawValue>>,
    /// Events received after the shard's seal: they belong to the next shard of the day.
    pub moved: Vec<Box<RawValue>>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct PageAnswer {
    pub rows: Vec<Box<RawValue>>,
}

/// Blocks' events for the archive: each block's row number, band and events.
#[derive(Debug, Serialize, Deserialize, Default)]
pub struct BlockExport {
    pub seq: i64,
    pub band: u8,
    pub events: Vec<Box<RawValue>>,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct ExportAnswer {
    pub blocks: Vec<BlockExport>,
    /// Events deleted by this call (an `Expire` without `export`, `DeleteBlocks`).
    pub deleted: i64,
    pub stats: ShardStats,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct CompactAnswer {
    pub moved: i64,
    pub left: i64,
    pub stats: ShardStats,
}

#[derive(Debug, Serialize, Deserialize, Default)]
pub struct ChangeAnswer {
    pub changes: i64,
    pub stats: ShardStats,
}

/// What a read must cover, to leave out the shards that cannot hold a matching row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadBounds {
    /// `Some`: one project (`''` for events without one); `None`: every project.
    pub project: Option<String>,
    /// Event time (`ts`) bounds of the query.
    pub ts_from: Option<String>,
    pub ts_to: Option<String>,
    /// The cursor's `received_at`: rows at or before it.
    pub received_until: Option<String>,
}

/// The shards a read asks, grouped by day, newest day first (within a day, newest first). Days
/// hold disjoint ranges of `received_at`, so pages merged day by day come out in page order and
/// a read can stop at the first day that fills the page.
pub fn plan_reads(catalogue: &[ShardInfo], bounds: &ReadBounds) -> Vec<Vec<ShardInfo>> {
    let mut days: BTreeMap<&str, Vec<ShardInfo>> = BTreeMap::new();
    for shard in catalogue {
        if shard.stats.events <= 0 {
            continue;
        }
        if bounds.project.as_ref().is_some_and(|p| *p != shard.project) {
            continue;
        }
        let before = |limit: &Option<String>, value: &Option<String>| match (limit, value) {
            (Some(limit), Some(value)) => value <= limit,
            _ => true,
        };
        // Leave out a shard whose whole range is outside a bound.
        if !before(&bounds.ts_to, &shard.stats.min_ts)
            || !before(&shard.stats.max_ts, &bounds.ts_from)
            || !before(&bounds.received_until, &shard.stats.min_received)
        {
            continue;
        }
        days.entry(shard.day.as_str())
            .or_default()
            .push(shard.clone());
    }
    days.into_values()
        .rev()
        .map(|mut shards| {
            shards.sort_unstable_by(|a, b| b.seq.cmp(&a.seq).then(a.project.cmp(&b.project)));
            shards
        })
        .collect()
}

/// The shards asked for one event by id, those most likely to hold it first: ordered by how
/// far their received range lies from the instant the id leads with
/// ([`crate::processors::normalize::id_unix_ms`]: the shard that holds it, for an id of the
/// receive time), else as planned. Every shard is still asked before an id is called missing,
/// so the order only saves calls.
pub fn by_id_order(mut shards: Vec<ShardInfo>, id: &str) -> Vec<ShardInfo> {
    let Some(at) = crate::processors::normalize::id_unix_ms(id)
        .and_then(crate::processors::timestamp::from_millis)
    else {
        return shards;
    };
    let distance = |shard: &ShardInfo| {
        let bound = |t: &Option<String>| t.as_deref().and_then(parse_text);
        match (
            bound(&shard.stats.min_received),
            bound(&shard.stats.max_received),
        ) {
            (Some(lo), Some(hi)) => (lo - at).max(at - hi).num_milliseconds().max(0),
            _ => i64::MAX,
        }
    };
    shards.sort_by_cached_key(distance);
    shards
}

/// The rounds of a page read: the newest day alone (it fills most pages), the day before alone
/// (a page that needs more than the newest day mostly needs just one more: early in a UTC day
/// the newest holds minutes), then whole days together, two shards a round, then four, then
/// [`MAX_PARALLEL_CALLS`], so a selective filter over many days still asks six shards at once.
/// A round ends at a day's end: once the rows found fill the page, no older day can hold a
/// newer row; a day of more shards than its round's share goes alone.
pub fn day_rounds(plan: Vec<Vec<ShardInfo>>) -> Vec<Vec<ShardInfo>> {
    let share = |round: usize| match round {
        0 | 1 => 1,
        n => (1usize << (n - 1)).min(MAX_PARALLEL_CALLS),
    };
    let mut rounds: Vec<Vec<ShardInfo>> = Vec::new();
    for day in plan {
        let open = rounds.len().checked_sub(1);
        match (open, rounds.last_mut()) {
            (Some(index), Some(round)) if round.len() + day.len() <= share(index) => {
                round.extend(day)
            }
            _ => rounds.push(day),
        }
    }
    rounds
}

/// Splits a plan's shards into rounds of at most [`MAX_PARALLEL_CALLS`].
pub fn rounds(shards: &[ShardInfo]) -> impl Iterator<Item = &[ShardInfo]> {
    shards.chunks(MAX_PARALLEL_CALLS)
}

#[derive(Deserialize)]
struct PageKey<'a> {
    #[serde(borrow)]
    received_at: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    id: std::borrow::Cow<'a, str>,
}

/// A stored event's place in page order, `(received_at, id)`; empty for a row that is not an
/// event (it sorts last).
pub fn page_key(row: &str) -> (String, String) {
    serde_json::from_str::<PageKey>(row)
        .map(|k| (k.received_at.into_owned(), k.id.into_owned()))
        .unwrap_or_default()
}

/// Merges pages (each newest first) into one, newest first by `(received_at, id)`, keeping at
/// most `keep` rows. The same event from two sources (a shard and D1 while the move from D1 is
/// under way) is kept once. Rows that are not events sort last.
pub fn merge_pages(pages: Vec<Vec<String>>, keep: usize) -> Vec<String> {
    let mut keyed: Vec<((String, String), String)> = pages
        .into_iter()
        .flatten()
        .map(|row| (page_key(&row), row))
        .collect();
    keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    keyed.dedup_by(|a, b| !a.0 .1.is_empty() && a.0 == b.0);
    keyed.truncate(keep);
    keyed.into_iter().map(|(_, row)| row).collect()
}

/// What retention does to a shard: nothing, trim expired rows, or drop it whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRetention {
    Keep,
    /// Some rows are past their level's retention: delete those rows.
    Trim,
    /// Every row is past the longest retention: drop the whole shard.
    Drop,
}

pub fn retention_of(shard: &ShardInfo, days: &RetentionDays, now: DateTime<Utc>) -> ShardRetention {
    let cutoff = |keep: i64| format_ts(now - Duration::days(keep));
    let (Some(oldest), Some(newest)) = (&shard.stats.min_received, &shard.stats.max_received)
    else {
        return if shard.stats.events <= 0 {
            ShardRetention::Drop
        } else {
            ShardRetention::Keep
        };
    };
    if *newest < cutoff(days.longest()) {
        ShardRetention::Drop
    } else if *oldest < cutoff(days.shortest()) {
        ShardRetention::Trim
    } else {
        ShardRetention::Keep
    }
}

/// Joins stored events' JSON texts into one JSON array text.
pub fn json_array<'a>(rows: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, row) in rows.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(row);
    }
    out.push(']');
    out
}

/// The placement fields of a queued event.
#[derive(Debug, Deserialize)]
pub struct Placement<'a> {
    #[serde(borrow, default)]
    pub project: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    pub received_at: std::borrow::Cow<'a, str>,
}

/// The shard catalogue rows of one (project, day), in `seq` order.
pub fn day_chain<'a>(catalogue: &'a [ShardInfo], project: &str, day: &str) -> Vec<&'a ShardInfo> {
    let mut chain: Vec<&ShardInfo> = catalogue
        .iter()
        .filter(|s| s.project == project && s.day == day)
        .collect();
    chain.sort_unstable_by_key(|s| s.seq);
    chain
}

/// A Durable Object holds at most 10 GB (Cloudflare's limit for SQLite-backed objects).
pub const SHARD_LIMIT_BYTES: i64 = 10_000_000_000;
/// An account on the Workers Free plan holds 5 GB of Durable Object storage; Workers Paid has
/// no account limit.
pub const FREE_PLAN_ACCOUNT_BYTES: i64 = 5_000_000_000;

/// `GET /v1/storage`: where the events are, and how much more the deployment can hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageReport {
    pub shards: Vec<ShardReport>,
    pub totals: StorageTotals,
    /// Events still in D1 from before the shards (moved by the cron, batch by batch).
    pub d1_events: i64,
    pub d1_migrated: bool,
    pub capacity: Capacity,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardReport {
    pub name: String,
    /// `None` for events without a project.
    pub project: Option<String>,
    pub day: String,
    pub seq: u32,
    pub events: i64,
    pub bytes: i64,
    pub oldest_received_at: Option<String>,
    pub newest_received_at: Option<String>,
    /// Full: later events of its day go to the next shard.
    pub sealed: bool,
    /// Of the 10 GB a shard may hold.
    pub used_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageTotals {
    pub shards: usize,
    pub events: i64,
    pub bytes: i64,
    pub days: usize,
    pub projects: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capacity {
    pub shard_limit_bytes: i64,
    pub shard_max_events: u64,
    /// Average stored size of an event, indexes and full text included (`None` before any).
    pub bytes_per_event: Option<f64>,
    /// Bytes a full shard (`shard_max_events` events) takes at that size.
    pub full_shard_bytes: Option<i64>,
    /// The fullest shard's share of the 10 GB limit.
    pub fullest_shard_fraction: f64,
    /// Workers Paid: no account limit (`None`); on Workers Free, what is left of its 5 GB.
    pub account_limit_bytes: Option<i64>,
    pub free_plan_remaining_bytes: i64,
}

/// The report, from the catalogue and the count of events still in D1.
pub fn storage_report(
    catalogue: &[ShardInfo],
    d1_events: i64,
    shard_max_events: u64,
) -> StorageReport {
    let shards: Vec<ShardReport> = catalogue
        .iter()
        .map(|s| ShardReport {
            name: s.name.clone(),
            project: (!s.project.is_empty()).then(|| s.project.clone()),
            day: s.day.clone(),
            seq: s.seq,
            events: s.stats.events,
            bytes: s.stats.bytes,
            oldest_received_at: s.stats.min_received.clone(),
            newest_received_at: s.stats.max_received.clone(),
            sealed: s.stats.sealed_after.is_some(),
            used_fraction: s.stats.bytes as f64 / SHARD_LIMIT_BYTES as f64,
        })
        .collect();
    let events: i64 = catalogue.iter().map(|s| s.stats.events).sum();
    let bytes: i64 = catalogue.iter().map(|s| s.stats.bytes).sum();
    let mut days: Vec<&str> = catalogue.iter().map(|s| s.day.as_str()).collect();
    days.sort_unstable();
    days.dedup();
    let mut projects: Vec<&str> = catalogue.iter().map(|s| s.project.as_str()).collect();
    projects.sort_unstable();
    projects.dedup();
    let bytes_per_event = (events > 0).then(|| bytes as f64 / events as f64);
    StorageReport {
        totals: StorageTotals {
            shards: shards.len(),
            events,
            bytes,
            days: days.len(),
            projects: projects.len(),
        },
        capacity: Capacity {
            shard_limit_bytes: SHARD_LIMIT_BYTES,
            shard_max_events,
            bytes_per_event,
            full_shard_bytes: bytes_per_event.map(|b| (b * shard_max_events as f64) as i64),
            fullest_shard_fraction: shards.iter().map(|s| s.used_fraction).fold(0.0, f64::max),
            account_limit_bytes: None,
            free_plan_remaining_bytes: (FREE_PLAN_ACCOUNT_BYTES - bytes).max(0),
        },
        shards,
        d1_events,
        d1_migrated: d1_events == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_id_asks_the_shard_of_its_instant_first() {
        let shards = vec![
            shard("p", "2026-12-03", 0),
            shard("p", "2026-12-02", 1),
            shard("p", "2026-12-02", 0),
            shard("p", "2026-12-01", 0),
        ];
        let names = |order: Vec<ShardInfo>| order.into_iter().map(|s| s.name).collect::<Vec<_>>();
        // A version 7 id of 2026-12-01T10:00:00Z.
        let ms = parse_text("2026-12-01T10:00:00.000Z")
            .unwrap()
            .timestamp_millis();
        let hex = format!("{ms:012x}");
        let v7 = format!("{}-{}-7000-8000-000000000000", &hex[..8], &hex[8..]);
        assert_eq!(
            names(by_id_order(shards.clone(), &v7))[0],
            shard_name("p", "2026-12-01", 0)
        );
        // Ids of no instant (version 4 or 5, or not a UUID) keep the planned order.
        for id in ["6f1c8a4e-0d7b-4c55-9a1e-2f8b9c0d1e2f", "not-a-uuid"] {
            assert_eq!(
                names(by_id_order(shards.clone(), id)),
                names(shards.clone())
            );
        }
    }

    fn shard(project: &str, day: &str, seq: u32) -> ShardInfo {
        ShardInfo {
            name: shard_name(project, day, seq),
            project: project.into(),
            day: day.into(),
            seq,
            stats: ShardStats {
                events: 10,
                min_received: Some(format!("{day}T00:00:00.000Z")),
                max_received: Some(format!("{day}T23:59:59.999Z")),
                min_ts: Some(format!("{day}T00:00:00.000Z")),
                max_ts: Some(format!("{day}T23:59:59.999Z")),
                ..Default::default()
            },
        }
    }

    #[test]
    fn names_keep_any_project_unambiguous() {
        assert_eq!(
            shard_name("a:b", "2026-12-01", 2),
            "events:2026-12-01:2:a:b"
        );
        assert_eq!(shard_name("", "2026-12-01", 0), "events:2026-12-01:0:");
        assert_eq!(day_of("2026-12-01T10:00:00.000Z"), "2026-12-01");
        assert_eq!(day_before("2026-03-01"), "2026-02-28");
        assert_eq!(day_before("not a day"), "");
    }

    #[test]
    fn routing_follows_seals_and_is_stable() {
        let mut first = shard("p", "2026-12-01", 0);
        let second = shard("p", "2026-12-01", 1);
        // Nothing sealed: the first shard takes everything.
        assert_eq!(route(&[&first], "2026-12-01T23:00:00.000Z"), 0);
        assert_eq!(route(&[], "2026-12-01T23:00:00.000Z"), 0);
        first.stats.sealed_after = Some("2026-12-01T10:00:00.000Z".into());
        // At or before the seal: still the first; after: the next, known or not yet.
        assert_eq!(route(&[&first, &second], "2026-12-01T10:00:00.000Z"), 0);
        assert_eq!(route(&[&first, &second], "2026-12-01T10:00:00.001Z"), 1);
        assert_eq!(route(&[&first], "2026-12-01T11:00:00.000Z"), 1);
    }

    #[test]
    fn retries_near_a_seal_or_midnight_ask_the_shard_before_first() {
        let mut sealed = shard("p", "2026-12-01", 0);
        sealed.stats.sealed_after = Some("2026-12-01T10:00:00.000Z".into());
        let open = shard("p", "2026-12-01", 1);
        let yesterday = shard("p", "2026-11-30", 3);
        let known = vec![sealed, open, yesterday];
        let hop = |at: &str| first_hop(&known, "p", &at[..10], at);
        assert_eq!(hop("2026-12-01T09:00:00.000Z"), ("2026-12-01".into(), 0));
        assert_eq!(
            hop("2026-12-01T10:05:00.000Z"),
            ("2026-12-01".into(), 0),
            "inside the window: via the sealed shard"
        );
        assert_eq!(hop("2026-12-01T10:11:00.000Z"), ("2026-12-01".into(), 1));
        assert_eq!(
            hop("2026-12-02T00:09:59.000Z"),
            ("2026-12-01".into(), 1),
            "just after midnight: via the day before's last shard"
        );
        assert_eq!(hop("2026-12-02T00:10:01.000Z"), ("2026-12-02".into(), 0));
        assert_eq!(
            hop("2026-11-30T00:00:01.000Z"),
            ("2026-11-30".into(), 3),
            "no day before it is known"
        );
        // Handed back: the next of the same day, or the covering shard of the event's own day.
        assert_eq!(
            next_hop(&known, "p", "2026-12-01", 0, "2026-12-01T10:05:00.000Z"),
            ("2026-12-01".into(), 1)
        );
        assert_eq!(
            next_hop(&known, "p", "2026-11-30", 3, "2026-12-01T00:01:00.000Z"),
            ("2026-12-01".into(), 0)
        );
    }

    #[test]
    fn tokens_are_stable_per_body_and_shard() {
        let a = count_token("{\"events\":[1]}", "events:2026-12-01:0:p");
        assert_eq!(a, count_token("{\"events\":[1]}", "events:2026-12-01:0:p"));
        assert_ne!(a, count_token("{\"events\":[1]}", "events:2026-12-01:1:p"));
        assert_ne!(a, count_token("{\"events\":[2]}", "events:2026-12-01:0:p"));
        assert_eq!(a.len(), 24);
    }

    #[test]
    fn reads_ask_only_the_shards_that_can_match_newest_day_first() {
        let catalogue = vec![
            shard("p", "2026-12-01", 0),
            shard("p", "2026-12-02", 0),
            shard("p", "2026-12-02", 1),
            shard("q", "2026-12-02", 0),
            shard("p", "2026-12-03", 0),
            {
                let mut empty = shard("p", "2026-12-04", 0);
                empty.stats.events = 0;
                empty
            },
        ];
        let names = |plan: Vec<Vec<ShardInfo>>| -> Vec<Vec<String>> {
            plan.into_iter()
                .map(|day| {
                    day.into_iter()
                        .map(|s| format!("{}{}{}", s.project, &s.day[8..], s.seq))
                        .collect()
                })
                .collect()
        };
        let all = plan_reads(&catalogue, &ReadBounds::default());
        assert_eq!(
            names(all),
            vec![vec!["p030"], vec!["p021", "p020", "q020"], vec!["p010"]]
        );
        let one_project = ReadBounds {
            project: Some("p".into()),
            ts_from: Some("2026-12-02T00:00:00.000Z".into()),
            received_until: Some("2026-12-02T12:00:00.000Z".into()),
            ..Default::default()
        };
        assert_eq!(
            names(plan_reads(&catalogue, &one_project)),
            vec![vec!["p021", "p020"]]
        );
        let before_everything = ReadBounds {
            ts_to: Some("2026-11-30T00:00:00.000Z".into()),
            ..Default::default()
        };
        assert!(plan_reads(&catalogue, &before_everything).is_empty());
    }

    #[test]
    fn page_reads_ask_the_newest_two_days_alone_then_whole_days_two_four_and_six_shards_at_a_time()
    {
        let days: Vec<Vec<ShardInfo>> = (1..=9)
            .map(|d| {
                let day = format!("2026-12-{:02}", 10 - d);
                let parts = if d == 3 { 3 } else { 1 };
                (0..parts).map(|seq| shard("p", &day, seq)).collect()
            })
            .collect();
        let sizes: Vec<usize> = day_rounds(days).iter().map(Vec::len).collect();
        // Days 1 and 2 alone; day 3's three shards alone (more than a round of two); days 4–7
        // (four shards); days 8–9.
        assert_eq!(sizes, [1, 1, 3, 4, 2]);
        let many: Vec<Vec<ShardInfo>> = (1..=28)
            .map(|d| vec![shard("p", &format!("2026-11-{:02}", 29 - d), 0)])
            .collect();
        let sizes: Vec<usize> = day_rounds(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, [1, 1, 2, 4, 6, 6, 6, 2]);
        assert!(day_rounds(Vec::new()).is_empty());
    }

    #[test]
    fn pages_merge_newest_first_once_each() {
        let row = |at: &str, id: &str| {
            format!(r#"{{"id":"{id}","received_at":"2026-12-01T{at}.000Z","message":"m"}}"#)
        };
        let merged = merge_pages(
            vec![
                vec![row("10:00:03", "c"), row("10:00:01", "a")],
                vec![row("10:00:02", "b"), row("10:00:01", "a")],
                vec![],
            ],
            10,
        );
        let ids: Vec<&str> = merged.iter().map(|r| &r[7..8]).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(
            merge_pages(vec![vec![row("10:00:03", "c"), row("10:00:02", "b")]], 1).len(),
            1
        );
    }

    #[test]
    fn retention_drops_whole_days_and_trims_partly_expired_ones() {
        let days = RetentionDays {
            debug: 7,
            info: 30,
            warn: 30,
            error: 90,
        };
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
        assert_eq!(
            retention_of(&shard("p", "2026-12-03", 0), &days, now),
            ShardRetention::Keep
        );
        assert_eq!(
            retention_of(&shard("p", "2026-11-20", 0), &days, now),
            ShardRetention::Trim
        );
        assert_eq!(
            retention_of(&shard("p", "2026-09-01", 0), &days, now),
            ShardRetention::Drop
        );
        let mut empty = shard("p", "2026-12-03", 0);
        empty.stats = ShardStats::default();
        assert_eq!(retention_of(&empty, &days, now), ShardRetention::Drop);
    }

    #[test]
    fn the_storage_report_adds_up_and_says_what_is_left() {
        let mut full = shard("p", "2026-12-01", 0);
        full.stats.bytes = 4_000_000_000;
        full.stats.events = 1_000_000;
        full.stats.sealed_after = Some("2026-12-01T10:00:00.000Z".into());
        let mut other = shard("", "2026-12-02", 0);
        other.stats.bytes = 1_000_000_000;
        other.stats.events = 250_000;
        let report = storage_report(&[full, other], 7, 1_000_000);
        assert_eq!(report.totals.events, 1_250_000);
        assert_eq!(report.totals.bytes, 5_000_000_000);
        assert_eq!((report.totals.days, report.totals.projects), (2, 2));
        assert_eq!(report.shards[1].project, None);
        assert!(report.shards[0].sealed && !report.shards[1].sealed);
        assert_eq!(report.capacity.bytes_per_event, Some(4000.0));
        assert_eq!(report.capacity.full_shard_bytes, Some(4_000_000_000));
        assert!((report.capacity.fullest_shard_fraction - 0.4).abs() < 1e-9);
        assert_eq!(report.capacity.free_plan_remaining_bytes, 0);
        assert!(!report.d1_migrated);
        assert_eq!(storage_report(&[], 0, 10).capacity.bytes_per_event, None);
    }

    #[test]
    fn catalogue_chains_are_per_project_and_day_in_order() {
        let catalogue = vec![
            shard("p", "2026-12-01", 1),
            shard("q", "2026-12-01", 0),
            shard("p", "2026-12-01", 0),
        ];
        let chain: Vec<u32> = day_chain(&catalogue, "p", "2026-12-01")
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(chain, [0, 1]);
        assert_eq!(json_array(["1", "{}"]), "[1,{}]");
    }
}
