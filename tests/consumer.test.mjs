// The queue consumer driven directly (no automatic consumer on this queue): what it acks,
// what it retries when D1 or a shard fails, redelivery without duplicates or double counts,
// and the KV hot feed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, countEvents, get, QUEUE, shardCall } from "./helpers.mjs";

let w;
let worker;
before(async () => {
  w = await startWorker({ consumer: false });
  worker = await w.mf.getWorker();
});
after(async () => {
  await w?.mf.dispose();
});

let seq = 0;
/** A stored event as the producer queues it (compact JSON, absent fields left out). */
function storedEvent(message, extra = {}) {
  seq += 1;
  const id = `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`;
  const now = new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString();
  return { id, event_id: id, received_at: now, timestamp: now, level: "info", severity_number: 9, message, ...extra };
}

/** A queue message as our producer sends it: the envelope {project, events} as bytes. */
function message(events, id = `msg-${seq}-${Math.random()}`, project = null) {
  const body = new TextEncoder().encode(JSON.stringify({ project, events }));
  return { id, timestamp: new Date(), attempts: 1, body };
}

async function deliver(messages) {
  return worker.queue(QUEUE, messages);
}

test("a batch is stored and every message acked", async () => {
  const a = [storedEvent("a1"), storedEvent("a2")];
  const b = [storedEvent("b1")];
  const result = await deliver([message(a, "m-a"), message(b, "m-b")]);
  assert.equal(result.outcome, "ok");
  assert.deepEqual([...result.explicitAcks].sort(), ["m-a", "m-b"]);
  assert.deepEqual(result.retryMessages, []);
  for (const e of [...a, ...b]) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
});

test("a redelivered message stores nothing twice", async () => {
  const events = [storedEvent("r1"), storedEvent("r2"), storedEvent("r3")];
  const msg = message(events, "m-redeliver");
  await deliver([msg]);
  const again = await deliver([{ ...msg, attempts: 2 }]);
  assert.deepEqual(again.explicitAcks, ["m-redeliver"]);
  for (const e of events) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
});

/** Events D1 has counted (the stored-events metric, kept by the consumer's batch counts). */
async function counted() {
  const row = await w.db.prepare("SELECT coalesce(sum(value), 0) AS n FROM metric_counters WHERE name = 'edge_logger_events_stored_total'").first();
  return row.n;
}

test("when D1 fails for the whole batch, every message is retried, nothing is lost and nothing counted twice", async () => {
  // Every batch that counts writes the token ledger: failing it fails the whole count.
  await w.db.exec("CREATE TRIGGER inject_failure BEFORE INSERT ON count_ledger_seconds BEGIN SELECT RAISE(ABORT, 'injected D1 failure'); END;");
  const events = [storedEvent("down1"), storedEvent("down2")];
  const msgs = [message([events[0]], "m-down-1"), message([events[1]], "m-down-2")];
  const before = await counted();
  try {
    const failed = await deliver(msgs);
    assert.equal(failed.outcome, "ok", "the consumer never throws");
    assert.deepEqual(failed.explicitAcks, []);
    assert.deepEqual([...failed.retryMessages.map((m) => m.msgId)].sort(), ["m-down-1", "m-down-2"]);
    assert.equal(await counted(), before, "nothing counted while D1 fails");
  } finally {
    await w.db.exec("DROP TRIGGER inject_failure;");
  }
  // The queue redelivers the retried messages: the shards hold them once, D1 counts them once.
  const redelivered = await deliver(msgs.map((m) => ({ ...m, attempts: 2 })));
  assert.deepEqual([...redelivered.explicitAcks].sort(), ["m-down-1", "m-down-2"]);
  for (const e of events) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
  assert.equal(await counted(), before + 2);
  // A lost ack: the same messages once more change nothing.
  await deliver(msgs.map((m) => ({ ...m, attempts: 3 })));
  assert.equal(await counted(), before + 2, "counted exactly once");
  for (const e of events) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
});

