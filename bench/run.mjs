// npm run bench: side-by-side measurements in one run, on this machine (see BENCHMARKS.md).
//   1. single-event POST /v1/logs: our worker against a no-op JS worker (the floor) in the same
//      runtime, same payload and load, over real HTTP with wrk; the ratio is the figure, for
//      the ingest path alone and with our consumer storing on the same thread;
//   2. 100-event batches: events/s accepted, and end to end over BENCH_E2E_SECONDS (60) the
//      time until every accepted event is stored, with a count check (no loss, no duplicate),
//      for ours and for the baseline build (bench/baseline.mjs: events in one D1);
//   3. queries over BENCH_EVENTS (1,000,000) stored events over 30 days: p50/p95 of each
//      query and of a 7-day cursor walk, ours (day shards) against the baseline (one D1);
//   4. the native pipeline cost per event and the wasm size, raw and gzipped;
//   5. hostile: the peak memory of workerd for the worst request of each format against a
//      plain request of the same size (bodies that share one value among many events);
//   6. cost: what an event costs at Cloudflare's list prices, from the worker's own meter
//      (GET /v1/usage): BENCH_COST_EVENTS typical events in 100-event batches, then
//      BENCH_COST_SINGLES one per request.
// Sizes come from the environment so a quick run and the full run share the code.
import { Miniflare } from "miniflare";
import protobuf from "protobufjs";
import snappy from "snappy";
import { spawnSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { cpus } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";
import { applyMigrations } from "../tests/helpers.mjs";
import { ROOT, TOKEN, WRK_SECONDS, CONNECTIONS, tmp, log, ours, run, wrk, event } from "./common.mjs";
import { baselineRoot, BASELINE_REF } from "./baseline.mjs";

const E2E_SECONDS = Number(process.env.BENCH_E2E_SECONDS ?? 60);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const QUERY_RUNS = Number(process.env.BENCH_QUERY_RUNS ?? 40);
// Single events are also measured at more connections: ours and the floor-plus-queue share one
// send among the requests waiting, so how many wait at once shapes the ratio. Each level is run
// BENCH_SINGLE_REPS times, alternating with the floor; medians are reported.
const SINGLE_CONNECTIONS = [...new Set([CONNECTIONS, ...(process.env.BENCH_SINGLE_CONNECTIONS ?? "64,256").split(",").filter(Boolean).map(Number)])];
const SINGLE_REPS = Number(process.env.BENCH_SINGLE_REPS ?? 2);
// BENCH_ONLY=single, e2e, http (both), formats, queries, loki, tail, sourcemaps, workflow, hostile, cost, rules or startup runs one
// part (the others take minutes).
const ONLY = process.env.BENCH_ONLY ?? "";
// The end-to-end phase offers a constant load at this many events/s (with hey; persisting, not
// queueing, is what it measures; an unbounded load only grows the queue backlog).
const E2E_RATE = Number(process.env.BENCH_E2E_RATE ?? 12000);
// hey's workers each send on their own ticker and skip a tick while their answer is late, so
// too few of them turn slow answers (a consumer transaction holding the thread) into a lower
// offered rate: enough workers that one late answer costs little of the rate.
const E2E_WORKERS = Number(process.env.BENCH_E2E_WORKERS ?? 96);
// The full-load accepted-rate run is short: the local queue simulator does not survive the
// backlog a long one leaves (hundreds of thousands of events; a real queue holds millions).
const ACCEPT_SECONDS = Number(process.env.BENCH_ACCEPT_SECONDS ?? 5);
const results = { machine: `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}`, config: { WRK_SECONDS, E2E_SECONDS, E2E_RATE, E2E_WORKERS, EVENTS, QUERY_RUNS, CONNECTIONS, SINGLE_CONNECTIONS, SINGLE_REPS } };

function floorWorker() {
  return new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    compatibilityDate: "2026-04-20",
    script: `export default { async fetch(request) {
      const body = await request.json();
      const n = Array.isArray(body) ? body.length : 1;
      return new Response(JSON.stringify({ accepted: n, rejected: 0 }), { status: 202, headers: { "content-type": "application/json" } });
    } };`,
  });
}

/** The floor plus what every accepted request must do before its 202: get onto the queue.
 *  Concurrent requests share sends as ours do (src/ingest/outbox.rs): a request waits while one round
 *  sends everything waiting, looking at its own timer 1, 2, 4 … 32 ms apart as ours does: a
 *  request waiting on a promise the round resolves is cancelled by the runtime as hung
 *  (BENCHMARKS.md, "Queue sends"). A round is one message, sent with `send` as ours sends one
 *  (src/storage/queue.rs). */
function floorWithSendWorker() {
  return new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    compatibilityDate: "2026-04-20",
    queueProducers: { LOGS: "floor-send-logs" },
    queueConsumers: { "floor-send-logs": { maxBatchSize: 100, maxBatchTimeout: 1 } },
    script: `let waiting = [], running = false;
    async function rounds(env) {
      while (waiting.length) {
        const round = waiting; waiting = [];
        const body = new TextEncoder().encode('{"project":null,"events":[' + round.map((w) => w.text).join(",") + "]}");
        let ok = true;
        try { await env.LOGS.send(body, { contentType: "v8" }); } catch { ok = false; }
        for (const w of round) w.ok = ok;
      }
      running = false;
    }
    export default {
      async fetch(request, env, ctx) {
        const text = await request.text();
        const body = JSON.parse(text);
        const n = Array.isArray(body) ? body.length : 1;
        const w = { text, ok: undefined };
        waiting.push(w);
        if (!running) { running = true; ctx.waitUntil(rounds(env)); }
        for (let pause = 1; w.ok === undefined; pause = Math.min(pause * 2, 32)) await new Promise((r) => setTimeout(r, pause));
        return new Response(JSON.stringify({ accepted: w.ok ? n : 0, rejected: 0 }), { status: w.ok ? 202 : 503, headers: { "content-type": "application/json" } });
      },
      async queue(batch) { batch.ackAll(); },
    };`,
  });
}


/** A constant offered rate (open loop: hey's workers each send on their own ticker, so a slow
 *  answer does not lower the rate the way wrk's per-connection pause after each answer does). */
async function hey(url, bodyFile, seconds, requestsPerSecond, workers) {
  const out = await run("hey", ["-z", `${seconds}s`, "-c", String(workers), "-q", String(requestsPerSecond / workers), "-m", "POST", "-T", "application/json", "-H", `Authorization: Bearer ${TOKEN}`, "-D", bodyFile, url]);
  const statuses = Object.fromEntries([...out.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)].map((m) => [m[1], Number(m[2])]));
  const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
  const pct = (p) => Number((out.match(new RegExp(`${p}% in ([\\d.]+) secs`)) ?? [])[1] ?? NaN) * 1000;
  return { rps: Number((out.match(/Requests\/sec:\s+([\d.]+)/) ?? [])[1]), requests, ok: statuses["202"] ?? 0, non2xx: requests - (statuses["202"] ?? 0), p50_ms: pct(50), p99_ms: pct(99) };
}

