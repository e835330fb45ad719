//! sprintlog-loadtest: drives a running sprintlog over its public protocol only (REST + websocket)
//! and compares it with a minimal broadcast server built into the tool (`baseline`), the limit of
//! this stack on this machine. Load only ever targets loopback; every loop is bounded in count and
//! time (`--timeout-secs`).
//!
//! Scenarios (issue 7): `fanout`, `baseline`, `compare`, `rooms`, `connections`, `replay`.
//! Modules: [`baseline`] (the minimal broadcast server), [`rooms`], [`connections`],
//! [`proc_stat`] (server CPU and RSS from `/proc`), [`progress`] (bars on stderr), [`stamped`]
//! (client sockets that keep the kernel's receive time of what they read).

mod baseline;
mod connections;
mod proc_stat;
mod progress;
mod rooms;
mod stamped;

use clap::{Args, Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::{self, Message};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;

/// Load tests for sprintlog (loopback only).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// One planning with N members connected; one member streams V votes/withdrawals; reports
    /// send → last-client-received latency and deliveries/s.
    Fanout(SprintlogFanout),
    /// The same fan-out traffic against a minimal broadcast server inside this tool
    /// (tokio-tungstenite, one pre-serialised frame per message, no log, no domain).
    Baseline(FanArgs),
    /// `baseline` then `fanout` in the same run; prints both and the ratios.
    Compare(SprintlogFanout),
    /// R plannings × M members doing the async flow (votes, comments) at a set overall rate;
    /// reports command ack latency, deliveries/s, server CPU and RSS.
    Rooms(rooms::RoomsArgs),
    /// Hold C idle authenticated connections (spread over several 127.0.0.x source addresses);
    /// reports the server's RSS per connection.
    Connections(connections::ConnectionsArgs),
    /// Seed a planning with E events over REST, then time a new client from connect to
    /// `caught_up`.
    Replay(ReplayArgs),
}

#[derive(Debug, Clone, Args)]
struct FanArgs {
    /// Websocket clients (members) connected to the planning.
    #[arg(long, default_value_t = 100)]
    members: usize,
    /// Commands streamed from one client (CastVote, changing the card each time: one event each).
    #[arg(long, default_value_t = 1000)]
    votes: usize,
    /// Commands in flight (sent, not yet acknowledged). 1 = one vote at a time into an idle
    /// room (pure latency); larger values saturate the server.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Commands per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Give up after this many seconds (the whole scenario).
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Connections and joins opened at once during setup.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// Pin the baseline server's thread to this CPU (with `taskset`), as the real server is.
    #[arg(long)]
    baseline_cpu: Option<usize>,
    /// Leave Nagle on for the baseline server's sockets (by default they set TCP_NODELAY, as
    /// sprintlog's do).
    #[arg(long)]
    baseline_nagle: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Args)]
struct SprintlogFanout {
    /// sprintlog's base URL, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    url: String,
    /// The server's pid: reports its CPU per delivery from /proc/<pid>/stat.
    #[arg(long)]
    server_pid: Option<u32>,
    #[command(flatten)]
    fan: FanArgs,
}

#[derive(Debug, Clone, Args)]
struct ReplayArgs {
    /// sprintlog's base URL (loopback only).
    #[arg(long)]
    url: String,
    /// Events to seed (comments posted over REST).
    #[arg(long, default_value_t = 5000)]
    events: usize,
    /// Seeding requests in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Late joiners timed one after the other (the report gives each and the median).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Give up after this many seconds (the whole scenario).
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

// One thread: the tool is pinned to one core (`taskset -c 1`), where a multi-thread runtime
// only adds cross-thread wake-ups between the main task (the voter) and its one worker (the
// readers). Here the voter is polled at least every 61 tasks while readers are queued.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let out = match cli.cmd {
        Cmd::Fanout(a) => bounded(a.fan.timeout_secs, fanout_sprintlog(&a))
            .await
            .map(|r| (r.human(), r.json(), a.fan.json)),
        Cmd::Baseline(f) => bounded(f.timeout_secs, fanout_baseline(&f))
            .await
            .map(|r| (r.human(), r.json(), f.json)),
        Cmd::Compare(a) => bounded(2 * a.fan.timeout_secs, compare(&a))
            .await
            .map(|(h, j)| (h, j, a.fan.json)),
        Cmd::Rooms(a) => bounded(
            a.timeout_secs
                .saturating_add(a.duration_secs.max(0.0).ceil() as u64),
            rooms::run(&a),
        )
        .await
        .map(|(h, j)| (h, j, a.json)),
        Cmd::Connections(a) => bounded(a.timeout_secs, connections::run(&a))
            .await
            .map(|(h, j)| (h, j, a.json)),
        Cmd::Replay(a) => bounded(a.timeout_secs, replay(&a))
            .await
            .map(|(h, j)| (h, j, a.json)),
    };
    match out {
        Ok((human, json, as_json)) => {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&json).unwrap());
            } else {
                println!("{human}");
            }
        }
        Err(e) => {
            eprintln!("sprintlog-loadtest: {e}");
            std::process::exit(1);
        }
    }
}

