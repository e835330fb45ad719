//! The PostgreSQL backend (scale-out): appends serialise per planning on a `rooms` row lock.
//!
//! Several nodes may append to the same planning: the `SELECT … FOR UPDATE` on the planning's
//! `rooms` row makes them take turns, so `seq` is assigned (and committed) in order, and a
//! reader following one planning by `seq` never sees k+1 before k.
//!
//! Other nodes learn of new heads from a doorbell rung *after* commit (see [`Doorbell`]), not
//! from a `pg_notify` inside the append: PostgreSQL serialises the commits of every transaction
//! that notified on one database-wide lock, so notifying appends to distinct plannings would
//! commit one at a time.

use super::shared::{self, AppendTx, CommandRow, Existing, Planned, Rows, Span, Written};
use super::sql::SqlBackend;
use super::*;
use sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions, Postgres};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// The channel committed appends are announced on, as `planning:head`.
pub const HEADS_CHANNEL: &str = "sprintlog_heads";

/// Connections per store. Appends to one planning queue on its row lock, not on the pool.
const MAX_CONNECTIONS: u32 = 8;

/// How long a caller waits for a connection (a free one, or a new one the database accepts)
/// before a retriable `PoolTimedOut`, answered 503 `unavailable`: during an outage a request
/// fails fast instead of being held (it was 10 s). Appends hold a connection for milliseconds,
/// so waiting longer for a free one only means an overloaded database.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// A doorbell rings at most once per this interval: the heads committed meanwhile go out
/// together, as one NOTIFY (one short transaction) for the whole node. The first commit after
/// a quiet spell rings at once.
const DOORBELL_INTERVAL: Duration = Duration::from_millis(5);

/// NOTIFY payloads must stay under 8000 bytes: a ring longer than this is split.
const MAX_PAYLOAD: usize = 7000;

/// How other nodes hear of an append's new head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Doorbell {
    /// After commit: the heads committed on this node are announced together, at most once
    /// per few milliseconds ([`HEADS_CHANNEL`], `planning:head,planning:head…`). An append
    /// that commits and whose ring is lost (the process dies in between) is found by the
    /// listeners' repair poll; the log stays the only truth.
    #[default]
    AfterCommit,
    /// `pg_notify` inside every append's transaction: what the server did before, kept so the
    /// doorbell benchmark compares both in one run (`benches/doorbell.rs`).
    InTransaction,
}

/// The event log in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    /// The after-commit doorbell (none with [`Doorbell::InTransaction`]).
    bell: Option<Bell>,
}

impl PgStore {
    /// Connects to `url` and applies the PostgreSQL migrations (sqlx takes an advisory lock,
    /// so nodes starting together do not apply them twice).
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_ringing(url, Doorbell::AfterCommit).await
    }

    /// [`PgStore::open`], announcing new heads as `doorbell` says.
    pub async fn open_ringing(url: &str, doorbell: Doorbell) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let bell = (doorbell == Doorbell::AfterCommit).then(|| Bell::start(pool.clone()));
        let store = PgStore { pool, bell };
        store.backfill_hashes().await?;
        Ok(store)
    }
}

/// The heads this node committed since the last ring, and the task that rings.
struct Bell {
    shared: Arc<BellShared>,
}

struct BellShared {
    /// Per planning (as text), the highest head committed since the last ring.
    heads: Mutex<HashMap<String, i64>>,
    rung: Notify,
    stop: AtomicBool,
}

impl Bell {
    fn start(pool: PgPool) -> Self {
        let shared = Arc::new(BellShared {
            heads: Mutex::new(HashMap::new()),
            rung: Notify::new(),
            stop: AtomicBool::new(false),
        });
        tokio::spawn(ring(pool, shared.clone()));
        Bell { shared }
    }

