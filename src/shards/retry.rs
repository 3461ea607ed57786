//! Client retries: whether a shard already holds an event of the same `event_id`, received
//! within [`super::RETRY_WINDOW_MS`] of the retry. A block keeps the sorted 32-bit hashes of its
//! events' retry keys (4 bytes an event, after its Bloom filters in the bloom blob), so a write
//! finds the blocks to confirm in one pass over the blocks of its minutes: a hash shared by
//! chance (about one in a hundred thousand lookups) opens a block that does not hold the key,
//! never the other way round. Blocks written before the key lists existed are asked through
//! their Bloom filter, as they always were.
//!
//! Pure: reading a block's key list (`block` writes it), and the lookup of a write.

use std::collections::HashMap;

use chrono::Duration;

use super::block::{retry_hash, Head, Probe};
use crate::processors::timestamp::{format_ts, parse_text};

/// A key list read in place.
#[derive(Debug, Clone, Copy)]
struct KeyList<'a>(&'a [u8]);

impl KeyList<'_> {
    fn len(self) -> usize {
        self.0.len() / 4
    }

    fn get(self, i: usize) -> u32 {
        let b = &self.0[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    fn contains(self, wanted: u32) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(&wanted) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// The hashes of `wanted` (sorted, distinct) the list holds: a binary search each when
    /// `wanted` is short beside the list, else one merge of the two.
    fn common(self, wanted: &[u32], mut found: impl FnMut(u32)) {
        let n = self.len();
        if wanted.len() * (usize::BITS - n.leading_zeros()) as usize <= n {
            wanted
                .iter()
                .filter(|h| self.contains(**h))
                .for_each(|h| found(*h));
            return;
        }
        let (mut i, mut j) = (0, 0);
        while i < n && j < wanted.len() {
            let (a, b) = (self.get(i), wanted[j]);
            match a.cmp(&b) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    found(a);
                    i += 1;
                    j += 1;
                }
            }
        }
    }
}

/// The `received_at` range a retry of an event received at `at` may repeat it in.
fn window(at: &str, window_ms: i64) -> Option<(String, String)> {
    let at = parse_text(at)?;
    let window = Duration::milliseconds(window_ms);
    Some((format_ts(at - window), format_ts(at + window)))
}

fn meets(head: &Head, (from, to): &(String, String)) -> bool {
    head.summary.max_received.as_str() >= from.as_str()
        && head.summary.min_received.as_str() <= to.as_str()
}

/// The blocks a write's events may repeat, found once for all of them: per hash, the blocks of
/// the write's minutes whose key list holds it, and the blocks without a key list.
pub struct Lookup {
    listed: HashMap<u32, Vec<usize>>,
    unlisted: Vec<usize>,
    window_ms: i64,
}

