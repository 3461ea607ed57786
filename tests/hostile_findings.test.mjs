// What probing as an attacker found, each through the real worker (workerd, real local D1,
// Durable Objects, KV, Queues, R2) and, for source maps, the real sentry-cli: requests that
// multiplied into memory or storage, limits a streamed body slipped past, secrets stored in
// clear, channels that reached internal addresses, ids and caches shared across projects, user
// input answered 5xx, and keys accepted where they should not be.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { gzipSync } from "node:zlib";
import { startWorker, post, get, auth, waitFor, waitForStored, eventRows, ADMIN_TOKEN } from "./helpers.mjs";
import { bundle, sentryCli } from "./sourcemap_tools.mjs";

let w;
let url;
const keys = {};

async function createKey(body) {
  const res = await post(w.mf, body, { path: "/v1/keys" });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.key;
}

before(async () => {
  // Loopback receivers are allowed only where a test says so: here they are not.
  w = await startWorker({ bindings: { ALERT_ALLOW_LOOPBACK: "" }, extra: { host: "127.0.0.1", port: 0 } });
  url = (await w.mf.ready).toString().replace(/\/$/, "");
  keys.shopIngest = await createKey({ name: "shop ingest", scopes: ["ingest"], project: "shop" });
  keys.shopRead = await createKey({ name: "shop read", scopes: ["read"], project: "shop" });
  keys.webRead = await createKey({ name: "web read", scopes: ["read"], project: "web" });
  keys.shopMaps = await createKey({ name: "shop maps", scopes: ["sourcemaps"], project: "shop" });
  keys.webMaps = await createKey({ name: "web maps", scopes: ["sourcemaps"], project: "web" });
  keys.ingest = await createKey({ name: "any ingest", scopes: ["ingest"] });
  keys.reader = await createKey({ name: "any read", scopes: ["read"] });
});
after(async () => {
  await w?.mf.dispose();
});

function bearer(key) {
  return { authorization: `Bearer ${key}` };
}

async function send(path, body, headers) {
  const res = await w.mf.dispatchFetch(`${url}${path}`, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, text, json: text.startsWith("{") ? JSON.parse(text) : null };
}

test("a Loki label shared by 10,000 lines is refused before it is copied into each: 413, and nothing stored", async () => {
  const label = "x".repeat(40 * 1024);
  const values = Array.from({ length: 10_000 }, (_, i) => [`${1764842400000000000 + i}`, `line ${i}`]);
  const body = JSON.stringify({ streams: [{ stream: { service: "api", big: label }, values }] });
  const res = await send("/loki/api/v1/push", body, { ...auth(), "content-type": "application/json" });
  assert.equal(res.status, 413, res.text.slice(0, 300));
  assert.match(res.json.error.message, /once mapped/);
  // A label too large for even one event refuses each line alone, as event_too_large.
  const huge = JSON.stringify({ streams: [{ stream: { service: "api", big: "y".repeat(70 * 1024) }, values: [["1764842400000000000", "one"]] }] });
  assert.equal((await send("/loki/api/v1/push", huge, { ...auth(), "content-type": "application/json" })).status, 400);
  const stored = await eventRows(w.db, "SELECT count(*) AS n FROM events WHERE message LIKE 'line %' OR message = 'one'");
  assert.equal(stored.reduce((n, r) => n + r.n, 0), 0);
});

test("an OTLP resource attribute shared by 300 records cannot multiply into megabytes of storage", async () => {
  const attribute = { key: "big", value: { stringValue: "z".repeat(60 * 1024) } };
  const logRecords = Array.from({ length: 300 }, (_, i) => ({ timeUnixNano: `${1764842400000000000 + i}`, severityNumber: 9, body: { stringValue: `otlp record ${i}` } }));
  const body = JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "api" } }, attribute] }, scopeLogs: [{ logRecords }] }] });
  const res = await send("/otlp/v1/logs", body, { ...auth(), "content-type": "application/json" });
  assert.equal(res.status, 413, res.text.slice(0, 300));
  const stored = await eventRows(w.db, "SELECT count(*) AS n FROM events WHERE message LIKE 'otlp record %'");
  assert.equal(stored.reduce((n, r) => n + r.n, 0), 0);
});

