//! The SQLite backend (the embedded default): one file, WAL, every append under `BEGIN IMMEDIATE`.
//!
//! Two pools share the file: a one-connection *write* pool that appends go through, and a
//! small *read* pool. WAL lets readers run beside the single writer without blocking it.

use super::shared::{self, AppendTx, CommandRow, Existing, Planned, Rows, Span, Written};
use super::sql::SqlBackend;
use super::wal::Wal;
pub use super::wal::{WalBounds, WalStats};
use super::*;
use sqlx::pool::{PoolConnection, PoolConnectionMetadata};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous, SqliteTransactionManager,
};
use sqlx::{Connection, Row, TransactionManager};
use std::str::FromStr;
use std::time::Duration;

/// How long a connection waits for another connection's (or process's) write lock before
/// SQLite reports busy. Appends hold it for a few milliseconds; this only has to outlast a
/// burst of them (or a WAL checkpoint).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections of the read pool. Reads never block in WAL mode; a few suffice on small machines.
const READ_CONNECTIONS: u32 = 4;

/// Statement texts the write connection keeps prepared (sqlx's default is 100). A group commit's
/// texts used to depend on its number of commands and events (multi-row `VALUES`), so a busy
/// room's writer met a new text for nearly every batch size and kept the last 100 prepared:
/// 2.7 MB of SQLite's memory (243 prepared statements, the largest item of a 100-member vote
/// stream's heap in a heaptrack profile). An append is now two texts whatever its size
/// ([`READ_TEXT`], [`WRITE_TEXT`]); the bound still holds the other statements of the write
/// connection (the scheduler's, purges, imports) to a small set.
const WRITE_STATEMENTS: usize = 24;

/// Page cache of each connection, in KiB (SQLite's default is 2,000 KiB). The log is written at
/// its tail and read in sequence (a room's load, a replay), so a big cache holds pages that are
/// seldom used again: a 100-member vote stream filled the write and read connections' caches
/// to 2.6 MB within seconds, 26 KiB per connection of the room (issue 22), held for the
/// server's life. 256 KiB keeps the B-trees' interior pages (a few per MB of index); the
/// leaves an insert touches by chance (the event id's and the op id's indexes) come from the
/// operating system's file cache, which holds them once for every connection.
const PAGE_CACHE_KIB: i64 = 256;

/// The event log in a SQLite file.
pub struct SqliteStore {
    /// One connection: in-process appends queue here instead of spinning in SQLite's busy
    /// handler; appends from other processes on the same file are serialised by the file lock.
    write: SqlitePool,
    /// Reads; the same pool as `write` for an in-memory database (see [`SqliteStore::open`]).
    read: SqlitePool,
    /// The checkpoint task and the WAL's hard bound (none for an in-memory database).
    wal: Option<Wal>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies the SQLite migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_bounded(url, WalBounds::default()).await
    }

    /// [`SqliteStore::open`] with the WAL checkpointed at `bounds` (see `store::wal`).
    pub async fn open_bounded(url: &str, bounds: WalBounds) -> StoreResult<Self> {
        let options = Self::options(url, &bounds)?;
        Self::open_with(url, options, bounds).await
    }

    /// Checkpoints done so far by this store (none for an in-memory database).
    pub fn wal_stats(&self) -> Option<&WalStats> {
        self.wal.as_ref().map(Wal::stats)
    }

    /// [`SqliteStore::open`], then serving through connections with extra settings applied
    /// after ours: e.g. `max_page_count` to cap the file's size, or `query_only` (the fault
    /// tests use both to meet a full disk and a read-only database deterministically). The
    /// migrations run before, with our settings only. Not for in-memory databases.
    pub async fn open_tuned(
        url: &str,
        tune: impl FnOnce(SqliteConnectOptions) -> SqliteConnectOptions,
    ) -> StoreResult<Self> {
        let bounds = WalBounds::default();
        let options = Self::options(url, &bounds)?;
        Self::open_with(url, options.clone(), bounds)
            .await?
            .close()
            .await;
        let tuned = tune(options);
        let write = connect_first(write_pool_options(), &writer(&tuned)).await?;
        let read = pool_options(READ_CONNECTIONS)
            .connect_with(named(&tuned, "read"))
            .await?;
        let wal = Some(Wal::start(&tuned, bounds).await?);
        Ok(SqliteStore { write, read, wal })
    }

    /// Our connection settings for `url`.
    fn options(url: &str, bounds: &WalBounds) -> StoreResult<SqliteConnectOptions> {
        let options = SqliteConnectOptions::from_str(url)?
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
            .pragma("temp_store", "MEMORY")
            .pragma("cache_size", (-PAGE_CACHE_KIB).to_string());
        // Checkpoints run beside the appends, not inside one (see `store::wal`).
        Ok(Wal::tune(options, bounds))
    }

    async fn open_with(
        url: &str,
        options: SqliteConnectOptions,
        bounds: WalBounds,
    ) -> StoreResult<Self> {
        // An in-memory database lives as long as one of its connections and is per pool:
        // use a single connection that never expires for both reads and writes.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_private(options.get_filename());
        }
        let mut write = write_pool_options();
        if in_memory {
            write = write
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let write = connect_first(write, &writer(&options)).await?;
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
        let (read, wal) = if in_memory {
            (write.clone(), None)
        } else {
            let read = pool_options(READ_CONNECTIONS)
                .connect_with(named(&options, "read"))
                .await?;
            (read, Some(Wal::start(&options, bounds).await?))
        };
        let store = SqliteStore { write, read, wal };
        store.backfill_hashes().await?;
        Ok(store)
    }
}

