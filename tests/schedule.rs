//! The planning schedule on a real server (real sockets, real databases): the server moves a
//! planning through its phases at the scheduled times and reminds members with pending votes
//! exactly once (inbox and webhook), and a restart in the middle changes nothing.
//!
//! The servers run on a manual clock, as in `server_deadlines.rs`: a test sets the schedule's
//! times ahead of the clock, moves the clock past them, and waits (bounded) until the
//! scheduler has done every job due by then. Every scenario runs on SQLite and on PostgreSQL
//! (`SPRINTLOG_TEST_PG`).

mod common;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::routing::post;
use common::on_both_backends;
use common::server::*;
use common::time::{eventually, manual_clock, Clock};
use serde_json::{json, Value};
use sprintlog::config::{Limits, WebhookConfig};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_backends!(
    backend: the_schedule_moves_the_phases_and_reminds_once_across_a_restart,
    slots_and_working_hours_over_rest,
    readiness_and_needs_discussion_over_rest,
    two_nodes_follow_the_schedule_and_remind_once,
);

const SYSTEM: &str = "00000000-0000-0000-0000-000000000000";
const SECOND: i64 = 1_000_000;
/// How long (wall time) the due jobs may take to be done once the clock passed them.
const RUN_WITHIN: Duration = Duration::from_secs(8);

/// Moves `clock` to `at` (microseconds since the epoch; never backwards).
fn advance_to(clock: &Clock, at: i64) {
    let by = at.saturating_sub(clock.now_micros()).max(0);
    clock.advance(Duration::from_micros(by as u64));
}

/// Waits until the jobs due by the clock's time are done on `t`'s database: the next one
/// pending is `next` (or none) and what they write is there (`written`, on the planning's
/// log). Both are needed: while a job runs, its lease (further ahead than `next`) hides it
/// from the pending time. Done jobs are never run again, so what they wrote is final.
async fn due_jobs_done(
    t: &TestServer,
    next: Option<i64>,
    (planning, token): (&str, &str),
    written: impl Fn(&[Value]) -> bool,
) {
    eventually(RUN_WITHIN, "the due jobs done", || async {
        let all = log(t, planning, token).await;
        (t.pending_job().await == next && written(&all)).then_some(())
    })
    .await;
}

/// The log shows the phase changes `to`, in order.
fn phases_are(to: &'static [&'static str]) -> impl Fn(&[Value]) -> bool {
    move |all| {
        phase_changes(all)
            .iter()
            .map(|(p, _)| p.as_str())
            .eq(to.iter().copied())
    }
}

/// A local webhook receiver that records every body and answers 200.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                post(
                    |AxState(got): AxState<Arc<Mutex<Vec<Value>>>>, body: Bytes| async move {
                        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        got.lock().unwrap().push(v);
                        StatusCode::OK
                    },
                ),
            )
            .with_state(got.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, got }
    }

    fn got(&self) -> Vec<Value> {
        self.got.lock().unwrap().clone()
    }

    fn limits(&self) -> Limits {
        Limits {
            webhooks: WebhookConfig {
                allow: vec![self.addr.to_string()],
                backoff_ms: 200,
                max_attempts: 8,
                timeout_ms: 2000,
                ..WebhookConfig::default()
            },
            ..Limits::default()
        }
    }
}

/// The whole log as `token` sees it over REST.
async fn log(t: &TestServer, planning: &str, token: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e["seq"].as_i64().unwrap());
        let (status, body) = t
            .get(
                &format!("/api/plannings/{planning}/events?after={after}&limit=1000"),
                Some(token),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let page = body["events"].as_array().unwrap().clone();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

fn of_kind<'a>(log: &'a [Value], kind: &str) -> Vec<&'a Value> {
    log.iter().filter(|e| e["kind"] == kind).collect()
}

