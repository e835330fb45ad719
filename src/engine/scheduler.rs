//! The durable scheduler: jobs stored in the log's database, run when due, once.
//!
//! A job is written in the same transaction as the events that call for it (an outbox), so a
//! crash can never leave an opened round without its deadline. Jobs are claimed with a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), so several nodes never run one job at the same time,
//! and a node that dies mid-job leaves it to be claimed again when the lease expires. Each job's
//! command has a fixed `client_op_id` (`close:<round>`), so even a job that runs twice appends
//! once. Jobs that fell due while the server was down run at start.
//!
//! Kinds: `close_round`, `schedule_phase` (the schedule's phase changes, `FollowSchedule`),
//! `remind_voters` (one reminder per member with pending votes, `RemindVoters`), `webhook`
//! (outbound deliveries, see [`crate::engine::webhook`]), and the tracker's `tracker_commit`
//! (a commitment's write-back jobs) and `tracker_write` (one estimate written to a tracker,
//! see [`crate::engine::tracker`]). The schedule and reminder jobs are keyed by
//! their due time too (`phase:<planning>:<phase>:<due>`, `remind:<round>:<due>`): a schedule
//! set again writes new jobs, and the old ones find nothing to do when they run, because the
//! domain refuses a phase change or a reminder that the current schedule does not call for.
//! Webhook deliveries and tracker writes run in tasks of their own (bounded by [`DELIVERY_SLOTS`]) so a slow
//! receiver delays neither commands nor the deadlines behind it; a failed one is put back with
//! backoff (`retry_job`) instead of being completed.
//!
//! Due times are read on the app's [`Clock`](crate::engine::clock::Clock), and the loop sleeps
//! on it until the next job falls due, so a test's manual clock moves the scheduler directly.

use crate::domain::command::{CloseRound, FollowSchedule, RemindVoters};
use crate::domain::event::{Event, Phase};
use crate::domain::ids::{ParticipantId, PlanningId, RoundId};
use crate::domain::{Command, DomainError, State};
use crate::engine::app::AppState;
use crate::engine::room::RoomError;
use crate::store::{Job, JobKinds};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Longest sleep between looks at the jobs table (also repairs missed wake-ups).
const MAX_SLEEP: Duration = Duration::from_millis(1000);
/// Sleep before looking again at a job that is due but was not claimed in this tick.
const RECHECK: Duration = Duration::from_millis(10);
/// How long a claimed job is reserved for the node that claimed it.
const LEASE_MICROS: i64 = 30_000_000;
/// Outbound calls (webhook deliveries, tracker write-backs) in flight at once on one node.
pub const DELIVERY_SLOTS: usize = 16;

/// The jobs that `events` call for, decided on `state` (the state before them) at `now` (when
/// the events are recorded); the first event will get seq `first_seq`.
pub fn jobs_for(
    planning: PlanningId,
    state: &State,
    first_seq: i64,
    events: &[Event],
    now: i64,
) -> Vec<Job> {
    let mut jobs: Vec<Job> = events
        .iter()
        .filter_map(|e| match e {
            Event::RoundOpened {
                round, deadline, ..
            }
            | Event::RevoteOpened {
                round, deadline, ..
            } => Some(close_round_job(planning, *round, *deadline)),
            _ => None,
        })
        .collect();
    jobs.extend(schedule_jobs(planning, state, events, now));
    jobs.extend(crate::engine::webhook::jobs_for(
        planning, state, first_seq, events, now,
    ));
    jobs.extend(crate::engine::tracker::jobs_for(
        planning, first_seq, events, now,
    ));
    jobs
}

