// Quotas per project and usage by project, through the real worker with its consumer, D1 and
// shards: a hard quota of 1,000 events a day stores 1,000 of 1,500 and refuses 500 (per-event
// errors, then a 429 naming the quota with Retry-After), counted in usage; a soft quota keeps a
// sample past its limit; a project-bound key sees only its project's usage and quota; bad
// bodies are 400s naming their field; spike protection engages on a burst and releases after. (The day turning is the native test of the quota's
// windows, with the clock passed in.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, post, get, auth, waitForStored, assertError } from "./helpers.mjs";

let w;
const keys = {};
before(async () => {
  w = await startWorker();
  for (const [project, scopes] of [["quota-shop", ["ingest"]], ["soft-blog", ["ingest"]], ["quota-shop-reader", ["read"]]]) {
    const bound = project.replace("-reader", "");
    const res = await post(w.mf, { name: project, scopes, project: bound }, { path: "/v1/keys" });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    keys[project] = res.body.key;
  }
});
after(async () => {
  await w?.mf.dispose();
});

async function put(path, body, headers = auth()) {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, { method: "PUT", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

test("a hard quota of 1,000 a day stores 1,000 of 1,500 and refuses 500, counted in usage", async () => {
  const set = await put("/v1/projects/quota-shop/quota", { events_per_day: 1000 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual([set.body.mode, set.body.events_per_day, set.body.used.events_today], ["hard", 1000, 0]);
  const headers = auth(keys["quota-shop"]);
  const batch = (b) => Array.from({ length: 300 }, (_, i) => ({ message: `quota event ${b}-${i}`, service: "quota-api" }));
  let accepted = 0;
  let refused = 0;
  for (let b = 0; b < 3; b++) {
    const res = await post(w.mf, batch(b), { headers });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    accepted += res.body.accepted;
  }
  // The fourth batch crosses the quota: 100 taken, 200 named as refused, never split silently.
  const crossing = await post(w.mf, batch(3), { headers });
  assert.equal(crossing.status, 202);
  assert.equal(crossing.body.accepted, 100);
  assert.equal(crossing.body.errors.length, 200);
  assert.ok(crossing.body.errors.every((e) => e.code === "quota_exceeded" && e.index >= 100));
  assert.match(crossing.body.errors[0].message, /quota-shop's quota of 1000 events per day/);
  accepted += crossing.body.accepted;
  refused += crossing.body.errors.length;
  // Then nothing fits: a 429 naming the quota, with Retry-After until midnight UTC.
  const full = await post(w.mf, batch(4), { headers });
  assertError(full, 429, "quota_exceeded");
  assert.match(full.body.error.message, /quota of 1000 events per day is used up/);
  const retryAfter = Number(full.headers.get("retry-after"));
  assert.ok(retryAfter >= 1 && retryAfter <= 86400, String(retryAfter));
  refused += 300;
  assert.deepEqual([accepted, refused], [1000, 500]);
  await waitForStored(w.db, 1000, "service = ?", "quota-api");
  const quota = await get(w.mf, "/v1/projects/quota-shop/quota");
  assert.equal(quota.body.used.events_today, 1000);
  // Usage by project, once this isolate's counts are written (a scrape writes them).
  await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() });
  const usage = await get(w.mf, "/v1/usage?by=project");
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  const metrics = await (await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() })).text();
  assert.match(metrics, /^edge_logger_events_refused_quota_total\{project="quota-shop"\} 500$/m);
  const shop = usage.body.groups.find((g) => g.key === "quota-shop");
  assert.deepEqual([shop.received, shop.accepted, shop.refused_quota, shop.stored], [1500, 1000, 500, 1000]);
  assert.ok(shop.usd > 0, "its share of the bill");
});

test("a soft quota keeps a sample past its limit", async () => {
  const set = await put("/v1/projects/soft-blog/quota", { events_per_minute: 50, mode: "soft", sample_rate: 0.5 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const events = Array.from({ length: 250 }, (_, i) => ({ message: `soft ${i}`, service: "soft-api", trace_id: `soft-trace-${i}` }));
  const res = await post(w.mf, events, { headers: auth(keys["soft-blog"]) });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const sampled = res.body.dropped.filter((d) => d.rule === "quota" && d.reason === "sampled_out").length;
  assert.equal(res.body.accepted + sampled, 250);
  // 50 within the minute's quota, about half of the 200 past it.
  assert.ok(res.body.accepted >= 50 + 60 && res.body.accepted <= 50 + 140, String(res.body.accepted));
  assert.equal(res.body.errors.length, 0);
});

test("a project-bound key sees only its project's usage and quota", async () => {
  const reader = auth(keys["quota-shop-reader"]);
  const usage = await get(w.mf, "/v1/usage?by=service", reader);
  assert.equal(usage.status, 200, JSON.stringify(usage.body));
  assert.equal(usage.body.project, "quota-shop");
  assert.equal(usage.body.days, undefined, "not the deployment's bill");
  assert.deepEqual(usage.body.groups.map((g) => g.key), ["quota-api"]);
  assert.equal((await get(w.mf, "/v1/projects/quota-shop/quota", reader)).status, 200);
  assertError(await get(w.mf, "/v1/projects/soft-blog/quota", reader), 404, "not_found");
  assertError(await put("/v1/projects/quota-shop/quota", { events_per_day: 5 }, reader), 403, "forbidden");
});

test("spike protection engages on a 20x burst, keeps a sample with one alert, and releases after", async () => {
  const key = (await post(w.mf, { name: "spiky", scopes: ["ingest"], project: "spiky" }, { path: "/v1/keys" })).body.key;
  assert.equal((await put("/v1/projects/spiky/quota", { spike_multiplier: 20 })).status, 200);
  // Its usual day: 2,880 events yesterday, ten per five minutes (what the counts would hold).
  const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
  await w.db.prepare("INSERT INTO quota_counts (project, day, n_day, minute, n_minute, last_grant, received_day, five, n_five) VALUES ('spiky', ?, 2880, '', 0, 0, 2880, '', 0)").bind(yesterday).run();
  const headers = auth(key);
  const calm = await post(w.mf, Array.from({ length: 10 }, (_, i) => ({ message: `calm ${i}`, service: "spiky" })), { headers });
  assert.equal(calm.body.accepted, 10, "a usual window keeps everything");
  // A burst of one group: 1,000 events in one window, far past 20 times ten.
  const burst = await post(w.mf, Array.from({ length: 1000 }, (_, i) => ({ message: "retry loop fired", level: "warn", service: "spiky", event_id: `burst-${i}` })), { headers });
  assert.equal(burst.status, 202, JSON.stringify(burst.body).slice(0, 300));
  const spiked = burst.body.dropped.filter((d) => d.rule === "spike");
  assert.ok(burst.body.accepted >= 100 && burst.body.accepted <= 250, `the group's first 100, then about one in ten: ${burst.body.accepted}`);
  assert.equal(burst.body.accepted + spiked.length, 1000);
  const alerts = (await get(w.mf, "/v1/alerts")).body.alerts.filter((a) => a.rule.id === "spike-protection");
  assert.equal(alerts.length, 1, "one alert says so");
  assert.match(alerts[0].rule.name, /project spiky received \d+ events in five minutes/);
  // Calm again: the next five minutes bring the usual ten, all kept (the window is moved on as
  // the clock would).
  await w.db.prepare("UPDATE quota_counts SET five = 'an earlier window' WHERE project = 'spiky'").run();
  const after = await post(w.mf, Array.from({ length: 10 }, (_, i) => ({ message: `calm again ${i}`, service: "spiky" })), { headers });
  assert.equal(after.body.accepted, 10);
  assert.equal(after.body.dropped, undefined);
  await w.mf.dispatchFetch("http://localhost/metrics", { headers: auth() });
  const usage = (await get(w.mf, "/v1/usage?by=project")).body.groups.find((g) => g.key === "spiky");
  assert.equal(usage.sampled_out, spiked.length, "shown in usage");
});

test("every bad quota body is a 400 naming its field", async () => {
  for (const [body, field] of [
    [{}, "events_per_day, events_per_minute or spike_multiplier"],
    [{ spike_multiplier: 1 }, "spike_multiplier"],
    [{ events_per_day: 0 }, "events_per_day"],
    [{ events_per_minute: "many" }, "events_per_minute"],
    [{ events_per_day: 10, mode: "strict" }, "mode"],
    [{ events_per_day: 10, mode: "soft", sample_rate: 3 }, "sample_rate"],
    [{ events_per_day: 10, burst: 2 }, "burst"],
  ]) {
    const res = await put("/v1/projects/quota-shop/quota", body);
    assertError(res, 400, "invalid_parameter");
    assert.match(res.body.error.message, new RegExp(field), JSON.stringify(body));
  }
  assertError(await get(w.mf, "/v1/usage?by=color"), 400, "invalid_parameter");
  const del = await w.mf.dispatchFetch("http://localhost/v1/projects/quota-shop/quota", { method: "DELETE", headers: auth() });
  assert.equal(del.status, 200);
  assertError(await get(w.mf, "/v1/projects/quota-shop/quota"), 404, "not_found");
});
