// Trends, anomalies and rate alerts through the real worker, with synthetic hourly
// series whose spikes and silences are known: on /v1/stats from events with past timestamps,
// on /v1/groups from the group rollup, and spike/quiet alert rules judged by the cron.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, post, get, auth, waitFor, waitForStored } from "./helpers.mjs";

let w;
let receiver;
let base;
const received = [];
const HOUR = 3600_000;

before(async () => {
  // Keep the whole file inside one clock hour: the analysis is per hour.
  const now = new Date();
  if (now.getUTCMinutes() === 59 && now.getUTCSeconds() > 20) await new Promise((r) => setTimeout(r, (61 - now.getUTCSeconds()) * 1000));
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ path: req.url, body: JSON.parse(body || "{}") });
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${receiver.address().port}`;
  w = await startWorker({ bindings: { ALERT_RETRY_BASE_SECONDS: "0", BUILTIN_ALERTS: "false" } });

  // 24 hours of history by event time, then the open hour:
  //   Steady: 10 an hour, and 3 so far now;  Bursty: 2 an hour, then 60 now;
  //   Gone: 120 an hour, and nothing now.
  const hourStart = Math.floor(Date.now() / HOUR) * HOUR;
  const events = [];
  for (let h = 1; h <= 24; h++) {
    const at = (i) => new Date(hourStart - h * HOUR + i * 20_000).toISOString();
    for (let i = 0; i < 10 + (h % 3) - 1; i++) events.push({ message: "steady work", component: "Steady", timestamp: at(i) });
    for (let i = 0; i < 2 + (h % 2); i++) events.push({ message: "bursty work", component: "Bursty", timestamp: at(i) });
    for (let i = 0; i < 120 + (h % 5) - 2; i++) events.push({ message: "gone work", component: "Gone", timestamp: at(i % 170) });
  }
  for (let i = 0; i < 3; i++) events.push({ message: "steady work", component: "Steady" });
  for (let i = 0; i < 60; i++) events.push({ message: "bursty work", component: "Bursty" });
  for (let i = 0; i < events.length; i += 1000) assert.equal((await post(w.mf, events.slice(i, i + 1000))).status, 202);
  await waitForStored(w.db, events.length);
});
after(async () => {
  await w?.mf.dispose();
  receiver?.close();
});

test("stats: each key's last hour against its own day flags the spike and the silence, not the steady", async () => {
  const from = new Date(Date.now() - 24 * HOUR).toISOString();
  const res = await get(w.mf, `/v1/stats?by=component&bucket=1h&from=${from}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const a = res.body.analysis;
  assert.equal(a.Bursty.anomaly.kind, "spike", JSON.stringify(a.Bursty));
  assert.equal(a.Bursty.trend.direction, "up");
  assert.equal(a.Gone.anomaly.kind, "drop", JSON.stringify(a.Gone));
  assert.equal(a.Gone.trend.current, 0);
  assert.equal(a.Steady.anomaly.kind, null, JSON.stringify(a.Steady));
  assert.equal(a.Steady.anomaly.baseline_median, 10);
});

test("groups: sparkline, trend and anomaly come from the hourly group rollup", async () => {
  // Warnings make groups; their history is written into the rollup the insert trigger keeps.
  const warn = (message, n) => Array.from({ length: n }, () => ({ message, level: "warn", component: "Queue" }));
  assert.equal((await post(w.mf, [...warn("queue backlog growing", 40), ...warn("cache miss storm", 2)])).status, 202);
  await waitFor(async () => (await get(w.mf, "/v1/groups?sort=count")).body.groups.length >= 2, { what: "two groups" });
  const { groups } = (await get(w.mf, "/v1/groups?sort=count&window=1")).body;
  const backlog = groups.find((g) => g.title === "queue backlog growing");
  const cache = groups.find((g) => g.title === "cache miss storm");
  const hourStart = Math.floor(Date.now() / HOUR) * HOUR;
  const history = [];
  for (let h = 1; h <= 30; h++) {
    const bucket = new Date(hourStart - h * HOUR).toISOString().slice(0, 13);
    history.push(w.db.prepare("INSERT INTO group_counts_hour (fingerprint, bucket, n) VALUES (?, ?, ?)").bind(backlog.fingerprint, bucket, 3 + (h % 2)));
    history.push(w.db.prepare("INSERT INTO group_counts_hour (fingerprint, bucket, n) VALUES (?, ?, ?)").bind(cache.fingerprint, bucket, 2));
  }
  await w.db.batch(history);

  const after = (await get(w.mf, "/v1/groups?sort=count&window=1")).body.groups;
  const b = after.find((g) => g.fingerprint === backlog.fingerprint);
  const c = after.find((g) => g.fingerprint === cache.fingerprint);
  assert.equal(b.sparkline.length, 24);
  assert.equal(b.sparkline[23], 40, "the open hour");
  assert.equal(b.sparkline[22], 4, "the hour before (h = 1: 3 + 1)");
  assert.equal(b.trend.window_hours, 1);
  assert.equal(b.trend.previous, 4);
  assert.equal(b.trend.direction, "up");
  assert.equal(b.anomaly.kind, "spike");
  assert.equal(c.anomaly.kind, null, JSON.stringify(c.anomaly));
  const detail = (await get(w.mf, `/v1/groups/${b.fingerprint}`)).body;
  assert.equal(detail.anomaly.kind, "spike");
  assert.equal(detail.trend.window_hours, 24);
  assert.equal((await get(w.mf, "/v1/groups?window=0")).status, 400);
});

test("spike and quiet rules fire from the cron, once per hour, and steady traffic fires nothing", async () => {
  const rule = async (body) => {
    const res = await w.mf.dispatchFetch("http://localhost/v1/alert-rules", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ channels: [{ type: "webhook", url: `${base}/${body.name}` }], throttle_seconds: 0, ...body }) });
    assert.equal(res.status, 201, await res.clone().text());
    return res.json();
  };
  await rule({ name: "bursty", trigger: "spike", match: { component: "Bursty" } });
  await rule({ name: "gone", trigger: "quiet", match: { component: "Gone" } });
  await rule({ name: "steady-spike", trigger: "spike", match: { component: "Steady" } });
  await rule({ name: "steady-quiet", trigger: "quiet", match: { component: "Steady" } });
  const bad = await w.mf.dispatchFetch("http://localhost/v1/alert-rules", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify({ name: "x", trigger: "spike", match: { q: "timeout" } }) });
  assert.equal(bad.status, 400);

  const worker = await w.mf.getWorker();
  await worker.scheduled({ cron: "*/5 * * * *" });
  await worker.scheduled({ cron: "*/5 * * * *" });
  await waitFor(() => received.some((r) => r.path === "/bursty") && received.some((r) => r.path === "/gone"), { what: "spike and quiet deliveries" });
  const alerts = (await get(w.mf, "/v1/alerts?limit=50")).body.alerts;
  const byRule = (name) => alerts.filter((a) => a.rule.name === name);
  assert.equal(byRule("bursty").length, 1, "one alert per rule and hour");
  assert.equal(byRule("bursty")[0].trigger, "spike");
  assert.equal(byRule("bursty")[0].count, 60);
  assert.equal(byRule("bursty")[0].window.seconds, 3600);
  assert.equal(byRule("gone").length, 1);
  assert.equal(byRule("gone")[0].trigger, "quiet");
  assert.equal(byRule("steady-spike").length + byRule("steady-quiet").length, 0);
  const payload = received.find((r) => r.path === "/bursty").body;
  assert.match(JSON.stringify(payload), /Spike: 60 events this hour/);
});
