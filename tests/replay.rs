//! Replay over the real server: state at any seq (redacted as of then), the timeline, and
//! snapshots that make a cold load cheap without changing any answer.

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::{json, Value};
use sprintlog::domain::command::Command;
use sprintlog::domain::command::{CreatePlanning, Rename};
use sprintlog::domain::{decide, Context, State};
use sprintlog::engine::auth::{hash_secret, new_secret};
use sprintlog::store::{AppendRequest, NewEvent};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

async fn first_item_and_round(t: &TestServer, planning: &str, token: &str) -> (String, String) {
    let st = t.state(planning, token).await;
    (
        st["state"]["rank"][0].as_str().unwrap().to_string(),
        st["state"]["round_order"][0].as_str().unwrap().to_string(),
    )
}

/// A planning where Ann and Bob vote 3 and 13 (flagged: spread, sealed) and the facilitator
/// reveals them live. Returns the seq right after both votes and the seq after the reveal.
async fn voted_then_revealed(t: &TestServer) -> (Created, String, String, i64, i64) {
    let c = t.create("Replay").await;
    let (_ann, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_bob, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
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
    t.ok(&c.planning, &c.token, json!({"type": "OpenRound", "items": [t.state(&c.planning, &c.token).await["state"]["rank"][0]], "deadline": now() + 3_600_000_000}))
        .await;
    let (item, round) = first_item_and_round(t, &c.planning, &c.token).await;
    t.ok(
        &c.planning,
        &ann,
        json!({"type": "CastVote", "round": round, "item": item, "card": "3"}),
    )
    .await;
    let after_votes = t
        .ok(
            &c.planning,
            &bob,
            json!({"type": "CastVote", "round": round, "item": item, "card": "13"}),
        )
        .await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let revealed = t
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "RevealVotes", "round": round, "item": item}),
        )
        .await;
    (c, ann, bob, after_votes, revealed)
}

fn cards_seen(view: &Value, round: &str, item: &str) -> Vec<String> {
    let mut cards = Vec::new();
    if let Some(votes) = view["state"]["rounds"][round]["votes"][item].as_object() {
        for v in votes.values() {
            if let Some(c) = v["card"].as_str() {
                cards.push(c.to_string());
            }
        }
    }
    if let Some(rev) = view["state"]["rounds"][round]["revealed"][item].as_array() {
        for v in rev {
            cards.push(v["card"].as_str().unwrap().to_string());
        }
    }
    cards.sort();
    cards
}

async fn state_at_is_redacted_as_of_then(t: &TestServer) {
    let (c, ann, _bob, after_votes, revealed) = voted_then_revealed(t).await;
    let (item, round) = first_item_and_round(t, &c.planning, &c.token).await;
    let at = |n: i64, tok: String| {
        let path = format!("/api/plannings/{}?at={n}", c.planning);
        async move { t.get(&path, Some(&tok)).await }
    };
    // Right after the votes (closed all-voted, flagged, sealed): Ann sees her own card only,
    // the facilitator none.
    let (status, ann_then) = at(after_votes, ann.clone()).await;
    assert_eq!(status, 200, "{ann_then}");
    assert_eq!(ann_then["at"], after_votes);
    assert_eq!(cards_seen(&ann_then, &round, &item), vec!["3"]);
    let (_, fac_then) = at(after_votes, c.token.clone()).await;
    assert!(
        cards_seen(&fac_then, &round, &item).is_empty(),
        "{fac_then}"
    );
    // (The deck itself lists "13"; what matters is that no vote entry carries a card.)
    assert!(fac_then["state"]["rounds"][&round]["votes"][&item]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v.get("card").is_none() && v.get("nonce").is_none()));
    // Now (revealed) everyone sees both; at the reveal's seq too; the past stays sealed.
    let (_, fac_now) = at(revealed, c.token.clone()).await;
    assert_eq!(cards_seen(&fac_now, &round, &item), vec!["13", "3"]);
    let (_, fac_then_again) = at(after_votes, c.token.clone()).await;
    assert!(cards_seen(&fac_then_again, &round, &item).is_empty());
    // Out of range.
    let (status, _) = at(revealed + 100, c.token.clone()).await;
    assert_eq!(status, 400);

    // The same over the websocket, for scrubbing without reconnecting: no `seq` on the reply.
    let mut ws = t.ws(&c.planning, &c.token, revealed).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "state_at", "at": after_votes, "req": "scrub-1"}))
        .await;
    let (reply, _) = ws.until("state_at").await;
    assert_eq!(reply["req"], "scrub-1");
    assert_eq!(reply["at"], after_votes);
    assert!(reply.get("seq").is_none());
    let wrapped = json!({ "state": reply["state"].clone() });
    assert!(cards_seen(&wrapped, &round, &item).is_empty());
    ws.send(json!({"type": "state_at", "at": revealed + 5, "req": "scrub-2"}))
        .await;
    let (err, _) = ws.until("error").await;
    // Errors name the request in `op`, as they do for commands.
    assert_eq!(
        (err["op"].clone(), err["code"].clone()),
        (json!("scrub-2"), json!("out_of_range"))
    );
}

