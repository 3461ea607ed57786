-- Narrow hourly rollups for /v1/stats. The per-combination rollups of 0002 hold a row
-- per (level, environment, component, route, source_type) per bucket: thousands per hour at
-- volume, and a week of them took 280 ms to sum at 1 M events. A stats answer breaks down by
-- one dimension, so these keep only what such answers need:
--   * event_counts_hour_les: by level, environment or source_type, filtered by any of those
--     three (at most levels × environments × source types rows per hour and project);
--   * event_counts_hour_dim: one row per component and per route value, for `by=component`
--     and `by=route` without cross-dimension filters.
-- Anything else (a breakdown by route filtered by level, say) still sums event_counts_hour.
-- Minute buckets span at most 25 hours and stay on event_counts_minute.
CREATE TABLE event_counts_hour_les (
  bucket      TEXT NOT NULL,  -- 'YYYY-MM-DDTHH'
  project     TEXT NOT NULL,  -- '' for events without a project
  level       TEXT NOT NULL,
  environment TEXT NOT NULL,
  source_type TEXT NOT NULL,
  n           INTEGER NOT NULL,
  PRIMARY KEY (bucket, project, level, environment, source_type)
) WITHOUT ROWID;

CREATE TABLE event_counts_hour_dim (
  dim     TEXT NOT NULL,  -- 'component' or 'route'
  bucket  TEXT NOT NULL,
  project TEXT NOT NULL,
  value   TEXT NOT NULL,  -- '' when the event has none
  n       INTEGER NOT NULL,
  PRIMARY KEY (dim, bucket, project, value)
) WITHOUT ROWID;

INSERT INTO event_counts_hour_les (bucket, project, level, environment, source_type, n)
  SELECT bucket, project, level, environment, source_type, sum(n)
  FROM event_counts_hour GROUP BY bucket, project, level, environment, source_type;
INSERT INTO event_counts_hour_dim (dim, bucket, project, value, n)
  SELECT 'component', bucket, project, component, sum(n)
  FROM event_counts_hour GROUP BY bucket, project, component;
INSERT INTO event_counts_hour_dim (dim, bucket, project, value, n)
  SELECT 'route', bucket, project, route, sum(n)
  FROM event_counts_hour GROUP BY bucket, project, route;

-- Like events_count: fires only for rows actually inserted (INSERT OR IGNORE skips duplicates),
-- in the same transaction, so the counts stay exact under redelivery.
CREATE TRIGGER events_count_narrow AFTER INSERT ON events BEGIN
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
