//! The web client in a real browser: starts the real server on an ephemeral port and runs
//! `node --test client/tests/` (playwright-core driving Debian's Chromium) against it.
//!
//! Skipped, with a SKIPPED line, when `node`, `/usr/bin/chromium` (or `CHROMIUM_PATH`) or
//! `client/tests/node_modules` is missing — except under `CI=true`, where that is a failure
//! (`.ci/run` installs them). Screenshots go to `SPRINTLOG_SCREENSHOTS` (default
//! `/tmp/sprintlog-screenshots`).

mod common;

use common::server::*;
use sprintlog::config::{Limits, TrackerConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What the browser test needs that is missing, if anything.
fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok {
        missing.push("node".to_string());
    }
    let chromium = chromium_path();
    if !chromium.exists() {
        missing.push(chromium.display().to_string());
    }
    if !client_tests_dir()
        .join("node_modules/playwright-core")
        .is_dir()
    {
        missing.push("client/tests/node_modules (npm ci --prefix client/tests)".to_string());
    }
    missing
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn client_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("client/tests")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_client_in_chromium() {
    let missing = missing();
    if !missing.is_empty() {
        let what = missing.join(", ");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("browser test cannot run under CI=true: missing {what}");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED web_client_in_chromium: missing {what}"
        );
        return;
    }
    // Tracker sites on loopback are allowed: client/tests/tracker.test.js runs a fake Jira there.
    let server = TestServer::start_with(
        sqlite(),
        Limits {
            trackers: TrackerConfig {
                allow: vec!["127.0.0.1".into()],
                ..TrackerConfig::default()
            },
            ..Limits::default()
        },
    )
    .await;
    // A second server whose rooms hold one queued command: a burst is answered `busy`, which
    // the client must retry (client/tests/busy.test.js).
    let busy = TestServer::start_with(
        sqlite(),
        Limits {
            room_queue: 1,
            // The burst and its retries are the test; the rate limit is not.
            command_rate: 1000,
            command_burst: 1000,
            ..Limits::default()
        },
    )
    .await;
    // The client is served by the binary itself.
    let (status, index) = server.get_text("/").await;
    assert_eq!(status, 200);
    assert!(index.contains("/app.js"), "index.html is served at /");

    let dir = client_tests_dir();
    let mut child = tokio::process::Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(&dir)
        .current_dir(&dir)
        .env("SPRINTLOG_BASE_URL", &server.base)
        .env("SPRINTLOG_BUSY_URL", &busy.base)
        .env("CHROMIUM_PATH", chromium_path())
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = tokio::spawn(read_all(stdout));
    let err = tokio::spawn(read_all(stderr));
    // About 22 browser scenarios run one after the other (node's test runner on a 2-core CI
    // machine): a bound that catches a hang, not a slow but working run.
    let status = match tokio::time::timeout(Duration::from_secs(720), child.wait()).await {
        Ok(status) => status.expect("wait for node"),
        Err(_) => {
            let _ = child.kill().await;
            panic!(
                "browser test timed out after 720 s\n{}\n{}",
                out.await.unwrap(),
                err.await.unwrap()
            );
        }
    };
    let (out, err) = (out.await.unwrap(), err.await.unwrap());
    println!("{out}");
    eprintln!("{err}");
    assert!(
        status.success(),
        "node --test failed ({status}):\n{out}\n{err}"
    );
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    use tokio::io::AsyncReadExt;
    let mut s = String::new();
    let _ = r.read_to_string(&mut s).await;
    s
}

/// The client's files are served by the binary with their content types; `index.html` is never
/// cached; unknown paths are 404 and the API still answers as before.
#[tokio::test]
async fn client_files_are_served_embedded() {
    let server = TestServer::start(sqlite()).await;
    for (path, ty) in [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/api.js", "text/javascript; charset=utf-8"),
        ("/socket.js", "text/javascript; charset=utf-8"),
        ("/state.js", "text/javascript; charset=utf-8"),
        ("/patch.js", "text/javascript; charset=utf-8"),
        ("/dom.js", "text/javascript; charset=utf-8"),
        ("/model.js", "text/javascript; charset=utf-8"),
        ("/board.js", "text/javascript; charset=utf-8"),
        ("/backlog.js", "text/javascript; charset=utf-8"),
        ("/tracker.js", "text/javascript; charset=utf-8"),
        ("/item.js", "text/javascript; charset=utf-8"),
        ("/votes.js", "text/javascript; charset=utf-8"),
        ("/live.js", "text/javascript; charset=utf-8"),
        ("/timeline.js", "text/javascript; charset=utf-8"),
        ("/audit.js", "text/javascript; charset=utf-8"),
        ("/protocol.js", "text/javascript; charset=utf-8"),
        ("/people.js", "text/javascript; charset=utf-8"),
        ("/schedule.js", "text/javascript; charset=utf-8"),
        ("/deadlines.js", "text/javascript; charset=utf-8"),
        ("/teams.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let resp = server
            .http
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(header("content-type").as_deref(), Some(ty), "{path}");
        let cache = header("cache-control").unwrap_or_default();
        if path == "/" || path == "/index.html" {
            assert_eq!(cache, "no-store", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        assert!(!resp.text().await.unwrap().is_empty(), "{path}");
    }
    // Every module in client/ is served: one left out of the embedded list would fail to load.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("client");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".js") || name.ends_with(".css") || name.ends_with(".html") {
            assert_eq!(server.get_text(&format!("/{name}")).await.0, 200, "/{name}");
        }
    }
    assert_eq!(server.get_text("/nope.js").await.0, 404);
    assert_eq!(server.get_text("/healthz").await, (200, "ok".to_string()));
    let (status, body) = server.get("/api/plannings/not-a-uuid", Some("x")).await;
    assert!(
        status == 400 || status == 401 || status == 404,
        "{status} {body}"
    );
}
