//! Crash test: the real `sprintlog` binary under command load is killed with SIGKILL at random
//! moments, restarted on the same database, and the log is checked for what was promised:
//! every acknowledged command is in the log exactly once, seq has no gap, no command is
//! half-written, a retry (same op id, after the restart) is not applied twice, and the
//! projection rebuilt from the log equals the one the live server served before the crash.
//!
//! Small on purpose (a few kills of a few hundred milliseconds of load), so it runs in CI on
//! both backends in seconds; raise `KILLS` locally for a longer soak.

mod common;

use common::time::eventually;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde_json::{json, Value};
use sprintlog::store::ChainCheck;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// How many times the server is killed under load.
const KILLS: usize = 4;
/// REST clients sending commands concurrently.
const REST_WORKERS: usize = 3;

/// The server binary, running as a child process.
struct Proc {
    child: Child,
    base: String,
}

impl Proc {
    /// Starts `sprintlog` on `url`, on an ephemeral port, and waits until it listens.
    async fn start(url: &str) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sprintlog"))
            .env("DATABASE_URL", url)
            .env("SPRINTLOG_BIND", "127.0.0.1:0")
            .env_remove("SPRINTLOG_PUBLIC_URL")
            .env("RUST_LOG", "error")
            .env("SPRINTLOG_COMMAND_RATE", "100000")
            .env("SPRINTLOG_COMMAND_BURST", "100000")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the sprintlog binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        // main prints `sprintlog web client: http://ADDR/` once it listens.
        let base = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("sprintlog web client: ") {
                    return url.trim().trim_end_matches('/').to_string();
                }
            }
            panic!("the server exited before listening");
        })
        .await
        .expect("the server did not start within 30 s");
        // Keep draining stdout (logs go there) so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Proc { child, base }
    }

    /// SIGKILL: no shutdown hook, no flush, no graceful anything.
    async fn kill9(mut self) {
        self.child.start_kill().expect("kill -9");
        let status = self.child.wait().await.expect("wait for the child");
        assert!(!status.success(), "killed, not exited: {status:?}");
    }
}

/// One command a client sent, and what it learned.
#[derive(Clone, Debug)]
struct Sent {
    token: String,
    command: Value,
    /// Events this command appends (all or nothing).
    events: usize,
    /// `(first, head)` if the server acknowledged it.
    ack: Option<(i64, i64)>,
}

type Ledger = Arc<Mutex<BTreeMap<String, Sent>>>;

