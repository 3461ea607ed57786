// Agents' default wire formats, sent by the real clients against the worker on a real port:
// the OpenTelemetry JS SDK with its protobuf exporter, the OpenTelemetry Python SDK with its
// default exporter, winston-loki (snappy protobuf by default), and the official Elasticsearch
// client's bulk helper. Each event is read back with its fields mapped; hostile bodies get a
// 4xx, never a 5xx, and cost nothing else of their request.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { gzipSync } from "node:zlib";
import { createRequire } from "node:module";
import { startWorker, get, auth, waitForStored, eventRows, ADMIN_TOKEN } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const ROOT = new URL("..", import.meta.url).pathname;
let w;
let url;
let ingestKey;

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  url = (await w.mf.ready).toString();
  const res = await w.mf.dispatchFetch("http://localhost/v1/keys", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ name: "agents", scopes: ["ingest"] }),
  });
  assert.equal(res.status, 201);
  ingestKey = (await res.json()).key;
});
after(async () => {
  await w?.mf.dispose();
});

const TRACE = "5b8efff798038103d269b633813fc60c";
const SPAN = "eee19b7ec3c1b174";

async function logsOf(service, n) {
  await waitForStored(w.db, n, "service = ?", service);
  return (await get(w.mf, `/v1/logs?service=${service}&limit=100`)).body.logs;
}

test("the OpenTelemetry JS SDK's protobuf exporter (OTLP/HTTP, application/x-protobuf)", async () => {
  const { LoggerProvider, SimpleLogRecordProcessor } = await import("@opentelemetry/sdk-logs");
  const { OTLPLogExporter } = await import("@opentelemetry/exporter-logs-otlp-proto");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const api = await import("@opentelemetry/api");
  const exporter = new OTLPLogExporter({ url: `${url}otlp/v1/logs`, headers: { authorization: `Bearer ${ingestKey}` } });
  const provider = new LoggerProvider({
    resource: resourceFromAttributes({ "service.name": "otel-proto", "deployment.environment.name": "staging", "service.version": "4.2.0" }),
    processors: [new SimpleLogRecordProcessor(exporter)],
  });
  const logger = provider.getLogger("proto.scope");
  const inSpan = api.trace.setSpanContext(api.context.active(), { traceId: TRACE, spanId: SPAN, traceFlags: 1 });
  logger.emit({
    severityNumber: 17,
    severityText: "ERROR",
    body: "proto export failed",
    context: inSpan,
    attributes: { "exception.type": "ProtoError", "exception.message": "boom", "exception.stacktrace": "ProtoError: boom\n    at run (/srv/app/proto.js:3:9)", "http.route": "/api/orders/:id", retries: 3 },
  });
  logger.emit({ severityNumber: 13, body: { structured: true } });
  await provider.forceFlush();
  await provider.shutdown();
  const logs = await logsOf("otel-proto", 2);
  const error = logs.find((e) => e.level === "error");
  assert.equal(error.message, "proto export failed");
  assert.equal(error.environment, "staging");
  assert.equal(error.release, "4.2.0");
  assert.equal(error.trace_id, TRACE);
  assert.equal(error.span_id, SPAN);
  assert.equal(error.error.type, "ProtoError");
  assert.equal(error.error_kind, "exception");
  assert.equal(error.route, "/api/orders/:id");
  assert.equal(error.context.retries, 3);
  assert.equal(error.context.logger, "proto.scope");
  const warn = logs.find((e) => e.level === "warn");
  assert.deepEqual(JSON.parse(warn.message), { structured: true });
});

test("the OpenTelemetry Python SDK with its default exporter (protobuf), plain and gzipped", async () => {
  const python = `${ROOT}.tools/otel-python-venv/bin/python`;
  const script = `${ROOT}tests/fixtures/otel_python_logs.py`;
  const traces = [];
  for (const extra of [[], ["gzip"]]) {
    // Asynchronously: Miniflare's loopback runs in this process and must keep answering.
    const run = await new Promise((resolve) => {
      const child = spawn(python, [script, `${url}otlp/v1/logs`, ingestKey, ...extra]);
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      child.on("close", (status) => resolve({ status, stdout, stderr }));
    });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /Failed to export/i, run.stderr);
    traces.push(run.stdout.trim());
  }
  const logs = await logsOf("py-checkout", 4);
  for (const trace of traces) {
    const error = logs.find((e) => e.trace_id === trace && e.level === "error");
    assert.ok(error, `an error with trace ${trace}`);
    assert.equal(error.message, "payment failed in python");
    assert.equal(error.environment, "staging");
    assert.equal(error.release, "3.1.0");
    assert.match(error.span_id, /^[0-9a-f]{16}$/);
    assert.equal(error.error.type, "ValueError");
    assert.equal(error.error.message, "card 4242 declined");
    assert.match(error.error.stack, /Traceback[\s\S]*ValueError: card 4242 declined/);
    assert.equal(error.error_kind, "exception");
    const warn = logs.find((e) => e.trace_id === trace && e.level === "warn");
    assert.equal(warn.message, "retrying the charge");
    assert.equal(warn.context.attempt, 2);
  }
});

