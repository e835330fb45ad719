//! A live room: one planning's projection in memory, its single writer task, and its fan-out.
//!
//! The core is independent of transport: HTTP handlers and websockets talk to a [`Room`] only
//! through [`Room::execute`], [`Room::subscribe`] and [`Room::read`].
//!
//! Writes are serialised by one task per room (decide → append → apply → fan out). The task is
//! spawned, so a request handler whose client disconnects (axum drops its future) cannot leave
//! a half-run append behind: the task finishes it and the retry finds it by `client_op_id`.
//!
//! The projection sits behind a `std::sync::RwLock`, not an async one: it is only held for
//! in-memory work (apply, serialise a view), never across an `.await`, so a blocking lock is
//! cheaper and cannot be held by a suspended future. Events are broadcast *while the write lock
//! is held*, and [`Room::subscribe`] takes the read lock: a subscriber therefore gets exactly
//! the events after the head it read, with no gap and no duplicate.
//!
//! Fan-out uses a `tokio::sync::broadcast` ring: each frame is serialised once per audience (a
//! shared frame, plus the author's own view of a vote) and shared by `Arc`. A subscriber that
//! falls behind the ring gets `Lagged` and must resync from the log; it never delays the room.

use super::metrics::Metrics;
use super::protocol::ServerMsg;
use super::view;
use crate::domain::event::Event;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::{decide, Command, Context, DomainError, State};
use crate::store::{canonical, AppendRequest, EventStore, NewEvent, StoreError, StoredEvent};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot};
use uuid::Uuid;

/// Capacity of a room's broadcast ring (frames). A subscriber further behind resyncs from the log.
const FANOUT_RING: usize = 4096;
/// Presence changes within this window go out as one frame.
const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// How many times a command is re-decided after losing a race for the head to another writer
/// (another node, under heavy contention on one planning).
const MAX_ATTEMPTS: u32 = 32;
/// Page size for reading the log.
pub const PAGE: i64 = 1000;

/// A shared frame and maybe a private one for one participant.
type Frames = (Arc<str>, Option<(ParticipantId, Arc<str>)>);

/// One frame for subscribers. `seq` is set for event frames only.
#[derive(Debug)]
pub struct Outgoing {
    pub seq: Option<i64>,
    /// The frame every participant gets.
    pub shared: Arc<str>,
    /// A different frame for one participant (the author's own vote).
    pub private: Option<(ParticipantId, Arc<str>)>,
    /// Token hashes that stopped working with this event: their connections must close.
    pub revoked: Vec<String>,
}

impl Outgoing {
    /// The frame `viewer` should get.
    pub fn frame_for(&self, viewer: ParticipantId) -> &Arc<str> {
        match &self.private {
            Some((p, text)) if *p == viewer => text,
            _ => &self.shared,
        }
    }
}

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
    #[error("client_op_id {0:?} was already used for a different command")]
    OpConflict(String),
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    #[error("the log holds an event this build cannot read: {0}")]
    Codec(#[from] crate::domain::event::CodecError),
    #[error("the room is shutting down")]
    Closed,
    #[error("the planning is too busy right now: retry with the same client_op_id")]
    Busy,
    /// The cap on rooms in memory is reached and every room is in use.
    #[error("the server holds as many plannings in memory as it may, all in use: retry later")]
    ServerFull,
}

/// The projection and its position.
#[derive(Debug, Default)]
pub struct Live {
    pub head: i64,
    pub state: State,
}

/// The parts of a room shared between its task and its handles.
pub struct RoomShared {
    pub id: PlanningId,
    live: RwLock<Live>,
    tx: broadcast::Sender<Arc<Outgoing>>,
    presence: Mutex<BTreeMap<ParticipantId, usize>>,
    connections: AtomicUsize,
    last_used: AtomicU64,
    started: Instant,
    refresh_pending: std::sync::atomic::AtomicBool,
    presence_pending: std::sync::atomic::AtomicBool,
}

/// A handle on a live room. When the last handle is dropped, the room's task ends after
/// finishing the commands already queued.
pub struct Room {
    pub shared: Arc<RoomShared>,
    cmds: mpsc::Sender<Request>,
}

