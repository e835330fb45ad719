//! The async → sync workflow end to end over the real server, and its rejections.
//!
//! One planning is played from import to committed scope on SQLite, and on PostgreSQL when
//! `SPRINTLOG_TEST_PG` is set (skipped with a message otherwise), with a webhook receiver on
//! loopback (allow-listed) that must get the round closes, flags, sync start and commitment.

mod common;

use common::on_both_backends;
use common::server::*;
use common::time::{eventually, manual_clock, now_micros};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A loopback HTTP receiver that records webhook bodies.
struct Hooks {
    addr: std::net::SocketAddr,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Hooks {
    async fn start() -> Hooks {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let sink = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        sink.lock().unwrap().push(v);
                    }
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Hooks { addr, got }
    }

    /// Kinds delivered so far, once `wanted` are all there (or panics after 15 s).
    async fn wait_for(&self, wanted: &[&str]) -> Vec<Value> {
        let what = format!("webhooks of {wanted:?}");
        eventually(Duration::from_secs(15), &what, || async {
            let got = self.got.lock().unwrap().clone();
            let kinds: Vec<&str> = got
                .iter()
                .filter_map(|v| v["event"]["kind"].as_str())
                .collect();
            wanted.iter().all(|w| kinds.contains(w)).then_some(got)
        })
        .await
    }
}

const BACKLOG_CSV: &str = "\
Title,Description,Acceptance Criteria,Labels,External Key,Sprint
Login with SSO,\"Users log in with the company IdP, no passwords\",\"redirects to IdP\nshows errors\",\"auth, web\",SL-1,42
Password reset,,can reset by mail,auth,SL-2,42
Audit log export,\"CSV, then JSON\",exports CSV;exports JSON,reporting,SL-3,42
Search ranking,Better relevance,top 3 relevant,search,SL-4,42
Offline mode,\"Works on a plane\n(read only)\",reads offline,mobile;web,SL-5,42
Dark mode,,toggle in settings,ui,SL-6,42
Email digest,,weekly mail,notify,SL-7,42
\"=HYPERLINK(\"\"http://example.invalid\"\",\"\"x\"\")\",Formula title,escaped on export,security,SL-8,42
Rate limits,,429 on abuse,api,SL-9,42
\"Cleanup, tidy\",No external key,,chore,,42
";

/// Posts a raw body (CSV or JSON text) to the import route.
async fn import(
    t: &TestServer,
    planning: &str,
    token: &str,
    query: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let resp = t
        .http
        .post(format!(
            "{}/api/plannings/{planning}/import?{query}",
            t.base
        ))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("import request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn inbox(t: &TestServer, planning: &str, token: &str) -> Value {
    let (status, body) = t
        .get(&format!("/api/plannings/{planning}/inbox"), Some(token))
        .await;
    assert_eq!(status, 200, "inbox: {body}");
    body
}

/// Expects a refused command with `status` and `code`.
async fn refused(
    t: &TestServer,
    planning: &str,
    token: &str,
    command: Value,
    status: u16,
    code: &str,
) -> Value {
    let op = uuid::Uuid::new_v4().to_string();
    let (s, body) = t.command(planning, token, &op, command.clone()).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{command}: {body}"
    );
    body
}

/// The item id with external key `key` (or the title, for items without one).
fn item(st: &Value, key: &str) -> String {
    st["state"]["items"]
        .as_object()
        .expect("items")
        .values()
        .find(|i| i["draft"]["external_key"] == key || i["draft"]["title"] == key)
        .and_then(|i| i["id"].as_str())
        .unwrap_or_else(|| panic!("no item {key}"))
        .to_string()
}

struct Team {
    planning: String,
    fac: String,
    fac_id: String,
    members: Vec<(String, String)>,
}

