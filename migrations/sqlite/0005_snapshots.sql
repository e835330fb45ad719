-- Snapshots of a planning's projection: a cache that makes loading a room and reading a past
-- state cheap (nearest snapshot at or below a seq, plus the events after it). Keyed by the
-- projection version, so a code change to the projection ignores old snapshots. Deleting rows
-- here changes no answer.
CREATE TABLE snapshots (
    planning_id         TEXT NOT NULL,
    projection_version  INTEGER NOT NULL,
    seq                 INTEGER NOT NULL,
    state               TEXT NOT NULL,
    PRIMARY KEY (planning_id, projection_version, seq)
) STRICT;
