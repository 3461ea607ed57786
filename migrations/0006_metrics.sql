-- Self-monitoring counters (src/metrics.rs says where each comes from and why it is exact).
CREATE TABLE metric_counters (
  name   TEXT NOT NULL,
  labels TEXT NOT NULL,   -- Prometheus label text, e.g. level="error"
  value  REAL NOT NULL,
  PRIMARY KEY (name, labels)
) WITHOUT ROWID;

-- Stored events, counted in the insert's transaction: a redelivered event is not counted again.
CREATE TRIGGER events_metric AFTER INSERT ON events BEGIN
  INSERT INTO metric_counters (name, labels, value) VALUES ('edge_logger_events_stored_total', 'level="' || new.level || '"', 1)
  ON CONFLICT (name, labels) DO UPDATE SET value = value + 1;
END;

CREATE TRIGGER alerts_metric AFTER INSERT ON alerts BEGIN
  INSERT INTO metric_counters (name, labels, value) VALUES ('edge_logger_alerts_total', 'status="' || new.status || '"', 1)
  ON CONFLICT (name, labels) DO UPDATE SET value = value + 1;
END;

CREATE TRIGGER alert_deliveries_metric AFTER UPDATE OF status ON alert_deliveries
WHEN new.status IN ('delivered', 'failed') AND old.status != new.status
BEGIN
  INSERT INTO metric_counters (name, labels, value)
  VALUES ('edge_logger_alert_deliveries_total', 'channel="' || new.channel_type || '",outcome="' || new.status || '"', 1)
  ON CONFLICT (name, labels) DO UPDATE SET value = value + 1;
END;
