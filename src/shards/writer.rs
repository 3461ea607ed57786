//! Writes queued events into their shards: each message's events are grouped by shard, each
//! shard gets one call with every message's group (one transaction there), and what a sealed
//! shard hands back goes to the next shard of the day.

use crate::platform::objects::CallError;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use worker::{D1Database, Env};

use super::client::{call_all, namespace};
use super::{
    count_token, day_before, day_of, first_hop, next_hop, shard_name, Placement, ShardCall,
    ShardInfo, WriteAnswer, WriteGroup,
};
use crate::shards::catalogue;
use crate::storage::sql::SqlQuery;

/// A seal moves events one shard on; a write never needs more hops than shards filled at once.
const MAX_HOPS: usize = 8;

/// One queue message to write: its body (for the count tokens) and its events.
pub struct MessageEvents {
    pub body: String,
    pub events: Vec<Box<RawValue>>,
}

/// Events a shard stored under a token and D1 has yet to count.
pub struct ToCount {
    pub shard: String,
    pub token: String,
    /// The events, as a JSON array text.
    pub events: String,
}

/// What a write did.
pub struct Written {
    /// Per message: what D1 must count, or why the message could not be written (it is then
    /// retried whole).
    pub counts: Vec<Result<Vec<ToCount>, CallError>>,
    /// The catalogue reports of every shard written, newest report per shard.
    pub catalogue: Vec<SqlQuery>,
}

/// One shard's part of a round: each message's events for it.
struct ShardBatch {
    project: String,
    day: String,
    seq: u32,
    messages: BTreeMap<usize, Vec<Box<RawValue>>>,
}

struct Pending {
    message: usize,
    event: Box<RawValue>,
    project: String,
    day: String,
    received_at: String,
    seq: u32,
}

