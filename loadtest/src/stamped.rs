//! Client sockets that remember when the kernel received their data: [`Stamped`] wraps a
//! `TcpStream` with `SO_TIMESTAMPNS` set and reads with `recvmsg`, keeping the kernel's receive
//! timestamp of the newest segment each read returned.
//!
//! Why: one tool process reading 1,000 sockets on one core polls the last of them milliseconds
//! after its data arrived, so a latency taken when a frame is *read* measures the tool's own
//! scheduling. The kernel stamps each segment when the server's write delivers it into the
//! loopback receive path (before any reader runs), which is when a client on its own machine
//! would have it. Stamps are `CLOCK_REALTIME` nanoseconds (the clock `SO_TIMESTAMPNS` uses), so
//! send times must be taken with [`realtime_ns`].

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

/// Nanoseconds since the Unix epoch on `CLOCK_REALTIME` (0 if the clock is before 1970).
pub fn realtime_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A TCP stream whose reads record the kernel receive time of the data they return.
pub struct Stamped {
    inner: TcpStream,
    last: Arc<Stamps>,
}

/// What a reader can see of its socket's reads, shared with the websocket reading above it.
#[derive(Default)]
pub struct Stamps {
    /// Realtime ns of the newest segment read so far (0: none yet).
    pub newest: AtomicU64,
    /// Reads that returned data: a frame returned with no read since the previous frame came
    /// in the same read, and shares its stamp (the newest segment's, so possibly late for it:
    /// the kernel merges queued segments, so stamps are exact only while the tool keeps up).
    pub reads: AtomicU64,
}

impl Stamped {
    /// Enables `SO_TIMESTAMPNS` on `inner`. Fails if the kernel refuses the option.
    pub fn new(inner: TcpStream) -> io::Result<Self> {
        let on: libc::c_int = 1;
        // SAFETY: a valid open socket, and a pointer/length pair to a live c_int.
        let rc = unsafe {
            libc::setsockopt(
                inner.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Stamped {
            inner,
            last: Arc::new(Stamps::default()),
        })
    }

    /// The stamps of this socket's reads, for a reader to look at after the websocket layer
    /// returns a frame.
    pub fn stamps(&self) -> Arc<Stamps> {
        self.last.clone()
    }
}

/// One `recvmsg` into `buf`; returns the bytes read and the `SCM_TIMESTAMPNS` stamp if the
/// kernel attached one (for TCP: the stamp of the newest segment whose data was returned).
fn recv_stamped(fd: i32, buf: &mut [MaybeUninit<u8>]) -> io::Result<(usize, Option<u64>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // u64s: cmsg headers need the alignment of size_t.
    let mut control = [0u64; 16];
    // SAFETY: msghdr is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `iov` (into `buf`, writable for its length) and at `control`,
    // all alive for the call; the kernel writes at most the lengths given.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* walk stays within `msg_controllen` as the kernel set it; the data of
    // an SCM_TIMESTAMPNS message is one timespec, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

impl AsyncRead for Stamped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            ready!(this.inner.poll_read_ready(cx))?;
            let fd = this.inner.as_raw_fd();
            // SAFETY: recvmsg only writes initialised bytes into the unfilled part, and we
            // mark exactly the `n` bytes it reports as initialised and filled.
            let unfilled = unsafe { buf.unfilled_mut() };
            let room = unfilled.len();
            let mut got = None;
            // A read shorter than the room drained the socket: report it to tokio as
            // WouldBlock (keeping the data) so it clears the readiness now, instead of the
            // next poll spending a second recvmsg to learn the socket is empty. Safe against
            // races: tokio only clears readiness if no new edge arrived since it was observed.
            let r = this.inner.try_io(Interest::READABLE, || {
                let (n, stamp) = recv_stamped(fd, unfilled)?;
                got = Some((n, stamp));
                if n > 0 && n < room {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (got, r) {
                (Some((n, stamp)), _) => {
                    if let Some(s) = stamp {
                        this.last.newest.store(s, Ordering::Relaxed);
                    }
                    if n > 0 {
                        this.last.reads.fetch_add(1, Ordering::Relaxed);
                    }
                    // SAFETY: the kernel initialised these `n` bytes.
                    unsafe { buf.assume_init(n) };
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale: try_io cleared it, so poll_read_ready registers again.
                (None, Err(e)) if e.kind() != io::ErrorKind::WouldBlock => {
                    return Poll::Ready(Err(e))
                }
                // Readiness was stale: try_io cleared it, so poll_read_ready registers again.
                (None, _) => continue,
            }
        }
    }
}

impl AsyncWrite for Stamped {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
