-- Events: one row per stored event.
--
-- `data` holds the stored event exactly as queries return it (compact JSON). Every other
-- column is a VIRTUAL generated column over `data`: it costs no storage, the consumer inserts
-- only `data` (from `json_each` over a whole queue message), and the indexes below store the
-- extracted values so filters read the index, not the JSON.
--
-- Times are fixed-width UTC text (`2026-11-23T08:20:58.123Z`): text order is time order.
CREATE TABLE events (
  seq             INTEGER PRIMARY KEY,  -- rowid alias: stable row id for the FTS index
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

-- Idempotency: the same event_id is stored once per project (INSERT OR IGNORE skips the
-- duplicate); the same event_id in two projects is two events.
CREATE UNIQUE INDEX events_project_event_id ON events (coalesce(project, ''), event_id);
CREATE UNIQUE INDEX events_id ON events (id);

-- Newest first, with the keyset cursor (received_at, id).
CREATE INDEX events_received ON events (received_at, id);
-- Filters, each ending in the page order so a filtered page is an index range scan.
CREATE INDEX events_level ON events (level, received_at, id);
CREATE INDEX events_severity ON events (severity_number, received_at, id);
CREATE INDEX events_environment ON events (environment, received_at, id);
CREATE INDEX events_component ON events (component, received_at, id);
CREATE INDEX events_route ON events (route, received_at, id);
CREATE INDEX events_fingerprint ON events (fingerprint, received_at, id);
CREATE INDEX events_service ON events (service, received_at, id);
CREATE INDEX events_project ON events (project, received_at, id);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_trace_id ON events (trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX events_request_id ON events (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX events_user_id ON events (user_id) WHERE user_id IS NOT NULL;

-- Full text over message, error type, error message and stack. External content: the text is
-- not stored twice; triggers keep the index in step with inserts and deletes.
CREATE VIRTUAL TABLE events_fts USING fts5(
  message, error_type, error_message, error_stack,
  content = 'events', content_rowid = 'seq',
  tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN
  INSERT INTO events_fts (rowid, message, error_type, error_message, error_stack)
  VALUES (new.seq, new.message, new.error_type, new.error_message, new.error_stack);
END;

CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN
  INSERT INTO events_fts (events_fts, rowid, message, error_type, error_message, error_stack)
  VALUES ('delete', old.seq, old.message, old.error_type, old.error_message, old.error_stack);
END;
