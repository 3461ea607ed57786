-- Events move into SQLite-backed Durable Objects (src/shards): one shard per project and UTC
-- day of received_at, numbered parts past SHARD_MAX_EVENTS. D1 keeps the control plane and:
--
--   * `shards`, the catalogue: each shard's project, day, number, counts and time ranges, as the
--     shard last reported them (`version` orders concurrent reports);
--   * `events_intake`, where the consumer passes the events a shard newly stored, so that the
--     counting triggers that ran on `events` (groups, rollups, alert counters, metrics) run
--     unchanged; the consumer empties it in the same batch;
--   * `count_ledger`, the tokens already counted: a message whose shard write succeeded but
--     whose D1 batch failed is counted on redelivery, and never twice;
--   * `storage_state`: whether `events` still holds rows from before the shards. The cron
--     moves them into shards batch by batch; reads ask D1 too until it is empty.
CREATE TABLE shards (
  name         TEXT PRIMARY KEY,
  project      TEXT NOT NULL,   -- '' for events without a project
  day          TEXT NOT NULL,   -- UTC day of received_at, YYYY-MM-DD
  seq          INTEGER NOT NULL,
  version      INTEGER NOT NULL,
  events       INTEGER NOT NULL,
  bytes        INTEGER NOT NULL,
  min_received TEXT,
  max_received TEXT,
  min_ts       TEXT,
  max_ts       TEXT,
  sealed_after TEXT,            -- set once full: holds nothing received after this
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX shards_by_day ON shards (day, project, seq);
CREATE INDEX shards_by_project ON shards (project, day, seq);

CREATE TABLE count_ledger (
  token TEXT PRIMARY KEY,
  at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX count_ledger_at ON count_ledger (at);

CREATE TABLE storage_state (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO storage_state (key, value, updated_at)
  SELECT 'legacy_events', CASE WHEN EXISTS (SELECT 1 FROM events) THEN 'pending' ELSE 'migrated' END,
         strftime('%Y-%m-%dT%H:%M:%fZ', 'now');

-- The columns the counting triggers read, generated from `data` as in `events`.
CREATE TABLE events_intake (
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

-- `events` takes no more inserts: its counting triggers move to `events_intake`.
DROP TRIGGER events_group_upsert;
DROP TRIGGER events_count;
DROP TRIGGER events_alert_count;
DROP TRIGGER events_metric;
DROP TRIGGER events_count_narrow;
DROP TRIGGER events_group_count;


CREATE TRIGGER intake_group_upsert AFTER INSERT ON events_intake
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO groups (fingerprint, project, title, level, severity_number, count, first_seen, last_seen,
                      environment, component, route, source_type, error_kind, fingerprint_reason, last_event_id)
  VALUES (
    new.fingerprint, new.project,
    substr(CASE WHEN instr(new.message, char(10)) > 0
                THEN substr(new.message, 1, instr(new.message, char(10)) - 1)
                ELSE new.message END, 1, 200),
    new.level, new.severity_number, 1, new.received_at, new.received_at,
    new.environment, new.component, new.route, new.source_type, new.error_kind,
    json_extract(new.data, '$.fingerprint_reason'), new.id)
  ON CONFLICT (fingerprint) DO UPDATE SET
    count = count + 1,
    status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END,
    first_seen = min(first_seen, excluded.first_seen),
    last_seen = max(last_seen, excluded.last_seen),
    level = CASE WHEN excluded.severity_number > severity_number THEN excluded.level ELSE level END,
    severity_number = max(severity_number, excluded.severity_number),
    environment = CASE WHEN excluded.last_seen >= last_seen THEN excluded.environment ELSE environment END,
    component = CASE WHEN excluded.last_seen >= last_seen THEN excluded.component ELSE component END,
    route = CASE WHEN excluded.last_seen >= last_seen THEN excluded.route ELSE route END,
    source_type = CASE WHEN excluded.last_seen >= last_seen THEN excluded.source_type ELSE source_type END,
    error_kind = coalesce(error_kind, excluded.error_kind),
    fingerprint_reason = CASE WHEN excluded.last_seen >= last_seen THEN excluded.fingerprint_reason ELSE fingerprint_reason END,
    last_event_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_event_id ELSE last_event_id END;
END;

CREATE TRIGGER intake_count AFTER INSERT ON events_intake BEGIN
  INSERT INTO event_counts_minute (project, bucket, level, environment, component, route, source_type, n)
  VALUES (coalesce(new.project, ''), substr(new.ts, 1, 16), new.level, new.environment,
          coalesce(new.component, ''), coalesce(new.route, ''), new.source_type, 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO event_counts_hour (project, bucket, level, environment, component, route, source_type, n)
  VALUES (coalesce(new.project, ''), substr(new.ts, 1, 13), new.level, new.environment,
          coalesce(new.component, ''), coalesce(new.route, ''), new.source_type, 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER intake_alert_count AFTER INSERT ON events_intake BEGIN
  INSERT INTO alert_counters (rule_id, group_key, window_start, count, last_event_id)
  SELECT r.id,
         CASE r.group_by WHEN 'fingerprint' THEN new.fingerprint WHEN 'component' THEN coalesce(new.component, '') ELSE '' END,
         (CAST(strftime('%s', new.received_at) AS INTEGER) / r.window_seconds) * r.window_seconds,
         1,
         new.id
  FROM alert_rules r
  WHERE r.enabled = 1 AND r.kind = 'threshold'
        AND new.severity_number >= r.min_severity
    AND new.severity_number <= r.max_severity
    AND (r.project IS NULL OR r.project = new.project)
    AND (r.environment IS NULL OR r.environment = new.environment)
    AND (r.component IS NULL OR r.component = new.component)
    AND (r.route IS NULL OR r.route = new.route)
    AND (r.fingerprint IS NULL OR r.fingerprint = new.fingerprint)
    AND (r.q IS NULL OR instr(lower(new.message), lower(r.q)) > 0)
  ON CONFLICT DO UPDATE SET count = count + 1, last_event_id = excluded.last_event_id;
END;

CREATE TRIGGER intake_metric AFTER INSERT ON events_intake BEGIN
  INSERT INTO metric_counters (name, labels, value) VALUES ('edge_logger_events_stored_total', 'level="' || new.level || '"', 1)
  ON CONFLICT (name, labels) DO UPDATE SET value = value + 1;
END;

CREATE TRIGGER intake_count_narrow AFTER INSERT ON events_intake BEGIN
  INSERT INTO event_counts_hour_les (bucket, project, level, environment, source_type, n)
  VALUES (substr(new.ts, 1, 13), coalesce(new.project, ''), new.level, new.environment, new.source_type, 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO event_counts_hour_dim (dim, bucket, project, value, n)
  VALUES ('component', substr(new.ts, 1, 13), coalesce(new.project, ''), coalesce(new.component, ''), 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO event_counts_hour_dim (dim, bucket, project, value, n)
  VALUES ('route', substr(new.ts, 1, 13), coalesce(new.project, ''), coalesce(new.route, ''), 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER intake_group_count AFTER INSERT ON events_intake
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO group_counts_hour (fingerprint, bucket, n)
  VALUES (new.fingerprint, substr(new.received_at, 1, 13), 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;
