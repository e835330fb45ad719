//! The storage contract, written once and run against both backends on real databases.
//!
//! Every case is a plain `async fn(&TestDb)`; the `contract!` macro below instantiates it as
//! `sqlite::<case>` (a fresh temp file) and `postgres::<case>` (a fresh database on the server
//! named by `SPRINTLOG_TEST_PG`, skipped with a message when unset, failing under `CI=true`).

mod common;

use serde_json::json;
use sprintlog::domain::canonical;
use sprintlog::store::{
    self, AppendRequest, Appended, CommandRecord, EventStore, Job, JobKinds, NewEvent, StoreError,
    StoredEvent,
};
use sqlx::{ConnectOptions, Connection};
use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Backend factory

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One fresh database of either backend, plus raw access to it (bypassing the store).
struct TestDb {
    url: String,
    backend: Backend,
    /// Removes the database (temp dir / `DROP DATABASE`) when the test ends, even on panic.
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

impl TestDb {
    fn sqlite() -> TestDb {
        let db = common::fresh_sqlite();
        TestDb {
            url: db.url.clone(),
            backend: Backend::Sqlite,
            _guard: Box::new(db),
        }
    }

    async fn postgres(test: &str) -> Option<TestDb> {
        let db = common::fresh_pg(test).await?;
        Some(TestDb {
            url: db.url.clone(),
            backend: Backend::Postgres,
            _guard: Box::new(db),
        })
    }

    fn is_sqlite(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// A new, independent store instance (its own pools), as another process would open.
    async fn open(&self) -> Arc<dyn EventStore> {
        store::open(&self.url).await.expect("open store")
    }

    /// Runs `sql` on a raw connection to the database: no store, no pragmas of ours.
    async fn raw_exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)?
                    .connect()
                    .await?;
                let r = sqlx::query(sql).execute(&mut conn).await;
                conn.close().await?;
                Ok(r?.rows_affected())
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                let r = sqlx::query(sql).execute(&mut conn).await;
                conn.close().await?;
                Ok(r?.rows_affected())
            }
        }
    }
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::TestDb::sqlite();
                    super::$case(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres(stringify!($case)).await else {
                        return;
                    };
                    super::$case(&db).await;
                }
            )*
        }
    };
}

contract!(
    round_trip_and_paging,
    read_all_in_global_order,
    concurrent_writers_are_gapless,
    stale_expected_seq_is_a_conflict,
    idempotent_retry_returns_the_first_result,
    same_op_id_different_command_is_refused,
    events_are_immutable_in_the_database,
    durable_across_reopen,
    zero_event_command_is_recorded,
    concurrent_open_on_a_fresh_database,
    find_command_reports_the_recorded_command,
    jobs_are_written_atomically_with_their_events,
    an_existing_job_key_is_left_unchanged,
    claim_takes_due_free_pending_jobs_in_due_order,
    complete_job_makes_it_unclaimable,
    next_job_due_reports_the_earliest_claim,
    claims_and_due_times_filter_by_kind,
    concurrent_claims_never_share_a_job,
    batch_appends_in_one_commit_all_or_nothing,
    an_append_returns_the_rows_it_wrote,
);

// ---------------------------------------------------------------------------------------------
// Builders

fn event(kind: &str, payload: serde_json::Value) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        kind: kind.to_string(),
        version: 1,
        payload: canonical::to_canonical(&payload).unwrap(),
    }
}

fn events(n: usize, tag: &str) -> Vec<NewEvent> {
    (0..n)
        .map(|i| {
            event(
                &format!("K{i}"),
                json!({"tag": tag, "i": i, "z": [1, {"b": 2, "a": 1}]}),
            )
        })
        .collect()
}

fn request(
    planning_id: Uuid,
    expected_seq: i64,
    actor: Uuid,
    op: &str,
    events: Vec<NewEvent>,
) -> AppendRequest {
    AppendRequest {
        planning_id,
        expected_seq,
        actor,
        client_op_id: op.to_string(),
        command_hash: format!("hash-of-{op}"),
        recorded_at: 1_764_000_000_123_456,
        jobs: Vec::new(),
        events,
    }
}

/// An append's result without its rows: `(first_seq, last_seq, duplicate)`.
fn appended(first_seq: i64, last_seq: i64, duplicate: bool) -> (i64, i64, bool) {
    (first_seq, last_seq, duplicate)
}

/// The [`appended`] part of a result.
fn span(a: impl std::borrow::Borrow<Appended>) -> (i64, i64, bool) {
    let a = a.borrow();
    (a.first_seq, a.last_seq, a.duplicate)
}

