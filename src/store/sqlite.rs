//! The SQLite backend (the embedded default): one file, WAL, every append under `BEGIN IMMEDIATE`.
//!
//! Two pools share the file: a one-connection *write* pool that appends go through, and a
//! small *read* pool. WAL lets readers run beside the single writer without blocking it.

use super::shared::{self, CommandRow, Plan, EVENT_COLUMNS, JOB_COLUMNS};
use super::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// How long a connection waits for another connection's (or process's) write lock before
/// SQLite reports busy. Appends hold it for a few milliseconds; this only has to outlast a
/// burst of them (or a WAL checkpoint).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of the read pool. Reads never block in WAL mode; a few suffice on small machines.
const READ_CONNECTIONS: u32 = 4;

/// Rows per multi-row statement in a batch append (10 parameters per event row keeps a
/// statement far below SQLite's limit of 32,766 parameters).
const CHUNK_ROWS: usize = 256;

/// The event log in a SQLite file.
pub struct SqliteStore {
    /// One connection: in-process appends queue here instead of spinning in SQLite's busy
    /// handler; appends from other processes on the same file are serialised by the file lock.
    write: SqlitePool,
    /// Reads; the same pool as `write` for an in-memory database (see [`SqliteStore::open`]).
    read: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies the SQLite migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = Self::options(url)?;
        Self::open_with(url, options).await
    }

    /// [`SqliteStore::open`], then serving through connections with extra settings applied
    /// after ours: e.g. `max_page_count` to cap the file's size, or `query_only` (the fault
    /// tests use both to meet a full disk and a read-only database deterministically). The
    /// migrations run before, with our settings only. Not for in-memory databases.
    pub async fn open_tuned(
        url: &str,
        tune: impl FnOnce(SqliteConnectOptions) -> SqliteConnectOptions,
    ) -> StoreResult<Self> {
        let options = Self::options(url)?;
        Self::open_with(url, options.clone()).await?.close().await;
        let tuned = tune(options);
        let write = connect_first(SqlitePoolOptions::new().max_connections(1), &tuned).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(tuned)
            .await?;
        Ok(SqliteStore { write, read })
    }

    /// Our connection settings for `url`.
    fn options(url: &str) -> StoreResult<SqliteConnectOptions> {
        Ok(SqliteConnectOptions::from_str(url)?
            // A fresh `sqlite://file.db` must work without `?mode=rwc`.
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: in WAL mode NORMAL may lose the last commits on power loss; an
            // acknowledged append must survive it.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            // Without it, `INSERT OR REPLACE` deletes the conflicting event without firing the
            // DELETE trigger. (The schema also refuses colliding inserts outright, for
            // connections that do not set this pragma.)
            .pragma("recursive_triggers", "ON")
            // A multi-row INSERT into `events` may abort half-way (a constraint, a trigger's
            // RAISE), so SQLite keeps a statement journal of every page it changes; with the
            // default temp_store that journal is a temporary *file*, created, written and
            // deleted in every append (17 % of an append's CPU in a profile). In memory it is
            // only copies; the durable commit does not depend on it.
            .pragma("temp_store", "MEMORY"))
    }

    async fn open_with(url: &str, options: SqliteConnectOptions) -> StoreResult<Self> {
        // An in-memory database lives as long as one of its connections and is per pool:
        // use a single connection that never expires for both reads and writes.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut write = SqlitePoolOptions::new().max_connections(1);
        if in_memory {
            write = write
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let write = connect_first(write, &options).await?;
        // sqlx's migrator takes no lock on SQLite (its `lock()` is a no-op), so two processes
        // opening a fresh file together would both apply 0001 and one would fail with "table
        // events already exists". Run it inside our own BEGIN IMMEDIATE: the second process
        // waits for the first to commit, then sees the migration applied. (sqlx nests its
        // per-migration transactions as savepoints inside ours.)
        {
            let mut conn = write.acquire().await?;
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            sqlx::migrate!("./migrations/sqlite").run(&mut *tx).await?;
            tx.commit().await?;
        }
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READ_CONNECTIONS)
                .connect_with(options)
                .await?
        };
        let store = SqliteStore { write, read };
        store.backfill_hashes().await?;
        Ok(store)
    }

    /// Gives events written before the hash chain existed their hashes (write-once), one
    /// planning per transaction. A no-op once every event has one.
    async fn backfill_hashes(&self) -> StoreResult<()> {
        loop {
            let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
            let planning: Option<String> =
                sqlx::query_scalar("SELECT planning_id FROM events WHERE hash IS NULL LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(planning) = planning else {
                return Ok(());
            };
            let rows = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE planning_id = ? ORDER BY seq"
            ))
            .bind(&planning)
            .fetch_all(&mut *tx)
            .await?;
            let mut prev = GENESIS_HASH.to_string();
            for row in &rows {
                let e = shared::decode_event(row)?;
                if e.hash.is_empty() {
                    let hash = e.compute_hash(&prev);
                    sqlx::query("UPDATE events SET hash = ? WHERE planning_id = ? AND seq = ?")
                        .bind(&hash)
                        .bind(&planning)
                        .bind(e.seq)
                        .execute(&mut *tx)
                        .await?;
                    prev = hash;
                } else {
                    prev = e.hash;
                }
            }
            sqlx::query("UPDATE rooms SET head_hash = ? WHERE planning_id = ?")
                .bind(&prev)
                .bind(&planning)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }

    /// One attempt at appending a batch (often of one), in one `BEGIN IMMEDIATE` transaction.
    async fn try_append_all(&self, reqs: &[AppendRequest]) -> StoreResult<Vec<Appended>> {
        let Some(first) = reqs.first() else {
            return Ok(Vec::new());
        };
        // sqlx's `begin()` issues a deferred BEGIN: the transaction starts as a reader and
        // upgrades to a writer at its first INSERT. Under WAL, if another connection committed
        // in between, the upgrade fails with SQLITE_BUSY_SNAPSHOT at once (the busy timeout
        // cannot help: our snapshot is stale). BEGIN IMMEDIATE takes the write lock up front
        // (waiting up to the busy timeout), so the head we read is the head we write after.
        // If anything below fails, dropping `tx` queues a ROLLBACK on the connection before
        // it goes back to the pool.
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let planning = shared::uuid_text(first.planning_id);

        // Every request's idempotency row in one statement (row values, SQLite ≥ 3.15).
        let mut existing: HashMap<(String, String), CommandRow> = HashMap::new();
        for chunk in reqs.chunks(CHUNK_ROWS) {
            // A join from the keys, not `(actor, op) IN (VALUES …)`: SQLite plans that as a
            // search on `planning_id` alone, scanning every command of the planning (appends
            // to a 100k-command planning slowed down with its size).
            let pairs = vec!["(?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT c.actor, c.client_op_id, c.command_hash, c.first_seq, c.last_seq \
                 FROM (VALUES {pairs}) AS k JOIN commands c ON c.planning_id = ? \
                 AND c.actor = k.column1 AND c.client_op_id = k.column2"
            );
            let mut q = sqlx::query_as::<_, (String, String, String, i64, i64)>(&sql);
            for r in chunk {
                q = q.bind(shared::uuid_text(r.actor)).bind(&r.client_op_id);
            }
            q = q.bind(&planning);
            for (actor, op, command_hash, first_seq, last_seq) in q.fetch_all(&mut *tx).await? {
                existing.insert(
                    (actor, op),
                    CommandRow {
                        command_hash,
                        first_seq,
                        last_seq,
                    },
                );
            }
        }
        let (head, head_hash): (i64, Option<String>) =
            sqlx::query_as("SELECT head, head_hash FROM rooms WHERE planning_id = ?")
                .bind(&planning)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or((0, None));

        let plans = shared::plan_batch(
            reqs,
            |r| {
                existing
                    .get(&(shared::uuid_text(r.actor), r.client_op_id.clone()))
                    .cloned()
            },
            head,
        )?;
        if let [Plan::Duplicate(appended)] = plans[..] {
            tx.rollback().await?;
            return Ok(vec![appended]);
        }

        // The rows, with their chain hashes, then written a chunk of rows per statement: a
        // round trip to SQLite's worker thread per row would cost more than the rows.
        let mut prev = head_hash
            .clone()
            .unwrap_or_else(|| GENESIS_HASH.to_string());
        let mut events = Vec::new();
        let mut out = Vec::with_capacity(reqs.len());
        for (req, plan) in reqs.iter().zip(&plans) {
            let Plan::Write {
                first_seq,
                last_seq,
            } = *plan
            else {
                continue;
            };
            let hashes = shared::chain(req, &prev, first_seq);
            if let Some(h) = hashes.last() {
                prev = h.clone();
            }
            for ((seq, event), hash) in (first_seq..).zip(&req.events).zip(hashes) {
                events.push((req, seq, event, hash));
            }
            out.push(Appended {
                first_seq,
                last_seq,
                duplicate: false,
            });
        }
        let last_seq = out.last().map_or(head, |a| a.last_seq);
        let new_head_hash = if last_seq > head {
            Some(prev)
        } else {
            head_hash
        };
        for chunk in events.chunks(CHUNK_ROWS) {
            let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO events (planning_id, seq, event_id, actor, client_op_id, kind, \
                 version, payload, recorded_at, hash) VALUES {rows}"
            );
            let mut q = sqlx::query(&sql);
            for (req, seq, event, hash) in chunk {
                q = q
                    .bind(&planning)
                    .bind(*seq)
                    .bind(shared::uuid_text(event.event_id))
                    .bind(shared::uuid_text(req.actor))
                    .bind(&req.client_op_id)
                    .bind(&event.kind)
                    .bind(event.version)
                    .bind(&event.payload)
                    .bind(req.recorded_at)
                    .bind(hash);
            }
            q.execute(&mut *tx).await?;
        }
        // Upsert: a zero-event command on a new planning still creates its head row (at 0).
        sqlx::query(
            "INSERT INTO rooms (planning_id, head, head_hash) VALUES (?, ?, ?) \
             ON CONFLICT (planning_id) DO UPDATE SET head = excluded.head, \
             head_hash = excluded.head_hash",
        )
        .bind(&planning)
        .bind(last_seq)
        .bind(&new_head_hash)
        .execute(&mut *tx)
        .await?;
        let recorded: Vec<_> = reqs.iter().zip(&out).collect();
        for chunk in recorded.chunks(CHUNK_ROWS) {
            let rows = vec!["(?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO commands (planning_id, actor, client_op_id, command_hash, \
                 first_seq, last_seq) VALUES {rows}"
            );
            let mut q = sqlx::query(&sql);
            for (req, a) in chunk {
                q = q
                    .bind(&planning)
                    .bind(shared::uuid_text(req.actor))
                    .bind(&req.client_op_id)
                    .bind(&req.command_hash)
                    .bind(a.first_seq)
                    .bind(a.last_seq);
            }
            q.execute(&mut *tx).await?;
        }
        for job in reqs.iter().flat_map(|r| &r.jobs) {
            sqlx::query(
                "INSERT INTO jobs (key, planning_id, kind, payload, due_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&job.key)
            .bind(shared::uuid_text(job.planning_id))
            .bind(&job.kind)
            .bind(&job.payload)
            .bind(job.due_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(out)
    }
}

/// Opens the write pool (and with it the first connection to the file).
///
/// Switching a new database to WAL needs an exclusive lock that SQLite does not wait for with
/// the busy timeout (see `SqliteConnectOptions::journal_mode`), so processes creating the same
/// file together can get SQLITE_BUSY here; once the file is in WAL mode the pragma is a no-op.
/// Retry for up to the busy timeout.
async fn connect_first(
    pool: SqlitePoolOptions,
    options: &SqliteConnectOptions,
) -> Result<SqlitePool, sqlx::Error> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(db))
                if is_busy(db.as_ref()) && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// SQLITE_BUSY, whatever its extended code (the primary code is the low byte).
