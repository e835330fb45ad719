//! The append-only event log and what is stored beside it: one trait per concern ([`EventLog`],
//! [`JobStore`], [`SecretStore`], [`SnapshotStore`], [`AdminStore`]), together [`EventStore`];
//! a SQLite and a PostgreSQL backend sharing every statement that reads the same on both.
//!
//! The store knows nothing about the planning domain: it stores opaque, already encoded
//! events (`kind`, `version`, canonical JSON `payload`) per planning with a gapless `seq`.
//! Which backend is used is decided by the URL scheme in [`open`]; how to add one is told at
//! [`EventStore`].
//!
//! Guarantees every backend gives (checked by the contract suite in `tests/store_contract.rs`):
//! - per planning, `seq` is 1, 2, 3… with no gaps, assigned inside the append transaction;
//! - an append carries `expected_seq`; if the planning's head moved, nothing is written and
//!   [`StoreError::Conflict`] reports the current head;
//! - idempotency is per *command*: `(planning, actor, client_op_id)` is recorded with a hash
//!   of the command; a retry with the same hash returns the first result and writes nothing,
//!   a retry with another hash is [`StoreError::OpConflict`];
//! - events are never updated or deleted (the database itself refuses it);
//! - an append returns only after its transaction committed durably, with the rows it wrote
//!   exactly as a later read returns them (so nobody rebuilds them from the request).

use async_trait::async_trait;
use uuid::Uuid;

pub mod postgres;
mod shared;
mod sql;
pub mod sqlite;
mod wal;

/// An event ready to be appended: already encoded by the domain's codec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Globally unique id of this event.
    pub event_id: Uuid,
    /// Event type name, e.g. `VoteCast`.
    pub kind: String,
    /// Schema version of `payload` for this `kind`.
    pub version: i32,
    /// Canonical JSON text (sorted keys, no insignificant whitespace).
    pub payload: String,
}

/// A fresh event id: a time-ordered UUIDv7 (millisecond timestamp, then random bits).
///
/// Ids must be unique, so both backends index them; a random (v4) id lands on a random leaf of
/// that index, and a batch of 128 events then dirtied ~128 index pages that every commit wrote to
/// the WAL (half of an append's CPU and bytes written on SQLite). Successive v7 ids sort after
/// one another and fill the same rightmost pages. The timestamp says no more than the event's
/// `recorded_at`, which every reader already sees.
pub fn new_event_id() -> Uuid {
    Uuid::now_v7()
}

/// One command's worth of events, appended atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub planning_id: Uuid,
    /// The head the decision was based on (0 for a new planning).
    pub expected_seq: i64,
    /// Who issued the command (`Uuid::nil()` for the server itself, e.g. the scheduler).
    pub actor: Uuid,
    /// Idempotency key chosen by the client (or a fixed key for scheduled jobs).
    pub client_op_id: String,
    /// Hash of the canonical command, to tell a retry from a different command with the same key.
    pub command_hash: String,
    /// Recorded time in microseconds since the Unix epoch (already truncated).
    pub recorded_at: i64,
    /// The events, in order. May be empty (the command is still recorded for idempotency).
    pub events: Vec<NewEvent>,
    /// Scheduler jobs the events call for, written in the same transaction (an outbox).
    /// A job whose key exists already is left as it is.
    pub jobs: Vec<Job>,
}

/// Which jobs a claim or [`JobStore::next_job_due`] considers, by kind: the scheduler
/// claims deadline jobs and outbound calls (webhook deliveries, tracker write-backs)
/// separately, so a backlog of slow receivers never holds up a round's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKinds<'a> {
    /// Every kind.
    All,
    /// This kind only.
    Only(&'a str),
    /// Every kind but this one.
    Except(&'a str),
    /// Either of these two kinds.
    Among(&'a str, &'a str),
    /// Every kind but these two.
    NotAmong(&'a str, &'a str),
}

impl JobKinds<'_> {
    /// The filter as three bind values: a mode (0 all, 1 among, 2 not among) and two kinds,
    /// for `(?m = 0 OR (?m = 1 AND kind IN (?a, ?b)) OR (?m = 2 AND kind NOT IN (?a, ?b)))`.
    pub fn binds(self) -> (i32, String, String) {
        match self {
            JobKinds::All => (0, String::new(), String::new()),
            JobKinds::Only(k) => (1, k.to_string(), k.to_string()),
            JobKinds::Except(k) => (2, k.to_string(), k.to_string()),
            JobKinds::Among(a, b) => (1, a.to_string(), b.to_string()),
            JobKinds::NotAmong(a, b) => (2, a.to_string(), b.to_string()),
        }
    }
}