/// A planning with 3 members (Ann, Bob, Cat) and the backlog imported from CSV.
async fn team_with_backlog(t: &TestServer) -> (Team, Value) {
    let c = t.create("Sprint 42").await;
    let mut members = Vec::new();
    for name in ["Ann", "Bob", "Cat"] {
        members.push(t.join(&c.planning, &c.member_invite, name).await);
    }
    let (status, body) = import(
        t,
        &c.planning,
        &c.token,
        "format=csv&client_op_id=import-1",
        "text/csv",
        BACKLOG_CSV,
    )
    .await;
    assert_eq!(status, 200, "import: {body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(10));
    assert_eq!(body["duplicate"], false);
    let team = Team {
        planning: c.planning,
        fac: c.token,
        fac_id: c.participant,
        members,
    };
    (team, body)
}

async fn workflow(backend: Backend) {
    let hooks = Hooks::start().await;
    let mut limits = sprintlog::config::Limits::default();
    limits.webhooks.allow = vec![hooks.addr.to_string()];
    limits.webhooks.backoff_ms = 50;
    let t = TestServer::start_with(backend, limits).await;
    let (team, imported) = team_with_backlog(&t).await;
    let (p, fac) = (team.planning.as_str(), team.fac.as_str());
    // The team's chat gets the moments that matter, through the durable outbox.
    let (status, hook) = t
        .post(
            &format!("/api/plannings/{p}/webhooks"),
            Some(fac),
            json!({ "url": format!("http://{}/hook", hooks.addr) }),
        )
        .await;
    assert_eq!(status, 200, "register webhook: {hook}");
    let [(ann_id, ann), (bob_id, bob), (cat_id, cat)] = [
        team.members[0].clone(),
        team.members[1].clone(),
        team.members[2].clone(),
    ];
    let voters = [ann.as_str(), bob.as_str(), cat.as_str()];

    // The import is one event, and retrying it with the same op id imports nothing more.
    let (status, again) = import(
        &t,
        p,
        fac,
        "format=csv&client_op_id=import-1",
        "text/csv",
        BACKLOG_CSV,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["items"], imported["items"]);
    assert_eq!(again["first"], again["head"]);

    let st = t.state(p, fac).await;
    assert_eq!(st["state"]["items"].as_object().map(|m| m.len()), Some(10));
    let keys: Vec<String> = (1..=9).map(|i| format!("SL-{i}")).collect();
    let mut ids: Vec<String> = keys.iter().map(|k| item(&st, k)).collect();
    ids.push(item(&st, "Cleanup, tidy"));
    let i = |n: usize| ids[n - 1].clone();
    let sl1 = &st["state"]["items"][i(1)]["draft"];
    assert_eq!(
        sl1["acceptance_criteria"],
        json!(["redirects to IdP", "shows errors"])
    );
    assert_eq!(sl1["labels"], json!(["auth", "web"]));
    assert_eq!(st["state"]["items"][i(1)]["source"], "import:csv");

    // ---- draft: the product owner drafts the goal and the Definition of Ready ----
    t.ok(
        p,
        fac,
        json!({"type": "DraftGoal", "text": "Ship SSO login"}),
    )
    .await;
    t.ok(
        p,
        fac,
        json!({"type": "SetDefinitionOfReady", "criteria": ["AC written", "Designs linked"]}),
    )
    .await;
    t.ok(p, fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let st = t.state(p, fac).await;
    let ac = st["state"]["definition_of_ready"][0]["id"].clone();
    let designs = st["state"]["definition_of_ready"][1]["id"].clone();

    // ---- async review: comments, questions, answers, readiness, capacity ----
    t.ok(
        p,
        &ann,
        json!({"type": "PostComment", "item": i(3), "kind": "question", "addressee": team.fac_id.as_str(),
               "text": "Which export formats are needed?"}),
    )
    .await;
    t.ok(
        p,
        &cat,
        json!({"type": "PostComment", "item": i(2), "kind": "comment", "text": "Reuse the mailer."}),
    )
    .await;
    let fac_inbox = inbox(&t, p, fac).await;
    assert_eq!(fac_inbox["questions"].as_array().map(Vec::len), Some(1));
    let question = fac_inbox["questions"][0]["comment"].clone();
    assert_eq!(fac_inbox["questions"][0]["by"], ann_id.as_str());
    t.ok(
        p,
        fac,
        json!({"type": "PostComment", "kind": "answer", "parent": question, "text": "CSV and JSON."}),
    )
    .await;
    assert_eq!(inbox(&t, p, fac).await["questions"], json!([]));

    for n in 1..=9 {
        t.ok(
            p,
            &ann,
            json!({"type": "CheckReadiness", "item": i(n), "criterion": ac, "ok": true}),
        )
        .await;
    }
    t.ok(
        p,
        &bob,
        json!({"type": "CheckReadiness", "item": i(10), "criterion": designs, "ok": false,
               "note": "no mock-ups yet"}),
    )
    .await;

    for (tok, days, focus) in [(&ann, 8.0, 0.8), (&bob, 10.0, 0.5), (&cat, 6.0, 1.0)] {
        t.ok(
            p,
            tok,
            json!({"type": "DeclareCapacity", "available_days": days, "focus_factor": focus,
                   "notes": "sprint days"}),
        )
        .await;
    }
    t.ok(p, fac, json!({"type": "SetVelocity", "points_per_day": 2}))
        .await;
    let st = t.state(p, fac).await;
    // Σ(days × focus) = 6.4 + 5 + 6 = 17.4 focused days, × 2 points.
    let capacity = 34.8;

    // ---- batch 1: items 1–6, hidden votes before the deadline ----
    let deadline = now_micros() + 3_600_000_000;
    t.ok(
        p,
        fac,
        json!({"type": "OpenRound", "items": (1..=6).map(i).collect::<Vec<_>>(), "deadline": deadline}),
    )
    .await;
    let st1 = t.state(p, fac).await;
    let round1 = st1["state"]["round_order"][0].as_str().unwrap().to_string();
    assert_ne!(st["state"]["round_order"], st1["state"]["round_order"]);
    let bob_inbox = inbox(&t, p, &bob).await;
    assert_eq!(bob_inbox["pending_votes"].as_array().map(Vec::len), Some(6));
    assert_eq!(bob_inbox["pending_votes"][0]["deadline"], deadline);
    // item → cards of Ann, Bob, Cat.
    let batch1: [(usize, [&str; 3]); 6] = [
        (1, ["3", "3", "5"]),  // converges on 3
        (2, ["5", "5", "5"]),  // converges on 5
        (3, ["3", "8", "5"]),  // spread of 2 steps
        (4, ["5", "?", "5"]),  // unsure
        (5, ["1", "13", "2"]), // spread of 5 steps
        (6, ["2", "2", "3"]),  // converges on 2
    ];
    for (v, tok) in voters.iter().enumerate() {
        for (n, cards) in &batch1 {
            t.ok(
                p,
                tok,
                json!({"type": "CastVote", "round": round1, "item": i(*n), "card": cards[v]}),
            )
            .await;
        }
        if v == 0 {
            let ib = inbox(&t, p, &ann).await;
            assert_eq!(ib["pending_votes"], json!([]));
            let mut waiting = vec![bob_id.clone(), cat_id.clone()];
            waiting.sort();
            assert_eq!(ib["rounds"][0]["not_voted"], json!(waiting));
        }
    }
    // The last vote closed the round: converged items revealed, divergent ones flagged, sealed.
    let st = t.state(p, &ann).await;
    let r1 = &st["state"]["rounds"][&round1];
    assert_eq!(r1["closed"], "all_voted");
    let flag = |n: usize| st["state"]["items"][i(n)]["flag"]["reason"].clone();
    assert_eq!(
        [flag(3), flag(4), flag(5)],
        [json!("spread"), json!("unsure"), json!("spread")]
    );
    for n in [1, 2, 6] {
        assert!(flag(n).is_null(), "item {n} converged");
        assert!(r1["revealed"].get(i(n)).is_some(), "item {n} revealed");
    }
    assert_eq!(st["state"]["items"][i(1)]["proposed_estimate"], "3");
    for n in [3, 4, 5] {
        assert!(r1["revealed"].get(i(n)).is_none(), "item {n} sealed");
        assert_eq!(r1["votes"][i(n)][&bob_id], json!({"voted": true}));
        assert_eq!(r1["votes"][i(n)][&ann_id]["voted"], true);
    }
    assert_eq!(r1["votes"][i(5)][&ann_id]["card"], "1", "my own vote");
    // Nothing Ann can read reveals Bob's sealed 13.
    let (_, evs) = t
        .get(&format!("/api/plannings/{p}/events?limit=1000"), Some(&ann))
        .await;
    for e in evs["events"].as_array().unwrap() {
        if e["kind"] == "VotesRevealed" {
            assert!(![i(3), i(4), i(5)].contains(&e["data"]["item"].as_str().unwrap().to_string()));
        }
        if e["kind"] == "VoteCast" && e["data"]["voter"] != ann_id.as_str() {
            assert!(e["data"].get("card").is_none(), "{e}");
        }
    }

    // ---- batch 2: items 7–10; item 10 is not ready until the facilitator overrides ----
    let batch2: Vec<String> = (7..=10).map(i).collect();
    let body = refused(
        &t,
        p,
        fac,
        json!({"type": "OpenRound", "items": batch2, "deadline": deadline}),
        409,
        "not_ready",
    )
    .await;
    // In plain words: the item's title and the failing criteria's texts, no ids.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("“Cleanup, tidy” is not ready: “")
            && message.ends_with("not met (the facilitator can override)"),
        "{message}"
    );
    assert_eq!(
        sprintlog::domain::words::not_plain(message),
        None,
        "{message}"
    );
    t.ok(
        p,
        fac,
        json!({"type": "OverrideReadiness", "item": i(10), "reason": "designs come in sprint"}),
    )
    .await;
    t.ok(
        p,
        fac,
        json!({"type": "OpenRound", "items": batch2, "deadline": deadline}),
    )
    .await;
    let st = t.state(p, fac).await;
    let round2 = st["state"]["round_order"][1].as_str().unwrap().to_string();
    let batch2_votes: [(usize, [Option<&str>; 3]); 4] = [
        (7, [Some("8"), Some("8"), Some("8")]),
        (8, [Some("2"), Some("3"), Some("3")]),
        (9, [Some("3"), None, None]), // only Ann: quorum
        (10, [Some("5"), Some("5"), Some("3")]),
    ];
    for (n, cards) in &batch2_votes {
        for (v, card) in cards.iter().enumerate() {
            if let Some(card) = card {
                t.ok(
                    p,
                    voters[v],
                    json!({"type": "CastVote", "round": round2, "item": i(*n), "card": card}),
                )
                .await;
            }
        }
    }
    let ib = inbox(&t, p, &bob).await;
    assert_eq!(ib["pending_votes"][0]["item"], i(9).as_str());
    let mut waiting = vec![bob_id.clone(), cat_id.clone()];
    waiting.sort();
    assert_eq!(ib["rounds"][0]["not_voted"], json!(waiting));
    t.ok(p, fac, json!({"type": "CloseRound", "round": round2}))
        .await;

    // The facilitator sends a converged item to the live agenda anyway.
    t.ok(
        p,
        fac,
        json!({"type": "FlagItem", "item": i(6), "note": "talk about the design"}),
    )
    .await;
    assert_eq!(inbox(&t, p, fac).await["flagged"][0]["item"], i(6).as_str());

    // Converged items are confirmed async in one step, with their proposed estimates.
    let st = t.state(p, fac).await;
    let proposed = |n: usize| st["state"]["items"][i(n)]["proposed_estimate"].clone();
    assert_eq!(
        [
            proposed(1),
            proposed(2),
            proposed(7),
            proposed(8),
            proposed(10)
        ],
        [json!("3"), json!("5"), json!("8"), json!("3"), json!("5")]
    );
    assert_eq!(
        st["state"]["items"][i(9)]["flag"]["reason"],
        "quorum",
        "one vote of three"
    );
    let estimates: Vec<Value> = [1, 2, 7, 8, 10]
        .iter()
        .map(|n| json!({"item": i(*n), "card": proposed(*n)}))
        .collect();
    t.ok(
        p,
        fac,
        json!({"type": "AgreeEstimates", "estimates": estimates}),
    )
    .await;

    // ---- sync: the agenda is the flagged items only, `?` first, then widest spread ----
    t.ok(p, fac, json!({"type": "StartSync"})).await;
    let st = t.state(p, &cat).await;
    assert_eq!(st["state"]["phase"], "sync");
    assert_eq!(
        st["state"]["agenda"],
        json!([i(4), i(5), i(3), i(6), i(9)]),
        "unsure, spread 5, spread 2, then manual and quorum by rank"
    );
    for (round, n) in [(&round1, 4), (&round1, 5), (&round1, 3), (&round2, 9)] {
        t.ok(
            p,
            fac,
            json!({"type": "RevealVotes", "round": round, "item": i(n)}),
        )
        .await;
    }
    let st = t.state(p, &ann).await;
    let revealed = &st["state"]["rounds"][&round1]["revealed"][i(5)];
    let mut cards: Vec<&str> = revealed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["card"].as_str().unwrap())
        .collect();
    cards.sort();
    assert_eq!(cards, ["1", "13", "2"], "revealed to everyone at once");

    // Re-vote item 5 live.
    t.ok(
        p,
        fac,
        json!({"type": "Revote", "previous": round1, "items": [i(5)]}),
    )
    .await;
    let st = t.state(p, fac).await;
    let round3 = st["state"]["round_order"][2].as_str().unwrap().to_string();
    assert_eq!(st["state"]["rounds"][&round3]["live"], true);
    for (tok, card) in voters.iter().zip(["3", "3", "5"]) {
        t.ok(
            p,
            tok,
            json!({"type": "CastVote", "round": round3, "item": i(5), "card": card}),
        )
        .await;
    }
    let st = t.state(p, fac).await;
    assert_eq!(st["state"]["items"][i(5)]["proposed_estimate"], "3");

    // A tie on item 3 (5 or 8): the facilitator flips a coin.
    t.ok(
        p,
        fac,
        json!({"type": "FlipCoin", "question": "Audit log export: 5 or 8?", "options": ["5", "8"]}),
    )
    .await;
    let st = t.state(p, fac).await;
    let flip = &st["state"]["coin_flips"][0];
    let outcome = flip["outcome"].as_u64().unwrap() as usize;
    let coin_card = flip["options"][outcome].as_str().unwrap().to_string();
    assert!(coin_card == "5" || coin_card == "8");
    t.ok(
        p,
        fac,
        json!({"type": "AgreeEstimates", "estimates": [
            {"item": i(3), "card": coin_card}, {"item": i(4), "card": "5"},
            {"item": i(5), "card": "3"}, {"item": i(6), "card": "2"}, {"item": i(9), "card": "3"}]}),
    )
    .await;

    // Goal amended and committed, then scope within capacity.
    t.ok(
        p,
        fac,
        json!({"type": "AmendGoal", "text": "Ship SSO login and the audit export", "note": "negotiated live"}),
    )
    .await;
    t.ok(p, fac, json!({"type": "CommitGoal"})).await;
    let everything: Vec<String> = (1..=10).map(i).collect();
    refused(
        &t,
        p,
        fac,
        json!({"type": "CommitScope", "items": everything}),
        409,
        "over_capacity",
    )
    .await;
    let scope: Vec<String> = (1..=7).map(i).collect();
    t.ok(p, fac, json!({"type": "CommitScope", "items": scope}))
        .await;

    // ---- the final projection ----
    let st = t.state(p, &bob).await;
    let s = &st["state"];
    let coin_points: f64 = coin_card.parse().unwrap();
    let points = 3.0 + 5.0 + coin_points + 5.0 + 3.0 + 2.0 + 8.0;
    assert_eq!(s["phase"], "committed");
    assert_eq!(s["sync_running"], false);
    assert_eq!(s["goal"]["committed"], true);
    assert_eq!(s["goal"]["text"], "Ship SSO login and the audit export");
    assert_eq!(s["commitment"]["items"], json!(scope));
    assert_eq!(s["commitment"]["points"].as_f64(), Some(points));
    assert_eq!(s["commitment"]["capacity"].as_f64(), Some(capacity));
    // The webhook deliveries: both rounds closed, flags raised, sync started, scope committed.
    let delivered = hooks
        .wait_for(&[
            "RoundClosed",
            "ItemFlagged",
            "SyncStarted",
            "ScopeCommitted",
        ])
        .await;
    let count = |k: &str| delivered.iter().filter(|v| v["event"]["kind"] == k).count();
    assert!(
        count("RoundClosed") >= 2,
        "two batches closed: {delivered:?}"
    );
    let commit = delivered
        .iter()
        .find(|v| v["event"]["kind"] == "ScopeCommitted")
        .unwrap();
    assert_eq!(commit["event"]["data"]["points"], s["commitment"]["points"]);
    assert!(commit["text"]
        .as_str()
        .unwrap_or_default()
        .contains("committed"));
    // No delivery ever carries a sealed vote.
    assert!(delivered.iter().all(|v| v["event"]["kind"] != "VoteCast"));
    // Team capacity in points is part of every view (pushed to clients with the state).
    assert_eq!(s["derived"]["capacity_points"].as_f64(), Some(capacity));
    assert_eq!(s["commitment"]["over_capacity_confirmed"], false);
    assert_eq!(s["coin_flips"].as_array().map(Vec::len), Some(1));
    let expected: [(usize, &str); 10] = [
        (1, "3"),
        (2, "5"),
        (3, coin_card.as_str()),
        (4, "5"),
        (5, "3"),
        (6, "2"),
        (7, "8"),
        (8, "3"),
        (9, "3"),
        (10, "5"),
    ];
    for (n, card) in expected {
        assert_eq!(s["items"][i(n)]["estimate"], card, "item {n}");
        assert!(s["items"][i(n)]["flag"].is_null(), "item {n} flag cleared");
    }

    // ---- tracker write-back ----
    let (status, j) = t
        .get(
            &format!("/api/plannings/{p}/export/estimates?format=json"),
            Some(&cat),
        )
        .await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j.as_object().map(|o| o.len()), Some(10));
    assert_eq!(
        j["SL-1"],
        json!({"title": "Login with SSO", "estimate": "3", "points": 3})
    );
    assert_eq!(j["SL-3"]["estimate"], coin_card.as_str());
    assert_eq!(
        j[i(10)]["title"],
        "Cleanup, tidy",
        "keyed by id without a key"
    );
    let resp = t
        .http
        .get(format!(
            "{}/api/plannings/{p}/export/estimates?format=csv",
            t.base
        ))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "key,title,estimate,points");
    assert_eq!(lines[1], "SL-1,Login with SSO,3,3");
    assert!(
        csv.contains("SL-8,\"'=HYPERLINK(\"\"http://example.invalid\"\",\"\"x\"\")\",3,3\n"),
        "formula escaped: {csv}"
    );
    assert!(csv.contains(&format!("{},\"Cleanup, tidy\",5,5\n", i(10))));
}