enum Request {
    /// Decide, append, apply, fan out.
    Command {
        actor: ParticipantId,
        op: String,
        expected: Option<i64>,
        command: Box<Command>,
        reply: oneshot::Sender<Result<Ack, RoomError>>,
    },
    /// Another node appended: read the log past our head.
    Refresh,
}

/// What a room needs from the rest of the server.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn EventStore>,
    pub metrics: Arc<Metrics>,
    /// Notified when an append wrote a scheduler job.
    pub jobs_changed: Arc<tokio::sync::Notify>,
}

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Decodes stored events.
pub fn decode_all(stored: &[StoredEvent]) -> Result<Vec<Event>, RoomError> {
    stored
        .iter()
        .map(|s| Event::decode(&s.kind, s.version, &s.payload).map_err(RoomError::from))
        .collect()
}

impl Room {
    /// Loads a planning from the log; `None` if it has no event.
    pub async fn load(deps: &Deps, id: PlanningId) -> Result<Option<Arc<Room>>, RoomError> {
        let loaded = crate::replay::state_at(&*deps.store, id, None)
            .await
            .map_err(|e| match e {
                crate::replay::ReplayError::Store(e) => RoomError::Store(e),
                crate::replay::ReplayError::Codec(e) => RoomError::Codec(e),
            })?;
        deps.metrics
            .events_replayed
            .fetch_add(loaded.events_read, Ordering::Relaxed);
        if loaded.head == 0 {
            return Ok(None);
        }
        // A long tail since the last snapshot: write one now, so the next cold load is cheap.
        if loaded.head - loaded.from_snapshot >= crate::replay::SNAPSHOT_EVERY {
            crate::replay::save_snapshot(&*deps.store, id, loaded.head, &loaded.state).await;
        }
        let live = Live {
            head: loaded.head,
            state: loaded.state,
        };
        Ok(Some(Self::spawn(deps.clone(), id, live)))
    }

    /// Starts the room's writer task around an already loaded projection.
    pub fn spawn(deps: Deps, id: PlanningId, live: Live) -> Arc<Room> {
        let (tx, _) = broadcast::channel(FANOUT_RING);
        let shared = Arc::new(RoomShared {
            id,
            live: RwLock::new(live),
            tx,
            presence: Mutex::new(BTreeMap::new()),
            connections: AtomicUsize::new(0),
            last_used: AtomicU64::new(0),
            started: Instant::now(),
            refresh_pending: std::sync::atomic::AtomicBool::new(false),
            presence_pending: std::sync::atomic::AtomicBool::new(false),
        });
        shared.touch();
        let (cmds, rx) = mpsc::channel(256);
        deps.metrics.rooms.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(writer(shared.clone(), deps, rx));
        Arc::new(Room { shared, cmds })
    }

    /// Runs a command through the room's writer task. The append happens in that task, so
    /// dropping this future (a disconnected client) cannot interrupt it.
    pub async fn execute(
        &self,
        actor: ParticipantId,
        op: String,
        expected: Option<i64>,
        command: Command,
    ) -> Result<Ack, RoomError> {
        self.shared.touch();
        let (reply, rx) = oneshot::channel();
        self.cmds
            .send(Request::Command {
                actor,
                op,
                expected,
                command: Box::new(command),
                reply,
            })
            .await
            .map_err(|_| RoomError::Closed)?;
        rx.await.map_err(|_| RoomError::Closed)?
    }

    /// Queues a command without waiting (commands submitted in order are decided in that
    /// order); the receiver yields its result. A full queue is refused as [`RoomError::Busy`]
    /// rather than waited on, so a connection loop never blocks on a busy room.
    pub fn submit(
        &self,
        actor: ParticipantId,
        op: String,
        expected: Option<i64>,
        command: Command,
    ) -> Result<oneshot::Receiver<Result<Ack, RoomError>>, RoomError> {
        self.shared.touch();
        let (reply, rx) = oneshot::channel();
        self.cmds
            .try_send(Request::Command {
                actor,
                op,
                expected,
                command: Box::new(command),
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => RoomError::Busy,
                mpsc::error::TrySendError::Closed(_) => RoomError::Closed,
            })?;
        Ok(rx)
    }