fn seqs(events: &[StoredEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

/// Asserts that `stored` is exactly what `req` asked for, from `first_seq` on.
fn assert_matches_request(stored: &[StoredEvent], req: &AppendRequest, first_seq: i64) {
    assert_eq!(stored.len(), req.events.len());
    for ((s, e), seq) in stored.iter().zip(&req.events).zip(first_seq..) {
        assert_eq!(s.planning_id, req.planning_id);
        assert_eq!(s.seq, seq);
        assert_eq!(s.event_id, e.event_id);
        assert_eq!(s.actor, req.actor);
        assert_eq!(s.client_op_id, req.client_op_id);
        assert_eq!(s.kind, e.kind);
        assert_eq!(s.version, e.version);
        assert_eq!(s.payload, e.payload);
        assert_eq!(s.recorded_at, req.recorded_at);
    }
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn round_trip_and_paging(db: &TestDb) {
    let s = db.open().await;
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(s.head(p).await.unwrap(), 0);
    assert!(s.read(p, 0, 100).await.unwrap().is_empty());

    let first = request(p, 0, actor, "op-1", events(3, "a"));
    assert_eq!(
        span(s.append(first.clone()).await.unwrap()),
        appended(1, 3, false)
    );
    let mut second = request(p, 3, actor, "op-2", events(2, "b"));
    second.events[0].version = 7;
    second.events[1].payload = canonical::to_canonical(&json!({"s": "é \"q\" \n ✓"})).unwrap();
    assert_eq!(
        span(s.append(second.clone()).await.unwrap()),
        appended(4, 5, false)
    );
    assert_eq!(s.head(p).await.unwrap(), 5);

    let all = s.read(p, 0, 100).await.unwrap();
    assert_eq!(seqs(&all), vec![1, 2, 3, 4, 5]);
    assert_matches_request(&all[..3], &first, 1);
    assert_matches_request(&all[3..], &second, 4);

    // After a seq, paged.
    assert_eq!(seqs(&s.read(p, 2, 2).await.unwrap()), vec![3, 4]);
    assert_eq!(seqs(&s.read(p, 4, 10).await.unwrap()), vec![5]);
    assert!(s.read(p, 5, 10).await.unwrap().is_empty());
    assert!(s.read(p, 99, 10).await.unwrap().is_empty());
    assert!(s.read(p, 0, 0).await.unwrap().is_empty());
    assert!(s.read(p, 0, -1).await.unwrap().is_empty());
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = s.read(p, after, 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
        assert!(paged.len() <= 5);
    }
    assert_eq!(paged, all);

    // Another store instance sees the same log.
    let other = db.open().await;
    assert_eq!(other.read(p, 0, 100).await.unwrap(), all);
    assert_eq!(other.head(p).await.unwrap(), 5);
    s.close().await;
    other.close().await;
}

async fn read_all_in_global_order(db: &TestDb) {
    let s = db.open().await;
    let (p, q, actor) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, actor, "p1", events(2, "p1")))
        .await
        .unwrap();
    s.append(request(q, 0, actor, "q1", events(3, "q1")))
        .await
        .unwrap();
    s.append(request(p, 2, actor, "p2", events(1, "p2")))
        .await
        .unwrap();
    s.append(request(q, 3, actor, "q2", events(2, "q2")))
        .await
        .unwrap();

    let all = s.read_all(0, 100).await.unwrap();
    let order: Vec<(Uuid, i64)> = all.iter().map(|e| (e.planning_id, e.seq)).collect();
    assert_eq!(
        order,
        vec![
            (p, 1),
            (p, 2),
            (q, 1),
            (q, 2),
            (q, 3),
            (p, 3),
            (q, 4),
            (q, 5)
        ]
    );
    assert!(all.windows(2).all(|w| w[0].global_id < w[1].global_id));

    // Paged by global id.
    let mut paged = Vec::new();
    let mut after = 0;
    for _ in 0..100 {
        let page = s.read_all(after, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.global_id;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert!(s.read_all(after, 10).await.unwrap().is_empty());

    // Per planning reads agree with the global log.
    let from_p: Vec<_> = all.iter().filter(|e| e.planning_id == p).cloned().collect();
    assert_eq!(s.read(p, 0, 100).await.unwrap(), from_p);

    let mut expected = vec![p, q];
    expected.sort();
    assert_eq!(s.plannings().await.unwrap(), expected);
    s.close().await;
}

async fn concurrent_writers_are_gapless(db: &TestDb) {
    const WRITERS: usize = 8;
    const COMMANDS: usize = 10;
    // Two instances on the same database, as two processes or nodes would have.
    let stores = [db.open().await, db.open().await];
    let p = Uuid::new_v4();
    let size = |w: usize, c: usize| 1 + (w + c) % 3; // 1, 2 or 3 events per command
    let total: i64 = (0..WRITERS)
        .flat_map(|w| (0..COMMANDS).map(move |c| size(w, c) as i64))
        .sum();

    // A reader tailing the planning: every read continues exactly where the previous ended.
    let reader = {
        let s = stores[1].clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut last = 0i64;
            let mut reads = 0u64;
            while last < total {
                assert!(Instant::now() < deadline, "reader stuck at seq {last}");
                let page = s.read(p, last, 7).await.unwrap();
                for e in &page {
                    assert_eq!(
                        e.seq,
                        last + 1,
                        "reader saw seq {} right after {last}",
                        e.seq
                    );
                    last = e.seq;
                }
                reads += 1;
                if page.is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            (last, reads)
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let s = stores[w % 2].clone();
            let actor = Uuid::new_v4();
            tokio::spawn(async move {
                let mut done = Vec::new();
                let mut conflicts = 0u32;
                for c in 0..COMMANDS {
                    let op = format!("w{w}-c{c}");
                    let evs = events(size(w, c), &op);
                    loop {
                        let head = s.head(p).await.unwrap();
                        let req = request(p, head, actor, &op, evs.clone());
                        match s.append(req).await {
                            Ok(a) => {
                                assert!(!a.duplicate);
                                assert_eq!(a.first_seq, head + 1);
                                assert_eq!(a.last_seq - a.first_seq + 1, evs.len() as i64);
                                done.push((op, evs, a));
                                break;
                            }
                            Err(StoreError::Conflict { expected, head }) => {
                                // Heads only grow: a conflict means someone got in first.
                                assert!(head > expected, "head {head} <= expected {expected}");
                                conflicts += 1;
                                assert!(conflicts < 20_000, "writer {w} starved");
                                tokio::task::yield_now().await;
                            }
                            Err(e) => panic!("writer {w}: unexpected error {e:?}"),
                        }
                    }
                }
                done
            })
        })
        .collect();

    let mut commands = Vec::new();
    for w in writers {
        commands.extend(w.await.unwrap());
    }
    let (last_seen, _reads) = reader.await.unwrap();
    assert_eq!(last_seen, total);

    let log = stores[0].read(p, 0, 10_000).await.unwrap();
    assert_eq!(seqs(&log), (1..=total).collect::<Vec<_>>());
    for s in &stores {
        assert_eq!(s.head(p).await.unwrap(), total);
    }
    // Every command's events are contiguous, in order, at the seqs it was told.
    assert_eq!(commands.len(), WRITERS * COMMANDS);
    for (op, evs, a) in &commands {
        let slice = &log[(a.first_seq - 1) as usize..a.last_seq as usize];
        assert!(slice.iter().all(|e| &e.client_op_id == op));
        let ids: Vec<_> = slice.iter().map(|e| e.event_id).collect();
        let want: Vec<_> = evs.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, want);
    }
    let unique: HashSet<_> = log.iter().map(|e| e.event_id).collect();
    assert_eq!(unique.len(), log.len());
    for s in &stores {
        s.close().await;
    }
}

async fn stale_expected_seq_is_a_conflict(db: &TestDb) {
    let s = db.open().await;
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, actor, "op-1", events(2, "a")))
        .await
        .unwrap();
    let before = s.read(p, 0, 100).await.unwrap();

    for stale in [0, 1, 5] {
        let op = format!("stale-{stale}");
        match s
            .append(request(p, stale, actor, &op, events(2, "x")))
            .await
        {
            Err(StoreError::Conflict { expected, head }) => {
                assert_eq!((expected, head), (stale, 2));
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    assert_eq!(s.read(p, 0, 100).await.unwrap(), before);
    assert_eq!(s.head(p).await.unwrap(), 2);
    // The refused commands were not recorded: the same op ids with the right head succeed.
    assert_eq!(
        span(
            s.append(request(p, 2, actor, "stale-1", events(1, "x")))
                .await
                .unwrap()
        ),
        appended(3, 3, false)
    );

    // On a planning with no event yet.
    let fresh = Uuid::new_v4();
    match s
        .append(request(fresh, 1, actor, "op", events(1, "y")))
        .await
    {
        Err(StoreError::Conflict { expected, head }) => assert_eq!((expected, head), (1, 0)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(s.head(fresh).await.unwrap(), 0);
    assert!(s.read(fresh, 0, 10).await.unwrap().is_empty());
    assert_eq!(s.plannings().await.unwrap(), vec![p]);
    s.close().await;
}

async fn idempotent_retry_returns_the_first_result(db: &TestDb) {
    let s = db.open().await;
    let (p, actor, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, other, "setup", events(1, "s")))
        .await
        .unwrap();

    let cmd = request(p, 1, actor, "three", events(3, "t"));
    assert_eq!(
        span(s.append(cmd.clone()).await.unwrap()),
        appended(2, 4, false)
    );
    // Lost ack: the very same request again.
    assert_eq!(
        span(s.append(cmd.clone()).await.unwrap()),
        appended(2, 4, true)
    );
    assert_eq!(s.head(p).await.unwrap(), 4);

    // Other commands move the head; the retry (still with its old expected_seq) is answered
    // from the record, not refused as stale.
    s.append(request(p, 4, other, "later", events(2, "l")))
        .await
        .unwrap();
    assert_eq!(
        span(s.append(cmd.clone()).await.unwrap()),
        appended(2, 4, true)
    );
    // Through another instance too.
    let s2 = db.open().await;
    assert_eq!(
        span(s2.append(cmd.clone()).await.unwrap()),
        appended(2, 4, true)
    );

    let log = s.read(p, 0, 100).await.unwrap();
    assert_eq!(seqs(&log), vec![1, 2, 3, 4, 5, 6]);
    assert_matches_request(&log[1..4], &cmd, 2);
    let ids: Vec<_> = log.iter().map(|e| e.event_id).collect();
    for e in &cmd.events {
        assert_eq!(ids.iter().filter(|id| **id == e.event_id).count(), 1);
    }
    s.close().await;
    s2.close().await;
}

/// What an append hands back is what the log holds: the rows a later `read` returns, global
/// id and chain hash included, for single appends and batches, across interleaved plannings.
/// A duplicate wrote nothing and hands back no row.
async fn an_append_returns_the_rows_it_wrote(db: &TestDb) {
    let s = db.open().await;
    let (p, q, x, y) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let mut returned = Vec::new();
    let one = s
        .append(request(p, 0, x, "p1", events(3, "p1")))
        .await
        .unwrap();
    assert_eq!(seqs(&one.events), vec![1, 2, 3]);
    returned.extend(one.events);
    let other = s
        .append(request(q, 0, y, "q1", events(2, "q1")))
        .await
        .unwrap();
    let batch = s
        .append_batch(vec![
            request(p, 3, y, "p2", events(2, "p2")),
            request(p, 5, x, "p3", Vec::new()),
            request(p, 5, x, "p4", events(1, "p4")),
        ])
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|a| a.events.len()).collect::<Vec<_>>(),
        vec![2, 0, 1]
    );
    returned.extend(batch.into_iter().flat_map(|a| a.events));
    assert_eq!(s.read(p, 0, 100).await.unwrap(), returned);
    assert_eq!(s.read(q, 0, 100).await.unwrap(), other.events);
    // More rows than one multi-row statement holds (SQLite writes 256 per statement).
    let big = s
        .append(request(q, 2, y, "q2", events(300, "q2")))
        .await
        .unwrap();
    assert_eq!(s.read(q, 2, 1000).await.unwrap(), big.events);
    assert!(returned
        .iter()
        .all(|e| !e.hash.is_empty() && e.global_id > 0));
    let all = s.read_all(0, 100).await.unwrap();
    assert!(returned
        .iter()
        .chain(&other.events)
        .all(|e| all.contains(e)));

    let retry = s
        .append(request(p, 0, x, "p1", events(3, "p1")))
        .await
        .unwrap();
    assert_eq!(
        (span(&retry), retry.events.len()),
        (appended(1, 3, true), 0)
    );
    let retry = s
        .append_batch(vec![request(q, 0, y, "q1", events(2, "q1"))])
        .await
        .unwrap();
    assert!(retry[0].duplicate && retry[0].events.is_empty());
    s.close().await;
}

async fn batch_appends_in_one_commit_all_or_nothing(db: &TestDb) {
    let s = db.open().await;
    let (p, x, y) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, x, "setup", events(1, "s")))
        .await
        .unwrap();
    // Three commands (2, 0 and 3 events), each expecting the head the one before leaves.
    let batch = vec![
        request(p, 1, x, "b1", events(2, "b1")),
        request(p, 3, y, "b2", Vec::new()),
        request(p, 3, y, "b3", events(3, "b3")),
    ];
    let out = s.append_batch(batch.clone()).await.unwrap();
    assert_eq!(
        out.iter().map(span).collect::<Vec<_>>(),
        vec![
            appended(2, 3, false),
            appended(4, 3, false),
            appended(4, 6, false)
        ]
    );
    let log = s.read(p, 0, 100).await.unwrap();
    assert_eq!(seqs(&log), (1..=6).collect::<Vec<_>>());
    assert_matches_request(&log[1..3], &batch[0], 2);
    assert_matches_request(&log[3..6], &batch[2], 4);
    // Each command is recorded for idempotency, the zero-event one included.
    for (req, a) in batch.iter().zip(&out) {
        let (first, last, _) = span(a);
        assert_eq!(
            span(s.append(req.clone()).await.unwrap()),
            appended(first, last, true),
            "{}",
            req.client_op_id
        );
    }
    assert!(
        matches!(
            store::verify_chain(&*s, p).await.unwrap(),
            store::ChainCheck::Intact { events: 6, .. }
        ),
        "the chain runs through the batch"
    );

    // A batch holding a retried command writes nothing (its successors were decided assuming
    // its events) and says conflict, so the caller appends one by one.
    let refused = s
        .append_batch(vec![
            request(p, 6, x, "c1", events(1, "c1")),
            batch[0].clone(),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    // So does a stale head in the middle, and a key used twice in one batch.
    let refused = s
        .append_batch(vec![
            request(p, 6, x, "c1", events(1, "c1")),
            request(p, 6, x, "c2", events(1, "c2")),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    let refused = s
        .append_batch(vec![
            request(p, 6, x, "c1", events(1, "c1")),
            request(p, 7, x, "c1", events(1, "c1")),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict { .. })),
        "{refused:?}"
    );
    assert_eq!(s.head(p).await.unwrap(), 6);
    assert_eq!(s.read(p, 0, 100).await.unwrap().len(), 6);
    assert!(s.find_command(p, x, "c1").await.unwrap().is_none());
    // A batch of one is a plain append, duplicates answered from the record.
    assert_eq!(
        s.append_batch(vec![batch[2].clone()])
            .await
            .unwrap()
            .iter()
            .map(span)
            .collect::<Vec<_>>(),
        vec![appended(4, 6, true)]
    );
    s.close().await;
}

async fn same_op_id_different_command_is_refused(db: &TestDb) {
    let s = db.open().await;
    let (p, x, y) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, x, "op-1", events(2, "a")))
        .await
        .unwrap();
    let before = s.read(p, 0, 100).await.unwrap();

    let mut different = request(p, 2, x, "op-1", events(1, "b"));
    different.command_hash = "another-hash".into();
    match s.append(different.clone()).await {
        Err(StoreError::OpConflict(op)) => assert_eq!(op, "op-1"),
        other => panic!("expected OpConflict, got {other:?}"),
    }
    // Even with a stale expected_seq, the key clash is what is reported.
    different.expected_seq = 0;
    assert!(matches!(
        s.append(different.clone()).await,
        Err(StoreError::OpConflict(_))
    ));
    assert_eq!(s.read(p, 0, 100).await.unwrap(), before);
    assert_eq!(s.head(p).await.unwrap(), 2);

    // The same op id from another actor is another command.
    different.actor = y;
    different.expected_seq = 2;
    assert_eq!(
        span(s.append(different.clone()).await.unwrap()),
        appended(3, 3, false)
    );
    // And the same op id in another planning too.
    let q = Uuid::new_v4();
    assert_eq!(
        span(
            s.append(request(q, 0, x, "op-1", events(1, "c")))
                .await
                .unwrap()
        ),
        appended(1, 1, false)
    );
    s.close().await;
}

async fn events_are_immutable_in_the_database(db: &TestDb) {
    let s = db.open().await;
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());
    s.append(request(p, 0, actor, "op-1", events(2, "a")))
        .await
        .unwrap();
    let before = s.read_all(0, 100).await.unwrap();
    let first = &before[0];
    let (pid, eid) = (first.planning_id, first.event_id);

    let mut refused = vec![
        format!("UPDATE events SET payload = '{{}}' WHERE planning_id = '{pid}' AND seq = 1"),
        "UPDATE events SET seq = seq + 100".to_string(),
        format!("DELETE FROM events WHERE planning_id = '{pid}' AND seq = 1"),
        "DELETE FROM events".to_string(),
    ];
    let columns = "planning_id, seq, event_id, actor, client_op_id, kind, version, payload, \
                   recorded_at";
    if db.is_sqlite() {
        // REPLACE on the (planning, seq) key, on the event id, and on the global id.
        refused.push(format!(
            "INSERT OR REPLACE INTO events ({columns}) VALUES \
             ('{pid}', 1, '{}', '{actor}', 'evil', 'X', 1, '{{}}', 0)",
            Uuid::new_v4()
        ));
        refused.push(format!(
            "INSERT OR REPLACE INTO events ({columns}) VALUES \
             ('{pid}', 99, '{eid}', '{actor}', 'evil', 'X', 1, '{{}}', 0)"
        ));
        refused.push(format!(
            "INSERT OR REPLACE INTO events (global_id, {columns}) VALUES \
             ({}, '{pid}', 98, '{}', '{actor}', 'evil', 'X', 1, '{{}}', 0)",
            first.global_id,
            Uuid::new_v4()
        ));
        refused.push(format!(
            "REPLACE INTO events ({columns}) VALUES \
             ('{pid}', 2, '{}', '{actor}', 'evil', 'X', 1, '{{}}', 0)",
            Uuid::new_v4()
        ));
        refused.push(format!(
            "INSERT INTO events ({columns}) VALUES \
             ('{pid}', 1, '{}', '{actor}', 'evil', 'X', 1, '{{}}', 0) \
             ON CONFLICT (planning_id, seq) DO UPDATE SET payload = 'evil'",
            Uuid::new_v4()
        ));
    } else {
        refused.push("TRUNCATE events".to_string());
        refused.push("TRUNCATE events CASCADE".to_string());
        refused.push(format!(
            "INSERT INTO events ({columns}) VALUES \
             ('{pid}', 1, '{}', '{actor}', 'evil', 'X', 1, '{{}}', 0) \
             ON CONFLICT (planning_id, seq) DO UPDATE SET payload = 'evil'",
            Uuid::new_v4()
        ));
    }
    for sql in &refused {
        let result = db.raw_exec(sql).await;
        assert!(result.is_err(), "the database accepted: {sql} ({result:?})");
        assert_eq!(
            s.read_all(0, 100).await.unwrap(),
            before,
            "changed by: {sql}"
        );
    }

    if db.is_sqlite() {
        // Defence in depth: even without the schema's BEFORE INSERT guards, a connection
        // configured like the store's own (recursive_triggers on) fires the DELETE trigger
        // for the row REPLACE would remove. (The store's connections are checked for the
        // pragma in `store::sqlite`'s unit tests.)
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
            .unwrap()
            .pragma("recursive_triggers", "ON")
            .connect()
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER events_no_replace")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("DROP TRIGGER events_no_replace_id")
            .execute(&mut conn)
            .await
            .unwrap();
        for sql in refused.iter().filter(|s| s.contains("REPLACE")) {
            let result = sqlx::query(sql).execute(&mut conn).await;
            let err = result.expect_err(sql).to_string();
            assert!(err.contains("DELETE refused"), "{sql}: {err}");
        }
        conn.close().await.unwrap();
        assert_eq!(s.read_all(0, 100).await.unwrap(), before);
    }

    // Appending still works afterwards, from the seq the store knows.
    assert_eq!(
        span(
            s.append(request(p, 2, actor, "op-2", events(1, "b")))
                .await
                .unwrap()
        ),
        appended(3, 3, false)
    );
    s.close().await;
}

