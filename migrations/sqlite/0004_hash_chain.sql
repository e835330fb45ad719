-- Tamper evidence: each event carries SHA-256(previous hash, its own canonical bytes); the
-- planning's chain head is kept beside its seq head. Events written before this migration get
-- their hash once, from the store at open (a write-once column: NULL → value, nothing else).
ALTER TABLE events ADD COLUMN hash TEXT;
ALTER TABLE rooms ADD COLUMN head_hash TEXT;

DROP TRIGGER events_no_update;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT (
    OLD.hash IS NULL AND NEW.hash IS NOT NULL
    AND NEW.global_id IS OLD.global_id AND NEW.planning_id IS OLD.planning_id
    AND NEW.seq IS OLD.seq AND NEW.event_id IS OLD.event_id AND NEW.actor IS OLD.actor
    AND NEW.client_op_id IS OLD.client_op_id AND NEW.kind IS OLD.kind
    AND NEW.version IS OLD.version AND NEW.payload IS OLD.payload
    AND NEW.recorded_at IS OLD.recorded_at
)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;
