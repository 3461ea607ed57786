//! `POST /v1/logs`: read the body within the limit, run the pure pipeline, pack the accepted
//! events into queue messages and enqueue them; 202 only for what reached the queue.

use worker::{Env, Response};

use super::{bytes_response, json_response, Caller, Incoming};
use crate::config::Config;
use crate::error::AppError;
use crate::model::RejectReason;
use std::collections::HashMap;

use crate::ingest::formats::elastic::{bulk_response, parse_bulk, ItemOutcome};
use crate::ingest::formats::loki::{self, loki_push_to_items};
use crate::ingest::formats::otlp::{self, export_response, otlp_logs_to_items};
use crate::ingest::formats::sentry::envelope_to_items;
use crate::ingest::pipeline::{
    enrich_all, ingest_answer, prepare_body, prepare_items, IngestOutcome,
};
use crate::ingest::queue_message::{event_budget, too_large_error};
use crate::model::ItemError;
use crate::processors::body::{
    body_format, decode_content_encoding, too_large_agent_body, too_large_body,
    AGENT_MAX_BODY_BYTES, MAX_BODY_BYTES,
};
use crate::processors::normalize::IngestContext;

/// Seconds a client should wait after the queue refused a send.
const ENQUEUE_RETRY_AFTER: u32 = 5;

