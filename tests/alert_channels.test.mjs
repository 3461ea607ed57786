// Alert channels through the real worker: one local receiver plays PagerDuty, Opsgenie, Teams,
// Discord, Google Chat, Twilio, Jira, GitHub and ServiceNow, checking each request the way the
// vendor documents it (method, path, auth header, content type, required fields and limits),
// and a real Alertmanager (Debian's prometheus-alertmanager, on a loopback port) receives a
// firing alert and its resolution, read back with amtool. Trigger, resolve, regression, tickets
// created once, retries, refusals, the test endpoint, and no credential in any answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { startWorker, post, get, auth, waitFor, waitForStored, freePort } from "./helpers.mjs";

// Credentials: none of these may appear in any answer, log event or dead letter.
const PD_KEY = "R0UTINGKEY0123456789abcdefABCDEF";
const OG_KEY = "0c5a4e86-1111-4c2b-9d4e-opsgenie-key";
const TWILIO_SID = `AC${"0123456789abcdef".repeat(2)}`;
const TWILIO_TOKEN = "twilio-auth-token-secret";
const JIRA_TOKEN = "jira-api-token-secret";
const GH_TOKEN = "ghp_github-token-secret";
const SNOW_PASSWORD = "servicenow-password-secret";
const HOOK_SECRET = "hook-path-credential";
const SECRETS = [PD_KEY, OG_KEY, TWILIO_TOKEN, JIRA_TOKEN, GH_TOKEN, SNOW_PASSWORD, HOOK_SECRET];

let receiver;
let base;
const requests = []; // {vendor, method, path, headers, body, problems, status}
let w;
let am; // {proc, url, dir}

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const flaky = new Map(); // dedup key and action -> failed once

