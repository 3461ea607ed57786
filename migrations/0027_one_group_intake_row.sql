-- One group intake row per fingerprint, release, user, severity and hour of a batch, not two:
-- the newest event, with the key's weight, and (when older events of the key came first) the
-- oldest's time and message as `intake_first_seen` and `intake_title`, so a new group still
-- takes its first sighting and title from its oldest event. Half the intake rows, their
-- deletes and their group upserts for a batch of few events of each group.
DROP TRIGGER intake_group_upsert;
CREATE TRIGGER intake_group_upsert AFTER INSERT ON events_intake
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO groups (fingerprint, project, title, level, severity_number, count, first_seen, last_seen,
                      environment, component, route, source_type, error_kind, fingerprint_reason, last_event_id,
                      first_release, last_release)
  VALUES (
    new.fingerprint, new.project,
    substr(CASE WHEN instr(coalesce(json_extract(new.data, '$.intake_title'), new.message), char(10)) > 0
                THEN substr(coalesce(json_extract(new.data, '$.intake_title'), new.message), 1,
                            instr(coalesce(json_extract(new.data, '$.intake_title'), new.message), char(10)) - 1)
                ELSE coalesce(json_extract(new.data, '$.intake_title'), new.message) END, 1, 200),
    new.level, new.severity_number, new.weight,
    coalesce(json_extract(new.data, '$.intake_first_seen'), new.received_at), new.received_at,
    new.environment, new.component, new.route, new.source_type, new.error_kind,
    json_extract(new.data, '$.fingerprint_reason'), new.id, new.release, new.release)
  ON CONFLICT (fingerprint) DO UPDATE SET
    count = count + new.weight,
    status = CASE
      -- Ignored until a time, or until a number of events (in a window when one is set).
      WHEN status = 'ignored' THEN CASE
        WHEN ignore_until_at IS NOT NULL AND new.received_at >= ignore_until_at THEN 'open'
        WHEN ignore_until_count IS NOT NULL AND ignore_window_seconds IS NULL
             AND count + new.weight - ignore_count_base >= ignore_until_count THEN 'open'
        WHEN ignore_until_count IS NOT NULL AND ignore_window_seconds IS NOT NULL
             AND (CASE WHEN ignore_window_start IS NULL
                         OR CAST(strftime('%s', new.received_at) AS INTEGER) - CAST(strftime('%s', ignore_window_start) AS INTEGER) >= ignore_window_seconds
                       THEN new.weight ELSE ignore_window_count + new.weight END) >= ignore_until_count THEN 'open'
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
        THEN new.weight ELSE ignore_window_count + new.weight END,
    last_release = CASE WHEN excluded.last_seen >= last_seen AND excluded.last_release IS NOT NULL THEN excluded.last_release ELSE last_release END;
END;

