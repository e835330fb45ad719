//! Clients that do not read: the outbound queue is bounded in bytes as well as frames, a
//! connection answers one `state_at` at a time, and the 4008 close reaches a client whose
//! socket was blocked once it reads again.

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::{json, Value};
use sprintlog::config::Limits;
use std::time::Duration;

fn small_byte_queue() -> Limits {
    Limits {
        outbound_queue_bytes: 64 * 1024,
        command_rate: 1000,
        command_burst: 1000,
        ..Limits::default()
    }
}

/// Reads until the close; returns its code.
async fn close_code(ws: &mut Ws) -> Option<u16> {
    for _ in 0..100_000 {
        match ws.next(Duration::from_secs(10)).await {
            Got::Frame(_) => {}
            Got::Closed(code) => return code,
            Got::Timeout => panic!("socket not closed"),
        }
    }
    panic!("socket not closed after 100000 frames");
}

async fn a_client_that_stopped_reading_gets_its_4008_when_it_reads_again(t: &TestServer) {
    let c = t.create("Slow").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    let mut slow = t.ws_small_window(&c.planning, &ann, 0, 4096).await;
    slow.until("caught_up").await;
    let big = "x".repeat(15_000);
    let mut sent = 0;
    while t.metric("sprintlog_slow_consumer_closes_total").await < 1.0 {
        for i in 0..10 {
            let text = format!("{sent} {i} {big}");
            t.ok(
                &c.planning,
                &c.token,
                json!({"type": "PostComment", "kind": "comment", "text": text}),
            )
            .await;
        }
        sent += 10;
        // 512 frames of 15 kB (the frame cap) would be 7.5 MB queued: the byte cap comes first.
        assert!(
            sent <= 400,
            "the client that does not read was never closed"
        );
    }
    // It reads again: what was buffered, then the close frame, not just the end of the stream.
    assert_eq!(close_code(&mut slow).await, Some(4008));
}
on_both_backends!(
    a_client_that_stopped_reading_gets_its_4008_when_it_reads_again,
    small_byte_queue()
);

async fn a_connection_answers_one_state_at_at_a_time(t: &TestServer) {
    let c = t.create("Past").await;
    let mut ws = t.ws(&c.planning, &c.token, 0).await;
    ws.until("caught_up").await;
    let asks: Vec<Value> = (0..3)
        .map(|i| json!({"type": "state_at", "at": 1, "req": format!("r{i}")}))
        .collect();
    ws.send_all(&asks).await;
    let (mut answers, mut busy) = (Vec::new(), Vec::new());
    while answers.len() + busy.len() < 3 {
        let f = ws.frame().await;
        match f["type"].as_str() {
            Some("state_at") => answers.push(f["req"].clone()),
            Some("error") => {
                assert_eq!(f["code"], "state_at_pending", "{f}");
                busy.push(f["op"].clone());
            }
            _ => {}
        }
    }
    assert_eq!(answers, vec![json!("r0")], "one answer, to the first");
    assert_eq!(busy, vec![json!("r1"), json!("r2")]);
    // Once answered, the next one is taken.
    ws.send(json!({"type": "state_at", "at": 1, "req": "r3"}))
        .await;
    let (f, _) = ws.until("state_at").await;
    assert_eq!(f["req"], "r3");
}
on_both_backends!(a_connection_answers_one_state_at_at_a_time);
