//! The listening socket as the server accepts from it ([`Guarded`]): a cap on open TCP
//! connections, server-wide, and per connection a header-read timeout (its first request's
//! headers must arrive within `--header-read-timeout-secs`) and an idle timeout (no byte in
//! either direction for `--idle-timeout-secs`: keep-alive HTTP and websockets alike).
//!
//! axum serves the connection; hyper's own header timeout needs a timer that `axum::serve`
//! does not give it, so the timeouts live in the connection's I/O ([`GuardedIo`]): a read past
//! the deadline fails, and hyper (or the websocket above it) closes the connection.

use crate::engine::metrics::Metrics;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// What a connection over the cap is answered before it is closed.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
Retry-After: 1\r\nConnection: close\r\nContent-Length: 90\r\n\r\n\
{\"error\":{\"code\":\"server_full\",\"message\":\"too many open connections: retry in a moment\"}}\n";

/// The timeouts and the cap (`0`: none) a [`Guarded`] listener applies.
#[derive(Debug, Clone, Copy)]
pub struct Guards {
    pub max_connections: usize,
    pub header_read: Duration,
    pub idle: Duration,
}

/// A TCP listener that counts its open connections and times them out.
pub struct Guarded {
    inner: TcpListener,
    guards: Guards,
    open: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl Guarded {
    pub fn new(inner: TcpListener, guards: Guards, metrics: Arc<Metrics>) -> Self {
        Guarded {
            inner,
            guards,
            open: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    /// A slot for one more connection, or `None` at the cap.
    fn slot(&self) -> Option<Slot> {
        let cap = self.guards.max_connections;
        let taken = self.open.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.open.clone());
        (cap == 0 || taken < cap).then_some(slot)
    }
}

/// Counts one open connection until dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection over the cap with 503 `server_full` (for at most a second) and closes
/// it.
fn refuse(mut tcp: TcpStream) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            tcp.write_all(FULL).await?;
            tcp.shutdown().await
        })
        .await;
    });
}

impl axum::serve::Listener for Guarded {
    type Io = GuardedIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (GuardedIo, SocketAddr) {
        loop {
            let (tcp, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(slot) = self.slot() else {
                self.metrics
                    .connections_over_cap
                    .fetch_add(1, Ordering::Relaxed);
                refuse(tcp);
                continue;
            };
            let io = GuardedIo::new(tcp, slot, self.guards, self.metrics.clone());
            return (io, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection's socket with its deadline: its first request's headers by `header_read`, and
/// after that a byte either way within every `idle`.
pub struct GuardedIo {
    tcp: TcpStream,
    /// Fires at the deadline as last set; moved on lazily (see [`GuardedIo::expired`]).
    timer: Pin<Box<Sleep>>,
    /// When the connection last moved a byte (after its first headers).
    last: Instant,
    /// `None` once the first request's headers are in; else the end of what was read so far
    /// (to find `\r\n\r\n` across reads).
    head: Option<[u8; 3]>,
    idle: Duration,
    metrics: Arc<Metrics>,
    _slot: Slot,
}

impl GuardedIo {
    fn new(tcp: TcpStream, slot: Slot, guards: Guards, metrics: Arc<Metrics>) -> Self {
        GuardedIo {
            tcp,
            timer: Box::pin(tokio::time::sleep(guards.header_read)),
            last: Instant::now(),
            head: Some([0; 3]),
            idle: guards.idle,
            metrics,
            _slot: slot,
        }
    }

    /// The TCP socket (for its options).
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Whether the deadline passed; else the timer is set (and `cx` told) for it.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if self.head.is_some() {
                return true; // the first request's headers did not arrive in time
            }
            let due = self.last + self.idle;
            if due <= Instant::now() {
                return true;
            }
            self.timer.as_mut().reset(due);
        }
    }

    /// Notes bytes moved: activity, and (until found) the end of the first headers.
    fn moved(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(tail) = self.head.as_mut() {
            let mut seen = tail.to_vec();
            seen.extend_from_slice(bytes);
            if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                self.head = None;
                self.timer.as_mut().reset(Instant::now() + self.idle);
            } else {
                tail.copy_from_slice(&seen[seen.len() - 3..]);
                return;
            }
        }
        self.last = Instant::now();
    }

    /// A write that moved bytes counts as activity once the first request's headers are in
    /// (before that, only the header-read deadline applies).
    fn wrote(&mut self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) && self.head.is_none() {
            self.last = Instant::now();
        }
    }

    fn timed_out(&self) -> io::Error {
        self.metrics
            .connection_timeouts
            .fetch_add(1, Ordering::Relaxed);
        io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
    }
}

impl AsyncRead for GuardedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.tcp).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.moved(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(this.timed_out())),
            other => other,
        }
    }
}

impl AsyncWrite for GuardedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write(cx, buf);
        this.wrote(&polled);
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        this.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_connection_adds_stays_small() {
        // Every open connection (idle websockets included) carries this beside its socket:
        // the wrapper inline, and its timer on the heap.
        let inline = std::mem::size_of::<GuardedIo>() - std::mem::size_of::<TcpStream>();
        let timer = std::mem::size_of::<Sleep>();
        println!("per connection: {inline} bytes inline, {timer} bytes of timer");
        assert!(inline <= 64, "{inline} bytes inline");
        assert!(timer <= 128, "{timer} bytes of timer");
    }
}