async fn durable_across_reopen(db: &TestDb) {
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());
    let cmd = request(p, 0, actor, "op-1", events(3, "a"));
    let before = {
        let s = db.open().await;
        assert_eq!(
            span(s.append(cmd.clone()).await.unwrap()),
            appended(1, 3, false)
        );
        let before = s.read(p, 0, 100).await.unwrap();
        s.close().await;
        before
    };

    let s = db.open().await;
    assert_eq!(s.read(p, 0, 100).await.unwrap(), before);
    assert_eq!(s.read_all(0, 100).await.unwrap(), before);
    assert_eq!(s.head(p).await.unwrap(), 3);
    assert_eq!(s.plannings().await.unwrap(), vec![p]);
    // The idempotency record survived too.
    assert_eq!(span(s.append(cmd).await.unwrap()), appended(1, 3, true));
    // The head continues.
    assert_eq!(
        span(
            s.append(request(p, 3, actor, "op-2", events(2, "b")))
                .await
                .unwrap()
        ),
        appended(4, 5, false)
    );
    s.close().await;

    // And once more, with the migrations already applied.
    let s = db.open().await;
    assert_eq!(seqs(&s.read(p, 0, 100).await.unwrap()), vec![1, 2, 3, 4, 5]);
    s.close().await;
}

