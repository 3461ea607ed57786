// Alerting through the real worker with a local HTTP receiver (workerd reaches 127.0.0.1):
// thresholds, dedupe, throttle, mute, retries to failure, new groups and regressions, the
// built-in rule, and the shapes of webhook, Slack and e-mail deliveries.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHmac } from "node:crypto";
import { startWorker, post, get, auth, waitFor, waitForStored, assertError } from "./helpers.mjs";

const SECRET = "0123456789abcdef-secret";
let receiver;
let base;
const received = []; // {path, headers, body}

let w;
before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push({ path: req.url, headers: req.headers, body });
      res.writeHead(req.url.startsWith("/fail") ? 500 : 200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${receiver.address().port}`;
  w = await startWorker({
    bindings: {
      ALERT_RETRY_BASE_SECONDS: "0",
      PUBLIC_URL: "https://logger.test",
      ALERT_CHANNELS: JSON.stringify([{ type: "webhook", url: `${base}/builtin` }]),
      EMAIL_API_URL: `${base}/email`,
      EMAIL_API_KEY: "mail-key",
      EMAIL_FROM: "alerts@logger.test",
    },
  });
});
after(async () => {
  await w?.mf.dispose();
  receiver?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Waits until the wall clock passes `t` (Unix ms): rule windows and throttles are real time. */
const sleepUntil = (t) => sleep(Math.max(0, t - Date.now()));
const at = (path) => received.filter((r) => r.path === path);

async function createRule(rule) {
  const res = await w.mf.dispatchFetch("http://localhost/v1/alert-rules", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify(rule),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body;
}

async function alertsOf(ruleId) {
  const res = await get(w.mf, "/v1/alerts?limit=500");
  assert.equal(res.status, 200);
  return res.body.alerts.filter((a) => a.rule.id === ruleId).reverse();
}

async function send(events) {
  const res = await post(w.mf, events);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await waitForStored(w.db, res.body.ids.length, `id IN (${res.body.ids.map(() => "?").join(",")})`, ...res.body.ids);
  return res.body.ids;
}

test("rules: validation, listing with the built-in rule, masked secrets, update and delete", async () => {
  assertError(
    await w.mf.dispatchFetch("http://localhost/v1/alert-rules", { method: "POST", headers: { ...auth(), "content-type": "application/json" }, body: '{"name":"x","threshold":{"count":0,"window_seconds":60}}' }).then(async (r) => ({ status: r.status, body: await r.json() })),
    400,
    "invalid_parameter",
  );
    const badZone = await w.mf.dispatchFetch("http://localhost/v1/alert-rules", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ name: "x", mute: [{ start: "22:00", end: "06:00", tz: "Mars/Olympus" }] }),
  });
  assert.equal(badZone.status, 400, "an unknown zone is a 400, not a crash");
  assert.match((await badZone.json()).error.message, /time zone/);
  const rule = await createRule({ name: "crud", match: { min_level: "error", q: "never-matches-crud" }, channels: [{ type: "webhook", url: `${base}/crud`, secret: SECRET }] });
  assert.match(rule.id, /^rule_/);
  assert.equal(rule.channels[0].secret, "********");
  const list = await get(w.mf, "/v1/alert-rules");
  assert.ok(list.body.rules.some((r) => r.id === "builtin-critical" && r.builtin));
  assert.ok(!JSON.stringify(list.body).includes(SECRET));
  const sealed = JSON.parse((await w.db.prepare("SELECT definition FROM alert_rules WHERE id = ?").bind(rule.id).first()).definition).channels[0].secret;
  assert.ok(sealed.startsWith("$sealed:") && !sealed.includes(SECRET), "the secret is stored sealed");
  const put = await w.mf.dispatchFetch(`http://localhost/v1/alert-rules/${rule.id}`, {
    method: "PUT",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ ...rule, id: undefined, builtin: undefined, created_at: undefined, updated_at: undefined, throttle_seconds: 60 }),
  });
  assert.equal(put.status, 200, await put.clone().text());
  const stored = JSON.parse((await w.db.prepare("SELECT definition FROM alert_rules WHERE id = ?").bind(rule.id).first()).definition);
  assert.equal(stored.channels[0].secret, sealed, "a PUT repeating the mask keeps the secret");
  assert.equal(stored.throttle_seconds, 60);
  const del = await w.mf.dispatchFetch(`http://localhost/v1/alert-rules/${rule.id}`, { method: "DELETE", headers: auth() });
  assert.equal(del.status, 200);
  assert.equal((await get(w.mf, `/v1/alert-rules/${rule.id}`)).status, 404);
  const builtinDelete = await w.mf.dispatchFetch("http://localhost/v1/alert-rules/builtin-critical", { method: "DELETE", headers: auth() });
  assert.equal(builtinDelete.status, 409);
  assert.equal((await builtinDelete.json()).error.code, "conflict");
});

