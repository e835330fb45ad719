//! Chat that arrives: webhooks over TLS to a receiver with its own CA, the Slack, Teams and
//! Mattermost message shapes, the Standard Webhooks signature checked by a receiver with a
//! replay window, and the scheduler's deadline reminder posted to a chat webhook.

mod common;

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use common::server::*;
use common::time::{eventually, manual_clock, Clock};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sprintlog::config::{Limits, WebhookConfig};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_rustls::rustls;

const SECOND: i64 = 1_000_000;
/// The replay window a receiver of Standard Webhooks allows (the spec's suggestion).
const WINDOW_SECS: i64 = 300;

// ---------------------------------------------------------------- the receiver

/// One request as received, and what the receiver answered.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
    status: u16,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct ReceiverState {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer first (then the verdict of the checks).
    script: Mutex<VecDeque<u16>>,
    /// The Standard Webhooks key to check signatures with (none: no check).
    key: Mutex<Option<Vec<u8>>>,
    /// The receiver's clock, Unix seconds (0: the system's).
    now: AtomicI64,
}

/// A local receiver on 127.0.0.1:0, over plain HTTP or TLS, recording every request.
struct Receiver {
    addr: SocketAddr,
    tls: bool,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn plain() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let app = router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            addr,
            tls: false,
            state,
        }
    }

    /// A TLS receiver whose certificate (for 127.0.0.1) is signed by `ca`.
    async fn tls(ca: &TestCa) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let app = router(state.clone());
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![ca.leaf_der.clone()], ca.leaf_key())
            .expect("server TLS config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends the handshake here.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            tls: true,
            state,
        }
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/hook/{path}", self.addr)
    }

    fn limits(&self, backoff_ms: u64, ca_file: Option<std::path::PathBuf>) -> Limits {
        Limits {
            webhooks: WebhookConfig {
                allow: vec![self.addr.to_string()],
                backoff_ms,
                max_attempts: 3,
                timeout_ms: 5000,
                ca_file,
            },
            ..Limits::default()
        }
    }

    fn got(&self) -> Vec<Received> {
        self.state.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(
            Duration::from_secs(20),
            &format!("{n} requests"),
            || async {
                let got = self.got();
                (got.len() >= n).then_some(got)
            },
        )
        .await
    }
}

fn router(state: Arc<ReceiverState>) -> axum::Router {
    axum::Router::new()
        .route("/hook/{name}", post(receive))
        .with_state(state)
}

async fn receive(
    AxState(state): AxState<Arc<ReceiverState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let scripted = state.script.lock().unwrap().pop_front();
    let key = state.key.lock().unwrap().clone();
    let now = match state.now.load(Ordering::SeqCst) {
        0 => common::time::now_micros() / SECOND,
        n => n,
    };
    let verdict = match &key {
        Some(key) => verify_standard(key, &headers, &body, now),
        None => Ok(()),
    };
    let status = match (scripted, verdict) {
        (Some(s), _) => s,
        (None, Ok(())) => 200,
        (None, Err(_)) => 401,
    };
    state.got.lock().unwrap().push(Received {
        path: name,
        headers,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// A receiver's check of a Standard Webhooks delivery, written from the specification: all
/// three headers, a timestamp within the window of the receiver's clock, and a `v1` signature
/// over `id.timestamp.body` that matches.
fn verify_standard(key: &[u8], headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), String> {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no {n}"))
    };
    let id = header("webhook-id")?;
    let timestamp: i64 = header("webhook-timestamp")?
        .parse()
        .map_err(|_| "bad timestamp".to_string())?;
    if (now - timestamp).abs() > WINDOW_SECS {
        return Err(format!("timestamp {timestamp} outside the window at {now}"));
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let signatures = header("webhook-signature")?;
    signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected)
        .then_some(())
        .ok_or_else(|| "no matching signature".to_string())
}

/// The key of a `whsec_` secret, as the specification says receivers take it.
fn whsec_key(secret: &str) -> Vec<u8> {
    let b64 = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64")
}

// ---------------------------------------------------------------- a CA of the test's own

/// A CA made for one test, and a server certificate for 127.0.0.1 it signed.
struct TestCa {
    ca_pem: String,
    leaf_der: rustls::pki_types::CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
}

impl TestCa {
    fn new() -> TestCa {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "sprintlog test CA");
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.subject_alt_names
            .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
        let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
        TestCa {
            ca_pem: ca_cert.pem(),
            leaf_der: leaf_cert.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
        }
    }

    fn leaf_key(&self) -> rustls::pki_types::PrivateKeyDer<'static> {
        rustls::pki_types::PrivateKeyDer::Pkcs8(self.leaf_key_der.clone().into())
    }

    /// The CA certificate in a PEM file, for `--webhook-ca-file`.
    fn ca_file(&self, dir: &tempfile::TempDir) -> std::path::PathBuf {
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

// ---------------------------------------------------------------- helpers

/// Registers a webhook; returns the registration's answer.
async fn register(t: &TestServer, c: &Created, url: &str, events: Value, format: &str) -> Value {
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/webhooks", c.planning),
            Some(&c.token),
            json!({ "url": url, "events": events, "format": format }),
        )
        .await;
    assert_eq!(status, 200, "register: {body}");
    body
}

/// The seq of the last event of `kind` in the planning's log.
async fn seq_of(t: &TestServer, c: &Created, kind: &str) -> i64 {
    let (_, page) = t
        .get(
            &format!("/api/plannings/{}/events", c.planning),
            Some(&c.token),
        )
        .await;
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["kind"] == kind)
        .and_then(|e| e["seq"].as_i64())
        .unwrap_or_else(|| panic!("no {kind} in {page}"))
}