/// A durable scheduler job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Unique key; also the `client_op_id` of the command the job runs.
    pub key: String,
    pub planning_id: Uuid,
    /// Microseconds since the epoch.
    pub due_at: i64,
    pub kind: String,
    pub payload: String,
    /// Failed attempts so far (see [`JobStore::retry_job`]); ignored when a job is inserted
    /// (a new job starts at 0).
    pub attempts: i32,
}

/// Where a job stands (for operators and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    pub due_at: i64,
    pub attempts: i32,
    /// Set once the job is done for good, whether it succeeded or gave up.
    pub done_at: Option<i64>,
    /// It gave up after its last attempt.
    pub failed: bool,
    pub last_error: Option<String>,
}

/// The result of an append: the seq range the command's events occupy, and the rows written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Seq of the first event (equals `last_seq + 1` when the command produced no event).
    pub first_seq: i64,
    /// Seq of the last event; the planning's head right after this command.
    pub last_seq: i64,
    /// True when this was a retry of an already recorded command: nothing was written now.
    pub duplicate: bool,
    /// The rows this append wrote, equal to what [`EventLog::read`] returns for them (global
    /// id and chain hash included). Empty for a duplicate: it wrote nothing now, and the first
    /// append's rows are in the log at `first_seq..=last_seq`.
    pub events: Vec<StoredEvent>,
}

/// What the log remembers of an appended command (for idempotent retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    pub command_hash: String,
    pub first_seq: i64,
    pub last_seq: i64,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in the whole log (all plannings); increases with commit order on SQLite,
    /// with insert order on PostgreSQL (see `read_all`).
    pub global_id: i64,
    pub planning_id: Uuid,
    pub seq: i64,
    pub event_id: Uuid,
    pub actor: Uuid,
    pub client_op_id: String,
    pub kind: String,
    pub version: i32,
    pub payload: String,
    pub recorded_at: i64,
    /// SHA-256 chained over the previous event's hash and this event (see [`chain_hash`]).
    /// Empty in events built in memory before they were read back.
    pub hash: String,
}

/// The hash of the empty chain (before seq 1).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The chain hash of one event: SHA-256 over the previous hash and every stored field, each on
/// its own line, the free-form op id length-prefixed and the payload last (it may hold newlines),
/// so no two different events share an input. A sealed vote's nonce is in the payload, so a
/// published hash cannot be brute-forced back to the card.
#[allow(clippy::too_many_arguments)]
pub fn chain_hash(
    prev: &str,
    planning_id: Uuid,
    seq: i64,
    event_id: Uuid,
    actor: Uuid,
    client_op_id: &str,
    kind: &str,
    version: i32,
    recorded_at: i64,
    payload: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(
        format!(
            "{prev}\n{planning_id}\n{seq}\n{event_id}\n{actor}\n{}:{client_op_id}\n{kind}\n{version}\n{recorded_at}\n",
            client_op_id.len()
        )
        .as_bytes(),
    );
    h.update(payload.as_bytes());
    hex::encode(h.finalize())
}

impl StoredEvent {
    /// This event's chain hash recomputed from its fields and the previous hash.
    pub fn compute_hash(&self, prev: &str) -> String {
        chain_hash(
            prev,
            self.planning_id,
            self.seq,
            self.event_id,
            self.actor,
            &self.client_op_id,
            &self.kind,
            self.version,
            self.recorded_at,
            &self.payload,
        )
    }
}

/// The result of checking a planning's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCheck {
    /// Every hash matches; `head_hash` is the last one (GENESIS for an empty planning).
    Intact { events: i64, head_hash: String },
    /// The first event whose stored hash is not what its content and predecessor give (at
    /// the head: the head hash stored beside the log is not the chain's).
    BrokenAt {
        seq: i64,
        stored: String,
        computed: String,
    },
    /// The first seq absent from the log: an event deleted in the middle, or at the end (the
    /// log stops before the head stored beside it).
    Missing { seq: i64 },
}

/// Recomputes a planning's chain from the log and checks it against the head and head hash
/// stored beside it (read first: events appended meanwhile come after them).
pub async fn verify_chain(store: &dyn EventStore, planning_id: Uuid) -> StoreResult<ChainCheck> {
    let from = Checked {
        seq: 0,
        hash: GENESIS_HASH.to_string(),
    };
    Ok(verify_chain_from(store, planning_id, from).await?.0)
}

