//! Blocks: how a shard keeps events. One row per block of events (the events of one write and
//! one retention band), compressed, with a summary that lets a read skip the block: its time
//! ranges, its levels, and a Bloom filter of its words, ids and field values. A row costs one
//! row written however many events it holds; an index entry per event would cost one each.
//!
//! Pure: building a block from events, its summary, the filter's skip test, and the codec.

use std::collections::{BTreeSet, HashSet};
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::model::StoredEvent;
use crate::query::filter::{event_tokens, PreparedFilter};
#[cfg(test)]
use crate::query::filter::{field_token, word_token};

/// Events a block holds at most: a read that needs one event of a block decompresses it all.
pub const MAX_BLOCK_EVENTS: usize = 4000;
/// Uncompressed JSON a block holds at most (the stored row, ≈ 7× smaller, stays far below
/// SQLite's 2 MB value limit in a Durable Object).
pub const MAX_BLOCK_BYTES: usize = 4 << 20;

/// Events a chunk holds: a block is stored as chunks, each compressed on its own with a Bloom
/// filter of its own, so a read that needs a few events of a block decompresses only the chunks
/// that may hold them. Sixteen, not more: a needle (one fingerprint, a rare word) is found by
/// decompressing the chunks that hold it, and a chunk of 16 typical events inflates in a
/// quarter of the time of one of 64, for 67 bytes an event compressed against 49 and the same
/// 10 bits a token of filter (measured natively over the bench's events).
pub const CHUNK_EVENTS: usize = 16;

/// Bits of a block's Bloom filter per distinct token: ≈ 1 % false positives with
/// [`BLOOM_HASHES`].
const BLOOM_BITS_PER_TOKEN: usize = 10;
/// Bits of a chunk's filter per distinct token: ≈ 0.07 % false positives. A needle (one
/// fingerprint among thousands) sits in a third of all blocks, so the chunk filters decide
/// what is read: at 1 % every block of fifty chunks would open one chunk for nothing.
const CHUNK_BLOOM_BITS_PER_TOKEN: usize = 16;
/// The hashes of every filter. Fixed: a stored filter is read with it (a filter's size may
/// change between releases, its hash count may not).
const BLOOM_HASHES: u32 = 7;

/// The retention band of a severity number: 0 debug (1–8), 1 info (9–12), 2 warn (13–16),
/// 3 error and worse (17–24). A block holds one band, so each band expires whole blocks.
pub fn band_of(severity_number: u8) -> u8 {
    match severity_number {
        0..=8 => 0,
        9..=12 => 1,
        13..=16 => 2,
        _ => 3,
    }
}

/// The events of one token in a block: `start..end` of its event list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRange {
    pub token: String,
    pub start: u32,
    pub end: u32,
}

/// What a block says of itself, kept beside its data and read without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BlockSummary {
    pub band: u8,
    pub count: u32,
    pub min_received: String,
    pub max_received: String,
    pub min_ts: String,
    pub max_ts: String,
    /// The distinct `level` names in the block.
    pub levels: Vec<String>,
    pub min_severity: u8,
    pub max_severity: u8,
    /// Which events each message's token stored (to count them once in D1).
    #[serde(default)]
    pub tokens: Vec<TokenRange>,
    /// The chunks of the data, in order (the bloom blob holds the block's filter, then each
    /// chunk's).
    #[serde(default)]
    pub chunks: Vec<Chunk>,
    /// The length of the block's own filter at the start of the bloom blob (0: all of it).
    #[serde(default)]
    pub bloom_len: u32,
    /// Where the block's retry-key list ([`super::retry`]) is in the bloom blob (`keys_len` 0:
    /// a block of a release before the lists).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keys_offset: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub keys_len: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where a chunk's events, compressed, and its Bloom filter are in the block's blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub count: u32,
    pub offset: u32,
    pub len: u32,
    pub bloom_offset: u32,
    pub bloom_len: u32,
    pub max_received: String,
}

impl Head {
    /// The block's own Bloom filter.
    pub fn block_bloom(&self) -> &[u8] {
        match self.summary.bloom_len as usize {
            0 => &self.bloom,
            n => self.bloom.get(..n).unwrap_or(&self.bloom),
        }
    }

    /// The block's retry-key list, if it has one.
    pub fn key_list(&self) -> Option<&[u8]> {
        let (start, len) = (
            self.summary.keys_offset as usize,
            self.summary.keys_len as usize,
        );
        (len > 0)
            .then(|| self.bloom.get(start..start + len))
            .flatten()
    }

    fn chunk_bloom(&self, chunk: &Chunk) -> &[u8] {
        let (start, len) = (chunk.bloom_offset as usize, chunk.bloom_len as usize);
        self.bloom.get(start..start + len).unwrap_or(&[])
    }
}

/// A block ready to store: its summary, Bloom filter and compressed events.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub summary: BlockSummary,
    pub bloom: Vec<u8>,
    pub data: Vec<u8>,
}

/// FNV-1a, seeded: a stable hash (a stored filter must mean the same after an upgrade, which
/// the standard library's hasher does not promise).
fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        hash ^= *b as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // Final mix, so nearby inputs spread over the whole range.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

/// The key a client retry repeats: the `event_id`, or the worker's `id` for an event sent
/// without one.
pub fn retry_key<'a>(event_id: &'a str, id: &'a str) -> &'a str {
    if event_id.is_empty() {
        id
    } else {
        event_id
    }
}

/// An event's [`retry_key`].
pub fn key_of(event: &StoredEvent) -> &str {
    retry_key(&event.event_id, &event.id)
}

/// A retry key's hash as a block's key list keeps it. Seeded apart from the Bloom filters'.
pub fn retry_hash(key: &str) -> u32 {
    stable_hash(0x5bd1_e995_c2b2_ae35, key.as_bytes()) as u32
}

