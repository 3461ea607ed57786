// Live tail and the search language, through the built worker in workerd on a real port: real
// WebSockets (the `ws` client), the real TailHub Durable Object with the Hibernation API, the
// real queue, shards and D1. No timing decides an outcome: every wait polls with a deadline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { spawn } from "node:child_process";
import { startWorker, post, get, auth, waitFor, waitForStored, assertError, ADMIN_TOKEN } from "./helpers.mjs";

let w;
let base;

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  base = (await w.mf.ready).toString().replace(/\/$/, "");
});
after(async () => {
  await w?.mf.dispose();
});

/** Opens a tail; collects frames, events and how it closed. */
function openTail(params = {}, headers = auth()) {
  const qs = new URLSearchParams(params).toString();
  const ws = new WebSocket(`${base.replace("http", "ws")}/v1/tail${qs ? `?${qs}` : ""}`, { headers });
  const tail = { ws, frames: [], events: [], dropped: 0, closed: null, refused: null, hello: null };
  ws.on("message", (data) => {
    const frame = JSON.parse(data.toString());
    tail.frames.push(frame);
    if (frame.type === "hello") tail.hello = frame;
    if (frame.type === "events") {
      tail.events.push(...frame.events);
      tail.dropped += frame.dropped;
    }
  });
  ws.on("close", (code, reason) => (tail.closed = { code, reason: reason.toString() }));
  ws.on("unexpected-response", (_req, res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => (tail.refused = { status: res.statusCode, body: JSON.parse(body || "null") }));
  });
  ws.on("error", () => {});
  return tail;
}

/** How the server ended the tail: the closing handshake's code and reason. `ws` emits "close"
 *  only when the TCP connection ends, which Miniflare's proxy does ~10 s after the handshake. */
const closedBy = (tail) =>
  waitFor(() => tail.closed ?? (tail.ws._closeFrameReceived ? { code: tail.ws._closeCode, reason: tail.ws._closeMessage.toString() } : null), {
    what: "the server to close the tail",
    seen: () => tail.frames.slice(-2),
  });

const ready = (tail) => waitFor(() => tail.hello, { what: "the hello frame", seen: () => tail });
const lastCursor = (tail) => [...tail.frames].reverse().find((f) => f.cursor)?.cursor;

async function send(events, headers = auth()) {
  const res = await post(w.mf, events, { headers });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.ids;
}

test("two viewers with different queries each get exactly their events", async () => {
  const errors = openTail({ query: "level:>=error service:checkout" });
  const text = openTail({ query: "\"disk full\" !component:Noise" });
  await Promise.all([ready(errors), ready(text)]);
  assert.equal(errors.hello.query, "level:>=error service:checkout");
  const tag = `two-${Date.now()}`;
  await send([
    { message: `${tag} a`, level: "error", service: "checkout" },
    { message: `${tag} b`, level: "info", service: "checkout" },
    { message: `${tag} disk full`, level: "warn", component: "Storage" },
    { message: `${tag} disk full`, level: "fatal", service: "checkout", component: "Noise" },
  ]);
  await waitFor(() => errors.events.length >= 2 && text.events.length >= 1, { what: "both viewers' events", seen: () => [errors.events.length, text.events.length] });
  // Anything late would be a wrong match: one more event that matches both proves the stream moved on.
  await send([{ message: `${tag} disk full end`, level: "error", service: "checkout" }]);
  await waitFor(() => errors.events.length >= 3 && text.events.length >= 2, { what: "the closing event" });
  assert.deepEqual(errors.events.map((e) => e.message), [`${tag} a`, `${tag} disk full`, `${tag} disk full end`]);
  assert.deepEqual(text.events.map((e) => e.message), [`${tag} disk full`, `${tag} disk full end`]);
  assert.equal(errors.dropped + text.dropped, 0);
  errors.ws.close();
  text.ws.close();
});