/// Creates the database file readable and writable by its owner only (0600) if it is missing:
/// it holds webhook secrets and the server's key. SQLite gives the `-wal` and `-shm` files it
/// creates beside it the database file's mode. An existing file keeps its mode; a file that
/// cannot be created here is left to SQLite, which reports why.
fn create_private(path: &std::path::Path) {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    if let Err(e) = open.open(path) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            tracing::debug!(error = %e, "could not create the database file ahead of SQLite");
        }
    }
}

/// The write connection's settings: `options` with a bounded statement cache
/// ([`WRITE_STATEMENTS`]), its thread named `sqlite-write-N`.
fn writer(options: &SqliteConnectOptions) -> SqliteConnectOptions {
    named(options, "write").statement_cache_capacity(WRITE_STATEMENTS)
}

/// A pool of up to `max` connections that come back from a failed transaction ready for the
/// next one (see [`settle_transaction`]).
fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .after_release(|conn, _: PoolConnectionMetadata| Box::pin(settle_transaction(conn)))
}

/// The write pool: one connection, handed out without the ping sqlx sends by default to
/// check a connection before handing it out. The ping is a message to the connection's
/// thread and back before every append (see [`OpenAppend`]), and it checks for a peer that
/// may have gone away, which an in-process SQLite connection does not have; a connection
/// whose thread died fails its append's texts, and the append then closes it.
fn write_pool_options() -> SqlitePoolOptions {
    pool_options(1).test_before_acquire(false)
}

/// `options` with the connection threads named after their pool (`sqlite-write-N`,
/// `sqlite-read-N`): a profile then shows which pool's thread the time is on, and a test can
/// count the write thread's switches.
fn named(options: &SqliteConnectOptions, pool: &'static str) -> SqliteConnectOptions {
    options
        .clone()
        .thread_name(move |id| format!("sqlite-{pool}-{id}"))
}

