// `npm run test:repeat`: the flake hunter. Runs every suite many times while a CPU hog keeps
// every core busy, and lists each test that ever failed with how often. A test that fails
// only here depends on timing; it must be made to drive its clock or poll with a deadline.
//
//   TEST_REPEAT_FAST         runs of the fast suites: native, SDK, Python, Ruby (default 20)
//   TEST_REPEAT_INTEGRATION  runs of the integration suite (default 3)
//   TEST_REPEAT_SUITES       which suites, comma-separated (default native,sdk,python,ruby,integration)
//   TEST_REPEAT_HOG          0 runs without the CPU hog (default 1)
//
// scripts/test-repeat.sh builds first (the integration suite runs the built worker).
import { spawn } from "node:child_process";
import { cpus } from "node:os";

const ROOT = new URL("..", import.meta.url).pathname;
const fast = Number(process.env.TEST_REPEAT_FAST ?? 20);
const slow = Number(process.env.TEST_REPEAT_INTEGRATION ?? 3);
const chosen = (process.env.TEST_REPEAT_SUITES ?? "native,sdk,python,ruby,integration").split(",").map((s) => s.trim());

/** Each suite: how to run it once, how many times, and how to read the failed tests' names. */
const SUITES = [
  {
    name: "native",
    runs: fast,
    cmd: ["cargo", ["test", "--quiet", "--no-fail-fast"]],
    // `test path::to::name ... FAILED`; the terse form lists them under `failures:` as well.
    failed: (out) => [...out.matchAll(/^test (\S+) \.\.\. FAILED$/gm)].map((m) => m[1]),
  },
  {
    name: "sdk",
    runs: fast,
    cwd: `${ROOT}sdk`,
    cmd: ["node", ["--test", "--test-reporter=tap", "test/browser_sim.test.mjs", "test/events.test.mjs", "test/node_handlers.test.mjs", "test/transport.test.mjs"]],
    failed: tapFailures,
  },
  {
    name: "python",
    runs: fast,
    cwd: `${ROOT}clients/python`,
    cmd: ["python3", ["-m", "unittest", "discover", "-s", "tests"]],
    // `FAIL: test_name (module.Class.test_name)`, `ERROR: …`
    failed: (out) => [...out.matchAll(/^(?:FAIL|ERROR): (.+)$/gm)].map((m) => m[1].trim()),
  },
  {
    name: "ruby",
    runs: fast,
    cwd: `${ROOT}clients/ruby`,
    cmd: ["ruby", ["-Ilib", "-e", 'Dir["test/test_*.rb"].each { |f| require_relative f }']],
    // `  1) Failure:` or `  1) Error:`, then `Class#test_name [file:line]:`
    failed: (out) => [...out.matchAll(/^\s*\d+\) (?:Failure|Error):\n(\S+)/gm)].map((m) => m[1]),
  },
  {
    name: "integration",
    runs: slow,
    cmd: ["node", ["--test", "--test-concurrency=1", "--test-reporter=tap", "tests/"]],
    failed: tapFailures,
  },
];

/** The `not ok` tests of a TAP report; a file's own line only when none of its tests is named. */
function tapFailures(out) {
  const names = [...out.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((m) => m[1].trim());
  const tests = names.filter((n) => !/\.m?js$/.test(n));
  return [...new Set(tests.length ? tests : names)];
}

function run([cmd, args], cwd = ROOT) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, FORCE_COLOR: "0" } });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("close", (code) => resolve({ code, out }));
  });
}

// Keeps every core busy for as long as the suites run (busy loops at normal priority, as a
// build running beside the tests would).
const hogs = [];
if (process.env.TEST_REPEAT_HOG !== "0") {
  for (let i = 0; i < cpus().length; i++) {
    hogs.push(spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  }
}
const stopHogs = () => hogs.forEach((h) => h.kill("SIGKILL"));
process.on("exit", stopHogs);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

const report = [];
for (const suite of SUITES.filter((s) => chosen.includes(s.name))) {
  const counts = new Map();
  let failedRuns = 0;
  for (let i = 1; i <= suite.runs; i++) {
    const started = Date.now();
    const { code, out } = await run(suite.cmd, suite.cwd);
    const failed = suite.failed(out);
    if (code !== 0) {
      failedRuns++;
      if (!failed.length) failed.push(`(the run itself failed, exit ${code}: ${out.trim().split("\n").slice(-3).join(" | ")})`);
    }
    for (const name of failed) counts.set(name, (counts.get(name) ?? 0) + 1);
    console.log(`[test:repeat] ${suite.name} run ${i}/${suite.runs}: ${code === 0 ? "ok" : `FAILED (${failed.join("; ")})`} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  report.push({ suite: suite.name, runs: suite.runs, failedRuns, counts });
}
stopHogs();

console.log(`\n[test:repeat] under load (${hogs.length} busy loops on ${cpus().length} cores):`);
let flaky = 0;
for (const { suite, runs, failedRuns, counts } of report) {
  console.log(`  ${suite}: ${runs - failedRuns} of ${runs} runs passed`);
  for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    flaky++;
    console.log(`    ${n}× ${name}`);
  }
}
console.log(flaky ? `[test:repeat] ${flaky} test(s) failed at least once` : "[test:repeat] no test ever failed");
process.exit(flaky ? 1 : 0);
