// A V8 CPU profile of our worker's isolate under single-event load (the ingest path: no queue
// consumer), over the inspector, with self time by function. Build first without wasm-opt so
// the wasm keeps its function names: `WASM_OPT=off npm run build`, then
// `node bench/profile.mjs` (BENCH_PROFILE_CONNECTIONS, 64; BENCH_PROFILE_SECONDS, 8). wrk comes
// from Debian's packages (`npm run bench` installs it). The whole profile is written to
// bench/profile.cpuprofile (Chrome DevTools' Performance panel opens it).
import WebSocket from "ws";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyMigrations } from "../tests/helpers.mjs";
import { ROOT, tmp, log, ours, wrk, event } from "./common.mjs";

const connections = Number(process.env.BENCH_PROFILE_CONNECTIONS ?? 64);
const seconds = Number(process.env.BENCH_PROFILE_SECONDS ?? 8);
const INSPECTOR_PORT = 9239;

const body = join(tmp, "single.json");
writeFileSync(body, JSON.stringify(event(1)));
const mf = ours({ queueConsumers: {}, inspectorPort: INSPECTOR_PORT });
const url = `${await mf.ready}v1/logs`;
await applyMigrations(await mf.getD1Database("DB"));
await wrk(url, body, { seconds: 3, connections }); // warm-up

// Our worker is "core:user:"; the others are Miniflare's own (entry, D1, KV, queue broker).
const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json`)).json();
const target = targets.find((t) => t.title.includes("core:user:"));
if (!target) throw new Error(`no user worker among the inspector's targets: ${targets.map((t) => t.title).join(", ")}`);
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((resolve) => ws.on("open", resolve));
let lastId = 0;
const pending = new Map();
ws.on("message", (data) => {
  const message = JSON.parse(data);
  pending.get(message.id)?.(message.result);
  pending.delete(message.id);
});
const call = (method, params = {}) => new Promise((resolve) => {
  pending.set(++lastId, resolve);
  ws.send(JSON.stringify({ id: lastId, method, params }));
});
await call("Profiler.enable");
await call("Profiler.setSamplingInterval", { interval: 200 });
await call("Profiler.start");
const load = await wrk(url, body, { seconds, connections });
const { profile } = await call("Profiler.stop");
ws.close();
writeFileSync(`${ROOT}bench/profile.cpuprofile`, JSON.stringify(profile));
log(`${Math.round(load.ok_rps)} requests/s answered 202 at ${connections} connections while profiling`);

// Self time by function: a sample counts for the function on top of the stack.
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
for (const id of profile.samples) {
  const { functionName, url: script, lineNumber } = nodes.get(id).callFrame;
  const key = `${functionName || "(anon)"} ${script.split("/").pop()}:${lineNumber}`;
  self.set(key, (self.get(key) ?? 0) + 1);
}
console.log(`${profile.samples.length} samples`);
for (const [key, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 45)) {
  console.log(`${((100 * n) / profile.samples.length).toFixed(1).padStart(5)}%  ${key}`);
}
await Promise.race([mf.dispose(), new Promise((resolve) => setTimeout(resolve, 5000))]);
process.exit(0);