test("the 64 KiB event limit holds for every format: OTLP, Sentry envelopes and _bulk refuse a 70 KiB event alone", async () => {
  const big = "b".repeat(70 * 1024);
  const otlp = JSON.stringify({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords: [
    { severityNumber: 9, body: { stringValue: big } },
    { severityNumber: 9, body: { stringValue: "otlp small neighbour" } },
  ] }] }] });
  const o = await send("/otlp/v1/logs", otlp, { ...auth(), "content-type": "application/json" });
  assert.equal(o.status, 200, o.text);
  assert.equal(String(o.json.partialSuccess.rejectedLogRecords), "1", o.text);
  const bulk = `{"index":{}}\n${JSON.stringify({ message: big })}\n{"index":{}}\n{"message":"bulk small neighbour"}\n`;
  const b = await send("/_bulk", bulk, { ...auth(), "content-type": "application/x-ndjson" });
  assert.equal(b.status, 200, b.text);
  assert.equal(b.json.items[0].index.status, 400);
  assert.match(b.json.items[0].index.error.reason, /64 KiB/);
  assert.equal(b.json.items[1].index.status, 201);
  const event = JSON.stringify({ event_id: "a".repeat(32), message: big, level: "error" });
  const envelope = `${JSON.stringify({ event_id: "a".repeat(32) })}\n${JSON.stringify({ type: "event", length: Buffer.byteLength(event) })}\n${event}\n`;
  const s = await send("/api/1/envelope/", envelope, { ...auth(), "content-type": "application/x-sentry-envelope" });
  assert.equal(s.status, 400, s.text);
  assert.match(s.text, /event_too_large/);
  await waitFor(async () => (await eventRows(w.db, "SELECT count(*) AS n FROM events WHERE message LIKE '% small neighbour'")).reduce((n, r) => n + r.n, 0) === 2, { what: "the small neighbours stored" });
  const large = await eventRows(w.db, "SELECT count(*) AS n FROM events WHERE length(message) > 60000");
  assert.equal(large.reduce((n, r) => n + r.n, 0), 0);
});

test("an artifact bundle of 1,025 or 1,040 chunks is a 413, not an overflow or a 500", async () => {
  for (const count of [1025, 1040]) {
    const chunks = Array.from({ length: count }, (_, i) => i.toString(16).padStart(40, "0"));
    const res = await send("/api/0/organizations/acme/artifactbundle/assemble/", JSON.stringify({ checksum: "c".repeat(40), chunks }), { ...auth(), "content-type": "application/json" });
    assert.equal(res.status, 413, res.text);
    assert.equal(res.json.error.code, "payload_too_large");
  }
});

/** POSTs `bytes` of multipart body chunked (no Content-Length for the worker to check first)
 *  over real HTTP, and resolves with the status the worker answered. */
function postChunked(path, bytes, head, tail, contentType) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method: "POST", headers: { ...auth(), "content-type": contentType, "transfer-encoding": "chunked" } });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    // The worker may answer and close before the body is all sent: that is the point.
    req.on("error", (e) => (e.code === "EPIPE" || e.code === "ECONNRESET" ? null : reject(e)));
    let sent = 0;
    const piece = Buffer.alloc(1 << 20, 120);
    const pump = () => {
      if (sent === 0) req.write(head);
      while (sent < bytes) {
        sent += piece.length;
        if (!req.write(piece)) return req.once("drain", pump);
      }
      req.end(tail);
    };
    pump();
  });
}

