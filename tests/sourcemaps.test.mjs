// Source maps end to end: a real bundle built by esbuild from tests/fixtures/sourcemaps, its
// maps uploaded by the real sentry-cli (npm @sentry/cli) and by the plain multipart route, and
// a real minified stack (the bundle run in V8) sent by fetch and by @sentry/node's envelope,
// against the worker in workerd with real local D1 and R2.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";
import { startWorker, post, get, auth, waitFor, waitForStored, assertError, ADMIN_TOKEN } from "./helpers.mjs";
import { bundle, sentryCli as runSentryCli } from "./sourcemap_tools.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = `${ROOT}tests/fixtures/sourcemaps`;
let w;
let url;

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  url = (await w.mf.ready).toString().replace(/\/$/, "");
});
after(async () => {
  await w?.mf.dispose();
});

/** Runs a built file as the page would load it from `https://shop.example/assets/`, calls the
 *  app, and returns the TypeError it throws (a real V8 stack with the minified positions). */
function crash(file, name) {
  const context = vm.createContext({});
  vm.runInContext(readFileSync(file, "utf8"), context, { filename: `https://shop.example/assets/${name}` });
  try {
    context.checkout(["sku-1"]);
  } catch (e) {
    return { type: e.constructor.name, message: e.message, stack: e.stack, debugIds: context._sentryDebugIds };
  }
  throw new Error("the app did not throw");
}

async function sendError(error, extra = {}) {
  const res = await post(w.mf, { level: "error", error: { type: error.type, message: error.message, stack: error.stack, ...(extra.debug_ids ? { debug_ids: extra.debug_ids } : {}) }, ...extra.event });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const [id] = res.body.ids;
  await waitForStored(w.db, 1, "id = ?", id);
  return (await get(w.mf, `/v1/logs/${id}`)).body;
}

const sentryCli = (args, token = ADMIN_TOKEN) => runSentryCli(url, args, token);

const top = (event) => event.error.frames[0];

test("sentry-cli injects and uploads; minified stacks come back original, by release and URL and by debug id", async () => {
  const first = await bundle("build 1");
  const inject = await sentryCli(["sourcemaps", "inject", first.outdir]);
  assert.equal(inject.code, 0, inject.out);
  const upload = await sentryCli(["sourcemaps", "upload", "--release", "1.0.0", "--url-prefix", "~/assets", first.outdir]);
  assert.equal(upload.code, 0, upload.out);
  const listed = await get(w.mf, "/v1/releases/1.0.0/sourcemaps");
  assert.equal(listed.status, 200);
  assert.equal(listed.body.sourcemaps.length, 1, JSON.stringify(listed.body));
  assert.equal(listed.body.sourcemaps[0].url, `~/assets/${first.js}`);
  assert.match(listed.body.sourcemaps[0].debug_id, /^[0-9a-f-]{36}$/);

  const error = crash(first.path, first.js);
  assert.match(error.stack, new RegExp(`${first.js}:\\d+:\\d+`), "a minified stack");
  const byRelease = await sendError(error, { event: { release: "1.0.0" } });
  assert.equal(byRelease.error.symbolication.status, "symbolicated", JSON.stringify(byRelease.error));
  assert.match(top(byRelease).file, /src\/cart\.js$/);
  assert.equal(top(byRelease).line, 5);
  assert.equal(top(byRelease).function, "addToCart");
  assert.equal(top(byRelease).context_line.trim(), "return `${user.id}:${item}`;");
  assert.ok(top(byRelease).in_app);
  assert.match(top(byRelease).minified.url, new RegExp(first.js));
  assert.match(byRelease.error.stack, /at addToCart \(.*src\/cart\.js:5:\d+\)/);
  assert.match(byRelease.error.raw_stack, new RegExp(first.js));

  // No release at all: the debug id the injected code registered finds the map.
  const [file, debugId] = Object.entries(error.debugIds ?? {}).map(([stack, id]) => [stack.match(/https:\/\/\S+?\.js/)[0], id])[0];
  const byDebugId = await sendError(error, { debug_ids: { [file]: debugId } });
  assert.equal(byDebugId.error.symbolication.status, "symbolicated");
  assert.equal(top(byDebugId).function, "addToCart");
});

