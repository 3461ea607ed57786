// The cost meter through the worker: what D1, the event shards, the queue and KV report is
// counted, flushed with the metrics, and priced by GET /v1/usage at the list prices.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, auth, waitFor, waitForStored } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.mf.dispose();
});

test("stored events show up as billed rows, queue operations and requests, priced by day", async () => {
  const res = await post(w.mf, Array.from({ length: 100 }, (_, i) => ({ message: `metered ${i}`, level: i % 20 ? "info" : "error" })));
  assert.equal(res.status, 202);
  await waitForStored(w.db, 100);
  let usage;
  await waitFor(async () => {
    // A scrape flushes the isolate that answers it; the consumer's counts come with it.
    await (await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() })).text();
    usage = (await get(w.mf, "/v1/usage")).body;
    const items = new Set(usage.days.flatMap((d) => d.items.map((i) => i.item)));
    return ["d1_rows_written", "do_rows_written", "do_requests", "queue_operations", "worker_requests"].every((i) => items.has(i));
  }, { what: "every line item metered", seen: () => usage, timeoutMs: 30_000 });
  const today = usage.days.at(-1);
  const units = Object.fromEntries(today.items.map((i) => [i.item, i.units]));
  // The shard wrote its blocks: rows, but far fewer than the 100 events (a block per write).
  assert.ok(units.do_rows_written > 0 && units.do_rows_written < 100, JSON.stringify(units));
  assert.ok(units.d1_rows_written > 0, JSON.stringify(units));
  for (const item of today.items) {
    const price = usage.prices.find((p) => p.item === item.item).usd_per_million;
    assert.ok(Math.abs(item.usd - (item.units * price) / 1e6) < 1e-12, JSON.stringify(item));
  }
  assert.ok(today.events >= 100);
  assert.ok(today.usd_per_million_events > 0);
  const metrics = await (await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() })).text();
  assert.match(metrics, /^edge_logger_billed_total\{item="do_rows_written"\} \d+/m);
});

test("usage is the admin's, and its parameters are checked", async () => {
  const reader = (await post(w.mf, { name: "reader", scopes: ["read"] }, { path: "/v1/keys" })).body.key;
  assert.equal((await get(w.mf, "/v1/usage", auth(reader))).status, 403);
  assert.equal((await get(w.mf, "/v1/usage?from=yesterday")).status, 400);
  assert.equal((await get(w.mf, "/v1/usage?project=x")).status, 400);
  const range = await get(w.mf, "/v1/usage?from=2026-01-01&to=2026-01-02");
  assert.equal(range.status, 200);
  assert.deepEqual(range.body.days, []);
});

test("a message past one 64 KB unit goes gzip-compressed: one queue unit a write, read and delete", async () => {
  const fresh = await startWorker();
  try {
    // 120 events of ≈ 730 bytes as queued: one message of ≈ 90 KB, two units as it is.
    const events = Array.from({ length: 120 }, (_, i) => ({ message: `compressible ${i} ${"payload ".repeat(40)}`, level: "info", service: "api" }));
    const res = await post(fresh.mf, events);
    assert.equal(res.status, 202);
    assert.equal(res.body.accepted, 120);
    await waitForStored(fresh.db, 120);
    let units;
    await waitFor(async () => {
      await (await fresh.mf.dispatchFetch("http://localhost/metrics", { headers: auth() })).text();
      const usage = (await get(fresh.mf, "/v1/usage")).body;
      units = Object.fromEntries(usage.days.at(-1)?.items.map((i) => [i.item, i.units]) ?? []);
      return units.queue_operations >= 3;
    }, { what: "the message's queue operations metered", seen: () => units, timeoutMs: 30_000 });
    // Written once, read once, deleted once, each one unit: 3 (uncompressed it would be 6).
    assert.equal(units.queue_operations, 3, JSON.stringify(units));
    const page = (await get(fresh.mf, "/v1/logs?limit=1000&q=compressible")).body;
    assert.equal(page.logs.length, 120);
    assert.equal(new Set(page.logs.map((e) => e.message)).size, 120);
    // The message really was past one unit: its events' JSON alone is over 64 KB.
    const queued = page.logs.reduce((n, e) => n + JSON.stringify(e).length, 0);
    assert.ok(queued > 65_536, `${queued} bytes`);
  } finally {
    await fresh.mf.dispose();
  }
});
