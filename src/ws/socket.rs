//! The websocket below the protocol: the HTTP upgrade, and the socket's I/O adapter that holds
//! buffers only while they are in use.
//!
//! axum's `WebSocket` hides its stream, so a connection could not control what its socket
//! keeps allocated; this module does the upgrade itself (the same checks and response as
//! axum's `WebSocketUpgrade`) on the same tokio-tungstenite axum uses, over [`Io`].

use crate::http::error::ApiError;
use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode, Version};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

pub use tokio_tungstenite::tungstenite::protocol::CloseFrame;
pub use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

/// An upgraded websocket connection.
pub type Socket = tokio_tungstenite::WebSocketStream<Io>;

/// Longest header of an unmasked server frame: 2 bytes, then a 64-bit length.
const MAX_HEADER: usize = 10;

/// The header of an unmasked, final server text frame of `len` payload bytes, and its length.
/// Server frames are not masked (RFC 6455 §5.1), so every client of a room gets the same
/// payload: the engine serialises a broadcast event once and each connection appends the shared
/// bytes behind this header (see [`Io::poll_append_text`]) instead of tungstenite formatting and
/// copying the frame per socket. tungstenite still reads, answers pings and sends the close frame.
fn text_header(len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x81; // FIN + opcode 1 (text); the second byte's top bit (mask) stays clear.
    let n = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..MAX_HEADER].copy_from_slice(&(len as u64).to_be_bytes());
        MAX_HEADER
    };
    (h, n)
}

/// Bytes read from the socket per system call; the rest of a read waits in [`Io`] (on the heap
/// only until tungstenite takes it).
const READ_CHUNK: usize = 4096;

/// Bytes [`Io`] buffers for writing before it writes through to the socket (and, when the
/// socket is full, tells tungstenite to wait).
const WRITE_LIMIT: usize = 16 * 1024;

/// An HTTP/1.1 websocket upgrade request, checked as axum's `WebSocketUpgrade` checks it.
pub struct Upgrade {
    key: axum::http::HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let refuse = |what: &str| Err(ApiError::BadRequest(format!("websocket upgrade: {what}")));
        if parts.version != Version::HTTP_11 || parts.method != Method::GET {
            return refuse("an HTTP/1.1 GET is required");
        }
        if !header_has(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has(&parts.headers, header::UPGRADE, "websocket")
        {
            return refuse("Connection: upgrade and Upgrade: websocket are required");
        }
        if !header_has(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            return refuse("Sec-WebSocket-Version: 13 is required");
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return refuse("Sec-WebSocket-Key is required");
        };
        let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
            return refuse("this connection cannot be upgraded");
        };
        Ok(Upgrade { key, on_upgrade })
    }
}

/// Whether a comma-separated header holds `token` (ASCII case-insensitive).
fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and runs `f` on the socket once the client has it.
    pub fn on_upgrade<F, Fut>(self, config: WebSocketConfig, f: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let Upgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return; // the client went away during the handshake
            };
            let io = Io::new(TokioIo::new(upgraded));
            f(Socket::from_raw_socket(io, Role::Server, Some(config)).await).await;
        });
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("upgrade"),
        );
        h.insert(
            header::UPGRADE,
            header::HeaderValue::from_static("websocket"),
        );
        if let Ok(accept) = header::HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// The socket under tungstenite. Reads go to the socket in [`READ_CHUNK`]s whatever size
/// tungstenite asks for (its own read buffer can then be tiny), and writes are gathered until
/// a flush (tungstenite is set not to buffer), so a batch of frames is one system call. Both
/// buffers live on the heap only while they hold bytes: an idle socket keeps none.
pub struct Io {
    inner: TokioIo<hyper::upgrade::Upgraded>,
    /// Read from the socket, not yet taken by tungstenite (from `read_at`).
    read_left: Vec<u8>,
    read_at: usize,
    /// Written by tungstenite, not yet written to the socket (from `write_at`).
    write_buf: Vec<u8>,
    write_at: usize,
}

impl Io {
    fn new(inner: TokioIo<hyper::upgrade::Upgraded>) -> Self {
        Io {
            inner,
            read_left: Vec::new(),
            read_at: 0,
            write_buf: Vec::new(),
            write_at: 0,
        }
    }