    /// Asks the writer to read events other nodes appended. Coalesced: at most one refresh is
    /// queued at a time, and a full queue is fine (the queued commands catch up anyway when
    /// their append conflicts, and the next poll asks again).
    pub fn refresh(&self) {
        if !self.shared.refresh_pending.swap(true, Ordering::AcqRel)
            && self.cmds.try_send(Request::Refresh).is_err()
        {
            self.shared.refresh_pending.store(false, Ordering::Release);
        }
    }

    /// The head of the in-memory projection.
    pub fn head(&self) -> i64 {
        self.shared
            .live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .head
    }

    /// Subscribes to the room's frames; returns the receiver and the head at that moment.
    /// Every event after that head arrives on the receiver.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Outgoing>>, i64) {
        let live = self.shared.live.read().unwrap_or_else(|e| e.into_inner());
        (self.shared.tx.subscribe(), live.head)
    }

    /// Reads the projection under the read lock.
    pub fn read<T>(&self, f: impl FnOnce(&Live) -> T) -> T {
        self.shared.touch();
        let live = self.shared.live.read().unwrap_or_else(|e| e.into_inner());
        f(&live)
    }

    /// Marks a participant online; returns a guard that marks them offline when dropped.
    pub fn connect(self: &Arc<Self>, who: ParticipantId) -> PresenceGuard {
        self.shared.connections.fetch_add(1, Ordering::Relaxed);
        {
            let mut p = self
                .shared
                .presence
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *p.entry(who).or_default() += 1;
        }
        self.shared.broadcast_presence();
        PresenceGuard {
            room: self.clone(),
            who,
        }
    }

    /// Open websocket connections.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Seconds since the room was last used.
    pub fn idle_secs(&self) -> u64 {
        let now = self.shared.started.elapsed().as_secs();
        now.saturating_sub(self.shared.last_used.load(Ordering::Relaxed))
    }

    /// Who is online now.
    pub fn online(&self) -> Vec<ParticipantId> {
        self.shared.online()
    }
}

/// Keeps a participant counted as online while a connection lives.
pub struct PresenceGuard {
    room: Arc<Room>,
    who: ParticipantId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let shared = &self.room.shared;
        shared.connections.fetch_sub(1, Ordering::Relaxed);
        {
            let mut p = shared.presence.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = p.get_mut(&self.who) {
                *n -= 1;
                if *n == 0 {
                    p.remove(&self.who);
                }
            }
        }
        shared.touch();
        shared.broadcast_presence();
    }
}

impl RoomShared {
    fn touch(&self) {
        self.last_used
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
    }

    fn online(&self) -> Vec<ParticipantId> {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.keys().copied().collect()
    }

