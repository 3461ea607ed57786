// Runs the real built worker (build/index.js + wasm) inside workerd through Miniflare, with
// real local D1, SQLite Durable Objects (the event shards), KV and Queues. Nothing of the
// platform is mocked.
import { Miniflare } from "miniflare";
import initSqlJs from "sql.js";
import { readFileSync, readdirSync, existsSync, mkdtempSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { randomUUID } from "node:crypto";
import assert from "node:assert/strict";

export const ADMIN_TOKEN = "test-admin-token";
export const QUEUE = "edge-logger-logs";
export const ALERTS_QUEUE = "edge-logger-alerts";
const ROOT = new URL("..", import.meta.url).pathname;

/** Splits a migration into statements; trigger bodies (BEGIN … END;) stay whole. */
export function splitSql(sql) {
  const statements = [];
  let current = [];
  let inTrigger = false;
  for (const raw of sql.split("\n")) {
    const line = raw.replace(/--.*$/, "").trimEnd();
    if (!line.trim()) continue;
    current.push(line);
    if (/^\s*CREATE\s+TRIGGER/i.test(line)) inTrigger = true;
    const ends = inTrigger ? /^\s*END;\s*$/i.test(line) : line.endsWith(";");
    if (ends) {
      statements.push(current.join("\n"));
      current = [];
      inTrigger = false;
    }
  }
  return statements;
}

/** Applies the migrations in order; `only` picks some of them (`(file) => boolean`). */
export async function applyMigrations(db, only = () => true) {
  const files = readdirSync(`${ROOT}migrations`).filter((f) => f.endsWith(".sql")).sort().filter(only);
  for (const file of files) {
    const statements = splitSql(readFileSync(`${ROOT}migrations/${file}`, "utf8"));
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

/**
 * A fresh worker with its own empty D1, KV and queue. `consumer: false` leaves the queue
 * without an automatic consumer, so a test can drive the consumer by hand.
 */
export async function startWorker({ consumer = true, bindings = {}, rateLimits = {}, extra = {}, migrations = () => true } = {}) {
  const suffix = randomUUID();
  const mf = new Miniflare({
    modules: true,
    scriptPath: `${ROOT}build/index.js`,
    modulesRoot: ROOT,
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-04-20",
    // Workers static assets, as deployed: the dashboard and /openapi.json.
    assets: { directory: `${ROOT}dashboard/dist`, binding: "ASSETS", routerConfig: { has_user_worker: true } },
    bindings: { ADMIN_TOKEN, DEFAULT_ENVIRONMENT: "production", ALERT_ALLOW_LOOPBACK: "true", ...bindings },
    d1Databases: { DB: `db-${suffix}` },
    d1Persist: false,
    durableObjects: { EVENT_SHARDS: { className: "EventShard", useSQLite: true }, TAIL_HUBS: { className: "TailHub", useSQLite: true } },
    durableObjectsPersist: false,
    kvNamespaces: { HOT: `kv-${suffix}` },
    kvPersist: false,
        queueProducers: { LOGS: QUEUE, ALERTS: ALERTS_QUEUE },
    queueConsumers: consumer
      ? {
                    [QUEUE]: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 5, deadLetterQueue: `${QUEUE}-dlq` },
                    [ALERTS_QUEUE]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 4, deadLetterQueue: `${ALERTS_QUEUE}-dlq` },
          [`${QUEUE}-dlq`]: { maxBatchSize: 10, maxBatchTimeout: 1 },
          [`${ALERTS_QUEUE}-dlq`]: { maxBatchSize: 10, maxBatchTimeout: 1 },
        }
      : {},
    r2Buckets: ["ARTIFACTS", ...(extra.r2Buckets ?? [])],
    r2Persist: false,
    ratelimits: {
      RATE_LIMIT: { simple: { limit: rateLimits.default ?? 100000, period: 10 } },
      RATE_LIMIT_LOW: { simple: { limit: rateLimits.low ?? 100000, period: 10 } },
            RATE_LIMIT_HIGH: { simple: { limit: rateLimits.high ?? 100000, period: 10 } },
    },
    ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== "r2Buckets")),
  });
  const db = await mf.getD1Database("DB");
  await applyMigrations(db, migrations);
  OWNERS.set(db, mf);
  const kv = await mf.getKVNamespace("HOT");
  return { mf, db, kv };
}