impl Lookup {
    /// For events given as `(retry key, received_at)`.
    pub fn new<'a>(
        heads: &[Head],
        events: impl Iterator<Item = (&'a str, &'a str)>,
        window_ms: i64,
    ) -> Self {
        let mut lookup = Lookup {
            listed: HashMap::new(),
            unlisted: Vec::new(),
            window_ms,
        };
        let mut wanted = Vec::new();
        let (mut first, mut last) = (None::<&str>, None::<&str>);
        for (key, at) in events {
            wanted.push(retry_hash(key));
            first = Some(first.map_or(at, |f| f.min(at)));
            last = Some(last.map_or(at, |l| l.max(at)));
        }
        let (Some(first), Some(last)) = (first, last) else {
            return lookup;
        };
        let (Some((from, _)), Some((_, to))) = (window(first, window_ms), window(last, window_ms))
        else {
            return lookup;
        };
        wanted.sort_unstable();
        wanted.dedup();
        let span = (from, to);
        for (index, head) in heads.iter().enumerate() {
            if !meets(head, &span) {
                continue;
            }
            match head.key_list() {
                Some(list) => KeyList(list).common(&wanted, |h| {
                    lookup.listed.entry(h).or_default().push(index);
                }),
                None => lookup.unlisted.push(index),
            }
        }
        lookup
    }

    /// The blocks that may hold an event of this key received within the window of
    /// `received_at`; the caller confirms each by reading it.
    pub fn candidates(&self, heads: &[Head], key: &str, received_at: &str) -> Vec<i64> {
        let Some(span) = window(received_at, self.window_ms) else {
            return Vec::new();
        };
        let listed = self.listed.get(&retry_hash(key)).into_iter().flatten();
        let probe = Probe::of(&format!("e:{key}"));
        let unlisted = self
            .unlisted
            .iter()
            .filter(|i| probe.in_filter(heads[**i].block_bloom()));
        let mut seqs: Vec<i64> = listed
            .chain(unlisted)
            .map(|i| &heads[*i])
            .filter(|head| meets(head, &span))
            .map(|head| head.seq)
            .collect();
        seqs.sort_unstable();
        seqs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoredEvent;
    use crate::shards::block::tests::{raw_events, untokened};
    use crate::shards::block::{build, key_list, key_of, BlockSummary};

    fn event(n: usize, second: usize, event_id: &str) -> StoredEvent {
        StoredEvent {
            id: format!("id-{n}"),
            event_id: event_id.to_string(),
            received_at: format!("2026-12-01T10:{:02}:{:02}.000Z", second / 60, second % 60),
            level: "info".into(),
            severity_number: 9,
            message: format!("event {n}"),
            ..Default::default()
        }
    }

    fn heads_of(blocks: &[Vec<StoredEvent>]) -> Vec<Head> {
        (blocks.iter().enumerate())
            .map(|(seq, events)| {
                let raws = raw_events(events);
                let block = build(&untokened(events, &raws)).remove(0);
                Head {
                    seq: seq as i64 + 1,
                    summary: block.summary,
                    bloom: block.bloom,
                }
            })
            .collect()
    }

    #[test]
    fn key_is_the_event_id_or_else_the_id() {
        assert_eq!(key_of(&event(1, 0, "client-1")), "client-1");
        assert_eq!(key_of(&event(1, 0, "")), "id-1");
    }

    #[test]
    fn key_list_is_sorted_and_distinct() {
        let list = key_list(["b", "a", "b", "c"].into_iter());
        assert_eq!(list.len(), 12);
        let list = KeyList(&list);
        assert!((1..list.len()).all(|i| list.get(i - 1) < list.get(i)));
        assert!(["a", "b", "c"].iter().all(|k| list.contains(retry_hash(k))));
        assert!(!list.contains(retry_hash("d")));
    }

    #[test]
    fn both_ways_of_intersecting_find_the_same() {
        let list = key_list(
            (0..5000)
                .map(|n| format!("k{n}"))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        );
        for wanted_len in [1, 3, 200, 5000] {
            let mut wanted: Vec<u32> = (0..wanted_len)
                .map(|n| retry_hash(&format!("k{}", n * 7)))
                .collect();
            wanted.sort_unstable();
            wanted.dedup();
            let mut found = Vec::new();
            KeyList(&list).common(&wanted, |h| found.push(h));
            let expected: Vec<u32> = wanted
                .iter()
                .copied()
                .filter(|h| KeyList(&list).contains(*h))
                .collect();
            assert_eq!(found, expected, "{wanted_len} wanted");
            assert_eq!(
                found.len(),
                (0..wanted_len).filter(|n| n * 7 < 5000).count()
            );
        }
    }

    #[test]
    fn a_write_finds_the_blocks_of_its_window_that_hold_its_keys() {
        // Block 1 at 10:00, block 2 at 10:30, block 3 at 10:31 holds a key of block 1 again.
        let heads = heads_of(&[
            (0..50).map(|n| event(n, n, &format!("a{n}"))).collect(),
            (0..50)
                .map(|n| event(n, 1800 + n, &format!("b{n}")))
                .collect(),
            vec![event(99, 1860, "a3")],
        ]);
        let events = [
            ("a3", "2026-12-01T10:05:00.000Z"),
            ("b7", "2026-12-01T10:31:00.000Z"),
            ("a3", "2026-12-01T10:33:00.000Z"),
            ("new", "2026-12-01T10:31:00.000Z"),
        ];
        let lookup = Lookup::new(&heads, events.iter().copied(), 10 * 60 * 1000);
        let found: Vec<Vec<i64>> = events
            .iter()
            .map(|(key, at)| lookup.candidates(&heads, key, at))
            .collect();
        // a3 at 10:05 is block 1's (block 3 is 26 minutes away); b7 is block 2's; a3 at 10:33
        // is block 3's (block 1 is past its window); a new key is in none.
        assert_eq!(found, vec![vec![1], vec![2], vec![3], vec![]]);
    }

    #[test]
    fn blocks_without_a_key_list_are_asked_through_their_filter() {
        let mut heads = heads_of(&[(0..20).map(|n| event(n, n, &format!("a{n}"))).collect()]);
        heads[0].summary = BlockSummary {
            keys_len: 0,
            ..heads[0].summary.clone()
        };
        let lookup = Lookup::new(
            &heads,
            [("a4", "2026-12-01T10:00:30.000Z")].into_iter(),
            60_000,
        );
        assert_eq!(
            lookup.candidates(&heads, "a4", "2026-12-01T10:00:30.000Z"),
            vec![1]
        );
        assert!(lookup
            .candidates(&heads, "zz", "2026-12-01T10:00:30.000Z")
            .is_empty());
    }
}
