//! Database faults: PostgreSQL going away under load (through a TCP proxy the test cuts) and
//! coming back; SQLite running out of space and refusing writes. Commands fail with a clear,
//! retriable JSON error, nothing acknowledged is lost, the server recovers by itself, and the
//! log is intact afterwards (gapless, hash chain verified, SQLite `integrity_check` ok).

mod common;

use common::proxy::{upstream_of, Proxy};
use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use sprintlog::store::sqlite::SqliteStore;
use sprintlog::store::{ChainCheck, EventStore};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn fast() -> Limits {
    Limits {
        command_rate: 100_000,
        command_burst: 100_000,
        // The cluster poll would only add noise while the database is away.
        head_poll_ms: 0,
        ..Limits::default()
    }
}

fn comment(n: usize) -> Value {
    json!({"type": "PostComment", "kind": "comment", "text": format!("note {n}")})
}

/// Sends comment `n` as op `op-n`; returns (op, status, body).
async fn send(t: &TestServer, p: &str, tok: &str, n: usize) -> (String, u16, Value) {
    let op = format!("op-{n}");
    let (s, b) = t.command(p, tok, &op, comment(n)).await;
    (op, s, b)
}

/// The log of `planning` on `url`: gapless, chain intact, and each op in `acked` present once
/// at its acknowledged seqs. Returns the head.
async fn check_log(url: &str, planning: &str, acked: &BTreeMap<String, (i64, i64)>) -> i64 {
    let store = sprintlog::store::open(url).await.expect("reopen the log");
    let p: uuid::Uuid = planning.parse().unwrap();
    let events = store.read(p, 0, 100_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "gap in seq"
    );
    for (op, (first, head)) in acked {
        let at: Vec<i64> = events
            .iter()
            .filter(|e| &e.client_op_id == op)
            .map(|e| e.seq)
            .collect();
        assert_eq!(at, (*first..=*head).collect::<Vec<_>>(), "{op}");
    }
    match sprintlog::store::verify_chain(&*store, p).await.unwrap() {
        ChainCheck::Intact { .. } => {}
        broken => panic!("chain broken: {broken:?}"),
    }
    store.close().await;
    events.len() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_under_load_loses_nothing_and_recovers() {
    let Some(db) = common::fresh_pg("db_faults::postgres_restart").await else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url).await).await;
    let via_proxy = proxy.url_for(&db.url);
    let mut t = TestServer::start_with(Backend::Shared(via_proxy), fast()).await;
    let c = t.create("Outage").await;
    let mut acked: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut failed: Vec<(String, usize)> = Vec::new();
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let mut n = 0;
    // Commands flow; the database goes away in the middle of a burst.
    let mut outcomes = Vec::new();
    for _ in 0..20 {
        outcomes.push(send(&t, p, tok, n).await);
        n += 1;
    }
    let burst = futures_util::future::join_all((n..n + 10).map(|i| send(&t, p, tok, i)));
    n += 10;
    let cutter = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        proxy.cut();
    };
    let (burst_outcomes, ()) = tokio::join!(burst, cutter);
    outcomes.extend(burst_outcomes);
    // While it is away: a retriable 503 with a clear code, every time.
    let mut down = 0;
    for _ in 0..5 {
        let (op, s, b) = send(&t, p, tok, n).await;
        n += 1;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (503, Some("unavailable")),
            "{op} while the database is away: {b}"
        );
        assert!(b["error"]["message"].as_str().unwrap().contains("retry"));
        outcomes.push((op, s, b));
        down += 1;
    }
    // Reads of what is already in memory keep working.
    assert_eq!(
        t.state(&c.planning, &c.token).await["planning"],
        c.planning.as_str()
    );
    proxy.restore();
    // It recovers by itself: no restart, the next commands go through.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (op, s, b) in outcomes {
        match s {
            200 => {
                acked.insert(
                    op,
                    (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
                );
            }
            503 => {
                assert!(
                    ["unavailable", "busy"].contains(&b["error"]["code"].as_str().unwrap()),
                    "{b}"
                );
                let i = op.trim_start_matches("op-").parse().unwrap();
                failed.push((op, i));
            }
            other => panic!("{op}: unexpected {other}: {b}"),
        }
    }
    assert!(down >= 5 && !failed.is_empty());
    // Retrying the failed ones applies each once (some may have committed before the cut).
    for (op, i) in &failed {
        let (s, b) = t.command(p, tok, op, comment(*i)).await;
        assert_eq!(s, 200, "retry {op}: {b}");
        acked.insert(
            op.clone(),
            (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
        );
    }
    // Every acknowledged one again, as a duplicate at the same seqs.
    for (op, at) in acked.clone() {
        let i = op.trim_start_matches("op-").parse().unwrap();
        let (s, b) = t.command(p, tok, &op, comment(i)).await;
        assert_eq!(
            (s, b["duplicate"].as_bool()),
            (200, Some(true)),
            "{op}: {b}"
        );
        assert_eq!(
            (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
            at
        );
    }
    let served = t.state(&c.planning, &c.token).await;
    t.stop().await;
    let head = check_log(&db.url, &c.planning, &acked).await;
    assert_eq!(served["head"], head, "the live projection followed the log");
    assert_eq!(head as usize, 1 + acked.len(), "every command exactly once");
    drop(proxy);
}

/// `PRAGMA integrity_check` on a SQLite file.
async fn integrity(url: &str) -> String {
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let (ok,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    ok
}

/// A fresh SQLite planning, created by a normal server that is then stopped; returns
/// (backend, planning, facilitator token).
async fn sqlite_planning() -> (Backend, String, String) {
    let mut t = TestServer::start_with(sqlite(), fast()).await;
    let c = t.create("Disk").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "DraftGoal", "text": "Ship"}),
    )
    .await;
    let backend = t.stop().await;
    (backend, c.planning, c.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_is_a_clear_error_and_corrupts_nothing() {
    let (backend, p, tok) = sqlite_planning().await;
    let url = backend.url().to_string();
    // The file may not grow by a single page: the disk is "full".
    let store = SqliteStore::open_tuned(&url, |o| o.pragma("max_page_count", "1"))
        .await
        .expect("open with a page cap");
    let store: Arc<dyn EventStore> = Arc::new(store);
    let mut t = TestServer::start_on(backend, store, fast()).await;
    let before = t.state(&p, &tok).await["head"].as_i64().unwrap();
    let mut acked = BTreeMap::new();
    let big = "x".repeat(15_000);
    let mut full = None;
    for i in 0..50 {
        let op = format!("fill-{i}");
        let cmd = json!({"type": "PostComment", "kind": "comment", "text": big});
        let (s, b) = t.command(&p, &tok, &op, cmd).await;
        if s == 200 {
            acked.insert(
                op,
                (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
            );
            continue;
        }
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (507, Some("storage_full")),
            "{b}"
        );
        assert!(b["error"]["message"].as_str().unwrap().contains("full"));
        full = Some(op);
        break;
    }
    let full = full.expect("a capped file fills up");
    let head = t.state(&p, &tok).await["head"].as_i64().unwrap();
    assert_eq!(head, before + acked.len() as i64, "nothing half-written");
    // Still up, still full, still clear; over the websocket too.
    assert_eq!(t.get_text("/healthz").await.0, 200);
    let mut ws = t.ws(&p, &tok, head).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "command", "op": "ws-full",
        "command": {"type": "PostComment", "kind": "comment", "text": big}}))
        .await;
    let (err, _) = ws.until("error").await;
    assert_eq!(err["code"], "storage_full");
    drop(ws);
    let backend = t.stop().await;
    let url = backend.url().to_string();
    assert_eq!(integrity(&url).await, "ok");
    assert_eq!(check_log(&url, &p, &acked).await, head);
    // Space again: the refused command goes through on retry.
    let t = TestServer::start_with(backend, fast()).await;
    let (s, b) = t
        .command(
            &p,
            &tok,
            &full,
            json!({"type": "PostComment", "kind": "comment", "text": big}),
        )
        .await;
    assert_eq!((s, b["duplicate"].as_bool()), (200, Some(false)), "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_is_a_clear_error_and_corrupts_nothing() {
    let (backend, p, tok) = sqlite_planning().await;
    let url = backend.url().to_string();
    let store = SqliteStore::open_tuned(&url, |o| o.pragma("query_only", "ON"))
        .await
        .expect("open read-only");
    let mut t = TestServer::start_on(backend, Arc::new(store), fast()).await;
    let st = t.state(&p, &tok).await;
    assert_eq!(st["state"]["goal"]["text"], "Ship", "reads still work");
    let (s, b) = t.command(&p, &tok, "ro-1", comment(1)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("storage_read_only")),
        "{b}"
    );
    let (s, b) = t
        .post(
            "/api/plannings",
            None,
            json!({"title": "New", "name": "Fran"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("storage_read_only")),
        "{b}"
    );
    assert_eq!(t.state(&p, &tok).await["head"], st["head"]);
    let backend = t.stop().await;
    let url = backend.url().to_string();
    assert_eq!(integrity(&url).await, "ok");
    assert_eq!(
        check_log(&url, &p, &BTreeMap::new()).await,
        st["head"].as_i64().unwrap()
    );
    // The file opened read-only (`?mode=ro`, as on a read-only mount): the server starts,
    // serves what is there, and refuses writes the same way.
    let store = sprintlog::store::open(&format!("{url}?mode=ro"))
        .await
        .expect("a read-only file opens for reading");
    let mut t = TestServer::start_on(backend, store, fast()).await;
    assert_eq!(t.state(&p, &tok).await["head"], st["head"]);
    let (s, b) = t.command(&p, &tok, "ro-2", comment(2)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("storage_read_only")),
        "{b}"
    );
    let backend = t.stop().await;
    assert_eq!(integrity(backend.url()).await, "ok");
    // Writable again: the refused commands go through on retry.
    let t = TestServer::start_with(backend, fast()).await;
    for (op, n) in [("ro-1", 1), ("ro-2", 2)] {
        let (s, b) = t.command(&p, &tok, op, comment(n)).await;
        assert_eq!((s, b["duplicate"].as_bool()), (200, Some(false)), "{b}");
    }
}