fn phase_changes(log: &[Value]) -> Vec<(String, String)> {
    of_kind(log, "PhaseChanged")
        .iter()
        .map(|e| {
            (
                e["data"]["to"].as_str().unwrap().to_string(),
                e["data"]["by"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A schedule set a few seconds ahead: the server opens the async phase, a round with a
/// reminder one minute before its deadline goes out to the one member who has not voted, the
/// server goes down before the reminder and the sync start, and after the restart both happen —
/// once. A second restart changes nothing.
async fn the_schedule_moves_the_phases_and_reminds_once_across_a_restart(backend: Backend) {
    let rx = Receiver::start().await;
    let clock = manual_clock();
    let mut t = TestServer::start_clocked(backend, rx.limits(), &clock).await;
    let c = t.create("Scheduled").await;
    let (ann, ann_token) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_bob, bob_token) = t.join(&c.planning, &c.member_invite, "Bob").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Login", "acceptance_criteria": ["works"]}}),
    )
    .await;
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/webhooks", c.planning),
            Some(&c.token),
            json!({"url": format!("http://{}/hook", rx.addr), "events": ["ReminderSent"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let t0 = clock.now_micros();
    let shared_at = t0 + 1500 * 1000;
    let sync_start = t0 + 6 * SECOND;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "SetSchedule", "schedule": {
            "sprint_start": t0 + 3600 * SECOND,
            "candidates_shared_at": shared_at,
            "estimation_deadline": t0 + 5 * SECOND,
            "sync_start": sync_start,
            "sync_minutes": 30,
            "auto_phases": true,
            "reminder_minutes": 1,
        }}),
    )
    .await;
    // The view carries the schedule's times in UTC (RFC 3339) too.
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["state"]["phase"], "draft");
    let utc = st["state"]["schedule"]["sync_start_utc"].as_str().unwrap();
    assert!(utc.ends_with('Z') && utc.contains('T'), "{utc}");

    // Candidates shared: the server moves the planning to async (and not before).
    assert_eq!(t.pending_job().await, Some(shared_at));
    advance_to(&clock, shared_at);
    let on = (c.planning.as_str(), c.token.as_str());
    due_jobs_done(&t, Some(sync_start), on, phases_are(&["async"])).await;
    let all = log(&t, &c.planning, &c.token).await;
    assert_eq!(
        phase_changes(&all),
        vec![("async".to_string(), SYSTEM.to_string())]
    );
    assert_eq!(
        t.state(&c.planning, &c.token).await["state"]["phase"],
        "async"
    );

    // A round whose reminder (one minute before its deadline) is two seconds away.
    let item = st["state"]["rank"][0].as_str().unwrap().to_string();
    let deadline = clock.now_micros() + 62 * SECOND;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    let st = t.state(&c.planning, &c.token).await;
    let round = st["state"]["round_order"][0].as_str().unwrap().to_string();
    t.ok(
        &c.planning,
        &bob_token,
        json!({"type": "CastVote", "round": round, "item": item, "card": "3"}),
    )
    .await;

    // Down before the reminder and the sync start; back after both.
    let backend = t.stop().await;
    advance_to(&clock, sync_start.max(deadline - 60 * SECOND) + 300_000);
    let mut t = TestServer::start_clocked(backend, rx.limits(), &clock).await;
    // Phase change, reminder and its delivery done; the round's close is still ahead.
    let on = (c.planning.as_str(), c.token.as_str());
    let both = phases_are(&["async", "sync"]);
    let reminded = |all: &[Value]| both(all) && !of_kind(all, "ReminderSent").is_empty();
    due_jobs_done(&t, Some(deadline), on, reminded).await;
    eventually(RUN_WITHIN, "the reminder delivered", || async {
        (!rx.got().is_empty()).then_some(())
    })
    .await;
    let got = rx.got();

    let all = log(&t, &c.planning, &c.token).await;
    assert_eq!(
        phase_changes(&all),
        vec![
            ("async".to_string(), SYSTEM.to_string()),
            ("sync".to_string(), SYSTEM.to_string())
        ]
    );
    let reminders = of_kind(&all, "ReminderSent");
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(reminders[0]["data"]["participant"], ann.as_str());
    assert_eq!(reminders[0]["data"]["round"], round.as_str());
    assert_eq!(reminders[0]["actor"], SYSTEM);

    // Ann's inbox shows it; Bob (who voted) has none.
    let (status, inbox) = t
        .get(
            &format!("/api/plannings/{}/inbox", c.planning),
            Some(&ann_token),
        )
        .await;
    assert_eq!(status, 200, "{inbox}");
    assert_eq!(inbox["reminders"].as_array().unwrap().len(), 1, "{inbox}");
    assert_eq!(inbox["reminders"][0]["round"], round.as_str());
    assert_eq!(inbox["reminders"][0]["deadline"], deadline);
    assert!(
        inbox["pending_votes"][0]["deadline_utc"].is_string(),
        "{inbox}"
    );
    let (_, bob_inbox) = t
        .get(
            &format!("/api/plannings/{}/inbox", c.planning),
            Some(&bob_token),
        )
        .await;
    assert_eq!(bob_inbox["reminders"], json!([]));

    // The webhook got exactly that reminder.
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["event"]["kind"], "ReminderSent");
    assert_eq!(got[0]["event"]["data"]["participant"], ann.as_str());
    assert!(got[0]["text"].as_str().unwrap().contains("Ann"), "{got:?}");

    // A restart finds nothing due left to do: same log, no second delivery.
    let backend = t.stop().await;
    let t = TestServer::start_clocked(backend, rx.limits(), &clock).await;
    assert_eq!(t.pending_job().await, Some(deadline));
    assert_eq!(log(&t, &c.planning, &c.token).await, all);
    assert_eq!(rx.got().len(), 1);
}

/// Working hours set over REST show in the view, and the slot finder answers over REST.
async fn slots_and_working_hours_over_rest(backend: Backend) {
    let t = TestServer::start(backend).await;
    let c = t.create("Slots").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (bob_id, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    let tz = |zone: &str| {
        json!({"type": "SetTimeZone", "time_zone": zone, "work_start_minute": 540,
               "work_end_minute": 1050})
    };
    t.ok(&c.planning, &c.token, tz("America/Los_Angeles")).await;
    t.ok(&c.planning, &ann, tz("Europe/Berlin")).await;
    t.ok(&c.planning, &bob, tz("Asia/Kolkata")).await;
    let (status, body) = t
        .command(&c.planning, &bob, "bad-zone", tz("Asia/Nowhere"))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid");

    let st = t.state(&c.planning, &ann).await;
    let me = &st["state"]["participants"][st["you"]["participant"].as_str().unwrap()];
    assert_eq!(me["time_zone"], "Europe/Berlin");
    assert_eq!(me["work_days"], json!(["mon", "tue", "wed", "thu", "fri"]));

    let (status, body) = t
        .get(
            &format!(
                "/api/plannings/{}/slots?from=2026-06-16T00:00:00Z&to=2026-06-17T00:00:00Z&minutes=45&limit=2",
                c.planning
            ),
            Some(&ann),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["members"], 3);
    let best = &body["slots"][0];
    assert_eq!(best["start_utc"], "2026-06-16T11:15:00Z");
    assert_eq!(best["end_utc"], "2026-06-16T12:00:00Z");
    assert_eq!(best["inside"].as_array().unwrap().len(), 2);
    assert_eq!(best["outside"][0]["participant"], c.participant.as_str());
    assert_eq!(best["outside"][0]["minutes"], 285);
    assert_eq!(body["slots"].as_array().unwrap().len(), 2);

    // Who a time falls outside the hours of, before it is set: the best slot measures the same,
    // and a deadline at 14:00 UTC is after Kolkata's day (12:00) and before Los Angeles' (16:00).
    let fit = |q: &str| format!("/api/plannings/{}/fit?{q}", c.planning);
    let (status, body) = t
        .get(&fit("start=2026-06-16T11:15:00Z&minutes=45"), Some(&ann))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["end_utc"], "2026-06-16T12:00:00Z");
    assert_eq!(body["inside"], best["inside"]);
    assert_eq!(body["outside"], best["outside"]);
    let (status, body) = t.get(&fit("start=2026-06-16T14:00:00Z"), Some(&ann)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["inside"], json!([st["you"]["participant"]]));
    let mut outside: Vec<(String, u64)> = body["outside"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["participant"].as_str().unwrap().to_string(),
                o["minutes"].as_u64().unwrap(),
            )
        })
        .collect();
    outside.sort();
    let mut want = vec![(c.participant.clone(), 120), (bob_id.clone(), 120)];
    want.sort();
    assert_eq!(outside, want);
    for bad in [
        "start=tomorrow",
        "start=2026-06-16T14:00:00Z&minutes=481",
        "",
    ] {
        let (status, body) = t.get(&fit(bad), Some(&ann)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    let (status, body) = t
        .get(
            &format!("/api/plannings/{}/slots?from=yesterday", c.planning),
            Some(&ann),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = t
        .get(&format!("/api/plannings/{}/slots", c.planning), None)
        .await;
    assert_eq!(status, 401);
}

/// The ambiguity rule in the view, `SendToAgenda`, and the readiness report over REST.
async fn readiness_and_needs_discussion_over_rest(backend: Backend) {
    let t = TestServer::start(backend).await;
    let c = t.create("Readiness").await;
    let (_, ann) = t.join(&c.planning, &c.member_invite, "Ann").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Vague"}}),
    )
    .await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Clear", "acceptance_criteria": ["ok"]}}),
    )
    .await;
    let st = t.state(&c.planning, &ann).await;
    let vague = st["state"]["rank"][0].as_str().unwrap().to_string();
    assert_eq!(
        st["state"]["derived"]["needs_discussion"],
        json!([{"item": vague, "title": "Vague", "reasons": [{"reason": "no_acceptance_criteria"}]}])
    );

    let path = format!("/api/plannings/{}/readiness", c.planning);
    let (status, r) = t.get(&path, Some(&ann)).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["items_ready"],
        json!({"count": 1, "of": 2, "percent": 50})
    );
    assert_eq!(r["keep_live_meeting"], true);
    assert_eq!(
        r["advice"],
        "Keep the live meeting: the backlog is not ready for async estimation."
    );
    assert_eq!(r["participation"]["percent"], Value::Null);
    let (status, _) = t.get(&path, None).await;
    assert_eq!(status, 401);

    // Members may not send items to the agenda; the facilitator may.
    let send = json!({"type": "SendToAgenda", "item": vague, "note": "what is it?"});
    let (status, body) = t.command(&c.planning, &ann, "send-1", send.clone()).await;
    assert_eq!(status, 403, "{body}");
    t.ok(&c.planning, &c.token, send).await;
    let st = t.state(&c.planning, &ann).await;
    assert_eq!(st["state"]["derived"]["proposed_agenda"], json!([vague]));
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    t.ok(&c.planning, &c.token, json!({"type": "StartSync"}))
        .await;
    let st = t.state(&c.planning, &ann).await;
    assert_eq!(st["state"]["agenda"], json!([vague]));
    assert_eq!(st["state"]["items"][&vague]["flag"]["reason"], "discussion");
    let all = log(&t, &c.planning, &c.token).await;
    let sent = of_kind(&all, "ItemSentToAgenda");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["data"]["reasons"],
        json!([{"reason": "no_acceptance_criteria"}])
    );

    // Settled live, the session ended: the audit and the digest tell the time well spent.
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "AgreeEstimates", "estimates": [{"item": vague, "card": "3"}]}),
    )
    .await;
    t.ok(&c.planning, &c.token, json!({"type": "EndSync"}))
        .await;
    let (status, audit) = t
        .get(&format!("/api/plannings/{}/audit", c.planning), Some(&ann))
        .await;
    assert_eq!(status, 200, "{audit}");
    let time = &audit["time"];
    assert_eq!(time["sessions"].as_array().unwrap().len(), 1, "{time}");
    assert_eq!(time["planned_minutes"], 45);
    assert_eq!(
        (
            time["settled_async"].as_u64(),
            time["settled_live"].as_u64()
        ),
        (Some(0), Some(1))
    );
    assert_eq!(
        (time["flagged"].as_u64(), time["flagged_discussed"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, digest) = t
        .get(
            &format!("/api/plannings/{}/digest?since=0", c.planning),
            Some(&ann),
        )
        .await;
    assert_eq!(status, 200, "{digest}");
    assert_eq!(digest["time_well_spent"], *time);
    let (status, md) = t
        .get_text(&format!(
            "/api/plannings/{}/digest?since=0&format=md&token={ann}",
            c.planning
        ))
        .await;
    assert_eq!(status, 200, "{md}");
    assert!(md.contains("## Time well spent"), "{md}");
    assert!(md.contains("flagged items discussed live: 1 of 1"), "{md}");
}

/// Two servers (nodes) on one database, both running schedulers, start after the sync start
/// and a reminder fell due: each happens exactly once.
async fn two_nodes_follow_the_schedule_and_remind_once(backend: Backend) {
    let clock = manual_clock();
    let mut t = TestServer::start_clocked(backend, Limits::default(), &clock).await;
    let c = t.create("Cluster").await;
    let (ann, _) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_, bob) = t.join(&c.planning, &c.member_invite, "Bob").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ProposeItem", "draft": {"title": "Login", "acceptance_criteria": ["ok"]}}),
    )
    .await;
    let t0 = clock.now_micros();
    let sync_start = t0 + 4 * SECOND;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "SetSchedule", "schedule": {
            "candidates_shared_at": t0 + 1000 * 1000,
            "sync_start": sync_start,
            "auto_phases": true,
            "reminder_minutes": 1,
        }}),
    )
    .await;
    advance_to(&clock, t0 + SECOND);
    let on = (c.planning.as_str(), c.token.as_str());
    due_jobs_done(&t, Some(sync_start), on, phases_are(&["async"])).await;
    let st = t.state(&c.planning, &c.token).await;
    assert_eq!(st["state"]["phase"], "async");
    let item = st["state"]["rank"][0].as_str().unwrap().to_string();
    let deadline = clock.now_micros() + 61 * SECOND;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    let round = t.state(&c.planning, &c.token).await["state"]["round_order"][0]
        .as_str()
        .unwrap()
        .to_string();
    t.ok(
        &c.planning,
        &bob,
        json!({"type": "CastVote", "round": round, "item": item, "card": "3"}),
    )
    .await;
    let backend = t.stop().await;
    advance_to(&clock, sync_start.max(deadline - 60 * SECOND) + 300_000);

    let shared = backend.shared();
    let (mut a, mut b) = tokio::join!(
        TestServer::start_clocked(backend, Limits::default(), &clock),
        TestServer::start_clocked(shared, Limits::default(), &clock)
    );
    // Every job due is done (only the round's close is ahead): the log is final.
    let on = (c.planning.as_str(), c.token.as_str());
    let both = phases_are(&["async", "sync"]);
    let reminded = |all: &[Value]| both(all) && !of_kind(all, "ReminderSent").is_empty();
    due_jobs_done(&a, Some(deadline), on, reminded).await;
    let from_a = log(&a, &c.planning, &c.token).await;
    let from_b = log(&b, &c.planning, &c.token).await;
    assert_eq!(from_a, from_b);
    assert_eq!(
        phase_changes(&from_a),
        vec![
            ("async".to_string(), SYSTEM.to_string()),
            ("sync".to_string(), SYSTEM.to_string())
        ]
    );
    let reminders = of_kind(&from_a, "ReminderSent");
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(reminders[0]["data"]["participant"], ann.as_str());
    // The shared node goes first, then the owner removes the database.
    b.stop().await;
    a.stop().await;
}