async fn zero_event_command_is_recorded(db: &TestDb) {
    let s = db.open().await;
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());

    // On a planning with no event yet.
    let empty = request(p, 0, actor, "noop-1", vec![]);
    assert_eq!(
        span(s.append(empty.clone()).await.unwrap()),
        appended(1, 0, false)
    );
    assert_eq!(s.head(p).await.unwrap(), 0);
    assert!(s.read(p, 0, 10).await.unwrap().is_empty());
    assert!(s.plannings().await.unwrap().is_empty());
    assert_eq!(
        span(s.append(empty.clone()).await.unwrap()),
        appended(1, 0, true)
    );

    // The record is real: the same key with another hash is refused.
    let mut other = empty.clone();
    other.command_hash = "different".into();
    assert!(matches!(
        s.append(other).await,
        Err(StoreError::OpConflict(_))
    ));

    // The head was not moved by it, and moves normally afterwards.
    assert_eq!(
        span(
            s.append(request(p, 0, actor, "op-1", events(2, "a")))
                .await
                .unwrap()
        ),
        appended(1, 2, false)
    );
    let empty2 = request(p, 2, actor, "noop-2", vec![]);
    assert_eq!(
        span(s.append(empty2.clone()).await.unwrap()),
        appended(3, 2, false)
    );
    assert_eq!(s.head(p).await.unwrap(), 2);
    assert_eq!(span(s.append(empty2).await.unwrap()), appended(3, 2, true));
    // A stale zero-event command is a conflict like any other.
    assert!(matches!(
        s.append(request(p, 1, actor, "noop-3", vec![])).await,
        Err(StoreError::Conflict {
            expected: 1,
            head: 2
        })
    ));
    // The first one's retry still answers from its record.
    assert_eq!(span(s.append(empty).await.unwrap()), appended(1, 0, true));
    assert_eq!(seqs(&s.read(p, 0, 10).await.unwrap()), vec![1, 2]);
    assert_eq!(s.plannings().await.unwrap(), vec![p]);
    s.close().await;
}

