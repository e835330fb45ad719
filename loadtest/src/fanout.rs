//! The fan-out scenarios (`fanout`, `baseline`, `compare`): one planning, N clients connected;
//! one member streams votes and, every K votes, the facilitator reveals them (closes the round)
//! and opens the next; each command's events are timed from its send to the *last* client
//! receiving them. The same traffic runs against sprintlog and against the minimal server in
//! [`crate::baseline`], so the two can be compared in one run.

use crate::memory::Memory;
use crate::{
    baseline, connect, loopback, now_micros, one_item_room, proc_stat, progress, seq_of, stamped,
    wait_for, Error, OneItemRoom, Result, Ws,
};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::{self, Message};

#[derive(Debug, Clone, Args)]
pub struct FanArgs {
    /// Websocket clients connected to the planning: the facilitator and N − 1 members (at
    /// least 3: a round closes by itself once every member has voted, so one member never
    /// votes). Every event goes to all N.
    #[arg(long, default_value_t = 100)]
    pub members: usize,
    /// Votes streamed by one member (`CastVote`, changing the card each time: one event each).
    #[arg(long, default_value_t = 1000)]
    pub votes: usize,
    /// A reveal after every K votes: the facilitator closes the round during the live session,
    /// which reveals its votes to everyone (`RoundClosed`, `VotesRevealed`, `ItemFlagged`: three
    /// events), then opens the next round (`RoundOpened`) for the votes that follow. 0: votes
    /// only (the planning stays in its async phase).
    #[arg(long, default_value_t = 10)]
    pub reveal_every: usize,
    /// Commands in flight (sent, and not yet acknowledged and delivered to every client).
    /// 1 = one command at a time into an idle room (pure latency); larger values saturate the
    /// server. A reveal waits until the round's votes are acknowledged, and the next votes
    /// until the new round is open.
    #[arg(long, default_value_t = 1)]
    pub window: usize,
    /// Send the next round's opening only once the reveal is acknowledged. By default (with a
    /// window over 1) the facilitator sends both together: commands on one connection are
    /// decided in the order sent, so the server appends them in one commit.
    #[arg(long)]
    pub serial_reveal: bool,
    /// Votes per second (0: as fast as the window allows).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Give up after this many seconds (the whole scenario).
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Connections and joins opened at once during setup.
    #[arg(long, default_value_t = 32)]
    pub connect_concurrency: usize,
    /// Pin the baseline server's thread to this CPU (with `taskset`), as the real server is.
    #[arg(long)]
    pub baseline_cpu: Option<usize>,
    /// Leave Nagle on for the baseline server's sockets (by default they set TCP_NODELAY, as
    /// sprintlog's do).
    #[arg(long)]
    pub baseline_nagle: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SprintlogFanout {
    /// sprintlog's base URL, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    pub url: String,
    /// The server's pid: reports its CPU per delivery from /proc/<pid>/stat.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Drive sprintlog alone, without the same traffic against the baseline
    /// first (the report then has no baseline figures and no ratios).
    #[arg(long)]
    pub no_baseline: bool,
    #[command(flatten)]
    pub fan: FanArgs,
}

/// Events a reveal cycle may append per command at most (a close appends three, an open one):
/// sizes the arrival table; more is reported as an error, never silently dropped.
const EVENTS_PER_CYCLE_COMMAND: usize = 4;

/// A command of the stream.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Step {
    /// The voter changes its vote (one `VoteCast`).
    Vote,
    /// The facilitator closes the round: its votes are revealed to everyone.
    Reveal,
    /// The facilitator opens the next round.
    Open,
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

    /// Whether `seq` fits the table (events past it are not recorded).
    fn holds(&self, seq: u64) -> bool {
        seq > self.base && ((seq - self.base - 1) as usize) < self.last_ns.len()
    }