/// Writes every message's events; `count`: whether D1 must count them (events moved from D1
/// were counted there already).
pub async fn write(
    env: &Env,
    db: &D1Database,
    messages: Vec<MessageEvents>,
    count: bool,
    max_events: u64,
    now: &str,
) -> Written {
    let mut counts: Vec<Result<Vec<ToCount>, CallError>> =
        messages.iter().map(|_| Ok(Vec::new())).collect();
    let mut written = Written {
        counts: Vec::new(),
        catalogue: Vec::new(),
    };
    let mut pending = Vec::new();
    let mut bodies = Vec::with_capacity(messages.len());
    for (index, message) in messages.into_iter().enumerate() {
        bodies.push(message.body);
        for event in message.events {
            match serde_json::from_str::<Placement>(event.get()) {
                Ok(place) if place.received_at.len() >= 10 => {
                    let project = place.project.as_deref().unwrap_or("").to_string();
                    let received_at = place.received_at.into_owned();
                    pending.push(Pending {
                        message: index,
                        project,
                        day: day_of(&received_at).to_string(),
                        received_at,
                        event,
                        seq: 0,
                    });
                }
                _ => {
                    counts[index] = Err(CallError::new("an event without received_at"));
                }
            }
        }
    }
    let ns = match namespace(env) {
        Ok(ns) => ns,
        Err(e) => {
            let reason = CallError::new(format!("the EVENT_SHARDS binding is missing: {e}"));
            written.counts = counts.into_iter().map(|_| Err(reason.clone())).collect();
            return written;
        }
    };
    // Each day and the day before it (events just after midnight ask yesterday's last shard).
    let mut days: Vec<String> = pending
        .iter()
        .flat_map(|p| [p.day.clone(), day_before(&p.day)])
        .collect();
    days.sort_unstable();
    days.dedup();
    let days: Vec<&str> = days.iter().map(String::as_str).collect();
    let known: Vec<ShardInfo> = match catalogue::days(db, &days).await {
        Ok(rows) => rows,
        Err(e) => {
            let reason = CallError::new(format!("reading the shard catalogue failed: {e}"));
            written.counts = counts.into_iter().map(|_| Err(reason.clone())).collect();
            return written;
        }
    };
    for p in &mut pending {
        (p.day, p.seq) = first_hop(&known, &p.project, &p.day, &p.received_at);
    }
    let mut reports: BTreeMap<String, ShardInfo> = BTreeMap::new();
    for _ in 0..MAX_HOPS {
        if pending.is_empty() {
            break;
        }
        // shard name → (project, day, seq, message → events)
        let mut by_shard: BTreeMap<String, ShardBatch> = BTreeMap::new();
        for p in pending.drain(..) {
            if counts[p.message].is_err() {
                continue;
            }
            let name = shard_name(&p.project, &p.day, p.seq);
            by_shard
                .entry(name)
                .or_insert_with(|| ShardBatch {
                    project: p.project.clone(),
                    day: p.day.clone(),
                    seq: p.seq,
                    messages: BTreeMap::new(),
                })
                .messages
                .entry(p.message)
                .or_default()
                .push(p.event);
        }
        let mut calls = Vec::with_capacity(by_shard.len());
        let mut plans = Vec::with_capacity(by_shard.len());
        for (name, batch) in by_shard {
            let order: Vec<usize> = batch.messages.keys().copied().collect();
            let groups: Vec<WriteGroup> = batch
                .messages
                .into_values()
                .zip(&order)
                .map(|(events, message)| WriteGroup {
                    token: count.then(|| count_token(&bodies[*message], &name)),
                    events,
                })
                .collect();
            let tokens: Vec<Option<String>> = groups.iter().map(|g| g.token.clone()).collect();
            calls.push((
                name.clone(),
                ShardCall::Write {
                    project: batch.project.clone(),
                    day: batch.day.clone(),
                    max_events,
                    groups,
                },
            ));
            plans.push((name, batch.project, batch.day, batch.seq, order, tokens));
        }
        let answers = call_all::<WriteAnswer>(&ns, &calls).await;
        for ((name, project, day, seq, order, tokens), answer) in plans.into_iter().zip(answers) {
            match answer {
                Err(reason) => {
                    for message in order {
                        counts[message] = Err(reason.clone());
                    }
                }
                Ok(answer) => {
                    for ((message, token), group) in order.iter().zip(tokens).zip(answer.groups) {
                        if let (Some(token), Ok(list)) = (token, &mut counts[*message]) {
                            if !group.uncounted.is_empty() {
                                let events =
                                    super::json_array(group.uncounted.iter().map(|r| r.get()));
                                // A later call's answer holds every event of the token so far.
                                match list
                                    .iter_mut()
                                    .find(|c| c.shard == name && c.token == token)
                                {
                                    Some(known) => known.events = events,
                                    None => list.push(ToCount {
                                        shard: name.clone(),
                                        token,
                                        events,
                                    }),
                                }
                            }
                        }
                        for event in group.moved {
                            let place = serde_json::from_str::<Placement>(event.get());
                            let received_at = place
                                .map(|p| p.received_at.into_owned())
                                .unwrap_or_default();
                            let (next_day, next_seq) =
                                next_hop(&known, &project, &day, seq, &received_at);
                            pending.push(Pending {
                                message: *message,
                                event,
                                project: project.clone(),
                                day: next_day,
                                received_at,
                                seq: next_seq,
                            });
                        }
                    }
                    let newer = reports
                        .get(&name)
                        .is_none_or(|kept| answer.stats.version > kept.stats.version);
                    if newer {
                        let report = ShardInfo {
                            name: name.clone(),
                            project,
                            day,
                            seq,
                            stats: answer.stats,
                        };
                        reports.insert(name, report);
                    }
                }
            }
        }
    }
    for p in pending {
        counts[p.message] = Err(CallError::new(format!(
            "more than {MAX_HOPS} sealed shards in a row for {} {}",
            p.project, p.day
        )));
    }
    written.catalogue = reports
        .values()
        .map(|shard| catalogue::upsert(shard, now))
        .collect();
    written.counts = counts;
    written
}
