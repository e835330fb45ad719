//! Outbound webhooks over a real server and a local receiver: the URL policy, signed deliveries
//! of each kind, retries with one delivery id, hung receivers, restarts, and the store parts
//! on both backends.

mod common;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::server::*;
use common::time::{eventually, manual_clock};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sprintlog::config::{Limits, WebhookConfig};
use sprintlog::store::{AppendRequest, EventStore, Job, JobKinds};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

// ---------------------------------------------------------------- the receiver

/// What the receiver does with one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Never answers (until the client gives up).
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
struct Received {
    delivery: String,
    signature: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    script: Mutex<VecDeque<Answer>>,
    got: Mutex<Vec<Received>>,
}

/// A local HTTP receiver on 127.0.0.1:0 that records every request and answers by script
/// (then 200).
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.script.lock().unwrap().extend(script.iter().copied());
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, state }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let what = format!("{n} requests");
        eventually(within, &what, || async {
            let got = self.got();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

async fn receive(
    AxState(state): AxState<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    state.got.lock().unwrap().push(Received {
        delivery: header("x-sprintlog-delivery"),
        signature: header("x-sprintlog-signature"),
        body,
    });
    let answer = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap(),
        Answer::Hang => std::future::pending().await,
    }
}

// ---------------------------------------------------------------- helpers

fn limits_allowing(rx: &Receiver, backoff_ms: u64, timeout_ms: u64) -> Limits {
    Limits {
        webhooks: WebhookConfig {
            allow: vec![rx.addr.to_string()],
            backoff_ms,
            max_attempts: 8,
            timeout_ms,
            ..WebhookConfig::default()
        },
        ..Limits::default()
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Registers a webhook; returns (webhook id, secret).
async fn register(t: &TestServer, c: &Created, url: &str, events: Value) -> (String, String) {
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/webhooks", c.planning),
            Some(&c.token),
            json!({ "url": url, "events": events }),
        )
        .await;
    assert_eq!(status, 200, "register: {body}");
    (
        body["webhook"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

async fn head(t: &TestServer, c: &Created) -> i64 {
    t.state(&c.planning, &c.token).await["head"]
        .as_i64()
        .unwrap()
}

async fn metric(t: &TestServer, name: &str) -> u64 {
    let text = t
        .http
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

fn store_of(t: &TestServer) -> Arc<dyn EventStore> {
    t.server.as_ref().unwrap().app.registry.store().clone()
}

/// The job key of a received delivery.
fn job_key(webhook: &str, r: &Received) -> String {
    format!("webhook:{webhook}:{}", r.json()["event"]["seq"])
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn internal_urls_are_refused_and_nothing_is_written() {
    let rx = Receiver::start(&[]).await;
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 1").await;
    let (_, member) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let before = head(&t, &c).await;
    let path = format!("/api/plannings/{}/webhooks", c.planning);
    for url in [
        "http://10.0.0.1/".to_string(),
        rx.url(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]:9/".into(),
        "http://100.64.0.1/".into(),
        "ftp://example.com/".into(),
        "https://example.com/".into(), // no TLS in this build: refused with a clear message
        "not a url".into(),
    ] {
        let (status, body) = t
            .post(&path, Some(&c.token), json!({ "url": url, "events": [] }))
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["code"], "bad_request");
    }
    // A member may not register (checked before any DNS lookup).
    let (status, _) = t
        .post(
            &path,
            Some(&member),
            json!({ "url": "http://93.184.215.14/" }),
        )
        .await;
    assert_eq!(status, 403);
    // The generic command path cannot skip the URL check.
    let (status, body) = t
        .command(
            &c.planning,
            &c.token,
            "sneaky",
            json!({"type": "RegisterWebhook", "url": "http://10.0.0.1/", "events": []}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = t
        .command(
            &c.planning,
            &c.token,
            "sneakier",
            json!({"type": "RegisterWebhook", "url": "http://10.0.0.1/", "url_checked": true}),
        )
        .await;
    // Not a field of the command: refused as a body of the wrong shape.
    assert_eq!(status, 422, "{body}");

    assert_eq!(head(&t, &c).await, before, "nothing was written");
    let (status, list) = t.get(&path, Some(&c.token)).await;
    assert_eq!(status, 200);
    assert_eq!(list["webhooks"], json!([]));
    assert!(rx.got().is_empty());
}

/// Registration refusals are JSON like every other error, and never say what a host resolves
/// to: anyone can create a planning (and so register webhooks), and the answer must not map
/// the operator's internal DNS for them.
#[tokio::test]
async fn registration_refusals_are_json_and_disclose_no_resolved_address() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 1").await;
    let path = format!("/api/plannings/{}/webhooks", c.planning);
    for (body, status, code) in [
        ("not json".to_string(), 400, "bad_json"),
        (
            json!({"url": "http://h.example/", "colour": 1}).to_string(),
            422,
            "invalid_body",
        ),
    ] {
        let (s, text) = t.post_raw(&path, Some(&c.token), body).await;
        assert_eq!(s, status, "{text}");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    // `localhost` resolves to loopback addresses; a `.invalid` name to nothing at all.
    let mut messages = Vec::new();
    for url in ["http://localhost:9/", "http://no-such-host.invalid/"] {
        let (status, body) = t.post(&path, Some(&c.token), json!({ "url": url })).await;
        assert_eq!(status, 400, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap().to_string();
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{url}: {message}"
        );
        messages.push(message);
    }
    assert_eq!(
        messages[0], messages[1],
        "no oracle for which names resolve"
    );
}

#[tokio::test]
async fn a_demoted_facilitator_cannot_read_webhook_urls_back_through_the_past() {
    // URLs may carry credentials: a past state shows them to facilitators of *today* only.
    let rx = Receiver::start(&[]).await;
    let t = TestServer::start_with(sqlite(), limits_allowing(&rx, 50, 5000)).await;
    let c = t.create("Sprint 1").await;
    let p = &c.planning;
    let (ann_id, ann) = t.join(p, &c.member_invite, "Ann").await;
    let promote = |role: &str| json!({"type": "ChangeRole", "participant": ann_id, "role": role});
    t.ok(p, &c.token, promote("facilitator")).await;
    let (hook, _) = register(&t, &c, &rx.url(), json!([])).await;
    let then = head(&t, &c).await;
    let past = format!("/api/plannings/{p}?at={then}");
    let (status, seen) = t.get(&past, Some(&ann)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["state"]["webhooks"][&hook]["url"], rx.url());

    t.ok(p, &c.token, promote("member")).await;
    let origin = format!("http://{}", rx.addr);
    let (_, seen) = t.get(&past, Some(&ann)).await;
    assert_eq!(seen["state"]["webhooks"][&hook]["url"], origin, "REST ?at=");
    let mut ws = t.ws(p, &ann, 0).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "state_at", "at": then, "req": "past"}))
        .await;
    let (reply, _) = ws.until("state_at").await;
    assert_eq!(
        reply["state"]["webhooks"][&hook]["url"], origin,
        "ws state_at"
    );
    // The facilitator still sees it all.
    let (_, seen) = t.get(&past, Some(&c.token)).await;
    assert_eq!(seen["state"]["webhooks"][&hook]["url"], rx.url());
}

#[tokio::test]
async fn each_kind_is_delivered_signed_and_filtered() {
    let rx = Receiver::start(&[]).await;
    let t = TestServer::start_with(sqlite(), limits_allowing(&rx, 50, 5000)).await;
    let c = t.create("Sprint 1").await;
    let (all, secret) = register(&t, &c, &rx.url(), json!([])).await;
    let (only_scope, scope_secret) = register(
        &t,
        &c,
        &format!("{}?only=scope", rx.url()),
        json!(["ScopeCommitted"]),
    )
    .await;
    assert_ne!(secret, scope_secret);

    // Members see the origin of a webhook URL only; the facilitator sees it all.
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let seen = t.state(&c.planning, &ann).await;
    assert_eq!(
        seen["state"]["webhooks"][&all]["url"],
        format!("http://{}", rx.addr)
    );
    let seen = t.state(&c.planning, &c.token).await;
    assert_eq!(seen["state"]["webhooks"][&all]["url"], rx.url());
    assert!(!seen.to_string().contains(&secret), "secret in a view");

    let p = &c.planning;
    t.ok(
        p,
        &c.token,
        json!({"type": "DraftGoal", "text": "Ship login"}),
    )
    .await;
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    for title in ["Login", "Logout"] {
        t.ok(
            p,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let st = t.state(p, &c.token).await;
    let login = st["state"]["rank"][0].as_str().unwrap().to_string();
    let logout = st["state"]["rank"][1].as_str().unwrap().to_string();
    t.ok(
        p,
        &c.token,
        json!({"type": "OpenRound", "items": [login, logout]}),
    )
    .await;
    let st = t.state(p, &c.token).await;
    let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
    for (tok, login_card) in [(&ann, "1"), (&bob, "13")] {
        t.ok(
            p,
            tok,
            json!({"type": "CastVote", "round": round, "item": login, "card": login_card}),
        )
        .await;
        t.ok(
            p,
            tok,
            json!({"type": "CastVote", "round": round, "item": logout, "card": "3"}),
        )
        .await;
    }
    // The last vote closed the round: RoundClosed, then Login flagged (spread).
    t.ok(p, &c.token, json!({"type": "StartSync"})).await;
    t.ok(
        p,
        &c.token,
        json!({"type": "AgreeEstimates", "estimates": [{"item": logout, "card": "3"}]}),
    )
    .await;
    t.ok(
        p,
        &c.token,
        json!({"type": "CommitScope", "items": [logout], "confirm_over_capacity": true}),
    )
    .await;

    rx.wait_for(5, Duration::from_secs(20)).await;
    // Every delivery job done: what the receiver got is all it will get.
    eventually(Duration::from_secs(10), "the deliveries done", || async {
        t.next_due(JobKinds::Only("webhook"))
            .await
            .is_none()
            .then_some(())
    })
    .await;
    let got_all = rx.got();
    assert_eq!(got_all.len(), 5, "{got_all:?}");
    let mut kinds = Vec::new();
    for r in &got_all {
        let body = r.json();
        // Which webhook it went to: each has its own secret, so the signature tells.
        let hook = if r.signature == hmac_hex(&secret, &r.body) {
            &all
        } else {
            assert_eq!(
                r.signature,
                hmac_hex(&scope_secret, &r.body),
                "bad signature"
            );
            assert_eq!(body["event"]["kind"], "ScopeCommitted", "filtered out");
            &only_scope
        };
        assert_eq!(body["delivery"], r.delivery.as_str());
        assert_eq!(
            r.delivery,
            sprintlog::engine::webhook::delivery_id(&job_key(hook, r)).to_string()
        );
        assert_eq!(body["planning"], c.planning.as_str());
        assert!(body["event"]["seq"].as_i64().unwrap() > 0);
        assert!(body["text"].as_str().unwrap().starts_with("Sprint 1: "));
        kinds.push(body["event"]["kind"].as_str().unwrap().to_string());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ItemFlagged",
            "RoundClosed",
            "ScopeCommitted",
            "ScopeCommitted",
            "SyncStarted"
        ]
    );
    let flagged = got_all
        .iter()
        .map(Received::json)
        .find(|b| b["event"]["kind"] == "ItemFlagged")
        .unwrap();
    assert_eq!(flagged["event"]["data"]["item"], login.as_str());
    assert_eq!(flagged["event"]["data"]["reason"], "spread");
    assert!(
        flagged["text"].as_str().unwrap().contains("\"Login\""),
        "{flagged}"
    );
    // No delivery leaks a sealed vote (votes are not a webhook kind, and data is redacted).
    assert!(got_all
        .iter()
        .all(|r| !String::from_utf8_lossy(&r.body).contains("nonce")));
    assert_eq!(metric(&t, "sprintlog_webhook_deliveries_total").await, 5);
    assert_eq!(metric(&t, "sprintlog_webhook_failures_total").await, 0);

    // Removed: nothing more is delivered to it, and its secret is gone.
    let (status, _) = t
        .delete(
            &format!("/api/plannings/{p}/webhooks/{all}"),
            Some(&c.token),
        )
        .await;
    assert_eq!(status, 200);
    let store = store_of(&t);
    assert_eq!(
        store
            .webhook_secret(all.parse::<Uuid>().unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_three_attempts_with_one_delivery_id() {
    let rx = Receiver::start(&[Answer::Status(500), Answer::Status(503)]).await;
    // A retry's wait is a due time on the app's clock, stored with the job (it survives a
    // restart, and any node may run it): on a manual clock the test moves time past each
    // backoff, 100 ms then 200 ms, instead of waiting for it.
    let clock = manual_clock();
    let t = TestServer::start_clocked(sqlite(), limits_allowing(&rx, 100, 5000), &clock).await;
    let c = t.create("Sprint 1").await;
    let (hook, secret) = register(&t, &c, &rx.url(), json!(["SyncStarted"])).await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;

    let key = job_key(&hook, &rx.wait_for(1, Duration::from_secs(10)).await[0]);
    for (failed, backoff_ms) in [(1, 100), (2, 200)] {
        let what = format!("failure {failed} recorded");
        let status = eventually(Duration::from_secs(5), &what, || async {
            let s = t.job(&key).await;
            (s.attempts == failed).then_some(s)
        })
        .await;
        assert_eq!(
            status.due_at,
            clock.now_micros() + backoff_ms * 1000,
            "failure {failed}: retried one backoff later"
        );
        // Short of the backoff the retry is not due (the scheduler claims due jobs only) …
        clock.advance(Duration::from_millis(backoff_ms as u64 - 1));
        assert!(status.due_at > clock.now_micros());
        assert_eq!(rx.got().len(), failed as usize);
        // … and once it has passed, the retry goes out.
        clock.advance(Duration::from_millis(1));
        rx.wait_for(failed as usize + 1, Duration::from_secs(10))
            .await;
    }
    // Done after the third attempt, so no fourth can follow.
    let status = t.job_done(&key).await;
    let got = rx.got();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|r| r.delivery == got[0].delivery));
    assert!(got.iter().all(|r| r.body == got[0].body), "same body");
    assert!(got
        .iter()
        .all(|r| r.signature == hmac_hex(&secret, &r.body)));

    assert!(!status.failed);
    assert_eq!(status.attempts, 2);
    assert_eq!(metric(&t, "sprintlog_webhook_failures_total").await, 2);
    assert_eq!(metric(&t, "sprintlog_webhook_deliveries_total").await, 1);
}

#[tokio::test]
async fn a_hung_receiver_delays_no_ack() {
    let rx = Receiver::start(&[Answer::Hang]).await;
    let t = TestServer::start_with(sqlite(), limits_allowing(&rx, 100, 3000)).await;
    let c = t.create("Sprint 1").await;
    let (hook, _) = register(&t, &c, &rx.url(), json!(["SyncStarted"])).await;
    let started = Instant::now();
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // The delivery is now hanging in the receiver.
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let key = job_key(&hook, &got[0]);
    let started = Instant::now();
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "FlipCoin", "question": "Who demos?", "options": ["Ann", "Bob"]}),
    )
    .await;
    let ack_took = started.elapsed();
    let pending = store_of(&t).job_status(&key).await.unwrap().unwrap();
    assert!(
        pending.done_at.is_none() && pending.attempts == 0,
        "the delivery should still be in flight: {pending:?}"
    );
    assert!(ack_took < Duration::from_secs(2), "ack took {ack_took:?}");
    // The hung attempt times out and the retry (answered) completes it, same delivery id.
    let got = rx.wait_for(2, Duration::from_secs(15)).await;
    assert_eq!(got[0].delivery, got[1].delivery);
    let status = t.job_done(&key).await;
    assert!(!status.failed);
    assert_eq!(status.attempts, 1);
}

#[tokio::test]
async fn a_backlog_of_hung_deliveries_does_not_hold_up_a_deadline() {
    // More deliveries than slots, every one hanging: the round's close, due after them all,
    // must not wait for a slot, nor for a hung delivery's timeout (20 s here).
    let slots = sprintlog::engine::scheduler::DELIVERY_SLOTS;
    let rx = Receiver::start(&vec![Answer::Hang; slots + 16]).await;
    let clock = manual_clock();
    let t = TestServer::start_clocked(sqlite(), limits_allowing(&rx, 100, 20_000), &clock).await;
    let c = t.create("Sprint 1").await;
    let p = &c.planning;
    t.join(p, &c.member_invite, "Ann").await;
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    t.ok(
        p,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
    )
    .await;
    // Ten webhooks (the most a planning has) and two sessions: twenty deliveries.
    for _ in 0..10 {
        register(&t, &c, &rx.url(), json!(["SyncStarted"])).await;
    }
    for _ in 0..2 {
        t.ok(p, &c.token, json!({"type": "StartSync"})).await;
        t.ok(p, &c.token, json!({"type": "EndSync"})).await;
    }
    assert!(20 > slots);
    rx.wait_for(slots, Duration::from_secs(10)).await;
    let st = t.state(p, &c.token).await;
    let item = st["state"]["rank"][0].clone();
    let deadline = clock.now_micros() + 1_000_000;
    t.ok(
        p,
        &c.token,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    clock.advance(Duration::from_secs(1));
    // Well within the hung deliveries' 20 s timeout.
    let what = "the close, not waiting behind the hung deliveries";
    eventually(Duration::from_secs(8), what, || async {
        let st = t.state(p, &c.token).await;
        let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
        (!st["state"]["rounds"][&round]["closed"].is_null()).then_some(())
    })
    .await;
    assert_eq!(rx.got().len(), slots, "one delivery per slot at a time");
}

#[tokio::test]
async fn a_pending_retry_survives_a_restart_and_is_delivered_once() {
    pending_retry_survives_a_restart(sqlite()).await;
}

#[tokio::test]
async fn a_pending_retry_survives_a_restart_and_is_delivered_once_postgres() {
    if let Some(pg) = postgres("a_pending_retry_survives_a_restart_postgres").await {
        pending_retry_survives_a_restart(pg).await;
    }
}

async fn pending_retry_survives_a_restart(backend: Backend) {
    let rx = Receiver::start(&[Answer::Status(500)]).await;
    let limits = limits_allowing(&rx, 2000, 5000);
    let clock = manual_clock();
    let mut t = TestServer::start_clocked(backend, limits.clone(), &clock).await;
    let c = t.create("Sprint 1").await;
    let (hook, secret) = register(&t, &c, &rx.url(), json!(["SyncStarted"])).await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let key = job_key(&hook, &got[0]);
    // Stop only once the failure is recorded (a retry is scheduled, nobody holds the job).
    let failed = eventually(Duration::from_secs(5), "the failure recorded", || async {
        let s = t.job(&key).await;
        (s.attempts == 1).then_some(s)
    })
    .await;
    assert!(failed.done_at.is_none());
    assert_eq!(
        failed.due_at,
        clock.now_micros() + 2_000_000,
        "retried after the backoff"
    );
    let backend = t.stop().await;
    assert_eq!(rx.got().len(), 1, "no retry before the restart");

    // Back up, and the backoff passes: the retry is delivered, and done.
    let t = TestServer::start_clocked(backend, limits, &clock).await;
    clock.advance(Duration::from_secs(2));
    let status = t.job_done(&key).await;
    let got = rx.got();
    assert_eq!(got.len(), 2, "delivered once after the restart");
    assert_eq!(got[0].delivery, got[1].delivery);
    assert_eq!(got[1].signature, hmac_hex(&secret, &got[1].body));
    assert!(!status.failed);
    assert_eq!(status.attempts, 1);
}

// ---------------------------------------------------------------- store level, both backends

async fn store_jobs_retry_fail_and_secrets(store: Arc<dyn EventStore>) {
    let planning = Uuid::new_v4();
    let now = 1_000_000_000;
    let job = |key: &str, due_at| Job {
        key: key.into(),
        planning_id: planning,
        due_at,
        kind: "webhook".into(),
        payload: "{}".into(),
        attempts: 7, // ignored on insert
    };
    store
        .append(AppendRequest {
            planning_id: planning,
            expected_seq: 0,
            actor: Uuid::nil(),
            client_op_id: "op".into(),
            command_hash: "h".into(),
            recorded_at: now,
            events: Vec::new(),
            jobs: vec![job("a", now), job("b", now), job("later", now + 60_000_000)],
        })
        .await
        .unwrap();

    let mut claimed = store
        .claim_jobs(now, now + 30_000_000, 10, JobKinds::All)
        .await
        .unwrap();
    claimed.sort_by(|x, y| x.key.cmp(&y.key));
    let keys: Vec<&str> = claimed.iter().map(|j| j.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"], "a job due later is not claimed early");
    assert!(claimed.iter().all(|j| j.attempts == 0));
    assert!(store
        .claim_jobs(now + 1, now + 30_000_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());

    // a: fails once, put back for later with its lease released.
    store.retry_job("a", now + 5_000_000, 1).await.unwrap();
    assert!(store
        .claim_jobs(now + 1_000_000, now + 31_000_000, 10, JobKinds::All)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .claim_jobs(now + 5_000_000, now + 35_000_000, 10, JobKinds::All)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].key.as_str(), again[0].attempts), ("a", 1));
    store
        .fail_job("a", now + 6_000_000, 8, "receiver answered 500")
        .await
        .unwrap();
    let a = store.job_status("a").await.unwrap().unwrap();
    assert!(a.failed);
    assert_eq!(a.attempts, 8);
    assert_eq!(a.done_at, Some(now + 6_000_000));
    assert_eq!(a.last_error.as_deref(), Some("receiver answered 500"));
    // A failed job is never retried, even if asked.
    store.retry_job("a", now, 9).await.unwrap();
    assert_eq!(store.job_status("a").await.unwrap().unwrap().attempts, 8);

    // b: completes.
    store.complete_job("b", now + 2).await.unwrap();
    let b = store.job_status("b").await.unwrap().unwrap();
    assert_eq!((b.done_at, b.failed), (Some(now + 2), false));
    assert_eq!(
        store.next_job_due(JobKinds::All).await.unwrap(),
        Some(now + 60_000_000)
    );
    assert_eq!(store.job_status("nope").await.unwrap(), None);

    // Secrets: the first one stored wins (a retried registration gets the same one).
    let hook = Uuid::new_v4();
    assert_eq!(store.webhook_secret(hook).await.unwrap(), None);
    let s1 = store
        .put_webhook_secret(planning, hook, "first", now)
        .await
        .unwrap();
    let s2 = store
        .put_webhook_secret(planning, hook, "second", now)
        .await
        .unwrap();
    assert_eq!((s1.as_str(), s2.as_str()), ("first", "first"));
    assert_eq!(
        store.webhook_secret(hook).await.unwrap().as_deref(),
        Some("first")
    );
    store.delete_webhook_secret(hook).await.unwrap();
    assert_eq!(store.webhook_secret(hook).await.unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn store_jobs_retry_fail_and_secrets_sqlite() {
    let db = common::fresh_sqlite();
    let store = sprintlog::store::open(&db.url).await.unwrap();
    store_jobs_retry_fail_and_secrets(store).await;
}

#[tokio::test]
async fn store_jobs_retry_fail_and_secrets_postgres() {
    let Some(db) = common::fresh_pg("store_jobs_retry_fail_and_secrets_postgres").await else {
        return;
    };
    let store = sprintlog::store::open(&db.url).await.unwrap();
    store_jobs_retry_fail_and_secrets(store).await;
}

/// A receiver whose URL carries its secret (a Slack-style path, a token in the query) and
/// cannot be reached: what is recorded (and logged) of the failure names its origin only.
#[tokio::test]
async fn a_failed_delivery_records_the_origin_not_the_secret_url() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let limits = Limits {
        webhooks: WebhookConfig {
            allow: vec![addr.to_string()],
            backoff_ms: 10,
            max_attempts: 1,
            timeout_ms: 2000,
            ..WebhookConfig::default()
        },
        ..Limits::default()
    };
    let t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Sprint 1").await;
    let url = format!(
        "http://hook:pw-in-userinfo@{addr}/services/T000/B000/XyZsecretPath?token=q-secret"
    );
    let (hook, _) = register(&t, &c, &url, json!(["SyncStarted"])).await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let (_, page) = t
        .get(
            &format!("/api/plannings/{}/events", c.planning),
            Some(&c.token),
        )
        .await;
    let seq = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "SyncStarted")
        .map(|e| e["seq"].clone())
        .unwrap();
    let status = t.job_done(&format!("webhook:{hook}:{seq}")).await;
    assert!(status.failed, "{status:?}");
    let error = status.last_error.unwrap_or_default();
    assert!(error.contains(&format!("http://{addr}")), "{error}");
    assert!(error.contains("refused"), "the cause is told: {error}");
    for secret in ["XyZsecretPath", "q-secret", "pw-in-userinfo", "/services/"] {
        assert!(!error.contains(secret), "{secret} in {error}");
    }
}

/// Addresses of the IANA special-purpose registries that are not globally reachable, and IPv6
/// forms that embed an internal IPv4 address, are refused like private ones; public addresses
/// (also a 6to4 or NAT64 form of a public IPv4 address) are not.
#[tokio::test]
async fn special_purpose_addresses_are_refused() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 1").await;
    let path = format!("/api/plannings/{}/webhooks", c.planning);
    for url in [
        "http://[::127.0.0.1]/",       // IPv4-compatible loopback
        "http://[2002:7f00:1::]/",     // 6to4 of 127.0.0.1
        "http://[2002:a00:1::]/",      // 6to4 of 10.0.0.1
        "http://[64:ff9b:1::a00:1]/",  // local-use NAT64
        "http://[100::1]/",            // discard-only
        "http://[2001:db8::1]/",       // documentation
        "http://[2001::1]/",           // Teredo
        "http://192.0.0.1/",           // IETF protocol assignments
        "http://192.0.2.1/",           // TEST-NET-1
        "http://198.18.0.1/",          // benchmarking
        "http://198.19.255.254/",      // benchmarking
        "http://198.51.100.1/",        // TEST-NET-2
        "http://203.0.113.1/",         // TEST-NET-3
        "http://240.0.0.1/",           // reserved
        "http://[::ffff:198.18.0.1]/", // mapped benchmarking
    ] {
        let (status, body) = t
            .post(&path, Some(&c.token), json!({ "url": url, "events": [] }))
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--webhook-allow"),
            "{url}: {body}"
        );
    }
    for url in [
        "http://93.184.215.14/",
        "http://[2606:4700::1111]/",
        "http://[2002:5db8:d70e::]/", // 6to4 of 93.184.215.14
        "http://[64:ff9b::5db8:d70e]/",
    ] {
        let (status, body) = t
            .post(&path, Some(&c.token), json!({ "url": url, "events": [] }))
            .await;
        assert_eq!(status, 200, "{url}: {body}");
    }
}
