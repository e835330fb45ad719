//! Kept views (`?view=true`): each connection's view, kept by applying the server's pushes
//! alone, equals `GET /api/plannings/{id}` (and its inbox, `GET …/inbox`) for that viewer after
//! a round of 20 votes and 2 reveals; no pushed shared part ever carries a sealed card, and a
//! participant's own part carries only their own cards.

#[macro_use]
mod common;

use common::server::{TestServer, Ws};
use serde_json::{json, Value};

/// A client that keeps its view the way the web client does.
struct Keeper {
    ws: Ws,
    token: String,
    view: Value,
    mine: Value,
    view_at: i64,
    mine_at: i64,
    /// Frames of the kept views received, and their bytes.
    frames: usize,
    bytes: usize,
}

impl Keeper {
    async fn connect(t: &TestServer, planning: &str, token: &str) -> Keeper {
        let ws = t.ws_keeping_view(planning, token, 0).await;
        let mut k = Keeper {
            ws,
            token: token.to_string(),
            view: Value::Null,
            mine: Value::Null,
            view_at: -1,
            mine_at: -1,
            frames: 0,
            bytes: 0,
        };
        // The whole view comes before `caught_up`.
        loop {
            let f = k.ws.frame().await;
            k.take(&f);
            if f["type"] == "caught_up" {
                break;
            }
        }
        assert!(
            k.view_at >= 0 && k.mine_at >= 0,
            "the view came before caught_up"
        );
        k
    }

    /// Applies one frame of the kept views (others are ignored).
    fn take(&mut self, f: &Value) {
        let ty = f["type"].as_str().unwrap_or_default();
        let (doc, at) = match ty {
            "view" | "view_patch" => (&mut self.view, &mut self.view_at),
            "mine" | "mine_patch" => (&mut self.mine, &mut self.mine_at),
            _ => return,
        };
        self.frames += 1;
        self.bytes += f.to_string().len();
        match ty {
            "view" => *doc = f["view"].clone(),
            "mine" => *doc = f["mine"].clone(),
            _ => {
                let base = f["base"].as_i64().expect("base");
                assert!(base <= *at, "a patch from {base} to a view at {at}");
                let ops: json_patch::Patch =
                    serde_json::from_value(f["ops"].clone()).expect("RFC 6902 ops");
                json_patch::patch(doc, &ops).expect("the patch applies");
            }
        }
        *at = f["at"].as_i64().expect("at");
        no_card_in_shared_votes(&self.view);
    }

    /// Reads until the view is at `head` or later and every frame sent with it has arrived.
    async fn sync(&mut self, head: i64) {
        while self.view_at < head {
            let f = self.ws.frame().await;
            self.take(&f);
        }
        // A batch's own part follows its shared part in the same push: a pong comes after it.
        self.ws.send(json!({"type": "ping"})).await;
        loop {
            let f = self.ws.frame().await;
            self.take(&f);
            if f["type"] == "pong" {
                return;
            }
        }
    }

    /// The view as `GET /api/plannings/{id}` shows it to this viewer.
    fn composed(&self) -> Value {
        let mut v = self.view.clone();
        sprintlog::read::pushed::overlay(&mut v, &self.mine);
        v
    }
}

/// The shared part never shows a card in a round's votes (sealed for everyone).
fn no_card_in_shared_votes(view: &Value) {
    for round in view["rounds"].as_object().into_iter().flatten() {
        for (_, per_voter) in round.1["votes"].as_object().into_iter().flatten() {
            for (voter, vote) in per_voter.as_object().into_iter().flatten() {
                assert!(
                    vote.get("card").is_none(),
                    "a card of {voter} in the shared view"
                );
            }
        }
    }
}

async fn vote(t: &TestServer, p: &str, token: &str, round: &str, item: &str, card: &str) -> i64 {
    t.ok(
        p,
        token,
        json!({"type": "CastVote", "round": round, "item": item, "card": card}),
    )
    .await
}

