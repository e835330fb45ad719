//! The live meeting as one shared state, over the real server on both backends: the focus and
//! its path, a live round on an item that had no async round revealed as the last member
//! votes, "next item" from the server's own figure, a time box in server time, the scope draft
//! against capacity, a member's goal wording adopted — and the audit and digest telling it.
//!
//! The server runs on a manual clock, so the time per item is exact.

mod common;

use common::server::*;
use common::time::manual_clock;
use serde_json::{json, Value};
use std::time::Duration;

/// A planning in `async` with three members, an observer, capacity 10 points and two items
/// sent straight to the live agenda (no async round).
struct Room {
    c: Created,
    ann: String,
    bob: String,
    cat: String,
    obs: String,
    ann_id: String,
    login: String,
    reset: String,
}

async fn room(t: &TestServer) -> Room {
    let c = t.create("Sprint 9").await;
    let p = &c.planning;
    let (ann_id, ann) = t.join(p, &c.member_invite, "Ann").await;
    let (_, bob) = t.join(p, &c.member_invite, "Bob").await;
    let (_, cat) = t.join(p, &c.member_invite, "Cat").await;
    let (_, obs) = t.join(p, &c.observer_invite, "Obi").await;
    let fac = &c.token;
    t.ok(p, fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    for title in ["Login", "Reset"] {
        t.ok(
            p,
            fac,
            json!({"type": "ProposeItem", "draft": {"title": title, "acceptance_criteria": ["works"]}}),
        )
        .await;
    }
    t.ok(p, fac, json!({"type": "DraftGoal", "text": "Ship login"}))
        .await;
    t.ok(
        p,
        &ann,
        json!({"type": "DeclareCapacity", "available_days": 10, "focus_factor": 1}),
    )
    .await;
    t.ok(p, fac, json!({"type": "SetVelocity", "points_per_day": 1}))
        .await;
    let rank = t.state(p, fac).await["state"]["rank"].clone();
    let (login, reset) = (id(&rank[0]), id(&rank[1]));
    for item in [&login, &reset] {
        t.ok(p, fac, json!({"type": "SendToAgenda", "item": item}))
            .await;
    }
    Room {
        c,
        ann,
        bob,
        cat,
        obs,
        ann_id,
        login,
        reset,
    }
}

fn id(v: &Value) -> String {
    v.as_str().expect("an id").to_string()
}

/// The three members vote `card` on `item` in its open round: Ann over the websocket (as a
/// browser does), Bob and Cat over REST.
async fn everyone_votes(t: &TestServer, r: &Room, item: &str, card: &str) -> String {
    let p = &r.c.planning;
    let state = t.state(p, &r.c.token).await;
    let round = id(state["state"]["items"][item]["rounds"]
        .as_array()
        .unwrap()
        .last()
        .unwrap());
    let vote = json!({"type": "CastVote", "round": round, "item": item, "card": card});
    let mut ws = t.ws(p, &r.ann, 0).await;
    let (hello, _) = ws.until("hello").await;
    assert!(
        hello["now"].as_i64().is_some(),
        "hello carries the server's clock: {hello}"
    );
    ws.until("caught_up").await;
    ws.send(json!({"type": "command", "op": format!("v-{item}"), "command": vote}))
        .await;
    let (ack, _) = ws.until("ack").await;
    assert_eq!(ack["op"], format!("v-{item}"), "{ack}");
    for token in [&r.bob, &r.cat] {
        t.ok(p, token, vote.clone()).await;
    }
    round
}

async fn the_meeting_flow(backend: Backend) {
    let clock = manual_clock();
    let mut t = TestServer::start_clocked(backend, Default::default(), &clock).await;
    let r = room(&t).await;
    let (p, fac) = (&r.c.planning, &r.c.token);

    // The session starts on the first agenda item.
    t.ok(p, fac, json!({"type": "StartSync"})).await;
    let v = t.state(p, &r.ann).await;
    assert_eq!(v["state"]["focus"]["item"], r.login.as_str(), "{v}");
    assert_eq!(v["state"]["agenda"], json!([r.login, r.reset]));
    let actions = v["state"]["derived"]["focus_actions"].clone();
    assert!(
        actions.as_array().unwrap().contains(&json!("OpenRound")),
        "{actions}"
    );

    // A live round on an item that had no async round; the last vote reveals it.
    clock.advance(Duration::from_secs(60));
    t.ok(p, fac, json!({"type": "OpenRound", "items": [r.login]}))
        .await;
    let round = everyone_votes(&t, &r, &r.login, "5").await;
    let v = t.state(p, &r.obs).await;
    let rv = &v["state"]["rounds"][&round];
    assert_eq!(rv["live"], true);
    assert_eq!(rv["closed"], "all_voted", "{rv}");
    assert_eq!(rv["revealed"][&r.login].as_array().unwrap().len(), 3);
    assert_eq!(v["state"]["items"][&r.login]["proposed_estimate"], "5");

    // Agreed: off the agenda; "next" is the server's figure.
    clock.advance(Duration::from_secs(60));
    t.ok(
        p,
        fac,
        json!({"type": "AgreeEstimates", "estimates": [{"item": r.login, "card": "5"}]}),
    )
    .await;
    let v = t.state(p, fac).await;
    assert_eq!(v["state"]["agenda"], json!([r.reset]));
    assert_eq!(v["state"]["agenda_order"], json!([r.login, r.reset]));
    let next = v["state"]["derived"]["next_on_agenda"].clone();
    assert_eq!(next, r.reset.as_str());
    t.ok(p, fac, json!({"type": "SetFocus", "item": next}))
        .await;

    // A time box in server time: started, extended.
    let start = clock.now_micros();
    t.ok(
        p,
        fac,
        json!({"type": "StartTimer", "item": r.reset, "seconds": 300}),
    )
    .await;
    clock.advance(Duration::from_secs(30));
    t.ok(p, fac, json!({"type": "ExtendTimer", "seconds": 60}))
        .await;
    let (status, body) = t
        .command(
            p,
            fac,
            "too-long",
            json!({"type": "StartTimer", "item": r.reset, "seconds": 3601}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("out_of_range"))
    );
    let v = t.state(p, &r.cat).await;
    let timer = &v["state"]["timer"];
    assert_eq!(timer["item"], r.reset.as_str());
    assert_eq!(timer["seconds"], 360);
    assert_eq!(timer["ends_at"], start + 360_000_000);
    assert!(timer["ends_at_utc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        v["now"],
        clock.now_micros(),
        "the server's clock beside the view"
    );
    assert!(v["now_utc"].as_str().is_some());

    // Reset estimated live too, then the scope drafted in the open.
    clock.advance(Duration::from_secs(150));
    t.ok(p, fac, json!({"type": "OpenRound", "items": [r.reset]}))
        .await;
    everyone_votes(&t, &r, &r.reset, "3").await;
    t.ok(
        p,
        fac,
        json!({"type": "AgreeEstimates", "estimates": [{"item": r.reset, "card": "3"}]}),
    )
    .await;
    t.ok(
        p,
        fac,
        json!({"type": "DraftScope", "items": [r.login, r.reset]}),
    )
    .await;
    let (status, body) = t
        .command(
            p,
            &r.ann,
            "member-draft",
            json!({"type": "DraftScope", "items": [r.login]}),
        )
        .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));

    // Goal negotiation: Ann's wording, adopted.
    t.ok(
        p,
        &r.ann,
        json!({"type": "SuggestGoal", "text": "Ship login and reset"}),
    )
    .await;
    let (status, body) = t
        .command(
            p,
            &r.obs,
            "obs-goal",
            json!({"type": "SuggestGoal", "text": "Observers only read"}),
        )
        .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    for token in [&r.ann, &r.obs] {
        see_the_meeting(&t, &r, token).await;
    }
    let v = t.state(p, fac).await;
    let suggestion = id(&v["state"]["goal_suggestions"][0]["id"]);
    let (status, body) = t
        .command(
            p,
            fac,
            "adopt-unknown",
            json!({"type": "AdoptGoalSuggestion", "suggestion": r.ann_id}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("unknown_suggestion"))
    );
    t.ok(
        p,
        fac,
        json!({"type": "AdoptGoalSuggestion", "suggestion": suggestion}),
    )
    .await;
    clock.advance(Duration::from_secs(60));
    t.ok(
        p,
        fac,
        json!({"type": "CommitScope", "items": [r.login, r.reset]}),
    )
    .await;
    let v = t.state(p, &r.obs).await;
    assert_eq!(v["state"]["goal"]["text"], "Ship login and reset");
    assert_eq!(v["state"]["focus"], Value::Null);
    assert_eq!(
        v["state"]["derived"]["in_sprint"],
        json!({ &r.login: true, &r.reset: true })
    );
    the_story_is_told(&t, &r).await;
    t.stop().await;
}