test("multipart limits hold for chunked bodies too: a 60 MiB map upload and a 24 MiB chunk upload are 413s", async () => {
  const boundary = "edgeloggerboundary";
  const contentType = `multipart/form-data; boundary=${boundary}`;
  const tail = `\r\n--${boundary}--\r\n`;
  const upload = `--${boundary}\r\nContent-Disposition: form-data; name="url"\r\n\r\n~/app.js\r\n--${boundary}\r\nContent-Disposition: form-data; name="sourcemap"; filename="app.js.map"\r\n\r\n`;
  assert.equal(await postChunked("/v1/releases/1.0.0/sourcemaps", 60 << 20, upload, tail, contentType), 413);
  const chunk = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${"d".repeat(40)}"\r\n\r\n`;
  assert.equal(await postChunked("/api/0/organizations/acme/chunk-upload/", 24 << 20, chunk, tail, contentType), 413);
  const listed = await get(w.mf, "/v1/releases/1.0.0/sourcemaps");
  assert.deepEqual(listed.body.sourcemaps, []);
});

test("secrets are scrubbed wherever they hide: provider tokens, connection strings, key names, card numbers, pair lists, any depth", async () => {
  let deep = { password: "deep-secret-value" };
  for (let i = 0; i < 40; i++) deep = { next: deep };
  const event = {
    message: "tokens github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRS rk_live_51H8abcdefghijklmnopqrstu AIzaSyD-abcdefghijklmnopqrstuvwxyz12345 and https://user:urlpass99@api.example.com/x",
    error: { type: "AuthError ghp_abcdefghijklmnopqrstuvwxyz0123456789", message: "db postgres://admin:pgpass77@db.internal/shop" },
    context: {
      password_confirmation: "confirm-secret", passphrase: "phrase-secret", new_password2: "new-secret",
      card: 4111111111111111, headers: [["X-Api-Key", "header-secret"], ["Cookie", "sid=cookie-secret"]],
      query: [["token", "query-secret"]], deep,
    },
  };
  const res = await post(w.mf, event);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await waitForStored(w.db, 1, "id = ?", res.body.ids[0]);
  const stored = JSON.stringify((await get(w.mf, `/v1/logs/${res.body.ids[0]}`)).body);
  const secrets = ["github_pat_11", "rk_live_51", "AIzaSyD-", "urlpass99", "ghp_abc", "pgpass77", "confirm-secret", "phrase-secret", "new-secret", "4111111111111111", "header-secret", "cookie-secret", "query-secret", "deep-secret-value"];
  assert.deepEqual(secrets.filter((s) => stored.includes(s)), []);
  // Sentry's own shapes: request headers and query string as pair lists, a DSN in extra.
  const sentry = JSON.stringify({ event_id: "e".repeat(32), message: "sentry secrets", level: "error", request: { headers: [["X-Api-Key", "sentry-header-secret"], ["Cookie", "sentry-cookie"]], query_string: [["token", "sentry-query-secret"]] }, extra: { dsn: "redis://:sentry-redis-pw@cache:6379/0", cfg: "mysql://root:sentry-mysql-pw@db/app" } });
  const envelope = `${JSON.stringify({ event_id: "e".repeat(32) })}\n${JSON.stringify({ type: "event" })}\n${sentry}\n`;
  assert.equal((await send("/api/1/envelope/", envelope, { ...auth(), "content-type": "application/x-sentry-envelope" })).status, 200);
  await waitFor(async () => (await get(w.mf, "/v1/logs?q=sentry")).body.logs.length === 1, { what: "the Sentry event stored" });
  const fromSentry = JSON.stringify((await get(w.mf, "/v1/logs?q=sentry")).body.logs[0]);
  assert.deepEqual(["sentry-header-secret", "sentry-cookie", "sentry-query-secret", "sentry-redis-pw", "sentry-mysql-pw"].filter((s) => fromSentry.includes(s)), []);
});

