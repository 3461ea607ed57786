// Group workflow through the worker with real local D1, shards and queue: merges that stick
// (exact counts, never twice after a redelivery), unmerge, assignment rules, and "ignored until
// N users".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, post, get, auth, waitFor, waitForStored, assertError, QUEUE, countEvents } from "./helpers.mjs";

let w;
let worker;
let receiver;
const received = [];
before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(JSON.parse(body || "{}"));
      res.end("{}");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  w = await startWorker({ bindings: { BUILTIN_ALERTS: "false" } });
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
  receiver?.close();
});

/** Sends `n` errors and waits until they are stored and counted. */
async function send(event, n = 1) {
  const res = await post(w.mf, Array.from({ length: n }, () => ({ level: "error", ...event })));
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await waitForStored(w.db, n, `id IN (${res.body.ids.map(() => "?").join(",")})`, ...res.body.ids);
  return res.body.ids;
}

const groupOf = async (component) => (await get(w.mf, `/v1/groups?query=${encodeURIComponent(`component:${component}`)}`)).body.groups[0];
const groupById = async (fp) => (await get(w.mf, `/v1/groups/${fp}`)).body;
const sum = (values) => values.reduce((a, b) => a + b, 0);
const call = async (method, path, body, headers = auth()) => {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, { method, headers: { ...headers, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
};

let target;
let source;

test("merge: the source's count moves, its new events count into the target, and a redelivery never counts twice", async () => {
  await send({ message: "Alpha failed", component: "Alpha" }, 2);
  await send({ message: "Beta failed", component: "Beta" }, 3);
  target = (await groupOf("Alpha")).fingerprint;
  source = (await groupOf("Beta")).fingerprint;
  assert.notEqual(target, source);

  const merged = await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [source] });
  assert.equal(merged.status, 200, JSON.stringify(merged.body));
  assert.equal(merged.body.group.count, 5);
  assert.deepEqual(merged.body.merged.map((m) => [m.fingerprint, m.events]), [[source, 3]]);
  assert.equal(await groupOf("Beta"), undefined, "a merged group is listed as its target");
  assert.equal((await groupById(source)).merged_into, target);

  await send({ message: "Beta failed", component: "Beta" }, 2);
  await waitFor(async () => (await groupById(target)).count === 7, { what: "new Beta events counted into Alpha" });
  assert.equal((await groupById(source)).count, 3, "the source counts nothing while merged");

  // A redelivery of a message whose first count failed: stored once, counted once, into the target.
  const id = "00000000-0000-4000-8000-00000000be7a";
  const at = new Date().toISOString();
  const event = { id, event_id: id, received_at: at, timestamp: at, level: "error", severity_number: 17, message: "Beta failed", component: "Beta", fingerprint: source, environment: "production", source_type: "backend" };
  const message = { id: "m-merge-redelivery", timestamp: new Date(), attempts: 1, body: new TextEncoder().encode(JSON.stringify({ project: null, events: [event] })) };
  await w.db.exec("CREATE TRIGGER inject_failure BEFORE INSERT ON events_intake BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END;");
  try {
    const failed = await worker.queue(QUEUE, [message]);
    assert.deepEqual(failed.retryMessages.map((m) => m.msgId), ["m-merge-redelivery"]);
  } finally {
    await w.db.exec("DROP TRIGGER inject_failure;");
  }
  assert.equal((await groupById(target)).count, 7, "nothing counted while D1 failed");
  for (const attempts of [2, 3]) {
    const again = await worker.queue(QUEUE, [{ ...message, attempts }]);
    assert.deepEqual(again.explicitAcks, ["m-merge-redelivery"]);
    assert.equal((await groupById(target)).count, 8, `attempt ${attempts}: counted once`);
  }
  assert.equal(await countEvents(w.db, "id = ?", id), 1);

  const detail = await groupById(target);
  assert.deepEqual(detail.merged.map((m) => [m.fingerprint, m.events]), [[source, 6]]);
  assert.equal(sum(detail.sparkline), 8, "its hourly series holds the merged fingerprint's hours");
  assert.equal(sum((await get(w.mf, `/v1/groups?query=fingerprint:${target}`)).body.groups[0].sparkline), 8, "in the list too");
  assert.ok(detail.events.some((e) => e.component === "Beta") && detail.events.some((e) => e.component === "Alpha"), "its events include the merged fingerprint's");
  const logs = (await get(w.mf, `/v1/logs?fingerprint=${target}&limit=100`)).body.logs;
  assert.equal(logs.length, 8, "fingerprint= on /v1/logs asks for the group: its own and the merged events");
  assert.equal((await get(w.mf, `/v1/logs?fingerprint=${source}&limit=100`)).body.logs.length, 6, "a merged fingerprint's own events");
});

