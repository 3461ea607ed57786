// The command line's pure parts; tests/tail.test.mjs runs the command against the worker.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseArgs, parseSince, formatEvent, run } from "../src/cli.js";

test("arguments: words, --name value, --name=value and flags", () => {
  assert.deepEqual(parseArgs(["tail", "level:>=error", "--rate", "5", "--json", "--url=http://x", "service:a"]), {
    flags: { rate: "5", json: true, url: "http://x" },
    words: ["tail", "level:>=error", "service:a"],
  });
  assert.throws(() => parseArgs(["tail", "--rate"]), /--rate needs a value/);
});

test("--since takes s, m, h, d and w", () => {
  assert.equal(parseSince("90s"), 90_000);
  assert.equal(parseSince("1h"), 3_600_000);
  assert.equal(parseSince("7d"), 604_800_000);
  for (const bad of ["", "1", "h", "1y", "-1h"]) assert.throws(() => parseSince(bad), /is not like/);
});

test("an event is one line, coloured only when asked", () => {
  const e = { received_at: "2026-12-04T12:00:00.000Z", level: "error", environment: "production", service: "checkout", message: "boom", error: { type: "TypeError" } };
  assert.equal(formatEvent(e), "2026-12-04T12:00:00.000Z ERROR production/checkout boom [TypeError]");
  assert.match(formatEvent(e, { color: true }), /\x1b\[31mERROR/);
});

test("usage and refusals come before any network", async () => {
  const lines = [];
  const io = { env: {}, out: (l) => lines.push(l), err: (l) => lines.push(l), isTTY: false };
  assert.equal(await run([], io), 2);
  assert.match(lines.join("\n"), /usage:/);
  await assert.rejects(run(["tail"], io), /--url or EDGE_LOGGER_URL/);
  await assert.rejects(run(["search", "x"], { ...io, env: { EDGE_LOGGER_URL: "http://x" } }), /--key or EDGE_LOGGER_KEY/);
  await assert.rejects(run(["tail", "--limit", "two"], { ...io, env: { EDGE_LOGGER_URL: "http://x", EDGE_LOGGER_KEY: "k" } }), /not a whole number/);
  assert.equal(await run(["nope"], { ...io, env: { EDGE_LOGGER_URL: "http://x", EDGE_LOGGER_KEY: "k" } }), 2);
});
