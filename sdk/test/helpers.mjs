// A programmable stand-in for the network: unit tests check the SDK's own decisions (batching,
// retries, drops). The end-to-end tests in ../../tests/ send to the real worker instead.
// `now` stamps each call (a fake clock's, in tests that drive time).
export function fakeFetch(script = [], now = Date.now) {
  const calls = [];
  const fn = async (url, init) => {
    const events = JSON.parse(init.body);
    calls.push({ url, init, events, at: now() });
    const step = script.length > 1 ? script.shift() : script[0] ?? 202;
    if (typeof step === "function") return step(events, calls.length);
    if (step instanceof Error) throw step;
    return respond(step, events);
  };
  fn.calls = calls;
  fn.ids = () => calls.flatMap((c) => c.events.map((e) => e.event_id));
  return fn;
}

export function respond(status, events = [], { headers = {}, errors = [] } = {}) {
  const body = status === 202 ? { accepted: events.length - errors.length, rejected: errors.length, ids: [], errors } : { error: { code: "x", message: "x" } };
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

/** Lets every pending promise chain and I/O callback run: no wall-clock time is waited on. */
async function settle() {
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Polls `check` until it is truthy; fails after a generous deadline (scaled by
 * EDGE_LOGGER_TEST_TIMEOUT_SCALE) saying what it waited for and what it last saw.
 */
export async function until(check, what = "the condition") {
  const scale = Number(process.env.EDGE_LOGGER_TEST_TIMEOUT_SCALE) || 1;
  const deadline = Date.now() + 10_000 * scale;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last saw ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * A clock and timers that move only when told: `createLogger({ now: clock.now, timers: clock })`,
 * then `await clock.advance(ms)` runs every timer due by then, in order, at its own time.
 */
export function fakeClock(start = 1_800_000_000_000) {
  let now = start;
  let seq = 0;
  const timers = new Map();
  const clock = {
    now: () => now,
    setTimeout(callback, ms) {
      const id = ++seq;
      timers.set(id, { at: now + Math.max(0, Number(ms) || 0), callback });
      return { id, unref() {} };
    },
    clearTimeout(handle) {
      if (handle) timers.delete(handle.id);
    },
    /** Timers still waiting. */
    pending: () => timers.size,
    async advance(ms) {
      const end = now + ms;
      for (;;) {
        await settle();
        let next = null;
        for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].callback();
      }
      now = end;
      await settle();
    },
    /** Advances in `step`s until `promise` settles (at most `maxMs` of fake time). */
    async drive(promise, { step = 10, maxMs = 600_000 } = {}) {
      let done = false;
      const result = promise.finally(() => (done = true));
      for (let t = 0; !done && t < maxMs; t += step) await clock.advance(step);
      return result;
    },
  };
  return clock;
}

export function memoryStorage() {
  const map = new Map();
  return {
    map,
    getItem: (k) => (map.has(k) ? map.get(k) : null),
    setItem: (k, v) => void map.set(k, String(v)),
    removeItem: (k) => void map.delete(k),
  };
}

/** Quiet options for tests: no global hooks, no timers unless asked. */
export function opts(extra = {}) {
  return { endpoint: "https://logger.test", key: "elk_test", globalHandlers: false, breadcrumbs: false, storage: null, flushInterval: 0, runtime: "other", ...extra };
}
