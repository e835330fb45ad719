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

use crate::domain::event::Event;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::{decide, Command, Context, DomainError, State};
use crate::engine::clock::Clock;
use crate::engine::feed::{Frame, Frames, Outgoing, PresenceChange};
use crate::engine::metrics::Metrics;
use crate::read::view;
use crate::store::{canonical, AppendRequest, EventStore, NewEvent, StoreError, StoredEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Capacity of a room's broadcast ring (frames). A subscriber further behind resyncs from the log.
const FANOUT_RING: usize = 4096;
/// Presence changes within this window go out as one frame.
const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// How many times a command is re-decided after losing a race for the head to another writer
/// (another node, under heavy contention on one planning).
const MAX_ATTEMPTS: u32 = 32;
/// Page size for reading the log.
pub const PAGE: i64 = 1000;
/// Most commands appended in one transaction (group commit) by a room's writer. A batch only
/// holds what is already queued, so an idle room still commits each command alone; under load
/// a bigger batch means fewer fsyncs for the same work (SQLite FULL: 45k events/s at 128 per
/// commit, 55k at 512 — README "Benchmarks"), and a command queued behind a full batch would
/// wait for the next commit anyway.
const MAX_BATCH: usize = 512;

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

/// Who is online: open connections per participant, and the set the last presence frame
/// announced. Frames carry the change since the previous one (who joined, who left), so
/// a connect costs O(1) bytes per client instead of the whole list each (O(N²) bytes when N
/// clients connect); a new connection gets the announced set once for itself.
#[derive(Default)]
struct Presence {
    connections: BTreeMap<ParticipantId, usize>,
    announced: BTreeSet<ParticipantId>,
}

/// The parts of a room shared between its task and its handles.
pub struct RoomShared {
    pub id: PlanningId,
    live: RwLock<Live>,
    tx: broadcast::Sender<Arc<Outgoing>>,
    presence: Mutex<Presence>,
    connections: AtomicUsize,
    last_used: AtomicU64,
    started: Instant,
    refresh_pending: std::sync::atomic::AtomicBool,
    presence_pending: std::sync::atomic::AtomicBool,
    /// The writer's own copy of the projection at `head` (or none), which a batch of commands
    /// is decided on. Cloning the projection for every batch cost time in its size: with a
    /// few thousand rounds of history, most of the CPU of a command (the fan-out with
    /// reveals measured 0.79 → 3.2 µs of user CPU per delivery as rounds piled up). Kept in
    /// step by `publish`, which applies each event to it too; a batch takes it, applies its
    /// events while deciding, and puts it back once they are appended (a failed append drops
    /// it: the next batch clones `live` again). Only the writer task touches it, so the std
    /// mutex is never contended.
    scratch: Mutex<Option<Live>>,
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
    /// The time commands are decided and recorded at.
    pub clock: Clock,
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
        let loaded = crate::engine::replay::state_at(&*deps.store, id, None)
            .await
            .map_err(|e| match e {
                crate::engine::replay::ReplayError::Store(e) => RoomError::Store(e),
                crate::engine::replay::ReplayError::Codec(e) => RoomError::Codec(e),
            })?;
        deps.metrics
            .events_replayed
            .fetch_add(loaded.events_read, Ordering::Relaxed);
        if loaded.head == 0 {
            return Ok(None);
        }
        // A long tail since the last snapshot: write one now, so the next cold load is cheap.
        if crate::engine::replay::snapshot_due(loaded.head, loaded.from_snapshot) {
            crate::engine::replay::save_snapshot(&*deps.store, id, loaded.head, &loaded.state)
                .await;
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
            presence: Mutex::new(Presence::default()),
            connections: AtomicUsize::new(0),
            last_used: AtomicU64::new(0),
            started: Instant::now(),
            refresh_pending: std::sync::atomic::AtomicBool::new(false),
            presence_pending: std::sync::atomic::AtomicBool::new(false),
            scratch: Mutex::new(None),
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
            *p.connections.entry(who).or_default() += 1;
        }
        self.shared.broadcast_presence();
        PresenceGuard {
            room: self.clone(),
            who,
        }
    }

    /// Who the last presence frame said is online: a new connection's starting set, which the
    /// changes on its feed then keep current (read it after subscribing).
    pub fn announced_presence(&self) -> Vec<ParticipantId> {
        let p = self
            .shared
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        p.announced.iter().copied().collect()
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
            if let Some(n) = p.connections.get_mut(&self.who) {
                *n -= 1;
                if *n == 0 {
                    p.connections.remove(&self.who);
                }
            }
        }
        shared.touch();
        shared.broadcast_presence();
    }
}

