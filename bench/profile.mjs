// A V8 CPU profile of our worker's isolate under single-event load (the ingest path: no queue
// consumer), over the inspector, with self time by function. Build first without wasm-opt so
// the wasm keeps its function names: `WASM_OPT=off npm run build`, then
// `node bench/profile.mjs` (BENCH_PROFILE_CONNECTIONS, 64; BENCH_PROFILE_SECONDS, 8). wrk comes
// from Debian's packages (`npm run bench` installs it). The whole profile is written to
// bench/profile.cpuprofile (Chrome DevTools' Performance panel opens it).
import { Miniflare } from "miniflare";
import WebSocket from "ws";
import { spawn } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations } from "../tests/helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const BUILD = `${ROOT}build`, TOKEN = "bench-admin-token";
const CONNS = process.env.BENCH_PROFILE_CONNECTIONS ?? "64", SECONDS = process.env.BENCH_PROFILE_SECONDS ?? "8";
const INSPECTOR_PORT = 9239;
const tmp = mkdtempSync(join(tmpdir(), "profile-"));
const event = (i) => ({ message: `GET /api/users/${i % 9973} answered 200 in ${i % 900} ms`, level: i % 10 === 0 ? "error" : "info", service: "api", endpoint: `/api/users/${i % 9973}`, trace_id: `t${i}`, tags: { region: "eu" } });
writeFileSync(join(tmp, "single.json"), JSON.stringify(event(1)));
const mf = new Miniflare({
  host: "127.0.0.1", port: 0, modules: true, inspectorPort: INSPECTOR_PORT,
  scriptPath: `${BUILD}/index.js`, modulesRoot: BUILD,
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
  compatibilityDate: "2026-04-20",
  bindings: { ADMIN_TOKEN: TOKEN, DEFAULT_ENVIRONMENT: "production", BUILTIN_ALERTS: "false" },
  d1Databases: { DB: "p" }, d1Persist: false, kvNamespaces: { HOT: "p" }, kvPersist: false,
  queueProducers: { LOGS: "edge-logger-logs", ALERTS: "edge-logger-alerts" },
  ratelimits: Object.fromEntries(["RATE_LIMIT", "RATE_LIMIT_LOW", "RATE_LIMIT_HIGH"].map((n) => [n, { simple: { limit: 100000000, period: 10 } }])),
});
const url = await mf.ready;
await applyMigrations(await mf.getD1Database("DB"));
const wrk = (seconds) => new Promise((resolve) => {
  const c = spawn("wrk", ["-t2", `-c${CONNS}`, `-d${seconds}s`, "-s", `${ROOT}bench/post.lua`, `${url}v1/logs`], { env: { ...process.env, BODY_FILE: join(tmp, "single.json"), AUTH: TOKEN }, stdio: ["ignore", "pipe", "inherit"] });
  let out = ""; c.stdout.on("data", (d) => (out += d)); c.on("close", () => resolve(out));
});
await wrk(3);
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
// Our worker is "core:user:"; the others are Miniflare's own (entry, D1, KV, queue broker).
const target = targets.find((t) => t.title.includes("core:user:"));
if (!target) throw new Error(`no user worker among the inspector's targets: ${targets.map((t) => t.title).join(", ")}`);
console.error("targets:", targets.map((t) => t.title).join(" | "), "-> profiling", target.title);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.on("open", r));
let id = 0; const pending = new Map();
ws.on("message", (m) => { const msg = JSON.parse(m); if (pending.has(msg.id)) { pending.get(msg.id)(msg.result); pending.delete(msg.id); } });
const call = (method, params = {}) => new Promise((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); });
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 200 });
await call("Profiler.start");
const out = await wrk(SECONDS);
const { profile } = await call("Profiler.stop");
console.error(out.match(/Requests\/sec:.*/)?.[0]);
writeFileSync(`${ROOT}bench/profile.cpuprofile`, JSON.stringify(profile));
// Self time by function (a sample counts for the function on top of the stack).
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
const counts = new Map();
for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
let total = 0;
for (const [nid, c] of counts) {
  const n = byId.get(nid); const key = `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + c); total += c;
}
console.log(`samples ${total}`);
for (const [k, c] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) console.log(`${(100 * c / total).toFixed(1).padStart(5)}%  ${k}`);
ws.close();
await Promise.race([mf.dispose(), new Promise((r) => setTimeout(r, 5000))]);
process.exit(0);
