//! Round deadlines on a real server (real sockets, real databases): the durable scheduler
//! closes a round at its deadline while the server idles, exactly once across restarts and
//! across two servers (nodes) on one database, and does nothing when the round closed early.
//!
//! Every scenario runs on SQLite and on PostgreSQL (`SPRINTLOG_TEST_PG`, skipped with a
//! message when unset). The servers run on a manual clock: a test moves time past a deadline
//! itself, then waits (bounded) until the scheduler has done the job in the store.

mod common;

use common::on_both_backends;
use common::server::*;
use common::time::{eventually, manual_clock, Clock};
use serde_json::{json, Value};
use sprintlog::config::Limits;
use sprintlog::store::{
    AdminStore, AppendRequest, Appended, CommandRecord, EventLog, EventStore, Job, JobKinds,
    JobStatus, JobStore, NewEvent, SecretStore, SnapshotStore, StoreResult, StoredEvent,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

on_both_backends!(
    backend: round_closes_at_its_deadline_while_the_server_idles,
    deadline_passed_while_down_closes_once_after_restart,
    two_servers_after_the_deadline_close_once,
    early_close_leaves_the_deadline_job_nothing_to_do,
    short_deadlines_wake_the_idle_scheduler,
    a_job_leased_by_another_node_waits_for_its_lease,
    a_restarted_node_takes_back_its_own_leases,
);

/// How far out the test rounds' deadlines are (clock time: it passes when the test says so).
const DEADLINE_IN: Duration = Duration::from_secs(60);
/// How long (wall time) a due job may take to be run once the clock passed its time.
const RUN_WITHIN: Duration = Duration::from_secs(5);
/// The system actor (`ParticipantId::SYSTEM`) as it appears in event frames.
const SYSTEM: &str = "00000000-0000-0000-0000-000000000000";

fn micros(d: Duration) -> i64 {
    d.as_micros() as i64
}

async fn start(backend: Backend, clock: &Clock) -> TestServer {
    TestServer::start_clocked(backend, Limits::default(), clock).await
}

/// A planning in the `async` phase with two members and two items.
struct Fixture {
    planning: String,
    facilitator: String,
    ann: (String, String),
    bob: (String, String),
    items: Vec<String>,
}

async fn fixture(t: &TestServer) -> Fixture {
    let c = t.create("Deadlines").await;
    let ann = t.join(&c.planning, &c.member_invite, "Ann").await;
    let bob = t.join(&c.planning, &c.member_invite, "Bob").await;
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await;
    for title in ["Login", "Logout"] {
        t.ok(
            &c.planning,
            &c.token,
            json!({"type": "ProposeItem", "draft": {"title": title}}),
        )
        .await;
    }
    let st = t.state(&c.planning, &c.token).await;
    let items: Vec<String> = st["state"]["rank"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    assert_eq!(items.len(), 2, "{st}");
    Fixture {
        planning: c.planning,
        facilitator: c.token,
        ann,
        bob,
        items,
    }
}

/// Opens a round on `item` closing at `deadline`; returns its id.
async fn open_round(t: &TestServer, fx: &Fixture, item: &str, deadline: i64) -> String {
    t.ok(
        &fx.planning,
        &fx.facilitator,
        json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
    )
    .await;
    let st = t.state(&fx.planning, &fx.facilitator).await;
    st["state"]["round_order"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

async fn vote(t: &TestServer, fx: &Fixture, token: &str, round: &str, item: &str, card: &str) {
    t.ok(
        &fx.planning,
        token,
        json!({"type": "CastVote", "round": round, "item": item, "card": card}),
    )
    .await;
}

/// The whole log as the facilitator sees it over REST, paging through it.
async fn log(t: &TestServer, fx: &Fixture) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e["seq"].as_i64().unwrap());
        let (status, body) = t
            .get(
                &format!("/api/plannings/{}/events?after={after}", fx.planning),
                Some(&fx.facilitator),
            )
            .await;
        assert_eq!(status, 200, "events: {body}");
        let page = body["events"].as_array().unwrap().clone();
        if page.is_empty() {
            return all;
        }
        all.extend(page);
    }
}

/// The `RoundClosed` events of `round` in `log`.
fn closes<'a>(log: &'a [Value], round: &str) -> Vec<&'a Value> {
    log.iter()
        .filter(|e| e["kind"] == "RoundClosed" && e["data"]["round"] == round)
        .collect()
}

