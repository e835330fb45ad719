//! Issue trackers both ways: a planning's tracker connection, importing a tracker's issues, and
//! writing agreed estimates back through the durable outbox, verified by reading them back.
//!
//! Every tracker speaks through [`Tracker`] (one module each: [`jira`] for Jira Cloud's REST v3
//! and Data Center's v2, [`github`] for GitHub Issues). The rest of the server sees only that
//! trait, so a write-back job, the import route and the connection test run the same way for
//! each.
//!
//! **Secrets.** A connection is stored beside the log, not in it
//! (`migrations/*/…_tracker_connections.sql`): its settings and, apart, its [`Credential`],
//! which no view, export, log line, metric or error carries. Everything a tracker answers that
//! may be shown (an error body, a reason) goes through [`Client::redact`] first, and the
//! credential's `Debug` prints nothing of it.
//!
//! **Write-back.** `ScopeCommitted` writes a `tracker_commit` job in the same transaction as
//! the event ([`jobs_for`]); when it runs, it writes one `tracker_write` job per agreed
//! estimate ([`fan_out`]), as the facilitator's "write back now" does ([`queue`]). A
//! write job ([`deliver`]) runs in the scheduler's outbound slots beside webhook deliveries:
//! it writes the estimate, reads the issue back, and only a read-back that shows the value
//! completes it. A 429 waits for its `Retry-After`, a 5xx or a network failure is retried with
//! backoff, and after the last attempt, or at once for an answer a retry cannot change (401/403:
//! the credential is refused; 400: the field refuses the value; 404; a write the tracker
//! accepted but did not apply), the job is done and failed with its reason, which
//! [`write_states`] shows per item.

pub mod client;
pub mod github;
pub mod jira;

pub use client::{Client, TrackerError};

use crate::config::TrackerConfig;
use crate::domain::event::Event;
use crate::domain::fixed::Fixed2;
use crate::domain::ids::{ItemId, PlanningId};
use crate::domain::state::State;
use crate::engine::app::AppState;
use crate::store::{Job, JobStatus};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Job kind of one estimate's write-back.
pub const WRITE_JOB: &str = "tracker_write";
/// Job kind that turns a commitment into write-back jobs.
pub const COMMIT_JOB: &str = "tracker_commit";
/// Longest wait a `Retry-After` may impose before the next attempt.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// Which tracker a connection speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Jira Cloud: REST v3, email + API token (basic auth).
    JiraCloud,
    /// Jira Data Center / Server: REST v2, a personal access token (bearer).
    JiraDc,
    /// GitHub Issues: REST, a token (bearer); the estimate is an `estimate: N` label.
    Github,
}

impl Kind {
    /// The `source` recorded on imported items.
    pub fn source(self) -> &'static str {
        match self {
            Kind::JiraCloud => "jira-cloud",
            Kind::JiraDc => "jira-dc",
            Kind::Github => "github",
        }
    }
}

/// A connection's settings: everything but the credential (shown to the facilitator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub kind: Kind,
    /// Base URL: the Jira site (`https://acme.atlassian.net`, a Data Center's base URL with its
    /// context path) or GitHub's API (`https://api.github.com`).
    pub site: String,
    /// Jira: the story-points field's id (e.g. `customfield_10016`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// GitHub: the repository, `owner/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

/// The secret part of a connection: a token, and for Jira Cloud the account's email.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credential {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(redacted)")
    }
}

/// What to import: a JQL search, a board's sprint (Jira), or a label or milestone (GitHub).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default)]
    pub jql: Option<String>,
    #[serde(default)]
    pub board: Option<u64>,
    #[serde(default)]
    pub sprint: Option<u64>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub milestone: Option<String>,
}

/// An estimate to write: the deck card and its points (when the card has any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub card: String,
    pub points: Option<Fixed2>,
}

/// One tracker, as the server uses it.
#[async_trait]
pub trait Tracker: Send + Sync {
    /// Checks the connection and its credential; names the account or project reached.
    async fn check(&self) -> Result<String, TrackerError>;
    /// Every issue `query` selects, all pages, in Jira's issue shape (`{"key", "fields":
    /// {"summary", "description", "labels"}}`), which the import reads; stops past `cap`.
    async fn search(&self, query: &Query, cap: usize) -> Result<Vec<Value>, TrackerError>;
    /// What the issue holds where estimates are written, in the form of [`Tracker::expected`]
    /// (`None`: nothing).
    async fn current(&self, key: &str) -> Result<Option<String>, TrackerError>;
    /// Writes `estimate` to the issue.
    async fn write(&self, key: &str, estimate: &Estimate) -> Result<(), TrackerError>;
    /// What [`Tracker::current`] reads once `estimate` is written, or why it cannot be.
    fn expected(&self, estimate: &Estimate) -> Result<String, TrackerError>;
}

