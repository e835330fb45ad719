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