/// A small tmpfs of its own, unmounted on drop: a disk that really fills up (SQLite then fails
/// at COMMIT, writing the WAL, as on a full disk, not only at a statement as `max_page_count`
/// makes it). `None` where mounting is not permitted (not root): the test says it is skipped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(test: &str, size: &str) -> Option<SmallDisk> {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {test} — mounting a small tmpfs needs root (CAP_SYS_ADMIN)"
            );
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `name` until the disk refuses another byte.
    fn fill(&self, name: &str) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path(name)).unwrap();
        for chunk in [65_536, 4_096, 512, 1] {
            while f.write_all(&vec![0u8; chunk]).is_ok() {}
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a failed test may leave the server holding its files open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_recovers_by_itself_once_a_full_disk_has_room() {
    let test = "db_faults::sqlite_recovers_by_itself_once_a_full_disk_has_room";
    let Some(disk) = SmallDisk::mount(test, "4m") else {
        return;
    };
    let url = format!("sqlite://{}", disk.path("log.db").display());
    let mut t = TestServer::start_with(Backend::Shared(url.clone()), fast()).await;
    let c = t.create("Disk").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let mut acked = BTreeMap::new();
    disk.fill("ballast");
    // Full: every write is a clear 507, the first and every one after it (not a 500).
    let mut refused = Vec::new();
    for n in 0..6 {
        let (op, s, b) = send(&t, p, tok, n).await;
        if s == 200 {
            acked.insert(
                op,
                (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
            );
            continue;
        }
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (507, Some("storage_full")),
            "{op} on a full disk: {b}"
        );
        refused.push((op, n));
    }
    assert!(refused.len() >= 3, "the disk filled up: {refused:?}");
    // Room again: the server recovers by itself, no restart; the refused commands go through.
    std::fs::remove_file(disk.path("ballast")).unwrap();
    for (op, n) in &refused {
        let (s, b) = t.command(p, tok, op, comment(*n)).await;
        assert_eq!(
            (s, b["duplicate"].as_bool()),
            (200, Some(false)),
            "{op}: {b}"
        );
        acked.insert(
            op.clone(),
            (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap()),
        );
    }
    let head = t.state(p, tok).await["head"].as_i64().unwrap();
    t.stop().await;
    assert_eq!(integrity(&url).await, "ok");
    assert_eq!(check_log(&url, p, &acked).await, head);
    assert_eq!(head as usize, 1 + acked.len(), "every command exactly once");
}

/// The database name at the end of a `postgres://…/name` URL.
fn database_name(url: &str) -> String {
    let path = url.split('?').next().unwrap();
    path.rsplit('/').next().unwrap().to_string()
}

/// Whether `name` accepts logins; turning them off also ends its open sessions (a database
/// being taken down for maintenance). Runs on the server's base database as an admin.
async fn allow_connections(name: &str, allow: bool) {
    let base = common::pg_base_url("db_faults::allow_connections").unwrap();
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
        .execute(&mut admin)
        .await
        .unwrap();
    if !allow {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(name)
        .execute(&mut admin)
        .await
        .unwrap();
    }
    admin.close().await.unwrap();
}

/// `GET /readyz`: (status, error code if any).
async fn readiness(t: &TestServer) -> (u16, Option<String>) {
    let (s, b) = t.get("/readyz", None).await;
    (s, b["error"]["code"].as_str().map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_logins_is_a_retriable_503_and_not_ready() {
    let Some(db) = common::fresh_pg("db_faults::postgres_refusing_logins").await else {
        return;
    };
    let name = database_name(&db.url);
    let t = TestServer::start_with(Backend::Postgres(db), fast()).await;
    let c = t.create("Logins").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    assert_eq!(readiness(&t).await, (200, None));
    allow_connections(&name, false).await;
    let mut refused = Vec::new();
    for n in 0..5 {
        let (op, s, b) = send(&t, p, tok, n).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (503, Some("unavailable")),
            "{op} while the database refuses logins: {b}"
        );
        assert!(b["error"]["message"].as_str().unwrap().contains("retry"));
        refused.push((op, n));
    }
    assert_eq!(readiness(&t).await, (503, Some("unavailable".into())));
    assert_eq!(t.get_text("/healthz").await.0, 200, "alive, only not ready");
    allow_connections(&name, true).await;
    assert_eq!(readiness(&t).await, (200, None));
    for (op, n) in refused {
        let (s, b) = t.command(p, tok, &op, comment(n)).await;
        assert_eq!(
            (s, b["duplicate"].as_bool()),
            (200, Some(false)),
            "{op}: {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_fails_fast_with_503() {
    let Some(db) = common::fresh_pg("db_faults::stops_answering").await else {
        return;
    };
    let proxy = Proxy::start(upstream_of(&db.url).await).await;
    let t = TestServer::start_with(Backend::Shared(proxy.url_for(&db.url)), fast()).await;
    let c = t.create("Silence").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    proxy.hang();
    // Neither a command nor the readiness probe is held: a command waits at most for the
    // pool's acquire timeout (2 s), twice when it queues behind a room's own read that waits
    // too (it was 10 s, and 20 s); then the client is told to retry.
    for n in 0..3 {
        let started = std::time::Instant::now();
        let (op, s, b) = send(&t, p, tok, n).await;
        let took = started.elapsed();
        assert!(
            [(503, Some("unavailable")), (503, Some("busy"))]
                .contains(&(s, b["error"]["code"].as_str())),
            "{op}: {b}"
        );
        assert!(took < Duration::from_secs(5), "{op} held {took:?}");
    }
    let started = std::time::Instant::now();
    assert_eq!(readiness(&t).await, (503, Some("unavailable".into())));
    assert!(started.elapsed() < Duration::from_secs(5));
    proxy.restore();
    let (s, b) = t.command(p, tok, "op-0", comment(0)).await;
    assert_eq!(s, 200, "{b}");
    drop(db);
}