    /// `stamp`: the kernel receive time of the read that completed the frame (0 if none).
    fn record(&self, seq: u64, stamp: u64) {
        if !self.holds(seq) {
            return;
        }
        let i = (seq - self.base - 1) as usize;
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

    /// Whether every client has received every event of `seqs` (first, last).
    fn delivered_to_all(&self, (first, last): (u64, u64)) -> bool {
        (first..=last).all(|seq| {
            self.holds(seq)
                && self.count[(seq - self.base - 1) as usize].load(Ordering::Relaxed)
                    >= self.clients
        })
    }

    /// The latest arrival at any client of any of `seqs`, by kernel stamp and by read time.
    fn last_arrival(&self, (first, last): (u64, u64)) -> (u64, u64) {
        (first..=last)
            .filter(|&s| self.holds(s))
            .map(|s| (s - self.base - 1) as usize)
            .fold((0, 0), |(k, r), i| {
                (
                    k.max(self.last_ns[i].load(Ordering::Relaxed)),
                    r.max(self.read_ns[i].load(Ordering::Relaxed)),
                )
            })
    }
}

/// What the sending clients learn of their own ops.
pub(crate) enum OpResult {
    /// sprintlog acknowledged op `op`; its events are `first..=last`.
    Acked { op: usize, first: u64, last: u64 },
    /// sprintlog refused op `op` (nothing was written).
    Refused { op: usize },
    /// The baseline broadcast the frame `seq` (it has no acks: the voter's own copy is one).
    Seen { seq: u64 },
}

#[derive(Clone, Copy)]
enum Mode {
    /// Acks are `{"type":"ack","op":"v<i>","first":…,"head":…}` frames.
    Sprintlog,
    /// No acks: the sender's own copy of each rebroadcast frame is its ack.
    Baseline,
}

/// The round the voter votes in: the seq and id of the last `RoundOpened` the facilitator's
/// socket received (a std mutex: held for a copy, never across an await).
pub(crate) type Current = Arc<Mutex<(u64, String)>>;

/// What one client's reader does besides recording event arrivals.
#[derive(Default)]
struct ReaderRole {
    /// Forward acks and errors (sprintlog), or every event seq seen (baseline).
    acks: Option<(Mode, mpsc::UnboundedSender<OpResult>)>,
    /// Keep the last `RoundOpened` here, and count `VotesRevealed` frames (the facilitator).
    rounds: Option<(Current, Arc<AtomicU64>)>,
}

/// Reads one client's socket until it closes: records event arrivals (with `stamps`, the
/// socket's kernel receive time of the newest data read), and does what `role` asks.
async fn reader(
    mut stream: impl futures_util::Stream<Item = tungstenite::Result<Message>> + Unpin,
    stamps: Arc<stamped::Stamps>,
    arrivals: Arc<Arrivals>,
    role: ReaderRole,
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
        let Some(seq) = seq_of(text) else {
            arrivals.other.fetch_add(1, Ordering::Relaxed);
            if let Some((Mode::Sprintlog, tx)) = &role.acks {
                forward_ack(text, tx);
            }
            continue;
        };
        if let Some((current, revealed)) = &role.rounds {
            // Before `record`: once the event has reached every client, its round is known.
            if text.contains("\"kind\":\"RoundOpened\"") {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if let Some(round) = v["data"]["round"].as_str() {
                    if let Ok(mut c) = current.lock() {
                        *c = (seq, round.to_string());
                    }
                }
            } else if text.contains("\"kind\":\"VotesRevealed\"") {
                revealed.fetch_add(1, Ordering::Relaxed);
            }
        }
        // tungstenite reads only when its buffer holds no whole frame, so the newest stamp is
        // the one of the read that completed this frame.
        let reads = stamps.reads.load(Ordering::Relaxed);
        if reads == last_reads {
            arrivals.shared_reads.fetch_add(1, Ordering::Relaxed);
        }
        last_reads = reads;
        arrivals.record(seq, stamps.newest.load(Ordering::Relaxed));
        if let Some((Mode::Baseline, tx)) = &role.acks {
            let _ = tx.send(OpResult::Seen { seq });
        }
    }
}

/// Passes on a sprintlog `ack` or `error` frame for one of the stream's ops (`op` = `v<i>`).
pub(crate) fn forward_ack(text: &str, tx: &mpsc::UnboundedSender<OpResult>) {
    if !(text.contains("\"type\":\"ack\"") || text.contains("\"type\":\"error\"")) {
        return;
    }
    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let op = v["op"]
        .as_str()
        .and_then(|o| o.strip_prefix('v'))
        .and_then(|o| o.parse::<usize>().ok());
    match (v["type"].as_str(), op) {
        (Some("ack"), Some(op)) => {
            if let (Some(first), Some(last)) = (v["first"].as_u64(), v["head"].as_u64()) {
                let _ = tx.send(OpResult::Acked { op, first, last });
            }
        }
        (Some("error"), Some(op)) => {
            eprintln!("refused: {text}");
            let _ = tx.send(OpResult::Refused { op });
        }
        _ => {}
    }
}

