//! One websocket connection: authenticate, subscribe, catch up, then one `select!` loop.
//!
//! The loop subscribes to the room *before* reading anything (so no event can fall between
//! the catch-up and the live feed), drops event frames it already sent (`seq <= last`), and
//! writes through a bounded queue that the same loop drains into the socket (one task per
//! connection: a frame costs one wake-up, not two, and an idle socket one task's memory). When
//! that queue is full the client is not reading: it is closed with [`CLOSE_TOO_SLOW`] and
//! resumes later from its last seq. The room never waits for a connection.

use super::api::{caller, check_op, Caller};
use super::error::ApiQuery;
use super::error::{describe_room_error, ApiError};
use super::protocol::{ClientMsg, Me, ServerMsg, CLOSE_GOING_AWAY, CLOSE_REVOKED, CLOSE_TOO_SLOW};
use super::rate::TokenBucket;
use super::room::{decode_all, Ack, RoomError, PAGE};
use super::view;
use super::AppState;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State as AxState};
use axum::http::{header, HeaderMap};
use axum::response::Response;
use axum::Extension;
use futures_util::{Sink, SinkExt, StreamExt};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};

/// Frames taken from the room's feed per wake-up beyond the first (see `Conn::on_feed`); bounded
/// so one busy room cannot starve this connection's reads.
const FEED_BATCH: usize = 64;

/// How long a catch-up waits for room in a connection's queue before closing it as too slow.
const CATCH_UP_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Bytes read from a socket at a time (see `upgrade`).
const READ_BUFFER: usize = 2 * 1024;

/// Largest single frame the socket may buffer for writing (see `upgrade`).
const MAX_WRITE_BUFFER: usize = 256 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    pub token: Option<String>,
    /// Last seq the client has seen (0 for none).
    #[serde(default)]
    pub since: i64,
}

/// `GET /ws/plannings/{id}?token=…&since=N`
pub async fn upgrade(
    AxState(app): AxState<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    check_origin(&app, &headers)?;
    let caller = caller(&app, &id, &headers, q.token.as_deref()).await?;
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
    Ok(ws
        // Small buffers: our frames are small, and the defaults (128 KiB each way) would cost
        // far more memory per connection than the protocol needs. The read size is also what
        // tungstenite zeroes before every read (and so the RSS an idle socket touches); a frame
        // larger than it is still read whole, the buffer grows for it.
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(8 * 1024)
        // The cap on one buffered write must exceed the largest frame we send (a snapshot of a
        // big planning can be megabytes): a frame over it fails the write and used to stall
        // catch-up. Memory stays bounded by the outbound queue, not by this cap.
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        // Frames up to twice the limit are read and refused with an error frame; larger ones
        // fail the connection (close code 1009).
        .max_message_size(limits.max_frame_bytes * 2)
        .max_frame_size(limits.max_frame_bytes * 2)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            app.metrics.connections.fetch_add(1, Ordering::Relaxed);
            connection(app.clone(), caller, since, socket).await;
            app.metrics.connections.fetch_sub(1, Ordering::Relaxed);
        }))
}

