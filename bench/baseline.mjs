// The build the bench measures ours against when a design changes: a git worktree of an earlier
// commit, built by its own scripts/build.sh into bench/.baseline/<ref>/build (once per ref).
// Default: ce1c53b, the last build that kept every event in one D1 database.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { ROOT, log } from "./common.mjs";

export const BASELINE_REF = process.env.BENCH_BASELINE ?? "ce1c53b";
/** Built baselines live outside the clone (one build per ref, kept across clones). */
const CACHE = process.env.XDG_CACHE_HOME ?? `${homedir()}/.cache`;

/** The baseline's root folder, built; builds it the first time. */
export function baselineRoot(ref = BASELINE_REF) {
  const dir = `${CACHE}/edge-logger/bench-baseline/${ref}/`;
  if (existsSync(`${dir}build/index.js`)) return dir;
  if (!existsSync(dir)) {
    mkdirSync(`${CACHE}/edge-logger/bench-baseline`, { recursive: true });
    log(`baseline: a worktree of ${ref} in ${dir}`);
    execFileSync("git", ["worktree", "add", "--force", "--detach", dir, ref], { cwd: ROOT, stdio: "inherit" });
  }
  // Its own packages (its scripts install them): a link to ours would let its `npm ci` empty ours.
  log(`baseline: building ${ref} (a few minutes, once)`);
  execFileSync("bash", ["scripts/build.sh"], { cwd: dir, stdio: "inherit", env: { ...process.env, EDGE_LOGGER_SKIP_BUILD: "" } });
  return dir;
}
