//! The server does what docs/protocol.md says, one rule per case: malformed input (REST and
//! websocket alike), a busy planning and its retry, the read budget of `state_at`, the UTC
//! twin of `proposed_at`, out-of-range query values on every route, joins with the token of
//! someone removed or under another name, refusals in plain words, and `verify`'s bounded work.

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

fn limits() -> Limits {
    Limits {
        command_rate: 10_000,
        command_burst: 10_000,
        read_rate: 10_000,
        read_burst: 10_000,
        ..Limits::default()
    }
}

/// Words of the web framework, serde or Rust that must never reach a client.
const RAW: &[&str] = &[
    "Failed to",
    "Invalid URL",
    "deserialize",
    "`",
    "i64",
    "u32",
    "u64",
    "usize",
    "struct ",
    "variant",
    "join:",
];

#[track_caller]
fn plain(message: &str) {
    for raw in RAW {
        assert!(!message.contains(raw), "{raw:?} in {message:?}");
    }
}

/// The next `error` frame (other frames skipped).
async fn error_frame(ws: &mut Ws) -> Value {
    loop {
        let f = ws.frame().await;
        if f["type"] == "error" {
            return f;
        }
    }
}

/// Not JSON: 400 `bad_json`; JSON of the wrong shape: 422 `invalid_body` naming the field;
/// well-formed and refused by the rules: 400 with the rule's code. The same codes over the
/// websocket, a command frame's error naming its op.
async fn malformed_commands_follow_one_rule(t: &TestServer) {
    let c = t.create("Rules").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let cmds = format!("/api/plannings/{p}/commands");
    let cases = [
        (
            "hello".to_string(),
            400,
            "bad_json",
            "the body is not valid JSON",
        ),
        (
            json!({"client_op_id": "a", "command": {"type": "DraftGoal"}}).to_string(),
            422,
            "invalid_body",
            "“command.text” is missing",
        ),
        (
            json!({"client_op_id": "b", "command": {"type": "Nope"}}).to_string(),
            422,
            "invalid_body",
            "“command.type” cannot be “Nope”",
        ),
        (
            json!({"client_op_id": "c", "command": {"type": "DraftGoal", "text": 5}}).to_string(),
            422,
            "invalid_body",
            "“command.text” must be text, not a number",
        ),
        (
            json!({"client_op_id": "d", "command": {"type": "DraftGoal", "text": " "}}).to_string(),
            400,
            "empty",
            "goal must not be empty",
        ),
    ];
    for (body, status, code, words) in &cases {
        let (s, b) = t.post_raw(&cmds, Some(tok), body.clone()).await;
        let b: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (*status, Some(*code)),
            "{body}: {b}"
        );
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(words), "{body}: {message}");
        plain(message);
    }

    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    let frames = [
        ("hello".to_string(), None, "bad_json"),
        (
            json!({"type": "command", "op": "w1", "command": {"type": "DraftGoal"}}).to_string(),
            Some("w1"),
            "invalid_body",
        ),
        (
            json!({"type": "command", "op": "w2", "command": {"type": "Nope"}}).to_string(),
            Some("w2"),
            "invalid_body",
        ),
        (
            json!({"type": "command", "op": "w3", "command": {"type": "DraftGoal", "text": " "}})
                .to_string(),
            Some("w3"),
            "empty",
        ),
    ];
    for (text, op, code) in &frames {
        ws.send_raw(text).await;
        let f = error_frame(&mut ws).await;
        assert_eq!(f["code"], *code, "{text}: {f}");
        assert_eq!(f["op"].as_str(), *op, "{text}: {f}");
        plain(f["message"].as_str().unwrap());
    }
    let f = {
        ws.send_raw(
            &json!({"type": "command", "op": "w4", "command": {"type": "DraftGoal"}}).to_string(),
        )
        .await;
        error_frame(&mut ws).await
    };
    assert_eq!(f["message"], "“command.text” is missing", "{f}");
}
on_both_backends!(malformed_commands_follow_one_rule, limits());

