//! Group commit of queue sends: the concurrent requests of one isolate share `sendBatch` calls.
//!
//! Why: with one `sendBatch` per request, single-event requests cost one queue write each, and
//! Cloudflare Queues take 5,000 messages a second per queue (and bill per 64 KB written), so a
//! domain sending single events could never pass 5,000 events/s. In the local runtime, where
//! everything shares one thread, the queue broker's cost per call also bounded single-event
//! ingestion (BENCHMARKS.md). So a request hands its accepted events to the outbox and waits;
//! a round takes everything waiting, packs it per project into messages
//! ([`crate::ingest::queue_message::pack_tagged`]) and sends; then each request learns which of its
//! events were queued and answers exactly as it would have after its own send. Nothing is
//! answered 202 before it is on the queue.
//!
//! This is the state machine, free of the platform; `handlers::outbox` runs the rounds and the
//! waiting.

use std::collections::BTreeMap;

use crate::ingest::queue_message::{pack_tagged, PackedBatch};

/// A round takes waiting requests until their events reach this many bytes (at least one
/// request), so one round stays a handful of `sendBatch` calls.
pub const ROUND_BYTES: usize = 1024 * 1024;

/// Which of a request's events reached the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub queued: Vec<usize>,
    /// The send failed: the client should retry these (503 / `enqueue_failed`).
    pub unqueued: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not yet taken by a round.
    Waiting,
    /// In a round's sends.
    Taken,
    Done,
}

struct Entry {
    project: Option<String>,
    events: Vec<(usize, String)>,
    /// Every index submitted, for the answer when the request gives up.
    indexes: Vec<usize>,
    stage: Stage,
    delivery: Delivery,
    /// The round that finished it: a request that went away (its client disconnected) never
    /// collects, and is dropped [`KEEP_ROUNDS`] rounds later.
    done_in_round: u64,
}

/// Rounds a finished delivery waits to be collected. A live request looks every 32 ms at
/// most, so even one round later is ample; this leaves room for slow isolates.
pub const KEEP_ROUNDS: u64 = 1_000;

/// An event in a round: its request's ticket and its index in that request's body.
pub type Tag = (u64, usize);

type ProjectEvents = (Option<String>, Vec<(Tag, String)>);

/// A round's sends: each batch with the tag of every event in it.
pub type Round = Vec<PackedBatch<Tag>>;

#[derive(Default)]
pub struct Outbox {
    next_id: u64,
    /// Keyed by arrival, so rounds send in arrival order.
    entries: BTreeMap<u64, Entry>,
    /// Rounds being run now (normally 0 or 1).
    pub runners: u32,
    rounds: u64,
}

impl Outbox {
    /// Adds one request's events (`(index in its body, compact JSON)`), each small enough for a
    /// message; returns the request's ticket.
    pub fn submit(&mut self, project: Option<String>, events: Vec<(usize, String)>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let indexes = events.iter().map(|(i, _)| *i).collect();
        self.entries.insert(
            id,
            Entry {
                project,
                events,
                indexes,
                stage: Stage::Waiting,
                delivery: Delivery::default(),
                done_in_round: 0,
            },
        );
        id
    }

    /// `None` once the request has collected its delivery or given up.
    pub fn stage(&self, id: u64) -> Option<Stage> {
        self.entries.get(&id).map(|e| e.stage)
    }

    /// Takes waiting requests in arrival order, up to [`ROUND_BYTES`], and packs their events:
    /// one project's events share messages, whichever request they came from.
    pub fn take_round(&mut self) -> Round {
        self.rounds += 1;
        let rounds = self.rounds;
        self.entries.retain(|_, e| {
            e.stage != Stage::Done || rounds.saturating_sub(e.done_in_round) <= KEEP_ROUNDS
        });
        let mut bytes = 0;
        // Each project's tagged events, projects in order of first arrival.
        let mut by_project: Vec<ProjectEvents> = Vec::new();
        for (&id, entry) in self.entries.iter_mut() {
            if entry.stage != Stage::Waiting {
                continue;
            }
            // The first request is always taken, however large.
            if bytes >= ROUND_BYTES {
                break;
            }
            entry.stage = Stage::Taken;
            let events = std::mem::take(&mut entry.events);
            bytes += events.iter().map(|(_, json)| json.len()).sum::<usize>();
            let tagged = events.into_iter().map(|(i, json)| ((id, i), json));
            match by_project.iter_mut().find(|(p, _)| *p == entry.project) {
                Some((_, list)) => list.extend(tagged),
                None => by_project.push((entry.project.clone(), tagged.collect())),
            }
        }
        let mut round = Vec::new();
        for (project, events) in by_project {
            let (batches, too_large) = pack_tagged(project.as_deref(), events);
            // Callers submit only events that fit a message; should one not, it is reported
            // unqueued by `finish` (it is in no batch), never silently dropped.
            debug_assert!(too_large.is_empty());
            round.extend(batches);
        }
        round
    }