pub async fn ingest(
    req: &Incoming,
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
) -> Result<Response, AppError> {
    let content_type = req.header("content-type")?;
    if caller.key_in_query
        && !content_type
            .as_deref()
            .unwrap_or("text/plain")
            .to_ascii_lowercase()
            .starts_with("text/plain")
    {
        // `?key=` exists for navigator.sendBeacon, which sends text/plain; everything else can
        // send a header, which keeps keys out of URLs and logs.
        return Err(AppError::UnsupportedMediaType("A key in ?key= is accepted only with text/plain bodies (navigator.sendBeacon); send other bodies with an Authorization header.".into()));
    }
    // Refuse what we cannot read before reading it.
    body_format(content_type.as_deref())?;
    let body = read_request_body(req).await?;
    let ctx = ingest_context(config, caller)?;
    let outcome = prepare_body(content_type.as_deref(), &body, &ctx, uuid::Uuid::new_v4)?;
    let enqueued = enqueue(env, worker_ctx, config, &ctx, outcome).await?;
    let (body, retry_after) = ingest_answer(
        enqueued.queued,
        enqueued.errors,
        enqueued.unqueued,
        ENQUEUE_RETRY_AFTER,
    )?;
    let response = json_response(202, &body)?;
    if let Some(seconds) = retry_after {
        response
            .headers()
            .set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

/// `POST /otlp/v1/logs`: OpenTelemetry logs over OTLP/HTTP, protobuf or JSON, answered in the
/// request's encoding as the OTLP spec says: 200 with an empty `ExportLogsServiceResponse`, or
/// with `partial_success` naming how many records were rejected.
pub async fn ingest_otlp(
    req: &Incoming,
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
) -> Result<Response, AppError> {
    let encoding = otlp::Encoding::of(req.header("content-type")?.as_deref())?;
    let items = otlp_logs_to_items(&read_agent_body(req, true).await?, encoding)?;
    let enqueued = ingest_items(env, worker_ctx, config, caller, items).await?;
    // A partly queued batch is not retried (that would duplicate what was queued): the records
    // that did not make it are reported as rejected instead.
    let mut problems: Vec<&str> = enqueued.errors.iter().map(|e| e.message.as_str()).collect();
    if !enqueued.unqueued.is_empty() {
        problems.push("the queue was unavailable for some records");
    }
    let body = export_response(
        enqueued.errors.len() + enqueued.unqueued.len(),
        problems.first().copied(),
        encoding,
    );
    bytes_response(200, encoding.content_type(), body)
}

/// `POST /loki/api/v1/push`, snappy protobuf or JSON: 204 once anything was queued. Loki's
/// protocol has no partial answer and clients drop a batch on 4xx but retry it on 5xx (which
/// would duplicate what was queued), so rejected lines are counted in `/metrics`
/// (`edge_logger_events_rejected_total`) rather than answered.
pub async fn ingest_loki(
    req: &Incoming,
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
) -> Result<Response, AppError> {
    let encoding = loki::Encoding::of(req.header("content-type")?.as_deref())?;
    let undo = loki::undo_content_encoding(encoding, req.header("content-encoding")?.as_deref());
    let items = loki_push_to_items(&read_agent_body(req, undo).await?, encoding)?;
    ingest_items(env, worker_ctx, config, caller, items).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's answer, item by item — 201 for a
/// stored document, 400 with the reason for a refused one (the client drops it), 429 for one
/// the queue did not take (the client sends it again); `errors` when any was not stored.
pub async fn ingest_bulk(
    req: &Incoming,
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
    index: Option<&str>,
) -> Result<Response, AppError> {
    let started = js_sys::Date::now();
    let bulk = parse_bulk(&read_agent_body(req, true).await?, index)?;
    let enqueued = ingest_items(env, worker_ctx, config, caller, bulk.items).await?;
    let mut outcomes = vec![ItemOutcome::Retry; bulk.actions.len()];
    for (index, id) in enqueued.queued {
        outcomes[index] = ItemOutcome::Created(id);
    }
    for error in enqueued.errors {
        outcomes[error.index] = ItemOutcome::Rejected(error.message);
    }
    let took = (js_sys::Date::now() - started).max(0.0) as u64;
    super::elastic::answer(bulk_response(&bulk.actions, &outcomes, took))
}

/// `POST /api/{project}/envelope/`: Sentry SDKs' envelopes. Answers `{"id": <event id>}` as
/// Sentry does; envelopes without events (sessions, client reports) are acknowledged.
pub async fn ingest_sentry(
    req: &Incoming,
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
    body: Option<Vec<u8>>,
) -> Result<Response, AppError> {
    let body = match body {
        Some(body) => body,
        None => read_request_body(req).await?,
    };
    let items = envelope_to_items(&body)?;
    if items.is_empty() {
        return json_response(200, &serde_json::json!({}));
    }
    let enqueued = ingest_items(env, worker_ctx, config, caller, items).await?;
    json_response(200, &serde_json::json!({ "id": enqueued.first_event_id }))
}

/// Items mapped from another protocol through the pipeline and onto the queue. Nothing queued
/// is the contract's error: 503 with Retry-After (the sender retries the batch), or 400 when
/// nothing was usable.
async fn ingest_items(
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    caller: &Caller,
    items: Vec<crate::processors::body::RawItem>,
) -> Result<Enqueued, AppError> {
    let ctx = ingest_context(config, caller)?;
    let outcome = prepare_items(items, &ctx, uuid::Uuid::new_v4)?;
    let enqueued = enqueue(env, worker_ctx, config, &ctx, outcome).await?;
    if enqueued.queued.is_empty() {
        return Err(ingest_answer(
            enqueued.queued,
            enqueued.errors,
            enqueued.unqueued,
            ENQUEUE_RETRY_AFTER,
        )
        .err()
        .unwrap_or_else(|| AppError::Internal("nothing was queued".into())));
    }
    Ok(enqueued)
}

/// An agent's body within the agents' limits (see `AGENT_MAX_BODY_BYTES`); `undo_encoding:
/// false` leaves `Content-Encoding` to the format's decoder.
async fn read_agent_body(req: &Incoming, undo_encoding: bool) -> Result<Vec<u8>, AppError> {
    read_body(
        req,
        AGENT_MAX_BODY_BYTES,
        too_large_agent_body,
        undo_encoding,
    )
    .await
}

/// The body within the contract's limits: declared or streamed size, then what it
/// decompresses to.
pub(crate) async fn read_request_body(req: &Incoming) -> Result<Vec<u8>, AppError> {
    read_body(req, MAX_BODY_BYTES, too_large_body, true).await
}

/// The body within `limit` bytes as sent and, when `undo_encoding`, once decompressed.
async fn read_body(
    req: &Incoming,
    limit: usize,
    too_large: fn(usize) -> AppError,
    undo_encoding: bool,
) -> Result<Vec<u8>, AppError> {
    let body = req.body_within(limit, too_large).await?;
    if !undo_encoding {
        return Ok(body);
    }
    let encoding = req.header("content-encoding")?;
    decode_content_encoding(encoding.as_deref(), body, limit)
}

fn ingest_context(config: &Config, caller: &Caller) -> Result<IngestContext, AppError> {
    let mut ctx = IngestContext::new(
        crate::platform::clock::clock()?,
        &config.default_environment,
    );
    ctx.project = caller.principal.project.clone();
    ctx.scrub = config.scrub;
    Ok(ctx)
}

/// What enqueueing made of the accepted events.
struct Enqueued {
    /// `(index, id)` of events the queue took.
    queued: Vec<(usize, String)>,
    /// Events rejected by validation or too large for a message.
    errors: Vec<ItemError>,
    /// Indexes whose `send_batch` failed (retryable).
    unqueued: Vec<usize>,
    /// The client's `event_id` of the first accepted event (Sentry answers with it).
    first_event_id: Option<String>,
}

/// Seals (with an encryption key) and enqueues the accepted events, and counts what happened.
async fn enqueue(
    env: &Env,
    worker_ctx: &worker::Context,
    config: &Config,
    ctx: &IngestContext,
    outcome: IngestOutcome,
) -> Result<Enqueued, AppError> {
    // Source maps before the steps that read frames, so that groups form on original frames.
    let mut outcome = outcome;
    crate::sourcemaps::resolve::apply(env, &mut outcome.accepted).await;
    let mut outcome = enrich_all(outcome);
    match &config.encryption {
        Ok(None) => {}
        Ok(Some(sealer)) => {
            // 96 random bits for each GCM nonce: the first 6 bytes of a v4 UUID are all random
            // (its version and variant bits come later), so two UUIDs make one nonce.
            let mut nonce = || -> [u8; 12] {
                let mut n = [0u8; 12];
                n[..6].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
                n[6..].copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..6]);
                n
            };
            for (_, event) in outcome.accepted.iter_mut() {
                sealer.seal(event, &mut nonce);
            }
        }
        // Storing plaintext when the operator asked for encryption would be worse than refusing.
        Err(problem) => {
            return Err(AppError::Internal(format!(
                "encryption at rest is misconfigured: {problem}"
            )))
        }
    }
    let first_event_id = outcome.accepted.first().map(|(_, e)| e.event_id.clone());
    let ids: HashMap<usize, (String, String)> = outcome
        .accepted
        .iter()
        .map(|(i, e)| (*i, (e.id.clone(), e.level.clone())))
        .collect();
    let mut errors = outcome.errors;
    let mut fitting = Vec::with_capacity(outcome.accepted.len());
    let budget = event_budget(ctx.project.as_deref());
    for (index, event) in &outcome.accepted {
        let json = event.to_compact_json();
        match json.len() <= budget {
            true => fitting.push((*index, json)),
            false => errors.push(too_large_error(*index, json.len())),
        }
    }
    // Shared with the isolate's concurrent requests (group commit, `crate::ingest::outbox`).
    let delivery = crate::ingest::sender::send(env, worker_ctx, ctx.project.clone(), fitting).await;
    let queued: Vec<(usize, String)> = delivery
        .queued
        .into_iter()
        .map(|i| (i, ids[&i].0.clone()))
        .collect();
    let unqueued = delivery.unqueued;
    for (index, _) in &queued {
        crate::ops::recorder::add(
            "edge_logger_events_accepted_total",
            &[("level", &ids[index].1)],
            1.0,
        );
    }
    for error in &errors {
        crate::ops::recorder::add(
            "edge_logger_events_rejected_total",
            &[("reason", error.code.code())],
            1.0,
        );
    }
    if !unqueued.is_empty() {
        crate::ops::recorder::add(
            "edge_logger_events_rejected_total",
            &[("reason", RejectReason::EnqueueFailed.code())],
            unqueued.len() as f64,
        );
    }
    errors.sort_by_key(|e| e.index);
    Ok(Enqueued {
        queued,
        errors,
        unqueued,
        first_event_id,
    })
}