async fn timeline_filters_and_chapters(t: &TestServer) {
    let (c, ann, _bob, _, revealed) = voted_then_revealed(t).await;
    let (item, _) = first_item_and_round(t, &c.planning, &c.token).await;
    let get = |q: String| {
        let path = format!("/api/plannings/{}/timeline?{q}", c.planning);
        let tok = ann.clone();
        async move {
            let (status, body) = t.get(&path, Some(&tok)).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let all = get("limit=1000".into()).await;
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries.len() as i64, revealed);
    assert_eq!(all["done"], true);
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=revealed).collect::<Vec<_>>());
    // No sealed value in any summary before the reveal line.
    for e in entries.iter().filter(|e| e["type"] == "VoteCast") {
        let s = e["summary"].as_str().unwrap();
        assert!(s.contains("voted on “Login”") && !s.contains("13"), "{s}");
    }
    let chapters = get("chapters=true".into()).await;
    let kinds: Vec<&str> = chapters["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "PlanningCreated",
            "PhaseChanged",
            "PhaseChanged",
            "SyncStarted",
            // The session starts on the flagged item: the room's focus is a chapter.
            "FocusSet",
            "VotesRevealed"
        ]
    );
    let votes = get("type=VoteCast".into()).await;
    assert_eq!(votes["entries"].as_array().unwrap().len(), 2);
    let on_item = get(format!("item={item}")).await;
    assert!(on_item["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == item.as_str())));
    let by_ann = get(format!("actor={}", ann_id(t, &c.planning, &ann).await)).await;
    assert_eq!(
        by_ann["entries"].as_array().unwrap().len(),
        2,
        "Ann joined and voted"
    );
    // Paging: one at a time gives the same lines.
    let mut after = 0;
    let mut paged = Vec::new();
    loop {
        let page = get(format!("after={after}&limit=1")).await;
        let e = page["entries"].as_array().unwrap();
        if e.is_empty() {
            break;
        }
        after = e[0]["seq"].as_i64().unwrap();
        paged.push(e[0].clone());
    }
    assert_eq!(&paged, entries);
}

async fn ann_id(t: &TestServer, planning: &str, token: &str) -> String {
    t.state(planning, token).await["you"]["participant"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn digest_since_my_last_action(t: &TestServer) {
    let (c, ann, bob, _after_votes, _revealed) = voted_then_revealed(t).await;
    // Ann's last action was her vote; since then: Bob's vote, the close with its flag, the
    // live session and the reveal, and now an agreed estimate and a goal.
    let (item, _) = first_item_and_round(t, &c.planning, &c.token).await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "AgreeEstimates", "estimates": [{"item": item, "card": "8"}]}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "DraftGoal", "text": "Ship login"}),
    )
    .await;
    let (status, d) = t
        .get(&format!("/api/plannings/{}/digest", c.planning), Some(&ann))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["goal"][0], "Fran drafted the goal: Ship login");
    let login = &d["items"][0];
    assert_eq!(login["title"], "Login");
    let lines: Vec<&str> = login["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l
                .contains("flagged “Login” for the live session by the divergence rule (spread)")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Fran revealed the votes on “Login”")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.contains("agreed 8")), "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.contains("voted on")),
        "votes are noise: {lines:?}"
    );
    assert!(d["planning"]
        .to_string()
        .contains("started the live session"));
    // Bob, asking from before the reveal, never sees a sealed value in a line before it.
    let (_, bd) = t
        .get(
            &format!("/api/plannings/{}/digest?since=0&format=md", c.planning),
            Some(&bob),
        )
        .await;
    assert_eq!(bd, Value::Null, "markdown is not JSON");
    let md = t
        .http
        .get(format!(
            "{}/api/plannings/{}/digest?since=0&format=md",
            t.base, c.planning
        ))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.starts_with("# The story so far ("), "{md}");
    assert!(md.contains("\n## Login\n"), "{md}");
}

