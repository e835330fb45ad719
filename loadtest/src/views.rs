//! `views`: browsers in one room — a facilitator and N − 1 members, each a tab on its own
//! websocket — keeping the planning on screen two ways, one after the other on fresh plannings
//! against the same server: `push` (each tab keeps its view from the server's pushes,
//! `view=true`) and `refetch` (each tab rereads the view and its inbox over REST after each
//! batch of events, as the web client did before kept views). Members vote over their
//! websockets (the facilitator reveals every K votes and opens the next round, as in
//! [`crate::fanout`]); reports per tab per vote the bytes, frames and HTTP requests received,
//! and the latency from a vote's send to the last tab holding a view that includes it.

use crate::fanout::{pct, percentiles, Current, OpResult, Step};
use crate::tab::{self, Count, Counters, Held, Model, Reached, Tab, FRAME_KINDS};
use crate::{
    bounded, connect, loopback, now_micros, one_item_room, proc_stat, progress, stamped, Error,
    OneItemRoom, Result, Ws,
};
use clap::Args;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Which models a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Models {
    /// `push`, then `refetch`, and the ratios.
    Both,
    Push,
    Refetch,
}

#[derive(Debug, Clone, Args)]
pub struct ViewsArgs {
    /// sprintlog's base URL, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    pub url: String,
    /// Tabs in the room: the facilitator and N − 1 members (at least 3: one member never
    /// votes, since a round closes by itself once every member has voted). The members but
    /// that one take turns to vote.
    #[arg(long, default_value_t = 30)]
    pub clients: usize,
    /// Votes cast over the members' websockets (`CastVote`; a member voting again changes its
    /// card).
    #[arg(long, default_value_t = 200)]
    pub votes: usize,
    /// A reveal after every K votes: the facilitator closes the round during the live session
    /// (its votes are revealed) and opens the next. 0: votes only.
    #[arg(long, default_value_t = 0)]
    pub reveal_every: usize,
    /// Votes per second. 0: one command at a time, each sent once every tab holds a view
    /// that includes the previous one.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// The refetch model's quiet timer: a fetch starts this long after the last event frame
    /// (the old web client's 30 ms).
    #[arg(long, default_value_t = 30)]
    pub quiet_ms: u64,
    /// The models to run, each on a fresh planning.
    #[arg(long, value_enum, default_value_t = Models::Both)]
    pub models: Models,
    /// The server's pid: reports its CPU per vote from /proc/<pid>/stat.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Give up on a model after this many seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Joins and connections opened at once during setup.
    #[arg(long, default_value_t = 32)]
    pub connect_concurrency: usize,
    /// Print the first N frames the last tab (a member who never votes) receives during each
    /// model's stream to stderr: what carries the bytes.
    #[arg(long, default_value_t = 0)]
    pub show_frames: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Events a reveal cycle's command appends at most (a close three, an open one): sizes the
/// table of seqs the tabs reach.
const EVENTS_PER_CYCLE_COMMAND: usize = 4;

type Sink = SplitSink<Ws, Message>;

/// The room's open tabs: `[0]` the facilitator, then the members (the last never votes).
struct Tabs {
    sinks: Vec<Sink>,
    held: Vec<Arc<Mutex<Held>>>,
    tasks: Vec<JoinHandle<()>>,
    tokens: Vec<String>,
}

/// What every tab of a room reports to.
struct Shared {
    counters: Arc<Counters>,
    reached: Arc<Reached>,
    acks: mpsc::UnboundedSender<OpResult>,
    current: Current,
    sample: Arc<tab::Sample>,
}

/// Opens a tab per token (bounded concurrency for the handshakes); each reads its socket in a
/// task of its own.
async fn open_tabs(
    a: &ViewsArgs,
    base: &str,
    room: &OneItemRoom,
    tokens: Vec<String>,
    model: Model,
    shared: &Shared,
) -> Result<Tabs> {
    let ws_base = base.replacen("http://", "ws://", 1);
    let keep = if model == Model::Push {
        "&view=true"
    } else {
        ""
    };
    let sem = Arc::new(Semaphore::new(a.connect_concurrency.max(1)));
    let bar = progress::bar(tokens.len() as u64, "connected");
    let mut pending = Vec::with_capacity(tokens.len());
    let mut held = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        let url = format!(
            "{ws_base}/ws/plannings/{}?token={token}&since={}{keep}",
            room.p.id, room.head
        );
        let h = Arc::new(Mutex::new(Held::default()));
        held.push(h.clone());
        let tab = Tab {
            model,
            http: reqwest::Client::new(),
            view_url: format!("{base}/api/plannings/{}", room.p.id),
            inbox_url: format!("{base}/api/plannings/{}/inbox", room.p.id),
            token: token.clone(),
            quiet: Duration::from_millis(a.quiet_ms),
            counters: shared.counters.clone(),
            reached: shared.reached.clone(),
            held: h,
            acks: shared.acks.clone(),
            rounds: (i == 0).then(|| shared.current.clone()),
            sample: (i + 1 == tokens.len()).then(|| shared.sample.clone()),
            stamps: None,
        };
        let (sem, bar) = (sem.clone(), bar.clone());
        pending.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let ws = connect(&url).await?;
            let mut tab = tab;
            tab.stamps = Some(ws.get_ref().stamps());
            let (sink, stream) = ws.split();
            bar.inc(1);
            Ok::<_, Error>((sink, tokio::spawn(tab.run(stream))))
        }));
    }
    let (mut sinks, mut tasks) = (Vec::new(), Vec::new());
    for p in pending {
        let (sink, task) = p.await??;
        sinks.push(sink);
        tasks.push(task);
    }
    bar.finish();
    Ok(Tabs {
        sinks,
        held,
        tasks,
        tokens,
    })
}