async fn find_command_reports_the_recorded_command(db: &TestDb) {
    let s = db.open().await;
    let (p, actor, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(s.find_command(p, actor, "op-1").await.unwrap(), None);
    s.append(request(p, 0, actor, "op-1", events(3, "a")))
        .await
        .unwrap();
    let rec = CommandRecord {
        command_hash: "hash-of-op-1".into(),
        first_seq: 1,
        last_seq: 3,
    };
    assert_eq!(
        s.find_command(p, actor, "op-1").await.unwrap(),
        Some(rec.clone())
    );
    // The key is (planning, actor, op): another actor or planning does not find it.
    assert_eq!(s.find_command(p, other, "op-1").await.unwrap(), None);
    assert_eq!(
        s.find_command(Uuid::new_v4(), actor, "op-1").await.unwrap(),
        None
    );
    assert_eq!(s.find_command(p, actor, "op-2").await.unwrap(), None);
    // A zero-event command is recorded too (first = head + 1 > last).
    s.append(request(p, 3, actor, "noop", vec![]))
        .await
        .unwrap();
    assert_eq!(
        s.find_command(p, actor, "noop").await.unwrap(),
        Some(CommandRecord {
            command_hash: "hash-of-noop".into(),
            first_seq: 4,
            last_seq: 3,
        })
    );
    // A refused (stale) command is not recorded.
    assert!(s
        .append(request(p, 1, actor, "stale", events(1, "x")))
        .await
        .is_err());
    assert_eq!(s.find_command(p, actor, "stale").await.unwrap(), None);
    // Another instance sees the record.
    let s2 = db.open().await;
    assert_eq!(s2.find_command(p, actor, "op-1").await.unwrap(), Some(rec));
    s.close().await;
    s2.close().await;
}

fn job(planning: Uuid, key: &str, due_at: i64) -> Job {
    Job {
        key: key.to_string(),
        planning_id: planning,
        due_at,
        kind: "close_round".into(),
        payload: format!("payload-of-{key}"),
        attempts: 0,
    }
}

/// Appends one event carrying `jobs` at `head`; returns the new head.
async fn append_jobs(s: &Arc<dyn EventStore>, p: Uuid, head: i64, op: &str, jobs: Vec<Job>) -> i64 {
    let mut req = request(p, head, Uuid::nil(), op, events(1, op));
    req.jobs = jobs;
    s.append(req).await.unwrap().last_seq
}

/// Claims everything claimable at `now` (lease until `now + 1000`) and returns the keys.
async fn claim_keys(s: &Arc<dyn EventStore>, now: i64) -> Vec<String> {
    let jobs = s
        .claim_jobs(now, now + 1000, 100, JobKinds::All)
        .await
        .unwrap();
    jobs.into_iter().map(|j| j.key).collect()
}

async fn jobs_are_written_atomically_with_their_events(db: &TestDb) {
    let s = db.open().await;
    let (p, actor) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), None);
    let mut req = request(p, 0, actor, "open", events(2, "a"));
    req.jobs = vec![job(p, "close:a", 100), job(p, "close:b", 200)];
    assert_eq!(
        span(s.append(req.clone()).await.unwrap()),
        appended(1, 2, false)
    );
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(100));

    // A conflicting append (stale head) writes neither its events nor its jobs.
    let mut stale = request(p, 1, actor, "stale", events(1, "s"));
    stale.jobs = vec![job(p, "close:stale", 50)];
    assert!(matches!(
        s.append(stale).await,
        Err(StoreError::Conflict { .. })
    ));
    // Same for a reused op id with another command.
    let mut clash = request(p, 2, actor, "open", events(1, "c"));
    clash.command_hash = "another".into();
    clash.jobs = vec![job(p, "close:clash", 40)];
    assert!(matches!(
        s.append(clash).await,
        Err(StoreError::OpConflict(_))
    ));
    // A duplicate retry writes nothing either, even if it carries another job.
    let mut retry = req.clone();
    retry.jobs.push(job(p, "close:retry", 30));
    assert_eq!(span(s.append(retry).await.unwrap()), appended(1, 2, true));

    assert_eq!(s.head(p).await.unwrap(), 2);
    assert_eq!(seqs(&s.read(p, 0, 100).await.unwrap()), vec![1, 2]);
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(100));
    let claimed = s
        .claim_jobs(1_000, 2_000, 100, JobKinds::All)
        .await
        .unwrap();
    assert_eq!(claimed, req.jobs, "exactly the committed jobs, as written");
    s.close().await;
}