#[tokio::test]
async fn workflow_end_to_end_sqlite() {
    workflow(sqlite()).await;
}

#[tokio::test]
async fn workflow_end_to_end_postgres() {
    if let Some(b) = postgres("workflow_end_to_end_postgres").await {
        workflow(b).await;
    }
}

/// The import's preview (`?dry_run=true`) answers each good row with its line and each bad row
/// with its problem, and writes nothing; the same file goes in once fixed.
async fn import_preview_writes_nothing(t: &TestServer) {
    let c = t.create("Sprint").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let bad = "title,key,labels\nLogin,PRJ-1,auth\n,PRJ-2,b\nSearch,PRJ-3,\"x;y\"\n";
    let q = "format=csv&dry_run=true";
    let (status, body) = import(t, &c.planning, &c.token, q, "text/csv", bad).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dry_run"], true);
    assert_eq!(
        body["rows"],
        json!([{"line": 3, "error": "the title is empty"}])
    );
    assert_eq!(body["refusal"], "1 bad row: nothing was imported");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (
            &items[0]["line"],
            &items[0]["title"],
            &items[0]["external_key"]
        ),
        (&json!(2), &json!("Login"), &json!("PRJ-1"))
    );
    assert_eq!(
        (&items[1]["line"], &items[1]["labels"]),
        (&json!(4), &json!(["x", "y"]))
    );
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["state"]["items"], json!({}), "nothing imported");
    assert_eq!(st["head"], 2, "no event appended");
    // A good file previews with no refusal; a member may not preview; a file unusable as a
    // whole is refused as for a real import.
    let good = "title,key\nLogin,PRJ-1\n";
    let (status, body) = import(t, &c.planning, &c.token, q, "text/csv", good).await;
    assert_eq!((status, &body["refusal"]), (200, &Value::Null), "{body}");
    assert_eq!(body["rows"], json!([]));
    let (status, _) = import(t, &c.planning, &ann, q, "text/csv", good).await;
    assert_eq!(status, 403);
    let (status, body) = import(t, &c.planning, &c.token, q, "text/csv", "name\nx\n").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("import_invalid"))
    );
    assert_eq!(body["error"]["rows"][0]["line"], 1);
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["head"], 2, "still no event appended");
}

