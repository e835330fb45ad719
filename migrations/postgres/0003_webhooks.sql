-- Outbound webhooks (issue 4).
--
-- Jobs that can fail and be tried again (webhook deliveries) count their attempts; a job that
-- gave up is done (never claimed again) with `failed` set and the last error kept for operators.
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN failed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN last_error TEXT;

-- The HMAC secret of each webhook. The server must sign with it later, so it cannot be kept
-- only as a hash; and it must not be in the event log, which every participant can read and
-- which is never deleted. So it lives here, beside the log, keyed by webhook id: removing a
-- webhook (or purging a planning) can delete it, and backups of the log alone do not leak it.
CREATE TABLE webhook_secrets (
    webhook_id   TEXT   COLLATE "C" PRIMARY KEY,
    planning_id  TEXT   COLLATE "C" NOT NULL,
    secret       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
