// The Loki query API through the real worker, as Grafana's Loki data source calls it: its
// health check, opening Explore (build info, labels, values), running a log query with a line
// filter, the logs volume histogram, metric queries, the catalogue routes Logs Drilldown uses,
// and project isolation (a project-bound read key, X-Scope-OrgID). Answers are checked for
// Loki's JSON shapes and against counts worked out from the seeded events.
//
// No real Loki query client can be installed from the reachable registries (logcli is a Go
// binary published on GitHub only; Debian's `loki` package is an unrelated genetics tool), so
// Grafana's request sequence is replayed as its data source sends it (pkg/tsdb/loki).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, auth, waitForStored } from "./helpers.mjs";

let w;
const NOW = Date.now();
const MIN = 60_000;
const T0 = Math.floor((NOW - 50 * MIN) / MIN) * MIN; // minute-aligned, 50 minutes ago
let keys = {};

// 40 events, one a minute: shop/api (even), shop/web (odd, every third a timeout), and 10 of
// another project.
function seed() {
  const shop = [];
  for (let i = 0; i < 40; i++) {
    const service = i % 2 ? "web" : "api";
    const level = i % 5 === 0 ? "error" : "info";
    const timeout = i % 3 === 0 ? " upstream timeout" : "";
    shop.push({ message: `method=GET status=${level === "error" ? 500 : 200} duration_ms=${(i + 1) * 10}${timeout}`, level, service, timestamp: new Date(T0 + i * MIN).toISOString(), tags: { team: "pay" }, context: { duration_ms: (i + 1) * 10 } });
  }
  const other = Array.from({ length: 10 }, (_, i) => ({ message: `secret of another project ${i}`, level: "warn", service: "hidden", timestamp: new Date(T0 + i * MIN).toISOString() }));
  return { shop, other };
}

before(async () => {
  w = await startWorker();
  const make = async (body) => (await post(w.mf, body, { path: "/v1/keys" })).body.key;
  keys.shopIngest = await make({ name: "shop ingest", scopes: ["ingest"], project: "shop" });
  keys.otherIngest = await make({ name: "other ingest", scopes: ["ingest"], project: "other" });
  keys.shopRead = await make({ name: "shop grafana", scopes: ["read"], project: "shop" });
  const { shop, other } = seed();
  assert.equal((await post(w.mf, shop, { headers: auth(keys.shopIngest) })).status, 202);
  assert.equal((await post(w.mf, other, { headers: auth(keys.otherIngest) })).status, 202);
  await waitForStored(w.db, 50);
});
after(async () => {
  await w?.mf.dispose();
});

/** As Grafana sends it: basic auth with the key as the password. */
const grafana = (key) => ({ authorization: `Basic ${Buffer.from(`grafana:${key}`).toString("base64")}` });

