-- What Cloudflare bills, by UTC day and line item (`billing::Item`), as each isolate counts it
-- from the runtime's own numbers and flushes it with its metrics: one upsert per item a flush.
CREATE TABLE usage_daily (
  day    TEXT NOT NULL,
  item   TEXT NOT NULL,
  units  INTEGER NOT NULL,
  PRIMARY KEY (day, item)
) WITHOUT ROWID;