test("two builds of the same code group together; what cannot be mapped is kept as sent, with the reason", async () => {
  const one = await bundle("group one");
  const two = await bundle("group two");
  assert.notEqual(one.js, two.js, "different hashes");
  for (const [b, release] of [[one, "2.0.0"], [two, "2.0.1"]]) {
    const form = new FormData();
    form.set("url", `~/assets/${b.js}`);
    form.set("sourcemap", new Blob([readFileSync(`${b.path}.map`)]), `${b.js}.map`);
    form.set("file", new Blob([readFileSync(b.path)]), b.js);
    const res = await fetch(`${url}/v1/releases/${release}/sourcemaps`, { method: "POST", headers: auth(), body: form });
    assert.equal(res.status, 201, await res.clone().text());
  }
  const a = await sendError(crash(one.path, one.js), { event: { release: "2.0.0" } });
  const b = await sendError(crash(two.path, two.js), { event: { release: "2.0.1" } });
  assert.equal(top(a).function, "addToCart");
  assert.equal(a.fingerprint, b.fingerprint, "one group across builds");
  const unmapped = await sendError(crash(one.path, one.js), { event: { release: "9.9.9" } });
  assert.equal(unmapped.error.symbolication.status, "unsymbolicated");
  assert.match(unmapped.error.symbolication.reasons[0], /no source map for https:\/\/shop\.example\/assets\/.* in release 9\.9\.9/);
  assert.match(unmapped.error.stack, new RegExp(one.js), "kept as sent");
  const unknownId = await sendError(crash(one.path, one.js), { debug_ids: { [`https://shop.example/assets/${one.js}`]: "00000000-0000-4000-8000-000000000000" } });
  assert.match(unknownId.error.symbolication.reasons[0], /no source map with debug id 00000000-0000-4000-8000-000000000000/);

  // A malformed map: accepted as JSON, refused when used.
  const broken = new FormData();
  broken.set("url", `~/assets/${one.js}`);
  broken.set("sourcemap", new Blob(['{"version":3,"sources":["a.js"],"mappings":"!!!!"}']), "bad.map");
  assert.equal((await fetch(`${url}/v1/releases/3.0.0/sourcemaps`, { method: "POST", headers: auth(), body: broken })).status, 201);
  const malformed = await sendError(crash(one.path, one.js), { event: { release: "3.0.0" } });
  assert.equal(malformed.error.symbolication.status, "unsymbolicated");
  assert.match(malformed.error.symbolication.reasons[0], /malformed/);

  // Removing a release's maps.
  const removed = await w.mf.dispatchFetch("http://localhost/v1/releases/3.0.0/sourcemaps", { method: "DELETE", headers: auth() });
  assert.deepEqual(await removed.json(), { deleted: 1 });
  assert.deepEqual((await get(w.mf, "/v1/releases/3.0.0/sourcemaps")).body, { sourcemaps: [] });
});

test("an event that came before its map is symbolicated when it is read", async () => {
  const late = await bundle("late");
  const sent = await sendError(crash(late.path, late.js), { event: { release: "4.0.0" } });
  assert.equal(sent.error.symbolication?.status ?? "unsymbolicated", "unsymbolicated");
  const form = new FormData();
  form.set("url", `https://shop.example/assets/${late.js}`);
  form.set("sourcemap", new Blob([readFileSync(`${late.path}.map`)]), "late.map");
  assert.equal((await fetch(`${url}/v1/releases/4.0.0/sourcemaps`, { method: "POST", headers: auth(), body: form })).status, 201);
  // The isolate believes "no map" for a minute at most; the read retries past it.
  const read = await waitFor(async () => {
    const e = (await get(w.mf, `/v1/logs/${sent.id}`)).body;
    return e.error.symbolication?.status === "symbolicated" && e;
  }, { timeoutMs: 90_000, intervalMs: 2000, what: "the late map to apply on read" });
  assert.match(top(read).file, /src\/cart\.js$/);
});