/** What each vendor's API documents, checked per request; returns [status, answer]. */
function vendor(method, path, headers, raw, problems) {
  const pathname = path.split("?")[0];
  const need = (ok, what) => ok || problems.push(what);
  const json = () => {
    need((headers["content-type"] || "").startsWith("application/json"), "content-type must be application/json");
    try {
      return JSON.parse(raw);
    } catch {
      problems.push("body is not JSON");
      return {};
    }
  };
  if (path.startsWith("/pd")) {
    need(method === "POST" && pathname.endsWith("/v2/enqueue"), "POST /v2/enqueue");
    const b = json();
    need(/^[A-Za-z0-9]{32}$/.test(b.routing_key), "routing_key: 32 characters");
    need(["trigger", "acknowledge", "resolve"].includes(b.event_action), "event_action");
    need(typeof b.dedup_key === "string" && b.dedup_key.length <= 255, "dedup_key ≤ 255");
    if (b.event_action === "trigger") {
      const p = b.payload || {};
      need(typeof p.summary === "string" && p.summary.length <= 1024, "payload.summary ≤ 1024");
      need(typeof p.source === "string" && p.source.length > 0, "payload.source");
      need(["critical", "error", "warning", "info"].includes(p.severity), "payload.severity");
    }
    // The flaky endpoint fails each incident's first call.
    if (path.startsWith("/pd-flaky") && !flaky.has(`${b.dedup_key}/${b.event_action}`)) {
      flaky.set(`${b.dedup_key}/${b.event_action}`, true);
      return [500, { status: "error" }];
    }
    return problems.length ? [400, { status: "invalid event", errors: problems }] : [202, { status: "success", message: "Event processed", dedup_key: b.dedup_key }];
  }
  if (path.startsWith("/og/")) {
    need(headers.authorization === `GenieKey ${OG_KEY}`, "Authorization: GenieKey <key>");
    const b = json();
    if (/^\/og\/v2\/alerts\/[^/]+\/close\?identifierType=alias$/.test(path)) return [202, { result: "Request will be processed", requestId: "r1" }];
    need(method === "POST" && path === "/og/v2/alerts", "POST /v2/alerts");
    need(typeof b.message === "string" && b.message.length > 0 && b.message.length <= 130, "message ≤ 130");
    need(!b.alias || b.alias.length <= 512, "alias ≤ 512");
    need(!b.priority || /^P[1-5]$/.test(b.priority), "priority P1-P5");
    need(!b.details || Object.values(b.details).every((v) => typeof v === "string"), "details: strings");
    return problems.length ? [422, { message: problems.join("; ") }] : [202, { result: "Request will be processed", requestId: "r2" }];
  }
  if (pathname === "/teams") {
    const b = json();
    need(b.type === "message", "type: message");
    const a = (b.attachments || [])[0] || {};
    need(a.contentType === "application/vnd.microsoft.card.adaptive", "an Adaptive Card attachment");
    need(a.content?.type === "AdaptiveCard" && typeof a.content?.version === "string", "AdaptiveCard with a version");
    need((a.content?.actions || []).some((x) => x.type === "Action.OpenUrl" && x.url), "an Action.OpenUrl button");
    return [problems.length ? 400 : 202, {}];
  }
  if (path.startsWith(`/discord/${HOOK_SECRET}`)) {
    const b = json();
    const e = (b.embeds || [])[0] || {};
    need(Array.isArray(b.embeds) && b.embeds.length <= 10, "embeds ≤ 10");
    need(!e.title || e.title.length <= 256, "title ≤ 256");
    need(!e.description || e.description.length <= 4096, "description ≤ 4096");
    need(!e.fields || (e.fields.length <= 25 && e.fields.every((f) => f.name && f.value && f.value.length <= 1024)), "fields ≤ 25, values ≤ 1024");
    need(Number.isInteger(e.color), "color: an integer");
    if (path.endsWith("/refuse")) return [400, { message: "Invalid Form Body", code: 50035 }];
    if (path.endsWith("/busy")) {
      const seen = requests.filter((r) => r.path === path).length;
      if (seen === 0) return [429, { message: "You are being rate limited.", retry_after: 1 }, { "retry-after": "1" }];
    }
    return [problems.length ? 400 : 204, null];
  }
  if (path.startsWith("/gchat")) {
    const b = json();
    need(typeof b.text === "string" || Array.isArray(b.cardsV2), "text or cardsV2");
    need((b.cardsV2 || []).every((c) => c.cardId && c.card), "cardsV2: cardId and card");
    return [problems.length ? 400 : 200, { name: "spaces/S/messages/1" }];
  }
  if (path.startsWith("/twilio/")) {
    need(method === "POST" && path === `/twilio/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`, "POST /2010-04-01/Accounts/{sid}/Messages.json");
    need(headers.authorization === basic(TWILIO_SID, TWILIO_TOKEN), "basic auth sid:token");
    need(headers["content-type"] === "application/x-www-form-urlencoded", "form-encoded");
    const form = new URLSearchParams(raw);
    need(/^\+[0-9]{8,15}$/.test(form.get("To") || ""), "To in E.164");
    need(form.get("From") || form.get("MessagingServiceSid"), "From or MessagingServiceSid");
    need((form.get("Body") || "").length > 0 && form.get("Body").length <= 160, "Body, one segment");
    return problems.length ? [400, { code: 21604, message: problems.join("; ") }] : [201, { sid: "SM1", status: "queued" }];
  }
  if (path.startsWith("/jira/")) {
    need(headers.authorization === basic("bot@example.com", JIRA_TOKEN), "basic auth email:api_token");
    if (method === "GET") return path === "/jira/rest/api/3/project/OPS" ? [200, { key: "OPS" }] : [404, {}];
    const b = json();
    if (path === "/jira/rest/api/3/issue") {
      const f = b.fields || {};
      need(f.project?.key === "OPS" && f.issuetype?.name && f.summary, "fields: project.key, issuetype.name, summary");
      need(f.description?.type === "doc" && f.description?.version === 1, "description: ADF doc version 1");
      const n = requests.filter((r) => r.vendor === "jira-create").length + 1;
      return [201, { id: `1000${n}`, key: `OPS-${n}`, self: `${base}/jira/rest/api/3/issue/1000${n}` }];
    }
    if (/^\/jira\/rest\/api\/3\/issue\/OPS-\d+\/comment$/.test(path)) {
      need(b.body?.type === "doc", "comment body: ADF doc");
      return [201, { id: "c1" }];
    }
    if (/^\/jira\/rest\/api\/3\/issue\/OPS-\d+\/transitions$/.test(path)) {
      need(b.transition?.id === "31", "transition.id");
      return [204, null];
    }
    return [404, { errorMessages: ["unknown"] }];
  }
  if (path.startsWith("/gh/")) {
    need(headers.authorization === `Bearer ${GH_TOKEN}`, "Authorization: Bearer <token>");
    need(headers.accept === "application/vnd.github+json", "Accept: application/vnd.github+json");
    need(!!headers["user-agent"], "a User-Agent");
    if (method === "GET") return path === "/gh/repos/acme/api" ? [200, { full_name: "acme/api" }] : [404, {}];
    const b = json();
    if (path === "/gh/repos/acme/api/issues") {
      need(typeof b.title === "string" && b.title.length > 0, "title");
      const n = requests.filter((r) => r.vendor === "gh-create").length + 1;
      return [201, { number: n, html_url: `https://github.com/acme/api/issues/${n}` }];
    }
    if (/^\/gh\/repos\/acme\/api\/issues\/\d+\/comments$/.test(path)) return [201, { id: 1 }];
    if (method === "PATCH" && /^\/gh\/repos\/acme\/api\/issues\/\d+$/.test(path)) {
      need(b.state === "closed", "state: closed");
      return [200, { state: "closed" }];
    }
    return [404, { message: "Not Found" }];
  }
  if (path.startsWith("/snow/")) {
    need(headers.authorization === basic("svc", SNOW_PASSWORD), "basic auth");
    need(headers.accept === "application/json", "Accept: application/json");
    if (method === "GET") return [200, { result: [] }];
    const b = json();
    if (method === "POST" && path === "/snow/api/now/table/incident") {
      need(typeof b.short_description === "string" && b.short_description.length <= 160, "short_description ≤ 160");
      need(["1", "2", "3"].includes(b.urgency) && ["1", "2", "3"].includes(b.impact), "urgency and impact 1-3");
      need(typeof b.correlation_id === "string", "correlation_id");
      const n = requests.filter((r) => r.vendor === "snow-create").length + 1;
      return [201, { result: { sys_id: `sys${n}`, number: `INC00${n}` } }];
    }
    if (method === "PATCH" && /^\/snow\/api\/now\/table\/incident\/sys\d+$/.test(path)) return [200, { result: {} }];
    return [404, { error: { message: "No Record found" } }];
  }
  return [404, {}];
}

