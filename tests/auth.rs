//! Auth and isolation: secrets are stored only hashed, a participant can rotate their own leaked
//! link (the old token dies at once, open websocket included), observers can never vote (REST
//! or websocket), the websocket `Origin` allow-list, and no CORS unless configured.

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use sprintlog::engine::auth::hash_secret;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn head(t: &TestServer, p: &str, token: &str) -> i64 {
    t.state(p, token).await["head"].as_i64().unwrap()
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

async fn secrets_are_stored_only_hashed(t: &TestServer) {
    let c = t.create("Secrets").await;
    let (ann_id, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (s, rotated) = t
        .post(
            &format!("/api/plannings/{}/invites", c.planning),
            Some(&c.token),
            json!({"role": "observer"}),
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let (s, relinked) = t
        .post(
            &format!("/api/plannings/{}/participants/{ann_id}/link", c.planning),
            Some(&c.token),
            json!({"revoke_previous": true}),
        )
        .await;
    assert_eq!(s, 200, "{relinked}");
    let secrets = [
        c.token.clone(),
        c.member_invite.clone(),
        c.observer_invite.clone(),
        ann.clone(),
        rotated["invite"].as_str().unwrap().to_string(),
        relinked["token"].as_str().unwrap().to_string(),
    ];
    // The raw log: hashes only.
    let store = t.server.as_ref().unwrap().app.registry.store().clone();
    let p: uuid::Uuid = c.planning.parse().unwrap();
    let log: String = store
        .read(p, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.payload.clone())
        .collect();
    for s in &secrets {
        assert_eq!(s.len(), 64, "secrets are 256-bit");
        assert!(!log.contains(s.as_str()), "a secret is stored in clear");
        assert!(log.contains(&hash_secret(s)), "its hash is stored");
    }
    // No view shows even the hashes.
    let view = t.state(&c.planning, &c.token).await.to_string();
    let (_, events) = t
        .get(
            &format!("/api/plannings/{}/events?limit=1000", c.planning),
            Some(&c.token),
        )
        .await;
    for s in &secrets {
        let h = hash_secret(s);
        assert!(!view.contains(&h) && !events.to_string().contains(&h));
    }
}
on_both_backends!(secrets_are_stored_only_hashed, Limits::default());

async fn a_participant_rotates_their_own_leaked_link(t: &TestServer) {
    let c = t.create("Leak").await;
    let (ann_id, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (bob_id, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let mut ann_ws = t.ws(&c.planning, &ann, 0).await;
    ann_ws.until("caught_up").await;
    // Someone else's link: facilitator only.
    let h = head(t, &c.planning, &c.token).await;
    let (s, b) = t
        .post(
            &format!("/api/plannings/{}/participants/{ann_id}/link", c.planning),
            Some(&bob),
            json!({"revoke_previous": true}),
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(head(t, &c.planning, &c.token).await, h);
    // Their own: a new token, the old one dead at once, the open socket closed with 4003.
    let (s, b) = t
        .post(
            &format!("/api/plannings/{}/participants/{ann_id}/link", c.planning),
            Some(&ann),
            json!({"revoke_previous": true}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let fresh = b["token"].as_str().unwrap().to_string();
    let (s, _) = t
        .get(&format!("/api/plannings/{}", c.planning), Some(&ann))
        .await;
    assert_eq!(s, 401);
    assert_eq!(close_code(&mut ann_ws).await, Some(4003));
    assert_eq!(t.ws_refused(&c.planning, &ann).await, 401);
    let me = t.state(&c.planning, &fresh).await;
    assert_eq!(me["you"]["participant"], ann_id.as_str());
    // The rotation is an event in the log, attributed to its author.
    let (_, ev) = t
        .get(
            &format!("/api/plannings/{}/events?after={h}", c.planning),
            Some(&fresh),
        )
        .await;
    assert_eq!(ev["events"][0]["kind"], "ParticipantLinkReissued");
    assert_eq!(ev["events"][0]["actor"], ann_id.as_str());
    // Bob was not affected.
    assert_eq!(
        t.state(&c.planning, &bob).await["you"]["participant"],
        bob_id.as_str()
    );
}
on_both_backends!(
    a_participant_rotates_their_own_leaked_link,
    Limits::default()
);

async fn observers_can_never_vote(t: &TestServer) {
    let c = t.create("Watch").await;
    let (_, _ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (olga_id, olga) = t.join(&c.planning, &c.observer_invite, "Olga").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    let h = t
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": "A"}}),
        )
        .await;
    let (_, ev) = t
        .get(
            &format!("/api/plannings/{}/events?after={}", c.planning, h - 1),
            Some(&c.token),
        )
        .await;
    let item = ev["events"][0]["data"]["item"]
        .as_str()
        .unwrap()
        .to_string();
    let h = t
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "OpenRound", "items": [item]}),
        )
        .await;
    let (_, ev) = t
        .get(
            &format!("/api/plannings/{}/events?after={}", c.planning, h - 1),
            Some(&c.token),
        )
        .await;
    let round = ev["events"][0]["data"]["round"]
        .as_str()
        .unwrap()
        .to_string();
    let vote = json!({"type": "CastVote", "round": round, "item": item, "card": "3"});
    let h = head(t, &c.planning, &c.token).await;

    // REST.
    let (s, b) = t.command(&c.planning, &olga, "o1", vote.clone()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{b}"
    );
    // Nor can an observer make themselves a member.
    let (s, _) = t
        .command(
            &c.planning,
            &olga,
            "o2",
            json!({"type": "ChangeRole", "participant": olga_id, "role": "member"}),
        )
        .await;
    assert_eq!(s, 403);
    // Websocket.
    let mut ws = t.ws(&c.planning, &olga, 0).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "command", "op": "o3", "command": vote}))
        .await;
    let (err, _) = ws.until("error").await;
    assert_eq!(
        (err["op"].as_str(), err["code"].as_str()),
        (Some("o3"), Some("forbidden"))
    );
    assert_eq!(
        head(t, &c.planning, &c.token).await,
        h,
        "nothing was written"
    );
}
on_both_backends!(observers_can_never_vote, Limits::default());

/// Opens a websocket with an `Origin` header; returns the HTTP status of a refusal, or 101.
async fn ws_with_origin(t: &TestServer, p: &str, token: &str, origin: Option<&str>) -> u16 {
    let url = format!("{}/ws/plannings/{p}?token={token}", t.ws_base);
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade failed without a status: {e}"),
    }
}

fn with_allowed_origin() -> Limits {
    Limits {
        allowed_origins: vec!["https://planning.example.com".into()],
        ..Limits::default()
    }
}

async fn websocket_origins_are_checked(t: &TestServer) {
    let c = t.create("Origins").await;
    let own = t.base.clone();
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    assert_eq!(
        ws_with_origin(t, p, tok, None).await,
        101,
        "non-browser clients"
    );
    assert_eq!(
        ws_with_origin(t, p, tok, Some(&own)).await,
        101,
        "the server's own page"
    );
    assert_eq!(
        ws_with_origin(t, p, tok, Some("https://planning.example.com")).await,
        101,
        "an allowed origin"
    );
    for evil in [
        "https://evil.example",
        "https://planning.example.com.evil.example",
        "http://planning.example.com",
        "null",
    ] {
        assert_eq!(ws_with_origin(t, p, tok, Some(evil)).await, 403, "{evil}");
    }
}
on_both_backends!(websocket_origins_are_checked, with_allowed_origin());

async fn cors_is_off_by_default(t: &TestServer) {
    let c = t.create("CORS").await;
    let url = format!("{}/api/plannings/{}", t.base, c.planning);
    // A preflight from another site gets no permission.
    let pre = t
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(
        pre.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "preflight answered with CORS headers: {:?}",
        pre.headers()
    );
    // Nor does a simple request, or a refusal.
    for token in [Some(c.token.as_str()), None] {
        let mut req = t.http.get(&url).header("origin", "https://evil.example");
        if let Some(tok) = token {
            req = req.bearer_auth(tok);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.headers().get("access-control-allow-origin").is_none()
                && resp
                    .headers()
                    .get("access-control-allow-credentials")
                    .is_none(),
            "{:?}",
            resp.headers()
        );
    }
    let resp = t
        .http
        .post(format!("{}/api/plannings", t.base))
        .header("origin", "https://evil.example")
        .json(&json!({"title": "x", "name": "y"}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    let body: Value = resp.json().await.unwrap();
    assert!(body["planning"].is_string());
}
on_both_backends!(cors_is_off_by_default, Limits::default());

#[test]
fn secrets_compare_in_constant_time_and_hash_to_sha256() {
    use sprintlog::engine::auth::{constant_time_eq, new_secret};
    let s = new_secret();
    assert_eq!(
        hash_secret(&s),
        sprintlog::engine::auth::sha256_hex(s.as_bytes())
    );
    assert!(constant_time_eq(&hash_secret(&s), &hash_secret(&s)));
    // Differences anywhere, and in length, are all just "different".
    let h = hash_secret(&s);
    for i in [0, 31, 63] {
        let mut other = h.clone().into_bytes();
        other[i] = if other[i] == b'0' { b'1' } else { b'0' };
        assert!(!constant_time_eq(&h, std::str::from_utf8(&other).unwrap()));
    }
    assert!(!constant_time_eq(&h, &h[..63]));
}

fn with_metrics_token() -> Limits {
    Limits {
        metrics_token: Some("metrics-secret".into()),
        ..Limits::default()
    }
}

/// With `--metrics-token`, `/metrics` answers only that bearer token (JSON 401 otherwise);
/// `/healthz` stays open.
async fn metrics_can_require_a_token(t: &TestServer) {
    let (status, body) = t.get_text("/metrics").await;
    assert_eq!(status, 401, "{body}");
    let v: Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(v["error"]["code"], "unauthorized");
    for wrong in ["metrics-secreT", "metrics-secret-", ""] {
        let resp = t
            .http
            .get(format!("{}/metrics", t.base))
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{wrong:?}");
    }
    let resp = t
        .http
        .get(format!("{}/metrics", t.base))
        .bearer_auth("metrics-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.text().await.unwrap().contains("sprintlog_limit"));
    assert_eq!(t.get_text("/healthz").await.0, 200);
}
on_both_backends!(metrics_can_require_a_token, with_metrics_token());