/// A block's key list ([`super::retry`] reads it): the distinct hashes of its events' retry
/// keys, sorted, little-endian.
pub fn key_list<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<u8> {
    let mut hashes: Vec<u32> = keys.map(retry_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes.iter().flat_map(|h| h.to_le_bytes()).collect()
}

/// A token's two hashes, from which its bit positions in a filter of any size follow: computed
/// once per query, not once per filter tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    h1: u64,
    h2: u64,
}

impl Probe {
    pub fn of(token: &str) -> Self {
        Probe {
            h1: stable_hash(0, token.as_bytes()),
            h2: stable_hash(0x9e37_79b9_7f4a_7c15, token.as_bytes()) | 1,
        }
    }

    fn bits(self, bits: u64) -> impl Iterator<Item = u64> {
        (0..BLOOM_HASHES as u64).map(move |i| self.h1.wrapping_add(i.wrapping_mul(self.h2)) % bits)
    }

    /// Whether the filter may hold the token (`false`: it certainly does not).
    pub fn in_filter(self, filter: &[u8]) -> bool {
        if filter.is_empty() {
            return true;
        }
        let bits = (filter.len() * 8) as u64;
        self.bits(bits)
            .all(|bit| filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0)
    }
}

/// A Bloom filter of the tokens, `bits_per_token` bits each: a byte array of bits.
fn bloom_of(tokens: &BTreeSet<String>, bits_per_token: usize) -> Vec<u8> {
    let bytes = (tokens.len() * bits_per_token).div_ceil(8).max(8);
    let mut filter = vec![0u8; bytes];
    let bits = (bytes * 8) as u64;
    for token in tokens {
        for bit in Probe::of(token).bits(bits) {
            filter[(bit / 8) as usize] |= 1 << (bit % 8);
        }
    }
    filter
}

/// A block's Bloom filter of the tokens.
pub fn bloom(tokens: &BTreeSet<String>) -> Vec<u8> {
    bloom_of(tokens, BLOOM_BITS_PER_TOKEN)
}

/// Whether the filter may hold the token (`false`: it certainly does not).
#[cfg(test)]
pub fn may_hold(filter: &[u8], token: &str) -> bool {
    Probe::of(token).in_filter(filter)
}

/// Events as NDJSON, deflated.
pub fn encode(events: &[&str]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            let _ = encoder.write_all(b"\n");
        }
        let _ = encoder.write_all(event.as_bytes());
    }
    encoder.finish().unwrap_or_default()
}

/// A zlib inflater kept across streams: its state (tens of KB) and its output buffer are reset,
/// not allocated again, for each of the many small chunks a query opens.
pub struct Inflater {
    state: flate2::Decompress,
    out: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            state: flate2::Decompress::new(true),
            out: Vec::new(),
        }
    }
}

impl Inflater {
    /// The events of one compressed stream at the start of `data`, and the bytes it took.
    fn stream(&mut self, data: &[u8]) -> Result<(Vec<String>, usize), String> {
        self.stream_where(data, |_| true)
    }

    /// [`Inflater::stream`], keeping only the events `keep` takes: the others are never copied
    /// out of the buffer (a needle's chunk holds one match among sixteen).
    fn stream_where(
        &mut self,
        data: &[u8],
        keep: impl Fn(&str) -> bool,
    ) -> Result<(Vec<String>, usize), String> {
        let broken = |e: &dyn std::fmt::Display| format!("a block does not decompress: {e}");
        self.state.reset(true);
        self.out.clear();
        loop {
            // Room for a whole window of output, so every call can make progress.
            if self.out.capacity() - self.out.len() < 32 * 1024 {
                self.out.reserve(64 * 1024);
            }
            let before = (self.state.total_in(), self.state.total_out());
            let used = self.state.total_in() as usize;
            let status = self
                .state
                .decompress_vec(&data[used..], &mut self.out, flate2::FlushDecompress::None)
                .map_err(|e| broken(&e))?;
            if status == flate2::Status::StreamEnd {
                break;
            }
            if (self.state.total_in(), self.state.total_out()) == before {
                return Err(broken(&"the stream ends early"));
            }
        }
        let used = (self.state.total_in() as usize).max(1);
        let text = std::str::from_utf8(&self.out).map_err(|e| broken(&e))?;
        if text.is_empty() {
            return Ok((Vec::new(), used));
        }
        Ok((
            text.split('\n')
                .filter(|line| keep(line))
                .map(str::to_string)
                .collect(),
            used,
        ))
    }
}

/// The events of a block's data (its chunks' streams one after the other), in the order they
/// were stored.
pub fn decode(data: &[u8]) -> Result<Vec<String>, String> {
    let mut inflater = Inflater::default();
    let mut events = Vec::new();
    let mut rest = data;
    loop {
        let (chunk, used) = inflater.stream(rest)?;
        events.extend(chunk);
        rest = rest.get(used..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(events);
        }
    }
}

/// The events `keep` takes of one chunk, from bytes of the block's data that begin at `base`.
fn decode_chunk_at(
    inflater: &mut Inflater,
    data: &[u8],
    chunk: &Chunk,
    base: u32,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    let start = chunk.offset.checked_sub(base).map(|s| s as usize);
    let bytes = start
        .and_then(|start| data.get(start..start + chunk.len as usize))
        .ok_or_else(|| "a chunk lies outside its block".to_string())?;
    inflater.stream_where(bytes, keep).map(|(events, _)| events)
}

/// One event to store: its JSON, as queued, and its parsed form.
pub struct Incoming<'a> {
    pub token: Option<&'a str>,
    pub raw: &'a str,
    pub event: &'a StoredEvent,
}

