//! Websocket edge cases found by the load tool: a far-behind client of a large planning gets
//! its (large) snapshot, and pipelined commands from one socket are decided in send order.

mod common;

use common::server::*;
use serde_json::json;
use sprintlog::config::Limits;

fn limits() -> Limits {
    Limits {
        snapshot_after: 5,
        command_rate: 10_000,
        command_burst: 10_000,
        ..Limits::default()
    }
}

#[tokio::test]
async fn a_far_behind_client_gets_a_large_snapshot_then_caught_up() {
    let t = TestServer::start_with(sqlite(), limits()).await;
    let c = t.create("Big state").await;
    let text = "x".repeat(15_000);
    for _ in 0..30 {
        t.ok(
            &c.planning,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": text}),
        )
        .await;
    }
    // ~450 KB of state: more than the old 256 KiB write-buffer cap that stalled catch-up.
    let mut ws = t.ws(&c.planning, &c.token, 0).await;
    let (snapshot, _) = ws.until("snapshot").await;
    assert_eq!(snapshot["at"], 31);
    assert!(snapshot.to_string().len() > 400_000);
    let (caught, _) = ws.until("caught_up").await;
    assert_eq!(caught["head"], 31);
}

#[tokio::test]
async fn pipelined_commands_from_one_socket_are_decided_in_order() {
    let t = TestServer::start_with(sqlite(), limits()).await;
    let c = t.create("Order").await;
    let (_a, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    t.join(&c.planning, &c.member_invite, "Bob").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "X"}}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let item = st["state"]["rank"][0].clone();
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": [item]}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let round = st["state"]["round_order"][0].clone();
    let mut ws = t.ws(&c.planning, &ann, 0).await;
    ws.until("caught_up").await;
    // 20 vote/withdraw pairs sent without waiting: each withdraw needs the vote before it.
    for i in 0..20 {
        ws.send(json!({"type": "command", "op": format!("v{i}"),
            "command": {"type": "CastVote", "round": round, "item": item, "card": "3"}}))
            .await;
        ws.send(json!({"type": "command", "op": format!("w{i}"),
            "command": {"type": "WithdrawVote", "round": round, "item": item}}))
            .await;
    }
    let mut acks = 0;
    while acks < 40 {
        let f = ws.frame().await;
        assert_ne!(f["type"], "error", "out of order: {f}");
        if f["type"] == "ack" {
            acks += 1;
        }
    }
}

#[tokio::test]
async fn presence_changes_are_coalesced_not_sent_per_connect() {
    let t = TestServer::start_with(sqlite(), limits()).await;
    let c = t.create("Presence").await;
    let mut first = t.ws(&c.planning, &c.token, 0).await;
    first.until("caught_up").await;
    // 30 more connections at once (a team joining, or a reconnect storm).
    let mut others = Vec::new();
    for _ in 0..30 {
        others.push(t.ws(&c.planning, &c.token, 0).await);
    }
    let mut presence = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(800);
    while tokio::time::Instant::now() < deadline {
        match first.next(std::time::Duration::from_millis(100)).await {
            Got::Frame(f) if f["type"] == "presence" => presence += 1,
            _ => {}
        }
    }
    assert!(presence >= 1, "presence is still announced");
    assert!(
        presence < 10,
        "{presence} presence frames for 30 connects: not coalesced"
    );
}
