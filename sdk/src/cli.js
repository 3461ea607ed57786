// The `edge-logger` command (bin/edge-logger.js): `tail` follows GET /v1/tail over a WebSocket
// and reconnects with its cursor, so a network blip or a deploy loses nothing; `search` pages
// GET /v1/logs. Node only (node:http, node:https, node:crypto); the browser SDK never loads it.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createHash, randomBytes } from "node:crypto";

const USAGE = `usage:
  edge-logger tail [query] [--rate N] [--limit N] [--project P] [--json] [--no-color]
  edge-logger search [query] [--since 1h] [--limit N] [--project P] [--json] [--no-color]

  --url URL   the worker (or EDGE_LOGGER_URL), e.g. https://logger.example.com
  --key KEY   a key with the read scope (or EDGE_LOGGER_KEY)

The query is the search language: free text, key:value, !key:value, key:[a,b], * wildcards,
level:>=warn, priority:>=8, timestamp:>-1h, has:key, tag[k]:v.`;

const LEVEL_COLOR = { trace: 90, debug: 90, info: 36, notice: 36, warn: 33, error: 31, critical: 35, alert: 35, fatal: 41, emergency: 41 };

/** `--name value`, `--name=value` and `--flag`; the rest are words. */
export function parseArgs(argv) {
  const flags = {};
  const words = [];
  const boolean = new Set(["json", "no-color", "color", "help"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) {
      words.push(a);
      continue;
    }
    const [name, inline] = a.slice(2).split(/=(.*)/s);
    if (boolean.has(name)) flags[name] = true;
    else if (inline !== undefined) flags[name] = inline;
    else if (i + 1 < argv.length) flags[name] = argv[++i];
    else throw new Error(`--${name} needs a value\n${USAGE}`);
  }
  return { flags, words };
}

/** `1h`, `30m`, `7d`, `45s`, `2w` in milliseconds. */
export function parseSince(text) {
  const m = /^(\d+)([smhdw])$/.exec(text || "");
  if (!m) throw new Error(`--since '${text}' is not like 30m, 1h or 7d`);
  return Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[m[2]];
}

/** One event as a line: time, level, where, message (and the error's type). */
export function formatEvent(e, { color = false } = {}) {
  const paint = (code, text) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const level = paint(LEVEL_COLOR[e.level] || 0, (e.level || "").toUpperCase().padEnd(5));
  const where = [e.project, e.environment, e.service, e.component].filter(Boolean).join("/");
  const error = e.error && e.error.type ? ` ${paint(31, `[${e.error.type}]`)}` : "";
  return `${paint(90, e.received_at || e.timestamp || "")} ${level} ${where ? `${paint(90, where)} ` : ""}${e.message}${error}`;
}

/**
 * A WebSocket client over node:http(s), enough for a tail: text frames in, a ping answered,
 * the close handshake both ways. `onopen`, `onmessage(text)`, `onclose(code, reason)`.
 */
export function openSocket(url, headers = {}) {
  const key = randomBytes(16).toString("base64");
  const target = new URL(url);
  const secure = target.protocol === "wss:" || target.protocol === "https:";
  const request = (secure ? httpsRequest : httpRequest)(
    {
      hostname: target.hostname,
      port: target.port || (secure ? 443 : 80),
      path: target.pathname + target.search,
      headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": key },
    },
  );
  const socket = { onopen() {}, onmessage() {}, onclose() {}, closed: false };
  let conn = null;
  const finish = (code, reason) => {
    if (socket.closed) return;
    socket.closed = true;
    socket.onclose(code, reason);
  };
  const send = (opcode, payload) => {
    if (!conn || conn.destroyed) return;
    const mask = randomBytes(4);
    const len = payload.length;
    const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 255]) : null;
    if (!head) throw new Error("frame too large");
    const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    conn.write(Buffer.concat([head, mask, body]));
  };
  socket.send = (text) => send(1, Buffer.from(text));
  socket.close = (code = 1000, reason = "") => {
    const payload = Buffer.concat([Buffer.from([code >> 8, code & 255]), Buffer.from(reason)]);
    send(8, payload);
    setTimeout(() => conn && conn.destroy(), 1000).unref();
  };
  request.on("response", (res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => {
      let message = `HTTP ${res.statusCode}`;
      try {
        message = `${res.statusCode}: ${JSON.parse(body).error.message}`;
      } catch {
        /* not the contract's error body */
      }
      finish(-res.statusCode, message);
    });
  });
  request.on("error", (e) => finish(1006, e.message));
  request.on("upgrade", (res, stream, head) => {
    const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    if (res.headers["sec-websocket-accept"] !== accept) {
      stream.destroy();
      finish(1002, "the server's handshake is not a WebSocket's");
      return;
    }
    conn = stream;
    socket.onopen();
    let buffer = Buffer.alloc(0);
    let parts = [];
    const consume = (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (buffer.length < 2) return;
        const fin = buffer[0] & 0x80;
        const opcode = buffer[0] & 0x0f;
        let len = buffer[1] & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buffer.length < 4) return;
          len = buffer.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buffer.length < 10) return;
          len = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer[1] & 0x80) offset += 4; // servers do not mask; tolerated anyway
        if (buffer.length < offset + len) return;
        let payload = buffer.subarray(offset, offset + len);
        if (buffer[1] & 0x80) {
          const mask = buffer.subarray(offset - 4, offset);
          payload = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
        }
        buffer = buffer.subarray(offset + len);
        if (opcode === 8) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          const reason = payload.subarray(2).toString();
          send(8, payload.subarray(0, 2));
          stream.end();
          finish(code, reason);
          return;
        }
        if (opcode === 9) send(10, payload);
        if (opcode === 1 || opcode === 2 || opcode === 0) {
          parts.push(payload);
          if (fin) {
            const text = Buffer.concat(parts).toString();
            parts = [];
            socket.onmessage(text);
          }
        }
      }
    };
    stream.on("data", consume);
    stream.on("close", () => finish(1006, "connection lost"));
    if (head.length) consume(head);
    stream.on("error", () => {});
  });
  request.end();
  return socket;
}

