//! Several nodes on one PostgreSQL (and, for reads, on one SQLite file): shared history,
//! cross-node fan-out, repair, failover, reads that agree.

mod common;

use common::server::*;
use common::time::{manual_clock, Clock};
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::collections::BTreeSet;
use std::time::Duration;

/// Limits for a node: no head polling, so only NOTIFY (and its repair) can deliver cross-node.
fn no_poll() -> Limits {
    Limits {
        head_poll_ms: 0,
        command_rate: 1000,
        command_burst: 1000,
        ..Limits::default()
    }
}

async fn two_nodes(test: &str) -> Option<(TestServer, TestServer)> {
    two_nodes_on(test, &Clock::system()).await
}

/// Two nodes whose time is `clock`.
async fn two_nodes_on(test: &str, clock: &Clock) -> Option<(TestServer, TestServer)> {
    let backend = postgres(test).await?;
    let url = backend.url().to_string();
    let a = TestServer::start_clocked(backend, no_poll(), clock).await;
    let b = TestServer::start_clocked(Backend::Shared(url), no_poll(), clock).await;
    Some((a, b))
}

/// Reads event frames until `head`, asserting seq is exactly `from+1..=head` (no gap, no dup).
async fn expect_contiguous(ws: &mut Ws, from: i64, head: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut last = from;
    while last < head {
        let f = ws.frame().await;
        if f["type"] != "event" {
            continue;
        }
        let seq = f["seq"].as_i64().unwrap();
        assert_eq!(
            seq,
            last + 1,
            "gap or duplicate after {last} (from {from}): {f}"
        );
        last = seq;
        events.push(f);
    }
    events
}

