-- Drop and sample rules applied at ingest (src/controls): each rule as its JSON, in order of
-- creation (the first rule that matches an event decides). Their hits are counters in
-- metric_counters (`edge_logger_ingest_rule_hits_total{rule}`).
CREATE TABLE ingest_rules (
  id         TEXT PRIMARY KEY,
  body       TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;