async fn an_existing_job_key_is_left_unchanged(db: &TestDb) {
    let s = db.open().await;
    let p = Uuid::new_v4();
    let first = job(p, "close:r", 500);
    let head = append_jobs(&s, p, 0, "one", vec![first.clone()]).await;
    let mut again = job(p, "close:r", 100);
    again.payload = "other".into();
    // Written by a later command: the events go in, the existing job stays as it was.
    let head = append_jobs(&s, p, head, "two", vec![again]).await;
    assert_eq!(head, 2);
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(500));
    assert!(claim_keys(&s, 400).await.is_empty());
    assert_eq!(
        s.claim_jobs(600, 700, 10, JobKinds::All).await.unwrap(),
        vec![first]
    );
    // A done job is not revived by writing its key again.
    s.complete_job("close:r", 650).await.unwrap();
    append_jobs(&s, p, head, "three", vec![job(p, "close:r", 100)]).await;
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), None);
    assert!(claim_keys(&s, 10_000).await.is_empty());
    s.close().await;
}

async fn claim_takes_due_free_pending_jobs_in_due_order(db: &TestDb) {
    let s = db.open().await;
    let (p, q) = (Uuid::new_v4(), Uuid::new_v4());
    append_jobs(
        &s,
        p,
        0,
        "p",
        vec![job(p, "c", 300), job(p, "a", 100), job(p, "future", 10_000)],
    )
    .await;
    append_jobs(&s, q, 0, "q", vec![job(q, "b", 200), job(q, "d", 400)]).await;

    // Nothing is due before the earliest due time.
    assert!(s
        .claim_jobs(99, 5_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());
    // Due exactly at `now` counts as due.
    assert_eq!(claim_keys_limit(&s, 100, 5_000, 10).await, ["a"]);
    // `limit` takes the earliest ones, ordered by due time.
    assert_eq!(claim_keys_limit(&s, 500, 5_000, 2).await, ["b", "c"]);
    assert_eq!(claim_keys_limit(&s, 500, 5_000, 10).await, ["d"]);
    // All due jobs are leased: a second claim before the leases end gets nothing.
    assert!(s
        .claim_jobs(600, 6_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .claim_jobs(4_999, 6_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());
    // Once the lease has ended (its node died), they are claimable again, in due order.
    assert_eq!(
        claim_keys_limit(&s, 5_000, 8_000, 10).await,
        ["a", "b", "c", "d"]
    );
    assert!(s
        .claim_jobs(7_999, 9_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());
    // The job not yet due is claimed when it is, with the expired ones.
    assert_eq!(
        claim_keys_limit(&s, 10_000, 20_000, 10).await,
        ["a", "b", "c", "d", "future"]
    );
    // The claim returns the job as written.
    let back = s
        .claim_jobs(20_000, 30_000, 1, JobKinds::All)
        .await
        .unwrap();
    assert_eq!(back, vec![job(p, "a", 100)]);
    s.close().await;
}

async fn claim_keys_limit(
    s: &Arc<dyn EventStore>,
    now: i64,
    lease: i64,
    limit: i64,
) -> Vec<String> {
    let jobs = s
        .claim_jobs(now, lease, limit, JobKinds::All)
        .await
        .unwrap();
    jobs.into_iter().map(|j| j.key).collect()
}

async fn complete_job_makes_it_unclaimable(db: &TestDb) {
    let s = db.open().await;
    let p = Uuid::new_v4();
    append_jobs(&s, p, 0, "p", vec![job(p, "x", 100), job(p, "y", 200)]).await;
    // Done before ever being claimed.
    s.complete_job("y", 150).await.unwrap();
    assert_eq!(claim_keys(&s, 300).await, ["x"]);
    // Done while leased: not claimable after the lease ends either.
    s.complete_job("x", 400).await.unwrap();
    assert!(claim_keys(&s, 10_000).await.is_empty());
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), None);
    // Completing an unknown or done job is harmless.
    s.complete_job("nope", 1).await.unwrap();
    s.complete_job("x", 500).await.unwrap();
    // Another instance agrees.
    let s2 = db.open().await;
    assert!(claim_keys(&s2, 100_000).await.is_empty());
    s.close().await;
    s2.close().await;
}

async fn next_job_due_reports_the_earliest_claim(db: &TestDb) {
    let s = db.open().await;
    let p = Uuid::new_v4();
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), None);
    append_jobs(
        &s,
        p,
        0,
        "p",
        vec![job(p, "late", 300), job(p, "early", 100)],
    )
    .await;
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(100));
    // Leased (by anyone) until 1_000: it can next be claimed when the lease ends, so a
    // scheduler does not spin on a job another node holds.
    assert_eq!(claim_keys_limit(&s, 150, 1_000, 10).await, ["early"]);
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(300));
    s.complete_job("late", 310).await.unwrap();
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(1_000));
    s.complete_job("early", 320).await.unwrap();
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), None);
    s.close().await;
}