/// Brings a connection handed back to its pool out of any transaction sqlx still counts, so
/// the next `BEGIN IMMEDIATE` on it works; `false` (close it) if that cannot be done.
///
/// SQLite rolls a transaction back by itself when a write fails on a full disk or an I/O
/// error (at COMMIT, writing the WAL). The `ROLLBACK` sqlx then sends for the dropped
/// transaction fails ("no transaction is active") and sqlx keeps counting the transaction as
/// open: every later `begin_with` on the connection failed ("attempted to call begin_with at
/// non-zero transaction depth") — every write, until a restart, even once the disk had room.
async fn settle_transaction(conn: &mut SqliteConnection) -> Result<bool, sqlx::Error> {
    if !conn.is_in_transaction() {
        return Ok(true); // the common case, without a round trip to the connection's thread
    }
    // A dropped transaction's rollback may still be queued on the connection: let it run.
    conn.ping().await?;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    if SqliteTransactionManager::rollback(conn).await.is_err() {
        // SQLite has no transaction to roll back: open one for sqlx's count to close.
        sqlx::Executor::execute(&mut *conn, "BEGIN").await?;
        SqliteTransactionManager::rollback(conn).await?;
    }
    Ok(!conn.is_in_transaction())
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
    // The bound and the sleeps on one clock (tokio's), so a paused test clock cannot spin here.
    let deadline = tokio::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match pool.clone().connect_with(options.clone()).await {
            Err(sqlx::Error::Database(db))
                if is_busy(db.as_ref()) && tokio::time::Instant::now() < deadline =>
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

impl AppendTx for SqliteStore {
    /// One attempt at appending a batch (often of one), in one `BEGIN IMMEDIATE` transaction
    /// sent to SQLite's thread as two texts: begin and read, then write and commit (see
    /// [`OpenAppend`]).
    async fn try_append_all(&self, reqs: &[AppendRequest]) -> StoreResult<Written> {
        let Some(first) = reqs.first() else {
            return Ok(Written::Rows(Rows::default()));
        };
        if let Some(wal) = self.wal.as_ref().filter(|w| w.over_hard_bound()) {
            wal.force(&self.write).await?;
        }
        let mut tx = OpenAppend::new(self.write.acquire().await?);
        let planning = shared::uuid_text(first.planning_id);
        let read = begin_and_read(&mut tx, &planning, reqs).await;
        let (head, head_hash, existing) = tx.settle(read).await?;
        let planned = tx.settle(shared::plan_batch(reqs, &existing, head)).await?;
        let spans = match planned {
            Planned::Duplicate(span) => {
                tx.rollback().await?;
                return Ok(Written::Duplicate(span));
            }
            Planned::Write(spans) => spans,
        };

        let hashes = shared::chain_all(reqs, &spans, head_hash.as_deref());
        let last_seq = spans.last().map_or(head, |s| s.last_seq);
        let new_head = if last_seq > head {
            (last_seq, hashes.last().cloned())
        } else {
            (head, head_hash)
        };
        let batch = Batch {
            planning: &planning,
            reqs,
            spans: &spans,
            hashes: &hashes,
        };
        let written = write_and_commit(&mut tx, &batch, new_head).await;
        let global_ids = tx.settle(written).await?;
        tx.committed();
        if let Some(wal) = &self.wal {
            wal.committed();
        }
        Ok(Written::Rows(Rows {
            spans,
            hashes,
            global_ids,
        }))
    }

    /// Whether `err` says another writer already took this seq or this command's key: a
    /// unique violation on `events(planning_id, seq)` / `commands`' key, or the schema's
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
}

/// The write connection while an append's transaction may be open on it.
///
/// The transaction is begun and ended by the append's own texts, not by sqlx's transaction
/// manager: each statement sqlx runs is a message to the connection's thread and an answer
/// back, and its `BEGIN` and `COMMIT` are each one the thread also waits on until the answer
/// is taken (a custom `BEGIN IMMEDIATE` adds a third, to check it); the pool's ping before
/// handing the connection out was one more. A profile of the reveal cycle had a fifth of the
/// server's samples switching threads for them. Here an append is two texts, so two hand-offs:
/// `BEGIN IMMEDIATE` and the reads, then the writes and `COMMIT` (the tables are read before
/// anything is decided, and the rows to write depend on what was read).
///
/// sqlx does not count these transactions, so this guard answers for them: a failed text is
/// rolled back here before the connection goes back to its pool, and a connection dropped with
/// its transaction possibly open (a cancelled append, a rollback that failed) is closed
/// instead of returned: closing it rolls the transaction back, and the pool opens a new one.
struct OpenAppend {
    conn: PoolConnection<Sqlite>,
    /// Whether a transaction may be open on `conn` (a text that begins one was sent).
    open: bool,
}

impl OpenAppend {
    fn new(conn: PoolConnection<Sqlite>) -> Self {
        OpenAppend { conn, open: false }
    }

    /// The connection, for a text that may begin a transaction.
    fn begin(&mut self) -> &mut SqliteConnection {
        self.open = true;
        &mut self.conn
    }

    /// The connection, inside the transaction.
    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// The transaction ended with the text that committed it.
    fn committed(&mut self) {
        self.open = false;
    }

    /// `result`, after rolling back if it is an error.
    async fn settle<T, E: Into<StoreError>>(&mut self, result: Result<T, E>) -> StoreResult<T> {
        match result {
            Ok(value) => Ok(value),
            Err(e) => {
                // The append's own error is the one to report; a failed rollback closes the
                // connection (see `Drop`).
                let _ = self.rollback().await;
                Err(e.into())
            }
        }
    }

    /// Rolls the transaction back, if SQLite still has one (it ends it by itself after some
    /// errors, such as a full disk at commit).
    async fn rollback(&mut self) -> Result<(), sqlx::Error> {
        match sqlx::Executor::execute(&mut *self.conn, "ROLLBACK").await {
            Ok(_) => {}
            Err(sqlx::Error::Database(db)) if db.message().contains("no transaction is active") => {
            }
            Err(e) => return Err(e),
        }
        self.open = false;
        Ok(())
    }
}

impl Drop for OpenAppend {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// The text that begins an append's transaction and reads the planning's `(head, head_hash)`
/// and every request's idempotency row, by `(actor, client_op_id)`: one text, one hand-off to
/// SQLite's thread. The keys come as one JSON array parameter (`[[actor, op], …]`), so the
/// text is the same for every batch size and stays prepared (see [`WRITE_TEXT`]).
///
/// A join from the keys, not `(actor, op) IN (…)`: SQLite plans that as a search on
/// `planning_id` alone, scanning every command of the planning (appends to a 100k-command
/// planning slowed down with its size); `json_each` drives the join (`CROSS JOIN` keeps that
/// order: left to itself, SQLite puts the commands outside and scans them), each key a
/// search of the primary key.
const READ_TEXT: &str =
    "BEGIN IMMEDIATE; SELECT head, head_hash FROM rooms WHERE planning_id = ?; \
     SELECT c.actor, c.client_op_id, c.command_hash, c.first_seq, c.last_seq \
     FROM json_each(?) AS k CROSS JOIN commands c ON c.planning_id = ? \
     AND c.actor = k.value ->> 0 AND c.client_op_id = k.value ->> 1;";

/// The text that writes a batch and commits it (see [`write_and_commit`]). Each table's rows
/// come as one JSON array parameter (a row an array of its columns, in array order: `ORDER BY
/// key`), so the text is one for every batch size: SQLite prepares it once. A text per batch
/// size (multi-row `VALUES`) was prepared again for nearly every group commit of a busy room,
/// since the statement cache is bounded ([`WRITE_STATEMENTS`]): 4-5 % of a 100-member vote
/// stream's server samples were SQLite's parser. `->>` gives back a JSON string's exact text
/// and a JSON integer as an integer, so the rows are the ones binding each value wrote.
const WRITE_TEXT: &str = "INSERT INTO rooms (planning_id, head, head_hash) VALUES (?, ?, ?) \
     ON CONFLICT (planning_id) DO UPDATE SET head = excluded.head, head_hash = excluded.head_hash; \
     INSERT INTO commands (planning_id, actor, client_op_id, command_hash, first_seq, last_seq) \
     SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 \
     FROM json_each(?) ORDER BY key; \
     INSERT INTO jobs (key, planning_id, kind, payload, due_at) \
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 \
     FROM json_each(?) WHERE true ORDER BY key ON CONFLICT (key) DO NOTHING; \
     INSERT INTO events (planning_id, seq, event_id, actor, client_op_id, kind, version, \
     payload, recorded_at, hash) \
     SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
     value ->> 6, value ->> 7, value ->> 8 FROM json_each(?) ORDER BY key; \
     COMMIT;";

/// Begins the append's transaction and reads the planning's `(head, head_hash)` and every
/// request's idempotency row ([`READ_TEXT`]).
///
/// `BEGIN IMMEDIATE`, not a deferred `BEGIN`: a deferred transaction starts as a reader and
/// upgrades at its first INSERT; under WAL, if another connection committed in between, the
/// upgrade fails with SQLITE_BUSY_SNAPSHOT at once (the busy timeout cannot help: the snapshot
/// is stale). IMMEDIATE takes the write lock up front (waiting up to the busy timeout), so the
/// head read is the head written after.
async fn begin_and_read(
    tx: &mut OpenAppend,
    planning: &str,
    reqs: &[AppendRequest],
) -> Result<(i64, Option<String>, Existing), sqlx::Error> {
    let keys: Vec<(String, &str)> = reqs
        .iter()
        .map(|r| (shared::uuid_text(r.actor), r.client_op_id.as_str()))
        .collect();
    let q = sqlx::query(READ_TEXT)
        .bind(planning)
        .bind(json_rows(&keys))
        .bind(planning);
    let (mut head, mut head_hash, mut existing) = (0, None, Existing::new());
    for row in q.fetch_all(tx.begin()).await? {
        // The head's row has two columns, a command's five.
        if row.columns().len() == 2 {
            (head, head_hash) = (row.try_get(0)?, row.try_get(1)?);
            continue;
        }
        existing.insert(
            (row.try_get(0)?, row.try_get(1)?),
            CommandRow {
                command_hash: row.try_get(2)?,
                first_seq: row.try_get(3)?,
                last_seq: row.try_get(4)?,
            },
        );
    }
    Ok((head, head_hash, existing))
}

/// Rows as one JSON array parameter for `json_each` (tuples serialise as arrays).
fn json_rows<T: serde::Serialize>(rows: &[T]) -> String {
    // Strings and integers only: serialising them cannot fail.
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_string())
}

/// A planned batch, as [`write_and_commit`] records it.
struct Batch<'a> {
    planning: &'a str,
    reqs: &'a [AppendRequest],
    spans: &'a [Span],
    /// Per event, in seq order, its chain hash.
    hashes: &'a [String],
}

/// Writes a batch and commits it, in one text and so one hand-off to SQLite's thread
/// ([`WRITE_TEXT`]): the planning's new `head` row (an upsert: a zero-event command on a new
/// planning still creates it, at 0), each command's idempotency row, the scheduler jobs the
/// batch calls for (an outbox; a job whose key exists already is left as it is), the events
/// with their chain hashes, then `COMMIT` (durable: `synchronous = FULL`). Returns the events'
/// global ids in seq order.
async fn write_and_commit(
    tx: &mut OpenAppend,
    batch: &Batch<'_>,
    head: (i64, Option<String>),
) -> Result<Vec<i64>, sqlx::Error> {
    let commands: Vec<_> = batch
        .reqs
        .iter()
        .zip(batch.spans)
        .map(|(req, span)| {
            let actor = shared::uuid_text(req.actor);
            (
                actor,
                &req.client_op_id,
                &req.command_hash,
                span.first_seq,
                span.last_seq,
            )
        })
        .collect();
    let jobs: Vec<_> = batch
        .reqs
        .iter()
        .flat_map(|r| &r.jobs)
        .map(|j| {
            let planning = shared::uuid_text(j.planning_id);
            (&j.key, planning, &j.kind, &j.payload, j.due_at)
        })
        .collect();
    let events: Vec<_> = batch
        .reqs
        .iter()
        .zip(batch.spans)
        .flat_map(|(req, span)| (span.first_seq..).zip(&req.events).map(move |e| (req, e)))
        .zip(batch.hashes)
        .map(|((req, (seq, e)), hash)| {
            let ids = (shared::uuid_text(e.event_id), shared::uuid_text(req.actor));
            (
                seq,
                ids.0,
                ids.1,
                &req.client_op_id,
                &e.kind,
                e.version,
                &e.payload,
                req.recorded_at,
                hash,
            )
        })
        .collect();
    let q = sqlx::query(WRITE_TEXT)
        .bind(batch.planning)
        .bind(head.0)
        .bind(head.1)
        .bind(batch.planning)
        .bind(json_rows(&commands))
        .bind(json_rows(&jobs))
        .bind(batch.planning)
        .bind(json_rows(&events));
    // The events last before COMMIT: the text's result carries the connection's last inserted
    // rowid, which COMMIT leaves as the last event's.
    let last = q.execute(tx.conn()).await?.last_insert_rowid();
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // `global_id` is an AUTOINCREMENT rowid: each event row takes the next id, in the array's
    // order, and the write lock keeps every other writer out, so the batch's ids are the run
    // that ends at the last inserted rowid.
    let n = events.len() as i64;
    Ok((last - n + 1..=last).collect())
}

impl SqlBackend for SqliteStore {
    type Db = Sqlite;
    const HEAD_FOR_WRITE: &'static str = "SELECT head, head_hash FROM rooms WHERE planning_id = $1";
    const CLAIM_LOCK: &'static str = "";
    const GUARD_OFF: &'static str = "DROP TRIGGER events_no_delete";
    const GUARD_ON: &'static str = "CREATE TRIGGER events_no_delete BEFORE DELETE ON events \
         BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END";

    fn writer(&self) -> &SqlitePool {
        &self.write
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        self.write.begin_with("BEGIN IMMEDIATE").await
    }

    async fn feed(&self) -> StoreResult<Option<Box<dyn HeadFeed>>> {
        Ok(None)
    }

    fn stop_tasks(&self) {
        if let Some(wal) = &self.wal {
            wal.stop();
        }
    }

    async fn backup_to(&self, path: &str) -> StoreResult<()> {
        // VACUUM INTO writes a consistent snapshot of the live database (a reader under WAL).
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.read)
            .await?;
        Ok(())
    }
}