/// Every refusal of unreadable input is in plain words: malformed JSON, a wrong type, a
/// missing field, a bad query value, a bad path id, a bad websocket frame.
async fn refusals_of_unreadable_input_are_plain_words(t: &TestServer) {
    let c = t.create("Words").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let mut answers: Vec<(u16, Value)> = Vec::new();
    let (s, b) = t
        .post_raw("/api/plannings", None, "{\"title\": ".into())
        .await;
    answers.push((s, serde_json::from_str(&b).unwrap()));
    answers.push(
        t.post("/api/plannings", None, json!({"title": 5, "name": "Fran"}))
            .await,
    );
    answers.push(
        t.post("/api/plannings", None, json!({"title": "Sprint"}))
            .await,
    );
    answers.push(
        t.get(&format!("/api/plannings/{p}/events?limit=ten"), Some(tok))
            .await,
    );
    answers.push(
        t.get(
            &format!("/api/plannings/{p}/timeline?chapters=maybe"),
            Some(tok),
        )
        .await,
    );
    answers.push(
        t.get(
            &format!("/api/plannings/{p}/items/not-an-id/comments"),
            Some(tok),
        )
        .await,
    );
    let (s, b) = t
        .post_raw("/api/plannings/%FF%FE/join", None, "{}".into())
        .await;
    answers.push((s, serde_json::from_str(&b).expect("a JSON refusal")));
    let want = [
        (400, "bad_json", "the body ends before its JSON does"),
        (422, "invalid_body", "“title” must be text, not a number"),
        (422, "invalid_body", "“name” is missing"),
        (
            400,
            "bad_query",
            "the query parameter limit must be a whole number",
        ),
        (
            400,
            "bad_query",
            "the query parameter chapters must be true or false",
        ),
        (404, "not_found", "item not found"),
        (404, "not_found", "nothing is at this address"),
    ];
    for ((s, b), (status, code, message)) in answers.iter().zip(want) {
        assert_eq!(
            (
                *s,
                b["error"]["code"].as_str(),
                b["error"]["message"].as_str()
            ),
            (status, Some(code), Some(message)),
            "{b}"
        );
    }

    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    for frame in [
        json!({"type": "launch"}).to_string(),
        json!({"type": "state_at", "at": "one"}).to_string(),
        json!({"type": "command", "op": "x", "command": {"type": "CastVote", "round": "r", "item": "i", "card": "5"}}).to_string(),
    ] {
        ws.send_raw(&frame).await;
        let f = error_frame(&mut ws).await;
        assert_eq!(f["code"], "invalid_body", "{frame}: {f}");
        plain(f["message"].as_str().unwrap());
    }
    ws.send_raw(&json!({"type": "command", "op": "y", "command": {"type": "CastVote", "round": "r", "item": "i", "card": "5"}}).to_string())
        .await;
    let f = error_frame(&mut ws).await;
    assert_eq!(f["message"], "“command.item” is not an id", "{f}");
}
on_both_backends!(refusals_of_unreadable_input_are_plain_words, limits());