/// Someone who just joined is told the story so far (not "nothing new"); a returning member
/// reads which items left the sprint since their last action.
async fn a_newcomer_gets_the_story_and_a_returner_the_dropped_items(t: &TestServer) {
    let (c, ann, _bob, _after_votes, _revealed) = voted_then_revealed(t).await;
    let (_cat, cat) = t.join(&c.planning, &c.member_invite, "Cat").await;
    let digest = |token: String, q: &'static str| {
        let path = format!("/api/plannings/{}/digest{q}", c.planning);
        async move { t.get(&path, Some(&token)).await }
    };
    let (status, d) = digest(cat.clone(), "").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["since"], 0, "the story from the start: {d}");
    assert_eq!(d["items"][0]["title"], "Login", "{d}");
    assert!(
        d["planning"][0]
            .as_str()
            .is_some_and(|l| l.ends_with("created the planning “Replay”")),
        "the story opens with the creation: {d}"
    );
    assert!(
        d["planning"].to_string().contains("Ann joined as a member"),
        "{d}"
    );
    let md = t
        .get_text(&format!(
            "/api/plannings/{}/digest?format=md&token={cat}",
            c.planning
        ))
        .await
        .1;
    assert!(md.starts_with("# The story so far ("), "{md}");
    assert!(!md.contains("Nothing new"), "{md}");
    // Ann voted, then the facilitator withdrew the item: it is marked as out of the sprint.
    let (item, _) = first_item_and_round(t, &c.planning, &c.token).await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "WithdrawItem", "item": item}),
    )
    .await;
    let (_, d) = digest(ann.clone(), "").await;
    assert_ne!(d["since"], 0, "{d}");
    let login = &d["items"][0];
    assert_eq!(login["title"], "Login", "{d}");
    assert_eq!(login["dropped"], true, "{d}");
    assert!(login["changes"].to_string().contains("withdrew"), "{d}");
    let md = t
        .get_text(&format!(
            "/api/plannings/{}/digest?format=md&token={ann}",
            c.planning
        ))
        .await
        .1;
    assert!(md.contains("\n## Login (out of the sprint)\n"), "{md}");
}

/// `since` is any i64 from the query string: far beyond the head the digest is simply empty,
/// in both formats (the Markdown header once computed `since + 1` and overflowed).
#[tokio::test]
async fn a_digest_since_far_beyond_the_head_is_empty() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Digest").await;
    for format in ["json", "md"] {
        let (status, text) = t
            .get_text(&format!(
                "/api/plannings/{}/digest?since={}&format={format}&token={}",
                c.planning,
                i64::MAX,
                c.token
            ))
            .await;
        assert_eq!(status, 200, "{format}: {text}");
    }
}

on_both_backends!(state_at_is_redacted_as_of_then);
on_both_backends!(timeline_filters_and_chapters);
on_both_backends!(digest_since_my_last_action);
on_both_backends!(a_newcomer_gets_the_story_and_a_returner_the_dropped_items);

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {text}"))
}

