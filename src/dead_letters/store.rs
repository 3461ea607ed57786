//! Dead letters: messages that exhausted their retries, stored with their last known error so
//! that nothing accepted disappears silently, listed and replayed by an admin.

use crate::storage::d1::Metered;
use serde::{Deserialize, Serialize};
use worker::{D1Database, KvStore};

use crate::storage::d1::{num, opt_num, opt_text, text};

/// How long a failure reason waits in KV for its message to reach the dead-letter queue.
const REASON_TTL_SECONDS: u64 = 86_400;

fn reason_key(message_id: &str) -> String {
    format!("dlq-reason:{message_id}")
}

/// Remembers why a message failed. KV, not D1: D1 may be the thing that is failing.
pub async fn remember_failure(kv: &KvStore, message_id: &str, reason: &str) {
    let reason: String = reason.chars().take(1000).collect();
    crate::billing::add(crate::billing::Item::KvWrites, 1);
    if let Ok(put) = kv.put(&reason_key(message_id), reason) {
        let _ = put.expiration_ttl(REASON_TTL_SECONDS).execute().await;
    }
}

pub async fn failure_reason(kv: &KvStore, message_id: &str) -> Option<String> {
    crate::billing::add(crate::billing::Item::KvReads, 1);
    kv.get(&reason_key(message_id)).text().await.ok().flatten()
}

pub struct NewDeadLetter<'a> {
    pub id: &'a str,
    pub queue: &'a str,
    pub message_id: &'a str,
    pub body: &'a str,
    pub error: Option<&'a str>,
    pub events: Option<i64>,
    pub received_at: &'a str,
}

/// Stores a dead letter once (a redelivered dead letter is not stored twice).
pub async fn insert(db: &D1Database, d: &NewDeadLetter<'_>) -> worker::Result<()> {
    db.prepare("INSERT OR IGNORE INTO dead_letters (id, queue, message_id, body, error, events, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
        .bind(&[
            text(d.id),
            text(d.queue),
            text(d.message_id),
            text(d.body),
            opt_text(d.error),
            opt_num(d.events),
            text(d.received_at),
        ])?
        .run()
        .await?
        .metered();
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: String,
    pub queue: String,
    pub message_id: String,
    pub error: Option<String>,
    pub events: Option<i64>,
    pub bytes: i64,
    pub received_at: String,
    pub replayed_at: Option<String>,
}

pub async fn list(
    db: &D1Database,
    include_replayed: bool,
    limit: i64,
) -> worker::Result<Vec<DeadLetter>> {
    db.prepare(
        "SELECT id, queue, message_id, error, events, length(body) AS bytes, received_at, replayed_at FROM dead_letters
         WHERE (?1 = 1 OR replayed_at IS NULL) ORDER BY received_at DESC, id DESC LIMIT ?2",
    )
    .bind(&[num(include_replayed as i64), num(limit)])?
    .all()
    .await?
    .metered()
    .results()
}

#[derive(Debug, Deserialize)]
pub struct Replayable {
    pub id: String,
    pub queue: String,
    pub body: String,
}

/// Unreplayed dead letters, all or the listed ids.
pub async fn replayable(
    db: &D1Database,
    ids: Option<&[String]>,
    limit: i64,
) -> worker::Result<Vec<Replayable>> {
    let ids_json = ids.map(|ids| serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()));
    db.prepare(
        "SELECT id, queue, body FROM dead_letters WHERE replayed_at IS NULL
           AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) ORDER BY received_at, id LIMIT ?2",
    )
    .bind(&[opt_text(ids_json.as_deref()), num(limit)])?
    .all()
    .await?
    .metered()
    .results()
}

pub async fn mark_replayed(db: &D1Database, id: &str, now: &str) -> worker::Result<()> {
    db.prepare("UPDATE dead_letters SET replayed_at = ?2 WHERE id = ?1")
        .bind(&[text(id), text(now)])?
        .run()
        .await?
        .metered();
    Ok(())
}