test("winston-loki's default transport (snappy protobuf) with basic auth, plain and JSON lines", async () => {
  const winston = require("winston");
  const LokiTransport = require("winston-loki");
  const plain = new LokiTransport({ host: url.replace(/\/$/, ""), basicAuth: `grafana:${ingestKey}`, labels: { job: "winston-app", env: "staging", region: "eu" } });
  const structured = new LokiTransport({
    host: url.replace(/\/$/, ""),
    basicAuth: `grafana:${ingestKey}`,
    labels: { job: "winston-json", env: "staging" },
    format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.json()),
  });
  // The default really is snappy protobuf here (winston-loki falls back to JSON without snappy).
  assert.equal(plain.batcher.contentType, "application/x-protobuf");
  const logger = winston.createLogger({ transports: [plain] });
  logger.info("winston plain line");
  logger.warn("winston warning", { order: 991 });
  const jsonLogger = winston.createLogger({ format: winston.format.errors({ stack: true }), defaultMeta: { trace_id: TRACE, span_id: SPAN }, transports: [structured] });
  jsonLogger.error(new Error("card declined in winston"));
  // close() sends what is batched and stops the transports' batching loops (which would keep
  // Node alive).
  await plain.close();
  await structured.close();
  const lines = await logsOf("winston-app", 2);
  const info = lines.find((e) => e.level === "info");
  // winston-loki writes the message, then the log's other fields as JSON.
  assert.match(info.message, /^winston plain line /);
  assert.equal(info.environment, "staging");
  assert.equal(info.tags.region, "eu");
  assert.match(lines.find((e) => e.level === "warn").message, /^winston warning \{.*"order":991/);
  const [error] = await logsOf("winston-json", 1);
  assert.equal(error.level, "error");
  assert.equal(error.message, "card declined in winston");
  assert.equal(error.trace_id, TRACE);
  assert.equal(error.span_id, SPAN);
  assert.match(error.error.stack, /Error: card declined in winston\n\s+at /);
  assert.equal(error.error_kind, "exception");
});

test("the official Elasticsearch client: info, probes and the bulk helper", async () => {
  const { Client } = require("@elastic/elasticsearch");
  const client = new Client({ node: url, auth: { apiKey: ingestKey } });
  const info = await client.info();
  assert.equal(info.tagline, "You Know, for Search");
  assert.ok(await client.indices.existsIndexTemplate({ name: "logs-es" }));
  assert.equal((await client.ilm.putLifecycle({ name: "logs-es", policy: { phases: {} } })).acknowledged, true);
  assert.equal((await client.license.get()).license.status, "active");
  const now = Date.now();
  const documents = [
    {
      "@timestamp": new Date(now).toISOString(),
      message: "es payment failed",
      log: { level: "error", logger: "payments" },
      service: { name: "es-checkout", environment: "staging", version: "5.0.1" },
      host: { name: "web-7" },
      trace: { id: TRACE },
      span: { id: SPAN },
      error: { type: "CardError", message: "declined", stack_trace: "CardError: declined\n    at pay (/srv/pay.js:1:1)" },
      labels: { team: "payments" },
    },
    { "@timestamp": new Date(now).toISOString(), message: "es info line", "log.level": "info", "service.name": "es-checkout", "service.environment": "staging" },
    { "@timestamp": new Date(now).toISOString(), "log.level": "info", "service.name": "es-checkout" },
  ];
  const dropped = [];
  const stats = await client.helpers.bulk({
    datasource: documents,
    onDocument: () => ({ create: { _index: "logs-es" } }),
    onDrop: (doc) => dropped.push(doc),
  });
  assert.equal(stats.total, 3);
  assert.equal(stats.successful, 2);
  assert.equal(stats.failed, 1, "the document without a message is refused, alone");
  assert.match(dropped[0].error.reason, /message/);
  assert.equal(dropped[0].status, 400);
  const logs = await logsOf("es-checkout", 2);
  const error = logs.find((e) => e.level === "error");
  assert.equal(error.message, "es payment failed");
  assert.equal(error.environment, "staging");
  assert.equal(error.release, "5.0.1");
  assert.equal(error.trace_id, TRACE);
  assert.equal(error.span_id, SPAN);
  assert.equal(error.error.type, "CardError");
  assert.equal(error.error_kind, "exception");
  assert.deepEqual(error.tags, { host: "web-7", team: "payments", index: "logs-es" });
  assert.equal(error.context.logger, "payments");
  assert.equal(error.timestamp, new Date(now).toISOString());
  await client.close();
});

