-- Tamper evidence: each event carries SHA-256(previous hash, its own canonical bytes); the
-- planning's chain head is kept beside its seq head. Events written before this migration get
-- their hash once, from the store at open (a write-once column: NULL → value, nothing else).
ALTER TABLE events ADD COLUMN hash TEXT;
ALTER TABLE rooms ADD COLUMN head_hash TEXT;

CREATE OR REPLACE FUNCTION sprintlog_events_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (NEW.global_id, NEW.planning_id, NEW.seq, NEW.event_id, NEW.actor, NEW.client_op_id,
            NEW.kind, NEW.version, NEW.payload, NEW.recorded_at)
           IS NOT DISTINCT FROM
           (OLD.global_id, OLD.planning_id, OLD.seq, OLD.event_id, OLD.actor, OLD.client_op_id,
            OLD.kind, OLD.version, OLD.payload, OLD.recorded_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
