//! The SQL of an event shard (a SQLite-backed Durable Object): its schema of blocks, made on
//! first use, and the row store of earlier releases (`LEGACY_SCHEMA`), read until it is
//! rewritten as blocks. The legacy events table is D1's (migrations/0001) column for column, so
//! every query built for D1 runs unchanged on it. `token_ranges` said which rows each message's
//! token stored, until D1 had counted them.

/// Run once per object instance; every statement is idempotent. A block is one row: no index
/// but its row number, so storing a block of any size writes one row.
pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS blocks (seq INTEGER PRIMARY KEY, summary TEXT NOT NULL, bloom BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS shard_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
"#;

/// The row store of shards made by earlier releases (one row per event, twelve indexes, full
/// text): such a shard keeps answering from it until `Compact` has rewritten its rows as blocks
/// and dropped it. New shards never make it; tests make it to stand for an earlier release.
pub const LEGACY_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
  seq             INTEGER PRIMARY KEY,
  data            TEXT NOT NULL,
  id              TEXT GENERATED ALWAYS AS (json_extract(data, '$.id')) VIRTUAL,
  event_id        TEXT GENERATED ALWAYS AS (json_extract(data, '$.event_id')) VIRTUAL,
  project         TEXT GENERATED ALWAYS AS (json_extract(data, '$.project')) VIRTUAL,
  received_at     TEXT GENERATED ALWAYS AS (json_extract(data, '$.received_at')) VIRTUAL,
  ts              TEXT GENERATED ALWAYS AS (json_extract(data, '$.timestamp')) VIRTUAL,
  level           TEXT GENERATED ALWAYS AS (json_extract(data, '$.level')) VIRTUAL,
  severity_number INTEGER GENERATED ALWAYS AS (json_extract(data, '$.severity_number')) VIRTUAL,
  environment     TEXT GENERATED ALWAYS AS (json_extract(data, '$.environment')) VIRTUAL,
  service         TEXT GENERATED ALWAYS AS (json_extract(data, '$.service')) VIRTUAL,
  release         TEXT GENERATED ALWAYS AS (json_extract(data, '$.release')) VIRTUAL,
  source_type     TEXT GENERATED ALWAYS AS (json_extract(data, '$.source_type')) VIRTUAL,
  component       TEXT GENERATED ALWAYS AS (json_extract(data, '$.component')) VIRTUAL,
  endpoint        TEXT GENERATED ALWAYS AS (json_extract(data, '$.endpoint')) VIRTUAL,
  route           TEXT GENERATED ALWAYS AS (json_extract(data, '$.route')) VIRTUAL,
  error_kind      TEXT GENERATED ALWAYS AS (json_extract(data, '$.error_kind')) VIRTUAL,
  fingerprint     TEXT GENERATED ALWAYS AS (json_extract(data, '$.fingerprint')) VIRTUAL,
  trace_id        TEXT GENERATED ALWAYS AS (json_extract(data, '$.trace_id')) VIRTUAL,
  request_id      TEXT GENERATED ALWAYS AS (json_extract(data, '$.request_id')) VIRTUAL,
  user_id         TEXT GENERATED ALWAYS AS (json_extract(data, '$.user_id')) VIRTUAL,
  session_id      TEXT GENERATED ALWAYS AS (json_extract(data, '$.session_id')) VIRTUAL,
  message         TEXT GENERATED ALWAYS AS (json_extract(data, '$.message')) VIRTUAL,
  error_type      TEXT GENERATED ALWAYS AS (json_extract(data, '$.error.type')) VIRTUAL,
  error_message   TEXT GENERATED ALWAYS AS (json_extract(data, '$.error.message')) VIRTUAL,
  error_stack     TEXT GENERATED ALWAYS AS (json_extract(data, '$.error.stack')) VIRTUAL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_project_event_id ON events (coalesce(project, ''), event_id);
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events (id);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at, id);
CREATE INDEX IF NOT EXISTS events_level ON events (level, received_at, id);
CREATE INDEX IF NOT EXISTS events_severity ON events (severity_number, received_at, id);
CREATE INDEX IF NOT EXISTS events_environment ON events (environment, received_at, id);
CREATE INDEX IF NOT EXISTS events_component ON events (component, received_at, id);
CREATE INDEX IF NOT EXISTS events_route ON events (route, received_at, id);
CREATE INDEX IF NOT EXISTS events_fingerprint ON events (fingerprint, received_at, id);
CREATE INDEX IF NOT EXISTS events_service ON events (service, received_at, id);
-- A shard holds one project: an index on it is one more row written per event for nothing
-- (D1's events table, which held every project, keeps its own). Shards made before drop it.
DROP INDEX IF EXISTS events_project;
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_trace_id ON events (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_request_id ON events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_user_id ON events (user_id) WHERE user_id IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(
  message, error_type, error_message, error_stack,
  content = 'events', content_rowid = 'seq',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS events_fts_insert AFTER INSERT ON events BEGIN
  INSERT INTO events_fts (rowid, message, error_type, error_message, error_stack)
  VALUES (new.seq, new.message, new.error_type, new.error_message, new.error_stack);
END;
CREATE TRIGGER IF NOT EXISTS events_fts_delete AFTER DELETE ON events BEGIN
  INSERT INTO events_fts (events_fts, rowid, message, error_type, error_message, error_stack)
  VALUES ('delete', old.seq, old.message, old.error_type, old.error_message, old.error_stack);
END;
CREATE TABLE IF NOT EXISTS shard_meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_ranges (token TEXT NOT NULL, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS token_ranges_token ON token_ranges (token);
"#;

/// One group of a write: `?1` the events as a JSON array.
pub const INSERT_EVENTS: &str =
    "INSERT OR IGNORE INTO events (data) SELECT value FROM json_each(?1)";

/// After an insert that stored `?2` rows: its range under the token `?1`.
pub const RECORD_RANGE: &str = "INSERT INTO token_ranges (token, first_seq, last_seq)
  VALUES (?1, last_insert_rowid() - ?2 + 1, last_insert_rowid())";

/// Every event still waiting for its count under a token (`?1`): however many calls of one
/// delivery stored them, D1 counts them in one go.
pub const UNCOUNTED_OF_TOKEN: &str = "SELECT e.data FROM token_ranges r
  JOIN events e ON e.seq BETWEEN r.first_seq AND r.last_seq WHERE r.token = ?1";

/// Which of these events (`?2`, a JSON array) the shard holds, by the project's (`?1`, `''` for
/// none) `event_id`.
pub const HELD_EVENT_IDS: &str = "SELECT event_id FROM events
  WHERE coalesce(project, '') = ?1
    AND event_id IN (SELECT json_extract(value, '$.event_id') FROM json_each(?2))";

/// Forgets counted tokens: `?1` a JSON array of tokens.
pub const CONFIRM_TOKENS: &str =
    "DELETE FROM token_ranges WHERE token IN (SELECT value FROM json_each(?1))";

pub const META_GET: &str = "SELECT value FROM shard_meta WHERE key = ?1";
pub const META_SET: &str = "INSERT INTO shard_meta (key, value) VALUES (?1, ?2)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Rows written by the statement before, on the same connection.
pub const CHANGES: &str = "SELECT changes() AS n";

/// The shard's report, every value from an index end (the count is kept in `shard_meta`: a
/// `count(*)` reads a whole index).
pub const STATS: &str = "SELECT
  (SELECT min(received_at) FROM events) AS min_received,
  (SELECT max(received_at) FROM events) AS max_received,
  (SELECT min(ts) FROM events) AS min_ts,
  (SELECT max(ts) FROM events) AS max_ts";

/// The newest `received_at`, where a filling shard seals itself.
pub const NEWEST_RECEIVED: &str = "SELECT max(received_at) AS at FROM events";

/// Each stored event's `received_at`, for the archive of a whole shard: `?1` after this `seq`,
/// `?2` how many.
pub const EXPORT_PAGE: &str = "SELECT seq, substr(received_at, 1, 10) AS day, data FROM events
  WHERE seq > ?1 ORDER BY seq LIMIT ?2";

/// The true count, for a shard whose kept count is missing.
pub const COUNT: &str = "SELECT count(*) AS n FROM events";

/// Whether the shard still holds a row store of an earlier release.
pub const HAS_LEGACY: &str =
    "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'events'";

/// The block summaries, loaded once per object instance.
pub const BLOCK_HEADS: &str = "SELECT seq, summary, bloom FROM blocks ORDER BY seq";
/// Spans of blocks' data, in the order asked: `?1` a JSON array of `[seq, offset, len]`
/// (`offset` 1-based, as `substr` counts; `len` -1 for the whole data).
pub const BLOCK_SPANS: &str = "SELECT CASE WHEN j.value ->> 2 < 0 THEN b.data ELSE substr(b.data, j.value ->> 1, j.value ->> 2) END FROM json_each(?1) j JOIN blocks b ON b.seq = j.value ->> 0 ORDER BY j.key";
pub const INSERT_BLOCK: &str =
    "INSERT INTO blocks (summary, bloom, data) VALUES (?1, ?2, ?3) RETURNING seq";
/// `?1`: a JSON array of block numbers.
pub const DELETE_BLOCKS: &str = "DELETE FROM blocks WHERE seq IN (SELECT value FROM json_each(?1))";

/// The oldest legacy rows with the token that stored them if D1 has not counted it yet: `?1`
/// how many.
pub const LEGACY_OLDEST: &str = "SELECT e.seq AS seq, e.data AS data,
  (SELECT r.token FROM token_ranges r WHERE e.seq BETWEEN r.first_seq AND r.last_seq LIMIT 1) AS token
  FROM events e ORDER BY e.seq LIMIT ?1";
/// Rows rewritten as blocks (`?1`: the last `seq` rewritten), and token ranges wholly rewritten.
pub const LEGACY_DELETE_UPTO: &str = "DELETE FROM events WHERE seq <= ?1";
pub const LEGACY_TOKENS_UPTO: &str = "DELETE FROM token_ranges WHERE last_seq <= ?1";
/// The row store once empty.
pub const LEGACY_DROP: &str =
    "DROP TABLE IF EXISTS events_fts; DROP TABLE IF EXISTS events; DROP TABLE IF EXISTS token_ranges";
/// One event by id, from the legacy rows.
pub const LEGACY_BY_ID: &str = "SELECT data FROM events WHERE id = ?1";