fn advance(clock: &Clock, by_micros: i64) {
    clock.advance(Duration::from_micros(by_micros as u64));
}

// ---------------------------------------------------------------- TLS

/// An `https://` webhook to a receiver whose certificate a private CA signed: delivered when
/// the operator gives the server that CA (`--webhook-ca-file`), and a reported failure (the
/// job given up with the certificate as its reason, the failure counted) when not.
#[tokio::test]
async fn https_webhooks_reach_a_receiver_of_a_private_ca_given_to_the_server() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::tls(&ca).await;

    let t = TestServer::start_with(sqlite(), rx.limits(10, Some(ca.ca_file(&dir)))).await;
    let c = t.create("Sprint 1").await;
    register(&t, &c, &rx.url("trusted"), json!(["SyncStarted"]), "slack").await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].path, "trusted");
    assert_eq!(got[0].status, 200);
    assert!(got[0].json()["text"]
        .as_str()
        .unwrap()
        .contains("the live session started"));

    // The same receiver, a server without the CA: refused at the handshake, retried, reported.
    let t2 = TestServer::start_with(sqlite(), rx.limits(10, None)).await;
    let c2 = t2.create("Sprint 2").await;
    let hook = register(
        &t2,
        &c2,
        &rx.url("untrusted"),
        json!(["SyncStarted"]),
        "slack",
    )
    .await;
    t2.ok(&c2.planning, &c2.token, json!({"type": "StartSync"}))
        .await;
    let seq = seq_of(&t2, &c2, "SyncStarted").await;
    let status = t2
        .job_done(&format!(
            "webhook:{}:{seq}",
            hook["webhook"].as_str().unwrap()
        ))
        .await;
    assert!(status.failed, "{status:?}");
    assert_eq!(status.attempts, 3, "{status:?}");
    let error = status.last_error.unwrap_or_default();
    assert!(
        error.contains("certificate") && error.contains(&format!("https://{}", rx.addr)),
        "{error}"
    );
    assert_eq!(t2.metric("sprintlog_webhook_failures_total").await, 3.0);
    assert_eq!(t2.metric("sprintlog_webhook_given_up_total").await, 1.0);
    assert!(rx.got().iter().all(|r| r.path != "untrusted"));
}

// ---------------------------------------------------------------- formats

