-- Releases and release-aware resolution.
--
-- `releases`: every release events name, per project ('' for none): when first and last seen,
-- how many events and how many of them errors, and its version key when it is a semantic
-- version (`release_key` in the event, from src/processors/release.rs).
-- Groups learn the release they were first and last seen in, and may be resolved "in a
-- release" (`resolved_in_release`: an event of an older release leaves them resolved; one of
-- that release or newer reopens them, a regression) or "in the next release"
-- (`resolved_after`: an event of a release first seen after that time reopens them). Release
-- order: the version keys when both releases have one, else when each was first seen.
CREATE TABLE releases (
  project      TEXT NOT NULL,
  release      TEXT NOT NULL,
  release_key  TEXT,
  first_event  TEXT NOT NULL,
  last_event   TEXT NOT NULL,
  events       INTEGER NOT NULL,
  errors       INTEGER NOT NULL,
  PRIMARY KEY (project, release)
) WITHOUT ROWID;
CREATE INDEX releases_by_first_event ON releases (project, first_event);

ALTER TABLE groups ADD COLUMN first_release TEXT;
ALTER TABLE groups ADD COLUMN last_release TEXT;
ALTER TABLE groups ADD COLUMN resolved_in_release TEXT;
ALTER TABLE groups ADD COLUMN resolved_in_key TEXT;
ALTER TABLE groups ADD COLUMN resolved_after TEXT;
CREATE INDEX groups_first_release ON groups (first_release) WHERE first_release IS NOT NULL;

CREATE TRIGGER intake_release_count AFTER INSERT ON events_intake
WHEN new.release IS NOT NULL
BEGIN
  INSERT INTO releases (project, release, release_key, first_event, last_event, events, errors)
  VALUES (coalesce(new.project, ''), new.release, json_extract(new.data, '$.release_key'),
          new.received_at, new.received_at, 1, CASE WHEN new.severity_number >= 17 THEN 1 ELSE 0 END)
  ON CONFLICT (project, release) DO UPDATE SET
    first_event = min(first_event, excluded.first_event),
    last_event = max(last_event, excluded.last_event),
    events = events + 1,
    errors = errors + excluded.errors;
END;

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
    last_release = CASE WHEN excluded.last_seen >= last_seen AND excluded.last_release IS NOT NULL THEN excluded.last_release ELSE last_release END;
END;

-- A group reopened (by an event or by hand) forgets the release it was resolved in.
CREATE TRIGGER groups_reopened_forget_release AFTER UPDATE OF status ON groups
WHEN new.status <> 'resolved' AND (new.resolved_in_release IS NOT NULL OR new.resolved_after IS NOT NULL)
BEGIN
  UPDATE groups SET resolved_in_release = NULL, resolved_in_key = NULL, resolved_after = NULL
  WHERE fingerprint = new.fingerprint;
END;