/// Blocks of the events, one band each, in at most [`MAX_BLOCK_EVENTS`] and
/// [`MAX_BLOCK_BYTES`]; within a band, events keep their order (a token's events stay together).
pub fn build(events: &[Incoming<'_>]) -> Vec<Block> {
    let mut blocks = Vec::new();
    for band in 0..4u8 {
        let mut chunk: Vec<&Incoming<'_>> = Vec::new();
        let mut bytes = 0;
        for incoming in events
            .iter()
            .filter(|i| band_of(i.event.severity_number) == band)
        {
            if chunk.len() >= MAX_BLOCK_EVENTS || bytes + incoming.raw.len() > MAX_BLOCK_BYTES {
                blocks.push(block_of(band, &chunk));
                chunk.clear();
                bytes = 0;
            }
            bytes += incoming.raw.len() + 1;
            chunk.push(incoming);
        }
        if !chunk.is_empty() {
            blocks.push(block_of(band, &chunk));
        }
    }
    blocks
}

fn block_of(band: u8, events: &[&Incoming<'_>]) -> Block {
    let mut tokens = BTreeSet::new();
    let mut levels = BTreeSet::new();
    let mut summary = BlockSummary {
        band,
        count: events.len() as u32,
        min_severity: u8::MAX,
        ..Default::default()
    };
    let mut ranges: Vec<TokenRange> = Vec::new();
    for (index, incoming) in events.iter().enumerate() {
        let e = incoming.event;
        event_tokens(e, &mut tokens);
        levels.insert(e.level.clone());
        summary.min_severity = summary.min_severity.min(e.severity_number);
        summary.max_severity = summary.max_severity.max(e.severity_number);
        widen(
            &mut summary.min_received,
            &mut summary.max_received,
            &e.received_at,
        );
        widen(&mut summary.min_ts, &mut summary.max_ts, &e.timestamp);
        if let Some(token) = incoming.token {
            match ranges.last_mut() {
                Some(range) if range.token == token && range.end == index as u32 => range.end += 1,
                _ => ranges.push(TokenRange {
                    token: token.to_string(),
                    start: index as u32,
                    end: index as u32 + 1,
                }),
            }
        }
    }
    summary.levels = levels.into_iter().collect();
    summary.tokens = ranges;
    let mut filter = bloom(&tokens);
    summary.bloom_len = filter.len() as u32;
    let mut data = Vec::new();
    for part in events.chunks(CHUNK_EVENTS) {
        let mut chunk_tokens = BTreeSet::new();
        let mut max_received = String::new();
        for incoming in part {
            event_tokens(incoming.event, &mut chunk_tokens);
            if incoming.event.received_at > max_received {
                max_received = incoming.event.received_at.clone();
            }
        }
        let raws: Vec<&str> = part.iter().map(|i| i.raw).collect();
        let compressed = encode(&raws);
        let chunk_filter = bloom_of(&chunk_tokens, CHUNK_BLOOM_BITS_PER_TOKEN);
        summary.chunks.push(Chunk {
            count: part.len() as u32,
            offset: data.len() as u32,
            len: compressed.len() as u32,
            bloom_offset: filter.len() as u32,
            bloom_len: chunk_filter.len() as u32,
            max_received,
        });
        data.extend(compressed);
        filter.extend(chunk_filter);
    }
    let keys = key_list(events.iter().map(|i| key_of(i.event)));
    summary.keys_offset = filter.len() as u32;
    summary.keys_len = keys.len() as u32;
    filter.extend(keys);
    Block {
        summary,
        bloom: filter,
        data,
    }
}

fn widen(min: &mut String, max: &mut String, value: &str) {
    if min.is_empty() || value < min.as_str() {
        *min = value.to_string();
    }
    if max.is_empty() || value > max.as_str() {
        *max = value.to_string();
    }
}

/// What a read asks of a block before it opens it: bounds on its times and levels, and tokens
/// every matching event holds. Built from a query by the query's own module.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockNeeds {
    /// Events received at or before this (a cursor's position).
    pub received_until: Option<String>,
    pub ts_from: Option<String>,
    pub ts_to: Option<String>,
    /// One of these levels (empty: any).
    pub levels: Vec<String>,
    pub min_severity: Option<u8>,
    /// Tokens (as [`event_tokens`] makes them) that every matching event holds.
    pub tokens: Vec<String>,
    /// Groups of tokens of which every matching event holds at least one.
    #[serde(default)]
    pub any_of: Vec<Vec<String>>,
}

impl BlockNeeds {
    /// What a block must offer to hold a match of the filter.
    pub fn of(filter: &PreparedFilter) -> Self {
        let f = filter.filter();
        BlockNeeds {
            received_until: f.cursor.as_ref().map(|(at, _)| at.clone()),
            ts_from: f.from.clone(),
            ts_to: f.to.clone(),
            levels: f.levels.clone(),
            min_severity: f.min_severity,
            tokens: filter.required_tokens(),
            any_of: filter.any_of_tokens(),
        }
    }

    /// Whether a block with this summary and filter may hold a matching event (a page tests
    /// the same with its probes computed once).
    #[cfg(test)]
    pub fn may_match(&self, summary: &BlockSummary, filter: &[u8]) -> bool {
        self.summary_may_match(summary) && self.probes().admit(filter)
    }

    /// Whether the block's times and levels may hold a matching event.
    fn summary_may_match(&self, summary: &BlockSummary) -> bool {
        if self
            .received_until
            .as_ref()
            .is_some_and(|until| summary.min_received.as_str() > until.as_str())
            || self
                .ts_from
                .as_ref()
                .is_some_and(|from| summary.max_ts.as_str() < from.as_str())
            || self
                .ts_to
                .as_ref()
                .is_some_and(|to| summary.min_ts.as_str() > to.as_str())
            || self
                .min_severity
                .is_some_and(|min| summary.max_severity < min)
        {
            return false;
        }
        self.levels.is_empty() || summary.levels.iter().any(|l| self.levels.contains(l))
    }

    /// The tokens' hashes, computed once for every filter a read tests.
    fn probes(&self) -> Probes {
        Probes {
            all: self.tokens.iter().map(|t| Probe::of(t)).collect(),
            any_of: self
                .any_of
                .iter()
                .map(|group| group.iter().map(|t| Probe::of(t)).collect())
                .collect(),
        }
    }
}

/// A read's tokens as probes: every one of `all`, and one of each `any_of` group.
struct Probes {
    all: Vec<Probe>,
    any_of: Vec<Vec<Probe>>,
}

impl Probes {
    /// Whether a Bloom filter may hold every token a match holds.
    fn admit(&self, filter: &[u8]) -> bool {
        self.all.iter().all(|p| p.in_filter(filter))
            && self
                .any_of
                .iter()
                .all(|group| group.iter().any(|p| p.in_filter(filter)))
    }
}

/// A stored block as a shard holds it in memory: its row number, summary and filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub seq: i64,
    pub summary: BlockSummary,
    pub bloom: Vec<u8>,
}

