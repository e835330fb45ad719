//! Every REST write route goes through the one command entry: rate-limited per token (429
//! past the burst), applied once when retried with the same op id (same answer, log head
//! unchanged), and its refusals counted in `/metrics`. One table of routes, on both backends.

mod common;

use common::server::*;
use reqwest::Method;
use serde_json::{json, Value};
use sprintlog::config::{Limits, WebhookConfig};

/// A small burst at one command per second: a few requests in a row drain it.
const BURST: u32 = 4;

const RATE_LIMITED: &str = "sprintlog_refusals_total{code=\"rate_limited\"}";

macro_rules! on_both_backends {
    ($scenario:ident, $limits:expr) => {
        mod $scenario {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let mut t = TestServer::start_with(crate::common::server::sqlite(), $limits).await;
                super::$scenario(&t).await;
                t.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let name = concat!("write_routes::", stringify!($scenario));
                let Some(backend) = crate::common::server::postgres(name).await else {
                    return;
                };
                let mut t = TestServer::start_with(backend, $limits).await;
                super::$scenario(&t).await;
                t.stop().await;
            }
        }
    };
}

/// The test client connects from 127.0.0.1, made a trusted proxy so that each write without
/// a credential (creating a planning or a team) can come from an address of its own, with a
/// bucket of its own; webhooks may point at a closed local port.
fn tight() -> Limits {
    let defaults = Limits::default();
    Limits {
        command_rate: 1,
        command_burst: BURST,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        webhooks: WebhookConfig {
            allow: vec!["127.0.0.1:9".into()],
            ..defaults.webhooks.clone()
        },
        ..defaults
    }
}

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

/// One write request as a client sends it (and sends it again).
struct Write {
    method: Method,
    path: String,
    token: Option<String>,
    /// The `Idempotency-Key` header.
    key: Option<&'static str>,
    body: Body,
    /// The client's address (`X-Forwarded-For`, see [`tight`]).
    client: String,
}

impl Write {
    fn new(method: Method, path: String, token: Option<&str>, body: Body) -> Self {
        Write {
            method,
            path,
            token: token.map(str::to_string),
            key: None,
            body,
            client: "10.0.0.1".into(),
        }
    }

    fn key(mut self, key: &'static str) -> Self {
        self.key = Some(key);
        self
    }

    fn from(mut self, client: &str) -> Self {
        self.client = client.into();
        self
    }