/// One event to four webhooks, one per format; each chat body has the fields its service
/// documents as required, says what happened in plain words, and links to the planning.
#[tokio::test]
async fn each_chat_format_has_its_services_documented_shape() {
    let rx = Receiver::plain().await;
    let t = TestServer::start_with(sqlite(), rx.limits(10, None)).await;
    let c = t.create("Sprint <1> & co").await;
    for format in ["generic", "slack", "teams", "mattermost"] {
        let hook = register(&t, &c, &rx.url(format), json!(["SyncStarted"]), format).await;
        assert_eq!(hook["format"], format);
    }
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/webhooks", c.planning),
            Some(&c.token),
            json!({ "url": rx.url("x"), "format": "discord" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_body");
    let (_, list) = t
        .get(
            &format!("/api/plannings/{}/webhooks", c.planning),
            Some(&c.token),
        )
        .await;
    let mut formats: Vec<&str> = list["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["format"].as_str().unwrap())
        .collect();
    formats.sort();
    assert_eq!(formats, ["generic", "mattermost", "slack", "teams"]);

    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let got = rx.wait_for(4).await;
    let body = |name: &str| {
        got.iter()
            .find(|r| r.path == name)
            .unwrap_or_else(|| panic!("nothing at {name}"))
            .json()
    };
    let link = format!("{}/#/p/{}", t.base, c.planning);
    let schedule = format!("{link}/time");
    let said = "Sprint <1> & co: the live session started";

    // Generic: as before.
    let generic = body("generic");
    assert_eq!(generic["event"]["kind"], "SyncStarted");
    assert_eq!(generic["planning"], c.planning.as_str());

    // Slack incoming webhook: `text` (required as the fallback once `blocks` are given) and
    // `blocks`, each with its `type`; a section's text object has `type` and `text`; mrkdwn
    // escapes `&`, `<` and `>`.
    let slack = body("slack");
    let escaped = "Sprint &lt;1&gt; &amp; co: the live session started";
    assert_eq!(slack["text"], escaped);
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty() && blocks.len() <= 50);
    assert!(blocks.iter().all(|b| b["type"].is_string()));
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[0]["text"]["text"], escaped);
    assert!(blocks[0]["text"]["text"].as_str().unwrap().len() <= 3000);
    assert_eq!(blocks[1]["type"], "context");
    let links = blocks[1]["elements"][0]["text"].as_str().unwrap();
    assert!(links.contains(&format!("<{link}|")), "{links}");
    assert!(links.contains(&format!("<{schedule}|")), "{links}");

    // Teams Workflows webhook: a message whose attachment is an Adaptive Card.
    let teams = body("teams");
    assert_eq!(teams["type"], "message");
    let attachment = &teams["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(card["version"].as_str().unwrap().starts_with("1."));
    let text = card["body"][0]["text"].as_str().unwrap();
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert!(text.contains("the live session started"), "{text}");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], link.as_str());
    assert_eq!(card["actions"][1]["url"], schedule.as_str());

    // Mattermost incoming webhook: `text` (markdown) and optional `attachments`, each with a
    // `fallback`.
    let mm = body("mattermost");
    let text = mm["text"].as_str().unwrap();
    assert!(text.contains("the live session started"), "{text}");
    assert!(text.contains(&format!("]({link})")), "{text}");
    assert_eq!(mm["attachments"][0]["fallback"], said);
    assert_eq!(mm["attachments"][0]["title_link"], link.as_str());

    // Every body is signed as sent.
    for r in &got {
        assert_eq!(r.status, 200);
        assert!(r.header("x-sprintlog-signature").starts_with("sha256="));
        assert!(r.header("webhook-signature").starts_with("v1,"));
    }
}

// ---------------------------------------------------------------- Standard Webhooks

