// Events in compressed blocks, with real local Durable Objects, D1 and Queues: pages and
// cursors across blocks and shards; a rare match found among many blocks by opening only the
// blocks that may hold it; a client's retry of an event stored in an earlier block stored once,
// and a write among many blocks of its minutes reading none of them;
// retention removing one level band's blocks and keeping the others; and a shard of an earlier
// release (a row per event) read exactly beside its blocks while a paused, resumable rewrite
// turns its rows into blocks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorker, get, countEvents, shardCall, shardNames, QUEUE } from "./helpers.mjs";

const DAY = 86400000;
let w;
let worker;
let seq = 0;

before(async () => {
  w = await startWorker({ consumer: false });
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
});

/** A stored event as the producer queues it. */
function storedEvent(at, extra = {}) {
  seq += 1;
  const id = `00000000-0000-4000-9000-${String(seq).padStart(12, "0")}`;
  const received_at = new Date(at).toISOString();
  return {
    id, event_id: id, project: "blocks", received_at, timestamp: received_at, level: "info", severity_number: 9,
    message: `routine event ${seq}`, environment: "production", source_type: "backend", service: "api", fingerprint: `fp-${seq % 4}`,
    ...extra,
  };
}

function message(events) {
  return { id: `m-${seq}-${Math.random()}`, timestamp: new Date(), attempts: 1, body: new TextEncoder().encode(JSON.stringify({ project: "blocks", events })) };
}