use super::page_key;

/// The bytes of a block's data a read asks for: all of it, or `len` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Whole,
    Bytes { offset: u32, len: u32 },
}

/// Bytes of one block's data, as a page asks storage for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRead {
    pub seq: i64,
    pub span: Span,
}

/// The most blocks one storage call reads for a page. The first call reads the newest block
/// that may match (a newest page needs no more), each next one twice as many: a needle spread
/// over a day's blocks costs a few calls, not one per block.
const MAX_BLOCKS_A_CALL: usize = 64;

/// What one read of a page's call brings: a legacy block whole, or a run of adjacent chunks
/// that begins at `base` in the block's data.
enum Piece<'a> {
    Whole,
    Chunks { base: u32, chunks: Vec<&'a Chunk> },
}

/// The newest `keep` events matching the filter, newest first by `(received_at, id)`: blocks
/// newest first, each skipped unless its summary may hold a match, and the walk stops once the
/// page is full and no block left can hold a newer event. Only the chunks whose filters may
/// hold a match are read, as runs of adjacent chunks, the runs of several blocks in one call
/// of `open` (which answers each [`BlockRead`]'s bytes, in order).
pub fn page<E: From<String>>(
    heads: &[Head],
    filter: &PreparedFilter,
    keep: usize,
    mut open: impl FnMut(&[BlockRead]) -> Result<Vec<Vec<u8>>, E>,
) -> Result<Vec<String>, E> {
    let needs = BlockNeeds::of(filter);
    let probes = needs.probes();
    let mut order: Vec<&Head> = heads.iter().collect();
    order.sort_unstable_by(|a, b| b.summary.max_received.cmp(&a.summary.max_received));
    let mut found: Vec<((String, String), String)> = Vec::new();
    let mut inflater = Inflater::default();
    let mut next = 0;
    let mut blocks_a_call = 1;
    let mut done = keep == 0;
    while !done && next < order.len() {
        // The newest event a full page would still take must be newer than its worst.
        let worst: Option<String> = (found.len() >= keep)
            .then(|| found.last().map(|(k, _)| k.0.clone()))
            .flatten();
        let mut reads: Vec<BlockRead> = Vec::new();
        let mut pieces: Vec<Piece<'_>> = Vec::new();
        let mut blocks = 0;
        while blocks < blocks_a_call && next < order.len() {
            let head = order[next];
            if worst
                .as_ref()
                .is_some_and(|w| head.summary.max_received < *w)
            {
                done = true;
                break;
            }
            next += 1;
            if !needs.summary_may_match(&head.summary) || !probes.admit(head.block_bloom()) {
                continue;
            }
            if head.summary.chunks.is_empty() {
                reads.push(BlockRead {
                    seq: head.seq,
                    span: Span::Whole,
                });
                pieces.push(Piece::Whole);
                blocks += 1;
                continue;
            }
            let mut run: Option<(u32, u32, Vec<&Chunk>)> = None;
            let mut runs = Vec::new();
            for chunk in &head.summary.chunks {
                if worst.as_ref().is_some_and(|w| chunk.max_received < *w)
                    || !probes.admit(head.chunk_bloom(chunk))
                {
                    continue;
                }
                match &mut run {
                    Some((_, end, chunks)) if *end == chunk.offset => {
                        *end += chunk.len;
                        chunks.push(chunk);
                    }
                    _ => {
                        runs.extend(run.take());
                        run = Some((chunk.offset, chunk.offset + chunk.len, vec![chunk]));
                    }
                }
            }
            runs.extend(run);
            if runs.is_empty() {
                continue;
            }
            blocks += 1;
            for (start, end, chunks) in runs {
                reads.push(BlockRead {
                    seq: head.seq,
                    span: Span::Bytes {
                        offset: start,
                        len: end - start,
                    },
                });
                pieces.push(Piece::Chunks {
                    base: start,
                    chunks,
                });
            }
        }
        if reads.is_empty() {
            continue;
        }
        let datas = open(&reads)?;
        if datas.len() != reads.len() {
            return Err(E::from("a block read answered too few spans".to_string()));
        }
        for (piece, data) in pieces.into_iter().zip(datas) {
            let raws = match piece {
                Piece::Whole => decode(&data)?,
                Piece::Chunks { base, chunks } => {
                    let mut raws = Vec::new();
                    for chunk in chunks {
                        raws.extend(decode_chunk_at(&mut inflater, &data, chunk, base, |raw| {
                            filter.may_match_raw(raw)
                        })?);
                    }
                    raws
                }
            };
            take_matches(raws, filter, keep, &mut found);
        }
        blocks_a_call = (blocks_a_call * 2).min(MAX_BLOCKS_A_CALL);
    }
    Ok(found.into_iter().map(|(_, raw)| raw).collect())
}