/// Asserts the events of a deadline close of `round` on `item` where only Ann voted `5`:
/// `RoundClosed` by the system dated at the deadline, then (1 of 2 members voted = 50 %, the
/// default quorum; a single card cannot spread) the votes revealed and `5` proposed.
fn assert_deadline_close(events: &[Value], fx: &Fixture, round: &str, item: &str, deadline: i64) {
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["RoundClosed", "VotesRevealed", "EstimateProposed"],
        "{events:#?}"
    );
    let closed = &events[0];
    assert_eq!(closed["data"]["round"], round);
    assert_eq!(closed["data"]["reason"], "deadline");
    assert_eq!(closed["data"]["at"].as_i64(), Some(deadline), "{closed}");
    assert_eq!(closed["actor"], SYSTEM);
    // Recorded when it ran: at or after the deadline, never before.
    assert!(closed["at"].as_i64().unwrap() >= deadline, "{closed}");
    let revealed = &events[1]["data"];
    assert_eq!(revealed["item"], item);
    assert_eq!(
        revealed["votes"],
        json!([{"voter": fx.ann.0, "card": "5"}]),
        "{revealed}"
    );
    let proposed = &events[2]["data"];
    assert_eq!(proposed["item"], item);
    assert_eq!(proposed["card"], "5");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