/// The settings check shared by the connection route: kind-specific fields present, a site
/// without credentials or query in it.
pub fn validate(settings: &Settings, credential: &Credential) -> Result<(), TrackerError> {
    let bad = |m: &str| Err(TrackerError::Config(m.into()));
    let site = reqwest::Url::parse(settings.site.trim())
        .map_err(|e| TrackerError::Config(format!("site is not a valid URL: {e}")))?;
    if !site.username().is_empty() || site.password().is_some() {
        return bad("the site URL must not carry a user or password: give them as the credential");
    }
    if site.query().is_some() || site.fragment().is_some() {
        return bad("the site URL must not have a query or fragment");
    }
    if settings.site.len() > 500 || credential.token.len() > 2000 {
        return bad("site or token too long");
    }
    if credential.token.trim().is_empty() || credential.token.chars().any(char::is_control) {
        return bad("a token is required (no control characters)");
    }
    let field_ok = |f: &Option<String>| {
        f.as_deref().is_some_and(|f| {
            !f.is_empty()
                && f.len() <= 100
                && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    };
    match settings.kind {
        Kind::JiraCloud | Kind::JiraDc if !field_ok(&settings.field) => {
            bad("field must be the story-points field's id, e.g. customfield_10016")
        }
        Kind::JiraCloud if credential.email.as_deref().is_none_or(|e| !e.contains('@')) => {
            bad("Jira Cloud needs the account's email beside its API token")
        }
        Kind::JiraDc if credential.email.is_some() => {
            bad("Jira Data Center takes a personal access token only (no email)")
        }
        Kind::JiraCloud | Kind::JiraDc if settings.repo.is_some() => {
            bad("repo is for GitHub connections")
        }
        Kind::Github if github::split_repo(settings.repo.as_deref()).is_none() => {
            bad("repo must be owner/name")
        }
        Kind::Github if settings.field.is_some() || credential.email.is_some() => {
            bad("a GitHub connection takes repo and token (the estimate is a label)")
        }
        _ => Ok(()),
    }
}

/// The tracker a stored connection speaks to; its site is checked against the outbound policy
/// (`--tracker-allow`) every time, as webhook URLs are.
pub async fn connect(
    cfg: &TrackerConfig,
    settings: &Settings,
    credential: &Credential,
) -> Result<Box<dyn Tracker>, TrackerError> {
    let client = Client::new(cfg, settings, credential).await?;
    Ok(match settings.kind {
        Kind::JiraCloud | Kind::JiraDc => Box::new(jira::Jira::new(client, settings)),
        Kind::Github => Box::new(github::GitHub::new(client, settings)?),
    })
}

/// A planning's stored connection, if any.
pub async fn load(
    app: &AppState,
    planning: PlanningId,
) -> Result<Option<(Settings, Credential)>, crate::store::StoreError> {
    let Some((settings, credential)) = app.registry.store().tracker_connection(planning.0).await?
    else {
        return Ok(None);
    };
    // Written by this module only: unreadable rows are treated as no connection.
    match (
        serde_json::from_str(&settings),
        serde_json::from_str(&credential),
    ) {
        (Ok(s), Ok(c)) => Ok(Some((s, c))),
        _ => {
            tracing::warn!(%planning, "unreadable tracker connection ignored");
            Ok(None)
        }
    }
}

/// What a `tracker_write` job carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WritePayload {
    pub item: ItemId,
    /// The key in the tracker (the item's external key).
    pub key: String,
    pub estimate: Estimate,
}

/// The `tracker_commit` job a commitment calls for (see the module docs).
pub fn jobs_for(planning: PlanningId, first_seq: i64, events: &[Event], now: i64) -> Vec<Job> {
    (first_seq..)
        .zip(events)
        .filter(|(_, e)| matches!(e, Event::ScopeCommitted { .. }))
        .map(|(seq, _)| Job {
            key: format!("tracker-commit:{planning}:{seq}"),
            planning_id: planning.0,
            due_at: now,
            kind: COMMIT_JOB.into(),
            payload: seq.to_string(),
            attempts: 0,
        })
        .collect()
}

/// An item that gets no write-back job, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub item: ItemId,
    pub reason: &'static str,
}