    /// `planning`'s head is now `head` (committed).
    fn committed(&self, planning: &str, head: i64) {
        {
            let mut heads = self.shared.heads.lock().unwrap_or_else(|e| e.into_inner());
            let at = heads.entry(planning.to_string()).or_default();
            *at = (*at).max(head);
        }
        self.shared.rung.notify_one();
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.rung.notify_one();
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The doorbell's task: NOTIFY what was committed, then wait an interval before the next ring.
async fn ring(pool: PgPool, shared: Arc<BellShared>) {
    loop {
        shared.rung.notified().await;
        if shared.stop.load(Ordering::Acquire) || pool.is_closed() {
            return;
        }
        let heads = std::mem::take(&mut *shared.heads.lock().unwrap_or_else(|e| e.into_inner()));
        if heads.is_empty() {
            continue;
        }
        let payloads = payloads(&heads);
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .bind(HEADS_CHANNEL)
            .bind(&payloads)
            .execute(&pool)
            .await;
        if let Err(e) = sent {
            // The listeners' repair poll finds these heads anyway; ring them again next time.
            tracing::warn!(error = %e, "head doorbell failed");
            let mut pending = shared.heads.lock().unwrap_or_else(|e| e.into_inner());
            for (planning, head) in heads {
                let at = pending.entry(planning).or_default();
                *at = (*at).max(head);
            }
            shared.rung.notify_one();
        }
        tokio::time::sleep(DOORBELL_INTERVAL).await;
    }
}

/// `planning:head` entries joined by commas, in payloads under [`MAX_PAYLOAD`] bytes.
fn payloads(heads: &HashMap<String, i64>) -> Vec<String> {
    let mut out = vec![String::new()];
    for (planning, head) in heads {
        let entry = format!("{planning}:{head}");
        let last = out.last_mut().expect("never empty");
        if !last.is_empty() && last.len() + 1 + entry.len() > MAX_PAYLOAD {
            out.push(entry);
        } else {
            if !last.is_empty() {
                last.push(',');
            }
            last.push_str(&entry);
        }
    }
    out
}

/// Reads a doorbell's payload: `planning:head` entries separated by commas (a single entry is
/// what nodes sent from inside the append before). Entries that do not parse are skipped.
fn parse_heads(payload: &str) -> Vec<(Uuid, i64)> {
    payload
        .split(',')
        .filter_map(|entry| {
            let (planning, head) = entry.rsplit_once(':')?;
            Some((Uuid::parse_str(planning).ok()?, head.parse().ok()?))
        })
        .collect()
}

impl PgStore {
    /// Ends a batch's append transaction once its events and commands are written: writes the
    /// scheduler jobs the batch calls for (an outbox; a job whose key exists already is left as
    /// it is), commits, and hands back what was written.
    async fn finish(
        mut tx: sqlx::Transaction<'static, Postgres>,
        reqs: &[AppendRequest],
        rows: Rows,
    ) -> StoreResult<Written> {
        for job in reqs.iter().flat_map(|r| &r.jobs) {
            sqlx::query(crate::store::sql::INSERT_JOB)
                .bind(&job.key)
                .bind(shared::uuid_text(job.planning_id))
                .bind(&job.kind)
                .bind(&job.payload)
                .bind(job.due_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Written::Rows(rows))
    }
}

impl AppendTx for PgStore {
    /// One attempt at appending a batch (often of one), in one transaction.
    async fn try_append_all(&self, reqs: &[AppendRequest]) -> StoreResult<Written> {
        let Some(first) = reqs.first() else {
            return Ok(Written::Rows(Rows::default()));
        };
        // Dropping `tx` on any error below rolls back before the connection is reused.
        let mut tx = self.begin_write().await?;
        let planning = shared::uuid_text(first.planning_id);
        let (head, head_hash) = lock_head(&mut tx, &planning).await?;
        let actors: Vec<String> = reqs.iter().map(|r| shared::uuid_text(r.actor)).collect();
        let ops: Vec<&str> = reqs.iter().map(|r| r.client_op_id.as_str()).collect();
        let existing = existing_commands(&mut tx, &planning, &actors, &ops).await?;
        let planned = shared::plan_batch(reqs, &existing, head)?;
        let spans = match planned {
            Planned::Duplicate(span) => {
                tx.rollback().await?;
                return Ok(Written::Duplicate(span));
            }
            Planned::Write(spans) => spans,
        };
        let hashes = shared::chain_all(reqs, &spans, head_hash.as_deref());
        let commands = Commands {
            planning: &planning,
            actors: &actors,
            ops: &ops,
            reqs,
            spans: &spans,
        };
        let notify = self.bell.is_none();
        let global_ids = write(&mut tx, &commands, &hashes, notify).await?;
        let last_seq = spans.last().map_or(head, |s| s.last_seq);
        let rows = Rows {
            spans,
            hashes,
            global_ids,
        };
        let written = Self::finish(tx, reqs, rows).await?;
        if let Some(bell) = self.bell.as_ref().filter(|_| last_seq > head) {
            bell.committed(&planning, last_seq);
        }
        Ok(written)
    }

    /// Whether `err` is a unique violation of `events(planning_id, seq)` or of `commands`'
    /// key: another writer got there first. A reused `event_id` is a caller bug and stays an
    /// error.
    fn is_collision(err: &StoreError) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = err else {
            return false;
        };
        db.is_unique_violation()
            && matches!(
                db.constraint(),
                Some("events_planning_seq_key" | "commands_pkey")
            )
    }
}

/// Locks the planning's head row and reads `(head, head_hash)`, creating the row first for a
/// new planning.
///
/// FOR UPDATE re-reads the latest committed head after waiting for the lock (READ COMMITTED),
/// so every check after it sees what the previous appender committed.
async fn lock_head(
    tx: &mut PgConnection,
    planning: &str,
) -> Result<(i64, Option<String>), sqlx::Error> {
    let locked: Option<(i64, Option<String>)> = sqlx::query_as(PgStore::HEAD_FOR_WRITE)
        .bind(planning)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = locked {
        return Ok(row);
    }
    // A new planning: its head row must exist to be locked. DO NOTHING (not DO UPDATE) so a
    // new planning's first appenders do not fight over an update; whoever loses waits for the
    // winner's row and then locks it. (Only a new planning pays this round trip; an existing
    // one is locked by the one above.)
    sqlx::query(
        "INSERT INTO rooms (planning_id, head) VALUES ($1, 0) \
         ON CONFLICT (planning_id) DO NOTHING",
    )
    .bind(planning)
    .execute(&mut *tx)
    .await?;
    sqlx::query_as(PgStore::HEAD_FOR_WRITE)
        .bind(planning)
        .fetch_one(&mut *tx)
        .await
}

/// Every request's idempotency row, by `(actor, client_op_id)`, in one round trip.
async fn existing_commands(
    tx: &mut PgConnection,
    planning: &str,
    actors: &[String],
    ops: &[&str],
) -> Result<Existing, sqlx::Error> {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT c.actor, c.client_op_id, c.command_hash, c.first_seq, c.last_seq \
         FROM commands c JOIN UNNEST($2::text[], $3::text[]) AS k(actor, op) \
         ON c.actor = k.actor AND c.client_op_id = k.op WHERE c.planning_id = $1",
    )
    .bind(planning)
    .bind(actors)
    .bind(ops)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(actor, op, command_hash, first_seq, last_seq)| {
            let row = CommandRow {
                command_hash,
                first_seq,
                last_seq,
            };
            ((actor, op), row)
        })
        .collect())
}

