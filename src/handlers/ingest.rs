//! The ingest routes: read the body within the limit, map the format, hand the events to
//! `ingest::accept`, and answer in the sender's protocol; 202 only for what reached the queue.

use worker::Response;

use super::{bytes_response, json_response, Call, Incoming};
use crate::error::AppError;
use crate::ingest::accept::{
    accept, accept_items, count_rejected, ingest_context, Accepted, ENQUEUE_RETRY_AFTER,
};
use crate::ingest::formats::elastic::{bulk_response, parse_bulk, ItemOutcome};
use crate::ingest::formats::loki::{self, loki_push_to_items};
use crate::ingest::formats::otlp::{self, export_response, otlp_logs_to_items};
use crate::ingest::formats::sentry::envelope_to_items;
use crate::ingest::pipeline::{ingest_answer, prepare_body};
use crate::processors::body::{
    beacon_key_allowed, body_format, decode_content_encoding, too_large_agent_body, too_large_body,
    AGENT_MAX_BODY_BYTES, MAX_BODY_BYTES,
};

/// `POST /v1/logs`: the contract's 202 with per-event errors.
pub async fn ingest(c: &Call<'_>) -> Result<Response, AppError> {
    let answer = ingest_logs(c).await;
    if let Err(err) = &answer {
        let events = match err {
            AppError::InvalidEvents { errors, .. } if !errors.is_empty() => errors.len(),
            _ => 1,
        };
        count_rejected(err.code(), events);
    }
    answer
}

async fn ingest_logs(c: &Call<'_>) -> Result<Response, AppError> {
    let content_type = c.req.header("content-type")?;
    beacon_key_allowed(c.caller.key_in_query, content_type.as_deref())?;
    // Refuse what we cannot read before reading it.
    body_format(content_type.as_deref())?;
    let body = read_request_body(c.req).await?;
    let ctx = ingest_context(&c.config, c.principal().project.clone())?;
    let outcome = prepare_body(content_type.as_deref(), &body, &ctx, uuid::Uuid::new_v4)?;
    let accepted = accept(c.env, c.ctx, &c.config, &ctx, outcome).await?;
    let (body, retry_after) = ingest_answer(
        accepted.queued,
        accepted.errors,
        accepted.unqueued,
        accepted.dropped,
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

/// Items of another protocol through `accept_items`, for the caller's project.
async fn accept_mapped(
    c: &Call<'_>,
    items: Vec<crate::processors::body::RawItem>,
) -> Result<Accepted, AppError> {
    let project = c.principal().project.clone();
    accept_items(c.env, c.ctx, &c.config, project, items).await
}

/// `POST /otlp/v1/logs`: OpenTelemetry logs over OTLP/HTTP, protobuf or JSON, answered in the
/// request's encoding as the OTLP spec says: 200 with an empty `ExportLogsServiceResponse`, or
/// with `partial_success` naming how many records were rejected.
pub async fn ingest_otlp(c: &Call<'_>) -> Result<Response, AppError> {
    let encoding = otlp::Encoding::of(c.req.header("content-type")?.as_deref())?;
    let items = otlp_logs_to_items(&read_agent_body(c.req, true).await?, encoding)?;
    let accepted = accept_mapped(c, items).await?;
    // A partly queued batch is not retried (that would duplicate what was queued): the records
    // that did not make it are reported as rejected instead.
    let mut problems: Vec<&str> = accepted.errors.iter().map(|e| e.message.as_str()).collect();
    if !accepted.unqueued.is_empty() {
        problems.push("the queue was unavailable for some records");
    }
    let body = export_response(
        accepted.errors.len() + accepted.unqueued.len(),
        problems.first().copied(),
        encoding,
    );
    bytes_response(200, encoding.content_type(), body)
}

/// `POST /loki/api/v1/push`, snappy protobuf or JSON: 204 once anything was queued. Loki's
/// protocol has no partial answer and clients drop a batch on 4xx but retry it on 5xx (which
/// would duplicate what was queued), so rejected lines are counted in `/metrics`
/// (`edge_logger_events_rejected_total`) rather than answered.
pub async fn ingest_loki(c: &Call<'_>) -> Result<Response, AppError> {
    let encoding = loki::Encoding::of(c.req.header("content-type")?.as_deref())?;
    let undo = loki::undo_content_encoding(encoding, c.req.header("content-encoding")?.as_deref());
    let items = loki_push_to_items(&read_agent_body(c.req, undo).await?, encoding)?;
    accept_mapped(c, items).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `POST /_bulk` and `POST /{index}/_bulk`: Elasticsearch's answer, item by item — 201 for a
/// stored document, 400 with the reason for a refused one (the client drops it), 429 for one
/// the queue did not take (the client sends it again); `errors` when any was not stored.
pub async fn ingest_bulk(c: &Call<'_>) -> Result<Response, AppError> {
    let started = js_sys::Date::now();
    let body = read_agent_body(c.req, true).await?;
    let bulk = parse_bulk(&body, c.route.optional_param("index"))?;
    // Nothing usable is still Elasticsearch's 200 with each item's error: shippers read
    // `items`, drop what was refused and go on (an error of ours would stall them).
    let accepted = match accept_mapped(c, bulk.items).await {
        Err(AppError::InvalidEvents { errors, .. }) if !errors.is_empty() => Accepted {
            errors,
            ..Default::default()
        },
        other => other?,
    };
    let mut outcomes = vec![ItemOutcome::Retry; bulk.actions.len()];
    // A document an ingest rule kept out was handled as asked: created, for the shipper.
    for (index, id) in accepted
        .queued
        .into_iter()
        .chain(accepted.dropped.into_iter().map(|d| (d.index, d.id)))
    {
        outcomes[index] = ItemOutcome::Created(id);
    }
    for error in accepted.errors {
        outcomes[error.index] = ItemOutcome::Rejected(error.message);
    }
    let took = (js_sys::Date::now() - started).max(0.0) as u64;
    super::elastic::answer(bulk_response(&bulk.actions, &outcomes, took))
}

/// `POST /api/{project}/envelope/`: Sentry SDKs' envelopes. Answers `{"id": <event id>}` as
/// Sentry does; envelopes without events (sessions, client reports) are acknowledged.
pub async fn ingest_sentry(c: &Call<'_>) -> Result<Response, AppError> {
    let body = match c.sentry_body.take() {
        Some(body) => body,
        None => read_request_body(c.req).await?,
    };
    let items = envelope_to_items(&body)?;
    if items.is_empty() {
        return json_response(200, &serde_json::json!({}));
    }
    let accepted = accept_mapped(c, items).await?;
    json_response(200, &serde_json::json!({ "id": accepted.first_event_id }))
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
