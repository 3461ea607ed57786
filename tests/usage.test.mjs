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