test("threshold: nothing below it, exactly one signed delivery when crossed, none for more in the same window", async () => {
  const tag = `thr-${Date.now()}`;
  const rule = await createRule({
    name: "payment errors",
    match: { min_level: "error", q: tag },
    threshold: { count: 3, window_seconds: 86400 },
    throttle_seconds: 3600,
    channels: [{ type: "webhook", url: `${base}/hook`, secret: SECRET }],
  });
  await send([{ message: `${tag} payment failed`, level: "error" }, { message: `${tag} payment failed`, level: "error" }]);
  await send([{ message: `${tag} but only info`, level: "info" }]);
  await sleep(1500);
  assert.equal(at("/hook").length, 0, "below the threshold nothing is sent");
  await send([{ message: `${tag} payment failed`, level: "error" }]);
  await waitFor(() => at("/hook").length === 1, { what: "the delivery" });
  const delivery = at("/hook")[0];
  const signature = createHmac("sha256", SECRET).update(delivery.body).digest("hex");
  assert.equal(delivery.headers["x-signature"], `sha256=${signature}`);
  const payload = JSON.parse(delivery.body);
  assert.equal(payload.rule.name, "payment errors");
  assert.equal(payload.count, 3);
  assert.equal(payload.window.seconds, 86400);
  assert.match(payload.sample_event.message, new RegExp(tag));
  assert.match(payload.link, /^https:\/\/logger\.test\/v1\/logs/);
  await send([{ message: `${tag} payment failed`, level: "error" }, { message: `${tag} payment failed`, level: "error" }]);
  await sleep(1500);
  assert.equal(at("/hook").length, 1, "one alert per window");
  const alerts = await alertsOf(rule.id);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].status, "notified");
  assert.equal(alerts[0].count, 5, "the record shows the window's count");
  await waitFor(async () => (await alertsOf(rule.id))[0].deliveries[0]?.status === "delivered", { what: "delivered status" });
});

test("throttle: none inside it (recorded as suppressed), one again after it", async () => {
  // Windows of 2 s and a throttle of 8 s, timed from what the worker recorded (the event's
  // receive time, the alert's creation), so a slow consumer moves the steps with it instead of
  // pushing one past its mark: the second event lands in a later window with 4 s of throttle
  // left to spare, the third one 1 s after the throttle ended.
  const tag = `thrt-${Date.now()}`;
  const rule = await createRule({
    name: "throttled",
    match: { q: tag },
    threshold: { count: 1, window_seconds: 2 },
    throttle_seconds: 8,
    channels: [{ type: "webhook", url: `${base}/throttle` }],
  });
  const [first] = await send([{ message: `${tag} one`, level: "error" }]);
  await waitFor(() => at("/throttle").length === 1, { what: "first delivery", seen: () => at("/throttle").length });
  const received = Date.parse((await get(w.mf, `/v1/logs/${first}`)).body.received_at);
  const notified = Date.parse((await alertsOf(rule.id))[0].created_at);
  await sleepUntil(Math.max(received + 2500, Date.now()));
  await send([{ message: `${tag} two`, level: "error" }]);
  await waitFor(async () => (await alertsOf(rule.id)).length === 2, { what: "the throttled record", seen: async () => (await alertsOf(rule.id)).map((a) => a.status) });
  assert.equal(at("/throttle").length, 1, "nothing sent inside the throttle");
  await sleepUntil(notified + 9000);
  await send([{ message: `${tag} three`, level: "error" }]);
  await waitFor(() => at("/throttle").length === 2, { what: "a delivery after the throttle", seen: () => at("/throttle").length });
  const alerts = await alertsOf(rule.id);
  assert.deepEqual(alerts.map((a) => a.status), ["notified", "throttled", "notified"]);
  assert.equal(alerts[0].suppressed, 1);
});

test("mute window: no delivery, but the alert is recorded", async () => {
  const tag = `mute-${Date.now()}`;
  const rule = await createRule({
    name: "muted",
    match: { q: tag },
    mute: [{ start: "00:00", end: "12:00", tz: "Europe/Paris" }, { start: "12:00", end: "00:00", tz: "Europe/Paris" }],
    channels: [{ type: "webhook", url: `${base}/muted` }],
  });
  await send([{ message: `${tag} boom`, level: "error" }]);
  await waitFor(async () => (await alertsOf(rule.id)).length === 1, { what: "the muted record" });
  const [alert] = await alertsOf(rule.id);
  assert.equal(alert.status, "muted");
  assert.deepEqual(alert.deliveries, []);
  await sleep(1000);
  assert.equal(at("/muted").length, 0);
});