/** Events the worker answered 202 for, from its own counters (a scrape flushes them). */
async function acceptedByServer(url) {
  let text = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      text = await (await fetch(`${url}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      break;
    } catch (e) {
      log(`metrics scrape failed (${e.cause?.code ?? e.message}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return [...text.matchAll(/^edge_logger_events_accepted_total\{[^}]*\} ([\d.e+]+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/** Waits until every accepted event is stored (or the deadline passes); returns when. */
async function drained(url, db, deadlineMs = 600_000) {
  const deadline = Date.now() + deadlineMs;
  let accepted = await acceptedByServer(url);
  while ((await storedCount(db)) < accepted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    accepted = await acceptedByServer(url);
  }
  return { at: Date.now(), accepted, stored: await storedCount(db) };
}

async function storedCount(db) {
  // Miniflare's proxy reuses kept-alive connections to workerd, which may close one just then
  // ("other side closed"): such a read is asked again.
  for (let attempt = 0; ; attempt++) {
    try {
      const row = await db.prepare("SELECT coalesce(sum(value), 0) AS n FROM metric_counters WHERE name = 'edge_logger_events_stored_total'").first();
      return row.n;
    } catch (e) {
      if (attempt === 4) throw e;
      log(`stored count failed (${e.cause?.code ?? e.message}); retrying`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}


const batch = join(tmp, "batch.json");
writeFileSync(batch, JSON.stringify(Array.from({ length: 100 }, (_, i) => event(i))));

// 1. single event, ours vs the floor; then 2a. 100-event batches accepted at full load
if (!ONLY || ONLY === "http" || ONLY === "single") {
  const body = join(tmp, "single.json");
  writeFileSync(body, JSON.stringify(event(1)));
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length / 2;
    return sorted.length % 2 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const runs = Object.fromEntries(SINGLE_CONNECTIONS.map((c) => [c, { floor_a: [], with_send: [], floor_b: [], ours_ingest: [], ours: [] }]));
  // Each level's runs of the workers in `order` (`[runs key, url]`), alternating.
  const alternate = async (order, afterEach = async () => {}) => {
    for (let rep = 0; rep < SINGLE_REPS; rep++) {
      for (const c of SINGLE_CONNECTIONS) {
        for (const [key, url] of order) runs[c][key].push(await wrk(url, body, { connections: c }));
        await afterEach();
      }
    }
  };
  // A. The floor plus getting onto the queue, in the same runtime: the part of the gap that is
  // the platform's (an event is only answered 202 once it is queued). Measured first and
  // disposed before our worker starts: once, with it started after ours, our worker's
  // consumer stopped receiving batches (cause not established; not seen since).
  let floor = floorWorker();
  let floorUrl = await floor.ready;
  const withSend = floorWithSendWorker();
  const withSendUrl = await withSend.ready;
  await wrk(withSendUrl, body, { seconds: 3 }); // warm-ups
  await wrk(floorUrl, body, { seconds: 3 });
  await alternate([["floor_a", floorUrl], ["with_send", withSendUrl]]);
  await withSend.dispose();
  await floor.dispose();
  // B. Ours against the floor, alternating, twice over: the ingest path alone (a worker whose
  // queue has no consumer: the local queue takes the messages and drops them, as in
  // production where the consumer runs in invocations of its own, not on the producer's
  // thread), and the whole worker, its consumer storing every event on the same thread while
  // the load runs (each of those runs is stored in full before the next measurement, so the
  // consumer never runs during another worker's run).
  const mf = ours();
  const url = await mf.ready;
  const db = await mf.getD1Database("DB");
  await applyMigrations(db);
  const ingestOnly = ours({ queueConsumers: {} });
  const ingestOnlyUrl = await ingestOnly.ready;
  await applyMigrations(await ingestOnly.getD1Database("DB"));
  floor = floorWorker();
  floorUrl = await floor.ready;
  await wrk(`${url}v1/logs`, body, { seconds: 3 }); // warm-ups
  await wrk(`${ingestOnlyUrl}v1/logs`, body, { seconds: 3 });
  await wrk(floorUrl, body, { seconds: 3 });
  await drained(url, db);
  await alternate([["floor_b", floorUrl], ["ours_ingest", `${ingestOnlyUrl}v1/logs`], ["ours", `${url}v1/logs`]], () => drained(url, db));
  await floor.dispose();
  await ingestOnly.dispose();
  // Medians of the alternated runs; each ratio compares runs of the same phase.
  const summary = (list) => ({
    ok_rps: median(list.map((r) => r.ok_rps)),
    p50_ms: median(list.map((r) => r.p50_ms)),
    p99_ms: median(list.map((r) => r.p99_ms)),
    non2xx: list.reduce((n, r) => n + r.non2xx, 0),
    runs_ok_rps: list.map((r) => Math.round(r.ok_rps)),
  });
  const byConnections = Object.fromEntries(
    SINGLE_CONNECTIONS.map((c) => {
      const r = runs[c];
      const [floorA, withSendS, floorB, oursIngestS, oursS] = [summary(r.floor_a), summary(r.with_send), summary(r.floor_b), summary(r.ours_ingest), summary(r.ours)];
      return [c, {
        floor: floorB,
        floor_with_queue_send: withSendS,
        ours_ingest_path: oursIngestS,
        ours: oursS,
        ingest_path_ratio: oursIngestS.ok_rps / floorB.ok_rps,
        ratio: oursS.ok_rps / floorB.ok_rps,
        floor_with_send_ratio: withSendS.ok_rps / floorA.ok_rps,
        ratio_to_floor_with_send: oursS.ok_rps / withSendS.ok_rps,
        ingest_path_ratio_to_floor_with_send: oursIngestS.ok_rps / withSendS.ok_rps,
      }];
    }),
  );
  results.single = { connections: CONNECTIONS, ...byConnections[CONNECTIONS], by_connections: byConnections };
  log("single event", JSON.stringify(results.single, null, 1));

  if (ONLY !== "single") {
    await drained(url, db); // the single-event phase, fully stored first
    const full = await wrk(`${url}v1/logs`, batch, { seconds: ACCEPT_SECONDS });
    results.batches_accepted = { requests_per_s: full.rps, accepted_events_per_s: full.rps * 100, p50_ms: full.p50_ms, p99_ms: full.p99_ms, non2xx: full.non2xx };
    log("batches accepted at full load", results.batches_accepted);
    await drained(url, db); // the full-load backlog is stored before this worker goes
  }
  await mf.dispose();
}

// 2c. the same 100 events per request in each body format the worker takes, side by side on a
// fresh worker: our JSON array, NDJSON, OTLP/HTTP in JSON and in protobuf, a Loki push in JSON
// and in snappy protobuf, and an Elasticsearch bulk body of ECS documents. Every format maps into
// the same pipeline; what differs is the parsing and mapping in front of it. No consumer runs
// (the local queue then takes and drops the messages): its transactions hold the thread for
// hundreds of ms at a time, which in 5-second windows swung one format's figure by half
// between two runs. The formats alternate, twice; both runs are kept, and ratios compare the
// better run of each.
if (!ONLY || ONLY === "http" || ONLY === "formats") {
  const mf = ours({ queueConsumers: {} });
  const url = await mf.ready;
  await applyMigrations(await mf.getD1Database("DB"));
  const events = Array.from({ length: 100 }, (_, i) => event(i));
  const nowNs = BigInt(Date.now()) * 1000000n;
  const formats = {
    json: ["v1/logs", "application/json", JSON.stringify(events)],
    ndjson: ["v1/logs", "application/x-ndjson", events.map((e) => JSON.stringify(e)).join("\n") + "\n"],
    otlp_json: ["otlp/v1/logs", "application/json", JSON.stringify({
      resourceLogs: [{
        resource: { attributes: [{ key: "service.name", value: { stringValue: "api" } }, { key: "deployment.environment", value: { stringValue: "production" } }] },
        scopeLogs: [{ scope: { name: "bench" }, logRecords: events.map((e, i) => ({
          timeUnixNano: String(nowNs + BigInt(i)),
          severityText: e.level.toUpperCase(),
          body: { stringValue: e.message },
          traceId: (i + 1).toString(16).padStart(32, "0"),
          attributes: [{ key: "http.route", value: { stringValue: e.endpoint } }, { key: "region", value: { stringValue: "eu" } }],
        })) }],
      }],
    })],
    loki_json: ["loki/api/v1/push", "application/json", JSON.stringify({
      streams: [{ stream: { service: "api", level: "info", region: "eu" }, values: events.map((e, i) => [String(nowNs + BigInt(i)), e.message]) }],
    })],
    elastic_bulk: ["_bulk", "application/x-ndjson", events.map((e, i) => `{"create":{}}\n${JSON.stringify({
      "@timestamp": new Date(Number((nowNs + BigInt(i)) / 1000000n)).toISOString(),
      message: e.message,
      log: { level: e.level },
      service: { name: "api" },
      url: { path: e.endpoint },
      trace: { id: (i + 1).toString(16).padStart(32, "0") },
      labels: { region: "eu" },
    })}\n`).join("")],
  };
  // The same OTLP records and Loki lines in the protobuf encodings agents send by default.
  const wire = protobufWire();
  const otlp = JSON.parse(formats.otlp_json[2]);
  for (const rl of otlp.resourceLogs) {
    for (const sl of rl.scopeLogs) {
      for (const r of sl.logRecords) {
        r.traceId = Buffer.from(r.traceId, "hex");
      }
    }
  }
  formats.otlp_protobuf = ["otlp/v1/logs", "application/x-protobuf", Buffer.from(wire.ExportLogsServiceRequest.encode(wire.ExportLogsServiceRequest.fromObject(otlp)).finish())];
  const loki = JSON.parse(formats.loki_json[2]);
  const push = {
    streams: loki.streams.map((s) => ({
      labels: `{${Object.entries(s.stream).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")}}`,
      entries: s.values.map(([ns, line]) => ({ timestamp: { seconds: Number(BigInt(ns) / 1000000000n), nanos: Number(BigInt(ns) % 1000000000n) }, line })),
    })),
  };
  formats.loki_protobuf = ["loki/api/v1/push", "application/x-protobuf", snappy.compressSync(Buffer.from(wire.PushRequest.encode(wire.PushRequest.fromObject(push)).finish()))];
  const runs = Object.fromEntries(Object.keys(formats).map((name) => [name, []]));
  for (const [name, [path, contentType, text]] of Object.entries(formats)) {
    writeFileSync(join(tmp, `format-${name}`), text);
    await wrk(`${url}${path}`, join(tmp, `format-${name}`), { seconds: 2, contentType }); // warm-up
  }
  for (let round = 0; round < 2; round++) {
    for (const [name, [path, contentType]] of Object.entries(formats)) {
      runs[name].push(await wrk(`${url}${path}`, join(tmp, `format-${name}`), { seconds: ACCEPT_SECONDS, contentType }));
    }
  }
  results.formats = {};
  for (const [name, [, , text]] of Object.entries(formats)) {
    const sorted = runs[name].map((r) => r.ok_rps * 100).sort((a, b) => a - b);
    if (runs[name].some((r) => r.non2xx > 0)) throw new Error(`the ${name} format was refused: ${JSON.stringify(runs[name])}`);
    results.formats[name] = {
      accepted_events_per_s: sorted,
      non2xx: runs[name].reduce((n, r) => n + r.non2xx, 0),
      p50_ms: runs[name].map((r) => r.p50_ms),
      bytes_per_request: typeof text === "string" ? Buffer.byteLength(text) : text.length,
    };
  }
  const best = (name) => results.formats[name].accepted_events_per_s.at(-1);
  for (const name of Object.keys(formats)) results.formats[name].ratio_to_json = best(name) / best("json");
  results.formats.otlp_protobuf.ratio_to_otlp_json = best("otlp_protobuf") / best("otlp_json");
  results.formats.loki_protobuf.ratio_to_loki_json = best("loki_protobuf") / best("loki_json");
  log("formats", results.formats);
  await mf.dispose();
}

// The OTLP logs and Loki push messages, as much of them as the formats phase encodes
// (protobufjs from their .proto text; the worker decodes them with prost).
function protobufWire() {
  const root = protobuf.parse(`
    syntax = "proto3";
    message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
    message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
    message Resource { repeated KeyValue attributes = 1; }
    message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
    message InstrumentationScope { string name = 1; }
    message LogRecord {
      fixed64 time_unix_nano = 1; int32 severity_number = 2; string severity_text = 3;
      AnyValue body = 5; repeated KeyValue attributes = 6; bytes trace_id = 9;
    }
    message KeyValue { string key = 1; AnyValue value = 2; }
    message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
    message PushRequest { repeated StreamAdapter streams = 1; }
    message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; }
    message EntryAdapter { Timestamp timestamp = 1; string line = 2; }
    message Timestamp { int64 seconds = 1; int32 nanos = 2; }
  `, { keepCase: false }).root;
  return { ExportLogsServiceRequest: root.lookupType("ExportLogsServiceRequest"), PushRequest: root.lookupType("PushRequest") };
}

// 2b. end to end over E2E_SECONDS on a fresh worker and database, so that no earlier phase's
// backlog or rows are counted: 100-event batches offered at a constant E2E_RATE events/s,
// the time until every accepted event is stored, and a count check (no loss, no duplicate).
// Run for ours (events in shards) and for the baseline build (events in one D1), one after
// the other in the same run: the ratio of persisted events/s is the figure.
async function endToEnd({ root, shards, migrations = (file) => shards || file < "0010" }) {
  const e2e = ours({}, { root, shards });
  const e2eUrl = await e2e.ready;
  const e2eDb = await e2e.getD1Database("DB");
  await applyMigrations(e2eDb, migrations);
  const started = Date.now();
  const load = await hey(`${e2eUrl}v1/logs`, batch, E2E_SECONDS, E2E_RATE / 100, E2E_WORKERS);
  const loadEnded = Date.now();
  // Stored when the load stops: what is stored after it is the consumer working alone.
  const storedAtLoadEnd = await storedCount(e2eDb);
  const done = await drained(e2eUrl, e2eDb);
  await new Promise((r) => setTimeout(r, 3000));
  const accepted = await acceptedByServer(e2eUrl);
  const rows = shards ? await shardedRows(e2eUrl) : await e2eDb.prepare("SELECT count(*) AS n, count(DISTINCT event_id) AS distinct_ids FROM events").first();
  const figures = {
    seconds: E2E_SECONDS,
    offered_events_per_s: E2E_RATE,
    requests: load.requests,
    requests_answered_202: load.ok,
    accepted,
    accepted_in_answers: load.ok * 100,
    stored_rows: rows.n,
    lost: accepted - rows.distinct_ids,
    duplicated: rows.n - rows.distinct_ids,
    accepted_events_per_s: accepted / ((loadEnded - started) / 1000),
    persisted_events_per_s: rows.n / ((done.at - started) / 1000),
    drain_seconds_after_load: (done.at - loadEnded) / 1000,
    persisted_events_per_s_during_load: storedAtLoadEnd / ((loadEnded - started) / 1000),
    persisted_events_per_s_after_load: (rows.n - storedAtLoadEnd) / Math.max(0.001, (done.at - loadEnded) / 1000),
    p50_ms: load.p50_ms,
    p99_ms: load.p99_ms,
  };
  await e2e.dispose();
  return figures;
}

/** Stored events across shards: the count of each (from /v1/storage) and the distinct event
 *  ids, read back page by page (an event stored twice would show twice). */
async function shardedRows(url) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  const storage = await (await fetch(`${url}v1/storage`, { headers })).json();
  const ids = new Set();
  let seen = 0;
  let cursor = null;
  do {
    const page = await (await fetch(`${url}v1/logs?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { headers })).json();
    for (const e of page.logs) ids.add(e.event_id);
    seen += page.logs.length;
    cursor = page.next_cursor;
  } while (cursor);
  return { n: storage.totals.events, read_back: seen, distinct_ids: ids.size };
}

if (!ONLY || ONLY === "http" || ONLY === "e2e") {
  // BENCH_E2E_BASELINE=2ea6047 compares with the last build of row shards instead of one D1.
  const rowShards = process.env.BENCH_E2E_BASELINE;
  const baseline = baselineRoot(rowShards ?? BASELINE_REF);
  results.batches_baseline = rowShards
    ? await endToEnd({ root: baseline, shards: true, migrations: (file) => file < "0021" })
    : await endToEnd({ root: baseline, shards: false });
  log(`batches, baseline (${rowShards ? `row shards, ${rowShards}` : "one D1"})`, results.batches_baseline);
  results.batches = await endToEnd({ root: ROOT, shards: true });
  results.batches.persisted_ratio_to_baseline = results.batches.persisted_events_per_s / results.batches_baseline.persisted_events_per_s;
  log("batches", results.batches);
}

if (ONLY === "single" || ONLY === "e2e" || ONLY === "formats") {
  writeFileSync(`${ROOT}bench/results.json`, JSON.stringify(results, null, 2) + "\n");
  console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}

// 3. queries over EVENTS stored events spread over 30 days, side by side: ours (seeded through
// its own queue consumer into day shards) and the baseline build (seeded through its
// consumer's insert into one D1), the same events and the same queries on each.
const QUERY_DAYS = 30;
/** The receive time of the i-th seeded event: EVENTS spread evenly over QUERY_DAYS. */
const seedAt = (base, i) => new Date(base + i * ((QUERY_DAYS * 86400000) / EVENTS)).toISOString();
/** The i-th seeded event's id as the worker makes one: a UUIDv7, its receive time first. */
function seedId(base, i) {
  const time = Date.parse(seedAt(base, i)).toString(16).padStart(12, "0");
  return `${time.slice(0, 8)}-${time.slice(8)}-7000-8000-${(i + 1).toString(16).padStart(12, "0")}`;
}
function seedEvents(start, end, base, decorate = null) {
  const envs = ["production", "staging", "development"];
  const levels = [["info", 9], ["info", 9], ["info", 9], ["warn", 13], ["error", 17], ["debug", 5]];
  const events = [];
  for (let i = start; i < end; i++) {
    // Independent dimensions (no shared modulus), so every filter combination occurs.
    const [level, sev] = levels[Math.floor(i / 7) % levels.length];
    const at = seedAt(base, i);
    const id = seedId(base, i);
    const e = { id, event_id: id, received_at: at, timestamp: at, level, severity_number: sev, message: `request ${i % 5000} for user ${i % 977} took ${i % 900} ms${i % 97 === 0 ? " timeout upstream" : ""}`, environment: envs[i % 3], source_type: "backend", component: `Svc${i % 40}`, route: `/api/r${i % 50}/:id`, fingerprint: `fp${i % 2000}`, trace_id: `trace-${i}` };
    events.push(decorate ? decorate(e, i) : e);
  }
  return events;
}

/** A worker seeded with EVENTS events over QUERY_DAYS days, and the queries to time on it. */
async function seedQueries({ root, shards, migrations = (file) => shards || file < "0010", decorate = null, only = null }) {
  const mf = ours({ queueConsumers: {} }, { root, shards });
  const url = await mf.ready;
  const db = await mf.getD1Database("DB");
  await applyMigrations(db, migrations);
  const worker = await mf.getWorker();
  const seedStarted = Date.now();
  const base = Date.now() - QUERY_DAYS * 86400000;
  // Messages of 300 events (≈110 KB, as the producer packs them), ten to a consumer batch.
  for (let start = 0; start < EVENTS; start += 3000) {
    if (shards) {
      const messages = [];
      for (let m = start; m < Math.min(EVENTS, start + 3000); m += 300) {
        const body = new TextEncoder().encode(JSON.stringify({ project: null, events: seedEvents(m, Math.min(EVENTS, m + 300), base, decorate) }));
        messages.push({ id: `seed-${m}`, timestamp: new Date(), attempts: 1, body });
      }
      const result = await worker.queue("edge-logger-logs", messages);
      if (result.retryMessages.length) throw new Error(`seeding: ${result.retryMessages.length} messages retried`);
    } else {
      const events = seedEvents(start, Math.min(EVENTS, start + 3000), base);
      await db.prepare("INSERT OR IGNORE INTO events (data) SELECT value FROM json_each(?1, '$.events')").bind(JSON.stringify({ project: null, events })).run();
    }
    if (start % 99000 === 0) log(`seeded ${start} (${shards ? "shards" : "one D1"})`);
  }
  const seed = { events: EVENTS, days: QUERY_DAYS, seconds: (Date.now() - seedStarted) / 1000 };
  if (shards) seed.shards = (await (await fetch(`${url}v1/storage`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()).totals.shards;
  log("seed", seed);
  const weekAgo = new Date(Date.now() - 7 * 86400000).toISOString();
  const queries = {
    newest_page: "/v1/logs?limit=100",
    level_and_environment: "/v1/logs?level=error&environment=production&limit=100",
    // A combination that matches nothing: the filter index is scanned to its end.
    level_and_environment_no_match: "/v1/logs?level=error&environment=production&component=NoSuchComponent&limit=100",
    full_text: "/v1/logs?q=timeout&limit=100",
    fingerprint: "/v1/logs?fingerprint=fp1234&limit=100",
    trace_id: "/v1/logs?trace_id=trace-987654&limit=100",
    // One event of twenty days ago by its id (the dashboard's event page).
    event_by_id: `/v1/logs/${seedId(base, Math.floor(EVENTS / 3))}`,
    groups: "/v1/groups?sort=count&limit=50",
    stats: "/v1/stats?bucket=1h&by=level&from=" + weekAgo,
    stats_by_route: "/v1/stats?bucket=1h&by=route&from=" + weekAgo,
    stats_by_environment_errors_daily: "/v1/stats?bucket=1d&by=environment&level=error&from=" + new Date(base).toISOString(),
    // A cross filter (breakdown by component of one route) falls back to the full rollup.
    stats_cross_filter: "/v1/stats?bucket=1h&by=component&route=/api/r7/:id&from=" + new Date(Date.now() - 86400000).toISOString(),
  };
  if (only) {
    for (const [name, path] of Object.entries(only(Date.now()))) queries[name] = path;
    for (const name of Object.keys(queries)) if (!(name in only(Date.now()))) delete queries[name];
  }
  const get = async (path) => {
    const t = performance.now();
    const res = await fetch(`${url}${path.slice(1)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body}`);
    return { ms: performance.now() - t, body };
  };
  return { mf, seed, queries, get, weekAgo, walk: !only };
}

const pct = (times, p) => times[Math.min(times.length - 1, Math.floor(times.length * p))];
const percentiles = (times) => {
  times.sort((a, b) => a - b);
  return { p50_ms: pct(times, 0.5), p95_ms: pct(times, 0.95) };
};

/** A 7-day cursor walk: QUERY_RUNS pages of 100 from the newest, each page from the last
 *  one's cursor, over the events of the last week (crossing day shards): one page a call. */
function cursorWalk(target) {
  let cursor = null;
  let done = false;
  return async () => {
    if (done) return null;
    const { ms, body } = await target.get(`/v1/logs?limit=100&from=${target.weekAgo}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    cursor = JSON.parse(body).next_cursor;
    done = !cursor;
    return ms;
  };
}

/** Each query's p50/p95 on one seeded worker. */
async function timeQueries(target) {
  const figures = { seed: target.seed };
  for (const [name, path] of Object.entries(target.queries)) {
    const times = [];
    for (let i = 0; i < QUERY_RUNS; i++) times.push((await target.get(path)).ms);
    figures[name] = percentiles(times);
  }
  if (target.walk) {
    const next = cursorWalk(target);
    const walk = [];
    for (let i = 0; i < QUERY_RUNS; i++) {
      const ms = await next();
      if (ms === null) break;
      walk.push(ms);
    }
    figures.cursor_walk_7d = { ...percentiles(walk), pages: walk.length };
  }
  return figures;
}

/** The same queries on two seeded workers, run by run in turn (the baseline's run, then ours),
 *  so that whatever the machine does meanwhile falls on both alike. */
async function timeQueriesSideBySide(baseline, target) {
  const a = { seed: baseline.seed };
  const b = { seed: target.seed };
  for (const [name, path] of Object.entries(target.queries)) {
    const ta = [];
    const tb = [];
    for (let i = 0; i < QUERY_RUNS; i++) {
      // Each side's own path: an id or a time range follows the instant it was seeded at.
      ta.push((await baseline.get(baseline.queries[name] ?? path)).ms);
      tb.push((await target.get(path)).ms);
    }
    a[name] = percentiles(ta);
    b[name] = percentiles(tb);
  }
  const walks = [cursorWalk(baseline), cursorWalk(target)];
  const wa = [];
  const wb = [];
  for (let i = 0; i < QUERY_RUNS; i++) {
    const [ma, mb] = [await walks[0](), await walks[1]()];
    if (ma === null || mb === null) break;
    wa.push(ma);
    wb.push(mb);
  }
  a.cursor_walk_7d = { ...percentiles(wa), pages: wa.length };
  b.cursor_walk_7d = { ...percentiles(wb), pages: wb.length };
  return [a, b];
}

async function queryBench(options) {
  const target = await seedQueries(options);
  const figures = await timeQueries(target);
  await target.mf.dispose();
  return figures;
}

if (!ONLY || ONLY === "queries") {
  // BENCH_QUERIES_BASELINE=2ea6047 compares with the last build of row shards instead of one D1.
  // Both are seeded, then timed in turn, query run by query run.
  const rowShards = process.env.BENCH_QUERIES_BASELINE;
  const baselineRef = rowShards ?? BASELINE_REF;
  const baseline = await seedQueries(rowShards
    ? { root: baselineRoot(baselineRef), shards: true, migrations: (file) => file < "0021" }
    : { root: baselineRoot(baselineRef), shards: false });
  const target = await seedQueries({ root: ROOT, shards: true });
  if (!rowShards) delete target.queries.trace_id;
  [results.queries_baseline, results.queries] = await timeQueriesSideBySide(baseline, target);
  await baseline.mf.dispose();
  await target.mf.dispose();
  log(`queries, baseline (${rowShards ? `row shards, ${rowShards}` : "one D1"})`, results.queries_baseline);
  for (const [name, q] of Object.entries(results.queries)) {
    if (q.p95_ms !== undefined) {
      q.p95_ratio_to_baseline = q.p95_ms / results.queries_baseline[name].p95_ms;
      q.p50_ratio_to_baseline = q.p50_ms / results.queries_baseline[name].p50_ms;
    }
  }
  log("queries", results.queries);
}

// 3b. live tail: batches of 100 events under wrk, with no viewer and with 10 viewers attached
// (five tailing everything at their top rate, five tailing only the probes), alternated twice
// on one worker; while the viewers watch, a probe event is posted every 50 ms and its time from
// POST to frame is measured by the probe viewers (one clock: this process). No consumer runs,
// as in the formats phase: the hub is fed after the queue send, not by the consumer.
// 3b. Grafana's Loki data source over the same 1M events across 30 days (ours only: the
// previous build has no Loki query API): an Explore log query with a line filter over the last
// hour, the two metric queries Grafana users write most over 24 hours, and the logs volume
// histogram. Services and a context duration are added to the seeded events for them.
if (!ONLY || ONLY === "loki") {
  const services = ["api", "web", "worker"];
  const ns = (ms) => `${ms}000000`;
  const enc = encodeURIComponent;
  const lokiQueries = (now) => ({
    loki_explore_line_filter_1h: `/loki/api/v1/query_range?query=${enc('{service="api"} |= "timeout"')}&limit=1000&direction=backward&start=${ns(now - 3600e3)}&end=${ns(now)}`,
    loki_count_by_level_24h: `/loki/api/v1/query_range?query=${enc('sum by (level) (count_over_time({service="api"}[5m]))')}&start=${ns(now - 86400e3)}&end=${ns(now)}&step=300`,
    loki_p95_duration_by_route_24h: `/loki/api/v1/query_range?query=${enc('quantile_over_time(0.95, {service="api"} | json | unwrap duration_ms [5m]) by (route)')}&start=${ns(now - 86400e3)}&end=${ns(now)}&step=300`,
    // The same count over a counted dimension: answered by the minute rollup (steps aligned).
    loki_count_by_level_24h_rollup: `/loki/api/v1/query_range?query=${enc('sum by (level) (count_over_time({environment="production"}[5m]))')}&start=${ns(Math.floor(now / 300e3) * 300e3 - 86400e3)}&end=${ns(Math.floor(now / 300e3) * 300e3)}&step=300`,
    loki_volume_range_1h: `/loki/api/v1/index/volume_range?query=${enc('{service="api"}')}&targetLabels=level&start=${ns(now - 3600e3)}&end=${ns(now)}&step=60`,
  });
  results.loki = await queryBench({ root: ROOT, shards: true, decorate: (e, i) => ({ ...e, service: services[i % 3], context: { duration_ms: i % 900 } }), only: lokiQueries });
  log("loki", results.loki);
}

if (!ONLY || ONLY === "tail") {
  const mf = ours({ queueConsumers: {} });
  const url = await mf.ready;
  await applyMigrations(await mf.getD1Database("DB"));
  const body = join(tmp, "tail-batch");
  writeFileSync(body, JSON.stringify(Array.from({ length: 100 }, (_, i) => event(i))));
  await wrk(`${url}v1/logs`, body, { seconds: 2 }); // warm-up
  const latencies = [];
  let dropped = 0;
  let streamed = 0;
  const viewers = [];
  const attach = () =>
    Promise.all(
      Array.from({ length: 10 }, (_, i) => {
        const probes = i >= 5;
        const q = new URLSearchParams({ rate: "1000", ...(probes ? { query: "tailprobe" } : {}) });
        const ws = new WebSocket(`${url.toString().replace("http", "ws")}v1/tail?${q}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        viewers.push(ws);
        ws.on("message", (data) => {
          const frame = JSON.parse(data.toString());
          if (frame.type !== "events") return;
          dropped += frame.dropped;
          streamed += frame.events.length;
          if (!probes) return;
          const now = performance.now();
          for (const e of frame.events) latencies.push(now - Number(e.message.split(" ")[1]));
        });
        return new Promise((resolve, reject) => (ws.on("open", resolve), ws.on("error", reject)));
      }),
    );
  const runs = { none: [], viewers: [] };
  for (let round = 0; round < 2; round++) {
    runs.none.push(await wrk(`${url}v1/logs`, body, { seconds: ACCEPT_SECONDS }));
    await attach();
    let probing = true;
    const prober = (async () => {
      while (probing) {
        await fetch(`${url}v1/logs`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ message: `tailprobe ${performance.now()}`, level: "error" }) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    runs.viewers.push(await wrk(`${url}v1/logs`, body, { seconds: ACCEPT_SECONDS }));
    probing = false;
    await prober;
    for (const ws of viewers.splice(0)) ws.close();
  }
  const best = (list) => Math.max(...list.map((r) => r.ok_rps * 100));
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))];
  results.tail = {
    events_per_s_no_viewers: runs.none.map((r) => r.ok_rps * 100),
    events_per_s_10_viewers: runs.viewers.map((r) => r.ok_rps * 100),
    ratio_10_viewers_to_none: best(runs.viewers) / best(runs.none),
    non2xx: [...runs.none, ...runs.viewers].reduce((n, r) => n + r.non2xx, 0),
    post_to_frame_ms: { p50: pct(0.5), p99: pct(0.99), probes: latencies.length },
    firehose_viewers: { streamed, dropped },
  };
  log("tail", results.tail);
  await mf.dispose();
}

// 3c. source maps: 100 JavaScript exceptions a request (a real stack of the fixture app's
// minified bundle, run in V8) to two workers side by side, alternated twice: one holding the
// bundle's map (cached after the warm-up), one holding none (its events are not looked up).
// Then the first use of a 2 MB map: the first request after its upload against the next ones.
if (!ONLY || ONLY === "sourcemaps") {
  const { build } = await import("esbuild");
  const vm = await import("node:vm");
  const { mkdtempSync, readdirSync } = await import("node:fs");
  const bundleOf = async (entry, extra = {}) => {
    const outdir = mkdtempSync(join(tmp, "sm-"));
    await build({ entryPoints: [entry], bundle: true, minify: true, sourcemap: true, format: "iife", outdir, entryNames: "[name].[hash]", logLevel: "silent", ...extra });
    const js = readdirSync(outdir).find((f) => f.endsWith(".js"));
    return { js, code: readFileSync(join(outdir, js), "utf8"), map: readFileSync(join(outdir, `${js}.map`)) };
  };
  const app = await bundleOf(`${ROOT}tests/fixtures/sourcemaps/src/index.js`);
  const context = vm.createContext({});
  vm.runInContext(app.code, context, { filename: `https://shop.example/assets/${app.js}` });
  let stack;
  try {
    context.checkout(["x"]);
  } catch (e) {
    stack = e.stack.split("\n").filter((l) => !l.includes("bench/run.mjs") && !l.includes("node:internal")).join("\n");
  }
  const events = Array.from({ length: 100 }, (_, i) => ({ level: "error", release: "1.0.0", message: `checkout failed ${i}`, error: { type: "TypeError", message: "Cannot read properties of undefined (reading 'id')", stack } }));
  const body = join(tmp, "sm-batch");
  writeFileSync(body, JSON.stringify(events));
  const upload = async (base, release, b) => {
    const form = new FormData();
    form.set("url", `~/assets/${b.js}`);
    form.set("sourcemap", new Blob([b.map]), `${b.js}.map`);
    form.set("file", new Blob([b.code]), b.js);
    const res = await fetch(`${base}v1/releases/${release}/sourcemaps`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: form });
    if (res.status !== 201) throw new Error(`upload refused: ${res.status} ${await res.text()}`);
  };
  // Each its own D1 files, started one after the other (two at once contend for SQLite locks).
  const withMaps = ours({ queueConsumers: {}, r2Buckets: ["ARTIFACTS"], d1Persist: join(tmp, "d1-maps") });
  const mapsUrl = await withMaps.ready;
  const without = ours({ queueConsumers: {}, r2Buckets: ["ARTIFACTS"], d1Persist: join(tmp, "d1-none") });
  const urls = { maps: mapsUrl, none: await without.ready };
  for (const mf of [withMaps, without]) await applyMigrations(await mf.getD1Database("DB"));
  await upload(urls.maps, "1.0.0", app);
  // The map applies (checked once, not measured).
  const probe = await fetch(`${urls.maps}v1/logs`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(events.slice(0, 1)) });
  if (probe.status !== 202) throw new Error(`probe refused: ${probe.status}`);
  for (const u of Object.values(urls)) await wrk(`${u}v1/logs`, body, { seconds: 2 });
  const runs = { maps: [], none: [] };
  for (let round = 0; round < 2; round++) {
    for (const name of ["none", "maps"]) runs[name].push(await wrk(`${urls[name]}v1/logs`, body, { seconds: ACCEPT_SECONDS }));
  }
  const best = (list) => Math.max(...list.map((r) => r.ok_rps * 100));
  // First use of a 2 MB map: a generated app of many functions, one exception a request.
  const big = join(tmp, "sm-big.js");
  writeFileSync(big, Array.from({ length: 9000 }, (_, i) => `export function handler${i}(input) { const value = input.items[${i}]; return value.price * ${i} + input.tax; }`).join("\n") + "\nexport function boom(o) { return o.missing.id; }\nglobalThis.boom = boom;\n");
  const large = await bundleOf(big, { treeShaking: false });
  const ctx2 = vm.createContext({});
  vm.runInContext(large.code, ctx2, { filename: `https://shop.example/assets/${large.js}` });
  let bigStack;
  try {
    ctx2.boom({});
  } catch (e) {
    bigStack = e.stack.split("\n").filter((l) => l.includes(large.js) || !l.includes(" at ")).join("\n");
  }
  await upload(urls.maps, "2.0.0", large);
  const one = JSON.stringify({ level: "error", release: "2.0.0", error: { type: "TypeError", message: "x", stack: bigStack } });
  const timed = async () => {
    const t = performance.now();
    const res = await fetch(`${urls.maps}v1/logs`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: one });
    if (res.status !== 202) throw new Error(`refused: ${res.status}`);
    return performance.now() - t;
  };
  const first = await timed();
  const warm = [];
  for (let i = 0; i < 20; i++) warm.push(await timed());
  warm.sort((a, b) => a - b);
  results.sourcemaps = {
    events_per_s_with_cached_map: runs.maps.map((r) => r.ok_rps * 100),
    events_per_s_without_maps: runs.none.map((r) => r.ok_rps * 100),
    ratio_with_map_to_without: best(runs.maps) / best(runs.none),
    non2xx: [...runs.maps, ...runs.none].reduce((n, r) => n + r.non2xx, 0),
    large_map: { map_bytes: large.map.length, first_request_ms: first, warm_request_p50_ms: warm[10], first_use_cost_ms: first - warm[10] },
  };
  log("sourcemaps", results.sourcemaps);
  await withMaps.dispose();
  await without.dispose();
}

// The group workflow's cost in the consumer: the same stored events counted with the workflow's
// per-event work (the merge redirect with 20 merged fingerprints, release environments, ignore-
// until-users, hourly series by own fingerprint, 20 assignment rules) and without it (those
// triggers dropped, no merges), side by side, alternating rounds.
if (!ONLY || ONLY === "workflow") {
  const QUEUE_NAME = "edge-logger-logs";
  const workers = {};
  const instances = [];
  for (const name of ["without", "with"]) {
    const mf = ours({ queueConsumers: {}, d1Persist: join(tmp, `d1-workflow-${name}`), durableObjectsPersist: join(tmp, `do-workflow-${name}`) });
    await mf.ready;
    const db = await mf.getD1Database("DB");
    await applyMigrations(db);
    if (name === "without") {
      await db.exec("DROP TRIGGER intake_release_environment; DROP TRIGGER intake_ignore_users; DROP TRIGGER intake_merge_redirected; DROP TRIGGER groups_auto_assign;");
      await db.exec("DROP TRIGGER intake_group_count; CREATE TRIGGER intake_group_count AFTER INSERT ON events_intake WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL BEGIN INSERT INTO group_counts_hour (fingerprint, bucket, n) VALUES (new.fingerprint, substr(new.received_at, 1, 13), 1) ON CONFLICT DO UPDATE SET n = n + 1; END;");
    } else {
      const now = new Date().toISOString();
      for (let i = 0; i < 20; i++) {
        await db.prepare("INSERT INTO group_merges (source, target, merged_at, actor, moved_count) VALUES (?, ?, ?, 'bench', 0)").bind(`fp-${i}`, `fp-${100 + i}`, now).run();
        await db.prepare("INSERT INTO assign_rules (id, position, field, pattern, assignee, created_at) VALUES (?, ?, 'component', ?, 'someone', ?)").bind(`rule-${i}`, i, `nothing-${i}*`, now).run();
      }
    }
    workers[name] = await mf.getWorker();
    instances.push(mf);
  }
  let seq = 0;
  const batch = () =>
    Array.from({ length: 20 }, (_, m) => {
      const events = Array.from({ length: 100 }, (_, i) => {
        seq += 1;
        const id = `00000000-0000-4000-8000-${String(seq).padStart(12, "0")}`;
        const at = new Date().toISOString();
        return { id, event_id: id, received_at: at, timestamp: at, level: "error", severity_number: 17, message: `failure ${i % 200}`, fingerprint: `fp-${(seq * 7) % 200}`, component: `C${i % 10}`, environment: i % 2 ? "production" : "staging", release: `1.${seq % 5}.0`, user_id: `u${seq % 50}`, source_type: "backend" };
      });
      return { id: `wf-${seq}-${m}`, timestamp: new Date(), attempts: 1, body: new TextEncoder().encode(JSON.stringify({ project: null, events })) };
    });
  const round = async (worker) => {
    let events = 0;
    const t = performance.now();
    for (let call = 0; call < 10; call++) {
      const messages = batch();
      const answer = await worker.queue(QUEUE_NAME, messages);
      if (answer.explicitAcks.length !== messages.length) throw new Error(`workflow bench: ${messages.length - answer.explicitAcks.length} messages not stored`);
      events += messages.length * 100;
    }
    return events / ((performance.now() - t) / 1000);
  };
  for (const w of Object.values(workers)) await round(w); // warm-up
  const rates = { without: [], with: [] };
  for (let r = 0; r < 3; r++) for (const name of ["without", "with"]) rates[name].push(await round(workers[name]));
  const median = (l) => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)];
  results.workflow = { events_per_s_with: rates.with, events_per_s_without: rates.without, ratio_with_to_without: median(rates.with) / median(rates.without) };
  log("workflow", results.workflow);
  for (const mf of instances) await mf.dispose();
}

// 5. hostile: the worst request of each format (a value shared by every event, events at the
// size limit) and a plain request of about the same size, each on a fresh workerd: the peak
// resident memory of the process (VmHWM) over its memory before, as a multiple of the body.
if (!ONLY || ONLY === "hostile") {
  const { readdirSync } = await import("node:fs");
  const workerdPids = () =>
    new Set(readdirSync("/proc").filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("workerd");
      } catch {
        return false;
      }
    }));
  const status = (pid, field) => Number((readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${field}:\\s+(\\d+)`)) ?? [])[1]) * 1024;
  const json = (o) => ({ body: Buffer.from(JSON.stringify(o)), type: "application/json" });
  const lines = (n, f) => Array.from({ length: n }, (_, i) => f(i));
  const cases = {
    loki_shared_label: json({ streams: [{ stream: { service: "api", big: "x".repeat(40 * 1024) }, values: lines(10_000, (i) => [`${1764842400000000000 + i}`, `line ${i}`]) }] }),
    loki_plain: json({ streams: [{ stream: { service: "api" }, values: lines(10_000, (i) => [`${1764842400000000000 + i}`, `line ${i} ${"p".repeat(26)}`]) }] }),
    otlp_shared_resource: json({ resourceLogs: [{ resource: { attributes: [{ key: "big", value: { stringValue: "z".repeat(60 * 1024) } }] }, scopeLogs: [{ logRecords: lines(300, (i) => ({ severityNumber: 9, body: { stringValue: `record ${i}` } })) }] }] }),
    otlp_plain: json({ resourceLogs: [{ resource: { attributes: [] }, scopeLogs: [{ logRecords: lines(300, (i) => ({ severityNumber: 9, body: { stringValue: `record ${i} ${"r".repeat(200)}` } })) }] }] }),
    bulk_large_documents: { body: Buffer.from(lines(60, () => `{"index":{}}\n${JSON.stringify({ message: "b".repeat(70 * 1024) })}\n`).join("")), type: "application/x-ndjson" },
    bulk_plain: { body: Buffer.from(lines(4000, (i) => `{"index":{}}\n${JSON.stringify({ message: `doc ${i} ${"d".repeat(1000)}` })}\n`).join("")), type: "application/x-ndjson" },
  };
  const paths = { loki: "/loki/api/v1/push", otlp: "/otlp/v1/logs", bulk: "/_bulk" };
  results.hostile = {};
  for (const [name, { body, type }] of Object.entries(cases)) {
    const before = workerdPids();
    const mf = ours({ queueConsumers: {} });
    const base = await mf.ready;
    await applyMigrations(await mf.getD1Database("DB"));
    const pid = [...workerdPids()].find((p) => !before.has(p));
    await fetch(`${base}health`);
    const rss = status(pid, "VmRSS");
    const res = await fetch(`${base}${paths[name.split("_")[0]].slice(1)}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": type }, body });
    await res.arrayBuffer();
    const peak = status(pid, "VmHWM");
    results.hostile[name] = { body_bytes: body.length, status: res.status, peak_growth_bytes: peak - rss, multiple_of_body: Number(((peak - rss) / body.length).toFixed(1)) };
    log("hostile", name, results.hostile[name]);
    await mf.dispose();
  }
}

// 6. cost: typical events (59 % info, 21 % debug, 15 % warn, 5 % error with a stack) in
// 100-event batches, then one event per request, each on a fresh worker and database, every
// event stored before the meter is read: per event, rows written (D1, shards), queue
// operations, KV writes, requests, and dollars per million at the list prices of
// src/billing/mod.rs, as GET /v1/usage reports them.
if (!ONLY || ONLY === "cost") {
  const COST_EVENTS = Number(process.env.BENCH_COST_EVENTS ?? 100_000);
  const COST_SINGLES = Number(process.env.BENCH_COST_SINGLES ?? 10_000);
  const stack = "TypeError: Cannot read properties of undefined (reading 'id')\n    at getUser (/srv/app/routes/users.js:42:13)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)";
  const typical = (i) => {
    const r = (i * 7919) % 100;
    const level = r < 59 ? "info" : r < 80 ? "debug" : r < 95 ? "warn" : "error";
    const e = { message: `GET /api/users/${i % 9973} answered ${level === "error" ? 500 : 200} in ${i % 900} ms`, level, service: ["api", "web", "worker"][i % 3], environment: "production", endpoint: `/api/users/${i % 9973}`, trace_id: `${(i * 2654435761) % 4294967296}`.padStart(32, "0"), release: "2.4.1", tags: { region: ["eu", "us"][i % 2] } };
    if (level === "error") e.error = { type: "TypeError", message: "Cannot read properties of undefined (reading 'id')", stack };
    return e;
  };
  const measure = async (name, requests, { root = ROOT, migrations = () => true } = {}) => {
    const mf = ours({ queueConsumers: { "edge-logger-logs": { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 5 } }, d1Persist: join(tmp, `d1-cost-${name}`) }, { root });
    const base = await mf.ready;
    const db = await mf.getD1Database("DB");
    await applyMigrations(db, migrations);
    let next = 0;
    let sent = 0;
    const worker = async () => {
      while (next < requests.length) {
        const body = requests[next++];
        const res = await fetch(`${base}v1/logs`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body });
        const answer = await res.json();
        if (res.status !== 202) throw new Error(`cost bench: ${res.status} ${JSON.stringify(answer)}`);
        sent += answer.accepted;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await drained(base, db);
    // Two scrapes ten seconds apart: every isolate's meter is flushed by then.
    await new Promise((r) => setTimeout(r, 11_000));
    await fetch(`${base}metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const usage = await (await fetch(`${base}v1/usage`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    const units = Object.fromEntries(usage.days.flatMap((d) => d.items).reduce((m, i) => m.set(i.item, (m.get(i.item) ?? 0) + i.units), new Map()));
    const per = (item) => Number(((units[item] ?? 0) / sent).toFixed(4));
    const stored = usage.days.reduce((n, d) => n + d.events, 0);
    const bytes = usage.days.reduce((n, d) => n + d.bytes, 0);
    const result = {
      events: sent, stored,
      rows_written_per_event: { d1: per("d1_rows_written"), shards: per("do_rows_written") },
      rows_read_per_event: { d1: per("d1_rows_read"), shards: per("do_rows_read") },
      queue_operations_per_event: per("queue_operations"), kv_writes_per_event: per("kv_writes"), kv_reads_per_event: per("kv_reads"),
      requests_per_event: { worker: per("worker_requests"), durable_objects: per("do_requests") },
      bytes_kept_per_event: Math.round(bytes / Math.max(stored, 1)),
      usd_per_million_events_without_storage: Number((usage.total.usd / sent * 1e6).toFixed(2)),
      storage_usd_per_million_events_30_days: Number((bytes / Math.max(stored, 1) * 1e6 / 1e9 * 0.20).toFixed(2)),
    };
    await mf.dispose();
    return result;
  };
  const batches = [];
  for (let i = 0; i < COST_EVENTS; i += 100) batches.push(JSON.stringify(Array.from({ length: 100 }, (_, j) => typical(i + j))));
  const singles = Array.from({ length: COST_SINGLES }, (_, i) => JSON.stringify(typical(i)));
  // Side by side with the build before blocks and batch counters (rows per event, per-event
  // counting triggers), the same events on each: its own migrations, up to 0020.
  const COST_BASELINE = process.env.BENCH_COST_BASELINE ?? "2ea6047";
  const before = { root: baselineRoot(COST_BASELINE), migrations: (f) => f < "0021" };
  results.cost = {
    baseline: { ref: COST_BASELINE, batched: await measure("baseline-batched", batches, before), single: await measure("baseline-single", singles, before) },
    batched: await measure("batched", batches),
    single: await measure("single", singles),
  };
  log("cost", results.cost);
}

// 8. ingest rules: 100-event batches accepted per second by a worker holding 20 drop and sample
// rules (none matching the bench's events, so every event is judged by all 20) against the same
// worker without rules, alternated three times; best of each. No consumer runs (the rules act
// before the queue).
if (!ONLY || ONLY === "rules") {
  const mf = ours({ queueConsumers: {} });
  const url = await mf.ready;
  await applyMigrations(await mf.getD1Database("DB"));
  const batch = join(tmp, "rules-batch");
  writeFileSync(batch, JSON.stringify(Array.from({ length: 100 }, (_, i) => event(i))));
  const rule = async (body) => {
    const res = await fetch(`${url}v1/ingest-rules`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`rule refused: ${res.status} ${await res.text()}`);
    return (await res.json()).id;
  };
  const del = (id) => fetch(`${url}v1/ingest-rules/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
  await wrk(`${url}v1/logs`, batch, { seconds: 2 }); // warm-up
  const runs = { none: [], rules: [] };
  for (let round = 0; round < 3; round++) {
    runs.none.push((await wrk(`${url}v1/logs`, batch, { seconds: ACCEPT_SECONDS })).ok_rps * 100);
    const ids = [];
    for (let r = 0; r < 10; r++) ids.push(await rule({ query: `level:debug service:svc-${r}`, action: "drop" }));
    for (let r = 0; r < 10; r++) ids.push(await rule({ query: `"health check ${r}" env:staging`, action: "sample(0.1)" }));
    runs.rules.push((await wrk(`${url}v1/logs`, batch, { seconds: ACCEPT_SECONDS })).ok_rps * 100);
    for (const id of ids) await del(id);
  }
  const best = (list) => Math.max(...list);
  results.rules = { events_per_s_no_rules: runs.none, events_per_s_20_rules: runs.rules, ratio_20_rules_to_none: best(runs.rules) / best(runs.none) };
  log("rules", results.rules);
  await mf.dispose();
}

// 7. startup: what the wasm's size costs when an isolate starts. A fresh worker each round,
// then its first request that runs the wasm (timed from when Miniflare is ready), ours and the
// build before the storage-cost work alternating, ten rounds each; medians and both sizes.
if (!ONLY || ONLY === "startup") {
  const previous = process.env.BENCH_COST_BASELINE ?? "2ea6047";
  const roots = { previous: baselineRoot(previous), ours: ROOT };
  const times = { previous: [], ours: [] };
  for (let round = 0; round < 10; round++) {
    for (const [name, root] of Object.entries(roots)) {
      const mf = ours({ queueConsumers: {} }, { root });
      const url = await mf.ready;
      const started = performance.now();
      await (await fetch(`${url}v1/logs?limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      times[name].push(performance.now() - started);
      await mf.dispose();
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  const size = (root) => statSync(`${root}build/index_bg.wasm`).size;
  results.startup = {
    previous: { ref: previous, wasm_bytes: size(roots.previous), first_request_ms: median(times.previous) },
    ours: { wasm_bytes: size(roots.ours), first_request_ms: median(times.ours) },
  };
  log("startup", results.startup);
}

// 4. native pipeline and wasm size
{
  const bench = spawnSync("cargo", ["bench", "--quiet", "--bench", "pipeline"], { cwd: ROOT, encoding: "utf8" }).stdout;
  results.native_pipeline_us_per_event = Number((bench.match(/median ([\d.]+) µs/) ?? [])[1]);
  results.native_otlp_us_per_event = Number((bench.match(/OTLP[^\n]*median ([\d.]+) µs/) ?? [])[1]);
  const wasm = readFileSync(`${ROOT}build/index_bg.wasm`);
  results.wasm = { raw_bytes: wasm.length, gzip_bytes: gzipSync(wasm, { level: 9 }).length };
  log("native and wasm", results.native_pipeline_us_per_event, results.wasm);
}

writeFileSync(`${ROOT}bench/results.json`, JSON.stringify(results, null, 2) + "\n");
console.log(JSON.stringify(results, null, 2));