async fn bounded<T>(secs: u64, f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .map_err(|_| format!("gave up after {secs} s (--timeout-secs)"))?
}

/// Refuses anything but loopback: this tool must never load another machine.
fn loopback(url: &str) -> Result<String> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .ok_or("--url must be http://127.x.x.x:PORT, http://localhost:PORT or http://[::1]:PORT")?;
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split([':', '/']).next().unwrap_or("")
    };
    let ok = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if !ok {
        return Err(format!("refusing non-loopback target {host:?}").into());
    }
    Ok(url.to_string())
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// REST helpers
// ---------------------------------------------------------------------------------------------

struct Planning {
    id: String,
    token: String,
    member_invite: String,
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: Value,
) -> Result<Value> {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!("POST {url}: {status} {v}").into());
    }
    Ok(v)
}

async fn create_planning(http: &reqwest::Client, base: &str, title: &str) -> Result<Planning> {
    let v = post(
        http,
        &format!("{base}/api/plannings"),
        None,
        json!({"title": title, "name": "Loadtest facilitator"}),
    )
    .await?;
    let s = |k: &str| -> Result<String> {
        Ok(v[k]
            .as_str()
            .ok_or_else(|| format!("no {k} in {v}"))?
            .to_string())
    };
    Ok(Planning {
        id: s("planning")?,
        token: s("token")?,
        member_invite: s("member_invite")?,
    })
}

async fn command(
    http: &reqwest::Client,
    base: &str,
    p: &Planning,
    op: &str,
    cmd: Value,
) -> Result<Value> {
    post(
        http,
        &format!("{base}/api/plannings/{}/commands", p.id),
        Some(&p.token),
        json!({"client_op_id": op, "command": cmd}),
    )
    .await
}

/// The id in `data.<field>` of the last event of `kind` among the 1000 after `after`.
async fn find_in_log(
    http: &reqwest::Client,
    base: &str,
    p: &Planning,
    after: u64,
    kind: &str,
    field: &str,
) -> Result<String> {
    let v: Value = http
        .get(format!(
            "{base}/api/plannings/{}/events?after={after}&limit=1000",
            p.id
        ))
        .bearer_auth(&p.token)
        .send()
        .await?
        .json()
        .await?;
    v["events"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|e| e["kind"] == kind)
        .and_then(|e| e["data"][field].as_str())
        .map(str::to_string)
        .ok_or_else(|| format!("no {kind} in the log").into())
}

/// Joins `n` members (bounded concurrency); returns their tokens.
async fn join_members(
    http: &reqwest::Client,
    base: &str,
    p: &Planning,
    n: usize,
    concurrency: usize,
) -> Result<Vec<String>> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (http, sem) = (http.clone(), sem.clone());
        let url = format!("{base}/api/plannings/{}/join", p.id);
        let invite = p.member_invite.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let v = post(
                &http,
                &url,
                None,
                json!({"invite": invite, "name": format!("m{i}")}),
            )
            .await?;
            v["token"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::from(format!("no token in {v}")))
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for t in tasks {
        tokens.push(t.await??);
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------------
// Fan-out measurement (shared by sprintlog and the baseline)
// ---------------------------------------------------------------------------------------------

type Ws = tokio_tungstenite::WebSocketStream<stamped::Stamped>;

async fn connect(url: &str) -> Result<Ws> {
    // A late joiner of a big planning gets the whole projection as one `snapshot` frame, which
    // can exceed tungstenite's 16 MiB default (browsers have no such cap). Reads of 4 KiB, not
    // the default 128 KiB: tungstenite zeroes its whole read buffer before every read, which
    // with 1,000 sockets on one core made the tool, not the server, the slow side.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(1 << 30))
        .max_frame_size(Some(1 << 30))
        .read_buffer_size(4096);
    let host = url
        .strip_prefix("ws://")
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| format!("not a ws:// URL: {url}"))?;
    let tcp = tokio::net::TcpStream::connect(host).await?;
    // The voter's commands must not wait for the server's delayed ACK (Nagle).
    tcp.set_nodelay(true)?;
    let (ws, _) =
        tokio_tungstenite::client_async_with_config(url, stamped::Stamped::new(tcp)?, Some(config))
            .await?;
    Ok(ws)
}

