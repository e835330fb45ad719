-- The append-only event log (PostgreSQL). Column types mirror the SQLite schema so both
-- backends return identical values: uuids and payloads as TEXT (never jsonb, which reorders
-- keys), times as BIGINT microseconds (never timestamptz). Id columns use the "C" collation:
-- byte order, as SQLite compares, so `ORDER BY planning_id` agrees between backends (a
-- locale collation would ignore the hyphens of a uuid).

CREATE TABLE events (
    global_id    BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    planning_id  TEXT    COLLATE "C" NOT NULL,
    seq          BIGINT  NOT NULL CHECK (seq >= 1),
    event_id     TEXT    NOT NULL UNIQUE,
    actor        TEXT    NOT NULL,
    client_op_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    payload      TEXT    NOT NULL,
    recorded_at  BIGINT  NOT NULL,
    -- Named: the store recognises a violation of this one as a lost race (a Conflict).
    CONSTRAINT events_planning_seq_key UNIQUE (planning_id, seq)
);

-- The per-planning head; appends take `SELECT ... FOR UPDATE` on this row, which serialises
-- writers of one planning (and only of that planning) across every node.
CREATE TABLE rooms (
    planning_id TEXT   COLLATE "C" PRIMARY KEY,
    head        BIGINT NOT NULL CHECK (head >= 0)
);

-- Idempotency per command: a retry of (planning, actor, client_op_id) returns the first result.
CREATE TABLE commands (
    planning_id  TEXT   COLLATE "C" NOT NULL,
    actor        TEXT   NOT NULL,
    client_op_id TEXT   NOT NULL,
    command_hash TEXT   NOT NULL,
    first_seq    BIGINT NOT NULL,
    last_seq     BIGINT NOT NULL,
    CONSTRAINT commands_pkey PRIMARY KEY (planning_id, actor, client_op_id)
);

-- Events are immutable in the database itself, whoever connects to it.
CREATE FUNCTION sprintlog_events_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;

-- Row triggers cover UPDATE, DELETE and `INSERT ... ON CONFLICT DO UPDATE`.
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION sprintlog_events_immutable();

-- TRUNCATE fires no row trigger: refuse it with a statement trigger.
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION sprintlog_events_immutable();

-- A head never moves backwards (it would make the next append reuse a seq).
CREATE FUNCTION sprintlog_head_monotonic() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.head < OLD.head THEN
        RAISE EXCEPTION 'rooms.head never decreases (% -> %)', OLD.head, NEW.head
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER rooms_head_monotonic BEFORE UPDATE OF head ON rooms
    FOR EACH ROW EXECUTE FUNCTION sprintlog_head_monotonic();