test("channels reach only public receivers: internal addresses in any spelling are refused, redirects not followed", async () => {
  for (const target of ["http://127.0.0.1:9/h", "http://localhost/h", "http://2130706433/", "http://0x7f000001/", "http://127.1/", "http://169.254.169.254/latest", "http://metadata.google.internal/", "http://10.0.0.1/"]) {
    for (const channel of [{ type: "webhook", url: target }, { type: "slack", url: target }]) {
      const res = await post(w.mf, { name: "internal", trigger: "new_group", channels: [channel] }, { path: "/v1/alert-rules" });
      assert.equal(res.status, 400, `${channel.type} ${target}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error.message, /public/);
    }
  }
});

test("a delivery never follows a redirect, even to a receiver it may reach", async () => {
  const hits = [];
  const receiver = http.createServer((req, res) => {
    hits.push(req.url);
    if (req.url === "/hook") {
      res.writeHead(302, { location: "/internal-only" });
      return res.end();
    }
    res.end("ok");
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  const local = await startWorker({ bindings: { ALERT_ALLOW_LOOPBACK: "true", ALERT_RETRY_BASE_SECONDS: "1" } });
  try {
    const base = `http://127.0.0.1:${receiver.address().port}`;
    const rule = await post(local.mf, { name: "redirected", trigger: "new_group", throttle_seconds: 0, channels: [{ type: "webhook", url: `${base}/hook` }] }, { path: "/v1/alert-rules" });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    assert.equal((await post(local.mf, { message: "redirect me", level: "error" })).status, 202);
    await waitFor(async () => hits.includes("/hook"), { what: "the receiver called", seen: async () => hits, timeoutMs: 30_000 });
    await waitFor(async () => (await get(local.mf, "/v1/alerts")).body.alerts.some((a) => a.deliveries.some((d) => /302/.test(d.last_error ?? ""))), { what: "the 302 recorded as a failure", seen: async () => (await get(local.mf, "/v1/alerts")).body, timeoutMs: 30_000 });
    assert.ok(!hits.includes("/internal-only"), JSON.stringify(hits));
  } finally {
    await local.mf.dispose();
    receiver.close();
  }
});

test("a Slack incoming-webhook URL is a credential: masked for readers, kept on update", async () => {
  const secretUrl = "https://hooks.slack.com/services/T000/B000/slacksecretpart";
  const created = await post(w.mf, { name: "slack", trigger: "new_group", channels: [{ type: "slack", url: secretUrl }] }, { path: "/v1/alert-rules" });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const listed = JSON.stringify((await get(w.mf, "/v1/alert-rules", bearer(keys.reader))).body);
  assert.ok(!listed.includes("slacksecretpart"), listed);
  assert.ok(listed.includes("https://hooks.slack.com/********"), listed);
  // Stored sealed, never as sent; the rule sent back as shown keeps it.
  const storedUrl = async () => JSON.parse((await w.db.prepare("SELECT definition FROM alert_rules WHERE id = ?").bind(created.body.id).first()).definition).channels[0].url;
  const sealed = await storedUrl();
  assert.ok(sealed.startsWith("https://hooks.slack.com/$sealed:") && !sealed.includes("slacksecretpart"), sealed);
  const shown = (await get(w.mf, `/v1/alert-rules/${created.body.id}`)).body;
  const res = await w.mf.dispatchFetch(`${url}/v1/alert-rules/${created.body.id}`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: "slack renamed", trigger: "new_group", channels: shown.channels }) });
  assert.equal(res.status, 200, await res.text());
  assert.equal(await storedUrl(), sealed, "the masked URL sent back keeps the stored one");
});

test("event ids never collide across projects, whatever an event_id holds", async () => {
  const timestamp = "2026-12-07T10:00:00.000Z";
  const a = await post(w.mf, { message: "project A's event", event_id: "x-1", timestamp }, { headers: bearer(keys.shopIngest) });
  const b = await post(w.mf, { message: "the unbound key's event", event_id: "shop\u001fx-1", timestamp }, { headers: bearer(keys.ingest) });
  assert.equal(a.status, 202);
  assert.equal(b.status, 202);
  assert.notEqual(a.body.ids[0], b.body.ids[0]);
  await waitForStored(w.db, 1, "id = ?", a.body.ids[0]);
  await waitForStored(w.db, 1, "id = ?", b.body.ids[0]);
});

