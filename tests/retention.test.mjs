// Retention through the real worker's scheduled handler: per-level cutoffs delete exactly the
// expired events, full text finds exactly what is kept, and groups follow their events.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, countEvents, QUEUE, eventRows, get } from "./helpers.mjs";

let w;
let worker;
before(async () => {
  w = await startWorker({ consumer: false });
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
});

const DAY = 86400000;
const SEVERITY = { debug: 5, info: 9, warn: 13, error: 17 };
let n = 0;
function event(level, daysOld, word, fingerprint) {
  n += 1;
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  const at = new Date(Date.now() - daysOld * DAY - 60000).toISOString();
  return { id, event_id: id, received_at: at, timestamp: at, level, severity_number: SEVERITY[level], message: `${word} happened`, fingerprint, environment: "production", source_type: "backend" };
}

test("a scheduled run deletes exactly the expired events, keeping full text and groups consistent", async () => {
  const expired = [event("debug", 8, "oldDebug", "f-debug"), event("info", 31, "oldInfo", "f-info"), event("warn", 31, "oldWarn", "f-warn-old"), event("error", 91, "oldError", "f-error-old")];
  const kept = [event("debug", 6, "newDebug", "f-debug"), event("info", 29, "newInfo", "f-info"), event("warn", 29, "newWarn", "f-warn"), event("error", 89, "newError", "f-error")];
  const body = new TextEncoder().encode(JSON.stringify({ project: null, events: [...expired, ...kept] }));
  const stored = await worker.queue(QUEUE, [{ id: "m-retention", timestamp: new Date(), attempts: 1, body }]);
  assert.deepEqual(stored.explicitAcks, ["m-retention"]);
  assert.equal(await countEvents(w.db), 8);
  const groupsBefore = (await w.db.prepare("SELECT fingerprint FROM groups ORDER BY fingerprint").all()).results.map((r) => r.fingerprint);
  assert.deepEqual(groupsBefore, ["f-error", "f-error-old", "f-warn", "f-warn-old"]);

  await worker.scheduled({ cron: "*/5 * * * *" });

  const remaining = (await eventRows(w.db, "SELECT id FROM events")).map((r) => r.id).sort();
  assert.deepEqual(remaining, kept.map((e) => e.id).sort());
  // Full text finds exactly what is kept (a block's words go with the block).
  for (const e of expired) {
    const word = e.message.split(" ")[0];
    const hits = await get(w.mf, `/v1/logs?q=${word}`);
    assert.deepEqual(hits.body.logs, [], `${word} is gone from full text`);
  }
  for (const e of kept) {
    const word = e.message.split(" ")[0];
    const hits = await get(w.mf, `/v1/logs?q=${word}`);
    assert.deepEqual(hits.body.logs.map((x) => x.id), [e.id], `${word} is still searchable`);
  }
  const groupsAfter = (await w.db.prepare("SELECT fingerprint FROM groups ORDER BY fingerprint").all()).results.map((r) => r.fingerprint);
  assert.deepEqual(groupsAfter, ["f-error", "f-warn", "f-warn-old"], "only the group whose newest event passed the longest retention goes");

  // Count tokens older than 30 days go; a recent one stays.
  const ledgerAt = (days) => new Date(Date.now() - days * DAY).toISOString();
  await w.db.prepare("INSERT INTO count_ledger (token, at) VALUES ('old-token', ?), ('new-token', ?)").bind(ledgerAt(31), ledgerAt(1)).run();
  await worker.scheduled({ cron: "*/5 * * * *" });
  assert.equal(await countEvents(w.db), 4, "a second run deletes nothing more");
  const tokens = (await w.db.prepare("SELECT token FROM count_ledger WHERE token IN ('old-token', 'new-token')").all()).results.map((r) => r.token);
  assert.deepEqual(tokens, ["new-token"]);
});