/// Waits until the scheduler has done the job `key` (run it, or found nothing to do) and
/// counted it; returns its status. A done job is never claimed again, so what the log holds
/// then is final.
async fn job_done(servers: &[&TestServer], key: &str) -> JobStatus {
    let status = servers[0].job_done(key).await;
    // Counted right after it was marked done.
    eventually(RUN_WITHIN, "the job counted", || async {
        (servers.iter().map(|t| t.jobs_run()).sum::<u64>() > 0).then_some(())
    })
    .await;
    status
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// Nobody does anything after one vote: the round closes by itself when the clock passes its
/// deadline and every open socket gets the close, dated at the deadline, then the outcome.
async fn round_closes_at_its_deadline_while_the_server_idles(backend: Backend) {
    let clock = manual_clock();
    let t = start(backend, &clock).await;
    let fx = fixture(&t).await;
    let item = fx.items[0].clone();
    let deadline = clock.now_micros() + micros(DEADLINE_IN);
    let round = open_round(&t, &fx, &item, deadline).await;
    vote(&t, &fx, &fx.ann.1, &round, &item, "5").await;
    let head = log(&t, &fx).await.len() as i64;

    let mut ws = t.ws(&fx.planning, &fx.bob.1, head).await;
    ws.until("caught_up").await;
    assert_eq!(t.jobs_run(), 0, "nothing is due before the deadline");
    assert_eq!(t.pending_job().await, Some(deadline));
    clock.advance(DEADLINE_IN);
    // The next event frames are the scheduler's.
    let mut events = Vec::new();
    while events.len() < 3 {
        match ws.next(RUN_WITHIN).await {
            Got::Frame(f) if f["type"] == "event" => events.push(f),
            Got::Frame(_) => {} // presence and the like
            other => panic!("waiting for the deadline close, got {other:?} after {events:?}"),
        }
    }
    assert_eq!(events[0]["seq"].as_i64(), Some(head + 1));
    assert_deadline_close(&events, &fx, &round, &item, deadline);
    assert_eq!(
        events[0]["at"].as_i64(),
        Some(deadline),
        "run when it fell due"
    );

    // The log says the same, once; the job is done, so nothing else can follow.
    job_done(&[&t], &format!("close:{round}")).await;
    let all = log(&t, &fx).await;
    assert_eq!(closes(&all, &round).len(), 1);
    assert_eq!(all.len() as i64, head + 3);
    assert_eq!(t.jobs_run(), 1);
    assert_eq!(t.pending_job().await, None);
}

/// The server is down when the deadline passes: the next start closes the round once, dated
/// at the deadline (not at the restart), and a second restart finds the job done.
async fn deadline_passed_while_down_closes_once_after_restart(backend: Backend) {
    let clock = manual_clock();
    let mut t = start(backend, &clock).await;
    let fx = fixture(&t).await;
    let item = fx.items[0].clone();
    let deadline = clock.now_micros() + micros(DEADLINE_IN);
    let round = open_round(&t, &fx, &item, deadline).await;
    vote(&t, &fx, &fx.ann.1, &round, &item, "5").await;
    let head = log(&t, &fx).await.len();
    let backend = t.stop().await;

    clock.advance(DEADLINE_IN + Duration::from_secs(30));
    let mut t = start(backend, &clock).await;
    let key = format!("close:{round}");
    let done = job_done(&[&t], &key).await;
    let all = log(&t, &fx).await;
    assert_eq!(all.len(), head + 3, "{all:#?}");
    assert_deadline_close(&all[head..], &fx, &round, &item, deadline);
    assert_eq!(all[head]["at"].as_i64(), Some(clock.now_micros()));
    assert_eq!(closes(&all, &round).len(), 1);
    assert_eq!(t.jobs_run(), 1);
    dated_at_the_deadline(&t, &fx, head as i64, deadline).await;

    // Once more: the restart finds the job done and nothing else pending.
    let backend = t.stop().await;
    let t = start(backend, &clock).await;
    assert_eq!(t.job(&key).await.done_at, done.done_at);
    assert_eq!(t.pending_job().await, None);
    assert_eq!(log(&t, &fx).await, all);
}

/// The timeline and the audit (JSON and CSV) date the close and the rule's steps recorded
/// with it (after `head`) at the deadline, as the event does, not at the restart.
async fn dated_at_the_deadline(t: &TestServer, fx: &Fixture, head: i64, deadline: i64) {
    let path = format!("/api/plannings/{}/timeline?after={head}", fx.planning);
    let (status, timeline) = t.get(&path, Some(&fx.facilitator)).await;
    assert_eq!(status, 200, "{timeline}");
    let entries = timeline["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    for e in entries {
        assert_eq!(e["at"].as_i64(), Some(deadline), "{e}");
    }
    let path = format!("/api/plannings/{}/audit?format=json", fx.planning);
    let (status, audit) = t.get(&path, Some(&fx.facilitator)).await;
    assert_eq!(status, 200, "{audit}");
    let steps: Vec<&Value> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .flat_map(|i| i["steps"].as_array().expect("steps"))
        .filter(|s| s["seq"].as_i64() > Some(head))
        .collect();
    assert!(!steps.is_empty(), "{audit}");
    for s in steps {
        assert_eq!(s["at"].as_i64(), Some(deadline), "{s}");
    }
    // CSV columns: item,title,outcome,seq,time,actor,step (no field of these rows is quoted).
    let path = format!(
        "/api/plannings/{}/audit?format=csv&token={}",
        fx.planning, fx.facilitator
    );
    let (status, csv) = t.get_text(&path).await;
    assert_eq!(status, 200, "{csv}");
    let when = sprintlog::read::utc::rfc3339(deadline);
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|c| c.get(3).and_then(|s| s.parse::<i64>().ok()) > Some(head))
        .collect();
    assert!(!rows.is_empty(), "{csv}");
    for r in rows {
        assert_eq!(r[4], when, "{r:?}");
    }
}

