//! The one write path: a stream's writer, which decides commands on the projection it owns,
//! appends them and applies what it wrote.
//!
//! A batch of commands is decided one after the other, each on the state the ones before it
//! leave, and appended in one transaction (group commit); one command is a batch of one. When
//! another writer (another node, an evicted twin of a room) took the head first, the append is
//! refused: the writer reads what was written, decides again, and backs off with jitter if it
//! keeps losing. What it wrote or read goes to its owner through a [`Sink`]: a planning's room
//! fans it out to readers; a team needs nothing.
//!
//! The writer owns its state outright and applies each event as it goes, so a batch costs no
//! copy of the projection (with thousands of rounds of history, a copy was most of a
//! command's CPU). The one case that needs the state before the batch (a refused batch whose
//! first commands were already applied) takes it back from the sink, or from the log.

use crate::domain::aggregate::{Aggregate, Codec};
use crate::domain::ids::ParticipantId;
use crate::domain::{Context, DomainError};
use crate::engine::metrics::Metrics;
use crate::store::{AppendRequest, Appended, EventStore, Job, NewEvent, StoreError, StoredEvent};
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

/// How many times a command is decided again after losing a race for the head to another
/// writer (another node, under heavy contention on one planning).
const MAX_ATTEMPTS: u32 = 32;
/// Page size for reading the log.
pub const PAGE: i64 = 1000;

/// The result of a successful command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub first: i64,
    pub head: i64,
    pub duplicate: bool,
}

/// Why a command did not go through.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("stale expected_seq {expected}: the head is {head}")]
    Conflict { expected: i64, head: i64 },
    #[error("client_op_id “{0}” was already used for a different command")]
    OpConflict(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    #[error("the log holds an event this build cannot read: {0}")]
    Codec(#[from] crate::domain::event::CodecError),
    #[error("the room is shutting down")]
    Closed,
    #[error("the planning is too busy right now: nothing was written; retry with the same client_op_id (over the websocket, the same op) in a moment")]
    Busy,
    /// The cap on rooms in memory is reached and every room is in use.
    #[error("the server holds as many plannings in memory as it may, all in use: retry later")]
    ServerFull,
}

/// What a writer needs from the rest of the server.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn EventStore>,
    pub metrics: Arc<Metrics>,
    /// Notified when an append wrote a scheduler job.
    pub jobs_changed: Arc<tokio::sync::Notify>,
    /// The time commands are decided and recorded at.
    pub clock: crate::engine::clock::Clock,
    /// Commands a room holds queued for its writer (`--room-queue`); past it they are
    /// refused as [`RoomError::Busy`].
    pub queue: usize,
    /// Most people who may join one planning (`--max-participants`), given to the rules.
    pub max_participants: usize,
}

/// A command waiting for its writer.
#[derive(Debug)]
pub struct Pending<C> {
    pub actor: ParticipantId,
    /// The client's idempotency key.
    pub op: String,
    /// The head the client decided on, if it asks for the command to apply only there.
    pub expected: Option<i64>,
    pub command: C,
    /// The command's idempotency hash (`domain::canonical::hash`, the one recipe): tells a
    /// retry from a different command with the same op. Taken by the caller, off the writer's
    /// task.
    pub hash: String,
}

impl<C: Serialize> Pending<C> {
    pub fn new(actor: ParticipantId, op: String, expected: Option<i64>, command: C) -> Self {
        let hash = crate::domain::canonical::hash(&command);
        Pending {
            actor,
            op,
            expected,
            command,
            hash,
        }
    }
}

/// What a writer's owner does around its appends.
pub trait Sink<A: Aggregate>: Sync {
    /// Jobs to write in the same transaction as a command's events, decided on the state the
    /// events were decided on (webhooks need the registered hooks and the titles).
    fn jobs(&self, _state: &A, _first_seq: i64, _events: &[A::Event], _now: i64) -> Vec<Job> {
        Vec::new()
    }

