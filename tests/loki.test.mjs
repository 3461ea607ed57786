// Loki's push API through the real worker, with the JSON shape Promtail and Grafana Alloy send.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { startWorker, get, auth, waitForStored } from "./helpers.mjs";

let w;
before(async () => {
  w = await startWorker();
});
after(async () => {
  await w?.mf.dispose();
});

async function push(body, headers = {}) {
  return w.mf.dispatchFetch("http://localhost/loki/api/v1/push", { method: "POST", headers: { ...auth(), "content-type": "application/json", ...headers }, body });
}

test("a Promtail/Alloy push is answered 204 and stored with labels mapped", async () => {
  const ns = (BigInt(Date.now()) * 1000000n).toString();
  const res = await push(
    JSON.stringify({
      streams: [
        { stream: { job: "loki-checkout", env: "prod", level: "error", component: "Payments", namespace: "shop" }, values: [[ns, "payment failed for order 991"], [ns, "upstream timeout", { trace_id: "t-loki", node: "n1" }]] },
        { stream: { service_name: "loki-api", detected_level: "warn" }, values: [[ns, JSON.stringify({ msg: "slow query", duration_ms: 1200, level: "info" })]] },
      ],
    }),
  );
  assert.equal(res.status, 204);
  await waitForStored(w.db, 2, "service = ?", "loki-checkout");
  const { body } = await get(w.mf, "/v1/logs?service=loki-checkout&trace_id=t-loki");
  const e = body.logs[0];
  assert.equal(e.message, "upstream timeout");
  assert.equal(e.level, "error");
  assert.equal(e.environment, "production");
  assert.equal(e.component, "Payments");
  assert.deepEqual(e.tags, { namespace: "shop" });
  assert.equal(e.context.node, "n1");
  await waitForStored(w.db, 1, "service = ?", "loki-api");
  const slow = (await get(w.mf, "/v1/logs?service=loki-api")).body.logs[0];
  assert.equal(slow.message, "slow query");
  assert.equal(slow.context.duration_ms, 1200);
});

test("gzip pushes work; malformed pushes are 4xx JSON", async () => {
  const ns = (BigInt(Date.now()) * 1000000n).toString();
  const gz = await push(gzipSync(JSON.stringify({ streams: [{ stream: { job: "loki-gz" }, values: [[ns, "zipped line"]] }] })), { "content-encoding": "gzip" });
  assert.equal(gz.status, 204);
  await waitForStored(w.db, 1, "service = ?", "loki-gz");
  for (const [body, status] of [["{oops", 400], [JSON.stringify({ streams: [] }), 400], [JSON.stringify({ streams: [{ stream: {}, values: [["not-ns", "x"]] }] }), 400]]) {
    const res = await push(body);
    assert.equal(res.status, status, body);
    assert.ok((await res.json()).error.code);
  }
  // Not a snappy block: 400 (protobuf is Loki's default encoding, see agents.test.mjs).
  assert.equal((await push("x", { "content-type": "application/x-protobuf" })).status, 400);
  assert.equal((await push("x", { "content-type": "text/csv" })).status, 415);
});
