// Error groups and stats through the real worker: POST → queue → consumer → D1 triggers →
// GET /v1/groups, /v1/groups/{fingerprint}, /v1/stats.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, waitForStored, assertError, eventRows } from "./helpers.mjs";

let w;
const stackA = "TypeError: x\n    at UserCard.render (https://app.example.com/assets/app.3f2a9c1b.js:10:5)\n    at load (https://app.example.com/assets/app.3f2a9c1b.js:20:1)";
const stackA2 = "TypeError: y\n    at UserCard.render (https://app.example.com/assets/app.77aa9c1b.js:99:7)\n    at load (https://app.example.com/assets/app.77aa9c1b.js:120:3)";
const stackB = "TypeError: z\n    at Checkout.pay (https://app.example.com/assets/app.js:5:5)";

const seed = [
  { message: "User 1234 not found", level: "warn", component: "AuthValidator", environment: "production", event_id: "g-1" },
  { message: "User 98765 not found", level: "warn", component: "AuthValidator", environment: "production", event_id: "g-2" },
  { message: "User 5 not found", level: "error", component: "AuthValidator", environment: "staging", event_id: "g-3" },
  { message: "TypeError: Cannot read properties of undefined (reading 'id')", level: "error", error: { type: "TypeError", message: "Cannot read properties of undefined (reading 'id')", stack: stackA }, event_id: "g-4" },
  { message: "TypeError: Cannot read properties of undefined (reading 'name')", level: "error", error: { type: "TypeError", message: "Cannot read properties of undefined (reading 'name')", stack: stackA2 }, event_id: "g-5" },
  { message: "TypeError in checkout", level: "fatal", error: { type: "TypeError", message: "boom", stack: stackB }, event_id: "g-6" },
  { message: "user signed in", level: "info", component: "AuthValidator", event_id: "g-7" },
];

before(async () => {
  w = await startWorker();
  assert.equal((await post(w.mf, seed)).status, 202);
  // A client retry of two events: stored once, counted once.
  assert.equal((await post(w.mf, [seed[0], seed[3]])).status, 202);
  await waitForStored(w.db, seed.length);
});
after(async () => {
  await w?.mf.dispose();
});

async function groups(query = "") {
  const res = await get(w.mf, `/v1/groups${query ? `?${query}` : ""}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

test("variable messages share a group, different exceptions never do, info makes none", async () => {
  const { groups: all, next_cursor } = await groups("sort=count");
  assert.equal(next_cursor, null);
  assert.deepEqual(all.map((g) => g.count), [3, 2, 1], JSON.stringify(all, null, 1));
  const [users, render, checkout] = all;
  assert.equal(users.title, "User 1234 not found");
  assert.equal(users.level, "error", "the most severe level seen");
  assert.equal(users.component, "AuthValidator");
  assert.equal(users.status, "open");
  assert.ok(users.first_seen <= users.last_seen);
  assert.match(users.fingerprint_reason, /message template 'User <num> not found' \+ component AuthValidator/);
  assert.equal(render.component, "UserCard");
  assert.match(render.fingerprint_reason, /exception TypeError \+ 2 in-app frames/);
  assert.equal(checkout.level, "fatal");
  assert.notEqual(render.fingerprint, checkout.fingerprint);
  for (const g of all) {
    for (const key of ["fingerprint", "title", "level", "count", "first_seen", "last_seen", "environment", "component", "route", "status"]) {
      assert.ok(key in g, `${key} in group`);
    }
  }
});

test("group filters and cursor paging", async () => {
  const staging = await groups("environment=stg");
  assert.deepEqual(staging.groups.map((g) => g.title), ["User 1234 not found"], "environment of the latest event");
  const fatal = await groups("min_level=fatal");
  assert.equal(fatal.groups.length, 1);
  const titled = await groups("q=CHECKOUT");
  assert.equal(titled.groups.length, 1);
  const exceptions = await groups("error_kind=exception&sort=count");
  assert.deepEqual(exceptions.groups.map((g) => g.count), [2, 1]);

  const seen = [];
  let cursor = null;
  do {
    const page = await groups(`sort=count&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
    assert.ok(page.groups.length <= 1);
    seen.push(...page.groups.map((g) => g.count));
    cursor = page.next_cursor;
  } while (cursor);
  assert.deepEqual(seen, [3, 2, 1]);
  assertError(await get(w.mf, "/v1/groups?sort=name"), 400, "invalid_parameter");
});

test("a group page shows the group with its recent events", async () => {
  const [users] = (await groups("sort=count")).groups;
  const res = await get(w.mf, `/v1/groups/${users.fingerprint}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.fingerprint, users.fingerprint);
  assert.equal(res.body.count, 3);
  assert.equal(res.body.events.length, 3);
  for (const e of res.body.events) assert.equal(e.fingerprint, users.fingerprint);
  assertError(await get(w.mf, "/v1/groups/0000000000000000"), 404, "not_found");
});

test("stats count events per bucket and dimension", async () => {
  const byLevel = await get(w.mf, "/v1/stats?bucket=1m&by=level");
  assert.equal(byLevel.status, 200, JSON.stringify(byLevel.body));
  assert.equal(byLevel.body.buckets.length, 61);
  for (const b of byLevel.body.buckets) assert.match(b.start, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00\.000Z$/);
  assert.deepEqual(byLevel.body.totals, { warn: 2, error: 3, fatal: 1, info: 1 });
  const sum = byLevel.body.buckets.reduce((n, b) => n + Object.values(b.counts).reduce((a, c) => a + c, 0), 0);
  assert.equal(sum, 7);

  const byComponent = await get(w.mf, "/v1/stats?by=component&environment=production");
  assert.equal(byComponent.status, 200);
  assert.equal(byComponent.body.bucket, "1h");
  assert.equal(byComponent.body.totals.AuthValidator, 3);
  const byDay = await get(w.mf, "/v1/stats?bucket=1d&by=source_type");
  assert.equal(byDay.body.buckets.length, 31);
  assert.equal(Object.values(byDay.body.totals).reduce((a, c) => a + c, 0), 7);
  // Every rollup (minute, hour, level×environment×source, one-dimension) gives the same totals
  // as counting the stored events, including the redelivered two that were stored once.
  const distinct = async (column, where = "1=1") =>
    (await eventRows(w.db, `SELECT coalesce(${column}, '') AS k, count(*) AS n FROM events WHERE ${where} GROUP BY k`)).reduce((totals, r) => {
      const key = r.k || "(none)";
      totals[key] = (totals[key] ?? 0) + r.n;
      return totals;
    }, {});
  for (const [query, column, where] of [
    ["by=level", "level"],
    ["by=environment&level=error,fatal", "environment", "level IN ('error', 'fatal')"],
    ["by=component", "component"],
    ["by=route&bucket=1d", "route"],
    ["by=component&component=AuthValidator", "component", "component = 'AuthValidator'"],
    ["by=component&level=warn", "component", "level = 'warn'"],
    ["by=component&bucket=1m", "component"],
  ]) {
    const res = await get(w.mf, `/v1/stats?${query}`);
    assert.equal(res.status, 200, query);
    assert.deepEqual(res.body.totals, await distinct(column, where), query);
  }
  assertError(await get(w.mf, "/v1/stats?bucket=1m&from=2020-01-01T00:00:00Z"), 400, "invalid_parameter");
  assertError(await get(w.mf, "/v1/stats?by=user_id"), 400, "invalid_parameter");
});