super::sql::sql_stores!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduler's next-due lookup reads the first row of an index per part, never every
    /// pending job (`sql::NEXT_DUE`; an `EXPLAIN` does not show the `LIMIT 1` stopping the walk,
    /// so this holds the plan to the two indexes, without a sort or a plain scan of the table).
    #[tokio::test]
    async fn the_next_due_job_is_found_from_the_first_row_of_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let (mode, kind, other) = JobKinds::Among("close_round", "timer").binds();
        let rows = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::super::sql::NEXT_DUE
        ))
        .bind(mode)
        .bind(kind)
        .bind(other)
        .fetch_all(&store.read)
        .await
        .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        let has = |s: &str| plan.iter().any(|d| d.contains(s));
        assert!(has("USING INDEX jobs_pending"), "{plan:#?}");
        assert!(has("USING INDEX jobs_leased"), "{plan:#?}");
        assert!(!has("TEMP B-TREE"), "no sort: {plan:#?}");
        assert!(
            !plan.iter().any(|d| d == "SCAN jobs"),
            "no scan of the table: {plan:#?}"
        );
        store.close().await;
    }

    /// Every connection of the store (write, read, and the one tuned for a test) keeps a page
    /// cache of [`PAGE_CACHE_KIB`], not SQLite's 2,000 KiB.
    #[tokio::test]
    async fn connections_keep_a_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let tuned = SqliteStore::open_tuned(&url, |o| o).await.unwrap();
        for pool in [&store.write, &store.read, &tuned.write, &tuned.read] {
            let kib: i64 = sqlx::query_scalar("PRAGMA cache_size")
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(kib, -PAGE_CACHE_KIB);
        }
        tuned.close().await;
        store.close().await;
    }

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
        store.append(command(p, 0, "op".into())).await.unwrap();
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

    /// A one-event command by `actor` as op `op`, expecting `seq`.
    fn command(p: Uuid, seq: i64, op: String) -> AppendRequest {
        AppendRequest {
            planning_id: p,
            expected_seq: seq,
            actor: Uuid::nil(),
            client_op_id: op,
            command_hash: "h".into(),
            recorded_at: 1,
            jobs: Vec::new(),
            events: vec![NewEvent {
                event_id: Uuid::new_v4(),
                kind: "K".into(),
                version: 1,
                payload: "{}".into(),
            }],
        }
    }

    /// Group commits of every size from 1 to 80 (as a busy room's writer makes them) prepare
    /// no text beyond the ones the first append prepared: the append's texts do not depend on
    /// the batch's size, so SQLite parses them once, not per group commit (and the bounded
    /// cache, [`WRITE_STATEMENTS`], is never cycled by them).
    #[tokio::test]
    async fn group_commits_of_every_size_reuse_the_first_appends_prepared_texts() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let p = Uuid::new_v4();
        store.append(command(p, 0, "first".into())).await.unwrap();
        let conn = store.write.acquire().await.unwrap();
        let after_first = conn.cached_statements_size();
        drop(conn);
        let mut head = 1;
        for size in 1..=80 {
            let batch = (0..size)
                .map(|i| {
                    let mut c = command(p, head + i, format!("b{size}-{i}"));
                    if i % 3 == 0 {
                        c.jobs.push(job(p, &format!("j{size}-{i}")));
                    }
                    c
                })
                .collect();
            store.append_batch(batch).await.unwrap();
            head += size;
        }
        assert_eq!(store.read(p, 0, 10_000).await.unwrap().len() as i64, head);
        let conn = store.write.acquire().await.unwrap();
        let cached = conn.cached_statements_size();
        assert_eq!(cached, after_first, "texts prepared after 80 batch sizes");
        assert!(cached <= WRITE_STATEMENTS);
        drop(conn);
        store.close().await;
    }

    fn job(p: Uuid, key: &str) -> Job {
        Job {
            key: key.into(),
            planning_id: p,
            due_at: 7,
            kind: "close_round".into(),
            payload: "r".into(),
            attempts: 0,
        }
    }

    /// The rows an append writes through its JSON parameters are the ones binding each value
    /// wrote: texts with quotes, backslashes, control characters, a NUL and characters beyond
    /// the basic plane come back byte for byte, integers as integers, in seq order with the
    /// global ids the append answered, and a retry finds its idempotency row.
    #[tokio::test]
    async fn an_append_stores_every_text_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let p = Uuid::new_v4();
        let odd = "q\"u\\o\u{0}t\u{1}e\n\t\u{7f}\u{2028}é🦀'; --";
        let mut reqs = Vec::new();
        for i in 0..3i64 {
            let mut c = command(p, i, format!("{odd}{i}"));
            c.actor = Uuid::new_v4();
            c.command_hash = format!("{odd}hash{i}");
            c.recorded_at = i64::MAX - i;
            c.events[0].kind = format!("{odd}kind");
            c.events[0].version = i32::MAX;
            c.events[0].payload = format!("{{\"t\":\"{odd}\",\"i\":{i}}}");
            c.jobs.push(job(p, &format!("{odd}job{i}")));
            reqs.push(c);
        }
        let appended = store.append_batch(reqs.clone()).await.unwrap();
        let read = store.read(p, 0, 100).await.unwrap();
        assert_eq!(read.len(), 3);
        for ((req, a), row) in reqs.iter().zip(&appended).zip(&read) {
            let e = &req.events[0];
            assert_eq!(
                (row.seq, row.global_id),
                (a.first_seq, a.events[0].global_id)
            );
            assert_eq!((row.event_id, row.actor), (e.event_id, req.actor));
            assert_eq!(row.client_op_id, req.client_op_id);
            assert_eq!((&row.kind, row.version), (&e.kind, e.version));
            assert_eq!(row.payload, e.payload);
            assert_eq!(row.recorded_at, req.recorded_at);
        }
        let found = store
            .find_command(p, reqs[1].actor, &reqs[1].client_op_id)
            .await
            .unwrap()
            .expect("the command's row");
        assert_eq!(found.command_hash, reqs[1].command_hash);
        assert_eq!((found.first_seq, found.last_seq), (2, 2));
        let jobs: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT key, payload, due_at FROM jobs ORDER BY key")
                .fetch_all(&store.read)
                .await
                .unwrap();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0], (format!("{odd}job0"), "r".to_string(), 7));
        // A retry of the batch's second command is answered from its idempotency row.
        let again = store.append(reqs[1].clone()).await.unwrap();
        assert!(again.duplicate && again.first_seq == 2, "{again:?}");
        store.close().await;
    }

    /// The idempotency lookup is driven by the batch's keys: a search of the commands' primary
    /// key per key, never a scan of a planning's commands.
    #[tokio::test]
    async fn the_idempotency_lookup_searches_the_primary_key_per_key() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let lookup = READ_TEXT.split(';').nth(2).expect("the lookup");
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {lookup}"))
            .bind("[[\"a\",\"b\"]]")
            .bind("p")
            .fetch_all(&store.read)
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get::<String, _>("detail")).collect();
        assert!(
            plan.iter().any(|d| d.contains(
                "SEARCH c USING PRIMARY KEY (planning_id=? AND actor=? AND client_op_id=?)"
            )),
            "{plan:#?}"
        );
        store.close().await;
    }
}
