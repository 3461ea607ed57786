// The dashboard in a real browser (Debian's headless Chromium via playwright-core) against the
// worker as `npm start` serves it: `wrangler dev` with local D1, KV and Queues and the static
// assets, on its own port and its own local state. Screenshots of each view land in
// test-artifacts/ (looked at before calling the dashboard done).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { waitFor, startWranglerDev, DEV_ADMIN_TOKEN, awayFromHourBoundary } from "./helpers.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const SHOTS = `${ROOT}test-artifacts`;
const ADMIN = DEV_ADMIN_TOKEN;
let server;
let url;
let browser;
let readKey;

async function call(path, { method = "GET", body, key = ADMIN } = {}) {
  const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

before(async () => {
  assert.ok(ADMIN, "an admin token in .dev.vars");
  server = await startWranglerDev("dash-");
  url = server.url;
  readKey = (await call("/v1/keys", { method: "POST", body: { name: "dashboard reader", scopes: ["read"] } })).body.key;
  // The burst below must be read as a spike in the hour it was sent in.
  await awayFromHourBoundary();
  const stack = "TypeError: Cannot read properties of undefined (reading 'total')\n    at renderCart (https://shop.example/assets/app.3f2a9c1b.js:10:5)\n    at checkout (https://shop.example/assets/app.3f2a9c1b.js:22:9)\n    at HTMLButtonElement.onclick (https://shop.example/assets/app.3f2a9c1b.js:40:1)";
  const seed = [
    ...Array.from({ length: 40 }, (_, i) => ({ message: `GET /api/users/${i} answered 200`, level: "info", service: "api", component: "Users", endpoint: `/api/users/${i}`, environment: "production" })),
    ...Array.from({ length: 30 }, (_, i) => ({ message: `payment gateway timeout after ${3000 + i} ms`, level: "error", service: "api", component: "Checkout", endpoint: "/api/pay", environment: "production", release: "2.1.0", tags: { region: "eu" } })),
    ...Array.from({ length: 3 }, () => ({ message: "Cannot read properties of undefined (reading 'total')", level: "error", service: "shop-web", component: "Cart", environment: "production", error: { type: "TypeError", message: "Cannot read properties of undefined (reading 'total')", stack } })),
    { message: "disk almost full", level: "warn", service: "worker", component: "Storage", environment: "staging" },
    { message: "cache miss storm", level: "warn", service: "worker", component: "CacheA", environment: "staging" },
    { message: "cache eviction storm", level: "warn", service: "worker", component: "CacheB", environment: "staging" },
  ];
  assert.equal((await call("/v1/logs", { method: "POST", body: seed })).status, 202);
  await waitFor(async () => (await call("/v1/logs?limit=1000")).body.logs.length >= seed.length, {
    what: `the ${seed.length} seeded events stored`,
    seen: async () => ({ stored: (await call("/v1/logs?limit=1000")).body.logs.length }),
  });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** Sums layout shifts not caused by input, as Chromium reports them. */
const WATCH_SHIFTS = () => {
  window.__shift = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.hadRecentInput) continue;
      window.__shift += e.value;
      (window.__shiftLog ??= []).push(`${e.value.toFixed(3)} ${location.hash} ${(e.sources || []).map((s) => `${s.node?.nodeName}.${s.node?.className} ${JSON.stringify(s.previousRect)}→${JSON.stringify(s.currentRect)}`).join(" | ")}`);
    }
  }).observe({ type: "layout-shift", buffered: true });
};

