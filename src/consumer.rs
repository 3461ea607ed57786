//! The queue consumer: store each message's events in D1, ack exactly what was stored, retry
//! the rest, then refresh the KV hot feed once for the whole batch.
//!
//! It never returns an error (the `#[event(queue)]` macro would panic): every message is acked
//! or retried by itself, and a message that keeps failing goes to the dead-letter queue after
//! `max_retries`.

use worker::js_sys::{Uint8Array, JSON};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{console_error, console_warn, D1Database, Env, MessageBatch, MessageExt, RawMessage};

use crate::queue_message::read_envelope;
use crate::storage::{d1, kv, HOT_FEED_SIZE};

pub async fn consume(batch: MessageBatch<JsValue>, env: &Env) {
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => {
            console_error!("queue consumer: D1 binding DB missing ({e}); retrying the whole batch");
            batch.retry_all();
            return;
        }
    };

    let mut messages: Vec<(RawMessage, String)> = Vec::new();
    let mut projects: Vec<Option<String>> = Vec::new();
    for message in batch.raw_iter() {
        let decoded = decode_body(&message.body())
            .ok_or_else(|| "not bytes or text".to_string())
            .and_then(|body| {
                let project = read_envelope(&body)?.project;
                Ok((body, project))
            });
        match decoded {
            Ok((body, project)) => {
                messages.push((message, body));
                projects.push(project);
            }
            Err(reason) => {
                console_error!("queue message {} is not an event message ({reason}); retrying it towards the dead-letter queue", message.id());
                message.retry();
            }
        }
    }
    if messages.is_empty() {
        return;
    }

    let stored = store(&db, &messages).await;
    let mut touched: Vec<Option<String>> = stored.iter().map(|&i| projects[i].clone()).collect();
    touched.sort();
    touched.dedup();
    if !stored.is_empty() {
        crate::alert_engine::evaluate(&db, env).await;
        refresh_hot_feeds(&db, env, touched).await;
    }
}

/// Stores all messages in one D1 batch (one transaction). If that fails, each message is tried
/// on its own so that one bad message does not hold back the others. Returns the indexes of the
/// messages that were stored (and acked).
async fn store(db: &D1Database, messages: &[(RawMessage, String)]) -> Vec<usize> {
    let statements: worker::Result<Vec<_>> = messages
        .iter()
        .map(|(_, body)| d1::insert_message(db, body))
        .collect();
    let whole = match statements {
        Ok(statements) => db.batch(statements).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match whole {
        Ok(()) => {
            messages.iter().for_each(|(m, _)| m.ack());
            (0..messages.len()).collect()
        }
        Err(e) => {
            console_warn!(
                "D1 batch of {} messages failed ({}); storing them one by one",
                messages.len(),
                describe(&e)
            );
            let mut stored = Vec::new();
            for (index, (message, body)) in messages.iter().enumerate() {
                let result = match d1::insert_message(db, body) {
                    Ok(statement) => statement.run().await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => {
                        message.ack();
                        stored.push(index);
                    }
                    Err(e) => {
                        console_error!(
                            "D1 insert of message {} failed ({}); it will be retried",
                            message.id(),
                            describe(&e)
                        );
                        message.retry();
                    }
                }
            }
            stored
        }
    }
}

fn describe(e: &worker::Error) -> String {
    match e {
        worker::Error::D1(d1_error) => d1_error.cause(),
        other => other.to_string(),
    }
}

/// Messages are bytes (what our producer sends); JSON text or a JSON value (what a replay tool
/// may send) is accepted too.
fn decode_body(body: &JsValue) -> Option<String> {
    if let Some(text) = body.as_string() {
        return Some(text);
    }
    if body.is_instance_of::<Uint8Array>() || body.is_instance_of::<worker::js_sys::ArrayBuffer>() {
        return String::from_utf8(Uint8Array::new(body).to_vec()).ok();
    }
    if body.is_object() {
        return JSON::stringify(body).ok().and_then(|s| s.as_string());
    }
    None
}

/// Most per-project feeds one batch refreshes (each is a D1 read and a KV write).
const MAX_PROJECT_FEEDS_PER_BATCH: usize = 10;

/// The hot feeds are best effort: a failed refresh is logged and the next batch tries again.
/// The deployment's feed always, plus the feed of each project that had events in the batch.
async fn refresh_hot_feeds(db: &D1Database, env: &Env, projects: Vec<Option<String>>) {
    let kv = match env.kv("HOT") {
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
        let latest = match d1::latest(db, project.as_deref(), HOT_FEED_SIZE).await {
            Ok(rows) => rows,
            Err(e) => {
                console_warn!(
                    "hot feed: reading the latest events failed: {}",
                    describe(&e)
                );
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
