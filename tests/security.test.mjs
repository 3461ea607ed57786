// Keys, scopes, projects, browsers, abuse and privacy through the real worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, auth, waitFor, waitForStored, countEvents, assertError, eventRows } from "./helpers.mjs";

let w;
let keys = {};
const APP = "https://app.example.com";

async function createKey(body, headers = auth()) {
  const res = await w.mf.dispatchFetch("http://localhost/v1/keys", {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

before(async () => {
  w = await startWorker();
  const specs = {
    shopIngest: { name: "shop web", scopes: ["ingest"], project: "shop", allowed_origins: [APP] },
    shopRead: { name: "shop grafana", scopes: ["read"], project: "shop" },
    blogIngest: { name: "blog server", scopes: ["ingest"], project: "blog" },
    blogRead: { name: "blog reader", scopes: ["read"], project: "blog" },
    allRead: { name: "ops reader", scopes: ["read"] },
  };
  for (const [name, spec] of Object.entries(specs)) {
    const res = await createKey(spec);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    keys[name] = res.body;
  }
});
after(async () => {
  await w?.mf.dispose();
});

test("keys are created once, listed without secrets, and only by admins", async () => {
  const k = keys.shopIngest;
    assert.match(k.key, /^elk_[0-9a-f]{64}$/);
  assert.equal(k.prefix, k.key.slice(0, 12));
  assert.deepEqual(k.scopes, ["ingest"]);
  assert.equal(k.project, "shop");
  assert.deepEqual(k.allowed_origins, [APP]);
  const list = await get(w.mf, "/v1/keys");
  assert.equal(list.status, 200);
  assert.equal(list.body.keys.length, 5);
  const text = JSON.stringify(list.body);
  for (const created of Object.values(keys)) assert.ok(!text.includes(created.key), "plain keys are never listed");
  assert.ok(!text.includes('"hash"'));
  const row = await w.db.prepare("SELECT hash FROM api_keys WHERE id = ?").bind(k.id).first();
  assert.match(row.hash, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify(await w.db.prepare("SELECT * FROM api_keys").all()).includes(k.key), "D1 holds no plain key");

  assertError(await get(w.mf, "/v1/keys", auth(keys.allRead.key)), 403, "forbidden");
  assertError(await createKey({ name: "x", scopes: ["admin"] }, auth(keys.shopIngest.key)), 403, "forbidden");
  assertError(await createKey({ name: "x", scopes: ["write"] }), 400, "invalid_parameter");
  assertError(await createKey({ name: "x", scopes: ["read"], allowed_origins: [APP] }), 400, "invalid_parameter");
});

test("scopes: an ingest key cannot read, a read key cannot ingest", async () => {
  assertError(await get(w.mf, "/v1/logs", auth(keys.shopIngest.key)), 403, "forbidden");
  assertError(await post(w.mf, { message: "x" }, { headers: auth(keys.shopRead.key) }), 403, "forbidden");
  assertError(await get(w.mf, "/v1/logs", auth("elk_thisIsNotARealKeyButHasTheRightShape000000")), 401, "unauthorized");
});

test("tenant isolation: a project's read key sees only its project", async () => {
  const shop = await post(w.mf, [{ message: "shop checkout failed", level: "error", event_id: "same-id" }], { headers: auth(keys.shopIngest.key) });
  const blog = await post(w.mf, [{ message: "blog comment failed", level: "error", event_id: "same-id" }], { headers: auth(keys.blogIngest.key) });
  assert.equal(shop.status, 202);
  assert.equal(blog.status, 202);
  assert.notEqual(shop.body.ids[0], blog.body.ids[0], "the same event_id in two projects is two events");
  await waitForStored(w.db, 2, "event_id = ?", "same-id");

  const shopLogs = await get(w.mf, "/v1/logs", auth(keys.shopRead.key));
  assert.deepEqual(shopLogs.body.logs.map((e) => e.message), ["shop checkout failed"]);
  assert.equal(shopLogs.body.logs[0].project, "shop");
  const blogLogs = await get(w.mf, "/v1/logs", auth(keys.blogRead.key));
  assert.deepEqual(blogLogs.body.logs.map((e) => e.message), ["blog comment failed"]);
  const everything = await get(w.mf, "/v1/logs", auth(keys.allRead.key));
  assert.equal(everything.body.logs.length, 2);
  const adminFiltered = await get(w.mf, "/v1/logs?project=blog");
  assert.deepEqual(adminFiltered.body.logs.map((e) => e.project), ["blog"]);

  // Asking for another project is refused; another project's ids do not even exist.
  assertError(await get(w.mf, "/v1/logs?project=shop", auth(keys.blogRead.key)), 403, "forbidden");
  assertError(await get(w.mf, `/v1/logs/${shop.body.ids[0]}`, auth(keys.blogRead.key)), 404, "not_found");
  assert.equal((await get(w.mf, `/v1/logs/${shop.body.ids[0]}`, auth(keys.shopRead.key))).status, 200);

  const shopGroups = await get(w.mf, "/v1/groups", auth(keys.shopRead.key));
  assert.deepEqual(shopGroups.body.groups.map((g) => g.title), ["shop checkout failed"]);
  const blogGroup = (await get(w.mf, "/v1/groups", auth(keys.blogRead.key))).body.groups[0];
  assertError(await get(w.mf, `/v1/groups/${blogGroup.fingerprint}`, auth(keys.shopRead.key)), 404, "not_found");
  const shopStats = await get(w.mf, "/v1/stats?bucket=1m", auth(keys.shopRead.key));
  assert.deepEqual(shopStats.body.totals, { error: 1 });
  assertError(await get(w.mf, "/v1/stats?project=blog", auth(keys.shopRead.key)), 403, "forbidden");

  const feed = await get(w.mf, "/v1/recent", auth(keys.shopRead.key));
  assert.ok(feed.body.logs.every((e) => e.project === "shop"));
});

test("a revoked key stops working", async () => {
  const temp = await createKey({ name: "temp", scopes: ["read"] });
  assert.equal((await get(w.mf, "/v1/logs", auth(temp.body.key))).status, 200, "works, and is now cached");
  const revoked = await w.mf.dispatchFetch(`http://localhost/v1/keys/${temp.body.id}`, { method: "DELETE", headers: auth() });
  assert.equal(revoked.status, 200);
  assert.ok((await revoked.json()).revoked_at);
  assertError(await get(w.mf, "/v1/logs", auth(temp.body.key)), 401, "unauthorized");
  const again = await w.mf.dispatchFetch("http://localhost/v1/keys/key_nope", { method: "DELETE", headers: auth() });
  assert.equal(again.status, 404);
});

test("CORS: preflight and requests limited to the key's allowed origins, never credentials", async () => {
  const preflight = (origin, method = "POST") =>
    w.mf.dispatchFetch("http://localhost/v1/logs", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method, "access-control-request-headers": "authorization, content-type" },
    });
  const ok = await preflight(APP);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("access-control-allow-origin"), APP);
  assert.match(ok.headers.get("access-control-allow-headers"), /authorization/);
  assert.equal(ok.headers.get("access-control-allow-credentials"), null);
  const evil = await preflight("https://evil.example");
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get("access-control-allow-origin"), null);
  assert.equal((await preflight(APP, "DELETE")).status, 403);

  const fromApp = await post(w.mf, { message: "from the browser" }, { headers: { ...auth(keys.shopIngest.key), origin: APP } });
  assert.equal(fromApp.status, 202);
  assert.equal(fromApp.headers.get("access-control-allow-origin"), APP);
  assert.equal(fromApp.headers.get("access-control-allow-credentials"), null);
  const fromEvil = await post(w.mf, { message: "x" }, { headers: { ...auth(keys.shopIngest.key), origin: "https://evil.example" } });
    assertError(fromEvil, 403, "forbidden");
  assert.equal(fromEvil.headers.get("access-control-allow-origin"), null, "a refused origin gets no CORS grant");
  const wrongKeyFromApp = await post(w.mf, { message: "x" }, { headers: { ...auth("elk_wrongwrongwrongwrongwrongwrongwrongwrong0"), origin: APP } });
  assertError(wrongKeyFromApp, 401, "unauthorized");
  assert.equal(wrongKeyFromApp.headers.get("access-control-allow-origin"), APP, "a known page can read why it failed");
  const serverKeyFromPage = await post(w.mf, { message: "x" }, { headers: { ...auth(keys.blogIngest.key), origin: APP } });
  assertError(serverKeyFromPage, 403, "forbidden");
  const adminFromPage = await post(w.mf, { message: "x" }, { headers: { ...auth(), origin: APP } });
  assertError(adminFromPage, 403, "forbidden");
});