test("merge refusals: itself, twice, a merged group's status, unknown groups, a read key", async () => {
  assertError(await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [target] }), 400, "invalid_parameter");
  assertError(await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [] }), 400, "invalid_parameter");
  assertError(await call("POST", `/v1/groups/${target}/merge`, { fingerprints: ["nope"] }), 400, "invalid_parameter");
  assertError(await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [source] }), 409, "conflict");
  assertError(await call("POST", `/v1/groups/${source}/merge`, { fingerprints: [target] }), 409, "conflict");
  assertError(await call("PUT", `/v1/groups/${source}`, { status: "resolved" }), 409, "conflict");
  assertError(await call("POST", `/v1/groups/nope/merge`, { fingerprints: [source] }), 404, "not_found");
  assertError(await call("DELETE", `/v1/groups/${target}/merge/nope`), 404, "not_found");
  const unnamed = await call("DELETE", `/v1/groups/${target}/merge`);
  assertError(unnamed, 400, "invalid_parameter");
  assert.match(unnamed.body.error.message, /name what to unmerge/);
  const reader = (await post(w.mf, { name: "r", scopes: ["read"] }, { path: "/v1/keys" })).body.key;
  assert.equal((await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [source] }, auth(reader))).status, 403);
  assert.equal((await call("DELETE", `/v1/groups/${target}/merge`, { fingerprints: [source] }, auth(reader))).status, 403);
  assert.equal((await call("PUT", `/v1/groups/${target}`, { status: "resolved" }, auth(reader))).status, 403);
  assert.equal((await call("PUT", "/v1/assign-rules", { rules: [] }, auth(reader))).status, 403);
});

test("unmerge: each group gets back exactly its events, and future ones are its own again", async () => {
  const split = await call("DELETE", `/v1/groups/${target}/merge`, { fingerprints: [source] });
  assert.equal(split.status, 200, JSON.stringify(split.body));
  assert.equal(split.body.group.count, 2, "the target keeps only its own");
  assert.deepEqual(split.body.merged, []);
  const back = await groupById(source);
  assert.equal(back.merged_into, null);
  assert.equal(back.count, 6, "3 before the merge, 3 redirected while merged");
  assert.equal((await groupOf("Beta")).fingerprint, source, "listed again");
  await send({ message: "Beta failed", component: "Beta" });
  await waitFor(async () => (await groupById(source)).count === 7, { what: "a new Beta event counted as Beta" });
  assert.equal((await groupById(target)).count, 2);
  assert.equal(sum((await groupById(target)).sparkline), 2, "each series is its own again");
  assert.equal(sum((await groupById(source)).sparkline), 7);

  // The one-fingerprint form, and the history of both.
  assert.equal((await call("POST", `/v1/groups/${target}/merge`, { fingerprints: [source] })).body.group.count, 9);
  const again = await call("DELETE", `/v1/groups/${target}/merge/${source}`);
  assert.equal(again.status, 200);
  assert.equal(again.body.group.count, 2);
  assert.equal((await groupById(source)).count, 7);
  const history = (await get(w.mf, `/v1/groups/${target}/activity`)).body.activity;
  assert.deepEqual(history.slice(0, 4).map((a) => a.kind), ["unmerged", "merged", "unmerged", "merged"]);
  assert.equal(history[0].actor, "admin-token");
  assert.deepEqual(history[3].detail.fingerprints, [source]);
  assert.equal((await get(w.mf, `/v1/groups/${source}/activity`)).body.activity[0].detail.from, target);
});