/// What a member and an observer see mid-meeting: the shared state and the server's figures.
async fn see_the_meeting(t: &TestServer, r: &Room, token: &str) {
    let v = t.state(&r.c.planning, token).await;
    let s = &v["state"];
    assert_eq!(s["focus"]["item"], r.reset.as_str(), "{s}");
    assert!(s["focus"]["at_utc"].as_str().is_some());
    assert_eq!(s["timer"]["item"], r.reset.as_str());
    assert_eq!(s["scope_draft"]["items"], json!([r.login, r.reset]));
    assert_eq!(s["goal_suggestions"][0]["text"], "Ship login and reset");
    assert_eq!(s["goal_suggestions"][0]["by"], r.ann_id.as_str());
    assert_eq!(s["goal_suggestions"][0]["adopted"], false);
    assert_eq!(s["agenda"], json!([]));
    assert_eq!(s["agenda_order"], json!([r.login, r.reset]));
    assert_eq!(s["policy"]["auto_reveal"], true);
    let d = &s["derived"];
    assert_eq!(
        d["scope_draft"],
        json!({"items": [r.login, r.reset], "drafted": true, "points": 8, "capacity": 10, "over_capacity": false})
    );
    assert_eq!(d["next_on_agenda"], Value::Null, "nothing left to discuss");
    assert_eq!(d["tied_cards"], json!({}));
    assert_eq!(d["in_sprint"], Value::Null);
    let actions = d["focus_actions"].as_array().unwrap();
    assert!(actions.contains(&json!("StopTimer")), "{actions:?}");
}

