//! `rooms`: R plannings × M members doing the async flow (votes changed, comments posted) at a set
//! overall command rate; reports command ack latency, deliveries/s, and the server's CPU and RSS.

use crate::fanout::pct;
use crate::memory::Memory;
use crate::{
    baseline, command, connect, create_planning, join_members, loopback, now_micros, open_round,
    proc_stat, progress, Result,
};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Args)]
pub struct RoomsArgs {
    /// sprintlog's base URL, e.g. http://127.0.0.1:8080 (loopback only).
    #[arg(long)]
    pub url: String,
    /// Plannings (rooms).
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    /// Members per planning, each on its own websocket.
    #[arg(long, default_value_t = 10)]
    pub members: usize,
    /// Commands per second over all members (votes changed and comments, see
    /// `--comment-every`).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Every Nth command posts a comment, the others change a vote (4: votes and comments 3:1).
    /// 0 sends votes only: the planning's content then stays the same size, so a soak's RSS
    /// trend shows leaks rather than content.
    #[arg(long, default_value_t = 4)]
    pub comment_every: u64,
    /// Seconds of steady load (after setup).
    #[arg(long, default_value_t = 10.0)]
    pub duration_secs: f64,
    /// Seconds of the same load against the baseline server first (a child process: its CPU
    /// and RSS are read the same way); by default as long as `--duration-secs`. 0: no
    /// baseline (a soak's baseline needs only a minute).
    #[arg(long)]
    pub baseline_secs: Option<f64>,
    /// Pin the baseline server to this CPU, as the real server is.
    #[arg(long)]
    pub baseline_cpu: Option<usize>,
    /// The server's pid: reports its CPU and RSS from /proc/<pid>.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Report ack latency and server RSS per window of this many seconds too (a soak's trend).
    #[arg(long, default_value_t = 10.0)]
    pub interval_secs: f64,
    /// Joins and connections opened at once during setup.
    #[arg(long, default_value_t = 32)]
    pub connect_concurrency: usize,
    /// Give up after this many seconds beyond `--duration-secs` (setup, settling, the last
    /// acks). The steady load's duration comes on top, so a long soak needs no larger value
    /// (a budget for the whole scenario once ran out seconds before the end of an hour's soak,
    /// which then reported nothing).
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One member's socket and what to vote on.
struct Seat {
    planning: usize,
    round: String,
    items: Arc<Vec<String>>,
    url: String,
}

/// Counters shared by all readers.
#[derive(Default)]
struct Totals {
    deliveries: AtomicU64,
    acks: AtomicU64,
    errors: AtomicU64,
}

/// Sets sprintlog up: each planning gets three items, an async phase, M members and an open
/// round; returns every member's seat.
async fn setup(a: &RoomsArgs, http: &reqwest::Client, base: &str) -> Result<Vec<Seat>> {
    let ws_base = base.replacen("http://", "ws://", 1);

    // Setup: each planning gets three items, an async phase, M members and an open round.
    let bar = progress::bar(a.rooms as u64, "plannings set up");
    let mut seats = Vec::with_capacity(a.rooms * a.members);
    for r in 0..a.rooms {
        let p = create_planning(http, base, &format!("loadtest rooms {r}")).await?;
        for i in 0..3 {
            command(
                http,
                base,
                &p,
                &format!("item-{i}"),
                json!({"type": "ProposeItem", "draft": {"title": format!("Item {i}")}}),
            )
            .await?;
        }
        let mut items = Vec::new();
        let log: Value = http
            .get(format!(
                "{base}/api/plannings/{}/events?after=0&limit=100",
                p.id
            ))
            .bearer_auth(&p.token)
            .send()
            .await?
            .json()
            .await?;
        for e in log["events"].as_array().into_iter().flatten() {
            if e["kind"] == "ItemProposed" {
                if let Some(id) = e["data"]["item"].as_str() {
                    items.push(id.to_string());
                }
            }
        }
        command(
            http,
            base,
            &p,
            "phase",
            json!({"type": "ChangePhase", "to": "async"}),
        )
        .await?;
        // One member more than connect: a holdout who never votes keeps the round open (a
        // round closes by itself once every member has voted).
        let mut tokens = join_members(http, base, &p, a.members + 1, a.connect_concurrency).await?;
        tokens.pop();
        let (head, round) = open_round(http, base, &p, &items).await?;
        let items = Arc::new(items);
        for t in tokens {
            seats.push(Seat {
                planning: r,
                round: round.clone(),
                items: items.clone(),
                url: format!("{ws_base}/ws/plannings/{}?token={t}&since={head}", p.id),
            });
        }
        bar.inc(1);
    }
    bar.finish();
    Ok(seats)
}

/// Which server a measurement drives.
enum Target<'a> {
    /// sprintlog at `base` (its `/metrics` gives SQLite's memory per interval).
    Sprintlog {
        http: &'a reqwest::Client,
        base: &'a str,
    },
    /// The baseline: each command is one pre-serialised event frame for the room and the ack
    /// sprintlog would send, which the baseline server returns to the sender.
    Baseline,
}