    /// Records what a round's sends did (`true`: the queue took the batch); its requests are
    /// then done. A taken event found in no batch counts as unqueued.
    pub fn finish(&mut self, sent: Vec<(Vec<Tag>, bool)>) {
        for (tags, ok) in sent {
            for (id, index) in tags {
                if let Some(entry) = self.entries.get_mut(&id) {
                    match ok {
                        true => entry.delivery.queued.push(index),
                        false => entry.delivery.unqueued.push(index),
                    }
                }
            }
        }
        for entry in self.entries.values_mut() {
            if entry.stage == Stage::Taken {
                entry.stage = Stage::Done;
                entry.done_in_round = self.rounds;
                let delivery = &mut entry.delivery;
                if delivery.queued.len() + delivery.unqueued.len() < entry.indexes.len() {
                    let seen: std::collections::HashSet<usize> = delivery
                        .queued
                        .iter()
                        .chain(&delivery.unqueued)
                        .copied()
                        .collect();
                    let missing = entry.indexes.iter().filter(|i| !seen.contains(i));
                    delivery.unqueued.extend(missing);
                }
            }
        }
    }

    /// The delivery of a finished request, which leaves the outbox.
    pub fn collect(&mut self, id: u64) -> Option<Delivery> {
        match self.entries.get(&id)?.stage {
            Stage::Done => self.entries.remove(&id).map(|e| e.delivery),
            _ => None,
        }
    }

    /// A request that stops waiting: everything not known to be queued is reported unqueued.
    /// A request still waiting leaves before any round sends its events; one already taken
    /// may still be sent by its round (the client's retry then carries the same `event_id`s
    /// when it set them).
    pub fn give_up(&mut self, id: u64) -> Delivery {
        match self.entries.remove(&id) {
            Some(entry) if entry.stage == Stage::Done => entry.delivery,
            Some(entry) => Delivery {
                queued: Vec::new(),
                unqueued: entry.indexes,
            },
            None => Delivery::default(),
        }
    }

