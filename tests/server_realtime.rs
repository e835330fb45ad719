//! The realtime server over real sockets (REST + websockets), on SQLite and PostgreSQL.
//!
//! Each scenario is written once as `async fn scenario(t: &TestServer)` and run on both
//! backends by [`on_both_backends!`]: SQLite always, PostgreSQL when `SPRINTLOG_TEST_PG` is set
//! (otherwise the postgres variant prints a SKIPPED line and passes).
//!
//! Every await that could hang is bounded: the `Ws` helper times out after 10 s per frame, loops
//! have fixed upper bounds, and scenarios with concurrent writers stop on a counter.

mod common;

use common::on_both_backends;
use common::server::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Limits for scenarios that append quickly from one token.
fn fast_writers() -> Limits {
    Limits {
        command_rate: 10_000,
        command_burst: 10_000,
        ..Limits::default()
    }
}

on_both_backends!(smoke_create_join_vote);
on_both_backends!(everyone_sees_the_same_sequence_live, fast_writers());
on_both_backends!(
    late_joiner_catches_up_by_events_or_snapshot,
    Limits {
        snapshot_after: 20,
        ..fast_writers()
    }
);
on_both_backends!(reconnect_mid_stream_gets_exactly_the_rest, fast_writers());
on_both_backends!(rest_paging_by_one_while_writing, fast_writers());
on_both_backends!(votes_stay_sealed_until_revealed_on_every_route);
on_both_backends!(retries_conflicts_roles_and_tokens);
on_both_backends!(
    slow_consumer_is_closed_while_others_keep_up,
    Limits {
        outbound_queue: 8,
        ..fast_writers()
    }
);
on_both_backends!(
    bad_frames_and_bodies_are_refused_without_writes,
    Limits {
        max_frame_bytes: 16 * 1024,
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    }
);
on_both_backends!(health_and_metrics);

// ---------------------------------------------------------------------------------------------
// Fixture and helpers
// ---------------------------------------------------------------------------------------------

/// A planning in the `async` phase with a facilitator, two members and an observer.
struct Fx {
    p: String,
    fac: String,
    fac_id: String,
    ann: String,
    ann_id: String,
    bob: String,
    bob_id: String,
    obs: String,
    member_invite: String,
}

