//! Rate limits across a token's connections and REST, per client address for joins, and on
//! the costly reads (past views, audit, digest, verify, exports).

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::json;
use sprintlog::config::Limits;
use std::time::{Duration, Instant};

/// Six websockets of one token, 40 commands each at once: they share one bucket (burst 40,
/// 20/s), so at most the burst and what refilled meanwhile is acked, the rest `rate_limited`.
async fn one_token_has_one_budget_across_six_websockets(t: &TestServer) {
    let c = t.create("Six").await;
    let mut sockets = Vec::new();
    for _ in 0..6 {
        let mut ws = t.ws(&c.planning, &c.token, 0).await;
        ws.until("caught_up").await;
        sockets.push(ws);
    }
    let started_sending = Instant::now();
    for (s, ws) in sockets.iter_mut().enumerate() {
        let frames: Vec<_> = (0..40)
            .map(|i| {
                json!({"type": "command", "op": format!("s{s}-{i}"),
                       "command": {"type": "PostComment", "kind": "comment", "text": "hi"}})
            })
            .collect();
        ws.send_all(&frames).await;
    }
    let (mut acked, mut limited) = (0, 0);
    for ws in &mut sockets {
        let mut answered = 0;
        while answered < 40 {
            let f = ws.frame().await;
            match f["type"].as_str() {
                Some("ack") => acked += 1,
                Some("error") if f["code"] == "rate_limited" => limited += 1,
                Some("error") => panic!("{f}"),
                _ => continue,
            }
            answered += 1;
        }
    }
    let secs = started_sending.elapsed().as_secs_f64();
    let allowed = 40.0 + 20.0 * secs + 1.0;
    println!("240 commands over {secs:.2} s: {acked} acked, {limited} rate limited");
    assert!(
        f64::from(acked) <= allowed,
        "{acked} acked, at most {allowed} allowed"
    );
    assert_eq!(acked + limited, 240);
    assert!(limited >= 100, "{limited} limited");
}
on_both_backends!(one_token_has_one_budget_across_six_websockets);

fn small_budgets() -> Limits {
    Limits {
        command_rate: 1,
        command_burst: 6,
        read_rate: 1,
        read_burst: 4,
        ..Limits::default()
    }
}

/// Joins count against the client's address as well as the invite: cycling the member and
/// observer invites does not get one client past the burst.
async fn joins_are_limited_per_client_address(t: &TestServer) {
    let c = t.create("Joins").await; // takes one from this address's bucket
    let mut statuses = Vec::new();
    for i in 0..8 {
        let invite = if i % 2 == 0 {
            &c.member_invite
        } else {
            &c.observer_invite
        };
        let (s, body) = t
            .post(
                &format!("/api/plannings/{}/join", c.planning),
                None,
                json!({"invite": invite, "name": format!("P{i}")}),
            )
            .await;
        if s == 429 {
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        }
        statuses.push(s);
    }
    let joined = statuses.iter().filter(|&&s| s == 200).count();
    assert!(joined <= 6, "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
}
on_both_backends!(joins_are_limited_per_client_address, small_budgets());

/// Past views, the audit, digest, verification and export share a read budget per
/// token; plain reads do not take from it, and neither do commands.
async fn costly_reads_are_limited_per_token(t: &TestServer) {
    let c = t.create("Reads").await;
    let p = &c.planning;
    let routes = [
        format!("/api/plannings/{p}?at=1"),
        format!("/api/plannings/{p}/audit"),
        format!("/api/plannings/{p}/digest"),
        format!("/api/plannings/{p}/verify"),
        format!("/api/plannings/{p}/export/estimates"),
    ];
    let mut statuses = Vec::new();
    for route in &routes {
        let (s, body) = t.get(route, Some(&c.token)).await;
        if s == 429 {
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("history reads"),
                "{body}"
            );
        }
        statuses.push(s);
    }
    assert_eq!(&statuses[..4], &[200, 200, 200, 200], "{statuses:?}");
    assert_eq!(statuses[4], 429, "{statuses:?}");
    // The timeline is paged: not a costly read.
    let (s, _) = t
        .get(&format!("/api/plannings/{p}/timeline"), Some(&c.token))
        .await;
    assert_eq!(s, 200);
    // Plain reads and commands have budgets of their own.
    let (s, _) = t.get(&format!("/api/plannings/{p}"), Some(&c.token)).await;
    assert_eq!(s, 200);
    t.ok(p, &c.token, json!({"type": "ChangePhase", "to": "async"}))
        .await;
    // The websocket's `state_at` takes from the same budget.
    let mut ws = t.ws(p, &c.token, 0).await;
    ws.until("caught_up").await;
    ws.send(json!({"type": "state_at", "at": 1, "req": "r"}))
        .await;
    let f = loop {
        let f = ws.frame().await;
        if f["type"] == "error" || f["type"] == "state_at" {
            break f;
        }
    };
    assert_eq!(f["code"], "rate_limited", "{f}");
    // It refills: a read goes through again once the bucket has a token.
    let refilled = async {
        loop {
            if t.get(&routes[1], Some(&c.token)).await.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refilled)
        .await
        .expect("the read budget refills");
}
on_both_backends!(costly_reads_are_limited_per_token, small_budgets());
