//! One websocket connection: authenticate, subscribe, catch up, then one loop (one task).
//!
//! The loop subscribes to the room *before* reading anything (so no event can fall between
//! the catch-up and the live feed), drops event frames it already sent (`seq <= last`), and
//! writes frames straight into the socket while it takes them; frames it does not take wait in
//! a bounded queue. When that queue is full the client is not reading: it is closed with
//! [`CLOSE_TOO_SLOW`] and resumes later from its last seq. The room never waits for a
//! connection.
//!
//! The loop's hot path is the room's feed: a wake-up by the feed takes a batch of frames,
//! writes them and flushes once, and polls nothing else (see [`Conn::poll_step`] and
//! [`socket::Flags`]); the socket's read side, command results and shutdown are polled only
//! when their own waker fired.

use crate::engine::app::AppState;
use crate::engine::commands;
use crate::engine::feed::Frame;
use crate::engine::room::{Ack, RoomError, PAGE};
use crate::http::api::check_op;
use crate::http::caller::{client_ip, Caller};
use crate::http::error::ApiQuery;
use crate::http::error::{describe_room_error, ApiError};
use crate::read::view;
use crate::ws::protocol::{
    ClientMsg, Me, ServerMsg, CLOSE_GOING_AWAY, CLOSE_REVOKED, CLOSE_TOO_SLOW,
};
use crate::ws::socket::{self, CloseFrame, Flags, Message, Socket, Upgrade, Utf8Bytes, WsError};
use axum::extract::{ConnectInfo, State as AxState};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::sync::{broadcast, mpsc};
use ws_server::tungstenite::protocol::WebSocketConfig;

/// Frames taken from the room's feed per wake-up beyond the first (see `Conn::on_feed`); bounded
/// so one busy room cannot starve this connection's reads.
const FEED_BATCH: usize = 64;

/// How long a catch-up waits for room in a connection's queue before closing it as too slow.
const CATCH_UP_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// tungstenite's read buffer (see `upgrade`): it zeroes this much before every read, and an
/// idle socket keeps it. [`socket::Io`] reads the socket in larger chunks underneath, and a
/// frame larger than this is still read whole (the buffer grows for it).
const READ_BUFFER: usize = 256;

/// Queued frames kept allocated once the queue is empty again (see `Out::poll_drive`).
const OUTBOX_KEEP: usize = 16;

/// Largest single frame the socket may buffer for writing (see `upgrade`).
const MAX_WRITE_BUFFER: usize = 256 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    /// Last seq the client has seen (0 for none).
    #[serde(default)]
    pub since: i64,
}

/// `GET /ws/plannings/{id}?token=…&since=N`
pub async fn upgrade(
    AxState(app): AxState<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<WsQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: Upgrade,
) -> Result<Response, ApiError> {
    check_origin(&app, &headers)?;
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
    let since = q.since.max(0);
    let config = WebSocketConfig::default()
        // A small read buffer: our client frames are small (see READ_BUFFER).
        .read_buffer_size(READ_BUFFER)
        // tungstenite hands every frame straight to `socket::Io`, which gathers a batch until
        // the flush and frees it after: tungstenite's own write buffer then only ever holds one
        // frame (it keeps its largest size for the connection's life).
        .write_buffer_size(0)
        // The cap on one buffered write must exceed the largest frame we send (a snapshot of a
        // big planning can be megabytes): a frame over it fails the write and used to stall
        // catch-up. Memory stays bounded by the outbound queue, not by this cap.
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        // Frames up to twice the limit are read and refused with an error frame; larger ones
        // fail the connection (close code 1009).
        .max_message_size(Some(limits.max_frame_bytes * 2))
        .max_frame_size(Some(limits.max_frame_bytes * 2));
    Ok(ws.on_upgrade(config, move |socket| async move {
        let _slot = slot;
        app.metrics.connections.fetch_add(1, Ordering::Relaxed);
        connection(app.clone(), caller, since, socket).await;
        app.metrics.connections.fetch_sub(1, Ordering::Relaxed);
    }))
}

/// Browsers send `Origin`; it must be this server's own host or an allowed origin.
/// Clients that send none (not browsers) are not subject to cross-site attacks and pass.
fn check_origin(app: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split("://").nth(1).unwrap_or(origin);
    if (!host.is_empty() && origin_host == host)
        || app.limits.allowed_origins.iter().any(|o| o == origin)
    {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "origin {origin} is not allowed"
        )))
    }
}