/** The Miniflare instance of each worker's D1 binding, so helpers given `w.db` reach its shards. */
const OWNERS = new WeakMap();

/** Each worker's shard stubs, made once: every `idFromName` and `get` is a synchronous round
 *  trip through Miniflare's proxy, and polling helpers would otherwise repeat them many times
 *  a second. */
const STUBS = new WeakMap();

async function shardStub(db, name) {
  let stubs = STUBS.get(db);
  if (!stubs) {
    stubs = { ns: await OWNERS.get(db).getDurableObjectNamespace("EVENT_SHARDS"), byName: new Map() };
    STUBS.set(db, stubs);
  }
  if (!stubs.byName.has(name)) stubs.byName.set(name, stubs.ns.get(stubs.ns.idFromName(name)));
  return stubs.byName.get(name);
}

/** One call to an event shard (the real Durable Object), as the worker makes it. */
export async function shardCall(db, name, call) {
  const res = await (await shardStub(db, name)).fetch("https://shard.internal/", { method: "POST", body: JSON.stringify(call) });
  const text = await res.text();
  if (!res.ok) throw new Error(`shard ${name} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** The catalogue's shard names (D1 `shards`). */
export async function shardNames(db) {
  return (await db.prepare("SELECT name FROM shards ORDER BY name").all()).results.map((r) => r.name);
}

/** The events table of the row store (src/shards/sql.rs, LEGACY_SCHEMA): D1's, column for
 *  column, so the tests' SQL over stored events reads the same columns wherever events are. */
const EVENTS_TABLE = readFileSync(`${ROOT}src/shards/sql.rs`, "utf8").match(/CREATE TABLE IF NOT EXISTS events \([\s\S]*?\n\);/)[0];
let sqlJs;

/** Every event a shard holds, read through the shard's own calls: its blocks (`export`), then
 *  any rows of an earlier release. */
export async function shardEvents(db, name) {
  const events = [];
  for (let after = 0; ;) {
    const answer = await shardCall(db, name, { export: { after, max_blocks: 64 } });
    if (!answer.blocks.length) break;
    for (const block of answer.blocks) events.push(...block.events);
    after = answer.blocks.at(-1).seq;
  }
  const rows = await shardCall(db, name, { rows: { query: { sql: "SELECT data FROM events ORDER BY seq", binds: [] } } });
  events.push(...rows.map((r) => JSON.parse(r.data)));
  return events;
}

/**
 * Rows of one SQL statement over every stored event: run over each shard's events (read from
 * the shard and put in an in-memory SQLite table shaped as D1's `events`) and over D1's
 * `events` (events from before the shards), concatenated; aggregates come back one row per shard.
 */
export async function eventRows(db, sql, ...binds) {
  const rows = [...(await db.prepare(sql).bind(...binds).all()).results];
  sqlJs ??= await initSqlJs();
  for (const name of await shardNames(db)) {
    const memory = new sqlJs.Database();
    try {
      memory.run(EVENTS_TABLE);
      const insert = memory.prepare("INSERT INTO events (data) VALUES (?)");
      for (const event of await shardEvents(db, name)) insert.run([JSON.stringify(event)]);
      insert.free();
      const statement = memory.prepare(sql);
      statement.bind(binds);
      while (statement.step()) rows.push(statement.getAsObject());
      statement.free();
    } finally {
      memory.close();
    }
  }
  return rows;
}

export function auth(token = ADMIN_TOKEN) {
  return { authorization: `Bearer ${token}` };
}

/** POST /v1/logs and return {status, headers, body}. */
export async function post(mf, body, { contentType = "application/json", headers = auth(), path = "/v1/logs" } = {}) {
  const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await mf.dispatchFetch(`http://localhost${path}`, {
    method: "POST",
    headers: { ...(contentType ? { "content-type": contentType } : {}), ...headers },
    body: payload,
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

export async function get(mf, path, headers = auth()) {
  const res = await mf.dispatchFetch(`http://localhost${path}`, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** How much longer every wait may take on a slow machine: `EDGE_LOGGER_TEST_TIMEOUT_SCALE=3`. */
export const TIMEOUT_SCALE = Math.max(1, Number(process.env.EDGE_LOGGER_TEST_TIMEOUT_SCALE) || 1);

/**
 * Polls until `check()` is truthy and returns it; never a fixed sleep. Fails after `timeoutMs`
 * (× TIMEOUT_SCALE) saying what it waited for and what it last saw: `seen()` when given, else
 * the last value `check()` returned.
 */
/**
 * Waits, when the current UTC hour has less than `marginMs` left, until the next one begins:
 * for a test whose assertions read the hourly rollups of events it sends now (a burst is a
 * spike only within its own hour). The outcome never depends on when the test runs.
 */
export async function awayFromHourBoundary(marginMs = 180_000) {
  const left = 3_600_000 - (Date.now() % 3_600_000);
  if (left < marginMs) await new Promise((resolve) => setTimeout(resolve, left + 1000));
}

export async function waitFor(check, { timeoutMs = 20000, intervalMs = 100, what = "condition", seen } = {}) {
  const limit = timeoutMs * TIMEOUT_SCALE;
  const deadline = Date.now() + limit;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const saw = seen ? await seen() : last;
  throw new Error(`timed out after ${limit} ms waiting for ${what}; last saw ${JSON.stringify(saw)}`);
}

/** Ids of rows that have `received_at` and `id`, newest first (the page order of /v1/logs). */
export function idsNewestFirst(rows) {
  const key = (r) => `${r.received_at}_${r.id}`;
  return [...rows].sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0)).map((r) => r.id);
}

/** Stored events that match `where`, across every shard (and D1's events from before them). */
export async function countEvents(db, where = "1=1", ...binds) {
  const rows = await eventRows(db, `SELECT count(*) AS n FROM events WHERE ${where}`, ...binds);
  return rows.reduce((sum, r) => sum + r.n, 0);
}

/** Waits until exactly `n` rows match, then checks that no more arrive shortly after. */
export async function waitForStored(db, n, where = "1=1", ...binds) {
  await waitFor(async () => (await countEvents(db, where, ...binds)) >= n, {
    what: `${n} stored events where ${where}`,
    seen: async () => ({ stored: await countEvents(db, where, ...binds) }),
  });
  assert.equal(await countEvents(db, where, ...binds), n, "stored exactly once");
}

/** Asserts the contract's error body: {"error": {"code", "message"}}. */
export function assertError(res, status, code) {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.error.code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.error.message, "string");
  assert.ok(res.body.error.message.length > 0);
}

/** The local admin token, as `npm start` reads it (.dev.vars, else the example). */
export const DEV_ADMIN_TOKEN = (readFileSync(`${ROOT}${existsSync(`${ROOT}.dev.vars`) ? ".dev.vars" : ".dev.vars.example"}`, "utf8").match(/ADMIN_TOKEN\s*=\s*"?([^"\n]+)"?/) || [])[1];

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * The worker as `npm start` serves it: `wrangler dev` (static assets included) with migrated
 * local state of its own, on a free port. Returns its URL and a `stop()`.
 */
export async function startWranglerDev(prefix = "dev-", extraArgs = []) {
  const state = mkdtempSync(join(tmpdir(), prefix));
  const env = { ...process.env, EDGE_LOGGER_SKIP_BUILD: "1", WRANGLER_SEND_METRICS: "false" };
  execFileSync("npx", ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", state], { cwd: ROOT, env, stdio: "ignore" });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn("npx", ["wrangler", "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, ...extraArgs], { cwd: ROOT, env, stdio: "ignore", detached: true });
  const stop = () => {
    try {
      process.kill(-server.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
  };
  try {
    await waitFor(() => fetch(`${url}/health`).then((r) => r.ok, () => false), { timeoutMs: 120_000, intervalMs: 500, what: "wrangler dev to answer /health" });
  } catch (e) {
    stop();
    throw e;
  }
  return { url, stop };
}