    async fn send(&self, t: &TestServer) -> (u16, Value) {
        let mut req = t
            .http
            .request(self.method.clone(), format!("{}{}", t.base, self.path))
            .header("x-forwarded-for", &self.client);
        if let Some(tok) = &self.token {
            req = req.bearer_auth(tok);
        }
        if let Some(k) = self.key {
            req = req.header("idempotency-key", k);
        }
        req = match &self.body {
            Body::None => req,
            Body::Json(v) => req.json(v),
            Body::Csv(s) => req.header("content-type", "text/csv").body(*s),
        };
        let resp = req.send().await.expect("http request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Whose log a write goes to, to read its head (planning, token).
type Log = Option<(String, String)>;

async fn head(t: &TestServer, log: &Log) -> Option<i64> {
    let (p, tok) = log.as_ref()?;
    t.state(p, tok).await["head"].as_i64()
}

/// Sends `w`, retries it when `idempotent` (same answer but for `duplicate`, head unchanged),
/// then sends it until it is refused with 429, which `/metrics` counts.
async fn check(t: &TestServer, route: &str, w: Write, log: Log, idempotent: bool) {
    let limited_before = t.metric(RATE_LIMITED).await;
    let (s, mut first) = w.send(t).await;
    assert_eq!(s, 200, "{route}: {first}");
    let head_after = head(t, &log).await;
    if idempotent {
        let (s, mut again) = w.send(t).await;
        assert_eq!(s, 200, "{route} retried: {again}");
        for answer in [&mut first, &mut again] {
            if let Some(o) = answer.as_object_mut() {
                o.remove("duplicate");
            }
        }
        assert_eq!(first, again, "{route}: a retry answers the same");
        assert_eq!(
            head(t, &log).await,
            head_after,
            "{route}: a retry writes nothing"
        );
    }
    let mut limited = false;
    for _ in 0..BURST + 3 {
        let (s, b) = w.send(t).await;
        if s == 429 {
            assert_eq!(b["error"]["code"], "rate_limited", "{route}: {b}");
            limited = true;
            break;
        }
    }
    assert!(limited, "{route}: refused past the burst");
    if idempotent {
        assert_eq!(
            head(t, &log).await,
            head_after,
            "{route}: refusals write nothing"
        );
    }
    assert!(
        t.metric(RATE_LIMITED).await > limited_before,
        "{route}: the refusal is counted in /metrics"
    );
}

/// A planning created from an address of its own (so from a bucket of its own).
async fn planning(t: &TestServer, client: &str) -> Created {
    let (s, b) = Write::new(
        Method::POST,
        "/api/plannings".into(),
        None,
        Body::Json(json!({"title": "Writes", "name": "Fran"})),
    )
    .from(client)
    .send(t)
    .await;
    assert_eq!(s, 200, "create: {b}");
    let text = |k: &str| b[k].as_str().unwrap().to_string();
    Created {
        planning: text("planning"),
        participant: text("participant"),
        token: text("token"),
        member_invite: text("member_invite"),
        observer_invite: text("observer_invite"),
    }
}

/// A team created from an address of its own; returns (team, admin token).
async fn team(t: &TestServer, client: &str) -> (String, String) {
    let (s, b) = Write::new(
        Method::POST,
        "/api/teams".into(),
        None,
        Body::Json(json!({"name": "Core"})),
    )
    .from(client)
    .send(t)
    .await;
    assert_eq!(s, 200, "create team: {b}");
    let text = |k: &str| b[k].as_str().unwrap().to_string();
    (text("team"), text("admin_token"))
}

async fn every_write_route_is_limited_idempotent_and_counted(t: &TestServer) {
    use Method as M;
    // Creating a planning and a team: rate-limited by the client's address, applied once with
    // a key and the client's own token.
    let create = json!({"title": "Writes", "name": "Fran", "token": "cd".repeat(32)});
    let w = Write::new(M::POST, "/api/plannings".into(), None, Body::Json(create)).from("10.1.0.1");
    check(t, "POST /api/plannings", w.key("plan-1"), None, true).await;
    let w = Write::new(
        M::POST,
        "/api/teams".into(),
        None,
        Body::Json(json!({"name": "Core", "token": "ef".repeat(32)})),
    )
    .from("10.1.0.2");
    check(t, "POST /api/teams", w.key("team-1"), None, true).await;

    // The planning routes, each on a planning of its own (a fresh facilitator's bucket).
    let c = planning(t, "10.2.0.1").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let join = json!({"invite": c.member_invite, "name": "Ann", "token": "ab".repeat(32)});
    let path = format!("/api/plannings/{p}/join");
    let w = Write::new(M::POST, path.clone(), None, Body::Json(join));
    check(t, "POST …/join", w, log, true).await;
    // A key alone would let two joiners who picked the same one share a token.
    let join = json!({"invite": c.member_invite, "name": "Bo"});
    let w = Write::new(M::POST, path, None, Body::Json(join)).key("join-1");
    let (s, b) = w.send(t).await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("bad_request")));

    let c = planning(t, "10.2.0.2").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let cmd = json!({"client_op_id": "c-1", "command": {"type": "DraftGoal", "text": "Ship"}});
    let w = Write::new(
        M::POST,
        format!("/api/plannings/{p}/commands"),
        Some(&tok),
        Body::Json(cmd),
    );
    check(t, "POST …/commands", w, log, true).await;

    let c = planning(t, "10.2.0.3").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let w = Write::new(
        M::POST,
        format!("/api/plannings/{p}/invites"),
        Some(&tok),
        Body::Json(json!({"role": "member"})),
    );
    check(t, "POST …/invites", w.key("rotate-1"), log, true).await;

    let c = planning(t, "10.2.0.4").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let (ann, _) = t.join(&p, &c.member_invite, "Ann").await;
    let w = Write::new(
        M::POST,
        format!("/api/plannings/{p}/participants/{ann}/link"),
        Some(&tok),
        Body::Json(json!({"revoke_previous": false})),
    );
    check(
        t,
        "POST …/participants/{pid}/link",
        w.key("link-1"),
        log,
        true,
    )
    .await;

    let c = planning(t, "10.2.0.5").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let (ann, _) = t.join(&p, &c.member_invite, "Ann").await;
    let path = format!("/api/plannings/{p}/participants/{ann}");
    let w = Write::new(M::DELETE, path, Some(&tok), Body::None);
    check(
        t,
        "DELETE …/participants/{pid}",
        w.key("remove-1"),
        log,
        true,
    )
    .await;

    let c = planning(t, "10.2.0.6").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["RoundClosed"]});
    let w = Write::new(
        M::POST,
        format!("/api/plannings/{p}/webhooks"),
        Some(&tok),
        Body::Json(hook.clone()),
    );
    check(t, "POST …/webhooks", w.key("hook-1"), log, true).await;

    let c = planning(t, "10.2.0.7").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let (s, b) = t
        .post(&format!("/api/plannings/{p}/webhooks"), Some(&tok), hook)
        .await;
    assert_eq!(s, 200, "{b}");
    let path = format!(
        "/api/plannings/{p}/webhooks/{}",
        b["webhook"].as_str().unwrap()
    );
    let w = Write::new(M::DELETE, path, Some(&tok), Body::None);
    check(
        t,
        "DELETE …/webhooks/{webhook}",
        w.key("unhook-1"),
        log,
        true,
    )
    .await;

    let c = planning(t, "10.2.0.8").await;
    let (p, tok) = (c.planning.clone(), c.token.clone());
    let log: Log = Some((p.clone(), tok.clone()));
    let path = format!("/api/plannings/{p}/import?format=csv");
    let w = Write::new(M::POST, path, Some(&tok), Body::Csv("title\nA\nB\n"));
    check(t, "POST …/import", w.key("import-1"), log, true).await;

    // Team routes: keyed on the team's admin token, each team its own.
    let (team_id, admin) = team(t, "10.3.0.1").await;
    let roster = json!({"roster": [{"name": "Ada"}]});
    let path = format!("/api/teams/{team_id}/roster");
    let w = Write::new(M::PUT, path, Some(&admin), Body::Json(roster));
    check(
        t,
        "PUT /api/teams/{id}/roster",
        w.key("roster-1"),
        None,
        true,
    )
    .await;

    let (team_id, admin) = team(t, "10.3.0.2").await;
    let path = format!("/api/teams/{team_id}/plannings");
    let body = Body::Json(json!({"title": "Sprint 1", "name": "Fran"}));
    let w = Write::new(M::POST, path, Some(&admin), body);
    check(
        t,
        "POST /api/teams/{id}/plannings",
        w.key("sprint-1"),
        None,
        true,
    )
    .await;
}
on_both_backends!(every_write_route_is_limited_idempotent_and_counted, tight());