function vendorName(method, path) {
  if (path === "/jira/rest/api/3/issue" && method === "POST") return "jira-create";
  if (path === "/gh/repos/acme/api/issues" && method === "POST") return "gh-create";
  if (path === "/snow/api/now/table/incident" && method === "POST") return "snow-create";
  return path.split("?")[0].split("/")[1];
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const problems = [];
      const [status, answer, extra] = vendor(req.method, req.url, req.headers, raw, problems);
      requests.push({ vendor: vendorName(req.method, req.url), method: req.method, path: req.url, headers: req.headers, body: raw, problems, status });
      res.writeHead(status, { "content-type": "application/json", ...(extra || {}) });
      res.end(answer === null ? "" : JSON.stringify(answer));
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${receiver.address().port}`;

  const dir = mkdtempSync(`${tmpdir()}/am-`);
  writeFileSync(`${dir}/am.yml`, "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n");
  const port = await freePort();
  const proc = spawn("/usr/bin/prometheus-alertmanager", [`--config.file=${dir}/am.yml`, `--storage.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`, "--cluster.listen-address="], { stdio: "ignore" });
  am = { proc, url: `http://127.0.0.1:${port}`, dir };
  await waitFor(async () => (await fetch(`${am.url}/-/ready`).catch(() => ({ ok: false }))).ok, { what: "Alertmanager ready" });

  w = await startWorker({ bindings: { ALERT_RETRY_BASE_SECONDS: "0", PUBLIC_URL: "https://logger.test" } });
});

after(async () => {
  await w?.mf.dispose();
  receiver?.close();
  if (am) {
    const exited = new Promise((r) => am.proc.once("exit", r));
    am.proc.kill();
    await exited;
    rmSync(am.dir, { recursive: true, force: true });
  }
});

