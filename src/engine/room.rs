//! A live room: one planning's projection in memory, its single writer task, and its fan-out.
//!
//! The core is independent of transport: HTTP handlers and websockets talk to a [`Room`] only
//! through [`Room::execute`] (or [`Room::submit_to`], answering on the caller's channel),
//! [`Room::subscribe`] and [`Room::read`].
//!
//! Writes are serialised by one task per room, which owns the planning's [`Writer`] (decide →
//! append → apply, see `engine::writer`) and fans out what it wrote. The task is spawned, so a
//! request handler whose client disconnects (axum drops its future) cannot leave a half-run
//! append behind: the task finishes it and the retry finds it by `client_op_id`.
//!
//! Readers see a projection of their own, which the writer's publish keeps at its head. It
//! sits behind a `std::sync::RwLock`, not an async one: it is only held for in-memory work
//! (apply, serialise a view), never across an `.await`, so a blocking lock is cheaper and
//! cannot be held by a suspended future. Events are broadcast *while the write lock
//! is held*, and [`Room::subscribe`] takes the read lock: a subscriber therefore gets exactly
//! the events after the head it read, with no gap and no duplicate.
//!
//! Fan-out uses a `tokio::sync::broadcast` ring: each frame is serialised once per audience (a
//! shared frame, plus the author's own view of a vote) and shared by `Arc`. A subscriber that
//! falls behind the ring gets `Lagged` and must resync from the log; it never delays the room.

use crate::domain::event::Event;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::{Command, State};
use crate::engine::feed::{EventOut, Frame, Frames, Outgoing, PresenceChange};
use crate::engine::joins::Joins;
use crate::engine::metrics::Metrics;
use crate::engine::views::{Publisher, Watchers};
use crate::engine::writer::{Pending, Sink, Writer};
use crate::read::view::{self, Common};
use crate::store::{Job, StoredEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, mpsc, oneshot};

pub use crate::engine::writer::{Ack, Deps, RoomError, PAGE};

/// Capacity of a room's broadcast ring (frames). A subscriber further behind resyncs from the log.
const FANOUT_RING: usize = 4096;
/// Presence changes within this window go out as one frame.
const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);
/// Most commands appended in one transaction (group commit) by a room's writer. A batch only
/// holds what is already queued, so an idle room still commits each command alone; under load
/// a bigger batch means fewer fsyncs for the same work (SQLite FULL: 45k events/s at 128 per
/// commit, 55k at 512 — README "Benchmarks"), and a command queued behind a full batch would
/// wait for the next commit anyway.
const MAX_BATCH: usize = 512;

/// A planning's projection and its position (what readers see).
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
    /// When the room was last used, in seconds after `started`.
    last_used: AtomicU64,
    /// When the room started, on tokio's clock, so a test that pauses and advances it ages
    /// the room (see `Registry::evict_idle_every`).
    started: tokio::time::Instant,
    refresh_pending: AtomicBool,
    presence_pending: AtomicBool,
    /// Who keeps a pushed view (see `engine::views`).
    watchers: Watchers,
    /// What the clients that join at the current head share (see `engine::joins`).
    joins: Joins,
}

/// A handle on a live room. When the last handle is dropped, the room's task ends after
/// finishing the commands already queued.
pub struct Room {
    pub shared: Arc<RoomShared>,
    cmds: mpsc::Sender<Request>,
}

enum Request {
    /// Decide, append, apply, fan out.
    Command(Box<Pending<Command>>, Reply),
    /// Another node appended: read the log past our head.
    Refresh,
}

/// A command's answer delivered to the connection that submitted it.
#[derive(Debug)]
pub struct Answer {
    pub op: String,
    pub result: Result<Ack, RoomError>,
}

/// An answer as it travels on a connection's channel: boxed, because tokio's unbounded channel
/// allocates its slots 32 at a time and keeps a block for the channel's life. With the answer
/// inline that block was 3.6 KiB held by every connection that ever sent a command (heaptrack,
/// `rooms` 50 × 10); a pointer per slot makes it a few hundred bytes, and each answer's own
/// allocation is freed once the connection has taken it.
pub type Answered = Box<Answer>;

/// Where a command's answer goes.
enum Reply {
    /// To one waiting caller.
    Once(oneshot::Sender<Result<Ack, RoomError>>),
    /// To a connection's channel, with the op it answers.
    To(mpsc::UnboundedSender<Answered>),
}