/// Two servers (nodes) start on one database after the deadline passed; both run a
/// scheduler. The round is closed once, and only one of them claimed the job.
async fn two_servers_after_the_deadline_close_once(backend: Backend) {
    let clock = manual_clock();
    let mut t = start(backend, &clock).await;
    let fx = fixture(&t).await;
    let item = fx.items[0].clone();
    let deadline = clock.now_micros() + micros(DEADLINE_IN);
    let round = open_round(&t, &fx, &item, deadline).await;
    vote(&t, &fx, &fx.ann.1, &round, &item, "5").await;
    let head = log(&t, &fx).await.len();
    let backend = t.stop().await;
    clock.advance(DEADLINE_IN + Duration::from_secs(1));

    let claimed = Arc::new(AtomicU64::new(0));
    let node = |backend: Backend| {
        let (clock, claimed) = (clock.clone(), claimed.clone());
        async move {
            let store = CountingStore::open(backend.url(), Arc::default(), claimed).await;
            TestServer::start_full(backend, Some(store), Limits::default(), clock).await
        }
    };
    let shared = backend.shared();
    let (mut a, mut b) = tokio::join!(node(backend), node(shared));
    job_done(&[&a, &b], &format!("close:{round}")).await;
    // Done jobs are never claimed, so the count of claimed jobs is final.
    assert_eq!(
        claimed.load(Ordering::Relaxed),
        1,
        "claimed by exactly one node"
    );
    assert_eq!(a.jobs_run() + b.jobs_run(), 1, "run on exactly one node");
    let from_a = log(&a, &fx).await;
    let from_b = log(&b, &fx).await;
    assert_eq!(from_a, from_b);
    assert_eq!(from_a.len(), head + 3, "{from_a:#?}");
    assert_eq!(closes(&from_a, &round).len(), 1);
    assert_deadline_close(&from_a[head..], &fx, &round, &item, deadline);
    assert_eq!(b.pending_job().await, None);
    // (The in-memory projections are not compared: a room loaded on one node before the
    // other node appended does not hear of it yet; cross-node fan-out is the cluster feed's.)
    // The shared node goes first, then the owner removes the database.
    b.stop().await;
    a.stop().await;
}

/// A round the facilitator closed early, and one that closed because everyone voted: their
/// deadline jobs still run at the deadline, append nothing, and are done.
async fn early_close_leaves_the_deadline_job_nothing_to_do(backend: Backend) {
    let clock = manual_clock();
    let t = start(backend, &clock).await;
    let fx = fixture(&t).await;
    let (first, second) = (fx.items[0].clone(), fx.items[1].clone());
    let deadline = clock.now_micros() + micros(DEADLINE_IN);

    let r1 = open_round(&t, &fx, &first, deadline).await;
    vote(&t, &fx, &fx.ann.1, &r1, &first, "5").await;
    t.ok(
        &fx.planning,
        &fx.facilitator,
        json!({"type": "CloseRound", "round": r1}),
    )
    .await;

    let r2 = open_round(&t, &fx, &second, deadline + 100_000).await;
    vote(&t, &fx, &fx.ann.1, &r2, &second, "3").await;
    vote(&t, &fx, &fx.bob.1, &r2, &second, "5").await;

    let before = log(&t, &fx).await;
    let c1 = closes(&before, &r1);
    let c2 = closes(&before, &r2);
    assert_eq!((c1.len(), c2.len()), (1, 1));
    assert_eq!(c1[0]["data"]["reason"], "facilitator");
    assert_eq!(c2[0]["data"]["reason"], "all_voted");
    assert!(c1[0]["data"]["at"].as_i64().unwrap() < deadline);
    assert_eq!(t.jobs_run(), 0, "nothing is due before the deadline");
    assert_eq!(t.pending_job().await, Some(deadline));

    // The first deadline passes: its job runs and finds nothing to do; the second waits.
    clock.advance(DEADLINE_IN);
    job_done(&[&t], &format!("close:{r1}")).await;
    assert_eq!(t.job(&format!("close:{r2}")).await.done_at, None);
    assert_eq!(t.pending_job().await, Some(deadline + 100_000));
    // Then the second.
    clock.advance(Duration::from_millis(100));
    job_done(&[&t], &format!("close:{r2}")).await;
    eventually(RUN_WITHIN, "both jobs counted", || async {
        (t.jobs_run() == 2).then_some(())
    })
    .await;
    // Both are done and nothing else is pending: what they wrote is final, and it is nothing.
    assert_eq!(t.pending_job().await, None);
    assert_eq!(log(&t, &fx).await, before);
}

