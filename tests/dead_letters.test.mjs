// Dead letters: a message that keeps failing reaches the dead-letter queue, is stored with its
// last error, listed, and replayed once the fault is fixed; nothing accepted disappears.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, get, auth, waitFor, waitForStored, QUEUE } from "./helpers.mjs";

let w;
let worker;
before(async () => {
  w = await startWorker();
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
});

function storedEvent(id, message) {
  const now = new Date().toISOString();
  return { id, event_id: id, received_at: now, timestamp: now, level: "error", severity_number: 17, message };
}

test("a failing message is dead-lettered with its error, listed, and replayed exactly once", async () => {
  const events = [storedEvent("00000000-0000-4000-8000-00000000d001", "poison one"), storedEvent("00000000-0000-4000-8000-00000000d002", "poison two")];
  const msg = { id: "m-dead-1", timestamp: new Date(), attempts: 6, body: new TextEncoder().encode(JSON.stringify({ project: null, events })) };
  await w.db.exec("CREATE TRIGGER inject_poison BEFORE INSERT ON events_intake WHEN NEW.data LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'injected poison'); END;");
  try {
    const failed = await worker.queue(QUEUE, [msg]);
    assert.deepEqual(failed.retryMessages.map((m) => m.msgId), ["m-dead-1"]);
    // Retries exhausted: the platform hands the message to the dead-letter queue.
    const dead = await worker.queue(`${QUEUE}-dlq`, [msg]);
    assert.deepEqual(dead.explicitAcks, ["m-dead-1"]);
    await worker.queue(`${QUEUE}-dlq`, [msg]); // a redelivered dead letter is stored once
  } finally {
    await w.db.exec("DROP TRIGGER inject_poison;");
  }
  const listed = await get(w.mf, "/v1/dead-letters");
  assert.equal(listed.status, 200);
  assert.equal(listed.body.dead_letters.length, 1);
  const [letter] = listed.body.dead_letters;
  assert.equal(letter.queue, QUEUE);
  assert.equal(letter.events, 2);
  assert.match(letter.error, /injected poison/);
  // The shard may hold them, but D1 counted nothing (the stored-events metric is kept by the
  // same triggers as groups and rollups).
  const countedEvents = async () => (await w.db.prepare("SELECT coalesce(sum(value), 0) AS n FROM metric_counters WHERE name = 'edge_logger_events_stored_total'").first()).n;
  assert.equal(await countedEvents(), 0);

  const reader = await w.mf.dispatchFetch("http://localhost/v1/keys", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: "r", scopes: ["read"] }) });
  assert.equal((await get(w.mf, "/v1/dead-letters", auth((await reader.json()).key))).status, 403, "admin only");

  const replay = await w.mf.dispatchFetch("http://localhost/v1/dead-letters/replay", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "{}" });
  assert.equal(replay.status, 200);
  assert.equal((await replay.json()).replayed, 1);
  await waitForStored(w.db, 2, "message LIKE 'poison%'");
  await waitFor(async () => (await countedEvents()) === 2, { what: "the replayed events counted once", seen: countedEvents });
  assert.equal((await get(w.mf, "/v1/dead-letters")).body.dead_letters.length, 0, "replayed letters leave the default list");
  const all = await get(w.mf, "/v1/dead-letters?include_replayed=true");
  assert.ok(all.body.dead_letters[0].replayed_at);
  const again = await w.mf.dispatchFetch("http://localhost/v1/dead-letters/replay", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: "" });
  assert.equal((await again.json()).replayed, 0, "nothing is replayed twice");
  assert.equal(await countedEvents(), 2, "counted once");
});
