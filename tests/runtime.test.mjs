// The local runtime every other test, `npm start` and the bench run on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

test("Miniflare runs a workerd that does not livelock under promise-reaction scheduling", () => {
  // src/platform/microtasks.rs resumes futures with promise reactions. workerd 2026-04-26
  // livelocks under that (V8's GC: ~175 concurrent 100-event batches, then nothing is ever
  // answered); 2026-06-01 and later do not (BENCHMARKS.md, "Runtime"). Only a load tool's
  // traffic (wrk) showed it, never this suite's own clients, so the version is what is held
  // here; the bench's formats phase is the load check. package.json pins it with `overrides`.
  // As Miniflare finds it: the variable, else the `workerd` package's binary.
  const binary = process.env.MINIFLARE_WORKERD_PATH ?? createRequire(import.meta.url)("workerd").default;
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
  const date = version.match(/(\d{4}-\d{2}-\d{2})/)?.[1];
  assert.ok(date, `cannot read a release date from "${version}"`);
  assert.ok(date >= "2026-06-01", `${binary} is ${version}; this worker needs workerd 2026-06-01 or later`);
});
