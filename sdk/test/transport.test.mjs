import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger, retryAfterMs } from "../src/index.js";
import { fakeFetch, respond, opts, until, fakeClock } from "./helpers.mjs";

test("events go in batches by count, as JSON arrays with the key as a bearer token", async () => {
  const fetch = fakeFetch();
  const log = createLogger(opts({ fetch, maxBatchSize: 3, flushInterval: 60000 }));
  for (let i = 0; i < 7; i++) log.info(`m${i}`);
  // A full batch leaves at once, long before the 60 s interval; what queued meanwhile follows it.
  await until(() => fetch.calls.length >= 2, "two full batches sent without waiting for the interval");
  assert.deepEqual(fetch.calls.slice(0, 2).map((c) => c.events.length), [3, 3]);
  assert.equal(fetch.calls[0].url, "https://logger.test/v1/logs");
  assert.equal(fetch.calls[0].init.headers.authorization, "Bearer elk_test");
  assert.equal(fetch.calls[0].init.headers["content-type"], "application/json");
  assert.deepEqual(await log.flush(), { sent: 7, pending: 0 });
  assert.deepEqual(fetch.calls.map((c) => c.events.length), [3, 3, 1], "never more than maxBatchSize");
  assert.deepEqual(fetch.calls.flatMap((c) => c.events.map((e) => e.message)), ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]);
  await log.close();
});

test("a partial batch leaves after flushInterval", async () => {
  const clock = fakeClock();
  const fetch = fakeFetch([], clock.now);
  const log = createLogger(opts({ fetch, flushInterval: 40, now: clock.now, timers: clock }));
  const start = clock.now();
  log.info("a");
  log.warn("b");
  await clock.advance(39);
  assert.equal(fetch.calls.length, 0, "not before the interval");
  await clock.advance(1);
  await until(() => fetch.calls.length === 1, "the partial batch sent at the interval");
  assert.equal(fetch.calls[0].at - start, 40);
  assert.deepEqual(fetch.calls.map((c) => c.events.map((e) => e.level)), [["info", "warn"]]);
  await log.close();
});

test("a 503 is retried after Retry-After with the same event_ids, so the worker stores them once", async () => {
  const clock = fakeClock();
  const fetch = fakeFetch([(events) => respond(503, events, { headers: { "retry-after": "0.3" } }), 202], clock.now);
  const log = createLogger(opts({ fetch, flushInterval: 10, now: clock.now, timers: clock }));
  const ids = [log.error("boom"), log.info("x")];
  await clock.advance(10);
  await until(() => fetch.calls.length === 1, "the first send");
  await clock.advance(299);
  assert.equal(fetch.calls.length, 1, "waits as told");
  await clock.advance(1);
  await until(() => fetch.calls.length === 2, "the retry");
  assert.equal(fetch.calls[1].at - fetch.calls[0].at, 300, "Retry-After honoured to the millisecond");
  assert.deepEqual(fetch.calls[1].events.map((e) => e.event_id), ids);
  assert.deepEqual(fetch.calls[0].events, fetch.calls[1].events, "the same bytes again");
  const s = log.stats();
  assert.equal(s.sent, 2);
  assert.equal(s.retries, 2);
  await log.close();
});

test("429 without Retry-After and network failures back off exponentially", async () => {
  const clock = fakeClock();
  const fetch = fakeFetch([(e) => respond(429, e), new TypeError("network down"), (e) => respond(502, e), 202], clock.now);
  const errors = [];
  const log = createLogger(opts({ fetch, retryBaseMs: 40, random: () => 1, now: clock.now, timers: clock, onError: (e) => errors.push(e) }));
  log.info("persistent");
  const result = await clock.drive(log.flush({ timeoutMs: 5000 }));
  assert.deepEqual(result, { sent: 1, pending: 0 });
  const gaps = fetch.calls.slice(1).map((c, i) => c.at - fetch.calls[i].at);
  assert.deepEqual(gaps, [40, 80, 160], "doubling delays");
  assert.ok(errors.some((e) => /network down/.test(e.message)), "the app may hear of it through onError");
  await log.close();
});

