// Browser behaviour with the browser's globals stood up by hand (this file runs in its own
// process). The real thing, in headless Chromium against the real worker, is tests/sdk.test.mjs.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "../src/index.js";
import { fakeFetch, memoryStorage, opts, respond, until } from "./helpers.mjs";

const beacons = [];
let beaconAnswer = true;
function installBrowser() {
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = "visible";
  const loc = { origin: "https://app.test", pathname: "/checkout", href: "https://app.test/checkout?token=abc" };
  const history = {
    pushState(_s, _t, url) {
      loc.pathname = url;
    },
    replaceState(_s, _t, url) {
      loc.pathname = url;
    },
  };
  for (const [name, value] of Object.entries({ window: win, document: doc, location: loc, history })) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
  Object.defineProperty(globalThis, "navigator", {
    configurable: true,
    value: { userAgent: "TestBrowser/1.0", sendBeacon: (url, body) => (beacons.push({ url, body: JSON.parse(body) }), beaconAnswer) },
  });
  return { win, doc, loc, history };
}

let browser;
beforeEach(() => {
  beacons.length = 0;
  beaconAnswer = true;
  browser = installBrowser();
});

test("uncaught errors and unhandled rejections are captured, with page context", async () => {
  const fetch = fakeFetch();
  const log = createLogger({ endpoint: "https://logger.test", key: "k", fetch, storage: null, breadcrumbs: false, flushInterval: 60000 });
  const err = new TypeError("cart is undefined");
  browser.win.dispatchEvent(Object.assign(new Event("error"), { error: err, message: err.message }));
  browser.win.dispatchEvent(Object.assign(new Event("unhandledrejection"), { reason: new RangeError("late") }));
  browser.win.dispatchEvent(Object.assign(new Event("unhandledrejection"), { reason: "plain string" }));
  // An image that failed to load: no error object, no message. Not an app error.
  browser.win.dispatchEvent(new Event("error"));
  await until(() => fetch.calls.flatMap((c) => c.events).length >= 3, "the three captured errors sent");
  const events = fetch.calls.flatMap((c) => c.events);
  assert.deepEqual(events.map((e) => [e.error.type, e.message, e.context.mechanism, e.context.handled]), [
    ["TypeError", "cart is undefined", "window.onerror", false],
    ["RangeError", "late", "unhandledrejection", false],
    ["NonError", "plain string", "unhandledrejection", false],
  ]);
  assert.equal(events[0].endpoint, "/checkout");
  assert.equal(events[0].source_type, "ui");
  assert.equal(events[0].context.page, "https://app.test/checkout", "no query string: it may hold secrets");
  assert.match(events[0].error.stack, /TypeError: cart is undefined/);
  await log.close();
  browser.win.dispatchEvent(Object.assign(new Event("error"), { error: new Error("after close") }));
  // A handler still attached would have queued it at once.
  assert.equal(log.stats().queued, 0, "close() removes the handlers");
  assert.equal(fetch.calls.flatMap((c) => c.events).length, 3);
});

test("page hide sends the queue by sendBeacon with ?key= as text/plain JSON", async () => {
  const fetch = fakeFetch();
  const log = createLogger({ endpoint: "https://logger.test", key: "elk_abc", fetch, storage: memoryStorage(), flushInterval: 60000, globalHandlers: false });
  const ids = [log.info("one"), log.info("two")];
  browser.win.dispatchEvent(new Event("pagehide"));
  assert.equal(fetch.calls.length, 0);
  assert.equal(beacons.length, 1);
  assert.equal(beacons[0].url, "https://logger.test/v1/logs?key=elk_abc");
  assert.deepEqual(beacons[0].body.map((e) => e.event_id), ids);
  assert.equal(log.stats().queued, 0);
  await log.close();
});

test("what the browser will not beacon survives the reload and is sent with the same event_ids", async () => {
  const storage = memoryStorage();
  beaconAnswer = false;
  const first = createLogger({ endpoint: "https://logger.test", key: "k", fetch: fakeFetch(), storage, flushInterval: 60000, globalHandlers: false });
  const ids = [first.warn("before reload 1"), first.error("before reload 2")];
  browser.doc.visibilityState = "hidden";
  browser.doc.dispatchEvent(new Event("visibilitychange"));
  assert.equal(storage.map.size, 1, "kept in localStorage");
  await first.close({ timeoutMs: 0 });

  browser = installBrowser(); // the next page load
  const fetch = fakeFetch();
  const second = createLogger({ endpoint: "https://logger.test", key: "k", fetch, storage, flushInterval: 60000, globalHandlers: false });
  assert.equal(storage.map.size, 0, "taken out of storage once restored");
  await until(() => fetch.ids().length >= ids.length, "the restored events sent");
  assert.deepEqual(fetch.ids(), ids);
  await second.close();
});