function settings(flags, env) {
  const url = (flags.url || env.EDGE_LOGGER_URL || "").replace(/\/$/, "");
  const key = flags.key || env.EDGE_LOGGER_KEY;
  if (!url) throw new Error(`the worker's address is missing: --url or EDGE_LOGGER_URL\n${USAGE}`);
  if (!key) throw new Error(`a key with the read scope is missing: --key or EDGE_LOGGER_KEY\n${USAGE}`);
  return { url, key };
}

function whole(flags, name) {
  if (flags[name] === undefined) return undefined;
  if (!/^\d+$/.test(flags[name])) throw new Error(`--${name} '${flags[name]}' is not a whole number`);
  return flags[name];
}

/** Runs a command; resolves to the exit code. */
export async function run(argv, io) {
  const { flags, words } = parseArgs(argv);
  const [command, ...rest] = words;
  if (flags.help || !command) {
    io.out(USAGE);
    return command || flags.help ? 0 : 2;
  }
  const color = flags.color || (!flags["no-color"] && io.isTTY && !io.env.NO_COLOR);
  const print = (e) => io.out(flags.json ? JSON.stringify(e) : formatEvent(e, { color }));
  const query = rest.join(" ");
  if (command === "search") return search(settings(flags, io.env), query, flags, print, io);
  if (command === "tail") return tail(settings(flags, io.env), query, flags, print, io);
  io.err(`unknown command '${command}'\n${USAGE}`);
  return 2;
}

async function search({ url, key }, query, flags, print, io) {
  const limit = Number(whole(flags, "limit") ?? 100);
  const params = new URLSearchParams();
  if (query) params.set("query", query);
  if (flags.since) params.set("from", new Date(Date.now() - parseSince(flags.since)).toISOString());
  if (flags.project) params.set("project", flags.project);
  let shown = 0;
  let cursor = null;
  do {
    params.set("limit", String(Math.min(1000, limit - shown)));
    if (cursor) params.set("cursor", cursor);
    let res;
    try {
      res = await fetch(`${url}/v1/logs?${params}`, { headers: { authorization: `Bearer ${key}` } });
    } catch (e) {
      io.err(`edge-logger: could not reach ${url} (${e.cause?.code ?? e.message})`);
      return 1;
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) {
      io.err(`edge-logger: ${res.status}: ${body?.error?.message ?? "the search failed"}`);
      return 1;
    }
    for (const e of body.logs) print(e);
    shown += body.logs.length;
    cursor = body.next_cursor;
  } while (cursor && shown < limit);
  return 0;
}

function tail({ url, key }, query, flags, print, io) {
  const params = new URLSearchParams();
  if (query) params.set("query", query);
  for (const name of ["rate", "limit"]) if (whole(flags, name) !== undefined) params.set(name, flags[name]);
  if (flags.project) params.set("project", flags.project);
  let remaining = flags.limit ? Number(flags.limit) : Infinity;
  let cursor = null;
  let backoff = 1000;
  return new Promise((resolve) => {
    const connect = () => {
      const p = new URLSearchParams(params);
      if (cursor) p.set("cursor", cursor);
      if (Number.isFinite(remaining)) p.set("limit", String(remaining));
      const socket = openSocket(`${url.replace(/^http/, "ws")}/v1/tail?${p}`, { authorization: `Bearer ${key}` });
      socket.onmessage = (text) => {
        const frame = JSON.parse(text);
        if (frame.cursor) cursor = frame.cursor;
        if (frame.type === "hello") {
          backoff = 1000;
          io.err(`edge-logger: tailing ${frame.project ? `project ${frame.project}` : "events"}${frame.query ? ` matching ${frame.query}` : ""}`);
        }
        if (frame.type !== "events") return;
        if (frame.gap) io.err("edge-logger: some events were missed while disconnected (search has them)");
        for (const e of frame.events) print(e);
        remaining -= frame.events.length;
        if (frame.dropped) io.err(`edge-logger: ${frame.dropped} events dropped (over the tail's rate)`);
      };
      socket.onclose = (code, reason) => {
        if (code === 4008 || remaining <= 0) return resolve(0);
        if (code < 0 || code === 4001 || code === 1013) {
          io.err(`edge-logger: ${reason || `closed (${code})`}`);
          return resolve(1);
        }
        // A deploy or a network blip: reconnect where the stream left off.
        io.err(`edge-logger: disconnected (${code}${reason ? ` ${reason}` : ""}); reconnecting`);
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 30000);
      };
    };
    connect();
  });
}