/// The client's address: the peer's, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries left of it are the client's
/// own claims, which anyone can forge).
fn client_ip(app: &AppState, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
    let trusted = &app.limits.trusted_proxies;
    if !trusted.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .rev()
        .find(|a| !trusted.contains(a))
        .unwrap_or(peer)
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
/// for a text frame that is not UTF-8, 1009 for one over the size limit, 1002 otherwise. The
/// library's error is matched by its message: axum does not expose its type.
fn read_failure_close(e: &axum::Error) -> Flow {
    let text = e.to_string();
    if text.contains("UTF-8") {
        Flow::Close(1007, "text frames must be UTF-8")
    } else if text.contains("Space limit exceeded") {
        Flow::Close(1009, "frame too large")
    } else {
        Flow::Close(1002, "malformed frame")
    }
}

enum Flow {
    Continue,
    Close(u16, &'static str),
}

struct Conn {
    app: AppState,
    caller: Caller,
    /// The socket's write half, written only by [`Conn::drive`].
    sink: futures_util::stream::SplitSink<WebSocket, Message>,
    /// Frames queued for the socket, at most `cap`.
    outbox: std::collections::VecDeque<Message>,
    cap: usize,
    /// Frames handed to the sink but not flushed yet.
    dirty: bool,
    /// Last event seq sent to this client.
    last: i64,
    /// Acks waiting until the client has been sent the events they acknowledge.
    pending_acks: Vec<(String, Ack)>,
}

async fn connection(app: AppState, caller: Caller, since: i64, socket: WebSocket) {
    let (sink, mut stream) = socket.split();

    // Subscribe first, then read: every event after `head` will arrive on `rx`.
    let (mut rx, head) = caller.room.subscribe();
    let _presence = caller.room.connect(caller.participant);
    let mut conn = Conn {
        app: app.clone(),
        sink,
        outbox: std::collections::VecDeque::new(),
        cap: app.limits.outbound_queue.max(4),
        dirty: false,
        last: 0,
        pending_acks: Vec::new(),
        caller,
    };
    // Boxed payloads: a channel allocates its first block of 32 slots up front, per
    // connection, so slot size is memory per idle connection.
    let (ack_tx, mut ack_rx) = mpsc::channel::<Box<(String, Result<Ack, RoomError>)>>(64);
    // Replies to queries (state_at), computed off this loop.
    let (reply_tx, mut reply_rx) = mpsc::channel::<Box<ServerMsg>>(16);
    let mut bucket = TokenBucket::new(app.limits.command_rate, app.limits.command_burst);
    let mut shutdown_rx = app.shutdown.subscribe();
    // One future for the whole connection: a fresh `recv()` per loop turn would register and
    // unregister a waiter on the server-wide shutdown channel (a lock shared by every
    // connection) for every frame sent.
    let shutdown = shutdown_rx.recv();
    tokio::pin!(shutdown);

    let mut flow = conn.hello_and_catch_up(since, head).await;
    while let Flow::Continue = flow {
        flow = tokio::select! {
            msg = rx.recv() => match msg {
                Ok(o) => conn.on_feed(&o, &mut rx).await,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Fell behind the ring: the log has everything we missed.
                    app.metrics.lagged_resyncs.fetch_add(1, Ordering::Relaxed);
                    conn.resync().await
                }
                Err(broadcast::error::RecvError::Closed) => Flow::Close(CLOSE_GOING_AWAY, "room closed"),
            },
            Some(acked) = ack_rx.recv() => {
                let (op, result) = *acked;
                conn.on_result(op, result)
            }
            Some(reply) = reply_rx.recv() => conn.send(&reply),
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => conn.on_text(&text, &mut bucket, &ack_tx, &reply_tx),
                Some(Ok(Message::Binary(_))) => {
                    app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                    conn.send(&ServerMsg::error(None, "bad_frame", "binary frames are not supported"))
                }
                Some(Ok(Message::Close(_))) | None => break,
                Some(Ok(_)) => Flow::Continue, // ping/pong: answered by the library
                Some(Err(e)) => {
                    app.metrics.bad_frames.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "websocket read failed");
                    read_failure_close(&e)
                }
            },
            _ = &mut shutdown => Flow::Close(CLOSE_GOING_AWAY, "server shutting down"),
            written = conn.drive(), if conn.has_output() => match written {
                Ok(()) => Flow::Continue,
                Err(_) => break, // the client is gone
            },
        };
    }
    if let Flow::Close(code, reason) = flow {
        if code == CLOSE_TOO_SLOW {
            // The client is not reading: a close frame would only queue behind the rest.
            // Dropping the socket closes it.
            return;
        }
        conn.outbox.push_back(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })));
    }
    // What is queued (the close frame included) goes out, for a while.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.drive()).await;
    let _ = conn.sink.close().await;
}

impl Conn {
    fn me(&self) -> crate::domain::ids::ParticipantId {
        self.caller.participant
    }

    /// Whether there is anything to write or flush.
    fn has_output(&self) -> bool {
        self.dirty || !self.outbox.is_empty()
    }

    /// Writes every queued frame and flushes them (batched: one flush for all). Cancel-safe,
    /// as a `select!` branch must be: a frame leaves the queue only once the sink has taken it,
    /// and `dirty` remembers taken frames that still need a flush.
    async fn drive(&mut self) -> Result<(), axum::Error> {
        std::future::poll_fn(|cx| {
            while !self.outbox.is_empty() {
                std::task::ready!(std::pin::Pin::new(&mut self.sink).poll_ready(cx))?;
                if let Some(frame) = self.outbox.pop_front() {
                    std::pin::Pin::new(&mut self.sink).start_send(frame)?;
                    self.dirty = true;
                }
            }
            std::task::ready!(std::pin::Pin::new(&mut self.sink).poll_flush(cx))?;
            self.dirty = false;
            std::task::Poll::Ready(Ok(()))
        })
        .await
    }

    /// Writes until at most `keep` frames are queued, giving up (too slow) after
    /// [`CATCH_UP_STALL`] without progress to that point.
    async fn drain_to(&mut self, keep: usize) -> Flow {
        if self.outbox.len() <= keep {
            return Flow::Continue;
        }
        match tokio::time::timeout(CATCH_UP_STALL, self.drive()).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) => Flow::Close(1000, "gone"),
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
    fn push(&mut self, text: Utf8Bytes) -> Flow {
        if self.outbox.len() >= self.cap {
            return self.too_slow();
        }
        self.outbox.push_back(Message::Text(text));
        Flow::Continue
    }

    fn send(&mut self, msg: &ServerMsg) -> Flow {
        self.push(Utf8Bytes::from(msg.to_text()))
    }

