// Real shippers, unchanged, against the worker over real HTTP: pino with pino-loki and
// pino-elasticsearch, winston with winston-elasticsearch (npm), rsyslog's omelasticsearch and
// syslog-ng's elasticsearch-http() (Debian's packages, run in the foreground with private
// configs), and a real Prometheus scraping /metrics, checked by promtool. Each sends a known set
// of lines (an error, non-ASCII text, a secret) read back through GET /v1/logs. `npm test`
// installs them (scripts/setup.sh, ensure_shippers).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { createRequire } from "node:module";
import { startWorker, post, get, auth, waitFor, freePort } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const ROOT = new URL("..", import.meta.url).pathname;
const RSYSLOG = `${ROOT}.tools/rsyslog`;
let w;
let url;
let key;
const children = [];

before(async () => {
  w = await startWorker({ extra: { host: "127.0.0.1", port: 0 } });
  url = (await w.mf.ready).toString().replace(/\/$/, "");
  key = (await post(w.mf, { name: "shippers", scopes: ["ingest", "read"] }, { path: "/v1/keys" })).body.key;
});
after(async () => {
  for (const child of children) child.kill("SIGKILL");
  await w?.mf.dispose();
});

/** The stored events whose message contains `marker`, newest first. */
async function stored(marker, count) {
  let logs = [];
  await waitFor(async () => {
    logs = (await get(w.mf, `/v1/logs?limit=100&q=${encodeURIComponent(marker)}`)).body.logs;
    return logs.length >= count;
  }, { what: `${count} events with ${marker}`, seen: async () => logs.map((l) => [l.level, l.message]), timeoutMs: 60_000 });
  return logs;
}

test("pino with pino-elasticsearch: debug and trace stay debug and trace, and no flush reports an error", async () => {
  const { default: pino } = await import("pino");
  const pinoElastic = require("pino-elasticsearch");
  const stream = pinoElastic({ index: "pino-logs", node: url, auth: { username: "elastic", password: key }, esVersion: 8, flushBytes: 10, flushInterval: 200 });
  const errors = [];
  stream.on("error", (e) => errors.push(e.message));
  stream.on("insertError", (e) => errors.push(`insert: ${e.message}`));
  const logger = pino({ level: "trace" }, stream);
  const m = `pinoes-${Date.now()}`;
  logger.trace(`${m} trace`);
  logger.debug(`${m} debug`);
  logger.info(`${m} info ünïcødé`);
  logger.error(new Error(`${m} boom`), `${m} error`);
  logger.warn(`${m} secret password=hunter2`);
  await stored(m, 5);
  assert.equal((await stored(`${m} trace`, 1))[0].level, "trace");
  assert.equal((await stored(`${m} debug`, 1))[0].level, "debug");
  assert.equal((await stored(`${m} info`, 1))[0].message, `${m} info ünïcødé`);
  const error = (await stored(`${m} error`, 1))[0];
  assert.equal(error.level, "error");
  assert.match(JSON.stringify(error), /boom/);
  const secret = (await stored(`${m} secret`, 1))[0];
  assert.ok(!JSON.stringify(secret).includes("hunter2"));
  await new Promise((r) => setTimeout(r, 500));
  stream.end();
  assert.deepEqual(errors, []);
});

test("pino with pino-loki: numeric levels and the level label are honoured", async () => {
  const { default: pino } = await import("pino");
  const { default: pinoLoki } = await import("pino-loki");
  const transport = pinoLoki({ host: url, basicAuth: { username: "loki", password: key }, batching: false, labels: { service: "pino-loki" } });
  const logger = pino({ level: "trace" }, transport);
  const m = `pinoloki-${Date.now()}`;
  logger.trace(`${m} trace`);
  logger.debug(`${m} debug`);
  logger.error(`${m} error`);
  await stored(m, 3);
  assert.equal((await stored(`${m} trace`, 1))[0].level, "trace");
  assert.equal((await stored(`${m} debug`, 1))[0].level, "debug");
  assert.equal((await stored(`${m} error`, 1))[0].level, "error");
  assert.equal((await stored(`${m} debug`, 1))[0].service, "pino-loki");
});

test("winston with winston-elasticsearch: its action lines are taken, nothing crashes its host", async () => {
  const winston = require("winston");
  const { ElasticsearchTransport } = require("winston-elasticsearch");
  const errors = [];
  const transport = new ElasticsearchTransport({ level: "debug", index: "winston", clientOpts: { node: url, auth: { username: "elastic", password: key } }, flushInterval: 200, ensureIndexTemplate: true });
  transport.on("error", (e) => errors.push(e.message));
  const logger = winston.createLogger({ transports: [transport] });
  logger.on("error", (e) => errors.push(e.message));
  const m = `winston-${Date.now()}`;
  logger.debug(`${m} debug`);
  logger.warn(`${m} warn`);
  logger.error(`${m} error`, { order: 42 });
  await stored(m, 3);
  assert.equal((await stored(`${m} warn`, 1))[0].level, "warn");
  assert.equal((await stored(`${m} debug`, 1))[0].level, "debug");
  await transport.flush?.();
  logger.close();
  assert.deepEqual(errors, []);
});

/** Sends syslog lines (RFC 3164, newline-framed) to a TCP listener. */
async function syslogOver(port, lines) {
  await waitFor(() => new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => s.end(lines.map((l) => `${l}\n`).join(""), () => resolve(true)));
    s.on("error", () => resolve(false));
  }), { what: `the daemon listening on ${port}` });
}

function daemon(command, args, env = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c) => (out += c));
  child.stderr.on("data", (c) => (out += c));
  children.push(child);
  return { child, output: () => out };
}

