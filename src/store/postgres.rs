//! The PostgreSQL backend (scale-out): appends serialise per planning on a `rooms` row lock.
//!
//! Several nodes may append to the same planning: the `SELECT … FOR UPDATE` on the planning's
//! `rooms` row makes them take turns, so `seq` is assigned (and committed) in order, and a
//! reader following one planning by `seq` never sees k+1 before k.

use super::shared::{self, CommandRow, Plan, EVENT_COLUMNS, JOB_COLUMNS};
use super::*;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::collections::HashMap;
use std::time::Duration;

/// The channel committed appends are announced on, as `planning:head`.
pub const HEADS_CHANNEL: &str = "sprintlog_heads";

/// Connections per store. Appends to one planning queue on its row lock, not on the pool.
const MAX_CONNECTIONS: u32 = 8;

/// How long a caller waits for a free connection before a (retriable) `PoolTimedOut`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The event log in a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` and applies the PostgreSQL migrations (sqlx takes an advisory lock,
    /// so nodes starting together do not apply them twice).
    pub async fn open(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let store = PgStore { pool };
        store.backfill_hashes().await?;
        Ok(store)
    }

    /// Gives events written before the hash chain existed their hashes (write-once), one
    /// planning per transaction under its head lock. A no-op once every event has one.
    async fn backfill_hashes(&self) -> StoreResult<()> {
        loop {
            let mut tx = self.pool.begin().await?;
            let planning: Option<String> =
                sqlx::query_scalar("SELECT planning_id FROM events WHERE hash IS NULL LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(planning) = planning else {
                return Ok(());
            };
            sqlx::query("SELECT head FROM rooms WHERE planning_id = $1 FOR UPDATE")
                .bind(&planning)
                .fetch_optional(&mut *tx)
                .await?;
            let rows = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE planning_id = $1 ORDER BY seq"
            ))
            .bind(&planning)
            .fetch_all(&mut *tx)
            .await?;
            let mut prev = GENESIS_HASH.to_string();
            for row in &rows {
                let e = shared::decode_event(row)?;
                if e.hash.is_empty() {
                    let hash = e.compute_hash(&prev);
                    sqlx::query(
                        "UPDATE events SET hash = $1 WHERE planning_id = $2 AND seq = $3 \
                         AND hash IS NULL",
                    )
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
            sqlx::query("UPDATE rooms SET head_hash = $1 WHERE planning_id = $2")
                .bind(&prev)
                .bind(&planning)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }

    /// One attempt at appending a batch (often of one), in one transaction.
    async fn try_append_all(&self, reqs: &[AppendRequest]) -> StoreResult<Vec<Appended>> {
        let Some(first) = reqs.first() else {
            return Ok(Vec::new());
        };
        // Dropping `tx` on any error below rolls back before the connection is reused.
        let mut tx = self.pool.begin().await?;
        let planning = shared::uuid_text(first.planning_id);

        // FOR UPDATE re-reads the latest committed head after waiting for the lock (READ
        // COMMITTED), so every check below sees what the previous appender committed.
        const LOCK_HEAD: &str =
            "SELECT head, head_hash FROM rooms WHERE planning_id = $1 FOR UPDATE";
        let locked: Option<(i64, Option<String>)> = sqlx::query_as(LOCK_HEAD)
            .bind(&planning)
            .fetch_optional(&mut *tx)
            .await?;
        let (head, head_hash) = match locked {
            Some(row) => row,
            None => {
                // A new planning: its head row must exist to be locked. DO NOTHING (not DO
                // UPDATE) so a new planning's first appenders do not fight over an update;
                // whoever loses waits for the winner's row and then locks it. (Only a new
                // planning pays this round trip; an existing one is locked by the one above.)
                sqlx::query(
                    "INSERT INTO rooms (planning_id, head) VALUES ($1, 0) \
                     ON CONFLICT (planning_id) DO NOTHING",
                )
                .bind(&planning)
                .execute(&mut *tx)
                .await?;
                sqlx::query_as(LOCK_HEAD)
                    .bind(&planning)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        // Every request's idempotency row in one round trip.
        let actors: Vec<String> = reqs.iter().map(|r| shared::uuid_text(r.actor)).collect();
        let ops: Vec<&str> = reqs.iter().map(|r| r.client_op_id.as_str()).collect();
        let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT c.actor, c.client_op_id, c.command_hash, c.first_seq, c.last_seq \
             FROM commands c JOIN UNNEST($2::text[], $3::text[]) AS k(actor, op) \
             ON c.actor = k.actor AND c.client_op_id = k.op WHERE c.planning_id = $1",
        )
        .bind(&planning)
        .bind(&actors)
        .bind(&ops)
        .fetch_all(&mut *tx)
        .await?;
        let existing: HashMap<(String, String), CommandRow> = rows
            .into_iter()
            .map(|(actor, op, command_hash, first_seq, last_seq)| {
                (
                    (actor, op),
                    CommandRow {
                        command_hash,
                        first_seq,
                        last_seq,
                    },
                )
            })
            .collect();
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

        // Column arrays for one UNNEST insert of every event of the batch.
        let mut prev = head_hash
            .clone()
            .unwrap_or_else(|| GENESIS_HASH.to_string());
        let (mut seqs, mut ids, mut ev_actors, mut ev_ops) = (vec![], vec![], vec![], vec![]);
        let (mut kinds, mut versions, mut payloads, mut ats, mut hashes) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut out = Vec::with_capacity(reqs.len());
        for (req, plan) in reqs.iter().zip(&plans) {
            let Plan::Write {
                first_seq,
                last_seq,
            } = *plan
            else {
                continue;
            };
            let chained = shared::chain(req, &prev, first_seq);
            if let Some(h) = chained.last() {
                prev = h.clone();
            }
            for ((seq, e), hash) in (first_seq..).zip(&req.events).zip(chained) {
                seqs.push(seq);
                ids.push(shared::uuid_text(e.event_id));
                ev_actors.push(shared::uuid_text(req.actor));
                ev_ops.push(req.client_op_id.as_str());
                kinds.push(e.kind.as_str());
                versions.push(e.version);
                payloads.push(e.payload.as_str());
                ats.push(req.recorded_at);
                hashes.push(hash);
            }
            out.push(Appended {
                first_seq,
                last_seq,
                duplicate: false,
            });
        }
        let last_seq = out.last().map_or(head, |a| a.last_seq);
        let hashes_of_commands: Vec<&str> = reqs.iter().map(|r| r.command_hash.as_str()).collect();
        let firsts: Vec<i64> = out.iter().map(|a| a.first_seq).collect();
        let lasts: Vec<i64> = out.iter().map(|a| a.last_seq).collect();
        // The commands' idempotency rows; with events, the events, the new head and the notice
        // too, in one statement: each statement is a round trip, and the batch used to take
        // five of them here. Data-modifying CTEs all run, to completion, whether or not the
        // final SELECT reads them; any failure fails the statement (and the transaction).
        const INSERT_COMMANDS: &str = "INSERT INTO commands (planning_id, actor, client_op_id, \
             command_hash, first_seq, last_seq) SELECT $1, t.actor, t.op, t.hash, t.first, t.last \
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) \
             AS t(actor, op, hash, first, last)";
        let write = if seqs.is_empty() {
            sqlx::query(INSERT_COMMANDS)
        } else {
            // ORDER BY seq: identity values (global_id) are handed out in the order rows are
            // produced, so they follow seq. pg_notify is sent at commit, and only if the
            // transaction commits: every node hosting this planning hears the new head. A short
            // hint (far below NOTIFY's 8000-byte limit); the events themselves are read from
            // the log.
            const WRITE: &str = concat!(
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
                "AS t(seq, event_id, actor, op, kind, version, payload, at, hash) ORDER BY t.seq), ",
                "r AS (UPDATE rooms SET head = $16, head_hash = $17 WHERE planning_id = $1) ",
                "SELECT pg_notify($18, $19)"
            );
            sqlx::query(WRITE)
        };
        let mut write = write
            .bind(&planning)
            .bind(&actors)
            .bind(&ops)
            .bind(&hashes_of_commands)
            .bind(&firsts)
            .bind(&lasts);
        if !seqs.is_empty() {
            write = write
                .bind(&seqs)
                .bind(&ids)
                .bind(&ev_actors)
                .bind(&ev_ops)
                .bind(&kinds)
                .bind(&versions)
                .bind(&payloads)
                .bind(&ats)
                .bind(&hashes)
                .bind(last_seq)
                .bind(&prev)
                .bind(HEADS_CHANNEL)
                .bind(format!("{planning}:{last_seq}"));
        }
        write.execute(&mut *tx).await?;
        for job in reqs.iter().flat_map(|r| &r.jobs) {
            sqlx::query(
                "INSERT INTO jobs (key, planning_id, kind, payload, due_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
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

/// Whether `err` is a unique violation of `events(planning_id, seq)` or of `commands`' key:
/// another writer got there first. A reused `event_id` is a caller bug and stays an error.
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

#[async_trait]
impl EventStore for PgStore {
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
            "SELECT {EVENT_COLUMNS} FROM events WHERE planning_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3"
        ))
        .bind(shared::uuid_text(planning_id))
        .bind(after)
        .bind(shared::clamp_limit(limit))
        .fetch_all(&self.pool)
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
             WHERE planning_id = $1 AND actor = $2 AND client_op_id = $3",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(shared::uuid_text(actor))
        .bind(client_op_id)
        .fetch_optional(&self.pool)
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
        // A lease ends at `lease_until` (`<=`): the time `next_job_due` reports, so a
        // scheduler waking then finds the job claimable instead of polling until it is.
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET lease_until = $2 WHERE key IN (\
               SELECT key FROM jobs WHERE done_at IS NULL AND due_at <= $1 \
               AND (lease_until IS NULL OR lease_until <= $1) \
               AND ($4 = 0 OR ($4 = 1 AND kind = $5) OR ($4 = 2 AND kind <> $5)) \
               ORDER BY due_at, key LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(shared::clamp_limit(limit))
        .bind(mode)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs: Vec<Job> = rows
            .iter()
            .map(shared::decode_job)
            .collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
        Ok(jobs)
    }

    async fn complete_job(&self, key: &str, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET done_at = $2 WHERE key = $1")
            .bind(key)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn retry_job(&self, key: &str, next_due: i64, attempts: i32) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET due_at = $2, attempts = $3, lease_until = NULL \
             WHERE key = $1 AND done_at IS NULL",
        )
        .bind(key)
        .bind(next_due)
        .bind(attempts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn fail_job(&self, key: &str, at: i64, attempts: i32, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET done_at = $2, attempts = $3, failed = TRUE, last_error = $4 \
             WHERE key = $1",
        )
        .bind(key)
        .bind(at)
        .bind(attempts)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn job_status(&self, key: &str) -> StoreResult<Option<JobStatus>> {
        let row: Option<(i64, i32, Option<i64>, bool, Option<String>)> = sqlx::query_as(
            "SELECT due_at, attempts, done_at, failed, last_error FROM jobs WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(due_at, attempts, done_at, failed, last_error)| JobStatus {
                due_at,
                attempts,
                done_at,
                failed,
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
             VALUES ($1, $2, $3, $4) ON CONFLICT (webhook_id) DO NOTHING",
        )
        .bind(&webhook)
        .bind(shared::uuid_text(planning_id))
        .bind(secret)
        .bind(at)
        .execute(&self.pool)
        .await?;
        let stored: String =
            sqlx::query_scalar("SELECT secret FROM webhook_secrets WHERE webhook_id = $1")
                .bind(&webhook)
                .fetch_one(&self.pool)
                .await?;
        Ok(stored)
    }

    async fn webhook_secret(&self, webhook_id: Uuid) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT secret FROM webhook_secrets WHERE webhook_id = $1")
                .bind(shared::uuid_text(webhook_id))
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn delete_webhook_secret(&self, webhook_id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM webhook_secrets WHERE webhook_id = $1")
            .bind(shared::uuid_text(webhook_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn next_job_due(&self, kinds: JobKinds<'_>) -> StoreResult<Option<i64>> {
        let (mode, kind) = kinds.binds();
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > due_at \
             THEN lease_until ELSE due_at END) FROM jobs WHERE done_at IS NULL \
             AND ($1 = 0 OR ($1 = 1 AND kind = $2) OR ($1 = 2 AND kind <> $2))",
        )
        .bind(mode)
        .bind(kind)
        .fetch_one(&self.pool)
        .await?;
        Ok(next)
    }

    async fn head_feed(&self) -> StoreResult<Option<Box<dyn HeadFeed>>> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(HEADS_CHANNEL).await?;
        Ok(Some(Box::new(PgHeadFeed { listener })))
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
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(projection_version)
        .bind(seq)
        .bind(state)
        .execute(&self.pool)
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
            "SELECT seq, state FROM snapshots WHERE planning_id = $1 \
             AND projection_version = $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1",
        )
        .bind(shared::uuid_text(planning_id))
        .bind(projection_version)
        .bind(at_or_below)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn delete_snapshots(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM snapshots")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge(&self, planning_id: Uuid, at: i64) -> StoreResult<i64> {
        let planning = shared::uuid_text(planning_id);
        let mut tx = self.pool.begin().await?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT head, head_hash FROM rooms WHERE planning_id = $1 FOR UPDATE")
                .bind(&planning)
                .fetch_optional(&mut *tx)
                .await?;
        let (head, head_hash) = row.unwrap_or((0, None));
        // Disabling the trigger is transactional in PostgreSQL (and takes a lock on the table
        // until commit), so the guard is off for this purge only.
        sqlx::query("ALTER TABLE events DISABLE TRIGGER events_no_update_delete")
            .execute(&mut *tx)
            .await?;
        let removed = sqlx::query("DELETE FROM events WHERE planning_id = $1")
            .bind(&planning)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("ALTER TABLE events ENABLE TRIGGER events_no_update_delete")
            .execute(&mut *tx)
            .await?;
        for table in ["rooms", "commands", "jobs", "snapshots", "webhook_secrets"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE planning_id = $1"))
                .bind(&planning)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO purges (planning_id, purged_at, events, head_hash) VALUES ($1, $2, $3, $4)",
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

    async fn head(&self, planning_id: Uuid) -> StoreResult<i64> {
        let head: Option<i64> = sqlx::query_scalar("SELECT head FROM rooms WHERE planning_id = $1")
            .bind(shared::uuid_text(planning_id))
            .fetch_optional(&self.pool)
            .await?;
        Ok(head.unwrap_or(0))
    }

    async fn read_all(&self, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE global_id > $1 ORDER BY global_id LIMIT $2"
        ))
        .bind(after)
        .bind(shared::clamp_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(shared::decode_event)
            .collect::<Result<_, _>>()?)
    }

    async fn plannings(&self) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT planning_id FROM rooms WHERE head > 0 ORDER BY planning_id")
                .fetch_all(&self.pool)
                .await?;
        Ok(shared::decode_plannings(ids)?)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

/// LISTEN on [`HEADS_CHANNEL`].
struct PgHeadFeed {
    listener: PgListener,
}

#[async_trait]
impl HeadFeed for PgHeadFeed {
    async fn next(&mut self) -> StoreResult<HeadNotice> {
        loop {
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
                Some(n) => {
                    let Some((planning, head)) = n.payload().rsplit_once(':') else {
                        continue;
                    };
                    if let (Ok(planning_id), Ok(head)) = (Uuid::parse_str(planning), head.parse()) {
                        return Ok(HeadNotice::Head { planning_id, head });
                    }
                }
            }
        }
    }
}
