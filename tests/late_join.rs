//! Late joiners share what a room built for its head (`engine::joins`): the snapshot frame of
//! everyone without a part of their own is built once per head, a write makes the next one
//! build again, and a member's sealed card reaches their own snapshot and nobody else's.
//! Counted by `/metrics` (`sprintlog_join_views_built_total`, `sprintlog_join_scans_total`),
//! over real sockets.

mod common;

use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;

const BUILT: &str = "sprintlog_join_views_built_total";
const SCANS: &str = "sprintlog_join_scans_total";

/// Joins with `since=0` (far behind: a snapshot) and returns the snapshot frame.
async fn snapshot(t: &TestServer, p: &str, token: &str) -> Value {
    let mut ws = t.ws(p, token, 0).await;
    let (snap, events) = ws.until("snapshot").await;
    assert!(events.is_empty(), "far behind: a snapshot, no events");
    ws.until("caught_up").await;
    snap
}

/// Starts keeping a view; returns the socket and the whole shared view it is sent first.
async fn kept_view(t: &TestServer, p: &str, token: &str) -> (Ws, Value) {
    let mut ws = t.ws_keeping_view(p, token, 0).await;
    let (view, _) = ws.until("view").await;
    (ws, view)
}

/// (views built, scans) so far.
async fn counts(t: &TestServer) -> (f64, f64) {
    (t.metric(BUILT).await, t.metric(SCANS).await)
}

/// The vote of `voter` on `item` in `round`, as a view shows it.
fn vote<'a>(state: &'a Value, round: &str, item: &str, voter: &str) -> &'a Value {
    &state["rounds"][round]["votes"][item][voter]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiners_at_one_head_share_one_snapshot_and_no_sealed_card() {
    let limits = Limits {
        snapshot_after: 5,
        ..Limits::default()
    };
    let t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Late joiners").await;
    let p = &c.planning;
    let (ann_id, ann) = t.join(p, &c.member_invite, "Ann").await;
    let (_, bob) = t.join(p, &c.member_invite, "Bob").await;
    let (_, olga) = t.join(p, &c.observer_invite, "Olga").await;
    let (_, oscar) = t.join(p, &c.observer_invite, "Oscar").await;
    let (item, round) = t.round_on_new_item(&c, "Login").await;
    t.ok(
        p,
        &ann,
        json!({"type": "CastVote", "round": round, "item": item, "card": "13"}),
    )
    .await;
    for i in 0..3 {
        let text = format!("comment {i}");
        t.ok(
            p,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": text}),
        )
        .await;
    }

    // Two observers at one head: one view built and one scan, for both.
    let before = counts(&t).await;
    let olga_snap = snapshot(&t, p, &olga).await;
    let after_olga = counts(&t).await;
    assert_eq!(
        after_olga,
        (before.0 + 1.0, before.1 + 1.0),
        "the first joiner builds"
    );
    let oscar_snap = snapshot(&t, p, &oscar).await;
    assert_eq!(
        counts(&t).await,
        after_olga,
        "the second joiner at the head builds nothing"
    );
    assert_eq!(oscar_snap, olga_snap, "the same frame");
    assert_eq!(
        oscar_snap["state"],
        t.state(p, &oscar).await["state"],
        "== REST"
    );
    assert_eq!(
        vote(&oscar_snap["state"], &round, &item, &ann_id),
        &json!({"voted": true})
    );

    // Ann has a card of her own: a view of her own, from the head's scan; Bob, who has not
    // voted, gets the shared frame, without her card.
    let ann_snap = snapshot(&t, p, &ann).await;
    assert_eq!(
        vote(&ann_snap["state"], &round, &item, &ann_id)["card"],
        "13"
    );
    assert_eq!(
        ann_snap["state"],
        t.state(p, &ann).await["state"],
        "Ann's == REST"
    );
    assert_eq!(
        counts(&t).await,
        (after_olga.0 + 1.0, after_olga.1),
        "her own view, no scan"
    );
    let bob_snap = snapshot(&t, p, &bob).await;
    assert_eq!(bob_snap, olga_snap);
    assert!(
        !bob_snap.to_string().contains("\"card\""),
        "a sealed card reached Bob"
    );
    let at_head = counts(&t).await;
    assert_eq!(at_head, (after_olga.0 + 1.0, after_olga.1));

    // A write: the next joiner builds (and scans) again, at the new head. Ann first this
    // time: what she is sent is hers alone, and Olga after her gets no card.
    let head = t
        .ok(
            p,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": "new"}),
        )
        .await;
    let ann_again = snapshot(&t, p, &ann).await;
    assert_eq!(ann_again["at"], head);
    assert_eq!(
        vote(&ann_again["state"], &round, &item, &ann_id)["card"],
        "13"
    );
    assert_eq!(counts(&t).await, (at_head.0 + 1.0, at_head.1 + 1.0));
    let olga_again = snapshot(&t, p, &olga).await;
    assert_eq!(olga_again["at"], head);
    assert!(
        !olga_again.to_string().contains("\"card\""),
        "Ann's card reached Olga"
    );
    assert_eq!(olga_again["state"], t.state(p, &olga).await["state"]);
    assert_eq!(counts(&t).await, (at_head.0 + 2.0, at_head.1 + 1.0));

    // Kept views: the shared part is encoded once for both observers, and holds no card.
    let before_views = counts(&t).await;
    let (_olga_ws, olga_view) = kept_view(&t, p, &olga).await;
    let (_oscar_ws, oscar_view) = kept_view(&t, p, &oscar).await;
    assert_eq!(oscar_view, olga_view);
    assert!(!oscar_view.to_string().contains("\"card\""));
    assert_eq!(counts(&t).await, (before_views.0 + 1.0, before_views.1));

    // While views are kept, the room's publisher scans after each batch anyway and hands its
    // scan to the joiners: the next one after a write scans nothing.
    let before_write = counts(&t).await;
    let head = t
        .ok(
            p,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": "watched"}),
        )
        .await;
    let bob_again = snapshot(&t, p, &bob).await;
    assert_eq!(bob_again["at"], head);
    assert_eq!(bob_again["state"], t.state(p, &bob).await["state"]);
    assert_eq!(counts(&t).await, (before_write.0 + 1.0, before_write.1));
}
