//! SQLite's write-ahead log kept small off the append path: a checkpoint task on its own
//! connection, and a hard bound that appends wait on only once the log has passed it.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses `wal_autocheckpoint`
//! pages: that append's caller waits while ~4 MB of pages are copied into the database file
//! and the file is `fsync`ed, a stall that hit every planning at once under load. The store's
//! connections turn it off (`wal_autocheckpoint = 0`), and instead:
//! - after commits, at most every [`WalBounds::every`] (at once past [`WalBounds::soft_bytes`]),
//!   the task runs a PASSIVE checkpoint on its own connection: it copies what it can beside
//!   the writer and never waits for it; once it has copied every frame between two commits, the
//!   next commit starts the log from its beginning again (the file stops growing);
//! - after [`WalBounds::idle`] without a commit it runs TRUNCATE, which empties the file (with a
//!   short busy timeout, so an append arriving meanwhile waits milliseconds at most);
//! - a steady stream can commit during every checkpoint, so the log would never restart: past
//!   [`WalBounds::hard_bytes`] the next append first runs a RESTART checkpoint on the write
//!   connection (no other append can commit during it), which lets it start the log again.
//!   Only then does an append wait, and the task has copied most frames by then; readers of
//!   old frames (a backup) are waited for 100 ms at most, then appends go on for a second.
//!
//! Durability does not change: a commit is durable once its frames are in the `fsync`ed WAL,
//! whether or not a checkpoint has copied them yet (SQLite recovers the WAL on open).

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Row};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// When the log is checkpointed, and the size appends wait at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalBounds {
    /// A PASSIVE checkpoint runs at most this often while commits come in.
    pub every: Duration,
    /// Past this size (bytes) a PASSIVE checkpoint runs at once; a log restarted by a checkpoint
    /// is also cut back to this size at its next commit (`journal_size_limit`).
    pub soft_bytes: u64,
    /// After this long without a commit the log is emptied (TRUNCATE).
    pub idle: Duration,
    /// Past this size (bytes) the next append first checkpoints on the write connection.
    pub hard_bytes: u64,
}

impl Default for WalBounds {
    /// Every 250 ms keeps each checkpoint small (a quarter second of appends: ~50 pages at
    /// 100 votes/s), where SQLite's default waited for 1,000 pages and copied them in one go.
    fn default() -> Self {
        WalBounds {
            every: Duration::from_millis(250),
            soft_bytes: 4 << 20,
            idle: Duration::from_secs(1),
            hard_bytes: 16 << 20,
        }
    }
}

/// How long a forced checkpoint waits for readers of old frames, while appends wait behind it.
const FORCE_BUSY: Duration = Duration::from_millis(100);

/// After a forced checkpoint found readers in the way, appends go on without one this long.
const FORCE_BACKOFF: Duration = Duration::from_secs(1);

/// How long the task's TRUNCATE waits for readers and the writer before it gives up for now:
/// while it waits, appends wait behind it.
const TRUNCATE_BUSY: Duration = Duration::from_millis(20);

/// Checkpoints done so far, by kind.
#[derive(Debug, Default)]
pub struct WalStats {
    /// PASSIVE checkpoints run by the task.
    pub passive: AtomicU64,
    /// TRUNCATE checkpoints run by the task when appends stopped.
    pub truncated: AtomicU64,
    /// RESTART checkpoints an append ran first because the log had passed the hard bound.
    pub forced: AtomicU64,
}

struct Shared {
    committed: Notify,
    /// Held while a checkpoint runs.
    one_at_a_time: tokio::sync::Mutex<()>,
    /// Until when appends do not force a checkpoint (one found readers in the way).
    retry_after: std::sync::Mutex<Option<Instant>>,
    stop: AtomicBool,
    stats: WalStats,
}

/// The store's side of the checkpoint task: tells it about commits, checks the hard bound,
/// and stops it when dropped.
pub(crate) struct Wal {
    path: PathBuf,
    hard_bytes: u64,
    shared: Arc<Shared>,
}

impl Wal {
    /// The settings each store connection gets: no automatic checkpoint, and a restarted log
    /// cut back to the soft bound.
    pub(crate) fn tune(options: SqliteConnectOptions, bounds: &WalBounds) -> SqliteConnectOptions {
        options
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", bounds.soft_bytes.to_string())
    }

