-- API keys and tenant isolation by project.

-- Only the SHA-256 of a key is kept; `prefix` (its first 12 characters) finds the record.
CREATE TABLE api_keys (
  id              TEXT PRIMARY KEY,
  prefix          TEXT NOT NULL UNIQUE,
  hash            TEXT NOT NULL,
  name            TEXT NOT NULL,
  scopes          TEXT NOT NULL,            -- JSON array of ingest, read, admin
  project         TEXT,
  allowed_origins TEXT NOT NULL DEFAULT '[]', -- JSON array of origins
  rate_limit      TEXT NOT NULL DEFAULT 'default',
  created_at      TEXT NOT NULL,
  revoked_at      TEXT
);

-- Every event carries the project of the key that sent it.
ALTER TABLE events ADD COLUMN project TEXT GENERATED ALWAYS AS (json_extract(data, '$.project')) VIRTUAL;
CREATE INDEX events_project ON events (project, received_at, id);

-- The same event_id in two projects is two events.
DROP INDEX events_event_id;
CREATE UNIQUE INDEX events_project_event_id ON events (coalesce(project, ''), event_id);

-- Groups: fingerprints already include the project; the column lets a project's key list its own.
ALTER TABLE groups ADD COLUMN project TEXT;
CREATE INDEX groups_project_last_seen ON groups (project, last_seen, fingerprint);
CREATE INDEX groups_project_count ON groups (project, count, fingerprint);

DROP TRIGGER events_group_upsert;
CREATE TRIGGER events_group_upsert AFTER INSERT ON events
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

-- Count rollups gain the project as their first key; they are derived data, so rebuild them
-- from the events already stored.
DROP TRIGGER events_count;
DROP TABLE event_counts_minute;
DROP TABLE event_counts_hour;

CREATE TABLE event_counts_minute (
  project     TEXT NOT NULL,  -- '' for events without a project
  bucket      TEXT NOT NULL,  -- 'YYYY-MM-DDTHH:MM'
  level       TEXT NOT NULL,
  environment TEXT NOT NULL,
  component   TEXT NOT NULL,
  route       TEXT NOT NULL,
  source_type TEXT NOT NULL,
  n           INTEGER NOT NULL,
  PRIMARY KEY (project, bucket, level, environment, component, route, source_type)
) WITHOUT ROWID;

CREATE TABLE event_counts_hour (
  project     TEXT NOT NULL,
  bucket      TEXT NOT NULL,  -- 'YYYY-MM-DDTHH'
  level       TEXT NOT NULL,
  environment TEXT NOT NULL,
  component   TEXT NOT NULL,
  route       TEXT NOT NULL,
  source_type TEXT NOT NULL,
  n           INTEGER NOT NULL,
  PRIMARY KEY (project, bucket, level, environment, component, route, source_type)
) WITHOUT ROWID;

-- Queries across all projects (admin) scan by bucket.
CREATE INDEX event_counts_minute_bucket ON event_counts_minute (bucket);
CREATE INDEX event_counts_hour_bucket ON event_counts_hour (bucket);

INSERT INTO event_counts_minute (project, bucket, level, environment, component, route, source_type, n)
SELECT coalesce(project, ''), substr(ts, 1, 16), level, environment, coalesce(component, ''), coalesce(route, ''), source_type, count(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO event_counts_hour (project, bucket, level, environment, component, route, source_type, n)
SELECT coalesce(project, ''), substr(ts, 1, 13), level, environment, coalesce(component, ''), coalesce(route, ''), source_type, count(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7;

CREATE TRIGGER events_count AFTER INSERT ON events BEGIN
  INSERT INTO event_counts_minute (project, bucket, level, environment, component, route, source_type, n)
  VALUES (coalesce(new.project, ''), substr(new.ts, 1, 16), new.level, new.environment,
          coalesce(new.component, ''), coalesce(new.route, ''), new.source_type, 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
  INSERT INTO event_counts_hour (project, bucket, level, environment, component, route, source_type, n)
  VALUES (coalesce(new.project, ''), substr(new.ts, 1, 13), new.level, new.environment,
          coalesce(new.component, ''), coalesce(new.route, ''), new.source_type, 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;