struct Planning {
    id: String,
    fac: String,
    member: String,
    items: Vec<String>,
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let mut req = http.post(url).json(body).timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn get(http: &reqwest::Client, url: String, token: &str) -> Value {
    let resp = http.get(url).bearer_auth(token).send().await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("JSON")
}

async fn setup(base: &str) -> Planning {
    let http = reqwest::Client::new();
    let (s, created) = post(
        &http,
        format!("{base}/api/plannings"),
        None,
        &json!({"title": "Crash", "name": "Fran"}),
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{created}");
    let id = created["planning"].as_str().unwrap().to_string();
    let fac = created["token"].as_str().unwrap().to_string();
    let (s, joined) = post(
        &http,
        format!("{base}/api/plannings/{id}/join"),
        None,
        &json!({"invite": created["member_invite"], "name": "Ann"}),
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{joined}");
    let member = joined["token"].as_str().unwrap().to_string();
    for i in 0..3 {
        let (s, b) = post(
            &http,
            format!("{base}/api/plannings/{id}/commands"),
            Some(&fac),
            &json!({"client_op_id": format!("setup-{i}"),
                "command": {"type": "ProposeItem", "draft": {"title": format!("Item {i}")}}}),
        )
        .await
        .unwrap();
        assert_eq!(s, 200, "{b}");
    }
    let st = get(&http, format!("{base}/api/plannings/{id}"), &fac).await;
    let items: Vec<String> = match &st["state"]["items"] {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Array(a) => a
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect(),
        other => panic!("unexpected items shape: {other}"),
    };
    assert_eq!(items.len(), 3, "{st}");
    Planning {
        id,
        fac,
        member,
        items,
    }
}

/// The command a worker sends as its `n`th, and how many events it appends.
fn command_for(p: &Planning, n: usize) -> (Value, usize) {
    match n % 3 {
        0 => (
            json!({"type": "PostComment", "kind": "comment", "text": format!("note {n}")}),
            1,
        ),
        1 => (
            json!({"type": "ProposeItem", "draft": {"title": format!("Idea {n}")}}),
            1,
        ),
        // Three events in one command: a crash must never leave one or two of them.
        _ => {
            let cards = ["1", "2", "3", "5", "8"];
            let estimates: Vec<Value> = p
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| json!({"item": item, "card": cards[(n + i) % cards.len()]}))
                .collect();
            (json!({"type": "AgreeEstimates", "estimates": estimates}), 3)
        }
    }
}

/// Sends commands over REST until `stop` (or until the server is gone), recording each.
async fn rest_worker(
    base: String,
    p: Arc<Planning>,
    worker: usize,
    round: usize,
    stop: Arc<AtomicBool>,
    ledger: Ledger,
) {
    let http = reqwest::Client::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let op = format!("r{round}-w{worker}-{n}");
        let (command, events) = command_for(&p, n + worker);
        n += 1;
        ledger.lock().unwrap().insert(
            op.clone(),
            Sent {
                token: p.fac.clone(),
                command: command.clone(),
                events,
                ack: None,
            },
        );
        let url = format!("{base}/api/plannings/{}/commands", p.id);
        match post(
            &http,
            url,
            Some(&p.fac),
            &json!({"client_op_id": op, "command": command}),
        )
        .await
        {
            Ok((200, b)) => {
                let ack = (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap());
                ledger.lock().unwrap().get_mut(&op).unwrap().ack = Some(ack);
            }
            Ok((status, b)) => {
                // A refusal of a valid command is a bug; 503 while dying is expected.
                assert!(status == 503 || status == 408, "{op}: {status} {b}");
            }
            Err(_) => break, // killed
        }
    }
}

/// Sends commands over one websocket (as the member) until `stop` or the socket dies.
async fn ws_worker(
    ws_base: String,
    p: Arc<Planning>,
    round: usize,
    stop: Arc<AtomicBool>,
    ledger: Ledger,
) {
    let url = format!("{ws_base}/ws/plannings/{}?token={}&since=0", p.id, p.member);
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
        return;
    };
    let mut n = 0;
    'outer: while !stop.load(Ordering::Relaxed) {
        let op = format!("r{round}-ws-{n}");
        // Members may comment and propose, not agree: only the one-event commands.
        let (command, events) = command_for(&p, (n % 2) * 3 + n % 2);
        n += 1;
        ledger.lock().unwrap().insert(
            op.clone(),
            Sent {
                token: p.member.clone(),
                command: command.clone(),
                events,
                ack: None,
            },
        );
        let frame = json!({"type": "command", "op": op, "command": command}).to_string();
        if socket.send(Message::Text(frame.into())).await.is_err() {
            break;
        }
        loop {
            let msg = match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => t,
                Ok(Some(Ok(_))) => continue,
                _ => break 'outer,
            };
            let f: Value = serde_json::from_str(&msg).expect("JSON frame");
            if f["op"] != json!(op) {
                continue;
            }
            match f["type"].as_str() {
                Some("ack") => {
                    let ack = (f["first"].as_i64().unwrap(), f["head"].as_i64().unwrap());
                    ledger.lock().unwrap().get_mut(&op).unwrap().ack = Some(ack);
                }
                _ => assert_eq!(f["code"], "unavailable", "{op}: {f}"),
            }
            break;
        }
    }
}

/// Sends every command of `round` again with its op id: each must be acknowledged, an already
/// acknowledged one as a duplicate with the same seqs.
async fn retry_all(base: &str, p: &Planning, ledger: &Ledger, round: usize) {
    let http = reqwest::Client::new();
    let prefix = format!("r{round}-");
    let sent: Vec<(String, Sent)> = ledger
        .lock()
        .unwrap()
        .iter()
        .filter(|(op, _)| op.starts_with(&prefix))
        .map(|(op, s)| (op.clone(), s.clone()))
        .collect();
    for (op, s) in sent {
        let url = format!("{base}/api/plannings/{}/commands", p.id);
        let (status, b) = post(
            &http,
            url,
            Some(&s.token),
            &json!({"client_op_id": op, "command": s.command}),
        )
        .await
        .expect("retry after restart");
        assert_eq!(status, 200, "retry of {op}: {b}");
        let ack = (b["first"].as_i64().unwrap(), b["head"].as_i64().unwrap());
        if let Some(before) = s.ack {
            assert_eq!(b["duplicate"], true, "acknowledged {op} applied again: {b}");
            assert_eq!(ack, before, "{op} acknowledged at other seqs");
        }
        assert_eq!((ack.1 - ack.0 + 1) as usize, s.events, "{op}: {b}");
        ledger.lock().unwrap().get_mut(&op).unwrap().ack = Some(ack);
    }
}

