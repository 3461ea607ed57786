// A TypeScript client generated from /openapi.json (openapi-typescript) must accept what the
// worker really answers: every operation of the document is called once against the built
// worker, each answer is written into a TypeScript file as a value of the type the document
// gives that operation and status, and `tsc --strict` checks it. An undocumented field, a null
// where the document promises a string, or an undocumented status fails here.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import openapiTS, { astToString } from "openapi-typescript";
import { startWorker, auth, waitForStored } from "./helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const OUT = `${ROOT}test-artifacts/client-types`;
let w;

before(async () => {
  w = await startWorker({ extra: { r2Buckets: ["ARCHIVE"] } });
});
after(async () => {
  await w?.mf.dispose();
});

async function call(method, path, { body, headers = {}, raw } = {}) {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, {
    method,
    headers: { ...auth(), ...(body !== undefined && !raw ? { "content-type": "application/json" } : {}), ...headers },
    body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const type = res.headers.get("content-type") || "";
  const text = await res.text();
  return { status: res.status, json: type.includes("json") && text ? JSON.parse(text) : undefined };
}

test("a TypeScript client generated from the document type-checks against an answer of every operation", async () => {
  const recorded = [];
  const record = async (method, template, path, options) => {
    const answer = await call(method, path, options);
    recorded.push({ method: method.toLowerCase(), template, ...answer });
    return answer;
  };

  await record("GET", "/", "/", { headers: { accept: "application/json" } });
  await record("GET", "/health", "/health");
  await record("GET", "/openapi.json", "/openapi.json");
  const ingest = await record("POST", "/v1/logs", "/v1/logs", {
    body: [
      { message: "payment failed", level: "error", environment: "prod", service: "shop", component: "Checkout", endpoint: "/api/pay/42", tags: { team: "pay" }, error: { type: "CardError", message: "declined", stack: "CardError: declined\n    at pay (https://shop.example/app.js:1:1)" } },
      { message: "cart opened", level: "info" },
    ],
  });
  await record("POST", "/otlp/v1/logs", "/otlp/v1/logs", { body: { resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "otel" } }] }, scopeLogs: [{ logRecords: [{ severityText: "WARN", body: { stringValue: "from otel" } }] }] }] } });
  await record("POST", "/loki/api/v1/push", "/loki/api/v1/push", { body: { streams: [{ stream: { job: "loki" }, values: [[`${Date.now()}000000`, "from loki"]] }] } });
  const lq = (q) => `query=${encodeURIComponent(q)}`;
  const sel = lq('{level=~".+"}');
  await record("GET", "/loki/api/v1/query_range", `/loki/api/v1/query_range?${lq('{job="loki"} |= "loki"')}`);
  await record("POST", "/loki/api/v1/query_range", "/loki/api/v1/query_range", { raw: lq('sum by (level) (count_over_time({level=~".+"}[5m]))'), headers: { "content-type": "application/x-www-form-urlencoded" } });
  await record("GET", "/loki/api/v1/query", `/loki/api/v1/query?${lq("vector(1)+vector(1)")}`);
  await record("POST", "/loki/api/v1/query", "/loki/api/v1/query", { raw: lq('sum(count_over_time({level=~".+"}[1h]))'), headers: { "content-type": "application/x-www-form-urlencoded" } });
  await record("GET", "/loki/api/v1/labels", "/loki/api/v1/labels");
  await record("GET", "/loki/api/v1/label/{name}/values", "/loki/api/v1/label/level/values");
  await record("GET", "/loki/api/v1/series", `/loki/api/v1/series?match[]=${encodeURIComponent('{level=~".+"}')}`);
  await record("POST", "/loki/api/v1/series", "/loki/api/v1/series", { raw: `match[]=${encodeURIComponent('{level=~".+"}')}`, headers: { "content-type": "application/x-www-form-urlencoded" } });
  await record("GET", "/loki/api/v1/index/stats", `/loki/api/v1/index/stats?${sel}`);
  await record("GET", "/loki/api/v1/index/volume", `/loki/api/v1/index/volume?${sel}&targetLabels=level`);
  await record("GET", "/loki/api/v1/index/volume_range", `/loki/api/v1/index/volume_range?${sel}&step=60`);
  await record("GET", "/loki/api/v1/detected_labels", `/loki/api/v1/detected_labels?${sel}`);
  await record("GET", "/loki/api/v1/detected_fields", `/loki/api/v1/detected_fields?${sel}`);
  await record("GET", "/loki/api/v1/patterns", `/loki/api/v1/patterns?${sel}`);
  await record("GET", "/loki/api/v1/format_query", `/loki/api/v1/format_query?${lq('sum(rate({a="b"}[1m]))')}`);
  await record("POST", "/loki/api/v1/format_query", "/loki/api/v1/format_query", { raw: lq('{a="b"}'), headers: { "content-type": "application/x-www-form-urlencoded" } });
  await record("GET", "/loki/api/v1/status/buildinfo", "/loki/api/v1/status/buildinfo");
  await record("GET", "/v1/aggregate", "/v1/aggregate?by=level,service&fn=count&bucket=1h");
  await record("GET", "/loki/api/v1/tail", `/loki/api/v1/tail?${lq('{level="error"}')}`);
  await record("POST", "/api/{project}/envelope", "/api/1/envelope", { raw: `{}\n{"type":"event"}\n{"message":"from sentry","level":"error"}\n`, headers: { "content-type": "application/x-sentry-envelope" } });
  await waitForStored(w.db, 5);
  const [id] = ingest.json.ids;
  await record("GET", "/v1/logs", "/v1/logs?limit=10");
  await record("GET", "/v1/logs/{id}", `/v1/logs/${id}`);
  await record("GET", "/v1/recent", "/v1/recent?limit=5");
  const groups = await record("GET", "/v1/groups", "/v1/groups?sort=count");
  const fp = groups.json.groups[0].fingerprint;
  await record("GET", "/v1/groups/{fingerprint}", `/v1/groups/${fp}`);
  await record("PUT", "/v1/groups/{fingerprint}", `/v1/groups/${fp}`, { body: { status: "resolved", in_release: "1.0.0", assignee: "dana@example.com" } });
  await record("POST", "/v1/groups/{fingerprint}/notes", `/v1/groups/${fp}/notes`, { body: { text: "looking into it" } });
  await record("POST", "/v1/groups/{fingerprint}/tickets", `/v1/groups/${fp}/tickets`, { body: { channel: { type: "github", repo: "acme/api", token: "t", api_url: "http://127.0.0.1:9" } } });
  await record("GET", "/v1/groups/{fingerprint}/activity", `/v1/groups/${fp}/activity`);
  const other = groups.json.groups[1].fingerprint;
  await record("POST", "/v1/groups/{fingerprint}/merge", `/v1/groups/${fp}/merge`, { body: { fingerprints: [other] } });
  await record("DELETE", "/v1/groups/{fingerprint}/merge/{source}", `/v1/groups/${fp}/merge/${other}`);
  await record("POST", "/v1/groups/{fingerprint}/merge", `/v1/groups/${fp}/merge`, { body: { fingerprints: [other] } });
  await record("DELETE", "/v1/groups/{fingerprint}/merge", `/v1/groups/${fp}/merge`, { body: { fingerprints: [other] } });
  await record("PUT", "/v1/assign-rules", "/v1/assign-rules", { body: { rules: [{ field: "component", pattern: "Check*", assignee: "dana@example.com" }] } });
  const rules = await record("POST", "/v1/assign-rules", "/v1/assign-rules", { body: { field: "service", pattern: "shop", assignee: "shop-team", project: "shop" } });
  await record("GET", "/v1/assign-rules", "/v1/assign-rules");
  await record("DELETE", "/v1/assign-rules/{id}", `/v1/assign-rules/${rules.json.rules[0].id}`);
  const ingestRule = await record("POST", "/v1/ingest-rules", "/v1/ingest-rules", { body: { query: "service:nothing-sends-this", action: "sample(0.5)" } });
  await record("GET", "/v1/ingest-rules", "/v1/ingest-rules");
  await record("DELETE", "/v1/ingest-rules/{id}", `/v1/ingest-rules/${ingestRule.json.id}`);
  await record("PUT", "/v1/projects/{project}/quota", "/v1/projects/typed/quota", { body: { events_per_day: 100000, events_per_minute: 10000 } });
  await record("GET", "/v1/projects/{project}/quota", "/v1/projects/typed/quota");
  await record("DELETE", "/v1/projects/{project}/quota", "/v1/projects/typed/quota");
  await record("GET", "/v1/stats", "/v1/stats?bucket=1h&by=level");
  const key = await record("POST", "/v1/keys", "/v1/keys", { body: { name: "reader", scopes: ["read"], project: "shop" } });
  await record("GET", "/v1/keys", "/v1/keys");
  await record("DELETE", "/v1/keys/{id}", `/v1/keys/${key.json.id}`);
  const rule = await record("POST", "/v1/alert-rules", "/v1/alert-rules", {
    body: { name: "checkout errors", match: { min_level: "error", component: "Checkout" }, threshold: { count: 5, window_seconds: 60 }, mute: [{ start: "22:00", end: "06:00", tz: "Europe/Paris", days: ["sat"] }], channels: [{ type: "webhook", url: "https://example.com/hook", secret: "a-long-shared-secret" }] },
  });
  await record("POST", "/v1/alert-rules/test", "/v1/alert-rules/test", { body: { channels: [{ type: "webhook", url: "http://127.0.0.1:9/hook" }] } });
  await record("GET", "/v1/alert-rules", "/v1/alert-rules");
  await record("GET", "/v1/alert-rules/{id}", `/v1/alert-rules/${rule.json.id}`);
  await record("PUT", "/v1/alert-rules/{id}", `/v1/alert-rules/${rule.json.id}`, { body: { name: "checkout errors", channels: rule.json.channels } });
  await record("DELETE", "/v1/alert-rules/{id}", `/v1/alert-rules/${rule.json.id}`);
  await record("GET", "/v1/alerts", "/v1/alerts?limit=10");
  await record("GET", "/v1/dead-letters", "/v1/dead-letters?include_replayed=true");
  await record("POST", "/v1/dead-letters/replay", "/v1/dead-letters/replay", { body: { ids: [] } });
  await record("GET", "/metrics", "/metrics");
  await record("POST", "/v1/archive/restore", "/v1/archive/restore", { body: { day: "2026-01-01" } });
  await record("GET", "/v1/storage", "/v1/storage");
  await record("POST", "/v1/tail/ticket", "/v1/tail/ticket");
  // Over plain HTTP the tail answers 426 (tests/tail.test.mjs opens real sockets).
  await record("GET", "/v1/tail", "/v1/tail?query=level%3A%3E%3Derror&rate=10");
  // Source maps: sentry-cli's calls and the plain upload (tests/sourcemaps.test.mjs runs them for real).
  await record("GET", "/api/0/organizations/{org}/chunk-upload", "/api/0/organizations/acme/chunk-upload/");
  const chunk = new FormData();
  chunk.set("file", new Blob(["abc"]), "a9993e364706816aba3e25717850c26c9cd0d89d");
  await record("POST", "/api/0/organizations/{org}/chunk-upload", "/api/0/organizations/acme/chunk-upload/", { raw: chunk });
  await record("POST", "/api/0/organizations/{org}/artifactbundle/assemble", "/api/0/organizations/acme/artifactbundle/assemble/", { body: { checksum: "a9993e364706816aba3e25717850c26c9cd0d89d", chunks: ["a9993e364706816aba3e25717850c26c9cd0d89d"], projects: ["shop"], version: "1.0.0" } });
  const map = new FormData();
  map.set("url", "~/assets/app.js");
  map.set("sourcemap", new Blob(['{"version":3,"sources":["a.js"],"names":[],"mappings":"AAAA"}']), "app.js.map");
  await record("POST", "/v1/releases/{release}/sourcemaps", "/v1/releases/1.0.0/sourcemaps", { raw: map });
  await record("GET", "/v1/releases/{release}/sourcemaps", "/v1/releases/1.0.0/sourcemaps");
  await record("GET", "/v1/releases", "/v1/releases");
  await record("GET", "/v1/releases/{release}", "/v1/releases/nope");
  await record("DELETE", "/v1/releases/{release}/sourcemaps", "/v1/releases/1.0.0/sourcemaps");
  const ndjson = { "content-type": "application/x-ndjson" };
  const bulkBody = '{"create":{}}\n{"message":"from a beat","log.level":"warn"}\n';
  await record("POST", "/_bulk", "/_bulk", { raw: bulkBody, headers: ndjson });
  await record("PUT", "/_bulk", "/_bulk", { raw: bulkBody, headers: ndjson });
  await record("POST", "/{index}/_bulk", "/logs-app/_bulk", { raw: bulkBody, headers: ndjson });
  await record("PUT", "/{index}/_bulk", "/logs-app/_bulk", { raw: bulkBody, headers: ndjson });
  for (const path of ["/_license", "/_xpack", "/_cluster/health"]) await record("GET", path, path);
  await record("GET", "/_cat/health", "/_cat/health?format=json");
  for (const method of ["GET", "POST"]) {
    await record(method, "/_refresh", "/_refresh");
    await record(method, "/{index}/_refresh", "/logs-app/_refresh");
  }
  await record("GET", "/v1/usage", "/v1/usage");
  for (const template of ["/_index_template/{name}", "/_template/{name}", "/_component_template/{name}", "/_ilm/policy/{name}", "/_ingest/pipeline/{name}", "/_data_stream/{name}"]) {
    const path = template.replace("{name}", "filebeat-9.1.0");
    await record("GET", template, path);
    await record("PUT", template, path, { body: { template: {} } });
    await record("DELETE", template, path);
  }

  // Every operation of the document was called, so a route added later joins this check.
  const doc = JSON.parse(JSON.stringify((await call("GET", "/openapi.json")).json));
  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`)).sort();
  assert.deepEqual([...new Set(recorded.map((r) => `${r.method} ${r.template}`))].sort(), documented);

  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}/api.d.ts`, astToString(await openapiTS(doc)));
  const lines = [
    'import type { paths } from "./api";',
    "type Responses<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R } ? R : never;",
    "type Documented<P extends keyof paths, M extends keyof paths[P], S> = S extends keyof Responses<P, M> ? true : never;",
    'type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;',
    "type Answer<P extends keyof paths, M extends keyof paths[P], S> = S extends keyof Responses<P, M> ? Json<Responses<P, M>[S]> : never;",
  ];
  recorded.forEach((r, i) => {
    const args = `${JSON.stringify(r.template)}, ${JSON.stringify(r.method)}, ${r.status}`;
    lines.push(`// ${r.method.toUpperCase()} ${r.template} → ${r.status}`);
    lines.push(`export const status${i}: Documented<${args}> = true;`);
    if (r.json !== undefined && r.template !== "/openapi.json") lines.push(`export const answer${i}: Answer<${args}> = ${JSON.stringify(r.json)};`);
  });
  writeFileSync(`${OUT}/answers.ts`, lines.join("\n") + "\n");
  try {
    execFileSync(`${ROOT}node_modules/.bin/tsc`, ["--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", `${OUT}/answers.ts`], { cwd: ROOT, encoding: "utf8" });
  } catch (e) {
    assert.fail(`answers that the generated client would not accept (${OUT}/answers.ts):\n${e.stdout}`);
  }
});