fn ids(events: &[Value]) -> Vec<(i64, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn comment(i: usize) -> Value {
    json!({"type": "PostComment", "kind": "comment", "text": format!("note {i}")})
}

#[tokio::test]
async fn clients_on_two_nodes_see_one_history_and_concurrent_writes_stay_gapless() {
    let Some((a, b)) = two_nodes("cluster_one_history").await else {
        return;
    };
    let c = a.create("Shared").await;
    let (_ann, ann) = a.join(&c.planning, &c.member_invite, "Ann").await;
    // Joining through node B loads the planning there from the log.
    let (_bob, bob) = b.join(&c.planning, &c.member_invite, "Bob").await;
    let mut ws_a = a.ws(&c.planning, &ann, 0).await;
    let mut ws_b = b.ws(&c.planning, &bob, 0).await;
    // Each node's client starts wherever its node's projection was (B's join may reach A later).
    let a_from = ws_a.until("caught_up").await.0["head"].as_i64().unwrap();
    let b_from = ws_b.until("caught_up").await.0["head"].as_i64().unwrap();

    // 2 writers per node, 10 commands each, all at once: the nodes race for the same head.
    let mut tasks = Vec::new();
    for (node, token) in [(&a, &ann), (&a, &c.token), (&b, &bob), (&b, &bob)] {
        let (base, planning, token) = (node.base.clone(), c.planning.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..10 {
                let resp = http
                    .post(format!("{base}/api/plannings/{planning}/commands"))
                    .bearer_auth(&token)
                    .json(&json!({"client_op_id": uuid::Uuid::new_v4().to_string(), "command": comment(i)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // create + 2 joins + 40 comments. (A node's projection follows the other node's writes
    // asynchronously, so the clients are what we wait on.)
    let head = 3 + 40;
    let from_a = expect_contiguous(&mut ws_a, a_from, head).await;
    let from_b = expect_contiguous(&mut ws_b, b_from, head).await;
    let tail = |v: &[Value]| {
        ids(v)
            .into_iter()
            .filter(|(s, _)| *s > 3)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tail(&from_a),
        tail(&from_b),
        "same events, same order on both nodes"
    );
    assert_eq!(tail(&from_a).len(), 40);
    // Both nodes' projections agree.
    let sa = a.state(&c.planning, &c.token).await;
    let sb = b.state(&c.planning, &c.token).await;
    assert_eq!(sa["state"]["comments"], sb["state"]["comments"]);
    assert_eq!(sb["head"], head);
}

#[tokio::test]
async fn a_killed_listener_connection_is_repaired_without_loss_or_duplicates() {
    let Some((a, b)) = two_nodes("cluster_listener_killed").await else {
        return;
    };
    let c = a.create("Repair").await;
    let (_bob, bob) = b.join(&c.planning, &c.member_invite, "Bob").await;
    let mut ws_b = b.ws(&c.planning, &bob, 0).await;
    let (_, _) = ws_b.until("caught_up").await;
    let start = 2;

    let admin_url = match &a.backend {
        Backend::Postgres(db) => db.url.clone(),
        _ => unreachable!(),
    };
    // The writer stops halfway until the listeners are killed: the kill is mid-stream.
    let (halfway, at_halfway) = tokio::sync::oneshot::channel::<()>();
    let (killed, on_killed) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let (base, planning, token) = (a.base.clone(), c.planning.clone(), c.token.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut halfway, mut on_killed) = (Some(halfway), Some(on_killed));
            for i in 0..40 {
                if i == 20 {
                    let _ = halfway.take().unwrap().send(());
                    on_killed.take().unwrap().await.expect("the kill");
                }
                let resp = http
                    .post(format!("{base}/api/plannings/{planning}/commands"))
                    .bearer_auth(&token)
                    .json(&json!({"client_op_id": format!("w{i}"), "command": comment(i)}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            }
        })
    };
    // Mid-stream, kill every LISTEN connection on this database (both nodes' listeners).
    at_halfway.await.expect("the writer halfway");
    let pool = sqlx::PgPool::connect(&admin_url).await.unwrap();
    let killed_listeners: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        !killed_listeners.is_empty(),
        "found the listener connections"
    );
    let _ = killed.send(());
    writer.await.unwrap();
    pool.close().await;

    let head = a.state(&c.planning, &c.token).await["head"]
        .as_i64()
        .unwrap();
    assert_eq!(head, start + 40);
    // Node B's client gets every event exactly once, in order.
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        expect_contiguous(&mut ws_b, start, head),
    )
    .await
    .expect("all events arrive after the repair");
    assert_eq!(got.len() as i64, head - start);
    let metrics = reqwest::get(format!("{}/metrics", b.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("sprintlog_head_feed_reconnects_total 1")
            || metrics.contains("sprintlog_head_feed_reconnects_total 2"),
        "the reconnect was detected: {metrics}"
    );
}

#[tokio::test]
async fn clients_of_a_killed_node_resume_on_another_without_gap() {
    let Some(backend) = postgres("cluster_node_killed").await else {
        return;
    };
    let url = backend.url().to_string();
    // Node A is a real process, so it can die by SIGKILL.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["--bind", "127.0.0.1:0", "--database-url", &url])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start node A");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("node A prints its URL")
        .unwrap()
        .unwrap();
    let a_base = line
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let b = TestServer::start_with(Backend::Shared(url), no_poll()).await;
    let a = TestServer {
        server: None,
        base: a_base.clone(),
        ws_base: a_base.replace("http://", "ws://"),
        http: reqwest::Client::new(),
        backend,
    };

    let c = a.create("Failover").await;
    let (_ann, ann) = a.join(&c.planning, &c.member_invite, "Ann").await;
    let mut ws = a.ws(&c.planning, &ann, 0).await;
    ws.until("caught_up").await;
    for i in 0..10 {
        a.ok(&c.planning, &c.token, comment(i)).await;
    }
    let got = expect_contiguous(&mut ws, 2, 12).await;
    let last = got.last().unwrap()["seq"].as_i64().unwrap();

    child.start_kill().unwrap();
    let _ = child.wait().await;
    // The old socket dies with the node.
    loop {
        match ws.next(Duration::from_secs(10)).await {
            Got::Closed(_) => break,
            Got::Timeout => panic!("socket of a killed node must close"),
            Got::Frame(_) => continue,
        }
    }
    for i in 10..20 {
        b.ok(&c.planning, &c.token, comment(i)).await;
    }
    let mut ws = b.ws(&c.planning, &ann, last).await;
    let (_, caught) = ws.until("caught_up").await;
    let seqs: Vec<i64> = caught.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (last + 1..=22).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_deadline_with_two_nodes_closes_the_round_once() {
    let clock = manual_clock();
    let Some((a, b)) = two_nodes_on("cluster_deadline_once", &clock).await else {
        return;
    };
    let c = a.create("Deadline").await;
    let (_ann, ann) = a.join(&c.planning, &c.member_invite, "Ann").await;
    b.join(&c.planning, &c.member_invite, "Bob").await;
    a.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    a.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "X"}}),
    )
    .await;
    let st = a.state(&c.planning, &c.token).await;
    let item = st["state"]["rank"][0].as_str().unwrap().to_string();
    let deadline = clock.now_micros() + 1_500_000;
    a.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    // Both nodes host the planning (B loaded it for the join) and both run schedulers.
    let st = a.state(&c.planning, &ann).await;
    let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
    clock.advance(Duration::from_millis(1500));
    // Done, so no node can run it again: the log below is final.
    a.job_done(&format!("close:{round}")).await;
    let (_, events) = a
        .get(
            &format!("/api/plannings/{}/events?limit=1000", c.planning),
            Some(&c.token),
        )
        .await;
    let closes: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "RoundClosed" && e["data"]["round"] == round.as_str())
        .collect();
    assert_eq!(closes.len(), 1, "closed exactly once: {closes:?}");
    assert_eq!(closes[0]["data"]["at"], deadline);
    let kinds: BTreeSet<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains("ItemFlagged"), "nobody voted: quorum flag");
}

/// Two nodes on one SQLite file, neither polling: node A hears of B's appends only when it
/// reads the log. `GET …/events` on A lists B's events, and its `head` — and A's planning right
/// after — are never behind the events it just listed.
#[tokio::test]
async fn events_never_run_ahead_of_the_head_they_come_with() {
    let a = TestServer::start_with(sqlite(), no_poll()).await;
    let b = TestServer::start_with(a.backend.shared(), no_poll()).await;
    let c = a.create("Reads").await;
    assert_eq!(a.state(&c.planning, &c.token).await["head"], 1);
    for n in 0..3 {
        b.ok(
            &c.planning,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": format!("from B {n}")}),
        )
        .await;
    }
    let (s, page) = a
        .get(
            &format!("/api/plannings/{}/events", c.planning),
            Some(&c.token),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let head = page["head"].as_i64().unwrap();
    let seqs: Vec<i64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "B's events are listed");
    assert!(
        seqs.iter().all(|&s| s <= head),
        "events past head {head}: {seqs:?}"
    );
    let planning_head = a.state(&c.planning, &c.token).await["head"]
        .as_i64()
        .unwrap();
    assert!(
        planning_head >= 4,
        "the planning lags what was listed: {planning_head}"
    );
}