on_both_backends!(import_preview_writes_nothing);

/// A withdrawn item comes back with `RestoreItem` (its proposer may restore it, another member
/// may not); the restored item is in the stored log and in the view read back from it.
async fn withdraw_and_restore(t: &TestServer) {
    let c = t.create("Sprint").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let p = &c.planning;
    for title in ["Login", "Search"] {
        t.ok(
            p,
            &ann,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let st = t.state(p, &c.token).await;
    let id = |title: &str| {
        st["state"]["items"]
            .as_object()
            .unwrap()
            .values()
            .find(|i| i["draft"]["title"] == title)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let login = id("Login");
    t.ok(
        p,
        &c.token,
        json!({"type": "WithdrawItem", "item": login, "reason": "later"}),
    )
    .await;
    let restore = json!({"type": "RestoreItem", "item": login});
    let (status, body) = t.command(p, &bob, "restore-bob", restore.clone()).await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));
    let head = t.ok(p, &ann, restore.clone()).await;
    let st = t.state(p, &c.token).await;
    assert_eq!(st["state"]["items"][&login]["withdrawn"], false);
    assert_eq!(st["head"], head);
    let (status, body) = t.command(p, &ann, "restore-again", restore).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid")),
        "{body}"
    );
    let (_, events) = t
        .get(
            &format!("/api/plannings/{p}/events?after={}&limit=1", head - 1),
            Some(&c.token),
        )
        .await;
    let ev = &events["events"][0];
    assert_eq!(ev["kind"], "ItemRestored", "{ev}");
    assert_eq!(ev["data"]["item"], json!(login), "{ev}");
}