/// A prefix of a planning's chain already checked: up to `seq`, whose hash is `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub seq: i64,
    pub hash: String,
}

/// Checks a planning's chain after a prefix already checked (`from`, GENESIS at 0 for the
/// whole chain) against the head and head hash stored beside the log; also answers how many
/// events it read. Nothing after the prefix: only the stored head is compared.
pub async fn verify_chain_from(
    store: &dyn EventStore,
    planning_id: Uuid,
    from: Checked,
) -> StoreResult<(ChainCheck, u64)> {
    let (head, head_hash) = store.head_with_hash(planning_id).await?;
    // A stored head below the prefix: the log was cut back; check it all again.
    let (mut after, mut prev) = if head < from.seq {
        (0, GENESIS_HASH.to_string())
    } else {
        (from.seq, from.hash)
    };
    let mut read = 0u64;
    let head_broken = |prev: &String| {
        head_hash
            .as_ref()
            .filter(|h| *h != prev)
            .map(|stored| ChainCheck::BrokenAt {
                seq: head,
                stored: stored.clone(),
                computed: prev.clone(),
            })
    };
    if after == head && after > 0 {
        return Ok((
            head_broken(&prev).unwrap_or(ChainCheck::Intact {
                events: after,
                head_hash: prev,
            }),
            0,
        ));
    }
    loop {
        let page = store.read(planning_id, after, 1000).await?;
        read += page.len() as u64;
        if page.is_empty() {
            break;
        }
        for e in &page {
            if let Some(broken) = check_link(e, after, &prev) {
                return Ok((broken, read));
            }
            prev = e.hash.clone();
            after = e.seq;
            if after == head {
                if let Some(broken) = head_broken(&prev) {
                    return Ok((broken, read));
                }
            }
        }
    }
    if after < head {
        return Ok((ChainCheck::Missing { seq: after + 1 }, read));
    }
    Ok((
        ChainCheck::Intact {
            events: after,
            head_hash: prev,
        },
        read,
    ))
}

/// What is wrong with event `e` coming after seq `after` whose hash is `prev`, if anything.
fn check_link(e: &StoredEvent, after: i64, prev: &str) -> Option<ChainCheck> {
    if e.seq != after + 1 {
        return Some(ChainCheck::Missing { seq: after + 1 });
    }
    let computed = e.compute_hash(prev);
    (computed != e.hash).then(|| ChainCheck::BrokenAt {
        seq: e.seq,
        stored: e.hash.clone(),
        computed,
    })
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The planning's head is not the `expected_seq` the decision was based on.
    #[error("stale expected_seq {expected}: the planning's head is {head}")]
    Conflict { expected: i64, head: i64 },
    /// The same `client_op_id` was already used by this actor for a different command.
    #[error("client_op_id “{0}” was already used for a different command")]
    OpConflict(String),
    /// The database URL is not one we know (held as its [`url_origin`]: no credentials).
    #[error("unsupported database url {0}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
    /// Anything the database said (connection lost, disk full, …).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The backend cannot do this.
    #[error("{0}")]
    Unsupported(String),
    /// Migrations could not be applied.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether trying the same operation later may succeed (database temporarily unreachable
    /// or busy). An append that failed this way may still have committed (e.g. the connection
    /// dropped after COMMIT was sent): retry it with the same `client_op_id` and hash, and the
    /// idempotency record answers with the original result.
    pub fn is_retriable(&self) -> bool {
        match self {
            StoreError::Database(e) => is_retriable_sqlx(e),
            _ => false,
        }
    }

    /// A condition of the database that refuses every write until an operator fixes it (the
    /// disk is full, the file or database is read-only). Nothing was written; a retry with the
    /// same `client_op_id` succeeds once it is fixed.
    pub fn fault(&self) -> Option<StorageFault> {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return None;
        };
        if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            // 53100 disk_full; 25006 read_only_sql_transaction (a hot standby, or
            // default_transaction_read_only).
            return match pg.code() {
                "53100" => Some(StorageFault::Full),
                "25006" => Some(StorageFault::ReadOnly),
                _ => None,
            };
        }
        db.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
        // 13 SQLITE_FULL (disk or max_page_count), 8 SQLITE_READONLY (and its extended codes).
        match db.code()?.parse::<i32>().ok()? & 0xff {
            13 => Some(StorageFault::Full),
            8 => Some(StorageFault::ReadOnly),
            _ => None,
        }
    }
}