/// A cold load of a planning with 100k events reads its snapshot plus a short tail, and the
/// snapshots change no answer.
#[tokio::test]
async fn late_join_of_a_100k_event_planning_uses_snapshots() {
    const EVENTS: usize = 100_000;
    let db = common::fresh_sqlite();
    // Bulk-seed through the real domain and store (not through HTTP: 100k round trips would
    // test nothing more and take minutes).
    let token = new_secret();
    let fac = sprintlog::domain::ParticipantId(uuid::Uuid::new_v4());
    let mut rng = rand::rngs::OsRng;
    let mut state = State::default();
    let mut events = Vec::with_capacity(EVENTS);
    let create = Command::CreatePlanning(CreatePlanning {
        title: "Big".into(),
        creator_name: "Fran".into(),
        creator_token_hash: hash_secret(&token),
        deck: None,
        policy: None,
        member_invite_hash: hash_secret("m"),
        observer_invite_hash: hash_secret("o"),
    });
    let mut cmds = vec![create];
    cmds.extend((1..EVENTS).map(|i| {
        Command::Rename(Rename {
            name: format!("Fran {i}"),
        })
    }));
    for cmd in &cmds {
        let mut ctx = Context {
            actor: fac,
            now: 1_700_000_000_000_000,
            rng: &mut rng,
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
        };
        for e in decide(&state, cmd, &mut ctx).unwrap() {
            state.apply(&e);
            events.push(e);
        }
    }
    let planning = state.planning.unwrap();
    {
        let store = sprintlog::store::open(&db.url).await.unwrap();
        for (i, chunk) in events.chunks(1000).enumerate() {
            store
                .append(AppendRequest {
                    planning_id: planning.0,
                    expected_seq: (i * 1000) as i64,
                    actor: fac.0,
                    client_op_id: format!("seed:{i}"),
                    command_hash: format!("seed:{i}"),
                    recorded_at: 1_700_000_000_000_000,
                    events: chunk
                        .iter()
                        .map(|e| {
                            let (kind, version, payload) = e.encode();
                            NewEvent {
                                event_id: uuid::Uuid::new_v4(),
                                kind: kind.into(),
                                version,
                                payload,
                            }
                        })
                        .collect(),
                    jobs: Vec::new(),
                })
                .await
                .unwrap();
        }
        store.close().await;
    }
    let p = planning.to_string();

    // First cold load: no snapshot yet, the whole log is read once — and a snapshot written.
    let mut t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let first = t.state(&p, &token).await;
    assert_eq!(first["head"], EVENTS as i64);
    assert_eq!(first["you"]["name"], format!("Fran {}", EVENTS - 1));
    let m = reqwest::get(format!("{}/metrics", t.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&m, "sprintlog_events_replayed_total"), EVENTS as u64);
    t.stop().await;

    // Append a few more, then a cold start: snapshot + short tail.
    let mut t = TestServer::start(Backend::Shared(db.url.clone())).await;
    for i in 0..5 {
        t.ok(
            &p,
            &token,
            json!({"type": "Rename", "name": format!("Fran again {i}")}),
        )
        .await;
    }
    let m = reqwest::get(format!("{}/metrics", t.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let read = metric(&m, "sprintlog_events_replayed_total");
    assert!(
        read < 100,
        "a cold load read {read} events instead of using the snapshot"
    );
    let with_snapshots = t.state(&p, &token).await;
    let past = t
        .get(&format!("/api/plannings/{p}?at=50000"), Some(&token))
        .await
        .1;
    t.stop().await;

    // Snapshots are a cache: without them, every answer is the same.
    let store = sprintlog::store::open(&db.url).await.unwrap();
    store.delete_snapshots().await.unwrap();
    store.close().await;
    let mut t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let without = t.state(&p, &token).await;
    assert_eq!(without["state"], with_snapshots["state"]);
    assert_eq!(without["head"], with_snapshots["head"]);
    let past_without = t
        .get(&format!("/api/plannings/{p}?at=50000"), Some(&token))
        .await
        .1;
    assert_eq!(past_without["state"], past["state"]);
    assert_eq!(
        past["state"]["participants"][fac.to_string()]["name"],
        "Fran 49999"
    );
    t.stop().await;
}