/// The scheduler sleeps up to a second between looks at the jobs table; a round opened with a
/// deadline sooner than that must still close on time: the append that wrote its job wakes
/// the scheduler, which then sleeps until that deadline (the clock wakes it when it passes).
/// Without the wake-up a close waits for the scheduler's next idle look: up to a second.
async fn short_deadlines_wake_the_idle_scheduler(backend: Backend) {
    const ROUNDS: usize = 5;
    const SOON: Duration = Duration::from_millis(200);
    const LATE_BOUND: Duration = Duration::from_millis(400);
    let clock = manual_clock();
    let t = start(backend, &clock).await;
    let fx = fixture(&t).await;
    let mut items = fx.items.clone();
    for i in items.len()..ROUNDS {
        t.ok(
            &fx.planning,
            &fx.facilitator,
            json!({"type": "ProposeItem", "draft": {"title": format!("Item {i}")}}),
        )
        .await;
        let st = t.state(&fx.planning, &fx.facilitator).await;
        let rank = st["state"]["rank"].as_array().unwrap();
        items.push(rank.last().unwrap().as_str().unwrap().to_string());
    }
    let head = log(&t, &fx).await.len() as i64;
    let mut ws = t.ws(&fx.planning, &fx.facilitator, head).await;
    ws.until("caught_up").await;
    let mut lateness = Vec::new();
    for item in &items[..ROUNDS] {
        let deadline = clock.now_micros() + micros(SOON);
        let round = open_round(&t, &fx, item, deadline).await;
        clock.advance(SOON);
        let passed = Instant::now();
        let closed = loop {
            match ws.next(Duration::from_secs(3)).await {
                Got::Frame(f) if f["kind"] == "RoundClosed" => break f,
                Got::Frame(_) => {}
                other => panic!("waiting for the close of {round}, got {other:?}"),
            }
        };
        lateness.push(passed.elapsed());
        assert_eq!(closed["data"]["round"], round.as_str());
        assert_eq!(closed["data"]["at"].as_i64(), Some(deadline));
        assert_eq!(closed["at"].as_i64(), Some(deadline));
    }
    assert!(
        lateness.iter().all(|l| *l < LATE_BOUND),
        "closes late by {lateness:?}: the scheduler did not wake for the new job"
    );
}

/// A store that counts the scheduler's claims of deadline jobs (`claims`) and the jobs they
/// returned (`claimed`), passing everything through.
struct CountingStore {
    inner: Arc<dyn EventStore>,
    claims: Arc<AtomicU64>,
    claimed: Arc<AtomicU64>,
}

impl CountingStore {
    async fn open(url: &str, claims: Arc<AtomicU64>, claimed: Arc<AtomicU64>) -> Arc<Self> {
        let inner = sprintlog::store::open(url).await.expect("open store");
        Arc::new(CountingStore {
            inner,
            claims,
            claimed,
        })
    }
}

#[async_trait::async_trait]
impl EventLog for CountingStore {
    async fn append(&self, req: AppendRequest) -> StoreResult<Appended> {
        self.inner.append(req).await
    }
    async fn read(&self, p: Uuid, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        self.inner.read(p, after, limit).await
    }
    async fn find_command(
        &self,
        p: Uuid,
        actor: Uuid,
        op: &str,
    ) -> StoreResult<Option<CommandRecord>> {
        self.inner.find_command(p, actor, op).await
    }
    async fn head(&self, p: Uuid) -> StoreResult<i64> {
        self.inner.head(p).await
    }
    async fn head_with_hash(&self, p: Uuid) -> StoreResult<(i64, Option<String>)> {
        self.inner.head_with_hash(p).await
    }
    async fn read_all(&self, after: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        self.inner.read_all(after, limit).await
    }
    async fn head_feed(&self) -> StoreResult<Option<Box<dyn sprintlog::store::HeadFeed>>> {
        self.inner.head_feed().await
    }
}

