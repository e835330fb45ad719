-- Tracker connections (Jira Cloud, Jira Data Center, GitHub Issues): one per planning.
--
-- The credential (an API token, a personal access token) must be sent to the tracker later, so
-- it cannot be kept as a hash; it must not be in the event log, which every participant reads
-- and which is never deleted. So the whole connection lives here, beside the log, keyed by
-- planning: clearing the connection (or purging the planning) deletes it, and backups or
-- exports of the log alone do not carry it. `config` is the connection's JSON without the
-- credential (kind, site, field, project); `credential` is the secret part's JSON.
CREATE TABLE tracker_connections (
    planning_id  TEXT    PRIMARY KEY NOT NULL,
    config       TEXT    NOT NULL,
    credential   TEXT    NOT NULL,
    -- Microseconds since the Unix epoch.
    updated_at   INTEGER NOT NULL
) STRICT;