/// A planning's queue of commands is bounded (`--room-queue`): past it a command is refused
/// with `busy` and nothing written; sent again with the same op it applies, once.
async fn a_busy_command_retried_applies_once(t: &TestServer) {
    let c = t.create("Busy").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    let command =
        |i: usize| json!({"type": "ProposeItem", "draft": {"title": format!("item {i}")}});
    let frame =
        |i: usize| json!({"type": "command", "op": format!("op-{i}"), "command": command(i)});
    let mut sent = 0;
    let mut answers: BTreeMap<String, Value> = BTreeMap::new();
    // Bursts until the queue overflows at least once (a burst of 40 on a queue of 1 does at
    // once, unless the writer is faster than the socket).
    for _ in 0..20 {
        let burst: Vec<Value> = (sent..sent + 40).map(frame).collect();
        ws.send_all(&burst).await;
        sent += 40;
        while answers.len() < sent {
            let f = ws.frame().await;
            if f["type"] == "ack" || f["type"] == "error" {
                answers.insert(f["op"].as_str().unwrap().to_string(), f);
            }
        }
        if answers.values().any(|f| f["code"] == "busy") {
            break;
        }
    }
    let busy: Vec<String> = answers
        .iter()
        .filter(|(_, f)| f["code"] == "busy")
        .map(|(op, _)| op.clone())
        .collect();
    assert!(!busy.is_empty(), "no command was refused as busy");
    for (op, f) in &answers {
        assert!(f["type"] == "ack" || f["code"] == "busy", "{op}: {f}");
    }
    let busy_message = answers[&busy[0]]["message"].as_str().unwrap().to_string();
    assert!(busy_message.contains("retry"), "{busy_message}");
    // Retried one at a time, each busy command applies.
    for op in &busy {
        let i: usize = op.trim_start_matches("op-").parse().unwrap();
        ws.send(frame(i)).await;
        let f = loop {
            let f = ws.frame().await;
            if f["op"] == op.as_str() {
                break f;
            }
        };
        assert_eq!(
            (f["type"].as_str(), f["duplicate"].as_bool()),
            (Some("ack"), Some(false)),
            "{f}"
        );
    }
    // Every op once: sent again, each is a duplicate, and the backlog holds each item once.
    let all: Vec<Value> = (0..sent).map(frame).collect();
    ws.send_all(&all[..40]).await;
    let mut again = 0;
    while again < 40 {
        let f = ws.frame().await;
        if f["type"] == "ack" {
            assert_eq!(f["duplicate"], true, "{f}");
            again += 1;
        } else if f["type"] == "error" {
            assert_eq!(f["code"], "busy", "{f}");
            again += 1;
        }
    }
    let state = t.state(p, tok).await;
    let titles: Vec<&str> = state["state"]["items"]
        .as_object()
        .unwrap()
        .values()
        .map(|i| i["draft"]["title"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = titles.iter().copied().collect();
    assert_eq!((titles.len(), unique.len()), (sent, sent));
}
on_both_backends!(
    a_busy_command_retried_applies_once,
    Limits {
        room_queue: 1,
        ..limits()
    }
);

/// `state_at` takes from the read budget, not the command budget: past views asked for over a
/// websocket leave the token's commands alone.
async fn state_at_takes_the_read_budget(t: &TestServer) {
    let c = t.create("Budgets").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    for i in 0..6 {
        ws.send(json!({"type": "state_at", "at": 1, "req": format!("r{i}")}))
            .await;
        let (f, _) = ws.until("state_at").await;
        assert_eq!(f["req"], format!("r{i}"));
    }
    for i in 0..3 {
        ws.send(json!({"type": "command", "op": format!("c{i}"), "command": {"type": "ProposeItem", "draft": {"title": format!("item {i}")}}}))
            .await;
        let f = loop {
            let f = ws.frame().await;
            if f["type"] == "ack" || f["type"] == "error" {
                break f;
            }
        };
        assert_eq!(f["type"], "ack", "{f}");
    }
}
on_both_backends!(
    state_at_takes_the_read_budget,
    Limits {
        command_rate: 1,
        command_burst: 3,
        read_rate: 1,
        read_burst: 20,
        ..Limits::default()
    }
);

/// An item's `proposed_at` has its `_utc` twin, as every other time.
async fn proposed_at_has_its_utc_twin(t: &TestServer) {
    let c = t.create("Twins").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    t.ok(
        p,
        tok,
        json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
    )
    .await;
    let state = t.state(p, tok).await;
    let item = state["state"]["items"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    let at = item["proposed_at"].as_i64().expect("proposed_at");
    let utc = item["proposed_at_utc"].as_str().expect("proposed_at_utc");
    let parsed: jiff::Timestamp = utc.parse().unwrap();
    assert_eq!(parsed.as_microsecond(), at);
}
on_both_backends!(proposed_at_has_its_utc_twin, limits());

/// Every query parameter of every route: a value outside its range is 400 `out_of_range`
/// naming the parameter and the range, a value not of its kind 400 `bad_query`; the bounds
/// themselves are accepted.
async fn query_values_out_of_range_are_refused_on_every_route(t: &TestServer) {
    let c = t.create("Ranges").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    t.ok(
        p,
        tok,
        json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
    )
    .await;
    let state = t.state(p, tok).await;
    let head = state["head"].as_i64().unwrap();
    let item = state["state"]["rank"][0].as_str().unwrap().to_string();
    let base = format!("/api/plannings/{p}");
    let refused = [
        (format!("{base}?at=-1"), "out_of_range", "at"),
        (format!("{base}?at={}", head + 1), "out_of_range", "at"),
        (format!("{base}?at=x"), "bad_query", "at"),
        (format!("{base}/events?after=-1"), "out_of_range", "after"),
        (format!("{base}/events?limit=0"), "out_of_range", "limit"),
        (format!("{base}/events?limit=1001"), "out_of_range", "limit"),
        (format!("{base}/timeline?after=-1"), "out_of_range", "after"),
        (format!("{base}/timeline?limit=0"), "out_of_range", "limit"),
        (
            format!("{base}/timeline?limit=1001"),
            "out_of_range",
            "limit",
        ),
        (
            format!("{base}/timeline?chapters=2"),
            "bad_query",
            "chapters",
        ),
        (format!("{base}/digest?since=-1"), "out_of_range", "since"),
        (format!("{base}/digest?format=pdf"), "bad_query", "format"),
        (format!("{base}/audit?format=pdf"), "bad_query", "format"),
        (format!("{base}/comments?limit=0"), "out_of_range", "limit"),
        (
            format!("{base}/comments?limit=501"),
            "out_of_range",
            "limit",
        ),
        (format!("{base}/comments?before=-1"), "bad_query", "before"),
        (
            format!("{base}/items/{item}/comments?limit=501"),
            "out_of_range",
            "limit",
        ),
        (format!("{base}/slots?minutes=0"), "out_of_range", "minutes"),
        (
            format!("{base}/slots?minutes=481"),
            "out_of_range",
            "minutes",
        ),
        (format!("{base}/slots?step=7"), "out_of_range", "step"),
        (format!("{base}/slots?limit=0"), "out_of_range", "limit"),
        (format!("{base}/slots?limit=51"), "out_of_range", "limit"),
        (
            format!("{base}/slots?from=2026-06-16T00:00:00Z&to=2026-06-01T00:00:00Z"),
            "out_of_range",
            "to",
        ),
        (format!("{base}/slots?from=monday"), "bad_query", "from"),
        (
            format!("{base}/fit?start=2026-06-16T09:00:00Z&minutes=481"),
            "out_of_range",
            "minutes",
        ),
        (format!("{base}/fit?start=soon"), "bad_query", "start"),
        (format!("{base}/fit"), "bad_query", "start"),
        (
            format!("{base}/export/estimates?format=pdf"),
            "bad_query",
            "format",
        ),
    ];
    for (route, code, name) in &refused {
        let (s, b) = t.get(route, Some(tok)).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some(*code)),
            "{route}: {b}"
        );
        let message = b["error"]["message"].as_str().unwrap();
        assert!(message.contains(name), "{route}: {message}");
        if *code == "out_of_range" {
            assert!(
                message.chars().any(|c| c.is_ascii_digit()),
                "{route}: {message}"
            );
        }
        plain(message);
    }
    let (s, b) = t
        .post_raw(
            &format!("{base}/import?format=pdf"),
            Some(tok),
            "title\nx\n".into(),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("bad_query"), "{b}");
    // The bounds themselves are fine.
    for route in [
        format!("{base}?at=0"),
        format!("{base}?at={head}"),
        format!("{base}/events?after=0&limit=1000"),
        format!("{base}/events?after={}&limit=1", head + 50),
        format!("{base}/timeline?after=0&limit=1"),
        format!("{base}/digest?since=0"),
        format!("{base}/comments?limit=500"),
        format!("{base}/slots?minutes=480&step=60&limit=50"),
        format!("{base}/fit?start=2026-06-16T09:00:00Z&minutes=480"),
    ] {
        let (s, b) = t.get(&route, Some(tok)).await;
        assert_eq!(s, 200, "{route}: {b}");
    }
    // The websocket's: `since` on connecting, `at` of a `state_at`.
    let url = format!("{}/ws/plannings/{p}?token={tok}&since=-1", t.ws_base);
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 400)
        }
        other => panic!("since=-1 was not refused: {:?}", other.map(|_| ())),
    }
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "state_at", "at": head + 1, "req": "far"}))
        .await;
    let f = error_frame(&mut ws).await;
    assert_eq!(
        (f["code"].as_str(), f["op"].as_str()),
        (Some("out_of_range"), Some("far"))
    );
    assert_eq!(f["message"], format!("at must be 0 to {head}"));
}
on_both_backends!(
    query_values_out_of_range_are_refused_on_every_route,
    limits()
);