pub async fn run(a: &RoomsArgs) -> Result<(String, Value)> {
    let base = loopback(&a.url)?;
    let http = reqwest::Client::new();
    let baseline_secs = a.baseline_secs.unwrap_or(a.duration_secs);
    let b = if baseline_secs > 0.0 {
        eprintln!("baseline…");
        let child = baseline::spawn(a.baseline_cpu, None).await?;
        let seats = (0..a.rooms * a.members)
            .map(|i| Seat {
                planning: i / a.members.max(1),
                round: BASELINE_ID.to_string(),
                items: Arc::new(vec![BASELINE_ID.to_string()]),
                url: format!("ws://{}/rooms/{}", child.addr, i / a.members.max(1)),
            })
            .collect();
        let b = measure(a, seats, Target::Baseline, Some(child.pid), baseline_secs).await?;
        drop(child);
        Some(b)
    } else {
        None
    };
    eprintln!("sprintlog…");
    let seats = setup(a, &http, &base).await?;
    let target = Target::Sprintlog {
        http: &http,
        base: &base,
    };
    let s = measure(a, seats, target, a.server_pid, a.duration_secs).await?;
    let Some(b) = b else {
        return Ok((s.human, s.json));
    };
    let ratio = |path: &[&str]| {
        let get = |v: &Value| path.iter().fold(v, |v, k| &v[*k]).as_f64();
        crate::ratio(get(&s.json)?, get(&b.json)?)
    };
    let ratios = json!({
        "ack_latency_p50": ratio(&["ack_latency_ms", "p50"]),
        "ack_latency_p99": ratio(&["ack_latency_ms", "p99"]),
        "deliveries_per_s": ratio(&["deliveries_per_s"]),
        "server_cpu_percent": ratio(&["server_cpu", "percent_of_one_core"]),
        "server_rss_kib_peak": ratio(&["server_rss_kib", "peak"]),
        "server_rss_kib_per_connection_peak":
            ratio(&["server_rss_kib", "per_connection_kib", "peak"]),
    });
    let show = |k: &str| {
        ratios[k]
            .as_f64()
            .map(|r| format!("{r:.2}"))
            .unwrap_or("–".into())
    };
    let human = format!(
        "baseline {}\nsprintlog {}\nsprintlog / baseline: ack latency p50 × {}, p99 × {}, \
         deliveries/s × {}, server CPU × {}, peak RSS × {}",
        b.human,
        s.human,
        show("ack_latency_p50"),
        show("ack_latency_p99"),
        show("deliveries_per_s"),
        show("server_cpu_percent"),
        show("server_rss_kib_peak"),
    );
    let mut json = s.json;
    json["baseline"] = b.json;
    json["ratio"] = ratios;
    Ok((human, json))
}

/// The ids in the baseline's frames (it has no plannings; any id of the right size).
const BASELINE_ID: &str = "9c3e7a1b-5d2f-4e6a-8b0c-1f2e3d4c5b6a";

/// One side's report.
struct Measured {
    human: String,
    json: Value,
}

