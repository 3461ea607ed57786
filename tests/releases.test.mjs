// Release-aware groups through the worker with real local D1 and shards: the releases table,
// a group's first and last release, and "resolved in a release" (older releases' events leave
// it resolved; the fixed release or newer reopen it once, with one regression alert).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startWorker, post, get, auth, waitFor, waitForStored, assertError } from "./helpers.mjs";

let w;
let receiver;
const received = [];
before(async () => {
  receiver = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(JSON.parse(body || "{}"));
      res.end("{}");
    });
  });
  await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
  w = await startWorker({ bindings: { BUILTIN_ALERTS: "false" } });
});
after(async () => {
  await w?.mf.dispose();
  receiver?.close();
});

async function send(release, n = 1) {
  const res = await post(w.mf, Array.from({ length: n }, () => ({ message: "checkout crashed", level: "error", component: "Checkout", release })));
  assert.equal(res.status, 202);
  await waitForStored(w.db, n, `id IN (${res.body.ids.map(() => "?").join(",")})`, ...res.body.ids);
}

const group = async () => (await get(w.mf, "/v1/groups?query=component:Checkout")).body.groups[0];
const putStatus = (fp, body) => w.mf.dispatchFetch(`http://localhost/v1/groups/${fp}`, { method: "PUT", headers: { ...auth(), "content-type": "application/json" }, body: JSON.stringify(body) });

test("resolved in 1.4.0: 1.3.9 leaves it resolved; 1.4.0 reopens it with one regression alert; 1.4.1 does not alert again", async () => {
  const rule = await post(w.mf, { name: "regressions", trigger: "regression", channels: [{ type: "webhook", url: `http://127.0.0.1:${receiver.address().port}/hook` }] }, { path: "/v1/alert-rules" });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  await send("1.3.8", 2);
  const g = await group();
  assert.equal(g.first_release, "1.3.8");
  const refused = await putStatus(g.fingerprint, { status: "open", in_release: "1.4.0" });
  assertError({ status: refused.status, body: await refused.json() }, 400, "invalid_parameter");
  const resolved = await putStatus(g.fingerprint, { status: "resolved", in_release: "1.4.0" });
  assert.equal(resolved.status, 200);
  assert.equal((await resolved.json()).resolved_in_release, "1.4.0");

  await send("1.3.9");
  await waitFor(async () => (await group()).count === 3, { what: "the 1.3.9 event counted" });
  assert.equal((await group()).status, "resolved", "an older release does not reopen it");
  assert.equal((await group()).last_release, "1.3.9");

  await send("1.4.0");
  await waitFor(async () => (await group()).status === "open", { what: "the regression in 1.4.0" });
  await waitFor(() => received.length === 1, { what: "one regression alert" });
  assert.equal(received[0].rule.name, "regressions");
  assert.equal(received[0].release, "1.4.0", "the alert names the release it regressed in");
  assert.match(received[0].group_url, new RegExp(`/#/groups/${g.fingerprint}$`), "and links to the group's page");
  await send("1.4.1");
  await waitFor(async () => (await group()).count === 5, { what: "the 1.4.1 event counted" });
  assert.equal((await group()).resolved_in_release, null, "reopened: the release is forgotten");
  const alerts = (await get(w.mf, "/v1/alerts?limit=50")).body.alerts.filter((a) => a.rule.name === "regressions");
  assert.equal(alerts.length, 1, "no second alert while it is open");
});

test("resolved in the next release: events of releases seen before stay quiet; a new one reopens", async () => {
  const g = await group();
  assert.equal((await putStatus(g.fingerprint, { status: "resolved", in_next_release: true })).status, 200);
  await send("1.4.1");
  await waitFor(async () => (await group()).count === 6, { what: "the 1.4.1 event counted" });
  assert.equal((await group()).status, "resolved");
  await send("2.0.0");
  await waitFor(async () => (await group()).status === "open", { what: "the new release to reopen it" });
});

