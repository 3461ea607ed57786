-- API keys. A key's project stamps the events it ingests and confines what it reads.

-- Only the SHA-256 of a key is kept; `prefix` (its first 12 characters) finds the record.
CREATE TABLE api_keys (
  id              TEXT PRIMARY KEY,
  prefix          TEXT NOT NULL UNIQUE,
  hash            TEXT NOT NULL,
  name            TEXT NOT NULL,
  scopes          TEXT NOT NULL,            -- JSON array of ingest, read, admin
  project         TEXT,
  allowed_origins TEXT NOT NULL DEFAULT '[]', -- JSON array of origins
  rate_limit      TEXT NOT NULL DEFAULT 'default',
  created_at      TEXT NOT NULL,
  revoked_at      TEXT
);
