//! One websocket connection: authenticate, subscribe, catch up, then one loop over its inputs.
//!
//! The connection subscribes to the room *before* reading anything (so no event can fall
//! between the catch-up and the live feed), drops event frames it already sent (`seq <= last`),
//! and writes frames straight into the socket while it takes them; frames it does not take wait
//! in a bounded queue ([`Outbox`]). When that queue is full the client is not reading: it is
//! closed with [`CLOSE_TOO_SLOW`](crate::ws::protocol::CLOSE_TOO_SLOW) and resumes later from its last seq. The room never waits
//! for a connection.
//!
//! The live phase is one `select!` over the room's feed, the socket, the answers to this
//! connection's commands (on a channel it owns), replies to its queries and the server's
//! shutdown. Every handler returns a [`Flow`]; `?` ends the connection with the [`End`] it
//! carries, which decides the close frame.

use crate::engine::app::{AppState, IpSlot};
use crate::engine::commands;
use crate::engine::feed::{EventOut, Frame, Outgoing};
use crate::engine::joins;
use crate::engine::room::{Ack, Answer, Answered, RoomError, WatchGuard, PAGE};
use crate::engine::views::{self, Take, ViewPush};
use crate::http::api::check_op;
use crate::http::caller::{client_ip, Caller};
use crate::http::error::ApiQuery;
use crate::http::error::{describe_room_error, ApiError};
use crate::read::view;
use crate::ws::outbox::{gated, Gone, Outbox};
use crate::ws::protocol::{
    ClientMsg, CommandFrame, Me, ServerMsg, CLOSE_GOING_AWAY, CLOSE_REVOKED, CLOSE_TOO_SLOW,
};
use crate::ws::socket::{CloseFrame, Message, Socket, Upgrade, Utf8Bytes, WsError};
use axum::extract::{ConnectInfo, State as AxState};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Frames taken from the room's feed per wake-up beyond the first (see `Conn::on_feed`); bounded
/// so one busy room cannot starve this connection's other inputs.
const FEED_BATCH: usize = 64;

/// How long a catch-up waits for room in a connection's queue before closing it as too slow.
const CATCH_UP_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// How long a connection, when the server shuts down, waits for the answers to the commands it
/// had queued before it closes (1001): a command committed just before the signal is then
/// acknowledged instead of left for the client to retry.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// tungstenite's read buffer (see `upgrade`): it zeroes this much before every read, and an
/// idle socket keeps it. [`crate::ws::socket::Io`] reads the socket in larger chunks
/// underneath, and a frame larger than this is still read whole (the buffer grows for it).
const READ_BUFFER: usize = 256;

/// Largest single frame the socket may buffer for writing (see `upgrade`).
const MAX_WRITE_BUFFER: usize = 256 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Last seq the client has seen (0 for none).
    #[serde(default)]
    pub since: i64,
    /// Keep a view: the server pushes the view and its changes (see `engine::views`).
    #[serde(default)]
    pub view: bool,
}