test("releases: list, detail with what each introduced, and the release before", async () => {
  const list = await get(w.mf, "/v1/releases");
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.releases.map((r) => r.release), ["2.0.0", "1.4.1", "1.4.0", "1.3.9", "1.3.8"]);
  const first = list.body.releases.find((r) => r.release === "1.3.8");
  assert.equal(first.events, 2);
  assert.equal(first.new_groups, 1);
  assert.deepEqual(first.environments, ["production"]);
  assert.equal(list.body.releases.find((r) => r.release === "1.3.9").new_groups, 0);
  const detail = await get(w.mf, "/v1/releases/1.3.8");
  assert.equal(detail.status, 200);
  assert.equal(detail.body.introduced_groups.length, 1);
  assert.equal(detail.body.new_groups, 1);
  assert.equal(detail.body.error_rate, 1);
  assert.equal((await get(w.mf, "/v1/releases/1.4.0")).body.previous.release, "1.3.9");
  assert.equal((await get(w.mf, "/v1/releases/2.0.0")).body.regressed_groups.length, 1);
  assert.equal((await get(w.mf, "/v1/groups?first_release=1.3.8")).body.groups.length, 1);
  assert.equal((await get(w.mf, "/v1/groups?first_release=2.0.0")).body.groups.length, 0);
  assert.equal((await get(w.mf, `/v1/groups?query=${encodeURIComponent("is:new_in:1.3.8")}`)).body.groups.length, 1);
  assert.equal((await get(w.mf, `/v1/groups?query=${encodeURIComponent("is:new_in:1.4.0")}`)).body.groups.length, 0);
  assertError(await get(w.mf, "/v1/releases/nope"), 404, "not_found");
});

test("assign, note and history; a read key cannot change a group", async () => {
  const g = await group();
  const assigned = await putStatus(g.fingerprint, { assignee: "dana@example.com" });
  assert.equal(assigned.status, 200);
  assert.equal((await assigned.json()).assignee, "dana@example.com");
  const note = await post(w.mf, { text: "a null session after the 2.0 login change", author: "dana" }, { path: `/v1/groups/${g.fingerprint}/notes` });
  assert.equal(note.status, 201);
  assertError(await post(w.mf, { text: "" }, { path: `/v1/groups/${g.fingerprint}/notes` }), 400, "invalid_parameter");
  const history = (await get(w.mf, `/v1/groups/${g.fingerprint}/activity`)).body.activity;
  const kinds = history.map((a) => a.kind);
  assert.deepEqual(kinds.slice(0, 2), ["note", "assigned"]);
  assert.ok(kinds.includes("regression") && kinds.includes("first_seen") && kinds.includes("status"), JSON.stringify(kinds));
  assert.deepEqual(history.filter((a) => a.kind === "regression").map((a) => a.detail.release), ["2.0.0", "1.4.0"]);
  assert.equal(history.find((a) => a.kind === "status" && a.detail.in_release === "1.4.0").actor, "admin-token");
  assert.equal((await group()).assignee, "dana@example.com");
  // The longest note, every character an escaped surrogate pair (48 KB of JSON), is taken.
  const longest = await post(w.mf, `{"text": "${"\\ud83d\\ude00".repeat(4000)}", "author": "dana"}`, { path: `/v1/groups/${g.fingerprint}/notes` });
  assert.equal(longest.status, 201);
  assert.equal([...longest.body.detail.text].length, 4000);
  assertError(await post(w.mf, { text: "x".repeat(70_000) }, { path: `/v1/groups/${g.fingerprint}/notes` }), 413, "payload_too_large");
  const reader = (await post(w.mf, { name: "r", scopes: ["read"] }, { path: "/v1/keys" })).body.key;
  const denied = await w.mf.dispatchFetch(`http://localhost/v1/groups/${g.fingerprint}`, { method: "PUT", headers: { ...auth(reader), "content-type": "application/json" }, body: JSON.stringify({ status: "resolved" }) });
  assert.equal(denied.status, 403);
  assert.equal((await post(w.mf, { text: "x" }, { path: `/v1/groups/${g.fingerprint}/notes`, headers: auth(reader) })).status, 403);
});