/// Connects every seat, sends the load for `duration_secs`, and reports.
async fn measure(
    a: &RoomsArgs,
    seats: Vec<Seat>,
    target: Target<'_>,
    pid: Option<u32>,
    duration_secs: f64,
) -> Result<Measured> {
    let mut memory = pid.map(Memory::before);
    if let (Some(m), Target::Sprintlog { http, base }) = (memory.as_mut(), &target) {
        m.sqlite_before(http, base).await;
    }
    // Connect every member; each socket gets a reader that counts deliveries and ack latency.
    let totals = Arc::new(Totals::default());
    let (lat_tx, mut lat_rx) = mpsc::unbounded_channel::<u64>();
    let bar = progress::bar(seats.len() as u64, "members connected");
    let sem = Arc::new(Semaphore::new(a.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(seats.len());
    for seat in &seats {
        let (sem, url, bar) = (sem.clone(), seat.url.clone(), bar.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let mut ws = connect(&url).await?;
            crate::wait_for(&mut ws, |t| t.contains("\"type\":\"caught_up\"")).await?;
            bar.inc(1);
            Ok::<_, crate::Error>(ws)
        }));
    }
    let mut sinks = Vec::with_capacity(seats.len());
    let mut readers = Vec::with_capacity(seats.len());
    for t in tasks {
        let (sink, stream) = t.await??.split();
        sinks.push(sink);
        readers.push(tokio::spawn(reader(stream, totals.clone(), lat_tx.clone())));
    }
    drop(lat_tx);
    bar.finish();
    // Let presence settle before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    totals.deliveries.store(0, Ordering::Relaxed);

    let src = pid.map(proc_stat::Source::Pid);
    if let Some(m) = memory.as_mut() {
        m.load_starts();
    }
    let cpu_before = src.as_ref().and_then(proc_stat::Source::read);
    let total = (a.rate * duration_secs).round().max(1.0) as u64;
    let bar = progress::bar(total, "commands sent");
    let started = Instant::now();
    let mut sent = 0u64;
    let interval = Duration::from_secs_f64(a.interval_secs.max(0.1));
    let mut next_interval = started + interval;
    let mut lat_us = Vec::new();
    let mut intervals = Vec::new();
    let mut window = Vec::new();
    let mut close_window =
        |lat_us: &mut Vec<u64>, window: &mut Vec<u64>, sqlite_bytes: Option<f64>| {
            let at = started.elapsed().as_secs_f64();
            window.sort_unstable();
            let rss = pid.and_then(proc_stat::rss_kib);
            intervals.push(json!({
                "t_s": at,
                "acked": window.len(),
                "p50_ms": pct(window, 50.0),
                "p99_ms": pct(window, 99.0),
                "rss_kib": rss,
                // SQLite's page caches grow toward their bound as the log grows: the part of the
                // RSS that is not the server's own.
                "sqlite_kib": sqlite_bytes.map(|b| (b / 1024.0).round()),
            }));
            lat_us.append(window);
        };
    while sent < total {
        while let Ok(l) = lat_rx.try_recv() {
            window.push(l);
        }
        if Instant::now() >= next_interval {
            let sqlite = sqlite_memory(&target).await;
            close_window(&mut lat_us, &mut window, sqlite);
            next_interval += interval;
        }
        let due = started + Duration::from_secs_f64(sent as f64 / a.rate.max(0.001));
        tokio::time::sleep_until(due.into()).await;
        let i = (sent as usize) % sinks.len();
        let seat = &seats[i];
        let n = sent as usize / sinks.len();
        let cmd = if a.comment_every > 0 && sent % a.comment_every == a.comment_every - 1 {
            json!({"type": "PostComment", "kind": "comment",
                   "item": seat.items[n % seat.items.len()],
                   "text": format!("Load comment {sent} in planning {}", seat.planning)})
        } else {
            let cards = ["1", "2", "3", "5", "8", "13"];
            json!({"type": "CastVote", "round": seat.round,
                   "item": seat.items[n % seat.items.len()], "card": cards[n % cards.len()]})
        };
        // The op carries its send time, so a reader can time the ack without shared state.
        let op = format!("t{}-{sent}", now_micros());
        let frame = match target {
            Target::Sprintlog { .. } => {
                json!({"type": "command", "op": op, "command": cmd}).to_string()
            }
            Target::Baseline => baseline_frames(sent, &cmd, &op),
        };
        sinks[i].send(Message::text(frame)).await?;
        sent += 1;
        bar.inc(1);
    }
    bar.finish();
    // Wait (bounded) for the acks of everything sent.
    let deadline = Instant::now() + Duration::from_secs(30);
    while totals.acks.load(Ordering::Relaxed) + totals.errors.load(Ordering::Relaxed) < sent
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let cpu = proc_stat::Cpu::between(cpu_before, src.as_ref().and_then(proc_stat::Source::read));
    if let Some(m) = memory.as_mut() {
        m.load_ended().await;
        if let Target::Sprintlog { http, base } = &target {
            m.sqlite_settled(http, base).await;
        }
    }
    // Closing a socket ends its reader (acks still in flight are counted until then).
    for mut s in sinks {
        let _ = s.close().await;
    }
    for r in readers {
        let abort = r.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), r)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    while let Ok(l) = lat_rx.try_recv() {
        window.push(l);
    }
    let sqlite = sqlite_memory(&target).await;
    close_window(&mut lat_us, &mut window, sqlite);
    lat_us.sort_unstable();
    let deliveries = totals.deliveries.load(Ordering::Relaxed);
    let acks = totals.acks.load(Ordering::Relaxed);
    let errors = totals.errors.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let cpu_pct = cpu.map(|c| (c.user_us + c.sys_us) as f64 / (secs * 1e6) * 100.0);
    let json = json!({
        "scenario": "rooms",
        "rooms": a.rooms,
        "members": a.members,
        "connections": seats.len(),
        "rate": a.rate,
        "sent": sent,
        "acked": acks,
        "errors": errors,
        "elapsed_s": secs,
        "commands_per_s": acks as f64 / secs,
        "deliveries": deliveries,
        "deliveries_per_s": deliveries as f64 / secs,
        "ack_latency_ms": {
            "p50": pct(&lat_us, 50.0),
            "p95": pct(&lat_us, 95.0),
            "p99": pct(&lat_us, 99.0),
            "max": pct(&lat_us, 100.0),
        },
        "server_cpu": cpu.map(|c| json!({
            "user_s": c.user_us as f64 / 1e6,
            "system_s": c.sys_us as f64 / 1e6,
            "percent_of_one_core": cpu_pct,
        })),
        "server_rss_kib": memory.as_ref().map(|m| m.json(seats.len())),
        "intervals": intervals,
    });
    let human = format!(
        "rooms: {} plannings × {} members = {} connections, {sent} commands at {}/s over {secs:.1} s\n  \
         {acks} acked, {errors} refused; {deliveries} deliveries = {:.0}/s\n  \
         ack latency: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms{}{}",
        a.rooms,
        a.members,
        seats.len(),
        a.rate,
        deliveries as f64 / secs,
        pct(&lat_us, 50.0),
        pct(&lat_us, 95.0),
        pct(&lat_us, 99.0),
        pct(&lat_us, 100.0),
        cpu_pct
            .map(|p| format!("\n  server CPU: {p:.1} % of one core"))
            .unwrap_or_default(),
        memory
            .as_ref()
            .map(|m| format!("\n  {}", m.human(seats.len())))
            .unwrap_or_default()
    );
    Ok(Measured { human, json })
}

