// Every per-domain environment in wrangler.toml passes `wrangler deploy --dry-run`, so a broken
// config is caught here and not by an operator; and the provisioning script prints a block
// for a new domain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const envs = [...readFileSync(join(ROOT, "wrangler.toml"), "utf8").matchAll(/^\[env\.([a-z0-9-]+)\]$/gm)].map((m) => m[1]);

test("wrangler.toml holds at least two domains", () => {
  assert.ok(envs.length >= 2, envs.join(","));
});

for (const env of envs) {
  test(`wrangler deploy --dry-run --env ${env}`, () => {
    const out = spawnSync("npx", ["wrangler", "deploy", "--dry-run", "--env", env, "--outdir", mkdtempSync(join(tmpdir(), "dry-"))], {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", EDGE_LOGGER_SKIP_BUILD: "1" },
      encoding: "utf8",
      timeout: 120000,
    });
    const text = out.stdout + out.stderr;
    assert.equal(out.status, 0, text);
    assert.match(text, /--dry-run: exiting now/);
    for (const binding of ["env.DB", "env.HOT", "env.LOGS", "env.ALERTS", "env.RATE_LIMIT"]) assert.ok(text.includes(binding), `${binding} bound in ${env}`);
  });
}

test("the provisioning script prints a complete block for a new domain", () => {
  const out = spawnSync("bash", ["scripts/provision-domain.sh", "--print-only", "globex", "logger.globex.dev/*", "globex.dev"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(out.status, 0, out.stderr);
  for (const part of ['[env.globex]', 'pattern = "logger.globex.dev/*"', 'queue = "edge-logger-globex-logs"', 'dead_letter_queue = "edge-logger-globex-alerts-dlq"', 'database_name = "edge-logger-globex"', 'binding = "HOT"']) {
    assert.ok(out.stdout.includes(part), part);
  }
  const bad = spawnSync("bash", ["scripts/provision-domain.sh", "--print-only", "Bad Name", "x/*", "x"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(bad.status, 2);
});
