// What bench/run.mjs and bench/profile.mjs share: our worker as the bench runs it, the load
// tool, the event every phase sends, and the settings those read.
import { Miniflare } from "miniflare";
import http from "node:http";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Miniflare's loopback server (this process) keeps idle connections for Node's default 5 s; the
// local queue broker logs each batch's result over one, and when Node closes it just as the
// broker reuses it, the broker's flush fails before it clears its pending-flush marker and it
// never delivers another batch (BENCHMARKS.md, "End to end under load"). Servers made here
// keep idle connections open instead.
const createServer = http.createServer;
http.createServer = function (...args) {
  const server = createServer.apply(this, args);
  server.keepAliveTimeout = 0;
  return server;
};

export const ROOT = new URL("..", import.meta.url).pathname;
export const TOKEN = "bench-admin-token";
export const WRK_SECONDS = Number(process.env.BENCH_WRK_SECONDS ?? 15);
export const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
export const tmp = mkdtempSync(join(tmpdir(), "bench-"));
export const log = (...a) => console.error("[bench]", ...a);

/** Our worker as the bench runs it; `root` another build of it (bench/baseline.mjs), whose
 *  events live in D1 when `shards` is false. */
export function ours(extra = {}, { root = ROOT, shards = true } = {}) {
  return new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    scriptPath: `${root}build/index.js`,
    modulesRoot: root,
    ...(shards ? { durableObjects: { EVENT_SHARDS: { className: "EventShard", useSQLite: true }, TAIL_HUBS: { className: "TailHub", useSQLite: true } }, durableObjectsPersist: join(tmp, `do-${Date.now()}`) } : {}),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-04-20",
    bindings: { ADMIN_TOKEN: TOKEN, DEFAULT_ENVIRONMENT: "production", BUILTIN_ALERTS: "false" },
    d1Databases: { DB: `bench-${Date.now()}` },
    d1Persist: join(tmp, "d1"),
    kvNamespaces: { HOT: "bench-kv" },
    kvPersist: false,
    queueProducers: { LOGS: "edge-logger-logs", ALERTS: "edge-logger-alerts" },
    queueConsumers: { "edge-logger-logs": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 5 } },
    ratelimits: Object.fromEntries(["RATE_LIMIT", "RATE_LIMIT_LOW", "RATE_LIMIT_HIGH"].map((n) => [n, { simple: { limit: 100000000, period: 10 } }])),
    ...extra,
  });
}

/** Runs a load tool and returns its output. Never spawnSync: Miniflare's queue broker logs each
 *  delivered batch through a loopback server in this Node process and awaits it before
 *  delivering the next, so a Node blocked for the whole load stalls the consumer (that was
 *  the "166 events/s stored while the load ran" of the earlier end-to-end figures). */
export function run(command, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => resolve(out));
  });
}

export async function wrk(url, bodyFile, { seconds = WRK_SECONDS, contentType = "application/json", connections = CONNECTIONS } = {}) {
  const out = await run("wrk", ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", `${ROOT}bench/post.lua`, url], {
    ...process.env,
    BODY_FILE: bodyFile,
    AUTH: TOKEN,
    CONTENT_TYPE: contentType,
  });
  if (process.env.BENCH_DEBUG) log(out);
  const num = (re) => Number((out.match(re) ?? [])[1] ?? NaN);
  const ms = (label) => {
    const m = out.match(new RegExp(`\\s${label}%\\s+([\\d.]+)(us|ms|s)`));
    if (!m) return NaN;
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const requests = num(/(\d+) requests in/);
  // A worker that answered nothing is stuck, not slow (a runtime livelock once showed as a
  // formats phase of zeros): stop rather than report a figure.
  if (!(requests > 0)) throw new Error(`wrk got no answer from ${url} in ${seconds} s; the worker is stuck:\n${out}`);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  // ok_rps counts only 202s: a runtime that fails fast would otherwise look fast.
  return { rps: num(/Requests\/sec:\s+([\d.]+)/), ok_rps: (requests - non2xx) / seconds, p50_ms: ms("50"), p99_ms: ms("99"), requests, ok: requests - non2xx, non2xx };
}

export const event = (i) => ({ message: `GET /api/users/${i % 9973} answered 200 in ${i % 900} ms`, level: i % 10 === 0 ? "error" : "info", service: "api", endpoint: `/api/users/${i % 9973}`, trace_id: `t${i}`, tags: { region: "eu" } });
