//! SQLite's write-ahead log under a stream of appends: checkpoints run beside the appends (no
//! automatic checkpoint inside a commit), the log stays under its hard bound, and it is emptied
//! once appends stop; nothing appended is lost on the way.

use sprintlog::store::sqlite::{SqliteStore, WalBounds};
use sprintlog::store::{AdminStore, AppendRequest, EventLog, NewEvent};
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

/// A vote-sized command (one ~200-byte event) at `seq`.
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

/// Appends `n` commands in batches of 1 to 8, calling `after` with the head after each.
async fn stream(store: &SqliteStore, planning: Uuid, n: i64, mut after: impl FnMut(i64)) {
    let mut head = 0;
    while head < n {
        let size = (head % 8 + 1).min(n - head);
        let batch = (head..head + size).map(|s| vote(planning, s)).collect();
        store.append_batch(batch).await.expect("append");
        head += size;
        after(head);
    }
}

fn wal_len(db: &std::path::Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// A stream that commits while the task checkpoints (past its soft bound the task runs after
/// every commit) never lets the log restart by itself: an append that finds it past the hard
/// bound checkpoints first, so it never grows more than about a batch beyond it. SQLite's
/// automatic checkpoint (1,000 pages, ~4 MB) would let it grow to 16 times this bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_under_its_hard_bound_under_a_stream_of_appends() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let url = format!("sqlite://{}", db.display());
    let hard = 256 << 10;
    let bounds = WalBounds {
        every: Duration::from_secs(3600),
        soft_bytes: 64 << 10,
        idle: Duration::from_secs(3600),
        hard_bytes: hard,
    };
    let store = SqliteStore::open_bounded(&url, bounds).await.unwrap();
    let planning = Uuid::new_v4();
    let mut largest = 0;
    // ~5,000 events write ~10 MB of WAL frames in all.
    stream(&store, planning, 5000, |_| {
        largest = largest.max(wal_len(&db))
    })
    .await;
    // One batch of 8 votes touches a few dozen pages at most (4 KiB each).
    assert!(
        largest <= hard + (256 << 10),
        "the WAL grew to {largest} bytes"
    );
    let stats = store
        .wal_stats()
        .expect("a file database has a checkpoint task");
    assert!(stats.forced.load(Ordering::Relaxed) > 0);
    store.close().await;

    // Everything is there after reopening, chained.
    let store = SqliteStore::open(&url).await.unwrap();
    assert_eq!(store.head(planning).await.unwrap(), 5000);
    let check = sprintlog::store::verify_chain(&store, planning)
        .await
        .unwrap();
    assert!(
        matches!(
            check,
            sprintlog::store::ChainCheck::Intact { events: 5000, .. }
        ),
        "{check:?}"
    );
    store.close().await;
}

/// The task checkpoints while appends come in and empties the log once they stop; the hard
/// bound is never reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_task_empties_the_wal_once_appends_stop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wal.db");
    let url = format!("sqlite://{}", db.display());
    let bounds = WalBounds {
        every: Duration::from_millis(5),
        soft_bytes: 64 << 10,
        idle: Duration::from_millis(50),
        hard_bytes: 1 << 30,
    };
    let store = SqliteStore::open_bounded(&url, bounds).await.unwrap();
    let planning = Uuid::new_v4();
    stream(&store, planning, 500, |_| {}).await;
    assert!(wal_len(&db) > 0, "the stream's frames are in the WAL");
    let stats = store.wal_stats().expect("checkpoint task");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while wal_len(&db) > 0 || stats.truncated.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the WAL was not emptied: {} bytes",
            wal_len(&db)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stats.passive.load(Ordering::Relaxed) > 0);
    assert_eq!(stats.forced.load(Ordering::Relaxed), 0);
    // The database file holds every event now (read back through the store).
    assert_eq!(store.read(planning, 0, 1000).await.unwrap().len(), 500);
    store.close().await;
}