/// The `seq` of an event frame, read without parsing the JSON (only event frames carry `seq`).
fn seq_of(text: &str) -> Option<u64> {
    let i = text.find("\"seq\":")? + 6;
    let digits: &str = &text[i..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// What every receiving client records, per event (seq − base − 1): the latest arrival over
/// all clients by the kernel's receive stamp (when the server's write delivered it: the
/// server's latency) and by the time the tool read it (adds the tool's own scheduling of N
/// sockets on one core), and how many clients got it. Times are realtime ns ([`stamped`]).
struct Arrivals {
    base: u64,
    last_ns: Vec<AtomicU64>,
    read_ns: Vec<AtomicU64>,
    count: Vec<AtomicU32>,
    total: AtomicU64,
    /// Deliveries whose read carried no kernel stamp (their read time stands in).
    unstamped: AtomicU64,
    /// Event frames that came in the same read as the event before them on their socket (the
    /// earlier one then carries the later one's stamp: the tool fell behind that socket).
    shared_reads: AtomicU64,
    /// Frames other than events (presence, acks…) received by all clients.
    other: AtomicU64,
    /// Clients that must receive each event.
    clients: u32,
    /// Woken whenever an event has reached every client (frees a window slot).
    complete: tokio::sync::Notify,
}

impl Arrivals {
    fn new(base: u64, n: usize, clients: usize) -> Self {
        Arrivals {
            clients: clients as u32,
            complete: tokio::sync::Notify::new(),
            base,
            last_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
            read_ns: (0..n).map(|_| AtomicU64::new(0)).collect(),
            count: (0..n).map(|_| AtomicU32::new(0)).collect(),
            total: AtomicU64::new(0),
            unstamped: AtomicU64::new(0),
            shared_reads: AtomicU64::new(0),
            other: AtomicU64::new(0),
        }
    }

    /// `stamp`: the kernel receive time of the read that completed the frame (0 if none).
    fn record(&self, seq: u64, stamp: u64) {
        if seq <= self.base {
            return;
        }
        let i = (seq - self.base - 1) as usize;
        if i < self.last_ns.len() {
            let read = stamped::realtime_ns();
            let stamp = if stamp == 0 {
                self.unstamped.fetch_add(1, Ordering::Relaxed);
                read
            } else {
                stamp
            };
            self.last_ns[i].fetch_max(stamp, Ordering::Relaxed);
            self.read_ns[i].fetch_max(read, Ordering::Relaxed);
            self.total.fetch_add(1, Ordering::Relaxed);
            if self.count[i].fetch_add(1, Ordering::Relaxed) + 1 == self.clients {
                self.complete.notify_one();
            }
        }
    }

    /// Whether every client has received the event `seq`.
    fn delivered_to_all(&self, seq: u64) -> bool {
        let i = seq.saturating_sub(self.base + 1) as usize;
        seq > self.base
            && self
                .count
                .get(i)
                .is_some_and(|c| c.load(Ordering::Relaxed) >= self.clients)
    }
}

/// What the sending client learns of its own op: acknowledged (with the seq) or refused.
enum OpResult {
    Acked { op: usize, seq: u64 },
    Refused { op: usize },
}

#[derive(Clone, Copy)]
enum Mode {
    /// Acks are `{"type":"ack","op":"v<i>","first":seq}` frames.
    Sprintlog,
    /// No acks: the sender's own copy of the rebroadcast frame (seq = op + 1) is its ack.
    Baseline,
}

/// Reads one client's socket until `stop`: records event arrivals (with `stamps`, the socket's
/// kernel receive time of the newest data read), and for the sender forwards acks/errors.
async fn reader(
    mut stream: impl futures_util::Stream<Item = tungstenite::Result<Message>> + Unpin,
    stamps: Arc<stamped::Stamps>,
    arrivals: Arc<Arrivals>,
    acks: Option<(Mode, mpsc::UnboundedSender<OpResult>)>,
) {
    let mut last_reads = u64::MAX;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if let Message::Close(_) = msg {
                break;
            }
            continue;
        };
        let text: &str = &text;
        let seq = seq_of(text);
        if seq.is_none() {
            arrivals.other.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(seq) = seq {
            // tungstenite reads only when its buffer holds no whole frame, so the newest stamp
            // is the one of the read that completed this frame.
            let reads = stamps.reads.load(Ordering::Relaxed);
            if reads == last_reads {
                arrivals.shared_reads.fetch_add(1, Ordering::Relaxed);
            }
            last_reads = reads;
            arrivals.record(seq, stamps.newest.load(Ordering::Relaxed));
            if let Some((Mode::Baseline, tx)) = &acks {
                let _ = tx.send(OpResult::Acked {
                    op: seq.saturating_sub(1) as usize,
                    seq,
                });
            }
        } else if let Some((Mode::Sprintlog, tx)) = &acks {
            if text.contains("\"type\":\"ack\"") || text.contains("\"type\":\"error\"") {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let op = v["op"]
                    .as_str()
                    .and_then(|o| o.strip_prefix('v'))
                    .and_then(|o| o.parse::<usize>().ok());
                match (v["type"].as_str(), op, v["first"].as_u64()) {
                    (Some("ack"), Some(op), Some(seq)) => {
                        let _ = tx.send(OpResult::Acked { op, seq });
                    }
                    (Some("error"), Some(op), _) => {
                        eprintln!("refused: {text}");
                        let _ = tx.send(OpResult::Refused { op });
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Waits for the first frame matching `pred` (bounded by the caller's timeout).
async fn wait_for(ws: &mut Ws, pred: impl Fn(&str) -> bool) -> Result<String> {
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if pred(&t) {
                return Ok(t.to_string());
            }
        }
    }
    Err("socket closed before the expected frame".into())
}

struct FanReport {
    target: &'static str,
    members: usize,
    votes: usize,
    window: usize,
    rate: f64,
    acked: usize,
    refused: usize,
    delivered: u64,
    elapsed: Duration,
    /// Latencies send → last client (kernel receive stamps), in microseconds, sorted.
    lat_us: Vec<u64>,
    /// The same, to when the tool read the frame (the tool's own scheduling included).
    read_us: Vec<u64>,
    /// Deliveries without a kernel stamp (timed when read instead).
    unstamped: u64,
    /// Deliveries read together with the next event on their socket (stamp possibly late).
    shared_reads: u64,
    /// This tool's CPU over the stream (without the baseline server's thread).
    tool_cpu: Option<proc_stat::Cpu>,
    cpu: Option<proc_stat::Cpu>,
    /// Non-event frames received after connecting, before the stream (presence), and the wait.
    settle_frames: u64,
    settle_s: f64,
    /// Non-event frames (acks, presence…) received by all clients during the stream.
    other_frames: u64,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

impl FanReport {
    fn rate_per_s(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn cpu_per_delivery(&self) -> Option<(f64, f64)> {
        let c = self.cpu?;
        let d = self.delivered.max(1) as f64;
        Some((c.user_us as f64 / d, c.sys_us as f64 / d))
    }

    fn json(&self) -> Value {
        let cpu = self.cpu_per_delivery();
        json!({
            "scenario": "fanout",
            "target": self.target,
            "members": self.members,
            "votes": self.votes,
            "window": self.window,
            "rate": self.rate,
            "acked": self.acked,
            "refused": self.refused,
            "deliveries": self.delivered,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "deliveries_per_s": self.rate_per_s(),
            "latency_ms": {
                "p50": pct(&self.lat_us, 50.0),
                "p95": pct(&self.lat_us, 95.0),
                "p99": pct(&self.lat_us, 99.0),
                "max": pct(&self.lat_us, 100.0),
            },
            "read_latency_ms": {
                "p50": pct(&self.read_us, 50.0),
                "p99": pct(&self.read_us, 99.0),
                "max": pct(&self.read_us, 100.0),
            },
            "unstamped_deliveries": self.unstamped,
            "shared_read_deliveries": self.shared_reads,
            "tool_cpu_us_per_delivery": self.tool_cpu.map(|c| {
                let d = self.delivered.max(1) as f64;
                json!({"user": c.user_us as f64 / d, "system": c.sys_us as f64 / d})
            }),
            "server_cpu_us_per_delivery": cpu.map(|(u, s)| json!({"user": u, "system": s})),
            "settle": {"frames": self.settle_frames, "s": self.settle_s},
            "other_frames": self.other_frames,
        })
    }

    fn human(&self) -> String {
        let cpu = match self.cpu_per_delivery() {
            Some((u, s)) => {
                format!("\n  server CPU per delivery: {u:.2} µs user, {s:.2} µs system")
            }
            None => String::new(),
        };
        format!(
            "{} fan-out: {} members, {} commands (window {}{}), {} acked, {} refused\n  \
             {} deliveries in {:.2} s = {:.0} deliveries/s\n  \
             send → last client (kernel receive stamps): p50 {:.2} ms, p95 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms\n  \
             send → last client read by this tool: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\
             {}{}{}{}\n  \
             before the stream: {} non-event frames received while connecting, settled in {:.1} s",
            self.target,
            self.members,
            self.votes,
            self.window,
            if self.rate > 0.0 {
                format!(", {}/s", self.rate)
            } else {
                String::new()
            },
            self.acked,
            self.refused,
            self.delivered,
            self.elapsed.as_secs_f64(),
            self.rate_per_s(),
            pct(&self.lat_us, 50.0),
            pct(&self.lat_us, 95.0),
            pct(&self.lat_us, 99.0),
            pct(&self.lat_us, 100.0),
            pct(&self.read_us, 50.0),
            pct(&self.read_us, 99.0),
            pct(&self.read_us, 100.0),
            if self.unstamped > 0 {
                format!(" ({} deliveries without a kernel stamp)", self.unstamped)
            } else {
                String::new()
            },
            if self.shared_reads > 0 {
                format!(
                    " ({} deliveries shared a read with the next: stamps late there)",
                    self.shared_reads
                )
            } else {
                String::new()
            },
            self.tool_cpu
                .map(|c| {
                    let d = self.delivered.max(1) as f64;
                    format!(
                        "\n  this tool's CPU per delivery: {:.2} µs user, {:.2} µs system",
                        c.user_us as f64 / d,
                        c.sys_us as f64 / d
                    )
                })
                .unwrap_or_default(),
            cpu,
            self.settle_frames,
            self.settle_s
        )
    }
}

/// Where the fan-out runs: the sockets (connected, caught up), and how to make frame `i`.
struct Room {
    target: &'static str,
    mode: Mode,
    sockets: Vec<Ws>,
    base: u64,
    frame: Box<dyn Fn(usize) -> String + Send>,
    cpu_of: Option<proc_stat::Source>,
}

async fn run_fanout(room: Room, f: &FanArgs) -> Result<FanReport> {
    let Room {
        target,
        mode,
        sockets,
        base,
        frame,
        cpu_of,
    } = room;
    let n = sockets.len();
    let arrivals = Arc::new(Arrivals::new(base, f.votes, n));
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    let mut sender = None;
    let mut readers = Vec::with_capacity(n);
    for (i, ws) in sockets.into_iter().enumerate() {
        let stamps = ws.get_ref().stamps();
        // Only the sender's socket is split (the halves share a lock); the others only read.
        readers.push(if i == 0 {
            let (sink, stream) = ws.split();
            sender = Some(sink);
            let acks = Some((mode, ack_tx.clone()));
            tokio::spawn(reader(stream, stamps, arrivals.clone(), acks))
        } else {
            tokio::spawn(reader(ws, stamps, arrivals.clone(), None))
        });
    }
    drop(ack_tx);
    let mut sink = sender.ok_or("no members")?;

    // Let the connect storm settle (every connect broadcasts presence to the room): start only
    // after 500 ms without any frame, at most 60 s.
    let settle = Instant::now();
    let mut seen = arrivals.other.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = arrivals.other.load(Ordering::Relaxed);
        if now == seen || settle.elapsed() > Duration::from_secs(60) {
            break;
        }
        seen = now;
    }
    let settle_frames = seen;
    let settle_s = settle.elapsed().as_secs_f64();
    arrivals.other.store(0, Ordering::Relaxed);

    let cpu_before = cpu_of.as_ref().and_then(proc_stat::Source::read);
    let tool_before = proc_stat::Source::Own.read();
    let send_ns: Vec<AtomicU64> = (0..f.votes).map(|_| AtomicU64::new(0)).collect();
    let mut seq_of_op: Vec<Option<u64>> = vec![None; f.votes];
    let (mut acked, mut refused) = (0usize, 0usize);
    // Ops in the window: sent, and not yet both acknowledged and delivered to every client (or
    // refused). Releasing a slot only at full delivery makes window 1 one vote into an *idle*
    // room: releasing it at the ack sent the next vote while the server was still writing the
    // previous one to the other 999 sockets, so each vote queued behind its predecessor.
    let mut pending: Vec<(usize, Instant)> = Vec::with_capacity(f.window);
    let mut done = 0usize;
    let start_ns = stamped::realtime_ns();
    let started = Instant::now();
    let mut next = 0usize;
    let window = f.window.max(1);
    let mut progress = Instant::now();
    while done < f.votes {
        // Send while the window and the rate allow.
        while next < f.votes && pending.len() < window {
            if f.rate > 0.0 {
                let due = started + Duration::from_secs_f64(next as f64 / f.rate);
                if Instant::now() < due {
                    break;
                }
            }
            send_ns[next].store(stamped::realtime_ns(), Ordering::Relaxed);
            sink.send(Message::text(frame(next))).await?;
            pending.push((next, Instant::now()));
            next += 1;
        }
        let wait = if f.rate > 0.0 && next < f.votes && pending.len() < window {
            let due = started + Duration::from_secs_f64(next as f64 / f.rate);
            due.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(100)
        };
        tokio::select! {
            r = ack_rx.recv() => match r {
                Some(OpResult::Acked { op, seq }) => {
                    if op < f.votes && seq_of_op[op].is_none() {
                        seq_of_op[op] = Some(seq);
                        acked += 1;
                    }
                }
                Some(OpResult::Refused { op }) => {
                    refused += 1;
                    pending.retain(|&(o, _)| o != op);
                    done += 1;
                }
                None => return Err("the sender's socket closed".into()),
            },
            _ = arrivals.complete.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        // An acknowledged op leaves the window once every client has it, or after 10 s (a
        // client that never gets it shows in the delivery count below).
        let before = pending.len();
        pending.retain(|&(op, sent)| {
            let Some(seq) = seq_of_op[op] else {
                return true;
            };
            !(arrivals.delivered_to_all(seq) || sent.elapsed() > Duration::from_secs(10))
        });
        done += before - pending.len();
        if before != pending.len() {
            progress = Instant::now();
        } else if progress.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "no progress for 30 s ({acked} acked, {} in flight)",
                pending.len()
            )
            .into());
        }
    }
    // Wait (bounded) until every client has every acknowledged event.
    let expected = (acked * n) as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.total.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = match (
        cpu_before,
        cpu_of.as_ref().and_then(proc_stat::Source::read),
    ) {
        (Some(a), Some(b)) => Some(b.minus(a)),
        _ => None,
    };
    // This tool's own CPU: if it nears one core per second, the tool is the bottleneck (the
    // baseline server is a thread of this process: its share is taken out).
    let tool_cpu = match (tool_before, proc_stat::Source::Own.read(), mode, cpu) {
        (Some(a), Some(b), Mode::Baseline, Some(server)) => Some(b.minus(a).minus(server)),
        (Some(a), Some(b), _, _) => Some(b.minus(a)),
        _ => None,
    };
    let _ = sink.close().await;
    for r in readers {
        r.abort();
    }
    let delivered = arrivals.total.load(Ordering::Relaxed);
    if delivered < expected {
        eprintln!("warning: {delivered} of {expected} deliveries arrived within 30 s");
    }
    let mut lat_us = Vec::with_capacity(acked);
    let mut read_us = Vec::with_capacity(acked);
    let mut last_ns = start_ns;
    for (op, seq) in seq_of_op.iter().enumerate() {
        let Some(seq) = seq else { continue };
        let i = (seq - base - 1) as usize;
        if i >= f.votes || arrivals.count[i].load(Ordering::Relaxed) as usize != n {
            continue;
        }
        let got = arrivals.last_ns[i].load(Ordering::Relaxed);
        last_ns = last_ns.max(got);
        let sent = send_ns[op].load(Ordering::Relaxed);
        lat_us.push(got.saturating_sub(sent) / 1000);
        read_us.push(
            arrivals.read_ns[i]
                .load(Ordering::Relaxed)
                .saturating_sub(sent)
                / 1000,
        );
    }
    lat_us.sort_unstable();
    read_us.sort_unstable();
    Ok(FanReport {
        target,
        members: n,
        votes: f.votes,
        window,
        rate: f.rate,
        acked,
        refused,
        delivered,
        elapsed: Duration::from_nanos(last_ns.saturating_sub(start_ns)),
        lat_us,
        read_us,
        unstamped: arrivals.unstamped.load(Ordering::Relaxed),
        shared_reads: arrivals.shared_reads.load(Ordering::Relaxed),
        tool_cpu,
        cpu,
        settle_frames,
        settle_s,
        other_frames: arrivals.other.load(Ordering::Relaxed),
    })
}

/// Opens `urls` with bounded concurrency; each socket is returned once `ready` matched a frame.
async fn connect_all(
    urls: Vec<String>,
    concurrency: usize,
    ready: fn(&str) -> bool,
) -> Result<Vec<Ws>> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let total = urls.len();
    let bar = progress::bar(total as u64, "connected");
    let mut tasks = Vec::with_capacity(total);
    for url in urls {
        let (sem, bar) = (sem.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut ws = connect(&url).await?;
            wait_for(&mut ws, ready).await?;
            bar.inc(1);
            Ok::<_, Error>(ws)
        }));
    }
    let mut out = Vec::with_capacity(total);
    for t in tasks {
        out.push(t.await??);
    }
    bar.finish();
    Ok(out)
}

async fn fanout_sprintlog(a: &SprintlogFanout) -> Result<FanReport> {
    let base = loopback(&a.url)?;
    let f = &a.fan;
    let http = reqwest::Client::new();
    let p = create_planning(&http, &base, "loadtest fanout").await?;
    command(
        &http,
        &base,
        &p,
        "setup-item",
        json!({"type": "ProposeItem", "draft": {"title": "Load item"}}),
    )
    .await?;
    let item = find_in_log(&http, &base, &p, 0, "ItemProposed", "item").await?;
    command(
        &http,
        &base,
        &p,
        "setup-phase",
        json!({"type": "ChangePhase", "to": "async"}),
    )
    .await?;
    eprintln!("joining {} members…", f.members);
    let tokens = join_members(&http, &base, &p, f.members, f.connect_concurrency).await?;
    let v = command(
        &http,
        &base,
        &p,
        "setup-round",
        json!({"type": "OpenRound", "items": [item], "deadline": now_micros() + 3_600_000_000i64}),
    )
    .await?;
    let head = v["head"].as_u64().ok_or("no head")?;
    let round = find_in_log(&http, &base, &p, head - 1, "RoundOpened", "round").await?;
    let ws_base = base.replacen("http://", "ws://", 1);
    let urls = tokens
        .iter()
        .map(|t| format!("{ws_base}/ws/plannings/{}?token={t}&since={head}", p.id))
        .collect();
    let sockets = connect_all(urls, f.connect_concurrency, |t| {
        t.contains("\"type\":\"caught_up\"")
    })
    .await?;
    // Votes cast and changed (one `VoteCast` each). Not alternated with `WithdrawVote`: pipelined
    // commands from one socket are not decided in send order (a withdrawal can overtake its vote).
    let frame = move |i: usize| {
        let card = if i % 2 == 0 { "5" } else { "8" };
        let cmd = json!({"type": "CastVote", "round": round, "item": item, "card": card});
        json!({"type": "command", "op": format!("v{i}"), "command": cmd}).to_string()
    };
    run_fanout(
        Room {
            target: "sprintlog",
            mode: Mode::Sprintlog,
            sockets,
            base: head,
            frame: Box::new(frame),
            cpu_of: a.server_pid.map(proc_stat::Source::Pid),
        },
        f,
    )
    .await
}

async fn fanout_baseline(f: &FanArgs) -> Result<FanReport> {
    let server = baseline::start(f.baseline_cpu, !f.baseline_nagle)?;
    let url = format!("ws://{}/", server.addr);
    let sockets = connect_all(vec![url; f.members], f.connect_concurrency, |t| {
        t.contains("\"type\":\"hello\"")
    })
    .await?;
    // A frame the size and shape of a redacted VoteCast event frame.
    let frame = |i: usize| {
        format!(
            "{{\"type\":\"event\",\"seq\":{},\"id\":\"0b9d3f8e-6d0c-4b8e-9a57-6f6f2c1f{:04x}\",\
             \"actor\":\"5a0f2a52-1d8f-4c5a-b6c2-0e2f8e4d7a11\",\"at\":{},\"kind\":\"VoteCast\",\
             \"data\":{{\"round\":\"6f1b0c3e-2f4a-4f0e-9b1d-7c2a9e8d5f30\",\
             \"item\":\"9c3e7a1b-5d2f-4e6a-8b0c-1f2e3d4c5b6a\",\
             \"voter\":\"5a0f2a52-1d8f-4c5a-b6c2-0e2f8e4d7a11\"}}}}",
            i + 1,
            i % 0x10000,
            now_micros()
        )
    };
    run_fanout(
        Room {
            target: "baseline",
            mode: Mode::Baseline,
            sockets,
            base: 0,
            frame: Box::new(frame),
            cpu_of: server.tid.map(proc_stat::Source::Thread),
        },
        f,
    )
    .await
}

async fn compare(a: &SprintlogFanout) -> Result<(String, Value)> {
    eprintln!("baseline…");
    let b = fanout_baseline(&a.fan).await?;
    eprintln!("sprintlog…");
    let s = fanout_sprintlog(a).await?;
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
    let rate = ratio(s.rate_per_s(), b.rate_per_s());
    let p99 = ratio(pct(&s.lat_us, 99.0), pct(&b.lat_us, 99.0));
    let cpu = match (s.cpu_per_delivery(), b.cpu_per_delivery()) {
        (Some((su, _)), Some((bu, _))) => Some(ratio(su, bu)),
        _ => None,
    };
    let human = format!(
        "{}\n{}\nsprintlog / baseline: deliveries/s × {rate:.2}, p99 latency × {p99:.2}{}",
        b.human(),
        s.human(),
        cpu.map(|c| format!(", user CPU per delivery × {c:.2}"))
            .unwrap_or_default()
    );
    let json = json!({
        "scenario": "compare",
        "baseline": b.json(),
        "sprintlog": s.json(),
        "ratio": {"deliveries_per_s": rate, "p99": p99, "user_cpu_per_delivery": cpu},
    });
    Ok((human, json))
}

// ---------------------------------------------------------------------------------------------
// Replay: a late joiner's connect → caught_up
// ---------------------------------------------------------------------------------------------

async fn replay(a: &ReplayArgs) -> Result<(String, Value)> {
    let base = loopback(&a.url)?;
    let http = reqwest::Client::new();
    let p = Arc::new(create_planning(&http, &base, "loadtest replay").await?);
    // Seed: comments in bounded parallel batches (each one event).
    let seeded = Instant::now();
    let sem = Arc::new(Semaphore::new(a.concurrency.max(1)));
    let mut tasks = Vec::with_capacity(a.events);
    for i in 0..a.events {
        let (http, sem, p, base) = (http.clone(), sem.clone(), p.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            command(
                &http,
                &base,
                &p,
                &format!("seed-{i}"),
                json!({"type": "PostComment", "kind": "comment",
                       "text": format!("Seeded comment number {i} for the replay scenario")}),
            )
            .await?;
            Ok::<_, Error>(())
        }));
    }
    let bar = progress::bar(a.events as u64, "events seeded");
    for t in tasks {
        t.await??;
        bar.inc(1);
    }
    bar.finish();
    let seed_s = seeded.elapsed().as_secs_f64();
    let ws = format!(
        "{}/ws/plannings/{}?token={}&since=0",
        base.replacen("http://", "ws://", 1),
        p.id,
        p.token
    );
    let mut runs = Vec::new();
    for _ in 0..a.runs.max(1) {
        let t = Instant::now();
        let mut sock = connect(&ws).await?;
        let (mut events, mut snapshot, mut bytes) = (0u64, false, 0u64);
        let head;
        let run_deadline = t + Duration::from_secs(20);
        let mut seen: Vec<String> = Vec::new();
        loop {
            let next = tokio::time::timeout_at(run_deadline.into(), sock.next()).await;
            let Ok(next) = next else {
                return Err(format!(
                    "no caught_up within 20 s; received {events} event frames and {seen:?}"
                )
                .into());
            };
            let Some(msg) = next else {
                return Err(format!("socket closed before caught_up; received {seen:?}").into());
            };
            let Message::Text(text) = msg? else { continue };
            bytes += text.len() as u64;
            if text.contains("\"type\":\"caught_up\"") {
                let v: Value = serde_json::from_str(&text)?;
                head = v["head"].as_u64().unwrap_or(0);
                break;
            } else if text.starts_with("{\"type\":\"snapshot\"") {
                snapshot = true;
                seen.push(format!(
                    "snapshot ({} bytes) after {:.1} ms",
                    text.len(),
                    t.elapsed().as_secs_f64() * 1e3
                ));
            } else if seq_of(&text).is_some() {
                events += 1;
            } else {
                seen.push(text.chars().take(40).collect());
            }
        }
        let dt = t.elapsed();
        let _ = sock.close(None).await;
        runs.push((dt, events, snapshot, bytes, head));
    }
    let mut ms: Vec<f64> = runs.iter().map(|r| r.0.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let (_, events, snapshot, bytes, head) = runs[0];
    let per_s = head as f64 / (median / 1e3);
    let human = format!(
        "replay: {} events seeded in {seed_s:.2} s ({:.0} commands/s over REST, {} in flight)\n  \
         late joiner since=0 → caught_up (head {head}): median {median:.1} ms over {} runs {:?}\n  \
         = {per_s:.0} events/s; received {} ({events} event frames, {:.1} KiB)",
        a.events,
        a.events as f64 / seed_s,
        a.concurrency,
        ms.len(),
        ms.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>(),
        if snapshot { "a snapshot" } else { "the events" },
        bytes as f64 / 1024.0
    );
    let json = json!({
        "scenario": "replay",
        "events": a.events,
        "head": head,
        "seed_s": seed_s,
        "seed_commands_per_s": a.events as f64 / seed_s,
        "caught_up_ms": {"median": median, "runs": ms},
        "events_per_s": per_s,
        "snapshot": snapshot,
        "event_frames": events,
        "bytes": bytes,
    });
    Ok((human, json))
}
