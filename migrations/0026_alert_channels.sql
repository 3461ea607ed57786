-- Alert channels that keep state (pagers, Alertmanager, ticket trackers): an alert keeps the
-- notice it sent so that re-sends and its resolution say the same; a group keeps one ticket
-- per tracker; channel credentials are sealed with a key of the deployment's own.

-- The notice as sent, kept only when one of the rule's channels resolves (else NULL).
ALTER TABLE alerts ADD COLUMN notice TEXT;
-- When the group was resolved or the threshold cleared, and the resolution was sent.
ALTER TABLE alerts ADD COLUMN resolved_at TEXT;
-- Open alerts with stateful channels: what the cron re-sends and resolves.
CREATE INDEX alerts_open ON alerts (group_key, rule_id)
  WHERE resolved_at IS NULL AND status = 'notified' AND notice IS NOT NULL;

-- What a delivery did: trigger (the alert), resolve, resend (Alertmanager while firing), or
-- a ticket step.
ALTER TABLE alert_deliveries ADD COLUMN action TEXT NOT NULL DEFAULT 'trigger';

-- One ticket per group and tracker. A delivery claims the row before it creates the ticket,
-- so two alerts racing create one ticket; a claim left without a ticket for 10 minutes (its
-- delivery failed) can be taken over.
CREATE TABLE group_tickets (
  fingerprint TEXT NOT NULL,
  tracker     TEXT NOT NULL,      -- jira:<site>/<project>, github:<repo>, servicenow:<instance>
  claimed_by  TEXT NOT NULL,      -- the delivery creating it
  claimed_at  TEXT NOT NULL,
  ticket_key  TEXT,               -- Jira key, GitHub issue number, ServiceNow sys_id
  number      TEXT,               -- what people read: OPS-12, #7, INC0010001
  url         TEXT,
  state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
  created_at  TEXT,
  PRIMARY KEY (fingerprint, tracker)
) WITHOUT ROWID;

-- The deployment's generated keys (the credentials key, when no ENCRYPTION_KEY is set).
CREATE TABLE deployment_keys (
  name       TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  created_at TEXT NOT NULL
) WITHOUT ROWID;
