// GET /v1/logs filters, full text and cursor paging, GET /v1/recent, over events that went
// the whole way: POST → queue → consumer → D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, waitForStored, waitFor, eventRows, idsNewestFirst } from "./helpers.mjs";

let w;
const run = `q${Date.now()}`;

const seed = [
  { message: "User 1 not found", level: "warn", environment: "prod", component: "AuthValidator", endpoint: "/api/users/1", user_id: "u1", tags: { region: "eu" } },
  { message: "User 2 not found", level: "warn", environment: "staging", component: "AuthValidator", endpoint: "/api/users/2", user_id: "u2", tags: { region: "us" } },
  { message: "payment gateway timeout", level: "error", environment: "production", component: "Checkout", endpoint: "/api/pay", trace_id: "trace-9", request_id: "req-9" },
  { message: "render crashed", level: "fatal", environment: "production", source_type: "ui", component: "UserCard", error: { type: "TypeError", message: "Cannot read properties of undefined", stack: "    at UserCard.render (https://app.example.com/app.js:1:1)" } },
  { message: "debug detail", level: "debug", environment: "development", component: "Checkout", timestamp: "2020-01-01T00:00:00Z" },
];

before(async () => {
  w = await startWorker();
  const res = await post(w.mf, seed.map((e) => ({ ...e, service: run })));
  assert.equal(res.status, 202);
  await waitForStored(w.db, seed.length, "service = ?", run);
});
after(async () => {
  await w?.mf.dispose();
});

async function messages(query) {
  const res = await get(w.mf, `/v1/logs?service=${run}&${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.logs.map((e) => e.message).sort();
}

test("each filter of the contract", async () => {
  const cases = [
    ["level=warn", ["User 1 not found", "User 2 not found"]],
    ["level=error,fatal", ["payment gateway timeout", "render crashed"]],
    ["min_level=error", ["payment gateway timeout", "render crashed"]],
    ["min_level=21", ["render crashed"]],
    ["environment=prod", ["User 1 not found", "payment gateway timeout", "render crashed"]],
    ["environment=staging", ["User 2 not found"]],
    ["source_type=ui", ["render crashed"]],
    ["component=Checkout", ["debug detail", "payment gateway timeout"]],
    ["endpoint=/api/users/1", ["User 1 not found"]],
    ["route=/api/users/:id", ["User 1 not found", "User 2 not found"]],
    ["error_kind=exception", ["render crashed"]],
    ["trace_id=trace-9", ["payment gateway timeout"]],
    ["request_id=req-9", ["payment gateway timeout"]],
    ["user_id=u2", ["User 2 not found"]],
    ["tag.region=eu", ["User 1 not found"]],
    ["q=timeout", ["payment gateway timeout"]],
    ["q=gate*", ["payment gateway timeout"]],
    ["q=undefined", ["render crashed"]],
    ["q=UserCard", ["render crashed"]],
    ["from=2021-01-01T00:00:00Z&level=debug", []],
    ["to=2021-01-01T00:00:00Z", ["debug detail"]],
    [`to=${Date.UTC(2021, 0, 1)}`, ["debug detail"]],
    ["level=warn&environment=production", ["User 1 not found"]],
  ];
  for (const [query, expected] of cases) {
    assert.deepEqual(await messages(query), expected, query);
  }
});

test("fingerprint filter finds a group; variable messages share it", async () => {
  const all = (await get(w.mf, `/v1/logs?service=${run}&component=AuthValidator`)).body.logs;
  assert.equal(all.length, 2);
  assert.equal(all[0].fingerprint, all[1].fingerprint);
  assert.deepEqual(await messages(`fingerprint=${all[0].fingerprint}`), ["User 1 not found", "User 2 not found"]);
});

test("cursor paging walks every event once, newest first, stable while new events arrive", async () => {
  const pageRun = `${run}-paging`;
  const total = 250;
  const batch = Array.from({ length: total }, (_, i) => ({ message: `paged ${i}`, service: pageRun }));
  assert.equal((await post(w.mf, batch)).status, 202);
  await waitForStored(w.db, total, "service = ?", pageRun);

  const seen = [];
  let cursor = null;
  let pages = 0;
  do {
    const res = await get(w.mf, `/v1/logs?service=${pageRun}&limit=100${cursor ? `&cursor=${cursor}` : ""}`);
    assert.equal(res.status, 200);
    pages += 1;
    seen.push(...res.body.logs);
    cursor = res.body.next_cursor;
    if (pages === 1) {
      // New events arriving mid-walk must not shift or repeat what the cursor still has to show.
      assert.equal((await post(w.mf, [{ message: "late arrival", service: pageRun }])).status, 202);
      await waitForStored(w.db, total + 1, "service = ?", pageRun);
    }
  } while (cursor && pages < 10);
  assert.equal(pages, 3);
  assert.equal(seen.length, total, "every original event once; the late one is newer than the cursor");
  assert.equal(new Set(seen.map((e) => e.id)).size, total);
  const keys = seen.map((e) => `${e.received_at}|${e.id}`);
  assert.deepEqual(keys, [...keys].sort().reverse(), "newest first");
  const fresh = await get(w.mf, `/v1/logs?service=${pageRun}&limit=1`);
  assert.equal(fresh.body.logs[0].message, "late arrival");
});

test("default page size and the last page's cursor", async () => {
  const res = await get(w.mf, `/v1/logs?service=${run}`);
  assert.equal(res.body.logs.length, seed.length);
  assert.equal(res.body.next_cursor, null);
});

test("the hot feed comes from KV", async () => {
  const res = await waitFor(
    async () => {
      const r = await get(w.mf, "/v1/recent?limit=5");
      return r.body.logs.length === 5 ? r : null;
    },
    { what: "hot feed" },
  );
  assert.equal(res.status, 200);
  assert.equal(res.body.source, "kv");
  const keys = res.body.logs.map((e) => `${e.received_at}|${e.id}`);
  assert.deepEqual(keys, [...keys].sort().reverse(), "newest first");
  // What the feed serves is what KV holds.
  const inKv = JSON.parse(await w.kv.get("recent:v1"));
  assert.deepEqual(res.body.logs.map((e) => e.id), inKv.slice(0, 5).map((e) => e.id));
});

test("full text with many matches (walked newest first) pages exactly like the sorted plan", async () => {
  // Over 2,000 matches switch the plan (storage::query::TextPlan); the answer must not change.
  const many = Array.from({ length: 2100 }, (_, i) => ({ message: `walkterm item ${i}`, level: i % 3 ? "info" : "warn", service: `${run}-walk` }));
  for (let i = 0; i < many.length; i += 700) assert.equal((await post(w.mf, many.slice(i, i + 700))).status, 202);
  await waitForStored(w.db, many.length, "service = ?", `${run}-walk`);
  const truth = idsNewestFirst(await eventRows(w.db, "SELECT received_at, id FROM events WHERE service = ?", `${run}-walk`));
  const seen = [];
  let cursor = null;
  do {
    const res = await get(w.mf, `/v1/logs?q=walkterm&limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    seen.push(...res.body.logs.map((e) => e.id));
    cursor = res.body.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, truth, "every match once, newest first");
  // With a level filter the sorted plan is kept; the answer is the same subset in the same order.
  const warns = await get(w.mf, "/v1/logs?q=walkterm&level=warn&limit=1000");
  assert.equal(warns.body.logs.length, 700);
  const warnTruth = idsNewestFirst(await eventRows(w.db, "SELECT received_at, id FROM events WHERE service = ? AND level = 'warn'", `${run}-walk`));
  assert.deepEqual(warns.body.logs.map((e) => e.id), warnTruth);
});
