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

use crate::alerting::query_counts::{self, QueryRule};
use crate::ingest::queue_message::read_envelope;
use crate::model::StoredEvent;
use crate::platform::bindings;
use crate::shards::catalogue as shards;
use crate::shards::writer::{self, MessageEvents};
use crate::storage::queue::delivered;
use crate::storage::sql::SqlQuery;
use crate::storage::{d1, kv, HOT_FEED_SIZE};

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
    let mut projects: Vec<Option<String>> = Vec::new();
    for message in batch.raw_iter() {
        let decoded = delivered(&message.body())
            .ok_or_else(|| Malformed::new("not bytes or text"))
            .and_then(|body| {
                let envelope = read_envelope(&body)?;
                let events = serde_json::from_str(envelope.events.get())
                    .map_err(|e| Malformed::new(format!("events: {e}")))?;
                Ok((envelope.project, events, body))
            });
        match decoded {
            Ok((project, events, body)) => {
                messages.push(message);
                contents.push(MessageEvents { body, events });
                projects.push(project);
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
    record_batch_metrics(
        &db,
        &batch.queue(),
        messages.len(),
        stored.len(),
        write_seconds,
    )
    .await;
    let mut touched: Vec<Option<String>> = stored.iter().map(|&i| projects[i].clone()).collect();
    touched.sort();
    touched.dedup();
    if !stored.is_empty() {
        crate::alerting::engine::evaluate(&db, env).await;
        refresh_hot_feeds(&db, env, touched).await;
    }
}

/// Stores the messages' events in their shards, then counts what the shards newly stored in
/// one D1 batch (one transaction) with the catalogue's reports. If that batch fails, each
/// message is counted on its own so that one bad message does not hold back the others.
/// Returns the indexes of the messages that were stored and counted (and acked).
///
/// Exactly once: a shard stores an event once (its `event_id` is unique there, and placement
/// sends a redelivery to the same shard) and keeps it marked with the message's token until
/// D1 has counted it; D1 counts a token once (`count_ledger`). So a shard write that succeeded
/// under a D1 batch that failed is counted on redelivery, and a D1 batch that succeeded under
/// a lost ack is not counted again.
async fn store(
    db: &D1Database,
    env: &Env,
    messages: &[RawMessage],
    contents: Vec<MessageEvents>,
) -> Vec<usize> {
    let config = crate::config::Config::get(env);
    let now = crate::platform::clock::clock_text().unwrap_or_default();
    // Read before anything is written: without them the batch could not be counted right.
    let query_rules = match crate::alerting::store::query_rules(db).await {
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
    let mut statements = written.catalogue.clone();
    let mut counted = Vec::new();
    for counts in written.counts.iter().flatten() {
        for c in counts {
            statements.extend(count_statements(c, &query_rules, &now));
            counted.push(c);
        }
    }
    statements.push(shards::clear_intake());
    let mut stored = Vec::new();
    match d1::batch(db, &statements).await {
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
            writer::counted(counted);
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
                let mut own: Vec<SqlQuery> = counts
                    .iter()
                    .flat_map(|c| count_statements(c, &query_rules, &now))
                    .collect();
                own.push(shards::clear_intake());
                match d1::batch(db, &own).await {
                    Ok(()) => {
                        message.ack();
                        stored.push(index);
                        writer::counted(counts);
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

/// Retries a message (towards the dead-letter queue), keeping the reason for its record.
/// The statements that count one token's events once: the intake (the trigger's counts), the
/// query rules' counts, then the ledger entry that guards them all.
fn count_statements(c: &writer::ToCount, rules: &[QueryRule], now: &str) -> Vec<SqlQuery> {
    let [intake, ledger] = shards::count_once(&c.token, &c.events, now);
    let mut statements = vec![intake];
    if !rules.is_empty() {
        let events: Vec<StoredEvent> = serde_json::from_str::<Vec<Box<RawValue>>>(&c.events)
            .unwrap_or_default()
            .iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect();
        statements.extend(
            query_counts::count(rules, &events)
                .iter()
                .map(|q| crate::alerting::store::count_query_rule(&c.token, q)),
        );
    }
    statements.push(ledger);
    statements
}

async fn retry(env: &Env, message: &RawMessage, reason: &str) {
    console_error!(
        "message {} not stored ({reason}); it will be retried",
        message.id()
    );
    remember(env, &message.id(), reason).await;
    message.retry();
}

/// Counts this batch in D1 (one more small batch): exact however many consumers run.
async fn record_batch_metrics(
    db: &D1Database,
    queue: &str,
    messages: usize,
    stored: usize,
    write_seconds: f64,
) {
    use crate::metrics::{increment, labels, observe_histogram, D1_WRITE_BUCKETS};
    let mut statements = vec![
        increment(
            "edge_logger_queue_batches_total",
            &labels(&[("queue", queue)]),
            1.0,
        ),
        increment(
            "edge_logger_queue_messages_total",
            &labels(&[("queue", queue), ("outcome", "acked")]),
            stored as f64,
        ),
    ];
    if messages > stored {
        statements.push(increment(
            "edge_logger_queue_messages_total",
            &labels(&[("queue", queue), ("outcome", "retried")]),
            (messages - stored) as f64,
        ));
    }
    statements.extend(observe_histogram(
        "edge_logger_d1_write_seconds",
        &[],
        D1_WRITE_BUCKETS,
        write_seconds,
    ));
    if let Err(e) = d1::batch(db, &statements).await {
        console_warn!("batch metrics not recorded: {}", describe(&e));
    }
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

/// Most per-project feeds one batch refreshes (each is a D1 read and a KV write).
const MAX_PROJECT_FEEDS_PER_BATCH: usize = 10;

/// The hot feeds are best effort: a failed refresh is logged and the next batch tries again.
/// The deployment's feed always, plus the feed of each project that had events in the batch.
async fn refresh_hot_feeds(db: &D1Database, env: &Env, projects: Vec<Option<String>>) {
    let kv = match env.kv(bindings::HOT) {
        Ok(kv) => kv,
        Err(e) => {
            console_warn!("hot feed: KV binding HOT missing: {e}");
            return;
        }
    };
    let project_feeds = projects
        .into_iter()
        .flatten()
        .take(MAX_PROJECT_FEEDS_PER_BATCH)
        .map(Some);
    for project in std::iter::once(None).chain(project_feeds) {
        let query = crate::query::logs::LogQuery {
            project: project.clone(),
            limit: HOT_FEED_SIZE,
            ..Default::default()
        };
        let latest = match crate::shards::reader::page(env, db, &query).await {
            Ok(mut rows) => {
                rows.truncate(HOT_FEED_SIZE);
                rows
            }
            Err(e) => {
                console_warn!("hot feed: reading the latest events failed: {e:?}");
                return;
            }
        };
        if let Err(e) = kv::write_hot_feed(&kv, project.as_deref(), &latest).await {
            console_warn!(
                "hot feed: KV write failed (the feed will catch up on the next batch): {e}"
            );
        }
    }
}
