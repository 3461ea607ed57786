-- Alerting: rules, exact window counters, group transitions, fired alerts and deliveries.
--
-- Counting happens in a trigger on `events`, like groups and stats: only rows really inserted
-- count (a redelivered message or a client retry never counts twice), inside the insert's own
-- transaction, so concurrent consumers cannot double-count either. The consumer then looks
-- for windows that crossed their threshold and records one alert per rule, group and window
-- (a UNIQUE key, so two consumers racing on the same crossing record it once).

-- The rule's filters are projected into columns so the trigger can join them cheaply;
-- `definition` holds the whole rule as the API sees it.
CREATE TABLE alert_rules (
  id              TEXT PRIMARY KEY,
  name            TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('threshold', 'new_group', 'regression')),
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

CREATE TABLE alert_counters (
  rule_id       TEXT NOT NULL,
  group_key     TEXT NOT NULL,
  window_start  INTEGER NOT NULL,  -- Unix seconds, a multiple of the rule's window
  count         INTEGER NOT NULL,
  last_event_id TEXT,
  PRIMARY KEY (rule_id, group_key, window_start)
) WITHOUT ROWID;

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

-- New groups and regressions, claimed by the consumer once each.
CREATE TABLE group_transitions (
  id          INTEGER PRIMARY KEY,
  kind        TEXT NOT NULL CHECK (kind IN ('new_group', 'regression')),
  fingerprint TEXT NOT NULL,
  project     TEXT,
  event_id    TEXT,
  at          TEXT NOT NULL,
  claimed     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX group_transitions_unclaimed ON group_transitions (claimed, id);

CREATE TRIGGER groups_new AFTER INSERT ON groups BEGIN
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at)
  VALUES ('new_group', new.fingerprint, new.project, new.last_event_id, new.first_seen);
END;

CREATE TRIGGER groups_regressed AFTER UPDATE OF status ON groups
WHEN old.status = 'resolved' AND new.status = 'open' AND new.count > old.count
BEGIN
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at)
  VALUES ('regression', new.fingerprint, new.project, new.last_event_id, new.last_seen);
END;

CREATE TABLE alerts (
  id             TEXT PRIMARY KEY,
  rule_id        TEXT NOT NULL,
  rule_name      TEXT NOT NULL,
  trigger        TEXT NOT NULL,
  project        TEXT,
  group_key      TEXT NOT NULL,
  window_start   INTEGER NOT NULL,  -- Unix seconds for thresholds; the transition id otherwise
  window_seconds INTEGER,
  count          INTEGER NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('notified', 'throttled', 'muted')),
  suppressed     INTEGER NOT NULL DEFAULT 0,  -- later crossings held back by the throttle
  sample_event_id TEXT,
  created_at     TEXT NOT NULL,
  UNIQUE (rule_id, group_key, window_start)
);
CREATE INDEX alerts_created ON alerts (created_at, id);
CREATE INDEX alerts_last_notified ON alerts (rule_id, group_key, status, created_at);

CREATE TABLE alert_deliveries (
  id           TEXT PRIMARY KEY,
  alert_id     TEXT NOT NULL,
  channel_type TEXT NOT NULL,
  target       TEXT NOT NULL,     -- the URL or addresses, for people reading the record
  status       TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'retrying', 'failed', 'skipped')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  updated_at   TEXT NOT NULL
);
CREATE INDEX alert_deliveries_alert ON alert_deliveries (alert_id);

-- The built-in rule: events triaged `alert` (critical and above) notify the deployment's
-- default channels (ALERT_CHANNELS) at once, one notification per group per 5 minutes.
INSERT INTO alert_rules (id, name, kind, min_severity, threshold_count, window_seconds, group_by, builtin, definition, created_at, updated_at)
VALUES ('builtin-critical', 'Critical events', 'threshold', 18, 1, 60, 'fingerprint', 1,
        '{"name":"Critical events","trigger":"threshold","match":{"min_level":"critical"},"threshold":{"count":1,"window_seconds":60},"group_by":"fingerprint","throttle_seconds":300,"mute":[],"channels":[],"enabled":true,"project":null}',
                '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');

-- The built-in escalation: a warning group that fires in three 5-minute windows in a row.
INSERT INTO alert_rules (id, name, kind, min_severity, max_severity, threshold_count, window_seconds, consecutive_windows, group_by, builtin, definition, created_at, updated_at)
VALUES ('builtin-warning-escalation', 'Persistent warnings', 'threshold', 13, 16, 1, 300, 3, 'fingerprint', 1,
        '{"name":"Persistent warnings","trigger":"threshold","match":{"min_level":"warn","max_level":"warn"},"threshold":{"count":1,"window_seconds":300,"consecutive_windows":3},"group_by":"fingerprint","throttle_seconds":3600,"mute":[],"channels":[],"enabled":true,"project":null}',
        '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
