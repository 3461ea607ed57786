// GET /metrics through the real worker: Prometheus text that a Prometheus parser reads, with
// counters that add up to what happened.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { startWorker, post, get, auth, waitForStored } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.mf.dispose();
});

function sample(families, name, labels = {}) {
  const family = families.find((f) => f.name === name);
  if (!family) return undefined;
  const m = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return m && (m.value !== undefined ? Number(m.value) : m);
}

test("metrics parse as Prometheus text and count what happened", async () => {
  const res = await post(w.mf, [{ message: "a", level: "error" }, { message: "b", level: "info" }, { message: "c", level: "info" }, { level: "loud" }]);
  assert.equal(res.status, 202);
  await post(w.mf, "{broken");
  await waitForStored(w.db, 3);
    const anonymous = await w.mf.dispatchFetch("http://localhost/metrics");
  assert.equal(anonymous.status, 401, "metrics need a read key");
  const scrape = await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() });
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get("content-type"), /^text\/plain; version=0\.0\.4/);
  const text = await scrape.text();
  const families = parsePrometheusTextFormat(text);
  assert.ok(families.length >= 10, text);
  assert.equal(sample(families, "edge_logger_events_accepted_total", { level: "info" }), 2);
  assert.equal(sample(families, "edge_logger_events_accepted_total", { level: "error" }), 1);
  assert.equal(sample(families, "edge_logger_events_rejected_total", { reason: "invalid_event" }), 1);
  assert.equal(sample(families, "edge_logger_events_rejected_total", { reason: "invalid_json" }), 1);
  assert.equal(sample(families, "edge_logger_events_stored_total", { level: "info" }), 2);
  assert.equal(sample(families, "edge_logger_requests_total", { route: "/v1/logs", status: "202" }), 1);
  assert.equal(sample(families, "edge_logger_requests_total", { route: "/v1/logs", status: "400" }), 1);
  assert.ok(sample(families, "edge_logger_queue_batches_total", { queue: "edge-logger-logs" }) >= 1);
  const histogram = families.find((f) => f.name === "edge_logger_d1_write_seconds");
  assert.equal(histogram.type, "HISTOGRAM");
  assert.ok(Number(histogram.metrics[0].count) >= 1);
  assert.equal(sample(families, "edge_logger_dead_letters_pending"), 0);
  assert.equal(sample(families, "edge_logger_groups", { status: "open" }), 1);
});
