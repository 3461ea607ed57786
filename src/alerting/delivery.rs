//! The `ALERTS` queue consumer: makes each delivery's HTTP call (or `send_email` message) with
//! a timeout, acks what succeeded and retries the rest with backoff; a delivery that fails for
//! the last time becomes an internal `warn` event.

use std::future::Future;
use std::pin::Pin;

use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, console_warn, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder,
};

use super::calls::{execute, Failure};
use super::engine::{describe, now, Settings};
use super::keys::CredentialKeySet;
use crate::alerting::channels::{Delivery, EMAIL_BINDING};
use crate::alerting::destinations::Destinations;
use crate::alerting::store;
use crate::platform::bindings;
use crate::storage::queue::delivered;

crate::error::message_error!(
    /// Why a delivery failed: the receiver's status, a network failure or the timeout.
    DeliveryError
);

/// Attempts per delivery; the ALERTS consumer's `max_retries` is one less, so the last failed
/// attempt's retry lands the message in the dead-letter queue.
pub const MAX_ATTEMPTS: i64 = 5;

/// How an internal event reaches the log: the ingest pipeline's, handed in by the worker's
/// entry so that alerting does not depend on ingest (which depends on alerting).
pub type ReportEvent =
    for<'a> fn(&'a Env, serde_json::Value) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The `ALERTS` queue consumer: one delivery per message, with a timeout; success acks, a
/// refusal (4xx) is final at once, anything else retries with backoff (at least the
/// receiver's `Retry-After`) until the last attempt, which goes to the dead-letter queue. A
/// final failure is reported as an internal `warn` event through `report`.
pub async fn deliver(batch: MessageBatch<JsValue>, env: &Env, report: ReportEvent) {
    let s = Settings::of(env);
    let db = match env.d1(bindings::DB) {
        Ok(db) => db,
        Err(e) => {
            console_error!("alert deliveries: D1 binding missing ({e}); retrying");
            batch.retry_all();
            return;
        }
    };
    let keys = match CredentialKeySet::of(env, &db).await {
        Ok(keys) => keys,
        Err(e) => {
            console_error!(
                "alert deliveries: credentials key unreadable ({}); retrying",
                describe(&e)
            );
            batch.retry_all();
            return;
        }
    };
    let allowed = Destinations {
        allow_loopback: s.alerts().allow_loopback,
    };
    for message in batch.raw_iter() {
        let raw = delivered(&message.body());
        let delivery = raw
            .as_deref()
            .and_then(|text| serde_json::from_str::<Delivery>(text).ok());
        let Some(delivery) = delivery else {
            console_error!(
                "ALERTS message {} is not a delivery; dropping it to the dead-letter queue",
                message.id()
            );
            message.retry();
            continue;
        };
        let (delivery_id, alert_id, channel_type) = (
            delivery.delivery_id.clone(),
            delivery.alert_id.clone(),
            delivery.channel_type.clone(),
        );
        let outcome = match delivery.opened(&keys.opening()) {
            Err(why) => Err(Failure::Permanent(why)),
            Ok(delivery) => attempt(env, &db, &delivery, allowed).await,
        };
        // A request that cannot be made is as final as a refusal.
        let outcome = outcome.map_err(|f| match f {
            Failure::Invalid(why) => Failure::Permanent(why),
            other => other,
        });
        let (_, now_text) = now();
        let (delivered_ok, note) = match &outcome {
            Ok(_) => (true, None),
            Err(failure) => (false, Some(failure.reason())),
        };
        let max = match outcome {
            Err(Failure::Permanent(_)) => 1,
            _ => MAX_ATTEMPTS,
        };
        let attempts = match store::record_attempt(
            &db,
            &delivery_id,
            delivered_ok,
            note,
            max,
            &now_text,
        )
        .await
        {
            Ok(n) => n,
            Err(e) => {
                console_error!(
                    "alert delivery {delivery_id}: could not record the attempt: {}",
                    describe(&e)
                );
                message.retry();
                continue;
            }
        };
        let failed = |reason: &str, attempts: i64| {
            failed_delivery_event(&delivery_id, &alert_id, &channel_type, reason, attempts)
        };
        match outcome {
            Ok(_) => message.ack(),
            Err(Failure::Permanent(reason) | Failure::Invalid(reason)) => {
                console_warn!("alert delivery {delivery_id} to {channel_type} refused: {reason}");
                report(env, failed(&reason, attempts)).await;
                // Final at once: stored as a dead letter with the receiver's answer, not retried.
                let record = crate::dead_letters::store::NewDeadLetter {
                    id: &format!("dl_{}", uuid::Uuid::new_v4().simple()),
                    queue: "edge-logger-alerts",
                    message_id: &message.id(),
                    body: raw.as_deref().unwrap_or("null"),
                    error: Some(&format!("refused by the receiver: {reason}")),
                    events: None,
                    received_at: &now_text,
                };
                match crate::dead_letters::store::insert(&db, &record).await {
                    Ok(()) => message.ack(),
                    Err(_) => message.retry(),
                }
            }
            Err(Failure::Retry { reason, .. }) if attempts >= MAX_ATTEMPTS => {
                console_warn!(
                    "alert delivery {delivery_id} to {channel_type} failed after {attempts} attempts: {reason}"
                );
                report(env, failed(&reason, attempts)).await;
                if let Ok(kv) = env.kv(bindings::HOT) {
                    crate::dead_letters::store::remember_failure(
                        &kv,
                        &message.id(),
                        &format!("delivery failed after {attempts} attempts: {reason}"),
                    )
                    .await;
                }
                // Past the consumer's max_retries: this retry moves it to the dead-letter queue.
                message.retry();
            }
            Err(Failure::Retry { after, .. }) => {
                let backoff = s
                    .alerts()
                    .retry_base_seconds
                    .saturating_mul(1 << (attempts.clamp(1, 6) - 1) as u32)
                    .min(300);
                let delay = backoff.max(after.unwrap_or(0).min(3600));
                message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay)
                        .build(),
                );
            }
        }
    }
}

