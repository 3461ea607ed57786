// OpenTelemetry logs over OTLP/HTTP JSON through the real worker: mapped into the event model,
// stored through the same pipeline, answered as the OTLP spec says.
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

const attr = (key, value) => ({ key, value: typeof value === "number" ? { intValue: String(value) } : { stringValue: value } });
function exportRequest(records) {
  return {
    resourceLogs: [
      {
        resource: { attributes: [attr("service.name", "otel-checkout"), attr("deployment.environment", "prod"), attr("service.version", "2.0.1")] },
        scopeLogs: [{ scope: { name: "checkout.payments" }, logRecords: records }],
      },
    ],
  };
}

async function send(body, headers = {}) {
  const res = await w.mf.dispatchFetch("http://localhost/otlp/v1/logs", { method: "POST", headers: { ...auth(), "content-type": "application/json", ...headers }, body });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test("an OTLP export is stored with its fields mapped, and answered {}", async () => {
  const now = BigInt(Date.now()) * 1000000n;
  const res = await send(
    JSON.stringify(
      exportRequest([
        { timeUnixNano: String(now), severityNumber: 17, severityText: "ERROR", body: { stringValue: "otel payment failed" }, traceId: "5b8efff798038103d269b633813fc60c", spanId: "eee19b7ec3c1b174",
          attributes: [attr("exception.type", "CardError"), attr("exception.message", "declined"), attr("http.route", "/api/pay/:id"), attr("retry", 3)] },
        { timeUnixNano: String(now), severityNumber: 9, body: { stringValue: "otel info line" } },
      ]),
    ),
  );
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, {});
  await waitForStored(w.db, 2, "service = ?", "otel-checkout");
  const { body } = await get(w.mf, "/v1/logs?service=otel-checkout&level=error");
  const e = body.logs[0];
  assert.equal(e.message, "otel payment failed");
  assert.equal(e.environment, "production");
  assert.equal(e.release, "2.0.1");
  assert.equal(e.trace_id, "5b8efff798038103d269b633813fc60c");
  assert.equal(e.error.type, "CardError");
  assert.equal(e.error_kind, "exception");
  assert.equal(e.route, "/api/pay/:id");
  assert.equal(e.context.retry, 3);
  assert.equal(e.context.logger, "checkout.payments");
});

test("gzip bodies, partial success, and the errors of the contract", async () => {
  const gz = await send(gzipSync(JSON.stringify(exportRequest([{ severityNumber: 13, body: { stringValue: "otel gzipped warning" } }]))), { "content-encoding": "gzip" });
  assert.equal(gz.status, 200);
  const partial = await send(JSON.stringify(exportRequest([{ body: { stringValue: "otel fine" } }, { severityNumber: 99, body: { stringValue: "bad severity" } }, { attributes: [] }])));
  assert.equal(partial.status, 200);
  assert.equal(partial.body.partialSuccess.rejectedLogRecords, "2");
  assert.match(partial.body.partialSuccess.errorMessage, /level|message/);
  await waitForStored(w.db, 1, "message = ?", "otel fine");
  const unknown = await send("{}", { "content-type": "text/plain" });
  assert.equal(unknown.status, 415);
  const malformed = await send("{not json");
  assert.equal(malformed.status, 400);
  const nothing = await send(JSON.stringify({ resourceLogs: [] }));
  assert.equal(nothing.status, 400);
  const anonymous = await w.mf.dispatchFetch("http://localhost/otlp/v1/logs", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(anonymous.status, 401);
});

test("the official OpenTelemetry JS logs SDK and OTLP/HTTP exporter deliver to the worker", async () => {
  const { LoggerProvider, SimpleLogRecordProcessor } = await import("@opentelemetry/sdk-logs");
  const { OTLPLogExporter } = await import("@opentelemetry/exporter-logs-otlp-http");
  const { resourceFromAttributes } = await import("@opentelemetry/resources");
  const served = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  try {
    const url = await served.mf.ready;
    const exporter = new OTLPLogExporter({ url: `${url}otlp/v1/logs`, headers: auth() });
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ "service.name": "otel-sdk", "deployment.environment": "staging", "service.version": "9.9.9" }),
      processors: [new SimpleLogRecordProcessor(exporter)],
    });
    const logger = provider.getLogger("sdk.scope");
    logger.emit({
      severityNumber: 17,
      severityText: "ERROR",
      body: "sdk export failed",
      attributes: { "exception.type": "SdkError", "exception.message": "boom", "exception.stacktrace": "SdkError: boom\n    at run (/srv/app/sdk.js:3:9)", "user.id": "u-42" },
    });
    logger.emit({ severityNumber: 9, body: { structured: true, n: 1 } });
    await provider.forceFlush();
    await provider.shutdown();
    await waitForStored(served.db, 2, "service = ?", "otel-sdk");
    const { body } = await get(served.mf, "/v1/logs?service=otel-sdk");
    const error = body.logs.find((e) => e.level === "error");
    assert.equal(error.message, "sdk export failed");
    assert.equal(error.environment, "staging");
    assert.equal(error.release, "9.9.9");
    assert.equal(error.error.type, "SdkError");
    assert.equal(error.user_id, "u-42");
    assert.equal(error.component, "sdk");
    const info = body.logs.find((e) => e.level === "info");
    assert.deepEqual(JSON.parse(info.message), { structured: true, n: 1 });
  } finally {
    await served.mf.dispose();
  }
});