    /// Events now in the log (appended by this writer, or read in a catch-up), in seq order,
    /// and the writer's state with them applied. After a reset from the log they may come
    /// again: skip seqs already seen.
    fn publish(&self, _stored: &[StoredEvent], _events: &[A::Event], _state: &A) {}

    /// The projection at the writer's head as the owner's readers see it, if they have one:
    /// the cheap way back when a batch the writer had applied was not written.
    fn readers_copy(&self) -> Option<(i64, A)> {
        None
    }
}

/// A writer whose events concern nobody else (a team's).
impl<A: Aggregate> Sink<A> for () {}

/// A stream's single writer and the projection it decides on.
pub struct Writer<A> {
    id: Uuid,
    head: i64,
    state: A,
    deps: Deps,
    /// The state holds events of a batch that the log may not have.
    unwritten: bool,
}

/// Per command of a batch: the index of its append, or why it was refused.
type Outcomes = Vec<Result<usize, RoomError>>;

/// A batch decided and ready to append.
struct Decided<E> {
    appends: Vec<AppendRequest>,
    /// Some append writes a scheduler job.
    has_jobs: bool,
    events: Vec<Vec<E>>,
    /// Index in `events` of the ones the state does not hold yet (the last accepted command's:
    /// a batch of one then never needs the state back after a refused append).
    unapplied: Option<usize>,
}

impl<A: Aggregate> Writer<A> {
    /// A writer for the stream `id`, whose projection at `head` is `state`.
    pub fn new(deps: Deps, id: Uuid, head: i64, state: A) -> Self {
        Writer {
            id,
            head,
            state,
            deps,
            unwritten: false,
        }
    }

    /// A writer for the stream `id`, its whole log read (short streams: a planning's room
    /// loads from its snapshot instead, see `replay`).
    pub async fn load(deps: Deps, id: Uuid) -> Result<Self, RoomError> {
        let mut writer = Writer::new(deps, id, 0, A::default());
        writer.catch_up(&()).await?;
        Ok(writer)
    }

    pub fn head(&self) -> i64 {
        self.head
    }

    pub fn state(&self) -> &A {
        &self.state
    }

    pub fn into_state(self) -> A {
        self.state
    }

    /// Decides and appends `batch`; one answer per command, in order. The outcome is the one
    /// of committing the commands one by one, and that is what happens when the batch's
    /// append is refused (a conflict with another writer, a retried op, a database error):
    /// nothing of it was written, and each command gets its own answer.
    pub async fn commit<S: Sink<A>>(
        &mut self,
        batch: &[Pending<A::Command>],
        sink: &S,
    ) -> Vec<Result<Ack, RoomError>> {
        if batch.len() > 1 {
            match self.attempt(batch, sink).await {
                Ok(answers) => return answers,
                Err(e) => {
                    tracing::debug!(stream = %self.id, error = %e, "batch append refused; one by one")
                }
            }
        }
        let mut answers = Vec::with_capacity(batch.len());
        for pending in batch {
            answers.push(self.commit_one(pending, sink).await);
        }
        answers
    }

