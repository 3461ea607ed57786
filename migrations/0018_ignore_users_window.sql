-- Ignore until N distinct users within a window (`{"users": 50, "window_seconds": 3600}`): each
-- user keeps the time of its latest event, and the users counted are those whose latest event
-- is within the window before the event being counted. The window lives in
-- `groups.ignore_window_seconds` (with users set and count not, the count conditions of
-- `intake_group_upsert` do not apply). Without a window every user since the ignore counts.
ALTER TABLE group_ignore_users ADD COLUMN last_at TEXT;

-- A user seen again is deleted and inserted again with its later time, so the AFTER INSERT check
-- below runs for it too. Not INSERT OR REPLACE: inside a trigger the outer statement's conflict
-- clause wins, and events arrive by INSERT OR IGNORE. An event older than the user's latest
-- changes nothing.
DROP TRIGGER intake_ignore_users;
CREATE TRIGGER intake_ignore_users AFTER INSERT ON events_intake
WHEN new.user_id IS NOT NULL AND (new.severity_number >= 13 OR new.error_kind IS NOT NULL)
BEGIN
  DELETE FROM group_ignore_users
  WHERE fingerprint = new.fingerprint AND user_id = new.user_id
    AND (last_at IS NULL OR last_at < new.received_at);
  INSERT OR IGNORE INTO group_ignore_users (fingerprint, user_id, last_at)
  SELECT g.fingerprint, new.user_id, new.received_at
  FROM groups g
  WHERE g.fingerprint = new.fingerprint AND g.status = 'ignored' AND g.ignore_until_users IS NOT NULL;
END;

DROP TRIGGER group_ignore_users_met;
CREATE TRIGGER group_ignore_users_met AFTER INSERT ON group_ignore_users
WHEN (SELECT count(*) FROM group_ignore_users u JOIN groups g ON g.fingerprint = u.fingerprint
      WHERE u.fingerprint = new.fingerprint
        AND (g.ignore_window_seconds IS NULL
             OR CAST(strftime('%s', u.last_at) AS INTEGER)
                > CAST(strftime('%s', new.last_at) AS INTEGER) - g.ignore_window_seconds))
     >= (SELECT g.ignore_until_users FROM groups g WHERE g.fingerprint = new.fingerprint AND g.status = 'ignored')
BEGIN
  UPDATE groups SET status = 'open' WHERE fingerprint = new.fingerprint;
  INSERT INTO group_transitions (kind, fingerprint, project, event_id, at, reason)
  SELECT 'regression', fingerprint, project, last_event_id, last_seen, 'ignore_until' FROM groups WHERE fingerprint = new.fingerprint;
  INSERT INTO group_activity (fingerprint, kind, detail, at)
  SELECT fingerprint, 'regression',
         json_object('release', last_release, 'ignored_until_met', 1, 'users', ignore_until_users,
                     'window_seconds', ignore_window_seconds, 'event_id', last_event_id),
         last_seen
  FROM groups WHERE fingerprint = new.fingerprint;
  UPDATE groups SET ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
                    ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL,
                    ignore_until_users = NULL
  WHERE fingerprint = new.fingerprint;
END;