/// Checks the log on disk, with the server dead.
async fn check_log(url: &str, p: &Planning, ledger: &Ledger) -> i64 {
    let store = sprintlog::store::open(url).await.expect("reopen the log");
    let planning: uuid::Uuid = p.id.parse().unwrap();
    let events = store.read(planning, 0, 1_000_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "seq has a gap"
    );
    assert_eq!(store.head(planning).await.unwrap(), events.len() as i64);
    // Each op's events: contiguous, complete, once.
    let mut by_op: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in &events {
        by_op.entry(&e.client_op_id).or_default().push(e.seq);
    }
    for (op, s) in ledger.lock().unwrap().iter() {
        let (first, head) = s.ack.expect("every op was acknowledged by the retries");
        assert_eq!(
            by_op.get(op.as_str()),
            Some(&(first..=head).collect::<Vec<_>>()),
            "{op} must be in the log exactly once, whole, where it was acknowledged"
        );
    }
    match sprintlog::store::verify_chain(&*store, planning)
        .await
        .unwrap()
    {
        ChainCheck::Intact { events: n, .. } => assert_eq!(n as usize, events.len()),
        broken => panic!("hash chain broken after a crash: {broken:?}"),
    }
    store.close().await;
    events.len() as i64
}

async fn crash_and_recover(url: &str) {
    let mut server = Proc::start(url).await;
    let p = Arc::new(setup(&server.base).await);
    let ledger: Ledger = Arc::default();
    let http = reqwest::Client::new();
    for round in 0..KILLS {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..REST_WORKERS {
            tasks.push(tokio::spawn(rest_worker(
                server.base.clone(),
                p.clone(),
                w,
                round,
                stop.clone(),
                ledger.clone(),
            )));
        }
        let ws_base = server.base.replacen("http://", "ws://", 1);
        tasks.push(tokio::spawn(ws_worker(
            ws_base,
            p.clone(),
            round,
            stop.clone(),
            ledger.clone(),
        )));
        // Under load (commands of this round acknowledged), a projection the live server
        // served, to compare with the rebuilt one; then the kill, at a random moment.
        let prefix = format!("r{round}-");
        eventually(
            Duration::from_secs(30),
            "commands acked under load",
            || async {
                let l = ledger.lock().unwrap();
                let acked = l
                    .iter()
                    .filter(|(op, s)| op.starts_with(&prefix) && s.ack.is_some())
                    .count();
                (acked >= 4).then_some(())
            },
        )
        .await;
        let served = get(
            &http,
            format!("{}/api/plannings/{}", server.base, p.id),
            &p.fac,
        )
        .await;
        let wait = rand::thread_rng().gen_range(0..100);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9().await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await.expect("worker panicked");
        }
        let (acked, in_doubt) = {
            let l = ledger.lock().unwrap();
            let this = l
                .iter()
                .filter(|(op, _)| op.starts_with(&format!("r{round}-")));
            let (a, d): (Vec<_>, Vec<_>) = this.partition(|(_, s)| s.ack.is_some());
            (a.len(), d.len())
        };
        eprintln!("crash round {round}: killed after {wait} ms, {acked} acknowledged, {in_doubt} in doubt");
        server = Proc::start(url).await;
        let at = served["head"].as_i64().unwrap();
        let rebuilt = get(
            &http,
            format!("{}/api/plannings/{}?at={at}", server.base, p.id),
            &p.fac,
        )
        .await;
        assert_eq!(
            rebuilt["state"], served["state"],
            "the projection at {at} differs after the crash"
        );
        retry_all(&server.base, &p, &ledger, round).await;
    }
    let acked = ledger.lock().unwrap().len();
    assert!(acked > KILLS, "the load did something ({acked} commands)");
    // The live projection (built by applying events as they were appended) against the one
    // rebuilt from the log after a final crash.
    let live = get(
        &http,
        format!("{}/api/plannings/{}", server.base, p.id),
        &p.fac,
    )
    .await;
    server.kill9().await;
    let head = check_log(url, &p, &ledger).await;
    assert_eq!(live["head"], head);
    let server = Proc::start(url).await;
    let rebuilt = get(
        &http,
        format!("{}/api/plannings/{}", server.base, p.id),
        &p.fac,
    )
    .await;
    assert_eq!(rebuilt["head"], live["head"]);
    assert_eq!(
        rebuilt["state"], live["state"],
        "the rebuilt projection differs"
    );
    server.kill9().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_kill_9_under_load() {
    let db = common::fresh_sqlite();
    crash_and_recover(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_kill_9_under_load() {
    let Some(db) = common::fresh_pg("crash").await else {
        return;
    };
    crash_and_recover(&db.url).await;
}
