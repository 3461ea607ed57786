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
    use crate::controls::spike;
    use crate::error::AppError;
    use crate::ingest::pipeline::{
        enrich_all, ingest_answer, nothing_taken, prepare_items, IngestOutcome,
    };
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
        let usage = Usage::of(ctx, &outcome);
        // The ingest rules, before anything costs: a dropped event never reaches the queue.
        let rules = crate::controls::store::active(env).await;
        let (kept, mut dropped) = crate::controls::rules::apply(
            &rules,
            std::mem::take(&mut outcome.accepted),
            ctx.received_at(),
        );
        outcome.accepted = kept;
        count_dropped(&dropped);
        usage.count_dropped(&dropped);
        // Then the project's quota: what passes it is refused (hard) or sampled (soft).
        if let Some(project) = ctx.project.as_deref() {
            if let Some(quota) = crate::controls::store::quota_of(env, project).await {
                let kept = std::mem::take(&mut outcome.accepted);
                let (kept, refused, sampled, day_full) =
                    apply_quota(env, ctx, project, &quota, kept).await?;
                outcome.accepted = kept;
                usage.count(&refused, COLUMN_REFUSED);
                usage.count_dropped(&sampled);
                count_dropped(&sampled);
                outcome
                    .errors
                    .extend(refused_errors(project, &quota, &refused));
                dropped.extend(sampled);
                if outcome.accepted.is_empty() && !refused.is_empty() && dropped.is_empty() {
                    return Err(quota_refusal(project, &quota, ctx, day_full));
                }
            }
        }
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
        usage.count(
            &queued.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            COLUMN_ACCEPTED,
        );
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

    const COLUMN_RECEIVED: usize = 0;
    const COLUMN_ACCEPTED: usize = 1;
    const COLUMN_DROPPED: usize = 2;
    const COLUMN_SAMPLED_OUT: usize = 3;
    const COLUMN_REFUSED: usize = 4;

    /// Each event's usage key (its day, project, service and level) by index, to count what
    /// became of it (`usage_events`).
    struct Usage {
        day: String,
        project: String,
        keys: std::collections::HashMap<usize, (String, String)>,
    }

    impl Usage {
        /// Counts every event of the request as received (one refused before it had a service
        /// or level under empty ones).
        fn of(ctx: &IngestContext, outcome: &IngestOutcome) -> Self {
            let usage = Usage {
                day: crate::processors::timestamp::format_ts(ctx.received_at())[..10].to_string(),
                project: ctx.project.clone().unwrap_or_default(),
                keys: outcome
                    .accepted
                    .iter()
                    .map(|(i, e)| (*i, (e.service.clone().unwrap_or_default(), e.level.clone())))
                    .collect(),
            };
            let indexes: Vec<usize> = usage.keys.keys().copied().collect();
            usage.count(&indexes, COLUMN_RECEIVED);
            let refused = outcome.errors.len() as i64;
            if refused > 0 {
                let key = (
                    usage.day.clone(),
                    usage.project.clone(),
                    String::new(),
                    String::new(),
                );
                recorder::count_usage(key, COLUMN_RECEIVED, refused);
            }
            usage
        }

        fn count(&self, indexes: &[usize], column: usize) {
            for index in indexes {
                let (service, level) = self.keys.get(index).cloned().unwrap_or_default();
                let key = (self.day.clone(), self.project.clone(), service, level);
                recorder::count_usage(key, column, 1);
            }
        }

        fn count_dropped(&self, dropped: &[crate::controls::rules::DroppedEvent]) {
            for d in dropped {
                let column = if d.reason == "dropped" {
                    COLUMN_DROPPED
                } else {
                    COLUMN_SAMPLED_OUT
                };
                self.count(&[d.index], column);
            }
        }
    }

    type QuotaOutcome = (
        Vec<(usize, crate::model::StoredEvent)>,
        Vec<usize>,
        Vec<crate::controls::rules::DroppedEvent>,
        bool,
    );

    /// The project's quota over a request's events: `(kept, refused indexes, sampled out,
    /// whether the day's window is full)`.
    async fn apply_quota(
        env: &Env,
        ctx: &IngestContext,
        project: &str,
        quota: &crate::controls::quota::Quota,
        events: Vec<(usize, crate::model::StoredEvent)>,
    ) -> Result<QuotaOutcome, AppError> {
        if events.is_empty() {
            return Ok((events, Vec::new(), Vec::new(), false));
        }
        let db = env.d1(crate::platform::bindings::DB)?;
        let wanted = events.len() as i64;
        let now = ctx.received_at();
        let grant = crate::controls::store::take(&db, project, quota, wanted, now).await?;
        let split = crate::controls::quota::split(quota, events, grant.granted.max(0) as usize);
        let refused: Vec<usize> = split.refused.iter().map(|(i, _)| *i).collect();
        count_rejected(RejectReason::QuotaExceeded.code(), refused.len());
        if !refused.is_empty() {
            let labels = [("project", project)];
            recorder::add(
                "edge_logger_events_refused_quota_total",
                &labels,
                refused.len() as f64,
            );
        }
        let sampled_out = |(index, e): (usize, crate::model::StoredEvent), rule: &str| {
            crate::controls::rules::DroppedEvent {
                index,
                id: e.id,
                rule: rule.into(),
                reason: "sampled_out",
                project: e.project,
            }
        };
        let mut sampled: Vec<_> = split
            .sampled_out
            .into_iter()
            .map(|event| sampled_out(event, "quota"))
            .collect();
        let mut kept = split.kept;
        if let Some(multiplier) = quota.spike_multiplier {
            let base = spike::baseline(
                grant.yesterday,
                grant.received_today,
                grant.this_window,
                now,
            );
            if spike::engaged(multiplier, grant.this_window, base) {
                let (keep, out) = spike_sample(kept, now);
                kept = keep;
                sampled.extend(out.into_iter().map(|event| sampled_out(event, "spike")));
                record_spike(&db, project, multiplier, grant.this_window, base, now).await;
            }
        }
        let day_full = crate::controls::quota::day_is_full(quota, grant.day_count);
        Ok((kept, refused, sampled, day_full))
    }

    /// A request's events by index.
    type Events = Vec<(usize, crate::model::StoredEvent)>;

    thread_local! {
        /// Events kept this minute by group while a spike lasts, in this isolate.
        static SPIKE_SEEN: std::cell::RefCell<(String, std::collections::HashMap<String, u32>)> =
            std::cell::RefCell::new(Default::default());
    }

    /// During a spike: each group's first events this minute, then one in ten.
    fn spike_sample(
        events: Vec<(usize, crate::model::StoredEvent)>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Events, Events) {
        let minute = crate::controls::quota::windows(now).1;
        SPIKE_SEEN.with(|seen| {
            let mut seen = seen.borrow_mut();
            if seen.0 != minute {
                *seen = (minute, Default::default());
            }
            events.into_iter().partition(|(_, e)| {
                let count = seen.1.entry(e.fingerprint.clone()).or_default();
                let keep = spike::keep(*count, &e.id);
                *count += 1;
                keep
            })
        })
    }

    /// One alert a day per project while its spikes last (recorded once, whichever isolate
    /// gets there first); a failure is logged, ingestion goes on.
    async fn record_spike(
        db: &worker::D1Database,
        project: &str,
        multiplier: f64,
        this_window: i64,
        baseline: f64,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let day_start = now
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp());
        let name = format!(
            "Spike protection: project {project} received {this_window} events in five minutes, over {multiplier}× its usual {baseline:.1}; keeping a sample"
        );
        let alert = crate::alerting::store::NewAlert {
            id: &format!("alt_{}", uuid::Uuid::new_v4().simple()),
            rule_id: "spike-protection",
            rule_name: &name,
            trigger: "spike",
            project: Some(project),
            group_key: project,
            window_start: day_start,
            window_seconds: Some(86_400),
            count: this_window,
            status: "notified",
            sample_event_id: None,
            created_at: &crate::processors::timestamp::format_ts(now),
        };
        if let Err(e) = crate::alerting::store::insert_alert(db, &alert).await {
            worker::console_warn!("spike protection: the alert was not recorded: {e}");
        }
    }

    fn quota_words(quota: &crate::controls::quota::Quota) -> String {
        let mut limits = Vec::new();
        if let Some(n) = quota.events_per_day {
            limits.push(format!("{n} events per day"));
        }
        if let Some(n) = quota.events_per_minute {
            limits.push(format!("{n} events per minute"));
        }
        limits.join(" and ")
    }

    fn refused_errors(
        project: &str,
        quota: &crate::controls::quota::Quota,
        refused: &[usize],
    ) -> Vec<crate::model::ItemError> {
        let message = format!(
            "project {project}'s quota of {} is used up; this event was not stored",
            quota_words(quota)
        );
        refused
            .iter()
            .map(|i| crate::model::ItemError::new(*i, RejectReason::QuotaExceeded, message.clone()))
            .collect()
    }

    /// The 429 of a request whose every usable event passed a hard quota.
    fn quota_refusal(
        project: &str,
        quota: &crate::controls::quota::Quota,
        ctx: &IngestContext,
        day_full: bool,
    ) -> AppError {
        // A full day turns at midnight; a full minute at the next minute.
        let retry_after = crate::controls::quota::retry_after(ctx.received_at(), day_full);
        AppError::QuotaExceeded {
            message: format!(
                "project {project}'s quota of {} is used up; nothing was stored. Retry after {retry_after} seconds, or raise it with PUT /v1/projects/{project}/quota.",
                quota_words(quota)
            ),
            retry_after,
        }
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
        if nothing_taken(&accepted.queued, &accepted.unqueued, &accepted.dropped) {
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