test("a slow viewer gets a dropped count, the others every event", async () => {
  const slow = openTail({ rate: "3" });
  const fast = openTail({});
  await Promise.all([ready(slow), ready(fast)]);
  const tag = `slow-${Date.now()}`;
  await send(Array.from({ length: 40 }, (_, i) => ({ message: `${tag} ${i}` })));
  await waitFor(() => fast.events.length >= 40 && slow.events.length + slow.dropped >= 40, { what: "40 events accounted", seen: () => [fast.events.length, slow.events.length, slow.dropped] });
  assert.equal(fast.events.length, 40);
  assert.equal(fast.dropped, 0);
  assert.ok(slow.events.length <= 3, `at most a second's worth: ${slow.events.length}`);
  assert.equal(slow.events.length + slow.dropped, 40);
  slow.ws.close();
  fast.ws.close();
});

test("a reconnect with the cursor continues without a gap or a duplicate", async () => {
  const first = openTail({ query: "resume" });
  await ready(first);
  const tag = `resume-${Date.now()}`;
  await send([{ message: `${tag} 1` }, { message: `${tag} 2` }]);
  await waitFor(() => first.events.length >= 2, { what: "the first two" });
  const cursor = lastCursor(first);
  first.ws.close();
  await waitFor(() => first.ws.readyState >= WebSocket.CLOSING, { what: "the close" });
  // Sent while nobody watches: kept by the hub for the resume.
  await send([{ message: `${tag} 3` }, { message: "unrelated" }]);
  await send([{ message: `${tag} 4` }]);
  const second = openTail({ query: "resume", cursor });
  await waitFor(() => second.events.length >= 2, { what: "the missed events", seen: () => second.frames });
  await send([{ message: `${tag} 5` }]);
  await waitFor(() => second.events.length >= 3, { what: "the live one after" });
  const all = [...first.events, ...second.events].map((e) => e.message);
  assert.deepEqual(all, [1, 2, 3, 4, 5].map((n) => `${tag} ${n}`));
  assert.ok(!second.frames.some((f) => f.gap), "no gap");
  second.ws.close();
});

test("revoking the key closes its tail with 4001; a project key tails only its project", async () => {
  const created = await post(w.mf, { name: "tail reader", scopes: ["read"], project: "shop" }, { path: "/v1/keys" });
  assert.equal(created.status, 201);
  const ingest = await post(w.mf, { name: "shop ingest", scopes: ["ingest"], project: "shop" }, { path: "/v1/keys" });
  const shop = openTail({}, auth(created.body.key));
  await ready(shop);
  assert.equal(shop.hello.project, "shop");
  const other = openTail({ project: "other" }, auth(created.body.key));
  await waitFor(() => other.refused, { what: "a 403 for another project" });
  assert.equal(other.refused.status, 403);
  await send([{ message: "shop event" }], auth(ingest.body.key));
  await send([{ message: "not shop" }]);
  await waitFor(() => shop.events.length >= 1, { what: "the shop event" });
  const res = await w.mf.dispatchFetch(`http://localhost/v1/keys/${created.body.id}`, { method: "DELETE", headers: auth() });
  assert.equal(res.status, 200);
  assert.deepEqual(await closedBy(shop), { code: 4001, reason: "key revoked" });
  assert.deepEqual(shop.events.map((e) => e.message), ["shop event"]);
});