test("per-event refusals in a 202: invalid ones are dropped, unqueued ones retried", async () => {
  const fetch = fakeFetch([
    (e) => respond(202, e, { errors: [{ index: 0, code: "invalid_event", message: "bad" }, { index: 2, code: "enqueue_failed", message: "later" }], headers: { "retry-after": "0" } }),
    202,
  ]);
  const log = createLogger(opts({ fetch }));
  log.info("refused");
  log.info("fine");
  log.info("unqueued");
  await log.flush();
  assert.deepEqual(fetch.calls.map((c) => c.events.map((e) => e.message)), [["refused", "fine", "unqueued"], ["unqueued"]]);
  const s = log.stats();
  assert.equal(s.sent, 2);
  assert.equal(s.rejected, 1);
  await log.close();
});

test("400/401 are not retried: the events are counted as rejected and onError hears of it", async () => {
  const fetch = fakeFetch([(e) => respond(401, e)]);
  const errors = [];
  const log = createLogger(opts({ fetch, onError: (e) => errors.push(e) }));
  log.info("a");
  log.info("b");
  assert.deepEqual(await log.flush(), { sent: 0, pending: 0 });
  assert.equal(fetch.calls.length, 1);
  assert.equal(log.stats().rejected, 2);
  assert.match(errors[0].message, /HTTP 401/);
  await log.close();
});

test("a 413 splits the batch", async () => {
  const fetch = fakeFetch([(e) => (e.length > 2 ? respond(413, e) : respond(202, e))]);
  const log = createLogger(opts({ fetch }));
  for (let i = 0; i < 5; i++) log.info(`e${i}`);
  await log.flush();
  assert.deepEqual(fetch.calls.map((c) => c.events.length), [5, 2, 2, 1]);
  assert.equal(log.stats().sent, 5);
  await log.close();
});

test("the memory queue is capped: the oldest are dropped and counted", async () => {
  const fetch = fakeFetch();
  const log = createLogger(opts({ fetch, maxQueueSize: 5 }));
  for (let i = 0; i < 8; i++) log.info(`e${i}`);
  assert.equal(log.stats().dropped, 3);
  assert.equal(log.stats().queued, 5);
  await log.flush();
  assert.deepEqual(fetch.calls[0].events.map((e) => e.message), ["e3", "e4", "e5", "e6", "e7"]);
  await log.close();
});

test("an event is given up after maxAttempts and counted as failed", async () => {
  const fetch = fakeFetch([new TypeError("offline")]);
  const clock = fakeClock();
  const log = createLogger(opts({ fetch, maxAttempts: 3, retryBaseMs: 1, now: clock.now, timers: clock }));
  log.info("never");
  assert.deepEqual(await clock.drive(log.flush({ timeoutMs: 2000 }), { step: 1 }), { sent: 0, pending: 0 });
  assert.equal(fetch.calls.length, 3);
  assert.equal(log.stats().failed, 1);
  await log.close();
});

test("flush gives up at its timeout when the worker asks to wait longer, and keeps the events", async () => {
  const fetch = fakeFetch([(e) => respond(503, e, { headers: { "retry-after": "120" } })]);
  const clock = fakeClock();
  const log = createLogger(opts({ fetch, now: clock.now, timers: clock }));
  log.info("waits");
  const started = clock.now();
  // No time is advanced: flush must see at once that 120 s is past its 200 ms and return.
  assert.deepEqual(await log.flush({ timeoutMs: 200 }), { sent: 0, pending: 1 });
  assert.equal(clock.now(), started);
  await log.close({ timeoutMs: 0 });
});

test("Worker mode uses no timers: nothing leaves until flush()", async () => {
  const fetch = fakeFetch();
  const clock = fakeClock();
  const log = createLogger({ endpoint: "https://logger.test/v1/logs", key: "k", fetch, runtime: "worker", storage: null, now: clock.now, timers: clock });
  for (let i = 0; i < 150; i++) log.info(`w${i}`);
  assert.equal(clock.pending(), 0, "no timer set");
  await clock.advance(600_000);
  assert.equal(fetch.calls.length, 0);
  const done = await log.flush();
  assert.deepEqual(done, { sent: 150, pending: 0 });
  assert.deepEqual(fetch.calls.map((c) => c.events.length), [100, 50]);
  assert.equal(fetch.calls[0].url, "https://logger.test/v1/logs", "a full ingest URL is used as it is");
});

test("Retry-After: seconds or an HTTP date", () => {
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs("0"), 0);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(retryAfterMs("soon"), null);
  assert.equal(retryAfterMs(null), null);
});