pub struct FanReport {
    target: &'static str,
    members: usize,
    votes: usize,
    reveal_every: usize,
    /// The next round's opening waited for the reveal's ack (`--serial-reveal`).
    serial_reveal: bool,
    window: usize,
    rate: f64,
    /// Votes acknowledged, and refused.
    acked: usize,
    refused: usize,
    /// Reveals (round closes) and round openings acknowledged.
    reveals: usize,
    opens: usize,
    /// Events the acknowledged commands appended (each goes to every client).
    events: u64,
    /// `VotesRevealed` frames the facilitator's socket received.
    revealed_frames: u64,
    delivered: u64,
    elapsed: Duration,
    /// Latencies vote send → last client (kernel receive stamps), in microseconds, sorted.
    lat_us: Vec<u64>,
    /// The same, to when the tool read the frame (the tool's own scheduling included).
    read_us: Vec<u64>,
    /// Reveal send → last client has every event of it (kernel stamps), sorted.
    reveal_us: Vec<u64>,
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
    /// The server's RSS around the stream (sprintlog with `--server-pid`; the baseline is a
    /// thread of this tool, whose RSS holds the clients too).
    memory: Option<Memory>,
}

pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

pub(crate) fn percentiles(sorted: &[u64]) -> Value {
    json!({
        "p50": pct(sorted, 50.0),
        "p95": pct(sorted, 95.0),
        "p99": pct(sorted, 99.0),
        "max": pct(sorted, 100.0),
    })
}