test("tickets open a tail without a header; bad requests are refused before the upgrade", async () => {
  const key = (await post(w.mf, { name: "browser reader", scopes: ["read"] }, { path: "/v1/keys" })).body;
  const issued = await post(w.mf, {}, { path: "/v1/tail/ticket", headers: auth(key.key) });
  assert.equal(issued.status, 201);
  assert.match(issued.body.ticket, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const viaTicket = openTail({ ticket: issued.body.ticket, limit: "2" }, {});
  await ready(viaTicket);
  await send([{ message: "t1" }, { message: "t2" }, { message: "t3" }]);
  assert.deepEqual(await closedBy(viaTicket), { code: 4008, reason: "limit reached" });
  assert.equal(viaTicket.events.length, 2);

  const forged = openTail({ ticket: `${issued.body.ticket.split(".")[0]}.AAAA` }, {});
  await waitFor(() => forged.refused, { what: "a forged ticket's 401" });
  assert.equal(forged.refused.status, 401);
  const bad = openTail({ query: "level:loud" });
  await waitFor(() => bad.refused, { what: "a bad query's 400" });
  assert.equal(bad.refused.status, 400);
  assert.match(bad.refused.body.error.message, /column 7 \('level:loud'\)/);
  const ingestOnly = (await post(w.mf, { name: "i", scopes: ["ingest"] }, { path: "/v1/keys" })).body;
  const noRead = openTail({}, auth(ingestOnly.key));
  await waitFor(() => noRead.refused, { what: "an ingest key's 403" });
  assert.equal(noRead.refused.status, 403);
  const plain = await get(w.mf, "/v1/tail");
  assertError(plain, 426, "upgrade_required");
});

test("query= gives what the parameters give, on logs, groups and stats", async () => {
  const tag = `q${Date.now()}`;
  await send([
    { message: `${tag} checkout failed`, level: "error", service: "checkout", component: "Cart", tags: { region: "eu-west" } },
    { message: `${tag} checkout slow`, level: "warn", service: "checkout", component: "Cart", tags: { region: "us-east" } },
    { message: `${tag} login ok`, level: "info", service: "auth", component: "Login" },
  ]);
  await waitForStored(w.db, 3, "message LIKE ?", `${tag}%`);
  const messages = async (path) => {
    const res = await get(w.mf, path);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.logs.map((e) => e.message).sort();
  };
  const q = (s) => `/v1/logs?query=${encodeURIComponent(`${tag} ${s}`)}`;
  assert.deepEqual(await messages(q("service:checkout level:>=error")), await messages(`/v1/logs?q=${tag}&service=checkout&min_level=error`));
  assert.deepEqual(await messages(q("tag[region]:eu-west")), await messages(`/v1/logs?q=${tag}&tag.region=eu-west`));
  assert.deepEqual(await messages(q("!service:checkout")), [`${tag} login ok`]);
  assert.deepEqual(await messages(q("region:*-east")), [`${tag} checkout slow`]);
  assert.deepEqual(await messages(q("component:[Cart,Login] -slow")), [`${tag} checkout failed`, `${tag} login ok`]);
  assert.deepEqual(await messages(q("has:region priority:>=0")), [`${tag} checkout failed`, `${tag} checkout slow`]);
  assert.deepEqual(await messages(q("timestamp:>-1h level:[warn,info]")), [`${tag} checkout slow`, `${tag} login ok`]);

  const groups = await get(w.mf, `/v1/groups?query=${encodeURIComponent("is:unresolved level:>=error component:Cart")}`);
  assert.equal(groups.status, 200);
  assert.ok(groups.body.groups.some((g) => g.title.startsWith(`${tag} checkout failed`)));
  const stats = await get(w.mf, `/v1/stats?bucket=1m&by=level&query=${encodeURIComponent("component:Cart level:>=warn")}`);
  const byParams = await get(w.mf, `/v1/stats?bucket=1m&by=level&component=Cart&level=warn,error,critical,alert,fatal,emergency`);
  assert.deepEqual(stats.body.totals, byParams.body.totals);

  const bad = await get(w.mf, `/v1/logs?query=${encodeURIComponent("service:a level:loud")}`);
  assertError(bad, 400, "invalid_parameter");
  assert.match(bad.body.error.message, /at column 17 \('level:loud'\)/);
  assertError(await get(w.mf, `/v1/groups?query=region:eu`), 400, "invalid_parameter");
  assertError(await get(w.mf, `/v1/stats?query=${encodeURIComponent("!level:info")}`), 400, "invalid_parameter");
});

test("the admin token tails too, and the tail sees events of every ingest format", async () => {
  const admin = openTail({ query: "otlp" }, { authorization: `Bearer ${ADMIN_TOKEN}` });
  await ready(admin);
  const now = String(BigInt(Date.now()) * 1000000n);
  const otlp = await w.mf.dispatchFetch("http://localhost/otlp/v1/logs", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords: [{ timeUnixNano: now, severityText: "ERROR", body: { stringValue: "from otlp" } }] }] }] }),
  });
  assert.equal(otlp.status, 200);
  await send([{ message: "from json" }]);
  await waitFor(() => admin.events.length >= 1, { what: "the OTLP event" });
  assert.deepEqual(admin.events.map((e) => e.message), ["from otlp"]);
  admin.ws.close();
});

