//! The resource test of issue 20 item 1: 64 sockets that never read, each asking for past views
//! of a large planning, keep the server's memory growth under a stated bound, and a client
//! that reads keeps its round-trip times. Alone in its binary: the RSS is the process's.

mod common;

use common::server::*;
use serde_json::json;
use sprintlog::config::Limits;
use std::time::{Duration, Instant};

const SOCKETS: usize = 64;
const ASKS_EACH: usize = 20;
const ITEMS: usize = 20;

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// The 99th percentile of `n` ping round trips on `ws`.
async fn ping_p99(ws: &mut Ws, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        ws.send(json!({"type": "ping"})).await;
        ws.until("pong").await;
        times.push(start.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    times.sort();
    times[(n * 99 / 100).min(n - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_that_never_read_past_views_keep_memory_bounded() {
    let limits = Limits {
        command_rate: 1000,
        command_burst: 1000,
        max_connections_per_ip: 1000,
        read_rate: 100_000,
        read_burst: 100_000,
        ..Limits::default()
    };
    let t = TestServer::start_with(sqlite(), limits).await;
    let c = t.create("Large").await;
    let p = &c.planning;
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    let description = "d".repeat(15_000);
    for i in 0..ITEMS {
        let draft = json!({"title": format!("Item {i}"), "description": description});
        t.ok(p, &c.token, json!({"type": "ProposeItem", "draft": draft}))
            .await;
    }
    let head = t.state(p, &c.token).await["head"].as_i64().unwrap();
    let mut reader = t.ws(p, &c.token, 0).await;
    reader.until("caught_up").await;
    reader
        .send(json!({"type": "state_at", "at": head, "req": "size"}))
        .await;
    let view_bytes = reader.until("state_at").await.0.to_string().len() as u64;
    let baseline = ping_p99(&mut reader, 50).await;

    let before = rss();
    let mut slow = Vec::with_capacity(SOCKETS);
    for _ in 0..SOCKETS {
        let mut ws = t.ws_small_window(p, &c.token, 0, 4096).await;
        let asks: Vec<_> = (0..ASKS_EACH)
            .map(|i| json!({"type": "state_at", "at": head - (i as i64 % 3), "req": format!("r{i}")}))
            .collect();
        ws.send_all(&asks).await;
        slow.push(ws);
    }
    let under_attack = ping_p99(&mut reader, 100).await;
    let peak = rss();
    let growth = peak.saturating_sub(before);
    // Per socket: one past view written into the socket's buffer, one rendered and waiting for
    // it to drain (then closed as too slow), never the ten asked for; plus 16 MiB of slack for
    // the runtime, the sockets and the allocator.
    let bound = SOCKETS as u64 * 2 * view_bytes + 16 * 1024 * 1024;
    println!(
        "past view {view_bytes} bytes; RSS growth with {SOCKETS} sockets asking {ASKS_EACH} each: \
         {} KiB (bound {} KiB); reader ping p99 {baseline:?} before, {under_attack:?} during",
        growth / 1024,
        bound / 1024
    );
    assert!(growth < bound, "RSS grew {growth} bytes, over {bound}");
    assert!(
        under_attack < baseline * 4 + Duration::from_millis(60),
        "the reader's p99 went from {baseline:?} to {under_attack:?}"
    );
    drop(slow);
}
