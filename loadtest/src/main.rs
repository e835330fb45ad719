//! sprintlog-loadtest: drives a running sprintlog over its public protocol only (REST + websocket)
//! and compares it with a minimal broadcast server built into the tool (`baseline`), the limit of
//! this stack on this machine. Load only ever targets loopback; every loop is bounded in count and
//! time (`--timeout-secs`).
//!
//! Scenarios: `fanout`, `baseline`, `compare`, `rooms`, `connections`, `replay`; each
//! runs the same traffic against the baseline in the same run and reports both and the ratio.
//! `views` compares two ways for browsers to keep the planning on screen instead (the server's
//! pushes against refetching it), each in the same run.
//! Modules: [`baseline`] (the minimal broadcast server, in a thread or a child process),
//! [`fanout`] (votes and reveals to N clients), [`rooms`], [`connections`], [`replay`],
//! [`views`] (browsers' kept views against refetching) and its [`tab`] (one browser tab),
//! [`proc_stat`] (server CPU and RSS from `/proc`), [`memory`] (the
//! server's RSS around a load, per connection), [`progress`] (bars on stderr), [`stamped`]
//! (client sockets that keep the kernel's receive time of what they read).

mod baseline;
mod connections;
mod fanout;
mod memory;
mod proc_stat;
mod progress;
mod replay;
mod rooms;
mod stamped;
mod tab;
mod views;

use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

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
    /// One planning with N clients connected; one member streams V votes and, every K votes,
    /// the facilitator reveals them and opens the next round; reports send → last-client-received
    /// latency of votes and reveals, deliveries/s and server CPU per delivery, with the same
    /// traffic against the baseline first, in the same run, and the ratios (`--no-baseline`:
    /// sprintlog alone).
    Fanout(fanout::SprintlogFanout),
    /// The same fan-out traffic against a minimal broadcast server inside this tool
    /// (tokio-tungstenite, one pre-serialised frame per event, no log, no domain).
    Baseline(fanout::FanArgs),
    /// The same as `fanout`: `baseline` then sprintlog in the same run, both and the ratios.
    Compare(fanout::SprintlogFanout),
    /// R plannings × M members doing the async flow (votes, comments) at a set overall rate;
    /// reports command ack latency, deliveries/s, server CPU and RSS.
    Rooms(rooms::RoomsArgs),
    /// Hold C idle authenticated connections (spread over several 127.0.0.x source addresses);
    /// reports the server's RSS per connection.
    Connections(connections::ConnectionsArgs),
    /// Seed a planning with E events over REST, then time a new client from connect to
    /// `caught_up`.
    Replay(replay::ReplayArgs),
    /// Browsers in one room: a facilitator and N − 1 members, each keeping the planning on
    /// screen — by the server's pushes (`view=true`), then on a fresh planning by refetching it
    /// over REST after each batch of events (the model pushes replace); per tab per vote the
    /// bytes, frames and HTTP requests received, vote → last tab holding it, and the ratios.
    Views(views::ViewsArgs),
    /// The baseline server as a process of its own (started by the scenarios that read its
    /// RSS; not for use by hand).
    #[command(hide = true)]
    BaselineServer(baseline::ServeArgs),
}

// One thread (`main` builds it): the tool is pinned to one core (`taskset -c 1`), where a multi-thread runtime
// only adds cross-thread wake-ups between the main task (the voter) and its one worker (the
// readers). Here the voter is polled at least every 61 tasks while readers are queued.
fn main() {
    let cli = Cli::parse();
    if let Cmd::BaselineServer(a) = &cli.cmd {
        // Its own runtime, outside the tool's.
        if let Err(e) = baseline::serve_process(a) {
            eprintln!("sprintlog-loadtest baseline-server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(run(cli));
}

async fn run(cli: Cli) {
    let out = match cli.cmd {
        Cmd::Fanout(a) | Cmd::Compare(a) if a.no_baseline => {
            bounded(a.fan.timeout_secs, fanout::fanout_sprintlog(&a))
                .await
                .map(|r| (r.human(), r.json(), a.fan.json))
        }
        Cmd::Fanout(a) | Cmd::Compare(a) => bounded(2 * a.fan.timeout_secs, fanout::compare(&a))
            .await
            .map(|(h, j)| (h, j, a.fan.json)),
        Cmd::Baseline(f) => bounded(f.timeout_secs, fanout::fanout_baseline(&f))
            .await
            .map(|r| (r.human(), r.json(), f.json)),
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
        Cmd::Replay(a) => bounded(a.timeout_secs, replay::run(&a))
            .await
            .map(|(h, j)| (h, j, a.json)),
        Cmd::Views(a) => bounded(2 * a.timeout_secs + 60, views::run(&a))
            .await
            .map(|(h, j)| (h, j, a.json)),
        Cmd::BaselineServer(_) => Err("the baseline server runs outside the runtime".into()),
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

/// sprintlog's figure over the baseline's (none when the baseline's is zero).
fn ratio(sprintlog: f64, baseline: f64) -> Option<f64> {
    (baseline > 0.0).then(|| sprintlog / baseline)
}

/// Opens a round of `items` (deadline in an hour) as the facilitator; returns the head after
/// it and the round's id (from its `RoundOpened` in the log).
async fn open_round(
    http: &reqwest::Client,
    base: &str,
    p: &Planning,
    items: &[String],
) -> Result<(u64, String)> {
    let v = command(
        http,
        base,
        p,
        "setup-round",
        json!({"type": "OpenRound", "items": items, "deadline": now_micros() + 3_600_000_000i64}),
    )
    .await?;
    let head = v["head"].as_u64().ok_or("no head")?;
    let round = find_in_log(http, base, p, head - 1, "RoundOpened", "round").await?;
    Ok((head, round))
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

/// A planning set up for a stream of votes on one item: its facilitator, `members` joined
/// members, and a round open on the item.
struct OneItemRoom {
    p: Planning,
    item: String,
    /// The members' tokens.
    tokens: Vec<String>,
    /// The head once the round is open, and the round's id.
    head: u64,
    round: String,
}

/// Creates a planning with one item, moves it to its async phase, joins `members` members and
/// opens a round on the item; with `live`, the live session starts first, so closing a round
/// reveals its votes to everyone (outside it, a flagged item's votes stay sealed, and one
/// voter of many is always flagged).
async fn one_item_room(
    http: &reqwest::Client,
    base: &str,
    title: &str,
    members: usize,
    concurrency: usize,
    live: bool,
) -> Result<OneItemRoom> {
    let p = create_planning(http, base, title).await?;
    let draft = json!({"type": "ProposeItem", "draft": {"title": "Load item"}});
    command(http, base, &p, "setup-item", draft).await?;
    let item = find_in_log(http, base, &p, 0, "ItemProposed", "item").await?;
    let phase = json!({"type": "ChangePhase", "to": "async"});
    command(http, base, &p, "setup-phase", phase).await?;
    eprintln!("joining {members} members…");
    let tokens = join_members(http, base, &p, members, concurrency).await?;
    if live {
        command(http, base, &p, "setup-sync", json!({"type": "StartSync"})).await?;
    }
    let (head, round) = open_round(http, base, &p, std::slice::from_ref(&item)).await?;
    Ok(OneItemRoom {
        p,
        item,
        tokens,
        head,
        round,
    })
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
