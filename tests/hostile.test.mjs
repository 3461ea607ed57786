// The hostile-input corpus (tests/fixtures/hostile.json) through the real worker: every request
// is a clear 4xx JSON error with the expected code, never a 5xx, and the service stays healthy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startWorker, post, get, auth, waitForStored } from "./helpers.mjs";

const corpus = JSON.parse(readFileSync(new URL("./fixtures/hostile.json", import.meta.url)));

function bodyOf(c) {
  if (typeof c.body === "string") return new TextEncoder().encode(c.body);
  if (c.body_hex) return Uint8Array.from(c.body_hex.match(/../g).map((h) => parseInt(h, 16)));
  if (c.repeat) return new TextEncoder().encode(c.repeat.prefix + c.repeat.unit.repeat(c.repeat.count) + c.repeat.suffix);
  return undefined;
}

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.mf.dispose();
});

test(`${corpus.length} hostile requests: each a clear 4xx JSON error, never a 5xx`, async () => {
  assert.ok(corpus.length >= 60);
  const failures = [];
  for (const c of corpus) {
        // Cases that bring their own credential (header or ?key=) get no admin token beside it.
    const ownCredential = c.edge_only && (Object.keys(c.headers).some((h) => ["authorization", "x-api-key"].includes(h)) || /[?&]key=/.test(c.path));
    const headers = c.edge_only ? { ...(ownCredential ? {} : auth()), ...c.headers } : { ...auth(), "content-type": c.content_type };
    const method = c.method ?? "POST";
    const res = await w.mf.dispatchFetch(`http://localhost${c.path ?? "/v1/logs"}`, {
      method,
      headers,
      body: method === "GET" || method === "HEAD" ? undefined : bodyOf(c),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    const ok = res.status === c.status && json?.error?.code === c.code && typeof json?.error?.message === "string";
    if (!ok) failures.push(`${c.name}: ${res.status} ${text.slice(0, 200)} (expected ${c.status} ${c.code})`);
    assert.ok(res.status < 500, `${c.name} answered ${res.status}`);
    assert.equal(res.headers.get("set-cookie"), null, `${c.name} set a cookie`);
  }
  assert.deepEqual(failures, []);
});

test("after the corpus the service is healthy and still ingests", async () => {
  assert.equal((await get(w.mf, "/health", {})).body.status, "ok");
  const res = await post(w.mf, { message: "still alive" });
  assert.equal(res.status, 202);
  await waitForStored(w.db, 1, "id = ?", res.body.ids[0]);
});
