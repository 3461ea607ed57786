-- Trends and anomalies.
--
-- Hourly counts per error group, by received time like the group's own count and last_seen:
-- sparklines, trends (this window against the previous one) and anomaly scores read these
-- rows, never the events. Same trigger condition as events_group_upsert, so a group's hourly
-- counts add up to its count; exact under redelivery for the same reason (0002's header).
CREATE TABLE group_counts_hour (
  fingerprint TEXT NOT NULL,
  bucket      TEXT NOT NULL,  -- 'YYYY-MM-DDTHH' of received_at
  n           INTEGER NOT NULL,
  PRIMARY KEY (fingerprint, bucket)
) WITHOUT ROWID;

INSERT INTO group_counts_hour (fingerprint, bucket, n)
  SELECT fingerprint, substr(received_at, 1, 13), count(*)
  FROM events WHERE severity_number >= 13 OR error_kind IS NOT NULL
  GROUP BY fingerprint, substr(received_at, 1, 13);

CREATE TRIGGER events_group_count AFTER INSERT ON events
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO group_counts_hour (fingerprint, bucket, n)
  VALUES (new.fingerprint, substr(new.received_at, 1, 13), 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Alert rules gain the `spike` and `quiet` triggers, judged by the cron from the hourly
-- rollups. SQLite cannot change a CHECK constraint in place, so the table is rebuilt; the
-- counting trigger that reads it is dropped first (a rename re-parses every trigger, and this
-- one would name a table that is briefly gone) and recreated unchanged afterwards.
DROP TRIGGER events_alert_count;

CREATE TABLE alert_rules_v2 (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('threshold', 'new_group', 'regression', 'spike', 'quiet')),
  project         TEXT,
    min_severity    INTEGER NOT NULL DEFAULT 0,
  max_severity    INTEGER NOT NULL DEFAULT 24,
  environment     TEXT,
  component       TEXT,
  route           TEXT,
  fingerprint     TEXT,
  q               TEXT,
  threshold_count INTEGER NOT NULL DEFAULT 1,
    window_seconds  INTEGER NOT NULL DEFAULT 60,
  consecutive_windows INTEGER NOT NULL DEFAULT 1,  -- fire only when this many windows in a row crossed
  group_by        TEXT,
  enabled         INTEGER NOT NULL DEFAULT 1,
  builtin         INTEGER NOT NULL DEFAULT 0,
  definition      TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

INSERT INTO alert_rules_v2 (id, name, kind, project, min_severity, max_severity, environment, component, route, fingerprint, q, threshold_count, window_seconds, consecutive_windows, group_by, enabled, builtin, definition, created_at, updated_at)
  SELECT id, name, kind, project, min_severity, max_severity, environment, component, route, fingerprint, q, threshold_count, window_seconds, consecutive_windows, group_by, enabled, builtin, definition, created_at, updated_at FROM alert_rules;
DROP TABLE alert_rules;
ALTER TABLE alert_rules_v2 RENAME TO alert_rules;

CREATE TRIGGER events_alert_count AFTER INSERT ON events BEGIN
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
