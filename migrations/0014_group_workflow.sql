-- Who works on a group, and what happened to it: an assignee, and an activity history
-- (status changes and assignments with who made them, notes, first sighting and regressions
-- with the release they happened in).
ALTER TABLE groups ADD COLUMN assignee TEXT;

CREATE TABLE group_activity (
  id          INTEGER PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('first_seen', 'regression', 'status', 'assigned', 'note')),
  actor       TEXT,
  detail      TEXT NOT NULL DEFAULT '{}',
  at          TEXT NOT NULL
);
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
