// The dashboard talks to the same worker that serves it: same origin, no CORS. The key lives in
// sessionStorage, so it is gone when the tab closes and never shared with other tabs.
const KEY = "edge-logger:key";

export const session = {
  get key() {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null;
    }
  },
  set(key) {
    sessionStorage.setItem(KEY, key);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API with the tab's key; throws ApiError with the contract's code and message. */
export async function api(path, { method = "GET", body, key = session.key, signal } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      signal,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "The logger could not be reached. Check your connection.");
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const err = data && data.error;
    if (res.status === 403) throw new ApiError(403, "forbidden", (err && err.message) || "This key may not do that.");
    throw new ApiError(res.status, (err && err.code) || "error", (err && err.message) || `HTTP ${res.status}`);
  }
  return data;
}

/** `{a: 1, b: ""}` → `a=1` (empty values left out). */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  return q.toString();
}
