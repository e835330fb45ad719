//! Tamper evidence: the per-planning SHA-256 chain, its backfill, and `sprintlog verify`.

mod common;

use sprintlog::store::{
    self, verify_chain, AppendRequest, ChainCheck, EventStore, NewEvent, GENESIS_HASH,
};
use std::sync::Arc;
use uuid::Uuid;

fn event(n: u32) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        kind: "CommentPosted".into(),
        version: 2,
        payload: format!(r#"{{"n":{n}}}"#),
    }
}

async fn append(store: &Arc<dyn EventStore>, planning: Uuid, expected: i64, n: u32) {
    store
        .append(AppendRequest {
            planning_id: planning,
            expected_seq: expected,
            actor: Uuid::nil(),
            client_op_id: format!("op:{n}"),
            command_hash: format!("h{n}"),
            recorded_at: 1_700_000_000_000_000 + i64::from(n),
            events: vec![event(n), event(n + 100)],
            jobs: Vec::new(),
        })
        .await
        .unwrap();
}

/// Runs SQL with the immutability triggers out of the way (the test plays the attacker).
async fn tamper(url: &str, sql: &str) {
    tamper_past(
        url,
        "events_no_update",
        "CREATE TRIGGER events_no_update BEFORE UPDATE ON events WHEN OLD.hash IS NOT NULL \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
        sql,
    )
    .await;
}

/// Deletes events (`sql`) past the guard that refuses it.
async fn tamper_delete(url: &str, sql: &str) {
    tamper_past(
        url,
        "events_no_delete",
        "CREATE TRIGGER events_no_delete BEFORE DELETE ON events \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
        sql,
    )
    .await;
}

