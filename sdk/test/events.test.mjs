import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, scrubText, toPlain } from "../src/index.js";
import { fakeFetch, opts } from "./helpers.mjs";

async function sent(fn, extra = {}) {
  const fetch = fakeFetch();
  const log = createLogger(opts({ fetch, ...extra }));
  fn(log);
  await log.flush();
  await log.close();
  return fetch.calls.flatMap((c) => c.events);
}

test("defaults, fields and context: contract fields at the top, the rest under context", async () => {
  const [e] = await sent(
    (log) => log.warn("slow query", { component: "Db", endpoint: "/api/users/42", request_id: "r-1", tags: { region: "eu", shard: 3, skip: null }, duration_ms: 812, context: { sql: "select 1" } }),
    { environment: "staging", service: "api", release: "1.4.2", component: "Default" },
  );
  assert.match(e.event_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a UUIDv7");
  const ms = parseInt(e.event_id.replace(/-/g, "").slice(0, 12), 16);
  assert.ok(Math.abs(ms - Date.now()) < 60_000, "led by the time it was made");
  assert.ok(!Number.isNaN(Date.parse(e.timestamp)));
  assert.deepEqual(
    { level: e.level, message: e.message, environment: e.environment, service: e.service, release: e.release, component: e.component, endpoint: e.endpoint, request_id: e.request_id },
    { level: "warn", message: "slow query", environment: "staging", service: "api", release: "1.4.2", component: "Db", endpoint: "/api/users/42", request_id: "r-1" },
  );
  assert.deepEqual(e.tags, { region: "eu", shard: "3" }, "tags are strings");
  assert.deepEqual(e.context, { sql: "select 1", duration_ms: 812 });
});

test("every level method, minLevel, and child loggers sharing one queue", async () => {
  const events = await sent(
    (log) => {
      for (const level of ["debug", "info", "warn", "error", "critical"]) log[level](level);
      log.child({ request_id: "req-9", user_id: "u1" }).error("in request");
    },
    { minLevel: "info" },
  );
  assert.deepEqual(events.map((e) => e.level), ["info", "warn", "error", "critical", "error"]);
  assert.equal(events[4].request_id, "req-9");
  assert.equal(events[4].user_id, "u1");
});

test("captureException: type, message, stack and cause; any thrown value", async () => {
  const events = await sent((log) => {
    const cause = new Error("ECONNRESET");
    log.captureException(new TypeError("fetch failed", { cause }), { component: "Payments" });
    log.captureException("a string was thrown");
    log.captureException({ code: 42 });
    log.captureException(null);
    log.captureException(new Error("fatal"), { level: "critical" });
  });
  assert.equal(events[0].error.type, "TypeError");
  assert.equal(events[0].message, "fetch failed");
  assert.match(events[0].error.stack, /^TypeError: fetch failed\n\s+at /);
  assert.equal(events[0].error.cause.message, "ECONNRESET");
  assert.equal(events[0].component, "Payments");
  assert.deepEqual(events.slice(1, 4).map((e) => [e.error.type, e.message]), [["NonError", "a string was thrown"], ["NonError", '{"code":42}'], ["NonError", "null"]]);
  assert.equal(events[4].level, "critical");
  assert.ok(events.every((e) => e.level === "error" || e.level === "critical"));
});

test("sampling: one rate or one per level; sampled-out events are counted", async () => {
  const rolls = [0.1, 0.9, 0.4, 0.6];
  const fetch = fakeFetch();
  const log = createLogger(opts({ fetch, sampleRate: 0.5, random: () => rolls.shift() }));
  const kept = ["a", "b", "c", "d"].map((m) => log.info(m));
  assert.deepEqual(kept.map(Boolean), [true, false, true, false]);
  assert.equal(log.stats().sampled_out, 2);
  await log.close();

  const events = await sent(
    (log) => {
      for (let i = 0; i < 50; i++) log.debug(`d${i}`);
      log.error("always");
    },
    { sampleRate: { debug: 0 } },
  );
  assert.deepEqual(events.map((e) => e.message), ["always"]);
});

test("scrubbing before anything leaves the device", () => {
  const cases = [
    ["Authorization: Bearer abcdef0123456789xyz", "Authorization: Bearer [Filtered]"],
    ["token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlX3g here", "token [Filtered] here"],
    ["GET /cb?code=1&access_token=s3cr3t&x=2", "GET /cb?code=1&access_token=[Filtered]&x=2"],
    ["card 4111 1111 1111 1111 declined", "card [Filtered] declined"],
    ["order 1234 5678 9012 3456", "order 1234 5678 9012 3456"], // fails Luhn: not a card
    ["-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "[Filtered]"],
    ["nothing to see", "nothing to see"],
  ];
  for (const [input, want] of cases) assert.equal(scrubText(input), want, input);
  const plain = toPlain({ password: "p", apiKey: "k", api_key: "k", Authorization: "x", cookie: "c", nested: { client_secret: "s", ok: "fine" }, count: 3 });
  assert.deepEqual(plain, { password: "[Filtered]", apiKey: "[Filtered]", api_key: "[Filtered]", Authorization: "[Filtered]", cookie: "[Filtered]", nested: { client_secret: "[Filtered]", ok: "fine" }, count: 3 });
});

test("messages and stacks are scrubbed too", async () => {
  const [e] = await sent((log) => {
    const err = new Error("auth failed for Bearer abcdefghijklmnop");
    log.captureException(err, { url: "https://x.test/?token=zzz" });
  });
  assert.equal(e.message, "auth failed for Bearer [Filtered]");
  assert.doesNotMatch(e.error.stack, /abcdefghijklmnop/);
  assert.equal(e.context.url, "https://x.test/?token=[Filtered]");
});

test("awkward values become plain bounded data", () => {
  const cyclic = { name: "a" };
  cyclic.self = cyclic;
  let deep = {};
  const root = deep;
  for (let i = 0; i < 20; i++) deep = deep.next = {};
  const out = toPlain({ cyclic, big: 12n, nan: NaN, fn() {}, sym: Symbol("s"), when: new Date(0), map: new Map([["k", 1]]), set: new Set([1, 2]), list: Array.from({ length: 500 }, (_, i) => i), root, undef: undefined, sparse: [undefined, 1] });
  assert.equal(out.cyclic.self, "[Circular]");
  assert.equal(out.big, "12");
  assert.equal(out.nan, "NaN");
  assert.ok(!("fn" in out) && !("sym" in out) && !("undef" in out));
  assert.equal(out.when, "1970-01-01T00:00:00.000Z");
  assert.deepEqual(out.map, { k: 1 });
  assert.deepEqual(out.set, [1, 2]);
  assert.equal(out.list.length, 100);
  assert.deepEqual(out.sparse, [null, 1]);
  assert.match(JSON.stringify(out.root), /\[Object\]/, "nesting is cut");
  const shared = { x: 1 };
  assert.deepEqual(toPlain({ a: shared, b: shared }), { a: { x: 1 }, b: { x: 1 } }, "a value seen twice is not a cycle");
});

test("an event never exceeds the worker's 64 KiB", async () => {
  const [e] = await sent((log) => log.error("x".repeat(20000), { blob: "y".repeat(8000), more: Array.from({ length: 100 }, () => "z".repeat(8000)) }));
  const bytes = Buffer.byteLength(JSON.stringify(e));
  assert.ok(bytes <= 60 * 1024, `${bytes} bytes`);
  assert.equal(e.context.sdk_truncated, true);
  assert.equal(e.message.length, 16000, "the message survives; the context gave way");
});

test("beforeSend can change or drop an event", async () => {
  const events = await sent((log) => ["keep", "drop"].forEach((m) => log.info(m)), {
    beforeSend: (e) => (e.message === "drop" ? null : { ...e, tags: { seen: "yes" } }),
  });
  assert.deepEqual(events.map((e) => [e.message, e.tags.seen]), [["keep", "yes"]]);
});

test("nothing the SDK meets is thrown into the app", async () => {
  const hostile = { get boom() { throw new Error("getter"); } };
  const throwingFetch = () => { throw new Error("sync throw"); };
  const log = createLogger(opts({ fetch: throwingFetch, beforeSend: (e) => (e.message === "bs" ? (() => { throw new Error("beforeSend"); })() : e), onError: () => { throw new Error("onError too"); } }));
  assert.doesNotThrow(() => {
    log.info("getter", hostile);
    log.info("bs");
    log.info(Symbol("weird"));
    log.info(undefined, undefined);
    log.error({ toString() { throw new Error("toString"); } });
    log.captureException(Object.create(null));
    log.captureException({ message: "fake", stack: 42 });
    log.addBreadcrumb(null);
    log.child(null).info("child of null");
  });
  const result = await log.flush({ timeoutMs: 100 });
  assert.equal(typeof result.pending, "number");
  assert.ok(log.stats().internal_errors > 0);
  await log.close({ timeoutMs: 0 });
  const hostileOptions = new Proxy({}, { get() { throw new Error("options getter"); } });
  for (const bad of [undefined, null, "nonsense", {}, { endpoint: 42, key: {} }, { maxBatchSize: "lots", sampleRate: "half" }, hostileOptions]) {
    const l = createLogger(bad);
    assert.doesNotThrow(() => l.error("still fine"));
    assert.equal(typeof (await l.flush({ timeoutMs: 10 })).pending, "number");
    await l.close({ timeoutMs: 0 });
  }
});