/** Runs the SDK's command line (as `npx edge-logger` does) and collects its output. */
function cli(args) {
  const child = spawn(process.execPath, [new URL("../sdk/bin/edge-logger.js", import.meta.url).pathname, ...args], {
    env: { ...process.env, EDGE_LOGGER_URL: base, EDGE_LOGGER_KEY: ADMIN_TOKEN, NO_COLOR: "1" },
  });
  const run = { stdout: "", stderr: "", code: null };
  child.stdout.on("data", (c) => (run.stdout += c));
  child.stderr.on("data", (c) => (run.stderr += c));
  run.done = new Promise((resolve) => child.on("close", (code) => resolve((run.code = code))));
  run.kill = () => child.kill();
  return run;
}

test("the command line tails and searches against the worker", async () => {
  const tag = `cli${Date.now()}`;
  const follow = cli(["tail", `${tag} level:>=warn`, "--json", "--limit", "2"]);
  await waitFor(() => follow.stderr.includes("tailing"), { what: "the CLI's tail to open", seen: () => follow });
  await send([{ message: `${tag} one`, level: "error" }, { message: `${tag} quiet`, level: "info" }, { message: `${tag} two`, level: "warn" }, { message: `${tag} three`, level: "fatal" }]);
  assert.equal(await follow.done, 0, follow.stderr);
  assert.deepEqual(follow.stdout.trim().split("\n").map((l) => JSON.parse(l).message), [`${tag} one`, `${tag} two`]);

  await waitForStored(w.db, 4, "message LIKE ?", `${tag}%`);
  const found = cli(["search", `${tag} !level:info`, "--since", "1h"]);
  assert.equal(await found.done, 0, found.stderr);
  const lines = found.stdout.trim().split("\n");
  assert.equal(lines.length, 3);
  // Newest first; these share one received_at, so their order among themselves is the ids'.
  const fatal = lines.find((l) => l.includes("three"));
  assert.match(fatal, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z FATAL production ${tag} three$`));
  assert.ok(!lines.some((l) => l.includes("quiet")));
  const refused = cli(["search", "level:loud"]);
  assert.equal(await refused.done, 1);
  assert.match(refused.stderr, /400: query: level 'loud' is unknown/);
});

test("Loki's tail: Grafana's live stream gets Loki frames of what its log query keeps", async () => {
  const query = encodeURIComponent('{service="loki-tail"} |= "boom" | logfmt | code>=500');
  const ws = new WebSocket(`${base.replace("http", "ws")}/loki/api/v1/tail?query=${query}`, { headers: auth() });
  const frames = [];
  ws.on("message", (data) => frames.push(JSON.parse(data.toString())));
  ws.on("error", () => {});
  await new Promise((resolve) => ws.on("open", resolve));
  await send([
    { message: "code=500 boom", service: "loki-tail", level: "error" },
    { message: "code=200 boom", service: "loki-tail" },
    { message: "code=503 quiet", service: "loki-tail", level: "error" },
    { message: "code=500 boom", service: "another" },
  ]);
  await waitFor(() => frames.length > 0, { what: "a Loki frame" });
  const values = frames.flatMap((f) => f.streams.flatMap((s) => s.values));
  assert.deepEqual(values.map((v) => v[1]), ["code=500 boom"]);
  assert.match(values[0][0], /^\d{19}$/, "nanoseconds as a string");
  const stream = frames.find((f) => f.streams.length).streams[0].stream;
  assert.deepEqual([stream.service, stream.level, stream.code], ["loki-tail", "error", "500"]);
  assert.ok(frames.every((f) => "dropped_entries" in f && !("type" in f)), "only Loki's frames");
  ws.close();
  const metric = await w.mf.dispatchFetch(`http://localhost/loki/api/v1/tail?query=${encodeURIComponent('rate({a="b"}[1m])')}`, { headers: { ...auth(), upgrade: "websocket" } });
  assertError({ status: metric.status, body: await metric.json() }, 400, "invalid_parameter");
});