test("uploads need the sourcemaps scope; bad uploads are 4xx", async () => {
  const reader = (await post(w.mf, { name: "r", scopes: ["read"] }, { path: "/v1/keys" })).body.key;
  const ci = (await post(w.mf, { name: "ci", scopes: ["sourcemaps"] }, { path: "/v1/keys" })).body.key;
  const form = () => {
    const f = new FormData();
    f.set("url", "~/x.js");
    f.set("sourcemap", new Blob(['{"version":3,"sources":[],"mappings":""}']), "x.map");
    return f;
  };
  const denied = await fetch(`${url}/v1/releases/5.0.0/sourcemaps`, { method: "POST", headers: auth(reader), body: form() });
  assert.equal(denied.status, 403);
  const allowed = await fetch(`${url}/v1/releases/5.0.0/sourcemaps`, { method: "POST", headers: auth(ci), body: form() });
  assert.equal(allowed.status, 201);
  const cliDenied = await sentryCli(["sourcemaps", "upload", "--release", "5.0.0", `${FIXTURE}/src`], reader);
  assert.notEqual(cliDenied.code, 0);
  const noMap = new FormData();
  noMap.set("url", "~/x.js");
  const missing = await fetch(`${url}/v1/releases/5.0.0/sourcemaps`, { method: "POST", headers: auth(), body: noMap });
  assertError({ status: missing.status, body: await missing.json() }, 400, "invalid_parameter");
  const notJson = new FormData();
  notJson.set("url", "~/x.js");
  notJson.set("sourcemap", new Blob(["not json"]), "x.map");
  assert.equal((await fetch(`${url}/v1/releases/5.0.0/sourcemaps`, { method: "POST", headers: auth(), body: notJson })).status, 400);
  const badChunk = new FormData();
  badChunk.set("file", new Blob(["abc"]), "0000000000000000000000000000000000000000");
  assert.equal((await fetch(`${url}/api/0/organizations/acme/chunk-upload/`, { method: "POST", headers: auth(), body: badChunk })).status, 400);
  const assemble = await fetch(`${url}/api/0/organizations/acme/artifactbundle/assemble/`, { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ checksum: "a".repeat(40), chunks: ["b".repeat(40)], projects: ["shop"] }) });
  assert.deepEqual(await assemble.json(), { state: "not_found", missingChunks: ["b".repeat(40)], detail: null });
});

/** Loads a built, injected file into this process as a page loads it, so that its debug id
 *  registration (`_sentryDebugIds`) is where SDKs look for it. */
function load(b) {
  vm.runInThisContext(readFileSync(b.path, "utf8"), { filename: `https://shop.example/assets/${b.js}` });
}