/// The schedule's jobs: phase changes when a schedule with `auto_phases` is set, and a
/// reminder per round when a round opens (or a schedule with reminders is set while rounds
/// are open) whose reminder time is still ahead.
fn schedule_jobs(planning: PlanningId, state: &State, events: &[Event], now: i64) -> Vec<Job> {
    let remind = |round: RoundId, opened: i64, deadline: i64, lead_minutes: Option<u32>| {
        let lead = i64::from(lead_minutes.unwrap_or(0)) * 60_000_000;
        let due = deadline.saturating_sub(lead);
        // No reminder for a round shorter than the lead: it would come with the round itself.
        (lead > 0 && due > opened).then(|| Job {
            key: format!("remind:{round}:{due}"),
            planning_id: planning.0,
            due_at: due,
            kind: REMIND_JOB.into(),
            payload: round.to_string(),
            attempts: 0,
        })
    };
    let mut jobs = Vec::new();
    for e in events {
        match e {
            Event::ScheduleSet { schedule, .. } => {
                if schedule.auto_phases {
                    for (to, due) in [
                        (Phase::Async, schedule.candidates_shared_at),
                        (Phase::Sync, schedule.sync_start),
                    ] {
                        let Some(due) = due else { continue };
                        let name = phase_name(to);
                        jobs.push(Job {
                            key: format!("phase:{planning}:{name}:{due}"),
                            planning_id: planning.0,
                            due_at: due,
                            kind: PHASE_JOB.into(),
                            payload: name.into(),
                            attempts: 0,
                        });
                    }
                }
                jobs.extend(
                    state
                        .rounds
                        .values()
                        .filter(|r| r.is_open())
                        .filter_map(|r| remind(r.id, now, r.deadline, schedule.reminder_minutes)),
                );
            }
            Event::RoundOpened {
                round,
                deadline,
                at,
                ..
            }
            | Event::RevoteOpened {
                round,
                deadline,
                at,
                ..
            } => jobs.extend(remind(
                *round,
                *at,
                *deadline,
                state.schedule.reminder_minutes,
            )),
            _ => {}
        }
    }
    jobs
}

/// Job kind of the schedule's phase changes.
pub const PHASE_JOB: &str = "schedule_phase";
/// Job kind of the reminders before a round's deadline.
pub const REMIND_JOB: &str = "remind_voters";

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Draft => "draft",
        Phase::Async => "async",
        Phase::Sync => "sync",
        Phase::Committed => "committed",
    }
}

fn close_round_job(planning: PlanningId, round: RoundId, due_at: i64) -> Job {
    Job {
        key: format!("close:{round}"),
        planning_id: planning.0,
        due_at,
        kind: "close_round".into(),
        payload: round.to_string(),
        attempts: 0,
    }
}

/// Starts the scheduler loop, after taking back the leases this node held when it stopped.
pub fn spawn(app: AppState) {
    let mut shutdown = app.shutdown.subscribe();
    let slots = Arc::new(Semaphore::new(DELIVERY_SLOTS));
    tokio::spawn(async move {
        take_back_leases(&app).await;
        loop {
            let (until, limit) = match tick(&app, &slots).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "scheduler: storage unavailable");
                    (i64::MAX, MAX_SLEEP)
                }
            };
            tokio::select! {
                _ = app.clock.sleep_until(until, limit) => {}
                _ = app.jobs_changed.notified() => {}
                _ = shutdown.recv() => return,
            }
        }
    });
}

/// This node's name as the holder of job leases (see `--node-id`).
fn node(app: &AppState) -> &str {
    app.limits.node_id.as_deref().unwrap_or_default()
}

/// Ends the leases a previous run of this node held: it stopped (or crashed) between claiming
/// those jobs and finishing them, and nobody else would run them before the leases end.
async fn take_back_leases(app: &AppState) {
    match app.registry.store().release_leases(node(app)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            jobs = n,
            node = node(app),
            "took back this node's job leases"
        ),
        Err(e) => tracing::warn!(error = %e, "could not take back this node's job leases"),
    }
}

