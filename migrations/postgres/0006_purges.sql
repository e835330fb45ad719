-- Plannings removed by the operator (a data-protection request). The purge itself is
-- recorded here, outside the planning, since the planning's log is gone.
CREATE TABLE purges (
    planning_id  TEXT NOT NULL,
    purged_at    BIGINT NOT NULL,
    events       BIGINT NOT NULL,
    head_hash    TEXT
);