/// The first event `is` accepts among those that may hold `token` (an id's): blocks newest
/// first, each asked through its filter, and of a block only the chunks whose filters may hold
/// the token read (`open` answers each [`BlockRead`]'s bytes) and inflated.
pub fn find<E: From<String>>(
    heads: &[Head],
    token: &str,
    is: impl Fn(&str) -> bool,
    mut open: impl FnMut(&[BlockRead]) -> Result<Vec<Vec<u8>>, E>,
) -> Result<Option<String>, E> {
    let probe = Probe::of(token);
    let mut inflater = Inflater::default();
    for head in heads
        .iter()
        .rev()
        .filter(|h| probe.in_filter(h.block_bloom()))
    {
        let seq = head.seq;
        if head.summary.chunks.is_empty() {
            // A block of a release before chunks: read and inflated whole.
            let span = Span::Whole;
            let data = open(&[BlockRead { seq, span }])?;
            let raws = decode(data.first().map(Vec::as_slice).unwrap_or_default())?;
            if let Some(raw) = raws.into_iter().find(|raw| is(raw)) {
                return Ok(Some(raw));
            }
            continue;
        }
        let chunks: Vec<&Chunk> = (head.summary.chunks.iter())
            .filter(|c| probe.in_filter(head.chunk_bloom(c)))
            .collect();
        if chunks.is_empty() {
            continue;
        }
        let reads: Vec<BlockRead> = (chunks.iter())
            .map(|c| BlockRead {
                seq,
                span: Span::Bytes {
                    offset: c.offset,
                    len: c.len,
                },
            })
            .collect();
        for (chunk, data) in chunks.iter().zip(&open(&reads)?) {
            // Only the lines `is` accepts are copied out of the inflater.
            let kept = decode_chunk_at(&mut inflater, data, chunk, chunk.offset, &is)?;
            if let Some(raw) = kept.into_iter().next() {
                return Ok(Some(raw));
            }
        }
    }
    Ok(None)
}

/// Adds the matching events of `raws` to `found` (newest first, at most `keep`).
fn take_matches(
    raws: Vec<String>,
    filter: &PreparedFilter,
    keep: usize,
    found: &mut Vec<((String, String), String)>,
) {
    let mut keyed: Vec<((String, String), String)> = raws
        .into_iter()
        .filter(|raw| filter.may_match_raw(raw))
        .map(|raw| (page_key(&raw), raw))
        .collect();
    keyed.sort_unstable_by(|a, b| b.0.cmp(&a.0));
    for (key, raw) in keyed {
        if found.len() >= keep && found.last().is_some_and(|(worst, _)| key <= *worst) {
            break;
        }
        let Ok(event) = serde_json::from_str::<StoredEvent>(&raw) else {
            continue;
        };
        if filter.matches(&event) {
            let at = found.partition_point(|(k, _)| *k > key);
            found.insert(at, (key, raw));
            found.truncate(keep);
        }
    }
}

/// The blocks past their band's retention: `cutoffs[band]` is the oldest `received_at` kept.
pub fn expired(heads: &[Head], cutoffs: &[String; 4]) -> Vec<i64> {
    heads
        .iter()
        .filter(|h| {
            cutoffs
                .get(h.summary.band as usize)
                .is_some_and(|cut| h.summary.max_received < *cut)
        })
        .map(|h| h.seq)
        .collect()
}

/// The events a token stored, from the blocks that hold them (`open` gives a block's events).
pub fn token_events<E>(
    heads: &[Head],
    token: &str,
    mut open: impl FnMut(i64) -> Result<Vec<String>, E>,
) -> Result<Vec<String>, E> {
    let mut out = Vec::new();
    for head in heads {
        let ranges: Vec<&TokenRange> = head
            .summary
            .tokens
            .iter()
            .filter(|r| r.token == token)
            .collect();
        if ranges.is_empty() {
            continue;
        }
        let events = open(head.seq)?;
        for range in ranges {
            let (start, end) = (range.start as usize, (range.end as usize).min(events.len()));
            out.extend(events.get(start..end).unwrap_or_default().iter().cloned());
        }
    }
    Ok(out)
}