async fn fixture(t: &TestServer) -> Fx {
    let c = t.create("Sprint 7").await;
    let (ann_id, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (bob_id, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let (_obs_id, obs) = t.join(&c.planning, &c.observer_invite, "Olga").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    Fx {
        p: c.planning,
        fac: c.token,
        fac_id: c.participant,
        ann,
        ann_id,
        bob,
        bob_id,
        obs,
        member_invite: c.member_invite,
    }
}

/// Events `(after, after+limit]` over REST as `token` sees them.
async fn rest_events(t: &TestServer, p: &str, token: &str, after: i64, limit: i64) -> Vec<Value> {
    let (status, body) = t
        .get(
            &format!("/api/plannings/{p}/events?after={after}&limit={limit}"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "events: {body}");
    body["events"].as_array().cloned().unwrap_or_default()
}

/// The whole log over REST as `token` sees it.
async fn all_rest_events(t: &TestServer, p: &str, token: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for _ in 0..100 {
        let page = rest_events(t, p, token, all.len() as i64, 1000).await;
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
    panic!("log too long for a test");
}

async fn head(t: &TestServer, p: &str, token: &str) -> i64 {
    t.state(p, token).await["head"].as_i64().unwrap()
}

/// The event at `seq` as `token` sees it.
async fn event_at(t: &TestServer, p: &str, token: &str, seq: i64) -> Value {
    rest_events(t, p, token, seq - 1, 1).await.remove(0)
}

async fn propose(t: &TestServer, fx: &Fx, title: &str) -> String {
    let h = t
        .ok(
            &fx.p,
            &fx.fac,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    let e = event_at(t, &fx.p, &fx.fac, h).await;
    assert_eq!(e["kind"], "ItemProposed");
    e["data"]["item"].as_str().unwrap().to_string()
}

async fn open_round(t: &TestServer, fx: &Fx, items: &[&str]) -> String {
    let h = t
        .ok(&fx.p, &fx.fac, json!({"type": "OpenRound", "items": items}))
        .await;
    let e = event_at(t, &fx.p, &fx.fac, h).await;
    assert_eq!(e["kind"], "RoundOpened");
    e["data"]["round"].as_str().unwrap().to_string()
}

fn comment_cmd(text: &str) -> Value {
    json!({"type": "PostComment", "kind": "comment", "text": text})
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

/// (seq, kind, id) of each event: what every client must agree on.
fn keys(events: &[Value]) -> Vec<(i64, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["kind"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn range(from: i64, to: i64) -> Vec<i64> {
    (from..=to).collect()
}

/// Connects and reads through `caught_up`; returns the socket, the catch-up events, and the
/// snapshot frame if the server sent one.
async fn connect(
    t: &TestServer,
    p: &str,
    token: &str,
    since: i64,
) -> (Ws, Vec<Value>, Option<Value>) {
    let mut ws = t.ws(p, token, since).await;
    let mut events = Vec::new();
    let mut snapshot = None;
    loop {
        let f = ws.frame().await;
        match f["type"].as_str().unwrap() {
            "event" => events.push(f),
            "snapshot" => snapshot = Some(f),
            "caught_up" => return (ws, events, snapshot),
            _ => {}
        }
    }
}

/// Reads a socket until it closes; returns the close code and the event frames read on the way.
async fn until_closed(ws: &mut Ws) -> (Option<u16>, Vec<Value>) {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        match ws.next(Duration::from_secs(10)).await {
            Got::Frame(f) if f["type"] == "event" => events.push(f),
            Got::Frame(_) => {}
            Got::Closed(code) => return (code, events),
            Got::Timeout => panic!("socket not closed"),
        }
    }
    panic!("socket not closed after 10000 frames");
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn smoke_create_join_vote(t: &TestServer) {
    let fx = fixture(t).await;
    let (mut ws_bob, _, _) = connect(t, &fx.p, &fx.bob, 0).await;
    let item = propose(t, &fx, "Login").await;
    let round = open_round(t, &fx, &[&item]).await;
    let h = t
        .ok(
            &fx.p,
            &fx.ann,
            json!({"type": "CastVote", "round": round, "item": item, "card": "5"}),
        )
        .await;
    let events = ws_bob.events_until(h).await;
    let vote = events.last().unwrap();
    assert_eq!(vote["kind"], "VoteCast");
    assert!(vote["data"].get("card").is_none(), "sealed: {vote}");
}

/// Scenario 1: Two members and an observer see the same events in the same order, live.
async fn everyone_sees_the_same_sequence_live(t: &TestServer) {
    let fx = fixture(t).await;
    let mut clients = Vec::new();
    for token in [&fx.ann, &fx.bob, &fx.obs] {
        let (ws, events, snap) = connect(t, &fx.p, token, 0).await;
        assert!(snap.is_none());
        clients.push((ws, events));
    }
    let item = propose(t, &fx, "Search").await;
    // One command over the websocket, acknowledged after its event reached the author.
    clients[0]
        .0
        .send(json!({"type": "command", "op": "ws-c1", "command": comment_cmd("from ws")}))
        .await;
    let (ack, seen) = clients[0].0.until("ack").await;
    assert_eq!(ack["op"], "ws-c1");
    assert_eq!(ack["duplicate"], false);
    assert!(
        seen.iter().any(|e| e["seq"] == ack["head"]),
        "ack before its event"
    );
    clients[0].1.extend(seen);
    // Three writers at once, over REST.
    let write = |token: &str, who: &'static str| {
        let (p, token) = (fx.p.clone(), token.to_string());
        async move {
            for i in 0..8 {
                t.ok(&p, &token, comment_cmd(&format!("{who} {i}"))).await;
            }
        }
    };
    tokio::join!(
        write(&fx.fac, "fac"),
        write(&fx.ann, "ann"),
        write(&fx.obs, "obs")
    );
    t.ok(
        &fx.p,
        &fx.ann,
        json!({"type": "FlagItem", "item": item, "note": "unclear"}),
    )
    .await;
    let final_head = head(t, &fx.p, &fx.fac).await;
    let mut lists = Vec::new();
    for (ws, mut events) in clients {
        let mut ws = ws;
        let last = events.last().map_or(0, |e| e["seq"].as_i64().unwrap());
        if last < final_head {
            events.extend(ws.events_until(final_head).await);
        }
        assert_eq!(seqs(&events), range(1, final_head), "no gap, no duplicate");
        lists.push(keys(&events));
    }
    assert_eq!(lists[0], lists[1], "member and member");
    assert_eq!(lists[0], lists[2], "member and observer");
    assert_eq!(
        lists[0],
        keys(&all_rest_events(t, &fx.p, &fx.obs).await),
        "live == log"
    );
}

/// Scenario 2a: A late joiner gets all events (near) or a snapshot (far behind, or ahead of the head);
/// either way it ends where the live clients are.
async fn late_joiner_catches_up_by_events_or_snapshot(t: &TestServer) {
    let fx = fixture(t).await;
    let (mut live, mut live_events, _) = connect(t, &fx.p, &fx.ann, 0).await;
    for i in 0..30 {
        t.ok(&fx.p, &fx.fac, comment_cmd(&format!("c{i}"))).await;
    }
    let h = head(t, &fx.p, &fx.fac).await;
    live_events.extend(live.events_until(h).await);
    assert_eq!(seqs(&live_events), range(1, h));

    // Far behind (snapshot_after = 20): a snapshot at the head, equal to the REST view.
    let (_ws, events, snap) = connect(t, &fx.p, &fx.bob, 0).await;
    let snap = snap.expect("a snapshot when far behind");
    assert!(events.is_empty());
    assert_eq!(snap["at"], h);
    assert!(snap.get("seq").is_none(), "only event frames carry seq");
    let rest = t.state(&fx.p, &fx.bob).await;
    assert_eq!(rest["head"], h);
    assert_eq!(snap["state"], rest["state"], "snapshot == REST state");

    // Near: exactly the missing events, then caught_up at the head.
    let mut ws = t.ws(&fx.p, &fx.obs, h - 10).await;
    let (caught_up, events) = ws.until("caught_up").await;
    assert_eq!(caught_up["head"], h);
    assert_eq!(seqs(&events), range(h - 9, h));
    assert_eq!(keys(&events), keys(&live_events[(h - 10) as usize..]));

    // Exactly at the limit of `snapshot_after`: events, not a snapshot.
    let (_ws, events, snap) = connect(t, &fx.p, &fx.obs, h - 20).await;
    assert!(snap.is_none());
    assert_eq!(seqs(&events), range(h - 19, h));

    // Ahead of the head (a client of a lost future): a snapshot at the real head.
    let (mut ws, events, snap) = connect(t, &fx.p, &fx.obs, h + 100).await;
    assert!(events.is_empty());
    assert_eq!(snap.expect("snapshot when ahead")["at"], h);
    // ... and live events continue from there.
    let h2 = t.ok(&fx.p, &fx.fac, comment_cmd("after")).await;
    assert_eq!(seqs(&ws.events_until(h2).await), vec![h2]);
}

/// Scenario 2b: A client that drops in the middle of a stream of appends and resumes with
/// `since = last` gets exactly the missing events: no gap, no duplicate. The writer appends
/// before the drop, while the client is away, and after it is back.
async fn reconnect_mid_stream_gets_exactly_the_rest(t: &TestServer) {
    let fx = fixture(t).await;
    let base = head(t, &fx.p, &fx.fac).await;
    let (dropped, on_dropped) = tokio::sync::oneshot::channel::<()>();
    let (missed, on_missed) = tokio::sync::oneshot::channel::<()>();
    let (back, on_back) = tokio::sync::oneshot::channel::<()>();
    let (p, fac) = (&fx.p, &fx.fac);
    let write = |range: std::ops::Range<usize>| async move {
        for i in range {
            t.ok(p, fac, comment_cmd(&format!("w{i}"))).await;
        }
    };
    let writer = async {
        write(0..20).await;
        on_dropped.await.expect("the client dropped");
        write(20..40).await;
        let _ = missed.send(());
        on_back.await.expect("the client back");
        write(40..60).await;
    };
    let reader = async {
        let (mut ws, mut first, _) = connect(t, &fx.p, &fx.bob, 0).await;
        first.extend(ws.events_until(base + 10).await);
        let last = first.last().unwrap()["seq"].as_i64().unwrap();
        assert_eq!(seqs(&first), range(1, last));
        drop(ws);
        let _ = dropped.send(());
        on_missed.await.expect("appends while away");
        let (ws, rest, snap) = connect(t, &fx.p, &fx.bob, last).await;
        assert!(snap.is_none());
        let _ = back.send(());
        (last, ws, rest)
    };
    let ((), (last, mut ws, mut rest)) = tokio::join!(writer, reader);
    // At least the 20 appended while it was away came in the catch-up.
    assert!(
        rest.len() >= 20,
        "catch-up of {} events: {rest:?}",
        rest.len()
    );
    let h = head(t, &fx.p, &fx.fac).await;
    assert_eq!(h, base + 60);
    let got = rest.last().map_or(last, |e| e["seq"].as_i64().unwrap());
    assert!(got < h, "the last 20 appends come live after the catch-up");
    rest.extend(ws.events_until(h).await);
    assert_eq!(seqs(&rest), range(last + 1, h), "exactly the rest");
}

/// Scenario 3: Paging the log one event at a time while a writer appends yields exactly 1..N.
async fn rest_paging_by_one_while_writing(t: &TestServer) {
    let fx = fixture(t).await;
    let done = AtomicBool::new(false);
    let final_head = AtomicI64::new(i64::MAX);
    let writer = async {
        let mut h = 0;
        for i in 0..40 {
            h = t.ok(&fx.p, &fx.ann, comment_cmd(&format!("p{i}"))).await;
        }
        final_head.store(h, Ordering::SeqCst);
        done.store(true, Ordering::SeqCst);
    };
    let reader = async {
        let mut got = Vec::new();
        let mut after = 0;
        let started = Instant::now();
        while !(done.load(Ordering::SeqCst) && after >= final_head.load(Ordering::SeqCst)) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "paging stalled"
            );
            let page = rest_events(t, &fx.p, &fx.obs, after, 1).await;
            assert!(page.len() <= 1, "limit=1 gave {}", page.len());
            match page.first() {
                Some(e) => {
                    let seq = e["seq"].as_i64().unwrap();
                    assert_eq!(seq, after + 1, "a page skipped or repeated an event");
                    after = seq;
                    got.push(seq);
                }
                None => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        got
    };
    let ((), got) = tokio::join!(writer, reader);
    assert_eq!(got, range(1, final_head.load(Ordering::SeqCst)));
}

/// Everything a viewer can read about the planning, by route: the REST state view, the REST
/// event listing, a websocket catch-up from 0, and a websocket snapshot.
async fn every_route(t: &TestServer, p: &str, token: &str) -> Vec<(&'static str, Value)> {
    let state = t.state(p, token).await["state"].clone();
    let listing = Value::Array(all_rest_events(t, p, token).await);
    let (_ws, catch_up, _) = connect(t, p, token, 0).await;
    let (_ws, _, snap) = connect(t, p, token, 1_000_000).await;
    let snapshot = snap.expect("snapshot when ahead")["state"].clone();
    vec![
        ("GET state", state),
        ("GET events", listing),
        ("ws catch-up", Value::Array(catch_up)),
        ("ws snapshot", snapshot),
    ]
}

/// What `viewer` must not see, by route: votes of others before their reveal.
struct Sealed<'a> {
    viewer: &'a str,
    round: &'a str,
    /// Items whose votes are not revealed.
    items: Vec<&'a str>,
    /// Nonces of every vote (never shown to anyone but the voter).
    nonces: Vec<(&'a str, String)>,
}

impl Sealed<'_> {
    /// Panics if `v` (a state view, an event frame or a list of them) shows what it must not.
    fn check(&self, route: &str, v: &Value) {
        let text = v.to_string();
        for (voter, nonce) in &self.nonces {
            if *voter != self.viewer {
                assert!(!text.contains(nonce.as_str()), "{route}: a nonce leaked");
            }
        }
        if let Some(events) = v.as_array() {
            for e in events {
                self.check_event(route, e);
            }
        } else if v["type"] == "event" {
            self.check_event(route, v);
        } else {
            self.check_state(route, v);
        }
    }

    fn check_event(&self, route: &str, e: &Value) {
        let data = &e["data"];
        match e["kind"].as_str().unwrap() {
            "VoteCast" if data["voter"] != self.viewer => {
                assert!(
                    data.get("card").is_none() && data.get("nonce").is_none(),
                    "{route}: a sealed vote shown to {}: {e}",
                    self.viewer
                );
            }
            "VotesRevealed" => assert!(
                !self.items.iter().any(|i| data["item"] == *i),
                "{route}: revealed too early: {e}"
            ),
            _ => {}
        }
    }

    fn check_state(&self, route: &str, state: &Value) {
        let round = &state["rounds"][self.round];
        assert!(round.is_object(), "{route}: round missing");
        for (item, per_voter) in round["votes"].as_object().unwrap() {
            for (voter, vote) in per_voter.as_object().unwrap() {
                assert_eq!(vote["voted"], true);
                if voter != self.viewer && self.items.contains(&item.as_str()) {
                    assert!(vote.get("card").is_none(), "{route}: sealed card shown");
                }
                if voter != self.viewer {
                    // The state view shows only `voted` for others, revealed or not: values
                    // are public through `revealed`.
                    assert!(vote.get("card").is_none(), "{route}: card in votes");
                }
            }
        }
        for item in &self.items {
            assert!(
                round["revealed"].get(*item).is_none(),
                "{route}: {item} revealed too early"
            );
        }
    }
}

/// Checks, for every viewer and on every route, that one item is revealed and another sealed.
struct SealCtx<'a> {
    p: &'a str,
    viewers: &'a [(&'a String, &'a String)],
    round: &'a str,
    revealed: &'a str,
    sealed: &'a str,
    nonces: &'a [(&'a str, String)],
}

impl SealCtx<'_> {
    async fn check_everywhere(&self, t: &TestServer, phase: &str, live: &mut [Ws], upto: i64) {
        for (i, (token, id)) in self.viewers.iter().enumerate() {
            let sealed = Sealed {
                viewer: id,
                round: self.round,
                items: vec![self.sealed],
                nonces: self.nonces.to_vec(),
            };
            let frames = live[i].events_until(upto).await;
            sealed.check(&format!("{phase}: live ws"), &Value::Array(frames));
            for (route, v) in every_route(t, self.p, token).await {
                sealed.check(&format!("{phase}: {route}"), &v);
                if !v.is_array() {
                    let shown = &v["rounds"][self.round]["revealed"][self.revealed];
                    assert_eq!(shown.as_array().map(Vec::len), Some(2), "{phase}: {route}");
                }
            }
        }
    }
}

/// The author sees their own card on every route.
fn assert_own_card(route: &str, v: &Value, me: &str, round: &str, item: &str, card: &str) {
    if let Some(events) = v.as_array() {
        let mine = events
            .iter()
            .find(|e| {
                e["kind"] == "VoteCast" && e["data"]["voter"] == me && e["data"]["item"] == item
            })
            .unwrap_or_else(|| panic!("{route}: my vote missing"));
        assert_eq!(mine["data"]["card"], card, "{route}: my own card");
    } else {
        assert_eq!(
            v["rounds"][round]["votes"][item][me]["card"], card,
            "{route}: my own card in the state"
        );
    }
}

/// Scenario 4: A vote's value is visible to its author only until it is revealed, on every route and
/// for every other viewer (member, observer, facilitator); a converged item is revealed when
/// the round closes, a flagged one stays sealed until the facilitator reveals it live.
async fn votes_stay_sealed_until_revealed_on_every_route(t: &TestServer) {
    let fx = fixture(t).await;
    let x = propose(t, &fx, "Converges").await;
    let y = propose(t, &fx, "Diverges").await;
    let r = open_round(t, &fx, &[&x, &y]).await;
    let obs_id = t.state(&fx.p, &fx.obs).await["you"]["participant"]
        .as_str()
        .unwrap()
        .to_string();
    let viewers = [
        (&fx.ann, &fx.ann_id),
        (&fx.bob, &fx.bob_id),
        (&fx.obs, &obs_id),
        (&fx.fac, &fx.fac_id),
    ];
    let mut live = Vec::new();
    for (token, _) in &viewers {
        live.push(connect(t, &fx.p, token, 0).await.0);
    }
    let vote = json!({"type": "CastVote", "round": r, "item": x, "card": "5"});
    t.ok(&fx.p, &fx.ann, vote.clone()).await;
    t.ok(
        &fx.p,
        &fx.ann,
        json!({"type": "CastVote", "round": r, "item": y, "card": "1"}),
    )
    .await;
    let h = t.ok(&fx.p, &fx.bob, vote).await;

    // The nonces, as their authors see them.
    let mut nonces = Vec::new();
    for (token, id) in [(&fx.ann, &fx.ann_id), (&fx.bob, &fx.bob_id)] {
        for e in all_rest_events(t, &fx.p, token).await {
            if e["kind"] == "VoteCast" && e["data"]["voter"] == **id {
                nonces.push((
                    id.as_str(),
                    e["data"]["nonce"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    assert_eq!(nonces.len(), 3);

    // Before any reveal: nobody but the author sees a card, live or on any other route.
    for (i, (token, id)) in viewers.iter().enumerate() {
        let sealed = Sealed {
            viewer: id,
            round: &r,
            items: vec![&x, &y],
            nonces: nonces.clone(),
        };
        let frames = live[i].events_until(h).await;
        sealed.check("live ws", &Value::Array(frames.clone()));
        for (route, v) in every_route(t, &fx.p, token).await {
            sealed.check(route, &v);
        }
        if **id == fx.ann_id {
            assert_own_card("live ws", &Value::Array(frames), id, &r, &y, "1");
            for (route, v) in every_route(t, &fx.p, token).await {
                assert_own_card(route, &v, id, &r, &y, "1");
            }
        }
    }

    // Bob's last vote, over the websocket, closes the round: x converged (5, 5) is revealed
    // with its cards, y (1 vs 13: spread) is flagged and stays sealed.
    let (mut bob_cmd, _, _) = connect(t, &fx.p, &fx.bob, h).await;
    bob_cmd
        .send(json!({"type": "command", "op": "bob-y", "command":
            {"type": "CastVote", "round": r, "item": y, "card": "13"}}))
        .await;
    let (ack, _) = bob_cmd.until("ack").await;
    let h2 = ack["head"].as_i64().unwrap();
    let closing = rest_events(t, &fx.p, &fx.obs, h, 100).await;
    let kinds: Vec<&str> = closing
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed",
            "ItemFlagged"
        ]
    );
    let revealed = &closing[2]["data"];
    assert_eq!(revealed["item"], x.as_str());
    let mut cards: Vec<(String, String)> = revealed["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["voter"].as_str().unwrap().into(),
                v["card"].as_str().unwrap().into(),
            )
        })
        .collect();
    cards.sort();
    let mut want = vec![
        (fx.ann_id.clone(), "5".to_string()),
        (fx.bob_id.clone(), "5".into()),
    ];
    want.sort();
    assert_eq!(cards, want, "a converged item is revealed with its cards");
    assert_eq!(closing[4]["data"]["item"], y.as_str());
    assert_eq!(closing[4]["data"]["reason"], "spread");
    assert!(
        !closing[4].to_string().contains("\"13\""),
        "a flag never names values"
    );

    let bob_nonce_y = all_rest_events(t, &fx.p, &fx.bob)
        .await
        .into_iter()
        .find(|e| {
            e["kind"] == "VoteCast"
                && e["data"]["item"] == y.as_str()
                && e["data"]["voter"] == fx.bob_id
        })
        .unwrap()["data"]["nonce"]
        .as_str()
        .unwrap()
        .to_string();
    nonces.push((fx.bob_id.as_str(), bob_nonce_y));

    let ctx = SealCtx {
        p: &fx.p,
        viewers: &viewers,
        round: &r,
        revealed: &x,
        sealed: &y,
        nonces: &nonces,
    };
    ctx.check_everywhere(t, "after close", &mut live, h2).await;

    // The live session starts: still sealed until the facilitator reveals.
    let h3 = t.ok(&fx.p, &fx.fac, json!({"type": "StartSync"})).await;
    ctx.check_everywhere(t, "after StartSync", &mut live, h3)
        .await;

    let h4 = t
        .ok(
            &fx.p,
            &fx.fac,
            json!({"type": "RevealVotes", "round": r, "item": y}),
        )
        .await;
    for (i, (token, _)) in viewers.iter().enumerate() {
        let frames = live[i].events_until(h4).await;
        let reveal = frames.last().unwrap();
        assert_eq!(reveal["kind"], "VotesRevealed");
        let mut got: Vec<&str> = reveal["data"]["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["card"].as_str().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, ["1", "13"], "revealed to everyone at once");
        let state = t.state(&fx.p, token).await;
        assert_eq!(
            state["state"]["rounds"][&r]["revealed"][&y]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let listed = event_at(t, &fx.p, token, h4).await;
        assert_eq!(listed["data"], reveal["data"]);
    }
}

/// Scenario 5: Retries apply once; conflicts, wrong roles, foreign and revoked tokens write nothing.
async fn retries_conflicts_roles_and_tokens(t: &TestServer) {
    let fx = fixture(t).await;
    let path = format!("/api/plannings/{}/commands", fx.p);
    let propose_a = json!({"type": "ProposeItem", "draft": {"title": "A"}});

    // A REST retry: appended once, the original head, `duplicate`.
    let (s1, b1) = t.command(&fx.p, &fx.fac, "op-1", propose_a.clone()).await;
    assert_eq!(s1, 200, "{b1}");
    assert_eq!(b1["duplicate"], false);
    let (s2, b2) = t.command(&fx.p, &fx.fac, "op-1", propose_a.clone()).await;
    assert_eq!(s2, 200, "{b2}");
    assert_eq!(
        (&b2["first"], &b2["head"], &b2["duplicate"]),
        (&b1["first"], &b1["head"], &json!(true))
    );
    let h = b1["head"].as_i64().unwrap();
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);

    // The same op id with another command.
    let (s, b) = t
        .command(
            &fx.p,
            &fx.fac,
            "op-1",
            json!({"type": "ProposeItem", "draft": {"title": "B"}}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("op_conflict")),
        "{b}"
    );

    // Over the websocket: ack, duplicate ack, op conflict.
    let (mut ws, _, _) = connect(t, &fx.p, &fx.fac, h).await;
    let cmd =
        |op: &str, text: &str| json!({"type": "command", "op": op, "command": comment_cmd(text)});
    ws.send(cmd("ws-1", "hello")).await;
    let (a1, _) = ws.until("ack").await;
    assert_eq!(
        (a1["op"].as_str(), &a1["duplicate"]),
        (Some("ws-1"), &json!(false))
    );
    assert!(a1.get("seq").is_none(), "acks carry no seq");
    let h = a1["head"].as_i64().unwrap();
    ws.send(cmd("ws-1", "hello")).await;
    let (a2, events) = ws.until("ack").await;
    assert!(events.is_empty());
    assert_eq!((&a2["head"], &a2["duplicate"]), (&json!(h), &json!(true)));
    ws.send(cmd("ws-1", "other")).await;
    let (e, _) = ws.until("error").await;
    assert_eq!(
        (e["op"].as_str(), e["code"].as_str()),
        (Some("ws-1"), Some("op_conflict"))
    );
    // The same op over REST is the same command of the same participant.
    let (s, b) = t
        .command(&fx.p, &fx.fac, "ws-1", comment_cmd("hello"))
        .await;
    assert_eq!(
        (s, &b["duplicate"], &b["head"]),
        (200, &json!(true), &json!(h)),
        "{b}"
    );
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);

    // A stale expected_seq.
    let (s, b) = t
        .post(
            &path,
            Some(fx.fac.as_str()),
            json!({"client_op_id": "stale", "expected_seq": h - 1, "command": comment_cmd("x")}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{b}"
    );
    assert_eq!(b["error"]["head"], h);
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);
    // The current one works.
    let (s, b) = t
        .post(
            &path,
            Some(fx.fac.as_str()),
            json!({"client_op_id": "fresh", "expected_seq": h, "command": comment_cmd("x")}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let h = h + 1;

    // Wrong roles write nothing.
    let item = propose(t, &fx, "C").await;
    let h = h + 1;
    let (s, b) = t
        .command(
            &fx.p,
            &fx.ann,
            "m-open",
            json!({"type": "OpenRound", "items": [item]}),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);
    let round = open_round(t, &fx, &[&item]).await;
    let h = h + 1;
    let (s, b) = t
        .command(
            &fx.p,
            &fx.obs,
            "o-vote",
            json!({"type": "CastVote", "round": round, "item": item, "card": "3"}),
        )
        .await;
    assert_eq!(s, 403, "an observer never votes: {b}");
    let (s, _) = t
        .post(
            &format!("/api/plannings/{}/invites", fx.p),
            Some(fx.ann.as_str()),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(s, 403, "only the facilitator rotates invites");
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);

    // A token of planning A on planning B.
    let other = t.create("Other team").await;
    let (s, _) = t
        .get(
            &format!("/api/plannings/{}", other.planning),
            Some(fx.fac.as_str()),
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = t
        .command(&other.planning, &fx.fac, "x", comment_cmd("x"))
        .await;
    assert_eq!(s, 401);
    assert_eq!(t.ws_refused(&other.planning, &fx.fac).await, 401);
    assert_eq!(head(t, &other.planning, &other.token).await, 1);

    // Removal: REST refuses at once, the open socket gets the removal, then 4003.
    let (mut bob_ws, _, _) = connect(t, &fx.p, &fx.bob, 0).await;
    let (s, b) = t
        .delete(
            &format!("/api/plannings/{}/participants/{}", fx.p, fx.bob_id),
            Some(fx.fac.as_str()),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = t
        .get(&format!("/api/plannings/{}", fx.p), Some(fx.bob.as_str()))
        .await;
    assert_eq!(
        s, 401,
        "a removed participant's token stops working at once"
    );
    let (code, events) = until_closed(&mut bob_ws).await;
    assert_eq!(code, Some(4003));
    assert_eq!(events.last().unwrap()["kind"], "ParticipantRemoved");
    assert_eq!(t.ws_refused(&fx.p, &fx.bob).await, 401);

    // Rotating the member invite: the old one is refused, the new one works.
    let (s, b) = t
        .post(
            &format!("/api/plannings/{}/invites", fx.p),
            Some(fx.fac.as_str()),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let new_invite = b["invite"].as_str().unwrap().to_string();
    let (s, b) = t
        .post(
            &format!("/api/plannings/{}/join", fx.p),
            None,
            json!({"invite": fx.member_invite, "name": "Late"}),
        )
        .await;
    assert_eq!(s, 403, "old invite: {b}");
    let (_, tok) = t.join(&fx.p, &new_invite, "Late").await;
    assert_eq!(t.state(&fx.p, &tok).await["you"]["role"], "member");

    // A new personal link that revokes the old one, open socket included.
    let (mut ann_ws, _, _) = connect(t, &fx.p, &fx.ann, 0).await;
    let (s, b) = t
        .post(
            &format!("/api/plannings/{}/participants/{}/link", fx.p, fx.ann_id),
            Some(fx.fac.as_str()),
            json!({"revoke_previous": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let new_token = b["token"].as_str().unwrap().to_string();
    let (s, _) = t
        .get(&format!("/api/plannings/{}", fx.p), Some(fx.ann.as_str()))
        .await;
    assert_eq!(s, 401, "the old token is dead");
    let (code, _) = until_closed(&mut ann_ws).await;
    assert_eq!(code, Some(4003));
    let me = t.state(&fx.p, &new_token).await;
    assert_eq!(me["you"]["participant"], fx.ann_id.as_str());
    let (mut ws, _, _) = connect(t, &fx.p, &new_token, 0).await;
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.until("pong").await.0["type"], "pong");
}

/// Scenario 6: A client that stops reading is closed (4008) without holding anyone else back, and
/// resumes losslessly with `since`.
async fn slow_consumer_is_closed_while_others_keep_up(t: &TestServer) {
    let fx = fixture(t).await;
    let (reader, caught, _) = connect(t, &fx.p, &fx.ann, 0).await;
    let mut slow = t.ws_small_window(&fx.p, &fx.bob, 0, 4096).await;
    let big = "x".repeat(15_000);

    let target = AtomicI64::new(i64::MAX);
    let reading = async {
        let mut reader = reader;
        let mut got = seqs(&caught);
        let started = Instant::now();
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(40),
                "reader stalled"
            );
            let last = got.last().copied().unwrap_or(0);
            if last >= target.load(Ordering::SeqCst) {
                return got;
            }
            match reader.next(Duration::from_millis(200)).await {
                Got::Frame(f) if f["type"] == "event" => got.push(f["seq"].as_i64().unwrap()),
                Got::Frame(_) | Got::Timeout => {}
                Got::Closed(code) => panic!("the reading client was closed: {code:?}"),
            }
        }
    };
    let writing = async {
        let mut h = 0;
        let mut closed_at = None;
        for i in 0..400 {
            h = t
                .ok(&fx.p, &fx.fac, comment_cmd(&format!("{i} {big}")))
                .await;
            if closed_at.is_none()
                && i % 10 == 9
                && t.metric("sprintlog_slow_consumer_closes_total").await >= 1.0
            {
                closed_at = Some(i);
            }
            if closed_at.is_some_and(|c| i >= c + 5) {
                break;
            }
        }
        assert!(closed_at.is_some(), "the slow client was never closed");
        target.store(h, Ordering::SeqCst);
        h
    };
    let (got, h) = tokio::join!(reading, writing);
    assert_eq!(got, range(1, h), "the reading client got every event");

    // The slow client finds whatever was buffered, then the end of the stream (the server
    // could not even queue a close frame for it) or a 4008 close.
    let (code, events) = until_closed(&mut slow).await;
    assert!(matches!(code, None | Some(4008)), "close code {code:?}");
    let last = events.last().map_or(0, |e| e["seq"].as_i64().unwrap());
    assert_eq!(seqs(&events), range(1, last), "what it got has no gap");
    assert!(last < h, "it fell behind");

    // It resumes with exactly the rest.
    let (mut ws, mut rest, snap) = connect(t, &fx.p, &fx.bob, last).await;
    assert!(snap.is_none());
    let got = rest.last().map_or(last, |e| e["seq"].as_i64().unwrap());
    if got < h {
        rest.extend(ws.events_until(h).await);
    }
    assert_eq!(seqs(&rest), range(last + 1, h));
}

/// Scenario 7: Malformed frames and bodies are refused with an error, the connection stays usable and
/// nothing is written.
async fn bad_frames_and_bodies_are_refused_without_writes(t: &TestServer) {
    let fx = fixture(t).await;
    let h = head(t, &fx.p, &fx.fac).await;
    let (mut ws, _, _) = connect(t, &fx.p, &fx.fac, h).await;
    let too_big =
        json!({"type": "command", "op": "big", "command": comment_cmd(&"y".repeat(20 * 1024))});
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_json"),
        ("[1,2]".into(), "invalid_body"),
        (json!({"type": "subscribe"}).to_string(), "invalid_body"),
        (json!({"type": "command", "op": "u1", "command": {"type": "DropDatabase"}}).to_string(), "invalid_body"),
        (json!({"type": "command", "op": "u2", "command": {"type": "PostComment", "kind": "comment", "text": "x", "evil": 1}}).to_string(), "invalid_body"),
        (json!({"type": "command", "op": "u3", "command": comment_cmd("x"), "extra": true}).to_string(), "invalid_body"),
        (too_big.to_string(), "frame_too_large"),
    ];
    for (text, code) in &cases {
        ws.send_raw(text).await;
        // The very next frame is the error: no event was written and broadcast.
        let mut err = ws.frame().await;
        while err["type"] == "presence" {
            err = ws.frame().await;
        }
        let shown = &text[..text.len().min(80)];
        assert_eq!(err["type"], "error", "for {shown}: {err}");
        assert_eq!(err["code"], *code, "for {shown}");
        ws.send(json!({"type": "ping"})).await;
        ws.until("pong").await;
    }
    ws.socket
        .send(tokio_tungstenite::tungstenite::Message::Binary(
            vec![1, 2, 3].into(),
        ))
        .await
        .unwrap();
    assert_eq!(ws.until("error").await.0["code"], "bad_frame");
    // A bad command (valid frame) gets an error naming its op.
    ws.send(json!({"type": "command", "op": "bad-op", "command": {"type": "CastVote",
        "round": "00000000-0000-0000-0000-000000000001", "item": "00000000-0000-0000-0000-000000000002", "card": "5"}}))
        .await;
    let (err, _) = ws.until("error").await;
    assert_eq!(err["op"], "bad-op");
    ws.send(json!({"type": "ping"})).await;
    ws.until("pong").await;
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);

    // REST: every refusal is a JSON error with a code.
    let path = format!("/api/plannings/{}/commands", fx.p);
    let rest_cases: Vec<(String, Vec<u16>)> = vec![
        ("{not json".into(), vec![400]),
        (json!({"client_op_id": "r1", "command": comment_cmd("x"), "extra": 1}).to_string(), vec![422]),
        (json!({"client_op_id": "r2", "command": {"type": "DropDatabase"}}).to_string(), vec![422]),
        (json!({"client_op_id": "r3", "command": {"type": "PostComment", "kind": "comment", "text": "x", "evil": 1}}).to_string(), vec![422]),
        (json!({"client_op_id": "", "command": comment_cmd("x")}).to_string(), vec![400]),
    ];
    for (body, statuses) in rest_cases {
        let shown = body[..body.len().min(80)].to_string();
        let (status, text) = t.post_raw(&path, Some(fx.fac.as_str()), body).await;
        assert!(
            statuses.contains(&status),
            "{shown}: status {status}: {text}"
        );
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{shown}: not a JSON error: {text:?}"));
        assert!(v["error"]["code"].is_string(), "{shown}: no code: {v}");
    }
    // A body over the limit (100 KiB), refused by its length.
    let (status, text) = t
        .post_oversized(&path, &fx.fac, "application/json", 100 * 1024)
        .await;
    assert_eq!(status, 413, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    assert_eq!(v["error"]["code"], "too_large", "{v}");
    // The same for the other JSON routes (join, create).
    let (status, text) = t
        .post_raw(&format!("/api/plannings/{}/join", fx.p), None, "{".into())
        .await;
    assert_eq!(status, 400);
    assert!(
        serde_json::from_str::<Value>(&text).is_ok_and(|v| v["error"]["code"].is_string()),
        "{text}"
    );
    assert_eq!(head(t, &fx.p, &fx.fac).await, h);
}

/// Scenario 8: Health and Prometheus metrics.
async fn health_and_metrics(t: &TestServer) {
    let (s, body) = t.get_text("/healthz").await;
    assert_eq!(s, 200, "{body}");
    let fx = fixture(t).await;
    let (_ws, _, _) = connect(t, &fx.p, &fx.ann, 0).await;
    let (s, text) = t.get_text("/metrics").await;
    assert_eq!(s, 200);
    for name in [
        "sprintlog_connections",
        "sprintlog_events_appended_total",
        "sprintlog_append_seconds_bucket",
        "sprintlog_slow_consumer_closes_total",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(t.metric("sprintlog_connections").await >= 1.0);
    assert!(t.metric("sprintlog_events_appended_total").await >= 4.0);
}