/// See [`StoreError::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// No space left for the database.
    Full,
    /// The database refuses writes.
    ReadOnly,
}

/// Connection-level failures on either backend.
fn is_retriable_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                let code = pg.code();
                // 08: connection exception; 57P01-03: server shutting down / starting up;
                // 53300: too many connections; 40001/40P01: serialization failure, deadlock;
                // 55000 at login: the database refuses connections for now
                // (`ALLOW_CONNECTIONS false`, e.g. during maintenance).
                code.starts_with("08")
                    || matches!(
                        code,
                        "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01"
                    )
                    || (code == "55000"
                        && pg.message().contains("not currently accepting connections"))
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // SQLite reports extended result codes; the primary code is the low byte.
                // 5 BUSY and 6 LOCKED (lock held longer than the busy timeout), 10 IOERR.
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10))
            } else {
                false
            }
        }
        _ => false,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The event log: the concern every backend starts from. Object safe (as are the other
/// concerns) so the backend can be chosen at run time.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends one command's events atomically (see the module docs for the rules).
    async fn append(&self, req: AppendRequest) -> StoreResult<Appended>;

    /// Appends several commands of one planning in one transaction (group commit): one durable
    /// commit for all of them, all or nothing. Each request must expect the head the one
    /// before it leaves. A batch of one is [`EventLog::append`]; in a longer batch a retried
    /// or colliding command refuses the whole batch with [`StoreError::Conflict`] (append
    /// them one by one then). Results are in request order.
    ///
    /// The default (for wrappers) appends a batch of one and refuses longer ones with
    /// [`StoreError::Unsupported`], which callers answer by appending one by one.
    async fn append_batch(&self, reqs: Vec<AppendRequest>) -> StoreResult<Vec<Appended>> {
        match <[AppendRequest; 1]>::try_from(reqs) {
            Ok([req]) => Ok(vec![self.append(req).await?]),
            Err(reqs) if reqs.is_empty() => Ok(Vec::new()),
            Err(_) => Err(StoreError::Unsupported("group commit".into())),
        }
    }

    /// Events of one planning with `seq > after`, in seq order, at most `limit`.
    async fn read(
        &self,
        planning_id: Uuid,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The record of an already appended command, if `(planning, actor, client_op_id)` is known.
    async fn find_command(
        &self,
        planning_id: Uuid,
        actor: Uuid,
        client_op_id: &str,
    ) -> StoreResult<Option<CommandRecord>>;

    /// The planning's head seq (0 when it has no event).
    async fn head(&self, planning_id: Uuid) -> StoreResult<i64>;

    /// The planning's head seq and the chain hash stored with it (`None`: no event yet, or a
    /// log older than the chain), read together.
    async fn head_with_hash(&self, planning_id: Uuid) -> StoreResult<(i64, Option<String>)>;

    /// The whole log in global order: events with `global_id > after`, at most `limit`.
    ///
    /// On PostgreSQL a global id becomes visible at commit, not at insert, so a reader racing
    /// concurrent writers may see id 1001 before 1000; this read is for exports and offline
    /// tools. Live readers follow one planning by `seq`, which has no such hole.
    async fn read_all(&self, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>>;

    /// A feed of other writers' new heads, where the backend has one (PostgreSQL's
    /// LISTEN/NOTIFY). `None` means this store has no other writers to hear about.
    async fn head_feed(&self) -> StoreResult<Option<Box<dyn HeadFeed>>> {
        Ok(None)
    }
}

/// The scheduler's durable jobs, written with the events that call for them (the `jobs` of an
/// [`AppendRequest`]) and claimed under a lease.
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Claims up to `limit` jobs of `kinds` due at `now` (`due_at <= now`) that are not done
    /// and that nobody holds, leasing them until `lease_until`; earliest due first. A lease
    /// ends at `lease_until` (claimable again when `now >= lease_until`: its node died). Two
    /// instances claiming at once never get the same job.
    async fn claim_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        kinds: JobKinds<'_>,
    ) -> StoreResult<Vec<Job>>;

    /// [`JobStore::claim_jobs`] by `node`, recorded as the leases' holder (see
    /// [`JobStore::release_leases`]). The default (for wrappers) records no holder.
    async fn claim_jobs_as(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
        kinds: JobKinds<'_>,
    ) -> StoreResult<Vec<Job>> {
        let _ = node;
        self.claim_jobs(now, lease_until, limit, kinds).await
    }

    /// Ends the leases `node` holds on jobs not done yet, so they can be claimed at once:
    /// a node that starts again under its name takes back what it held when it stopped (a
    /// crash between claiming a job and finishing it). Returns how many. The default (for
    /// wrappers) releases nothing.
    async fn release_leases(&self, node: &str) -> StoreResult<u64> {
        let _ = node;
        Ok(0)
    }

    /// Marks a job done.
    async fn complete_job(&self, key: &str, at: i64) -> StoreResult<()>;

    /// Puts a claimed job back for another attempt at `next_due`, recording that `attempts`
    /// attempts failed so far and releasing its lease.
    async fn retry_job(&self, key: &str, next_due: i64, attempts: i32) -> StoreResult<()>;

    /// Marks a job done for good after its last attempt failed (it is never claimed again).
    async fn fail_job(&self, key: &str, at: i64, attempts: i32, error: &str) -> StoreResult<()>;

    /// Where a job stands, if it exists.
    async fn job_status(&self, key: &str) -> StoreResult<Option<JobStatus>>;

    /// [`JobStore::retry_job`], keeping `error` as the job's last error so a reader sees why
    /// it is waiting. The default (for wrappers) forgets the error.
    async fn retry_job_noting(
        &self,
        key: &str,
        next_due: i64,
        attempts: i32,
        error: &str,
    ) -> StoreResult<()> {
        let _ = error;
        self.retry_job(key, next_due, attempts).await
    }

    /// Writes jobs outside an append (a job that fans out into others); a job whose key
    /// exists already is left as it is. The default (for wrappers) refuses.
    async fn add_jobs(&self, jobs: &[Job]) -> StoreResult<()> {
        let _ = jobs;
        Err(StoreError::Unsupported("add_jobs".into()))
    }

    /// Every job of `kind` for one planning with where it stands, in key order. The default
    /// (for wrappers) refuses.
    async fn jobs_of(&self, planning_id: Uuid, kind: &str) -> StoreResult<Vec<(Job, JobStatus)>> {
        let _ = (planning_id, kind);
        Err(StoreError::Unsupported("jobs_of".into()))
    }

    /// When the next pending job of `kinds` can be claimed (its due time, or its lease's end).
    async fn next_job_due(&self, kinds: JobKinds<'_>) -> StoreResult<Option<i64>>;
}

/// Secrets kept out of the event log (which every reader of a planning sees): webhooks' HMAC
/// keys and tracker connections' credentials.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// Stores a webhook's HMAC secret unless one is stored already; returns the stored one
    /// (so a retried registration hands out the same secret).
    async fn put_webhook_secret(
        &self,
        planning_id: Uuid,
        webhook_id: Uuid,
        secret: &str,
        at: i64,
    ) -> StoreResult<String>;

    /// A webhook's HMAC secret.
    async fn webhook_secret(&self, webhook_id: Uuid) -> StoreResult<Option<String>>;

    /// Forgets a webhook's secret (the webhook was removed).
    async fn delete_webhook_secret(&self, webhook_id: Uuid) -> StoreResult<()>;

    /// Stores (or replaces) a planning's tracker connection: its `config` and, apart, its
    /// `credential` (both opaque text to the store). The default (for wrappers) refuses.
    async fn put_tracker_connection(
        &self,
        planning_id: Uuid,
        config: &str,
        credential: &str,
        at: i64,
    ) -> StoreResult<()> {
        let _ = (planning_id, config, credential, at);
        Err(StoreError::Unsupported("tracker connections".into()))
    }

    /// A planning's tracker connection: `(config, credential)`.
    async fn tracker_connection(&self, planning_id: Uuid) -> StoreResult<Option<(String, String)>> {
        let _ = planning_id;
        Ok(None)
    }

    /// Forgets a planning's tracker connection (credential included).
    async fn delete_tracker_connection(&self, planning_id: Uuid) -> StoreResult<()> {
        let _ = planning_id;
        Ok(())
    }
}

