//! `/metrics` as Prometheus scrapes it: the text format 0.0.4, every family declared once with
//! its type, names that follow Prometheus's conventions (`_total` on counters and only there,
//! base units in names), the standard `process_*` figures, a build-info gauge, and every figure
//! the server showed before it moved to `prometheus-client`.

mod common;

use common::server::{sqlite, TestServer};
use serde_json::json;
use std::collections::BTreeMap;

/// Every family and its type, from the `# TYPE` lines; panics on a repeated family.
fn families(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("`# TYPE name kind`");
            let before = out.insert(name.to_string(), kind.to_string());
            assert!(before.is_none(), "{name} declared twice");
        }
    }
    out
}

/// The family a sample line belongs to (a histogram's `_bucket`, `_sum` and `_count` are its
/// own), or `None` if it belongs to no declared family.
fn family_of<'a>(sample: &'a str, families: &BTreeMap<String, String>) -> Option<&'a str> {
    let name = sample.split(['{', ' ']).next()?;
    if families.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|s| {
        let base = name.strip_suffix(s)?;
        (families.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

/// The value of the sample `name` with exactly `labels` (`""` for none).
fn value(text: &str, name: &str, labels: &str) -> Option<f64> {
    let head = format!("{name}{labels} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&head))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_follow_the_prometheus_conventions() {
    let t = TestServer::start(sqlite()).await;
    // One refusal, so the labelled counter has a sample.
    let c = t.create("Metrics").await;
    let (s, refused) = t
        .post(
            &format!("/api/plannings/{}/commands", c.planning),
            Some(&c.token),
            json!({"client_op_id": "x", "command": {"type": "ProposeItem", "draft": {"title": ""}}}),
        )
        .await;
    assert!(s >= 400, "{refused}");
    let code = refused["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_string();
    let resp = t
        .http
        .get(format!("{}/metrics", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    let fams = families(&text);

    for (name, kind) in &fams {
        assert!(
            name.starts_with("sprintlog_") || name.starts_with("process_"),
            "{name}: not ours"
        );
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}: not snake_case"
        );
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "{name}: {kind}"
        );
        assert_eq!(
            name.ends_with("_total"),
            kind == "counter",
            "{name} ({kind}): `_total` is for counters, and every counter has it"
        );
        for unit in ["_secs", "_ms", "_millis", "_micros", "_kb", "_mb", "_kib"] {
            assert!(
                !name.contains(unit),
                "{name}: base units (seconds, bytes) in names"
            );
        }
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
    }
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            family_of(l, &fams).is_some(),
            "a sample of no declared family: {l}"
        );
        let v = l.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok() || v == "+Inf", "not a number: {l}");
    }

    // The process and the build.
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("sprintlog_build_info", "gauge"),
        ("sprintlog_append_seconds", "histogram"),
        ("sprintlog_refusals_total", "counter"),
        ("sprintlog_limit", "gauge"),
    ] {
        assert_eq!(fams.get(name).map(String::as_str), Some(kind), "{name}");
    }
    assert!(value(&text, "process_resident_memory_bytes", "").unwrap() > 1e6);
    assert!(value(&text, "process_open_fds", "").unwrap() >= 3.0);
    let started = value(&text, "process_start_time_seconds", "").unwrap();
    let now = sprintlog::engine::clock::now_micros() as f64 / 1e6;
    assert!(started > 1.6e9 && started <= now + 1.0, "{started}");
    let build = format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(value(&text, "sprintlog_build_info", &build), Some(1.0));
    assert_eq!(
        value(
            &text,
            "sprintlog_refusals_total",
            &format!("{{code=\"{code}\"}}")
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "sprintlog_limit", "{name=\"max_frame_bytes\"}"),
        Some(65536.0)
    );
    assert_eq!(
        value(&text, "sprintlog_append_seconds_bucket", "{le=\"+Inf\"}"),
        value(&text, "sprintlog_append_seconds_count", "")
    );
    assert!(value(&text, "sprintlog_append_seconds_count", "").unwrap() >= 1.0);

    // Every figure /metrics showed before it moved to the Prometheus crate.
    for name in [
        "sprintlog_connections",
        "sprintlog_rooms",
        "sprintlog_sqlite_memory_bytes",
        "sprintlog_events_appended_total",
        "sprintlog_group_commits_total",
        "sprintlog_group_committed_commands_total",
        "sprintlog_events_fanned_out_total",
        "sprintlog_append_conflicts_total",
        "sprintlog_commands_rejected_total",
        "sprintlog_rate_limited_total",
        "sprintlog_slow_consumer_closes_total",
        "sprintlog_lagged_resyncs_total",
        "sprintlog_bad_frames_total",
        "sprintlog_jobs_run_total",
        "sprintlog_webhook_deliveries_total",
        "sprintlog_webhook_failures_total",
        "sprintlog_webhook_given_up_total",
        "sprintlog_events_replayed_total",
        "sprintlog_head_feed_reconnects_total",
        "sprintlog_connections_refused_total",
        "sprintlog_connections_over_cap_total",
        "sprintlog_connection_timeouts_total",
        "sprintlog_rooms_evicted_total",
        "sprintlog_rooms_refused_total",
        "sprintlog_request_timeouts_total",
        "sprintlog_bodies_too_large_total",
        "sprintlog_join_scans_total",
        "sprintlog_join_views_built_total",
    ] {
        assert!(fams.contains_key(name), "{name} is gone");
        assert!(value(&text, name, "").is_some(), "{name} has no sample");
    }
    assert!(value(&text, "sprintlog_events_appended_total", "").unwrap() >= 1.0);
}
