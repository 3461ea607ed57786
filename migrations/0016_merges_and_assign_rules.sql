-- Merges that stick, the environments of a release, ignore until a number of users, and
-- assignment rules.
--
-- Merge: `group_merges` redirects a fingerprint to the group it was merged into. The consumer's
-- insert into `events_intake` consults it (in the counting transaction), so every trigger
-- counts a merged fingerprint's events into the target, once (the ledger guards the insert).
-- Counts stay exact across an unmerge: a merge remembers the count it moved (`moved_count`)
-- and how many events it redirected since (`redirected`), and an unmerge takes exactly those
-- back. Shards keep each event's own fingerprint; a group's events (and hourly series) are
-- read as its own and its merged fingerprints'.
ALTER TABLE groups ADD COLUMN merged_into TEXT;

CREATE TABLE group_merges (
  source         TEXT PRIMARY KEY,
  target         TEXT NOT NULL,
  merged_at      TEXT NOT NULL,
  actor          TEXT,
  moved_count    INTEGER NOT NULL,
  redirected     INTEGER NOT NULL DEFAULT 0,
  last_redirected TEXT
) WITHOUT ROWID;
CREATE INDEX group_merges_by_target ON group_merges (target, source);

CREATE TRIGGER intake_merge_redirected AFTER INSERT ON events_intake
WHEN json_extract(new.data, '$.merged_from') IS NOT NULL
     AND (new.severity_number >= 13 OR new.error_kind IS NOT NULL)
BEGIN
  UPDATE group_merges
  SET redirected = redirected + 1,
      last_redirected = max(coalesce(last_redirected, ''), new.received_at)
  WHERE source = json_extract(new.data, '$.merged_from');
END;

-- The environments each release was seen in.
CREATE TABLE release_environments (
  project     TEXT NOT NULL,
  release     TEXT NOT NULL,
  environment TEXT NOT NULL,
  PRIMARY KEY (project, release, environment)
) WITHOUT ROWID;

CREATE TRIGGER intake_release_environment AFTER INSERT ON events_intake
WHEN new.release IS NOT NULL AND new.environment IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO release_environments (project, release, environment)
  VALUES (coalesce(new.project, ''), new.release, new.environment);
END;

-- Hours are counted under each event's own fingerprint (`merged_from` when it was redirected):
-- a group's series is its own and its merged fingerprints' hours, so it stays exact after an
-- unmerge too.
DROP TRIGGER intake_group_count;
CREATE TRIGGER intake_group_count AFTER INSERT ON events_intake
WHEN new.severity_number >= 13 OR new.error_kind IS NOT NULL
BEGIN
  INSERT INTO group_counts_hour (fingerprint, bucket, n)
  VALUES (coalesce(json_extract(new.data, '$.merged_from'), new.fingerprint), substr(new.received_at, 1, 13), 1)
  ON CONFLICT DO UPDATE SET n = n + 1;
END;

-- Ignore until N distinct users: the users seen while it is ignored, then one reopening.
ALTER TABLE groups ADD COLUMN ignore_until_users INTEGER;

CREATE TABLE group_ignore_users (
  fingerprint TEXT NOT NULL,
  user_id     TEXT NOT NULL,
  PRIMARY KEY (fingerprint, user_id)
) WITHOUT ROWID;

CREATE TRIGGER intake_ignore_users AFTER INSERT ON events_intake
WHEN new.user_id IS NOT NULL AND (new.severity_number >= 13 OR new.error_kind IS NOT NULL)
BEGIN
  INSERT OR IGNORE INTO group_ignore_users (fingerprint, user_id)
  SELECT g.fingerprint, new.user_id FROM groups g
  WHERE g.fingerprint = new.fingerprint AND g.status = 'ignored' AND g.ignore_until_users IS NOT NULL;
END;

