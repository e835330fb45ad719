//! The SQL both backends run word for word, written once with `$N` placeholders.
//!
//! SQLite reads `$1`, `$2`… as named parameters and sqlx binds each to the argument of that
//! number (as PostgreSQL does), so one text serves both (the test below holds sqlx to it).
//! The statements are instantiated per backend by [`sql_stores!`] rather than written generic
//! over `sqlx::Database`: the text and the code are the same, the types are not, and a macro
//! keeps both type-checked against the concrete driver without a wall of trait bounds. What
//! differs between the backends is asked of [`SqlBackend`].

use super::shared::AppendTx;
use super::{HeadFeed, StoreResult};
use std::future::Future;

/// What a SQL backend supplies to the shared statements of [`sql_stores!`].
pub(crate) trait SqlBackend: AppendTx {
    /// The sqlx driver.
    type Db: sqlx::Database;
    /// Reads a planning's `(head, head_hash)` inside a writing transaction, bound to `$1`. On
    /// PostgreSQL it also locks the head row; SQLite's `BEGIN IMMEDIATE` already excludes
    /// every other writer.
    const HEAD_FOR_WRITE: &'static str;
    /// Appended to the claim's inner `SELECT` so that two claimers skip each other's rows
    /// (empty where one statement already runs alone, as on SQLite).
    const CLAIM_LOCK: &'static str;
    /// Takes the guard that refuses deleting events off, inside a purge's transaction.
    const GUARD_OFF: &'static str;
    /// Puts that guard back.
    const GUARD_ON: &'static str;

