-- Error groups and time-bucket counts, kept by triggers on `events`.
--
-- Why triggers rather than upserts computed by the consumer: a trigger fires only for a row
-- that was really inserted (INSERT OR IGNORE skips duplicates), inside the same transaction as
-- the insert. So a redelivered message or a client retry never counts twice, and a failed
-- batch rolls back its counts with its events. The consumer's one `db.batch()` per queue batch
-- is still the unit of work; the upserts run inside it.

-- One row per fingerprint for warnings, errors and exceptions. A resolved group that occurs
-- again reopens (a regression, which alerting picks up); an ignored one stays ignored.
CREATE TABLE groups (
  fingerprint        TEXT PRIMARY KEY,    -- includes the project: groups never span tenants
  project            TEXT,
  title              TEXT NOT NULL,
  level              TEXT NOT NULL,     -- the most severe level seen
  severity_number    INTEGER NOT NULL,
  count              INTEGER NOT NULL,
  first_seen         TEXT NOT NULL,     -- received_at of the first event
  last_seen          TEXT NOT NULL,     -- received_at of the latest event
  environment        TEXT,              -- of the latest event
  component          TEXT,
  route              TEXT,
  source_type        TEXT,
  error_kind         TEXT,
  fingerprint_reason TEXT,
  last_event_id      TEXT,
  status             TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'ignored'))
) WITHOUT ROWID;

CREATE INDEX groups_by_last_seen ON groups (last_seen, fingerprint);
CREATE INDEX groups_by_count ON groups (count, fingerprint);
CREATE INDEX groups_project_last_seen ON groups (project, last_seen, fingerprint);
CREATE INDEX groups_project_count ON groups (project, count, fingerprint);

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

-- Counts per minute and per hour of event time, by every stats dimension at once. `/v1/stats`
-- sums these rows instead of scanning events. Absent project/component/route are stored as ''.
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
