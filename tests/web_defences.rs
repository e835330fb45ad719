//! The browser's defences and the smaller secrets: security headers on every answer, the
//! `Host` allow-list, the websocket `Origin` check with its scheme, participant ids that need
//! the server's key, Markdown exports that keep user text as text, and private database files.

mod common;

use common::on_both_backends;
use common::server::{Backend, TestServer};
use serde_json::json;
use sprintlog::config::Limits;
use sprintlog::server::Server;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The headers every answer carries, and the policy they must say.
const HEADERS: &[(&str, &str)] = &[
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
];
const CSP_PARTS: &[&str] = &[
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let t = TestServer::start(common::server::sqlite()).await;
    let c = t.create("Headers").await;
    let host = t.base.trim_start_matches("http://").to_string();
    let paths = [
        "/".to_string(),
        "/app.js".into(),
        "/style.css".into(),
        "/no-such-file".into(),
        "/healthz".into(),
        "/readyz".into(),
        "/metrics".into(),
        format!("/api/plannings/{}", c.planning),
        format!("/api/plannings/{}/audit?format=md", c.planning),
        format!("/ws/plannings/{}", c.planning),
    ];
    for path in &paths {
        for token in [None, Some(c.token.as_str())] {
            let mut req = t.http.get(format!("{}{path}", t.base));
            if let Some(tok) = token {
                req = req.bearer_auth(tok);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let h = resp.headers();
            for (name, want) in HEADERS {
                assert_eq!(
                    h.get(*name).map(|v| v.to_str().unwrap()),
                    Some(*want),
                    "{name} on {path} ({status})"
                );
            }
            let csp = h
                .get("content-security-policy")
                .unwrap_or_else(|| panic!("no CSP on {path} ({status})"))
                .to_str()
                .unwrap();
            for part in CSP_PARTS {
                assert!(csp.contains(part), "{part:?} missing in {csp:?} on {path}");
            }
            assert!(!csp.contains("unsafe"), "{csp}");
        }
    }
    // A JSON refusal and a write carry them too.
    let resp = t
        .http
        .post(format!("{}/api/plannings/{}/commands", t.base, c.planning))
        .json(&json!({"client_op_id": "x", "command": {"type": "Nope"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    // The page names this host's websocket origins in its connect-src.
    let page = t.http.get(format!("{}/", t.base)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{host} wss://{host};")),
        "{csp}"
    );
}

/// A raw HTTP/1.1 GET with the given `Host`; returns (status, body).
async fn get_with_host(t: &TestServer, path: &str, host: &str) -> (u16, serde_json::Value) {
    let resp = t
        .http
        .get(format!("{}{path}", t.base))
        .header("host", host)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_outside_the_allow_list_are_refused() {
    let limits = Limits {
        allowed_hosts: vec!["plan.example.com".into(), "127.0.0.1:1".into()],
        ..Limits::default()
    };
    let t = TestServer::start_with(common::server::sqlite(), limits).await;
    let port = t.base.rsplit(':').next().unwrap().to_string();
    for ok in [
        "plan.example.com",
        "PLAN.example.com:8443",
        "plan.example.com:1",
    ] {
        let (status, body) = get_with_host(&t, "/", ok).await;
        assert_ne!(status, 400, "{ok}: {body}");
        assert_ne!(body["error"]["code"], "bad_host", "{ok}");
    }
    for bad in [
        "evil.example".to_string(),
        format!("127.0.0.1:{port}"),
        "plan.example.com.evil.example".into(),
        "127.0.0.1:12".into(),
    ] {
        let (status, body) = get_with_host(&t, "/", &bad).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["code"], "bad_host", "{bad}: {body}");
        let (status, body) = get_with_host(&t, "/api/plannings", &bad).await;
        assert_eq!((status, &body["error"]["code"]), (400, &json!("bad_host")));
        // Probes answer whatever the host.
        assert_eq!(get_with_host(&t, "/healthz", &bad).await.0, 200, "{bad}");
        assert_eq!(get_with_host(&t, "/readyz", &bad).await.0, 200, "{bad}");
    }
    // The websocket route too, before any token is looked at.
    let mut req = format!("{}/ws/plannings/{}", t.ws_base, uuid::Uuid::nil())
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("host", "evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400)
        }
        other => panic!("upgrade with a foreign host: {:?}", other.map(|r| r.1)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_host_is_served_without_a_list() {
    let t = TestServer::start(common::server::sqlite()).await;
    let (status, _) = get_with_host(&t, "/healthz", "anything.example").await;
    assert_eq!(status, 200);
    let resp = t
        .http
        .get(format!("{}/", t.base))
        .header("host", "anything.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Opens a websocket with `headers` (name, value); returns the HTTP status (101 on success).
async fn upgrade_status(base: &str, planning: &str, token: &str, headers: &[(&str, &str)]) -> u16 {
    let ws = base.replace("http://", "ws://");
    let mut req = format!("{ws}/ws/plannings/{planning}?token={token}")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        let name: axum::http::HeaderName = k.parse().unwrap();
        req.headers_mut().insert(name, v.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => resp.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("upgrade failed without a status: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_check_compares_the_scheme() {
    // Plain: the server speaks HTTP, so its own origin is http://host.
    let t = TestServer::start(common::server::sqlite()).await;
    let c = t.create("Schemes").await;
    let host = t.base.trim_start_matches("http://").to_string();
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let http_own = format!("http://{host}");
    let https_own = format!("https://{host}");
    assert_eq!(
        upgrade_status(&t.base, p, tok, &[("origin", &http_own)]).await,
        101
    );
    assert_eq!(
        upgrade_status(&t.base, p, tok, &[("origin", &https_own)]).await,
        403,
        "https origin on a plain-HTTP server"
    );
    // X-Forwarded-Proto from an untrusted peer is ignored.
    let forwarded = [
        ("origin", https_own.as_str()),
        ("x-forwarded-proto", "https"),
    ];
    assert_eq!(upgrade_status(&t.base, p, tok, &forwarded).await, 403);

    // Behind a trusted proxy that says https, the own origin is https://host.
    let behind = Limits {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Limits::default()
    };
    let t2 = TestServer::start_with(Backend::Shared(t.backend.url().into()), behind).await;
    let host2 = t2.base.trim_start_matches("http://").to_string();
    let (https2, http2) = (format!("https://{host2}"), format!("http://{host2}"));
    let tls = [("origin", https2.as_str()), ("x-forwarded-proto", "https")];
    assert_eq!(upgrade_status(&t2.base, p, tok, &tls).await, 101);
    let downgraded = [("origin", http2.as_str()), ("x-forwarded-proto", "https")];
    assert_eq!(upgrade_status(&t2.base, p, tok, &downgraded).await, 403);

    // With --public-url https://host, a request for that host expects https://host.
    let store = sprintlog::store::open(t.backend.url()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let public = format!("https://plan.example.com:{}", addr.port());
    let s = Server::start(store, addr, Limits::default(), Some(public.clone()))
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let named = format!("plan.example.com:{}", addr.port());
    let http_named = format!("http://{named}");
    let ok = [("host", named.as_str()), ("origin", public.as_str())];
    assert_eq!(upgrade_status(&base, p, tok, &ok).await, 101);
    let plain = [("host", named.as_str()), ("origin", http_named.as_str())];
    assert_eq!(upgrade_status(&base, p, tok, &plain).await, 403);
    s.shutdown().await;
}

/// The participant id of the unkeyed derivation older servers used (SHA-256 of the planning
/// and the token's hash): what an offline guesser could compute.
fn unkeyed_id(planning: &str, token: &str) -> String {
    let planning: uuid::Uuid = planning.parse().unwrap();
    let hash = sprintlog::engine::auth::hash_secret(token);
    sprintlog::engine::auth::derived_id(
        b"sprintlog participant id\0",
        &[planning.as_bytes(), hash.as_bytes()],
    )
    .to_string()
}

async fn participant_ids_need_the_server_key(t: &TestServer) {
    let c = t.create("Ids").await;
    let token = "ab".repeat(32);
    let join = json!({ "invite": c.member_invite, "name": "Ann", "token": token });
    let path = format!("/api/plannings/{}/join", c.planning);
    let (status, first) = t.post(&path, None, join.clone()).await;
    assert_eq!(status, 200, "{first}");
    let ann = first["participant"].as_str().unwrap().to_string();
    assert_ne!(ann, unkeyed_id(&c.planning, &token), "id guessable offline");
    // A retried join lands on the same participant, once.
    let (status, again) = t.post(&path, None, join).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["participant"], first["participant"]);
    let state = t.state(&c.planning, &c.token).await;
    let people = state["state"]["participants"].as_object().unwrap();
    assert_eq!(people.len(), 2, "{people:?}");

    // The same after a restart: the key is the database's, not the process's.
    let backend = t.backend.shared();
    let t2 = TestServer::start(backend).await;
    let (status, third) = t2
        .post(
            &path,
            None,
            json!({ "invite": c.member_invite, "name": "Ann", "token": token }),
        )
        .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["participant"], first["participant"]);

    // A planning created with a client token: its creator's id is keyed too.
    let own = "cd".repeat(32);
    let (status, made) = t
        .post(
            "/api/plannings",
            None,
            json!({ "title": "Mine", "name": "Fran", "token": own }),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let planning = made["planning"].as_str().unwrap();
    assert_ne!(made["participant"], json!(unkeyed_id(planning, &own)));
}
on_both_backends!(participant_ids_need_the_server_key);

/// A participant who joined under an older server keeps the id it got then (derived without
/// the key), and a retry of that join with its token still lands on it.
async fn participants_of_older_servers_keep_their_ids(t: &TestServer) {
    use sprintlog::domain::command::{Command, Join};
    use sprintlog::domain::{ParticipantId, PlanningId};
    let c = t.create("Old ids").await;
    let token = "ef".repeat(32);
    let old = unkeyed_id(&c.planning, &token);
    let app = t.app();
    let planning = PlanningId(c.planning.parse().unwrap());
    let room = app.registry.get(planning).await.unwrap().unwrap();
    let actor = ParticipantId(old.parse().unwrap());
    let join = Command::Join(Join {
        name: "Ann".into(),
        invite_hash: sprintlog::engine::auth::hash_secret(&c.member_invite),
        token_hash: sprintlog::engine::auth::hash_secret(&token),
    });
    sprintlog::engine::commands::execute(app, &room, actor, format!("join:{old}"), None, join)
        .await
        .unwrap();
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/join", c.planning),
            None,
            json!({ "invite": c.member_invite, "name": "Ann", "token": token }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["participant"], json!(old));
    let state = t.state(&c.planning, &token).await;
    assert_eq!(state["you"]["participant"], json!(old));
    assert_eq!(state["state"]["participants"].as_object().unwrap().len(), 2);
}
on_both_backends!(participants_of_older_servers_keep_their_ids);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_exports_keep_user_text_as_text() {
    let t = TestServer::start(common::server::sqlite()).await;
    let (status, made) = t
        .post(
            "/api/plannings",
            None,
            json!({ "title": "<script>alert(1)</script>", "name": "Fran *the* [boss](http://x)" }),
        )
        .await;
    assert_eq!(status, 200, "{made}");
    let (p, tok) = (
        made["planning"].as_str().unwrap(),
        made["token"].as_str().unwrap(),
    );
    let evil = "<img src=x onerror=alert(1)>";
    t.ok(
        p,
        tok,
        json!({"type": "ProposeItem", "draft": {"title": evil}}),
    )
    .await;
    t.ok(
        p,
        tok,
        json!({"type": "ProposeItem", "draft": {"title": "**x** | y `z` #"}}),
    )
    .await;
    t.ok(
        p,
        tok,
        json!({"type": "DraftGoal", "text": "_ship_ <b>it</b> & ~~more~~"}),
    )
    .await;
    // The digest tells a reader what the others did: Ann reads it.
    let invite = made["member_invite"].as_str().unwrap();
    let (_, ann) = t.join(p, invite, "Ann").await;
    for (path, reader) in [
        (format!("/api/plannings/{p}/audit?format=md"), tok),
        (
            format!("/api/plannings/{p}/digest?since=0&format=md"),
            ann.as_str(),
        ),
    ] {
        let md = t
            .http
            .get(format!("{}{path}", t.base))
            .bearer_auth(reader)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!md.contains('<'), "raw HTML in {path}:\n{md}");
        assert!(
            md.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path}:\n{md}"
        );
        assert!(md.contains(r"\*\*x\*\* \| y \`z\` \#"), "{path}:\n{md}");
        assert!(!md.contains("**x**"), "{path}");
        assert!(
            md.contains(r"\_ship\_ &lt;b&gt;it&lt;/b&gt; &amp; \~\~more\~\~"),
            "{path}:\n{md}"
        );
        if path.contains("audit") {
            assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{md}");
            assert!(md.contains(r"Fran \*the\* \[boss\](http://x)"), "{md}");
        }
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let db = common::fresh_sqlite();
    let path = db.url.trim_start_matches("sqlite://").to_string();
    let t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let c = t.create("Private").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "A"}}),
    )
    .await;
    let mode = |p: &str| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        assert_eq!(mode(&file), 0o600, "{file} is {:o}", mode(&file));
    }
    // The operator's export of a planning (sealed votes included) is private as well.
    let out = format!("{path}.export.jsonl");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["export", &c.planning, "--out", &out])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(mode(&out), 0o600, "export is {:o}", mode(&out));
    let backup = format!("{path}.backup");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["backup", &backup])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(mode(&backup), 0o600, "backup is {:o}", mode(&backup));
    assert!(
        std::fs::metadata(&backup).unwrap().len() > 0,
        "the backup was written"
    );
    drop(t);
}
