//! The `baseline`: a minimal broadcast server on tokio-tungstenite, the stack sprintlog is built
//! on, serving the same traffic with no log, no domain and no per-viewer views.
//!
//! - A connection joins the room named by its request path, gets the server's `history` frames
//!   (what a sprintlog late joiner got, for `replay`), then `{"type":"caught_up"}`.
//! - Each text frame received is rebroadcast as-is to the room (one pre-serialised `Message`,
//!   shared by reference count). A frame of several lines is one frame per line: that is how
//!   the load tool mirrors a sprintlog command that appends several events (a reveal). A line
//!   that is an `ack` goes back to the sender only (the ack sprintlog would send).
//! - Each connection's writer batches whatever is queued into one flush, as sprintlog's does.
//!
//! It runs on a single-threaded runtime, either in a thread of the tool ([`start`]: `fanout`'s
//! baseline, whose CPU is read from `/proc/self/task/<tid>/stat`) or as a child process
//! ([`spawn`]: for the scenarios that read a server's RSS, which must not include the tool's).
//! Either can be pinned to a core like the real server.

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per connection before it is dropped as too slow (as `--outbound-queue`).
const QUEUE: usize = 4096;

/// What a connection is sent after its `history`.
const CAUGHT_UP: &str = "{\"type\":\"caught_up\",\"head\":0}";

pub struct Baseline {
    pub addr: SocketAddr,
    /// The server thread's id (Linux), for CPU accounting.
    pub tid: Option<u32>,
}

/// The options of the baseline server process (`sprintlog-loadtest baseline-server`, started
/// by the scenarios themselves).
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Pin the server to this CPU (with `taskset`).
    #[arg(long)]
    pub cpu: Option<usize>,
    /// A file of frames, one per line, sent to every new connection before `caught_up`.
    #[arg(long)]
    pub history: Option<std::path::PathBuf>,
    /// Leave Nagle on for accepted sockets.
    #[arg(long)]
    pub nagle: bool,
}

/// The rooms, by request path (a std mutex: held only to look a room up, never across an
/// await, on a one-thread runtime).
type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<Message>>>>;

/// Starts the server on 127.0.0.1:0 in a new thread (it lives until the process exits).
/// `nodelay` sets TCP_NODELAY on accepted sockets (axum::serve, hence sprintlog, does not).
pub fn start(cpu: Option<usize>, nodelay: bool) -> std::io::Result<Baseline> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("baseline".into())
        .spawn(move || {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok());
            if let (Some(cpu), Some(tid)) = (cpu, tid) {
                pin(cpu, tid);
            }
            let served = serve(Arc::new(Vec::new()), nodelay, |addr| {
                let _ = tx.send(Ok(Baseline { addr, tid }));
            });
            if let Err(e) = served {
                let _ = tx.send(Err(e));
            }
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("baseline thread died"))?
}

/// `taskset -p -c cpu tid`.
fn pin(cpu: usize, tid: u32) {
    let _ = std::process::Command::new("taskset")
        .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
        .stdout(std::process::Stdio::null())
        .status();
}

/// The baseline server process: prints `listening <addr>` and serves until killed, or until
/// its standard input closes: the tool holds the other end, so the server never outlives it,
/// however the tool ends (a Ctrl-C runs no destructor that could kill the child).
pub fn serve_process(a: &ServeArgs) -> std::io::Result<()> {
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    if let Some(cpu) = a.cpu {
        pin(cpu, std::process::id());
    }
    let history = match &a.history {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter(|l| !l.is_empty())
            .map(Message::text)
            .collect(),
        None => Vec::new(),
    };
    serve(Arc::new(history), !a.nagle, |addr| {
        println!("listening {addr}");
    })
}

/// A baseline server process, killed when dropped (and gone when this process is: its
/// standard input is a pipe from here).
pub struct Child {
    pub addr: SocketAddr,
    pub pid: u32,
    _child: tokio::process::Child,
}

/// Starts `sprintlog-loadtest baseline-server` (this same binary) and waits for its address.
pub async fn spawn(cpu: Option<usize>, history: Option<&std::path::Path>) -> crate::Result<Child> {
    use tokio::io::AsyncBufReadExt;
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.arg("baseline-server")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(cpu) = cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    if let Some(h) = history {
        cmd.arg("--history").arg(h);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().ok_or("the baseline server exited at once")?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(out).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .map_err(|_| "the baseline server did not start within 10 s")??
        .ok_or("the baseline server exited before listening")?;
    let addr = line
        .strip_prefix("listening ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected line from the baseline server: {line}"))?;
    Ok(Child {
        addr,
        pid,
        _child: child,
    })
}

/// Binds 127.0.0.1:0, calls `ready` with the address, and serves forever on this thread.
fn serve(
    history: Arc<Vec<Message>>,
    nodelay: bool,
    ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        ready(listener.local_addr()?);
        let rooms: Rooms = Arc::default();
        loop {
            let (stream, _) = listener.accept().await?;
            if nodelay {
                let _ = stream.set_nodelay(true);
            }
            tokio::spawn(connection(stream, rooms.clone(), history.clone()));
        }
    })
}

// The handshake callback's error type (an HTTP response) is tungstenite's, not ours.
#[allow(clippy::result_large_err)]
async fn connection(stream: tokio::net::TcpStream, rooms: Rooms, history: Arc<Vec<Message>>) {
    let mut path = String::new();
    let accepted = tokio_tungstenite::accept_hdr_async(
        stream,
        |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
            path = req.uri().path().to_string();
            Ok(resp)
        },
    )
    .await;
    let Ok(ws) = accepted else {
        return;
    };
    let feed = match rooms.lock() {
        Ok(mut rooms) => rooms
            .entry(path)
            .or_insert_with(|| broadcast::channel(QUEUE).0)
            .clone(),
        Err(_) => return,
    };
    let (mut sink, mut source) = ws.split();
    // Subscribed before the history is sent, so nothing broadcast meanwhile is missed.
    let mut rx = feed.subscribe();
    let (direct_tx, mut direct) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        for frame in history.iter() {
            if sink.feed(frame.clone()).await.is_err() {
                return;
            }
        }
        if sink.send(Message::text(CAUGHT_UP)).await.is_err() {
            return;
        }
        loop {
            // A lagging connection is closed, never skipped silently (like sprintlog's 4008).
            let first = tokio::select! {
                biased;
                m = direct.recv() => match m { Some(m) => m, None => return },
                m = rx.recv() => match m { Ok(m) => m, Err(_) => return },
            };
            if sink.feed(first).await.is_err() {
                return;
            }
            loop {
                let more = match direct.try_recv() {
                    Ok(m) => m,
                    Err(_) => match rx.try_recv() {
                        Ok(m) => m,
                        Err(broadcast::error::TryRecvError::Empty) => break,
                        Err(_) => return,
                    },
                };
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(ref text) if text.contains('\n') => {
                for line in text.split('\n') {
                    if line.starts_with("{\"type\":\"ack\"") {
                        let _ = direct_tx.send(Message::text(line));
                    } else {
                        let _ = feed.send(Message::text(line));
                    }
                }
            }
            Message::Text(_) => {
                let _ = feed.send(msg);
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.abort();
}
