-- The idempotency table as a WITHOUT ROWID table: its rows live in the primary-key b-tree
-- itself. A rowid table kept every command twice (the row, and the key's automatic index), so
-- each append wrote both b-trees' pages to the WAL; now it writes one. Same columns, same key,
-- same rows.
CREATE TABLE commands_new (
    planning_id  TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    client_op_id TEXT    NOT NULL,
    command_hash TEXT    NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    PRIMARY KEY (planning_id, actor, client_op_id)
) STRICT, WITHOUT ROWID;

INSERT INTO commands_new (planning_id, actor, client_op_id, command_hash, first_seq, last_seq)
SELECT planning_id, actor, client_op_id, command_hash, first_seq, last_seq FROM commands;

DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
