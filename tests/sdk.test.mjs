// The JavaScript SDK (sdk/) against the real built worker in workerd: from Node, through a proxy
// that makes the first attempt fail after the worker took it, and from a real page in headless
// Chromium that throws. Nothing of the platform is mocked.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { startWorker, auth, get, waitFor, waitForStored, eventRows } from "./helpers.mjs";
import { createLogger } from "../sdk/src/index.js";

const ROOT = new URL("..", import.meta.url).pathname;
let w;
let workerUrl;

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  workerUrl = String(await w.mf.ready).replace(/\/$/, "");
});
after(async () => {
  await w.mf.dispose();
});

async function createKey(body) {
  const res = await fetch(`${workerUrl}/v1/keys`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(res.status, 201);
  return (await res.json()).key;
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}

/** Forwards to the worker; the first POST reaches the worker but its answer is lost (503). */
async function lossyProxy() {
  const seen = [];
  const proxy = await listen(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const upstream = await fetch(workerUrl + req.url, { method: req.method, headers: { "content-type": req.headers["content-type"], authorization: req.headers.authorization }, body: req.method === "POST" ? body : undefined });
    const text = await upstream.text();
    seen.push({ events: JSON.parse(body).length, upstream: upstream.status });
    if (seen.length === 1) {
      res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
      return res.end('{"error":{"code":"unavailable","message":"lost on the way back"}}');
    }
    res.writeHead(upstream.status, { "content-type": "application/json" });
    res.end(text);
  });
  return { ...proxy, seen };
}

test("Node: 250 events arrive batched and exactly once, though the first answer was a 503", async () => {
  const key = await createKey({ name: "node-sdk", scopes: ["ingest"] });
  const proxy = await lossyProxy();
  const log = createLogger({ endpoint: proxy.url, key, service: "billing", environment: "staging", maxBatchSize: 100, globalHandlers: false, breadcrumbs: false });
  try {
    const ids = [];
    for (let i = 0; i < 250; i++) ids.push(log.info(`sdk e2e ${i}`, { order: i }));
    const result = await log.flush({ timeoutMs: 15000 });
    assert.deepEqual(result, { sent: 250, pending: 0 });
    assert.equal(proxy.seen[0].upstream, 202, "the worker took the first batch");
    assert.ok(proxy.seen.every((r) => r.events <= 100), "batched by count");
    assert.ok(proxy.seen.length >= 4 && proxy.seen.length <= 6, `${proxy.seen.length} requests`);
    await waitForStored(w.db, 250, "message LIKE 'sdk e2e %'");
    const distinct = { n: new Set((await eventRows(w.db, "SELECT event_id FROM events WHERE message LIKE 'sdk e2e %'")).map((r) => r.event_id)).size };
    assert.equal(distinct.n, 250);
    const stored = await get(w.mf, `/v1/logs/${(await eventRows(w.db, "SELECT id FROM events WHERE event_id = ?", ids[7]))[0].id}`);
    assert.equal(stored.body.message, "sdk e2e 7");
    assert.equal(stored.body.service, "billing");
    assert.equal(stored.body.environment, "staging");
    assert.equal(stored.body.context.order, 7);
    assert.equal(log.stats().retries, 100);
  } finally {
    await log.close({ timeoutMs: 0 });
    proxy.server.close();
  }
});

test("Node: an exception is grouped by the worker with its parsed stack", async () => {
  const key = await createKey({ name: "node-sdk-errors", scopes: ["ingest"] });
  const log = createLogger({ endpoint: workerUrl, key, service: "api", globalHandlers: false, breadcrumbs: false });
  function validateToken(t) {
    if (!t) throw new TypeError("token missing");
  }
  for (let i = 0; i < 3; i++) {
    try {
      validateToken(null);
    } catch (e) {
      log.captureException(e, { component: "AuthValidator", request_id: `r${i}` });
    }
  }
  assert.deepEqual(await log.flush(), { sent: 3, pending: 0 });
  await waitForStored(w.db, 3, "message = 'token missing'");
  const page = await get(w.mf, "/v1/logs?component=AuthValidator&error_kind=exception");
  const fingerprints = new Set(page.body.logs.map((e) => e.fingerprint));
  assert.equal(fingerprints.size, 1, "one group");
  const group = await get(w.mf, `/v1/groups/${[...fingerprints][0]}`);
  assert.equal(group.body.count, 3);
  const frames = group.body.events[0].stack_frames;
  assert.equal(frames[0].function, "validateToken");
  assert.equal(frames[0].in_app, true);
  await log.close();
});