/// The close code for a frame the websocket library could not read (RFC 6455 §7.4.1): 1007
/// for a text frame that is not UTF-8, 1009 for one over the size limit, 1002 otherwise.
fn read_failure_close(e: &WsError) -> Flow {
    match e {
        WsError::Utf8(_) => Flow::Close(1007, "text frames must be UTF-8"),
        WsError::Capacity(_) => Flow::Close(1009, "frame too large"),
        _ => Flow::Close(1002, "malformed frame"),
    }
}

enum Flow {
    Continue,
    Close(u16, &'static str),
    /// The client closed the connection or is gone: nothing more to send.
    Gone,
}

/// What woke the connection loop (see [`Conn::poll_step`]).
enum Step {
    Feed(Result<Arc<crate::engine::feed::Outgoing>, broadcast::error::RecvError>),
    Flow(Flow),
}

/// The channel of command results and query replies to a connection's loop.
type Inbox = (mpsc::Sender<Box<Reply>>, mpsc::Receiver<Box<Reply>>);

/// A command's result or a query's reply, computed beside the loop.
enum Reply {
    Ack(String, Result<Ack, RoomError>),
    Msg(ServerMsg),
}

/// The socket's write side: frames go straight into the socket while it takes them (a batch
/// is flushed once, see [`Out::poll_drive`]); frames it does not take wait in `outbox`.
struct Out {
    socket: Socket,
    /// Frames the socket did not take yet, at most `cap`.
    outbox: VecDeque<Frame>,
    cap: usize,
    /// Frames handed to the socket but not flushed yet.
    dirty: bool,
    /// A write failed: the client is gone.
    broken: bool,
    /// Sets [`socket::WRITABLE`]: the waker of every write that could not finish.
    writable: Waker,
}

impl Out {
    /// Whether there is anything to write or flush.
    fn has_output(&self) -> bool {
        self.dirty || !self.outbox.is_empty()
    }

    /// Hands a frame to the socket, or queues it when the socket does not take it now; `false`
    /// when the queue is full (the client is not reading).
    fn push(&mut self, frame: &Frame) -> bool {
        if self.outbox.is_empty() && !self.broken {
            let mut cx = Context::from_waker(&self.writable);
            match self
                .socket
                .get_mut()
                .poll_append_text(&mut cx, frame.as_bytes())
            {
                Poll::Ready(Ok(())) => {
                    self.dirty = true;
                    return true;
                }
                Poll::Ready(Err(_)) => {
                    self.broken = true;
                    return true;
                }
                Poll::Pending => {}
            }
        }
        if self.outbox.len() >= self.cap {
            return false;
        }
        self.outbox.push_back(frame.clone());
        true
    }

    /// Writes every queued frame and flushes them (batched: one flush for all). A frame leaves
    /// the queue only once the socket has taken it, and `dirty` remembers taken frames that
    /// still need a flush, so stopping at any `Pending` loses nothing.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        if self.broken {
            return Poll::Ready(Err(WsError::AlreadyClosed));
        }
        while let Some(frame) = self.outbox.front() {
            std::task::ready!(self.socket.get_mut().poll_append_text(cx, frame.as_bytes()))?;
            self.outbox.pop_front();
            self.dirty = true;
            if self.outbox.is_empty() && self.outbox.capacity() > OUTBOX_KEEP {
                // A backlog (a catch-up, a slow moment) is over: give its memory back.
                self.outbox = VecDeque::new();
            }
        }
        if self.dirty {
            std::task::ready!(Pin::new(&mut self.socket).poll_flush(cx))?;
            self.dirty = false;
        }
        Poll::Ready(Ok(()))
    }

    /// [`Out::poll_drive`] once, without waiting: what the socket does not take now is
    /// written when [`socket::WRITABLE`] is set.
    fn drive_now(&mut self) {
        if !self.has_output() {
            return;
        }
        // Taken out for the call (no reference count traffic), put back after.
        let waker = std::mem::replace(&mut self.writable, Waker::noop().clone());
        if let Poll::Ready(Err(_)) = self.poll_drive(&mut Context::from_waker(&waker)) {
            self.broken = true;
        }
        self.writable = waker;
    }

    async fn drive(&mut self) -> Result<(), WsError> {
        std::future::poll_fn(|cx| self.poll_drive(cx)).await
    }
}