test("@sentry/node's envelope and our SDK send the debug ids; their stacks come back original", async () => {
  const b = await bundle("sdks");
  assert.equal((await sentryCli(["sourcemaps", "inject", b.outdir])).code, 0);
  const upload = await sentryCli(["sourcemaps", "upload", "--release", "7.0.0", "--url-prefix", "~/assets", b.outdir]);
  assert.equal(upload.code, 0, upload.out);
  load(b);
  const ingest = (await post(w.mf, { name: "sdk", scopes: ["ingest"] }, { path: "/v1/keys" })).body.key;

  // Sentry's SDK, release unknown to the worker: only the debug id can find the map.
  const Sentry = await import("@sentry/node");
  Sentry.init({ dsn: `http://${ingest}@${new URL(url).host}/1`, release: "not-uploaded", defaultIntegrations: false, tracesSampleRate: 0 });
  try {
    globalThis.checkout(["sku-9"]);
  } catch (err) {
    Sentry.captureException(err);
  }
  assert.equal(await Sentry.flush(5000), true);
  await Sentry.close(2000);
  const fromSentry = await waitFor(async () => (await get(w.mf, "/v1/logs?release=not-uploaded")).body.logs[0], { what: "the Sentry event" });
  const sentryEvent = (await get(w.mf, `/v1/logs/${fromSentry.id}`)).body;
  assert.equal(Object.keys(sentryEvent.error.debug_ids).length, 1, JSON.stringify(sentryEvent.error));
  assert.equal(sentryEvent.error.symbolication.status, "symbolicated", JSON.stringify(sentryEvent.error.symbolication));
  assert.equal(top(sentryEvent).function, "addToCart");

  // Ours, the same way.
  const { createLogger } = await import("../sdk/src/index.js");
  const log = createLogger({ endpoint: url, key: ingest, release: "also-not-uploaded", globalHandlers: false, breadcrumbs: false });
  try {
    globalThis.checkout(["sku-10"]);
  } catch (err) {
    log.captureException(err);
  }
  await log.flush();
  const fromOurs = await waitFor(async () => (await get(w.mf, "/v1/logs?release=also-not-uploaded")).body.logs[0], { what: "our SDK's event" });
  const ours = (await get(w.mf, `/v1/logs/${fromOurs.id}`)).body;
  assert.equal(ours.error.symbolication.status, "symbolicated", JSON.stringify(ours.error));
  assert.equal(top(ours).function, "addToCart");
});

test("Browser (headless Chromium): our SDK sends the page's debug ids; the worker returns the original frames", async () => {
  const http = await import("node:http");
  const { chromium } = await import("playwright-core");
  const b = await bundle("browser");
  assert.equal((await sentryCli(["sourcemaps", "inject", b.outdir])).code, 0);
  const upload = await sentryCli(["sourcemaps", "upload", "--release", "8.0.0", "--url-prefix", "~/assets", b.outdir]);
  assert.equal(upload.code, 0, upload.out);
  let key;
  const files = { "/sdk/index.js": readFileSync(`${ROOT}sdk/src/index.js`), [`/assets/${b.js}`]: readFileSync(b.path) };
  const server = http.createServer((req, res) => {
    const page = `<!doctype html><html><head><meta charset="utf-8"><title>shop</title></head><body>
      <script src="/assets/${b.js}"></script>
      <script type="module">
        import { createLogger } from "/sdk/index.js";
        const logger = createLogger({ endpoint: ${JSON.stringify(url)}, key: ${JSON.stringify(key)}, release: "not-uploaded-browser", globalHandlers: false, flushInterval: 60000 });
        try { window.checkout(["sku"]); } catch (e) { logger.captureException(e); }
        await logger.flush();
        document.title = "sent";
      </script></body></html>`;
    const body = req.url === "/" ? page : files[req.url];
    res.writeHead(body ? 200 : 404, { "content-type": req.url === "/" ? "text/html" : "text/javascript" });
    res.end(body ?? "");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  key = (await post(w.mf, { name: "shop web", scopes: ["ingest"], allowed_origins: [origin] }, { path: "/v1/keys" })).body.key;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.title === "sent", null, { timeout: 20_000 });
    const sent = await waitFor(async () => (await get(w.mf, "/v1/logs?release=not-uploaded-browser")).body.logs[0], { what: "the browser's event" });
    const event = (await get(w.mf, `/v1/logs/${sent.id}`)).body;
    assert.equal(Object.keys(event.error.debug_ids).length, 1, JSON.stringify(event.error));
    assert.equal(event.error.symbolication.status, "symbolicated", JSON.stringify(event.error.symbolication));
    assert.equal(top(event).function, "addToCart");
    assert.match(top(event).file, /src\/cart\.js$/);
    // (The host is an IP address, which the worker masks in event text: SCRUB_IPS.)
    assert.match(top(event).minified.url, new RegExp(`/assets/${b.js}$`));
  } finally {
    await browser.close();
    server.close();
  }
});