/// Runs `sql` with SQLite's `trigger` dropped (and put back as `recreate`), or PostgreSQL's
/// user triggers disabled.
async fn tamper_past(url: &str, trigger: &str, recreate: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(&format!("DROP TRIGGER {trigger}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
        // Put the guard back, as a careful attacker would.
        sqlx::query(recreate).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("ALTER TABLE events DISABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query(sql).execute(&mut *tx).await.unwrap();
        sqlx::query("ALTER TABLE events ENABLE TRIGGER USER")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        pool.close().await;
    }
}

async fn chain_scenario(url: &str) {
    let store = store::open(url).await.unwrap();
    let p = Uuid::new_v4();
    for n in 0..5 {
        append(&store, p, i64::from(n) * 2, n).await;
    }
    let events = store.read(p, 0, 100).await.unwrap();
    assert_eq!(events.len(), 10);
    // Each hash chains over the previous one.
    let mut prev = GENESIS_HASH.to_string();
    for e in &events {
        assert_eq!(e.hash, e.compute_hash(&prev), "seq {}", e.seq);
        prev = e.hash.clone();
    }
    let ChainCheck::Intact {
        events: n,
        head_hash,
    } = verify_chain(&*store, p).await.unwrap()
    else {
        panic!("an untouched log verifies")
    };
    assert_eq!((n, head_hash.as_str()), (10, prev.as_str()));
    let original = events.clone();
    store.close().await;

    // Events written before the chain existed get their hashes at open, identical to these.
    tamper(url, "UPDATE events SET hash = NULL").await;
    let store = store::open(url).await.unwrap();
    assert_eq!(store.read(p, 0, 100).await.unwrap(), original);
    // And appends continue the chain.
    append(&store, p, 10, 9).await;
    assert!(matches!(
        verify_chain(&*store, p).await.unwrap(),
        ChainCheck::Intact { events: 12, .. }
    ));
    store.close().await;

    // A payload altered in place is named by its seq.
    tamper(
        url,
        &format!(
            "UPDATE events SET payload = '{{\"n\":666}}' WHERE planning_id = '{p}' AND seq = 4"
        ),
    )
    .await;
    let store = store::open(url).await.unwrap();
    match verify_chain(&*store, p).await.unwrap() {
        ChainCheck::BrokenAt { seq, .. } => assert_eq!(seq, 4),
        other => panic!("tampering must be detected: {other:?}"),
    }
    store.close().await;

    // The operator's CLI says the same, with a failing exit status.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["--database-url", url, "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(&format!("{p}: BROKEN at seq 4")), "{text}");
}

#[tokio::test]
async fn sqlite_chain_verifies_backfills_and_detects_tampering() {
    let db = common::fresh_sqlite();
    chain_scenario(&db.url).await;
}

#[tokio::test]
async fn postgres_chain_verifies_backfills_and_detects_tampering() {
    let Some(db) = common::fresh_pg("postgres_chain").await else {
        return;
    };
    chain_scenario(&db.url).await;
}

#[tokio::test]
async fn verify_cli_passes_on_an_untouched_log() {
    let db = common::fresh_sqlite();
    let store = store::open(&db.url).await.unwrap();
    let p = Uuid::new_v4();
    append(&store, p, 0, 1).await;
    store.close().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["--database-url", &db.url, "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("{p}: ok, 2 events")), "{text}");
}

/// `GET …/verify` checks the chain for a participant: intact with the audit's head hash, then,
/// once a stored payload written since is altered, broken at that seq. Nothing is written by it.
async fn verify_route_scenario(backend: common::server::Backend) {
    use serde_json::json;
    let server = common::server::TestServer::start(backend).await;
    let c = server.create("Chain").await;
    let (_, ann) = server.join(&c.planning, &c.member_invite, "Ann").await;
    server
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "DraftGoal", "text": "Ship"}),
        )
        .await;
    let head = server
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": "Login"}}),
        )
        .await;
    let path = format!("/api/plannings/{}/verify", c.planning);
    let (status, ok) = server.get(&path, Some(&ann)).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["intact"], true, "{ok}");
    assert_eq!(ok["events"], head);
    let (_, audit) = server
        .get(
            &format!("/api/plannings/{}/audit?format=json", c.planning),
            Some(&ann),
        )
        .await;
    assert_eq!(
        ok["head_hash"], audit["head_hash"],
        "the audit's head is the verified one"
    );
    assert_eq!(ok["head_hash"].as_str().map(str::len), Some(64));
    // Without a token: 401, and nothing about the chain.
    assert_eq!(server.get(&path, None).await.0, 401);

    // The route checks what it has not checked before (the operator's CLI reads everything):
    // an event written after that check and then altered is found.
    let amended = server
        .ok(
            &c.planning,
            &c.token,
            json!({"type": "AmendGoal", "text": "Ship it", "note": "clearer"}),
        )
        .await;
    tamper(
        server.backend.url(),
        &format!(
            "UPDATE events SET payload = replace(payload, 'Ship it', 'Sink it') \
             WHERE planning_id = '{}' AND kind = 'GoalAmended'",
            c.planning
        ),
    )
    .await;
    let (status, broken) = server.get(&path, Some(&ann)).await;
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["intact"], false, "{broken}");
    assert_eq!(broken["broken_at"], amended, "{broken}");
    assert!(broken.get("head_hash").is_none());
    let (intact, _) = verify_cli(server.backend.url());
    assert!(!intact, "the CLI finds it too");
}

#[tokio::test]
async fn sqlite_verify_route_reports_the_chain() {
    verify_route_scenario(common::server::sqlite()).await;
}

#[tokio::test]
async fn postgres_verify_route_reports_the_chain() {
    let Some(backend) = common::server::postgres("verify_route").await else {
        return;
    };
    verify_route_scenario(backend).await;
}

/// The CLI on `url`: (success, standard output).
fn verify_cli(url: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args(["--database-url", url, "verify"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), text)
}

