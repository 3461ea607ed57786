// Storage past one D1: events in SQLite Durable Object shards (one per project and UTC day,
// numbered parts past SHARD_MAX_EVENTS), with real local Durable Objects, D1, KV, Queues and R2.
// Many shards page exactly once under every filter; redeliveries and client retries store and
// count once; a project-bound key never reads another project's shard; retention drops and
// archives whole shards; events in D1 from before the shards move with nothing lost while reads
// answer; and `wrangler dev --var SHARD_MAX_EVENTS:…` splits shards as a new user would see.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  startWorker, startWranglerDev, get, auth, waitFor, countEvents, applyMigrations, assertError, QUEUE, DEV_ADMIN_TOKEN,
} from "./helpers.mjs";

const DAY = 86400000;
const LEVELS = [["info", 9], ["warn", 13], ["error", 17], ["debug", 5]];
const PROJECTS = ["shop", "blog", null];

/** A stored event as the producer queues it. */
function storedEvent({ project, at, i, run }) {
  const [level, severity_number] = LEVELS[i % LEVELS.length];
  const id = randomUUID();
  const received_at = new Date(at).toISOString();
  return {
    id, event_id: `${run}-${project ?? "none"}-${i}`, project, received_at, timestamp: received_at, level, severity_number,
    message: `${i % 10 === 0 ? "needle" : "hay"} event ${i} of ${project ?? "none"}`, environment: i % 2 ? "production" : "staging",
    source_type: "backend", service: `svc-${i % 3}`, fingerprint: `fp-${project ?? "none"}-${i % 5}`,
  };
}

function message(project, events, id = `m-${randomUUID()}`) {
  return { id, timestamp: new Date(), attempts: 1, body: new TextEncoder().encode(JSON.stringify({ project, events })) };
}