async fn the_kept_views_are_the_projection(t: &TestServer) {
    let c = t.create("Kept views").await;
    let p = &c.planning;
    let mut tokens = vec![("fac".to_string(), c.token.clone())];
    for name in ["ann", "bo", "cy"] {
        let (_, tok) = t.join(p, &c.member_invite, name).await;
        tokens.push((name.into(), tok));
    }
    let (_, obs) = t.join(p, &c.observer_invite, "olga").await;
    tokens.push(("olga".into(), obs));
    let mut keepers = Vec::new();
    for (_, tok) in &tokens {
        keepers.push(Keeper::connect(t, p, tok).await);
    }
    let fac = &c.token;
    t.ok(p, fac, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let mut items = Vec::new();
    for title in ["A", "B", "C"] {
        t.ok(
            p,
            fac,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let state = t.state(p, fac).await;
    for i in state["state"]["rank"].as_array().unwrap() {
        items.push(i.as_str().unwrap().to_string());
    }
    t.ok(p, fac, json!({"type": "OpenRound", "items": items}))
        .await;
    let state = t.state(p, fac).await;
    let round = state["state"]["round_order"][0]
        .as_str()
        .unwrap()
        .to_string();

    // 22 votes: Ann and Bo vote, Ann changes her mind ten times, Cy's last vote closes the
    // round (A converges and is revealed; B and C diverge and are flagged).
    let (ann, bo, cy) = (&tokens[1].1, &tokens[2].1, &tokens[3].1);
    let cards_of = |who: &str| match who {
        "ann" => ["3", "1", "2"],
        "bo" => ["3", "13", "2"],
        _ => ["3", "8", "21"],
    };
    for (who, tok) in [("ann", ann), ("bo", bo)] {
        for (item, card) in items.iter().zip(cards_of(who)) {
            vote(t, p, tok, &round, item, card).await;
        }
    }
    for n in 0..8 {
        let card = ["5", "3", "2", "1"][n % 4];
        let head = vote(t, p, ann, &round, &items[n % 2 + 1], card).await;
        for k in &mut keepers {
            k.sync(head).await;
        }
    }
    vote(t, p, ann, &round, &items[1], "1").await;
    vote(t, p, ann, &round, &items[2], "2").await;
    let mut head = 0;
    for (item, card) in items.iter().zip(cards_of("cy")) {
        head = vote(t, p, cy, &round, item, card).await;
    }
    // Reveal 1: live, the facilitator reveals a flagged item.
    t.ok(p, fac, json!({"type": "StartSync"})).await;
    head = t
        .ok(
            p,
            fac,
            json!({"type": "RevealVotes", "round": round, "item": items[1]}),
        )
        .await
        .max(head);
    // Reveal 2: a live re-vote on C closes (and reveals) with its last vote.
    t.ok(
        p,
        fac,
        json!({"type": "Revote", "previous": round, "items": [items[2]]}),
    )
    .await;
    let state = t.state(p, fac).await;
    let revote = state["state"]["round_order"][1]
        .as_str()
        .unwrap()
        .to_string();
    for tok in [ann, bo, cy] {
        head = vote(t, p, tok, &revote, &items[2], "5").await;
    }
    let after = t.state(p, fac).await;
    assert!(
        after["state"]["rounds"][&revote]["revealed"][&items[2]].is_array(),
        "the re-vote was revealed: {}",
        after["state"]["rounds"][&revote]
    );

    for (k, (name, _)) in keepers.iter_mut().zip(&tokens) {
        k.sync(head).await;
        let got = t.state(p, &k.token).await;
        assert_eq!(got["head"], json!(k.view_at), "{name}: same head");
        assert_eq!(k.composed(), got["state"], "{name}: the kept view is GET's");
        let (_, mut inbox) = t
            .get(&format!("/api/plannings/{p}/inbox"), Some(&k.token))
            .await;
        inbox.as_object_mut().unwrap().remove("head");
        assert_eq!(k.mine["inbox"], inbox, "{name}: the kept inbox is GET's");
        assert!(k.frames > 20, "{name}: {} view frames", k.frames);
    }
    // Ann's own part holds her cards (and, by the equality above, no one else's).
    assert_eq!(keepers[1].mine["cards"][&revote][&items[2]], "5");

    // A keeper that reconnects is sent the whole view again.
    let again = Keeper::connect(t, p, ann).await;
    assert_eq!(again.view, keepers[1].view);
    assert_eq!(again.mine, keepers[1].mine);
}

on_both_backends!(the_kept_views_are_the_projection);

/// Large REST answers are gzip-compressed for a client that accepts it, and plain otherwise.
async fn large_answers_are_compressed(t: &TestServer) {
    let c = t.create("Compressed").await;
    for n in 0..20 {
        t.ok(
            &c.planning,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": format!("Item {n}"), "description": "x".repeat(200)}}),
        )
        .await;
    }
    let get = |gzip: bool| {
        let mut req = t
            .http
            .get(format!("{}/api/plannings/{}", t.base, c.planning))
            .bearer_auth(&c.token);
        if gzip {
            req = req.header("Accept-Encoding", "gzip");
        }
        req.send()
    };
    let zipped = get(true).await.expect("GET");
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped_len = zipped.bytes().await.expect("body").len();
    let plain = get(false).await.expect("GET");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_len = plain.bytes().await.expect("body").len();
    assert!(
        zipped_len * 4 < plain_len,
        "gzip {zipped_len} bytes vs {plain_len} plain"
    );
}

on_both_backends!(large_answers_are_compressed);
