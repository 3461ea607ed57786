/** Levels the SDK sends; the worker accepts these names as they are. */
export type Level = "debug" | "info" | "warn" | "error" | "critical";

/** Anything JSON-like; the SDK turns cycles, BigInt, Errors, Maps and Sets into plain data. */
export type Fields = {
  event_id?: string;
  timestamp?: string | number | Date;
  environment?: string;
  service?: string;
  release?: string;
  source_type?: "ui" | "logic" | "backend";
  component?: string;
  endpoint?: string;
  trace_id?: string;
  span_id?: string;
  request_id?: string;
  user_id?: string;
  session_id?: string;
  tags?: Record<string, string | number | boolean>;
  context?: Record<string, unknown>;
  /** Overrides the level of `captureException` (default `error`). */
  level?: Level;
  /** An exception to attach to a log call. */
  error?: unknown;
  /** Any other field is kept under `context`. */
  [field: string]: unknown;
};

/** The event as it leaves the SDK (what `beforeSend` sees). */
export interface OutgoingEvent {
  event_id: string;
  timestamp: string;
  level: Level;
  message: string;
  error?: { type: string; message: string; stack?: string; cause?: unknown };
  context?: Record<string, unknown>;
  tags?: Record<string, string>;
  [field: string]: unknown;
}

export interface Breadcrumb {
  category?: string;
  level?: Level;
  message: string;
  data?: Record<string, unknown>;
}

/** The subset of `Storage` the SDK uses (`localStorage` in browsers). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LoggerOptions {
  /** The worker's origin, e.g. `https://logger.example.com`, or its full `/v1/logs` URL. */
  endpoint: string;
  /** An ingest key (`elk_…`). In browsers use a key with `allowed_origins`. */
  key: string;
  environment?: string;
  service?: string;
  release?: string;
  component?: string;
  tags?: Record<string, string>;
  user_id?: string;
  session_id?: string;
  /** Events per request (default 100, at most 1000). */
  maxBatchSize?: number;
  /** Milliseconds an event may wait for its batch (default 2000; 0 in Workers: no timers, call `flush`). */
  flushInterval?: number;
  /** Events kept in memory while the worker cannot be reached (default 1000); the oldest go first. */
  maxQueueSize?: number;
  /** First retry delay in ms (default 1000), doubled per failure with jitter, up to `retryMaxMs` (60000). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Sends of one event before it is given up and counted as `failed` (default 12). */
  maxAttempts?: number;
  /** Share of events kept: one rate, or one per level. Default 1. */
  sampleRate?: number | Partial<Record<Level, number>>;
  /** Events below this level are not sent. Default `debug`. */
  minLevel?: Level;
  /** Change or drop (return null) an event before it is queued. */
  beforeSend?: (event: OutgoingEvent) => OutgoingEvent | null | undefined;
  /** Told about the SDK's own failures (network, refused events). Never required. */
  onError?: (error: unknown) => void;
  /** Capture uncaught errors and unhandled rejections (default true, false in Workers). */
  globalHandlers?: boolean;
  /** Breadcrumb sources; `false` turns them all off. Defaults: console everywhere but Workers; fetch and navigation in browsers. */
  breadcrumbs?: false | { console?: boolean; fetch?: boolean; navigation?: boolean };
  /** Breadcrumbs kept for the next error (default 30; 0 in Workers, where requests share an isolate). */
  maxBreadcrumbs?: number;
  /** Where unsent events survive a reload: `localStorage` by default in browsers; `null` turns it off. */
  storage?: KeyValueStorage | null;
  storageKey?: string;
  /** Bounds of what is stored (default 200 events, 256 KiB). */
  maxStoredEvents?: number;
  maxStoredBytes?: number;
  /** The transport (default: the global `fetch` as it was when the logger was created). */
  fetch?: typeof fetch;
  /** Overrides runtime detection. */
  runtime?: "browser" | "node" | "worker" | "other";
  /** The clock in Unix milliseconds (default `Date.now`); with `timers`, lets tests drive time. */
  now?: () => number;
  /** The timers retries, flushes and persistence wait on (default the global ones). */
  timers?: {
    setTimeout(callback: () => void, ms: number): unknown;
    clearTimeout(handle: unknown): void;
  };
  /** A source of numbers in [0, 1) for sampling and retry jitter (default `Math.random`). */
  random?: () => number;
}

export interface LoggerStats {
  /** Events the worker accepted. */
  sent: number;
  /** Events dropped because the memory queue was full. */
  dropped: number;
  /** Events the worker refused as invalid (or refused the key). */
  rejected: number;
  /** Events given up after `maxAttempts` sends. */
  failed: number;
  /** Events not sent because of `sampleRate`. */
  sampled_out: number;
  /** Events put back for another attempt. */
  retries: number;
  /** Failures inside the SDK, swallowed so that the app never sees them. */
  internal_errors: number;
  /** Events waiting to be sent. */
  queued: number;
  breadcrumbs: number;
}

export interface FlushResult {
  sent: number;
  /** Events still waiting (the worker asked to wait longer than the timeout, or is unreachable). */
  pending: number;
}

export interface Logger {
  /** Each returns the event's `event_id`, or undefined when it was sampled out or dropped. */
  debug(message: string, fields?: Fields): string | undefined;
  info(message: string, fields?: Fields): string | undefined;
  warn(message: string, fields?: Fields): string | undefined;
  error(message: string, fields?: Fields): string | undefined;
  critical(message: string, fields?: Fields): string | undefined;
  captureException(error: unknown, fields?: Fields): string | undefined;
  addBreadcrumb(crumb: Breadcrumb): void;
  /** A logger adding `fields` to every event; it shares this logger's queue. */
  child(fields: Fields): Logger;
  /** Sends everything queued; never rejects. In a Worker: `ctx.waitUntil(logger.flush())`. */
  flush(options?: { timeoutMs?: number }): Promise<FlushResult>;
  /** Flushes, then removes every hook the logger installed. */
  close(options?: { timeoutMs?: number }): Promise<FlushResult>;
  stats(): LoggerStats;
}

export function createLogger(options: LoggerOptions): Logger;
export default createLogger;

/** Removes bearer tokens, JWTs, URL secrets, private keys and card numbers from a string. */
export function scrubText(text: string): string;
/** Milliseconds to wait from a `Retry-After` header, or null. */
export function retryAfterMs(header: string | null | undefined, now?: number): number | null;
/** Plain, bounded, scrubbed JSON data from any value. */
export function toPlain(value: unknown): unknown;