struct Conn {
    app: AppState,
    caller: Caller,
    out: Out,
    /// Which wake-up sources fired, and the waker that sets [`socket::SIDE`].
    flags: Arc<Flags>,
    side: Waker,
    /// Alternates the feed and the other sources first, so neither starves the other.
    feed_first: bool,
    /// Command results and query replies, created with the first command or query (an idle
    /// connection never needs it).
    inbox: Option<Inbox>,
    /// Last event seq sent to this client.
    last: i64,
    /// Acks waiting until the client has been sent the events they acknowledge.
    pending_acks: Vec<(String, Ack)>,
}

async fn connection(app: AppState, caller: Caller, since: i64, socket: Socket) {
    // Subscribe first, then read: every event after `head` will arrive on `rx`.
    let (mut rx, head) = caller.room.subscribe();
    let _presence = caller.room.connect(caller.participant);
    let (flags, side, writable) = Flags::new();
    let mut conn = Conn {
        out: Out {
            socket,
            outbox: VecDeque::new(),
            cap: app.limits.outbound_queue.max(4),
            dirty: false,
            broken: false,
            writable,
        },
        flags,
        side,
        feed_first: false,
        inbox: None,
        last: 0,
        pending_acks: Vec::new(),
        caller,
        app: app.clone(),
    };
    let mut shutdown_rx = app.shutdown.subscribe();
    // One future for the whole connection: a fresh `recv()` per loop turn would register and
    // unregister a waiter on the server-wide shutdown channel (a lock shared by every
    // connection) each time.
    let shutdown = shutdown_rx.recv();
    tokio::pin!(shutdown);

    let mut flow = conn.hello_and_catch_up(since, head).await;
    while let Flow::Continue = flow {
        let step = {
            let recv = rx.recv();
            tokio::pin!(recv);
            std::future::poll_fn(|cx| conn.poll_step(cx, recv.as_mut(), shutdown.as_mut())).await
        };
        flow = match step {
            Step::Feed(Ok(o)) => conn.on_feed(&o, &mut rx).await,
            Step::Feed(Err(broadcast::error::RecvError::Lagged(_))) => {
                // Fell behind the ring: the log has everything we missed.
                app.metrics.lagged_resyncs.fetch_add(1, Ordering::Relaxed);
                conn.resync().await
            }
            Step::Feed(Err(broadcast::error::RecvError::Closed)) => {
                Flow::Close(CLOSE_GOING_AWAY, "room closed")
            }
            Step::Flow(f) => f,
        };
        // What this turn queued goes out now, with one flush.
        conn.out.drive_now();
        if conn.out.broken {
            flow = Flow::Gone;
        }
    }
    let close = match flow {
        Flow::Close(CLOSE_TOO_SLOW, _) => {
            // The client is not reading: a close frame would only queue behind the rest.
            // Dropping the socket closes it.
            return;
        }
        Flow::Close(code, reason) => Some(CloseFrame {
            code: code.into(),
            reason: Utf8Bytes::from_static(reason),
        }),
        Flow::Continue | Flow::Gone => None,
    };
    // What is queued (the close frame included) goes out, for a while.
    let out = &mut conn.out;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        out.drive().await?;
        match close {
            Some(c) => out.socket.send(Message::Close(Some(c))).await,
            None => Ok(()),
        }
    })
    .await;
    let _ = SinkExt::close(&mut out.socket).await;
}

impl Conn {
    fn me(&self) -> crate::domain::ids::ParticipantId {
        self.caller.participant
    }

