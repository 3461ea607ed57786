// The contract from outside: schemathesis (pinned, in the project's own venv) generates
// requests from /openapi.json and checks every answer against it, with every check but the
// few schemathesis.toml leaves out and says why — against the worker as `npm start` serves it
// (`wrangler dev`, its own port and local state). Generation is deterministic (a fixed seed
// alone is not: two workers and Hypothesis's adaptive search still varied the cases, so a run
// could fail by chance), so every run tries the same cases; `npm run schemathesis` against
// `npm start` tries new ones, and what it finds is fixed and kept here as a test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { startWranglerDev, DEV_ADMIN_TOKEN } from "./helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
let server;

before(async () => {
  server = await startWranglerDev("contract-");
});
after(() => server?.stop());

test("schemathesis finds no disagreement between /openapi.json and the worker", async () => {
  const { code, out } = await new Promise((resolve) => {
    const child = spawn("bash", ["scripts/schemathesis.sh", "--seed", "20261203", "--generation-deterministic"], { cwd: ROOT, env: { ...process.env, BASE_URL: server.url, ADMIN_TOKEN: DEV_ADMIN_TOKEN } });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("close", (code) => resolve({ code, out }));
  });
  const summary = out.split("\n").filter((l) => /generated|passed|failures?|Errored|❌|🚫/.test(l));
  assert.equal(code, 0, `schemathesis failed:\n${out.slice(-6000)}`);
  assert.ok(summary.some((l) => /\d+ generated, \d+ passed/.test(l)), `no cases ran:\n${summary.join("\n")}`);
});