on_both_backends!(withdraw_and_restore);

// ---- rejections ----

#[tokio::test]
async fn import_with_a_bad_row_imports_nothing() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let bad = "title,labels\nok,a\n,b\n\"x\",c\n";
    let (status, body) = import(&t, &c.planning, &c.token, "format=csv", "text/csv", bad).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "import_invalid");
    assert_eq!(
        body["error"]["rows"],
        json!([{"line": 3, "error": "the title is empty"}])
    );
    let jira = r#"{"issues":[{"key":"A-1","fields":{"summary":"ok","description":null}},
        {"key":"A-2","fields":{"description":"no summary"}}]}"#;
    let (status, body) = import(
        &t,
        &c.planning,
        &c.token,
        "format=jira",
        "application/json",
        jira,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["rows"][0]["line"], 2);
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["state"]["items"], json!({}), "nothing imported");
    assert_eq!(st["head"], 2, "no event appended");
    // Only the facilitator imports; a good Jira export goes in (format from the content type).
    let good =
        r#"{"issues":[{"key":"A-1","fields":{"summary":"ok","description":null,"labels":[]}}]}"#;
    let (status, body) = import(&t, &c.planning, &ann, "", "application/json", good).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, body) = import(&t, &c.planning, &c.token, "", "application/json", good).await;
    assert_eq!(status, 200, "{body}");
    let st = t.state(&c.planning, &c.token).await;
    let it = st["state"]["items"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(it["draft"]["external_key"], "A-1");
    assert_eq!(it["source"], "import:jira");
}