/// The scheduler claims deadline jobs and webhook deliveries separately (a backlog of one
/// kind must not hold up the other).
async fn claims_and_due_times_filter_by_kind(db: &TestDb) {
    let s = db.open().await;
    let p = Uuid::new_v4();
    let hook = |key: &str, due: i64| Job {
        kind: "webhook".into(),
        ..job(p, key, due)
    };
    append_jobs(
        &s,
        p,
        0,
        "p",
        vec![hook("h1", 100), job(p, "close", 200), hook("h2", 300)],
    )
    .await;
    let (only, except) = (JobKinds::Only("webhook"), JobKinds::Except("webhook"));
    assert_eq!(s.next_job_due(only).await.unwrap(), Some(100));
    assert_eq!(s.next_job_due(except).await.unwrap(), Some(200));
    let keys = |jobs: Vec<Job>| jobs.into_iter().map(|j| j.key).collect::<Vec<_>>();
    // The close is claimed although two deliveries fell due before it.
    let closes = s.claim_jobs(1_000, 5_000, 10, except).await.unwrap();
    assert_eq!(keys(closes), ["close"]);
    let hooks = s.claim_jobs(1_000, 5_000, 1, only).await.unwrap();
    assert_eq!(keys(hooks), ["h1"]);
    assert_eq!(s.next_job_due(except).await.unwrap(), Some(5_000));
    assert_eq!(s.next_job_due(only).await.unwrap(), Some(300));
    assert_eq!(s.next_job_due(JobKinds::All).await.unwrap(), Some(300));
    let rest = s.claim_jobs(1_000, 5_000, 10, JobKinds::All).await.unwrap();
    assert_eq!(keys(rest), ["h2"]);
    s.close().await;
}