test("Worker-style use: nothing leaves until flush(), then one request", async () => {
  const key = await createKey({ name: "worker-sdk", scopes: ["ingest"] });
  let requests = 0;
  const counting = (url, init) => {
    requests++;
    return fetch(url, init);
  };
  const log = createLogger({ endpoint: workerUrl, key, runtime: "worker", fetch: counting, storage: null });
  for (let i = 0; i < 20; i++) log.child({ request_id: "req-w" }).info(`from a worker ${i}`);
  // Worker mode sets no timer, so nothing can leave before flush(), however long this waits.
  await new Promise((r) => setImmediate(r));
  assert.equal(requests, 0);
  assert.deepEqual(await log.flush(), { sent: 20, pending: 0 });
  assert.equal(requests, 1);
  await waitForStored(w.db, 20, "request_id = 'req-w'");
});

test("Cloudflare Workers: an app worker in workerd reports through ctx.waitUntil(logger.flush())", async () => {
  const { Miniflare } = await import("miniflare");
  const key = await createKey({ name: "app-worker", scopes: ["ingest"] });
  const app = new Miniflare({
    modules: [
      // The first module is the worker's entry point.
      {
        type: "ESModule",
        path: "app.js",
        contents: `
          import { createLogger } from "./sdk.js";
          let logger;
          function chargeCard(amount) {
            if (amount <= 0) throw new RangeError("amount must be positive");
          }
          export default {
            async fetch(request, env, ctx) {
              logger ??= createLogger({ endpoint: env.LOGGER_URL, key: env.LOGGER_KEY, service: "edge-app" });
              const log = logger.child({ request_id: request.headers.get("x-request-id") });
              try {
                log.info("charging", { path: new URL(request.url).pathname });
                chargeCard(-1);
                return new Response("ok");
              } catch (e) {
                log.captureException(e, { component: "Billing" });
                return new Response("internal error", { status: 500 });
              } finally {
                ctx.waitUntil(logger.flush());
              }
            },
          };`,
      },
      { type: "ESModule", path: "sdk.js", contents: readFileSync(`${ROOT}sdk/src/index.js`, "utf8") },
    ],
    compatibilityDate: "2026-04-20",
    bindings: { LOGGER_URL: workerUrl, LOGGER_KEY: key },
  });
  try {
    for (const id of ["w-1", "w-2"]) {
      const res = await app.dispatchFetch("http://localhost/charge", { headers: { "x-request-id": id } });
      assert.equal(res.status, 500);
      await res.text();
    }
    await waitForStored(w.db, 4, "service = 'edge-app'");
    const errors = await get(w.mf, "/v1/logs?service=edge-app&error_kind=exception");
    assert.deepEqual(errors.body.logs.map((e) => e.request_id).sort(), ["w-1", "w-2"]);
    assert.equal(errors.body.logs[0].error.type, "RangeError");
    assert.equal(errors.body.logs[0].component, "Billing");
    assert.equal(new Set(errors.body.logs.map((e) => e.fingerprint)).size, 1);
    assert.equal(errors.body.logs[0].context.breadcrumbs, undefined, "no cross-request breadcrumbs in Workers");
  } finally {
    await app.dispose();
  }
});

