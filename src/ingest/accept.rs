//! Accepting events: what every ingest route does once its format is mapped. Source maps,
//! enrichment, sealing, the message budget, the send, and the metrics; the pure parts
//! (`within_budget`, `random_nonce`) are plain functions, the runner (`accept`) is wasm-only.

use crate::ingest::queue_message::{event_budget, too_large_error};
use crate::model::{ItemError, StoredEvent};

/// Splits accepted events into their compact JSON where it fits one queue message, and an
/// error for each that does not.
pub fn within_budget(
    project: Option<&str>,
    accepted: &[(usize, StoredEvent)],
) -> (Vec<(usize, String)>, Vec<ItemError>) {
    let budget = event_budget(project);
    let mut fitting = Vec::with_capacity(accepted.len());
    let mut errors = Vec::new();
    for (index, event) in accepted {
        let json = event.to_compact_json();
        match json.len() <= budget {
            true => fitting.push((*index, json)),
            false => errors.push(too_large_error(*index, json.len())),
        }
    }
    (fitting, errors)
}

/// 96 random bits for an AES-GCM nonce, from two v4 UUIDs: the first 6 bytes of one are all
/// random (its version and variant bits come later).
pub fn random_nonce(mut uuid: impl FnMut() -> [u8; 16]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..6].copy_from_slice(&uuid()[..6]);
    nonce[6..].copy_from_slice(&uuid()[..6]);
    nonce
}

/// What accepting made of a batch.
#[derive(Debug, Default)]
pub struct Accepted {
    /// `(index, id)` of events the queue took.
    pub queued: Vec<(usize, String)>,
    /// Events rejected by validation or too large for a message.
    pub errors: Vec<ItemError>,
    /// Indexes whose `send_batch` failed (retryable).
    pub unqueued: Vec<usize>,
    /// The client's `event_id` of the first accepted event (Sentry answers with it).
    pub first_event_id: Option<String>,
    /// Events the ingest rules kept out (never queued).
    pub dropped: Vec<crate::controls::rules::DroppedEvent>,
}

#[cfg(target_arch = "wasm32")]
pub(crate) use runner::*;

#[cfg(target_arch = "wasm32")]
mod runner {
    use worker::Env;

    use super::{random_nonce, within_budget, Accepted};
    use crate::config::Config;
    use crate::error::AppError;
    use crate::ingest::pipeline::{enrich_all, ingest_answer, prepare_items, IngestOutcome};
    use crate::metrics::recorder;
    use crate::model::RejectReason;
    use crate::processors::body::RawItem;
    use crate::processors::normalize::IngestContext;

    /// Seconds a client should wait after the queue refused a send.
    pub const ENQUEUE_RETRY_AFTER: u32 = 5;

    /// The pipeline's context for a caller bound (or not) to a project.
    pub fn ingest_context(
        config: &Config,
        project: Option<String>,
    ) -> Result<IngestContext, AppError> {
        let mut ctx = IngestContext::new(
            crate::platform::clock::clock()?,
            &config.default_environment,
        );
        ctx.project = project;
        ctx.scrub = config.scrub;
        Ok(ctx)
    }

    /// Seals (with an encryption key), enqueues and counts the accepted events.
    pub async fn accept(
        env: &Env,
        worker_ctx: &worker::Context,
        config: &Config,
        ctx: &IngestContext,
        mut outcome: IngestOutcome,
    ) -> Result<Accepted, AppError> {
        // Source maps before the steps that read frames, so that groups form on original frames.
        crate::sourcemaps::resolve::apply(env, &mut outcome.accepted).await;
        let mut outcome = enrich_all(outcome);
        // The ingest rules, before anything costs: a dropped event never reaches the queue.
        let rules = crate::controls::store::active(env).await;
        let (kept, dropped) = crate::controls::rules::apply(
            &rules,
            std::mem::take(&mut outcome.accepted),
            ctx.received_at(),
        );
        outcome.accepted = kept;
        count_dropped(&dropped);
        seal(config, &mut outcome)?;
        let first_event_id = outcome.accepted.first().map(|(_, e)| e.event_id.clone());
        // Each accepted event's id and level by its index, for the answer and the metric.
        let levels: std::collections::HashMap<usize, (String, String)> = outcome
            .accepted
            .iter()
            .map(|(i, e)| (*i, (e.id.clone(), e.level.clone())))
            .collect();
        let (fitting, too_large) = within_budget(ctx.project.as_deref(), &outcome.accepted);
        let mut errors = outcome.errors;
        errors.extend(too_large);
        // Shared with the isolate's concurrent requests (group commit, `crate::ingest::outbox`).
        let delivery =
            crate::ingest::sender::send(env, worker_ctx, ctx.project.clone(), fitting).await;
        let queued: Vec<(usize, String)> = delivery
            .queued
            .into_iter()
            .map(|i| (i, levels[&i].0.clone()))
            .collect();
        for (index, _) in &queued {
            let level = &levels[index].1;
            recorder::add(
                "edge_logger_events_accepted_total",
                &[("level", level)],
                1.0,
            );
        }
        for error in &errors {
            count_rejected(error.code.code(), 1);
        }
        count_rejected(RejectReason::EnqueueFailed.code(), delivery.unqueued.len());
        errors.sort_by_key(|e| e.index);
        Ok(Accepted {
            queued,
            errors,
            unqueued: delivery.unqueued,
            first_event_id,
            dropped,
        })
    }