test("the product header, GET / for clients and browsers, and the agents' auth schemes", async () => {
  const root = await fetch(url);
  assert.equal(root.status, 200);
  assert.equal(root.headers.get("x-elastic-product"), "Elasticsearch");
  const body = await root.json();
  assert.equal(body.version.number, "8.19.0");
  assert.equal(body.openapi, "/openapi.json");
  const beat = await (await fetch(url, { headers: { "user-agent": "Elastic-Filebeat/9.2.1 (linux; amd64)" } })).json();
  assert.equal(beat.version.number, "9.2.1", "a newer Beat is answered with its own version");
  const browser = await fetch(url, { redirect: "manual", headers: { accept: "text/html,application/xhtml+xml" } });
  assert.equal(browser.status, 302);
  const bulk = (headers) => fetch(`${url}_bulk`, { method: "POST", headers: { "content-type": "application/x-ndjson", ...headers }, body: '{"index":{}}\n{"message":"auth check","service":"es-auth"}\n' });
  const basicKeyAsUser = Buffer.from(`${ingestKey}:`).toString("base64");
  const apiKeyPair = Buffer.from(`some-id:${ingestKey}`).toString("base64");
  for (const header of [`ApiKey ${ingestKey}`, `ApiKey ${apiKeyPair}`, `Basic ${basicKeyAsUser}`, `Bearer ${ingestKey}`]) {
    const res = await bulk({ authorization: header });
    assert.equal(res.status, 200, header);
    assert.equal((await res.json()).errors, false);
  }
  const wrong = await bulk({ authorization: `Basic ${Buffer.from("elastic:changeme").toString("base64")}` });
  assert.equal(wrong.status, 401);
  await waitForStored(w.db, 4, "service = ?", "es-auth");
});

async function postRaw(path, body, headers) {
  const res = await fetch(`${url}${path.replace(/^\//, "")}`, { method: "POST", headers: { authorization: `Bearer ${ingestKey}`, ...headers }, body });
  return { status: res.status, type: res.headers.get("content-type"), bytes: Buffer.from(await res.arrayBuffer()) };
}

test("hostile bodies get a 4xx (a protobuf Status for protobuf OTLP), never a 5xx", async () => {
  const protobuf = { "content-type": "application/x-protobuf" };
  // A gzip bomb: 64 MiB of zeros in ~64 KB.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  const cases = [
    ["/otlp/v1/logs", bomb, { ...protobuf, "content-encoding": "gzip" }, 413],
    // Truncated: field 1 (resource_logs) announces 200 bytes and the body ends.
    ["/otlp/v1/logs", Buffer.from([0x0a, 0xc8, 0x01, 0x12, 0x00]), protobuf, 400],
    // Wrong wire type: field 1 as a varint.
    ["/otlp/v1/logs", Buffer.from([0x08, 0x01]), protobuf, 400],
    ["/otlp/v1/logs", Buffer.from("{}"), { "content-type": "text/plain" }, 415],
    // A snappy block that declares 4 GiB.
    ["/loki/api/v1/push", Buffer.from([0x80, 0x80, 0x80, 0x80, 0x0f, 0x00, 0x01]), protobuf, 413],
    ["/loki/api/v1/push", Buffer.from("not snappy"), {}, 400],
    ["/loki/api/v1/push", Buffer.from([0x02, 0x04, 0x08, 0x01]), protobuf, 400],
    // Nothing usable is still Elasticsearch's 200, each item's error inside (shippers read it).
    ["/_bulk", Buffer.from("garbage\n"), { "content-type": "application/x-ndjson" }, 200],
    ["/_bulk", bomb, { "content-encoding": "gzip" }, 413],
    // An index name Elasticsearch refuses (a leading `_`): a 400 that says why, not a 405.
    ["/__main__/_bulk", Buffer.from('{"index":{}}\n{"message":"x"}\n'), { "content-type": "application/x-ndjson" }, 400],
  ];
  for (const [path, body, headers, status] of cases) {
    const res = await postRaw(path, body, headers);
    assert.equal(res.status, status, `${path} ${JSON.stringify(headers)}: ${res.bytes.toString()}`);
    if (status === 200) assert.match(res.bytes.toString(), /"errors":true/);
    if (path === "/otlp/v1/logs" && headers["content-type"] === "application/x-protobuf") {
      assert.equal(res.type, "application/x-protobuf");
      // google.rpc.Status: field 1 (code) varint, field 2 (message) string.
      assert.equal(res.bytes[0], 0x08);
      assert.ok(res.bytes.includes(0x12));
    }
  }
});

