-- The append-only event log (SQLite). STRICT tables: a value of the wrong type is an error,
-- not silently stored, so what we read back is what the PostgreSQL backend would return.

CREATE TABLE events (
    -- AUTOINCREMENT: a global id is never reused, even if the highest row were ever removed
    -- (it cannot be, see the triggers below, but exports rely on ids being monotonic).
    global_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Uuids as lowercase hyphenated text on both backends, so the stored bytes are identical.
    planning_id  TEXT    NOT NULL,
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    event_id     TEXT    NOT NULL UNIQUE,
    actor        TEXT    NOT NULL,
    client_op_id TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    -- Canonical JSON text (never re-encoded by the database).
    payload      TEXT    NOT NULL,
    -- Microseconds since the Unix epoch.
    recorded_at  INTEGER NOT NULL,
    UNIQUE (planning_id, seq)
) STRICT;

-- The per-planning head. Appends run under BEGIN IMMEDIATE (one writer at a time for the whole
-- file), so this row is not a lock here; it is the authoritative head, read in O(1).
CREATE TABLE rooms (
    planning_id TEXT    PRIMARY KEY NOT NULL,
    head        INTEGER NOT NULL CHECK (head >= 0)
) STRICT;

-- Idempotency per command: a retry of (planning, actor, client_op_id) returns the first result.
CREATE TABLE commands (
    planning_id  TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    client_op_id TEXT    NOT NULL,
    command_hash TEXT    NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    PRIMARY KEY (planning_id, actor, client_op_id)
) STRICT;

-- Events are immutable in the database itself, whoever connects to it.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: UPDATE refused');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: DELETE refused');
END;

-- `INSERT OR REPLACE` (and `REPLACE`, or an `OR REPLACE` conflict clause) deletes the
-- conflicting row *without* firing DELETE triggers unless `PRAGMA recursive_triggers = ON`.
-- The store turns that pragma on for its own connections, but a pragma is per connection: a
-- sqlite3 shell or another tool would not have it. A BEFORE INSERT trigger runs before
-- conflict resolution, so refusing any insert that would collide makes REPLACE impossible from
-- every connection. (The store never collides: it assigns seq under the write lock.)
CREATE TRIGGER events_no_replace BEFORE INSERT ON events
WHEN EXISTS (
    SELECT 1 FROM events
    WHERE (planning_id = NEW.planning_id AND seq = NEW.seq) OR global_id = NEW.global_id
)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: seq already taken');
END;

-- Same for a reused event id (kept apart so the store can tell a seq race from a caller bug).
CREATE TRIGGER events_no_replace_id BEFORE INSERT ON events
WHEN EXISTS (SELECT 1 FROM events WHERE event_id = NEW.event_id)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: event_id already stored');
END;

-- A head never moves backwards (it would make the next append reuse a seq).
CREATE TRIGGER rooms_head_monotonic BEFORE UPDATE OF head ON rooms
WHEN NEW.head < OLD.head
BEGIN
    SELECT RAISE(ABORT, 'rooms.head never decreases');
END;