    /// Starts the checkpoint task for the database file of `options` (already in WAL mode), on
    /// a connection of its own.
    pub(crate) async fn start(
        options: &SqliteConnectOptions,
        bounds: WalBounds,
    ) -> Result<Self, sqlx::Error> {
        let mut path = options.get_filename().as_os_str().to_owned();
        path.push("-wal");
        let conn = options
            .clone()
            .busy_timeout(TRUNCATE_BUSY)
            .thread_name(|id| format!("sqlite-wal-{id}"))
            .connect()
            .await?;
        let shared = Arc::new(Shared {
            committed: Notify::new(),
            one_at_a_time: tokio::sync::Mutex::new(()),
            retry_after: std::sync::Mutex::new(None),
            stop: AtomicBool::new(false),
            stats: WalStats::default(),
        });
        let path = PathBuf::from(path);
        tokio::spawn(run(conn, shared.clone(), path.clone(), bounds));
        Ok(Wal {
            path,
            hard_bytes: bounds.hard_bytes,
            shared,
        })
    }

    /// An append committed: the task checkpoints soon.
    pub(crate) fn committed(&self) {
        self.shared.committed.notify_one();
    }

    /// Whether the log has passed the hard bound: the next append checkpoints first (see
    /// [`Wal::force`]). One `stat` of the file.
    pub(crate) fn over_hard_bound(&self) -> bool {
        let backing_off = self
            .shared
            .retry_after
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|at| Instant::now() < at);
        !backing_off && file_len(&self.path) > self.hard_bytes
    }

    /// The RESTART checkpoint an append runs first past the hard bound, on the write
    /// connection: the task has copied most frames already, so what is left is short, and no
    /// commit can come between it and the restart of the log. It waits at most
    /// [`FORCE_BUSY`] for readers of old frames (a long read, such as a backup); if they are
    /// still there, appends go on without it for [`FORCE_BACKOFF`].
    pub(crate) async fn force(&self, write: &sqlx::SqlitePool) -> Result<(), sqlx::Error> {
        self.shared.stats.forced.fetch_add(1, Ordering::Relaxed);
        // SQLite refuses a second checkpoint at once (no busy wait for it): wait for the
        // task's to end.
        let _one = self.shared.one_at_a_time.lock().await;
        let sql = format!(
            "PRAGMA busy_timeout = {}; PRAGMA wal_checkpoint(RESTART); PRAGMA busy_timeout = {};",
            FORCE_BUSY.as_millis(),
            super::sqlite::BUSY_TIMEOUT.as_millis()
        );
        let rows = sqlx::query(&sql).fetch_all(write).await?;
        // The checkpoint's row is the one with three columns: (busy, log, checkpointed).
        let busy = rows
            .iter()
            .find(|r| r.columns().len() == 3)
            .map_or(Ok(1), |r| r.try_get::<i64, _>(0))?;
        if busy != 0 {
            let mut retry = self
                .shared
                .retry_after
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *retry = Some(Instant::now() + FORCE_BACKOFF);
        }
        Ok(())
    }

    pub(crate) fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// Stops the task (it closes its connection).
    pub(crate) fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.committed.notify_one();
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The WAL file's size; 0 when there is none (after a TRUNCATE it is empty, not removed).
fn file_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `PRAGMA wal_checkpoint(mode)`: whether it was blocked, the frames in the log, the frames
/// copied.
async fn checkpoint<'c, E>(conn: E, mode: &str) -> Result<(i64, i64, i64), sqlx::Error>
where
    E: sqlx::Executor<'c, Database = sqlx::Sqlite>,
{
    sqlx::query_as(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(conn)
        .await
}

/// The checkpoint task: PASSIVE after commits, TRUNCATE once they stop.
async fn run(mut conn: SqliteConnection, shared: Arc<Shared>, path: PathBuf, bounds: WalBounds) {
    let mut last = Instant::now();
    let mut dirty = false;
    loop {
        let woke = if dirty {
            tokio::time::timeout(bounds.idle, shared.committed.notified())
                .await
                .is_ok()
        } else {
            shared.committed.notified().await;
            true
        };
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let result = if woke {
            dirty = true;
            // Commits within `every` of the last checkpoint wait for the next one, unless the
            // log is already large.
            let due = last + bounds.every;
            if Instant::now() < due && file_len(&path) < bounds.soft_bytes {
                tokio::time::sleep_until(due).await;
                if shared.stop.load(Ordering::Acquire) {
                    break;
                }
            }
            last = Instant::now();
            shared.stats.passive.fetch_add(1, Ordering::Relaxed);
            let _one = shared.one_at_a_time.lock().await;
            checkpoint(&mut conn, "PASSIVE").await
        } else {
            // Idle: empty the file. Busy (a reader or an append came) leaves it for the next
            // idle spell, after the next commit.
            dirty = false;
            let _one = shared.one_at_a_time.lock().await;
            let done = checkpoint(&mut conn, "TRUNCATE").await;
            if matches!(done, Ok((0, _, _))) {
                shared.stats.truncated.fetch_add(1, Ordering::Relaxed);
            }
            done
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
    let _ = conn.close().await;
}