test("a receiver answering 500 is retried and finally recorded failed, and logged as a warn event", async () => {
  const tag = `fail-${Date.now()}`;
  const rule = await createRule({ name: "failing", match: { q: tag }, channels: [{ type: "webhook", url: `${base}/fail` }] });
  await send([{ message: `${tag} boom`, level: "error" }]);
  await waitFor(async () => (await alertsOf(rule.id))[0]?.deliveries[0]?.status === "failed", { timeoutMs: 30000, what: "failed status" });
  const [alert] = await alertsOf(rule.id);
  assert.equal(alert.deliveries[0].attempts, 5);
  assert.match(alert.deliveries[0].last_error, /^HTTP 500\b/, "the receiver's status, then what it said");
  assert.equal(at("/fail").length, 5);
  await waitFor(async () => (await get(w.mf, "/v1/logs?component=AlertDelivery")).body.logs.length >= 1, { what: "the warn event" });
  const [warn] = (await get(w.mf, "/v1/logs?component=AlertDelivery")).body.logs;
  assert.equal(warn.level, "warn");
  assert.equal(warn.context.alert_id, alert.id);
});

test("new group and regression alerts", async () => {
  const tag = `grp-${Date.now()}`;
  await createRule({ name: "new issues", trigger: "new_group", match: { q: tag }, channels: [{ type: "webhook", url: `${base}/new` }] });
  await createRule({ name: "regressions", trigger: "regression", match: { q: tag }, channels: [{ type: "webhook", url: `${base}/regressed` }] });
  const [id] = await send([{ message: `${tag} Widget 1 exploded`, level: "error", component: "Widget" }]);
  await waitFor(() => at("/new").length === 1, { what: "new group delivery" });
  const payload = JSON.parse(at("/new")[0].body);
  assert.equal(payload.rule.trigger, "new_group");
  const fingerprint = (await get(w.mf, `/v1/logs/${id}`)).body.fingerprint;
  assert.equal(payload.group, fingerprint);
  await send([{ message: `${tag} Widget 2 exploded`, level: "error", component: "Widget" }]);
  await sleep(1200);
  assert.equal(at("/new").length, 1, "the same group is not new twice");

  const resolved = await w.mf.dispatchFetch(`http://localhost/v1/groups/${fingerprint}`, {
    method: "PUT",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ status: "resolved" }),
  });
  assert.equal(resolved.status, 200);
  assert.equal((await resolved.json()).status, "resolved");
  await send([{ message: `${tag} Widget 3 exploded`, level: "error", component: "Widget" }]);
  await waitFor(() => at("/regressed").length === 1, { what: "regression delivery" });
  assert.equal((await get(w.mf, `/v1/groups/${fingerprint}`)).body.status, "open", "a regression reopens the group");
  const bad = await w.mf.dispatchFetch(`http://localhost/v1/groups/${fingerprint}`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: '{"status":"done"}' });
  assert.equal(bad.status, 400);
});

test("built-in: a critical event notifies the default channels with no rule", async () => {
  const tag = `crit-${Date.now()}`;
  await send([{ message: `${tag} database on fire`, level: "critical" }]);
  await waitFor(() => at("/builtin").some((r) => r.body.includes(tag)), { what: "built-in delivery" });
  const payload = JSON.parse(at("/builtin").find((r) => r.body.includes(tag)).body);
  assert.equal(payload.rule.name, "Critical events");
});

test("Slack and e-mail deliveries have their providers' shapes", async () => {
  const tag = `shape-${Date.now()}`;
  await createRule({
    name: "shapes",
    match: { q: tag },
    channels: [
      { type: "slack", url: `${base}/slack` },
      { type: "email", to: ["oncall@example.com"] },
    ],
  });
  await send([{ message: `${tag} boom`, level: "error", environment: "prod" }]);
  await waitFor(() => at("/slack").length === 1 && at("/email").length === 1, { what: "slack and email" });
  const slack = JSON.parse(at("/slack")[0].body);
  assert.equal(slack.blocks[0].type, "header");
  assert.equal(slack.blocks[1].type, "section");
  assert.ok(slack.text.includes("shapes"));
  const email = at("/email")[0];
  assert.equal(email.headers.authorization, "Bearer mail-key");
  const mail = JSON.parse(email.body);
  assert.deepEqual(mail.to, ["oncall@example.com"]);
  assert.equal(mail.from, "alerts@logger.test");
  assert.ok(mail.subject.includes("shapes"));
  assert.ok(mail.text.includes("https://logger.test/"));
});

