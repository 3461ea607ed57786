-- Ignore until: a group ignored until a time (`ignore_until_at`), until N more events
-- (`ignore_until_count` over `ignore_count_base`, the count when it was ignored), or until N
-- events within a window (`ignore_window_seconds`; counted in windows that start with the
-- first event after the last window passed). When the condition is met the group reopens, once,
-- and regression alert rules fire for it, as for a resolved group that comes back.
ALTER TABLE groups ADD COLUMN ignore_until_at TEXT;
ALTER TABLE groups ADD COLUMN ignore_until_count INTEGER;
ALTER TABLE groups ADD COLUMN ignore_count_base INTEGER;
ALTER TABLE groups ADD COLUMN ignore_window_seconds INTEGER;
ALTER TABLE groups ADD COLUMN ignore_window_start TEXT;
ALTER TABLE groups ADD COLUMN ignore_window_count INTEGER;

DROP TRIGGER intake_group_upsert;
CREATE TRIGGER intake_group_upsert AFTER INSERT ON events_intake
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO groups (fingerprint, project, title, level, severity_number, count, first_seen, last_seen,
                      environment, component, route, source_type, error_kind, fingerprint_reason, last_event_id,
                      first_release, last_release)
  VALUES (
    new.fingerprint, new.project,
    substr(CASE WHEN instr(new.message, char(10)) > 0
                THEN substr(new.message, 1, instr(new.message, char(10)) - 1)
                ELSE new.message END, 1, 200),
    new.level, new.severity_number, 1, new.received_at, new.received_at,
    new.environment, new.component, new.route, new.source_type, new.error_kind,
    json_extract(new.data, '$.fingerprint_reason'), new.id, new.release, new.release)
  ON CONFLICT (fingerprint) DO UPDATE SET
    count = count + 1,
    status = CASE
      -- Ignored until a time, or until a number of events (in a window when one is set).
      WHEN status = 'ignored' THEN CASE
        WHEN ignore_until_at IS NOT NULL AND new.received_at >= ignore_until_at THEN 'open'
        WHEN ignore_until_count IS NOT NULL AND ignore_window_seconds IS NULL
             AND count + 1 - ignore_count_base >= ignore_until_count THEN 'open'
        WHEN ignore_until_count IS NOT NULL AND ignore_window_seconds IS NOT NULL
             AND (CASE WHEN ignore_window_start IS NULL
                         OR CAST(strftime('%s', new.received_at) AS INTEGER) - CAST(strftime('%s', ignore_window_start) AS INTEGER) >= ignore_window_seconds
                       THEN 1 ELSE ignore_window_count + 1 END) >= ignore_until_count THEN 'open'
        ELSE status END
      WHEN status <> 'resolved' THEN status
      -- Resolved plainly: any event reopens it.
      WHEN resolved_in_release IS NULL AND resolved_after IS NULL THEN 'open'
      -- Resolved in a release: an event of that release or a newer one reopens it.
      WHEN resolved_in_release IS NOT NULL THEN CASE
        WHEN new.release IS NULL THEN status
        WHEN json_extract(new.data, '$.release_key') IS NOT NULL AND resolved_in_key IS NOT NULL
          THEN CASE WHEN json_extract(new.data, '$.release_key') >= resolved_in_key THEN 'open' ELSE status END
        WHEN new.release = resolved_in_release THEN 'open'
        WHEN coalesce((SELECT r.first_event FROM releases r WHERE r.project = coalesce(new.project, '') AND r.release = new.release), new.received_at)
             > coalesce((SELECT r.first_event FROM releases r WHERE r.project = coalesce(new.project, '') AND r.release = groups.resolved_in_release), '9999')
          THEN 'open'
        ELSE status END
      -- Resolved in the next release: an event of a release first seen after that reopens it.
      WHEN new.release IS NOT NULL
           AND coalesce((SELECT r.first_event FROM releases r WHERE r.project = coalesce(new.project, '') AND r.release = new.release), new.received_at) > resolved_after
        THEN 'open'
      ELSE status END,
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
    last_event_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_event_id ELSE last_event_id END,
    first_release = coalesce(first_release, excluded.first_release),
    -- The window an "ignored until N events in a window" counts in: a new one starts when the
    -- last has passed.
    ignore_window_start = CASE WHEN ignore_window_seconds IS NULL THEN ignore_window_start
      WHEN ignore_window_start IS NULL
           OR CAST(strftime('%s', new.received_at) AS INTEGER) - CAST(strftime('%s', ignore_window_start) AS INTEGER) >= ignore_window_seconds
        THEN new.received_at ELSE ignore_window_start END,
    ignore_window_count = CASE WHEN ignore_window_seconds IS NULL THEN ignore_window_count
      WHEN ignore_window_start IS NULL
           OR CAST(strftime('%s', new.received_at) AS INTEGER) - CAST(strftime('%s', ignore_window_start) AS INTEGER) >= ignore_window_seconds
        THEN 1 ELSE ignore_window_count + 1 END,
    last_release = CASE WHEN excluded.last_seen >= last_seen AND excluded.last_release IS NOT NULL THEN excluded.last_release ELSE last_release END;
END;

CREATE TRIGGER groups_unignored AFTER UPDATE OF status ON groups
WHEN old.status = 'ignored' AND new.status = 'open' AND new.count > old.count
BEGIN
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at)
  VALUES ('regression', new.fingerprint, new.project, new.last_event_id, new.last_seen);
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  VALUES (new.fingerprint, 'regression',
          json_object('release', new.last_release, 'ignored_until_met', 1, 'event_id', new.last_event_id),
          new.last_seen);
  UPDATE groups SET ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
                    ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL
  WHERE fingerprint = new.fingerprint;
END;
