//! Resource limits: the per-IP connection cap, the cap on rooms in memory (least recently used
//! idle room evicted, refusal when all are in use), the request timeout (a stalled body), and
//! every limit and refusal counter visible in `/metrics`.

mod common;

use common::on_both_backends;
use common::server::*;
use common::time::eventually;
use serde_json::json;
use sprintlog::config::Limits;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of `sprintlog_limit{name="…"}`.
async fn limit(t: &TestServer, name: &str) -> Option<f64> {
    let (_, text) = t.get_text("/metrics").await;
    let prefix = format!("sprintlog_limit{{name=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str())?.trim().parse().ok())
}

fn two_per_ip() -> Limits {
    Limits {
        max_connections_per_ip: 2,
        ..Limits::default()
    }
}

async fn connections_per_ip_are_capped(t: &TestServer) {
    let c = t.create("Cap").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let mut a = t.ws(&c.planning, &c.token, 0).await;
    a.until("caught_up").await;
    let mut b = t.ws(&c.planning, &ann, 0).await;
    b.until("caught_up").await;
    assert_eq!(t.ws_refused(&c.planning, &c.token).await, 429);
    assert_eq!(
        t.ws_refused(&c.planning, &ann).await,
        429,
        "per address, not per token"
    );
    assert!(t.metric("sprintlog_connections_refused_total").await >= 2.0);
    // The open ones are unaffected.
    a.send(json!({"type": "ping"})).await;
    assert_eq!(a.until("pong").await.0["type"], "pong");
    // A closed connection frees its slot.
    drop(b);
    eventually(Duration::from_secs(10), "a slot is freed", || async {
        (t.metric("sprintlog_connections").await < 2.0).then_some(())
    })
    .await;
    let mut again = t.ws(&c.planning, &ann, 0).await;
    again.until("caught_up").await;
    assert_eq!(limit(t, "max_connections_per_ip").await, Some(2.0));
}
on_both_backends!(connections_per_ip_are_capped, two_per_ip());

/// Opens a websocket claiming to be forwarded for `client`; returns the upgrade's status.
async fn ws_forwarded_for(t: &TestServer, p: &str, token: &str, client: &str) -> (u16, Option<Ws>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/ws/plannings/{p}?token={token}", t.ws_base);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok((socket, resp)) => (resp.status().as_u16(), Some(Ws { socket })),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (resp.status().as_u16(), None),
        Err(e) => panic!("upgrade failed without a status: {e}"),
    }
}

fn one_per_ip_behind_a_trusted_proxy() -> Limits {
    Limits {
        max_connections_per_ip: 1,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..Limits::default()
    }
}

async fn behind_a_trusted_proxy_clients_are_counted_apart(t: &TestServer) {
    let c = t.create("Proxy").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    // The test client plays the proxy (127.0.0.1): each forwarded client has its own cap.
    let (s1, _a) = ws_forwarded_for(t, p, tok, "203.0.113.7").await;
    let (s2, _b) = ws_forwarded_for(t, p, tok, "203.0.113.8").await;
    assert_eq!((s1, s2), (101, 101));
    let (s3, _) = ws_forwarded_for(t, p, tok, "203.0.113.7").await;
    assert_eq!(s3, 429, "the same client again");
    // A client cannot dodge the cap by prepending addresses: the right-most untrusted counts.
    let (s4, _) = ws_forwarded_for(t, p, tok, "198.51.100.1, 203.0.113.7").await;
    assert_eq!(s4, 429);
    assert_eq!(limit(t, "trusted_proxies").await, Some(1.0));
}
on_both_backends!(
    behind_a_trusted_proxy_clients_are_counted_apart,
    one_per_ip_behind_a_trusted_proxy()
);

fn one_per_ip_behind_proxies_in_a_cidr() -> Limits {
    Limits {
        max_connections_per_ip: 1,
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..Limits::default()
    }
}