/// Two store instances (two nodes or processes) claiming at once never get the same job.
async fn concurrent_claims_never_share_a_job(db: &TestDb) {
    const JOBS: usize = 60;
    let a = db.open().await;
    let b = db.open().await;
    let p = Uuid::new_v4();
    let all: Vec<Job> = (0..JOBS)
        .map(|i| job(p, &format!("job-{i:03}"), 100 + i as i64))
        .collect();
    append_jobs(&a, p, 0, "p", all).await;

    let claimer = |s: Arc<dyn EventStore>| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                assert!(Instant::now() < deadline, "claiming took too long");
                let jobs = s
                    .claim_jobs(1_000, 1_000_000, 3, JobKinds::All)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return got;
                }
                got.extend(jobs.into_iter().map(|j| j.key));
                tokio::task::yield_now().await;
            }
        })
    };
    let (ga, gb) = tokio::join!(claimer(a.clone()), claimer(b.clone()));
    let (ga, gb) = (ga.unwrap(), gb.unwrap());
    let sa: HashSet<_> = ga.iter().cloned().collect();
    let sb: HashSet<_> = gb.iter().cloned().collect();
    assert_eq!(sa.len(), ga.len(), "one instance got a job twice");
    assert_eq!(sb.len(), gb.len(), "one instance got a job twice");
    assert!(sa.is_disjoint(&sb), "both got {:?}", sa.intersection(&sb));
    assert_eq!(sa.len() + sb.len(), JOBS, "every job claimed once");
    a.close().await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// Cross-backend

/// The same commands on SQLite and on PostgreSQL read back as equal values, field for field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_bytes_on_both_backends() {
    let Some(pg) = TestDb::postgres("identical_bytes_on_both_backends").await else {
        return;
    };
    let lite = TestDb::sqlite();
    let (a, b) = (lite.open().await, pg.open().await);

    // Fixed ids and times; payloads with escapes, non-ASCII, nesting and large integers.
    let planning = |n: u128| Uuid::from_u128(0x0123_4567_89ab_cdef_0000_0000_0000_0000 + n);
    let (p, q) = (planning(1), planning(0xff));
    let actor = Uuid::from_u128(42);
    let payloads = [
        json!({"text": "Ünïcødé ✓ \"quoted\" \\ back\nslash\t", "n": i64::MAX}),
        json!({"z": {"b": [1, 2, {"y": null, "x": false}], "a": -9_007_199_254_740_993_i64}}),
        json!({}),
        json!({"emoji": "🃏", "ctrl": "\u{0001}\u{001f}"}),
    ];
    let mut requests = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        let planning_id = if i % 2 == 0 { p } else { q };
        let mut req = request(
            planning_id,
            (i / 2) as i64,
            actor,
            &format!("op-{i}"),
            vec![NewEvent {
                event_id: Uuid::from_u128(1000 + i as u128),
                kind: format!("Kind{i}"),
                version: i as i32 + 1,
                payload: canonical::to_canonical(payload).unwrap(),
            }],
        );
        req.recorded_at = 1_764_000_000_000_001 + i as i64;
        requests.push(req);
    }
    for req in &requests {
        let (ra, rb) = (
            a.append(req.clone()).await.unwrap(),
            b.append(req.clone()).await.unwrap(),
        );
        assert_eq!(ra, rb);
    }

    let (la, lb) = (
        a.read_all(0, 100).await.unwrap(),
        b.read_all(0, 100).await.unwrap(),
    );
    assert_eq!(la.len(), requests.len());
    assert_eq!(la, lb);
    for planning_id in [p, q] {
        assert_eq!(
            a.read(planning_id, 0, 100).await.unwrap(),
            b.read(planning_id, 0, 100).await.unwrap()
        );
    }
    assert_eq!(a.plannings().await.unwrap(), b.plannings().await.unwrap());
    a.close().await;
    b.close().await;
}

/// `open` refuses URLs of other databases instead of guessing.
#[tokio::test]
async fn unsupported_url_is_refused() {
    assert!(matches!(
        store::open("mysql://localhost/x").await,
        Err(StoreError::UnsupportedUrl(_))
    ));
}

/// An in-memory SQLite database works (one shared connection, see `SqliteStore::open`).
#[tokio::test]
async fn sqlite_in_memory() {
    let s = store::open("sqlite::memory:").await.unwrap();
    let p = Uuid::new_v4();
    let actor = Uuid::new_v4();
    s.append(request(p, 0, actor, "op", events(2, "m")))
        .await
        .unwrap();
    assert_eq!(seqs(&s.read(p, 0, 10).await.unwrap()), vec![1, 2]);
    s.close().await;
}

/// Several processes starting together on a fresh SQLite file (or nodes on a fresh
/// PostgreSQL database) must not trip over each other's migrations.
async fn concurrent_open_on_a_fresh_database(db: &TestDb) {
    let (a, b, c) = tokio::join!(
        store::open(&db.url),
        store::open(&db.url),
        store::open(&db.url)
    );
    let stores = [a.unwrap(), b.unwrap(), c.unwrap()];
    let p = Uuid::new_v4();
    stores[0]
        .append(request(p, 0, Uuid::nil(), "op", events(1, "x")))
        .await
        .unwrap();
    for s in &stores {
        assert_eq!(s.head(p).await.unwrap(), 1);
        s.close().await;
    }
}

/// Connection-level failures are retriable, decisions are not.
#[tokio::test]
async fn connection_failures_are_retriable() {
    // Port 1 on loopback: nothing listens there, the connection is refused at once. (Through
    // `store::open` the pool would keep retrying for its whole acquire timeout, then report
    // `PoolTimedOut`, also retriable.)
    let refused = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:1/nothing")
        .await
        .map(|_| ())
        .unwrap_err();
    let e = StoreError::from(refused);
    assert!(e.is_retriable(), "{e:?}");
    assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_retriable());
    assert!(!StoreError::Conflict {
        expected: 1,
        head: 2
    }
    .is_retriable());
    assert!(!StoreError::OpConflict("op".into()).is_retriable());
    assert!(!StoreError::UnsupportedUrl("x".into()).is_retriable());
}