test("stored events are bounded: the newest are kept", async () => {
  const storage = memoryStorage();
  const fetch = fakeFetch([(e) => respond(503, e, { headers: { "retry-after": "600" } })]);
  const log = createLogger({ endpoint: "https://logger.test", key: "k", fetch, storage, maxStoredEvents: 3, flushInterval: 60000, globalHandlers: false, breadcrumbs: false });
  for (let i = 0; i < 10; i++) log.info(`e${i}`);
  await log.flush({ timeoutMs: 100 });
  const stored = JSON.parse([...storage.map.values()][0]).map((j) => JSON.parse(j).message);
  assert.deepEqual(stored, ["e7", "e8", "e9"]);
  await log.close({ timeoutMs: 0 });
});

test("a full or broken localStorage never reaches the app", async () => {
  const storage = { getItem: () => "{not json", setItem: () => { throw new DOMException("quota", "QuotaExceededError"); }, removeItem: () => {} };
  const fetch = fakeFetch([new TypeError("offline")]);
  const log = createLogger({ endpoint: "https://logger.test", key: "k", fetch, storage, flushInterval: 60000, globalHandlers: false });
  log.info("still fine");
  await log.flush({ timeoutMs: 50 });
  browser.win.dispatchEvent(new Event("pagehide"));
  assert.ok(log.stats().internal_errors >= 1);
  await log.close({ timeoutMs: 0 });
});

test("breadcrumbs: console calls, navigations and fetches ride along with the next error", async () => {
  const appFetch = async (url) => new Response("{}", { status: url.includes("missing") ? 404 : 200 });
  globalThis.fetch = appFetch;
  const transport = fakeFetch();
  const originalInfo = console.info;
  const log = createLogger({ endpoint: "https://logger.test", key: "k", fetch: transport, storage: null, flushInterval: 60000, globalHandlers: false });
  assert.notEqual(console.info, originalInfo, "console is watched");
  console.info("loading cart", { items: 2, password: "hunter2" });
  browser.history.pushState({}, "", "/checkout/pay");
  await fetch("https://api.test/cart?session=s3cr3t");
  await fetch("https://api.test/missing", { method: "post" });
  log.captureException(new Error("payment failed"));
  await log.flush();
  const crumbs = transport.calls[0].events[0].context.breadcrumbs;
  assert.deepEqual(crumbs.map((c) => c.category), ["console", "navigation", "fetch", "fetch"]);
  assert.equal(crumbs[0].message, 'loading cart {"items":2,"password":"[Filtered]"}');
  assert.equal(crumbs[1].message, "/checkout → /checkout/pay");
  assert.equal(crumbs[2].message, "GET https://api.test/cart → 200", "query strings are not kept");
  assert.equal(crumbs[3].message, "POST https://api.test/missing → 404");
  assert.equal(crumbs[3].level, "warn");
  await log.close();
  assert.equal(globalThis.fetch, appFetch, "close() puts fetch back");
  assert.equal(console.info, originalInfo, "close() puts console back");
});

test("the SDK's own sends are not fetch breadcrumbs, and the app's fetch keeps its result and its errors", async () => {
  globalThis.fetch = async (url) => {
    if (url.includes("fail")) throw new TypeError("Failed to fetch");
    return new Response("ok", { status: 200 });
  };
  const log = createLogger({ endpoint: "https://logger.test", key: "k", storage: null, flushInterval: 60000, globalHandlers: false });
  const res = await fetch("https://api.test/ok");
  assert.equal(await res.text(), "ok");
  await assert.rejects(fetch("https://api.test/fail"), /Failed to fetch/);
  await fetch("https://logger.test/v1/logs", { method: "POST", body: "[]" });
  assert.equal(log.stats().breadcrumbs, 2);
  await log.close({ timeoutMs: 0 });
});