test("?key= only for ingest-only keys with text/plain bodies (navigator.sendBeacon)", async () => {
  const beacon = await post(w.mf, JSON.stringify([{ message: "beacon on page hide" }]), {
    contentType: "text/plain;charset=UTF-8",
    headers: { origin: APP },
    path: `/v1/logs?key=${keys.shopIngest.key}`,
  });
  assert.equal(beacon.status, 202, JSON.stringify(beacon.body));
  const json = await post(w.mf, { message: "x" }, { headers: {}, path: `/v1/logs?key=${keys.shopIngest.key}` });
  assertError(json, 415, "unsupported_media_type");
  const reader = await get(w.mf, `/v1/logs?key=${keys.shopRead.key}`, {});
  assertError(reader, 401, "unauthorized");
});

test("scrubbing: secrets never reach D1, and the event says which rules fired", async () => {
  const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
  const res = await post(w.mf, {
    message: `login for jane@example.com from 203.0.113.9 with ${jwt}`,
    level: "error",
    context: { password: "hunter2", headers: { authorization: "Bearer abcdefghijklmnop" }, card: "4111 1111 1111 1111" },
    tags: { api_key: "k-123" },
    error: { type: "AuthError", message: "denied", stack: "at login (/srv/app.js:1:1)\n-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----" },
  });
  assert.equal(res.status, 202);
  const id = res.body.ids[0];
  await waitForStored(w.db, 1, "id = ?", id);
  const raw = (await eventRows(w.db, "SELECT data FROM events WHERE id = ?", id))[0].data;
  for (const secret of ["hunter2", "abcdefghijklmnop", "4111 1111 1111 1111", "k-123", jwt, "MIIEvQ", "jane@example.com", "203.0.113.9"]) {
    assert.ok(!raw.includes(secret), `${secret} reached D1`);
  }
  const { body: e } = await get(w.mf, `/v1/logs/${id}`);
  assert.equal(e.message, "login for [email] from [ip] with [JWT]");
  assert.equal(e.context.password, "[Filtered]");
  assert.deepEqual(e.scrubbed, ["credit_card", "email", "ip_address", "jwt", "private_key", "secret_key"]);
});