test("a bulk body with a bad action line: that line is refused, every other document kept", async () => {
  const body = [
    '{"index":{"_index":"logs-mixed"}}',
    '{"message":"mixed one","service":"es-mixed"}',
    "this is no action",
    '{"message":"orphan document","service":"es-mixed"}',
    '{"create":{}}',
    '{"message":"mixed two","service":"es-mixed"}',
    '{"delete":{"_id":"x"}}',
    '{"create":{}}',
    '{"message":"mixed three","service":"es-mixed","log.level":"warn"}',
    "",
  ].join("\n");
  const res = await fetch(`${url}logs-path/_bulk`, { method: "POST", headers: { authorization: `ApiKey ${ingestKey}`, "content-type": "application/x-ndjson" }, body });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-elastic-product"), "Elasticsearch");
  const answer = await res.json();
  assert.equal(answer.errors, true);
  const statuses = answer.items.map((item) => Object.values(item)[0].status);
  assert.deepEqual(statuses, [201, 400, 201, 400, 201]);
  assert.match(answer.items[1].index.error.reason, /Malformed action\/metadata line \[3\]/);
  const logs = await logsOf("es-mixed", 3);
  assert.deepEqual(logs.map((e) => e.message).sort(), ["mixed one", "mixed three", "mixed two"]);
  assert.equal(logs.find((e) => e.message === "mixed one").tags.index, "logs-mixed");
  assert.equal(logs.find((e) => e.message === "mixed two").tags.index, "logs-path");
  const rows = await eventRows(w.db, "SELECT id FROM events WHERE service = ?", "es-mixed");
  assert.equal(rows.length, 3, "stored once each");
});

test("OTLP protobuf partial success, and Loki protobuf with Content-Encoding: snappy", async () => {
  // Two records, the second without a body: answered in protobuf with partial_success.
  const record = (body) => {
    const text = Buffer.from(body);
    const anyValue = Buffer.concat([Buffer.from([0x0a, text.length]), text]);
    return Buffer.concat([Buffer.from([0x2a, anyValue.length]), anyValue]);
  };
  const records = [record("partial ok"), Buffer.from([0x10, 0x09])].map((r) => Buffer.concat([Buffer.from([0x12, r.length]), r]));
  const scopeLogs = Buffer.concat(records);
  const resourceAttrs = Buffer.from([0x0a, 0x1b, 0x0a, 0x0c, ...Buffer.from("service.name"), 0x12, 0x0b, 0x0a, 0x09, ...Buffer.from("otel-part")]);
  const resource = Buffer.concat([Buffer.from([0x0a, resourceAttrs.length]), resourceAttrs]);
  const resourceLogs = Buffer.concat([resource, Buffer.from([0x12, scopeLogs.length]), scopeLogs]);
  const request = Buffer.concat([Buffer.from([0x0a, resourceLogs.length]), resourceLogs]);
  const res = await postRaw("/otlp/v1/logs", request, { "content-type": "application/x-protobuf" });
  assert.equal(res.status, 200);
  assert.equal(res.type, "application/x-protobuf");
  // ExportLogsServiceResponse { partial_success (1) { rejected_log_records (1) = 1, error_message (2) } }
  assert.equal(res.bytes[0], 0x0a);
  assert.equal(res.bytes[2], 0x08);
  assert.equal(res.bytes[3], 1);
  assert.match(res.bytes.toString("latin1"), /message/);
  await logsOf("otel-part", 1);

  const snappy = require("snappy");
  const line = Buffer.from("loki with content-encoding snappy");
  const labels = Buffer.from('{job="loki-snappy-header"}');
  const seconds = Math.floor(Date.now() / 1000);
  const timestamp = Buffer.from([0x08, ...varint(seconds)]);
  const entry = Buffer.concat([Buffer.from([0x0a, timestamp.length]), timestamp, Buffer.from([0x12, line.length]), line]);
  const stream = Buffer.concat([Buffer.from([0x0a, labels.length]), labels, Buffer.from([0x12, entry.length]), entry]);
  const push = Buffer.concat([Buffer.from([0x0a, stream.length]), stream]);
  const pushed = await postRaw("/loki/api/v1/push", snappy.compressSync(push), { "content-type": "application/x-protobuf", "content-encoding": "snappy" });
  assert.equal(pushed.status, 204);
  const [stored] = await logsOf("loki-snappy-header", 1);
  assert.equal(stored.message, "loki with content-encoding snappy");
});