/// SQLite's memory from sprintlog's `/metrics` (the baseline has none).
async fn sqlite_memory(target: &Target<'_>) -> Option<f64> {
    match target {
        Target::Sprintlog { http, base } => crate::memory::sqlite_bytes(http, base).await,
        Target::Baseline => None,
    }
}

/// The baseline's text for command `cmd` (op `op`): the event frame sprintlog would broadcast
/// (the size and shape of its `VoteCast` or `CommentPosted`), then the ack it would send back.
fn baseline_frames(seq: u64, cmd: &Value, op: &str) -> String {
    let data = if cmd["type"] == "PostComment" {
        json!({"at": now_micros(), "at_utc": "2026-11-29T03:12:37.121520Z",
               "comment": BASELINE_ID, "item": cmd["item"], "kind": "comment",
               "text": cmd["text"]})
    } else {
        json!({"item": cmd["item"], "round": cmd["round"], "voter": BASELINE_ID})
    };
    let kind = if cmd["type"] == "PostComment" {
        "CommentPosted"
    } else {
        "VoteCast"
    };
    format!(
        "{{\"type\":\"event\",\"seq\":{},\"id\":\"{BASELINE_ID}\",\"actor\":\"{BASELINE_ID}\",\
         \"at\":{},\"kind\":\"{kind}\",\"data\":{data}}}\n\
         {{\"type\":\"ack\",\"op\":\"{op}\",\"first\":{},\"head\":{},\"duplicate\":false}}",
        seq + 1,
        now_micros(),
        seq + 1,
        seq + 1
    )
}

/// Counts event frames and times acks (the op holds the send time in µs).
async fn reader(
    mut stream: futures_util::stream::SplitStream<crate::Ws>,
    totals: Arc<Totals>,
    lat: mpsc::UnboundedSender<u64>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if let Message::Close(_) = msg {
                break;
            }
            continue;
        };
        if crate::seq_of(&text).is_some() {
            totals.deliveries.fetch_add(1, Ordering::Relaxed);
        } else if text.contains("\"type\":\"ack\"") {
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let sent = v["op"]
                .as_str()
                .and_then(|o| o.strip_prefix('t'))
                .and_then(|o| o.split('-').next())
                .and_then(|t| t.parse::<i64>().ok());
            if let Some(t) = sent {
                let _ = lat.send((now_micros() - t).max(0) as u64);
            }
            totals.acks.fetch_add(1, Ordering::Relaxed);
        } else if text.contains("\"type\":\"error\"") {
            eprintln!("refused: {text}");
            totals.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}