test("a secret written into a message is scrubbed in every format, the key kept", async () => {
  const json = { "content-type": "application/json", ...auth() };
  const ns = `${Date.now()}000000`;
  const sends = [
    ["/v1/logs", { message: "login failed password=hunter2-json", level: "warn" }, "login failed password=[Filtered]"],
    [
      "/otlp/v1/logs",
      { resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityText: "WARN", body: { stringValue: "retrying with api_key: hunter2-otlp" } }] }] }] },
      "retrying with api_key: [Filtered]",
    ],
    ["/loki/api/v1/push", { streams: [{ stream: { job: "scrub" }, values: [[ns, 'body {"user": "bob", "password": "hunter2-loki"}']] }] }, 'body {"user": "bob", "password": "[Filtered]"}'],
  ];
  const ids = [];
  for (const [path, body, expected] of sends) {
    const res = await w.mf.dispatchFetch(`http://localhost${path}`, { method: "POST", headers: json, body: JSON.stringify(body) });
    assert.ok([200, 202, 204].includes(res.status), `${path}: ${res.status} ${await res.text()}`);
    ids.push(expected);
  }
  const envelope = `{}\n{"type":"event"}\n{"message":"token=hunter2-sentry rejected","level":"error"}\n`;
  const sentry = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", {
    method: "POST",
    headers: { "x-sentry-auth": `Sentry sentry_key=${keys.blogIngest.key}`, "content-type": "application/x-sentry-envelope" },
    body: envelope,
  });
  assert.equal(sentry.status, 200, await sentry.text());
  ids.push("token=[Filtered] rejected");
  await waitFor(async () => (await countEvents(w.db, "data LIKE '%secret_pair%'")) >= 4, {
    what: "four events with a filtered pair in their message",
  });
  const rows = (await eventRows(w.db, "SELECT data FROM events WHERE data LIKE '%secret_pair%'")).map((r) => r.data);
  for (const row of rows) assert.ok(!row.includes("hunter2-"), `a secret reached D1: ${row}`);
  const messages = rows.map((r) => JSON.parse(r).message);
  for (const expected of ids) assert.ok(messages.includes(expected), `${expected} not among ${JSON.stringify(messages)}`);
});

test("e-mail and IP masking can be switched off per deployment", async () => {
  const plain = await startWorker({ bindings: { SCRUB_EMAILS: "false", SCRUB_IPS: "false" } });
  try {
    const res = await post(plain.mf, { message: "jane@example.com from 203.0.113.9, token=Bearer abcdefghijklmnop" });
    await waitForStored(plain.db, 1);
    const { body: e } = await get(plain.mf, `/v1/logs/${res.body.ids[0]}`);
    assert.equal(e.message, "jane@example.com from 203.0.113.9, token=Bearer [Filtered]");
    assert.deepEqual(e.scrubbed, ["bearer_token"]);
  } finally {
    await plain.mf.dispose();
  }
});