/// One attempt of an opened delivery; `Ok` may carry a note for the record (a ticket step
/// that had nothing to do says why).
async fn attempt(
    env: &Env,
    db: &worker::D1Database,
    delivery: &Delivery,
    allowed: Destinations,
) -> Result<Option<String>, Failure> {
    if delivery.channel_type == EMAIL_BINDING {
        return send_with_binding(env, delivery)
            .await
            .map(|_| None)
            .map_err(|e| Failure::Retry {
                reason: e.message().to_string(),
                after: None,
            });
    }
    if let Some(step) = &delivery.ticket {
        return crate::alerting::ticketing::run(db, step, &delivery.delivery_id, allowed).await;
    }
    execute(&delivery.call(), allowed)
        .await?
        .verdict()
        .map(|_| None)
}

/// E-mail through the Cloudflare `send_email` binding (destinations must be verified addresses
/// of the zone's Email Routing; the sender an address of the zone).
async fn send_with_binding(env: &Env, delivery: &Delivery) -> Result<(), DeliveryError> {
    #[derive(serde::Deserialize)]
    struct Mail {
        from: String,
        to: Vec<String>,
        subject: String,
        text: String,
    }
    let mail: Mail = serde_json::from_str(&delivery.body)
        .map_err(|e| DeliveryError::new(format!("bad e-mail payload: {e}")))?;
    let binding = env
        .send_email("SEND_EMAIL")
        .map_err(|e| DeliveryError::new(format!("SEND_EMAIL binding: {e}")))?;
    let message =
        worker::SendEmailBuilder::builder_with_str_and_slice(&mail.from, &mail.to, &mail.subject)
            .text(&mail.text)
            .build();
    binding
        .send_with_builder(&message)
        .await
        .map(|_| ())
        .map_err(|e| DeliveryError::new(format!("send_email failed: {e:?}")))
}

/// A failed delivery becomes an internal `warn` event, so it shows up where people look. It
/// names the channel type, never its URL (a chat webhook's URL is its credential).
fn failed_delivery_event(
    delivery_id: &str,
    alert_id: &str,
    channel_type: &str,
    reason: &str,
    attempts: i64,
) -> serde_json::Value {
    serde_json::json!({
        "message": format!("alert delivery failed: {channel_type} after {attempts} attempts: {reason}"),
        "level": "warn",
        "service": "edge-logger",
        "component": "AlertDelivery",
        "context": {"alert_id": alert_id, "delivery_id": delivery_id, "channel_type": channel_type},
    })
}
