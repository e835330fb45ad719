//! The cross-node doorbell on one PostgreSQL: 16 concurrent writers on distinct plannings (two
//! nodes of 8 connections, each node listening, as the server does), one command per commit,
//! with `pg_notify` inside every append's transaction against the doorbell rung after commit
//! (`store::postgres::Doorbell`). PostgreSQL serialises the commits of transactions that
//! notified on one database-wide lock; the doorbell's own NOTIFY is one short transaction per
//! node per few milliseconds.
//!
//! `SPRINTLOG_BENCH_PG=postgres://postgres@127.0.0.1:5432/test cargo bench --bench doorbell`
//! (appends to fresh plannings there and leaves them). Both doorbells run in every round, in
//! alternating order; the figure to read is the same-round ratio.

use sprintlog::store::postgres::{Doorbell, PgStore};
use sprintlog::store::{AppendRequest, EventLog, NewEvent};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// Nodes, and writers per node (each node's pool has 8 connections).
const NODES: usize = 2;
const WRITERS_PER_NODE: usize = 8;
/// Commits per writer per run.
const COMMITS: usize = 150;
const ROUNDS: usize = 5;

/// A vote-sized command (one ~200-byte event) at `seq` of `planning`.
fn vote(planning: Uuid, seq: i64) -> AppendRequest {
    AppendRequest {
        planning_id: planning,
        expected_seq: seq,
        actor: Uuid::from_u128(7),
        client_op_id: format!("op-{seq}"),
        command_hash: format!("{seq:064x}"),
        recorded_at: 1_704_067_200_000_000 + seq,
        jobs: Vec::new(),
        events: vec![NewEvent {
            event_id: sprintlog::store::new_event_id(),
            kind: "VoteCast".into(),
            version: 1,
            payload: format!(
                "{{\"card\":\"5\",\"item\":\"{}\",\"round\":\"{}\",\"seal\":\"{seq:064x}\"}}",
                Uuid::from_u128(1),
                Uuid::from_u128(2)
            ),
        }],
    }
}

/// Two nodes ringing `doorbell`, each with a listener that drains its feed.
async fn nodes(url: &str, doorbell: Doorbell) -> Vec<Arc<PgStore>> {
    let mut nodes = Vec::new();
    for _ in 0..NODES {
        let store = Arc::new(
            PgStore::open_ringing(url, doorbell)
                .await
                .expect("open postgres"),
        );
        let mut feed = store.head_feed().await.expect("listen").expect("a feed");
        tokio::spawn(async move { while feed.next().await.is_ok() {} });
        nodes.push(store);
    }
    nodes
}

/// Commits per second of every writer of every node appending [`COMMITS`] commands, one per
/// commit, each to its own new planning.
async fn run(nodes: &[Arc<PgStore>]) -> f64 {
    let started = Instant::now();
    let mut writers = Vec::new();
    for node in nodes {
        for _ in 0..WRITERS_PER_NODE {
            let node = node.clone();
            writers.push(tokio::spawn(async move {
                let planning = Uuid::new_v4();
                for seq in 0..COMMITS as i64 {
                    node.append(vote(planning, seq)).await.expect("append");
                }
            }));
        }
    }
    for w in writers {
        w.await.expect("writer");
    }
    (NODES * WRITERS_PER_NODE * COMMITS) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let Ok(url) = std::env::var("SPRINTLOG_BENCH_PG") else {
        eprintln!("doorbell skipped: set SPRINTLOG_BENCH_PG to a database URL");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let after = nodes(&url, Doorbell::AfterCommit).await;
        let inside = nodes(&url, Doorbell::InTransaction).await;
        // Warm-up: connections opened, statements prepared.
        run(&after).await;
        run(&inside).await;
        let writers = NODES * WRITERS_PER_NODE;
        let mut ratios = Vec::new();
        for round in 0..ROUNDS {
            let (a, i) = if round % 2 == 0 {
                let a = run(&after).await;
                (a, run(&inside).await)
            } else {
                let i = run(&inside).await;
                (run(&after).await, i)
            };
            println!(
                "doorbell/{writers}_writers round {}: after commit {a:.0} commits/s, \
                 pg_notify in the transaction {i:.0} commits/s, ratio {:.2}",
                round + 1,
                a / i
            );
            ratios.push(a / i);
        }
        println!(
            "doorbell/{writers}_writers: median ratio {:.2} (after commit / in the transaction, \
             {ROUNDS} rounds)",
            median(ratios)
        );
    });
}