/// A planned batch, as [`write`] records it.
struct Commands<'a> {
    planning: &'a str,
    /// Per request, its actor as text and its op id.
    actors: &'a [String],
    ops: &'a [&'a str],
    reqs: &'a [AppendRequest],
    spans: &'a [Span],
}

/// The commands' idempotency rows; with events, the events (with their chain `hashes`), the
/// new head and, if `notify`, the notice too, in one statement: each statement is a round
/// trip. Returns the events' global ids in seq order.
async fn write(
    tx: &mut PgConnection,
    batch: &Commands<'_>,
    hashes: &[String],
    notify: bool,
) -> Result<Vec<i64>, sqlx::Error> {
    let command_hashes: Vec<&str> = batch.reqs.iter().map(|r| r.command_hash.as_str()).collect();
    let firsts: Vec<i64> = batch.spans.iter().map(|s| s.first_seq).collect();
    let lasts: Vec<i64> = batch.spans.iter().map(|s| s.last_seq).collect();
    // Column arrays for one UNNEST insert of every event of the batch.
    let (mut seqs, mut ids, mut actors, mut ops) = (vec![], vec![], vec![], vec![]);
    let (mut kinds, mut versions, mut payloads, mut ats) = (vec![], vec![], vec![], vec![]);
    for (req, span) in batch.reqs.iter().zip(batch.spans) {
        for (seq, e) in (span.first_seq..).zip(&req.events) {
            seqs.push(seq);
            ids.push(shared::uuid_text(e.event_id));
            actors.push(shared::uuid_text(req.actor));
            ops.push(req.client_op_id.as_str());
            kinds.push(e.kind.as_str());
            versions.push(e.version);
            payloads.push(e.payload.as_str());
            ats.push(req.recorded_at);
        }
    }
    let last_seq = lasts.last().copied().unwrap_or_default();
    let query = sqlx::query(match (hashes.is_empty(), notify) {
        (true, _) => INSERT_COMMANDS,
        (false, false) => WRITE,
        (false, true) => WRITE_NOTIFYING,
    })
    .bind(batch.planning)
    .bind(batch.actors)
    .bind(batch.ops)
    .bind(&command_hashes)
    .bind(&firsts)
    .bind(&lasts);
    if hashes.is_empty() {
        query.execute(&mut *tx).await?;
        return Ok(Vec::new());
    }
    let query = query
        .bind(&seqs)
        .bind(&ids)
        .bind(&actors)
        .bind(&ops)
        .bind(&kinds)
        .bind(&versions)
        .bind(&payloads)
        .bind(&ats)
        .bind(hashes)
        .bind(last_seq)
        .bind(hashes.last());
    let query = if notify {
        query
            .bind(HEADS_CHANNEL)
            .bind(format!("{}:{last_seq}", batch.planning))
    } else {
        query
    };
    query.fetch_one(&mut *tx).await?.try_get(1)
}