#[async_trait::async_trait]
impl JobStore for CountingStore {
    async fn claim_jobs(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
        kinds: JobKinds<'_>,
    ) -> StoreResult<Vec<Job>> {
        let jobs = self
            .inner
            .claim_jobs(now, lease_until, limit, kinds)
            .await?;
        // Deadline jobs only: each tick also claims deliveries, separately.
        if kinds != JobKinds::Only("webhook") {
            self.claims.fetch_add(1, Ordering::Relaxed);
            self.claimed.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        }
        Ok(jobs)
    }
    async fn complete_job(&self, key: &str, at: i64) -> StoreResult<()> {
        self.inner.complete_job(key, at).await
    }
    async fn next_job_due(&self, kinds: JobKinds<'_>) -> StoreResult<Option<i64>> {
        self.inner.next_job_due(kinds).await
    }
    async fn retry_job(&self, key: &str, next_due: i64, attempts: i32) -> StoreResult<()> {
        self.inner.retry_job(key, next_due, attempts).await
    }
    async fn fail_job(&self, key: &str, at: i64, attempts: i32, error: &str) -> StoreResult<()> {
        self.inner.fail_job(key, at, attempts, error).await
    }
    async fn job_status(&self, key: &str) -> StoreResult<Option<sprintlog::store::JobStatus>> {
        self.inner.job_status(key).await
    }
}

#[async_trait::async_trait]
impl SnapshotStore for CountingStore {
    async fn save_snapshot(&self, p: Uuid, v: i32, seq: i64, state: &str) -> StoreResult<()> {
        self.inner.save_snapshot(p, v, seq, state).await
    }
    async fn load_snapshot(&self, p: Uuid, v: i32, at: i64) -> StoreResult<Option<(i64, String)>> {
        self.inner.load_snapshot(p, v, at).await
    }
    async fn delete_snapshots(&self) -> StoreResult<()> {
        self.inner.delete_snapshots().await
    }
}

#[async_trait::async_trait]
impl SecretStore for CountingStore {
    async fn put_webhook_secret(
        &self,
        p: Uuid,
        w: Uuid,
        secret: &str,
        at: i64,
    ) -> StoreResult<String> {
        self.inner.put_webhook_secret(p, w, secret, at).await
    }
    async fn webhook_secret(&self, w: Uuid) -> StoreResult<Option<String>> {
        self.inner.webhook_secret(w).await
    }
    async fn delete_webhook_secret(&self, w: Uuid) -> StoreResult<()> {
        self.inner.delete_webhook_secret(w).await
    }
}

