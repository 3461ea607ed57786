-- Usage by project: what each project's events did, by UTC day, service and level. The ingest
-- columns are flushed with the metrics (each isolate adds up its requests); `stored` is added by
-- the consumer's batch counts.
CREATE TABLE usage_events (
  day           TEXT NOT NULL,
  project       TEXT NOT NULL,  -- '' for events without a project
  service       TEXT NOT NULL,  -- '' for events without a service
  level         TEXT NOT NULL,  -- '' for events refused before they had one
  received      INTEGER NOT NULL DEFAULT 0,
  accepted      INTEGER NOT NULL DEFAULT 0,
  dropped       INTEGER NOT NULL DEFAULT 0,
  sampled_out   INTEGER NOT NULL DEFAULT 0,
  refused_quota INTEGER NOT NULL DEFAULT 0,
  stored        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, project, service, level)
) WITHOUT ROWID;

-- Quotas per project (src/controls/quota.rs) and what each project took of them: one row per
-- project and day, the current minute's count beside the day's, so one statement grants both.
CREATE TABLE project_quotas (
  project    TEXT PRIMARY KEY,
  body       TEXT NOT NULL,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE quota_counts (
  project    TEXT NOT NULL,
  day        TEXT NOT NULL,
  n_day      INTEGER NOT NULL,
  minute     TEXT NOT NULL,
  n_minute   INTEGER NOT NULL,
  last_grant INTEGER NOT NULL,
  PRIMARY KEY (project, day)
) WITHOUT ROWID;
