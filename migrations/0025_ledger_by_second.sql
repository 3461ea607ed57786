-- The count ledger by second: the tokens a batch counts, in one row per second of receipt (the
-- oldest event of each token), instead of one row per message. A batch's messages mostly fall in
-- a few seconds, so it writes a few rows rather than one per message; a redelivery finds its
-- token under the same second (the shard answers the same events for it). A token counted twice
-- fails the counting transaction (the trigger), which is then retried and finds it counted.
-- `count_ledger` keeps the tokens counted before, read until they age out.
CREATE TABLE count_ledger_seconds (
  second TEXT PRIMARY KEY,  -- 'YYYY-MM-DDTHH:MM:SS'
  tokens TEXT NOT NULL      -- a JSON array of tokens
) WITHOUT ROWID;

CREATE TRIGGER count_ledger_seconds_once BEFORE UPDATE ON count_ledger_seconds
WHEN (SELECT count(*) FROM json_each(NEW.tokens)) > (SELECT count(DISTINCT value) FROM json_each(NEW.tokens))
BEGIN
  SELECT RAISE(ABORT, 'a token is counted already');
END;