function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

test("an ingest key cannot read, and the probes need a key", async () => {
  const probe = await fetch(`${url}_license`);
  assert.equal(probe.status, 401);
  const read = await fetch(`${url}v1/logs`, { headers: { authorization: `ApiKey ${ingestKey}` } });
  assert.equal(read.status, 403);
  const admin = await fetch(`${url}_index_template/x`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: "{}" });
  assert.equal(admin.status, 200);
  assert.deepEqual(await admin.json(), { acknowledged: true });
});

test("shippers' own shapes: Fluent Bit's `log`, Vector's `host` and `source_type` (bulk and Loki lines)", async () => {
  const now = new Date().toISOString();
  const body = [
    '{"create":{"_index":"fluent-bit","_type":"_doc"}}',
    JSON.stringify({ "@timestamp": now, log: "fluent bit tail line", stream: "stdout", kubernetes: { pod_name: "web-1" }, service: { name: "shippers" } }),
    '{"create":{"_index":"vector-2026.12.04"}}',
    JSON.stringify({ timestamp: now, message: "vector es line", host: "web-2", source_type: "file", service: { name: "shippers" } }),
    "",
  ].join("\n");
  const res = await fetch(`${url}_bulk`, { method: "POST", headers: { authorization: `Bearer ${ingestKey}`, "content-type": "application/x-ndjson" }, body });
  assert.deepEqual((await res.json()).items.map((i) => Object.values(i)[0].status), [201, 201]);
  const ns = `${Date.now()}000000`;
  const loki = await fetch(`${url}loki/api/v1/push`, {
    method: "POST",
    headers: { authorization: `Bearer ${ingestKey}`, "content-type": "application/json" },
    body: JSON.stringify({ streams: [{ stream: { service: "shippers" }, values: [[ns, JSON.stringify({ message: "vector loki line", source_type: "kubernetes_logs", host: "web-3" })]] }] }),
  });
  assert.equal(loki.status, 204);
  const logs = await logsOf("shippers", 3);
  const by = (m) => logs.find((e) => e.message === m);
  assert.equal(by("fluent bit tail line").context.stream, "stdout");
  assert.equal(by("vector es line").tags.host, "web-2");
  assert.equal(by("vector es line").context.source_type, "file");
  assert.equal(by("vector loki line").context.source_type, "kubernetes_logs");
});

test("a refusal leaves the connection usable: the next request on it is answered, not reset", async () => {
  // The worker reads a small body it refused before answering; unread, workerd may close the
  // connection under a keep-alive client, whose next request then fails with a reset.
  for (let i = 0; i < 50; i++) {
    const refused = await fetch(`${url}otlp/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${ingestKey}`, "content-type": "text/plain" }, body: "{}" });
    assert.equal(refused.status, 415);
    await refused.arrayBuffer();
    const unknown = await fetch(`${url}v1/logs`, { method: "POST", headers: { authorization: "Bearer nope", "content-type": "application/json" }, body: '{"message":"x"}' });
    assert.equal(unknown.status, 401);
    await unknown.arrayBuffer();
    const next = await fetch(`${url}loki/api/v1/push`, { method: "POST", headers: { authorization: `Bearer ${ingestKey}`, "content-type": "application/x-protobuf" }, body: Buffer.from([0x80, 0x80, 0x80, 0x80, 0x0f, 0x00, 0x01]) });
    assert.equal(next.status, 413);
    await next.arrayBuffer();
  }
});