    /// One command, decided again on the new head each time another writer appended first.
    async fn commit_one<S: Sink<A>>(
        &mut self,
        pending: &Pending<A::Command>,
        sink: &S,
    ) -> Result<Ack, RoomError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 1 {
                // Losing repeatedly means another node writes this stream just as fast: back
                // off a little, with jitter, so one of us wins instead of both retrying in step.
                let jitter = rand::random::<u64>() % (1000 * u64::from(attempt.min(10)));
                tokio::time::sleep(std::time::Duration::from_micros(jitter)).await;
            }
            match self.attempt(std::slice::from_ref(pending), sink).await {
                Ok(mut answers) => return answers.pop().unwrap_or(Err(RoomError::Closed)),
                Err(StoreError::Conflict { .. }) => {
                    self.deps
                        .metrics
                        .append_conflicts
                        .fetch_add(1, Ordering::Relaxed);
                    self.catch_up(sink).await?;
                    if let Some(expected) = pending.expected {
                        return Err(RoomError::Conflict {
                            expected,
                            head: self.head,
                        });
                    }
                }
                Err(StoreError::OpConflict(op)) => return Err(RoomError::OpConflict(op)),
                Err(e) => return Err(e.into()),
            }
        }
        Err(RoomError::Busy)
    }

    /// Decides `batch` and appends it in one transaction. `Err`: the append was refused and
    /// nothing was written (the state is back at the head).
    async fn attempt<S: Sink<A>>(
        &mut self,
        batch: &[Pending<A::Command>],
        sink: &S,
    ) -> Result<Vec<Result<Ack, RoomError>>, StoreError> {
        let (outcomes, mut decided) = self.decide(batch, sink);
        let (appended, rows) = match self.append(std::mem::take(&mut decided.appends)).await {
            Ok(appended) => appended,
            Err(e) => {
                self.take_back(sink).await;
                return Err(e);
            }
        };
        if appended.iter().any(|a| a.duplicate) {
            // Another writer recorded this very command meanwhile (only a batch of one gets
            // this answer): follow the log.
            self.take_back(sink).await;
            if let Err(e) = self.catch_up(sink).await {
                tracing::warn!(stream = %self.id, error = %e, "catch-up failed");
            }
        } else {
            self.written(decided, &appended, &rows, sink);
        }
        let mut answers = Vec::with_capacity(batch.len());
        for (pending, outcome) in batch.iter().zip(outcomes) {
            answers.push(match outcome {
                Ok(i) => Ok(Ack {
                    first: appended[i].first_seq,
                    head: appended[i].last_seq,
                    duplicate: appended[i].duplicate,
                }),
                // A retry of a recorded command gets the original answer, even if deciding it
                // again now fails (the round it voted in may have closed since).
                Err(refused) => match self.recorded(pending).await {
                    Ok(Some(answer)) => answer,
                    Ok(None) => Err(refused),
                    Err(lookup) => Err(lookup),
                },
            });
        }
        Ok(answers)
    }

    /// Decides the commands one after the other, each on the state the ones before it leave.
    fn decide<S: Sink<A>>(
        &mut self,
        batch: &[Pending<A::Command>],
        sink: &S,
    ) -> (Outcomes, Decided<A::Event>) {
        let now = self.deps.clock.now_micros();
        let mut head = self.head;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut d = Decided {
            appends: Vec::new(),
            has_jobs: false,
            events: Vec::new(),
            unapplied: None,
        };
        for pending in batch {
            if let Some(i) = d.unapplied.take() {
                self.unwritten = true;
                d.events[i].iter().for_each(|e| self.state.apply(e));
            }
            if let Some(expected) = pending.expected.filter(|e| *e != head) {
                outcomes.push(Err(RoomError::Conflict { expected, head }));
                continue;
            }
            let mut rng = rand::rngs::OsRng;
            let mut ctx = Context {
                actor: pending.actor,
                now,
                rng: &mut rng,
                max_participants: self.deps.max_participants,
            };
            match self.state.decide(self.id, &pending.command, &mut ctx) {
                Ok(events) => {
                    let jobs = sink.jobs(&self.state, head + 1, &events, now);
                    d.has_jobs |= !jobs.is_empty();
                    d.appends.push(AppendRequest {
                        planning_id: self.id,
                        expected_seq: head,
                        actor: pending.actor.0,
                        client_op_id: pending.op.clone(),
                        command_hash: pending.hash.clone(),
                        recorded_at: now,
                        events: encode(&events),
                        jobs,
                    });
                    head += events.len() as i64;
                    d.unapplied = Some(d.events.len());
                    d.events.push(events);
                    outcomes.push(Ok(d.appends.len() - 1));
                }
                Err(e) => outcomes.push(Err(e.into())),
            }
        }
        (outcomes, d)
    }

    /// Appends decided commands in one transaction; answers per command, and the rows the
    /// append wrote (none for a duplicate).
    async fn append(
        &self,
        mut appends: Vec<AppendRequest>,
    ) -> Result<(Vec<Appended>, Vec<StoredEvent>), StoreError> {
        let (store, commands) = (&*self.deps.store, appends.len());
        let started = Instant::now();
        let appended = match commands {
            0 => return Ok((Vec::new(), Vec::new())),
            1 => store.append(appends.remove(0)).await.map(|a| vec![a]),
            _ => store.append_batch(appends).await,
        };
        self.deps.metrics.observe_append(started.elapsed());
        match appended {
            Ok(a) if a.len() != commands => Err(StoreError::Unsupported(
                "the append answered for a different number of commands".into(),
            )),
            Ok(a) if a.iter().any(|a| a.duplicate) => Ok((a, Vec::new())),
            Ok(mut a) => {
                let rows = a
                    .iter_mut()
                    .flat_map(|a| std::mem::take(&mut a.events))
                    .collect();
                Ok((a, rows))
            }
            Err(e) => Err(e),
        }
    }

    /// Applies what the log now holds of a batch and hands it to the sink.
    fn written<S: Sink<A>>(
        &mut self,
        decided: Decided<A::Event>,
        appended: &[Appended],
        rows: &[StoredEvent],
        sink: &S,
    ) {
        if let Some(i) = decided.unapplied {
            decided.events[i].iter().for_each(|e| self.state.apply(e));
        }
        self.unwritten = false;
        let Some(last) = appended.last() else {
            return;
        };
        self.head = last.last_seq;
        let metrics = &self.deps.metrics;
        if decided.has_jobs {
            self.deps.jobs_changed.notify_one();
        }
        if appended.len() > 1 {
            metrics.group_commits.fetch_add(1, Ordering::Relaxed);
            metrics
                .group_committed_commands
                .fetch_add(appended.len() as u64, Ordering::Relaxed);
        }
        metrics
            .events_appended
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        let events: Vec<A::Event> = decided.events.into_iter().flatten().collect();
        sink.publish(rows, &events, &self.state);
    }

    /// Puts the state back at the head after a batch that was not written.
    async fn take_back<S: Sink<A>>(&mut self, sink: &S) {
        if !std::mem::take(&mut self.unwritten) {
            return;
        }
        match sink.readers_copy() {
            Some((head, state)) => (self.head, self.state) = (head, state),
            None => {
                // Read from the start: the state matches its head at every page, so even a
                // catch-up cut short leaves a writer that decides right (its next append
                // conflicts and it reads on).
                (self.head, self.state) = (0, A::default());
                if let Err(e) = self.catch_up(sink).await {
                    tracing::warn!(stream = %self.id, error = %e, "reading the stream again failed");
                }
            }
        }
    }

    /// Reads events past the head from the log, hands them to the sink and applies them.
    pub async fn catch_up<S: Sink<A>>(&mut self, sink: &S) -> Result<(), RoomError> {
        loop {
            let page = self.deps.store.read(self.id, self.head, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let last = last.seq;
            let events = page
                .iter()
                .map(|s| A::Event::decode(&s.kind, s.version, &s.payload))
                .collect::<Result<Vec<_>, _>>()?;
            events.iter().for_each(|e| self.state.apply(e));
            sink.publish(&page, &events, &self.state);
            self.head = last;
            if (page.len() as i64) < PAGE {
                return Ok(());
            }
        }
    }

    /// The answer recorded for `pending`'s op, if it was appended before.
    ///
    /// The store checks idempotency inside every append, so this lookup is only needed on
    /// the paths that never reach one: a refused decision or a stale `expected_seq`. A new
    /// command costs one round trip to the database, not two.
    async fn recorded(
        &self,
        pending: &Pending<A::Command>,
    ) -> Result<Option<Result<Ack, RoomError>>, RoomError> {
        let found = self
            .deps
            .store
            .find_command(self.id, pending.actor.0, &pending.op)
            .await?;
        Ok(found.map(|rec| {
            if rec.command_hash == pending.hash {
                Ok(Ack {
                    first: rec.first_seq,
                    head: rec.last_seq,
                    duplicate: true,
                })
            } else {
                Err(RoomError::OpConflict(pending.op.clone()))
            }
        }))
    }
}

