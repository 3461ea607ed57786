//! The `ALERTS` queue consumer: makes each delivery's HTTP call (or `send_email` message) with
//! a timeout, acks what succeeded and retries the rest with backoff; a delivery that fails for
//! the last time becomes an internal `warn` event.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{
    console_error, console_warn, AbortController, Delay, Env, Fetch, Headers, MessageBatch,
    MessageExt, Method, QueueRetryOptionsBuilder, Request, RequestInit, RequestRedirect,
};

use super::engine::{describe, now, Settings};
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
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How an internal event reaches the log: the ingest pipeline's, handed in by the worker's
/// entry so that alerting does not depend on ingest (which depends on alerting).
pub type ReportEvent =
    for<'a> fn(&'a Env, serde_json::Value) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The `ALERTS` queue consumer: one HTTP call per message, with a timeout; success acks,
/// failure retries with backoff until the last attempt, which goes to the dead-letter queue
/// and is reported as an internal `warn` event through `report`.
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
    for message in batch.raw_iter() {
        let delivery = delivered(&message.body())
            .and_then(|text| serde_json::from_str::<Delivery>(&text).ok());
        let Some(delivery) = delivery else {
            console_error!(
                "ALERTS message {} is not a delivery; dropping it to the dead-letter queue",
                message.id()
            );
            message.retry();
            continue;
        };
        let allowed = crate::alerting::destinations::Destinations {
            allow_loopback: s.alerts().allow_loopback,
        };
        let outcome = if delivery.channel_type == EMAIL_BINDING {
            send_with_binding(env, &delivery).await
        } else {
            send(&delivery, allowed).await
        };
        let (_, now_text) = now();
        let error = outcome.as_ref().err().map(DeliveryError::message);
        let attempts = match store::record_attempt(
            &db,
            &delivery.delivery_id,
            outcome.is_ok(),
            error,
            MAX_ATTEMPTS,
            &now_text,
        )
        .await
        {
            Ok(n) => n,
            Err(e) => {
                console_error!(
                    "alert delivery {}: could not record the attempt: {}",
                    delivery.delivery_id,
                    describe(&e)
                );
                message.retry();
                continue;
            }
        };
        match outcome {
            Ok(()) => message.ack(),
            Err(reason) if attempts >= MAX_ATTEMPTS => {
                console_warn!(
                    "alert delivery {} to {} failed after {attempts} attempts: {reason}",
                    delivery.delivery_id,
                    delivery.channel_type
                );
                report(
                    env,
                    failed_delivery_event(&delivery, reason.message(), attempts),
                )
                .await;
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
            Err(_) => {
                let delay = s
                    .alerts()
                    .retry_base_seconds
                    .saturating_mul(1 << (attempts.clamp(1, 6) - 1) as u32)
                    .min(300);
                message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay)
                        .build(),
                );
            }
        }
    }
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

/// One HTTP call to a public receiver (checked again here: a rule saved before the check
/// existed may name another), never following a redirect.
async fn send(delivery: &Delivery, allowed: Destinations) -> Result<(), DeliveryError> {
    crate::alerting::destinations::check(&delivery.url, allowed).map_err(DeliveryError::new)?;
    let headers = Headers::new();
    for (name, value) in &delivery.headers {
        headers
            .set(name, value)
            .map_err(|e| DeliveryError::new(e.to_string()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&delivery.body)));
    let request = Request::new_with_init(&delivery.url, &init)
        .map_err(|e| DeliveryError::new(format!("bad request: {e}")))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let call = Box::pin(async move { Fetch::Request(request).send_with_signal(&signal).await });
    let timeout = Box::pin(Delay::from(DELIVERY_TIMEOUT));
    match select(call, timeout).await {
        Either::Left((Ok(response), _)) if (200..300).contains(&response.status_code()) => Ok(()),
        Either::Left((Ok(response), _)) => Err(DeliveryError::new(format!(
            "HTTP {}",
            response.status_code()
        ))),
        Either::Left((Err(e), _)) => Err(DeliveryError::new(format!("fetch failed: {e}"))),
        Either::Right(_) => {
            controller.abort();
            Err(DeliveryError::new(format!(
                "timed out after {}s",
                DELIVERY_TIMEOUT.as_secs()
            )))
        }
    }
}

/// A failed delivery becomes an internal `warn` event, so it shows up where people look.
fn failed_delivery_event(delivery: &Delivery, reason: &str, attempts: i64) -> serde_json::Value {
    serde_json::json!({
        "message": format!("alert delivery failed: {} to {} after {attempts} attempts: {reason}", delivery.channel_type, delivery.url),
        "level": "warn",
        "service": "edge-logger",
        "component": "AlertDelivery",
        "context": {"alert_id": delivery.alert_id, "delivery_id": delivery.delivery_id, "channel_type": delivery.channel_type},
    })
}
