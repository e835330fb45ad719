//! Operator tools over real databases: export/import between SQLite and PostgreSQL (hashes,
//! seqs and audits identical), tamper refusal, backup of a live SQLite file, purge.

mod common;

use common::server::*;
use serde_json::json;
use std::process::Command;

fn cli(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// A planning with a round whose votes are partly sealed, played over the real server.
async fn played(t: &TestServer) -> String {
    let c = t.create("Move me").await;
    let (_a, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_b, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    for title in ["A", "B"] {
        t.ok(
            &c.planning,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let st = t.state(&c.planning, &c.token).await;
    let items = st["state"]["rank"].clone();
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": items}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let round = st["state"]["round_order"][0].clone();
    for (tok, item, card) in [
        (&ann, 0, "3"),
        (&bob, 0, "3"),
        (&ann, 1, "1"),
        (&bob, 1, "21"),
    ] {
        t.ok(
            &c.planning,
            tok,
            json!({"type": "CastVote", "round": round, "item": items[item], "card": card}),
        )
        .await;
    }
    c.planning
}

#[tokio::test]
async fn export_import_between_backends_keeps_hashes_and_audits() {
    let src = common::fresh_sqlite();
    let mut t = TestServer::start(Backend::Shared(src.url.clone())).await;
    let planning = played(&t).await;
    t.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.jsonl");
    let file = file.to_str().unwrap();
    let (ok, out) = cli(&src.url, &["export", &planning, "--out", file]);
    assert!(ok, "{out}");

    // Into PostgreSQL when available, else into another SQLite file.
    let pg = common::fresh_pg("transfer_export_import").await;
    let other = common::fresh_sqlite();
    let dst = pg
        .as_ref()
        .map(|d| d.url.clone())
        .unwrap_or(other.url.clone());
    let (ok, out) = cli(&dst, &["import", file]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{planning}: imported")), "{out}");
    let (ok, out) = cli(&dst, &["verify", &planning]);
    assert!(ok && out.contains(": ok,"), "{out}");
    let (_, src_audit) = cli(&src.url, &["audit", &planning, "--format", "md"]);
    let (_, dst_audit) = cli(&dst, &["audit", &planning, "--format", "md"]);
    assert!(src_audit.contains("# Audit: Move me"), "{src_audit}");
    assert_eq!(src_audit, dst_audit);
    for fmt in ["json", "csv"] {
        assert_eq!(
            cli(&src.url, &["audit", &planning, "--format", fmt]).1,
            cli(&dst, &["audit", &planning, "--format", fmt]).1
        );
    }
    // Field for field, the logs are the same (but for the global position).
    let a = sprintlog::store::open(&src.url).await.unwrap();
    let b = sprintlog::store::open(&dst).await.unwrap();
    let p: uuid::Uuid = planning.parse().unwrap();
    let mut ea = a.read(p, 0, 1000).await.unwrap();
    let mut eb = b.read(p, 0, 1000).await.unwrap();
    ea.iter_mut()
        .chain(eb.iter_mut())
        .for_each(|e| e.global_id = 0);
    assert_eq!(ea, eb);
    // Importing twice is refused.
    b.close().await;
    let (ok, out) = cli(&dst, &["import", file]);
    assert!(!ok && out.contains("already has events"), "{out}");

    // A tampered export is refused and writes nothing.
    let text = std::fs::read_to_string(file).unwrap();
    let tampered = text.replacen("\\\"title\\\":\\\"A\\\"", "\\\"title\\\":\\\"Z\\\"", 1);
    assert_ne!(tampered, text);
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, tampered).unwrap();
    let fresh = common::fresh_sqlite();
    let (ok, out) = cli(&fresh.url, &["import", bad.to_str().unwrap()]);
    assert!(!ok && out.contains("hash chain broken"), "{out}");
    let c = sprintlog::store::open(&fresh.url).await.unwrap();
    assert_eq!(c.head(p).await.unwrap(), 0);
    c.close().await;
    a.close().await;
}

#[tokio::test]
async fn backup_of_a_live_sqlite_file_and_purge() {
    let db = common::fresh_sqlite();
    let t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let planning = played(&t).await;
    let keep = played(&t).await;
    // Backup while the server is running.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let (ok, out) = cli(&db.url, &["backup", copy.to_str().unwrap()]);
    assert!(ok, "{out}");
    let copy_url = format!("sqlite://{}", copy.display());
    let (ok, out) = cli(&copy_url, &["verify"]);
    assert!(ok && out.contains(&format!("{planning}: ok")), "{out}");

    // Purge needs --yes, then removes only that planning and records it.
    let (ok, _) = cli(&db.url, &["purge", &planning]);
    assert!(!ok);
    let (ok, out) = cli(&db.url, &["purge", &planning, "--yes"]);
    assert!(ok && out.contains("purged"), "{out}");
    let store = sprintlog::store::open(&db.url).await.unwrap();
    let p: uuid::Uuid = planning.parse().unwrap();
    assert!(store.read(p, 0, 10).await.unwrap().is_empty());
    assert_eq!(store.head(p).await.unwrap(), 0);
    let k: uuid::Uuid = keep.parse().unwrap();
    assert!(!store.read(k, 0, 10).await.unwrap().is_empty());
    store.close().await;
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT events FROM purges WHERE planning_id = ?")
        .bind(&planning)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(n > 5);
    // The guard is back: nobody else can delete events.
    assert!(sqlx::query("DELETE FROM events")
        .execute(&pool)
        .await
        .is_err());
    pool.close().await;
}

#[tokio::test]
async fn purge_on_postgres() {
    let Some(db) = common::fresh_pg("transfer_purge").await else {
        return;
    };
    let t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let planning = played(&t).await;
    let _keep = played(&t).await;
    let (ok, out) = cli(&db.url, &["purge", &planning, "--yes"]);
    assert!(ok, "{out}");
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM events WHERE planning_id = $1")
        .bind(&planning)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert!(sqlx::query("DELETE FROM events")
        .execute(&pool)
        .await
        .is_err());
    pool.close().await;
}
