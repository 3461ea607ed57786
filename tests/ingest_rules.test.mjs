// Drop and sample rules at ingest, through the real worker with its real queue consumer, D1
// and shards: a drop rule on one service's debug drops exactly those events and nothing else,
// before the queue; a sample keyed by trace keeps whole traces and about its rate; errors are
// kept from sampling; hits are counted and listed; /metrics counts them by project and rule;
// every bad body is a 400 naming its field.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, auth, waitForStored, eventRows, assertError } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.mf.dispose();
});

async function addRule(body) {
  const res = await post(w.mf, body, { path: "/v1/ingest-rules" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

async function del(path) {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, { method: "DELETE", headers: auth() });
  return { status: res.status, body: await res.json() };
}

test("a drop rule on one service's debug drops exactly those, before the queue", async () => {
  const rule = await addRule({ query: "level:debug service:checkout", action: "drop" });
  const run = `drop-${Date.now()}`;
  const events = [
    { message: "debug of checkout", level: "debug", service: "checkout", tags: { run } },
    { message: "info of checkout", level: "info", service: "checkout", tags: { run } },
    { message: "debug of api", level: "debug", service: "api", tags: { run } },
    { message: "another debug of checkout", level: "debug", service: "checkout", tags: { run } },
  ];
  const res = await post(w.mf, events);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  assert.equal(res.body.accepted, 2);
  assert.deepEqual(res.body.dropped.map((d) => [d.index, d.rule, d.reason]), [[0, rule.id, "dropped"], [3, rule.id, "dropped"]]);
  await waitForStored(w.db, 2, "json_extract(data, '$.tags.run') = ?", run);
  const stored = (await get(w.mf, `/v1/logs?tag.run=${run}`)).body.logs.map((e) => e.message).sort();
  assert.deepEqual(stored, ["debug of api", "info of checkout"]);
  // A request of only dropped events is answered, nothing to send again.
  const only = await post(w.mf, { message: "debug of checkout again", level: "debug", service: "checkout" });
  assert.equal(only.status, 202, JSON.stringify(only.body));
  assert.equal(only.body.accepted, 0);
  const listed = (await get(w.mf, "/v1/ingest-rules")).body.rules.find((r) => r.id === rule.id);
  assert.deepEqual(listed.hits, { dropped: 3, sampled_out: 0 });
  const metrics = await (await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() })).text();
  assert.match(metrics, new RegExp(`edge_logger_events_dropped_total\\{project="",rule="${rule.id}"\\} 3`));
  assert.equal((await del(`/v1/ingest-rules/${rule.id}`)).status, 200);
  const after = await post(w.mf, { message: "debug of checkout, rule gone", level: "debug", service: "checkout", tags: { run } });
  assert.equal(after.body.accepted, 1);
});

test("sample(0.1) keyed by trace keeps whole traces, about a tenth, and every error", async () => {
  const rule = await addRule({ query: "service:sampled", action: "sample(0.1)" });
  const run = `sample-${Date.now()}`;
  const traces = 1000;
  const events = [];
  for (let t = 0; t < traces; t++) {
    for (let span = 0; span < 3; span++) events.push({ message: `span ${span}`, service: "sampled", trace_id: `${run}-${t}`, tags: { run } });
  }
  let kept = 0;
  for (let i = 0; i < events.length; i += 300) {
    const res = await post(w.mf, events.slice(i, i + 300));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    kept += res.body.accepted;
    assert.ok(res.body.dropped.every((d) => d.reason === "sampled_out" && d.rule === rule.id));
  }
  await waitForStored(w.db, kept, "json_extract(data, '$.tags.run') = ?", run);
  const rows = await eventRows(w.db, "SELECT trace_id, count(*) AS n FROM events WHERE json_extract(data, '$.tags.run') = ? GROUP BY trace_id", run);
  assert.ok(rows.every((r) => r.n === 3), "a kept trace is kept whole");
  assert.ok(rows.length >= 70 && rows.length <= 130, `about 10 % of ${traces} traces: ${rows.length}`);
  const error = await post(w.mf, { message: "sampled service failed", level: "error", service: "sampled", trace_id: `${run}-err` });
  assert.equal(error.body.accepted, 1, "errors are kept from sampling");
  assert.equal((await del(`/v1/ingest-rules/${rule.id}`)).status, 200);
});

test("every bad rule body is a 400 naming its field; only admins add rules", async () => {
  for (const [body, field] of [
    [{ action: "drop" }, "query"],
    [{ query: "x" }, "action"],
    [{ query: "x", action: "explode" }, "action"],
    [{ query: "x", action: "sample" }, "rate"],
    [{ query: "x", action: "sample", rate: 2 }, "rate"],
    [{ query: "x", action: "drop", key: "color" }, "key"],
    [{ query: "level:", action: "drop" }, "query"],
    [{ query: "x", action: "drop", expires_at: "soon" }, "expires_at"],
    [{ query: "x", action: "drop", extra: 1 }, "extra"],
  ]) {
    const res = await post(w.mf, body, { path: "/v1/ingest-rules" });
    assertError(res, 400, "invalid_parameter");
    assert.match(res.body.error.message, new RegExp(field), JSON.stringify(body));
  }
  assertError(await post(w.mf, "{", { path: "/v1/ingest-rules" }), 400, "invalid_json");
  const key = await post(w.mf, { name: "reader", scopes: ["read"] }, { path: "/v1/keys" });
  assertError(await post(w.mf, { query: "x", action: "drop" }, { path: "/v1/ingest-rules", headers: auth(key.body.key) }), 403, "forbidden");
  assertError(await del("/v1/ingest-rules/nope"), 404, "not_found");
});
