-- Messages that exhausted their retries, kept until replayed or expired by retention.
CREATE TABLE dead_letters (
  id          TEXT PRIMARY KEY,
  queue       TEXT NOT NULL,     -- the queue the message failed in (edge-logger-logs, …-alerts)
  message_id  TEXT NOT NULL UNIQUE,
  body        TEXT NOT NULL,     -- the message body, as the producer sent it (JSON text)
  error       TEXT,              -- the last failure the consumer recorded, when known
  events      INTEGER,           -- events inside, for event messages
  received_at TEXT NOT NULL,
  replayed_at TEXT
);
CREATE INDEX dead_letters_received ON dead_letters (received_at, id);
