//! edge-logger: log and error ingestion on Cloudflare Workers.
//!
//! The pure core (`auth`, `error`, `model`, `pipeline`, `processors`, `triage`, `queue_message`,
//! `storage::query`, `routes`) never touches the platform and is tested natively with
//! `cargo test`. The platform edge (`handlers`, `consumer`, `storage::{d1,kv}`) is wasm-only and
//! translates between Cloudflare bindings and that core.

pub mod alerting;
pub mod analysis;
pub mod archive;
pub mod auth;
pub mod encryption;
pub mod error;
pub mod formats;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod outbox;
pub mod pipeline;
pub mod processors;
pub mod queue_message;
pub mod retention;
pub mod routes;
pub mod storage;
pub mod triage;

#[cfg(target_arch = "wasm32")]
mod alert_engine;
#[cfg(target_arch = "wasm32")]
mod consumer;
#[cfg(target_arch = "wasm32")]
mod handlers;
#[cfg(target_arch = "wasm32")]
mod intl;
#[cfg(target_arch = "wasm32")]
mod maintenance;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{
        event, web_sys, Context, Env, MessageBatch, Response, Result, ScheduleContext,
        ScheduledEvent,
    };

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
        crate::handlers::resume_futures_with_promise_reactions();
    }

    /// Retention and housekeeping, on the cron in wrangler.toml.
    #[event(scheduled)]
    async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
        crate::maintenance::run(&env).await;
    }

    /// Takes the platform's request as it is: `worker::Request` would read `request.cf` on
    /// every request, which nothing here uses (see `handlers::Incoming`).
    #[event(fetch)]
    async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<Response> {
        Ok(crate::handlers::handle(crate::handlers::Incoming::new(req), &env, &ctx).await)
    }

    /// Never returns `Err`: the macro would panic. Each message is acked or retried by itself.
    /// One worker consumes events (`LOGS`), alert deliveries (`ALERTS`) and both dead-letter
    /// queues.
    #[event(queue)]
    async fn queue(
        batch: MessageBatch<worker::wasm_bindgen::JsValue>,
        env: Env,
        _ctx: Context,
    ) -> Result<()> {
        let queue = batch.queue();
        if queue.ends_with("-dlq") {
            crate::consumer::consume_dead_letters(batch, &env).await;
        } else if queue.contains("alerts") {
            crate::alert_engine::deliver(batch, &env).await;
        } else {
            crate::consumer::consume(batch, &env).await;
        }
        Ok(())
    }
}