/** Every page of a /v1/logs query, following the cursor; the ids in order. */
async function pageAll(mf, query, headers = auth()) {
  const ids = [];
  let cursor = null;
  for (let pages = 0; pages < 500; pages++) {
    const res = await get(mf, `/v1/logs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, headers);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    ids.push(...res.body.logs.map((e) => e.id));
    cursor = res.body.next_cursor;
    if (!cursor) return ids;
  }
  throw new Error("more than 500 pages");
}

const newestFirst = (events) =>
  [...events].sort((a, b) => (`${b.received_at}_${b.id}` < `${a.received_at}_${a.id}` ? -1 : 1)).map((e) => e.id);

async function storedMetric(db) {
  const row = await db.prepare("SELECT coalesce(sum(value), 0) AS n FROM metric_counters WHERE name = 'edge_logger_events_stored_total'").first();
  return row.n;
}

let w;
let worker;
const run = `run-${randomUUID().slice(0, 8)}`;
const all = [];

before(async () => {
  w = await startWorker({ consumer: false, bindings: { SHARD_MAX_EVENTS: "200" }, extra: { r2Buckets: ["ARCHIVE"], r2Persist: false } });
  worker = await w.mf.getWorker();
  // 5,000 events over three recent days and three projects (one of them none), delivered as
  // live traffic arrives: in received order, each message one project's, and a few late.
  // Anchored at today's noon UTC: "one to three days ago, less up to an hour" are then three
  // UTC days whatever the time of the run (from the wall clock, a run between 00:00 and 01:00
  // UTC spread them over four).
  const now = Math.floor(Date.now() / DAY) * DAY + DAY / 2;
  for (let i = 0; i < 5000; i++) {
    const project = PROJECTS[i % 3];
    const at = now - (1 + (i % 3)) * DAY - ((i * 7919) % 3600000);
    all.push(storedEvent({ project, at, i, run }));
  }
  const inOrder = [...all].sort((a, b) => (a.received_at < b.received_at ? -1 : 1));
  const late = inOrder.filter((_, i) => i % 97 === 0);
  const onTime = inOrder.filter((_, i) => i % 97 !== 0);
  const messages = [];
  for (const events of [onTime, late]) {
    let open = new Map();
    for (const e of events) {
      const list = open.get(e.project) ?? [];
      list.push(e);
      open.set(e.project, list);
      if (list.length === 100) {
        messages.push(message(e.project, list));
        open.set(e.project, []);
      }
    }
    for (const [project, list] of open) if (list.length) messages.push(message(project, list));
  }
  for (let i = 0; i < messages.length; i += 8) {
    const result = await worker.queue(QUEUE, messages.slice(i, i + 8));
    assert.deepEqual(result.retryMessages, [], "every message stored");
  }
});

after(async () => {
  await w?.mf.dispose();
});

test("5,000 events across days and projects become many shards, each event stored and counted once", async () => {
  const storage = await get(w.mf, "/v1/storage");
  assert.equal(storage.status, 200, JSON.stringify(storage.body));
  assert.equal(storage.body.totals.events, 5000);
  assert.equal(storage.body.totals.days, 3);
  assert.equal(storage.body.totals.projects, 3);
  assert.ok(storage.body.shards.length >= 18, `split past SHARD_MAX_EVENTS: ${storage.body.shards.length} shards`);
  assert.ok(storage.body.shards.some((s) => s.sealed && s.seq === 0), "a first shard sealed");
  assert.ok(storage.body.shards.some((s) => s.project === null), "events without a project have their own shards");
  assert.equal(storage.body.capacity.shard_max_events, 200);
  assert.equal(storage.body.d1_events, 0);
  assert.equal(await countEvents(w.db), 5000);
  assert.equal(await storedMetric(w.db), 5000, "D1 counted each event once");
  const groups = await w.db.prepare("SELECT coalesce(sum(count), 0) AS n FROM groups").first();
  assert.equal(groups.n, all.filter((e) => e.severity_number >= 13).length, "groups count each warning and error once");
});

test("paging every filter with the cursor returns each event exactly once, newest first", async () => {
  const cases = [
    ["limit=997", () => true],
    ["limit=333&project=shop", (e) => e.project === "shop"],
    ["limit=250&level=error", (e) => e.level === "error"],
    ["limit=100&min_level=warn&environment=staging", (e) => e.severity_number >= 13 && e.environment === "staging"],
    ["limit=77&q=needle", (e) => e.message.startsWith("needle")],
    ["limit=500&service=svc-1&project=blog", (e) => e.service === "svc-1" && e.project === "blog"],
    [`limit=1000&fingerprint=fp-shop-2`, (e) => e.fingerprint === "fp-shop-2"],
  ];
  const from = new Date(Date.now() - 2 * DAY - 1800000).toISOString();
  const to = new Date(Date.now() - 1 * DAY - 1800000).toISOString();
  cases.push([`limit=211&from=${from}&to=${to}`, (e) => e.timestamp >= from && e.timestamp <= to]);
  for (const [query, keep] of cases) {
    const seen = await pageAll(w.mf, query);
    const truth = newestFirst(all.filter(keep));
    assert.equal(new Set(seen).size, seen.length, `${query}: no event twice`);
    assert.equal(seen.length, truth.length, `${query}: every event`);
    assert.deepEqual(seen, truth, `${query}: in page order`);
  }
  // One event by id, from any shard.
  const sample = all[4321];
  const one = await get(w.mf, `/v1/logs/${sample.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.event_id, sample.event_id);
});

test("a redelivered batch and a client retry store once and count once", async () => {
  const at = Date.now() - DAY;
  const events = [0, 1, 2].map((i) => storedEvent({ project: "shop", at: at + i, i: 9000 + i, run }));
  const msg = message("shop", events, "m-again");
  const before = await storedMetric(w.db);
  await worker.queue(QUEUE, [msg]);
  await worker.queue(QUEUE, [{ ...msg, attempts: 2 }]);
  // A client retry: the same event_id, a new id and a later received_at (same day's shards).
  const retry = { ...events[0], id: randomUUID(), received_at: new Date(at + 5000).toISOString() };
  await worker.queue(QUEUE, [message("shop", [retry])]);
  assert.equal(await countEvents(w.db, "event_id = ?", events[0].event_id), 1);
  assert.equal(await countEvents(w.db, "event_id IN (?, ?, ?)", ...events.map((e) => e.event_id)), 3);
  assert.equal(await storedMetric(w.db), before + 3);
  all.push(...events);
});

test("a project-bound key reads only its project's shards", async () => {
  const res = await w.mf.dispatchFetch("http://localhost/v1/keys", {
    method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: "blog reader", scopes: ["read"], project: "blog" }),
  });
  const key = (await res.json()).key;
  const seen = await pageAll(w.mf, "limit=1000", auth(key));
  assert.deepEqual(seen, newestFirst(all.filter((e) => e.project === "blog")));
  const otherProject = all.find((e) => e.project === "shop");
  assertError(await get(w.mf, `/v1/logs/${otherProject.id}`, auth(key)), 404, "not_found");
  assertError(await get(w.mf, "/v1/logs?project=shop", auth(key)), 403, "forbidden");
  assertError(await get(w.mf, "/v1/storage", auth(key)), 403, "forbidden");
});

