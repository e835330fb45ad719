//! Bad input everywhere: oversized bodies and frames, deep JSON, invalid UTF-8, unknown fields,
//! huge numbers, control characters, a 10,000-item import. Each gets a clear JSON error (an
//! `error` frame or a close code on a websocket), writes nothing (the head does not move), and
//! the server stays up.

mod common;

use common::on_both_backends;
use common::server::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const MAX_BODY: usize = 1024 * 1024;
const MAX_FRAME: usize = 8 * 1024;

fn limits() -> Limits {
    Limits {
        max_body_bytes: MAX_BODY,
        max_frame_bytes: MAX_FRAME,
        command_rate: 10_000,
        command_burst: 10_000,
        ..Limits::default()
    }
}

async fn head(t: &TestServer, p: &str, token: &str) -> i64 {
    t.state(p, token).await["head"].as_i64().unwrap()
}

/// The refusal is JSON with a non-empty `error.code` and `error.message`; returns the code.
#[track_caller]
fn json_error(status: u16, text: &str, want_status: u16) -> String {
    assert_eq!(status, want_status, "{text}");
    let v: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
    let code = v["error"]["code"].as_str().unwrap_or_default().to_string();
    assert!(!code.is_empty(), "no error code: {v}");
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "no error message: {v}"
    );
    code
}