/// `--trusted-proxies` takes CIDRs; an IPv6 client is counted by its /64 (one subscriber's
/// network: it can pick any of 2^64 addresses in it), an IPv4 one by its address.
async fn ipv6_clients_are_counted_per_64(t: &TestServer) {
    let c = t.create("Prefix").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let (s1, _a) = ws_forwarded_for(t, p, tok, "2001:db8:1:2::1").await;
    assert_eq!(
        s1, 101,
        "the proxy at 127.0.0.1 is trusted through 127.0.0.0/8"
    );
    let (s2, _) = ws_forwarded_for(t, p, tok, "2001:db8:1:2:ffff::2").await;
    assert_eq!(s2, 429, "another address in the same /64");
    let (s3, _b) = ws_forwarded_for(t, p, tok, "2001:db8:1:3::1").await;
    assert_eq!(s3, 101, "another /64");
    let (s4, _c) = ws_forwarded_for(t, p, tok, "203.0.113.7").await;
    let (s5, _d) = ws_forwarded_for(t, p, tok, "203.0.113.8").await;
    assert_eq!((s4, s5), (101, 101), "IPv4 clients by address");
}
on_both_backends!(
    ipv6_clients_are_counted_per_64,
    one_per_ip_behind_proxies_in_a_cidr()
);

fn one_per_ip() -> Limits {
    Limits {
        max_connections_per_ip: 1,
        ..Limits::default()
    }
}

async fn forwarded_for_from_an_untrusted_peer_is_ignored(t: &TestServer) {
    let c = t.create("No proxy").await;
    let (p, tok) = (c.planning.as_str(), c.token.as_str());
    let (s1, _a) = ws_forwarded_for(t, p, tok, "203.0.113.7").await;
    let (s2, _) = ws_forwarded_for(t, p, tok, "203.0.113.8").await;
    assert_eq!(
        (s1, s2),
        (101, 429),
        "a forged header does not make a new client"
    );
}
on_both_backends!(
    forwarded_for_from_an_untrusted_peer_is_ignored,
    one_per_ip()
);

fn two_rooms() -> Limits {
    Limits {
        max_rooms: 2,
        ..Limits::default()
    }
}

