//! The binary's logs as an operator's collector reads them: `--log-format json` writes one JSON
//! object per line (the access log included: method, path, status, duration, bytes, request
//! id), and no line ever holds a token, an invite or the metrics token, whether it came in
//! `?token=`, another query parameter or an `Authorization` header. Text logs written to a pipe
//! carry no colour codes.

mod common;

use common::time::eventually;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const METRICS_TOKEN: &str = "metrics-t0ken-n0t-for-logs";

/// The binary with its stdout lines collected as they come.
struct Proc {
    _child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    async fn start(db_url: &str, format: Option<&str>) -> Proc {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sprintlog"));
        cmd.env("DATABASE_URL", format!("{db_url}?mode=rwc"))
            .env("SPRINTLOG_BIND", "127.0.0.1:0")
            .env("SPRINTLOG_METRICS_TOKEN", METRICS_TOKEN)
            .env(
                "RUST_LOG",
                "debug,sqlx=warn,hyper=warn,h2=warn,reqwest=warn",
            )
            .env_remove("SPRINTLOG_PUBLIC_URL")
            .env_remove("SPRINTLOG_LOG_FORMAT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(f) = format {
            cmd.args(["--log-format", f]);
        }
        let mut child = cmd.spawn().expect("spawn the sprintlog binary");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for out in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = lines.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(out).lines();
                while let Ok(Some(l)) = r.next_line().await {
                    lines.lock().unwrap().push(l);
                }
            });
        }
        Proc {
            _child: child,
            lines,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The first line (so far) that `pick` finds something in.
    async fn wait_for<T>(&self, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
        eventually(Duration::from_secs(30), what, || {
            let found = self.lines().iter().find_map(|l| pick(l));
            async move { found }
        })
        .await
    }
}

fn json_line(l: &str) -> Option<Value> {
    serde_json::from_str(l).ok()
}

#[tokio::test]
async fn json_logs_never_show_a_token_or_credential() {
    let db = common::fresh_sqlite();
    let p = Proc::start(&db.url, Some("json")).await;
    let base = p
        .wait_for("the listening line", |l| {
            let v = json_line(l)?;
            (v["message"] == "sprintlog is listening")
                .then(|| v["url"].as_str().map(String::from))?
        })
        .await;
    let http = reqwest::Client::new();
    let created: Value = http
        .post(format!("{base}/api/plannings"))
        .header("x-request-id", "req-create")
        .json(&json!({"title": "Logs", "name": "Fran"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["planning"].as_str().unwrap();
    let token = created["token"].as_str().unwrap();
    let invite = created["member_invite"].as_str().unwrap();
    let secrets = [token, invite, METRICS_TOKEN];

    // The token in the query (as a browser's websocket sends it), in a header, and credentials
    // in query parameters the server does not even know.
    let gets = [
        (
            format!("/api/plannings/{id}?token={token}"),
            None,
            "req-query",
        ),
        (format!("/api/plannings/{id}"), Some(token), "req-header"),
        (
            format!("/api/plannings/{id}/events?after=0&limit=5&token={token}"),
            None,
            "req-events",
        ),
        (
            format!("/api/teams/{id}?admin={invite}&{token}"),
            None,
            "req-stray",
        ),
        ("/metrics".to_string(), Some(METRICS_TOKEN), "req-metrics"),
        ("/metrics".to_string(), Some(token), "req-metrics-refused"),
    ];
    for (path, bearer, rid) in &gets {
        let mut req = http
            .get(format!("{base}{path}"))
            .header("x-request-id", *rid);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.headers()["x-request-id"], *rid);
        let _ = resp.bytes().await.unwrap();
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "{}/ws/plannings/{id}?token={token}&since=0",
        base.replace("http://", "ws://")
    ))
    .await
    .expect("websocket");
    let _hello = ws.next().await;
    drop(ws);

    // Every request is in the access log once it has been answered.
    let mut ids: Vec<&str> = gets.iter().map(|g| g.2).collect();
    ids.push("req-create");
    for rid in &ids {
        p.wait_for(&format!("the access line of {rid}"), |l| {
            let v = json_line(l)?;
            (v["target"] == "sprintlog::access" && v["request_id"] == *rid).then_some(())
        })
        .await;
    }
    let ws_line = p
        .wait_for("the websocket's access line", |l| {
            let v = json_line(l)?;
            let path = v["path"].as_str()?;
            path.starts_with("/ws/plannings/").then_some(v)
        })
        .await;
    assert_eq!(ws_line["status"], 101, "{ws_line}");
    assert_eq!(
        ws_line["path"],
        format!("/ws/plannings/{id}?token=REDACTED&since=0")
    );

    let lines = p.lines();
    for l in &lines {
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        for s in secrets {
            assert!(!l.contains(s), "a credential in the log: {l}");
        }
        assert!(!l.to_ascii_lowercase().contains("bearer"), "{l}");
    }
    let access: Vec<Value> = lines
        .iter()
        .filter_map(|l| json_line(l))
        .filter(|v| v["target"] == "sprintlog::access")
        .collect();
    let by_id = |rid: &str| {
        access
            .iter()
            .find(|v| v["request_id"] == rid)
            .unwrap_or_else(|| panic!("no access line for {rid}"))
            .clone()
    };
    let q = by_id("req-query");
    assert_eq!(q["method"], "GET");
    assert_eq!(q["path"], format!("/api/plannings/{id}?token=REDACTED"));
    assert_eq!(q["status"], 200);
    assert!(q["bytes"].as_u64().unwrap() > 0, "{q}");
    assert!(q["duration_ms"].as_f64().unwrap() >= 0.0, "{q}");
    assert_eq!(
        by_id("req-events")["path"],
        format!("/api/plannings/{id}/events?after=0&limit=5&token=REDACTED")
    );
    assert_eq!(
        by_id("req-stray")["path"],
        format!("/api/teams/{id}?admin=REDACTED&REDACTED")
    );
    assert_eq!(by_id("req-metrics")["status"], 200);
    assert_eq!(by_id("req-metrics-refused")["status"], 401);
    assert_eq!(by_id("req-create")["method"], "POST");
}

#[tokio::test]
async fn text_logs_into_a_pipe_have_no_colour_codes() {
    let db = common::fresh_sqlite();
    let p = Proc::start(&db.url, None).await;
    let base = p
        .wait_for("the web client line", |l| {
            l.strip_prefix("sprintlog web client: ")
                .map(|u| u.trim().trim_end_matches('/').to_string())
        })
        .await;
    let resp = reqwest::get(format!("{base}/healthz")).await.unwrap();
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(resp.text().await.unwrap(), "ok");
    p.wait_for("the access line", |l| l.contains(&rid).then_some(()))
        .await;
    for l in p.lines() {
        assert!(!l.contains('\u{1b}'), "a colour code in {l:?}");
    }
}