#[async_trait::async_trait]
impl AdminStore for CountingStore {
    async fn plannings(&self) -> StoreResult<Vec<Uuid>> {
        self.inner.plannings().await
    }
    async fn purge(&self, p: Uuid, at: i64) -> StoreResult<i64> {
        self.inner.purge(p, at).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

/// Another node holds a due job (its lease runs for a minute): this server leaves it alone
/// while the lease runs, sleeping until the lease ends instead of polling the table in a
/// tight loop (the scheduler's own unit test checks that wait), and takes the job over once
/// the lease has expired.
async fn a_job_leased_by_another_node_waits_for_its_lease(backend: Backend) {
    let clock = manual_clock();
    let other = sprintlog::store::open(backend.url()).await.unwrap();
    let (p, now) = (Uuid::new_v4(), clock.now_micros());
    let job = Job {
        key: "close:elsewhere".into(),
        planning_id: p,
        due_at: now - 1_000_000,
        kind: "close_round".into(),
        payload: "elsewhere".into(),
        attempts: 0,
    };
    other
        .append(AppendRequest {
            planning_id: p,
            expected_seq: 0,
            actor: Uuid::nil(),
            client_op_id: "setup".into(),
            command_hash: "h".into(),
            recorded_at: now,
            events: vec![NewEvent {
                event_id: Uuid::new_v4(),
                kind: "Opaque".into(),
                version: 1,
                payload: "{}".into(),
            }],
            jobs: vec![job.clone()],
        })
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let lease_end = now + micros(lease);
    assert_eq!(
        other
            .claim_jobs(now, lease_end, 10, JobKinds::All)
            .await
            .unwrap(),
        vec![job]
    );

    let (claims, claimed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let store = CountingStore::open(backend.url(), claims.clone(), claimed.clone()).await;
    let mut t =
        TestServer::start_full(backend, Some(store), Limits::default(), clock.clone()).await;
    // The scheduler looks at start and finds only the leased job.
    eventually(RUN_WITHIN, "the scheduler's first look", || async {
        (claims.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    assert_eq!(claimed.load(Ordering::Relaxed), 0);
    assert_eq!(t.pending_job().await, Some(lease_end));
    // The lease ends: this node claims the job, under a lease of its own.
    clock.advance(lease);
    eventually(RUN_WITHIN, "the job taken over", || async {
        (claimed.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    assert_eq!(claimed.load(Ordering::Relaxed), 1);
    other.close().await;
    t.stop().await;
}

/// A server named `node` on `clock`.
async fn start_as(backend: Backend, clock: &Clock, node: &str) -> TestServer {
    let limits = Limits {
        node_id: Some(node.into()),
        ..Limits::default()
    };
    TestServer::start_clocked(backend, limits, clock).await
}

/// A node crashed right after claiming a round's close job (before writing the close): its
/// 30 s lease is in the jobs table. Restarted under its name, it takes the lease back and
/// closes the round at once; another node leaves a lease that is not its own alone.
async fn a_restarted_node_takes_back_its_own_leases(backend: Backend) {
    let clock = manual_clock();
    let mut t = start_as(backend, &clock, "node-a").await;
    let fx = fixture(&t).await;
    let item = fx.items[0].clone();
    let deadline = clock.now_micros() + micros(DEADLINE_IN);
    let round = open_round(&t, &fx, &item, deadline).await;
    vote(&t, &fx, &fx.ann.1, &round, &item, "5").await;
    let backend = t.stop().await;
    // The crash: node-a claimed the close job just after the deadline, then died.
    clock.advance(DEADLINE_IN + Duration::from_millis(5));
    let store = sprintlog::store::open(backend.url()).await.unwrap();
    let now = clock.now_micros();
    let claimed = store
        .claim_jobs_as("node-a", now, now + 30_000_000, 10, JobKinds::All)
        .await
        .unwrap();
    let key = format!("close:{round}");
    assert_eq!(claimed.iter().map(|j| &j.key).collect::<Vec<_>>(), [&key]);
    store.close().await;

    // Another node waits for the lease (the clock does not move): once its scheduler has
    // looked at the jobs (after releasing leases of its own), it has claimed nothing.
    let (claims, claimed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let store = CountingStore::open(backend.url(), claims.clone(), claimed.clone()).await;
    let limits = Limits {
        node_id: Some("node-b".into()),
        ..Limits::default()
    };
    let mut other = TestServer::start_full(backend, Some(store), limits, clock.clone()).await;
    eventually(RUN_WITHIN, "node-b's scheduler's first look", || async {
        (claims.load(Ordering::Relaxed) > 0).then_some(())
    })
    .await;
    assert_eq!(claimed.load(Ordering::Relaxed), 0, "node-b claimed nothing");
    assert_eq!(
        other.job(&key).await.done_at,
        None,
        "node-b left node-a's lease"
    );
    let backend = other.stop().await;
    // node-a again: the round closes now, not 30 s later.
    let t = start_as(backend, &clock, "node-a").await;
    let done = job_done(&[&t], &key).await;
    assert!(!done.failed);
    let all = log(&t, &fx).await;
    assert_eq!(closes(&all, &round).len(), 1, "{all:#?}");
}
