//! Append benchmarks: durable appends per second on SQLite (`synchronous=FULL`, WAL)
//! and PostgreSQL, one command per transaction vs. group commit (a batch of commands in one
//! transaction, as a room's writer does under load). Each command carries one ~200-byte event,
//! like a vote.
//!
//! `cargo bench --bench append`. SQLite runs on a temporary file; PostgreSQL runs when
//! `SPRINTLOG_BENCH_PG` names a database (e.g. `postgres://postgres@127.0.0.1:5432/test`; the
//! benchmark appends to fresh plannings there and leaves them).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sprintlog::store::{AppendRequest, EventStore, NewEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A planning being appended to: its id and head.
struct Stream {
    planning: Uuid,
    head: i64,
    n: u64,
}

impl Stream {
    fn new() -> Self {
        Stream {
            planning: Uuid::new_v4(),
            head: 0,
            n: 0,
        }
    }

    /// The next `batch` commands, one event each, each expecting the head the previous leaves.
    fn next(&mut self, batch: usize) -> Vec<AppendRequest> {
        (0..batch)
            .map(|_| {
                self.n += 1;
                let req = AppendRequest {
                    planning_id: self.planning,
                    expected_seq: self.head,
                    actor: Uuid::from_u128(7),
                    client_op_id: format!("op-{}", self.n),
                    command_hash: format!("{:064x}", self.n),
                    recorded_at: 1_704_067_200_000_000 + self.n as i64,
                    events: vec![NewEvent {
                        // Time-ordered, as the server makes them.
                        event_id: sprintlog::store::new_event_id(),
                        kind: "VoteCast".into(),
                        version: 1,
                        payload: format!(
                            "{{\"card\":\"5\",\"item\":\"{}\",\"round\":\"{}\",\"seal\":\"{:064x}\",\
                             \"voter\":\"{}\"}}",
                            Uuid::from_u128(1),
                            Uuid::from_u128(2),
                            self.n,
                            Uuid::from_u128(7)
                        ),
                    }],
                    jobs: Vec::new(),
                };
                self.head += 1;
                req
            })
            .collect()
    }
}

fn bench_store(
    c: &mut Criterion,
    name: &str,
    store: Arc<dyn EventStore>,
    rt: &tokio::runtime::Runtime,
) {
    let mut group = c.benchmark_group(format!("append/{name}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    // 512 is the server's `MAX_BATCH` (the most a room's writer commits at once).
    for batch in [1usize, 16, 128, 512] {
        group.throughput(Throughput::Elements(batch as u64));
        let mut stream = Stream::new();
        group.bench_with_input(
            BenchmarkId::new("commands_per_commit", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| {
                    let reqs: Vec<_> = (0..iters).map(|_| stream.next(batch)).collect();
                    let store = store.clone();
                    rt.block_on(async move {
                        let t = Instant::now();
                        for r in reqs {
                            if batch == 1 {
                                let [one]: [AppendRequest; 1] = r.try_into().expect("one");
                                store.append(one).await.expect("append");
                            } else {
                                store.append_batch(r).await.expect("append batch");
                            }
                        }
                        t.elapsed()
                    })
                })
            },
        );
    }
    group.finish();
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let sqlite = rt
        .block_on(sprintlog::store::open(&url))
        .expect("open sqlite");
    bench_store(c, "sqlite_full", sqlite, &rt);
    if let Ok(pg) = std::env::var("SPRINTLOG_BENCH_PG") {
        let store = rt
            .block_on(sprintlog::store::open(&pg))
            .expect("open postgres");
        bench_store(c, "postgres", store, &rt);
    } else {
        eprintln!("append/postgres skipped: set SPRINTLOG_BENCH_PG to a database URL");
    }
}

criterion_group!(benches, appends);
criterion_main!(benches);