    /// Schedules one presence frame for everyone a moment from now. Coalesced: a burst of
    /// connects (a whole team joining, a reconnect storm) costs one frame per connection per
    /// window instead of one per connection per connect — O(N) frames, not O(N²).
    fn broadcast_presence(self: &Arc<Self>) {
        if self.presence_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let shared = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(PRESENCE_WINDOW).await;
            shared.presence_pending.store(false, Ordering::Release);
            shared.send_presence();
        });
    }

    fn send_presence(&self) {
        let text = ServerMsg::Presence {
            online: self.online(),
        }
        .to_text();
        // No receivers is fine: nobody to tell.
        let _ = self.tx.send(Arc::new(Outgoing {
            seq: None,
            shared: text.into(),
            private: None,
            revoked: Vec::new(),
        }));
    }

    /// Applies stored events (already durable) and fans them out, in one critical section.
    fn publish(&self, stored: &[StoredEvent], events: &[Event], metrics: &Metrics) {
        // Serialise outside the lock: frames depend on the events only.
        let frames: Vec<Frames> = stored
            .iter()
            .zip(events)
            .map(|(s, e)| {
                let shared: Arc<str> = view::event_frame(s, e, None).to_string().into();
                let private = view::has_private_view(e).map(|p| {
                    let text: Arc<str> = view::event_frame(s, e, Some(p)).to_string().into();
                    (p, text)
                });
                (shared, private)
            })
            .collect();
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        for ((s, e), (shared, private)) in stored.iter().zip(events).zip(frames) {
            if s.seq <= live.head {
                continue; // already applied (a duplicate read of the log)
            }
            let revoked = revoked_tokens(&live.state, e);
            live.state.apply(e);
            live.head = s.seq;
            let _ = self.tx.send(Arc::new(Outgoing {
                seq: Some(s.seq),
                shared,
                private,
                revoked,
            }));
            metrics.events_fanned_out.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Token hashes an event makes stop working.
fn revoked_tokens(state: &State, e: &Event) -> Vec<String> {
    match e {
        Event::ParticipantRemoved { participant, .. }
        | Event::ParticipantLinkReissued {
            participant,
            revoked_previous: true,
            ..
        } => state
            .participants
            .get(participant)
            .map(|p| p.token_hashes.clone())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The room's single writer.
async fn writer(shared: Arc<RoomShared>, deps: Deps, mut rx: mpsc::Receiver<Request>) {
    // The seq and phase at the last snapshot this writer knows of (the load wrote one if the
    // tail was long, so starting from the head is right).
    let (mut snap_seq, mut snap_phase) = {
        let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
        (live.head, live.state.phase)
    };
    while let Some(req) = rx.recv().await {
        match req {
            Request::Refresh => {
                shared.refresh_pending.store(false, Ordering::Release);
                if let Err(e) = catch_up(&shared, &*deps.store, &deps.metrics).await {
                    tracing::warn!(planning = %shared.id, error = %e, "refresh failed");
                }
            }
            Request::Command {
                actor,
                op,
                expected,
                command,
                reply,
            } => {
                let req = CommandReq {
                    actor,
                    op,
                    expected,
                    command: *command,
                };
                let result = run(&shared, &deps, &req).await;
                if let Err(RoomError::Store(e)) = &result {
                    tracing::warn!(planning = %shared.id, error = %e, "append failed");
                }
                // The requester may be gone (client disconnected); the work is done regardless.
                let _ = reply.send(result);
            }
        }
        // Snapshot every SNAPSHOT_EVERY events and at phase changes (chapters of the timeline).
        let due = {
            let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
            let due = live.head / crate::replay::SNAPSHOT_EVERY
                > snap_seq / crate::replay::SNAPSHOT_EVERY
                || (live.state.phase != snap_phase && live.head > snap_seq);
            due.then(|| (live.head, live.state.phase, live.state.clone()))
        };
        if let Some((head, phase, state)) = due {
            crate::replay::save_snapshot(&*deps.store, shared.id, head, &state).await;
            snap_seq = head;
            snap_phase = phase;
        }
    }
    deps.metrics.rooms.fetch_sub(1, Ordering::Relaxed);
}

/// A command being run by the writer.
struct CommandReq {
    actor: ParticipantId,
    op: String,
    expected: Option<i64>,
    command: Command,
}

async fn run(shared: &RoomShared, deps: &Deps, req: &CommandReq) -> Result<Ack, RoomError> {
    let (store, metrics) = (&*deps.store, &*deps.metrics);
    let command_hash = crate::server::auth::sha256_hex(
        canonical::to_canonical(&req.command)
            .unwrap_or_default()
            .as_bytes(),
    );
    // A retry of a recorded command must return the original result, even if deciding it
    // again now would fail (the round it voted in may have closed since). The store checks
    // idempotency inside every append, so the extra lookup is only needed on the paths that
    // never reach an append: a refused decision or a stale `expected_seq`. The hot path (a new
    // command) costs one round trip to the database, not two.
    let recorded = || async {
        Ok::<_, RoomError>(
            match store
                .find_command(shared.id.0, req.actor.0, &req.op)
                .await?
            {
                Some(rec) if rec.command_hash == command_hash => Some(Ok(Ack {
                    first: rec.first_seq,
                    head: rec.last_seq,
                    duplicate: true,
                })),
                Some(_) => Some(Err(RoomError::OpConflict(req.op.clone()))),
                None => None,
            },
        )
    };
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 1 {
            // Losing repeatedly means another node writes this planning just as fast: back
            // off a little, with jitter, so one of us wins instead of both retrying in step.
            let jitter = rand::random::<u64>() % (1000 * u64::from(attempt.min(10)));
            tokio::time::sleep(std::time::Duration::from_micros(jitter)).await;
        }
        let now = now_micros();
        let decided = {
            let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
            match req.expected {
                Some(expected) if expected != live.head => Err(RoomError::Conflict {
                    expected,
                    head: live.head,
                }),
                _ => {
                    let mut rng = rand::rngs::OsRng;
                    let mut ctx = Context {
                        actor: req.actor,
                        now,
                        rng: &mut rng,
                    };
                    decide(&live.state, &req.command, &mut ctx)
                        .map_err(RoomError::from)
                        .map(|events| {
                            // Jobs are decided on the same state as the events (webhooks need
                            // the registered hooks and the titles), and written with them.
                            let jobs = super::scheduler::jobs_for(
                                shared.id,
                                &live.state,
                                live.head + 1,
                                &events,
                            );
                            (live.head, events, jobs)
                        })
                }
            }
        };
        let (head, events, jobs) = match decided {
            Ok(d) => d,
            Err(e) => return recorded().await?.unwrap_or(Err(e)),
        };
        let new_events: Vec<NewEvent> = events
            .iter()
            .map(|e| {
                let (kind, version, payload) = e.encode();
                NewEvent {
                    event_id: Uuid::new_v4(),
                    kind: kind.to_string(),
                    version,
                    payload,
                }
            })
            .collect();
        let started = Instant::now();
        let appended = store
            .append(AppendRequest {
                planning_id: shared.id.0,
                expected_seq: head,
                actor: req.actor.0,
                client_op_id: req.op.clone(),
                command_hash: command_hash.clone(),
                recorded_at: now,
                events: new_events.clone(),
                jobs: jobs.clone(),
            })
            .await;
        metrics.observe_append(started.elapsed());
        match appended {
            Ok(a) if a.duplicate => {
                // Another writer recorded this very command meanwhile; follow the log.
                catch_up(shared, store, metrics).await?;
                return Ok(Ack {
                    first: a.first_seq,
                    head: a.last_seq,
                    duplicate: true,
                });
            }
            Ok(a) => {
                if !jobs.is_empty() {
                    deps.jobs_changed.notify_one();
                }
                metrics
                    .events_appended
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                let stored: Vec<StoredEvent> = new_events
                    .into_iter()
                    .enumerate()
                    .map(|(i, n)| StoredEvent {
                        global_id: 0,
                        planning_id: shared.id.0,
                        seq: a.first_seq + i as i64,
                        event_id: n.event_id,
                        actor: req.actor.0,
                        client_op_id: req.op.clone(),
                        kind: n.kind,
                        version: n.version,
                        payload: n.payload,
                        recorded_at: now,
                        hash: String::new(),
                    })
                    .collect();
                shared.publish(&stored, &events, metrics);
                return Ok(Ack {
                    first: a.first_seq,
                    head: a.last_seq,
                    duplicate: false,
                });
            }
            Err(StoreError::Conflict { .. }) => {
                // Another node (or an evicted twin of this room) appended first: read what it
                // wrote and decide again on the new state.
                metrics.append_conflicts.fetch_add(1, Ordering::Relaxed);
                catch_up(shared, store, metrics).await?;
                if let Some(expected) = req.expected {
                    let head = shared.live.read().unwrap_or_else(|e| e.into_inner()).head;
                    return Err(RoomError::Conflict { expected, head });
                }
            }
            Err(StoreError::OpConflict(op)) => return Err(RoomError::OpConflict(op)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(RoomError::Busy)
}

/// Reads events past the in-memory head from the log, applies and fans them out.
pub(crate) async fn catch_up(
    shared: &RoomShared,
    store: &dyn EventStore,
    metrics: &Metrics,
) -> Result<(), RoomError> {
    loop {
        let head = shared.live.read().unwrap_or_else(|e| e.into_inner()).head;
        let page = store.read(shared.id.0, head, PAGE).await?;
        if page.is_empty() {
            return Ok(());
        }
        let events = decode_all(&page)?;
        shared.publish(&page, &events, metrics);
        if (page.len() as i64) < PAGE {
            return Ok(());
        }
    }
}