test("a flood trips the per-key rate limit with 429 and Retry-After, and the service stays healthy", async () => {
  const limited = await startWorker({ rateLimits: { default: 5 } });
  try {
    const created = await limited.mf.dispatchFetch("http://localhost/v1/keys", {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ name: "flood", scopes: ["ingest"] }),
    });
    const key = (await created.json()).key;
    // The limit is 5 per 10 s window of the platform's clock. The flood goes on until it is
    // refused; a slow machine may cross a window boundary on the way, which only lets more
    // through, never fewer, so the counts are bounded by the windows the flood spanned.
    const statuses = [];
    let limitedResponse;
    const started = Date.now();
    while (!limitedResponse && statuses.length < 60) {
      const res = await post(limited.mf, { message: `flood ${statuses.length}` }, { headers: auth(key) });
      statuses.push(res.status);
      if (res.status === 429) limitedResponse = res;
    }
    const windows = Math.ceil((Date.now() - started) / 10_000) + 1;
    const accepted = statuses.filter((s) => s === 202).length;
    assert.ok(limitedResponse, `never refused: ${statuses.join(",")}`);
    assert.deepEqual(statuses.slice(0, 5), [202, 202, 202, 202, 202]);
    assert.ok(statuses.every((s) => s === 202 || s === 429), statuses.join(","));
    assert.ok(accepted <= 5 * windows, `${accepted} accepted in ${windows} windows: ${statuses.join(",")}`);
    assertError(limitedResponse, 429, "rate_limited");
    assert.equal(limitedResponse.headers.get("retry-after"), "10");
    // Other keys are not affected, and accepted events are all stored.
    assert.equal((await post(limited.mf, { message: "admin still fine" })).status, 202);
    await waitForStored(limited.db, accepted + 1);
    assert.equal((await get(limited.mf, "/health", {})).body.status, "ok");
  } finally {
    await limited.mf.dispose();
  }
});

test("with ENCRYPTION_KEY, context and stack are ciphertext in D1 and plain for readers", async () => {
  const key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const sealed = await startWorker({ bindings: { ENCRYPTION_KEY: key } });
  try {
    const res = await post(sealed.mf, {
      message: "checkout failed",
      level: "error",
      context: { order: "order-991", cart: ["sku-1"] },
      error: { type: "PaymentError", message: "declined", stack: "    at pay (/srv/app/checkout.js:10:5)" },
    });
    assert.equal(res.status, 202);
    const id = res.body.ids[0];
    await waitForStored(sealed.db, 1, "id = ?", id);
    const raw = (await eventRows(sealed.db, "SELECT data FROM events WHERE id = ?", id))[0].data;
    assert.ok(!raw.includes("order-991") && !raw.includes("checkout.js"), raw);
    const stored = JSON.parse(raw);
    assert.match(stored.context.$encrypted, /^v1\./);
    assert.match(stored.error.stack, /^\$encrypted:v1\./);
    assert.equal(stored.message, "checkout failed", "message stays clear for search and grouping");
    const { body: e } = await get(sealed.mf, `/v1/logs/${id}`);
    assert.deepEqual(e.context, { order: "order-991", cart: ["sku-1"] });
    assert.equal(e.error.stack, "    at pay (/srv/app/checkout.js:10:5)");
    assert.equal(e.component, "checkout", "derived before sealing");
    const listed = await get(sealed.mf, "/v1/logs");
    assert.deepEqual(listed.body.logs[0].context, { order: "order-991", cart: ["sku-1"] });
  } finally {
    await sealed.mf.dispose();
  }
});

test("a malformed ENCRYPTION_KEY refuses ingest rather than storing plaintext", async () => {
  const broken = await startWorker({ bindings: { ENCRYPTION_KEY: "too-short" } });
  try {
    const res = await post(broken.mf, { message: "x", context: { secret_plan: "a" } });
    assert.equal(res.status, 500);
    assert.equal(res.body.error.code, "internal_error");
    assert.ok(!JSON.stringify(res.body).includes("too-short"));
        assert.equal(await countEvents(broken.db), 0);
    const health = await get(broken.mf, "/health", {});
    assert.equal(health.body.status, "degraded");
    assert.equal(health.body.checks.encryption.status, "error");
    assert.ok(!JSON.stringify(health.body).includes("too-short"), "the key itself is never shown");
  } finally {
    await broken.mf.dispose();
  }
});
