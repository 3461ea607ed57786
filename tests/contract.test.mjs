// The contract from outside: schemathesis (pinned, in the project's own venv) generates
// requests from /openapi.json and checks every answer against it, with every check but the
// few schemathesis.toml leaves out and says why — against the worker as `npm start` serves it
// (`wrangler dev`, its own port and local state). The seed is fixed, so every run tries the
// same cases; `npm run schemathesis` against `npm start` tries new ones.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { waitFor } from "./helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const ADMIN = (readFileSync(`${ROOT}${existsSync(`${ROOT}.dev.vars`) ? ".dev.vars" : ".dev.vars.example"}`, "utf8").match(/ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/) || [])[1];
let server;
let url;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  const state = mkdtempSync(join(tmpdir(), "contract-"));
  const env = { ...process.env, EDGE_LOGGER_SKIP_BUILD: "1", WRANGLER_SEND_METRICS: "false" };
  execFileSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { cwd: ROOT, env, stdio: "ignore" });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state], { cwd: ROOT, env, stdio: "ignore", detached: true });
  await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), { timeoutMs: 120_000, intervalMs: 500, what: "wrangler dev to answer /health" });
});

after(() => {
  if (server) {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  }
});

test("schemathesis finds no disagreement between /openapi.json and the worker", async () => {
  const { code, out } = await new Promise((resolve) => {
    const child = spawn("bash", ["scripts/schemathesis.sh", "--seed", "20261203"], { cwd: ROOT, env: { ...process.env, BASE_URL: url, ADMIN_TOKEN: ADMIN } });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("close", (code) => resolve({ code, out }));
  });
  const summary = out.split("\n").filter((l) => /generated|passed|failures?|Errored|❌|🚫/.test(l));
  assert.equal(code, 0, `schemathesis failed:\n${out.slice(-6000)}`);
  assert.ok(summary.some((l) => /\d+ generated, \d+ passed/.test(l)), `no cases ran:\n${summary.join("\n")}`);
});
