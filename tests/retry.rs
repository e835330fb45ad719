//! A retried command applies once and returns its original ack even when deciding it again
//! would now be refused (its round has closed since), on both backends.

mod common;

use common::server::*;
use serde_json::json;

async fn retry_after_the_round_closed(t: &TestServer) {
    let c = t.create("Retry").await;
    let (_a, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (item, round) = t.round_on_new_item(&c, "X").await;
    let vote = json!({"type": "CastVote", "round": round, "item": item, "card": "5"});
    // Ann is the only member: her vote closes the round in the same command.
    let (status, first) = t.command(&c.planning, &ann, "vote-1", vote.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["duplicate"], false);
    // The ack was lost; Ann retries. Deciding again would say "round closed" — she gets her
    // original ack instead, and nothing is appended.
    let (status, again) = t.command(&c.planning, &ann, "vote-1", vote.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(
        (again["first"].clone(), again["head"].clone()),
        (first["first"].clone(), first["head"].clone())
    );
    assert_eq!(t.state(&c.planning, &c.token).await["head"], first["head"]);
    // A new op id for the same vote is refused by the rules.
    let (status, refused) = t.command(&c.planning, &ann, "vote-2", vote).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("round_closed"))
    );
}

#[tokio::test]
async fn sqlite_retry_after_the_round_closed() {
    retry_after_the_round_closed(&TestServer::start(sqlite()).await).await;
}

#[tokio::test]
async fn postgres_retry_after_the_round_closed() {
    let Some(b) = postgres("retry_after_close").await else {
        return;
    };
    retry_after_the_round_closed(&TestServer::start(b).await).await;
}

/// A join that names its own token applies once however often it is retried; without one each
/// request is a new join (documented), and a token of the wrong shape is refused.
async fn retried_join_with_a_client_token(t: &TestServer) {
    let c = t.create("Retry join").await;
    let path = format!("/api/plannings/{}/join", c.planning);
    let join = |body: serde_json::Value| t.post(&path, None, body);
    let token = "5f".repeat(32);
    let body = json!({"invite": c.member_invite, "name": "Ann", "token": token});
    let (status, first) = join(body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["token"], token.as_str());
    // The answer was lost; the client retries with the same token.
    let (status, again) = join(body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["participant"], first["participant"]);
    assert_eq!(again["head"], first["head"]);
    let state = t.state(&c.planning, &token).await;
    assert_eq!(state["you"]["participant"], first["participant"]);
    let anns = state["state"]["participants"]
        .as_object()
        .unwrap()
        .values()
        .filter(|p| p["name"] == "Ann")
        .count();
    assert_eq!(anns, 1, "one Ann after two requests");
    assert_eq!(
        state["head"], first["head"],
        "nothing appended by the retry"
    );
    // The same token with another name is a different request under the same key: refused.
    let (status, clash) =
        join(json!({"invite": c.member_invite, "name": "Bob", "token": token})).await;
    assert_eq!(status, 409, "{clash}");
    // A token the server would not have drawn is refused, and writes nothing.
    for bad in ["short", &"5F".repeat(32), &"g".repeat(64)] {
        let (status, refused) =
            join(json!({"invite": c.member_invite, "name": "Cy", "token": bad})).await;
        assert_eq!(status, 400, "{bad}: {refused}");
    }
    assert_eq!(t.state(&c.planning, &c.token).await["head"], first["head"]);
}

#[tokio::test]
async fn sqlite_retried_join_with_a_client_token() {
    retried_join_with_a_client_token(&TestServer::start(sqlite()).await).await;
}

#[tokio::test]
async fn postgres_retried_join_with_a_client_token() {
    let Some(b) = postgres("retried_join").await else {
        return;
    };
    retried_join_with_a_client_token(&TestServer::start(b).await).await;
}