fn is_busy(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code()
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| c & 0xff == 5)
}

/// Whether `err` says another writer already took this seq or this command's key: a unique
/// violation on `events(planning_id, seq)` / `commands`' key, or the schema's
/// `events_no_replace` trigger (which fires before the unique index is consulted).
/// A reused `event_id` is not a collision but a caller bug, and stays a database error.
fn is_collision(err: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = err else {
        return false;
    };
    let msg = db.message();
    if msg.contains("event_id") {
        return false;
    }
    db.is_unique_violation() || msg.contains("seq already taken")
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, req: AppendRequest) -> StoreResult<Appended> {
        let mut out = self.append_batch(vec![req]).await?;
        out.pop()
            .ok_or_else(|| StoreError::Unsupported("an append returned no result".into()))
    }

    async fn append_batch(&self, reqs: Vec<AppendRequest>) -> StoreResult<Vec<Appended>> {
        for _ in 0..shared::MAX_COLLISION_RETRIES {
            match self.try_append_all(&reqs).await {
                Err(e) if is_collision(&e) => continue,
                other => return other,
            }
        }
        let Some(first) = reqs.first() else {
            return Ok(Vec::new());
        };
        Err(StoreError::Conflict {
            expected: first.expected_seq,
            head: self.head(first.planning_id).await?,
        })
    }

    async fn read(
        &self,
        planning_id: Uuid,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE planning_id = ? AND seq > ? \
             ORDER BY seq LIMIT ?"
        ))
        .bind(shared::uuid_text(planning_id))
        .bind(after)
        .bind(shared::clamp_limit(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(shared::decode_event)
            .collect::<Result<_, _>>()?)
    }

    async fn find_command(
        &self,
        planning_id: Uuid,
        actor: Uuid,
        client_op_id: &str,
    ) -> StoreResult<Option<CommandRecord>> {
        let row: Option<CommandRow> = sqlx::query_as(
            "SELECT command_hash, first_seq, last_seq FROM commands \
             WHERE planning_id = ? AND actor = ? AND client_op_id = ?",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(shared::uuid_text(actor))
        .bind(client_op_id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(|r| CommandRecord {
            command_hash: r.command_hash,
            first_seq: r.first_seq,
            last_seq: r.last_seq,
        }))
    }

    async fn claim_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        kinds: JobKinds<'_>,
    ) -> StoreResult<Vec<Job>> {
        let (mode, kind) = kinds.binds();
        // One statement, so it runs under the write lock: two instances (processes) on the
        // same file take turns and never claim the same job. Numbered parameters, bound in
        // order: positional `?` made it easy to bind `now` as the new lease and the lease as
        // the due limit (an earlier bug claimed not-yet-due jobs and never leased them).
        // A lease ends at `lease_until` (`<=`), the time `next_job_due` reports.
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET lease_until = ?2 WHERE key IN (\
               SELECT key FROM jobs WHERE done_at IS NULL AND due_at <= ?1 \
               AND (lease_until IS NULL OR lease_until <= ?1) \
               AND (?4 = 0 OR (?4 = 1 AND kind = ?5) OR (?4 = 2 AND kind <> ?5)) \
               ORDER BY due_at, key LIMIT ?3) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(shared::clamp_limit(limit))
        .bind(mode)
        .bind(kind)
        .fetch_all(&self.write)
        .await?;
        let mut jobs: Vec<Job> = rows
            .iter()
            .map(shared::decode_job)
            .collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
        Ok(jobs)
    }

    async fn complete_job(&self, key: &str, at: i64) -> StoreResult<()> {
        // Numbered parameters: the positional version bound `key` to `done_at` (refused by
        // the STRICT table, so no job could ever be completed on SQLite).
        sqlx::query("UPDATE jobs SET done_at = ?2 WHERE key = ?1")
            .bind(key)
            .bind(at)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn retry_job(&self, key: &str, next_due: i64, attempts: i32) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET due_at = ?2, attempts = ?3, lease_until = NULL \
             WHERE key = ?1 AND done_at IS NULL",
        )
        .bind(key)
        .bind(next_due)
        .bind(attempts)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn fail_job(&self, key: &str, at: i64, attempts: i32, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET done_at = ?2, attempts = ?3, failed = 1, last_error = ?4 \
             WHERE key = ?1",
        )
        .bind(key)
        .bind(at)
        .bind(attempts)
        .bind(error)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn job_status(&self, key: &str) -> StoreResult<Option<JobStatus>> {
        let row: Option<(i64, i32, Option<i64>, i64, Option<String>)> = sqlx::query_as(
            "SELECT due_at, attempts, done_at, failed, last_error FROM jobs WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(
            |(due_at, attempts, done_at, failed, last_error)| JobStatus {
                due_at,
                attempts,
                done_at,
                failed: failed != 0,
                last_error,
            },
        ))
    }

    async fn put_webhook_secret(
        &self,
        planning_id: Uuid,
        webhook_id: Uuid,
        secret: &str,
        at: i64,
    ) -> StoreResult<String> {
        let webhook = shared::uuid_text(webhook_id);
        sqlx::query(
            "INSERT INTO webhook_secrets (webhook_id, planning_id, secret, created_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(&webhook)
        .bind(shared::uuid_text(planning_id))
        .bind(secret)
        .bind(at)
        .execute(&self.write)
        .await?;
        // Read back on the write connection: the read pool may not see the insert yet.
        let stored: String =
            sqlx::query_scalar("SELECT secret FROM webhook_secrets WHERE webhook_id = ?")
                .bind(&webhook)
                .fetch_one(&self.write)
                .await?;
        Ok(stored)
    }

    async fn webhook_secret(&self, webhook_id: Uuid) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT secret FROM webhook_secrets WHERE webhook_id = ?")
                .bind(shared::uuid_text(webhook_id))
                .fetch_optional(&self.read)
                .await?,
        )
    }

    async fn delete_webhook_secret(&self, webhook_id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM webhook_secrets WHERE webhook_id = ?")
            .bind(shared::uuid_text(webhook_id))
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn next_job_due(&self, kinds: JobKinds<'_>) -> StoreResult<Option<i64>> {
        let (mode, kind) = kinds.binds();
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at \
             THEN lease_until ELSE due_at END) FROM jobs WHERE done_at IS NULL \
             AND (?1 = 0 OR (?1 = 1 AND kind = ?2) OR (?1 = 2 AND kind <> ?2))",
        )
        .bind(mode)
        .bind(kind)
        .fetch_one(&self.read)
        .await?;
        Ok(next)
    }

    async fn save_snapshot(
        &self,
        planning_id: Uuid,
        projection_version: i32,
        seq: i64,
        state: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO snapshots (planning_id, projection_version, seq, state) \
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(projection_version)
        .bind(seq)
        .bind(state)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn load_snapshot(
        &self,
        planning_id: Uuid,
        projection_version: i32,
        at_or_below: i64,
    ) -> StoreResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT seq, state FROM snapshots WHERE planning_id = ? \
             AND projection_version = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(projection_version)
        .bind(at_or_below)
        .fetch_optional(&self.read)
        .await?)
    }

    async fn delete_snapshots(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM snapshots")
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn purge(&self, planning_id: Uuid, at: i64) -> StoreResult<i64> {
        let planning = shared::uuid_text(planning_id);
        let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
        let (head, head_hash): (i64, Option<String>) =
            sqlx::query_as("SELECT head, head_hash FROM rooms WHERE planning_id = ?1")
                .bind(&planning)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or((0, None));
        // The guard comes off for this one statement, inside the transaction: no other
        // connection can write meanwhile (BEGIN IMMEDIATE), and a failure rolls it all back.
        sqlx::query("DROP TRIGGER events_no_delete")
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM events WHERE planning_id = ?1")
            .bind(&planning)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "CREATE TRIGGER events_no_delete BEFORE DELETE ON events \
             BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END",
        )
        .execute(&mut *tx)
        .await?;
        for table in ["rooms", "commands", "jobs", "snapshots", "webhook_secrets"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE planning_id = ?1"))
                .bind(&planning)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO purges (planning_id, purged_at, events, head_hash) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&planning)
        .bind(at)
        .bind(head)
        .bind(&head_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed as i64)
    }

    async fn backup(&self, path: &str) -> StoreResult<()> {
        // VACUUM INTO writes a consistent snapshot of the live database (a reader under WAL).
        sqlx::query("VACUUM INTO ?1")
            .bind(path)
            .execute(&self.read)
            .await?;
        Ok(())
    }

    async fn head(&self, planning_id: Uuid) -> StoreResult<i64> {
        let head: Option<i64> = sqlx::query_scalar("SELECT head FROM rooms WHERE planning_id = ?")
            .bind(shared::uuid_text(planning_id))
            .fetch_optional(&self.read)
            .await?;
        Ok(head.unwrap_or(0))
    }

    async fn read_all(&self, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_id > ? ORDER BY global_id LIMIT ?"
        ))
        .bind(after)
        .bind(shared::clamp_limit(limit))
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .iter()
            .map(shared::decode_event)
            .collect::<Result<_, _>>()?)
    }

    async fn plannings(&self) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT planning_id FROM rooms WHERE head > 0 ORDER BY planning_id")
                .fetch_all(&self.read)
                .await?;
        Ok(shared::decode_plannings(ids)?)
    }

    async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's own connections run with `recursive_triggers` on: even if the schema's
    /// BEFORE INSERT guards were missing, REPLACE through them fires the DELETE trigger.
    #[tokio::test]
    async fn replace_through_store_connections_fires_the_delete_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        for pool in [&store.write, &store.read] {
            let on: i64 = sqlx::query_scalar("PRAGMA recursive_triggers")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(on, 1);
        }

        let p = Uuid::new_v4();
        let req = AppendRequest {
            planning_id: p,
            expected_seq: 0,
            actor: Uuid::nil(),
            client_op_id: "op".into(),
            command_hash: "h".into(),
            recorded_at: 1,
            jobs: Vec::new(),
            events: vec![NewEvent {
                event_id: Uuid::new_v4(),
                kind: "K".into(),
                version: 1,
                payload: "{}".into(),
            }],
        };
        store.append(req).await.unwrap();
        let before = store.read(p, 0, 10).await.unwrap();

        for trigger in ["events_no_replace", "events_no_replace_id"] {
            sqlx::query(&format!("DROP TRIGGER {trigger}"))
                .execute(&store.write)
                .await
                .unwrap();
        }
        let err = sqlx::query(
            "INSERT OR REPLACE INTO events (planning_id, seq, event_id, actor, client_op_id, \
             kind, version, payload, recorded_at) VALUES (?, 1, ?, ?, 'evil', 'X', 1, '{}', 0)",
        )
        .bind(shared::uuid_text(p))
        .bind(shared::uuid_text(Uuid::new_v4()))
        .bind(shared::uuid_text(Uuid::nil()))
        .execute(&store.write)
        .await
        .unwrap_err();
        assert!(err.to_string().contains("DELETE refused"), "{err}");
        assert_eq!(store.read(p, 0, 10).await.unwrap(), before);
        store.close().await;
    }
}