/// The commands' idempotency rows of a batch without events.
const INSERT_COMMANDS: &str = "INSERT INTO commands (planning_id, actor, client_op_id, \
     command_hash, first_seq, last_seq) SELECT $1, t.actor, t.op, t.hash, t.first, t.last \
     FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) \
     AS t(actor, op, hash, first, last)";

/// The CTEs of a batch with events: data-modifying CTEs all run, to completion, whether or not
/// the final SELECT reads them; any failure fails the statement (and the transaction).
///
/// ORDER BY seq: identity values (global_id) are handed out in the order rows are produced,
/// so they follow seq.
macro_rules! write_ctes {
    () => {
        concat!(
            "WITH c AS (",
            "INSERT INTO commands (planning_id, actor, client_op_id, command_hash, first_seq, ",
            "last_seq) SELECT $1, t.actor, t.op, t.hash, t.first, t.last ",
            "FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) ",
            "AS t(actor, op, hash, first, last)), ",
            "e AS (INSERT INTO events (planning_id, seq, event_id, actor, client_op_id, kind, ",
            "version, payload, recorded_at, hash) ",
            "SELECT $1, t.seq, t.event_id, t.actor, t.op, t.kind, t.version, t.payload, ",
            "t.at, t.hash FROM UNNEST($7::bigint[], $8::text[], $9::text[], $10::text[], ",
            "$11::text[], $12::int4[], $13::text[], $14::bigint[], $15::text[]) ",
            "AS t(seq, event_id, actor, op, kind, version, payload, at, hash) ORDER BY t.seq ",
            "RETURNING global_id, seq), ",
            "r AS (UPDATE rooms SET head = $16, head_hash = $17 WHERE planning_id = $1) "
        )
    };
}