/// Snapshots of a planning's projection: a cache over the log, never the truth.
///
/// The defaults keep nothing, which is correct (rooms then replay from the log) but slow for
/// long plannings: a backend adds a table when replays start to show.
#[async_trait]
pub trait SnapshotStore: Send + Sync + 'static {
    /// Stores a snapshot of a planning's projection at `seq` (a cache; an existing one is kept).
    async fn save_snapshot(
        &self,
        planning_id: Uuid,
        projection_version: i32,
        seq: i64,
        state: &str,
    ) -> StoreResult<()> {
        let _ = (planning_id, projection_version, seq, state);
        Ok(())
    }

    /// The latest snapshot at or below `at_or_below` for this projection version: `(seq, state)`.
    async fn load_snapshot(
        &self,
        planning_id: Uuid,
        projection_version: i32,
        at_or_below: i64,
    ) -> StoreResult<Option<(i64, String)>> {
        let _ = (planning_id, projection_version, at_or_below);
        Ok(None)
    }

    /// Drops every snapshot (they are a cache; used by tests and after upgrades).
    async fn delete_snapshots(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// Operators' tools over the whole database.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Removes a planning entirely (events, head, commands, jobs, snapshots) for a
    /// data-protection request, bypassing the immutability guard for that planning only, and
    /// records the purge (time, event count, chain head) outside the planning. Returns the
    /// number of events removed.
    async fn purge(&self, planning_id: Uuid, at: i64) -> StoreResult<i64>;

    /// Writes a consistent copy of the database to `path` (SQLite: `VACUUM INTO`).
    async fn backup(&self, path: &str) -> StoreResult<()> {
        let _ = path;
        Err(StoreError::Unsupported(
            "backup: this backend has none".into(),
        ))
    }

    /// Ids of all plannings that have at least one event.
    async fn plannings(&self) -> StoreResult<Vec<Uuid>>;

    /// Closes the pool (used by tests that reopen a store).
    async fn close(&self);
}