/// The join body with a client-drawn token.
fn join_body(invite: &str, name: &str, token: &str) -> Value {
    json!({"invite": invite, "name": name, "token": token})
}

/// A removed member's token does not join again (403 `removed`, in plain words); a new token
/// joins as a new participant. The same token under another name is refused in plain words,
/// without the server's internal op id.
async fn joins_refuse_a_removed_token_and_another_name(t: &TestServer) {
    let c = t.create("Joins").await;
    let (p, fac) = (c.planning.as_str(), c.token.as_str());
    let join = format!("/api/plannings/{p}/join");
    let ann_token = "a1".repeat(32);
    let (s, b) = t
        .post(&join, None, join_body(&c.member_invite, "Ann", &ann_token))
        .await;
    assert_eq!(s, 200, "{b}");
    let ann = b["participant"].as_str().unwrap().to_string();

    // Another name with the same token.
    let (s, b) = t
        .post(&join, None, join_body(&c.member_invite, "Anne", &ann_token))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("op_conflict")),
        "{b}"
    );
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains("another name"), "{message}");
    assert!(!message.contains(&ann), "no participant id: {message}");
    plain(message);
    // The same name again: the same answer (a retry).
    let (s, b) = t
        .post(&join, None, join_body(&c.member_invite, "Ann", &ann_token))
        .await;
    assert_eq!(
        (s, b["participant"].as_str()),
        (200, Some(ann.as_str())),
        "{b}"
    );

    // Removed, Ann's token does not join again.
    let (s, b) = t
        .delete(&format!("/api/plannings/{p}/participants/{ann}"), Some(fac))
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = t
        .post(&join, None, join_body(&c.member_invite, "Ann", &ann_token))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("removed")),
        "{b}"
    );
    let message = b["error"]["message"].as_str().unwrap();
    assert!(message.contains("removed"), "{message}");
    plain(message);
    // With a new token she joins as someone new, and her token works.
    let new_token = "b2".repeat(32);
    let (s, b) = t
        .post(&join, None, join_body(&c.member_invite, "Ann", &new_token))
        .await;
    assert_eq!(s, 200, "{b}");
    assert_ne!(b["participant"].as_str(), Some(ann.as_str()));
    let (s, _) = t
        .get(&format!("/api/plannings/{p}"), Some(&new_token))
        .await;
    assert_eq!(s, 200);
}
on_both_backends!(joins_refuse_a_removed_token_and_another_name, limits());