/// Runs the due jobs; returns when to look again: the clock time of the next due job (or
/// `i64::MAX`) and the longest sleep before then.
///
/// Deadline jobs (closes, phase changes, reminders) and outbound calls (webhook deliveries,
/// tracker write-backs) are claimed separately: every due deadline job runs now, and only as many deliveries are claimed as
/// there are free delivery slots. Claiming deliveries in one due-time order with the rest made
/// the loop wait for a slot in front of a round's close: a backlog of hung receivers delayed
/// deadlines by their timeout.
async fn tick(
    app: &AppState,
    slots: &Arc<Semaphore>,
) -> Result<(i64, Duration), crate::store::StoreError> {
    let store = app.registry.store().clone();
    let deadlines = JobKinds::NotAmong(
        crate::engine::webhook::JOB_KIND,
        crate::engine::tracker::WRITE_JOB,
    );
    let deliveries = JobKinds::Among(
        crate::engine::webhook::JOB_KIND,
        crate::engine::tracker::WRITE_JOB,
    );
    loop {
        let now = app.clock.now_micros();
        let jobs = store
            .claim_jobs_as(node(app), now, now + LEASE_MICROS, 16, deadlines)
            .await?;
        if jobs.is_empty() {
            break;
        }
        for job in jobs {
            if run(app, &job).await {
                store.complete_job(&job.key, app.clock.now_micros()).await?;
            }
            app.metrics.jobs_run.fetch_add(1, Ordering::Relaxed);
        }
    }
    // Claiming more deliveries than free slots would only hold their leases while they wait.
    let free = slots.available_permits();
    if free > 0 {
        let now = app.clock.now_micros();
        let jobs = store
            .claim_jobs_as(node(app), now, now + LEASE_MICROS, free as i64, deliveries)
            .await?;
        for job in jobs {
            spawn_delivery(app, slots, job);
        }
    }
    let mut next = store.next_job_due(deadlines).await?;
    // With every slot busy, a finished delivery wakes the loop (`jobs_changed`) instead.
    if slots.available_permits() > 0 {
        if let Some(due) = store.next_job_due(deliveries).await? {
            next = Some(next.map_or(due, |n| n.min(due)));
        }
    }
    Ok(match next {
        Some(due) if due > app.clock.now_micros() => (due, MAX_SLEEP),
        Some(_) => (i64::MAX, RECHECK),
        None => (i64::MAX, MAX_SLEEP),
    })
}

/// Runs an outbound call (a webhook delivery or a tracker write-back) in its own task, in one of the free slots `tick` counted. The task
/// records the outcome itself (complete, retry later, or give up) and wakes the scheduler,
/// whose next tick can claim another delivery for the slot. On shutdown it is abandoned
/// mid-flight: its lease expires and the job is claimed again (same delivery id, so receivers
/// can dedupe).
fn spawn_delivery(app: &AppState, slots: &Arc<Semaphore>, job: Job) {
    let app = app.clone();
    let slots = slots.clone();
    let mut shutdown = app.shutdown.subscribe();
    tokio::spawn(async move {
        // Immediate: only `tick` takes slots, and it claimed no more jobs than were free.
        let Ok(permit) = slots.acquire_owned().await else {
            return; // the semaphore is never closed
        };
        let deliver = async {
            if job.kind == crate::engine::tracker::WRITE_JOB {
                crate::engine::tracker::deliver(&app, &job).await;
            } else {
                crate::engine::webhook::deliver(&app, &job).await;
            }
        };
        tokio::select! {
            _ = deliver => {}
            _ = shutdown.recv() => {}
        }
        app.metrics.jobs_run.fetch_add(1, Ordering::Relaxed);
        drop(permit);
        app.jobs_changed.notify_one();
    });
}