/// The audit and the digest show the focus's path, the time per item and whose wording the
/// goal is.
async fn the_story_is_told(t: &TestServer, r: &Room) {
    let p = &r.c.planning;
    let (status, audit) = t
        .get(&format!("/api/plannings/{p}/audit"), Some(&r.obs))
        .await;
    assert_eq!(status, 200);
    let path: Vec<&str> = audit["meeting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "started the live session",
            "moved the discussion to “Login”",
            "moved the discussion to “Reset”",
            "started a time box of 5:00 on “Reset”",
            "gave “Reset” 1:00 more",
            "drafted a scope of 2 items, 8 points",
            "ended the live session",
        ]
    );
    // Login: 2 minutes of focus; Reset: from its focus to the commitment, 4 minutes.
    let items = &audit["time"]["items"];
    assert_eq!(
        items,
        &json!([
            {"item": r.login, "title": "Login", "seconds": 120, "timebox_seconds": null},
            {"item": r.reset, "title": "Reset", "seconds": 240, "timebox_seconds": 360},
        ])
    );
    let goal: Vec<&str> = audit["goal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap())
        .collect();
    assert!(
        goal.contains(&"suggested: Ship login and reset"),
        "{goal:?}"
    );
    assert!(
        goal.contains(&"amended: Ship login and reset (wording suggested by Ann)"),
        "{goal:?}"
    );
    let md = t
        .http
        .get(format!("{}/api/plannings/{p}/audit?format=md", t.base))
        .bearer_auth(&r.obs)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(md.contains("## Live session"), "{md}");
    assert!(
        md.contains("- “Reset”: discussed 4:00 (time box 6:00)"),
        "{md}"
    );

    let (status, digest) = t
        .get(&format!("/api/plannings/{p}/digest?since=0"), Some(&r.ann))
        .await;
    assert_eq!(status, 200);
    let planning: Vec<&str> = digest["planning"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(
        planning.contains(&"Fran moved the discussion to “Login”")
            && planning.contains(&"Fran moved the discussion to “Reset”"),
        "{planning:?}"
    );
    assert!(
        digest["goal"].as_array().unwrap().contains(&json!(
            "Fran adopted Ann's wording of the goal: Ship login and reset"
        )),
        "{digest}"
    );
    assert_eq!(
        digest["time_well_spent"]["items"][1]["timebox_seconds"],
        360
    );
}

common::on_both_backends!(backend: the_meeting_flow);
