//! Teams over the real server: roster, a planning played to a commitment, the next planning
//! carrying over what was left and deriving its velocity, the team view, "my plannings", and
//! the refusals (wrong admin token, bad input with nothing written).
//!
//! Runs on SQLite, and on PostgreSQL when `SPRINTLOG_TEST_PG` is set.

mod common;

use common::server::*;
use common::time::now_micros;
use serde_json::{json, Value};

/// Streams in the log (plannings and teams), to show a refusal wrote nothing.
async fn streams(t: &TestServer) -> usize {
    let server = t.server.as_ref().expect("running");
    server.app.registry.store().plannings().await.unwrap().len()
}

fn invite_of(link: &str) -> String {
    link.rsplit("invite=").next().unwrap().to_string()
}

async fn events_of_kind(t: &TestServer, p: &str, token: &str, kind: &str) -> Vec<Value> {
    let (s, body) = t
        .get(&format!("/api/plannings/{p}/events?after=0"), Some(token))
        .await;
    assert_eq!(s, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn teams_flow(t: TestServer) {
    // ---- a team with a roster of 3 ----
    let (s, team) = t
        .post(
            "/api/teams",
            None,
            json!({"name": "Core", "roster": [
                {"name": "Ada", "time_zone": "Europe/Berlin"},
                {"name": "Bo", "time_zone": "America/New_York", "role": "member"},
                {"name": "Cy", "role": "observer"},
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{team}");
    let tid = team["team"].as_str().unwrap().to_string();
    let admin = team["admin_token"].as_str().unwrap().to_string();
    assert_eq!(team["roster"].as_array().unwrap().len(), 3);

    // ---- planning 1 for the team ----
    let (s, p1) = t
        .post(
            &format!("/api/teams/{tid}/plannings"),
            Some(&admin),
            json!({"title": "Sprint 1", "name": "Fran", "carry_over": true}),
        )
        .await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(p1["velocity"], Value::Null, "no history yet");
    assert_eq!(p1["carried_over"], json!([]));
    let roster = p1["roster"].as_array().unwrap();
    assert_eq!(roster.len(), 3);
    assert_eq!(roster[0]["time_zone"], "Europe/Berlin");
    assert_eq!(roster[2]["role"], "observer");
    assert_eq!(roster[0]["link"], p1["links"]["member"]);
    assert_eq!(roster[2]["link"], p1["links"]["observer"]);
    let p = p1["planning"].as_str().unwrap().to_string();
    let fac = p1["token"].as_str().unwrap().to_string();

    // Everyone joins through the link the roster handed out.
    let mut tokens = Vec::new();
    for r in roster {
        let name = r["name"].as_str().unwrap();
        let invite = invite_of(r["link"].as_str().unwrap());
        tokens.push(t.join(&p, &invite, name).await.1);
    }
    let (ada, bo) = (&tokens[0], &tokens[1]);

    // Three items; capacity: Ada and Bo 5 days × 0.8, Fran 3 days × 0.5 = 9.5 focused days.
    let mut items = Vec::new();
    for title in ["Login", "Search", "Reports"] {
        t.ok(
            &p,
            &fac,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let st = t.state(&p, &fac).await;
    for title in ["Login", "Search", "Reports"] {
        let (id, _) = st["state"]["items"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, v)| v["draft"]["title"] == title)
            .unwrap();
        items.push(id.clone());
    }
    t.ok(&p, &fac, json!({"type": "DraftGoal", "text": "Ship login"}))
        .await;
    t.ok(&p, &fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    for tok in [ada, bo] {
        t.ok(
            &p,
            tok,
            json!({"type": "DeclareCapacity", "available_days": 5, "focus_factor": 0.8}),
        )
        .await;
    }
    t.ok(
        &p,
        &fac,
        json!({"type": "DeclareCapacity", "available_days": 3, "focus_factor": 0.5}),
    )
    .await;
    t.ok(
        &p,
        &fac,
        json!({"type": "SetVelocity", "points_per_day": 1}),
    )
    .await;
    let deadline = now_micros() + 3_600_000_000;
    t.ok(
        &p,
        &fac,
        json!({"type": "OpenRound", "items": items, "deadline": deadline}),
    )
    .await;
    let st = t.state(&p, &fac).await;
    let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
    // The round says who opened it (and so chose its deadline).
    assert_eq!(
        st["state"]["rounds"][&round]["opened_by"],
        p1["participant"]
    );
    for tok in [ada, bo] {
        for (item, card) in items.iter().zip(["3", "5", "8"]) {
            t.ok(
                &p,
                tok,
                json!({"type": "CastVote", "round": round, "item": item, "card": card}),
            )
            .await;
        }
    }
    t.ok(
        &p,
        &fac,
        json!({"type": "AgreeEstimates", "estimates": [
            {"item": items[0], "card": "3"},
            {"item": items[1], "card": "5"},
            {"item": items[2], "card": "8"},
        ]}),
    )
    .await;
    // 8 points committed; "Reports" stays uncommitted.
    t.ok(
        &p,
        &fac,
        json!({"type": "CommitScope", "items": [items[0], items[1]]}),
    )
    .await;
    assert_eq!(t.state(&p, &fac).await["state"]["phase"], "committed");

    // ---- planning 2 with carry-over, sent twice with one Idempotency-Key ----
    let keyed = || async {
        let resp = t
            .http
            .post(format!("{}/api/teams/{tid}/plannings", t.base))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "sprint-2")
            .json(&json!({"title": "Sprint 2", "name": "Fran", "carry_over": true}))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.expect("json"))
    };
    let (s, p2) = keyed().await;
    assert_eq!(s, 200, "{p2}");
    let (s, again) = keyed().await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        again, p2,
        "a retry creates, links and fills the planning once"
    );
    let q = p2["planning"].as_str().unwrap().to_string();
    let fac2 = p2["token"].as_str().unwrap().to_string();
    // 8 points ÷ 9.5 focused person-days = 0.8421… → 0.84 points per person-day.
    assert_eq!(p2["velocity"], json!(0.84));
    assert_eq!(p2["carried_over"].as_array().unwrap().len(), 1);
    let st2 = t.state(&q, &fac2).await;
    assert_eq!(st2["state"]["velocity"], json!(0.84));
    let titles: Vec<&str> = st2["state"]["items"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["draft"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["Reports"]);
    let carried = events_of_kind(&t, &q, &fac2, "ItemsCarriedOver").await;
    assert_eq!(carried.len(), 1);
    assert_eq!(carried[0]["data"]["from_planning"], json!(p));

    // ---- the team view lists both plannings ----
    let (s, view) = t.get(&format!("/api/teams/{tid}"), Some(&admin)).await;
    assert_eq!(s, 200, "{view}");
    let ps = view["plannings"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0]["planning"], json!(p));
    assert_eq!(ps[0]["phase"], "committed");
    assert_eq!(ps[0]["committed_points"], json!(8));
    assert_eq!(ps[1]["planning"], json!(q));
    assert_eq!(ps[1]["phase"], "draft");
    // What the velocity came from, and the velocity the next planning would get.
    assert_eq!(ps[0]["focused_days"], json!(9.5));
    assert_eq!(ps[1]["focused_days"], Value::Null, "not committed yet");
    assert_eq!(view["velocity"], json!(0.84));
    assert_eq!(view["velocity_from"], json!(1));

    // ---- my plannings: both of Ada's kinds of token, a bogus one; open first ----
    let (ada2_id, ada2) = t
        .join(
            &q,
            &invite_of(p2["links"]["member"].as_str().unwrap()),
            "Ada",
        )
        .await;
    let (s, mine) = t
        .post(
            "/api/my-plannings",
            None,
            json!({"tokens": [
                {"planning": p, "token": ada},
                {"planning": q, "token": ada2},
                {"planning": q, "token": "bogus"},
                {"planning": tid, "token": admin},
            ]}),
        )
        .await;
    assert_eq!(s, 200, "{mine}");
    let list = mine["plannings"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{mine}");
    assert_eq!(list[0]["planning"], json!(q), "open first");
    assert_eq!(list[0]["participant"], json!(ada2_id));
    assert_eq!(list[0]["role"], "member");
    assert_eq!(list[0]["pending_votes"], 0);
    assert_eq!(list[1]["planning"], json!(p));
    assert_eq!(list[1]["phase"], "committed");
    assert_eq!(list[1]["name"], "Ada");
    let too_many: Vec<Value> = (0..51)
        .map(|_| json!({"planning": p, "token": "x"}))
        .collect();
    let (s, _) = t
        .post("/api/my-plannings", None, json!({ "tokens": too_many }))
        .await;
    assert_eq!(s, 400);

    // ---- the roster can be replaced; plannings keep what they handed out ----
    let roster = json!({"roster": [{"name": "Ada"}, {"name": "Dee", "time_zone": "Asia/Tokyo"}]});
    let (status, _) = t
        .put(&format!("/api/teams/{tid}/roster"), Some(&admin), roster)
        .await;
    assert_eq!(status, 200);
    let (_, view) = t.get(&format!("/api/teams/{tid}"), Some(&admin)).await;
    assert_eq!(view["roster"][1]["name"], "Dee");
    assert_eq!(view["roster"][1]["role"], "member");

    // ---- refusals ----
    let before = streams(&t).await;
    let (s, _) = t.get(&format!("/api/teams/{tid}"), Some("wrong")).await;
    assert_eq!(s, 401);
    let (s, _) = t
        .post(
            &format!("/api/teams/{tid}/plannings"),
            Some("wrong"),
            json!({"title": "Sprint 3", "name": "Fran"}),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = t.get(&format!("/api/teams/{tid}"), None).await;
    assert_eq!(s, 401);
    let (s, body) = t
        .post("/api/teams", None, json!({"name": " ", "roster": []}))
        .await;
    assert_eq!(s, 400, "{body}");
    let big: Vec<Value> = (0..101).map(|i| json!({"name": format!("p{i}")})).collect();
    let (s, body) = t
        .post("/api/teams", None, json!({"name": "Big", "roster": big}))
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = t
        .post(
            &format!("/api/teams/{tid}/plannings"),
            Some(&admin),
            json!({"title": "", "name": "Fran"}),
        )
        .await;
    assert_eq!(s, 400);
    // A deck that is not one (a single card) is refused like on `POST /api/plannings`.
    let (s, body) = t
        .post(
            &format!("/api/teams/{tid}/plannings"),
            Some(&admin),
            json!({"title": "Sprint 3", "name": "Fran", "deck": {"kind": "custom", "cards": ["1"]}}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(streams(&t).await, before, "refusals wrote nothing");
    // A team planning takes a deck, as a plain one does.
    let (s, body) = t
        .post(
            &format!("/api/teams/{tid}/plannings"),
            Some(&admin),
            json!({"title": "Sprint 3", "name": "Fran",
                   "deck": {"kind": "t_shirt", "cards": ["XS", "S", "M", "L", "XL"]}}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (_, sprint3) = t
        .get(
            &format!("/api/plannings/{}", body["planning"].as_str().unwrap()),
            Some(body["token"].as_str().unwrap()),
        )
        .await;
    assert_eq!(sprint3["state"]["deck"]["kind"], "t_shirt");
    assert_eq!(sprint3["state"]["deck"]["cards"][2], "M");
    // A planning id is not a team, and a team id is not a planning.
    let (s, _) = t.get(&format!("/api/teams/{p}"), Some(&admin)).await;
    assert_eq!(s, 404);
    let (s, _) = t.get(&format!("/api/plannings/{tid}"), Some(&admin)).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn teams_on_sqlite() {
    teams_flow(TestServer::start(sqlite()).await).await;
}

#[tokio::test]
async fn teams_on_postgres() {
    let Some(backend) = postgres("teams").await else {
        eprintln!("SPRINTLOG_TEST_PG not set: skipping");
        return;
    };
    teams_flow(TestServer::start(backend).await).await;
}