    /// Whether a request is still waiting for a round.
    pub fn has_waiting(&self) -> bool {
        self.entries.values().any(|e| e.stage == Stage::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::queue_message::read_envelope;

    fn events(indexes: &[usize], text: &str) -> Vec<(usize, String)> {
        indexes
            .iter()
            .map(|&i| (i, format!(r#"{{"message":"{text} {i}"}}"#)))
            .collect()
    }

    fn sent_all(round: &Round, ok: bool) -> Vec<(Vec<(u64, usize)>, bool)> {
        round
            .iter()
            .map(|batch| (batch.iter().flat_map(|m| m.indexes.clone()).collect(), ok))
            .collect()
    }

    #[test]
    fn concurrent_requests_share_one_send_and_each_learns_its_own_events() {
        let mut outbox = Outbox::default();
        let a = outbox.submit(None, events(&[0], "a"));
        let b = outbox.submit(None, events(&[0, 1, 2], "b"));
        let round = outbox.take_round();
        assert_eq!(round.len(), 1, "one sendBatch");
        assert_eq!(round[0].len(), 1, "one message");
        let body = std::str::from_utf8(&round[0][0].body).unwrap();
        let inside: Vec<serde_json::Value> =
            serde_json::from_str(read_envelope(body).unwrap().events.get()).unwrap();
        assert_eq!(inside.len(), 4);
        assert_eq!(outbox.stage(a), Some(Stage::Taken));
        assert!(!outbox.has_waiting());
        outbox.finish(sent_all(&round, true));
        assert_eq!(outbox.stage(a), Some(Stage::Done));
        assert_eq!(
            outbox.collect(b),
            Some(Delivery {
                queued: vec![0, 1, 2],
                unqueued: vec![]
            })
        );
        assert_eq!(outbox.collect(a).unwrap().queued, vec![0]);
        assert_eq!(outbox.stage(a), None, "collected requests leave");
    }

    #[test]
    fn projects_never_share_a_message() {
        let mut outbox = Outbox::default();
        outbox.submit(Some("shop".into()), events(&[0], "s"));
        outbox.submit(None, events(&[0], "n"));
        outbox.submit(Some("shop".into()), events(&[0], "s2"));
        let round = outbox.take_round();
        let projects: Vec<Option<String>> = round
            .iter()
            .flatten()
            .map(|m| {
                read_envelope(std::str::from_utf8(&m.body).unwrap())
                    .unwrap()
                    .project
            })
            .collect();
        assert_eq!(projects, vec![Some("shop".to_string()), None]);
        assert_eq!(round[0][0].indexes, vec![(0, 0), (2, 0)]);
    }

    #[test]
    fn a_failed_send_is_reported_unqueued_to_exactly_its_requests() {
        let mut outbox = Outbox::default();
        let a = outbox.submit(None, events(&[0, 1], "a"));
        let round = outbox.take_round();
        // A request arriving during the send waits for the next round.
        let late = outbox.submit(None, events(&[0], "late"));
        outbox.finish(sent_all(&round, false));
        assert_eq!(
            outbox.collect(a),
            Some(Delivery {
                queued: vec![],
                unqueued: vec![0, 1]
            })
        );
        assert_eq!(outbox.stage(late), Some(Stage::Waiting));
        assert!(outbox.has_waiting());
        let next = outbox.take_round();
        outbox.finish(sent_all(&next, true));
        assert_eq!(outbox.collect(late).unwrap().queued, vec![0]);
    }

    #[test]
    fn an_event_in_no_sent_batch_is_never_reported_queued() {
        let mut outbox = Outbox::default();
        let a = outbox.submit(None, events(&[0, 1], "a"));
        outbox.take_round();
        outbox.finish(vec![(vec![(a, 0)], true)]);
        assert_eq!(
            outbox.collect(a),
            Some(Delivery {
                queued: vec![0],
                unqueued: vec![1]
            })
        );
    }

    #[test]
    fn a_round_is_bounded_and_the_rest_waits_in_order() {
        let mut outbox = Outbox::default();
        let big = "x".repeat(60_000);
        let ids: Vec<u64> = (0..40)
            .map(|n| outbox.submit(None, vec![(0, format!(r#"{{"m":"{n}{big}"}}"#))]))
            .collect();
        let round = outbox.take_round();
        let taken: Vec<u64> = round
            .iter()
            .flatten()
            .flat_map(|m| m.indexes.iter().map(|(id, _)| *id))
            .collect();
        assert!(taken.len() < ids.len() && taken.len() >= ROUND_BYTES / 61_000);
        assert_eq!(taken, ids[..taken.len()].to_vec(), "oldest first");
        assert!(round.iter().all(|b| b.len() <= 100));
        assert!(outbox.has_waiting());
    }

    #[test]
    fn giving_up_before_a_round_removes_the_events() {
        let mut outbox = Outbox::default();
        let a = outbox.submit(None, events(&[3, 4], "a"));
        let b = outbox.submit(None, events(&[0], "b"));
        assert_eq!(outbox.give_up(a).unreachable(), vec![3, 4]);
        let round = outbox.take_round();
        assert_eq!(round[0][0].indexes, vec![(b, 0)], "a's events are not sent");
        // Giving up while taken: unqueued as far as the client knows; the round's result for
        // a request that left is ignored.
        let c = outbox.submit(None, events(&[0], "c"));
        let round = outbox.take_round();
        assert_eq!(outbox.give_up(c).unreachable(), vec![0]);
        outbox.finish(sent_all(&round, true));
        assert_eq!(outbox.stage(c), None);
    }

    #[test]
    fn deliveries_nobody_collects_are_dropped_later() {
        let mut outbox = Outbox::default();
        let gone = outbox.submit(None, events(&[0], "gone"));
        let round = outbox.take_round();
        outbox.finish(sent_all(&round, true));
        for _ in 0..KEEP_ROUNDS {
            let live = outbox.submit(None, events(&[0], "live"));
            let round = outbox.take_round();
            outbox.finish(sent_all(&round, true));
            assert!(outbox.collect(live).is_some());
        }
        assert_eq!(
            outbox.stage(gone),
            Some(Stage::Done),
            "kept while it may still collect"
        );
        outbox.take_round();
        assert_eq!(outbox.stage(gone), None, "then dropped");
    }

    impl Delivery {
        fn unreachable(self) -> Vec<usize> {
            assert!(self.queued.is_empty());
            self.unqueued
        }
    }
}
