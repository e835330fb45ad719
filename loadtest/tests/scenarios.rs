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
    number(&r, "server_rss_kib.peak");
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