    /// Queues a catch-up frame, *waiting* for room in the queue. A catch-up can be far longer
    /// than the queue, and nothing but this client waits on it (live events wait in the room's
    /// broadcast ring meanwhile), so it is paced by the client instead of failing with a full
    /// queue at once. (It used `push`, so any catch-up of more than `outbound_queue` frames
    /// to a client slower than the log read was closed with 4008, including the resume the
    /// 4008 tells the client to do.) A client that takes nothing for [`CATCH_UP_STALL`] is
    /// closed as too slow.
    async fn push_paced(&mut self, text: String) -> Flow {
        if let f @ Flow::Close(..) = self.drain_to(self.cap - 1).await {
            return f;
        }
        self.outbox.push_back(Message::Text(Utf8Bytes::from(text)));
        Flow::Continue
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
        if let f @ Flow::Close(..) = self.send(&hello) {
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
                    let snapshot = ServerMsg::Snapshot { at: head, state }.to_text();
                    if let f @ Flow::Close(..) = self.push_paced(snapshot).await {
                        return f;
                    }
                    self.last = head;
                }
                // The room moved on between subscribe and now; replay events instead.
                None => {
                    self.last = since.min(head);
                    if let f @ Flow::Close(..) = self.send_from_log(head).await {
                        return f;
                    }
                }
            }
        } else {
            self.last = since;
            if let f @ Flow::Close(..) = self.send_from_log(head).await {
                return f;
            }
        }
        match self
            .push_paced(ServerMsg::CaughtUp { head }.to_text())
            .await
        {
            Flow::Continue => self.room_to_breathe().await,
            f => f,
        }
    }

    /// Waits (paced, like a catch-up) until half the queue is free. A catch-up leaves the
    /// queue full, and the live phase closes a client on a *full* queue: without this, the
    /// first live frame after a long catch-up (even a presence frame) would close with 4008
    /// a client that is reading perfectly well, e.g. one resuming after a 4008.
    async fn room_to_breathe(&mut self) -> Flow {
        self.drain_to(self.cap / 2).await
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
            let events = match decode_all(&page) {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::error!(error = %e, "undecodable event");
                    return Flow::Close(1011, "internal error");
                }
            };
            for (s, e) in page.iter().zip(&events) {
                let frame = view::event_frame(s, e, Some(self.me())).to_string();
                if let f @ Flow::Close(..) = self.push_paced(frame).await {
                    return f;
                }
                self.last = s.seq;
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
            Flow::Continue => self.room_to_breathe().await,
            f => f,
        }
    }

    /// Handles a frame from the room's feed, then whatever else is already waiting there
    /// (bounded), before going back to `select!`: under load one wake-up then queues a batch of
    /// frames, which are then written with one flush, instead of one round through every
    /// `select!` branch per frame.
    async fn on_feed(
        &mut self,
        first: &super::room::Outgoing,
        rx: &mut broadcast::Receiver<Arc<super::room::Outgoing>>,
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

    fn on_outgoing(&mut self, o: &super::room::Outgoing) -> Flow {
        if o.revoked.contains(&self.caller.token_hash) {
            // Deliver the removal itself, then close.
            let _ = self.push(o.frame_for(self.me()).clone());
            return Flow::Close(CLOSE_REVOKED, "access revoked");
        }
        match o.seq {
            None => self.push(o.shared.clone()),
            Some(seq) if seq <= self.last => Flow::Continue,
            Some(seq) => {
                if seq != self.last + 1 {
                    // Cannot happen with a single writer per room; be safe rather than gappy.
                    return Flow::Close(1011, "gap: resume with since");
                }
                let flow = self.push(o.frame_for(self.me()).clone());
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
                self.app
                    .metrics
                    .commands_rejected
                    .fetch_add(1, Ordering::Relaxed);
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
            if let f @ Flow::Close(..) = self.send(&msg) {
                return f;
            }
        }
        Flow::Continue
    }

    fn on_text(
        &mut self,
        text: &str,
        bucket: &mut TokenBucket,
        acks: &mpsc::Sender<Box<(String, Result<Ack, RoomError>)>>,
        replies: &mpsc::Sender<Box<ServerMsg>>,
    ) -> Flow {
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
                if !bucket.try_take() {
                    metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
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
                let replies = replies.clone();
                tokio::spawn(async move {
                    let reply = match crate::replay::state_at(&*store, planning, Some(at)).await {
                        Ok(l) => ServerMsg::StateAt {
                            req,
                            at: l.head,
                            state: view::past_state_view(&l.state, Some(me), facilitator_now),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "state_at failed");
                            ServerMsg::error(req, "unavailable", "could not read the log")
                        }
                    };
                    let _ = replies.send(Box::new(reply)).await;
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
                if !bucket.try_take() {
                    metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
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
                        let acks = acks.clone();
                        tokio::spawn(async move {
                            let result = pending.await.unwrap_or(Err(RoomError::Closed));
                            let _ = acks.send(Box::new((op, result))).await;
                        });
                        Flow::Continue
                    }
                    Err(e) => self.on_result(op, Err(e)),
                }
            }
        }
    }
}
