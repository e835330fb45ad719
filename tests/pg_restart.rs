//! A real PostgreSQL restart under load: the server's database is stopped while
//! commands flow and started again. Commands fail with the retriable 503 while it is down, the
//! server recovers by itself, and nothing acknowledged is lost or duplicated.
//!
//! It stops the machine's PostgreSQL cluster (`pg_ctlcluster`), so it runs only when
//! `SPRINTLOG_TEST_PG_RESTART=1` (`.ci/run` sets it; CI owns the machine). Its own test binary:
//! cargo runs test binaries one after another, so no other test's database goes away with it.
//! (`tests/db_faults.rs` covers the same with a TCP proxy cut, on every run.)

mod common;

use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn cluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .max()
        .expect("a PostgreSQL cluster");
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", &version, "main", action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    let status = cmd.status().expect("pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster {action}: {status}");
}

/// Starts the cluster again when dropped, also when the test panics while it is stopped:
/// every later test needs it.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        let running = Command::new("pg_isready")
            .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
            .status()
            .is_ok_and(|s| s.success());
        if !running {
            cluster("start");
        }
    }
}

async fn send(t: &TestServer, p: &str, tok: &str, n: usize) -> (String, u16, Value) {
    let op = format!("op-{n}");
    let cmd = json!({"type": "PostComment", "kind": "comment", "text": format!("note {n}")});
    let (s, b) = t.command(p, tok, &op, cmd).await;
    (op, s, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_loses_nothing_and_recovers() {
    if std::env::var("SPRINTLOG_TEST_PG_RESTART").as_deref() != Ok("1") {
        eprintln!("SKIPPED pg_restart: set SPRINTLOG_TEST_PG_RESTART=1 (it restarts PostgreSQL)");
        return;
    }
    let Some(db) = common::fresh_pg("pg_restart").await else {
        return;
    };
    let limits = Limits {
        command_rate: 100_000,
        command_burst: 100_000,
        head_poll_ms: 0,
        ..Limits::default()
    };
    let mut t = TestServer::start_with(Backend::Shared(db.url.clone()), limits).await;
    let c = t.create("Restart").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let restart = Restart;
    let mut outcomes = Vec::new();
    let mut n = 0;
    for _ in 0..10 {
        outcomes.push(send(&t, p, tok, n).await);
        n += 1;
    }
    // Stop the database in the middle of a burst of commands.
    let burst = futures_util::future::join_all((n..n + 10).map(|i| send(&t, p, tok, i)));
    n += 10;
    let stop = tokio::task::spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(5));
        cluster("stop");
    });
    let (burst_outcomes, stopped) = tokio::join!(burst, stop);
    stopped.expect("stop");
    outcomes.extend(burst_outcomes);
    // While it is down: the retriable 503.
    let (op, s, b) = send(&t, p, tok, n).await;
    n += 1;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("unavailable")),
        "{b}"
    );
    outcomes.push((op, s, b));
    tokio::task::spawn_blocking(move || drop(restart))
        .await
        .expect("start");
    // It recovers by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (op, s, b) = send(&t, p, tok, n).await;
        n += 1;
        outcomes.push((op, s, b.clone()));
        if s == 200 {
            break;
        }
        assert_eq!(s, 503, "{b}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recovered: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Retry every failed op once; then every op again must be a duplicate at the same seqs.
    let mut acked: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (op, s, b) in outcomes {
        let (s, b) = if s == 200 {
            (s, b)
        } else {
            assert_eq!(s, 503, "{op}: {b}");
            let i: usize = op.trim_start_matches("op-").parse().expect("op number");
            let (_, s, b) = send(&t, p, tok, i).await;
            (s, b)
        };
        assert_eq!(s, 200, "{op}: {b}");
        acked.insert(
            op,
            (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
        );
    }
    for (op, at) in &acked {
        let i: usize = op.trim_start_matches("op-").parse().expect("op number");
        let (_, s, b) = send(&t, p, tok, i).await;
        assert_eq!(
            (s, b["duplicate"].as_bool()),
            (200, Some(true)),
            "{op}: {b}"
        );
        assert_eq!(
            (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
            *at
        );
    }
    let served = t.state(&c.planning, &c.token).await;
    t.stop().await;
    let store = sprintlog::store::open(&db.url).await.expect("reopen");
    let id: uuid::Uuid = c.planning.parse().unwrap();
    let events = store.read(id, 0, 10_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "gap in seq"
    );
    assert_eq!(events.len(), 1 + acked.len(), "every command exactly once");
    assert_eq!(
        served["head"],
        events.len() as i64,
        "the live projection followed the log"
    );
    for (op, (first, head)) in &acked {
        let at: Vec<i64> = events
            .iter()
            .filter(|e| &e.client_op_id == op)
            .map(|e| e.seq)
            .collect();
        assert_eq!(at, (*first..=*head).collect::<Vec<_>>(), "{op}");
    }
    store.close().await;
}