test("a chain: a group holding a merge, merged into another, splits back exactly", async () => {
  await send({ message: "chain a", component: "ChainA" }, 1);
  await send({ message: "chain b", component: "ChainB" }, 2);
  await send({ message: "chain c", component: "ChainC" }, 4);
  const [a, b, c] = [await groupOf("ChainA"), await groupOf("ChainB"), await groupOf("ChainC")].map((g) => g.fingerprint);
  assert.equal((await call("POST", `/v1/groups/${b}/merge`, { fingerprints: [a] })).body.group.count, 3);
  await send({ message: "chain a", component: "ChainA" }, 1); // redirected into b
  await waitFor(async () => (await groupById(b)).count === 4, { what: "a's event counted into b" });
  const chained = await call("POST", `/v1/groups/${c}/merge`, { fingerprints: [b] });
  assert.equal(chained.body.group.count, 8);
  assert.deepEqual(chained.body.merged.map((m) => [m.fingerprint, m.events]).sort(), [[a, 2], [b, 2]], "a now points at c");
  assert.equal((await groupById(a)).merged_into, c);
  await send({ message: "chain a", component: "ChainA" }, 1); // redirected into c
  await waitFor(async () => (await groupById(c)).count === 9, { what: "a's event counted into c" });
  assert.equal(sum((await groupById(c)).sparkline), 9);
  const noA = await call("DELETE", `/v1/groups/${c}/merge/${a}`);
  assert.equal(noA.body.group.count, 6, "c keeps its 4 and b's 2");
  assert.equal((await groupById(a)).count, 3, "a gets back its 1, and the 2 redirected");
  const noB = await call("DELETE", `/v1/groups/${c}/merge/${b}`);
  assert.equal(noB.body.group.count, 4);
  assert.equal((await groupById(b)).count, 2);
  for (const [fp, n] of [[a, 3], [b, 2], [c, 4]]) assert.equal(sum((await groupById(fp)).sparkline), n, "each series is its own");
});

test("assignment rules: the first rule matching a new group's component, route or service assigns it", async () => {
  const bad = await call("PUT", "/v1/assign-rules", { rules: [{ field: "level", pattern: "*", assignee: "x" }] });
  assertError(bad, 400, "invalid_parameter");
  assert.match(bad.body.error.message, /rules\[0\]: field must be/);
  const put = await call("PUT", "/v1/assign-rules", {
    rules: [
      { field: "component", pattern: "pay*", assignee: "pat@example.com" },
      { field: "service", pattern: "api-?", assignee: "api-team" },
      { field: "route", pattern: "/cart/*", assignee: "cat" },
      { field: "component", pattern: "*", assignee: "never", project: "elsewhere" },
    ],
  });
  assert.equal(put.status, 200, JSON.stringify(put.body));
  assert.deepEqual(put.body.rules.map((r) => [r.position, r.assignee]), [[1, "pat@example.com"], [2, "api-team"], [3, "cat"], [4, "never"]]);
  const added = await call("POST", "/v1/assign-rules", { field: "service", pattern: "worker*", assignee: "wendy" });
  assert.equal(added.status, 201);
  assert.equal(added.body.rules.at(-1).position, 5);

  await send({ message: "card declined", component: "PaymentForm", service: "api-1" });
  await send({ message: "gateway down", component: "Gateway", service: "api-2" });
  await send({ message: "cart missing", component: "Basket", endpoint: "/cart/42" });
  await send({ message: "job failed", component: "Jobs", service: "worker-eu" });
  await send({ message: "nobody's", component: "Orphan" });
  assert.equal((await groupOf("PaymentForm")).assignee, "pat@example.com", "first match wins");
  assert.equal((await groupOf("Gateway")).assignee, "api-team");
  assert.equal((await groupOf("Basket")).assignee, "cat");
  assert.equal((await groupOf("Jobs")).assignee, "wendy");
  assert.equal((await groupOf("Orphan")).assignee, null, "a rule of another project does not apply");
  const history = (await get(w.mf, `/v1/groups/${(await groupOf("Gateway")).fingerprint}/activity`)).body.activity;
  const assigned = history.find((a) => a.kind === "assigned");
  assert.match(assigned.actor, /^rule:assign_/);
  assert.equal(assigned.detail.to, "api-team");
  assert.equal((await get(w.mf, `/v1/groups?query=${encodeURIComponent("assignee:pat*")}`)).body.groups.length, 1);

  const reader = (await post(w.mf, { name: "r2", scopes: ["read"] }, { path: "/v1/keys" })).body.key;
  assert.equal((await get(w.mf, "/v1/assign-rules", auth(reader))).body.rules.length, 5);
  const shopReader = (await post(w.mf, { name: "shop", scopes: ["read"], project: "shop" }, { path: "/v1/keys" })).body.key;
  assert.equal((await get(w.mf, "/v1/assign-rules", auth(shopReader))).body.rules.length, 4, "another project's rule is not shown");
  const id = put.body.rules[0].id;
  assert.equal((await call("DELETE", `/v1/assign-rules/${id}`)).body.rules.length, 4);
  assertError(await call("DELETE", `/v1/assign-rules/${id}`), 404, "not_found");
  await send({ message: "declined again", component: "PayButton" });
  assert.equal((await groupOf("PayButton")).assignee, null, "a deleted rule assigns nothing");
});