test("when D1 fails for one message, the others are stored and acked, and only it is retried", async () => {
  await w.db.exec(
    "CREATE TRIGGER inject_poison BEFORE INSERT ON events_intake WHEN NEW.data LIKE '%poison%' BEGIN SELECT RAISE(ABORT, 'injected poison'); END;",
  );
  const good = [storedEvent("fine 1"), storedEvent("fine 2")];
  // Errors: each passes through the groups' intake, where the poison is injected.
  const bad = [storedEvent("poison pill", { level: "error", severity_number: 17 }), storedEvent("sibling of the poison", { level: "error", severity_number: 17 })];
  const before = await counted();
  try {
    const result = await deliver([message([good[0]], "m-good-1"), message(bad, "m-bad"), message([good[1]], "m-good-2")]);
    assert.deepEqual([...result.explicitAcks].sort(), ["m-good-1", "m-good-2"]);
    assert.deepEqual(result.retryMessages.map((m) => m.msgId), ["m-bad"]);
    for (const e of good) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
    // The message is counted as one: its healthy sibling waits with it rather than half-counting.
    assert.equal(await counted(), before + 2);
  } finally {
    await w.db.exec("DROP TRIGGER inject_poison;");
  }
  const retried = await deliver([message(bad, "m-bad")]);
  assert.deepEqual(retried.explicitAcks, ["m-bad"]);
  for (const e of bad) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
  assert.equal(await counted(), before + 4);
});

test("a shard write that fails is retried without loss or double counting", async () => {
  const events = [storedEvent("shard ok"), storedEvent("shardfail here")];
  const msg = message(events, "m-shardfail");
  const name = await shardNameFor(events[0]);
  // A real failure inside the real shard: storing a block aborts while the trigger is there.
  await shardCall(w.db, name, { run: { queries: [{ sql: "CREATE TRIGGER IF NOT EXISTS inject_shard BEFORE INSERT ON blocks BEGIN SELECT RAISE(ABORT, 'injected shard failure'); END", binds: [] }] } });
  const before = await counted();
  try {
    const failed = await deliver([msg]);
    assert.deepEqual(failed.retryMessages.map((m) => m.msgId), ["m-shardfail"]);
    assert.equal(await counted(), before);
  } finally {
    await shardCall(w.db, name, { run: { queries: [{ sql: "DROP TRIGGER inject_shard", binds: [] }] } });
  }
  const again = await deliver([{ ...msg, attempts: 2 }]);
  assert.deepEqual(again.explicitAcks, ["m-shardfail"]);
  for (const e of events) assert.equal(await countEvents(w.db, "id = ?", e.id), 1);
  assert.equal(await counted(), before + 2);
});

/** The shard an event of no project lands in (the first of its day). */
async function shardNameFor(event) {
  return `events:${event.received_at.slice(0, 10)}:0:`;
}

test("a message that is not an event array is retried towards the dead-letter queue, not acked", async () => {
  const result = await deliver([
    { id: "m-garbage", timestamp: new Date(), attempts: 1, body: new TextEncoder().encode("not json") },
    message([storedEvent("beside garbage")], "m-ok"),
  ]);
  assert.deepEqual(result.explicitAcks, ["m-ok"]);
  assert.deepEqual(result.retryMessages.map((m) => m.msgId), ["m-garbage"]);
});

test("the KV hot feed holds the newest events once read after a batch", async () => {
  const events = Array.from({ length: 3 }, (_, i) => storedEvent(`hot ${i}`));
  await deliver([message(events, "m-hot")]);
  // Refreshed when read, never per batch: a feed nobody reads costs nothing.
  await new Promise((r) => setTimeout(r, 1100));
  const read = await get(w.mf, "/v1/recent");
  assert.equal(read.status, 200);
  const feed = JSON.parse(await w.kv.get("recent:v1"));
  assert.ok(feed.length >= 3 && feed.length <= 100);
  assert.deepEqual(feed.slice(0, 3).map((e) => e.message), ["hot 2", "hot 1", "hot 0"]);
});

test("a batch is acked whatever the hot feed's state: the consumer never refreshes it", async () => {
  // A feed's refresh reads the storage state with the catalogue; make that read fail, leaving
  // the write and its count fine.
  await w.db.exec("ALTER TABLE storage_state RENAME TO storage_state_away;");
  const event = storedEvent("stored despite feed failure");
  try {
    const result = await deliver([message([event], "m-feed")]);
    assert.deepEqual(result.explicitAcks, ["m-feed"]);
    assert.deepEqual(result.retryMessages, []);
  } finally {
    await w.db.exec("ALTER TABLE storage_state_away RENAME TO storage_state;");
  }
  assert.equal(await countEvents(w.db, "id = ?", event.id), 1);
});