/// `GET /ws/plannings/{id}?token=…&since=N[&view=true]`
#[utoipa::path(
    get,
    path = "/ws/plannings/{id}",
    tag = "realtime",
    description = "Upgrades to the planning's websocket (RFC 6455); its frames are described in docs/protocol.md.",
    params(
        ("id" = String, Path, description = "A planning's id."),
        ("since" = Option<i64>, Query, description = "Last seq the client has applied (0 for none)."),
        ("view" = Option<bool>, Query, description = "Keep a view: the server pushes it and its changes."),
    ),
    security(("bearer" = []), ("token" = [])),
    responses(
        (status = 101, description = "Switching protocols: the websocket is open."),
        (status = "4XX", description = "Refused: `{error: {code, message}}`."),
    )
)]
pub async fn upgrade(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WsQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Result<Response, ApiError> {
    crate::http::guard::check_origin(&app, peer.as_ref().map(|p| p.0 .0.ip()), &headers)?;
    // Counted after authentication, so strangers cannot use up someone's slots; a server
    // without peer addresses (no `into_make_service_with_connect_info`) has no per-IP cap.
    let slot = match peer {
        Some(Extension(ConnectInfo(addr))) => {
            let ip = client_ip(&app, addr.ip(), &headers);
            Some(app.connection_slot(ip).ok_or_else(|| {
                ApiError::TooManyConnections(format!(
                    "at most {} open connections per address",
                    app.limits.max_connections_per_ip
                ))
            })?)
        }
        None => None,
    };
    let limits = &app.limits;
    let since = crate::http::error::in_range("since", q.since, 0, None)?;
    let config = WebSocketConfig::default()
        // A small read buffer: our client frames are small (see READ_BUFFER).
        .read_buffer_size(READ_BUFFER)
        // tungstenite hands every frame straight to `socket::Io`, which gathers a batch until
        // the flush and frees it after: tungstenite's own write buffer then only ever holds one
        // frame (it keeps its largest size for the connection's life).
        .write_buffer_size(0)
        // The cap on one buffered write must exceed the largest frame we send (a snapshot of a
        // big planning can be megabytes): a frame over it would fail the write and stall
        // the catch-up. Memory stays bounded by the outbound queue, not by this cap.
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        // Frames up to twice the limit are read and refused with an error frame; larger ones
        // fail the connection (close code 1009).
        .max_message_size(Some(limits.max_frame_bytes * 2))
        .max_frame_size(Some(limits.max_frame_bytes * 2));
    Ok(ws.on_upgrade(config, move |socket| {
        connection(app, caller, since, q.view, socket, slot)
    }))
}

/// Why a connection ends.
enum End {
    /// Send what is queued and this close frame, then close.
    Close(u16, &'static str),
    /// The client is not reading ([`CLOSE_TOO_SLOW`]): the queue is dropped, the close frame
    /// goes out if the client takes it within a short grace, then the socket is dropped.
    TooSlow,
    /// The client closed the connection or is gone: nothing more to send.
    Gone,
}

impl From<Gone> for End {
    fn from(_: Gone) -> End {
        End::Gone
    }
}

/// A handler's outcome: go on, or end the connection (`?` carries the end out).
type Flow = Result<(), End>;

fn revoked() -> End {
    End::Close(CLOSE_REVOKED, "access revoked")
}

/// The close for a frame the websocket library could not read (RFC 6455 §7.4.1): 1007 for a
/// text frame that is not UTF-8, 1009 for one over the size limit, 1001 when the connection
/// was silent past the idle timeout (see `server::listener`), 1002 otherwise.
fn read_failure(e: &WsError) -> End {
    match e {
        WsError::Utf8(_) => End::Close(1007, "text frames must be UTF-8"),
        WsError::Capacity(_) => End::Close(1009, "frame too large"),
        WsError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            End::Close(CLOSE_GOING_AWAY, "idle timeout: send a ping more often")
        }
        _ => End::Close(1002, "malformed frame"),
    }
}

/// The room's feed as this connection receives it.
type Feed = broadcast::Receiver<Arc<Outgoing>>;

/// A kept view: the heads of the parts the client holds, and the room's count of it.
struct KeptView {
    view: i64,
    mine: i64,
    _watch: WatchGuard,
}

/// The channel the room answers this connection's commands on.
type Answers = (UnboundedSender<Answered>, UnboundedReceiver<Answered>);

struct Conn {
    app: AppState,
    caller: Caller,
    out: Outbox,
    /// Made with the first command (an idle connection never needs it).
    answers: Option<Answers>,
    /// The `state_at` replay running beside the loop (at most one at a time), made with the
    /// first one.
    queries: Option<JoinSet<ServerMsg>>,
    /// Last event seq sent to this client.
    last: i64,
    /// The heads of the view parts this client holds, when it keeps a view.
    kept: Option<KeptView>,
    /// Acks waiting until the client has been sent the events they acknowledge.
    pending_acks: Vec<(String, Ack)>,
    /// Commands queued to the room and not answered yet.
    in_flight: usize,
    /// Counts against the client address's cap while the connection is open.
    _slot: Option<IpSlot>,
}

/// The connection's task. Built in a plain function: an `async fn` (or an `async` block given
/// them as arguments) keeps its arguments in its future beside the `Conn` they are moved into,
/// so every open connection would carry its socket and state twice.
fn connection(
    app: AppState,
    caller: Caller,
    since: i64,
    view: bool,
    socket: Socket,
    slot: Option<IpSlot>,
) -> impl std::future::Future<Output = ()> + Send {
    app.metrics.connections.fetch_add(1, Ordering::Relaxed);
    let mut conn = Conn {
        out: Outbox::new(
            socket,
            app.limits.outbound_queue.max(4),
            app.limits.outbound_queue_bytes,
        ),
        answers: None,
        queries: None,
        last: 0,
        kept: None,
        pending_acks: Vec::new(),
        in_flight: 0,
        _slot: slot,
        caller,
        app,
    };
    async move {
        // Subscribe first, then read: every event after `head` will arrive on `feed`.
        let (mut feed, head) = conn.caller.room.subscribe();
        let _presence = conn.caller.room.connect(conn.caller.participant);
        let mut shutdown = conn.app.shutdown.subscribe();
        // One future for the whole connection: a fresh `recv()` per loop turn would register
        // and unregister a waiter on the server-wide shutdown channel each time.
        let shutdown = shutdown.recv();
        tokio::pin!(shutdown);
        let Err(end) = conn.run(since, head, view, &mut feed, shutdown).await;
        conn.close(end).await;
        conn.app.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The next answer to one of this connection's commands; never, before its first command.
async fn next_answer(answers: &mut Option<Answers>) -> Answered {
    match answers {
        // This connection holds a sender: the channel never closes.
        Some((_, rx)) => match rx.recv().await {
            Some(answer) => answer,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The next reply to one of this connection's queries; never, while none runs.
async fn next_reply(queries: &mut Option<JoinSet<ServerMsg>>) -> ServerMsg {
    let Some(queries) = queries else {
        return std::future::pending().await;
    };
    loop {
        match queries.join_next().await {
            Some(Ok(reply)) => return reply,
            Some(Err(e)) => tracing::error!(error = %e, "state_at failed"),
            None => return std::future::pending().await,
        }
    }
}

/// The feed's next frame if one is waiting now.
fn try_next(feed: &mut Feed) -> Option<Result<Arc<Outgoing>, RecvError>> {
    match feed.try_recv() {
        Ok(o) => Some(Ok(o)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
    }
}

impl Conn {
    fn me(&self) -> crate::domain::ids::ParticipantId {
        self.caller.participant
    }

    /// Ends the connection: sends what is queued and the close frame `end` asks for.
    async fn close(&mut self, end: End) {
        let frame = match end {
            End::TooSlow => {
                let frame = CloseFrame {
                    code: CLOSE_TOO_SLOW.into(),
                    reason: Utf8Bytes::from_static("too slow: resume with since"),
                };
                return self.out.close_slow(frame).await;
            }
            End::Close(code, reason) => Some(CloseFrame {
                code: code.into(),
                reason: Utf8Bytes::from_static(reason),
            }),
            End::Gone => None,
        };
        self.out.close(frame).await;
    }

    /// The whole connection after the upgrade; it only ends with an [`End`].
    async fn run(
        &mut self,
        since: i64,
        head: i64,
        view: bool,
        feed: &mut Feed,
        shutdown: std::pin::Pin<&mut impl std::future::Future>,
    ) -> Result<Infallible, End> {
        // Boxed, like the other rare paths below: an async fn's state is as large as its
        // largest await, and every idle connection would otherwise carry the catch-up's
        // (reads from the log, snapshots) for its whole life.
        Box::pin(self.hello_and_catch_up(since, head, view)).await?;
        // Polled only when the signal fired (see `outbox`): not on every wake-up by the feed.
        let mut shutdown = gated(shutdown);
        loop {
            tokio::select! {
                frame = feed.recv() => self.on_feed(frame, feed).await?,
                incoming = self.out.recv() => self.on_incoming(incoming)?,
                answer = next_answer(&mut self.answers) => self.on_answer(*answer)?,
                reply = next_reply(&mut self.queries) => self.on_reply(&reply).await?,
                _ = &mut shutdown => {
                    Box::pin(self.answer_in_flight(feed)).await?;
                    return Err(End::Close(CLOSE_GOING_AWAY, "server shutting down"));
                }
            }
            // What this turn queued goes out now, with one flush.
            self.out.flush_now()?;
        }
    }

    /// On shutdown: waits (at most [`SHUTDOWN_GRACE`]) for the answers to the commands this
    /// connection queued, and sends them after the events they acknowledge. Frames from the
    /// client are no longer read: no new command is taken.
    async fn answer_in_flight(&mut self, feed: &mut Feed) -> Flow {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while self.in_flight > 0 || !self.pending_acks.is_empty() {
            tokio::select! {
                frame = feed.recv() => self.on_feed(frame, feed).await?,
                answer = next_answer(&mut self.answers) => self.on_answer(*answer)?,
                _ = tokio::time::sleep_until(deadline) => break,
            }
            self.out.flush_now()?;
        }
        Ok(())
    }

    /// Writes until at most `keep` frames are queued, giving up (too slow) after
    /// [`CATCH_UP_STALL`] without progress to that point.
    async fn drain_to(&mut self, keep: usize) -> Flow {
        if self.out.queued() <= keep {
            return Ok(());
        }
        self.drain().await
    }

    /// Writes the whole queue, giving up (too slow) after [`CATCH_UP_STALL`].
    async fn drain(&mut self) -> Flow {
        match tokio::time::timeout(CATCH_UP_STALL, self.out.drive()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(self.too_slow()),
        }
    }

    /// The client is not reading: counted, and closed with [`CLOSE_TOO_SLOW`](crate::ws::protocol::CLOSE_TOO_SLOW).
    fn too_slow(&self) -> End {
        self.app
            .metrics
            .slow_consumer_closes
            .fetch_add(1, Ordering::Relaxed);
        End::TooSlow
    }

    /// Queues a frame; a full queue means the client is not reading.
    fn push(&mut self, frame: &Frame) -> Flow {
        if self.out.push(frame) {
            Ok(())
        } else {
            Err(self.too_slow())
        }
    }

    fn send(&mut self, msg: &ServerMsg) -> Flow {
        self.push(&Frame::json(msg))
    }

    /// Queues a catch-up frame, *waiting* for room in the queue. A catch-up can be far longer
    /// than the queue, and nothing but this client waits on it (live events wait in the room's
    /// broadcast ring meanwhile), so it is paced by the client instead of failing with a full
    /// queue at once (which would also close the resume a 4008 asks for). A client that takes
    /// nothing for [`CATCH_UP_STALL`] is closed as too slow.
    async fn push_paced(&mut self, frame: Frame) -> Flow {
        if !self.out.has_room(&frame) {
            self.drain().await?;
        }
        self.push(&frame)
    }

    /// Whether this connection's token stopped working. A revocation is normally seen on the
    /// live feed (`Outgoing::revoked`), but one that happened between authentication and the
    /// subscription, or that fell out of the ring while lagging, only shows in the state.
    fn token_revoked(&self) -> bool {
        self.caller.room.read(|l| {
            l.state
                .participant_by_token(&self.caller.token_hash)
                .is_none()
        })
    }

    async fn hello_and_catch_up(&mut self, since: i64, head: i64, view: bool) -> Flow {
        // Subscribed already: a revocation after this check arrives on the live feed.
        if self.token_revoked() {
            return Err(revoked());
        }
        self.send(&ServerMsg::Hello {
            planning: self.caller.room.shared.id,
            you: Me {
                participant: self.caller.participant,
                name: self.caller.name.clone(),
                role: self.caller.role,
            },
            head,
            now: self.app.clock.now_micros(),
        })?;
        // Ahead of this node's head (a stale client of another incarnation) or far behind:
        // start over from a snapshot of the projection at `head`, if the room is still there.
        let far_behind = head - since > self.app.limits.snapshot_after;
        let snapshot = if since > head || far_behind {
            // Built once per head for everyone without a part of their own (`engine::joins`).
            joins::snapshot(
                &self.caller.room,
                self.me(),
                head,
                &self.app.metrics,
                |at, state| Frame::json(&ServerMsg::Snapshot { at, state }),
            )
        } else {
            None
        };
        match snapshot {
            Some(snapshot) => {
                self.push_paced(snapshot).await?;
                self.last = head;
            }
            // Close enough, or the room moved on between subscribe and now: replay events.
            None => {
                self.last = since.min(head);
                self.send_from_log(head).await?;
            }
        }
        if view {
            // The view at the room's head now (maybe past `head`: the events between follow).
            self.room_to_breathe().await?;
            self.keep_view()?;
        }
        self.push_paced(Frame::json(&ServerMsg::CaughtUp { head }))
            .await?;
        self.send_presence_set().await
    }

    /// Sends who is online now (as last announced); the presence changes on the feed, which
    /// this connection subscribed to before, keep it current. Sent again after a resync: the
    /// changes the ring dropped are lost, the ones left are those after this set. Paced like
    /// the catch-up it follows, which can leave the queue full, and followed by
    /// [`Conn::room_to_breathe`] before the live phase.
    async fn send_presence_set(&mut self) -> Flow {
        let set = Frame::json(&ServerMsg::Presence {
            online: Some(self.caller.room.announced_presence()),
            joined: Vec::new(),
            left: Vec::new(),
        });
        self.push_paced(set).await?;
        self.room_to_breathe().await
    }

    /// Waits (paced, like a catch-up) until half the queue is free. A catch-up leaves the
    /// queue full, and the live phase closes a client on a *full* queue: without this, the
    /// first live frame after a long catch-up (even a presence frame) would close with 4008
    /// a client that is reading perfectly well, e.g. one resuming after a 4008.
    async fn room_to_breathe(&mut self) -> Flow {
        self.drain_to(self.out.cap() / 2).await
    }

    /// Sends events `(last, until]` from the log, paged.
    async fn send_from_log(&mut self, until: i64) -> Flow {
        let store = self.app.registry.store().clone();
        let planning = self.caller.room.shared.id.0;
        while self.last < until {
            let limit = (until - self.last).min(PAGE);
            let page = store.read(planning, self.last, limit).await.map_err(|e| {
                tracing::warn!(error = %e, "catch-up read failed");
                End::Close(1011, "storage unavailable: reconnect")
            })?;
            if page.is_empty() {
                break;
            }
            let events = crate::engine::replay::envelopes(&page).map_err(|e| {
                tracing::error!(error = %e, "undecodable event");
                End::Close(1011, "internal error")
            })?;
            for e in &events {
                let frame = Frame::json(&view::event_frame(e, Some(self.me())));
                self.push_paced(frame).await?;
                self.last = e.seq;
            }
        }
        self.flush_acks()
    }

    /// After `Lagged`: send from the log what the ring dropped, up to the room's head now.
    async fn resync(&mut self) -> Flow {
        self.app
            .metrics
            .lagged_resyncs
            .fetch_add(1, Ordering::Relaxed);
        let head = self.caller.room.read(|l| l.head);
        if self.token_revoked() {
            return Err(revoked());
        }
        self.send_from_log(head).await?;
        if self.kept.is_some() {
            // The ring dropped view changes too.
            self.send_whole_view()?;
        }
        self.send_presence_set().await
    }

    /// Handles a frame from the room's feed, then whatever else is already waiting there
    /// (bounded): under load one wake-up queues a batch of frames, written with one flush.
    async fn on_feed(&mut self, first: Result<Arc<Outgoing>, RecvError>, feed: &mut Feed) -> Flow {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(frame) = next {
            match frame {
                Ok(o) => self.on_outgoing(&o)?,
                // Fell behind the ring: the log has everything we missed.
                Err(RecvError::Lagged(_)) => Box::pin(self.resync()).await?,
                Err(RecvError::Closed) => return Err(End::Close(CLOSE_GOING_AWAY, "room closed")),
            }
            taken += 1;
            next = if taken > FEED_BATCH {
                None
            } else {
                try_next(feed)
            };
        }
        Ok(())
    }

    fn on_outgoing(&mut self, o: &Outgoing) -> Flow {
        match o {
            Outgoing::Event(e) => self.on_event(e),
            Outgoing::Presence(frame) => self.push(frame),
            Outgoing::Views(v) => self.on_views(v),
        }
    }

    fn on_event(&mut self, o: &EventOut) -> Flow {
        if o.revoked.contains(&self.caller.token_hash) {
            // Deliver the removal itself, then close.
            let _ = self.push(o.frame_for(self.me()));
            return Err(revoked());
        }
        match o.seq {
            seq if seq <= self.last => Ok(()),
            // Cannot happen with a single writer per room; be safe rather than gappy.
            seq if seq != self.last + 1 => Err(End::Close(1011, "gap: resume with since")),
            seq => {
                self.push(o.frame_for(self.me()))?;
                self.last = seq;
                self.flush_acks()
            }
        }
    }

    /// Starts keeping a view: counted by the room from now on, and sent whole.
    fn keep_view(&mut self) -> Flow {
        let watch = self.caller.room.watch(self.me());
        self.kept = Some(KeptView {
            view: 0,
            mine: 0,
            _watch: watch,
        });
        self.send_whole_view()
    }

    fn send_whole_view(&mut self) -> Flow {
        let now = self.app.clock.now_micros();
        let (head, view, mine) = views::whole(&self.caller.room, self.me(), now, &self.app.metrics);
        if let Some(k) = self.kept.as_mut() {
            (k.view, k.mine) = (head, head);
        }
        self.push(&view)?;
        self.push(&mine)
    }

    fn on_views(&mut self, v: &ViewPush) -> Flow {
        let me = self.me();
        let Some(k) = self.kept.as_mut() else {
            return Ok(());
        };
        let (mut frames, mut missed) = (Vec::new(), false);
        for (have, stamped) in [
            (&mut k.view, v.shared.as_ref()),
            (&mut k.mine, v.mine.get(&me)),
        ] {
            let Some(s) = stamped else { continue };
            match views::take(*have, s) {
                Take::Skip => {}
                Take::Send => {
                    *have = s.at;
                    frames.push(&s.frame);
                }
                Take::Again => missed = true,
            }
        }
        if missed {
            return self.send_whole_view();
        }
        frames.into_iter().try_for_each(|f| self.push(f))
    }

    /// Handles an answer, then the others already waiting (a group commit answers many at
    /// once): their frames go out with one flush.
    fn on_answer(&mut self, answer: Answer) -> Flow {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.on_result(answer.op, answer.result)?;
        while let Some(Ok(answer)) = self.answers.as_mut().map(|(_, rx)| rx.try_recv()) {
            self.in_flight = self.in_flight.saturating_sub(1);
            let Answer { op, result } = *answer;
            self.on_result(op, result)?;
        }
        Ok(())
    }

    fn on_result(&mut self, op: String, result: Result<Ack, RoomError>) -> Flow {
        match result {
            Ok(ack) => {
                self.pending_acks.push((op, ack));
                self.flush_acks()
            }
            Err(e) => {
                commands::refused(&self.app, &e);
                let (_, code, message) = describe_room_error(&e);
                self.send(&ServerMsg::error(Some(op), &code, message))
            }
        }
    }

    /// Sends the acks whose events the client has been sent (events before their ack).
    fn flush_acks(&mut self) -> Flow {
        if self.pending_acks.is_empty() {
            return Ok(());
        }
        let last = self.last;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_acks)
            .into_iter()
            .partition(|(_, a)| a.head <= last);
        self.pending_acks = waiting;
        for (op, a) in ready {
            self.send(&ServerMsg::Ack {
                op,
                first: a.first,
                head: a.head,
                duplicate: a.duplicate,
            })?;
        }
        Ok(())
    }

    fn on_incoming(&mut self, incoming: Option<Result<Message, WsError>>) -> Flow {
        match incoming {
            Some(Ok(Message::Text(text))) => self.on_text(&text),
            Some(Ok(Message::Binary(_))) => {
                self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                self.send(&ServerMsg::error(
                    None,
                    "bad_frame",
                    "binary frames are not read: send each frame as JSON text",
                ))
            }
            Some(Ok(Message::Close(_))) | None => Err(End::Gone),
            Some(Ok(_)) => Ok(()), // ping/pong: answered by the library
            Some(Err(e)) => {
                self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "websocket read failed");
                Err(read_failure(&e))
            }
        }
    }

    fn on_text(&mut self, text: &str) -> Flow {
        let max = self.app.limits.max_frame_bytes;
        if text.len() > max {
            self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
            let message = format!("frames are limited to {max} bytes");
            return self.send(&ServerMsg::error(None, "frame_too_large", message));
        }
        // Read as a value first: a command frame of the wrong shape is answered with its `op`,
        // and every refusal gets the same plain words and codes as a REST body.
        let value = match crate::http::plain::parse(text.as_bytes(), "the frame") {
            Ok(v) => v,
            Err(e) => return self.refuse_frame(None, e),
        };
        match crate::http::plain::from_value(&value) {
            Ok(ClientMsg::Ping) => self.send(&ServerMsg::Pong),
            Ok(ClientMsg::StateAt { at, req }) => self.state_at(at, req),
            Ok(ClientMsg::Command {
                op,
                expected_seq,
                command,
            }) => self.command(op, expected_seq, *command),
            Err(e) => {
                let named = ["op", "req"].iter().find_map(|k| value.get(k)?.as_str());
                // A command frame read as such names the command's field that failed.
                let e = match value.get("type").and_then(|t| t.as_str()) {
                    Some("command") => crate::http::plain::from_value::<CommandFrame>(&value)
                        .err()
                        .unwrap_or(e),
                    _ => e,
                };
                self.refuse_frame(named.map(str::to_string), e)
            }
        }
    }

    /// Answers a frame the server cannot read: `bad_json` when it is not JSON, `invalid_body`
    /// when it is JSON of the wrong shape (the message names the field), as over REST.
    fn refuse_frame(&mut self, op: Option<String>, e: crate::http::plain::Unreadable) -> Flow {
        use crate::http::plain::Unreadable;
        self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
        let (code, message) = match e {
            Unreadable::Syntax(m) => ("bad_json", m),
            Unreadable::Shape(m) => ("invalid_body", m.replace("the body", "the frame")),
        };
        self.send(&ServerMsg::error(op, code, message))
    }

    /// Sends a `state_at` answer once the queue is empty: a client that asks for past views
    /// without reading them holds at most one queued and one waiting here (a catch-up's pace:
    /// closed as too slow after [`CATCH_UP_STALL`]), however many it asks for.
    async fn on_reply(&mut self, reply: &ServerMsg) -> Flow {
        self.drain().await?;
        self.push(&Frame::json(reply))
    }

    /// Starts a replay beside the loop; its reply arrives through `queries`. One at a time: a
    /// past view can be megabytes, and a client that asks for many without reading them
    /// would otherwise have them all rendered and queued at once.
    fn state_at(&mut self, at: i64, req: Option<String>) -> Flow {
        if self.queries.as_ref().is_some_and(|q| !q.is_empty()) {
            let message = "one state_at at a time: wait for the answer to the previous one";
            return self.send(&ServerMsg::error(req, "state_at_pending", message));
        }
        // Replays are costly reads: they take from the token's read budget, like `?at=`.
        if commands::admit_read(&self.app, &self.caller.token_hash).is_err() {
            let message = ApiError::TooManyReads.to_string();
            return self.send(&ServerMsg::error(req, "rate_limited", message));
        }
        let head = self.caller.room.head();
        if let Err(e) = crate::http::error::in_range("at", at, 0, Some(head)) {
            return self.send(&ServerMsg::error(req, "out_of_range", e.to_string()));
        }
        let store = self.app.registry.store().clone();
        let planning = self.caller.room.shared.id;
        let me = self.me();
        // The role now, not at connect: it may have changed since.
        let facilitator_now = self.caller.room.read(|l| {
            l.state
                .participant(me)
                .is_some_and(|p| p.role == crate::domain::Role::Facilitator)
        });
        let queries = self.queries.get_or_insert_with(JoinSet::new);
        queries.spawn(async move {
            match crate::engine::replay::state_at(&*store, planning, Some(at)).await {
                Ok(l) => ServerMsg::StateAt {
                    req,
                    at: l.head,
                    state: Box::new(view::past_state_view(&l.state, Some(me), facilitator_now)),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "state_at failed");
                    ServerMsg::error(req, "unavailable", "could not read the log")
                }
            }
        });
        Ok(())
    }

    /// Queues a command to the room's writer *here*, in the order the client sent them (a
    /// withdraw right after its vote must be decided after it); the room answers on this
    /// connection's channel.
    fn command(
        &mut self,
        op: String,
        expected: Option<i64>,
        command: crate::domain::command::Command,
    ) -> Flow {
        if let Err(ApiError::BadRequest(m)) = check_op(&op) {
            return self.send(&ServerMsg::error(Some(op), "bad_request", m));
        }
        if commands::admit(&self.app, &self.caller.token_hash).is_err() {
            return self.send(&ServerMsg::error(
                Some(op),
                "rate_limited",
                "too many commands: slow down and retry with the same op",
            ));
        }
        let (answers, _) = self.answers.get_or_insert_with(mpsc::unbounded_channel);
        let actor = self.caller.participant;
        match self
            .caller
            .room
            .submit_to(actor, op.clone(), expected, command, answers)
        {
            Ok(()) => {
                self.in_flight += 1;
                Ok(())
            }
            Err(e) => self.on_result(op, Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<F, Fut>(_: F) -> usize
    where
        F: FnOnce(AppState, Caller, i64, bool, Socket, Option<IpSlot>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// An idle connection's memory is mostly its task, whose size is the connection future's:
    /// the largest state it can be in, held for the connection's whole life. Rare, large
    /// states (the catch-up, a resync, the shutdown's wait) are boxed so that they do not set
    /// it; this fails when one is not.
    #[test]
    fn an_idle_connection_carries_no_rare_state() {
        let size = future_size(connection);
        assert!(
            size <= BOUND,
            "the connection future is {size} bytes (bound {BOUND})"
        );
    }

    /// 1,552 bytes when written (3,112 with the catch-up unboxed), with room for small growth.
    const BOUND: usize = 1_664;

    /// A connection that sent a command keeps its answer channel, whose unbounded queue
    /// allocates 32 slots at a time and keeps a block: with answers inline that was 3.6 KiB per
    /// commanding connection for its life. A slot is a pointer now.
    #[test]
    fn an_answer_channel_slot_is_a_pointer() {
        let slot = std::mem::size_of::<Answered>();
        assert!(
            slot <= std::mem::size_of::<usize>(),
            "a slot of the answer channel is {slot} bytes"
        );
    }
}