const channels = () => [
  { type: "pagerduty", routing_key: PD_KEY, url: `${base}/pd/v2/enqueue` },
  { type: "opsgenie", api_key: OG_KEY, url: `${base}/og`, tags: ["team-a"] },
  { type: "alertmanager", url: am.url },
  { type: "teams", url: `${base}/teams?sig=${HOOK_SECRET}` },
  { type: "discord", url: `${base}/discord/${HOOK_SECRET}` },
  { type: "google_chat", url: `${base}/gchat?key=k&token=${HOOK_SECRET}` },
  { type: "sms", account_sid: TWILIO_SID, auth_token: TWILIO_TOKEN, from: "+14155550100", to: ["+14155550101", "+14155550102"], url: `${base}/twilio` },
  { type: "jira", url: `${base}/jira`, email: "bot@example.com", api_token: JIRA_TOKEN, project_key: "OPS", resolve_transition: "31" },
  { type: "github", repo: "acme/api", token: GH_TOKEN, labels: ["bug"], close_on_resolve: true, api_url: `${base}/gh` },
  { type: "servicenow", instance_url: `${base}/snow`, username: "svc", password: SNOW_PASSWORD },
];

async function call(method, path, body) {
  const res = await w.mf.dispatchFetch(`http://localhost${path}`, { method, headers: { ...auth(), "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : null };
}

async function send(events) {
  const res = await post(w.mf, events);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  await waitForStored(w.db, res.body.ids.length, `id IN (${res.body.ids.map(() => "?").join(",")})`, ...res.body.ids);
  return res.body.ids;
}

const alertsOf = async (ruleId) => (await get(w.mf, "/v1/alerts?limit=500")).body.alerts.filter((a) => a.rule.id === ruleId);
const amAlerts = () => JSON.parse(execFileSync("/usr/bin/amtool", ["alert", "query", "--alertmanager.url", am.url, "-o", "json"], { encoding: "utf8" }));
const noSecretIn = (text, where) => SECRETS.forEach((s) => assert.ok(!text.includes(s), `${where} holds a credential`));
const bodyOf = (r) => (r.body ? (r.headers["content-type"] || "").includes("json") ? JSON.parse(r.body) : r.body : null);

let ruleId;
let fingerprint;
const CARD_ERROR = { message: "chan-1 payment declined: card expired", level: "error", service: "checkout", error: { type: "CardError", stack: "CardError: expired\n    at charge (pay.js:10:3)\n    at checkout (cart.js:4:1)" } };

test("bad channels are 400s naming the field; credentials are sealed at rest and masked on read", async () => {
  const bad = [
    [{ type: "pager" }, "unknown variant"],
    [{ type: "pagerduty" }, "routing_key"],
    [{ type: "pagerduty", routing_key: "short" }, "channels[0].routing_key"],
    [{ type: "sms", account_sid: "AC1", auth_token: "t", from: "+14155550100", to: ["+14155550101"] }, "channels[0].account_sid"],
    [{ type: "jira", url: "not a url", email: "a@b.c", api_token: "t", project_key: "OPS" }, "channels[0].url"],
    [{ type: "github", repo: "acme", token: "t" }, "channels[0].repo"],
    [{ type: "opsgenie", api_key: "k", region: "mars" }, "channels[0].region"],
    [{ type: "teams", url: "http://10.0.0.1/hook" }, "not a public address"],
  ];
  for (const [channel, named] of bad) {
    const res = await call("POST", "/v1/alert-rules", { name: "bad", trigger: "new_group", channels: [channel] });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error.code, "invalid_parameter");
    assert.ok(res.body.error.message.includes(named), `${res.body.error.message} names ${named}`);
  }
  const created = await call("POST", "/v1/alert-rules", { name: "on-call", trigger: "new_group", match: { q: "chan-" }, channels: channels() });
  assert.equal(created.status, 201, created.text);
  ruleId = created.body.id;
  noSecretIn(created.text, "the created rule");
  const shown = created.body.channels;
  assert.equal(shown[0].routing_key, "********");
  assert.equal(shown[3].url, `${base}/********`);
  const stored = await w.db.prepare("SELECT definition FROM alert_rules WHERE id = ?").bind(ruleId).first();
  noSecretIn(stored.definition, "the stored rule");
  assert.ok(stored.definition.includes("$sealed:v1."), "credentials are sealed");
  // A PUT that sends the masks back keeps the credentials.
  const again = await call("PUT", `/v1/alert-rules/${ruleId}`, { ...created.body, id: undefined, builtin: undefined, created_at: undefined, updated_at: undefined });
  assert.equal(again.status, 200, again.text);
  noSecretIn(JSON.stringify((await get(w.mf, `/v1/alert-rules/${ruleId}`)).body), "a read rule");
  const restored = await w.db.prepare("SELECT definition FROM alert_rules WHERE id = ?").bind(ruleId).first();
  assert.ok(!restored.definition.includes("********"), "the masks were filled from the stored rule");
});

test("a new group triggers every channel in its vendor's documented shape, and opens one ticket per tracker", async () => {
  const before = requests.length;
  const [id] = await send([CARD_ERROR]);
  fingerprint = (await get(w.mf, `/v1/logs/${id}`)).body.fingerprint;
  const wanted = ["pd", "og", "teams", "discord", "gchat", "twilio", "twilio", "jira-create", "gh-create", "snow-create"];
  await waitFor(() => wanted.every((v) => requests.slice(before).filter((r) => r.vendor === v).length >= wanted.filter((x) => x === v).length), {
    what: "every vendor called",
    seen: () => requests.slice(before).map((r) => r.vendor),
  });
  for (const r of requests.slice(before)) assert.deepEqual(r.problems, [], `${r.vendor} ${r.path}: ${r.problems.join("; ")}`);
  const pd = bodyOf(requests.slice(before).find((r) => r.vendor === "pd"));
  assert.equal(pd.event_action, "trigger");
  assert.equal(pd.dedup_key, `edge-logger/group:${fingerprint}`);
  assert.equal(pd.payload.severity, "error");
  assert.equal(pd.payload.source, "checkout");
  assert.ok(pd.payload.custom_details.top_frames[0].includes("charge (pay.js:10:3)"));
  const og = bodyOf(requests.slice(before).find((r) => r.vendor === "og"));
  assert.equal(og.alias, `edge-logger/group:${fingerprint}`);
  const discord = bodyOf(requests.slice(before).find((r) => r.vendor === "discord"));
  assert.equal(discord.embeds[0].color, 0xe03e2f);
  assert.equal(discord.embeds[0].url, `https://logger.test/#/groups/${fingerprint}`);
  // Alertmanager, read back with its own client.
  await waitFor(() => amAlerts().some((a) => a.labels.fingerprint === fingerprint), { what: "the alert in Alertmanager" });
  const inAm = amAlerts().find((a) => a.labels.fingerprint === fingerprint);
  assert.equal(inAm.labels.alertname, "on-call");
  assert.equal(inAm.labels.service, "checkout");
  assert.equal(inAm.labels.level, "error");
  assert.equal(inAm.annotations.link, `https://logger.test/#/groups/${fingerprint}`);
  // Every delivery recorded delivered; no credential in /v1/alerts.
  await waitFor(async () => (await alertsOf(ruleId))[0]?.deliveries.every((d) => d.status === "delivered"), {
    what: "all delivered",
    seen: async () => (await alertsOf(ruleId))[0]?.deliveries.map((d) => `${d.channel_type}:${d.status}:${d.last_error}`),
  });
  const listed = await get(w.mf, "/v1/alerts?limit=500");
  noSecretIn(JSON.stringify(listed.body), "/v1/alerts");
  assert.equal((await alertsOf(ruleId))[0].deliveries.length, 11, "ten channels, two SMS recipients");
  const group = await get(w.mf, `/v1/groups/${fingerprint}`);
  assert.deepEqual(group.body.tickets.map((t) => [t.tracker.split(":")[0], t.number, t.state]).sort(), [
    ["github", "#1", "open"],
    ["jira", "OPS-1", "open"],
    ["servicenow", "INC001", "open"],
  ]);
});

test("resolving the group resolves the incident everywhere; a regression comments on the same tickets", async () => {
  const before = requests.length;
  const resolved = await call("PUT", `/v1/groups/${fingerprint}`, { status: "resolved" });
  assert.equal(resolved.status, 200);
  await waitFor(() => ["pd", "og", "jira", "gh", "snow"].every((v) => requests.slice(before).some((r) => r.vendor === v)), {
    what: "resolutions",
    seen: () => requests.slice(before).map((r) => `${r.vendor} ${r.method} ${r.path}`),
  });
  const since = requests.slice(before);
  for (const r of since) assert.deepEqual(r.problems, [], `${r.vendor}: ${r.problems}`);
  const pd = bodyOf(since.find((r) => r.vendor === "pd"));
  assert.deepEqual([pd.event_action, pd.dedup_key], ["resolve", `edge-logger/group:${fingerprint}`]);
  assert.ok(since.some((r) => r.vendor === "og" && r.path === `/og/v2/alerts/${encodeURIComponent(`edge-logger/group:${fingerprint}`)}/close?identifierType=alias`));
  assert.ok(since.some((r) => r.path === "/jira/rest/api/3/issue/OPS-1/transitions"));
  assert.ok(since.some((r) => r.method === "PATCH" && r.path === "/gh/repos/acme/api/issues/1" && bodyOf(r).state === "closed"));
  assert.ok(since.some((r) => r.method === "PATCH" && r.path === "/snow/api/now/table/incident/sys1" && bodyOf(r).state === "6"));
  assert.ok(!since.some((r) => ["teams", "discord", "gchat", "twilio"].includes(r.vendor)), "chat channels are not told of resolutions");
  await waitFor(() => !amAlerts().some((a) => a.labels.fingerprint === fingerprint), { what: "resolved in Alertmanager" });
  assert.ok((await alertsOf(ruleId))[0].resolved_at, "the alert records its resolution");

  const regressed = await call("POST", "/v1/alert-rules", { name: "regressions", trigger: "regression", match: { q: "chan-" }, channels: channels().slice(7) });
  assert.equal(regressed.status, 201);
  const mark = requests.length;
  await send([CARD_ERROR]);
  await waitFor(() => ["jira", "gh", "snow"].every((v) => requests.slice(mark).some((r) => r.vendor === v)), { what: "regression comments", seen: () => requests.slice(mark).map((r) => r.path) });
  const after = requests.slice(mark);
  assert.ok(after.some((r) => r.path === "/jira/rest/api/3/issue/OPS-1/comment"));
  assert.ok(after.some((r) => r.path === "/gh/repos/acme/api/issues/1/comments"));
  assert.ok(after.some((r) => r.method === "PATCH" && r.path === "/snow/api/now/table/incident/sys1" && bodyOf(r).work_notes));
  assert.ok(!after.some((r) => r.vendor.endsWith("-create")), "no second ticket");
});

test("two alerts racing for one group's ticket create it once", async () => {
  const gh = { type: "github", repo: "acme/api", token: GH_TOKEN, api_url: `${base}/gh` };
  for (const name of ["race one", "race two", "race three"]) {
    assert.equal((await call("POST", "/v1/alert-rules", { name, trigger: "new_group", match: { q: "race-" }, channels: [gh] })).status, 201);
  }
  const mark = requests.length;
  const [id] = await send([{ message: "race-1 connection reset", level: "error" }]);
  const fp = (await get(w.mf, `/v1/logs/${id}`)).body.fingerprint;
  await waitFor(async () => (await get(w.mf, "/v1/alerts?limit=500")).body.alerts.filter((a) => a.group_key === fp).flatMap((a) => a.deliveries).filter((d) => d.status === "delivered").length === 3, { what: "three deliveries done" });
  assert.equal(requests.slice(mark).filter((r) => r.vendor === "gh-create").length, 1, "one issue created");
  assert.equal((await get(w.mf, `/v1/groups/${fp}`)).body.tickets.length, 1);
});

test("a failed trigger is retried and accepted once; a refusal is final at once, dead-lettered with its answer; 429 honours Retry-After", async () => {
  const mark = requests.length;
  const flakyRule = await call("POST", "/v1/alert-rules", { name: "flaky", trigger: "new_group", match: { q: "flaky-" }, channels: [{ type: "pagerduty", routing_key: PD_KEY, url: `${base}/pd-flaky/v2/enqueue` }] });
  const [id] = await send([{ message: "flaky-1 disk full", level: "error" }]);
  const fp = (await get(w.mf, `/v1/logs/${id}`)).body.fingerprint;
  await waitFor(async () => (await alertsOf(flakyRule.body.id))[0]?.deliveries[0]?.status === "delivered", { what: "delivered after a retry" });
  const tries = requests.slice(mark).filter((r) => r.vendor === "pd-flaky" && bodyOf(r).dedup_key === `edge-logger/group:${fp}`);
  assert.deepEqual(tries.map((r) => r.status), [500, 202], "one failure, then accepted once");
  assert.equal((await alertsOf(flakyRule.body.id))[0].deliveries[0].attempts, 2);

  const refused = await call("POST", "/v1/alert-rules", { name: "refused", trigger: "new_group", match: { q: "refused-" }, channels: [{ type: "discord", url: `${base}/discord/${HOOK_SECRET}/refuse` }] });
  await send([{ message: "refused-1 boom", level: "error" }]);
  await waitFor(async () => (await alertsOf(refused.body.id))[0]?.deliveries[0]?.status === "failed", { what: "refused delivery final" });
  const [delivery] = (await alertsOf(refused.body.id))[0].deliveries;
  assert.equal(delivery.attempts, 1, "a 4xx is not retried");
  assert.ok(delivery.last_error.startsWith("HTTP 400:") && delivery.last_error.includes("Invalid Form Body"), delivery.last_error);
  assert.ok(!delivery.target.includes(HOOK_SECRET), "the target is masked");
  assert.equal(requests.filter((r) => r.path.endsWith("/refuse")).length, 1);
  const letters = await get(w.mf, "/v1/dead-letters");
  const letter = letters.body.dead_letters.find((d) => (d.error || "").includes("Invalid Form Body"));
  assert.ok(letter, JSON.stringify(letters.body));
  noSecretIn(JSON.stringify(letters.body), "/v1/dead-letters");
  const stored = await w.db.prepare("SELECT body FROM dead_letters WHERE id = ?").bind(letter.id).first();
  noSecretIn(stored.body, "the stored dead letter");
  const warnings = await get(w.mf, "/v1/logs?component=AlertDelivery");
  noSecretIn(JSON.stringify(warnings.body), "the delivery warning");

  const busy = await call("POST", "/v1/alert-rules", { name: "busy", trigger: "new_group", match: { q: "busy-" }, channels: [{ type: "discord", url: `${base}/discord/${HOOK_SECRET}/busy` }] });
  await send([{ message: "busy-1 boom", level: "error" }]);
  await waitFor(async () => (await alertsOf(busy.body.id))[0]?.deliveries[0]?.status === "delivered", { what: "delivered after 429", timeoutMs: 30000 });
  const hits = requests.filter((r) => r.path.endsWith("/busy"));
  assert.deepEqual(hits.map((r) => r.status), [429, 204]);
  assert.equal((await alertsOf(busy.body.id))[0].deliveries[0].attempts, 2);
});

test("a threshold that clears resolves its incident from the cron run, with the rule's dedup key", async () => {
  const rule = await call("POST", "/v1/alert-rules", { name: "burst", match: { q: "burst-" }, threshold: { count: 1, window_seconds: 2 }, channels: [{ type: "pagerduty", routing_key: PD_KEY, url: `${base}/pd/v2/enqueue` }, { type: "alertmanager", url: am.url }] });
  assert.equal(rule.status, 201);
  await send([{ message: "burst-1 timeout", level: "error" }]);
  const key = `edge-logger/rule:${rule.body.id}:all`;
  await waitFor(() => requests.some((r) => r.vendor === "pd" && bodyOf(r).event_action === "trigger" && bodyOf(r).dedup_key.startsWith(`edge-logger/rule:${rule.body.id}:`)), { what: "threshold trigger" });
  const dedup = bodyOf(requests.find((r) => r.vendor === "pd" && bodyOf(r).dedup_key.startsWith(`edge-logger/rule:${rule.body.id}:`))).dedup_key;
  assert.ok(dedup.length > 0, key);
  await waitFor(() => amAlerts().some((a) => a.labels.rule_id === rule.body.id), { what: "threshold alert in Alertmanager" });
  // Still firing inside its windows: a cron run re-sends to Alertmanager and resolves nothing.
  const worker = await w.mf.getWorker();
  const [alert] = await alertsOf(rule.body.id);
  const clearAt = (alert.window.start ? Date.parse(alert.window.start) : Date.now()) + 4000;
  await worker.scheduled({ cron: "*/5 * * * *" });
  if (Date.now() < clearAt - 500) {
    assert.ok(!requests.some((r) => r.vendor === "pd" && bodyOf(r).dedup_key === dedup && bodyOf(r).event_action === "resolve"), "not resolved while its windows run");
  }
  await new Promise((r) => setTimeout(r, Math.max(0, clearAt - Date.now() + 200)));
  await worker.scheduled({ cron: "*/5 * * * *" });
  await waitFor(() => requests.some((r) => r.vendor === "pd" && bodyOf(r).dedup_key === dedup && bodyOf(r).event_action === "resolve"), { what: "threshold resolved" });
  await waitFor(() => !amAlerts().some((a) => a.labels.rule_id === rule.body.id), { what: "threshold resolved in Alertmanager" });
});

test("the test endpoint reports each receiver's answer; masks are filled from the named rule", async () => {
  const mark = requests.length;
  const res = await call("POST", "/v1/alert-rules/test", { channels: [channels()[0], channels()[4], { type: "discord", url: `${base}/discord/${HOOK_SECRET}/refuse` }, channels()[7], channels()[2]] });
  assert.equal(res.status, 200, res.text);
  const results = res.body.results;
  assert.deepEqual(results.map((r) => [r.type, r.ok, r.status]), [
    ["pagerduty", true, 202],
    ["discord", true, 204],
    ["discord", false, 400],
    ["jira", true, 200],
    ["alertmanager", true, 200],
  ]);
  assert.equal(results[0].resolved, true, "the test incident is closed again");
  assert.ok(results[2].error.includes("Invalid Form Body"));
  noSecretIn(res.text, "the test answer");
  assert.ok(!requests.slice(mark).some((r) => r.vendor === "jira-create"), "a tracker test creates nothing");
  const masked = await call("POST", "/v1/alert-rules/test", { rule_id: ruleId, channels: [{ type: "pagerduty", routing_key: "********", url: `${base}/pd/v2/enqueue` }] });
  assert.equal(masked.status, 200, masked.text);
  assert.equal(masked.body.results[0].ok, true);
  const whole = await call("POST", "/v1/alert-rules/test", { rule_id: ruleId });
  assert.equal(whole.body.results.length, 10);
  assert.equal((await call("POST", "/v1/alert-rules/test", {})).status, 400);
  assert.equal((await call("POST", "/v1/alert-rules/test", { channels: [{ type: "pagerduty", routing_key: "********" }] })).status, 400, "a mask with nothing to fill it");
});

test("a ticket by hand: created once, then answered as it is", async () => {
  const [id] = await send([{ message: "manual-1 queue stuck", level: "warn" }]);
  const fp = (await get(w.mf, `/v1/logs/${id}`)).body.fingerprint;
  const mark = requests.length;
  const first = await call("POST", `/v1/groups/${fp}/tickets`, { channel: "servicenow" });
  assert.equal(first.status, 201, first.text);
  assert.equal(first.body.created, true);
  assert.match(first.body.ticket.number, /^INC/);
  const second = await call("POST", `/v1/groups/${fp}/tickets`, { channel: "servicenow" });
  assert.equal(second.status, 200);
  assert.equal(second.body.ticket.key, first.body.ticket.key);
  assert.equal(requests.slice(mark).filter((r) => r.vendor === "snow-create").length, 1);
  assert.equal((await call("POST", `/v1/groups/${fp}/tickets`, { channel: "slack" })).status, 404);
  assert.equal((await call("POST", `/v1/groups/${fp}/tickets`, {})).status, 400);
  assert.equal((await call("POST", "/v1/groups/nope/tickets", { channel: "jira" })).status, 404);
  noSecretIn(first.text + second.text, "ticket answers");
});