/// Every concern in one object: what the server holds (`Arc<dyn EventStore>`).
///
/// Implemented for every type that implements the five concerns; nobody implements it by hand.
///
/// # A new backend
///
/// A backend starts from [`EventLog`] alone: its append transaction (the rules in the module
/// docs, checked by `tests/store_contract.rs`) and four reads. [`SnapshotStore`] may then be
/// left to its defaults (a cache that keeps nothing). What it must add before the server runs
/// on it: [`JobStore`] (round deadlines, webhook deliveries and, for tracker write-backs,
/// `add_jobs` and `jobs_of`), [`SecretStore`] (webhook secrets, and tracker connections for a
/// server that offers them) and [`AdminStore`] (`purge`, `plannings`, `close`). A backend that speaks SQL
/// through sqlx with `$N` placeholders over the same schema writes only its append
/// transaction (`shared::AppendTx`: one attempt, and which errors are collisions worth a
/// retry) and a `sql::SqlBackend` (pools, how a writing transaction starts, the few
/// statements that differ); `sql_stores!` then gives it the log's reads, the shared retry
/// loop and all four other concerns, as both built-in backends do.
pub trait EventStore: EventLog + JobStore + SnapshotStore + SecretStore + AdminStore {}

impl<T: EventLog + JobStore + SnapshotStore + SecretStore + AdminStore> EventStore for T {}

/// What a [`HeadFeed`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadNotice {
    /// A planning's head moved to `head` (someone appended and committed).
    Head { planning_id: Uuid, head: i64 },
    /// The feed's connection was lost and re-established: notifications sent meanwhile are
    /// gone, so the listener must re-read the heads it cares about.
    Reconnected,
}

/// Notifications of committed appends, from every node writing to the same database.
///
/// Hints only: a notice may be lost (see [`HeadNotice::Reconnected`]) or repeated, so the
/// receiver reads the log after its own head and drops what it has, by seq.
#[async_trait]
pub trait HeadFeed: Send {
    /// Waits for the next notice. An error means the feed is broken for now (retry later).
    async fn next(&mut self) -> StoreResult<HeadNotice>;
}

/// Opens the store named by `url` and applies its migrations.
///
/// `sqlite://path` (the file is created if missing) or `postgres://…` / `postgresql://…`.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn EventStore>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url_origin(url)))
    }
}

/// A database URL as it may be shown (logs, errors): `scheme://host[:port]` for a server, with
/// no user, password, path or query; a SQLite file's path without its query.
pub fn url_origin(url: &str) -> String {
    if let Some(file) = url.strip_prefix("sqlite:") {
        return format!("sqlite:{}", file.split('?').next().unwrap_or_default());
    }
    let Ok(u) = reqwest::Url::parse(url) else {
        return "(an unreadable URL)".into();
    };
    match (u.host_str(), u.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", u.scheme()),
        (Some(host), None) => format!("{}://{host}", u.scheme()),
        (None, _) => format!("{}:", u.scheme()),
    }
}