/// POSTs raw bytes as JSON; returns (status, body text).
async fn post_bytes(t: &TestServer, path: &str, token: &str, body: Vec<u8>) -> (u16, String) {
    let resp = t
        .http
        .post(format!("{}{path}", t.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("http request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

async fn rest_bodies_are_refused_with_json_errors(t: &TestServer) {
    let c = t.create("Bad REST").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let cmds = format!("/api/plannings/{p}/commands");
    let h0 = head(t, p, tok).await;

    // Oversized body: 413, JSON.
    let (s, b) = t
        .post_oversized(&cmds, tok, "application/json", MAX_BODY + 1)
        .await;
    assert_eq!(json_error(s, &b, 413), "too_large");

    // Deeply nested JSON: refused by the parser's depth limit, not by a stack overflow.
    let deep = format!(
        "{{\"client_op_id\":\"deep\",\"command\":{}{}}}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    let (s, b) = t.post_raw(&cmds, Some(tok), deep).await;
    assert_eq!(json_error(s, &b, 400), "bad_json");
    let deep_obj = format!(
        "{{\"client_op_id\":\"deep2\",\"command\":{{\"type\":\"PostComment\",\"kind\":\"comment\",\"text\":\"a\",\"x\":{}1{}}}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let (s, b) = t.post_raw(&cmds, Some(tok), deep_obj).await;
    assert_eq!(json_error(s, &b, 400), "bad_json");

    // Invalid UTF-8 in a JSON body.
    let mut bytes =
        br#"{"client_op_id":"utf","command":{"type":"PostComment","kind":"comment","text":""#
            .to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    bytes.extend_from_slice(br#""}}"#);
    let (s, b) = post_bytes(t, &cmds, tok, bytes).await;
    assert_eq!(json_error(s, &b, 400), "bad_json");

    // Not JSON at all, and JSON of the wrong shape.
    let (s, b) = t.post_raw(&cmds, Some(tok), "hello".into()).await;
    assert_eq!(json_error(s, &b, 400), "bad_json");
    let (s, b) = t.post_raw(&cmds, Some(tok), "[1,2,3]".into()).await;
    assert_eq!(json_error(s, &b, 422), "invalid_body");

    // Unknown fields: on the body, the command, and nested values.
    let unknown = [
        json!({"client_op_id": "u1", "command": {"type": "DraftGoal", "text": "g"}, "extra": 1}),
        json!({"client_op_id": "u2", "command": {"type": "DraftGoal", "text": "g", "extra": 1}}),
        json!({"client_op_id": "u3", "command": {"type": "ProposeItem",
            "draft": {"title": "t", "colour": "red"}}}),
        json!({"client_op_id": "u4", "command": {"type": "SetPolicy", "policy": {
            "divergence": {"spread_steps": 1, "flag_unsure": true, "quorum_percent": 50,
                "sneaky": true},
            "batch_size": 6, "default_deadline_minutes": 60, "point_table": {}}}}),
        json!({"client_op_id": "u5", "command": {"type": "NoSuchCommand"}}),
    ];
    let names = [
        "“extra”",
        "“command.extra”",
        "“command.draft.colour”",
        "“command.policy.divergence.sneaky”",
        "“command.type” cannot be “NoSuchCommand”",
    ];
    for (body, name) in unknown.into_iter().zip(names) {
        let (s, b) = t.post_raw(&cmds, Some(tok), body.to_string()).await;
        assert_eq!(json_error(s, &b, 422), "invalid_body", "{body}");
        assert!(b.contains(name), "the message names the field: {b}");
    }

    // Huge numbers: out of range for their type, or in range and refused by the rules.
    let huge = [
        r#"{"client_op_id":"h1","expected_seq":1e400,"command":{"type":"DraftGoal","text":"g"}}"#
            .to_string(),
        r#"{"client_op_id":"h2","expected_seq":99999999999999999999999,"command":{"type":"DraftGoal","text":"g"}}"#
            .to_string(),
        r#"{"client_op_id":"h3","command":{"type":"SetVelocity","points_per_day":"99999999999999999999999"}}"#
            .to_string(),
        r#"{"client_op_id":"h4","command":{"type":"SetVelocity","points_per_day":1e308}}"#
            .to_string(),
        r#"{"client_op_id":"h5","command":{"type":"DeclareCapacity","available_days":1e30,"focus_factor":1}}"#
            .to_string(),
        r#"{"client_op_id":"h6","command":{"type":"SetVelocity","points_per_day":-1e308}}"#
            .to_string(),
    ];
    for body in huge {
        let (s, b) = t.post_raw(&cmds, Some(tok), body.clone()).await;
        assert!((400..500).contains(&s), "{body}: {s} {b}");
        json_error(s, &b, s);
    }
    let (s, b) = t
        .post_raw(
            &cmds,
            Some(tok),
            format!(
                r#"{{"client_op_id":"h7","expected_seq":{},"command":{{"type":"DraftGoal","text":"g"}}}}"#,
                i64::MAX
            ),
        )
        .await;
    assert_eq!(json_error(s, &b, 409), "conflict");
    for q in [
        "?at=99999999999999999999999",
        "?at=-1",
        &format!("?at={}", i64::MAX),
    ] {
        let (s, b) = t.get(&format!("/api/plannings/{p}{q}"), Some(tok)).await;
        assert!(s == 400, "{q}: {s} {b}");
        assert!(b["error"]["code"].is_string(), "{b}");
    }
    let (s, b) = t
        .get(
            &format!(
                "/api/plannings/{p}/events?after={}&limit={}",
                i64::MAX,
                i64::MAX
            ),
            Some(tok),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("out_of_range")),
        "a limit over 1000 is refused: {b}"
    );
    let (s, b) = t
        .get(
            &format!("/api/plannings/{p}/events?after={}", i64::MAX),
            Some(tok),
        )
        .await;
    assert_eq!(s, 200, "a far `after` is simply past the end: {b}");
    assert_eq!(b["events"], json!([]));

    // Control characters in names and titles are refused, not stripped: a name is shown to
    // everyone, and silently changing it would surprise its author.
    for (what, cmd) in [
        ("name", json!({"type": "Rename", "name": "Fran\u{7}"})),
        ("name", json!({"type": "Rename", "name": "Fr\u{202e}an"})),
        (
            "title",
            json!({"type": "ProposeItem", "draft": {"title": "two\nlines"}}),
        ),
        (
            "text",
            json!({"type": "PostComment", "kind": "comment", "text": "nul\u{0}byte"}),
        ),
    ] {
        let (s, b) = t
            .command(p, tok, &uuid::Uuid::new_v4().to_string(), cmd.clone())
            .await;
        assert_eq!(s, 400, "{what}: {cmd} → {b}");
        assert_eq!(b["error"]["code"], "bad_characters", "{b}");
    }
    for (path, body, code) in [
        (
            "/api/plannings",
            json!({"title": "ok", "name": "\u{1b}[31mred"}),
            "bad_characters",
        ),
        (
            "/api/plannings",
            json!({"title": "ok", "name": "Fran",
                   "deck": {"kind": "custom", "cards": ["S", "M\u{202e}L"]}}),
            "invalid",
        ),
        ("/api/teams", json!({"name": "Team\u{202e}A"}), "invalid"),
        (
            "/api/teams",
            json!({"name": "Team A", "roster": [{"name": "Ann\u{7}"}]}),
            "invalid",
        ),
    ] {
        let (s, b) = t.post(path, None, body.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (400, Some(code)),
            "{path} {body}: {b}"
        );
    }
    let (s, b) = t
        .post(
            &format!("/api/plannings/{p}/join"),
            None,
            json!({"invite": c.member_invite, "name": "Ann\r\nX-Evil: 1"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("bad_characters")),
        "{b}"
    );

    // 10,000 items in one import: as a command and as a CSV upload.
    let items: Vec<Value> = (0..10_000)
        .map(|i| json!({"title": format!("i{i}")}))
        .collect();
    let (s, b) = t
        .command(
            p,
            tok,
            "import-10k",
            json!({"type": "ImportItems", "items": items, "source": "bulk"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("wrong_count")),
        "{b}"
    );
    let csv: String = std::iter::once("title\n".to_string())
        .chain((0..10_000).map(|i| format!("item {i}\n")))
        .collect();
    let resp = t
        .http
        .post(format!("{}/api/plannings/{p}/import?format=csv", t.base))
        .bearer_auth(tok)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let b = resp.text().await.unwrap();
    assert_eq!(json_error(s, &b, 400), "import_invalid");
    // An import body over the size limit is refused as JSON too.
    let import = format!("/api/plannings/{p}/import?format=csv");
    let (s, b) = t
        .post_oversized(&import, tok, "text/csv", 2 * MAX_BODY + 6)
        .await;
    assert_eq!(json_error(s, &b, 413), "too_large");
    // Invalid UTF-8 in an import.
    let resp = t
        .http
        .post(format!("{}/api/plannings/{p}/import?format=csv", t.base))
        .bearer_auth(tok)
        .header("content-type", "text/csv")
        .body(vec![b't', b'i', b't', b'l', b'e', b'\n', 0xff, 0xfe, b'\n'])
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let b = resp.text().await.unwrap();
    assert_eq!(json_error(s, &b, 400), "import_invalid");

    // Junk in the path and the token.
    let (s, b) = t.get("/api/plannings/not-a-uuid", Some(tok)).await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, b) = t
        .get(&format!("/api/plannings/{p}"), Some(&"t".repeat(10_000)))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );

    // Nothing was written, and the server is still up.
    assert_eq!(head(t, p, tok).await, h0);
    assert_eq!(t.get_text("/healthz").await, (200, "ok".to_string()));
    // And it still works.
    t.ok(p, tok, json!({"type": "DraftGoal", "text": "Still here"}))
        .await;
}
on_both_backends!(rest_bodies_are_refused_with_json_errors, limits());

/// Reads frames until an `error` frame; panics on a close or a timeout.
async fn error_frame(ws: &mut Ws) -> Value {
    loop {
        match ws.next(Duration::from_secs(10)).await {
            Got::Frame(f) if f["type"] == "error" => return f,
            Got::Frame(_) => {}
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
}

/// Reads until the socket closes; returns the close code.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match ws.next(Duration::from_secs(10)).await {
            Got::Frame(_) => {}
            Got::Closed(code) => return code,
            Got::Timeout => panic!("the socket was not closed"),
        }
    }
}

async fn websocket_frames_are_refused_and_the_socket_survives(t: &TestServer) {
    let c = t.create("Bad WS").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let h0 = head(t, p, tok).await;
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;

    // Each of these gets an error frame and the connection stays usable.
    let bad: Vec<(&str, String)> = vec![
        ("bad_json", "not json".into()),
        ("bad_json", format!("{}{}", "[".repeat(50_000), "]".repeat(50_000))[..MAX_FRAME - 1].to_string()),
        ("invalid_body", json!({"type": "command", "op": "u", "command": {"type": "DraftGoal", "text": "g"}, "extra": 1}).to_string()),
        ("invalid_body", json!({"type": "command", "op": "u", "command": {"type": "DraftGoal", "text": "g", "extra": 1}}).to_string()),
        ("invalid_body", json!({"type": "launch_missiles"}).to_string()),
        ("bad_json", r#"{"type":"command","op":"n","expected_seq":1e999,"command":{"type":"DraftGoal","text":"g"}}"#.to_string()),
        ("frame_too_large", json!({"type": "command", "op": "big", "command": {"type": "PostComment", "kind": "comment", "text": "x".repeat(MAX_FRAME)}}).to_string()),
        ("bad_characters", json!({"type": "command", "op": "cc", "command": {"type": "Rename", "name": "a\u{0}b"}}).to_string()),
        ("bad_request", json!({"type": "command", "op": "", "command": {"type": "DraftGoal", "text": "g"}}).to_string()),
        ("out_of_range", json!({"type": "state_at", "at": i64::MAX}).to_string()),
    ];
    for (code, text) in &bad {
        ws.send_raw(text).await;
        let f = error_frame(&mut ws).await;
        assert_eq!(f["code"], *code, "{}: {f}", &text[..text.len().min(80)]);
        assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Deep nesting within the frame limit.
    let deep = format!(
        "{{\"type\":\"command\",\"op\":\"d\",\"command\":{}{}}}",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    ws.send_raw(&deep).await;
    assert_eq!(error_frame(&mut ws).await["code"], "bad_json");
    // A binary frame.
    ws.socket
        .send(Message::Binary(vec![0xff, 0x00, 0x7b].into()))
        .await
        .unwrap();
    assert_eq!(error_frame(&mut ws).await["code"], "bad_frame");
    // Still usable.
    ws.send(json!({"type": "ping"})).await;
    assert_eq!(ws.until("pong").await.0["type"], "pong");

    // A text frame that is not UTF-8 breaks the protocol: the socket is closed (1007).
    let mut raw = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    raw.header_mut().is_final = true;
    ws.socket.send(Message::Frame(raw)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1007));

    // A frame far over the limit: the socket is closed (1009).
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    ws.send_raw(&"x".repeat(MAX_FRAME * 3)).await;
    assert_eq!(close_code(&mut ws).await, Some(1009));

    assert_eq!(head(t, p, tok).await, h0, "no bad frame wrote anything");
    assert!(t.metric("sprintlog_bad_frames_total").await >= bad.len() as f64);
    assert_eq!(t.get_text("/healthz").await, (200, "ok".to_string()));
    let mut ws = t.ws(p, tok, 0).await;
    ws.until("caught_up").await;
    ws.send(
        json!({"type": "command", "op": "fine", "command": {"type": "DraftGoal", "text": "g"}}),
    )
    .await;
    assert_eq!(ws.until("ack").await.0["op"], "fine");
}
on_both_backends!(
    websocket_frames_are_refused_and_the_socket_survives,
    limits()
);
