//! The `baseline`: a minimal broadcast server on tokio-tungstenite, the stack sprintlog is built
//! on. Each text frame received is rebroadcast as-is (one pre-serialised `Message`, shared by
//! reference count) to every connection; no log, no domain, no per-viewer views. Each connection's
//! writer batches whatever is queued into one flush, as sprintlog's does. It runs on its own
//! single-threaded runtime in its own OS thread, so its CPU can be read from
//! `/proc/self/task/<tid>/stat` and the thread pinned to a core like the real server.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Frames queued per connection before it is dropped as too slow (as `--outbound-queue`).
const QUEUE: usize = 4096;

pub struct Baseline {
    pub addr: SocketAddr,
    /// The server thread's id (Linux), for CPU accounting.
    pub tid: Option<u32>,
}

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
                let _ = std::process::Command::new("taskset")
                    .args(["-p", "-c", &cpu.to_string(), &tid.to_string()])
                    .stdout(std::process::Stdio::null())
                    .status();
            }
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::bind("127.0.0.1:0").await {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let addr = listener.local_addr().expect("bound");
                let _ = tx.send(Ok(Baseline { addr, tid }));
                let (feed, _) = broadcast::channel::<Message>(QUEUE);
                while let Ok((stream, _)) = listener.accept().await {
                    if nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    tokio::spawn(connection(stream, feed.clone()));
                }
            });
        })?;
    rx.recv()
        .map_err(|_| std::io::Error::other("baseline thread died"))?
}

async fn connection(stream: tokio::net::TcpStream, feed: broadcast::Sender<Message>) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let mut rx = feed.subscribe();
    let writer = tokio::spawn(async move {
        if sink
            .send(Message::text("{\"type\":\"hello\"}"))
            .await
            .is_err()
        {
            return;
        }
        // A lagging connection is closed, never skipped silently (like sprintlog's 4008).
        while let Ok(first) = rx.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            loop {
                match rx.try_recv() {
                    Ok(more) => {
                        if sink.feed(more).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(_) => return,
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = source.next().await {
        match msg {
            Message::Text(_) => {
                let _ = feed.send(msg);
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.abort();
}