impl Reply {
    /// The requester may be gone (client disconnected); the work is done regardless.
    fn send(self, op: &str, result: Result<Ack, RoomError>) {
        match self {
            Reply::Once(tx) => {
                let _ = tx.send(result);
            }
            Reply::To(tx) => {
                let _ = tx.send(Box::new(Answer {
                    op: op.to_string(),
                    result,
                }));
            }
        }
    }
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

    /// Starts the room's writer task around an already loaded projection (an empty one, at
    /// head 0, for a planning about to be created).
    pub fn spawn(deps: Deps, id: PlanningId, live: Live) -> Arc<Room> {
        // The writer decides on a projection of its own; readers keep theirs. This is the
        // one copy of the state a room makes.
        let writer = Writer::new(deps.clone(), id.0, live.head, live.state.clone());
        let (tx, _) = broadcast::channel(FANOUT_RING);
        let shared = Arc::new(RoomShared {
            id,
            live: RwLock::new(live),
            tx,
            presence: Mutex::new(Presence::default()),
            connections: AtomicUsize::new(0),
            last_used: AtomicU64::new(0),
            started: tokio::time::Instant::now(),
            refresh_pending: AtomicBool::new(false),
            presence_pending: AtomicBool::new(false),
            watchers: Watchers::default(),
            joins: Joins::default(),
        });
        shared.touch();
        let (cmds, rx) = mpsc::channel(deps.queue.max(1));
        deps.metrics.rooms.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(run_writer(shared.clone(), deps, writer, rx));
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
        let pending = Box::new(Pending::new(actor, op, expected, command));
        self.cmds
            .send(Request::Command(pending, Reply::Once(reply)))
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
        let (reply, rx) = oneshot::channel();
        self.queue(actor, op, expected, command, Reply::Once(reply))?;
        Ok(rx)
    }

    /// Queues a command; its answer goes to `answers` (a channel the connection owns).
    /// Commands submitted in order are decided in that order. A full queue is refused as
    /// [`RoomError::Busy`] at once, never waited on, so a connection loop never blocks on a
    /// busy room.
    pub fn submit_to(
        &self,
        actor: ParticipantId,
        op: String,
        expected: Option<i64>,
        command: Command,
        answers: &mpsc::UnboundedSender<Answered>,
    ) -> Result<(), RoomError> {
        self.queue(actor, op, expected, command, Reply::To(answers.clone()))
    }