#[tokio::test]
async fn round_over_eight_items_is_refused() {
    let t = TestServer::start(sqlite()).await;
    let (team, _) = team_with_backlog(&t).await;
    let p = &team.planning;
    t.ok(p, &team.fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let policy = |batch: u32| {
        json!({"type": "SetPolicy", "policy": {
            "divergence": {"spread_steps": 2, "flag_unsure": true, "quorum_percent": 50},
            "batch_size": batch, "default_deadline_minutes": 1440, "point_table": {}}})
    };
    refused(&t, p, &team.fac, policy(9), 400, "out_of_range").await;
    t.ok(p, &team.fac, policy(8)).await;
    let st = t.state(p, &team.fac).await;
    let nine: Vec<Value> = st["state"]["rank"].as_array().unwrap()[..9].to_vec();
    let body = refused(
        &t,
        p,
        &team.fac,
        json!({"type": "OpenRound", "items": nine}),
        400,
        "wrong_count",
    )
    .await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1 to 8"));
    t.ok(
        p,
        &team.fac,
        json!({"type": "OpenRound", "items": nine[..8]}),
    )
    .await;
}

#[tokio::test]
async fn unready_item_cannot_enter_a_round() {
    let t = TestServer::start(sqlite()).await;
    let (team, _) = team_with_backlog(&t).await;
    let p = &team.planning;
    t.ok(
        p,
        &team.fac,
        json!({"type": "SetDefinitionOfReady", "criteria": ["AC written"]}),
    )
    .await;
    t.ok(p, &team.fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let st = t.state(p, &team.fac).await;
    let crit = st["state"]["definition_of_ready"][0]["id"].clone();
    let first = st["state"]["rank"][0].clone();
    t.ok(
        p,
        &team.members[0].1,
        json!({"type": "CheckReadiness", "item": first, "criterion": crit, "ok": false}),
    )
    .await;
    // Shown as not ready in everyone's view…
    let st = t.state(p, &team.members[1].1).await;
    assert_eq!(st["state"]["derived"]["not_ready"], json!([first]));
    refused(
        &t,
        p,
        &team.fac,
        json!({"type": "OpenRound", "items": [first]}),
        409,
        "not_ready",
    )
    .await;
    // A member cannot override; the facilitator's override is recorded and lets it in.
    refused(
        &t,
        p,
        &team.members[0].1,
        json!({"type": "OverrideReadiness", "item": first, "reason": "fine"}),
        403,
        "forbidden",
    )
    .await;
    t.ok(
        p,
        &team.fac,
        json!({"type": "OverrideReadiness", "item": first, "reason": "fine"}),
    )
    .await;
    let st = t.state(p, &team.fac).await;
    assert_eq!(st["state"]["derived"]["not_ready"], json!([]));
    t.ok(p, &team.fac, json!({"type": "OpenRound", "items": [first]}))
        .await;
}

#[tokio::test]
async fn vote_after_deadline_is_refused() {
    let clock = manual_clock();
    let t = TestServer::start_clocked(sqlite(), Default::default(), &clock).await;
    let (team, _) = team_with_backlog(&t).await;
    let p = &team.planning;
    t.ok(p, &team.fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let st = t.state(p, &team.fac).await;
    let first = st["state"]["rank"][0].clone();
    let deadline = clock.now_micros() + 1_000_000;
    t.ok(
        p,
        &team.fac,
        json!({"type": "OpenRound", "items": [first], "deadline": deadline}),
    )
    .await;
    let st = t.state(p, &team.fac).await;
    let round = st["state"]["round_order"][0].clone();
    clock.advance(Duration::from_millis(1100));
    let op = uuid::Uuid::new_v4().to_string();
    let (status, body) = t
        .command(
            p,
            &team.members[0].1,
            &op,
            json!({"type": "CastVote", "round": round, "item": first, "card": "5"}),
        )
        .await;
    // Refused whether the scheduler has closed the round at its deadline yet or not.
    assert_eq!(status, 409, "{body}");
    let code = body["error"]["code"].as_str().unwrap();
    assert!(
        code == "deadline_passed" || code == "round_closed",
        "{body}"
    );
}

#[tokio::test]
async fn over_capacity_commit_needs_confirmation() {
    let t = TestServer::start(sqlite()).await;
    let (team, _) = team_with_backlog(&t).await;
    let p = &team.planning;
    t.ok(p, &team.fac, json!({"type": "DraftGoal", "text": "Goal"}))
        .await;
    t.ok(p, &team.fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    t.ok(
        p,
        &team.members[0].1,
        json!({"type": "DeclareCapacity", "available_days": 2, "focus_factor": 1}),
    )
    .await;
    t.ok(
        p,
        &team.fac,
        json!({"type": "SetVelocity", "points_per_day": 1}),
    )
    .await;
    let st = t.state(p, &team.fac).await;
    let items: Vec<Value> = st["state"]["rank"].as_array().unwrap()[..2].to_vec();
    t.ok(
        p,
        &team.fac,
        json!({"type": "AgreeEstimates", "estimates": [
            {"item": items[0], "card": "2"}, {"item": items[1], "card": "1"}]}),
    )
    .await;
    let body = refused(
        &t,
        p,
        &team.fac,
        json!({"type": "CommitScope", "items": items}),
        409,
        "over_capacity",
    )
    .await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 points"));
    t.ok(
        p,
        &team.fac,
        json!({"type": "CommitScope", "items": items, "confirm_over_capacity": true}),
    )
    .await;
    let st = t.state(p, &team.fac).await;
    assert_eq!(st["state"]["commitment"]["over_capacity_confirmed"], true);
    assert_eq!(st["state"]["commitment"]["points"], 3);
    assert_eq!(st["state"]["commitment"]["capacity"], 2);
}

#[tokio::test]
async fn coin_flip_by_a_member_is_refused() {
    let t = TestServer::start(sqlite()).await;
    let (team, _) = team_with_backlog(&t).await;
    let p = &team.planning;
    refused(
        &t,
        p,
        &team.members[1].1,
        json!({"type": "FlipCoin", "question": "5 or 8?", "options": ["5", "8"]}),
        403,
        "forbidden",
    )
    .await;
    let st = t.state(p, &team.fac).await;
    assert_eq!(st["state"]["coin_flips"], json!([]));
}