impl FanReport {
    pub fn rate_per_s(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn cpu_per_delivery(&self) -> Option<(f64, f64)> {
        let c = self.cpu?;
        let d = self.delivered.max(1) as f64;
        Some((c.user_us as f64 / d, c.sys_us as f64 / d))
    }

    pub fn json(&self) -> Value {
        let cpu = self.cpu_per_delivery();
        json!({
            "scenario": "fanout",
            "target": self.target,
            "members": self.members,
            "votes": self.votes,
            "reveal_every": self.reveal_every,
            "serial_reveal": self.serial_reveal,
            "window": self.window,
            "rate": self.rate,
            "acked": self.acked,
            "refused": self.refused,
            "reveals": self.reveals,
            "opens": self.opens,
            "events": self.events,
            "revealed_frames": self.revealed_frames,
            "deliveries": self.delivered,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "deliveries_per_s": self.rate_per_s(),
            "latency_ms": percentiles(&self.lat_us),
            "read_latency_ms": {
                "p50": pct(&self.read_us, 50.0),
                "p99": pct(&self.read_us, 99.0),
                "max": pct(&self.read_us, 100.0),
            },
            "reveal_latency_ms": percentiles(&self.reveal_us),
            "unstamped_deliveries": self.unstamped,
            "shared_read_deliveries": self.shared_reads,
            "tool_cpu_us_per_delivery": self.tool_cpu.map(|c| {
                let d = self.delivered.max(1) as f64;
                json!({"user": c.user_us as f64 / d, "system": c.sys_us as f64 / d})
            }),
            "server_cpu_us_per_delivery": cpu.map(|(u, s)| json!({"user": u, "system": s})),
            "settle": {"frames": self.settle_frames, "s": self.settle_s},
            "other_frames": self.other_frames,
            "server_rss_kib": self.memory.as_ref().map(|m| m.json(self.members)),
        })
    }

    pub fn human(&self) -> String {
        let cpu = match self.cpu_per_delivery() {
            Some((u, s)) => {
                format!("\n  server CPU per delivery: {u:.2} µs user, {s:.2} µs system")
            }
            None => String::new(),
        };
        let reveals = if self.reveals > 0 {
            format!(
                "\n  {} reveals ({} VotesRevealed frames at the facilitator), reveal → last \
                 client: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                self.reveals,
                self.revealed_frames,
                pct(&self.reveal_us, 50.0),
                pct(&self.reveal_us, 99.0),
                pct(&self.reveal_us, 100.0),
            )
        } else {
            String::new()
        };
        format!(
            "{} fan-out: {} clients, {} votes{} (window {}{}), {} acked, {} refused\n  \
             {} events, {} deliveries in {:.2} s = {:.0} deliveries/s\n  \
             vote → last client (kernel receive stamps): p50 {:.2} ms, p95 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms\n  \
             vote → last client read by this tool: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\
             {}{}{}{}{}\n  \
             before the stream: {} non-event frames received while connecting, settled in {:.1} s\
             {}",
            self.target,
            self.members,
            self.votes,
            if self.reveal_every > 0 {
                format!(", a reveal every {}", self.reveal_every)
            } else {
                String::new()
            },
            self.window,
            if self.rate > 0.0 {
                format!(", {}/s", self.rate)
            } else {
                String::new()
            },
            self.acked,
            self.refused,
            self.events,
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
            reveals,
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
            self.settle_s,
            self.memory
                .as_ref()
                .map(|m| format!("\n  {}", m.human(self.members)))
                .unwrap_or_default()
        )
    }
}

/// Makes the text of op `i` (a [`Step`]) in the round `round` (sprintlog's id, from the last
/// `RoundOpened`). For the baseline it also gives the seqs of the frames the text makes
/// (sprintlog's come with its ack).
type Script = Box<dyn FnMut(Step, usize, &str) -> (String, Option<(u64, u64)>) + Send>;

/// Where the fan-out runs: the sockets, connected and caught up (`[0]` the voter, `[1]` the
/// facilitator; at least 3, see [`check_members`]), the first round, and how to make each
/// command.
struct Room {
    target: &'static str,
    mode: Mode,
    sockets: Vec<Ws>,
    /// The head before the stream, and the open round (its `RoundOpened` seq and id).
    base: u64,
    round: (u64, String),
    script: Script,
    cpu_of: Option<proc_stat::Source>,
    /// The server's RSS, read before the clients connected.
    memory: Option<Memory>,
}

/// One command of the stream, as the driver tracks it.
struct Op {
    step: Step,
    /// Realtime ns at send (comparable with the kernel's receive stamps).
    sent_ns: u64,
    sent: Instant,
    /// Its events, once acknowledged.
    seqs: Option<(u64, u64)>,
}

/// Where the stream is in its round.
#[derive(Clone, Copy)]
enum Stage {
    Voting,
    /// The round has its K votes: reveal once they are all acknowledged.
    RevealDue,
    /// Op `i` (the reveal, then the next round's opening) is in flight.
    Revealing(usize),
    Opening(usize),
    Finished,
}

async fn run_fanout(room: Room, f: &FanArgs) -> Result<FanReport> {
    let Room {
        target,
        mode,
        sockets,
        base,
        round,
        mut script,
        cpu_of,
        mut memory,
    } = room;
    let n = sockets.len();
    let k = f.reveal_every;
    let reveals = f.votes.checked_div(k).unwrap_or(0);
    // No round is opened after the last reveal.
    let opens = if reveals > 0 && f.votes.is_multiple_of(k) {
        reveals - 1
    } else {
        reveals
    };
    let total_ops = f.votes + reveals + opens;
    let arrivals = Arc::new(Arrivals::new(
        base,
        f.votes + (reveals + opens) * EVENTS_PER_CYCLE_COMMAND,
        n,
    ));
    let current: Current = Arc::new(Mutex::new(round));
    let revealed = Arc::new(AtomicU64::new(0));
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel();
    let mut sinks = Vec::with_capacity(2);
    let mut readers = Vec::with_capacity(n);
    for (i, ws) in sockets.into_iter().enumerate() {
        let stamps = ws.get_ref().stamps();
        let role = ReaderRole {
            acks: match (i, mode) {
                (0, _) | (1, Mode::Sprintlog) => Some((mode, ack_tx.clone())),
                _ => None,
            },
            rounds: (i == 1).then(|| (current.clone(), revealed.clone())),
        };
        // Only the senders' sockets are split (the halves share a lock); the others only read.
        readers.push(if i < 2 {
            let (sink, stream) = ws.split();
            sinks.push(sink);
            tokio::spawn(reader(stream, stamps, arrivals.clone(), role))
        } else {
            tokio::spawn(reader(ws, stamps, arrivals.clone(), role))
        });
    }
    drop(ack_tx);

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

    if let Some(m) = memory.as_mut() {
        m.load_starts();
    }
    let cpu_before = cpu_of.as_ref().and_then(proc_stat::Source::read);
    let tool_before = proc_stat::Source::Own.read();
    let mut ops: Vec<Op> = Vec::with_capacity(total_ops);
    // The baseline's ops by the seq of their last frame (their "ack" is that frame's arrival).
    let mut by_last_seq: HashMap<u64, (usize, u64)> = HashMap::new();
    let (mut acked, mut refused, mut unacked) = (0usize, 0usize, 0usize);
    let (mut reveals_acked, mut opens_acked) = (0usize, 0usize);
    // Ops in the window: sent, and not yet both acknowledged and delivered to every client (or
    // refused). Releasing a slot only at full delivery makes window 1 one command into an
    // *idle* room: releasing it at the ack sent the next vote while the server was still
    // writing the previous one to the other 999 sockets, so each vote queued behind it.
    let mut pending: Vec<usize> = Vec::with_capacity(f.window);
    let mut done = 0usize;
    let start_ns = stamped::realtime_ns();
    let started = Instant::now();
    let (mut votes_sent, mut in_round) = (0usize, 0usize);
    let mut stage = Stage::Voting;
    let mut reveal_unflushed = false;
    let window = f.window.max(1);
    let mut progress = Instant::now();
    let bar = progress::bar(total_ops as u64, "commands");
    while done < total_ops {
        // Send while the window, the rate and the round allow.
        while pending.len() < window {
            let step = match stage {
                Stage::Finished => break,
                Stage::Voting if k > 0 && in_round == k => {
                    stage = Stage::RevealDue;
                    continue;
                }
                Stage::Voting if votes_sent == f.votes => break,
                Stage::Voting => {
                    if f.rate > 0.0
                        && Instant::now()
                            < started + Duration::from_secs_f64(votes_sent as f64 / f.rate)
                    {
                        break;
                    }
                    Step::Vote
                }
                // Votes still in flight would reach a closed round and be refused.
                Stage::RevealDue if unacked > 0 => break,
                Stage::RevealDue => Step::Reveal,
                // With a window of 1 the reveal holds the only slot until every client has it.
                Stage::Revealing(op) if f.serial_reveal && ops[op].seqs.is_none() => break,
                Stage::Revealing(_) if votes_sent == f.votes => {
                    stage = Stage::Finished;
                    break;
                }
                Stage::Revealing(_) => Step::Open,
                Stage::Opening(op) => {
                    let Some((first, _)) = ops[op].seqs else {
                        break;
                    };
                    // The voter needs the new round's id, from its `RoundOpened`.
                    if current.lock().map(|c| c.0 < first).unwrap_or(true) {
                        break;
                    }
                    in_round = 0;
                    stage = Stage::Voting;
                    continue;
                }
            };
            let i = ops.len();
            let round = current.lock().map(|c| c.1.clone()).unwrap_or_default();
            let (text, seqs) = script(step, i, &round);
            if let Some((first, last)) = seqs {
                by_last_seq.insert(last, (i, first));
            }
            ops.push(Op {
                step,
                sent_ns: stamped::realtime_ns(),
                sent: Instant::now(),
                seqs: None,
            });
            let sink = if step == Step::Vote {
                &mut sinks[0]
            } else {
                &mut sinks[1]
            };
            if step == Step::Reveal && !f.serial_reveal {
                // Written with the opening that follows it (one segment, queued together).
                sink.feed(Message::text(text)).await?;
                reveal_unflushed = true;
            } else {
                sink.send(Message::text(text)).await?;
                reveal_unflushed &= step == Step::Vote;
            }
            pending.push(i);
            unacked += 1;
            match step {
                Step::Vote => {
                    votes_sent += 1;
                    in_round += 1;
                }
                Step::Reveal => stage = Stage::Revealing(i),
                Step::Open => stage = Stage::Opening(i),
            }
        }
        if std::mem::take(&mut reveal_unflushed) {
            sinks[1].flush().await?;
        }
        let wait = if f.rate > 0.0 && votes_sent < f.votes && pending.len() < window {
            let due = started + Duration::from_secs_f64(votes_sent as f64 / f.rate);
            due.saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(100)
        };
        let acknowledged = tokio::select! {
            r = ack_rx.recv() => match r {
                Some(OpResult::Acked { op, first, last }) => Some((op, (first, last))),
                Some(OpResult::Seen { seq }) => {
                    by_last_seq.remove(&seq).map(|(op, first)| (op, (first, seq)))
                }
                Some(OpResult::Refused { op }) => {
                    let step = ops.get(op).map(|o| o.step);
                    if step != Some(Step::Vote) {
                        return Err(format!("the facilitator's {step:?} was refused").into());
                    }
                    refused += 1;
                    unacked -= 1;
                    pending.retain(|&o| o != op);
                    done += 1;
                    bar.inc(1);
                    None
                }
                None => return Err("a sender's socket closed".into()),
            },
            _ = arrivals.complete.notified() => None,
            _ = tokio::time::sleep(wait) => None,
        };
        if let Some((op, seqs)) = acknowledged {
            if op < ops.len() && ops[op].seqs.is_none() {
                if !arrivals.holds(seqs.1) {
                    return Err(format!(
                        "op {op} appended events {seqs:?}, past the {} this run expected",
                        arrivals.last_ns.len()
                    )
                    .into());
                }
                ops[op].seqs = Some(seqs);
                unacked -= 1;
                match ops[op].step {
                    Step::Vote => acked += 1,
                    Step::Reveal => reveals_acked += 1,
                    Step::Open => opens_acked += 1,
                }
            }
        }
        // An acknowledged op leaves the window once every client has all its events, or after
        // 10 s (a client that never gets them shows in the delivery count below).
        let before = pending.len();
        pending.retain(|&op| {
            let Some(seqs) = ops[op].seqs else {
                return true;
            };
            !(arrivals.delivered_to_all(seqs) || ops[op].sent.elapsed() > Duration::from_secs(10))
        });
        done += before - pending.len();
        bar.inc((before - pending.len()) as u64);
        if before != pending.len() {
            progress = Instant::now();
        } else if progress.elapsed() > Duration::from_secs(30) {
            return Err(format!(
                "no progress for 30 s ({acked} votes acked, {} in flight)",
                pending.len()
            )
            .into());
        }
    }
    bar.finish();
    // Wait (bounded) until every client has every acknowledged event.
    let events: u64 = ops
        .iter()
        .filter_map(|o| o.seqs)
        .map(|(a, b)| b + 1 - a)
        .sum();
    let expected = events * n as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.total.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let cpu = proc_stat::Cpu::between(
        cpu_before,
        cpu_of.as_ref().and_then(proc_stat::Source::read),
    );
    // This tool's own CPU: if it nears one core per second, the tool is the bottleneck (the
    // baseline server is a thread of this process: its share is taken out).
    let tool_cpu = match (
        proc_stat::Cpu::between(tool_before, proc_stat::Source::Own.read()),
        mode,
        cpu,
    ) {
        (Some(own), Mode::Baseline, Some(server)) => Some(own.minus(server)),
        (own, _, _) => own,
    };
    if let Some(m) = memory.as_mut() {
        m.load_ended().await;
    }
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    for r in readers {
        r.abort();
    }
    let delivered = arrivals.total.load(Ordering::Relaxed);
    if delivered < expected {
        eprintln!("warning: {delivered} of {expected} deliveries arrived within 30 s");
    }
    let (mut lat_us, mut read_us, mut reveal_us) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_ns = start_ns;
    for op in &ops {
        let Some(seqs) = op.seqs else { continue };
        if !arrivals.delivered_to_all(seqs) {
            continue;
        }
        let (got, read) = arrivals.last_arrival(seqs);
        last_ns = last_ns.max(got);
        let lat = got.saturating_sub(op.sent_ns) / 1000;
        match op.step {
            Step::Vote => {
                lat_us.push(lat);
                read_us.push(read.saturating_sub(op.sent_ns) / 1000);
            }
            Step::Reveal => reveal_us.push(lat),
            Step::Open => {}
        }
    }
    lat_us.sort_unstable();
    read_us.sort_unstable();
    reveal_us.sort_unstable();
    Ok(FanReport {
        target,
        members: n,
        votes: f.votes,
        reveal_every: k,
        serial_reveal: f.serial_reveal,
        window,
        rate: f.rate,
        acked,
        refused,
        reveals: reveals_acked,
        opens: opens_acked,
        events,
        revealed_frames: revealed.load(Ordering::Relaxed),
        delivered,
        elapsed: Duration::from_nanos(last_ns.saturating_sub(start_ns)),
        lat_us,
        read_us,
        reveal_us,
        unstamped: arrivals.unstamped.load(Ordering::Relaxed),
        shared_reads: arrivals.shared_reads.load(Ordering::Relaxed),
        tool_cpu,
        cpu,
        settle_frames,
        settle_s,
        other_frames: arrivals.other.load(Ordering::Relaxed),
        memory,
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

fn check_members(f: &FanArgs) -> Result<()> {
    if f.members < 3 {
        return Err(
            "--members must be at least 3: the facilitator, the voter, and a member \
                    who never votes (a round closes by itself once every member has voted)"
                .into(),
        );
    }
    Ok(())
}

pub async fn fanout_sprintlog(a: &SprintlogFanout) -> Result<FanReport> {
    let base = loopback(&a.url)?;
    let f = &a.fan;
    check_members(f)?;
    let http = reqwest::Client::new();
    let OneItemRoom {
        p,
        item,
        tokens,
        head,
        round,
    } = one_item_room(
        &http,
        &base,
        "loadtest fanout",
        f.members - 1,
        f.connect_concurrency,
        f.reveal_every > 0,
    )
    .await?;
    let mut memory = a.server_pid.map(Memory::before);
    if let Some(m) = memory.as_mut() {
        m.sqlite_before(&http, &base).await;
    }
    let ws_base = base.replacen("http://", "ws://", 1);
    // The voter first, the facilitator second (see `Room`), then the other members.
    let mut tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
    tokens.insert(1, &p.token);
    let urls = tokens
        .iter()
        .map(|t| format!("{ws_base}/ws/plannings/{}?token={t}&since={head}", p.id))
        .collect();
    let sockets = connect_all(urls, f.connect_concurrency, |t| {
        t.contains("\"type\":\"caught_up\"")
    })
    .await?;
    // Votes cast and changed (one `VoteCast` each). Commands from one socket are decided in the
    // order sent, which lets the facilitator send a reveal and the next opening together.
    let deadline = now_micros() + 3_600_000_000i64;
    let script = move |step: Step, i: usize, round: &str| {
        let cmd = match step {
            Step::Vote => {
                let card = if i.is_multiple_of(2) { "5" } else { "8" };
                json!({"type": "CastVote", "round": round, "item": item, "card": card})
            }
            Step::Reveal => json!({"type": "CloseRound", "round": round}),
            Step::Open => json!({"type": "OpenRound", "items": [item], "deadline": deadline}),
        };
        let text = json!({"type": "command", "op": format!("v{i}"), "command": cmd}).to_string();
        (text, None)
    };
    let mut report = run_fanout(
        Room {
            target: "sprintlog",
            mode: Mode::Sprintlog,
            sockets,
            base: head,
            round: (head, round),
            script: Box::new(script),
            cpu_of: a.server_pid.map(proc_stat::Source::Pid),
            memory,
        },
        f,
    )
    .await?;
    if let Some(m) = report.memory.as_mut() {
        m.sqlite_settled(&http, &base).await;
    }
    Ok(report)
}

/// A baseline event frame, the size and shape of sprintlog's frame for the same event (`seq`,
/// `kind`, then its data as sprintlog shows it to a member).
fn baseline_frame(seq: u64, kind: &str, data: &str) -> String {
    format!(
        "{{\"type\":\"event\",\"seq\":{seq},\"id\":\"0b9d3f8e-6d0c-4b8e-9a57-6f6f2c1f{:04x}\",\
         \"actor\":\"5a0f2a52-1d8f-4c5a-b6c2-0e2f8e4d7a11\",\"at\":{},\"kind\":\"{kind}\",\
         \"data\":{data}}}",
        seq % 0x10000,
        now_micros()
    )
}

/// The baseline's commands: the frames of the events sprintlog appends for each (one line per
/// frame: the baseline server broadcasts each line as a frame), numbered from 1.
fn baseline_script() -> Script {
    const ROUND: &str = "6f1b0c3e-2f4a-4f0e-9b1d-7c2a9e8d5f30";
    const ITEM: &str = "9c3e7a1b-5d2f-4e6a-8b0c-1f2e3d4c5b6a";
    const VOTER: &str = "5a0f2a52-1d8f-4c5a-b6c2-0e2f8e4d7a11";
    const FACILITATOR: &str = "1e7c4b9a-3f2d-4a6b-8c5e-0d9f1a2b3c4d";
    // One frame per event sprintlog appends; several lines make several frames (`baseline`).
    let mut next = 0u64;
    Box::new(move |step: Step, _i: usize, _round: &str| {
        let first = next + 1;
        let mut seq = || {
            next += 1;
            next
        };
        // The data as sprintlog shows it (keys in its order; timestamps with their UTC text).
        let at = now_micros();
        const UTC: &str = "2026-11-29T03:12:37.121520Z";
        let text = match step {
            Step::Vote => baseline_frame(
                seq(),
                "VoteCast",
                &format!("{{\"item\":\"{ITEM}\",\"round\":\"{ROUND}\",\"voter\":\"{VOTER}\"}}"),
            ),
            Step::Reveal => [
                baseline_frame(
                    seq(),
                    "RoundClosed",
                    &format!(
                        "{{\"at\":{at},\"at_utc\":\"{UTC}\",\"reason\":\"facilitator\",\
                         \"round\":\"{ROUND}\"}}"
                    ),
                ),
                baseline_frame(
                    seq(),
                    "VotesRevealed",
                    &format!(
                        "{{\"by\":\"{FACILITATOR}\",\"item\":\"{ITEM}\",\"round\":\"{ROUND}\",\
                         \"votes\":[{{\"card\":\"5\",\"voter\":\"{VOTER}\"}}]}}"
                    ),
                ),
                baseline_frame(
                    seq(),
                    "ItemFlagged",
                    &format!(
                        "{{\"by\":\"{FACILITATOR}\",\"item\":\"{ITEM}\",\"note\":null,\
                         \"reason\":\"quorum\",\"round\":\"{ROUND}\"}}"
                    ),
                ),
            ]
            .join("\n"),
            Step::Open => baseline_frame(
                seq(),
                "RoundOpened",
                &format!(
                    "{{\"at\":{at},\"at_utc\":\"{UTC}\",\"by\":\"{FACILITATOR}\",\
                     \"deadline\":{},\"deadline_utc\":\"{UTC}\",\"deck\":{{\"cards\":\
                     [\"0\",\"1\",\"2\",\"3\",\"5\",\"8\",\"13\",\"21\"],\
                     \"kind\":\"fibonacci\"}},\"items\":[\"{ITEM}\"],\"live\":true,\
                     \"round\":\"{ROUND}\"}}",
                    at + 3_600_000_000
                ),
            ),
        };
        (text, Some((first, next)))
    })
}

pub async fn fanout_baseline(f: &FanArgs) -> Result<FanReport> {
    check_members(f)?;
    let server = baseline::start(f.baseline_cpu, !f.baseline_nagle)?;
    let url = format!("ws://{}/", server.addr);
    let sockets = connect_all(vec![url; f.members], f.connect_concurrency, |t| {
        t.contains("\"type\":\"caught_up\"")
    })
    .await?;
    let script = baseline_script();
    run_fanout(
        Room {
            target: "baseline",
            mode: Mode::Baseline,
            sockets,
            base: 0,
            round: (0, String::new()),
            script,
            cpu_of: server.tid.map(proc_stat::Source::Thread),
            memory: None,
        },
        f,
    )
    .await
}

pub async fn compare(a: &SprintlogFanout) -> Result<(String, Value)> {
    eprintln!("baseline…");
    let b = fanout_baseline(&a.fan).await?;
    eprintln!("sprintlog…");
    let s = fanout_sprintlog(a).await?;
    let ratio = |x: f64, y: f64| crate::ratio(x, y).unwrap_or(f64::NAN);
    let rate = ratio(s.rate_per_s(), b.rate_per_s());
    let p99 = ratio(pct(&s.lat_us, 99.0), pct(&b.lat_us, 99.0));
    let reveal_p99 =
        (s.reveals > 0).then(|| ratio(pct(&s.reveal_us, 99.0), pct(&b.reveal_us, 99.0)));
    let cpu = match (s.cpu_per_delivery(), b.cpu_per_delivery()) {
        (Some((su, _)), Some((bu, _))) => Some(ratio(su, bu)),
        _ => None,
    };
    let human = format!(
        "{}\n{}\nsprintlog / baseline: deliveries/s × {rate:.2}, vote p99 latency × {p99:.2}{}{}",
        b.human(),
        s.human(),
        reveal_p99
            .map(|r| format!(", reveal p99 latency × {r:.2}"))
            .unwrap_or_default(),
        cpu.map(|c| format!(", user CPU per delivery × {c:.2}"))
            .unwrap_or_default()
    );
    let json = json!({
        "scenario": "compare",
        "baseline": b.json(),
        "sprintlog": s.json(),
        "ratio": {
            "deliveries_per_s": rate,
            "p99": p99,
            "reveal_p99": reveal_p99,
            "user_cpu_per_delivery": cpu,
        },
    });
    Ok((human, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The baseline's frames are JSON with sprintlog's frame fields, `seq` in order, and the
    /// facilitator's reader finds each new round's id in its `RoundOpened`.
    #[test]
    fn baseline_frames_are_events_numbered_in_order() {
        let mut script = baseline_script();
        let mut seq = 0;
        for (i, step) in [Step::Vote, Step::Reveal, Step::Open, Step::Vote]
            .into_iter()
            .enumerate()
        {
            let (text, seqs) = script(step, i, "");
            let lines: Vec<&str> = text.split('\n').collect();
            assert_eq!(seqs, Some((seq + 1, seq + lines.len() as u64)), "{text}");
            for line in lines {
                seq += 1;
                let v: Value = serde_json::from_str(line).expect(line);
                assert_eq!(seq_of(line), Some(seq), "{line}");
                assert_eq!(v["type"], "event", "{line}");
                assert!(v["kind"].is_string() && v["data"].is_object(), "{line}");
            }
            if step == Step::Open {
                assert!(text.contains("\"kind\":\"RoundOpened\""), "{text}");
                let v: Value = serde_json::from_str(&text).expect("one frame");
                assert!(v["data"]["round"].is_string(), "{text}");
            }
        }
        assert_eq!(seq, 6);
    }
}
