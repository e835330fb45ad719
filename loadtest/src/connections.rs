//! `connections`: hold C idle authenticated websockets on one server and report its RSS per
//! connection. Sockets are spread over several 127.0.0.x source addresses, so C can exceed one
//! address pair's ephemeral-port range. The same connections are then held on the baseline
//! server (a child process, [`baseline::spawn`]), whose RSS per connection is the stack's own.

use crate::{baseline, create_planning, join_members, loopback, proc_stat, progress, Result};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    /// sprintlog's base URL, e.g. http://127.0.0.1:8080 (an IPv4 loopback address).
    #[arg(long)]
    pub url: String,
    /// Idle connections to hold.
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Source addresses 127.0.0.1 … 127.0.0.<sources> to spread the sockets over.
    #[arg(long, default_value_t = 4)]
    pub sources: u8,
    /// Members joined to the planning; the connections use their tokens in turn.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Seconds to hold every connection open before reading the server's RSS.
    #[arg(long, default_value_t = 3.0)]
    pub hold_secs: f64,
    /// The server's pid (required for the RSS figures; without it only connect times).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Pin the baseline server (a child process holding the same connections) to this CPU.
    #[arg(long)]
    pub baseline_cpu: Option<usize>,
    /// Connections opened at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Give up after this many seconds (the whole scenario).
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

type Stream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens one websocket from `source` and waits for `caught_up`.
async fn open(server: SocketAddr, source: Ipv4Addr, url: &str) -> Result<Stream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    let tcp = socket.connect(server).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if t.contains("\"type\":\"caught_up\"") {
                return Ok(ws);
            }
        }
    }
    Err("socket closed before caught_up".into())
}

/// One side's figures: the connections held, and the server's RSS before and while held.
struct Held {
    open: usize,
    failed: usize,
    first_error: Option<String>,
    connect_s: f64,
    frames: u64,
    rss_before: Option<u64>,
    rss_held: Option<u64>,
}

impl Held {
    fn per_connection(&self) -> Option<f64> {
        match (self.rss_before, self.rss_held) {
            (Some(b), Some(h)) if self.open > 0 => {
                Some(h.saturating_sub(b) as f64 / self.open as f64)
            }
            _ => None,
        }
    }

    fn json(&self, a: &ConnectionsArgs) -> Value {
        json!({
            "connections": a.connections,
            "open": self.open,
            "failed": self.failed,
            "first_error": self.first_error,
            "connect_s": self.connect_s,
            "connects_per_s": self.open as f64 / self.connect_s.max(1e-9),
            "frames_while_held": self.frames,
            "server_rss_kib": {"before": self.rss_before, "held": self.rss_held},
            "server_rss_kib_per_connection": self.per_connection(),
        })
    }

    fn human(&self, target: &str, a: &ConnectionsArgs) -> String {
        format!(
            "{target} connections: {} of {} open ({} failed{}) from {} source addresses, \
             connected in {:.1} s{}",
            self.open,
            a.connections,
            self.failed,
            self.first_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default(),
            a.sources,
            self.connect_s,
            match (self.rss_before, self.rss_held, self.per_connection()) {
                (Some(b), Some(h), Some(p)) => format!(
                    "\n  server RSS: {:.1} MiB before, {:.1} MiB held = {p:.2} KiB per connection",
                    b as f64 / 1024.0,
                    h as f64 / 1024.0
                ),
                _ => String::new(),
            }
        )
    }
}

pub async fn run(a: &ConnectionsArgs) -> Result<(String, Value)> {
    let base = loopback(&a.url)?;
    let server: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .map_err(|_| "--url must be http://<IPv4 loopback>:<port> for this scenario")?;
    let http = reqwest::Client::new();
    let p = create_planning(&http, &base, "loadtest connections").await?;
    let mut tokens = vec![p.token.clone()];
    tokens.extend(join_members(&http, &base, &p, a.members.saturating_sub(1), 16).await?);
    let ws_base = base.replacen("http://", "ws://", 1);
    let urls: Vec<String> = tokens
        .iter()
        .map(|t| format!("{ws_base}/ws/plannings/{}?token={t}&since=0", p.id))
        .collect();
    let s = hold(server, &urls, a.server_pid, a).await?;

    // The same connections to the baseline server (a child process, for its own RSS).
    let child = baseline::spawn(a.baseline_cpu, None).await?;
    let urls = vec![format!("ws://{}/connections", child.addr)];
    let b = hold(child.addr, &urls, Some(child.pid), a).await?;
    drop(child);

    let ratio = s
        .per_connection()
        .zip(b.per_connection())
        .and_then(|(s, b)| crate::ratio(s, b));
    let mut json = s.json(a);
    json["scenario"] = json!("connections");
    json["sources"] = json!(a.sources);
    json["baseline"] = b.json(a);
    json["ratio"] = json!({"server_rss_kib_per_connection": ratio});
    let human = format!(
        "{}\n{}{}",
        b.human("baseline", a),
        s.human("sprintlog", a),
        ratio
            .map(|r| format!("\nsprintlog / baseline: RSS per connection × {r:.2}"))
            .unwrap_or_default()
    );
    Ok((human, json))
}

/// Opens `a.connections` websockets to `server` (cycling through `urls`), holds them for
/// `--hold-secs`, and reads the server's RSS (`pid`) before and while they are held.
async fn hold(
    server: SocketAddr,
    urls: &[String],
    pid: Option<u32>,
    a: &ConnectionsArgs,
) -> Result<Held> {
    // One connection first, so the room is loaded and the server's one-off costs are paid.
    let warm = open(server, Ipv4Addr::LOCALHOST, &urls[0]).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = pid.and_then(proc_stat::rss_kib);

    let bar = progress::bar(a.connections as u64, "connections open");
    let sem = Arc::new(Semaphore::new(a.connect_concurrency.max(1)));
    let frames = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(a.connections);
    for i in 0..a.connections {
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i % a.sources.max(1) as usize) as u8);
        let url = urls[i % urls.len()].clone();
        let (sem, bar, frames) = (sem.clone(), bar.clone(), frames.clone());
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await?;
            let mut ws = open(server, source, &url).await?;
            drop(permit);
            bar.inc(1);
            // Held open and drained (presence frames arrive as others connect).
            let reader = tokio::spawn(async move {
                while let Some(Ok(_)) = ws.next().await {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            });
            Ok::<_, crate::Error>(reader)
        }));
    }
    let mut readers = Vec::with_capacity(a.connections);
    let mut failed = 0usize;
    let mut first_error = None;
    for t in tasks {
        match t.await? {
            Ok(r) => readers.push(r),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    bar.finish();
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(a.hold_secs)).await;
    let rss_held = pid.and_then(proc_stat::rss_kib);
    let open_now = readers.iter().filter(|r| !r.is_finished()).count();
    for r in &readers {
        r.abort();
    }
    drop(warm);
    Ok(Held {
        open: open_now,
        failed,
        first_error,
        connect_s,
        frames: frames.load(Ordering::Relaxed),
        rss_before,
        rss_held,
    })
}