/// One write job per agreed estimate of an item that has an external key, and the estimated
/// items left out. The generation `gen` (a time in microseconds) keeps a later push apart from
/// an earlier one and orders them.
pub fn write_jobs(
    planning: PlanningId,
    state: &State,
    gen: i64,
    now: i64,
) -> (Vec<Job>, Vec<Skipped>) {
    let mut jobs = Vec::new();
    let mut skipped = Vec::new();
    for item in state.ranked_items() {
        let Some(card) = item.estimate.clone() else {
            continue;
        };
        let Some(key) = item.draft.external_key.clone() else {
            skipped.push(Skipped {
                item: item.id,
                reason: "no external key: the item did not come from the tracker",
            });
            continue;
        };
        let payload = WritePayload {
            item: item.id,
            key,
            estimate: Estimate {
                card,
                points: item.points,
            },
        };
        jobs.push(Job {
            key: format!("tracker:{planning}:{}:{gen:020}", item.id),
            planning_id: planning.0,
            due_at: now,
            kind: WRITE_JOB.into(),
            payload: serde_json::to_string(&payload).unwrap_or_default(),
            attempts: 0,
        });
    }
    (jobs, skipped)
}

/// Writes `jobs` (from [`write_jobs`]) to the outbox and wakes the scheduler.
pub async fn queue(app: &AppState, jobs: &[Job]) -> Result<(), crate::store::StoreError> {
    app.registry.store().add_jobs(jobs).await?;
    app.jobs_changed.notify_one();
    Ok(())
}

/// Runs a `tracker_commit` job: the commitment's write jobs, when the planning has a
/// connection. True when it is done (false: try again later).
pub async fn fan_out(app: &AppState, job: &Job) -> bool {
    let planning = PlanningId(job.planning_id);
    match load(app, planning).await {
        Ok(None) => return true,
        Ok(Some(_)) => {}
        Err(e) => {
            tracing::warn!(key = %job.key, error = %e, "tracker commit: storage unavailable");
            return false;
        }
    }
    let room = match app.registry.get(planning).await {
        Ok(Some(room)) => room,
        Ok(None) => return true,
        Err(e) => {
            tracing::warn!(key = %job.key, error = %e, "tracker commit: room unavailable");
            return false;
        }
    };
    // The commitment's time is the generation: the same on every run of this job (its write
    // jobs are written once), and ordered with on-demand pushes, which use the clock too.
    let gen = job.due_at;
    let now = app.clock.now_micros();
    let (jobs, _) = room.read(|l| write_jobs(planning, &l.state, gen, now));
    match queue(app, &jobs).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(key = %job.key, error = %e, "tracker commit: jobs not written");
            false
        }
    }
}

/// How a write-back attempt ended.
#[derive(Debug)]
enum Outcome {
    Verified,
    /// Try again at the given wait, for this reason.
    Retry(Option<Duration>, String),
    /// Done and failed, for this reason.
    Failed(String),
}

/// Runs one write job to its end: verified, put back for a retry, or reported as failed.
pub async fn deliver(app: &AppState, job: &Job) {
    let cfg = &app.limits.trackers;
    let outcome = attempt(app, job).await;
    let store = app.registry.store().clone();
    let now = app.clock.now_micros();
    let attempts = job.attempts.saturating_add(1);
    let max = i32::try_from(cfg.max_attempts.max(1)).unwrap_or(i32::MAX);
    let recorded = match outcome {
        Outcome::Verified => {
            app.metrics.tracker_writes.fetch_add(1, Ordering::Relaxed);
            store.complete_job(&job.key, now).await
        }
        Outcome::Retry(_, why) if attempts >= max => {
            let why = format!("gave up after {attempts} attempts: {why}");
            tracing::warn!(key = %job.key, error = %why, "tracker write-back failed");
            app.metrics.tracker_failures.fetch_add(1, Ordering::Relaxed);
            store.fail_job(&job.key, now, attempts, &why).await
        }
        Outcome::Retry(wait, why) => {
            let wait = wait
                .map(|w| w.min(MAX_RETRY_AFTER))
                .unwrap_or_else(|| crate::engine::webhook::backoff(cfg.backoff_ms, attempts));
            tracing::info!(key = %job.key, attempts, error = %why, ?wait, "tracker write-back will retry");
            let due = now.saturating_add(i64::try_from(wait.as_micros()).unwrap_or(i64::MAX));
            store.retry_job_noting(&job.key, due, attempts, &why).await
        }
        Outcome::Failed(why) => {
            tracing::warn!(key = %job.key, error = %why, "tracker write-back failed");
            app.metrics.tracker_failures.fetch_add(1, Ordering::Relaxed);
            store.fail_job(&job.key, now, attempts, &why).await
        }
    };
    if let Err(e) = recorded {
        // The lease will expire and the job run again; a verified write is written again.
        tracing::warn!(key = %job.key, error = %e, "could not record a tracker write-back");
    }
    app.jobs_changed.notify_one();
}