test("ignored until a count reopens exactly at it, once, alerting regression and new-group rules; until a time too", async () => {
  const sendOther = async (component) => {
    const res = await post(w.mf, { message: `${component} failed`, level: "error", component });
    await waitForStored(w.db, 1, "id = ?", res.body.ids[0]);
  };
  const find = async (component) => (await get(w.mf, `/v1/groups?query=${encodeURIComponent(`component:${component}`)}`)).body.groups[0];
  const rule = await post(w.mf, { name: "new ignored", trigger: "new_group", throttle_seconds: 0, match: { component: "Ignored" }, channels: [{ type: "webhook", url: `http://127.0.0.1:${receiver.address().port}/new` }] }, { path: "/v1/alert-rules" });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  await sendOther("Ignored");
  await waitFor(() => received.some((a) => a.rule?.name === "new ignored"), { what: "the new group's alert" });
  const g = await find("Ignored");
  const refused = await putStatus(g.fingerprint, { status: "ignored", until: { users: 50, count: 3 } });
  assertError({ status: refused.status, body: await refused.json() }, 400, "invalid_parameter");
  const ignored = await putStatus(g.fingerprint, { status: "ignored", until: { count: 3 } });
  assert.equal(ignored.status, 200);
  const condition = { at: null, count: 3, users: null, window_seconds: null, users_so_far: null };
  assert.deepEqual((await ignored.json()).ignored_until, { ...condition, events_so_far: 0 });
  const alertsBefore = received.length;
  for (const expected of [2, 3]) {
    await sendOther("Ignored");
    await waitFor(async () => (await find("Ignored")).count === expected, { what: `event ${expected} counted` });
    const still = await find("Ignored");
    assert.equal(still.status, "ignored", `still ignored after ${expected - 1} of 3`);
    assert.deepEqual(still.ignored_until, { ...condition, events_so_far: expected - 1 });
  }
  await sendOther("Ignored");
  await waitFor(async () => (await find("Ignored")).status === "open", { what: "the third event to reopen it" });
  assert.equal((await find("Ignored")).ignored_until, null);
  await waitFor(() => received.length === alertsBefore + 2, { what: "a regression and a new-group alert", seen: () => received.slice(alertsBefore).map((a) => [a.rule?.name, a.reason, a.summary]) });
  const back = received.slice(alertsBefore);
  assert.deepEqual(back.map((a) => a.rule.trigger).sort(), ["new_group", "regression"]);
  for (const alert of back) {
    assert.equal(alert.reason, "ignore_until");
    assert.equal(alert.group, g.fingerprint);
    assert.match(alert.summary, /Back from ignore: Ignored failed/);
  }
  await sendOther("Ignored");
  await waitFor(async () => (await find("Ignored")).count === 5, { what: "a later event counted" });
  assert.equal(received.length, alertsBefore + 2, "once");

  await sendOther("Snoozed");
  const s = await find("Snoozed");
  assert.equal((await putStatus(s.fingerprint, { status: "ignored", until: { at: new Date(Date.now() - 1000).toISOString() } })).status, 200);
  await sendOther("Snoozed");
  await waitFor(async () => (await find("Snoozed")).status === "open", { what: "the time to have passed" });
  await waitFor(() => received.some((a) => a.group === s.fingerprint && a.reason === "ignore_until"), { what: "its alert" });
});

test("ignored until a time: the scheduled run reopens it once the time has passed, with one alert, no event needed", async () => {
  const res = await post(w.mf, { message: "Slept failed", level: "error", component: "Slept" });
  await waitForStored(w.db, 1, "id = ?", res.body.ids[0]);
  const find = async () => (await get(w.mf, "/v1/groups/" + fp)).body;
  const fp = (await get(w.mf, "/v1/groups?query=component:Slept")).body.groups[0].fingerprint;
  const inAnHour = new Date(Date.now() + 3600_000).toISOString();
  assert.equal((await putStatus(fp, { status: "ignored", until: { at: inAnHour } })).status, 200);
  const worker = await w.mf.getWorker();
  const alertsBefore = received.length;
  await worker.scheduled({ cron: "*/5 * * * *" });
  assert.equal((await find()).status, "ignored", "the time has not come");
  // The hour passes: the stored time is moved back rather than the clock forward.
  await w.db.prepare("UPDATE groups SET ignore_until_at = ? WHERE fingerprint = ?").bind(new Date(Date.now() - 1000).toISOString(), fp).run();
  await worker.scheduled({ cron: "*/5 * * * *" });
  assert.equal((await find()).status, "open");
  await waitFor(() => received.length === alertsBefore + 1, { what: "the regression rule's alert" });
  const alert = received.at(-1);
  assert.equal(alert.rule.trigger, "regression");
  assert.equal(alert.reason, "ignore_until");
  assert.equal(alert.group, fp);
  const activity = (await get(w.mf, `/v1/groups/${fp}/activity`)).body.activity;
  assert.equal(activity[0].kind, "regression");
  assert.equal(activity[0].actor, "ignore_until");
  assert.equal(activity[0].detail.ignored_until_met, 1);
  await worker.scheduled({ cron: "*/5 * * * *" });
  const again = await post(w.mf, { message: "Slept failed", level: "error", component: "Slept" });
  await waitForStored(w.db, 1, "id = ?", again.body.ids[0]);
  await waitFor(async () => (await find()).count === 2, { what: "the next event counted" });
  assert.equal(received.length, alertsBefore + 1, "once");
});