/// Which of these tokens stored events in some block: one pass over the summaries for a whole
/// write, however many messages it carries.
pub fn held_tokens<'a>(heads: &[Head], wanted: &HashSet<&'a str>) -> HashSet<&'a str> {
    let mut held = HashSet::new();
    if wanted.is_empty() {
        return held;
    }
    for range in heads.iter().flat_map(|h| &h.summary.tokens) {
        if let Some(token) = wanted.get(range.token.as_str()) {
            held.insert(*token);
        }
    }
    held
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn event(n: usize, level: &str, severity: u8, message: &str) -> StoredEvent {
        StoredEvent {
            id: format!("id-{n}"),
            event_id: format!("ev-{n}"),
            received_at: format!("2026-12-01T10:{:02}:{:02}.000Z", n / 60 % 60, n % 60),
            timestamp: format!("2026-12-01T09:{:02}:{:02}.000Z", n / 60 % 60, n % 60),
            level: level.into(),
            severity_number: severity,
            message: message.into(),
            environment: "production".into(),
            service: Some(format!("svc-{}", n % 3)),
            source_type: "backend".into(),
            fingerprint: format!("fp{}", n % 5),
            ..Default::default()
        }
    }

    pub(in crate::shards) fn raw_events(parsed: &[StoredEvent]) -> Vec<String> {
        parsed
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect()
    }

    /// Events to build blocks of, stored without a token.
    pub(in crate::shards) fn untokened<'a>(
        parsed: &'a [StoredEvent],
        raws: &'a [String],
    ) -> Vec<Incoming<'a>> {
        parsed
            .iter()
            .zip(raws)
            .map(|(e, raw)| Incoming {
                token: None,
                raw,
                event: e,
            })
            .collect()
    }

    #[test]
    fn bands_follow_retention() {
        assert_eq!(
            [1, 8, 9, 12, 13, 16, 17, 24].map(band_of),
            [0, 0, 1, 1, 2, 2, 3, 3]
        );
    }

    #[test]
    fn codec_round_trips_and_compresses() {
        let events: Vec<String> = (0..200)
            .map(|n| serde_json::to_string(&event(n, "info", 9, "user signed in")).unwrap())
            .collect();
        let raws: Vec<&str> = events.iter().map(String::as_str).collect();
        let data = encode(&raws);
        assert_eq!(decode(&data).unwrap(), events);
        let raw_bytes: usize = events.iter().map(String::len).sum();
        assert!(data.len() * 5 < raw_bytes, "{} of {raw_bytes}", data.len());
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<String>::new());
        assert!(decode(b"not zlib").is_err());
        // Output many times the input (repetitive events deflate past 50×), and a cut stream.
        let long: Vec<String> = (0..64)
            .map(|n| {
                serde_json::to_string(&event(n, "info", 9, &"same words ".repeat(400))).unwrap()
            })
            .collect();
        let raws: Vec<&str> = long.iter().map(String::as_str).collect();
        let data = encode(&raws);
        assert!(data.len() * 50 < long.iter().map(String::len).sum::<usize>());
        let mut inflater = Inflater::default();
        assert_eq!(inflater.stream(&data).unwrap().0, long);
        assert_eq!(
            inflater.stream(&data).unwrap().0,
            long,
            "the inflater is reused"
        );
        assert!(inflater.stream(&data[..data.len() / 2]).is_err());
    }

    #[test]
    fn a_block_is_chunks_each_with_its_own_filter() {
        let parsed: Vec<StoredEvent> = (0..(2 * CHUNK_EVENTS + 6))
            .map(|n| {
                event(
                    n,
                    "info",
                    9,
                    if n == 2 * CHUNK_EVENTS + 4 {
                        "needle"
                    } else {
                        "hay"
                    },
                )
            })
            .collect();
        let raws = raw_events(&parsed);
        let block = build(&untokened(&parsed, &raws)).remove(0);
        let chunks = &block.summary.chunks;
        assert_eq!(
            chunks.iter().map(|c| c.count).collect::<Vec<_>>(),
            vec![CHUNK_EVENTS as u32, CHUNK_EVENTS as u32, 6]
        );
        assert_eq!(
            decode(&block.data).unwrap(),
            raws,
            "the chunks' streams decode in order"
        );
        let head = Head {
            seq: 1,
            summary: block.summary.clone(),
            bloom: block.bloom.clone(),
        };
        assert!(may_hold(head.block_bloom(), &word_token("needle")));
        let holding: Vec<usize> = (0..chunks.len())
            .filter(|i| may_hold(head.chunk_bloom(&chunks[*i]), &word_token("needle")))
            .collect();
        assert_eq!(holding, vec![2], "only the last chunk may hold the needle");
        assert_eq!(
            decode_chunk_at(&mut Inflater::default(), &block.data, &chunks[2], 0, |_| {
                true
            })
            .unwrap(),
            raws[2 * CHUNK_EVENTS..].to_vec()
        );
    }

    #[test]
    fn build_splits_by_band_and_keeps_token_ranges() {
        let parsed: Vec<StoredEvent> = (0..10)
            .map(|n| {
                if n % 2 == 0 {
                    event(n, "error", 17, "boom")
                } else {
                    event(n, "info", 9, "fine")
                }
            })
            .collect();
        let raws: Vec<String> = parsed
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let incoming: Vec<Incoming<'_>> = parsed
            .iter()
            .zip(&raws)
            .enumerate()
            .map(|(n, (e, raw))| Incoming {
                token: Some(if n < 6 { "a" } else { "b" }),
                raw,
                event: e,
            })
            .collect();
        let blocks = build(&incoming);
        assert_eq!(blocks.len(), 2);
        let info = &blocks[0].summary;
        assert_eq!((info.band, info.count), (1, 5));
        assert_eq!(info.levels, vec!["info".to_string()]);
        assert_eq!(
            info.tokens,
            vec![
                TokenRange {
                    token: "a".into(),
                    start: 0,
                    end: 3
                },
                TokenRange {
                    token: "b".into(),
                    start: 3,
                    end: 5
                }
            ]
        );
        assert_eq!(blocks[1].summary.band, 3);
        let own = &blocks[1].bloom[..blocks[1].summary.bloom_len as usize];
        assert!(may_hold(own, &word_token("boom")));
        assert!(may_hold(own, &field_token("service", "SVC-0")));
        assert!(!may_hold(own, &word_token("fine")));
        let heads: Vec<Head> = blocks
            .into_iter()
            .enumerate()
            .map(|(seq, b)| Head {
                seq: seq as i64,
                summary: b.summary,
                bloom: b.bloom,
            })
            .collect();
        let wanted: HashSet<&str> = ["b", "c"].into_iter().collect();
        assert_eq!(
            held_tokens(&heads, &wanted),
            ["b"].into_iter().collect::<HashSet<_>>(),
            "a token that stored events is held, one that did not is not"
        );
    }

    #[test]
    fn an_id_is_found_by_reading_only_the_chunk_that_holds_it() {
        let parsed: Vec<StoredEvent> = (0..40).map(|n| event(n, "info", 9, "hay")).collect();
        let raws = raw_events(&parsed);
        let block = build(&untokened(&parsed, &raws)).remove(0);
        let heads = vec![Head {
            seq: 7,
            summary: block.summary.clone(),
            bloom: block.bloom.clone(),
        }];
        let asked = std::cell::RefCell::new(Vec::new());
        let open = |reads: &[BlockRead]| {
            asked.borrow_mut().extend_from_slice(reads);
            Ok::<_, String>(
                reads
                    .iter()
                    .map(|read| match read.span {
                        Span::Whole => block.data.clone(),
                        Span::Bytes { offset, len } => {
                            block.data[offset as usize..(offset + len) as usize].to_vec()
                        }
                    })
                    .collect(),
            )
        };
        let is = |raw: &str| raw.contains("\"id\":\"id-35\"");
        let found = find(&heads, &crate::query::filter::id_token("id-35"), is, open).unwrap();
        assert_eq!(found.as_deref(), Some(raws[35].as_str()));
        let third = &block.summary.chunks[2];
        assert_eq!(
            *asked.borrow(),
            vec![BlockRead {
                seq: 7,
                span: Span::Bytes {
                    offset: third.offset,
                    len: third.len
                }
            }],
            "only the third chunk (events 32 to 39) is read"
        );
    }

    #[test]
    fn a_large_write_is_split_into_bounded_blocks() {
        let parsed: Vec<StoredEvent> = (0..MAX_BLOCK_EVENTS + 5)
            .map(|n| event(n, "info", 9, "x"))
            .collect();
        let raws = raw_events(&parsed);
        let blocks = build(&untokened(&parsed, &raws));
        let counts: Vec<u32> = blocks.iter().map(|b| b.summary.count).collect();
        assert_eq!(counts, vec![MAX_BLOCK_EVENTS as u32, 5]);
    }

    #[test]
    fn needs_skip_only_blocks_that_cannot_match() {
        let summary = BlockSummary {
            band: 2,
            count: 1,
            min_received: "2026-12-01T10:00:00.000Z".into(),
            max_received: "2026-12-01T11:00:00.000Z".into(),
            min_ts: "2026-12-01T09:00:00.000Z".into(),
            max_ts: "2026-12-01T09:30:00.000Z".into(),
            levels: vec!["warn".into()],
            min_severity: 13,
            max_severity: 13,
            ..Default::default()
        };
        let filter = bloom(&[word_token("timeout")].into_iter().collect());
        let yes = |needs: BlockNeeds| needs.may_match(&summary, &filter);
        assert!(yes(BlockNeeds::default()));
        assert!(!yes(BlockNeeds {
            received_until: Some("2026-12-01T09:59:59.999Z".into()),
            ..Default::default()
        }));
        assert!(!yes(BlockNeeds {
            ts_from: Some("2026-12-01T10:00:00.000Z".into()),
            ..Default::default()
        }));
        assert!(!yes(BlockNeeds {
            ts_to: Some("2026-12-01T08:00:00.000Z".into()),
            ..Default::default()
        }));
        assert!(!yes(BlockNeeds {
            levels: vec!["error".into()],
            ..Default::default()
        }));
        assert!(!yes(BlockNeeds {
            min_severity: Some(17),
            ..Default::default()
        }));
        assert!(yes(BlockNeeds {
            tokens: vec![word_token("timeout")],
            ..Default::default()
        }));
        assert!(!yes(BlockNeeds {
            tokens: vec![word_token("refused")],
            ..Default::default()
        }));
        assert!(yes(BlockNeeds {
            any_of: vec![vec![word_token("refused"), word_token("timeout")]],
            ..Default::default()
        }));
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let tokens: BTreeSet<String> = (0..5000).map(|n| format!("w:token{n}")).collect();
        let filter = bloom(&tokens);
        assert!(tokens.iter().all(|t| may_hold(&filter, t)));
        let false_positives = (0..10_000)
            .filter(|n| may_hold(&filter, &format!("w:other{n}")))
            .count();
        assert!(false_positives < 300, "{false_positives} of 10,000");
    }

    mod properties {
        use super::*;
        use crate::query::filter::EventFilter;
        use proptest::prelude::*;

        const SERVICES: [&str; 3] = ["api", "web", "Checkout"];
        const WORDS: [&str; 5] = ["timeout", "card", "declined", "payment", "retry"];
        const LEVELS: [(&str, u8); 4] = [("debug", 5), ("info", 9), ("warn", 13), ("error", 17)];
        const SEARCHES: [&str; 8] = [
            "",
            "timeout",
            "-service:api",
            "service:[api,web]",
            "tag[region]:eu",
            "\"card declined\"",
            "trace_id:t1",
            "pay* -retry",
        ];

        fn arb_event() -> impl Strategy<Value = StoredEvent> {
            (
                0..600u32,
                0..4usize,
                0..3usize,
                proptest::collection::vec(0..5usize, 1..4),
                0..3u8,
                0..2u8,
            )
                .prop_map(|(second, level, service, words, trace, region)| {
                    let (level, severity) = LEVELS[level];
                    let message: Vec<&str> = words.iter().map(|w| WORDS[*w]).collect();
                    StoredEvent {
                        id: format!("id{second:04}-{}", message.join("")),
                        event_id: format!("ev{second}-{}", message.join("")),
                        received_at: format!(
                            "2026-12-01T10:{:02}:{:02}.000Z",
                            second / 60,
                            second % 60
                        ),
                        timestamp: format!(
                            "2026-12-01T09:{:02}:{:02}.000Z",
                            second / 60,
                            second % 60
                        ),
                        level: level.into(),
                        severity_number: severity,
                        message: message.join(" "),
                        environment: "production".into(),
                        service: Some(SERVICES[service].into()),
                        trace_id: (trace > 0).then(|| format!("t{trace}")),
                        tags: if region == 1 {
                            serde_json::json!({"region": "eu"})
                                .as_object()
                                .cloned()
                                .unwrap()
                        } else {
                            Default::default()
                        },
                        source_type: "backend".into(),
                        fingerprint: format!("fp{}", second % 4),
                        ..Default::default()
                    }
                })
        }

        fn arb_filter() -> impl Strategy<Value = EventFilter> {
            (
                0..8usize,
                proptest::option::of(0..3usize),
                proptest::option::of(0..4usize),
                proptest::option::of(0..5usize),
                proptest::option::of(0..600u32),
                any::<bool>(),
            )
                .prop_map(|(search, service, level, word, cursor, group)| {
                    EventFilter {
                        search: SEARCHES[search].into(),
                        exact: service
                            .map(|s| vec![("service".to_string(), SERVICES[s].to_string())])
                            .unwrap_or_default(),
                        levels: level
                            .map(|l| vec![LEVELS[l].0.to_string()])
                            .unwrap_or_default(),
                        text: word.map(|w| format!("\"{}\"", WORDS[w])),
                        cursor: cursor.map(|c| {
                            (
                                format!("2026-12-01T10:{:02}:{:02}.000Z", c / 60, c % 60),
                                "id".into(),
                            )
                        }),
                        fingerprints: if group {
                            vec!["fp1".into(), "fp2".into()]
                        } else {
                            vec![]
                        },
                        ..Default::default()
                    }
                })
        }

        fn key(raw: &str) -> (String, String) {
            page_key(raw)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            /// Blocks decode to the events put in; a read over blocks finds exactly what a scan
            /// of every event finds; no block holding a match is ever skipped.
            #[test]
            fn blocks_answer_as_a_scan_does(
                events in proptest::collection::vec(arb_event(), 0..120),
                cuts in proptest::collection::vec(1..40usize, 1..6),
                filter in arb_filter(),
                keep in 1..30usize,
            ) {
                // Ids are unique in a shard (its `id` is the worker's).
                let events: Vec<StoredEvent> = events.into_iter().enumerate()
                    .map(|(i, mut e)| { e.id = format!("{}-{i:03}", e.id); e })
                    .collect();
                let raws: Vec<String> = events.iter().map(|e| serde_json::to_string(e).unwrap()).collect();
                let mut heads = Vec::new();
                let mut stored: Vec<Vec<String>> = Vec::new();
                let mut data: Vec<Vec<u8>> = Vec::new();
                let mut start = 0;
                let mut cut = cuts.iter().cycle();
                while start < events.len() {
                    let end = (start + cut.next().unwrap()).min(events.len());
                    let incoming: Vec<Incoming<'_>> = (start..end)
                        .map(|i| Incoming { token: Some("t"), raw: &raws[i], event: &events[i] })
                        .collect();
                    for block in build(&incoming) {
                        let seq = stored.len() as i64;
                        stored.push(decode(&block.data).unwrap());
                        data.push(block.data.clone());
                        heads.push(Head { seq, summary: block.summary, bloom: block.bloom });
                    }
                    start = end;
                }
                let mut all: Vec<String> = stored.iter().flatten().cloned().collect();
                let mut sorted_raws = raws.clone();
                all.sort();
                sorted_raws.sort();
                prop_assert_eq!(&all, &sorted_raws);

                let prepared = filter.clone().prepare(crate::processors::timestamp::parse_text("2026-12-01T12:00:00.000Z").unwrap()).unwrap();
                let needs = BlockNeeds::of(&prepared);
                for head in &heads {
                    let holds_match = stored[head.seq as usize].iter()
                        .any(|raw| prepared.matches(&serde_json::from_str(raw).unwrap()));
                    if holds_match {
                        prop_assert!(needs.may_match(&head.summary, head.block_bloom()), "skipped a block with a match: {:?}", filter);
                    }
                }
                let mut expected: Vec<String> = raws.iter()
                    .filter(|raw| prepared.matches(&serde_json::from_str(raw).unwrap()))
                    .cloned()
                    .collect();
                expected.sort_by_key(|raw| std::cmp::Reverse(key(raw)));
                expected.dedup_by_key(|raw| key(raw));
                expected.truncate(keep);
                // Storage answers only the span asked for, as the shard's `substr` does.
                let open = |reads: &[BlockRead]| {
                    Ok::<_, String>(reads.iter().map(|read| {
                        let whole = &data[read.seq as usize];
                        match read.span {
                            Span::Whole => whole.clone(),
                            Span::Bytes { offset, len } => whole[offset as usize..(offset + len) as usize].to_vec(),
                        }
                    }).collect())
                };
                let got = page(&heads, &prepared, keep, open).unwrap();
                let got_keys: Vec<_> = got.iter().map(|r| key(r)).collect();
                let expected_keys: Vec<_> = expected.iter().map(|r| key(r)).collect();
                prop_assert_eq!(got_keys, expected_keys);
                // Every event is found by its id, and an id that is not there is not.
                for (event, raw) in events.iter().zip(&raws).step_by(5) {
                    let is = |r: &str| serde_json::from_str::<StoredEvent>(r).is_ok_and(|e| e.id == event.id);
                    let found = find(&heads, &crate::query::filter::id_token(&event.id), is, open).unwrap();
                    prop_assert_eq!(found.as_ref(), Some(raw));
                }
                let none = find(&heads, &crate::query::filter::id_token("absent"), |r: &str| r.contains("\"id\":\"absent\""), open).unwrap();
                prop_assert_eq!(none, None);
            }
        }
    }
}
