//! The KV hot feed: the latest events as one JSON array under one key.
//!
//! KV allows about one write per second per key and is eventually consistent, so the feed is
//! a convenience that may lag or miss a refresh; nothing exact (counters, dedupe) lives here.

use worker::{KvError, KvStore};

use super::HOT_FEED_KEY;

/// Writes the feed: `data_rows` are stored events' JSON, newest first.
pub async fn write_hot_feed(kv: &KvStore, data_rows: &[String]) -> Result<(), KvError> {
    let body = format!("[{}]", data_rows.join(","));
    kv.put(HOT_FEED_KEY, body)?.execute().await
}

/// The feed as JSON text, or `None` before the first write.
pub async fn read_hot_feed(kv: &KvStore) -> Result<Option<String>, KvError> {
    kv.get(HOT_FEED_KEY).text().await
}
