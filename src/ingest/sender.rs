//! Runs the isolate's [`crate::ingest::outbox::Outbox`]: requests wait for a round, rounds send.
//!
//! A round runs in the `waitUntil` of the request that starts it, so it finishes even if
//! that request's client goes away. It keeps taking rounds while requests wait (at most
//! [`MAX_ROUNDS`]); a waiting request that sees no runner starts one, and one that no round
//! has taken after [`TAKEOVER_MS`] starts one too, so a runner that died (its request
//! cancelled) cannot strand the others. Rounds take disjoint requests, so two running at once
//! send nothing twice.
//!
//! A waiting request polls the outbox on its own timer (1, 2, 4 … up to 32 ms apart) rather
//! than being woken by the runner: a wake-up from the runner would resume the waiting
//! request's Rust future from the runner's request context, where the runtime refuses I/O on
//! the waiting request's behalf ("Cannot perform I/O on behalf of a different request"), and a
//! request waiting on nothing of its own would be cancelled as hung. A JS promise created by
//! the waiting request and resolved by the runner fails too (BENCHMARKS.md, "Queue sends"): under
//! wrk most such requests answered 500, and even a plain JS worker doing this had some
//! cancelled ("the Worker's code had hung and would never generate a response"). A promise
//! that only another request settles is not I/O of the waiting request's own.

use std::cell::RefCell;
use std::time::Duration;

use worker::{console_error, Context, Delay, Env};

use crate::ingest::outbox::{Delivery, Outbox, Stage};
use crate::platform::bindings;
use crate::storage::queue::send_bytes;

/// Rounds one runner takes before it stops (a waiting request then starts the next runner),
/// so no request's `waitUntil` runs unbounded.
const MAX_ROUNDS: usize = 50;
/// How long a request waits for a round to take its events before starting one itself.
const TAKEOVER_MS: u64 = 1_000;
/// How long a request waits at most; its events not known to be queued are then reported
/// unqueued (503, retried by the client). Far beyond a healthy `sendBatch`.
const GIVE_UP_MS: u64 = 30_000;
/// Longest pause between two looks at the outbox.
const MAX_POLL_MS: u64 = 32;

thread_local! {
    static OUTBOX: RefCell<Outbox> = RefCell::new(Outbox::default());
}

fn with<T>(f: impl FnOnce(&mut Outbox) -> T) -> T {
    OUTBOX.with(|outbox| f(&mut outbox.borrow_mut()))
}

/// Queues one request's events (`(index in its body, compact JSON)`, each within a
/// message's budget) through the shared sends, and says which were queued.
pub async fn send(
    env: &Env,
    ctx: &Context,
    project: Option<String>,
    events: Vec<(usize, String)>,
) -> Delivery {
    if events.is_empty() {
        return Delivery::default();
    }
    let indexes: Vec<usize> = events.iter().map(|(i, _)| *i).collect();
    let id = with(|o| o.submit(project, events));
    let started = crate::platform::clock::millis();
    let mut pause = 1;
    let mut took_over = false;
    loop {
        let (stage, runners) = with(|o| (o.stage(id), o.runners));
        let waited = crate::platform::clock::millis().saturating_sub(started);
        match stage {
            Some(Stage::Done) => return with(|o| o.collect(id).unwrap_or_default()),
            // Not expected (a live request collects long before its delivery is dropped), but
            // never answer 202 for what is not known to be queued.
            None => {
                return Delivery {
                    queued: Vec::new(),
                    unqueued: indexes,
                }
            }
            Some(Stage::Waiting) if runners == 0 => start_runner(env, ctx),
            // Once per request: the runner may be gone with its request, or only slow.
            Some(Stage::Waiting) if waited >= TAKEOVER_MS && !took_over => {
                took_over = true;
                start_runner(env, ctx)
            }
            _ => {}
        }
        if waited >= GIVE_UP_MS {
            console_error!(
                "queue send: no answer after {waited} ms; reporting the events unqueued"
            );
            return with(|o| o.give_up(id));
        }
        Delay::from(Duration::from_millis(pause)).await;
        pause = (pause * 2).min(MAX_POLL_MS);
    }
}

fn start_runner(env: &Env, ctx: &Context) {
    with(|o| o.runners += 1);
    let env = env.clone();
    ctx.wait_until(async move { run_rounds(&env).await });
}

async fn run_rounds(env: &Env) {
    let queue = env.queue(bindings::LOGS);
    let tail = crate::tail::feed::namespace(env).is_some();
    for _ in 0..MAX_ROUNDS {
        let round = with(|o| o.take_round());
        if round.is_empty() {
            break;
        }
        let mut sent = Vec::with_capacity(round.len());
        let mut queued_bodies = Vec::new();
        // After one refused send the rest would likely fail too; they are reported for a retry.
        let mut refused = false;
        for batch in round {
            let tags = batch
                .iter()
                .flat_map(|m| m.indexes.iter().copied())
                .collect();
            if !refused {
                let bodies: Vec<&Vec<u8>> = batch.iter().map(|m| &m.body).collect();
                let result = match &queue {
                    Ok(queue) => send_bytes(queue, &bodies).await,
                    Err(e) => Err(worker::Error::RustError(format!("queue binding LOGS: {e}"))),
                };
                match result {
                    Err(e) => {
                        console_error!("enqueue failed: {e}");
                        refused = true;
                    }
                    Ok(()) if tail => queued_bodies.extend(batch.iter().map(|m| m.body.clone())),
                    Ok(()) => {}
                }
            }
            sent.push((tags, !refused));
        }
        with(|o| o.finish(sent));
        // Live tail: what the queue took goes to the hubs beside the next sends.
        crate::tail::feed::push(env, queued_bodies);
    }
    with(|o| o.runners -= 1);
    crate::tail::feed::settle().await;
}