    /// Writes the buffered bytes to the socket, then frees the buffer.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.write_at < self.write_buf.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.write_buf[self.write_at..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.write_at += n;
        }
        // Written out: the buffer goes back to this thread's spare (an idle socket keeps none).
        give_back(std::mem::take(&mut self.write_buf));
        self.write_at = 0;
        Poll::Ready(Ok(()))
    }
}

thread_local! {
    /// A write buffer between two uses, per runtime thread. A connection writes a batch and
    /// flushes it in one poll, so the buffer is free again by the time the thread runs the next
    /// connection: batches reuse one buffer instead of allocating (and, after glibc trimmed the
    /// heap, faulting in fresh pages) for each one.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An empty write buffer: this thread's spare, or a new one.
fn take_spare(want: usize) -> Vec<u8> {
    let mut buf = SPARE.with(|s| s.take());
    buf.reserve(want);
    buf
}

/// Keeps `buf` as this thread's spare unless it is huge (a snapshot's).
fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() > 0 && buf.capacity() <= 4 * WRITE_LIMIT {
        buf.clear();
        SPARE.with(|s| s.set(buf));
    }
}

impl Io {
    /// Appends `payload` as one whole text frame, header included, written out at the next
    /// flush. `Pending` (with `cx` told when to retry) when [`WRITE_LIMIT`] bytes already wait
    /// and the socket takes none now.
    pub fn poll_append_text(
        &mut self,
        cx: &mut Context<'_>,
        payload: &[u8],
    ) -> Poll<io::Result<()>> {
        let (header, n) = text_header(payload.len());
        ready!(self.poll_reserve(cx, n + payload.len()))?;
        self.write_buf.extend_from_slice(&header[..n]);
        self.write_buf.extend_from_slice(payload);
        Poll::Ready(Ok(()))
    }

    /// Makes room for `len` more bytes: `Pending` when [`WRITE_LIMIT`] bytes already wait and
    /// the socket takes none now. Frames from tungstenite (pongs, the close frame) also reach
    /// the buffer whole — [`AsyncWrite::poll_write`] never takes part of a buffer — so they and
    /// [`Io::poll_append_text`]'s frames interleave only at frame boundaries.
    fn poll_reserve(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<()>> {
        if self.write_buf.len() - self.write_at >= WRITE_LIMIT {
            ready!(self.poll_write_out(cx))?;
        }
        if self.write_buf.capacity() == 0 {
            self.write_buf = take_spare(len.max(WRITE_LIMIT / 2));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read_at < this.read_left.len() {
            let n = buf.remaining().min(this.read_left.len() - this.read_at);
            buf.put_slice(&this.read_left[this.read_at..this.read_at + n]);
            this.read_at += n;
            if this.read_at == this.read_left.len() {
                this.read_left = Vec::new();
                this.read_at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if buf.remaining() >= READ_CHUNK {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut chunk = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
        let got = chunk.filled();
        let n = buf.remaining().min(got.len());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.read_left = got[n..].to_vec();
            this.read_at = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_reserve(cx, buf.len()))?;
        this.write_buf.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::{protocol::WebSocket, Message};

    /// What a client's websocket library reads from `frames`, in order.
    fn client_reads(payloads: &[&[u8]]) -> Vec<String> {
        let bytes: Vec<u8> = payloads
            .iter()
            .flat_map(|p| {
                let (h, n) = text_header(p.len());
                [&h[..n], p].concat()
            })
            .collect();
        let mut ws =
            WebSocket::from_raw_socket(io::Cursor::new(bytes), Role::Client, Default::default());
        (0..payloads.len())
            .map(|_| match ws.read() {
                Ok(Message::Text(t)) => t.to_string(),
                other => panic!("expected a text frame, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn wire_frames_of_every_length_class_read_back_as_sent() {
        // Payload lengths around both header boundaries (7-bit, 16-bit, 64-bit lengths).
        let texts: Vec<String> = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000]
            .iter()
            .map(|&n| "é".repeat(n / 2) + &"x".repeat(n % 2))
            .collect();
        let payloads: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        assert_eq!(client_reads(&payloads), texts);
    }

    #[test]
    fn headers_are_unmasked_final_text_frames() {
        for len in [0, 125, 126, 65_536] {
            let (h, _) = text_header(len);
            assert_eq!(h[0], 0x81);
            assert_eq!(h[1] & 0x80, 0);
        }
    }
}
