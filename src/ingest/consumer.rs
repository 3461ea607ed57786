//! The queue consumer: store each message's events in their shards, count them in D1, ack
//! exactly what was stored and counted, retry the rest, then refresh the KV hot feed once for
//! the whole batch.
//!
//! It never returns an error (the `#[event(queue)]` macro would panic): every message is acked
//! or retried by itself, and a message that keeps failing goes to the dead-letter queue after
//! `max_retries`.

use crate::ingest::formats::Malformed;
use worker::wasm_bindgen::JsValue;
use worker::{console_error, console_warn, D1Database, Env, MessageBatch, MessageExt, RawMessage};

use serde_json::value::RawValue;

use crate::alerting::query_counts::QueryRule;
use crate::counting;
use crate::ingest::queue_message::read_envelope;
use crate::model::StoredEvent;
use crate::platform::bindings;
use crate::shards::writer::{self, MessageEvents};
use crate::storage::d1;
use crate::storage::queue::delivered;
use crate::storage::sql::SqlQuery;

pub async fn consume(batch: MessageBatch<JsValue>, env: &Env) {
    let db = match env.d1(bindings::DB) {
        Ok(db) => db,
        Err(e) => {
            console_error!("queue consumer: D1 binding DB missing ({e}); retrying the whole batch");
            batch.retry_all();
            return;
        }
    };

    let mut messages: Vec<RawMessage> = Vec::new();
    let mut contents: Vec<MessageEvents> = Vec::new();
    for message in batch.raw_iter() {
        let decoded = delivered(&message.body())
            .ok_or_else(|| Malformed::new("not bytes or text"))
            .and_then(|body| {
                let envelope = read_envelope(&body)?;
                let events = serde_json::from_str(envelope.events.get())
                    .map_err(|e| Malformed::new(format!("events: {e}")))?;
                Ok((events, body))
            });
        match decoded {
            Ok((events, body)) => {
                messages.push(message);
                contents.push(MessageEvents { body, events });
            }
            Err(reason) => {
                console_error!("queue message {} is not an event message ({reason}); retrying it towards the dead-letter queue", message.id());
                remember(
                    env,
                    &message.id(),
                    &format!("not an event message: {reason}"),
                )
                .await;
                message.retry();
            }
        }
    }
    if messages.is_empty() {
        return;
    }

    let started = crate::platform::clock::millis();
    let stored = store(&db, env, &messages, contents).await;
    let write_seconds = crate::platform::clock::millis().saturating_sub(started) as f64 / 1000.0;
    record_batch_metrics(&batch.queue(), messages.len(), stored.len(), write_seconds);
    if !stored.is_empty() {
        crate::alerting::engine::evaluate(&db, env).await;
    }
}

/// Stores the messages' events in their shards, then counts what the shards stored in one D1
/// batch (one transaction) with the catalogue's reports. If that batch fails, each message is
/// counted on its own so that one bad message does not hold back the others. Returns the
/// indexes of the messages that were stored and counted (and acked).
///
/// Exactly once: a shard stores an event once (it finds a redelivered or retried `event_id`
/// among the blocks of its minutes, and placement sends a redelivery to the same shard) and
/// answers every event a token stored; D1 counts a token once (`count_ledger`, written in the
/// counting transaction). So a shard write that succeeded under a D1 batch that failed is
/// counted on redelivery, and a D1 batch that succeeded under a lost ack is not counted again.
async fn store(
    db: &D1Database,
    env: &Env,
    messages: &[RawMessage],
    contents: Vec<MessageEvents>,
) -> Vec<usize> {
    let config = crate::config::Config::get(env);
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    // Read before anything is written: without them the batch could not be counted right.
    let rules = match crate::alerting::store::query_rules(db).await {
        Ok(rules) => rules,
        Err(e) => {
            for message in messages {
                retry(
                    env,
                    message,
                    &format!("alert rules unreadable: {}", describe(&e)),
                )
                .await;
            }
            return Vec::new();
        }
    };
    let written = writer::write(env, db, contents, true, config.shard_max_events, &now).await;
    let all: Vec<&writer::ToCount> = written.counts.iter().flatten().flatten().collect();
    let mut stored = Vec::new();
    match count(db, &written.catalogue, &all, &rules).await {
        Ok(()) => {
            for (index, (message, counts)) in messages.iter().zip(&written.counts).enumerate() {
                match counts {
                    Ok(_) => {
                        message.ack();
                        stored.push(index);
                    }
                    Err(reason) => retry(env, message, reason.message()).await,
                }
            }
        }
        Err(e) => {
            console_warn!(
                "D1 batch of {} messages failed ({}); counting them one by one",
                messages.len(),
                describe(&e)
            );
            if let Err(e) = d1::batch(db, &written.catalogue).await {
                console_warn!(
                    "shard catalogue not updated (the next batch reports again): {}",
                    describe(&e)
                );
            }
            for (index, (message, counts)) in messages.iter().zip(&written.counts).enumerate() {
                let counts = match counts {
                    Ok(counts) => counts,
                    Err(reason) => {
                        retry(env, message, reason.message()).await;
                        continue;
                    }
                };
                let own: Vec<&writer::ToCount> = counts.iter().collect();
                match count(db, &[], &own, &rules).await {
                    Ok(()) => {
                        message.ack();
                        stored.push(index);
                    }
                    Err(e) => {
                        retry(env, message, &format!("D1 count failed: {}", describe(&e))).await
                    }
                }
            }
        }
    }
    stored
}