test("rsyslog's omelasticsearch, default template: syslog severities become levels", async () => {
  assert.ok(existsSync(`${RSYSLOG}/usr/sbin/rsyslogd`), "npm test installs rsyslog into .tools/rsyslog");
  const dir = mkdtempSync(join(tmpdir(), "rsyslog-"));
  const port = await freePort();
  const worker = new URL(url);
  writeFileSync(`${dir}/rsyslog.conf`, `
global(workDirectory="${dir}")
module(load="imtcp")
module(load="omelasticsearch")
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="out")
ruleset(name="out") {
  action(type="omelasticsearch" server="${worker.hostname}" serverport="${worker.port}" usehttps="off"
         searchIndex="rsyslog" bulkmode="on" uid="elastic" pwd="${key}" action.resumeRetryCount="-1")
}
`);
  const rs = daemon(`${RSYSLOG}/usr/sbin/rsyslogd`, ["-n", "-f", `${dir}/rsyslog.conf`, "-i", `${dir}/pid`, "-M", `${RSYSLOG}/usr/lib/x86_64-linux-gnu/rsyslog`]);
  const m = `rsyslog-${Date.now()}`;
  await syslogOver(port, [`<11>Dec  7 10:00:00 web-1 sshd[42]: ${m} err`, `<14>Dec  7 10:00:01 web-1 app: ${m} info ünïcødé`, `<12>Dec  7 10:00:02 web-1 app: ${m} token=abc123secret`]);
  const logs = await stored(m, 3).catch((e) => assert.fail(`${e.message}\n${rs.output()}`));
  assert.equal(logs.find((l) => l.message.includes(`${m} err`)).level, "error");
  assert.equal(logs.find((l) => l.message.includes(`${m} info`)).level, "info");
  const secret = logs.find((l) => l.message.includes(`${m} token`));
  assert.equal(secret.level, "warn");
  assert.ok(!JSON.stringify(secret).includes("abc123secret"));
});

test("syslog-ng's elasticsearch-http(), default template: PROGRAM, PRIORITY, MESSAGE, HOST read as ours", async () => {
  assert.ok(existsSync("/usr/sbin/syslog-ng"), "npm test installs Debian's syslog-ng");
  const dir = mkdtempSync(join(tmpdir(), "syslog-ng-"));
  const port = await freePort();
  writeFileSync(`${dir}/syslog-ng.conf`, `@version: 3.38
@include "scl.conf"
options { stats-freq(0); keep-hostname(yes); };
source s_test { network(ip("127.0.0.1") port(${port}) transport("tcp")); };
destination d_logger { elasticsearch-http(url("${url}/_bulk") index("syslog-ng") type("") user("elastic") password("${key}") batch-lines(1)); };
log { source(s_test); destination(d_logger); };
`);
  const ng = daemon("/usr/sbin/syslog-ng", ["-F", "--no-caps", "-f", `${dir}/syslog-ng.conf`, `--persist-file=${dir}/persist`, `--pidfile=${dir}/pid`, `--control=${dir}/ctl`]);
  const m = `syslogng-${Date.now()}`;
  await syslogOver(port, [`<11>Dec  7 10:00:00 web-2 sshd[42]: ${m} err`, `<15>Dec  7 10:00:01 web-2 cron: ${m} debug`]);
  const logs = await stored(m, 2).catch((e) => assert.fail(`${e.message}\n${ng.output()}`));
  const err = logs.find((l) => l.message.includes(`${m} err`));
  assert.equal(err.level, "error");
  assert.equal(err.service, "sshd");
  assert.equal(err.tags.host, "web-2");
  assert.equal(logs.find((l) => l.message.includes(`${m} debug`)).level, "debug");
});

test("a real Prometheus keeps seeing the counters grow, and promtool finds the exposition valid", async () => {
  assert.ok(existsSync("/usr/bin/prometheus"), "npm test installs Debian's prometheus");
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const port = await freePort();
  const target = new URL(url);
  writeFileSync(`${dir}/prometheus.yml`, `global: { scrape_interval: 1s, scrape_timeout: 1s }
scrape_configs:
  - job_name: edge-logger
    authorization: { credentials: "${key}" }
    static_configs: [{ targets: ["${target.host}"] }]
`);
  const prom = daemon("/usr/bin/prometheus", [`--config.file=${dir}/prometheus.yml`, `--storage.tsdb.path=${dir}/data`, `--web.listen-address=127.0.0.1:${port}`]);
  // Prometheus answers 503 in plain text until it is ready: that is "no value yet".
  const query = async (q) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`).catch(() => null);
    const body = res?.ok ? await res.json().catch(() => null) : null;
    return body?.data?.result?.[0]?.value?.[1];
  };
  const total = async () => Number((await query("sum(edge_logger_requests_total)")) ?? NaN);
  const up = async () => Number((await query("up")) ?? 0);
  await waitFor(async () => (await up()) === 1, { what: "the target up", seen: async () => prom.output().slice(-2000), timeoutMs: 60_000 });
  const first = await total();
  for (let round = 0; round < 3; round++) {
    const before = await total();
    for (let i = 0; i < 10; i++) await get(w.mf, "/health", {});
    // Scrapes flush each isolate's counts: the sum grows by at least the ten requests.
    await waitFor(async () => (await total()) >= before + 10, { what: `round ${round}: the counter past ${before + 10}`, seen: total, timeoutMs: 60_000 });
  }
  assert.ok((await total()) >= first + 30);
  const text = await (await fetch(`${url}/metrics`, { headers: auth(key) })).text();
  const check = spawnSync("/usr/bin/promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
  assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
});
