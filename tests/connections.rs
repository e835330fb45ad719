//! TCP connections: the header-read timeout (a half-sent request is not held), the idle
//! timeout (keep-alive HTTP and silent websockets), and the server-wide connection cap.

mod common;

use common::on_both_backends;
use common::server::*;
use common::time::eventually;
use serde_json::json;
use sprintlog::config::Limits;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn quick_timeouts() -> Limits {
    Limits {
        header_read_timeout_secs: 1,
        idle_timeout_secs: 2,
        ..Limits::default()
    }
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent and
/// how long it took.
async fn read_to_close(sock: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    (text, closed.ok().map(|_| start.elapsed()))
}

async fn connect(t: &TestServer) -> TcpStream {
    TcpStream::connect(t.server.as_ref().expect("running").addr)
        .await
        .expect("tcp connect")
}

async fn a_half_sent_request_is_dropped_at_the_header_timeout(t: &TestServer) {
    let mut sock = connect(t).await;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let (_, closed) = read_to_close(&mut sock, Duration::from_secs(8)).await;
    let after = closed.expect("the half-sent request was held");
    assert!(after < Duration::from_secs(4), "closed after {after:?}");
    assert!(t.metric("sprintlog_connection_timeouts_total").await >= 1.0);
}
on_both_backends!(
    a_half_sent_request_is_dropped_at_the_header_timeout,
    quick_timeouts()
);

async fn silent_connections_are_closed_at_the_idle_timeout(t: &TestServer) {
    // Keep-alive HTTP: answered, then closed once silent.
    let mut sock = connect(t).await;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_to_close(&mut sock, Duration::from_secs(8)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let after = closed.expect("the idle keep-alive connection was held");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");

    // A websocket that pings stays open past the idle timeout; a silent one is closed.
    let c = t.create("Idle").await;
    let mut pinging = t.ws(&c.planning, &c.token, 0).await;
    pinging.until("caught_up").await;
    let mut silent = t.ws(&c.planning, &c.token, 0).await;
    silent.until("caught_up").await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        pinging.send(json!({"type": "ping"})).await;
        assert_eq!(pinging.until("pong").await.0["type"], "pong");
    }
    // What was sent before (the presence set), then the close: 1001, idle.
    let code = loop {
        match silent.next(Duration::from_secs(1)).await {
            Got::Frame(_) => continue,
            Got::Closed(code) => break code,
            Got::Timeout => panic!("the silent websocket was kept open"),
        }
    };
    assert_eq!(code, Some(1001));
}
on_both_backends!(
    silent_connections_are_closed_at_the_idle_timeout,
    quick_timeouts()
);

fn three_connections() -> Limits {
    Limits {
        max_connections: 3,
        ..Limits::default()
    }
}

async fn connections_past_the_cap_are_refused_503(t: &TestServer) {
    // The test client's own pooled connection may hold a slot: wait until it is idle-closed
    // is not needed, three raw sockets fill the cap whatever it holds.
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(connect(t).await);
    }
    let mut over = connect(t).await;
    let (text, closed) = read_to_close(&mut over, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "the connection over the cap was kept");
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains(r#""code":"server_full""#), "{text}");
    let body = text.split("\r\n\r\n").nth(1).expect("a body");
    let v: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(v["error"]["code"], "server_full");
    // Closing connections frees their slots.
    drop(open);
    eventually(Duration::from_secs(10), "a slot is free again", || async {
        let mut sock = connect(t).await;
        sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let (text, _) = read_to_close(&mut sock, Duration::from_secs(5)).await;
        text.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    assert!(t.metric("sprintlog_connections_over_cap_total").await >= 1.0);
}
on_both_backends!(
    connections_past_the_cap_are_refused_503,
    three_connections()
);