/// Encodes decided events for the log.
fn encode<E: Codec>(events: &[E]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| {
            let (kind, version, payload) = e.encode();
            NewEvent {
                event_id: crate::store::new_event_id(),
                kind: kind.to_string(),
                version,
                payload,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! The write path for an aggregate without a room: a team's.

    use super::*;
    use crate::domain::team::{RosterEntry, RosterRole, TeamCommand, TeamState};

    async fn deps() -> Deps {
        Deps {
            store: crate::store::open("sqlite::memory:").await.expect("store"),
            metrics: Arc::new(Metrics::default()),
            jobs_changed: Arc::new(tokio::sync::Notify::new()),
            clock: crate::engine::clock::Clock::system(),
            queue: 256,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        }
    }

    fn roster(names: &[&str]) -> TeamCommand {
        TeamCommand::SetRoster {
            roster: names
                .iter()
                .map(|n| RosterEntry {
                    name: n.to_string(),
                    time_zone: None,
                    role: RosterRole::Member,
                })
                .collect(),
        }
    }

    fn pending(op: &str, command: TeamCommand) -> Pending<TeamCommand> {
        Pending::new(ParticipantId::SYSTEM, op.into(), None, command)
    }

    async fn one(
        writer: &mut Writer<TeamState>,
        p: Pending<TeamCommand>,
    ) -> Result<Ack, RoomError> {
        let mut answers = writer.commit(std::slice::from_ref(&p), &()).await;
        answers.pop().expect("an answer")
    }

    #[tokio::test]
    async fn two_writers_of_a_team_take_turns_and_retries_answer_the_original() {
        let deps = deps().await;
        let id = Uuid::new_v4();
        let mut first = Writer::<TeamState>::load(deps.clone(), id)
            .await
            .expect("load");
        let create = TeamCommand::CreateTeam {
            name: "Core".into(),
            roster: Vec::new(),
            admin_token_hash: "h".into(),
        };
        let created = one(&mut first, pending("create", create.clone()))
            .await
            .expect("create");
        assert_eq!((created.first, created.head), (1, 2));
        // A second writer loaded now, then outrun by the first: it reads on and decides again.
        let mut second = Writer::<TeamState>::load(deps.clone(), id)
            .await
            .expect("load");
        one(&mut first, pending("r1", roster(&["Ada"])))
            .await
            .expect("r1");
        let r2 = one(&mut second, pending("r2", roster(&["Ada", "Bo"])))
            .await
            .expect("r2");
        assert_eq!(r2.head, 4);
        assert_eq!(second.state().roster.len(), 2);
        assert_eq!(deps.metrics.append_conflicts.load(Ordering::Relaxed), 1);
        // The same op again: the original answer, nothing written; another command under the
        // same op is refused.
        let again = one(&mut first, pending("create", create))
            .await
            .expect("retry");
        assert!(again.duplicate && again.head == created.head, "{again:?}");
        let reused = one(&mut first, pending("create", roster(&[]))).await;
        assert!(
            matches!(reused, Err(RoomError::OpConflict(_))),
            "{reused:?}"
        );
        let reloaded = Writer::<TeamState>::load(deps, id).await.expect("load");
        assert_eq!(reloaded.head(), 4);
        assert_eq!(reloaded.state(), second.state());
    }
}
