//! A room's life on a node: evicted when idle and reloaded from the log on next use; a
//! graceful shutdown that finishes in-flight appends, so every acknowledged command is in the log.

mod common;

use common::server::*;
use common::time::eventually;
use serde_json::json;
use sprintlog::config::Limits;
use std::time::Duration;

async fn rooms_loaded(t: &TestServer) -> u64 {
    t.metric("sprintlog_rooms").await as u64
}

#[tokio::test]
async fn an_idle_room_is_evicted_and_reloaded_from_the_log() {
    let limits = Limits {
        room_idle_secs: 1,
        ..Limits::default()
    };
    let t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Idle").await;
    let head = t
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "DraftGoal", "text": "Stay small"}),
        )
        .await;
    assert_eq!(rooms_loaded(&t).await, 1);
    eventually(Duration::from_secs(10), "the idle room evicted", || async {
        (rooms_loaded(&t).await == 0).then_some(())
    })
    .await;
    // Next use loads it again, with everything it had.
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["head"], head);
    assert_eq!(st["state"]["goal"]["text"], "Stay small");
    assert_eq!(rooms_loaded(&t).await, 1);
}

#[tokio::test]
async fn a_graceful_shutdown_keeps_every_acknowledged_command() {
    let limits = Limits {
        command_rate: 10_000,
        command_burst: 10_000,
        ..Limits::default()
    };
    let mut t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Shutdown").await;
    let (planning, token, base) = (c.planning.clone(), c.token.clone(), t.base.clone());
    let mut sends = Vec::new();
    for i in 0..40 {
        let (planning, token, base) = (planning.clone(), token.clone(), base.clone());
        sends.push(tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{base}/api/plannings/{planning}/commands"))
                .bearer_auth(&token)
                .json(&json!({"client_op_id": format!("c{i}"),
                    "command": {"type": "PostComment", "kind": "comment", "text": format!("n{i}")}}))
                .send()
                .await;
            match resp {
                Ok(r) if r.status() == 200 => Some(format!("c{i}")),
                _ => None,
            }
        }));
    }
    // Stop while commands are in flight, but only once one has gone through (on a busy
    // machine a fixed sleep could stop the server before any command arrived).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while t.state(&planning, &token).await["head"]
        .as_i64()
        .unwrap_or(0)
        < 2
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let backend = t.stop().await;
    let mut acked = Vec::new();
    for s in sends {
        if let Some(op) = s.await.unwrap() {
            acked.push(op);
        }
    }
    // Reopen the log: every acknowledged command is there exactly once, seq has no gap, and
    // no command is half-written (each comment command is one event).
    let store = sprintlog::store::open(backend.url()).await.unwrap();
    let p: uuid::Uuid = planning.parse().unwrap();
    let events = store.read(p, 0, 1000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    for op in &acked {
        assert_eq!(
            events.iter().filter(|e| &e.client_op_id == op).count(),
            1,
            "acknowledged {op} must be in the log once"
        );
    }
    assert!(
        !acked.is_empty(),
        "some commands were acknowledged before the stop"
    );
    store.close().await;
}

/// Commands that arrived over a websocket just before the stop are answered before the socket
/// closes (1001): every one the log holds was acknowledged to its sender, none is left
/// committed but unanswered (a client would otherwise retry it only to learn it happened).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_answers_websocket_commands_before_closing() {
    let limits = Limits {
        command_rate: 10_000,
        command_burst: 10_000,
        ..Limits::default()
    };
    let mut t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Shutdown").await;
    let mut ws = t.ws(&c.planning, &c.token, 0).await;
    ws.until("caught_up").await;
    let frames: Vec<_> = (0..200)
        .map(|i| {
            json!({"type": "command", "op": format!("w{i}"),
                "command": {"type": "PostComment", "kind": "comment", "text": format!("n{i}")}})
        })
        .collect();
    ws.send_all(&frames).await;
    // Stop once the burst is being written (some commands committed, most still queued).
    let (first, _) = ws.until("ack").await;
    let mut answered = vec![first["op"].as_str().unwrap().to_string()];
    let reader = tokio::spawn(async move {
        let mut answered = Vec::new();
        let close = loop {
            match ws.next(Duration::from_secs(20)).await {
                common::server::Got::Frame(f) if f["type"] == "ack" => {
                    answered.push(f["op"].as_str().unwrap().to_string());
                }
                common::server::Got::Frame(_) => {}
                common::server::Got::Closed(code) => break code,
                common::server::Got::Timeout => break None,
            }
        };
        (answered, close)
    });
    let backend = t.stop().await;
    let (more, close) = reader.await.unwrap();
    answered.extend(more);
    assert_eq!(close, Some(1001), "closed as going away");
    let store = sprintlog::store::open(backend.url()).await.unwrap();
    let p: uuid::Uuid = c.planning.parse().unwrap();
    let committed: Vec<String> = store
        .read(p, 1, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.client_op_id)
        .collect();
    store.close().await;
    let unanswered: Vec<&String> = committed
        .iter()
        .filter(|op| !answered.contains(op))
        .collect();
    assert!(
        unanswered.is_empty(),
        "committed but never acknowledged: {unanswered:?} ({} committed, {} acked)",
        committed.len(),
        answered.len()
    );
}
