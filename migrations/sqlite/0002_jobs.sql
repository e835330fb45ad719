-- The durable scheduler's jobs (round deadlines; later reminders and webhooks). A job is
-- written in the same transaction as the events that call for it (an outbox), claimed with a
-- lease, and marked done once its command ran. Its key doubles as the command's client_op_id.
CREATE TABLE jobs (
    key          TEXT    PRIMARY KEY NOT NULL,
    planning_id  TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    -- Microseconds since the Unix epoch.
    due_at       INTEGER NOT NULL,
    lease_until  INTEGER,
    done_at      INTEGER
) STRICT;

CREATE INDEX jobs_pending ON jobs (due_at) WHERE done_at IS NULL;