async function loki(path, params = {}, { headers = auth(), method = "GET" } = {}) {
  const qs = new URLSearchParams(params).toString();
  const init = method === "POST" ? { method, headers: { ...headers, "content-type": "application/x-www-form-urlencoded" }, body: qs } : { headers };
  const res = await w.mf.dispatchFetch(`http://localhost/loki/api/v1/${path}${method === "GET" && qs ? `?${qs}` : ""}`, init);
  const text = await res.text();
  assert.ok(res.status < 500, `${path}: ${res.status} ${text}`);
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const ns = (ms) => `${BigInt(ms) * 1_000_000n}`;
const range = { start: ns(T0 - MIN), end: ns(T0 + 45 * MIN) };

test("Grafana's health check and version probe", async () => {
  const health = await loki("query", { query: "vector(1)+vector(1)", time: ns(NOW) }, { headers: grafana(keys.shopRead) });
  assert.equal(health.status, 200);
  assert.equal(health.body.status, "success");
  assert.equal(health.body.data.resultType, "vector");
  assert.equal(health.body.data.result[0].value[1], "2");
  const build = await loki("status/buildinfo", {}, { headers: grafana(keys.shopRead) });
  assert.match(build.body.version, /^3\./);
  assert.equal((await loki("query", { query: "vector(1)+vector(1)" }, { headers: {} })).status, 401);
});

test("opening Explore: labels and values of the caller's project only", async () => {
  const labels = await loki("labels", range, { headers: grafana(keys.shopRead) });
  assert.deepEqual(labels.body, { status: "success", data: ["environment", "level", "project", "service", "source_type", "team"] });
  const services = await loki("label/service/values", range, { headers: grafana(keys.shopRead) });
  assert.deepEqual(services.body.data, ["api", "web"], "never another project's values");
  const all = await loki("label/service/values", range);
  assert.deepEqual(all.body.data, ["api", "hidden", "web"], "the admin sees every project");
  const scoped = await loki("label/service/values", range, { headers: { ...auth(), "x-scope-orgid": "other" } });
  assert.deepEqual(scoped.body.data, ["hidden"]);
  const refused = await loki("label/service/values", range, { headers: { ...grafana(keys.shopRead), "x-scope-orgid": "other" } });
  assert.equal(refused.status, 403);
});

test("a log query with a line filter: streams, newest first, limit, direction, and a form POST", async () => {
  // web events are the odd minutes; timeouts every third: 3, 9, 15, 21, 27, 33, 39.
  const q = { ...range, query: '{service="web"} |= "timeout"', limit: "1000", direction: "backward" };
  const res = await loki("query_range", q, { headers: grafana(keys.shopRead) });
  assert.equal(res.body.data.resultType, "streams");
  const values = res.body.data.result.flatMap((s) => s.values);
  assert.deepEqual(values.map(([t]) => (Number(BigInt(t) / 1_000_000n) - T0) / MIN).sort((a, b) => b - a), [39, 33, 27, 21, 15, 9, 3]);
  for (const s of res.body.data.result) {
    assert.equal(s.stream.service, "web");
    assert.equal(s.stream.project, "shop");
    for (const [t, line] of s.values) assert.ok(typeof t === "string" && /^\d{19}$/.test(t) && line.includes("timeout"));
  }
  assert.equal(res.body.data.stats.summary.totalEntriesReturned, 7);
  const two = await loki("query_range", { ...q, limit: "2", direction: "forward" }, { method: "POST", headers: grafana(keys.shopRead) });
  assert.deepEqual(two.body.data.result.flatMap((s) => s.values).map(([t]) => (Number(BigInt(t) / 1_000_000n) - T0) / MIN).sort((a, b) => a - b), [3, 9]);
  const parsed = await loki("query_range", { ...range, query: '{service="api"} | logfmt | status>=500 | line_format "{{.method}} {{.status}}"' });
  assert.deepEqual(new Set(parsed.body.data.result.flatMap((s) => s.values.map((v) => v[1]))), new Set(["GET 500"]));
  assert.equal(parsed.body.data.result.flatMap((s) => s.values).length, 4, "api errors: minutes 0, 10, 20, 30");
});

test("the logs volume histogram and metric queries", async () => {
  const hist = await loki("query_range", { ...range, query: 'sum by (level, detected_level) (count_over_time({service=~".+"} |= "timeout" [1m]))', step: "60" }, { headers: grafana(keys.shopRead) });
  assert.equal(hist.body.data.resultType, "matrix");
  const total = hist.body.data.result.reduce((n, s) => n + s.values.reduce((m, [, v]) => m + Number(v), 0), 0);
  assert.equal(total, 14, "timeouts are every third minute of 40: 14 events, each counted in one 1m step");
  const at = ns(T0 + 39 * MIN + 30_000);
  const byLevel = await loki("query", { query: 'sum by (level) (count_over_time({service="api"}[1h]))', time: at }, { headers: grafana(keys.shopRead) });
  const counts = Object.fromEntries(byLevel.body.data.result.map((r) => [r.metric.level, r.value[1]]));
  assert.deepEqual(counts, { error: "4", info: "16" }, "api is the even minutes; errors every fifth: 0, 10, 20, 30");
  const median = await loki("query", { query: 'quantile_over_time(0.5, {service="api"} | logfmt | unwrap duration_ms [1h]) by (level)', time: at }, { headers: grafana(keys.shopRead) });
  const medians = Object.fromEntries(median.body.data.result.map((r) => [r.metric.level, Number(r.value[1])]));
  // Durations are (i + 1) × 10: api errors 10, 110, 210, 310 (median 160); api info the other
  // sixteen even minutes, median (190 + 230) / 2.
  assert.deepEqual(medians, { error: 160, info: 210 });
  const ratio = await loki("query", { query: 'sum(count_over_time({level="error"}[1h])) / sum(count_over_time({service=~".+"}[1h]))', time: at }, { headers: grafana(keys.shopRead) });
  assert.equal(ratio.body.data.result[0].value[1], "0.2", "8 errors in 40 of the caller's events");
  const top = await loki("query", { query: 'topk(1, sum by (service) (sum_over_time({service=~".+"} | logfmt | unwrap duration_ms [1h])))', time: at }, { headers: grafana(keys.shopRead) });
  assert.deepEqual(top.body.data.result.map((r) => [r.metric.service, r.value[1]]), [["web", "4200"]], "web: 10 × (2 + 4 + … + 40)");
});

test("counts over counted dimensions come from the rollups, and agree with the events", async () => {
  // A minute of the rollup counts in a window when the whole minute does: the seeded events
  // sit exactly on minutes, so the instant is put past the last one.
  const at = ns(T0 + 40 * MIN);
  const query = 'sum by (level) (count_over_time({level=~".+", environment="production"}[1h]))';
  const fast = await loki("query", { query, time: at }, { headers: grafana(keys.shopRead) });
  assert.deepEqual(Object.fromEntries(fast.body.data.result.map((r) => [r.metric.level, r.value[1]])), { error: "8", info: "32" });
  assert.equal(fast.body.data.stats.summary.totalLinesProcessed, 0, "no event read: the minute rollup answered");
  // The same question with a pipeline stage reads the events, and says the same.
  const slow = await loki("query", { query: 'sum by (level) (count_over_time({level=~".+", environment="production"} |= "" [1h]))', time: at }, { headers: grafana(keys.shopRead) });
  assert.deepEqual(slow.body.data.result.map((r) => r.value[1]), fast.body.data.result.map((r) => r.value[1]));
  assert.ok(slow.body.data.stats.summary.totalLinesProcessed >= 40);
  const ranged = await loki("query_range", { query: 'sum(count_over_time({level="error"}[10m]))', start: ns(T0 + 9 * MIN), end: ns(T0 + 39 * MIN), step: "600" }, { headers: grafana(keys.shopRead) });
  assert.deepEqual(ranged.body.data.result[0].values.map(([, v]) => v), ["2", "2", "2", "2"], "errors at minutes 0, 5 | 10, 15 | 20, 25 | 30, 35");
});

test("the catalogue routes: series, index stats, volume, detected labels and fields, patterns, format", async () => {
  const h = { headers: grafana(keys.shopRead) };
  const series = await loki("series", { ...range, "match[]": '{service="api"}' }, h);
  assert.deepEqual(series.body.data.map((s) => s.level).sort(), ["error", "info"]);
  const stats = await loki("index/stats", { ...range, query: '{service="web"}' }, h);
  assert.equal(stats.body.entries, 20);
  const volume = await loki("index/volume", { ...range, query: '{service=~".+"}', targetLabels: "service" }, h);
  assert.deepEqual(volume.body.data.result.map((r) => r.metric.service).sort(), ["api", "web"]);
  const volumeRange = await loki("index/volume_range", { ...range, query: '{service=~".+"}', targetLabels: "level", step: "600" }, h);
  assert.equal(volumeRange.body.data.resultType, "matrix");
  const fields = await loki("detected_fields", { ...range, query: '{service="api"}' }, h);
  assert.deepEqual(fields.body.fields.map((f) => [f.label, f.type]), [["duration_ms", "int"], ["method", "string"], ["status", "int"]]);
  const labels = await loki("detected_labels", { ...range, query: '{service="api"}' }, h);
  assert.ok(labels.body.detectedLabels.some((l) => l.label === "level" && l.cardinality === 2));
  const patterns = await loki("patterns", { ...range, query: '{service="web"}' }, h);
  assert.ok(patterns.body.data.some((p) => p.pattern === "method=GET status=200 duration_ms=<_> upstream timeout"), JSON.stringify(patterns.body.data.map((p) => p.pattern)));
  const formatted = await loki("format_query", { query: 'sum(count_over_time({a="b"}[5m]))by(level)' }, h);
  assert.equal(formatted.body.data, 'sum by (level) (count_over_time({a="b"}[5m]))');
});

test("queries outside the subset are 400s that say what, never 5xx", async () => {
  for (const [query, says] of [
    ['{service="api"', "unexpected end"],
    ['label_replace(rate({a="b"}[1m]), "x", "$1", "y", "(.*)")', "label_replace is not a supported function"],
    ['rate({a="b"}[1m]) / on (x) rate({a="c"}[1m])', "vector matching"],
    ['{service="api"} | distinct x', "not supported"],
  ]) {
    const res = await loki("query_range", { ...range, query });
    assert.equal(res.status, 400, query);
    assert.ok(res.body.error.message.includes(says), `${query}: ${res.body.error.message}`);
  }
  assert.equal((await loki("query", { query: '{service="api"}' })).status, 400, "a log query is not an instant query");
  assert.equal((await loki("query_range", { query: '{a="b"}', limit: "100000" })).status, 400);
  assert.equal((await loki("query_range", { query: '{a="b"}', start: "yesterday" })).status, 400);
  assert.equal((await loki("series", range)).status, 400, "series needs match[]");
});

test("our own API aggregates the same way: GET /v1/aggregate by any field, a percentile, buckets", async () => {
  const get = async (qs, headers = grafana(keys.shopRead)) => {
    const res = await w.mf.dispatchFetch(`http://localhost/v1/aggregate?${qs}`, { headers });
    return { status: res.status, body: await res.json() };
  };
  const p50 = await get("by=service&fn=p50&field=context.duration_ms");
  assert.equal(p50.status, 200, JSON.stringify(p50.body));
  assert.deepEqual(Object.fromEntries(p50.body.groups.map((g) => [g.key.service, g.value])), { api: 200, web: 210 });
  const byLevel = await get(`by=level&bucket=1h&query=${encodeURIComponent("service:api")}`);
  assert.deepEqual(Object.fromEntries(byLevel.body.groups.map((g) => [g.key.level, g.value])), { error: 4, info: 16 });
  assert.equal(byLevel.body.groups[0].points.reduce((n, p) => n + p.events, 0), 16);
  const distinct = await get("by=tag.team&fn=count_distinct&field=service");
  assert.deepEqual(distinct.body.groups.map((g) => [g.key["tag.team"], g.value]), [["pay", 2]]);
  const admin = await get("by=project", auth());
  assert.deepEqual(Object.fromEntries(admin.body.groups.map((g) => [g.key.project, g.events])), { shop: 40, other: 10 });
  const own = await get("by=project");
  assert.deepEqual(own.body.groups.map((g) => g.key.project), ["shop"], "a project key aggregates its own project");
  assert.equal((await get("fn=median")).status, 400);
  assert.equal((await get("by=nonsense")).status, 400);
});