-- Assignment rules: the first rule (by position) whose pattern matches a new group's
-- component, route or service assigns it. Patterns are globs (`*`, `?`), case-insensitive.
CREATE TABLE assign_rules (
  id         TEXT PRIMARY KEY,
  position   INTEGER NOT NULL,
  project    TEXT,
  field      TEXT NOT NULL CHECK (field IN ('component', 'route', 'service')),
  pattern    TEXT NOT NULL,
  assignee   TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX assign_rules_by_position ON assign_rules (position, id);

-- The history learns merges and rule assignments: its kinds are widened by rebuilding the
-- table (SQLite cannot alter a CHECK), with the triggers that write it dropped and remade.
DROP TRIGGER groups_activity_first_seen;
DROP TRIGGER groups_activity_regression;
DROP TRIGGER groups_unignored;

CREATE TABLE group_activity_v2 (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('first_seen', 'regression', 'status', 'assigned', 'note', 'merged', 'unmerged')),
  actor       TEXT,
  detail      TEXT NOT NULL DEFAULT '{}',
  at          TEXT NOT NULL
);
INSERT INTO group_activity_v2 (id, fingerprint, kind, actor, detail, at)
  SELECT id, fingerprint, kind, actor, detail, at FROM group_activity;
DROP TABLE group_activity;
ALTER TABLE group_activity_v2 RENAME TO group_activity;
CREATE INDEX group_activity_by_group ON group_activity (fingerprint, id);

CREATE TRIGGER groups_activity_first_seen AFTER INSERT ON groups BEGIN
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  VALUES (new.fingerprint, 'first_seen', json_object('release', new.first_release, 'event_id', new.last_event_id), new.first_seen);
END;

CREATE TRIGGER groups_activity_regression AFTER UPDATE OF status ON groups
WHEN old.status = 'resolved' AND new.status = 'open' AND new.count > old.count
BEGIN
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  VALUES (new.fingerprint, 'regression',
          json_object('release', new.last_release, 'resolved_in_release', old.resolved_in_release, 'event_id', new.last_event_id),
          new.last_seen);
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
                    ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL,
                    ignore_until_users = NULL
  WHERE fingerprint = new.fingerprint;
END;

-- The user that makes N: the group reopens once, as a regression (its count did not change,
-- so `groups_unignored` does not see it).
CREATE TRIGGER group_ignore_users_met AFTER INSERT ON group_ignore_users
WHEN (SELECT count(*) FROM group_ignore_users u WHERE u.fingerprint = new.fingerprint)
     >= (SELECT g.ignore_until_users FROM groups g WHERE g.fingerprint = new.fingerprint AND g.status = 'ignored')
BEGIN
  UPDATE groups SET status = 'open' WHERE fingerprint = new.fingerprint;
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at)
  SELECT 'regression', fingerprint, project, last_event_id, last_seen FROM groups WHERE fingerprint = new.fingerprint;
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  SELECT fingerprint, 'regression',
         json_object('release', last_release, 'ignored_until_met', 1, 'users', ignore_until_users, 'event_id', last_event_id),
         last_seen
  FROM groups WHERE fingerprint = new.fingerprint;
  UPDATE groups SET ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
                    ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL,
                    ignore_until_users = NULL
  WHERE fingerprint = new.fingerprint;
END;

CREATE TRIGGER groups_auto_assign AFTER INSERT ON groups
WHEN new.assignee IS NULL AND EXISTS (SELECT 1 FROM assign_rules)
BEGIN
  INSERT INTO group_activity (fingerprint, kind, actor, detail, at)
  SELECT new.fingerprint, 'assigned', 'rule:' || r.id,
         json_object('from', NULL, 'to', r.assignee, 'rule', r.id, 'field', r.field, 'pattern', r.pattern),
         new.first_seen
  FROM assign_rules r
  WHERE (r.project IS NULL OR r.project = coalesce(new.project, ''))
    AND lower(CASE r.field
                WHEN 'component' THEN new.component
                WHEN 'route' THEN new.route
                ELSE (SELECT i.service FROM events_intake i WHERE i.id = new.last_event_id LIMIT 1)
              END) GLOB lower(r.pattern)
  ORDER BY r.position, r.id
  LIMIT 1;
  UPDATE groups
  SET assignee = (SELECT json_extract(a.detail, '$.to') FROM group_activity a
                  WHERE a.fingerprint = new.fingerprint AND a.kind = 'assigned' ORDER BY a.id DESC LIMIT 1)
  WHERE fingerprint = new.fingerprint
    AND EXISTS (SELECT 1 FROM group_activity a WHERE a.fingerprint = new.fingerprint AND a.kind = 'assigned');
END;