test("a warning that persists across consecutive windows escalates once; errors do not count for a warnings rule", async () => {
  const tag = `streak-${Date.now()}`;
  const rule = await createRule({
    name: "persistent warnings",
    match: { q: tag, min_level: "warn", max_level: "warn" },
    threshold: { count: 1, window_seconds: 2, consecutive_windows: 3 },
    group_by: "fingerprint",
    throttle_seconds: 3600,
    channels: [{ type: "webhook", url: `${base}/streak` }],
  });
  await send([{ message: `${tag} disk at 91%`, level: "error" }, { message: `${tag} disk at 91%`, level: "error" }]);
  await sleep(1200);
  assert.equal((await alertsOf(rule.id)).length, 0, "errors are above max_level");
  // A warning every half second until the rule escalates (three 2 s windows in a row at the
  // least; a slow machine only takes longer), then three more windows of warnings.
  await waitFor(
    async () => {
      await post(w.mf, { message: `${tag} disk at 91%`, level: "warn" });
      return at("/streak").length >= 1;
    },
    { intervalMs: 500, timeoutMs: 30000, what: "the escalation", seen: async () => (await alertsOf(rule.id)).length },
  );
  const escalated = Date.now();
  while (Date.now() - escalated < 6000) {
    await post(w.mf, { message: `${tag} disk at 91%`, level: "warn" });
    await sleep(500);
  }
  await sleep(1500);
  assert.equal(at("/streak").length, 1, "one notification, then the throttle holds");
  const payload = JSON.parse(at("/streak")[0].body);
  assert.equal(payload.rule.name, "persistent warnings");
});

test("without an e-mail API, e-mail channels deliver through the send_email binding", async () => {
  const mailer = await startWorker({
    bindings: { EMAIL_FROM: "alerts@logger.test", ALERT_RETRY_BASE_SECONDS: "0" },
    extra: { email: { send_email: [{ name: "SEND_EMAIL", allowed_destination_addresses: ["oncall@example.com"] }] } },
  });
  try {
    const res = await mailer.mf.dispatchFetch("http://localhost/v1/alert-rules", {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: JSON.stringify({ name: "mail me", match: { q: "binding-mail" }, channels: [{ type: "email", to: ["oncall@example.com"] }] }),
    });
    assert.equal(res.status, 201);
    const sent = await post(mailer.mf, { message: "binding-mail boom", level: "error" });
    assert.equal(sent.status, 202);
    const delivered = await waitFor(
      async () => {
        const alerts = (await get(mailer.mf, "/v1/alerts")).body.alerts.filter((a) => a.rule.name === "mail me");
        return alerts[0]?.deliveries[0]?.status === "delivered" ? alerts[0].deliveries[0] : null;
      },
      { what: "a delivery through send_email" },
    );
    assert.equal(delivered.channel_type, "email_binding");
    assert.equal(delivered.target, "oncall@example.com");
  } finally {
    await mailer.mf.dispose();
  }
});

test("a rule's match.query counts only what the search language matches", async () => {
  const tag = `qry${Date.now()}`;
  const bad = await w.mf.dispatchFetch("http://localhost/v1/alert-rules", {
    method: "POST",
    headers: { ...auth(), "content-type": "application/json" },
    body: JSON.stringify({ name: "bad", match: { query: "level:loud" } }),
  });
  assertError({ status: bad.status, body: await bad.json() }, 400, "invalid_parameter");
  const rule = await createRule({
    name: "eu checkout errors",
    match: { query: `${tag} level:>=error region:eu-* !component:Noise` },
    threshold: { count: 3, window_seconds: 86400 },
    channels: [{ type: "webhook", url: `${base}/query-hook` }],
  });
  const counted = async () => (await w.db.prepare("SELECT coalesce(sum(count), 0) AS n FROM alert_counters WHERE rule_id = ?").bind(rule.id).first()).n;
  await send([
    { message: `${tag} a`, level: "error", tags: { region: "eu-west" } },
    { message: `${tag} b`, level: "error", tags: { region: "us-east" } },
    { message: `${tag} c`, level: "warn", tags: { region: "eu-west" } },
    { message: `${tag} d`, level: "fatal", component: "Noise", tags: { region: "eu-west" } },
    { message: `${tag} e`, level: "critical", tags: { region: "eu-north" } },
  ]);
  await waitFor(async () => (await counted()) === 2, { what: "two matching events counted", seen: counted });
  assert.equal((await alertsOf(rule.id)).length, 0, "below the threshold");
  await send([{ message: `${tag} f`, level: "error", tags: { region: "eu-central" } }]);
  await waitFor(() => at("/query-hook").length === 1, { what: "the query rule's delivery" });
  assert.equal(await counted(), 3);
  assert.equal(JSON.parse(at("/query-hook")[0].body).count, 3);
});