/** Serves the page and the SDK from another origin than the worker's, as a real site would. */
async function site(keyOf) {
  const sdk = readFileSync(`${ROOT}sdk/src/index.js`);
  const app = `
    function renderCart(cart) { return cart.items.length; }
    export function checkout() { return renderCart(undefined); }
    document.querySelector("#buy").addEventListener("click", () => checkout());
    document.querySelector("#later").addEventListener("click", () => Promise.reject(new RangeError("coupon expired")));
    console.info("shop ready");
  `;
  const page = () => `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>
    <button id="buy">Buy</button><button id="later">Later</button>
    <script type="module">
      import { createLogger } from "/sdk/index.js";
      window.logger = createLogger({ endpoint: ${JSON.stringify(workerUrl)}, key: ${JSON.stringify(keyOf())}, service: "shop-web", release: "2.0.1", flushInterval: 60000 });
      await import("/app.js");
      document.title = "ready";
    </script></body></html>`;
  return listen((req, res) => {
    const [type, body] = req.url === "/" ? ["text/html", page()] : req.url === "/sdk/index.js" ? ["text/javascript", sdk] : req.url === "/app.js" ? ["text/javascript", app] : [null, null];
    if (!type) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": type });
    res.end(body);
  });
}

test("Browser (headless Chromium): a thrown error arrives grouped with its parsed stack; page hide beacons", async () => {
  const { chromium } = await import("playwright-core");
  // The key is bound to the site's origin, which is known once the site listens.
  let key;
  const { server, url: origin } = await site(() => key);
  key = await createKey({ name: "browser-sdk", scopes: ["ingest"], allowed_origins: [origin] });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const shots = `${ROOT}test-artifacts`;
  mkdirSync(shots, { recursive: true });
  try {
    const page = await browser.newPage();
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(origin + "/");
    await page.waitForFunction(() => document.title === "ready");
    await page.click("#buy");
    await page.click("#buy");
    await page.click("#later");
    assert.deepEqual(pageErrors.slice(0, 2).map((m) => /cannot read properties of undefined/i.test(m)), [true, true], "the page itself still sees its errors");

    const logs = await waitFor(async () => {
      const r = await get(w.mf, "/v1/logs?service=shop-web&error_kind=exception");
      return r.body.logs.length >= 3 && r.body.logs;
    }, { what: "the browser's errors" });
    const typeErrors = logs.filter((e) => e.error.type === "TypeError");
    assert.equal(typeErrors.length, 2);
    assert.equal(new Set(typeErrors.map((e) => e.fingerprint)).size, 1, "both clicks, one group");
    assert.equal(typeErrors[0].source_type, "ui");
    assert.equal(typeErrors[0].endpoint, "/");
    assert.equal(typeErrors[0].release, "2.0.1");
    assert.equal(typeErrors[0].context.mechanism, "window.onerror");
    assert.ok(typeErrors[0].context.breadcrumbs.some((b) => b.category === "console" && b.message === "shop ready"));
    const rejection = logs.find((e) => e.error.type === "RangeError");
    assert.equal(rejection.context.mechanism, "unhandledrejection");

    const group = await get(w.mf, `/v1/groups/${typeErrors[0].fingerprint}`);
    assert.equal(group.body.count, 2);
    const frames = group.body.events[0].stack_frames.map((f) => [f.function, f.module, f.in_app]);
    assert.deepEqual(frames.slice(0, 2), [["renderCart", "app.js", true], ["checkout", "app.js", true]], JSON.stringify(frames));

    // Page hide: what is still queued leaves by sendBeacon (?key=, text/plain, no preflight);
    // the page waits 60 s between batches, so nothing but the page hide can send this one.
    await page.evaluate(() => window.logger.info("leaving the shop", { cart: 3 }));
    // Across a reload: when the browser refuses the beacon, the queue waits in localStorage
    // and the next page load sends it, with the same event_id (so never twice).
    const keptId = await page.evaluate(() => {
      navigator.sendBeacon = () => false;
      return window.logger.warn("kept across a reload", { cart: 5 });
    });
    await page.reload();
    await page.waitForFunction(() => document.title === "ready");
    await waitForStored(w.db, 1, "message = 'kept across a reload'");
    assert.equal((await eventRows(w.db, "SELECT event_id FROM events WHERE message = 'kept across a reload'"))[0].event_id, keptId);
    assert.equal(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("edge-logger:")).length), 0, "taken out of storage once sent");

    await page.screenshot({ path: `${shots}/sdk-browser.png` });
    await page.goto("about:blank");
    await waitForStored(w.db, 1, "message = 'leaving the shop'");
    const left = await get(w.mf, "/v1/logs?q=leaving");
    assert.equal(left.body.logs[0].context.cart, 3);
  } finally {
    await browser.close();
    server.close();
  }
});