impl RoomShared {
    /// The projection for the writer to decide a batch on: its scratch copy when that is at
    /// the head, else a clone of `live` (after a failed append, or a first batch).
    fn take_scratch(&self) -> Live {
        let taken = self
            .scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        match taken {
            Some(copy) if copy.head == live.head => copy,
            _ => Live {
                head: live.head,
                state: live.state.clone(),
            },
        }
    }

    /// Keeps `copy` as the scratch copy if it is the projection at the head.
    fn keep_scratch(&self, copy: Live) {
        if self.live.read().unwrap_or_else(|e| e.into_inner()).head == copy.head {
            *self.scratch.lock().unwrap_or_else(|e| e.into_inner()) = Some(copy);
        }
    }

    fn touch(&self) {
        self.last_used
            .store(self.started.elapsed().as_secs(), Ordering::Relaxed);
    }

    fn online(&self) -> Vec<ParticipantId> {
        let p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        p.connections.keys().copied().collect()
    }

    /// Schedules one presence frame for everyone a moment from now. Coalesced: a burst of
    /// connects (a whole team joining, a reconnect storm) costs one frame per connection per
    /// window instead of one per connection per connect — O(N) frames, not O(N²) — and each
    /// frame holds only the change.
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

    /// Announces who joined and who left since the last announcement. The frame is sent under
    /// the presence lock, so a connection that reads the announced set (see
    /// [`Room::announced_presence`]) after subscribing gets, on its feed, every change after
    /// that set (and maybe the one that made it, which changes nothing when applied again).
    fn send_presence(&self) {
        let mut p = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let now: BTreeSet<ParticipantId> = p.connections.keys().copied().collect();
        let joined: Vec<_> = now.difference(&p.announced).copied().collect();
        let left: Vec<_> = p.announced.difference(&now).copied().collect();
        if joined.is_empty() && left.is_empty() {
            return; // a reconnect within the window: nothing changed
        }
        p.announced = now;
        let frame = Frame::json(&PresenceChange::new(joined, left));
        // No receivers is fine: nobody to tell.
        let _ = self.tx.send(Arc::new(Outgoing {
            seq: None,
            shared: frame,
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
                let shared = Frame::json(&view::event_frame(s, e, None));
                let private = view::has_private_view(e)
                    .map(|p| (p, Frame::json(&view::event_frame(s, e, Some(p)))));
                (shared, private)
            })
            .collect();
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        let mut scratch = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        for ((s, e), (shared, private)) in stored.iter().zip(events).zip(frames) {
            if s.seq <= live.head {
                continue; // already applied (a duplicate read of the log)
            }
            let revoked = revoked_tokens(&live.state, e);
            live.state.apply(e);
            // The scratch copy follows only from the same head; anything else drops it.
            match scratch.as_mut() {
                Some(copy) if copy.head == live.head => {
                    copy.state.apply(e);
                    copy.head = s.seq;
                }
                _ => *scratch = None,
            }
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
                // Group commit: the commands already queued behind this one are decided with
                // it and appended in one transaction (one durable commit for all).
                let mut batch = vec![(CommandReq::new(actor, op, expected, *command), reply)];
                let mut refresh = false;
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(Request::Command {
                            actor,
                            op,
                            expected,
                            command,
                            reply,
                        }) => batch.push((CommandReq::new(actor, op, expected, *command), reply)),
                        Ok(Request::Refresh) => {
                            refresh = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                run_batch(&shared, &deps, batch).await;
                if refresh {
                    shared.refresh_pending.store(false, Ordering::Release);
                    if let Err(e) = catch_up(&shared, &*deps.store, &deps.metrics).await {
                        tracing::warn!(planning = %shared.id, error = %e, "refresh failed");
                    }
                }
            }
        }
        // Snapshot as the log grows (`replay::snapshot_due`) and at phase changes (chapters of
        // the timeline).
        let due = {
            let live = shared.live.read().unwrap_or_else(|e| e.into_inner());
            let due = crate::engine::replay::snapshot_due(live.head, snap_seq)
                || (live.state.phase != snap_phase && live.head > snap_seq);
            due.then(|| (live.head, live.state.phase, live.state.clone()))
        };
        if let Some((head, phase, state)) = due {
            crate::engine::replay::save_snapshot(&*deps.store, shared.id, head, &state).await;
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
    /// SHA-256 of the canonical command: tells a retry from a different command with the same
    /// `op`.
    command_hash: String,
}

impl CommandReq {
    fn new(actor: ParticipantId, op: String, expected: Option<i64>, command: Command) -> Self {
        let command_hash = crate::engine::auth::sha256_hex(
            canonical::to_canonical(&command)
                .unwrap_or_default()
                .as_bytes(),
        );
        CommandReq {
            actor,
            op,
            expected,
            command,
            command_hash,
        }
    }
}

/// The result recorded for `req`'s op, if it was appended before.
///
/// A retry of a recorded command must return the original result, even if deciding it again
/// now would fail (the round it voted in may have closed since). The store checks idempotency
/// inside every append, so this extra lookup is only needed on the paths that never reach an
/// append: a refused decision or a stale `expected_seq`. The hot path (a new command) costs
/// one round trip to the database, not two.
async fn recorded(
    shared: &RoomShared,
    store: &dyn EventStore,
    req: &CommandReq,
) -> Result<Option<Result<Ack, RoomError>>, RoomError> {
    Ok(
        match store
            .find_command(shared.id.0, req.actor.0, &req.op)
            .await?
        {
            Some(rec) if rec.command_hash == req.command_hash => Some(Ok(Ack {
                first: rec.first_seq,
                head: rec.last_seq,
                duplicate: true,
            })),
            Some(_) => Some(Err(RoomError::OpConflict(req.op.clone()))),
            None => None,
        },
    )
}

/// Encodes decided events for the log.
fn encode(events: &[Event]) -> Vec<NewEvent> {
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

/// The appended events as the log now holds them (for the fan-out).
fn stored(shared: &RoomShared, req: &AppendRequest, first_seq: i64) -> Vec<StoredEvent> {
    req.events
        .iter()
        .enumerate()
        .map(|(i, n)| StoredEvent {
            global_id: 0,
            planning_id: shared.id.0,
            seq: first_seq + i as i64,
            event_id: n.event_id,
            actor: req.actor,
            client_op_id: req.client_op_id.clone(),
            kind: n.kind.clone(),
            version: n.version,
            payload: n.payload.clone(),
            recorded_at: req.recorded_at,
            hash: String::new(),
        })
        .collect()
}

type Reply = oneshot::Sender<Result<Ack, RoomError>>;

/// Runs a batch of commands in order with one append (group commit). They are decided one
/// after the other on a copy of the projection, each seeing the events of those before it, so
/// the outcome is the one of running them one by one. If the batch append fails for any
/// reason (a conflict with another node, a retried op, a database error), nothing of it was
/// written and each command is run again on its own, which sorts out every case as before.
async fn run_batch(shared: &RoomShared, deps: &Deps, batch: Vec<(CommandReq, Reply)>) {
    let (store, metrics) = (&*deps.store, &*deps.metrics);
    if batch.len() == 1 {
        for (req, reply) in batch {
            let result = run(shared, deps, &req).await;
            if let Err(RoomError::Store(e)) = &result {
                tracing::warn!(planning = %shared.id, error = %e, "append failed");
            }
            // The requester may be gone (client disconnected); the work is done regardless.
            let _ = reply.send(result);
        }
        return;
    }
    let now = deps.clock.now_micros();
    // Per command: the index of its append, or why it was refused.
    let mut outcomes: Vec<Result<usize, RoomError>> = Vec::with_capacity(batch.len());
    let mut appends: Vec<AppendRequest> = Vec::new();
    let mut decided: Vec<Vec<Event>> = Vec::new();
    let Live {
        mut state,
        mut head,
    } = shared.take_scratch();
    for (req, _) in &batch {
        if let Some(expected) = req.expected.filter(|e| *e != head) {
            outcomes.push(Err(RoomError::Conflict { expected, head }));
            continue;
        }
        let mut rng = rand::rngs::OsRng;
        let mut ctx = Context {
            actor: req.actor,
            now,
            rng: &mut rng,
        };
        match decide(&state, &req.command, &mut ctx) {
            Ok(events) => {
                let jobs =
                    crate::engine::scheduler::jobs_for(shared.id, &state, head + 1, &events, now);
                for e in &events {
                    state.apply(e);
                }
                appends.push(AppendRequest {
                    planning_id: shared.id.0,
                    expected_seq: head,
                    actor: req.actor.0,
                    client_op_id: req.op.clone(),
                    command_hash: req.command_hash.clone(),
                    recorded_at: now,
                    events: encode(&events),
                    jobs,
                });
                head += events.len() as i64;
                decided.push(events);
                outcomes.push(Ok(appends.len() - 1));
            }
            Err(e) => outcomes.push(Err(e.into())),
        }
    }
    let has_jobs = appends.iter().any(|a| !a.jobs.is_empty());
    let started = Instant::now();
    let appended = if appends.is_empty() {
        Ok(Vec::new())
    } else {
        store.append_batch(appends.clone()).await
    };
    metrics.observe_append(started.elapsed());
    let appended = match appended {
        Ok(a) if a.len() == appends.len() => a,
        other => {
            if let Err(e) = &other {
                tracing::debug!(planning = %shared.id, error = %e, "batch append refused; one by one");
            }
            for (req, reply) in batch {
                let result = run(shared, deps, &req).await;
                let _ = reply.send(result);
            }
            return;
        }
    };
    if has_jobs {
        deps.jobs_changed.notify_one();
    }
    if appended.len() > 1 {
        metrics.group_commits.fetch_add(1, Ordering::Relaxed);
        metrics
            .group_committed_commands
            .fetch_add(appended.len() as u64, Ordering::Relaxed);
    }
    let mut all_stored = Vec::new();
    let mut all_events = Vec::new();
    for ((req, a), events) in appends.iter().zip(&appended).zip(decided) {
        metrics
            .events_appended
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        all_stored.extend(stored(shared, req, a.first_seq));
        all_events.extend(events);
    }
    shared.publish(&all_stored, &all_events, metrics);
    // `state` is the projection with this batch applied: the scratch copy at the new head.
    shared.keep_scratch(Live { head, state });
    for ((req, reply), outcome) in batch.into_iter().zip(outcomes) {
        let result = match outcome {
            Ok(i) => Ok(Ack {
                first: appended[i].first_seq,
                head: appended[i].last_seq,
                duplicate: false,
            }),
            Err(e) => match recorded(shared, store, &req).await {
                Ok(Some(r)) => r,
                Ok(None) => Err(e),
                Err(lookup) => Err(lookup),
            },
        };
        let _ = reply.send(result);
    }
}

async fn run(shared: &RoomShared, deps: &Deps, req: &CommandReq) -> Result<Ack, RoomError> {
    let (store, metrics) = (&*deps.store, &*deps.metrics);
    let recorded = || recorded(shared, store, req);
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 1 {
            // Losing repeatedly means another node writes this planning just as fast: back
            // off a little, with jitter, so one of us wins instead of both retrying in step.
            let jitter = rand::random::<u64>() % (1000 * u64::from(attempt.min(10)));
            tokio::time::sleep(std::time::Duration::from_micros(jitter)).await;
        }
        let now = deps.clock.now_micros();
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
                            let jobs = crate::engine::scheduler::jobs_for(
                                shared.id,
                                &live.state,
                                live.head + 1,
                                &events,
                                now,
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
        let request = AppendRequest {
            planning_id: shared.id.0,
            expected_seq: head,
            actor: req.actor.0,
            client_op_id: req.op.clone(),
            command_hash: req.command_hash.clone(),
            recorded_at: now,
            events: encode(&events),
            jobs,
        };
        let started = Instant::now();
        let appended = store.append(request.clone()).await;
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
                if !request.jobs.is_empty() {
                    deps.jobs_changed.notify_one();
                }
                metrics
                    .events_appended
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                let stored = stored(shared, &request, a.first_seq);
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

#[cfg(test)]
mod tests {
    //! Group commit against a real (in-memory SQLite) log. The test runtime is single-threaded,
    //! so commands submitted without an `.await` in between are all queued before the writer
    //! runs: it takes them as one batch, deterministically.

    use super::*;
    use crate::domain::ids::ItemId;
    use uuid::Uuid;

    async fn room() -> (Arc<Room>, Deps, ParticipantId) {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let deps = Deps {
            store,
            metrics: Arc::new(Metrics::default()),
            jobs_changed: Arc::new(tokio::sync::Notify::new()),
            clock: Clock::system(),
        };
        let room = Room::spawn(deps.clone(), PlanningId(Uuid::new_v4()), Live::default());
        let fac = ParticipantId(Uuid::new_v4());
        let create = Command::CreatePlanning {
            title: "Batch".into(),
            creator_name: "Fay".into(),
            creator_token_hash: "a".repeat(64),
            deck: None,
            policy: None,
            member_invite_hash: "b".repeat(64),
            observer_invite_hash: "c".repeat(64),
        };
        room.execute(fac, "create".into(), Some(0), create)
            .await
            .expect("create");
        (room, deps, fac)
    }

    fn submit_all(
        room: &Room,
        actor: ParticipantId,
        cmds: Vec<(&str, Command)>,
    ) -> Vec<oneshot::Receiver<Result<Ack, RoomError>>> {
        cmds.into_iter()
            .map(|(op, c)| room.submit(actor, op.into(), None, c).expect("queued"))
            .collect()
    }

    async fn results(
        rx: Vec<oneshot::Receiver<Result<Ack, RoomError>>>,
    ) -> Vec<Result<Ack, RoomError>> {
        let mut out = Vec::new();
        for r in rx {
            out.push(r.await.expect("reply"));
        }
        out
    }

    fn goal(text: &str) -> Command {
        Command::AmendGoal {
            text: text.into(),
            note: None,
        }
    }

    #[tokio::test]
    async fn queued_commands_are_one_commit_with_the_one_by_one_outcome() {
        let (room, deps, fac) = room().await;
        // Each depends on the ones before it: amend needs the draft, the second draft and the
        // amend after the commit are refused; the withdrawal of an unknown item too.
        let rx = submit_all(
            &room,
            fac,
            vec![
                (
                    "a",
                    Command::DraftGoal {
                        text: "Ship".into(),
                    },
                ),
                ("b", goal("Ship it")),
                (
                    "c",
                    Command::DraftGoal {
                        text: "Again".into(),
                    },
                ),
                (
                    "d",
                    Command::WithdrawItem {
                        item: ItemId(Uuid::new_v4()),
                        reason: None,
                    },
                ),
                ("e", Command::CommitGoal),
                ("f", goal("Too late")),
                (
                    "g",
                    Command::Rename {
                        name: "Fay B".into(),
                    },
                ),
            ],
        );
        let out = results(rx).await;
        let ok: Vec<bool> = out.iter().map(Result::is_ok).collect();
        assert_eq!(ok, [true, true, false, false, true, false, true], "{out:?}");
        let heads: Vec<i64> = out.iter().flatten().map(|a| a.head).collect();
        assert_eq!(heads, [2, 3, 4, 5]);
        assert_eq!(deps.metrics.group_commits.load(Ordering::Relaxed), 1);
        assert_eq!(
            deps.metrics
                .group_committed_commands
                .load(Ordering::Relaxed),
            4
        );
        // The log holds exactly the accepted commands' events, chained, and the projection
        // the room serves equals one rebuilt from the log.
        let log = deps
            .store
            .read(room.shared.id.0, 0, 100)
            .await
            .expect("read");
        let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "PlanningCreated",
                "GoalDrafted",
                "GoalAmended",
                "GoalCommitted",
                "ParticipantRenamed"
            ]
        );
        assert!(matches!(
            crate::store::verify_chain(&*deps.store, room.shared.id.0)
                .await
                .expect("verify"),
            crate::store::ChainCheck::Intact { events: 5, .. }
        ));
        let rebuilt = crate::engine::replay::state_at(&*deps.store, room.shared.id, None)
            .await
            .expect("replay");
        room.read(|l| {
            assert_eq!(l.head, 5);
            assert_eq!(format!("{:?}", l.state), format!("{:?}", rebuilt.state));
        });
    }

    /// The writer's scratch copy of the projection follows every append, batched or not: a
    /// batch decided after a single command sees that command's events (a stale copy would
    /// accept an amend of a goal already committed).
    #[tokio::test]
    async fn batches_are_decided_on_the_projection_after_single_commands() {
        let (room, _deps, fac) = room().await;
        let rename = |n: &str| Command::Rename { name: n.into() };
        let draft = Command::DraftGoal {
            text: "Ship".into(),
        };
        let out = results(submit_all(
            &room,
            fac,
            vec![("a", draft), ("b", rename("A"))],
        ))
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        // One command alone (the writer's single path), then a batch that depends on it.
        let one = results(submit_all(&room, fac, vec![("c", Command::CommitGoal)])).await;
        assert!(one[0].is_ok(), "{one:?}");
        let out = results(submit_all(
            &room,
            fac,
            vec![("d", goal("Too late")), ("e", rename("B"))],
        ))
        .await;
        assert!(
            matches!(out[0], Err(RoomError::Domain(_))) && out[1].is_ok(),
            "{out:?}"
        );
        let live = room.shared.live.read().expect("live");
        let scratch = room.shared.scratch.lock().expect("scratch");
        let copy = scratch.as_ref().expect("kept after a batch");
        assert_eq!((copy.head, &copy.state), (live.head, &live.state));
    }

    #[tokio::test]
    async fn a_batch_with_a_retry_falls_back_to_one_by_one() {
        let (room, deps, fac) = room().await;
        let first = room
            .execute(
                fac,
                "a".into(),
                None,
                Command::DraftGoal {
                    text: "Ship".into(),
                },
            )
            .await
            .expect("draft");
        let rx = submit_all(
            &room,
            fac,
            vec![
                ("b", goal("Ship it")),
                (
                    "a",
                    Command::DraftGoal {
                        text: "Ship".into(),
                    },
                ),
                ("a", goal("reused key")),
                ("c", Command::CommitGoal),
            ],
        );
        let out = results(rx).await;
        assert_eq!(out[0].as_ref().expect("b").head, 3);
        let retry = out[1].as_ref().expect("retry");
        assert!(retry.duplicate && retry.first == first.first);
        assert!(
            matches!(out[2], Err(RoomError::OpConflict(_))),
            "{:?}",
            out[2]
        );
        assert_eq!(out[3].as_ref().expect("c").head, 4);
        // The refused batch wrote nothing; the one-by-one run wrote each accepted command once.
        assert_eq!(deps.metrics.group_commits.load(Ordering::Relaxed), 0);
        assert_eq!(deps.store.head(room.shared.id.0).await.expect("head"), 4);
    }
}