test("sign in, live feed, group, resolve, search, stats, alert rules — by keyboard and mouse, light and dark", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.addInitScript(WATCH_SHIFTS);
  const page = await context.newPage();
  const errors = [];
  // Layout shift (CLS) per view, as Chromium measures it: each view must stay under 0.1.
  const shifts = [];
  const shiftOf = async (view) => shifts.push([view, await page.evaluate(() => { const v = window.__shift; window.__shift = 0; return v; })]);
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !/40[13]/.test(m.text()) && errors.push(m.text()));

  // Sign in with a read key, by keyboard only.
  await page.goto(`${url}/dashboard/`);
  await page.getByLabel("API key with the read scope").waitFor();
  await page.keyboard.type("elk_wrong");
  await page.keyboard.press("Enter");
  await page.getByText("That key is not known to this logger.").waitFor();
  await page.getByLabel("API key with the read scope").fill("");
  await page.keyboard.type(readKey);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Live feed" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edge-logger:key")), readKey, "kept for the tab");
  assert.equal(await page.evaluate(() => localStorage.getItem("edge-logger:key")), null, "not kept beyond it");

  // An event posted after load appears without a reload, over the live tail's socket: once it
  // streams, the page asks /v1/logs nothing more.
  await page.waitForFunction(() => document.querySelectorAll("ul.events li").length === 50, null, { timeout: 20_000 });
  await page.getByText("streaming", { exact: true }).waitFor({ timeout: 20_000 });
  const polls = [];
  const onRequest = (r) => new URL(r.url()).pathname === "/v1/logs" && r.method() === "GET" && polls.push(r.url());
  page.on("request", onRequest);
  const marker = `checkout crashed ${Date.now()}`;
  assert.equal((await call("/v1/logs", { method: "POST", body: { message: marker, level: "critical", service: "api", component: "Checkout", endpoint: "/api/pay" } })).status, 202);
  await page.getByText(marker).waitFor({ timeout: 20_000 });
  page.off("request", onRequest);
  assert.deepEqual(polls, [], "the event came over the socket");
  // The search box narrows the stream (and lives in the URL).
  await page.getByLabel("Search", { exact: true }).fill("level:>=error component:Checkout");
  await page.keyboard.press("Enter");
  await page.getByText("streaming", { exact: true }).waitFor({ timeout: 20_000 });
  assert.match(page.url(), /#\/live\?query=level/);
  const narrowed = `narrowed ${Date.now()}`;
  await call("/v1/logs", { method: "POST", body: [{ message: `${narrowed} info`, level: "info", component: "Checkout" }, { message: `${narrowed} error`, level: "error", component: "Checkout" }] });
  await page.getByText(`${narrowed} error`).waitFor({ timeout: 20_000 });
  assert.equal(await page.getByText(`${narrowed} info`).count(), 0);
  // Clear empties the list.
  await page.getByRole("button", { name: "Clear" }).click();
  await page.waitForFunction(() => document.querySelectorAll("ul.events li").length === 0);
  // Pausing stops the feed; the pause is announced.
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByText("paused", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Resume" }).click();
  await page.screenshot({ path: `${SHOTS}/dashboard-live.png` });
  await shiftOf("live");

  // Groups: counts, sparklines, trends, anomaly badges.
  await page.getByRole("link", { name: "Groups" }).click();
  await page.getByRole("heading", { name: "Error groups" }).waitFor();
  const row = page.locator("tr", { hasText: "payment gateway timeout" });
  await row.waitFor();
  assert.match(await row.innerText(), /30/);
  assert.equal(await row.locator("svg.spark").count(), 1);
  assert.match(await row.locator(".trend").innerText(), /new/);
  assert.match(await row.innerText(), /spike/, "a first burst from nothing is a spike");
  await page.screenshot({ path: `${SHOTS}/dashboard-groups.png` });
  await shiftOf("groups");

  // A group page: parsed stack, hints, fingerprint_reason, recent events, tags.
  await page.locator("tr", { hasText: "Cannot read properties of undefined" }).getByRole("link").click();
  await page.getByRole("heading", { name: /Stack of the latest event/ }).waitFor();
  const frames = await page.locator("ol.frames li").allInnerTexts();
  assert.match(frames[0], /renderCart\s+assets\/app\.js/);
  assert.match(frames[1], /checkout/);
  assert.match(await page.locator(".reason").innerText(), /exception TypeError/);
  await page.screenshot({ path: `${SHOTS}/dashboard-group.png`, fullPage: true });
  await shiftOf("group");
  // A read key cannot resolve: the page says why.
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.getByText(/needs the admin scope/).waitFor();

  // Sign in as an admin in the same tab and resolve.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API key with the read scope").fill(ADMIN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /Stack of the latest event/ }).waitFor();
  await page.getByRole("button", { name: "Resolve" }).click();
  await page.locator(".facts .status-resolved").waitFor();
  const fingerprint = decodeURIComponent(new URL(page.url()).hash.split("/")[2]);
  assert.equal((await call(`/v1/groups/${fingerprint}`)).body.status, "resolved");

  // The workflow on the group page: assign, resolve in the next release, ignore until a count,
  // a note; the history says each.
  await page.getByLabel("Assignee").fill("dana@example.com");
  await page.getByRole("button", { name: "Assign" }).click();
  await waitFor(async () => (await call(`/v1/groups/${fingerprint}`)).body.assignee === "dana@example.com", { what: "the assignee saved" });
  await page.getByText("Resolve…").click();
  await page.getByRole("button", { name: "Resolve in the next release" }).click();
  await waitFor(async () => (await call(`/v1/groups/${fingerprint}/activity`)).body.activity[0].detail.in_next_release === true, { what: "resolved in the next release" });
  await page.getByText("Ignore…").click();
  await page.getByRole("button", { name: "Ignore until 100 more events" }).click();
  await page.locator(".facts .status-ignored").waitFor();
  assert.equal((await call(`/v1/groups/${fingerprint}`)).body.status, "ignored");
  await page.locator(".facts", { hasText: "until 100 more events (0 so far)" }).waitFor();
  await page.getByLabel("Note").fill("a null cart after the 2.1 checkout change");
  await page.getByRole("button", { name: "Add note" }).click();
  await page.locator(".history", { hasText: "a null cart after the 2.1 checkout change" }).waitFor();
  await page.locator(".history", { hasText: "Assigned to dana@example.com" }).waitFor();
  await page.locator(".history", { hasText: "Status resolved → ignored" }).waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-group-workflow.png`, fullPage: true });

  // Merge from the list: select two groups, merge; one row stays with both counts.
  await page.getByRole("navigation").getByRole("link", { name: "Groups" }).click();
  await page.getByLabel("Select cache miss storm").check();
  await page.getByLabel("Select cache eviction storm").check();
  await page.getByRole("button", { name: "Merge selected (2)" }).click();
  await page.getByText(/Merged 1 into/).waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll("td.title")].filter((t) => t.textContent.includes("storm")).length === 1);
  const storms = (await call(`/v1/groups?query=${encodeURIComponent("component:[CacheA,CacheB]")}`)).body.groups;
  assert.equal(storms.length, 1);
  assert.equal(storms[0].count, 2);
  assert.equal((await call(`/v1/groups/${storms[0].fingerprint}`)).body.merged.length, 1);

  // Releases: the list, then a release's page with the group it introduced.
  await page.getByRole("link", { name: "Releases" }).click();
  const releaseRow = page.locator("table.releases tr", { hasText: "2.1.0" });
  await releaseRow.waitFor();
  assert.match(await releaseRow.innerText(), /30\s+30\s+100%\s+1\s+production/);
  await releaseRow.getByRole("link", { name: "2.1.0" }).click();
  await page.getByRole("heading", { name: "New in this release (1)" }).waitFor();
  await page.locator(".group-list", { hasText: "payment gateway timeout" }).waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-release.png`, fullPage: true });

  // Search with filters and full text, paged.
  await page.getByRole("link", { name: "Search" }).click();
  await page.getByLabel("Text").fill("timeout");
  await page.getByLabel("Component").fill("Checkout");
  await page.getByLabel("Per page").selectOption("25");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("table.results tbody tr").first().waitFor();
  assert.equal(await page.locator("table.results tbody tr").count(), 25);
  await page.getByRole("button", { name: "Older" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.results tbody tr").length === 5);
  await page.getByRole("button", { name: "Newer" }).click();
  await page.waitForFunction(() => document.querySelectorAll("table.results tbody tr").length === 25);
  // The results grouped by any column (GET /v1/aggregate): by level first, then by component.
  await page.getByRole("table", { name: "count by level" }).waitFor();
  await page.getByLabel("Group by").selectOption("component");
  const byComponent = page.getByRole("table", { name: "count by component" });
  await byComponent.waitFor();
  assert.match(await byComponent.innerText(), /Checkout\s+30/);
  await page.locator("table.results tbody tr").first().getByRole("button").click();
  await page.locator("tr.detail pre").waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-search.png` });
  await shiftOf("search");

  // Stats: a chart by component over the last 24 hours.
  await page.getByRole("link", { name: "Stats" }).click();
  await page.getByLabel("By", { exact: true }).selectOption("component");
  await page.locator(".chart canvas").waitFor();
  await page.locator("table.totals", { hasText: "Checkout" }).waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-stats.png` });
  // The Theme button forces dark; the chart is redrawn for it, not left in light colours.
  await page.getByRole("button", { name: /Theme/ }).click();
  await page.getByRole("button", { name: "Theme: dark" }).waitFor();
  await page.locator('.chart[data-drawn="dark"] canvas').waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard-stats-dark.png` });
  await page.getByRole("button", { name: "Theme: dark" }).click();
  await page.getByRole("button", { name: "Theme: light" }).click();
  await page.getByRole("button", { name: "Theme: auto" }).waitFor();
  await shiftOf("stats");

  // Alert rules: create one through the form; it is listed; then mute it with a window.
  await page.getByRole("link", { name: "Alerts" }).click();
  await page.getByRole("button", { name: "New rule" }).click();
  await page.getByLabel("Name").fill("Checkout errors");
  await page.getByLabel("Component").fill("Checkout");
  await page.getByLabel("Count").fill("3");
  await page.getByLabel("URL").fill("https://hooks.example.com/checkout");
  await page.getByRole("button", { name: "Create rule" }).click();
  const ruleRow = page.locator("table.rules tr", { hasText: "Checkout errors" });
  await ruleRow.waitFor();
  assert.match(await ruleRow.innerText(), /3 × ≥ error, Checkout in 300s/);
  await ruleRow.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Hold notifications back in a window").check();
  await page.getByRole("button", { name: "Save rule" }).click();
  await page.locator("table.rules tr", { hasText: "22:00–07:00" }).waitFor();
  const rules = (await call("/v1/alert-rules")).body.rules.filter((r) => r.name === "Checkout errors");
  assert.equal(rules.length, 1);
  assert.equal(rules[0].mute.length, 1);
  // Every channel type the API declares is offered, with its own fields and a test button.
  await page.locator("table.rules tr", { hasText: "Checkout errors" }).getByRole("button", { name: "Edit" }).click();
  await page.getByRole("button", { name: "Add channel" }).click();
  const second = page.getByRole("group", { name: "Channel 2" });
  const offered = await second.getByLabel("Channel").locator("option").allInnerTexts();
  for (const kind of ["PagerDuty", "Opsgenie", "alertmanager", "teams", "discord", "Google Chat", "SMS (Twilio)", "jira", "GitHub", "ServiceNow"]) assert.ok(offered.includes(kind), `${kind} in ${offered}`);
  await second.getByLabel("Channel").selectOption("pagerduty");
  await second.getByLabel("Routing key").fill("0123456789abcdef0123456789abcdef");
  await second.getByLabel("URL (optional)").fill("https://events.pagerduty.invalid/v2/enqueue");
  await page.getByRole("button", { name: "Test channels" }).click();
  const results = page.getByRole("table", { name: "Test results" });
  await results.waitFor();
  assert.equal(await results.locator("tr").count(), 2);
  assert.match(await results.innerText(), /PagerDuty/);
  assert.ok(!(await results.innerText()).includes("0123456789abcdef0123456789abcdef"), "no credential shown");
  await page.getByRole("button", { name: "Cancel" }).click();
  await page.screenshot({ path: `${SHOTS}/dashboard-alerts.png`, fullPage: true });
  await shiftOf("alerts");

  // Dark: the same views read in the dark scheme.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.getByRole("link", { name: "Groups" }).click();
  await page.locator("tr", { hasText: "payment gateway timeout" }).waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, "rgb(11, 17, 32)");
  await page.screenshot({ path: `${SHOTS}/dashboard-groups-dark.png` });
  await shiftOf("groups dark");

  console.log("layout shift per view", JSON.stringify(shifts), await page.evaluate(() => window.__shiftLog));
  assert.deepEqual(shifts.filter(([, v]) => v >= 0.1), [], `layout shift per view: ${JSON.stringify(shifts)}`);
  assert.deepEqual(errors, []);
  await context.close();
});

test("the usage view stacks each project's stored events by day and estimates the month", async () => {
  // Usage is the admin's (or a project-bound key's): this signs in with the admin token.
  await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${url}/dashboard/`);
  await page.getByLabel("API key with the read scope").fill(ADMIN);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Live feed" }).waitFor();
  await page.getByRole("link", { name: "Usage" }).click();
  await page.getByRole("heading", { name: "Usage" }).waitFor();
  await waitFor(async () => (await page.locator("svg.usage-chart rect").count()) > 0, { what: "a stacked bar", seen: async () => ({ text: await page.locator("main").innerText() }) });
  const row = page.locator("table.totals tr", { hasText: "(no project)" });
  await row.waitFor();
  assert.match(await row.innerText(), /\(no project\)\s+\d+/);
  assert.match(await page.getByLabel("This month's estimate").innerText(), /This month: \$[\d.]+ so far, about \$[\d.]+ by its end; last month \$[\d.]+/);
  await page.screenshot({ path: `${SHOTS}/dashboard-usage.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("the dashboard's page forbids foreign scripts, connections and framing", async () => {
  const res = await fetch(`${url}/dashboard/`);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  // The API's own answers stay the worker's: JSON, not the asset server's.
  const api = await fetch(`${url}/v1/nothing`);
  assert.equal(api.headers.get("content-type"), "application/json");
});

test("the dashboard is small: what a browser transfers is stated and bounded", async () => {
  let total = 0;
  for (const file of ["index.html", "app.js", "app.css"]) {
    const res = await fetch(`${url}/dashboard/${file}`, { headers: { "accept-encoding": "gzip" } });
    assert.equal(res.status, 200, file);
    const { gzipSync } = await import("node:zlib");
    total += gzipSync(Buffer.from(await res.arrayBuffer()), { level: 9 }).length;
  }
  assert.ok(total < 60 * 1024, `${total} bytes gzipped`);
});

test("opening the domain lands on the dashboard; a JSON client is pointed at the API", async () => {
  const browserAccept = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
  const redirect = await fetch(`${url}/`, { redirect: "manual", headers: browserAccept });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get("location"), "/dashboard/");
  const followed = await fetch(`${url}/`, { headers: browserAccept });
  assert.equal(followed.status, 200);
  assert.equal(new URL(followed.url).pathname, "/dashboard/");
  assert.match(followed.headers.get("content-type"), /text\/html/);
  assert.match(await followed.text(), /<html/i);
  const pointer = await fetch(`${url}/`, { headers: { accept: "application/json" } });
  assert.equal(pointer.status, 200);
  const where = await pointer.json();
  assert.deepEqual([where.name, where.openapi, where.dashboard, where.health], ["edge-logger", "/openapi.json", "/dashboard/", "/health"]);
  const bare = await fetch(`${url}/`, { redirect: "manual" });
  assert.equal(bare.status, 200, "a client that does not ask for HTML is not redirected");
});
