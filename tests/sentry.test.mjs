// Sentry SDK envelopes through the real worker: the official @sentry/node, pointed at the
// worker by its DSN, sends a real exception that arrives grouped by its in-app frames.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, get, auth, waitForStored, assertError } from "./helpers.mjs";

let w;
let url;
let key;
before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  url = await w.mf.ready;
  const created = await w.mf.dispatchFetch("http://localhost/v1/keys", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ name: "sentry dsn", scopes: ["ingest"], project: "shop" }),
  });
  key = (await created.json()).key;
});
after(async () => {
  await w?.mf.dispose();
});

test("@sentry/node sends a real exception to the worker through its DSN", async () => {
  const Sentry = await import("@sentry/node");
  Sentry.init({ dsn: `http://${key}@${url.host}/1`, release: "shop@1.2.3", environment: "prod", defaultIntegrations: false, tracesSampleRate: 0 });
  function loadUser(user) {
    return user.profile.id; // a TypeError on purpose
  }
  try {
    loadUser(undefined);
  } catch (err) {
    Sentry.captureException(err, { tags: { region: "eu" }, user: { id: "u-7" } });
  }
  Sentry.captureMessage("sentry says hello", "warning");
  assert.equal(await Sentry.flush(5000), true, "the SDK flushed");
  await Sentry.close(2000);
  await waitForStored(w.db, 2, "project = ?", "shop");
  const { body } = await get(w.mf, "/v1/logs?project=shop&error_kind=exception");
  const e = body.logs[0];
  assert.equal(e.error.type, "TypeError");
  assert.match(e.message, /^TypeError: Cannot read properties of undefined/);
  assert.equal(e.release, "shop@1.2.3");
  assert.equal(e.environment, "production");
  assert.equal(e.user_id, "u-7");
  assert.deepEqual(e.tags, { region: "eu" });
  assert.match(e.fingerprint_reason, /^exception TypeError \+ \d+ in-app frames$/);
  assert.match(e.error.stack, /at loadUser \(/);
  assert.match(e.event_id, /^[0-9a-f]{32}$/);
  const warning = (await get(w.mf, "/v1/logs?project=shop&level=warn")).body.logs[0];
  assert.equal(warning.message, "sentry says hello");
});

test("envelope auth and errors", async () => {
  const envelope = `{}\n{"type":"event"}\n{"message":"raw envelope"}\n`;
  const withHeader = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", headers: { "x-sentry-auth": `Sentry sentry_version=7, sentry_key=${key}`, "content-type": "application/x-sentry-envelope" }, body: envelope });
  assert.equal(withHeader.status, 200);
  const withQuery = await w.mf.dispatchFetch(`http://localhost/api/1/envelope/?sentry_key=${key}`, { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: envelope });
  assert.equal(withQuery.status, 200);
  const anonymous = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", body: envelope });
  assertError({ status: anonymous.status, body: await anonymous.json() }, 401, "unauthorized");
  const broken = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", headers: { "x-sentry-auth": `Sentry sentry_key=${key}` }, body: "not an envelope" });
  assert.equal(broken.status, 400);
  const sessionsOnly = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", headers: { "x-sentry-auth": `Sentry sentry_key=${key}` }, body: `{}\n{"type":"session"}\n{"sid":"s"}\n` });
  assert.equal(sessionsOnly.status, 200);
});

test("a Sentry tunnel authenticates by the DSN inside the envelope (ingest-only keys)", async () => {
  const envelope = (dsnKey) => `{"dsn":"https://${dsnKey}@logger.example.com/1","event_id":"0123456789abcdef0123456789abcdef"}\n{"type":"event"}\n{"message":"via tunnel","level":"error"}\n`;
  const res = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: envelope(key) });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { id: "0123456789abcdef0123456789abcdef" });
  await waitForStored(w.db, 1, "message = ?", "via tunnel");
  const reader = await w.mf.dispatchFetch("http://localhost/v1/keys", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: "r", scopes: ["read"] }) });
  const readKey = (await reader.json()).key;
  const refused = await w.mf.dispatchFetch("http://localhost/api/1/envelope/", { method: "POST", headers: { "content-type": "text/plain" }, body: envelope(readKey) });
  assert.equal(refused.status, 401, "a DSN travels with the data: only ingest-only keys");
});