/// A refused command is counted under its own code, over REST and the websocket alike.
async fn refusals_are_counted_by_code(t: &TestServer) {
    let c = planning(t, "10.4.0.1").await;
    let metric = "sprintlog_refusals_total{code=\"op_conflict\"}";
    let before = t.metric(metric).await;
    let goal = |text: &str| json!({"type": "DraftGoal", "text": text});
    let (s, _) = t.command(&c.planning, &c.token, "op-1", goal("One")).await;
    assert_eq!(s, 200);
    let (s, b) = t.command(&c.planning, &c.token, "op-1", goal("Two")).await;
    assert_eq!((s, b["error"]["code"].as_str()), (409, Some("op_conflict")));
    assert_eq!(t.metric(metric).await, before + 1.0);
}
on_both_backends!(refusals_are_counted_by_code, tight());

/// A secret derived from an `Idempotency-Key` is the caller's own: another participant who
/// picks the same key gets another secret.
async fn a_key_is_scoped_to_its_caller(t: &TestServer) {
    let c = planning(t, "10.5.0.1").await;
    let (ann, ann_token) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let path = format!("/api/plannings/{}/participants/{ann}/link", c.planning);
    let reissue = |token: &str, revoke: bool| {
        let body = Body::Json(json!({"revoke_previous": revoke}));
        Write::new(Method::POST, path.clone(), Some(token), body).key("same")
    };
    let (s, by_facilitator) = reissue(&c.token, false).send(t).await;
    assert_eq!(s, 200, "{by_facilitator}");
    let (s, by_ann) = reissue(&ann_token, true).send(t).await;
    assert_eq!(s, 200, "{by_ann}");
    assert_ne!(by_facilitator["token"], by_ann["token"]);
}
on_both_backends!(a_key_is_scoped_to_its_caller, tight());

/// A planning created again with the same `Idempotency-Key` and client-drawn token is created
/// once: the same planning, token and invites, one event; the same key and token with another
/// body is refused, and a key without a token too (two clients could pick the same key).
async fn a_creation_retried_with_its_key_and_token_applies_once(t: &TestServer) {
    let token = "cd".repeat(32);
    let create = |body: Value, client: &str| {
        Write::new(
            Method::POST,
            "/api/plannings".into(),
            None,
            Body::Json(body),
        )
        .from(client)
        .key("create-1")
    };
    let body = json!({"title": "Once", "name": "Fran", "token": token});
    let (s, first) = create(body.clone(), "10.6.0.1").send(t).await;
    assert_eq!(s, 200, "{first}");
    let (s, again) = create(body, "10.6.0.2").send(t).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(
        first, again,
        "a retry answers the same planning and secrets"
    );
    let p = first["planning"].as_str().expect("planning").to_string();
    assert_eq!(first["token"], token.as_str());
    assert_eq!(
        t.state(&p, &token).await["head"],
        1,
        "one creation in the log"
    );
    let invite = first["member_invite"].as_str().expect("invite");
    let (_, ann_token) = t.join(&p, invite, "Ann").await;
    assert_eq!(t.state(&p, &ann_token).await["head"], 2);

    let other = json!({"title": "Other", "name": "Fran", "token": token});
    let (s, b) = create(other, "10.6.0.3").send(t).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("op_conflict")),
        "{b}"
    );
    let keyless = json!({"title": "Keyless", "name": "Fran"});
    let (s, b) = create(keyless, "10.6.0.4").send(t).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{b}"
    );
    assert_eq!(
        t.state(&p, &token).await["head"],
        2,
        "refusals write nothing"
    );
}
on_both_backends!(
    a_creation_retried_with_its_key_and_token_applies_once,
    tight()
);
