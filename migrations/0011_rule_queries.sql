-- Alert rules may match with the search language (`match.query`). A query cannot be
-- evaluated by a trigger, so the consumer counts query rules itself (in memory, with the same
-- matcher as the live tail) in the same transaction and under the same ledger guard as the
-- counts below; the trigger now counts only the rules without a query.
ALTER TABLE alert_rules ADD COLUMN query TEXT;

DROP TRIGGER intake_alert_count;
CREATE TRIGGER intake_alert_count AFTER INSERT ON events_intake BEGIN
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
    AND r.query IS NULL
  ON CONFLICT DO UPDATE SET count = count + 1, last_event_id = excluded.last_event_id;
END;
