//! edge-logger: log and error ingestion on Cloudflare Workers.
//!
//! Each concern has its own folder with its pure logic and its runtime runner: `ingest`,
//! `processors`, `triage`, `query`, `alerting`, `security`, `ops`, and `shards` (where events are
//! stored: SQLite Durable Objects). Calls to D1, KV, Queues, R2 and the SQL of the shards live in `storage`, HTTP in `handlers`, other wasm-only runtime helpers in `platform`.
//! Pure modules never import `worker` and are tested natively with `cargo test`.

pub mod alerting;
pub mod billing;
pub mod config;
pub mod controls;
pub mod counting;
pub mod dead_letters;
pub mod error;
pub mod handlers;
pub mod ingest;
pub mod loki;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod processors;
pub mod query;
pub mod security;
pub mod shards;
pub mod sourcemaps;
pub mod storage;
pub mod tail;
pub mod triage;

#[cfg(target_arch = "wasm32")]
mod platform;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{
        event, web_sys, Context, Env, MessageBatch, Response, Result, ScheduleContext,
        ScheduledEvent,
    };

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
        crate::platform::microtasks::resume_futures_with_promise_reactions();
    }

    /// Retention and housekeeping, on the cron in wrangler.toml.
    #[event(scheduled)]
    async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
        crate::billing::add(crate::billing::Item::WorkerRequests, 1);
        crate::ops::maintenance::run(&env).await;
        crate::metrics::recorder::flush_if_due(&env).await;
    }

    /// Takes the platform's request as it is: `worker::Request` would read `request.cf` on
    /// every request, which nothing here uses (see `handlers::Incoming`).
    #[event(fetch)]
    async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<Response> {
        Ok(
            crate::handlers::handle(crate::platform::incoming::Incoming::new(req), &env, &ctx)
                .await,
        )
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
        // A consumer invocation is billed as a request.
        crate::billing::add(crate::billing::Item::WorkerRequests, 1);
        let queue = batch.queue();
        if queue.ends_with("-dlq") {
            crate::ingest::consumer::consume_dead_letters(batch, &env).await;
        } else if queue.contains("alerts") {
            let report: crate::alerting::delivery::ReportEvent =
                |env, event| Box::pin(crate::ingest::accept::report_event(env, event));
            crate::alerting::delivery::deliver(batch, &env, report).await;
        } else {
            crate::ingest::consumer::consume(batch, &env).await;
        }
        crate::metrics::recorder::flush_if_due(&env).await;
        Ok(())
    }
}