/// Waits (bounded) until `done` holds for every tab.
async fn until_every_tab(tabs: &Tabs, what: &str, done: impl Fn(&Held) -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = tabs
            .held
            .iter()
            .filter(|h| h.lock().is_ok_and(|h| done(&h)))
            .count();
        if ready == tabs.held.len() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{ready} of {} tabs {what} within 60 s", tabs.held.len()).into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

/// One command of the stream.
struct Op {
    step: Step,
    /// Realtime ns at send.
    sent_ns: u64,
    /// Its events once acknowledged (the last is the head its tabs must reach).
    seqs: Option<(u64, u64)>,
    refused: bool,
}

impl Op {
    /// Refused, or every tab holds a view that includes it.
    fn settled(&self, reached: &Reached) -> bool {
        self.refused || self.seqs.is_some_and(|(_, last)| reached.held_by_all(last))
    }
}

/// The stream's script: which command comes next, and who sends it.
struct Plan {
    votes: usize,
    k: usize,
    rate: f64,
    /// Members who vote: tabs 1 ..= voters.
    voters: usize,
    /// Votes each tab has cast (a member's next vote changes its card).
    cast: Vec<usize>,
    stage: Stage,
    in_round: usize,
    votes_sent: usize,
    /// Votes sent and neither acknowledged nor refused.
    unacked: usize,
    started: Instant,
}

impl Plan {
    /// The next command to send now, if any: a vote when the rate allows; a reveal once the
    /// round's votes are acknowledged; the next round's opening once the reveal is; votes again
    /// once the facilitator's tab has the new round's `RoundOpened`. With no rate, one command
    /// at a time.
    fn next(&mut self, ops: &[Op], current: &Current, reached: &Reached) -> Option<Step> {
        if self.rate <= 0.0 && ops.last().is_some_and(|o| !o.settled(reached)) {
            return None;
        }
        loop {
            return match self.stage {
                Stage::Finished => None,
                Stage::Voting if self.k > 0 && self.in_round == self.k => {
                    self.stage = Stage::RevealDue;
                    continue;
                }
                Stage::Voting if self.votes_sent == self.votes => None,
                Stage::Voting if self.rate > 0.0 && Instant::now() < self.due() => None,
                Stage::Voting => Some(Step::Vote),
                Stage::RevealDue if self.unacked > 0 => None,
                Stage::RevealDue => Some(Step::Reveal),
                Stage::Revealing(op) if ops[op].seqs.is_none() => None,
                Stage::Revealing(_) if self.votes_sent == self.votes => {
                    self.stage = Stage::Finished;
                    None
                }
                Stage::Revealing(_) => Some(Step::Open),
                Stage::Opening(op) => {
                    let first = ops[op].seqs?.0;
                    if current.lock().map(|c| c.0 < first).unwrap_or(true) {
                        return None;
                    }
                    self.in_round = 0;
                    self.stage = Stage::Voting;
                    continue;
                }
            };
        }
    }

    /// When the next vote is due at the set rate.
    fn due(&self) -> Instant {
        self.started + Duration::from_secs_f64(self.votes_sent as f64 / self.rate)
    }

    /// The tab that sends `step` (op `i`) and the command, and notes it as sent.
    fn send(&mut self, step: Step, i: usize, round: &str, item: &str) -> (usize, String) {
        let (tab, cmd) = match step {
            Step::Vote => {
                let voter = 1 + self.votes_sent % self.voters;
                let card = ["5", "8"][self.cast[voter] % 2];
                self.cast[voter] += 1;
                self.votes_sent += 1;
                self.in_round += 1;
                self.unacked += 1;
                let cmd = json!({"type": "CastVote", "round": round, "item": item, "card": card});
                (voter, cmd)
            }
            Step::Reveal => {
                self.stage = Stage::Revealing(i);
                (0, json!({"type": "CloseRound", "round": round}))
            }
            Step::Open => {
                self.stage = Stage::Opening(i);
                let deadline = now_micros() + 3_600_000_000i64;
                let cmd = json!({"type": "OpenRound", "items": [item], "deadline": deadline});
                (0, cmd)
            }
        };
        let text = json!({"type": "command", "op": format!("v{i}"), "command": cmd});
        (tab, text.to_string())
    }
}

/// Streams the votes (and reveals) until every tab holds a view that includes each; returns
/// the ops.
async fn drive(
    a: &ViewsArgs,
    item: &str,
    sinks: &mut [Sink],
    shared: &Shared,
    acks: &mut mpsc::UnboundedReceiver<OpResult>,
) -> Result<Vec<Op>> {
    let k = a.reveal_every;
    let reveals = a.votes.checked_div(k).unwrap_or(0);
    let opens = reveals - usize::from(reveals > 0 && a.votes.is_multiple_of(k));
    let total = a.votes + reveals + opens;
    let mut plan = Plan {
        votes: a.votes,
        k,
        rate: a.rate,
        voters: sinks.len() - 2,
        cast: vec![0; sinks.len()],
        stage: Stage::Voting,
        in_round: 0,
        votes_sent: 0,
        unacked: 0,
        started: Instant::now(),
    };
    let (reached, current) = (&*shared.reached, &shared.current);
    let mut ops: Vec<Op> = Vec::with_capacity(total);
    // Ops sent and not yet settled.
    let mut open: Vec<usize> = Vec::new();
    let bar = progress::bar(total as u64, "commands");
    let mut progress_at = Instant::now();
    loop {
        while let Some(step) = plan.next(&ops, current, reached) {
            let i = ops.len();
            let round = current.lock().map(|c| c.1.clone()).unwrap_or_default();
            let (tab, text) = plan.send(step, i, &round, item);
            ops.push(Op {
                step,
                sent_ns: stamped::realtime_ns(),
                seqs: None,
                refused: false,
            });
            open.push(i);
            sinks[tab].send(Message::text(text)).await?;
        }
        let before = open.len();
        open.retain(|&i| !ops[i].settled(reached));
        bar.inc((before - open.len()) as u64);
        if before != open.len() {
            progress_at = Instant::now();
        } else if progress_at.elapsed() > Duration::from_secs(30) {
            return Err(format!("no progress for 30 s ({} ops sent)", ops.len()).into());
        }
        if ops.len() == total && open.is_empty() {
            break;
        }
        let wait = if a.rate > 0.0 && plan.votes_sent < a.votes {
            plan.due().saturating_duration_since(Instant::now())
        } else {
            Duration::from_millis(100)
        };
        tokio::select! {
            r = acks.recv() => match r {
                Some(OpResult::Acked { op, first, last }) if op < ops.len() => {
                    if !reached.holds(last) {
                        return Err(format!("op {op} appended events past those expected").into());
                    }
                    if ops[op].seqs.replace((first, last)).is_none() && ops[op].step == Step::Vote {
                        plan.unacked -= 1;
                    }
                }
                Some(OpResult::Refused { op }) if op < ops.len() => {
                    if ops[op].step != Step::Vote {
                        return Err(format!("the facilitator's {:?} was refused", ops[op].step).into());
                    }
                    ops[op].refused = true;
                    plan.unacked -= 1;
                }
                Some(_) => {}
                None => return Err("the tabs' sockets closed".into()),
            },
            _ = reached.all.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
    bar.finish();
    Ok(ops)
}

/// One model's run.
pub struct ModelReport {
    model: Model,
    tabs: usize,
    votes: usize,
    reveal_every: usize,
    rate: f64,
    acked: usize,
    refused: usize,
    reveals: usize,
    events: u64,
    /// What the tabs received during the stream (after joining and settling).
    count: Count,
    elapsed: Duration,
    /// Vote send → the last tab holds a view that includes it, in µs, sorted.
    lat_us: Vec<u64>,
    /// Vote send → the data that brought the last tab there reached its socket (push: the
    /// kernel's receive stamp, without this tool's own work; refetch: the same as `lat_us`).
    arrived_us: Vec<u64>,
    /// Reveal send → the last tab holds a view that includes all its events, sorted.
    reveal_us: Vec<u64>,
    server_cpu: Option<proc_stat::Cpu>,
    tool_cpu: Option<proc_stat::Cpu>,
    /// Tabs whose final view equals a fresh GET for them, and what differed for the others.
    views_equal: usize,
    mismatches: Vec<String>,
}

/// Runs one model on a fresh planning.
async fn run_model(a: &ViewsArgs, base: &str, model: Model) -> Result<ModelReport> {
    let http = reqwest::Client::new();
    let title = format!("loadtest views {}", model.name());
    let k = a.reveal_every;
    let room = one_item_room(
        &http,
        base,
        &title,
        a.clients - 1,
        a.connect_concurrency,
        k > 0,
    )
    .await?;
    let mut tokens = vec![room.p.token.clone()];
    tokens.extend(room.tokens.iter().cloned());
    let table = a.votes + 2 * a.votes.checked_div(k).unwrap_or(0) * EVENTS_PER_CYCLE_COMMAND;
    let (acks, mut ack_rx) = mpsc::unbounded_channel();
    let shared = Shared {
        counters: Arc::new(Counters::default()),
        reached: Arc::new(Reached::new(room.head, table, a.clients)),
        acks,
        current: Arc::new(Mutex::new((room.head, room.round.clone()))),
        sample: Arc::new(tab::Sample::default()),
    };
    shared.sample.left.store(a.show_frames, Ordering::Relaxed);
    eprintln!("{}: opening {} tabs…", model.name(), a.clients);
    let mut tabs = open_tabs(a, base, &room, tokens, model, &shared).await?;
    let head = room.head as i64;
    until_every_tab(&tabs, "held the view", |h| h.at >= head).await?;
    settle(&shared.counters).await;

    let cpu_of = a.server_pid.map(proc_stat::Source::Pid);
    let cpu_before = cpu_of.as_ref().and_then(proc_stat::Source::read);
    let tool_before = proc_stat::Source::Own.read();
    let count_before = shared.counters.read();
    let start_ns = stamped::realtime_ns();
    shared.sample.on.store(true, Ordering::Relaxed);
    let ops = drive(a, &room.item, &mut tabs.sinks, &shared, &mut ack_rx).await?;
    // Every frame sent before a pong has arrived; then the refetch tabs' last timers and fetches.
    for sink in &mut tabs.sinks {
        sink.send(Message::text(json!({"type": "ping"}).to_string()))
            .await?;
    }
    until_every_tab(&tabs, "answered a ping", |h| h.pongs > 0).await?;
    until_every_tab(&tabs, "finished fetching", |h| !h.busy).await?;
    shared.sample.on.store(false, Ordering::Relaxed);
    let count = shared.counters.read().minus(count_before);
    let server_cpu = proc_stat::Cpu::between(
        cpu_before,
        cpu_of.as_ref().and_then(proc_stat::Source::read),
    );
    let tool_cpu = proc_stat::Cpu::between(tool_before, proc_stat::Source::Own.read());
    let (views_equal, mismatches) = check_views(&http, base, &room.p.id, &tabs, model).await?;
    for mut sink in tabs.sinks.drain(..) {
        let _ = sink.close().await;
    }
    tabs.tasks.iter().for_each(JoinHandle::abort);
    Ok(report(
        a,
        model,
        &ops,
        &shared.reached,
        start_ns,
        count,
        (server_cpu, tool_cpu),
        (views_equal, mismatches),
    ))
}

/// Lets the connect storm settle (every connect broadcasts presence to the room): returns
/// after 500 ms without a frame, at most 60 s.
async fn settle(counters: &Counters) {
    let started = Instant::now();
    let mut seen = counters.read().ws_frames();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = counters.read().ws_frames();
        if now == seen || started.elapsed() > Duration::from_secs(60) {
            return;
        }
        seen = now;
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &ViewsArgs,
    model: Model,
    ops: &[Op],
    reached: &Reached,
    start_ns: u64,
    count: Count,
    (server_cpu, tool_cpu): (Option<proc_stat::Cpu>, Option<proc_stat::Cpu>),
    (views_equal, mismatches): (usize, Vec<String>),
) -> ModelReport {
    let (mut lat_us, mut arrived_us, mut reveal_us) = (Vec::new(), Vec::new(), Vec::new());
    let mut last_ns = start_ns;
    for op in ops {
        let Some((_, last)) = op.seqs else { continue };
        let held = reached.last_ns(last);
        last_ns = last_ns.max(held);
        let lat = held.saturating_sub(op.sent_ns) / 1000;
        match op.step {
            Step::Vote => {
                lat_us.push(lat);
                arrived_us.push(reached.arrived_ns(last).saturating_sub(op.sent_ns) / 1000);
            }
            Step::Reveal => reveal_us.push(lat),
            Step::Open => {}
        }
    }
    lat_us.sort_unstable();
    arrived_us.sort_unstable();
    reveal_us.sort_unstable();
    let acked = ops
        .iter()
        .filter(|o| o.step == Step::Vote && o.seqs.is_some())
        .count();
    ModelReport {
        model,
        tabs: a.clients,
        votes: a.votes,
        reveal_every: a.reveal_every,
        rate: a.rate,
        acked,
        refused: ops.iter().filter(|o| o.refused).count(),
        reveals: ops
            .iter()
            .filter(|o| o.step == Step::Reveal && o.seqs.is_some())
            .count(),
        events: ops
            .iter()
            .filter_map(|o| o.seqs)
            .map(|(f, l)| l + 1 - f)
            .sum(),
        count,
        elapsed: Duration::from_nanos(last_ns.saturating_sub(start_ns)),
        lat_us,
        arrived_us,
        reveal_us,
        server_cpu,
        tool_cpu,
        views_equal,
        mismatches,
    }
}

/// Compares each tab's final view with a fresh `GET /api/plannings/{id}` and `GET …/inbox`
/// for it (outside the figures): the same head, the same `state` (push: the shared part with
/// the tab's own part laid over it) and the same inbox. Returns the tabs that matched and what
/// differed for the others.
async fn check_views(
    http: &reqwest::Client,
    base: &str,
    planning: &str,
    tabs: &Tabs,
    model: Model,
) -> Result<(usize, Vec<String>)> {
    let (mut equal, mut mismatches) = (0, Vec::new());
    for (i, (token, held)) in tabs.tokens.iter().zip(&tabs.held).enumerate() {
        let url = format!("{base}/api/plannings/{planning}");
        let got: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let mut inbox: Value = http
            .get(format!("{url}/inbox"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        without_head(&mut inbox);
        let (head, state, my_inbox) = {
            let h = held.lock().map_err(|_| "a tab's lock was poisoned")?;
            match model {
                Model::Push => {
                    let mut state = h.view.clone();
                    tab::overlay(&mut state, &h.mine);
                    (json!(h.at), state, h.mine["inbox"].clone())
                }
                Model::Refetch => {
                    let mut v: Value = serde_json::from_slice(&h.view_body).unwrap_or_default();
                    let mut inbox: Value =
                        serde_json::from_slice(&h.inbox_body).unwrap_or_default();
                    without_head(&mut inbox);
                    (v["head"].take(), v["state"].take(), inbox)
                }
            }
        };
        let differs: Vec<&str> = [
            ("head", head == got["head"]),
            ("state", state == got["state"]),
            ("inbox", my_inbox == inbox),
        ]
        .into_iter()
        .filter_map(|(what, same)| (!same).then_some(what))
        .collect();
        if differs.is_empty() {
            equal += 1;
        } else {
            mismatches.push(format!("tab {i}: {} differ", differs.join(", ")));
        }
    }
    Ok((equal, mismatches))
}

fn without_head(v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("head");
    }
}

impl ModelReport {
    /// Per tab per vote.
    fn per(&self, total: u64) -> f64 {
        total as f64 / (self.tabs * self.votes).max(1) as f64
    }

    /// Bytes received per tab per vote: websocket frames and HTTP bodies on the wire.
    fn bytes(&self) -> f64 {
        self.per(self.count.ws_bytes() + self.count.body_bytes)
    }

    /// The same with the HTTP bodies decompressed.
    fn plain_bytes(&self) -> f64 {
        self.per(self.count.ws_bytes() + self.count.plain_bytes)
    }

    fn frames(&self) -> f64 {
        self.per(self.count.ws_frames())
    }

    fn requests(&self) -> f64 {
        self.per(self.count.requests)
    }

    fn cpu_per_vote(cpu: Option<proc_stat::Cpu>, votes: usize) -> Option<(f64, f64)> {
        let c = cpu?;
        let v = votes.max(1) as f64;
        Some((c.user_us as f64 / v, c.sys_us as f64 / v))
    }

    pub fn json(&self) -> Value {
        let by_frame: serde_json::Map<String, Value> = FRAME_KINDS
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let v = json!({
                    "frames": self.per(self.count.frames[i]),
                    "bytes": self.per(self.count.frame_bytes[i]),
                });
                (k.to_string(), v)
            })
            .collect();
        let cpu =
            |c| Self::cpu_per_vote(c, self.votes).map(|(u, s)| json!({"user": u, "system": s}));
        json!({
            "model": self.model.name(),
            "clients": self.tabs,
            "votes": self.votes,
            "reveal_every": self.reveal_every,
            "rate": self.rate,
            "acked": self.acked,
            "refused": self.refused,
            "reveals": self.reveals,
            "events": self.events,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "per_client_per_vote": {
                "bytes": self.bytes(),
                "bytes_uncompressed": self.plain_bytes(),
                "frames": self.frames(),
                "http_requests": self.requests(),
                "websocket_bytes": self.per(self.count.ws_bytes()),
                "http_body_bytes": self.per(self.count.body_bytes),
                "http_body_bytes_uncompressed": self.per(self.count.plain_bytes),
                "http_header_bytes": self.per(self.count.header_bytes),
            },
            "by_frame": by_frame,
            "totals": {
                "frames": self.count.ws_frames(),
                "websocket_bytes": self.count.ws_bytes(),
                "http_requests": self.count.requests,
                "http_body_bytes": self.count.body_bytes,
                "http_body_bytes_uncompressed": self.count.plain_bytes,
                "http_header_bytes": self.count.header_bytes,
            },
            "latency_ms": percentiles(&self.lat_us),
            "arrived_latency_ms": percentiles(&self.arrived_us),
            "reveal_latency_ms": percentiles(&self.reveal_us),
            "server_cpu_us_per_vote": cpu(self.server_cpu),
            "tool_cpu_us_per_vote": cpu(self.tool_cpu),
            "final_views": {
                "equal": self.views_equal,
                "checked": self.tabs,
                "mismatches": self.mismatches,
            },
            "patch_failures": self.count.patch_failures,
            "fetch_errors": self.count.fetch_errors,
        })
    }

    pub fn human(&self) -> String {
        let c = &self.count;
        let by_frame: Vec<String> = FRAME_KINDS
            .iter()
            .enumerate()
            .filter(|(i, _)| c.frames[*i] > 0)
            .map(|(i, k)| {
                format!(
                    "{k} {:.0} B ({:.2})",
                    self.per(c.frame_bytes[i]),
                    self.per(c.frames[i])
                )
            })
            .collect();
        let cpu = |what: &str, cpu| {
            Self::cpu_per_vote(cpu, self.votes)
                .map(|(u, s)| format!("{what} {:.0} µs ({u:.0} user, {s:.0} system)", u + s))
                .unwrap_or_else(|| format!("{what} not measured"))
        };
        let reveals = if self.reveals > 0 {
            format!(
                "; reveal → last tab: p50 {:.1} ms, p99 {:.1} ms",
                pct(&self.reveal_us, 50.0),
                pct(&self.reveal_us, 99.0)
            )
        } else {
            String::new()
        };
        format!(
            "{}: {} tabs, {} votes{}, {}: {} acked, {} refused, {} reveals, {} events in {:.1} s\n  \
             per tab per vote: {:.0} B received ({:.0} B with HTTP bodies decompressed), \
             {:.2} frames, {:.2} HTTP requests\n  \
             HTTP per tab per vote: bodies {:.0} B on the wire ({:.0} B decompressed), \
             headers {:.0} B\n  \
             websocket per tab per vote, by frame (bytes, frames): {}\n  \
             vote → last tab holds it: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}\n  \
             vote → its data reached the last tab's socket (kernel stamp; refetch: when read): \
             p50 {:.1} ms, p99 {:.1} ms\n  \
             CPU per vote: {}; {}\n  \
             final views equal to a fresh GET: {} of {}; patches failed {}, fetches failed {}",
            self.model.name(),
            self.tabs,
            self.votes,
            if self.reveal_every > 0 {
                format!(" (a reveal every {})", self.reveal_every)
            } else {
                String::new()
            },
            if self.rate > 0.0 {
                format!("{} votes/s", self.rate)
            } else {
                "one at a time".to_string()
            },
            self.acked,
            self.refused,
            self.reveals,
            self.events,
            self.elapsed.as_secs_f64(),
            self.bytes(),
            self.plain_bytes(),
            self.frames(),
            self.requests(),
            self.per(c.body_bytes),
            self.per(c.plain_bytes),
            self.per(c.header_bytes),
            by_frame.join(", "),
            pct(&self.lat_us, 50.0),
            pct(&self.lat_us, 95.0),
            pct(&self.lat_us, 99.0),
            pct(&self.lat_us, 100.0),
            reveals,
            pct(&self.arrived_us, 50.0),
            pct(&self.arrived_us, 99.0),
            cpu("server", self.server_cpu),
            cpu("this tool", self.tool_cpu),
            self.views_equal,
            self.tabs,
            c.patch_failures,
            c.fetch_errors,
        )
    }
}

/// Runs the models asked for, each on a fresh planning; with both, prints the ratios
/// push / refetch.
pub async fn run(a: &ViewsArgs) -> Result<(String, Value)> {
    let base = loopback(&a.url)?;
    if a.clients < 3 {
        return Err(
            "--clients must be at least 3: the facilitator, a voter, and a member \
                    who never votes (a round closes by itself once every member has voted)"
                .into(),
        );
    }
    let models: &[Model] = match a.models {
        Models::Both => &[Model::Push, Model::Refetch],
        Models::Push => &[Model::Push],
        Models::Refetch => &[Model::Refetch],
    };
    let mut reports = Vec::new();
    for &m in models {
        reports.push(bounded(a.timeout_secs, run_model(a, &base, m)).await?);
    }
    let mut human: Vec<String> = reports.iter().map(ModelReport::human).collect();
    let mut json = json!({"scenario": "views"});
    for r in &reports {
        json[r.model.name()] = r.json();
    }
    if let [push, refetch] = &reports[..] {
        let ratio = |p: f64, r: f64| crate::ratio(p, r).unwrap_or(f64::NAN);
        let cpu = |r: &ModelReport| r.server_cpu.map(|c| (c.user_us + c.sys_us) as f64);
        let ratios = json!({
            "bytes": ratio(push.bytes(), refetch.bytes()),
            "bytes_uncompressed": ratio(push.plain_bytes(), refetch.plain_bytes()),
            "frames": ratio(push.frames(), refetch.frames()),
            "http_requests": ratio(push.requests(), refetch.requests()),
            "p99": ratio(pct(&push.lat_us, 99.0), pct(&refetch.lat_us, 99.0)),
            "server_cpu_per_vote": match (cpu(push), cpu(refetch)) {
                (Some(p), Some(r)) => json!(ratio(p, r)),
                _ => Value::Null,
            },
        });
        human.push(format!(
            "push / refetch: bytes per tab per vote × {:.3} (× {:.3} uncompressed), frames × {:.2}, \
             HTTP requests × {:.2}, vote → last tab p99 × {:.2}{}",
            ratios["bytes"].as_f64().unwrap_or(f64::NAN),
            ratios["bytes_uncompressed"].as_f64().unwrap_or(f64::NAN),
            ratios["frames"].as_f64().unwrap_or(f64::NAN),
            ratios["http_requests"].as_f64().unwrap_or(f64::NAN),
            ratios["p99"].as_f64().unwrap_or(f64::NAN),
            ratios["server_cpu_per_vote"]
                .as_f64()
                .map(|r| format!(", server CPU per vote × {r:.3}"))
                .unwrap_or_default(),
        ));
        json["ratio"] = ratios;
    }
    Ok((human.join("\n"), json))
}
