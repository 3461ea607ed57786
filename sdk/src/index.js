// @edge-logger/sdk — send logs and errors to an edge-logger worker from browsers, Node and
// Workers. No runtime dependencies. The one rule of this file: nothing here may throw into, block
// or crash the app it watches. Every public entry point is guarded, every hook into the host
// (console, fetch, history, global error handlers) calls through to what was there before.

const LEVELS = ["debug", "info", "warn", "error", "critical"];
const RANK = { debug: 0, info: 1, warn: 2, error: 3, critical: 4 };

// The worker's own limits (API.md): 1 MiB and 1000 events per request, 64 KiB per event. We stay
// well under them so a request is never refused for its size.
const MAX_REQUEST_BYTES = 512 * 1024;
const MAX_EVENT_BYTES = 60 * 1024;
const BEACON_BYTES = 60 * 1024; // browsers refuse beacons once 64 KiB are in flight
const FILTERED = "[Filtered]";
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);

// Top-level fields of the contract; anything else a caller passes goes under `context`.
const EVENT_FIELDS = new Set([
  "event_id", "timestamp", "environment", "service", "release", "source_type", "component",
  "endpoint", "trace_id", "span_id", "request_id", "user_id", "session_id", "tags", "context",
]);

// Client-side scrubbing: the worker scrubs again, but secrets should not leave the device.
const SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|api[-_]?key|^auth(orization)?$|cookie|^session$|credit[-_]?card|card[-_]?number|^cvv$|^cvc$|^ssn$|private[-_]?key/i;
const SECRET_TEXT = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, "$1 " + FILTERED],
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, FILTERED],
  [/([?&#](?:access_token|id_token|token|key|api_key|apikey|password|secret|sig|signature)=)[^&#\s"']+/gi, "$1" + FILTERED],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, FILTERED],
];
const CARD = /\b(?:\d[ -]?){12,18}\d\b/g;

/** Scrubs secrets out of one string. */
export function scrubText(text) {
  let out = text;
  for (const [pattern, replacement] of SECRET_TEXT) out = out.replace(pattern, replacement);
  return out.replace(CARD, (m) => (luhn(m.replace(/\D/g, "")) ? FILTERED : m));
}

function luhn(digits) {
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Turns anything into plain JSON data, bounded and scrubbed: cycles, BigInt, Errors, functions,
 * Maps, Sets, huge arrays and deep nesting can all arrive in `fields`, and none may make
 * `JSON.stringify` throw or an event grow without end.
 */
export function toPlain(value, depth = 0, seen = new WeakSet(), key = "") {
  if (key && SECRET_KEY.test(key) && value != null && value !== "") return FILTERED;
  switch (typeof value) {
    case "string":
      return scrubText(value.length > 8192 ? value.slice(0, 8192) + "…" : value);
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "boolean":
      return value;
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return null;
  if (seen.has(value)) return "[Circular]";
  if (depth >= 6) return "[Object]";
  seen.add(value);
  try {
    if (value instanceof Date) return isNaN(value) ? String(value) : value.toISOString();
    if (isErrorLike(value)) return errorInfo(value, seen);
    if (value instanceof Map) value = Object.fromEntries([...value].slice(0, 100));
    else if (value instanceof Set) value = [...value];
    if (Array.isArray(value)) {
      return value.slice(0, 100).map((v) => toPlainOrNull(v, depth + 1, seen));
    }
    const out = {};
    let n = 0;
    for (const k of Object.keys(value)) {
      if (n++ >= 100) {
        out["…"] = "more keys dropped";
        break;
      }
      const v = toPlain(value[k], depth + 1, seen, k);
      if (v !== undefined) out[k] = v;
    }
    return out;
  } catch {
    return "[Unserialisable]";
  } finally {
    seen.delete(value);
  }
}

function toPlainOrNull(v, depth, seen) {
  const out = toPlain(v, depth, seen);
  return out === undefined ? null : out;
}

function isErrorLike(v) {
  return v instanceof Error || (v && typeof v === "object" && typeof v.message === "string" && typeof v.stack === "string");
}

/** `{type, message, stack}` of an Error (its `cause` chain goes under `cause`, three deep). */
function errorInfo(err, seen = new WeakSet(), depth = 0) {
  const info = {
    type: safeString(err.name || (err.constructor && err.constructor.name) || "Error"),
    message: scrubText(safeString(err.message)),
  };
  if (typeof err.stack === "string" && err.stack) {
    info.stack = scrubText(err.stack.slice(0, 32768));
    const ids = debugIds(info.stack);
    if (ids) info.debug_ids = ids;
  }
  const cause = err.cause;
  if (cause !== undefined && depth < 3 && !seen.has(cause)) {
    if (isErrorLike(cause)) info.cause = errorInfo(cause, seen, depth + 1);
    else info.cause = toPlain(cause, 4, seen);
  }
  return info;
}

const FILE_URL = /(?:https?|file|app):\/\/[^\s()'"]+?(?=:\d+:\d+)/g;

/** The debug ids `sentry-cli sourcemaps inject` registered (`_sentryDebugIds`, keyed by a
 *  stack from each file) for the files of this stack: `{url: debug id}`, so the worker finds
 *  their source maps whatever the release. */
function debugIds(stack) {
  try {
    const registered = globalThis._sentryDebugIds;
    if (!registered || typeof registered !== "object") return undefined;
    const byFile = {};
    for (const key of Object.keys(registered)) {
      const file = (key.match(FILE_URL) || [])[0];
      if (file && !(file in byFile)) byFile[file] = registered[key];
    }
    const out = {};
    let n = 0;
    for (const file of new Set(stack.match(FILE_URL) || [])) {
      if (byFile[file] && n++ < 100) out[file] = byFile[file];
    }
    return n ? out : undefined;
  } catch {
    return undefined;
  }
}

function safeString(v) {
  try {
    return typeof v === "string" ? v : v === undefined ? "" : String(v);
  } catch {
    return "[Unprintable]";
  }
}

function utf8Length(s) {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) bytes += c > 0x7ff ? 2 : 1;
  }
  return bytes;
}

/** A UUIDv7 (RFC 9562): 48 bits of milliseconds, then random. Time-ordered event_ids keep the
 *  worker's unique index on them appending at its end instead of writing a random page per
 *  event (BENCHMARKS.md: random keys halve its insert rate by 300,000 rows). */
function uuid() {
  const c = globalThis.crypto;
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = (Math.random() * 256) | 0;
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Milliseconds to wait from a `Retry-After` header (seconds or an HTTP date), or null. */
export function retryAfterMs(header, now = Date.now()) {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

function detectRuntime() {
  const g = globalThis;
  if (g.navigator && g.navigator.userAgent === "Cloudflare-Workers") return "worker";
  if (typeof g.window !== "undefined" && typeof g.document !== "undefined") return "browser";
  if (g.process && g.process.versions && g.process.versions.node) return "node";
  return "other";
}

function ingestUrl(endpoint) {
  const base = String(endpoint || "").replace(/\/+$/, "");
  return /\/v1\/logs$/.test(base) ? base : `${base}/v1/logs`;
}

/**
 * The shared state behind a logger and its children: one queue, one sender, one set of hooks.
 */
class Core {
  constructor(options) {
    const runtime = options.runtime || detectRuntime();
    this.runtime = runtime;
    this.url = ingestUrl(options.endpoint);
    this.key = options.key;
    this.fetch = options.fetch || (globalThis.fetch && globalThis.fetch.bind(globalThis));
    this.maxBatchSize = clamp(options.maxBatchSize ?? 100, 1, 1000);
    // Workers cannot keep a timer across requests: there, `ctx.waitUntil(logger.flush())`.
    this.flushInterval = options.flushInterval ?? (runtime === "worker" ? 0 : 2000);
    this.maxQueueSize = Math.max(1, options.maxQueueSize ?? 1000);
    this.retryBaseMs = options.retryBaseMs ?? 1000;
    this.retryMaxMs = options.retryMaxMs ?? 60000;
    this.maxAttempts = options.maxAttempts ?? 12;
    // One Workers isolate serves many requests at once: breadcrumbs would mix them.
    this.maxBreadcrumbs = Math.max(0, options.maxBreadcrumbs ?? (runtime === "worker" ? 0 : 30));
    this.sampleRate = options.sampleRate ?? 1;
    this.minLevel = RANK[options.minLevel] ?? 0;
    this.beforeSend = options.beforeSend;
    this.onError = options.onError; // told about the SDK's own trouble; never required
    this.random = options.random || Math.random;
    this.now = options.now || Date.now;
    // Every wait goes through these, so a test can drive time instead of sleeping.
    const timers = options.timers || globalThis;
    this.setTimer = (callback, ms) => timers.setTimeout(callback, ms);
    this.clearTimer = (handle) => timers.clearTimeout(handle);
    this.storage = options.storage === undefined ? defaultStorage(runtime) : options.storage;
    this.storageKey = options.storageKey || `edge-logger:${this.url}`;
    this.maxStoredEvents = options.maxStoredEvents ?? 200;
    this.maxStoredBytes = options.maxStoredBytes ?? 256 * 1024;

    this.queue = []; // {id, json, bytes, attempts}
    this.inflight = [];
    this.breadcrumbs = [];
    this.counters = { sent: 0, dropped: 0, rejected: 0, failed: 0, sampled_out: 0, retries: 0, internal_errors: 0 };
    this.retryAt = 0;
    this.backoffSteps = 0;
    this.timer = null;
    this.persistTimer = null;
    this.sending = null;
    this.undo = []; // restores every hook installed in the host
    this.closed = false;
    this.restore();
  }

  guard(fn, fallback) {
    try {
      return fn();
    } catch (e) {
      this.internalError(e);
      return fallback;
    }
  }

  internalError(e) {
    this.counters.internal_errors++;
    if (typeof this.onError === "function") {
      try {
        this.onError(e);
      } catch {
        /* the app's own callback failed: nothing more to do */
      }
    }
  }

  sampled(level) {
    const rate = typeof this.sampleRate === "number" ? this.sampleRate : this.sampleRate[level] ?? 1;
    if (rate >= 1) return true;
    return this.random() < rate;
  }

  /** Builds, scrubs, sizes and queues one event; returns its event_id or undefined. */
  capture(level, message, fields, base, error) {
    if (this.closed || RANK[level] < this.minLevel) return undefined;
    if (!this.sampled(level)) {
      this.counters.sampled_out++;
      return undefined;
    }
    let event = buildEvent(level, message, { ...base, ...(fields && typeof fields === "object" ? fields : {}) }, error);
    if (RANK[level] >= RANK.error && this.breadcrumbs.length) {
      event.context = { ...event.context, breadcrumbs: this.breadcrumbs.slice() };
    }
    if (this.runtime === "browser") addPageContext(event);
    if (typeof this.beforeSend === "function") {
      event = this.beforeSend(event);
      if (!event) return undefined;
    }
    if (RANK[level] < RANK.error) this.addBreadcrumb({ category: "log", level, message: event.message });
    const json = fitEvent(event);
    this.enqueue({ id: event.event_id, json, bytes: utf8Length(json), attempts: 0 });
    return event.event_id;
  }

  enqueue(item) {
    this.queue.push(item);
    while (this.queue.length + this.inflight.length > this.maxQueueSize && this.queue.length) {
      this.queue.shift(); // the oldest goes first: recent events say most about now
      this.counters.dropped++;
    }
    this.schedulePersist();
    if (this.queue.length >= this.maxBatchSize) this.kick(0);
    else if (this.flushInterval > 0) this.kick(this.flushInterval);
  }

  addBreadcrumb(crumb) {
    if (!this.maxBreadcrumbs) return;
    this.breadcrumbs.push({
      timestamp: new Date(this.now()).toISOString(),
      category: crumb.category || "custom",
      level: crumb.level || "info",
      message: scrubText(safeString(crumb.message).slice(0, 512)),
      ...(crumb.data ? { data: toPlain(crumb.data, 3) } : {}),
    });
    if (this.breadcrumbs.length > this.maxBreadcrumbs) this.breadcrumbs.shift();
  }

  /** Starts a send after `delay` ms unless one is already due sooner. */
  kick(delay) {
    // flushInterval 0 means no timers at all (Workers): sends happen in `flush()` only.
    if (this.flushInterval <= 0 || (this.closed && delay > 0)) return;
    const due = Math.max(delay, this.retryAt - this.now());
    if (this.timer) {
      if (this.timer.due <= this.now() + due) return;
      this.clearTimer(this.timer.handle);
    }
    const handle = this.setTimer(() => {
      this.timer = null;
      this.drain().catch((e) => this.internalError(e));
    }, due);
    if (handle && typeof handle.unref === "function") handle.unref(); // never keeps Node alive
    this.timer = { handle, due: this.now() + due };
  }

  /** Sends batches until the queue is empty or the server asks us to wait. */
  drain() {
    if (this.sending) return this.sending;
    this.sending = (async () => {
      try {
        while (this.queue.length && this.now() >= this.retryAt) {
          const ok = await this.sendBatch();
          if (!ok) break;
        }
      } finally {
        this.sending = null;
        this.schedulePersist();
        if (this.queue.length && !this.closed) this.kick(this.flushInterval);
      }
    })();
    return this.sending;
  }

  takeBatch(maxBytes = MAX_REQUEST_BYTES) {
    const batch = [];
    let bytes = 2;
    while (this.queue.length && batch.length < this.maxBatchSize) {
      const next = this.queue[0];
      if (batch.length && bytes + next.bytes + 1 > maxBytes) break;
      batch.push(this.queue.shift());
      bytes += next.bytes + 1;
    }
    return batch;
  }

  /** One request; true when the sender may go on with the next batch. */
  async sendBatch() {
    const batch = this.takeBatch();
    this.inflight = batch;
    const body = "[" + batch.map((e) => e.json).join(",") + "]";
    let res;
    try {
      if (!this.fetch) throw new Error("no fetch in this runtime");
      res = await this.fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${this.key}` },
        body,
        // Lets the browser finish the request when the page goes away (≤ 64 KiB only).
        ...(this.runtime === "browser" && body.length < BEACON_BYTES ? { keepalive: true } : {}),
      });
    } catch (e) {
      this.inflight = [];
      this.retryLater(batch, null);
      this.internalError(e);
      return false;
    }
    this.inflight = [];
    const status = res.status;
    if (status >= 200 && status < 300) {
      this.backoffSteps = 0;
      await this.settleAccepted(batch, res);
      return true;
    }
    if (RETRYABLE.has(status)) {
      this.retryLater(batch, res.headers && res.headers.get("retry-after"));
      return false;
    }
    if (status === 413 && batch.length > 1) {
      // Split and try again: the halves fit where the whole did not.
      this.queue.unshift(...batch);
      this.maxBatchSize = Math.max(1, Math.floor(batch.length / 2));
      return true;
    }
    // 400, 401, 403, 413 for one event, 415: resending the same bytes cannot succeed.
    this.counters.rejected += batch.length;
    this.internalError(new Error(`edge-logger refused ${batch.length} event(s): HTTP ${status}`));
    return true;
  }

  /** A 202 may still refuse single events: invalid ones are dropped, unqueued ones retried. */
  async settleAccepted(batch, res) {
    let answer = null;
    try {
      answer = await res.json();
    } catch {
      /* no body: everything was accepted */
    }
    const errors = (answer && Array.isArray(answer.errors) && answer.errors) || [];
    const retry = [];
    for (const err of errors) {
      const item = batch[err.index];
      if (!item) continue;
      batch[err.index] = null;
      if (err.code === "enqueue_failed") retry.push(item);
      else this.counters.rejected++;
    }
    this.counters.sent += batch.filter(Boolean).length;
    if (retry.length) this.retryLater(retry, res.headers && res.headers.get("retry-after"));
  }

  retryLater(batch, retryAfter) {
    const keep = [];
    for (const item of batch) {
      item.attempts++;
      if (item.attempts >= this.maxAttempts) this.counters.failed++;
      else keep.push(item);
    }
    this.counters.retries += keep.length;
    this.queue.unshift(...keep);
    while (this.queue.length > this.maxQueueSize) {
      this.queue.shift();
      this.counters.dropped++;
    }
    const told = retryAfterMs(retryAfter, this.now());
    // Full jitter: many clients that failed together must not come back together.
    const backoff = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** this.backoffSteps) * (0.5 + this.random() / 2);
    this.backoffSteps = Math.min(this.backoffSteps + 1, 16);
    this.retryAt = this.now() + (told ?? backoff);
    this.schedulePersist();
    if (!this.closed) this.kick(0);
  }

  /** Sends everything queued, retrying as told, until done or `timeoutMs` passes. */
  async flush(timeoutMs = 10000) {
    const deadline = this.now() + timeoutMs;
    while ((this.queue.length || this.sending) && this.now() < deadline) {
      const wait = this.retryAt - this.now();
      if (wait > 0) {
        if (this.now() + wait > deadline) break;
        await this.sleep(wait);
        continue;
      }
      await this.drain();
    }
    this.persistNow();
    return { sent: this.counters.sent, pending: this.queue.length + this.inflight.length };
  }

  // Persistence (browsers): what is unsent survives a reload, bounded, newest kept.
  schedulePersist() {
    if (!this.storage || this.persistTimer) return;
    this.persistTimer = this.setTimer(() => {
      this.persistTimer = null;
      this.persistNow();
    }, 1000);
    if (this.persistTimer && typeof this.persistTimer.unref === "function") this.persistTimer.unref();
  }

  persistNow() {
    if (!this.storage) return;
    this.guard(() => {
      const pending = [...this.inflight, ...this.queue];
      const kept = [];
      let bytes = 0;
      for (let i = pending.length - 1; i >= 0 && kept.length < this.maxStoredEvents; i--) {
        bytes += pending[i].bytes;
        if (bytes > this.maxStoredBytes) break;
        kept.unshift(pending[i].json);
      }
      if (kept.length) this.storage.setItem(this.storageKey, JSON.stringify(kept));
      else this.storage.removeItem(this.storageKey);
    });
  }

  restore() {
    if (!this.storage) return;
    this.guard(() => {
      const raw = this.storage.getItem(this.storageKey);
      if (!raw) return;
      this.storage.removeItem(this.storageKey);
      const stored = JSON.parse(raw);
      if (!Array.isArray(stored)) return;
      for (const json of stored.slice(-this.maxStoredEvents)) {
        if (typeof json !== "string") continue;
        // Same event_id as before the reload: the worker stores it once even if it got there.
        const id = JSON.parse(json).event_id;
        this.queue.push({ id, json, bytes: utf8Length(json), attempts: 0 });
      }
      if (this.queue.length && this.flushInterval > 0) this.kick(0);
    });
  }

  /** Page hide: whatever is queued goes by `sendBeacon`; what the browser refuses is stored. */
  beaconAll() {
    const nav = globalThis.navigator;
    if (!nav || typeof nav.sendBeacon !== "function" || !this.key) return this.persistNow();
    const url = `${this.url}?key=${encodeURIComponent(this.key)}`;
    while (this.queue.length) {
      const batch = this.takeBatch(BEACON_BYTES);
      const body = "[" + batch.map((e) => e.json).join(",") + "]";
      let ok = false;
      try {
        ok = nav.sendBeacon(url, body); // a string goes as text/plain, which needs no preflight
      } catch (e) {
        this.internalError(e);
      }
      if (!ok) {
        this.queue.unshift(...batch);
        break;
      }
      this.counters.sent += batch.length;
    }
    this.persistNow();
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = this.setTimer(resolve, ms);
      if (t && typeof t.unref === "function" && ms > 5000) t.unref();
    });
  }

  close() {
    this.closed = true;
    if (this.timer) this.clearTimer(this.timer.handle);
    this.timer = null;
    for (const undo of this.undo.splice(0).reverse()) this.guard(undo);
  }
}

function clamp(n, lo, hi) {
  return Math.min(hi, Math.max(lo, Number(n) || lo));
}



function defaultStorage(runtime) {
  if (runtime !== "browser") return null;
  try {
    const s = globalThis.localStorage;
    const probe = "edge-logger:probe";
    s.setItem(probe, "1");
    s.removeItem(probe);
    return s;
  } catch {
    return null; // private mode, disabled storage, sandboxed frame
  }
}

function buildEvent(level, message, fields, error) {
  const event = { event_id: uuid(), timestamp: new Date().toISOString(), level, message: "" };
  const context = {};
  for (const k of Object.keys(fields)) {
    const v = fields[k];
    if (v === undefined) continue;
    if (k === "context" && v && typeof v === "object") Object.assign(context, v);
    else if (k === "error" && v && typeof v === "object") error = error || v;
    else if (k === "level" && LEVELS.includes(v)) event.level = v;
    else if (EVENT_FIELDS.has(k)) event[k] = k === "tags" ? stringTags(v) : toPlain(v, 5);
    else context[k] = v;
  }
  if (error !== undefined) event.error = isErrorLike(error) ? errorInfo(error) : { type: "NonError", message: scrubText(describe(error)) };
  event.message = scrubText(safeString(message === undefined || message === null || message === "" ? (event.error && event.error.message) || "(no message)" : message)).slice(0, 16000);
  const ctx = toPlain(context);
  if (ctx && Object.keys(ctx).length) event.context = ctx;
  return event;
}

function stringTags(tags) {
  const out = {};
  if (tags && typeof tags === "object") {
    for (const k of Object.keys(tags).slice(0, 50)) {
      if (tags[k] !== undefined && tags[k] !== null) out[k] = scrubText(safeString(tags[k])).slice(0, 200);
    }
  }
  return out;
}

function describe(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(toPlain(value)) ?? safeString(value);
  } catch {
    return safeString(value);
  }
}

function addPageContext(event) {
  try {
    const loc = globalThis.location;
    if (!event.endpoint && loc) event.endpoint = loc.pathname;
    if (!event.source_type) event.source_type = "ui";
    event.context = { ...event.context, page: loc ? loc.origin + loc.pathname : undefined, user_agent: globalThis.navigator && globalThis.navigator.userAgent };
  } catch {
    /* an opaque location (sandboxed frame): the event goes without it */
  }
}

/** Serialises an event within the worker's 64 KiB: context, then breadcrumbs, then text give way. */
function fitEvent(event) {
  let json = JSON.stringify(event);
  if (utf8Length(json) <= MAX_EVENT_BYTES) return json;
  const ctx = event.context || {};
  event.context = { breadcrumbs: ctx.breadcrumbs, sdk_truncated: true };
  json = JSON.stringify(event);
  if (utf8Length(json) <= MAX_EVENT_BYTES) return json;
  delete event.context.breadcrumbs;
  event.message = event.message.slice(0, 8000);
  if (event.error) {
    event.error.message = safeString(event.error.message).slice(0, 4000);
    if (event.error.stack) event.error.stack = event.error.stack.slice(0, 16000);
    delete event.error.cause;
  }
  for (const k of ["tags", "component", "endpoint", "service", "release"]) {
    if (utf8Length(JSON.stringify(event)) <= MAX_EVENT_BYTES) break;
    delete event[k];
  }
  return JSON.stringify(event);
}

// Hooks into the host. Each records a breadcrumb or captures, then does exactly what the host
// did before; each pushes its own undo.

function hookConsole(core) {
  const c = globalThis.console;
  if (!c) return;
  const map = { debug: "debug", log: "info", info: "info", warn: "warn", error: "error" };
  for (const method of Object.keys(map)) {
    const original = c[method];
    if (typeof original !== "function") continue;
    const wrapped = function (...args) {
      core.guard(() => core.addBreadcrumb({ category: "console", level: map[method], message: args.map(describe).join(" ") }));
      return original.apply(this, args);
    };
    c[method] = wrapped;
    core.undo.push(() => {
      if (c[method] === wrapped) c[method] = original;
    });
  }
}

function hookFetch(core) {
  const g = globalThis;
  const original = g.fetch;
  if (typeof original !== "function") return;
  const wrapped = function (input, init) {
    const started = core.now();
    let method = "GET";
    let url = "";
    core.guard(() => {
      url = typeof input === "string" ? input : input instanceof URL ? input.href : (input && input.url) || "";
      method = ((init && init.method) || (input && input.method) || "GET").toUpperCase();
    });
    const promise = original.apply(this, arguments);
    if (url.startsWith(core.url)) return promise; // our own sends are not the app's story
    const record = (status) => core.guard(() => core.addBreadcrumb({ category: "fetch", level: status >= 400 || !status ? "warn" : "info", message: `${method} ${url.split("?")[0]} → ${status || "failed"}`, data: { duration_ms: core.now() - started } }));
    promise.then((res) => record(res && res.status), () => record(0));
    return promise;
  };
  g.fetch = wrapped;
  core.undo.push(() => {
    if (g.fetch === wrapped) g.fetch = original;
  });
}

function hookNavigation(core) {
  const h = globalThis.history;
  const w = globalThis.window;
  if (!h || !w) return;
  let last = globalThis.location && globalThis.location.pathname;
  const note = () =>
    core.guard(() => {
      const to = globalThis.location.pathname;
      if (to !== last) core.addBreadcrumb({ category: "navigation", message: `${last} → ${to}` });
      last = to;
    });
  for (const method of ["pushState", "replaceState"]) {
    const original = h[method];
    if (typeof original !== "function") continue;
    const wrapped = function (...args) {
      const result = original.apply(this, args);
      note();
      return result;
    };
    h[method] = wrapped;
    core.undo.push(() => {
      if (h[method] === wrapped) h[method] = original;
    });
  }
  listen(core, w, "popstate", note);
  listen(core, w, "hashchange", note);
}

function listen(core, target, type, fn, options) {
  target.addEventListener(type, fn, options);
  core.undo.push(() => target.removeEventListener(type, fn, options));
}

function hookBrowser(core, logger, globalHandlers) {
  const w = globalThis.window;
  const d = globalThis.document;
  if (globalHandlers) {
    listen(core, w, "error", (ev) =>
      core.guard(() => {
        // Resource load failures have no `error` and a target other than window: not ours.
        if (ev.error === undefined && !ev.message) return;
        const err = ev.error !== undefined && ev.error !== null ? ev.error : Object.assign(new Error(ev.message), { stack: ev.filename ? `Error: ${ev.message}\n    at ${ev.filename}:${ev.lineno}:${ev.colno}` : undefined });
        logger.captureException(err, { context: { handled: false, mechanism: "window.onerror" } });
        core.kick(0);
      }),
    );
    listen(core, w, "unhandledrejection", (ev) =>
      core.guard(() => {
        logger.captureException(ev.reason, { context: { handled: false, mechanism: "unhandledrejection" } });
        core.kick(0);
      }),
    );
  }
  // `pagehide` is the last moment a page reliably runs; `visibilitychange` covers mobile tabs that
  // are killed while hidden without ever firing `pagehide`.
  listen(core, w, "pagehide", () => core.guard(() => core.beaconAll()));
  if (d) listen(core, d, "visibilitychange", () => core.guard(() => d.visibilityState === "hidden" && core.beaconAll()));
}

function hookNode(core, logger) {
  const p = globalThis.process;
  if (!p || typeof p.on !== "function") return;
  const fatal = (err, mechanism, crash) => {
    core.guard(() => logger.captureException(err, { level: "critical", context: { handled: false, mechanism } }));
    if (!crash) return void core.drain().catch(() => {});
    // Node crashes on these by default; a listener stops that. We keep Node's behaviour: report,
    // give the report two seconds to leave, print the error as Node would, exit with code 1.
    core.flush(2000).finally(() => {
      try {
        p.stderr.write(`${(err && err.stack) || describe(err)}\n`);
      } catch {
        /* no stderr */
      }
      p.exit(1);
    });
  };
  const onException = (err) => fatal(err, "uncaughtException", p.listenerCount("uncaughtException") === 1);
  // Under the default (--unhandled-rejections=throw) an unhandled rejection crashes the process.
  const mode = [...(p.execArgv || []), ...String((p.env && p.env.NODE_OPTIONS) || "").split(/\s+/)].find((a) => a.startsWith("--unhandled-rejections="));
  const rejectionsCrash = !mode || /=(throw|strict)$/.test(mode);
  const onRejection = (reason) => fatal(reason, "unhandledRejection", rejectionsCrash && p.listenerCount("unhandledRejection") === 1 && p.listenerCount("uncaughtException") <= 1);
  const onBeforeExit = () => {
    if (core.queue.length && core.now() >= core.retryAt) core.drain().catch(() => {});
  };
  for (const [type, fn] of [["uncaughtException", onException], ["unhandledRejection", onRejection]]) {
    if (core.globalHandlers) {
      p.on(type, fn);
      core.undo.push(() => p.off(type, fn));
    }
  }
  p.on("beforeExit", onBeforeExit);
  core.undo.push(() => p.off("beforeExit", onBeforeExit));
}

class Logger {
  constructor(core, base) {
    this._core = core;
    this._base = base;
  }

  _log(level, message, fields) {
    return this._core.guard(() => this._core.capture(level, message, fields, this._base), undefined);
  }

  debug(message, fields) {
    return this._log("debug", message, fields);
  }
  info(message, fields) {
    return this._log("info", message, fields);
  }
  warn(message, fields) {
    return this._log("warn", message, fields);
  }
  error(message, fields) {
    return this._log("error", message, fields);
  }
  critical(message, fields) {
    return this._log("critical", message, fields);
  }

  /** Reports an exception (or any thrown value) at `error` level, with its stack and breadcrumbs. */
  captureException(err, fields) {
    return this._core.guard(() => {
      const level = fields && LEVELS.includes(fields.level) ? fields.level : "error";
      const message = isErrorLike(err) ? safeString(err.message) : describe(err);
      return this._core.capture(level, message, fields, this._base, err === undefined ? null : err);
    }, undefined);
  }

  addBreadcrumb(crumb) {
    this._core.guard(() => this._core.addBreadcrumb(crumb || {}));
  }

  /** A logger that adds `fields` to every event (a request id, a user); shares the queue. */
  child(fields) {
    return this._core.guard(() => new Logger(this._core, { ...this._base, ...fields }), this);
  }

  /** Sends what is queued. Never rejects; in a Worker: `ctx.waitUntil(logger.flush())`. */
  flush(options) {
    return this._core.flush((options && options.timeoutMs) ?? 10000).catch((e) => {
      this._core.internalError(e);
      return { sent: this._core.counters.sent, pending: this._core.queue.length };
    });
  }

  /** Flushes, then removes every hook the logger installed. */
  async close(options) {
    const result = await this.flush(options);
    this._core.guard(() => this._core.close());
    return result;
  }

  stats() {
    const c = this._core;
    return { ...c.counters, queued: c.queue.length + c.inflight.length, breadcrumbs: c.breadcrumbs.length };
  }
}

/**
 * Creates a logger. `endpoint` is the worker's origin (`https://logger.example.com`) or its full
 * `/v1/logs` URL; `key` an ingest key. See the README for every option.
 */
export function createLogger(options) {
  const base = {};
  let core;
  try {
    options = options && typeof options === "object" ? options : {};
    for (const k of ["environment", "service", "release", "component", "tags", "user_id", "session_id"]) {
      if (options[k] !== undefined) base[k] = options[k];
    }
    core = new Core(options);
  } catch (e) {
    // Bad options must not break the app: hand back a logger that drops everything.
    core = new Core({ storage: null, runtime: "other", fetch: () => Promise.reject(e) });
    core.closed = true;
    core.internalError(e);
  }
  const logger = new Logger(core, base);
  if (core.closed) return logger;
  const globalHandlers = options.globalHandlers ?? core.runtime !== "worker";
  core.globalHandlers = globalHandlers;
  const crumbs = options.breadcrumbs ?? {};
  const want = (name, byDefault) => (crumbs === false ? false : crumbs[name] ?? byDefault);
  core.guard(() => {
    const inBrowser = core.runtime === "browser";
    if (want("console", core.runtime !== "worker")) hookConsole(core);
    if (want("fetch", inBrowser)) hookFetch(core);
    if (want("navigation", inBrowser)) hookNavigation(core);
    if (inBrowser) hookBrowser(core, logger, globalHandlers);
    if (core.runtime === "node") hookNode(core, logger);
  });
  return logger;
}

export default createLogger;
