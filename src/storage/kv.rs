//! The KV hot feed: the latest events as one JSON array under one key for the whole deployment
//! and one per project.
//!
//! KV allows about one write per second per key and is eventually consistent, so the feed is
//! a convenience that may lag or miss a refresh; nothing exact (counters, dedupe) lives here.

use worker::{KvError, KvStore};

use super::HOT_FEED_KEY;

fn feed_key(project: Option<&str>) -> String {
    match project {
        Some(p) => format!("{HOT_FEED_KEY}:{p}"),
        None => HOT_FEED_KEY.to_string(),
    }
}

/// Writes a feed: `data_rows` are stored events' JSON, newest first.
pub async fn write_hot_feed(
    kv: &KvStore,
    project: Option<&str>,
    data_rows: &[String],
) -> Result<(), KvError> {
    let body = format!("[{}]", data_rows.join(","));
    crate::billing::add(crate::billing::Item::KvWrites, 1);
    kv.put(&feed_key(project), body)?.execute().await
}

/// A feed as JSON text, or `None` before its first write.
pub async fn read_hot_feed(kv: &KvStore, project: Option<&str>) -> Result<Option<String>, KvError> {
    crate::billing::add(crate::billing::Item::KvReads, 1);
    kv.get(&feed_key(project)).text().await
}
