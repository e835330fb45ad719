//! Comments paged out of the projection, over the real server: a late joiner's `snapshot`
//! frame carries a bounded part of a long discussion, the paging endpoint returns every comment
//! of a thread exactly once in posting order (edits and deletions as they stand), pages are
//! read with the same auth as the rest and hold no sealed vote, and the audit keeps every
//! comment.

mod common;

use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;

/// Comments posted on the item's thread and on the planning's own.
const ON_ITEM: usize = 90;
const ON_PLANNING: usize = 25;

/// Every comment's text is this long, so carrying them all would be far over the bound tested.
fn text(i: usize) -> String {
    format!("comment {i:04} {}", "x".repeat(1000))
}

/// Sends `commands` over one socket as a burst and waits for every ack.
async fn run_all(ws: &mut Ws, commands: Vec<Value>) {
    let frames: Vec<Value> = commands
        .into_iter()
        .enumerate()
        .map(|(i, c)| json!({"type": "command", "op": format!("seed-{i}-{}", uuid::Uuid::new_v4()), "command": c}))
        .collect();
    let mut waiting = frames.len();
    for chunk in frames.chunks(30) {
        ws.send_all(chunk).await;
        let mut acks = 0;
        while acks < chunk.len() {
            let f = ws.frame().await;
            assert_ne!(f["type"], "error", "seed command refused: {f}");
            if f["type"] == "ack" {
                acks += 1;
            }
        }
        waiting -= chunk.len();
    }
    assert_eq!(waiting, 0);
}

/// Every page of a thread, following `before` from the newest; checks each page's bound.
async fn all_pages(t: &TestServer, path: &str, token: &str, limit: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        let from = before.map(|b| format!("before={b}&")).unwrap_or_default();
        let (status, page) = t
            .get(&format!("{path}?{from}limit={limit}"), Some(token))
            .await;
        assert_eq!(status, 200, "{page}");
        let comments = page["comments"].as_array().unwrap().clone();
        assert!(comments.len() <= limit);
        assert!(!page.to_string().contains("\"card\""), "a page shows votes");
        out.splice(0..0, comments);
        match page["before"].as_u64() {
            Some(b) => before = Some(b),
            None => return out,
        }
    }
}

