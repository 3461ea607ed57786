// A programmable stand-in for the network: unit tests check the SDK's own decisions (batching,
// retries, drops). The end-to-end tests in ../../tests/ send to the real worker instead.
export function fakeFetch(script = []) {
  const calls = [];
  const fn = async (url, init) => {
    const events = JSON.parse(init.body);
    calls.push({ url, init, events, at: Date.now() });
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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
