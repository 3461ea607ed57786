// The R2 archive round trip through the real worker: retention archives expired events as
// gzipped NDJSON per day before deleting them, and a restore brings the same rows back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { startWorker, countEvents, waitForStored, auth, QUEUE, eventRows } from "./helpers.mjs";

let w;
let worker;
before(async () => {
  w = await startWorker({ extra: { r2Buckets: ["ARCHIVE"], r2Persist: false } });
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
});

test("archive → delete → restore gives back the same rows, and restoring twice stores once", async () => {
  const old = new Date(Date.now() - 40 * 86400000);
  const day = old.toISOString().slice(0, 10);
  const events = [1, 2, 3].map((n) => {
    const id = `00000000-0000-4000-8000-00000000a00${n}`;
    const at = new Date(old.getTime() + n * 1000).toISOString();
    return { id, event_id: id, received_at: at, timestamp: at, level: "info", severity_number: 9, message: `archived ${n}`, environment: "production", source_type: "backend", fingerprint: "f-arch" };
  });
  const fresh = { ...events[0], id: "00000000-0000-4000-8000-00000000b001", event_id: "00000000-0000-4000-8000-00000000b001", received_at: new Date().toISOString(), message: "recent" };
  await worker.queue(QUEUE, [{ id: "m-arch", timestamp: new Date(), attempts: 1, body: new TextEncoder().encode(JSON.stringify({ project: null, events: [...events, fresh] })) }]);
  await waitForStored(w.db, 4);
  const before = (await eventRows(w.db, "SELECT data FROM events WHERE message LIKE 'archived%' ORDER BY id")).map((r) => r.data).sort();

  await worker.scheduled({ cron: "*/5 * * * *" });
  assert.equal(await countEvents(w.db), 1, "only the recent event stays stored");
  const bucket = await w.mf.getR2Bucket("ARCHIVE");
  const listed = await bucket.list({ prefix: `events/${day}/` });
  assert.equal(listed.objects.length, 1);
  assert.match(listed.objects[0].key, new RegExp(`^events/${day}/s0-[0-9a-f]{8}-block-(info|all)-\\d{12}-\\d{12}\\.ndjson\\.gz$`));
  const object = await bucket.get(listed.objects[0].key);
  const lines = gunzipSync(Buffer.from(await object.arrayBuffer())).toString().trim().split("\n");
  assert.deepEqual(lines.sort(), [...before].sort(), "the archive holds the rows exactly as they were stored");

  const restore = () =>
    w.mf.dispatchFetch("http://localhost/v1/archive/restore", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ day }) });
  const res = await restore();
  assert.equal(res.status, 202);
  assert.deepEqual(await res.json(), { day, objects: 1, events: 3 });
  await waitForStored(w.db, 3, "message LIKE 'archived%'");
  const after = (await eventRows(w.db, "SELECT data FROM events WHERE message LIKE 'archived%' ORDER BY id")).map((r) => r.data).sort();
  assert.deepEqual(after, before, "same rows back");
  assert.equal((await restore()).status, 202);
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await countEvents(w.db, "message LIKE 'archived%'"), 3, "restoring twice stores once");
  const bad = await w.mf.dispatchFetch("http://localhost/v1/archive/restore", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"day":"last week"}' });
  assert.equal(bad.status, 400);
});