test("retention drops a whole expired day's shards, archiving them first", async () => {
  // Noon of a day 120 days back: its 450 seconds of events never straddle a midnight.
  const old = Math.floor(Date.now() / DAY) * DAY - 120 * DAY + DAY / 2;
  const day = new Date(old).toISOString().slice(0, 10);
  const expired = Array.from({ length: 450 }, (_, i) => storedEvent({ project: "shop", at: old + i * 1000, i, run: `${run}-old` }));
  for (let i = 0; i < expired.length; i += 100) await worker.queue(QUEUE, [message("shop", expired.slice(i, i + 100))]);
  const before = await get(w.mf, "/v1/storage");
  const oldShards = before.body.shards.filter((s) => s.day === day);
  assert.ok(oldShards.length >= 2, "the old day split into shards too");
  await worker.scheduled({ cron: "*/5 * * * *" });
  const afterRun = await get(w.mf, "/v1/storage");
  assert.deepEqual(afterRun.body.shards.filter((s) => s.day === day), [], "the day's shards are gone from the catalogue");
  assert.equal(afterRun.body.totals.events, before.body.totals.events - 450);
  assert.equal(await countEvents(w.db, "received_at LIKE ?", `${day}%`), 0);
  const bucket = await w.mf.getR2Bucket("ARCHIVE");
  const listed = await bucket.list({ prefix: `events/${day}/` });
  assert.equal(listed.objects.length, oldShards.length, "one object per dropped shard");
  const lines = [];
  for (const o of listed.objects) {
    lines.push(...gunzipSync(Buffer.from(await (await bucket.get(o.key)).arrayBuffer())).toString().trim().split("\n"));
  }
  assert.deepEqual(lines.map((l) => JSON.parse(l).id).sort(), expired.map((e) => e.id).sort(), "every dropped event archived");
});