    /// The pool writes go through.
    fn writer(&self) -> &sqlx::Pool<Self::Db>;
    /// The pool reads go through (may be [`SqlBackend::writer`]).
    fn reader(&self) -> &sqlx::Pool<Self::Db>;
    /// Starts a transaction that writes: it must exclude other writers of the rows it reads
    /// through [`SqlBackend::HEAD_FOR_WRITE`].
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    /// [`super::EventLog::head_feed`].
    fn feed(&self) -> impl Future<Output = StoreResult<Option<Box<dyn HeadFeed>>>> + Send;
    /// Stops the backend's own background tasks, as the store closes.
    fn stop_tasks(&self) {}
    /// [`super::AdminStore::backup`].
    fn backup_to(&self, path: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// When the earliest pending job of some kinds can next be claimed: its `due_at`, or the end
/// of a lease that outlasts it. Two lookups, each the first row of an index (`jobs_pending`
/// by `due_at`, `jobs_leased` by `lease_until`), so the scheduler's every wake-up costs the
/// same however many jobs wait: a planning with 3,000 rounds holds 3,000 pending round
/// closes, and a `MIN` over an expression stepped through all of them twice per wake-up (a
/// seventh of the server's samples in a reveal stream's profile).
/// Writes a scheduler job; a job whose key exists already is left as it is (the outbox of an
/// append, and jobs added outside one).
pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (key, planning_id, kind, payload, due_at) \
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING";

pub(crate) const NEXT_DUE: &str = "SELECT MIN(t) FROM (\
     SELECT t FROM (SELECT due_at AS t FROM jobs WHERE done_at IS NULL \
       AND (lease_until IS NULL OR lease_until <= due_at) \
       AND ($1 = 0 OR ($1 = 1 AND kind IN ($2, $3)) OR ($1 = 2 AND kind NOT IN ($2, $3))) \
       ORDER BY due_at LIMIT 1) AS due \
     UNION ALL \
     SELECT t FROM (SELECT lease_until AS t FROM jobs WHERE done_at IS NULL \
       AND lease_until IS NOT NULL AND lease_until > due_at \
       AND ($1 = 0 OR ($1 = 1 AND kind IN ($2, $3)) OR ($1 = 2 AND kind NOT IN ($2, $3))) \
       ORDER BY lease_until LIMIT 1) AS leased\
   ) AS n";

/// Implements every store concern for a [`SqlBackend`] from the shared statements: the
/// [`super::EventLog`] (its append through the backend's own transaction and the shared retry
/// loop), [`super::JobStore`], [`super::SecretStore`], [`super::SnapshotStore`] and
/// [`super::AdminStore`], plus `backfill_hashes` for the backend's `open`.
macro_rules! sql_stores {
    ($store:ty) => {
        $crate::store::sql::sql_event_log!($store);
        $crate::store::sql::sql_jobs!($store);
        $crate::store::sql::sql_secrets_and_snapshots!($store);
        $crate::store::sql::sql_admin!($store);
    };
}

/// The [`super::EventLog`] of [`sql_stores!`].
macro_rules! sql_event_log {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::EventLog for $store {
            async fn append(
                &self,
                req: $crate::store::AppendRequest,
            ) -> $crate::store::StoreResult<$crate::store::Appended> {
                $crate::store::shared::append(self, req).await
            }

            async fn append_batch(
                &self,
                reqs: Vec<$crate::store::AppendRequest>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Appended>> {
                $crate::store::shared::append_batch(self, reqs).await
            }

            async fn read(
                &self,
                planning_id: ::uuid::Uuid,
                after: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::StoredEvent>> {
                use $crate::store::{shared, sql::SqlBackend};
                let rows = ::sqlx::query(&format!(
                    "SELECT {} FROM events WHERE planning_id = $1 AND seq > $2 \
                     ORDER BY seq LIMIT $3",
                    shared::EVENT_COLUMNS
                ))
                .bind(shared::uuid_text(planning_id))
                .bind(after)
                .bind(shared::clamp_limit(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(shared::decode_events(&rows)?)
            }

            async fn find_command(
                &self,
                planning_id: ::uuid::Uuid,
                actor: ::uuid::Uuid,
                client_op_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::CommandRecord>> {
                use $crate::store::{shared, sql::SqlBackend};
                let row: Option<shared::CommandRow> = ::sqlx::query_as(
                    "SELECT command_hash, first_seq, last_seq FROM commands \
                     WHERE planning_id = $1 AND actor = $2 AND client_op_id = $3",
                )
                .bind(shared::uuid_text(planning_id))
                .bind(shared::uuid_text(actor))
                .bind(client_op_id)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|r| $crate::store::CommandRecord {
                    command_hash: r.command_hash,
                    first_seq: r.first_seq,
                    last_seq: r.last_seq,
                }))
            }

            async fn head(&self, planning_id: ::uuid::Uuid) -> $crate::store::StoreResult<i64> {
                use $crate::store::{shared, sql::SqlBackend};
                let head: Option<i64> =
                    ::sqlx::query_scalar("SELECT head FROM rooms WHERE planning_id = $1")
                        .bind(shared::uuid_text(planning_id))
                        .fetch_optional(self.reader())
                        .await?;
                Ok(head.unwrap_or(0))
            }

            async fn head_with_hash(
                &self,
                planning_id: ::uuid::Uuid,
            ) -> $crate::store::StoreResult<(i64, Option<String>)> {
                use $crate::store::{shared, sql::SqlBackend};
                let row: Option<(i64, Option<String>)> =
                    ::sqlx::query_as("SELECT head, head_hash FROM rooms WHERE planning_id = $1")
                        .bind(shared::uuid_text(planning_id))
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.unwrap_or((0, None)))
            }

            async fn read_all(
                &self,
                after: i64,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::StoredEvent>> {
                use $crate::store::{shared, sql::SqlBackend};
                let rows = ::sqlx::query(&format!(
                    "SELECT {} FROM events WHERE global_id > $1 ORDER BY global_id LIMIT $2",
                    shared::EVENT_COLUMNS
                ))
                .bind(after)
                .bind(shared::clamp_limit(limit))
                .fetch_all(self.reader())
                .await?;
                Ok(shared::decode_events(&rows)?)
            }

            async fn head_feed(
                &self,
            ) -> $crate::store::StoreResult<Option<Box<dyn $crate::store::HeadFeed>>> {
                <$store as $crate::store::sql::SqlBackend>::feed(self).await
            }
        }
    };
}

/// The [`super::JobStore`] of [`sql_stores!`].
macro_rules! sql_jobs {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::JobStore for $store {
            async fn claim_jobs(
                &self,
                now: i64,
                lease_until: i64,
                limit: i64,
                kinds: $crate::store::JobKinds<'_>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Job>> {
                self.claim_jobs_held(None, now, lease_until, limit, kinds)
                    .await
            }

            async fn claim_jobs_as(
                &self,
                node: &str,
                now: i64,
                lease_until: i64,
                limit: i64,
                kinds: $crate::store::JobKinds<'_>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Job>> {
                self.claim_jobs_held(Some(node), now, lease_until, limit, kinds)
                    .await
            }

            async fn release_leases(&self, node: &str) -> $crate::store::StoreResult<u64> {
                use $crate::store::sql::SqlBackend;
                let done = ::sqlx::query(
                    "UPDATE jobs SET lease_until = NULL, leased_by = NULL \
                     WHERE leased_by = $1 AND done_at IS NULL AND lease_until IS NOT NULL",
                )
                .bind(node)
                .execute(self.writer())
                .await?;
                Ok(done.rows_affected())
            }

            async fn complete_job(&self, key: &str, at: i64) -> $crate::store::StoreResult<()> {
                use $crate::store::sql::SqlBackend;
                ::sqlx::query("UPDATE jobs SET done_at = $2 WHERE key = $1")
                    .bind(key)
                    .bind(at)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn retry_job(
                &self,
                key: &str,
                next_due: i64,
                attempts: i32,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql::SqlBackend;
                ::sqlx::query(
                    "UPDATE jobs SET due_at = $2, attempts = $3, lease_until = NULL \
                     WHERE key = $1 AND done_at IS NULL",
                )
                .bind(key)
                .bind(next_due)
                .bind(attempts)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn fail_job(
                &self,
                key: &str,
                at: i64,
                attempts: i32,
                error: &str,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql::SqlBackend;
                // `TRUE` is 1 to SQLite, whose column is an INTEGER.
                ::sqlx::query(
                    "UPDATE jobs SET done_at = $2, attempts = $3, failed = TRUE, \
                     last_error = $4 WHERE key = $1",
                )
                .bind(key)
                .bind(at)
                .bind(attempts)
                .bind(error)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn job_status(
                &self,
                key: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::JobStatus>> {
                use $crate::store::sql::SqlBackend;
                let row: Option<(i64, i32, Option<i64>, bool, Option<String>)> = ::sqlx::query_as(
                    "SELECT due_at, attempts, done_at, failed, last_error FROM jobs \
                         WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(due_at, attempts, done_at, failed, last_error)| {
                    $crate::store::JobStatus {
                        due_at,
                        attempts,
                        done_at,
                        failed,
                        last_error,
                    }
                }))
            }

            async fn retry_job_noting(
                &self,
                key: &str,
                next_due: i64,
                attempts: i32,
                error: &str,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql::SqlBackend;
                ::sqlx::query(
                    "UPDATE jobs SET due_at = $2, attempts = $3, lease_until = NULL, \
                     last_error = $4 WHERE key = $1 AND done_at IS NULL",
                )
                .bind(key)
                .bind(next_due)
                .bind(attempts)
                .bind(error)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn add_jobs(
                &self,
                jobs: &[$crate::store::Job],
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                for job in jobs {
                    ::sqlx::query($crate::store::sql::INSERT_JOB)
                        .bind(&job.key)
                        .bind(shared::uuid_text(job.planning_id))
                        .bind(&job.kind)
                        .bind(&job.payload)
                        .bind(job.due_at)
                        .execute(self.writer())
                        .await?;
                }
                Ok(())
            }

            async fn jobs_of(
                &self,
                planning_id: ::uuid::Uuid,
                kind: &str,
            ) -> $crate::store::StoreResult<Vec<($crate::store::Job, $crate::store::JobStatus)>>
            {
                use ::sqlx::Row;
                use $crate::store::{shared, sql::SqlBackend};
                let rows = ::sqlx::query(&format!(
                    "SELECT {}, done_at, failed, last_error FROM jobs \
                     WHERE planning_id = $1 AND kind = $2 ORDER BY key",
                    shared::JOB_COLUMNS
                ))
                .bind(shared::uuid_text(planning_id))
                .bind(kind)
                .fetch_all(self.writer())
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let job = shared::decode_job(row)?;
                    let status = $crate::store::JobStatus {
                        due_at: job.due_at,
                        attempts: job.attempts,
                        done_at: row.try_get("done_at")?,
                        failed: row.try_get("failed")?,
                        last_error: row.try_get("last_error")?,
                    };
                    out.push((job, status));
                }
                Ok(out)
            }

            async fn next_job_due(
                &self,
                kinds: $crate::store::JobKinds<'_>,
            ) -> $crate::store::StoreResult<Option<i64>> {
                use $crate::store::sql::SqlBackend;
                let (mode, kind, other) = kinds.binds();
                let next: Option<i64> = ::sqlx::query_scalar($crate::store::sql::NEXT_DUE)
                    .bind(mode)
                    .bind(kind)
                    .bind(other)
                    .fetch_one(self.reader())
                    .await?;
                Ok(next)
            }
        }

        impl $store {
            /// Claims due jobs (see `JobStore::claim_jobs`), recording `node` as their leases'
            /// holder.
            async fn claim_jobs_held(
                &self,
                node: Option<&str>,
                now: i64,
                lease_until: i64,
                limit: i64,
                kinds: $crate::store::JobKinds<'_>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Job>> {
                use $crate::store::{shared, sql::SqlBackend};
                let (mode, kind, other) = kinds.binds();
                // One statement: on SQLite it runs under the write lock, so two processes on
                // the same file take turns; on PostgreSQL the row locks (skipping those taken)
                // keep two claimers apart. A lease ends at `lease_until` (`<=`): the time
                // `next_job_due` reports, so a scheduler waking then finds the job claimable.
                let rows = ::sqlx::query(&format!(
                    "UPDATE jobs SET lease_until = $2, leased_by = $6 WHERE key IN (\
                       SELECT key FROM jobs WHERE done_at IS NULL AND due_at <= $1 \
                       AND (lease_until IS NULL OR lease_until <= $1) \
                       AND ($4 = 0 OR ($4 = 1 AND kind IN ($5, $7)) \
                       OR ($4 = 2 AND kind NOT IN ($5, $7))) \
                       ORDER BY due_at, key LIMIT $3{}) \
                     RETURNING {}",
                    <$store as SqlBackend>::CLAIM_LOCK,
                    shared::JOB_COLUMNS
                ))
                .bind(now)
                .bind(lease_until)
                .bind(shared::clamp_limit(limit))
                .bind(mode)
                .bind(kind)
                .bind(node)
                .bind(other)
                .fetch_all(self.writer())
                .await?;
                let mut jobs: Vec<$crate::store::Job> = rows
                    .iter()
                    .map(shared::decode_job)
                    .collect::<Result<_, _>>()?;
                jobs.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
                Ok(jobs)
            }
        }
    };
}

/// The [`super::SecretStore`] and [`super::SnapshotStore`] of [`sql_stores!`].
macro_rules! sql_secrets_and_snapshots {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::SecretStore for $store {
            async fn put_webhook_secret(
                &self,
                planning_id: ::uuid::Uuid,
                webhook_id: ::uuid::Uuid,
                secret: &str,
                at: i64,
            ) -> $crate::store::StoreResult<String> {
                use $crate::store::{shared, sql::SqlBackend};
                let webhook = shared::uuid_text(webhook_id);
                ::sqlx::query(
                    "INSERT INTO webhook_secrets (webhook_id, planning_id, secret, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (webhook_id) DO NOTHING",
                )
                .bind(&webhook)
                .bind(shared::uuid_text(planning_id))
                .bind(secret)
                .bind(at)
                .execute(self.writer())
                .await?;
                // Read back through the writer: a separate read pool may not see the insert yet.
                let stored: String = ::sqlx::query_scalar(
                    "SELECT secret FROM webhook_secrets WHERE webhook_id = $1",
                )
                .bind(&webhook)
                .fetch_one(self.writer())
                .await?;
                Ok(stored)
            }

            async fn webhook_secret(
                &self,
                webhook_id: ::uuid::Uuid,
            ) -> $crate::store::StoreResult<Option<String>> {
                use $crate::store::{shared, sql::SqlBackend};
                Ok(
                    ::sqlx::query_scalar(
                        "SELECT secret FROM webhook_secrets WHERE webhook_id = $1",
                    )
                    .bind(shared::uuid_text(webhook_id))
                    .fetch_optional(self.reader())
                    .await?,
                )
            }

            async fn delete_webhook_secret(
                &self,
                webhook_id: ::uuid::Uuid,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                ::sqlx::query("DELETE FROM webhook_secrets WHERE webhook_id = $1")
                    .bind(shared::uuid_text(webhook_id))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn put_tracker_connection(
                &self,
                planning_id: ::uuid::Uuid,
                config: &str,
                credential: &str,
                at: i64,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                ::sqlx::query(
                    "INSERT INTO tracker_connections (planning_id, config, credential, updated_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (planning_id) DO UPDATE SET \
                     config = excluded.config, credential = excluded.credential, \
                     updated_at = excluded.updated_at",
                )
                .bind(shared::uuid_text(planning_id))
                .bind(config)
                .bind(credential)
                .bind(at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn tracker_connection(
                &self,
                planning_id: ::uuid::Uuid,
            ) -> $crate::store::StoreResult<Option<(String, String)>> {
                use $crate::store::{shared, sql::SqlBackend};
                // Through the writer: a connection set a moment ago must be seen at once.
                Ok(::sqlx::query_as(
                    "SELECT config, credential FROM tracker_connections WHERE planning_id = $1",
                )
                .bind(shared::uuid_text(planning_id))
                .fetch_optional(self.writer())
                .await?)
            }

            async fn delete_tracker_connection(
                &self,
                planning_id: ::uuid::Uuid,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                ::sqlx::query("DELETE FROM tracker_connections WHERE planning_id = $1")
                    .bind(shared::uuid_text(planning_id))
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::SnapshotStore for $store {
            async fn save_snapshot(
                &self,
                planning_id: ::uuid::Uuid,
                projection_version: i32,
                seq: i64,
                state: &str,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                ::sqlx::query(
                    "INSERT INTO snapshots (planning_id, projection_version, seq, state) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(shared::uuid_text(planning_id))
                .bind(projection_version)
                .bind(seq)
                .bind(state)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn load_snapshot(
                &self,
                planning_id: ::uuid::Uuid,
                projection_version: i32,
                at_or_below: i64,
            ) -> $crate::store::StoreResult<Option<(i64, String)>> {
                use $crate::store::{shared, sql::SqlBackend};
                Ok(::sqlx::query_as(
                    "SELECT seq, state FROM snapshots WHERE planning_id = $1 \
                     AND projection_version = $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1",
                )
                .bind(shared::uuid_text(planning_id))
                .bind(projection_version)
                .bind(at_or_below)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn delete_snapshots(&self) -> $crate::store::StoreResult<()> {
                use $crate::store::sql::SqlBackend;
                ::sqlx::query("DELETE FROM snapshots")
                    .execute(self.writer())
                    .await?;
                Ok(())
            }
        }
    };
}

/// The [`super::AdminStore`] of [`sql_stores!`], the jobs an append writes, and the hash
/// backfill run at open.
macro_rules! sql_admin {
    ($store:ty) => {
        #[::async_trait::async_trait]
        impl $crate::store::AdminStore for $store {
            async fn purge(
                &self,
                planning_id: ::uuid::Uuid,
                at: i64,
            ) -> $crate::store::StoreResult<i64> {
                use $crate::store::{shared, sql::SqlBackend};
                let planning = shared::uuid_text(planning_id);
                let mut tx = self.begin_write().await?;
                let (head, head_hash): (i64, Option<String>) =
                    ::sqlx::query_as(<$store as SqlBackend>::HEAD_FOR_WRITE)
                        .bind(&planning)
                        .fetch_optional(&mut *tx)
                        .await?
                        .unwrap_or((0, None));
                // The guard comes off inside the transaction, for this purge only: no other
                // writer can run meanwhile, and a failure rolls it all back (PostgreSQL's
                // DISABLE TRIGGER and SQLite's DROP TRIGGER are both transactional).
                ::sqlx::query(<$store as SqlBackend>::GUARD_OFF)
                    .execute(&mut *tx)
                    .await?;
                let removed = ::sqlx::query("DELETE FROM events WHERE planning_id = $1")
                    .bind(&planning)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                ::sqlx::query(<$store as SqlBackend>::GUARD_ON)
                    .execute(&mut *tx)
                    .await?;
                for table in [
                    "rooms",
                    "commands",
                    "jobs",
                    "snapshots",
                    "webhook_secrets",
                    "tracker_connections",
                ] {
                    ::sqlx::query(&format!("DELETE FROM {table} WHERE planning_id = $1"))
                        .bind(&planning)
                        .execute(&mut *tx)
                        .await?;
                }
                ::sqlx::query(
                    "INSERT INTO purges (planning_id, purged_at, events, head_hash) \
                     VALUES ($1, $2, $3, $4)",
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

            async fn backup(&self, path: &str) -> $crate::store::StoreResult<()> {
                <$store as $crate::store::sql::SqlBackend>::backup_to(self, path).await
            }

            async fn plannings(&self) -> $crate::store::StoreResult<Vec<::uuid::Uuid>> {
                use $crate::store::{shared, sql::SqlBackend};
                let ids: Vec<String> = ::sqlx::query_scalar(
                    "SELECT planning_id FROM rooms WHERE head > 0 ORDER BY planning_id",
                )
                .fetch_all(self.reader())
                .await?;
                Ok(shared::decode_plannings(ids)?)
            }

            async fn close(&self) {
                use $crate::store::sql::SqlBackend;
                self.stop_tasks();
                self.reader().close().await;
                self.writer().close().await;
            }
        }

        impl $store {
            /// Gives events written before the hash chain existed their hashes (write-once),
            /// one planning per writing transaction. A no-op once every event has one.
            async fn backfill_hashes(&self) -> $crate::store::StoreResult<()> {
                use $crate::store::{shared, sql::SqlBackend};
                loop {
                    let mut tx = self.begin_write().await?;
                    let planning: Option<String> = ::sqlx::query_scalar(
                        "SELECT planning_id FROM events WHERE hash IS NULL LIMIT 1",
                    )
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(planning) = planning else {
                        return Ok(());
                    };
                    ::sqlx::query(<$store as SqlBackend>::HEAD_FOR_WRITE)
                        .bind(&planning)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let rows = ::sqlx::query(&format!(
                        "SELECT {} FROM events WHERE planning_id = $1 ORDER BY seq",
                        shared::EVENT_COLUMNS
                    ))
                    .bind(&planning)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut prev = $crate::store::GENESIS_HASH.to_string();
                    for row in &rows {
                        let e = shared::decode_event(row)?;
                        if e.hash.is_empty() {
                            let hash = e.compute_hash(&prev);
                            ::sqlx::query(
                                "UPDATE events SET hash = $1 WHERE planning_id = $2 \
                                 AND seq = $3 AND hash IS NULL",
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
                    ::sqlx::query("UPDATE rooms SET head_hash = $1 WHERE planning_id = $2")
                        .bind(&prev)
                        .bind(&planning)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                }
            }
        }
    };
}

pub(crate) use {sql_admin, sql_event_log, sql_jobs, sql_secrets_and_snapshots, sql_stores};

#[cfg(test)]
mod tests {
    /// The shared statements rely on SQLite binding `$N` to the N-th argument, whatever the
    /// order and however often each appears.
    #[tokio::test]
    async fn sqlite_binds_dollar_n_by_number() {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        let s: String = sqlx::query_scalar("SELECT $2 || $1 || $2 || $3")
            .bind("a")
            .bind("b")
            .bind("c")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(s, "babc");
        pool.close().await;
    }
}
