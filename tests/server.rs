//! The realtime server over real sockets: REST, websockets, views, resume, deadlines.

mod common;

use common::server::*;
use serde_json::json;

#[tokio::test]
async fn smoke_create_join_vote_over_rest_and_ws() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 1").await;
    let (_ann, ann_tok) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_bob, bob_tok) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let mut ws_bob = t.ws(&c.planning, &bob_tok, 0).await;
    let (hello, _) = ws_bob.until("hello").await;
    assert_eq!(hello["you"]["role"], "member");
    ws_bob.until("caught_up").await;

    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let item = st["state"]["rank"][0].as_str().unwrap().to_string();
    let head = t
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "OpenRound", "items": [item]}),
        )
        .await;
    let st = t.state(&c.planning, &c.token).await;
    let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
    let h = t
        .ok(
            &c.planning,
            &ann_tok,
            json!({"type": "CastVote", "round": round, "item": item, "card": "5"}),
        )
        .await;
    assert_eq!(h, head + 1);
    let events = ws_bob.events_until(h).await;
    let vote = events.last().unwrap();
    assert_eq!(vote["kind"], "VoteCast");
    assert!(vote["data"].get("card").is_none(), "sealed: {vote}");
}