#[tokio::test]
async fn a_late_joiner_gets_a_bounded_discussion_and_pages_return_every_comment_once() {
    let limits = Limits {
        command_rate: 100_000,
        command_burst: 100_000,
        snapshot_after: 10,
        ..Limits::default()
    };
    let t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Long discussion").await;
    let (ann_id, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_obs_id, obs) = t.join(&c.planning, &c.observer_invite, "Olga").await;
    // Bob does not vote: the round stays open and Ann's vote sealed.
    t.join(&c.planning, &c.member_invite, "Bob").await;
    // Ann's sealed vote: nobody else may see its card, through pages either.
    let (item, round) = t.round_on_new_item(&c, "Login").await;
    t.ok(
        &c.planning,
        &ann,
        json!({"type": "CastVote", "round": round, "item": item, "card": "21"}),
    )
    .await;

    // The item's thread: a question addressed to Ann early on, then comments; the planning's
    // own thread interleaved.
    let mut ws = t.ws(&c.planning, &c.token, 0).await;
    ws.until("caught_up").await;
    let mut seed = vec![
        json!({"type": "PostComment", "item": item, "kind": "question",
        "addressee": ann_id, "text": text(0)}),
    ];
    for i in 1..ON_ITEM {
        seed.push(json!({"type": "PostComment", "item": item, "kind": "comment", "text": text(i)}));
        if i < ON_PLANNING {
            seed.push(json!({"type": "PostComment", "kind": "comment", "text": text(1000 + i)}));
        }
    }
    run_all(&mut ws, seed).await;
    // An old comment edited, another deleted: pages show them as they stand.
    let view = t.state(&c.planning, &c.token).await;
    let (status, first_page) = t
        .get(
            &format!(
                "/api/plannings/{}/items/{item}/comments?limit=500",
                c.planning
            ),
            Some(&c.token),
        )
        .await;
    assert_eq!(status, 200);
    let id_of = |i: usize| {
        first_page["comments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == text(i))
            .map(|c| c["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    let (edited, deleted) = (id_of(3), id_of(4));
    run_all(
        &mut ws,
        vec![
            json!({"type": "EditComment", "comment": edited, "text": "edited later"}),
            json!({"type": "DeleteComment", "comment": deleted}),
        ],
    )
    .await;
    assert!(view["state"]["comments"].as_object().unwrap().len() < 50);

    // The late joiner: one snapshot frame, bounded, with the thread's figures.
    let mut late = t.ws(&c.planning, &obs, 0).await;
    let (snapshot, events) = late.until("snapshot").await;
    assert!(events.is_empty());
    let frame_bytes = snapshot.to_string().len();
    let all_text = (ON_ITEM + ON_PLANNING) * 1000;
    assert!(
        frame_bytes < 40 * 1024 && frame_bytes < all_text / 2,
        "snapshot frame of {frame_bytes} bytes"
    );
    let state = &snapshot["state"];
    let shown = state["comments"].as_object().unwrap();
    assert!(
        shown.len() <= 5 + 5 + 20 + 20,
        "{} comments shown",
        shown.len()
    );
    let figures = &state["derived"]["discussion"]["items"][&item];
    assert_eq!(figures["comments"], ON_ITEM);
    assert_eq!(figures["live"], ON_ITEM - 1);
    assert_eq!(figures["open_questions"], 1);
    assert_eq!(figures["older"], ON_ITEM - 5);
    let before = figures["before"].as_u64().unwrap();
    // The open question, old as it is, is in the view; the newest five too.
    assert!(shown.values().any(|c| c["text"] == text(0)));
    for i in ON_ITEM - 5..ON_ITEM {
        assert!(shown.values().any(|c| c["text"] == text(i)), "recent {i}");
    }
    assert_eq!(
        state["derived"]["discussion"]["planning"]["comments"],
        ON_PLANNING - 1
    );
    assert!(
        !snapshot.to_string().contains("\"card\":\"21\""),
        "a sealed vote shows"
    );
    // (Ann's own view shows her card: the check above can fail.)
    let anns = t.state(&c.planning, &ann).await.to_string();
    assert!(anns.contains("\"card\":\"21\""));
    late.until("caught_up").await;

    // Every comment of each thread exactly once, in posting order, from any participant.
    for token in [&obs, &ann, &c.token] {
        let item_path = format!("/api/plannings/{}/items/{item}/comments", c.planning);
        let got = all_pages(&t, &item_path, token, 7).await;
        let ns: Vec<u64> = got.iter().map(|c| c["n"].as_u64().unwrap()).collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "posting order: {ns:?}");
        assert_eq!(got.len(), ON_ITEM);
        for (i, c) in got.iter().enumerate() {
            let want = match i {
                3 => "edited later".to_string(),
                4 => String::new(),
                _ => text(i),
            };
            assert_eq!(c["text"], want.as_str(), "comment {i}");
            assert_eq!(c["item"], item.as_str());
        }
        assert_eq!(got[3]["edited"], true);
        assert_eq!(got[4]["deleted"], true);
        assert_eq!(got[0]["kind"], "question");
        assert_eq!(got[0]["answered"], false);
        // Paging from the view's cursor gives the older ones the view leaves out.
        let (_, older) = t
            .get(
                &format!("{item_path}?before={before}&limit=500"),
                Some(token),
            )
            .await;
        assert_eq!(older["comments"].as_array().unwrap().len(), ON_ITEM - 5);
        assert!(older["before"].is_null());

        let planning_path = format!("/api/plannings/{}/comments", c.planning);
        let got = all_pages(&t, &planning_path, token, 4).await;
        let texts: Vec<String> = (1..ON_PLANNING).map(|i| text(1000 + i)).collect();
        let got: Vec<String> = got
            .iter()
            .map(|c| c["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, texts);
    }

    // Same auth as every read; an unknown item is 404.
    let item_path = format!("/api/plannings/{}/items/{item}/comments", c.planning);
    assert_eq!(t.get(&item_path, None).await.0, 401);
    assert_eq!(t.get(&item_path, Some("not-a-token")).await.0, 401);
    let unknown = format!(
        "/api/plannings/{}/items/{}/comments",
        c.planning,
        uuid::Uuid::new_v4()
    );
    assert_eq!(t.get(&unknown, Some(&obs)).await.0, 404);

    // Live comments still stream whole, and a resume after the snapshot has no gap.
    let at = snapshot["at"].as_i64().unwrap();
    let head = t
        .ok(
            &c.planning,
            &ann,
            json!({"type": "PostComment", "item": item, "kind": "answer",
                   "parent": shown.values().find(|c| c["text"] == text(0)).unwrap()["id"],
                   "text": "the staging tenant"}),
        )
        .await;
    let mut resumed = t.ws(&c.planning, &obs, at).await;
    let (_, events) = resumed.until("caught_up").await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, ((at + 1)..=head).collect::<Vec<_>>());
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "CommentPosted");
    assert_eq!(last["data"]["text"], "the staging tenant");
    let view = t.state(&c.planning, &obs).await;
    let q = view["state"]["comments"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["text"] == text(0))
        .expect("the answered question is shown with its answer")
        .clone();
    assert_eq!(q["answered"], true);
    assert_eq!(q["answer_count"], 1);
    assert_eq!(
        view["state"]["derived"]["discussion"]["items"][&item]["open_questions"],
        0
    );

    // The audit still tells every comment on the item.
    let (status, audit) = t
        .get(
            &format!("/api/plannings/{}/audit?format=json", c.planning),
            Some(&c.token),
        )
        .await;
    assert_eq!(status, 200);
    let audit = audit.to_string();
    for i in (0..ON_ITEM).filter(|i| ![3, 4].contains(i)) {
        assert!(audit.contains(&text(i)), "audit lacks comment {i}");
    }
    assert!(audit.contains("edited later"));
}
