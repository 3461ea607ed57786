// Node's global handlers, in real child processes: the report gets out, and Node's own behaviour
// (crash with code 1 and the stack on stderr, unless the app handles it) is kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn } from "node:child_process";

let server;
let url;
const received = [];
before(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(...JSON.parse(body));
      res.writeHead(202, { "content-type": "application/json" });
      res.end('{"accepted":1,"rejected":0,"ids":[],"errors":[]}');
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

function run(mode) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [new URL("./fixtures/node_app.mjs", import.meta.url).pathname, mode], { env: { ...process.env, LOGGER_URL: url, NODE_OPTIONS: "" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const byMessage = (m) => received.filter((e) => e.message === m);

test("an uncaught exception is reported, then the process still dies with code 1 and the stack", async () => {
  const { code, stderr, stdout } = await run("uncaught");
  assert.equal(code, 1);
  assert.match(stderr, /RangeError: amount must be positive\n\s+at .*chargeCard/);
  assert.match(stdout, /starting uncaught/);
  const [event] = byMessage("amount must be positive");
  assert.equal(event.level, "critical");
  assert.equal(event.error.type, "RangeError");
  assert.equal(event.context.mechanism, "uncaughtException");
  assert.equal(event.service, "node-app");
  assert.ok(event.context.breadcrumbs.some((b) => b.category === "console" && b.message === "starting uncaught"));
});

test("an unhandled rejection is reported and, as Node does by default, ends the process", async () => {
  const { code, stderr } = await run("rejection");
  assert.equal(code, 1);
  assert.match(stderr, /db connection lost/);
  assert.equal(byMessage("db connection lost")[0].context.mechanism, "unhandledRejection");
});

test("when the app handles uncaught exceptions itself, the SDK reports and stays out of the way", async () => {
  const { code, stdout } = await run("own-handler");
  assert.equal(code, 0);
  assert.match(stdout, /app handled amount must be positive\nstill running/);
  assert.ok(byMessage("amount must be positive").some((e) => e.context.mechanism === "uncaughtException"));
});

test("events still queued when Node is about to exit are sent first; the SDK never keeps Node alive", async () => {
  // The app's flush interval is ten minutes: only a send on the way out gets the event here,
  // and a timer that kept Node alive would keep this test waiting.
  const { code } = await run("exit");
  assert.equal(code, 0);
  assert.equal(byMessage("sent on the way out").length, 1);
});
