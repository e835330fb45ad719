//! One connection's socket as its loop sees it ([`Outbox`]): frames go straight into the socket
//! while it takes them and wait in a bounded queue while it does not; a batch is flushed once.
//!
//! The wake flags ([`Gate`]): a connection's hot path is the room's feed, and a wake-up by the
//! feed should cost a poll of the feed, not also of the socket's read side and of the
//! server-wide shutdown signal (whose every poll locks a channel all connections share). So the
//! socket and the shutdown signal are polled with wakers of their own, which record that they
//! fired; until one did, polling its future returns `Pending` at once.

use crate::engine::feed::Frame;
use crate::ws::socket::{CloseFrame, Message, Socket, WsError};
use futures_util::task::AtomicWaker;
use futures_util::{Sink, SinkExt, Stream};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

/// Queued frames kept allocated once the queue is empty again (see [`Outbox::poll_drive`]).
const QUEUE_KEEP: usize = 16;

/// How long a closing connection may take to send what is queued and its close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How long a client that is not reading gets to take its close frame (4008) before the TCP
/// connection is dropped under it.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(2);

/// A write failed: the client is gone.
#[derive(Debug)]
pub struct Gone;

/// Whether a source fired since its future last looked, and the task to wake when it does.
struct Fired {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Fired {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// A source's own waker and the flag it sets (see the module doc).
struct Gate {
    flag: Arc<Fired>,
    waker: Waker,
}

impl Gate {
    /// Starts fired: the first poll registers the source's waker.
    fn new() -> Self {
        let flag = Arc::new(Fired {
            fired: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        Gate {
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// Whether the source fired since the last look; remembers `cx`'s task to wake when it does.
    fn fired(&self, cx: &Context<'_>) -> bool {
        self.flag.task.register(cx.waker());
        self.flag.fired.swap(false, Ordering::AcqRel)
    }

    /// Looks again next time: a source that was ready may have more.
    fn again(&self) {
        self.flag.fired.store(true, Ordering::Release);
    }
}

/// A future polled only after its own waker fired (see the module doc).
pub struct Gated<F> {
    fut: F,
    gate: Gate,
}

/// `fut`, polled only after its own waker fired.
pub fn gated<F: Future + Unpin>(fut: F) -> Gated<F> {
    Gated {
        fut,
        gate: Gate::new(),
    }
}

impl<F: Future + Unpin> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if !this.gate.fired(cx) {
            return Poll::Pending;
        }
        let polled = Pin::new(&mut this.fut).poll(&mut Context::from_waker(&this.gate.waker));
        if polled.is_ready() {
            this.gate.again();
        }
        polled
    }
}

/// The socket, its queue of frames it did not take yet, and the flag of its waker.
pub struct Outbox {
    socket: Socket,
    /// Frames the socket did not take yet, at most `cap` of them and `cap_bytes` bytes (or one
    /// frame larger than that).
    queue: VecDeque<Frame>,
    cap: usize,
    cap_bytes: usize,
    /// Bytes of the frames in `queue`.
    queued_bytes: usize,
    /// Frames handed to the socket but not flushed yet.
    dirty: bool,
    /// A write failed: the client is gone.
    broken: bool,
    /// Fired when the socket may be read or take more bytes.
    gate: Gate,
}

impl Outbox {
    pub fn new(socket: Socket, cap: usize, cap_bytes: usize) -> Self {
        Outbox {
            socket,
            queue: VecDeque::new(),
            cap,
            cap_bytes,
            queued_bytes: 0,
            dirty: false,
            broken: false,
            gate: Gate::new(),
        }
    }

    /// How many frames the queue holds at most.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many frames wait in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether the queue takes `frame` now: under both caps, or empty (a frame larger than the
    /// byte cap, a snapshot of a big planning, goes out alone).
    pub fn has_room(&self, frame: &Frame) -> bool {
        self.queue.is_empty()
            || (self.queue.len() < self.cap
                && self.queued_bytes + frame.as_bytes().len() <= self.cap_bytes)
    }

    /// Hands a frame to the socket, or queues it when the socket does not take it now; `false`
    /// when the queue is full (the client is not reading).
    pub fn push(&mut self, frame: &Frame) -> bool {
        if self.queue.is_empty() && !self.broken {
            let mut cx = Context::from_waker(&self.gate.waker);
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
        if !self.has_room(frame) {
            return false;
        }
        self.queued_bytes += frame.as_bytes().len();
        self.queue.push_back(frame.clone());
        true
    }

    /// Writes every queued frame and flushes them (batched: one flush for all). A frame leaves
    /// the queue only once the socket has taken it, and `dirty` remembers taken frames that
    /// still need a flush, so stopping at any `Pending` loses nothing.
    fn poll_drive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        if self.broken {
            return Poll::Ready(Err(WsError::AlreadyClosed));
        }
        while let Some(frame) = self.queue.front() {
            ready!(self.socket.get_mut().poll_append_text(cx, frame.as_bytes()))?;
            if let Some(sent) = self.queue.pop_front() {
                self.queued_bytes -= sent.as_bytes().len();
            }
            self.dirty = true;
            if self.queue.is_empty() && self.queue.capacity() > QUEUE_KEEP {
                // A backlog (a catch-up, a slow moment) is over: give its memory back.
                self.queue = VecDeque::new();
            }
        }
        if self.dirty {
            ready!(Pin::new(&mut self.socket).poll_flush(cx))?;
            self.dirty = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes and flushes what the socket takes now, without waiting: the rest goes out when
    /// the socket's waker fires (see [`Outbox::recv`]).
    pub fn flush_now(&mut self) -> Result<(), Gone> {
        if self.dirty || !self.queue.is_empty() {
            self.with_gate_waker(|out, cx| {
                if let Poll::Ready(Err(_)) = out.poll_drive(cx) {
                    out.broken = true;
                }
            });
        }
        if self.broken {
            Err(Gone)
        } else {
            Ok(())
        }
    }

    /// Writes and flushes the whole queue, waiting for the client to take it.
    pub async fn drive(&mut self) -> Result<(), WsError> {
        std::future::poll_fn(|cx| self.poll_drive(cx)).await
    }

    /// The client's next message (`None`: the client is gone). Polled only after the socket's
    /// waker fired, which is also when a queued backlog is written on.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        if !self.gate.fired(cx) {
            return Poll::Pending;
        }
        let polled = self.with_gate_waker(|out, cx| {
            if out.dirty || !out.queue.is_empty() {
                if let Poll::Ready(Err(_)) = out.poll_drive(cx) {
                    out.broken = true;
                }
            }
            if out.broken {
                return Poll::Ready(None);
            }
            Pin::new(&mut out.socket).poll_next(cx)
        });
        if polled.is_ready() {
            self.gate.again();
        }
        polled
    }

    /// Runs `f` with a context of the socket's own waker.
    fn with_gate_waker<T>(&mut self, f: impl FnOnce(&mut Self, &mut Context<'_>) -> T) -> T {
        // Taken out for the call (no reference count traffic), put back after.
        let waker = std::mem::replace(&mut self.gate.waker, Waker::noop().clone());
        let out = f(self, &mut Context::from_waker(&waker));
        self.gate.waker = waker;
        out
    }

    /// Sends what is queued and then `frame` (if any), for at most [`CLOSE_GRACE`], and closes
    /// the socket. By reference: a future that owned the socket would make every connection's
    /// task that much larger for its whole life.
    pub async fn close(&mut self, frame: Option<CloseFrame>) {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            if self.drive().await.is_ok() {
                if let Some(frame) = frame {
                    let _ = self.socket.send(Message::Close(Some(frame))).await;
                }
            }
            let _ = SinkExt::close(&mut self.socket).await;
        })
        .await;
    }

    /// Closes a client that is not reading: what is queued is dropped (it resumes from its
    /// last seq) and `frame` goes out right behind the bytes already handed to the socket, if
    /// the client takes them within [`SLOW_CLOSE_GRACE`]; then the TCP connection is dropped.
    pub async fn close_slow(&mut self, frame: CloseFrame) {
        self.queue = VecDeque::new();
        self.queued_bytes = 0;
        let _ = tokio::time::timeout(SLOW_CLOSE_GRACE, async {
            let _ = self.socket.send(Message::Close(Some(frame))).await;
            let _ = SinkExt::close(&mut self.socket).await;
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts its polls; ready once `ready` is set.
    struct Probe {
        polls: Arc<AtomicUsize>,
        ready: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Probe {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().expect("lock") = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[test]
    fn a_gated_future_is_polled_only_after_its_own_waker_fired() {
        let polls = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(std::sync::Mutex::new(None));
        let mut fut = gated(Probe {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: waker.clone(),
        });
        let task = Arc::new(Fired {
            fired: AtomicBool::new(false),
            task: AtomicWaker::new(),
        });
        let task_waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&task_waker);
        // The first poll registers the source's waker; wake-ups by others poll nothing.
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        assert_eq!(polls.load(Ordering::SeqCst), 1);
        // The source's waker wakes the task, and the next poll reaches the source.
        ready.store(true, Ordering::SeqCst);
        let source = waker.lock().expect("lock").take().expect("registered");
        source.wake();
        assert!(task.fired.load(Ordering::SeqCst), "the task was woken");
        assert!(Pin::new(&mut fut).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }
}