/// A batch with events, in one statement. The second column hands back the global ids
/// (other writers' inserts may interleave, so they need not be consecutive); the first is
/// where [`WRITE_NOTIFYING`] notifies.
const WRITE: &str = concat!(
    write_ctes!(),
    "SELECT NULL::int4, ARRAY(SELECT global_id FROM e ORDER BY seq)"
);

/// [`WRITE`] with the notice sent at commit from inside the transaction
/// ([`Doorbell::InTransaction`]).
const WRITE_NOTIFYING: &str = concat!(
    write_ctes!(),
    "SELECT pg_notify($18, $19), ARRAY(SELECT global_id FROM e ORDER BY seq)"
);

impl SqlBackend for PgStore {
    type Db = Postgres;
    const HEAD_FOR_WRITE: &'static str =
        "SELECT head, head_hash FROM rooms WHERE planning_id = $1 FOR UPDATE";
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    // Disabling the trigger is transactional in PostgreSQL (and takes a lock on the table
    // until commit), so the guard is off for this purge only.
    const GUARD_OFF: &'static str = "ALTER TABLE events DISABLE TRIGGER events_no_update_delete";
    const GUARD_ON: &'static str = "ALTER TABLE events ENABLE TRIGGER events_no_update_delete";

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    fn stop_tasks(&self) {
        if let Some(bell) = &self.bell {
            bell.stop();
        }
    }

    async fn feed(&self) -> StoreResult<Option<Box<dyn HeadFeed>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(HEADS_CHANNEL).await?;
        Ok(Some(Box::new(PgHeadFeed {
            listener,
            heads: Default::default(),
        })))
    }

    async fn backup_to(&self, _path: &str) -> StoreResult<()> {
        Err(StoreError::Unsupported(
            "backup: use pg_dump for PostgreSQL".into(),
        ))
    }
}

super::sql::sql_stores!(PgStore);

/// LISTEN on [`HEADS_CHANNEL`].
struct PgHeadFeed {
    listener: PgListener,
    /// The heads of a ring not handed out yet.
    heads: std::collections::VecDeque<(Uuid, i64)>,
}

#[async_trait]
impl HeadFeed for PgHeadFeed {
    async fn next(&mut self) -> StoreResult<HeadNotice> {
        loop {
            if let Some((planning_id, head)) = self.heads.pop_front() {
                return Ok(HeadNotice::Head { planning_id, head });
            }
            // `recv()` would reconnect silently and drop what was notified meanwhile;
            // `try_recv()` reports the lost connection as `None` (it reconnects on the next call).
            match self.listener.try_recv().await? {
                None => {
                    // Reconnect (and LISTEN again) *before* telling the caller to re-read, so no
                    // append can fall between its re-read and our listening again.
                    self.listener.unlisten(HEADS_CHANNEL).await?;
                    self.listener.listen(HEADS_CHANNEL).await?;
                    return Ok(HeadNotice::Reconnected);
                }
                Some(n) => self.heads.extend(parse_heads(n.payload())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring's heads come back from its payloads, split under NOTIFY's size limit; a
    /// single-entry payload (as sent from inside an append) reads too.
    #[test]
    fn a_ring_carries_every_head_within_the_payload_limit() {
        let heads: HashMap<String, i64> = (0..500)
            .map(|i| (shared::uuid_text(Uuid::from_u128(i)), i as i64 * 7))
            .collect();
        let payloads = payloads(&heads);
        assert!(payloads.len() > 1, "500 heads do not fit one payload");
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let mut back: Vec<(Uuid, i64)> = payloads.iter().flat_map(|p| parse_heads(p)).collect();
        back.sort();
        let mut sent: Vec<(Uuid, i64)> = heads
            .iter()
            .map(|(p, h)| (Uuid::parse_str(p).unwrap(), *h))
            .collect();
        sent.sort();
        assert_eq!(back, sent);
        let one = format!("{}:12", Uuid::from_u128(9));
        assert_eq!(parse_heads(&one), vec![(Uuid::from_u128(9), 12)]);
        assert_eq!(parse_heads("nonsense,also:x"), vec![]);
    }
}
