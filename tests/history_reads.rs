//! The audit and the digest read a planning's whole log: it is kept per planning, so a request
//! reads only the events written since the last one, and an audit is rendered once per head.

mod common;

use common::on_both_backends;
use common::server::*;
use serde_json::json;
use std::sync::atomic::Ordering;

fn events_read(t: &TestServer) -> u64 {
    t.app().history.events_read.load(Ordering::Relaxed)
}

fn audits_rendered(t: &TestServer) -> u64 {
    t.app().history.audits_rendered.load(Ordering::Relaxed)
}

async fn audit_and_digest_read_each_event_once(t: &TestServer) {
    let c = t.create("History").await;
    let p = &c.planning;
    let mut head = 0;
    for i in 0..20 {
        let text = format!("comment {i}");
        head = t
            .ok(
                p,
                &c.token,
                json!({"type": "PostComment", "kind": "comment", "text": text}),
            )
            .await;
    }
    let audit = format!("/api/plannings/{p}/audit");
    let digest = format!("/api/plannings/{p}/digest?since=0");
    for _ in 0..5 {
        assert_eq!(t.get(&audit, Some(&c.token)).await.0, 200);
        assert_eq!(t.get(&digest, Some(&c.token)).await.0, 200);
    }
    // Ten whole-log reads cost one read of the log and one rendering of the audit.
    assert_eq!(events_read(t), head as u64);
    assert_eq!(audits_rendered(t), 1);

    // One more event: read alone, and the audit shows it.
    let last = t
        .ok(
            p,
            &c.token,
            json!({"type": "PostComment", "kind": "comment", "text": "the last word"}),
        )
        .await;
    let (s, body) = t.get(&audit, Some(&c.token)).await;
    assert_eq!(s, 200);
    assert_eq!(body["head"], last, "the audit is current");
    let (_, d) = t.get(&digest, Some(&c.token)).await;
    assert_eq!(d["head"], last, "the digest is current: {d}");
    assert_eq!(events_read(t), last as u64);
    assert_eq!(audits_rendered(t), 2);
}
on_both_backends!(audit_and_digest_read_each_event_once);