test("ignored until N users: reopens at the Nth distinct user, once, with one regression alert", async () => {
  const rule = await post(w.mf, { name: "users back", trigger: "regression", channels: [{ type: "webhook", url: `http://127.0.0.1:${receiver.address().port}/hook` }] }, { path: "/v1/alert-rules" });
  assert.equal(rule.status, 201);
  await send({ message: "profile broken", component: "Profile", user_id: "u1" });
  const fp = (await groupOf("Profile")).fingerprint;
  assert.equal((await call("PUT", `/v1/groups/${fp}`, { status: "ignored", until: { users: 2 } })).status, 200);
  await send({ message: "profile broken", component: "Profile", user_id: "u1" }, 3);
  await send({ message: "profile broken", component: "Profile" });
  await waitFor(async () => (await groupById(fp)).count === 5, { what: "the same user's events counted" });
  assert.equal((await groupById(fp)).status, "ignored", "one user, however many events");
  await send({ message: "profile broken", component: "Profile", user_id: "u2" });
  await waitFor(async () => (await groupById(fp)).status === "open", { what: "the second user to reopen it" });
  await waitFor(() => received.filter((a) => a.rule.name === "users back").length === 1, { what: "one regression alert" });
  await send({ message: "profile broken", component: "Profile", user_id: "u3" });
  await waitFor(async () => (await groupById(fp)).count === 7, { what: "a later user counted" });
  assert.equal(received.filter((a) => a.rule.name === "users back").length, 1, "once");
  const reopened = (await get(w.mf, `/v1/groups/${fp}/activity`)).body.activity.find((a) => a.kind === "regression");
  assert.equal(reopened.detail.users, 2);
});

test("ignored until N users within a window: users whose latest event is older than the window do not count", async () => {
  await send({ message: "avatar broken", component: "Avatar", user_id: "u1" });
  const fp = (await groupOf("Avatar")).fingerprint;
  assert.equal((await call("PUT", `/v1/groups/${fp}`, { status: "ignored", until: { users: 2, window_seconds: 3600 } })).status, 200);
  await send({ message: "avatar broken", component: "Avatar", user_id: "u1" });
  // Two hours pass for u1: its latest time is moved back rather than the clock forward.
  const twoHoursAgo = new Date(Date.now() - 7200_000).toISOString();
  const moved = await w.db.prepare("UPDATE group_ignore_users SET last_at = ? WHERE fingerprint = ? AND user_id = 'u1'").bind(twoHoursAgo, fp).run();
  assert.equal(moved.meta.changes, 1, "u1 was counted");
  await send({ message: "avatar broken", component: "Avatar", user_id: "u2" });
  await waitFor(async () => (await groupById(fp)).count === 3, { what: "u2's event counted" });
  const waiting = await groupById(fp);
  assert.equal(waiting.status, "ignored", "u1 is outside the hour");
  assert.deepEqual(waiting.ignored_until, { at: null, count: null, users: 2, window_seconds: 3600, events_so_far: null, users_so_far: 1 });
  await send({ message: "avatar broken", component: "Avatar", user_id: "u1" });
  await waitFor(async () => (await groupById(fp)).status === "open", { what: "u1 again, within the hour of u2, to reopen it" });
  await waitFor(() => received.filter((a) => a.group === fp).length === 1, { what: "one alert" });
  const reopened = (await get(w.mf, `/v1/groups/${fp}/activity`)).body.activity.find((a) => a.kind === "regression");
  assert.deepEqual([reopened.detail.users, reopened.detail.window_seconds], [2, 3600]);
});
