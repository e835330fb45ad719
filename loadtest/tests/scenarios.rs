//! Every scenario, in a small size, against a real server on an ephemeral port (SQLite): each
//! must complete and its `--json` report must carry its figures. No timing assertions: the
//! numbers are for people; CI only keeps the tool from rotting.

use serde_json::Value;
use sprintlog::config::Limits;
use sprintlog::server::Server;

struct Running {
    server: Option<Server>,
    url: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Running {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("lt.db").display());
    let store = sprintlog::store::open(&url).await.expect("open store");
    let limits = Limits {
        command_rate: 100_000,
        command_burst: 100_000,
        // Every simulated client comes from loopback.
        max_connections_per_ip: 0,
        ..Limits::default()
    };
    let server = Server::start(store, "127.0.0.1:0".parse().unwrap(), limits, None)
        .await
        .expect("start server");
    Running {
        url: format!("http://{}", server.addr),
        server: Some(server),
        _dir: dir,
    }
}

/// Runs the tool (in a blocking thread: the server runs on this test's runtime) and parses
/// its JSON report.
async fn tool(args: Vec<String>) -> Value {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog-loadtest"))
            .args(&args)
            .output()
            .expect("run sprintlog-loadtest")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sprintlog-loadtest failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn number(v: &Value, path: &str) -> f64 {
    let mut at = v;
    for key in path.split('.') {
        at = &at[key];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("no number at {path} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_completes_and_reports_its_figures() {
    let s = server().await;
    let pid = std::process::id().to_string();
    let url = s.url.as_str();

    // Votes and reveals: every 10 votes the facilitator closes the round (three events:
    // RoundClosed, VotesRevealed, ItemFlagged) and opens the next (one), so 30 votes make
    // 30 + 3 × 3 + 2 = 41 events, each delivered to all 5 clients, on both sides.
    let c = tool(args(&[
        "compare",
        "--url",
        url,
        "--server-pid",
        &pid,
        "--members",
        "5",
        "--votes",
        "30",
        "--reveal-every",
        "10",
        "--window",
        "4",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    for side in ["baseline", "sprintlog"] {
        assert_eq!(number(&c, &format!("{side}.acked")), 30.0, "{c}");
        assert_eq!(number(&c, &format!("{side}.refused")), 0.0, "{c}");
        assert_eq!(number(&c, &format!("{side}.reveals")), 3.0, "{c}");
        assert_eq!(number(&c, &format!("{side}.opens")), 2.0, "{c}");
        assert_eq!(number(&c, &format!("{side}.events")), 41.0, "{c}");
        // The reveal frames reached the facilitator (and, by the count above, everyone).
        assert_eq!(number(&c, &format!("{side}.revealed_frames")), 3.0, "{c}");
        assert_eq!(number(&c, &format!("{side}.deliveries")), 205.0, "{c}");
        number(&c, &format!("{side}.deliveries_per_s"));
        number(&c, &format!("{side}.latency_ms.p99"));
        number(&c, &format!("{side}.reveal_latency_ms.p99"));
    }
    number(&c, "sprintlog.server_cpu_us_per_delivery.user");
    // The server's RSS around the stream, per connection, and SQLite's part of it.
    for key in [
        "before",
        "idle",
        "peak",
        "settled",
        "sqlite_before",
        "sqlite_settled",
    ] {
        number(&c, &format!("sprintlog.server_rss_kib.{key}"));
    }
    for key in ["idle", "peak", "settled", "settled_without_sqlite"] {
        number(
            &c,
            &format!("sprintlog.server_rss_kib.per_connection_kib.{key}"),
        );
    }
    number(&c, "ratio.deliveries_per_s");
    number(&c, "ratio.reveal_p99");

    // Votes only: the round stays open, one event per vote (sprintlog alone).
    let v = tool(args(&[
        "fanout",
        "--no-baseline",
        "--url",
        url,
        "--members",
        "3",
        "--votes",
        "20",
        "--reveal-every",
        "0",
        "--window",
        "2",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    assert_eq!(number(&v, "acked"), 20.0, "{v}");
    assert_eq!(number(&v, "reveals"), 0.0, "{v}");
    assert_eq!(number(&v, "events"), 20.0, "{v}");
    assert_eq!(number(&v, "deliveries"), 60.0, "{v}");
    number(&v, "latency_ms.p99");

    let r = tool(args(&[
        "rooms",
        "--url",
        url,
        "--server-pid",
        &pid,
        "--rooms",
        "2",
        "--members",
        "3",
        "--rate",
        "60",
        "--duration-secs",
        "1",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    assert_eq!(number(&r, "acked"), 60.0, "{r}");
    assert_eq!(number(&r, "errors"), 0.0, "{r}");
    // Every command's event reaches the 3 members of its planning.
    assert_eq!(number(&r, "deliveries"), 180.0, "{r}");
    number(&r, "ack_latency_ms.p99");
    number(&r, "server_cpu.percent_of_one_core");
    for key in [
        "before",
        "idle",
        "peak",
        "settled",
        "sqlite_before",
        "sqlite_settled",
    ] {
        number(&r, &format!("server_rss_kib.{key}"));
    }
    for key in ["idle", "peak", "settled", "settled_without_sqlite"] {
        number(&r, &format!("server_rss_kib.per_connection_kib.{key}"));
    }
    let windows = r["intervals"].as_array().expect("intervals");
    assert!(!windows.is_empty(), "{r}");
    number(&windows[0], "p99_ms");
    // SQLite's memory from the server's /metrics (the smoke test's server runs on SQLite).
    assert!(number(&windows[0], "sqlite_kib") > 0.0, "{r}");
    // The same load against the baseline server, in the same run.
    assert_eq!(number(&r, "baseline.acked"), 60.0, "{r}");
    assert_eq!(number(&r, "baseline.errors"), 0.0, "{r}");
    assert_eq!(number(&r, "baseline.deliveries"), 180.0, "{r}");
    number(&r, "baseline.ack_latency_ms.p99");
    number(&r, "baseline.server_rss_kib.peak");
    number(&r, "baseline.server_rss_kib.per_connection_kib.settled");
    number(&r, "ratio.ack_latency_p99");

    let k = tool(args(&[
        "connections",
        "--url",
        url,
        "--server-pid",
        &pid,
        "--connections",
        "60",
        "--sources",
        "3",
        "--members",
        "4",
        "--hold-secs",
        "0.3",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    assert_eq!(number(&k, "open"), 60.0, "{k}");
    assert_eq!(number(&k, "failed"), 0.0, "{k}");
    number(&k, "server_rss_kib.held");
    assert_eq!(number(&k, "baseline.open"), 60.0, "{k}");
    number(&k, "baseline.server_rss_kib_per_connection");
    assert!(
        k["ratio"].get("server_rss_kib_per_connection").is_some(),
        "{k}"
    );

    let p = tool(args(&[
        "replay",
        "--url",
        url,
        "--events",
        "150",
        "--runs",
        "2",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    assert!(number(&p, "head") >= 150.0, "{p}");
    number(&p, "caught_up_ms.median");
    number(&p, "events_per_s");
    // The baseline sent the same frames, in the same run.
    number(&p, "baseline.caught_up_ms.median");
    number(&p, "ratio.caught_up_ms");

    if let Some(server) = s.server {
        server.shutdown().await;
    }
}

/// `views`: browsers in one room, kept by the server's pushes and then by refetching. The push
/// tabs make no HTTP request after joining, and every tab's final view (push: the shared part
/// with the tab's own part laid over it) equals a fresh `GET /api/plannings/{id}` and its inbox
/// for that viewer — with reveals (rounds closed and opened again) and at a set rate too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_push_keeps_every_tab_at_the_projection_without_http() {
    let s = server().await;
    let pid = std::process::id().to_string();
    let url = s.url.as_str();

    // One command at a time, a reveal every 5 votes: 20 votes, 4 reveals, 3 rounds opened.
    let v = tool(args(&[
        "views",
        "--url",
        url,
        "--server-pid",
        &pid,
        "--clients",
        "5",
        "--votes",
        "20",
        "--reveal-every",
        "5",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    for model in ["push", "refetch"] {
        let at = |k: &str| number(&v, &format!("{model}.{k}"));
        assert_eq!(at("acked"), 20.0, "{model}: {v}");
        assert_eq!(at("refused"), 0.0, "{model}: {v}");
        assert_eq!(at("reveals"), 4.0, "{model}: {v}");
        assert_eq!(at("final_views.equal"), 5.0, "{model}: {v}");
        assert_eq!(at("final_views.checked"), 5.0, "{model}: {v}");
        assert_eq!(at("patch_failures"), 0.0, "{model}: {v}");
        assert_eq!(at("fetch_errors"), 0.0, "{model}: {v}");
        assert!(at("per_client_per_vote.bytes") > 0.0, "{model}: {v}");
        assert!(at("per_client_per_vote.frames") > 0.0, "{model}: {v}");
        at("latency_ms.p99");
        at("reveal_latency_ms.p99");
        at("server_cpu_us_per_vote.user");
    }
    assert_eq!(number(&v, "push.totals.http_requests"), 0.0, "{v}");
    assert_eq!(
        number(&v, "push.per_client_per_vote.http_requests"),
        0.0,
        "{v}"
    );
    // The pushes carried the changes: a patch of the shared part per batch, at least.
    assert!(number(&v, "push.by_frame.view_patch.frames") >= 1.0, "{v}");
    // The refetching tabs read both the view and the inbox after the batches.
    assert!(
        number(&v, "refetch.totals.http_requests") >= 2.0 * 5.0 * 20.0,
        "{v}"
    );
    assert!(
        number(&v, "refetch.totals.http_body_bytes_uncompressed") > 0.0,
        "{v}"
    );
    number(&v, "ratio.bytes");
    number(&v, "ratio.p99");

    // Votes only at a set rate (several commands in flight), the push model alone.
    let r = tool(args(&[
        "views",
        "--url",
        url,
        "--models",
        "push",
        "--clients",
        "4",
        "--votes",
        "12",
        "--rate",
        "200",
        "--timeout-secs",
        "60",
        "--json",
    ]))
    .await;
    assert!(r.get("refetch").is_none(), "{r}");
    assert_eq!(number(&r, "push.acked"), 12.0, "{r}");
    assert_eq!(number(&r, "push.totals.http_requests"), 0.0, "{r}");
    assert_eq!(number(&r, "push.final_views.equal"), 4.0, "{r}");
    assert_eq!(number(&r, "push.patch_failures"), 0.0, "{r}");

    if let Some(server) = s.server {
        server.shutdown().await;
    }
}