test("an assembled bundle is remembered per project: a second project gets its own maps", async () => {
  const built = await bundle("hostile per-project cache");
  assert.equal((await sentryCli(url, ["sourcemaps", "inject", built.outdir], ADMIN_TOKEN)).code, 0);
  for (const key of [keys.shopMaps, keys.webMaps]) {
    const upload = await sentryCli(url, ["sourcemaps", "upload", "--release", "9.9.9", "--url-prefix", "~/assets", built.outdir], key);
    assert.equal(upload.code, 0, upload.out);
  }
  for (const reader of [keys.shopRead, keys.webRead]) {
    const listed = await get(w.mf, "/v1/releases/9.9.9/sourcemaps", bearer(reader));
    assert.equal(listed.status, 200);
    assert.equal(listed.body.sourcemaps.length, 1, JSON.stringify(listed.body));
  }
});

test("input SQLite cannot take is a 400 naming the problem, never a 5xx", async () => {
  const nul = await get(w.mf, "/v1/logs?q=a%00b");
  assert.equal(nul.status, 400, JSON.stringify(nul.body));
  assert.match(nul.body.error.message, /control character/);
  const stars = encodeURIComponent(`component:*${"a*".repeat(26)}b`);
  for (const path of ["/v1/logs", "/v1/groups"]) {
    const res = await get(w.mf, `${path}?query=${stars}`);
    assert.equal(res.status, 400, `${path}: ${JSON.stringify(res.body)}`);
    assert.match(res.body.error.message, /wildcards/);
  }
});

test("?key= works only for beacons on POST /v1/logs; snappy is no Content-Encoding of /v1/logs", async () => {
  const q = `?key=${keys.ingest}`;
  const otlp = await send(`/otlp/v1/logs${q}`, JSON.stringify({ resourceLogs: [] }), { "content-type": "application/json" });
  assert.equal(otlp.status, 401, otlp.text);
  const loki = await send(`/loki/api/v1/push${q}`, JSON.stringify({ streams: [] }), { "content-type": "application/json" });
  assert.equal(loki.status, 401, loki.text);
  const bulk = await send(`/_bulk${q}`, '{"index":{}}\n{"message":"x"}\n', { "content-type": "application/x-ndjson" });
  assert.equal(bulk.status, 401, bulk.text);
  const license = await w.mf.dispatchFetch(`${url}/_license${q}`);
  assert.equal(license.status, 401, await license.text());
  const beacon = await send(`/v1/logs${q}`, JSON.stringify({ message: "a beacon" }), { "content-type": "text/plain;charset=UTF-8" });
  assert.equal(beacon.status, 202, beacon.text);
  const snappy = await send("/v1/logs", JSON.stringify({ message: "x" }), { ...auth(), "content-type": "application/json", "content-encoding": "snappy" });
  assert.equal(snappy.status, 415, snappy.text);
  const gzip = await send("/v1/logs", gzipSync(JSON.stringify({ message: "gzip still works" })), { ...auth(), "content-type": "application/json", "content-encoding": "gzip" });
  assert.equal(gzip.status, 202, gzip.text);
});

test("a project-bound key reads no deployment-wide metrics, and tails only projects that exist", async () => {
  assert.equal((await get(w.mf, "/metrics", bearer(keys.shopRead))).status, 403);
  assert.equal((await w.mf.dispatchFetch(`${url}/metrics`, { headers: bearer(keys.reader) })).status, 200);
  const tail = async (project) => {
    const res = await w.mf.dispatchFetch(`${url}/v1/tail?project=${project}`, { headers: { ...bearer(keys.reader), upgrade: "websocket" } });
    if (res.webSocket) {
      res.webSocket.accept();
      res.webSocket.close(1000, "done");
    } else {
      await res.text();
    }
    return res.status;
  };
  assert.equal(await tail("made-up-project-1"), 404);
  assert.equal(await tail("shop"), 101, "a project with a key of its own exists");
});