    /// Waits for the next thing to do. Only a feed frame is returned to the (async) caller;
    /// socket reads, results and replies are handled here, as they come. A source other than
    /// the feed is polled only when its waker set its flag: waking up for a feed frame costs
    /// a poll of the feed, not of every source.
    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        mut recv: Pin<
            &mut impl Future<
                Output = Result<Arc<crate::engine::feed::Outgoing>, broadcast::error::RecvError>,
            >,
        >,
        mut shutdown: Pin<&mut impl Future>,
    ) -> Poll<Step> {
        self.flags.register(cx.waker());
        self.feed_first = !self.feed_first;
        if self.feed_first {
            if let Poll::Ready(m) = recv.as_mut().poll(cx) {
                return Poll::Ready(Step::Feed(m));
            }
        }
        while self.flags.take(socket::SIDE) {
            if let Some(flow) = self.poll_side(shutdown.as_mut()) {
                return Poll::Ready(Step::Flow(flow));
            }
        }
        // Frames written above (acks, replies, errors) are flushed now; a backlog is written
        // when the socket can take more.
        let writable = self.flags.take(socket::WRITABLE);
        if self.out.dirty || (writable && self.out.has_output()) {
            self.out.drive_now();
            if self.out.broken {
                return Poll::Ready(Step::Flow(Flow::Gone));
            }
        }
        if !self.feed_first {
            if let Poll::Ready(m) = recv.poll(cx) {
                return Poll::Ready(Step::Feed(m));
            }
        }
        Poll::Pending
    }

    /// Polls the shutdown signal, the inbox and the socket's read side (with the [`socket::SIDE`]
    /// waker), handling what is ready; a flow other than `Continue` ends the loop.
    fn poll_side(&mut self, shutdown: Pin<&mut impl Future>) -> Option<Flow> {
        let mut cx = Context::from_waker(&self.side);
        if shutdown.poll(&mut cx).is_ready() {
            return Some(Flow::Close(CLOSE_GOING_AWAY, "server shutting down"));
        }
        if let Some((_, inbox)) = &mut self.inbox {
            if let Poll::Ready(Some(reply)) = inbox.poll_recv(&mut cx) {
                // There may be more: look again.
                self.flags.set(socket::SIDE);
                let flow = match *reply {
                    Reply::Ack(op, result) => self.on_result(op, result),
                    Reply::Msg(msg) => self.send(&msg),
                };
                if let f @ (Flow::Close(..) | Flow::Gone) = flow {
                    return Some(f);
                }
            }
        }
        let mut cx = Context::from_waker(&self.side);
        let incoming = match Pin::new(&mut self.out.socket).poll_next(&mut cx) {
            Poll::Ready(incoming) => incoming,
            Poll::Pending => return None,
        };
        self.flags.set(socket::SIDE);
        let flow = match incoming {
            Some(Ok(Message::Text(text))) => self.on_text(&text),
            Some(Ok(Message::Binary(_))) => {
                self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                self.send(&ServerMsg::error(
                    None,
                    "bad_frame",
                    "binary frames are not supported",
                ))
            }
            Some(Ok(Message::Close(_))) | None => Flow::Gone,
            Some(Ok(_)) => Flow::Continue, // ping/pong: answered by the library
            Some(Err(e)) => {
                self.app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "websocket read failed");
                read_failure_close(&e)
            }
        };
        match flow {
            Flow::Continue => None,
            f => Some(f),
        }
    }

    /// The sender for command results and query replies (the channel is made on first use).
    fn inbox(&mut self) -> mpsc::Sender<Box<Reply>> {
        if let Some((tx, _)) = &self.inbox {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(64);
        self.inbox = Some((tx.clone(), rx));
        // The receiver has not been polled yet, so no waker would tell of its first reply.
        self.flags.set(socket::SIDE);
        tx
    }

    /// Writes until at most `keep` frames are queued, giving up (too slow) after
    /// [`CATCH_UP_STALL`] without progress to that point.
    async fn drain_to(&mut self, keep: usize) -> Flow {
        if self.out.outbox.len() <= keep {
            return Flow::Continue;
        }
        match tokio::time::timeout(CATCH_UP_STALL, self.out.drive()).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) => Flow::Gone,
            Err(_) => self.too_slow(),
        }
    }

    /// The client is not reading: counted, and closed with [`CLOSE_TOO_SLOW`].
    fn too_slow(&self) -> Flow {
        self.app
            .metrics
            .slow_consumer_closes
            .fetch_add(1, Ordering::Relaxed);
        Flow::Close(CLOSE_TOO_SLOW, "too slow: resume with since")
    }

    /// Queues a frame; a full queue means the client is not reading.
    fn push(&mut self, frame: &Frame) -> Flow {
        if self.out.push(frame) {
            Flow::Continue
        } else {
            self.too_slow()
        }
    }

    fn send(&mut self, msg: &ServerMsg) -> Flow {
        self.push(&Frame::json(msg))
    }

    /// Queues a catch-up frame, *waiting* for room in the queue. A catch-up can be far longer
    /// than the queue, and nothing but this client waits on it (live events wait in the room's
    /// broadcast ring meanwhile), so it is paced by the client instead of failing with a full
    /// queue at once. (It used `push`, so any catch-up of more than `outbound_queue` frames
    /// to a client slower than the log read was closed with 4008, including the resume the
    /// 4008 tells the client to do.) A client that takes nothing for [`CATCH_UP_STALL`] is
    /// closed as too slow.
    async fn push_paced(&mut self, frame: Frame) -> Flow {
        if let f @ (Flow::Close(..) | Flow::Gone) = self.drain_to(self.out.cap - 1).await {
            return f;
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

    async fn hello_and_catch_up(&mut self, since: i64, head: i64) -> Flow {
        // Subscribed already: a revocation after this check arrives on the live feed.
        if self.token_revoked() {
            return Flow::Close(CLOSE_REVOKED, "access revoked");
        }
        let hello = ServerMsg::Hello {
            planning: self.caller.room.shared.id,
            you: Me {
                participant: self.caller.participant,
                name: self.caller.name.clone(),
                role: self.caller.role,
            },
            head,
        };
        if let f @ (Flow::Close(..) | Flow::Gone) = self.send(&hello) {
            return f;
        }
        let far_behind = head - since > self.app.limits.snapshot_after;
        if since > head || far_behind {
            // Ahead of this node's head (a stale client of another incarnation) or far behind:
            // start over from a snapshot of the projection at `head`.
            let state = self
                .caller
                .room
                .read(|l| (l.head == head).then(|| view::state_view(&l.state, Some(self.me()))));
            match state {
                Some(state) => {
                    let snapshot = Frame::json(&ServerMsg::Snapshot {
                        at: head,
                        state: Box::new(state),
                    });
                    if let f @ (Flow::Close(..) | Flow::Gone) = self.push_paced(snapshot).await {
                        return f;
                    }
                    self.last = head;
                }
                // The room moved on between subscribe and now; replay events instead.
                None => {
                    self.last = since.min(head);
                    if let f @ (Flow::Close(..) | Flow::Gone) = self.send_from_log(head).await {
                        return f;
                    }
                }
            }
        } else {
            self.last = since;
            if let f @ (Flow::Close(..) | Flow::Gone) = self.send_from_log(head).await {
                return f;
            }
        }
        if let f @ (Flow::Close(..) | Flow::Gone) = self
            .push_paced(Frame::json(&ServerMsg::CaughtUp { head }))
            .await
        {
            return f;
        }
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
        match self.push_paced(set).await {
            Flow::Continue => self.room_to_breathe().await,
            f => f,
        }
    }

    /// Waits (paced, like a catch-up) until half the queue is free. A catch-up leaves the
    /// queue full, and the live phase closes a client on a *full* queue: without this, the
    /// first live frame after a long catch-up (even a presence frame) would close with 4008
    /// a client that is reading perfectly well, e.g. one resuming after a 4008.
    async fn room_to_breathe(&mut self) -> Flow {
        self.drain_to(self.out.cap / 2).await
    }

    /// Sends events `(last, until]` from the log, paged.
    async fn send_from_log(&mut self, until: i64) -> Flow {
        let store = self.app.registry.store().clone();
        let planning = self.caller.room.shared.id.0;
        while self.last < until {
            let limit = (until - self.last).min(PAGE);
            let page = match store.read(planning, self.last, limit).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "catch-up read failed");
                    return Flow::Close(1011, "storage unavailable: reconnect");
                }
            };
            if page.is_empty() {
                break;
            }
            let events = match crate::engine::replay::envelopes(&page) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable event");
                    return Flow::Close(1011, "internal error");
                }
            };
            for e in &events {
                let frame = Frame::json(&view::event_frame(e, Some(self.me())));
                if let f @ (Flow::Close(..) | Flow::Gone) = self.push_paced(frame).await {
                    return f;
                }
                self.last = e.seq;
            }
        }
        self.flush_acks()
    }

    /// After `Lagged`: send from the log what the ring dropped, up to the room's head now.
    async fn resync(&mut self) -> Flow {
        let head = self.caller.room.read(|l| l.head);
        if self.token_revoked() {
            return Flow::Close(CLOSE_REVOKED, "access revoked");
        }
        match self.send_from_log(head).await {
            Flow::Continue => self.send_presence_set().await,
            f => f,
        }
    }

    /// Handles a frame from the room's feed, then whatever else is already waiting there
    /// (bounded), before going back to `select!`: under load one wake-up then queues a batch of
    /// frames, which are then written with one flush, instead of one round through every
    /// `select!` branch per frame.
    async fn on_feed(
        &mut self,
        first: &crate::engine::feed::Outgoing,
        rx: &mut broadcast::Receiver<Arc<crate::engine::feed::Outgoing>>,
    ) -> Flow {
        let mut flow = self.on_outgoing(first);
        for _ in 0..FEED_BATCH {
            if !matches!(flow, Flow::Continue) {
                break;
            }
            flow = match rx.try_recv() {
                Ok(o) => self.on_outgoing(&o),
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.app
                        .metrics
                        .lagged_resyncs
                        .fetch_add(1, Ordering::Relaxed);
                    self.resync().await
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    Flow::Close(CLOSE_GOING_AWAY, "room closed")
                }
            };
        }
        flow
    }

    fn on_outgoing(&mut self, o: &crate::engine::feed::Outgoing) -> Flow {
        if o.revoked.contains(&self.caller.token_hash) {
            // Deliver the removal itself, then close.
            let _ = self.push(o.frame_for(self.me()));
            return Flow::Close(CLOSE_REVOKED, "access revoked");
        }
        match o.seq {
            None => self.push(&o.shared),
            Some(seq) if seq <= self.last => Flow::Continue,
            Some(seq) => {
                if seq != self.last + 1 {
                    // Cannot happen with a single writer per room; be safe rather than gappy.
                    return Flow::Close(1011, "gap: resume with since");
                }
                let flow = self.push(o.frame_for(self.me()));
                self.last = seq;
                if let Flow::Continue = flow {
                    self.flush_acks()
                } else {
                    flow
                }
            }
        }
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
            return Flow::Continue;
        }
        let last = self.last;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_acks)
            .into_iter()
            .partition(|(_, a)| a.head <= last);
        self.pending_acks = waiting;
        for (op, a) in ready {
            let msg = ServerMsg::Ack {
                op,
                first: a.first,
                head: a.head,
                duplicate: a.duplicate,
            };
            if let f @ (Flow::Close(..) | Flow::Gone) = self.send(&msg) {
                return f;
            }
        }
        Flow::Continue
    }

    fn on_text(&mut self, text: &str) -> Flow {
        let metrics = self.app.metrics.clone();
        if text.len() > self.app.limits.max_frame_bytes {
            metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
            return self.send(&ServerMsg::error(
                None,
                "frame_too_large",
                format!(
                    "frames are limited to {} bytes",
                    self.app.limits.max_frame_bytes
                ),
            ));
        }
        let msg: ClientMsg = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => {
                metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                return self.send(&ServerMsg::error(None, "bad_frame", e.to_string()));
            }
        };
        match msg {
            ClientMsg::Ping => self.send(&ServerMsg::Pong),
            ClientMsg::StateAt { at, req } => {
                // Replays cost reads: they share the command budget.
                if commands::admit(&self.app, &self.caller.token_hash).is_err() {
                    return self.send(&ServerMsg::error(req, "rate_limited", "too many requests"));
                }
                let head = self.caller.room.head();
                if at < 0 || at > head {
                    return self.send(&ServerMsg::error(
                        req,
                        "bad_request",
                        format!("at must be 0 to {head}"),
                    ));
                }
                let store = self.app.registry.store().clone();
                let planning = self.caller.room.shared.id;
                let me = self.caller.participant;
                // The role now, not at connect: it may have changed since.
                let facilitator_now = self.caller.room.read(|l| {
                    l.state
                        .participant(me)
                        .is_some_and(|p| p.role == crate::domain::Role::Facilitator)
                });
                let replies = self.inbox();
                tokio::spawn(async move {
                    let reply =
                        match crate::engine::replay::state_at(&*store, planning, Some(at)).await {
                            Ok(l) => ServerMsg::StateAt {
                                req,
                                at: l.head,
                                state: Box::new(view::past_state_view(
                                    &l.state,
                                    Some(me),
                                    facilitator_now,
                                )),
                            },
                            Err(e) => {
                                tracing::warn!(error = %e, "state_at failed");
                                ServerMsg::error(req, "unavailable", "could not read the log")
                            }
                        };
                    let _ = replies.send(Box::new(Reply::Msg(reply))).await;
                });
                Flow::Continue
            }
            ClientMsg::Command {
                op,
                expected_seq,
                command,
            } => {
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
                // Queued to the room's writer *here*, in the order the client sent them (a
                // withdraw right after its vote must be decided after it); only the wait for
                // the result runs beside this loop, which keeps draining the fan-out.
                let actor = self.caller.participant;
                match self
                    .caller
                    .room
                    .submit(actor, op.clone(), expected_seq, *command)
                {
                    Ok(pending) => {
                        let acks = self.inbox();
                        tokio::spawn(async move {
                            let result = pending.await.unwrap_or(Err(RoomError::Closed));
                            let _ = acks.send(Box::new(Reply::Ack(op, result))).await;
                        });
                        Flow::Continue
                    }
                    Err(e) => self.on_result(op, Err(e)),
                }
            }
        }
    }
}