/** Every page of a /v1/logs query, following the cursor; the ids in order. */
async function pageAll(query) {
  const ids = [];
  let cursor = null;
  for (let pages = 0; pages < 1000; pages++) {
    const res = await get(w.mf, `/v1/logs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    ids.push(...res.body.logs.map((e) => e.id));
    cursor = res.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error("more than 1000 pages");
}

const newestFirst = (events) =>
  [...events].sort((a, b) => (`${b.received_at}_${b.id}` < `${a.received_at}_${a.id}` ? -1 : 1)).map((e) => e.id);

/** A shard call's answer with the rows SQLite read and wrote for it (the billing header). */
async function billedCall(name, call) {
  const mf = w.mf;
  const ns = await mf.getDurableObjectNamespace("EVENT_SHARDS");
  const res = await ns.get(ns.idFromName(name)).fetch("https://shard.internal/", { method: "POST", body: JSON.stringify(call) });
  const [read, written] = (res.headers.get("x-billed-rows") ?? "0,0").split(",").map(Number);
  return { body: JSON.parse(await res.text()), read, written };
}

const stored = [];
const dayStart = Math.floor(Date.now() / DAY) * DAY - DAY;

test("a page and its cursor span many blocks and two shards: each event once, newest first", async () => {
  // 120 deliveries of 5 events each: 120 blocks over two days (two shards).
  for (let i = 0; i < 120; i++) {
    const at = dayStart - DAY / 2 + i * 600000;
    const events = Array.from({ length: 5 }, (_, j) => storedEvent(at + j * 1000));
    stored.push(...events);
    const result = await worker.queue(QUEUE, [message(events)]);
    assert.deepEqual(result.retryMessages, []);
  }
  const names = (await shardNames(w.db)).filter((n) => n.endsWith(":blocks"));
  assert.equal(names.length, 2, names.join(", "));
  for (const [query, keep] of [["limit=7", () => true], ["limit=13&fingerprint=fp-1", (e) => e.fingerprint === "fp-1"], ["limit=50&q=routine", () => true]]) {
    assert.deepEqual(await pageAll(`project=blocks&${query}`), newestFirst(stored.filter(keep)), query);
  }
});

test("a rare match among many blocks is found by opening only the blocks that may hold it", async () => {
  const needle = storedEvent(dayStart + 3 * 3600000, { message: "zebracorn checksum mismatch", trace_id: "trace-needle-1" });
  await worker.queue(QUEUE, [message([needle])]);
  stored.push(needle);
  const res = await get(w.mf, "/v1/logs?project=blocks&q=zebracorn");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body.logs.map((e) => e.id), [needle.id]);
  const byTrace = await get(w.mf, "/v1/logs?project=blocks&trace_id=trace-needle-1");
  assert.deepEqual(byTrace.body.logs.map((e) => e.id), [needle.id]);
  // The shard's own count of rows read for the page: the blocks it opened, not the 60 it holds.
  const name = `events:${needle.received_at.slice(0, 10)}:0:blocks`;
  const filter = { text: '"zebracorn"', project: "blocks" };
  const page = await billedCall(name, { page: { plain: { sql: "SELECT 1", binds: [] }, probe: null, walk: null, walk_above: 0, filter, keep: 51 } });
  assert.equal(page.body.rows.length, 1);
  assert.equal(page.written, 0, "a read writes nothing");
  assert.ok(page.read <= 3, `rows read for a needle among many blocks: ${page.read}`);
});

test("a client's retry of an event stored in an earlier block is stored once", async () => {
  // As the worker queues a retry: a new id and a later received_at, the client's event_id.
  const original = storedEvent(dayStart + 7200000, { event_id: "client-retry-0001", message: "retried by the client" });
  const retry = storedEvent(dayStart + 7200000 + 90000, { event_id: "client-retry-0001", message: "retried by the client" });
  await worker.queue(QUEUE, [message([original])]);
  const between = storedEvent(dayStart + 7230000, { message: "in between" });
  await worker.queue(QUEUE, [message([between])]);
  stored.push(between);
  await worker.queue(QUEUE, [message([retry])]);
  assert.equal(await countEvents(w.db, "event_id = ?", "client-retry-0001"), 1);
  const res = await get(w.mf, "/v1/logs?project=blocks&q=retried");
  assert.deepEqual(res.body.logs.map((e) => e.id), [original.id]);
  stored.push(original);
});

test("a write of new events among many blocks of its minutes opens none of them; a retry among them is still found", async () => {
  // 80 blocks within one minute: all inside the ten-minute retry window of the writes below.
  const at = dayStart + 5 * 3600000;
  const earlier = [];
  for (let i = 0; i < 80; i++) {
    const events = Array.from({ length: 25 }, (_, j) => storedEvent(at + i * 500 + j));
    earlier.push(...events);
    stored.push(...events);
    assert.deepEqual((await worker.queue(QUEUE, [message(events)])).retryMessages, []);
  }
  const day = new Date(at).toISOString().slice(0, 10);
  const name = `events:${day}:0:blocks`;
  const write = (events) =>
    billedCall(name, { write: { project: "blocks", day, max_events: 1000000, groups: [{ token: null, events }] } });
  // 200 new event_ids: each block's key list rules each one out, so no block is read (at the
  // blocks' 1 % Bloom filters alone, about 160 of the 200 would open a block).
  const fresh = Array.from({ length: 200 }, (_, j) => storedEvent(at + 60000 + j));
  const first = await write(fresh);
  stored.push(...fresh);
  assert.ok(first.read <= 10, `rows read by a write of new events among 80 blocks: ${first.read}`);
  // The same events again (a client retry of each) and one of an early block: all dropped.
  const again = await write([...fresh.slice(0, 50), { ...earlier[7], id: "retry-of-earlier-7", received_at: new Date(at + 120000).toISOString() }]);
  assert.deepEqual(again.body.groups[0].moved, []);
  assert.equal(await countEvents(w.db, "event_id = ?", earlier[7].event_id), 1);
  assert.equal(await countEvents(w.db, "event_id = ?", fresh[3].event_id), 1);
});

async function shardEvents(name) {
  const events = [];
  for (let after = 0; ;) {
    const answer = await shardCall(w.db, name, { export: { after, max_blocks: 16 } });
    if (!answer.blocks.length) break;
    for (const b of answer.blocks) events.push(...b.events);
    after = answer.blocks.at(-1).seq;
  }
  return events;
}

/** The row store of an earlier release (src/shards/sql.rs), as that release made it. */
const LEGACY_SCHEMA = readFileSync(new URL("../src/shards/sql.rs", import.meta.url), "utf8").match(/LEGACY_SCHEMA: &str = r#"([\s\S]*?)"#;/)[1];

test("a shard of an earlier release reads exactly beside its blocks while its rows are rewritten as blocks", async () => {
  const day = new Date(dayStart).toISOString().slice(0, 10);
  const name = `events:${day}:0:blocks`;
  const inBlocks = stored.filter((e) => e.received_at.startsWith(day));
  // The earlier release's rows: its schema and its insert, with a token not yet counted.
  const legacy = Array.from({ length: 250 }, (_, i) =>
    storedEvent(dayStart + 30000 + i * 60000, { message: `legacy row ${i}`, service: i % 2 ? "legacy-a" : "legacy-b", level: i % 5 ? "info" : "error", severity_number: i % 5 ? 9 : 17 }));
  await shardCall(w.db, name, { run: { queries: [{ sql: LEGACY_SCHEMA, binds: [] }] } });
  await shardCall(w.db, name, {
    run: {
      queries: [
        { sql: "INSERT OR IGNORE INTO events (data) SELECT value FROM json_each(?1)", binds: [JSON.stringify(legacy)] },
        { sql: "INSERT INTO token_ranges (token, first_seq, last_seq) VALUES ('legacy-token', 1, 250)", binds: [] },
        { sql: "INSERT INTO shard_meta (key, value) VALUES ('events', ?1) ON CONFLICT (key) DO UPDATE SET value = value + ?1", binds: [legacy.length] },
      ],
    },
  });
  // The next write reports the shard's range to the catalogue, as live traffic would.
  const late = storedEvent(dayStart + 86000000);
  await worker.queue(QUEUE, [message([late])]);
  const all = [...inBlocks, ...legacy, late];
  const expectAll = async (what) => {
    assert.deepEqual(await pageAll(`project=blocks&from=${day}T00:00:00.000Z&to=${day}T23:59:59.999Z&limit=37`), newestFirst(all), what);
    assert.deepEqual(await pageAll(`project=blocks&service=legacy-a&limit=20`), newestFirst(legacy.filter((e) => e.service === "legacy-a")), what);
    assert.deepEqual(await pageAll(`project=blocks&q=legacy&level=error`), newestFirst(legacy.filter((e) => e.level === "error")), what);
    const one = await get(w.mf, `/v1/logs/${legacy[7].id}`);
    assert.equal(one.status, 200, what);
    assert.equal(one.body.message, "legacy row 7");
  };
  await expectAll("rows and blocks together");
  // A redelivered event that sits in the rows is not stored again.
  await worker.queue(QUEUE, [message([legacy[3]])]);
  await expectAll("a redelivery of a row changes nothing");

  // The rewrite, paused midway: 100 of 250 rows moved, in one shard call like the cron's.
  const step = await shardCall(w.db, name, { compact: { max_rows: 100 } });
  assert.deepEqual([step.moved, step.left], [100, 150]);
  await expectAll("midway through the rewrite");
  // The token the rows held is still answered, from blocks and rows together.
  const redelivery = await shardCall(w.db, name, { write: { project: "blocks", day, max_events: 1000000, groups: [{ token: "legacy-token", events: [legacy[0], legacy[200]] }] } });
  assert.equal(redelivery.groups[0].uncounted.length, 250, "every event the token stored, none twice");

  // The cron finishes it and drops the row store.
  await worker.scheduled({ cron: "*/5 * * * *" });
  const done = await shardCall(w.db, name, { compact: { max_rows: 100 } });
  assert.deepEqual([done.moved, done.left], [0, 0]);
  await expectAll("after the rewrite");
  const tables = await shardCall(w.db, name, { rows: { query: { sql: "SELECT name FROM sqlite_master WHERE name = 'events'", binds: [] } } });
  assert.deepEqual(tables, [], "the row store is gone");
  const state = await w.db.prepare("SELECT value FROM storage_state WHERE key = 'shard_rows'").first();
  assert.equal(state?.value, "blocks");
});

test("retention removes one level band's expired blocks and keeps the others", async () => {
  // Noon of a day ten days back: its minute of events never straddles a midnight.
  const old = Math.floor(Date.now() / DAY) * DAY - 10 * DAY + DAY / 2;
  const debug = Array.from({ length: 30 }, (_, i) => storedEvent(old + i * 1000, { level: "debug", severity_number: 5, message: `old debug ${i}` }));
  const info = Array.from({ length: 30 }, (_, i) => storedEvent(old + i * 1000, { level: "info", severity_number: 9, message: `old info ${i}` }));
  // One message, one write: one block per band in the same shard.
  await worker.queue(QUEUE, [message([...debug, ...info])]);
  const day = new Date(old).toISOString().slice(0, 10);
  const name = `events:${day}:0:blocks`;
  assert.equal((await shardEvents(name)).length, 60);
  await worker.scheduled({ cron: "*/5 * * * *" });
  const kept = await shardEvents(name);
  assert.deepEqual(kept.map((e) => e.id).sort(), info.map((e) => e.id).sort(), "debug (7 days) gone, info (30 days) kept");
  const storage = await get(w.mf, "/v1/storage");
  const shard = storage.body.shards.find((s) => s.day === day && s.project === "blocks");
  assert.equal(shard.events, 30);
});