/// A receiver that checks Standard Webhooks signatures with a five-minute window: a delivery
/// retried after a failure keeps its id and is signed afresh at each attempt; the same request
/// replayed ten minutes later is refused, and a delivery made then is accepted.
#[tokio::test]
async fn a_replayed_delivery_is_refused_by_a_receiver_checking_the_window() {
    let rx = Receiver::plain().await;
    let clock = manual_clock();
    rx.state
        .now
        .store(clock.now_micros() / SECOND, Ordering::SeqCst);
    rx.state.script.lock().unwrap().push_back(503);
    let t = TestServer::start_clocked(sqlite(), rx.limits(1000, None), &clock).await;
    let c = t.create("Sprint 1").await;
    let hook = register(&t, &c, &rx.url("std"), json!(["SyncStarted"]), "slack").await;
    let secret = hook["standard_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{hook}");
    let key = whsec_key(secret);
    // 24 to 64 bytes, as the specification asks of secrets.
    assert!((24..=64).contains(&key.len()), "{}", key.len());
    *rx.state.key.lock().unwrap() = Some(key.clone());

    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let first = rx.wait_for(1).await.remove(0);
    assert_eq!(first.status, 503);
    let seq = seq_of(&t, &c, "SyncStarted").await;
    let job = format!("webhook:{}:{seq}", hook["webhook"].as_str().unwrap());
    // The failure recorded (its retry due a backoff after it) before the clock moves on.
    eventually(Duration::from_secs(10), "the retry scheduled", || async {
        (t.job(&job).await.attempts == 1).then_some(())
    })
    .await;
    // The retry, a backoff later (on the server's clock, which the receiver's follows).
    advance(&clock, 2 * SECOND);
    rx.state
        .now
        .store(clock.now_micros() / SECOND, Ordering::SeqCst);
    let retry = rx.wait_for(2).await.remove(1);
    assert_eq!(retry.status, 200, "{:?}", retry.headers);
    let delivery = sprintlog::engine::webhook::delivery_id(&job).to_string();
    assert_eq!(first.header("webhook-id"), delivery);
    assert_eq!(retry.header("webhook-id"), delivery);
    assert_eq!(retry.header("x-sprintlog-delivery"), delivery);
    let ts = |r: &Received| r.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!(ts(&retry) >= ts(&first) + 2, "signed at each attempt");
    assert_ne!(
        first.header("webhook-signature"),
        retry.header("webhook-signature")
    );

    // Ten minutes later someone replays the accepted request, byte for byte.
    advance(&clock, 600 * SECOND);
    rx.state
        .now
        .store(clock.now_micros() / SECOND, Ordering::SeqCst);
    let mut replay = t.http.post(rx.url("std")).body(retry.body.clone());
    for (name, value) in &retry.headers {
        if name != "host" && name != "content-length" {
            replay = replay.header(name, value);
        }
    }
    let answer = replay.send().await.unwrap();
    assert_eq!(answer.status(), 401);
    let replayed = rx.got().remove(2);
    assert_eq!(replayed.header("webhook-id"), delivery);
    assert!(
        verify_standard(&key, &replayed.headers, &replayed.body, ts(&replayed)).is_ok(),
        "the signature itself is still valid: only the window refuses it"
    );

    // A delivery made now is accepted.
    t.ok(&c.planning, &c.token, json!({"type": "EndSync"}))
        .await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let fresh = rx.wait_for(4).await.remove(3);
    assert_eq!(fresh.status, 200);
    assert_ne!(fresh.header("webhook-id"), delivery);
}

// ---------------------------------------------------------------- the reminder

/// The scheduler's reminder before a round's deadline goes to a chat webhook that subscribes
/// to `ReminderSent`, in that webhook's format, naming who is reminded and when the round
/// closes.
#[tokio::test]
async fn the_deadline_reminder_is_posted_to_a_chat_webhook() {
    let rx = Receiver::plain().await;
    let clock = manual_clock();
    let t = TestServer::start_clocked(sqlite(), rx.limits(10, None), &clock).await;
    let c = t.create("Sprint 9").await;
    let (_, _ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    register(&t, &c, &rx.url("teams"), json!(["ReminderSent"]), "teams").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "SetSchedule", "schedule": {"reminder_minutes": 1}}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "DraftGoal", "text": "Ship login"}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let item = st["state"]["rank"][0].as_str().unwrap().to_string();
    let deadline = clock.now_micros() + 65 * SECOND;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    assert!(rx.got().is_empty());
    // The reminder falls due a minute before the deadline.
    advance(&clock, 6 * SECOND);
    let ann_reminded = eventually(Duration::from_secs(20), "Ann's reminder", || async {
        rx.got().into_iter().map(|r| r.json()).find(|b| {
            b["attachments"][0]["content"]["body"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("Ann"))
        })
    })
    .await;
    let card = &ann_reminded["attachments"][0]["content"];
    let text = card["body"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Sprint 9: "), "{text}");
    assert!(text.contains("Ann"), "{text}");
    assert!(text.contains("round closes"), "{text}");
    assert_eq!(
        card["actions"][0]["url"],
        format!("{}/#/p/{}", t.base, c.planning)
    );
}