/// `GET …/verify` reads each event once: a second check of the same head reads none, the
/// next one only what was appended since.
async fn verify_reads_only_new_events(t: &TestServer) {
    let c = t.create("Chain").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    for i in 0..5 {
        t.ok(
            p,
            tok,
            json!({"type": "ProposeItem", "draft": {"title": format!("item {i}")}}),
        )
        .await;
    }
    let head = t.state(p, tok).await["head"].as_i64().unwrap();
    let read = || t.app().history.events_read.load(Ordering::Relaxed);
    let verify = || async {
        let (s, b) = t
            .get(&format!("/api/plannings/{p}/verify"), Some(tok))
            .await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["intact"], true, "{b}");
        b
    };
    let before = read();
    let first = verify().await;
    assert_eq!(first["events"], head);
    assert_eq!(
        read() - before,
        head as u64,
        "the first check reads the chain once"
    );
    let again = read();
    let second = verify().await;
    assert_eq!(second, first);
    assert_eq!(read(), again, "the same head: nothing read again");
    let head = t
        .ok(p, tok, json!({"type": "DraftGoal", "text": "one more"}))
        .await;
    let before = read();
    let third = verify().await;
    assert_eq!(third["events"], head);
    assert_ne!(third["head_hash"], first["head_hash"]);
    assert_eq!(read() - before, 1, "only the new event is read");
    // The answer agrees with the operator's whole check.
    let whole = sprintlog::store::verify_chain(&**t.app().registry.store(), p.parse().unwrap())
        .await
        .unwrap();
    match whole {
        sprintlog::store::ChainCheck::Intact { events, head_hash } => {
            assert_eq!(
                (json!(events), json!(head_hash)),
                (third["events"].clone(), third["head_hash"].clone())
            );
        }
        other => panic!("{other:?}"),
    }
}
on_both_backends!(verify_reads_only_new_events, limits());