async fn rooms_in_memory_are_capped(t: &TestServer) {
    let p1 = t.create("One").await;
    let p2 = t.create("Two").await;
    assert_eq!(t.metric("sprintlog_rooms_evicted_total").await, 0.0);
    // A third planning: the least recently used room without connections makes way.
    let p3 = t.create("Three").await;
    assert_eq!(t.metric("sprintlog_rooms_evicted_total").await, 1.0);
    // Evicted rooms load again on use, with everything they had (and evict another).
    for p in [&p1, &p2, &p3] {
        assert_eq!(t.state(&p.planning, &p.token).await["head"], 1);
    }
    // Every room in memory in use (a connection each): loading another is refused, clearly.
    let mut w2 = t.ws(&p2.planning, &p2.token, 0).await;
    w2.until("caught_up").await;
    let mut w3 = t.ws(&p3.planning, &p3.token, 0).await;
    w3.until("caught_up").await;
    let (s, b) = t
        .get(&format!("/api/plannings/{}", p1.planning), Some(&p1.token))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("server_full")),
        "{b}"
    );
    let (s, b) = t
        .post(
            "/api/plannings",
            None,
            json!({"title": "Four", "name": "Fran"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (503, Some("server_full")),
        "{b}"
    );
    assert!(t.metric("sprintlog_rooms_refused_total").await >= 2.0);
    // Made-up planning ids are simply not found: they never evict or count against the cap.
    let evicted = t.metric("sprintlog_rooms_evicted_total").await;
    let (s, _) = t
        .get(
            &format!("/api/plannings/{}", uuid::Uuid::new_v4()),
            Some(&p1.token),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(t.metric("sprintlog_rooms_evicted_total").await, evicted);
    // A room whose last connection closed can be evicted again.
    drop(w3);
    eventually(
        Duration::from_secs(10),
        "p1 loads once p3 is idle",
        || async {
            let (status, _) = t
                .get(&format!("/api/plannings/{}", p1.planning), Some(&p1.token))
                .await;
            (status == 200).then_some(())
        },
    )
    .await;
    assert_eq!(limit(t, "max_rooms").await, Some(2.0));
    drop(w2);
}
on_both_backends!(rooms_in_memory_are_capped, two_rooms());

fn three_participants() -> Limits {
    Limits {
        max_participants: 3,
        ..Limits::default()
    }
}

/// `--max-participants` caps joins (the creator counts); the default, 500, is the rules' own.
async fn participants_per_planning_are_capped_by_the_flag(t: &TestServer) {
    let c = t.create("Small").await;
    t.join(&c.planning, &c.member_invite, "Ann").await;
    t.join(&c.planning, &c.member_invite, "Bob").await;
    let path = format!("/api/plannings/{}/join", c.planning);
    let (s, b) = t
        .post(
            &path,
            None,
            json!({"invite": c.member_invite, "name": "Cy"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("invalid")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at most 3 participants")),
        "{b}"
    );
    assert_eq!(
        t.state(&c.planning, &c.token).await["head"],
        3,
        "nothing written"
    );
    assert_eq!(limit(t, "max_participants").await, Some(3.0));
}
on_both_backends!(
    participants_per_planning_are_capped_by_the_flag,
    three_participants()
);

fn one_second() -> Limits {
    Limits {
        request_timeout_secs: 1,
        ..Limits::default()
    }
}

async fn a_stalled_request_times_out_with_a_json_error(t: &TestServer) {
    let addr = t.server.as_ref().unwrap().addr;
    let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Headers promise a body that never comes (slowloris).
    sock.write_all(
        b"POST /api/plannings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"title\":",
    )
    .await
    .unwrap();
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let n = sock.read(&mut buf).await.unwrap_or(0);
            resp.extend_from_slice(&buf[..n]);
            if n == 0 || String::from_utf8_lossy(&resp).contains("}}") {
                break;
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server never answered the stalled request"
    );
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"timeout""#), "{text}");
    assert!(t.metric("sprintlog_request_timeouts_total").await >= 1.0);
    assert_eq!(limit(t, "request_timeout_secs").await, Some(1.0));
    // Others are served meanwhile and after.
    t.create("Fine").await;
}
on_both_backends!(a_stalled_request_times_out_with_a_json_error, one_second());

fn custom() -> Limits {
    Limits {
        max_frame_bytes: 1234,
        max_body_bytes: 5678,
        command_rate: 1,
        command_burst: 3,
        ..Limits::default()
    }
}

async fn limits_and_refusals_are_in_metrics(t: &TestServer) {
    for (name, v) in [
        ("max_frame_bytes", 1234.0),
        ("max_body_bytes", 5678.0),
        ("command_rate", 1.0),
        ("command_burst", 3.0),
        ("outbound_queue", 512.0),
        ("room_idle_secs", 300.0),
        ("request_timeout_secs", 30.0),
        ("max_connections_per_ip", 64.0),
        ("max_rooms", 10_000.0),
    ] {
        assert_eq!(limit(t, name).await, Some(v), "{name}");
    }
    let c = t.create("Metrics").await;
    // An oversized body and rate-limited commands are counted.
    let (s, _) = t
        .post_oversized(
            &format!("/api/plannings/{}/commands", c.planning),
            &c.token,
            "application/json",
            6000,
        )
        .await;
    assert_eq!(s, 413);
    assert!(t.metric("sprintlog_bodies_too_large_total").await >= 1.0);
    let mut limited = 0;
    for i in 0..12 {
        let (s, _) = t
            .command(
                &c.planning,
                &c.token,
                &format!("m{i}"),
                json!({"type": "PostComment", "kind": "comment", "text": "hi"}),
            )
            .await;
        if s == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0, "a burst of 3 at 1/s refuses some of 12");
    assert!(t.metric("sprintlog_rate_limited_total").await >= limited as f64);
    // SQLite's own memory is reported (its page caches and schema at least, on SQLite).
    if matches!(t.backend, Backend::Sqlite(_)) {
        assert!(t.metric("sprintlog_sqlite_memory_bytes").await > 0.0);
    }
    // Every counter is exported, even at zero.
    let (_, text) = t.get_text("/metrics").await;
    for name in [
        "sprintlog_connections_refused_total",
        "sprintlog_rooms_evicted_total",
        "sprintlog_rooms_refused_total",
        "sprintlog_request_timeouts_total",
        "sprintlog_bad_frames_total",
        "sprintlog_slow_consumer_closes_total",
        "sprintlog_sqlite_memory_bytes",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}"
        );
    }
}
on_both_backends!(limits_and_refusals_are_in_metrics, custom());
