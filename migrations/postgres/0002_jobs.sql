-- The durable scheduler's jobs (round deadlines; later reminders and webhooks). A job is
-- written in the same transaction as the events that call for it (an outbox), claimed with a
-- lease under `FOR UPDATE SKIP LOCKED` (so nodes never claim the same job), and marked done
-- once its command ran. Its key doubles as the command's client_op_id.
CREATE TABLE jobs (
    key          TEXT   COLLATE "C" PRIMARY KEY,
    planning_id  TEXT   COLLATE "C" NOT NULL,
    kind         TEXT   NOT NULL,
    payload      TEXT   NOT NULL,
    due_at       BIGINT NOT NULL,
    lease_until  BIGINT,
    done_at      BIGINT
);

CREATE INDEX jobs_pending ON jobs (due_at) WHERE done_at IS NULL;