test("events in D1 from before the shards move with nothing lost or counted twice, while reads answer", async () => {
  const legacy = await startWorker({ consumer: false, migrations: (f) => f < "0010" });
  try {
    const lw = await legacy.mf.getWorker();
    // The previous release: events inserted into D1, counted there by its triggers.
    const events = Array.from({ length: 1200 }, (_, i) => storedEvent({ project: i % 2 ? "shop" : null, at: Date.now() - (i % 4) * DAY - i * 1000, i, run: `${run}-legacy` }));
    await legacy.db.prepare("INSERT OR IGNORE INTO events (data) SELECT value FROM json_each(?)").bind(JSON.stringify(events)).run();
    const counted = await storedMetric(legacy.db);
    assert.equal(counted, 1200);
    await applyMigrations(legacy.db, (f) => f >= "0010");
    const truth = newestFirst(events);
    assert.deepEqual(await pageAll(legacy.mf, "limit=300"), truth, "read from D1 before the move");

    // The move stops part way: D1 refuses to delete past the first batch.
    await legacy.db.exec("CREATE TRIGGER pause_move BEFORE DELETE ON events WHEN old.seq > 500 BEGIN SELECT RAISE(ABORT, 'paused'); END;");
    await lw.scheduled({ cron: "*/5 * * * *" });
    const midway = await get(legacy.mf, "/v1/storage");
    assert.equal(midway.body.d1_events, 700, "the first batch moved, the rest waits");
    assert.equal(midway.body.d1_migrated, false);
    assert.deepEqual(await pageAll(legacy.mf, "limit=300"), truth, "midway: each event once, from shards and D1");
    assert.deepEqual(await pageAll(legacy.mf, "limit=100&project=shop&q=needle"), newestFirst(events.filter((e) => e.project === "shop" && e.message.startsWith("needle"))));
    const movedOne = events.find((e) => e.project === null);
    assert.equal((await get(legacy.mf, `/v1/logs/${movedOne.id}`)).body.id, movedOne.id);

    await legacy.db.exec("DROP TRIGGER pause_move;");
    await lw.scheduled({ cron: "*/5 * * * *" });
    const done = await get(legacy.mf, "/v1/storage");
    assert.equal(done.body.d1_events, 0);
    assert.equal(done.body.d1_migrated, true);
    assert.equal(done.body.totals.events, 1200);
    assert.equal((await legacy.db.prepare("SELECT count(*) AS n FROM events").first()).n, 0);
    assert.deepEqual(await pageAll(legacy.mf, "limit=300"), truth, "after the move: the same answer");
    assert.equal(await storedMetric(legacy.db), counted, "moving counts nothing again");
    // A second run finds nothing to do.
    await lw.scheduled({ cron: "*/5 * * * *" });
    assert.equal((await get(legacy.mf, "/v1/storage")).body.totals.events, 1200);
  } finally {
    await legacy.mf.dispose();
  }
});

test("/health checks the newest shard", async () => {
  const res = await w.mf.dispatchFetch("http://localhost/health");
  const body = await res.json();
  assert.equal(body.checks.shards.status, "ok", JSON.stringify(body));
  assert.equal(body.status, "ok");
});

test("npm start with --var SHARD_MAX_EVENTS splits shards, seen from outside", async () => {
  const dev = await startWranglerDev("shards-", ["--var", "SHARD_MAX_EVENTS:50"]);
  try {
    const headers = { authorization: `Bearer ${DEV_ADMIN_TOKEN}`, "content-type": "application/json" };
    const tag = randomUUID();
    for (let r = 0; r < 4; r++) {
      const batch = Array.from({ length: 60 }, (_, i) => ({ message: `outside ${r}-${i}`, level: "info", service: tag }));
      const res = await fetch(`${dev.url}/v1/logs`, { method: "POST", headers, body: JSON.stringify(batch) });
      assert.equal(res.status, 202);
    }
    const storage = await waitFor(async () => {
      const body = await (await fetch(`${dev.url}/v1/storage`, { headers })).json();
      return body.totals?.events === 240 ? body : null;
    }, { what: "240 events in shards", timeoutMs: 60000 });
    assert.ok(storage.shards.length >= 3, `split: ${storage.shards.length} shards`);
    const ids = [];
    let cursor = null;
    do {
      const page = await (await fetch(`${dev.url}/v1/logs?service=${tag}&limit=70${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers })).json();
      ids.push(...page.logs.map((e) => e.id));
      cursor = page.next_cursor;
    } while (cursor);
    assert.equal(ids.length, 240);
    assert.equal(new Set(ids).size, 240);
  } finally {
    dev.stop();
  }
});