/// A deleted event is named as missing, whether it was the last one (the chain up to it is
/// intact, but the stored head says more) or one in the middle (not "the next one broken").
async fn deletion_scenario(url: &str) {
    let store = store::open(url).await.unwrap();
    let (last, middle) = (Uuid::new_v4(), Uuid::new_v4());
    for p in [last, middle] {
        for n in 0..5 {
            append(&store, p, i64::from(n) * 2, n).await;
        }
    }
    store.close().await;
    tamper_delete(
        url,
        &format!("DELETE FROM events WHERE planning_id = '{last}' AND seq = 10"),
    )
    .await;
    tamper_delete(
        url,
        &format!("DELETE FROM events WHERE planning_id = '{middle}' AND seq = 6"),
    )
    .await;
    let store = store::open(url).await.unwrap();
    assert_eq!(
        verify_chain(&*store, last).await.unwrap(),
        ChainCheck::Missing { seq: 10 }
    );
    assert_eq!(
        verify_chain(&*store, middle).await.unwrap(),
        ChainCheck::Missing { seq: 6 }
    );
    store.close().await;
    let (ok, text) = verify_cli(url);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!("{last}: BROKEN: seq 10 missing")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{middle}: BROKEN: seq 6 missing")),
        "{text}"
    );
}

#[tokio::test]
async fn sqlite_verify_names_deleted_events_as_missing() {
    let db = common::fresh_sqlite();
    deletion_scenario(&db.url).await;
}

#[tokio::test]
async fn postgres_verify_names_deleted_events_as_missing() {
    let Some(db) = common::fresh_pg("postgres_chain_deletion").await else {
        return;
    };
    deletion_scenario(&db.url).await;
}

/// A schedule recorded before `ScheduleSet` said who set it (v2) keeps its place in an intact
/// chain — its stored payload is what the hash covers — and loads as the same schedule, without
/// an author; a v3 event after it continues the chain.
#[tokio::test]
async fn an_old_schedule_event_keeps_the_chain_and_loads() {
    use sprintlog::domain::{Event, PlanningId};
    let db = common::fresh_sqlite();
    let store = store::open(&db.url).await.unwrap();
    let p = Uuid::new_v4();
    let v2 = r#"{"schedule":{"auto_phases":false,"candidates_shared_at":3,"estimation_deadline":4,"reminder_minutes":60,"sprint_end":9,"sprint_start":5,"sync_minutes":45,"sync_start":5}}"#;
    let raw = |kind: &str, version: i32, payload: &str| NewEvent {
        event_id: Uuid::new_v4(),
        kind: kind.into(),
        version,
        payload: payload.into(),
    };
    let request = |expected_seq, events| AppendRequest {
        planning_id: p,
        expected_seq,
        actor: Uuid::nil(),
        client_op_id: format!("op:{expected_seq}"),
        command_hash: format!("h{expected_seq}"),
        recorded_at: 1_700_000_000_000_000,
        events,
        jobs: Vec::new(),
    };
    store
        .append(request(0, vec![raw("ScheduleSet", 2, v2)]))
        .await
        .unwrap();
    let loaded = sprintlog::engine::replay::state_at(&*store, PlanningId(p), None)
        .await
        .unwrap();
    assert_eq!(loaded.state.schedule.sync_start, Some(5));
    assert_eq!(loaded.state.schedule.sprint_end, Some(9));
    assert!(loaded.state.schedule_origins.is_empty());

    let mut schedule = loaded.state.schedule.clone();
    schedule.sync_start = Some(6);
    let (kind, version, payload) = Event::ScheduleSet {
        schedule,
        by: Some(sprintlog::domain::ParticipantId(Uuid::from_u128(7))),
        at: Some(8),
    }
    .encode();
    assert_eq!(version, 3);
    store
        .append(request(1, vec![raw(kind, version, &payload)]))
        .await
        .unwrap();
    assert!(matches!(
        verify_chain(&*store, p).await.unwrap(),
        ChainCheck::Intact { events: 2, .. }
    ));
    let stored = store.read(p, 0, 10).await.unwrap();
    assert_eq!(stored[0].payload, v2, "the old payload is stored as it was");
    let loaded = sprintlog::engine::replay::state_at(&*store, PlanningId(p), None)
        .await
        .unwrap();
    let origins: Vec<_> = loaded.state.schedule_origins.keys().collect();
    assert_eq!(format!("{origins:?}"), "[SyncStart]");
    store.close().await;
}
