//! The KV hot feed: the latest events as one JSON array under one key for the whole deployment
//! and one per project, with the time it was read from the shards (its metadata).
//!
//! It is refreshed when it is read and older than [`FEED_FRESH_MS`], never per queue batch, so
//! a deployment nobody reads the feed of pays nothing for it. KV allows about one write per
//! second per key and is eventually consistent, so the feed is a convenience that may lag by
//! that much; nothing exact (counters, dedupe) lives here.

use worker::{KvError, KvStore};

use super::HOT_FEED_KEY;

fn feed_key(project: Option<&str>) -> String {
    match project {
        Some(p) => format!("{HOT_FEED_KEY}:{p}"),
        None => HOT_FEED_KEY.to_string(),
    }
}

/// How old a feed may be before a read refreshes it from the shards.
pub const FEED_FRESH_MS: u64 = 1000;

#[derive(serde::Serialize, serde::Deserialize)]
struct FeedMeta {
    at_ms: u64,
}

/// Writes a feed read from the shards at `at_ms`: `data_rows` are stored events' JSON, newest
/// first.
pub async fn write_hot_feed(
    kv: &KvStore,
    project: Option<&str>,
    data_rows: &[String],
    at_ms: u64,
) -> Result<(), KvError> {
    let body = format!("[{}]", data_rows.join(","));
    crate::billing::add(crate::billing::Item::KvWrites, 1);
    kv.put(&feed_key(project), body)?
        .metadata(FeedMeta { at_ms })?
        .execute()
        .await
}

/// A feed as JSON text and when it was read from the shards, or `None` before its first write.
pub async fn read_hot_feed(
    kv: &KvStore,
    project: Option<&str>,
) -> Result<Option<(String, u64)>, KvError> {
    crate::billing::add(crate::billing::Item::KvReads, 1);
    let (text, meta) = kv
        .get(&feed_key(project))
        .text_with_metadata::<FeedMeta>()
        .await?;
    Ok(text.map(|t| (t, meta.map_or(0, |m| m.at_ms))))
}