/// Runs one job; true when it is done for good (ran, or has nothing left to do).
async fn run(app: &AppState, job: &Job) -> bool {
    if job.kind == crate::engine::tracker::COMMIT_JOB {
        return crate::engine::tracker::fan_out(app, job).await;
    }
    let command = match job.kind.as_str() {
        "close_round" => job
            .payload
            .parse::<RoundId>()
            .ok()
            .map(|round| Command::CloseRound(CloseRound { round })),
        PHASE_JOB => match job.payload.as_str() {
            "async" => Some(Phase::Async),
            "sync" => Some(Phase::Sync),
            _ => None,
        }
        .map(|to| Command::FollowSchedule(FollowSchedule { to })),
        REMIND_JOB => job
            .payload
            .parse::<RoundId>()
            .ok()
            .map(|round| Command::RemindVoters(RemindVoters { round })),
        other => {
            tracing::error!(kind = other, "unknown job kind");
            return true;
        }
    };
    let Some(command) = command else {
        tracing::error!(key = %job.key, "malformed job payload");
        return true;
    };
    let room = match app.registry.get(PlanningId(job.planning_id)).await {
        Ok(Some(room)) => room,
        Ok(None) => return true, // purged planning
        Err(e) => {
            tracing::warn!(key = %job.key, error = %e, "job: room unavailable");
            return false;
        }
    };
    let close = matches!(command, Command::CloseRound(_));
    // The job key is the command's client op id: a job that runs twice appends once.
    let result = room
        .execute(ParticipantId::SYSTEM, job.key.clone(), None, command)
        .await;
    match result {
        Ok(_) => true,
        // Closed already (everyone voted, or the facilitator closed it): nothing to do.
        Err(RoomError::Domain(DomainError::RoundClosed(_) | DomainError::UnknownRound(_))) => true,
        // A schedule or reminder job the state no longer calls for (the schedule changed, the
        // facilitator moved on, everyone voted): deciding it again later would refuse it too.
        Err(RoomError::Domain(e)) if !close => {
            tracing::debug!(key = %job.key, error = %e, "scheduled job has nothing to do");
            true
        }
        Err(e) => {
            tracing::warn!(key = %job.key, error = %e, "job failed; will retry");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    //! The scheduler's decisions on a real (in-memory SQLite) job table and a manual clock.

    use super::*;
    use crate::engine::clock::Clock;
    use crate::store::{AppendRequest, NewEvent};
    use uuid::Uuid;

    const NOW: i64 = 1_700_000_000_000_000;

    async fn app_with_job(due_at: i64) -> (AppState, Job) {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let job = Job {
            key: "close:elsewhere".into(),
            planning_id: Uuid::new_v4(),
            due_at,
            kind: "close_round".into(),
            payload: "elsewhere".into(),
            attempts: 0,
        };
        store
            .append(AppendRequest {
                planning_id: job.planning_id,
                expected_seq: 0,
                actor: Uuid::nil(),
                client_op_id: "setup".into(),
                command_hash: "h".into(),
                recorded_at: NOW,
                events: vec![NewEvent {
                    event_id: Uuid::new_v4(),
                    kind: "Opaque".into(),
                    version: 1,
                    payload: "{}".into(),
                }],
                jobs: vec![job.clone()],
            })
            .await
            .expect("append");
        let app = AppState::new(
            store,
            Default::default(),
            "http://sprintlog.test".into(),
            Clock::manual(NOW),
        );
        (app, job)
    }

    #[tokio::test]
    async fn a_job_leased_elsewhere_is_slept_on_until_its_lease_ends() {
        let (app, job) = app_with_job(NOW - 1_000_000).await;
        let store = app.registry.store().clone();
        let lease_end = NOW + 60_000_000;
        let claimed = store.claim_jobs(NOW, lease_end, 10, JobKinds::All).await;
        assert_eq!(claimed.expect("claim"), vec![job]);

        let slots = Arc::new(Semaphore::new(DELIVERY_SLOTS));
        let next = tick(&app, &slots).await.expect("tick");
        // Not a short recheck: the due job is not claimable before its lease ends.
        assert_eq!(next, (lease_end, MAX_SLEEP));
        assert_eq!(app.metrics.jobs_run.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_job_ahead_is_slept_on_until_it_falls_due() {
        let due = NOW + 5_000_000;
        let (app, _) = app_with_job(due).await;
        let slots = Arc::new(Semaphore::new(DELIVERY_SLOTS));
        assert_eq!(tick(&app, &slots).await.expect("tick"), (due, MAX_SLEEP));
        assert_eq!(app.metrics.jobs_run.load(Ordering::Relaxed), 0);
        // Due now: it is claimed and run, and not looked at again before the clock moves.
        app.clock.advance(Duration::from_secs(5));
        let (until, limit) = tick(&app, &slots).await.expect("tick");
        assert_eq!(app.metrics.jobs_run.load(Ordering::Relaxed), 1);
        assert!(until > app.clock.now_micros() && limit == MAX_SLEEP);
    }
}
