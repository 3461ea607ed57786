-- A group that comes back from "ignored until" is news to both kinds of transition rule: a team
-- that only watches new groups still hears that one it set aside has returned. Its transition
-- stays a regression (release pages count it so) and says why in `reason`; the alert engine
-- lets `new_group` rules take transitions with reason 'ignore_until' too.
ALTER TABLE group_transitions ADD COLUMN reason TEXT;

DROP TRIGGER groups_unignored;
CREATE TRIGGER groups_unignored AFTER UPDATE OF status ON groups
WHEN old.status = 'ignored' AND new.status = 'open' AND new.count > old.count
BEGIN
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at, reason)
  VALUES ('regression', new.fingerprint, new.project, new.last_event_id, new.last_seen, 'ignore_until');
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  VALUES (new.fingerprint, 'regression',
          json_object('release', new.last_release, 'ignored_until_met', 1, 'event_id', new.last_event_id),
          new.last_seen);
  UPDATE groups SET ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
                    ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL,
                    ignore_until_users = NULL
  WHERE fingerprint = new.fingerprint;
END;

DROP TRIGGER group_ignore_users_met;
CREATE TRIGGER group_ignore_users_met AFTER INSERT ON group_ignore_users
WHEN (SELECT count(*) FROM group_ignore_users u WHERE u.fingerprint = new.fingerprint)
     >= (SELECT g.ignore_until_users FROM groups g WHERE g.fingerprint = new.fingerprint AND g.status = 'ignored')
BEGIN
  UPDATE groups SET status = 'open' WHERE fingerprint = new.fingerprint;
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at, reason)
  SELECT 'regression', fingerprint, project, last_event_id, last_seen, 'ignore_until' FROM groups WHERE fingerprint = new.fingerprint;
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

-- Groups ignored until a time are reopened by the scheduled run when it passes, event or not.
CREATE INDEX groups_ignored_until_at ON groups (ignore_until_at) WHERE status = 'ignored' AND ignore_until_at IS NOT NULL;