    /// `edge_logger_events_dropped_total` and `edge_logger_events_sampled_out_total` by project
    /// and rule.
    fn count_dropped(dropped: &[crate::controls::rules::DroppedEvent]) {
        for d in dropped {
            let name = match d.reason {
                "dropped" => "edge_logger_events_dropped_total",
                _ => "edge_logger_events_sampled_out_total",
            };
            let project = d.project.as_deref().unwrap_or("");
            recorder::add(name, &[("project", project), ("rule", &d.rule)], 1.0);
        }
    }

    /// An event the service itself reports (a failed alert delivery), through the pipeline and
    /// onto the queue like any other; a failure is logged, never raised.
    pub async fn report_event(env: &Env, event: serde_json::Value) {
        let Ok(now) = crate::platform::clock::clock() else {
            return;
        };
        let ctx = IngestContext::new(now, "production");
        let Ok(event) = crate::ingest::pipeline::process_event(event, &ctx, uuid::Uuid::new_v4())
        else {
            return;
        };
        let json = event.to_compact_json();
        let (batches, _) = crate::ingest::queue_message::pack(None, vec![(0, json)]);
        let Ok(queue) = env.queue(crate::platform::bindings::LOGS) else {
            return;
        };
        for batch in batches {
            let bodies: Vec<_> = batch.iter().map(|m| &m.body).collect();
            if let Err(e) = crate::storage::queue::send_bytes(&queue, &bodies).await {
                worker::console_warn!("could not report an internal event: {e}");
            }
        }
    }

    /// `edge_logger_events_rejected_total` by reason.
    pub fn count_rejected(reason: &str, events: usize) {
        if events > 0 {
            let labels = [("reason", reason)];
            recorder::add("edge_logger_events_rejected_total", &labels, events as f64);
        }
    }

    /// Seals each event's private fields when an encryption key is configured; refuses when
    /// the key is misconfigured (storing plaintext then would be worse than refusing).
    fn seal(config: &Config, outcome: &mut IngestOutcome) -> Result<(), AppError> {
        match &config.encryption {
            Ok(None) => Ok(()),
            Ok(Some(sealer)) => {
                let mut nonce = || random_nonce(|| *uuid::Uuid::new_v4().as_bytes());
                for (_, event) in outcome.accepted.iter_mut() {
                    sealer.seal(event, &mut nonce);
                }
                Ok(())
            }
            Err(problem) => Err(AppError::Internal(format!(
                "encryption at rest is misconfigured: {problem}"
            ))),
        }
    }

    /// Items mapped from another protocol through the pipeline and onto the queue. Nothing
    /// queued is the contract's error: 503 with Retry-After (the sender retries the batch), or
    /// 400 when nothing was usable.
    pub async fn accept_items(
        env: &Env,
        worker_ctx: &worker::Context,
        config: &Config,
        project: Option<String>,
        items: Vec<RawItem>,
    ) -> Result<Accepted, AppError> {
        let ctx = ingest_context(config, project)?;
        let outcome = prepare_items(items, &ctx, uuid::Uuid::new_v4)?;
        let accepted = accept(env, worker_ctx, config, &ctx, outcome).await?;
        let all_handled = accepted.unqueued.is_empty() && !accepted.dropped.is_empty();
        if accepted.queued.is_empty() && !all_handled {
            let refusal = ingest_answer(
                accepted.queued,
                accepted.errors,
                accepted.unqueued,
                accepted.dropped,
                ENQUEUE_RETRY_AFTER,
            );
            return Err(refusal
                .err()
                .unwrap_or_else(|| AppError::Internal("nothing was queued".into())));
        }
        Ok(accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_takes_the_random_half_of_two_uuids() {
        let mut calls = 0u8;
        let nonce = random_nonce(|| {
            calls += 1;
            [calls; 16]
        });
        assert_eq!(nonce, [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn events_past_the_message_budget_are_errors_by_index() {
        let small = StoredEvent {
            id: "small".into(),
            ..Default::default()
        };
        let large = StoredEvent {
            id: "large".into(),
            message: "x".repeat(200_000),
            ..Default::default()
        };
        let (fitting, errors) = within_budget(None, &[(0, small), (3, large)]);
        assert_eq!(fitting.len(), 1);
        assert_eq!(fitting[0].0, 0);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].index, 3);
    }
}