/// Counts the events of the tokens D1 has not counted yet, added up (`counting::Tally`), with
/// their ledger entries and `first` (the catalogue's reports), in one D1 batch.
async fn count(
    db: &D1Database,
    first: &[SqlQuery],
    todo: &[&writer::ToCount],
    rules: &[QueryRule],
) -> worker::Result<()> {
    #[derive(serde::Deserialize)]
    struct Token {
        token: String,
    }
    #[derive(serde::Deserialize)]
    struct Merge {
        source: String,
        target: String,
    }
    // Each token with the second it is recorded under (the same order as `todo`).
    let seconds: Vec<(String, String)> = todo
        .iter()
        .map(|c| (counting::token_second(&c.events), c.token.clone()))
        .collect();
    let mut tokens = seconds.clone();
    tokens.sort_unstable();
    tokens.dedup();
    let counted: std::collections::HashSet<String> = if tokens.is_empty() {
        Default::default()
    } else {
        d1::rows::<Token>(db, &counting::counted_tokens(&tokens))
            .await?
            .into_iter()
            .map(|t| t.token)
            .collect()
    };
    let mut fresh: Vec<(String, String)> = Vec::new();
    let mut tally = counting::Tally::default();
    for (c, second) in todo.iter().zip(seconds) {
        if counted.contains(&c.token) || fresh.iter().any(|(_, t)| *t == c.token) {
            continue;
        }
        fresh.push(second);
        for raw in serde_json::from_str::<Vec<Box<RawValue>>>(&c.events).unwrap_or_default() {
            if let Ok(event) = serde_json::from_str::<StoredEvent>(raw.get()) {
                tally.add(event);
            }
        }
    }
    let mut statements = first.to_vec();
    if !fresh.is_empty() {
        let merges = if tally.is_empty() {
            Default::default()
        } else {
            d1::rows::<Merge>(db, &counting::merges_of(&tally.fingerprints()))
                .await?
                .into_iter()
                .map(|m| (m.source, m.target))
                .collect()
        };
        statements.extend(counting::ledger(&fresh));
        statements.extend(tally.statements(rules, &merges));
    }
    if statements.is_empty() {
        return Ok(());
    }
    d1::batch(db, &statements).await
}

/// Retries a message (towards the dead-letter queue), keeping the reason for its record.
async fn retry(env: &Env, message: &RawMessage, reason: &str) {
    console_error!(
        "message {} not stored ({reason}); it will be retried",
        message.id()
    );
    remember(env, &message.id(), reason).await;
    message.retry();
}

/// Counts this batch in the isolate's recorder, added up with the other batches until its next
/// flush (one D1 write per flush, not per batch).
fn record_batch_metrics(queue: &str, messages: usize, stored: usize, write_seconds: f64) {
    use crate::metrics::{recorder, D1_WRITE_BUCKETS};
    recorder::add("edge_logger_queue_batches_total", &[("queue", queue)], 1.0);
    recorder::add(
        "edge_logger_queue_messages_total",
        &[("queue", queue), ("outcome", "acked")],
        stored as f64,
    );
    if messages > stored {
        recorder::add(
            "edge_logger_queue_messages_total",
            &[("queue", queue), ("outcome", "retried")],
            (messages - stored) as f64,
        );
    }
    recorder::observe(
        "edge_logger_d1_write_seconds",
        &[],
        D1_WRITE_BUCKETS,
        write_seconds,
    );
}

/// Keeps the reason of a failure for the dead-letter record, should the retries run out.
async fn remember(env: &Env, message_id: &str, reason: &str) {
    if let Ok(kv) = env.kv(bindings::HOT) {
        crate::dead_letters::store::remember_failure(&kv, message_id, reason).await;
    }
}

/// The consumer of both dead-letter queues: stores each message with its last known failure,
/// for `GET /v1/dead-letters` and `POST /v1/dead-letters/replay`.
pub async fn consume_dead_letters(batch: MessageBatch<JsValue>, env: &Env) {
    let original_queue = batch.queue().trim_end_matches("-dlq").to_string();
    let (Ok(db), Ok(kv)) = (env.d1(bindings::DB), env.kv(bindings::HOT)) else {
        console_error!("dead letters: D1 or KV binding missing; retrying");
        batch.retry_all();
        return;
    };
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    for message in batch.raw_iter() {
        let id = message.id();
        let body = delivered(&message.body()).unwrap_or_else(|| "null".to_string());
        let events = read_envelope(&body).ok().and_then(|e| {
            serde_json::from_str::<Vec<&serde_json::value::RawValue>>(e.events.get())
                .ok()
                .map(|v| v.len() as i64)
        });
        let error = crate::dead_letters::store::failure_reason(&kv, &id).await;
        let record = crate::dead_letters::store::NewDeadLetter {
            id: &format!("dl_{}", uuid::Uuid::new_v4().simple()),
            queue: &original_queue,
            message_id: &id,
            body: &body,
            error: error.as_deref(),
            events,
            received_at: &now,
        };
        match crate::dead_letters::store::insert(&db, &record).await {
            Ok(()) => {
                console_warn!(
                    "dead letter {id} from {original_queue} stored ({} events): {}",
                    events.unwrap_or(0),
                    error.as_deref().unwrap_or("reason unknown")
                );
                message.ack();
            }
            Err(e) => {
                console_error!(
                    "dead letter {id} could not be stored ({}); retrying",
                    describe(&e)
                );
                message.retry();
            }
        }
    }
}

fn describe(e: &worker::Error) -> String {
    match e {
        worker::Error::D1(d1_error) => d1_error.cause(),
        other => other.to_string(),
    }
}