    fn queue(
        &self,
        actor: ParticipantId,
        op: String,
        expected: Option<i64>,
        command: Command,
        reply: Reply,
    ) -> Result<(), RoomError> {
        self.shared.touch();
        let pending = Box::new(Pending::new(actor, op, expected, command));
        self.cmds
            .try_send(Request::Command(pending, reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => RoomError::Busy,
                mpsc::error::TrySendError::Closed(_) => RoomError::Closed,
            })
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

    /// The head of the in-memory projection once it has reached `seq` (an event this node's
    /// writer has not published yet, or one another node appended: then it asks for a
    /// refresh), waiting at most `wait`; the head it has then, which may still be below `seq`.
    pub async fn head_reaching(&self, seq: i64, wait: std::time::Duration) -> i64 {
        let deadline = tokio::time::Instant::now() + wait;
        let mut asked = false;
        loop {
            let head = self.head();
            if head >= seq || tokio::time::Instant::now() >= deadline {
                return head;
            }
            if !asked {
                self.refresh();
                asked = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
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

    /// What the clients that join at the room's current head share (see `engine::joins`).
    pub fn joins(&self) -> &Joins {
        &self.shared.joins
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

    /// Counts `who` as keeping a pushed view until the guard is dropped: from the next batch
    /// on, the room pushes the changes to their view (see `engine::views`).
    pub fn watch(self: &Arc<Self>, who: ParticipantId) -> WatchGuard {
        self.shared.watchers.add(who);
        WatchGuard {
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

/// Keeps a participant counted as watching while a connection that keeps a view lives.
pub struct WatchGuard {
    room: Arc<Room>,
    who: ParticipantId,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.room.shared.watchers.remove(self.who);
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
        let _ = self.tx.send(Arc::new(Outgoing::Presence(frame)));
    }

    /// Applies stored events (already durable) and fans them out, in one critical section.
    fn publish(&self, stored: &[StoredEvent], events: &[Event], metrics: &Metrics) {
        // Serialise outside the lock: frames depend on the events only.
        let frames: Vec<Frames> = stored
            .iter()
            .zip(events)
            .map(|(s, e)| {
                let envelope = crate::engine::replay::envelope(s, e.clone());
                let shared = Frame::json(&view::event_frame(&envelope, None));
                let private = view::has_private_view(e)
                    .map(|p| (p, Frame::json(&view::event_frame(&envelope, Some(p)))));
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
            let _ = self.tx.send(Arc::new(Outgoing::Event(EventOut {
                seq: s.seq,
                shared,
                private,
                revoked,
            })));
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

/// What the room does with its writer's appends: jobs for the scheduler, and the fan-out.
struct Fanout<'a> {
    shared: &'a RoomShared,
    deps: &'a Deps,
    /// Only the writer task pushes views; the lock is never contended.
    views: Mutex<Publisher>,
}

impl Sink<State> for Fanout<'_> {
    fn jobs(&self, state: &State, first_seq: i64, events: &[Event], now: i64) -> Vec<Job> {
        crate::engine::scheduler::jobs_for(self.shared.id, state, first_seq, events, now)
    }

    fn publish(&self, stored: &[StoredEvent], events: &[Event], state: &State) {
        self.shared.publish(stored, events, &self.deps.metrics);
        let Some(head) = stored.last().map(|s| s.seq) else {
            return;
        };
        // After the events, and outside the readers' lock: built from the writer's own state.
        let watching = self.shared.watchers.now();
        let mut views = self.views.lock().unwrap_or_else(|e| e.into_inner());
        if watching.is_empty() {
            views.stop();
            return;
        }
        if views.has_pushed(head) {
            return; // a writer reading its log again from the start
        }
        let now = self.deps.clock.now_micros();
        // One scan of the discussion for every kept view, kept for the clients that join at
        // this head too (the writer's state is the readers' at `head`).
        let common = Arc::new(Common::of(state));
        if let Some(push) = views.push(state, head, &watching, now, &common) {
            let _ = self.shared.tx.send(Arc::new(Outgoing::Views(push)));
        }
        self.shared.joins.offer(head, common);
    }

    fn readers_copy(&self) -> Option<(i64, State)> {
        let live = self.shared.live.read().unwrap_or_else(|e| e.into_inner());
        Some((live.head, live.state.clone()))
    }
}

/// The room's writer task: commands in queue order, batched, until the last handle is gone.
async fn run_writer(
    shared: Arc<RoomShared>,
    deps: Deps,
    mut writer: Writer<State>,
    mut rx: mpsc::Receiver<Request>,
) {
    let sink = Fanout {
        shared: &shared,
        deps: &deps,
        views: Mutex::new(Publisher::default()),
    };
    let mut snapshots = Snapshots::new(&writer);
    while let Some(req) = rx.recv().await {
        let refresh = match req {
            Request::Refresh => true,
            Request::Command(first, reply) => {
                let (batch, replies, refresh) = gather(*first, reply, &mut rx);
                let answers = writer.commit(&batch, &sink).await;
                for ((pending, reply), answer) in batch.iter().zip(replies).zip(answers) {
                    if let Err(RoomError::Store(e)) = &answer {
                        tracing::warn!(planning = %shared.id, error = %e, "append failed");
                    }
                    reply.send(&pending.op, answer);
                }
                refresh
            }
        };
        if refresh {
            shared.refresh_pending.store(false, Ordering::Release);
            if let Err(e) = writer.catch_up(&sink).await {
                tracing::warn!(planning = %shared.id, error = %e, "refresh failed");
            }
        }
        snapshots
            .save_if_due(&*deps.store, shared.id, &writer)
            .await;
    }
    deps.metrics.rooms.fetch_sub(1, Ordering::Relaxed);
}

/// Group commit: the commands already queued behind `first` are decided with it and appended
/// in one transaction (one durable commit for all). A refresh request ends the batch; the
/// third value says whether one came.
fn gather(
    first: Pending<Command>,
    reply: Reply,
    rx: &mut mpsc::Receiver<Request>,
) -> (Vec<Pending<Command>>, Vec<Reply>, bool) {
    let (mut batch, mut replies) = (vec![first], vec![reply]);
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(Request::Command(pending, reply)) => {
                batch.push(*pending);
                replies.push(reply);
            }
            Ok(Request::Refresh) => return (batch, replies, true),
            Err(_) => break,
        }
    }
    (batch, replies, false)
}

/// When the room writes snapshots: as the log grows (`replay::snapshot_due`) and at phase
/// changes (chapters of the timeline).
struct Snapshots {
    /// The seq and phase at the last snapshot this writer knows of (a load wrote one if the
    /// tail was long, so starting from the head is right).
    seq: i64,
    phase: Option<crate::domain::Phase>,
}

impl Snapshots {
    fn new(writer: &Writer<State>) -> Self {
        Snapshots {
            seq: writer.head(),
            phase: writer.state().phase,
        }
    }

    async fn save_if_due(
        &mut self,
        store: &dyn crate::store::EventStore,
        id: PlanningId,
        writer: &Writer<State>,
    ) {
        let (head, state) = (writer.head(), writer.state());
        if self.phase.is_none() {
            // A planning created by this room: its creation opens no chapter, and the log's
            // growth counts from there.
            (self.seq, self.phase) = (head, state.phase);
        }
        let due = crate::engine::replay::snapshot_due(head, self.seq)
            || (state.phase != self.phase && head > self.seq);
        if due {
            crate::engine::replay::save_snapshot(store, id, head, state).await;
            self.seq = head;
            self.phase = state.phase;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Group commit against a real (in-memory SQLite) log. The test runtime is single-threaded,
    //! so commands submitted without an `.await` in between are all queued before the writer
    //! runs: it takes them as one batch, deterministically.

    use super::*;
    use crate::domain::command::{AmendGoal, CreatePlanning, DraftGoal, Rename, WithdrawItem};
    use crate::domain::ids::ItemId;
    use uuid::Uuid;

    async fn room() -> (Arc<Room>, Deps, ParticipantId) {
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        let deps = Deps {
            store,
            metrics: Arc::new(Metrics::default()),
            jobs_changed: Arc::new(tokio::sync::Notify::new()),
            clock: crate::engine::clock::Clock::system(),
            queue: 256,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        };
        let room = Room::spawn(deps.clone(), PlanningId(Uuid::new_v4()), Live::default());
        let fac = ParticipantId(Uuid::new_v4());
        let create = Command::CreatePlanning(CreatePlanning {
            title: "Batch".into(),
            creator_name: "Fay".into(),
            creator_token_hash: "a".repeat(64),
            deck: None,
            policy: None,
            member_invite_hash: "b".repeat(64),
            observer_invite_hash: "c".repeat(64),
        });
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
        Command::AmendGoal(AmendGoal {
            text: text.into(),
            note: None,
        })
    }

    #[tokio::test]
    async fn answers_reach_the_submitters_channel_in_order_naming_their_op() {
        let (room, _, fac) = room().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let cmds = [
            ("a", goal("x")),
            ("b", Command::DraftGoal(DraftGoal { text: "G".into() })),
        ];
        for (op, c) in cmds {
            room.submit_to(fac, op.into(), None, c, &tx)
                .expect("queued");
        }
        let a = rx.recv().await.expect("answer a");
        let b = rx.recv().await.expect("answer b");
        assert_eq!(a.op, "a");
        assert!(matches!(a.result, Err(RoomError::Domain(_))), "{a:?}");
        assert_eq!(b.op, "b");
        assert!(b.result.is_ok(), "{b:?}");
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
                    Command::DraftGoal(DraftGoal {
                        text: "Ship".into(),
                    }),
                ),
                ("b", goal("Ship it")),
                (
                    "c",
                    Command::DraftGoal(DraftGoal {
                        text: "Again".into(),
                    }),
                ),
                (
                    "d",
                    Command::WithdrawItem(WithdrawItem {
                        item: ItemId(Uuid::new_v4()),
                        reason: None,
                    }),
                ),
                ("e", Command::CommitGoal),
                ("f", goal("Too late")),
                (
                    "g",
                    Command::Rename(Rename {
                        name: "Fay B".into(),
                    }),
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
        assert_eq!(room.head(), 5);
        assert_same_as_the_log(&room, &deps).await;
    }

    /// The writer's projection follows every append, batched or not: a batch decided after a
    /// single command sees that command's events (a stale projection would accept an amend of
    /// a goal already committed).
    #[tokio::test]
    async fn batches_are_decided_on_the_projection_after_single_commands() {
        let (room, deps, fac) = room().await;
        let rename = |n: &str| Command::Rename(Rename { name: n.into() });
        let draft = Command::DraftGoal(DraftGoal {
            text: "Ship".into(),
        });
        let out = results(submit_all(
            &room,
            fac,
            vec![("a", draft), ("b", rename("A"))],
        ))
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        // One command alone (a batch of one), then a batch that depends on it.
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
        assert_same_as_the_log(&room, &deps).await;
    }

    /// Another writer (a twin of the room, as on another node) takes the head while this
    /// room's batch is decided on the old one: the batch is refused after the writer applied
    /// part of it, the writer takes its state back, catches up and decides each command again.
    #[tokio::test]
    async fn a_batch_refused_by_another_writer_is_decided_again_on_its_events() {
        let (room, deps, fac) = room().await;
        let twin = room.read(|l| {
            Room::spawn(
                deps.clone(),
                room.shared.id,
                Live {
                    head: l.head,
                    state: l.state.clone(),
                },
            )
        });
        let rename = |n: &str| Command::Rename(Rename { name: n.into() });
        twin.execute(fac, "twin".into(), None, rename("Z"))
            .await
            .expect("twin rename");
        // Decided on the old head, the draft and its amend are accepted and the draft applied;
        // a writer that kept it after the refused append would refuse the draft the second
        // time ("there is a draft already").
        let draft = Command::DraftGoal(DraftGoal {
            text: "Ship".into(),
        });
        let out = results(submit_all(
            &room,
            fac,
            vec![("a", draft), ("b", goal("Ship it")), ("c", rename("C"))],
        ))
        .await;
        let heads: Vec<i64> = out.iter().flatten().map(|a| a.head).collect();
        assert_eq!(heads, [3, 4, 5], "{out:?}");
        assert_eq!(deps.metrics.group_commits.load(Ordering::Relaxed), 0);
        assert!(deps.metrics.append_conflicts.load(Ordering::Relaxed) >= 1);
        // A stale expected head is answered as a conflict with the head the room now knows.
        let stale = room
            .execute(fac, "d".into(), Some(2), rename("D"))
            .await
            .expect_err("stale");
        assert!(
            matches!(
                stale,
                RoomError::Conflict {
                    expected: 2,
                    head: 5
                }
            ),
            "{stale:?}"
        );
        assert_same_as_the_log(&room, &deps).await;
    }

    /// A reveal cycle queued together — the round's last vote, the facilitator's close (the
    /// reveal) and the next round's opening — is decided in order and appended in one commit;
    /// each answer comes after that commit, and a retried command of the group applies once.
    #[tokio::test]
    async fn a_reveal_cycle_queued_together_is_one_commit_and_a_retry_applies_once() {
        use crate::domain::command::{
            CastVote, ChangePhase, CloseRound, Join, OpenRound, ProposeItem,
        };
        use crate::domain::event::ItemDraft;
        use crate::domain::ids::RoundId;
        let (room, deps, fac) = room().await;
        let draft = ItemDraft {
            title: "Login".into(),
            ..ItemDraft::default()
        };
        let proposed = room
            .execute(
                fac,
                "item".into(),
                None,
                Command::ProposeItem(ProposeItem { draft }),
            )
            .await
            .expect("item");
        let item = room.read(|l| *l.state.items.keys().next().expect("an item"));
        assert_eq!(proposed.head, 2);
        let to = crate::domain::Phase::Async;
        room.execute(
            fac,
            "phase".into(),
            None,
            Command::ChangePhase(ChangePhase { to }),
        )
        .await
        .expect("phase");
        // Two members: one votes, the other never does (a round does not close by itself).
        let (ann, bob) = (ParticipantId(Uuid::new_v4()), ParticipantId(Uuid::new_v4()));
        for (who, name, n) in [(ann, "Ann", 1), (bob, "Bob", 2)] {
            let join = Join {
                name: name.into(),
                invite_hash: "b".repeat(64),
                token_hash: format!("{n:064x}"),
            };
            room.execute(who, format!("join-{n}"), None, Command::Join(join))
                .await
                .expect("join");
        }
        room.execute(fac, "sync".into(), None, Command::StartSync)
            .await
            .expect("sync");
        let open = || {
            Command::OpenRound(OpenRound {
                items: vec![item],
                deck: None,
                deadline: None,
            })
        };
        room.execute(fac, "open-1".into(), None, open())
            .await
            .expect("open");
        let round: RoundId = room.read(|l| *l.state.rounds.keys().next().expect("a round"));
        let head = room.head();

        let vote = Command::CastVote(CastVote {
            round,
            item,
            card: "5".into(),
        });
        let close = Command::CloseRound(CloseRound { round });
        let mut rx = submit_all(&room, ann, vec![("vote", vote)]);
        rx.extend(submit_all(
            &room,
            fac,
            vec![("close", close), ("open-2", open())],
        ));
        let out = results(rx).await;
        let acks: Vec<Ack> = out.into_iter().map(|r| r.expect("accepted")).collect();
        assert_eq!(deps.metrics.group_commits.load(Ordering::Relaxed), 1);
        assert_eq!(
            deps.metrics
                .group_committed_commands
                .load(Ordering::Relaxed),
            3
        );
        // Consecutive spans, each acknowledged with the log holding it.
        assert_eq!(acks[0].first, head + 1);
        assert_eq!(acks[1].first, acks[0].head + 1);
        assert_eq!(acks[2].first, acks[1].head + 1);
        assert_eq!(acks[2].first, acks[2].head, "one RoundOpened");
        let stored = deps.store.head(room.shared.id.0).await.expect("head");
        assert_eq!(stored, acks[2].head);
        let log = deps
            .store
            .read(room.shared.id.0, head, 100)
            .await
            .expect("read");
        let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds.first(), Some(&"VoteCast"));
        assert!(kinds.contains(&"RoundClosed") && kinds.contains(&"VotesRevealed"));
        assert_eq!(kinds.last(), Some(&"RoundOpened"));

        // The opening sent again (its ack lost): the first answer, nothing written.
        let again = room
            .execute(fac, "open-2".into(), None, open())
            .await
            .expect("retry");
        assert!(again.duplicate, "{again:?}");
        assert_eq!((again.first, again.head), (acks[2].first, acks[2].head));
        assert_eq!(room.head(), acks[2].head);
        assert_eq!(
            deps.store.head(room.shared.id.0).await.expect("head"),
            acks[2].head
        );
        assert_same_as_the_log(&room, &deps).await;
    }

    /// Answers come on the connection's own channel, tagged with their op, in queue order.
    #[tokio::test]
    async fn answers_go_to_the_channel_of_the_submitter() {
        let (room, _deps, fac) = room().await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let draft = Command::DraftGoal(DraftGoal {
            text: "Ship".into(),
        });
        room.submit_to(fac, "a".into(), None, draft, &tx)
            .expect("queued");
        room.submit_to(fac, "b".into(), Some(1), goal("Stale"), &tx)
            .expect("queued");
        let a = rx.recv().await.expect("a");
        let b = rx.recv().await.expect("b");
        assert_eq!((a.op.as_str(), a.result.expect("a").head), ("a", 2));
        assert_eq!(b.op, "b");
        assert!(matches!(
            b.result,
            Err(RoomError::Conflict {
                expected: 1,
                head: 2
            })
        ));
    }

    /// The projection readers see equals one rebuilt from the log, at the same head.
    async fn assert_same_as_the_log(room: &Room, deps: &Deps) {
        let rebuilt = crate::engine::replay::state_at(&*deps.store, room.shared.id, None)
            .await
            .expect("replay");
        room.read(|l| {
            assert_eq!(l.head, rebuilt.head);
            assert_eq!(format!("{:?}", l.state), format!("{:?}", rebuilt.state));
        });
    }

    #[tokio::test]
    async fn a_batch_with_a_retry_falls_back_to_one_by_one() {
        let (room, deps, fac) = room().await;
        let first = room
            .execute(
                fac,
                "a".into(),
                None,
                Command::DraftGoal(DraftGoal {
                    text: "Ship".into(),
                }),
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
                    Command::DraftGoal(DraftGoal {
                        text: "Ship".into(),
                    }),
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
