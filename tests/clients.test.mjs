// The Python and Ruby clients against the built worker (Miniflare on a real port, real local
// D1, KV and Queues), each as an app would run it: a separate process, through a proxy that
// can drop an answer or play a worker that is down.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { startWorker, get, ADMIN_TOKEN, waitFor, waitForStored, countEvents, eventRows } from "./helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const CLIENTS = [
  { name: "python", cmd: process.env.PYTHON || "python3", app: `${ROOT}clients/python/tests/integration_app.py`, frame: "charge_card" },
  { name: "ruby", cmd: "ruby", app: `${ROOT}clients/ruby/test/integration_app.rb`, frame: "charge_card" },
];

let w;
let workerUrl;
let proxy;
let proxyUrl;
/** What the proxy does next: forwards, drops the next answer, or refuses everything. */
const mode = { dropNextAnswer: false, down: false, refused: 0, forwarded: 0 };

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  workerUrl = (await w.mf.ready).toString().replace(/\/$/, "");
  proxy = http.createServer((req, res) => {
    if (mode.down) {
      mode.refused++;
      req.socket.destroy(); // as a worker that is not there: no answer at all
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const drop = mode.dropNextAnswer && req.method === "POST";
      if (drop) mode.dropNextAnswer = false;
      const headers = { ...req.headers };
      delete headers.host;
      delete headers["content-length"];
      const answer = await fetch(`${workerUrl}${req.url}`, { method: req.method, headers, body: req.method === "POST" ? Buffer.concat(chunks) : undefined });
      const body = Buffer.from(await answer.arrayBuffer());
      mode.forwarded++;
      if (drop) {
        req.socket.destroy(); // stored, but the client never hears so
        return;
      }
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") || "application/json", ...(answer.headers.get("retry-after") ? { "retry-after": answer.headers.get("retry-after") } : {}) });
      res.end(body);
    });
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
});

after(async () => {
  proxy?.close();
  await w?.mf.dispose();
});

function runApp(client, appMode, run, { onLine } = {}) {
  return new Promise((resolve) => {
    const child = spawn(client.cmd, [client.app, appMode, proxyUrl, ADMIN_TOKEN, run], { env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
      for (const line of String(c).split("\n")) if (line && onLine) onLine(line);
    });
    child.stderr.on("data", (c) => (stderr += c));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Events whose event_id starts with `run-` (D1 refuses LIKE patterns this long). */
const byEventId = (run) => ["substr(json_extract(data, '$.event_id'), 1, ?) = ?", run.length + 1, `${run}-`];

for (const client of CLIENTS) {
  test(`${client.name}: 500 events through a proxy that drops the first answer arrive exactly once`, async () => {
    const run = `${client.name}-batch-${randomUUID()}`;
    mode.dropNextAnswer = true;
    const { code, stderr } = await runApp(client, "batch", run);
    assert.equal(code, 0, stderr);
    assert.equal(mode.dropNextAnswer, false, "an answer was dropped");
    await waitForStored(w.db, 500, ...byEventId(run));
    const [where, ...binds] = byEventId(run);
    const ids = (await eventRows(w.db, `SELECT json_extract(data, '$.event_id') AS event_id FROM events WHERE ${where}`, ...binds)).map((r) => r.event_id);
    assert.equal(new Set(ids).size, 500);
    const one = (await get(w.mf, `/v1/logs?limit=1&tag.event_type=item.processed&service=${client.name === "python" ? "py" : "rb"}-worker`)).body.logs[0];
    assert.equal(one.tags.event_type, "item.processed");
  });

  test(`${client.name}: an exception arrives grouped, with its frames`, async () => {
    const run = `${client.name}-exc-${randomUUID()}`;
    const { code, stderr } = await runApp(client, "exception", run);
    assert.equal(code, 0, stderr);
    await waitForStored(w.db, 3, "json_extract(data, '$.tags.run') = ?", run);
    const { body } = await get(w.mf, `/v1/logs?tag.run=${run}`);
    assert.equal(body.logs.length, 3);
    const fingerprints = new Set(body.logs.map((e) => e.fingerprint));
    assert.equal(fingerprints.size, 1, "three raises of one bug are one group");
    const [event] = body.logs;
    assert.equal(event.error_kind, "exception");
    assert.equal(event.level, "error");
    const detail = (await get(w.mf, `/v1/logs/${event.id}`)).body;
    const top = detail.stack_frames[0];
    assert.equal(top.function, client.frame, JSON.stringify(detail.stack_frames));
    assert.equal(top.in_app, true);
    const group = await waitFor(async () => {
      const g = (await get(w.mf, `/v1/groups/${event.fingerprint}`)).body;
      return g && g.count === 3 && g;
    }, { what: "the group to count three", seen: async () => (await get(w.mf, `/v1/groups/${event.fingerprint}`)).body?.count });
    assert.equal(group.count, 3);
  });

  test(`${client.name}: the worker down for 5 s loses nothing that fits the queue`, async () => {
    const run = `${client.name}-down-${randomUUID()}`;
    mode.down = true;
    mode.refused = 0;
    let queuedAt = 0;
    const done = runApp(client, "down", run, { onLine: (l) => l === "queued" && (queuedAt = Date.now()) });
    // Down from before the first send until the client has been refused at least twice and
    // 5 s have passed since everything was queued.
    await waitFor(() => queuedAt && mode.refused >= 2 && Date.now() - queuedAt >= 5000, { timeoutMs: 60000, intervalMs: 100, what: "two refused sends and 5 s down", seen: () => ({ refused: mode.refused, queuedAt }) });
    mode.down = false;
    const { code, stdout, stderr } = await done;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /flushed (True|true)/, stdout);
    await waitForStored(w.db, 500, ...byEventId(run));
  });

  test(`${client.name}: a process that exits flushes what it queued`, async () => {
    const run = `${client.name}-exit-${randomUUID()}`;
    const { code, stderr } = await runApp(client, "exit", run);
    assert.equal(code, 0, stderr);
    // The flush interval is ten minutes: only the exit can have sent these.
    await waitForStored(w.db, 3, "json_extract(data, '$.tags.run') = ?", run);
    assert.equal(await countEvents(w.db, "json_extract(data, '$.tags.run') = ? AND level = 'warn'", run), 3);
  });
}