fn outcome_of(e: TrackerError) -> Outcome {
    match e {
        TrackerError::RateLimited { retry_after } => Outcome::Retry(
            Some(retry_after.unwrap_or(Duration::ZERO)).filter(|w| !w.is_zero()),
            "rate limited by the tracker (429)".into(),
        ),
        e if e.is_retriable() => Outcome::Retry(None, e.to_string()),
        e => Outcome::Failed(e.to_string()),
    }
}

async fn attempt(app: &AppState, job: &Job) -> Outcome {
    let Ok(payload) = serde_json::from_str::<WritePayload>(&job.payload) else {
        return Outcome::Failed("malformed job payload".into());
    };
    let (settings, credential) = match load(app, PlanningId(job.planning_id)).await {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::Failed("the planning has no tracker connection".into()),
        Err(e) => return Outcome::Retry(None, format!("storage: {e}")),
    };
    let tracker = match connect(&app.limits.trackers, &settings, &credential).await {
        Ok(t) => t,
        Err(e) => return outcome_of(e),
    };
    let want = match tracker.expected(&payload.estimate) {
        Ok(w) => w,
        Err(e) => return outcome_of(e),
    };
    if let Err(e) = tracker.write(&payload.key, &payload.estimate).await {
        return outcome_of(e);
    }
    match tracker.current(&payload.key).await {
        Ok(Some(got)) if got == want => Outcome::Verified,
        Ok(got) => Outcome::Failed(format!(
            "the tracker accepted the write but {} reads {} (expected {want}): the value did not \
             take (a workflow rule, a field not on the issue's screen, or an automation may \
             have reset it)",
            payload.key,
            got.as_deref().unwrap_or("nothing")
        )),
        Err(e) => outcome_of(e),
    }
}

/// One item's latest write-back, as the state route shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WriteState {
    pub item: ItemId,
    pub key: String,
    pub estimate: String,
    /// `pending`, `retrying`, `verified` or `failed`.
    pub state: &'static str,
    pub attempts: i32,
    /// Why it failed, or why it is waiting for another attempt.
    pub error: Option<String>,
    /// When it was verified or given up (microseconds).
    pub done_at: Option<i64>,
}

/// Each item's latest write-back (the highest generation), in job key order.
pub fn write_states(jobs: Vec<(Job, JobStatus)>) -> Vec<WriteState> {
    let mut latest: std::collections::BTreeMap<ItemId, (String, WriteState)> = Default::default();
    for (job, status) in jobs {
        let Ok(p) = serde_json::from_str::<WritePayload>(&job.payload) else {
            continue;
        };
        let state = match (status.done_at, status.failed, status.attempts) {
            (Some(_), false, _) => "verified",
            (Some(_), true, _) => "failed",
            (None, _, 0) => "pending",
            (None, _, _) => "retrying",
        };
        let row = WriteState {
            item: p.item,
            key: p.key,
            estimate: p.estimate.card,
            state,
            attempts: status.attempts,
            error: status.last_error,
            done_at: status.done_at,
        };
        match latest.get(&p.item) {
            Some((key, _)) if *key > job.key => {}
            _ => {
                latest.insert(p.item, (job.key, row));
            }
        }
    }
    let mut rows: Vec<(String, WriteState)> = latest.into_values().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(done: bool, failed: bool, attempts: i32) -> JobStatus {
        JobStatus {
            due_at: 0,
            attempts,
            done_at: done.then_some(1),
            failed,
            last_error: failed.then(|| "why".into()),
        }
    }

    fn job(item: ItemId, gen: i64) -> Job {
        let payload = WritePayload {
            item,
            key: "K-1".into(),
            estimate: Estimate {
                card: gen.to_string(),
                points: None,
            },
        };
        Job {
            key: format!("tracker:p:{item}:{gen:020}"),
            planning_id: uuid::Uuid::nil(),
            due_at: 0,
            kind: WRITE_JOB.into(),
            payload: serde_json::to_string(&payload).unwrap(),
            attempts: 0,
        }
    }

    #[test]
    fn the_latest_generation_of_each_item_is_its_state() {
        let a = ItemId(uuid::Uuid::from_u128(1));
        let b = ItemId(uuid::Uuid::from_u128(2));
        let rows = write_states(vec![
            (job(a, 9), status(true, true, 1)),
            (job(a, 10), status(false, false, 2)),
            (job(b, 3), status(true, false, 0)),
        ]);
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.item, r.state, r.estimate.as_str()))
            .collect();
        assert_eq!(got, vec![(a, "retrying", "10"), (b, "verified", "3")]);
    }

    #[test]
    fn credentials_do_not_debug_print() {
        let c = Credential {
            email: Some("a@b.c".into()),
            token: "s3cret".into(),
        };
        assert_eq!(format!("{c:?}"), "Credential(redacted)");
    }
}
