//! `replay`: a planning with E events; times a late joiner from connect to `caught_up`. The
//! baseline server then sends every new connection the very frames sprintlog's late joiner got
//! (pre-serialised, from a file), so the ratio is what loading and projecting the log costs
//! over writing the same bytes.

use crate::{
    baseline, command, connect, create_planning, loopback, progress, seq_of, Error, Result,
};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// sprintlog's base URL (loopback only).
    #[arg(long)]
    pub url: String,
    /// Events to seed (comments posted over REST).
    #[arg(long, default_value_t = 5000)]
    pub events: usize,
    /// Seeding requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Late joiners timed one after the other, on each side (the report gives each and the
    /// median).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Post one comment before each late joiner, so that each joins at a new head: the cost
    /// of the first joiner after a write (nothing the server kept for the previous joiner's
    /// head applies).
    #[arg(long)]
    pub write_between: bool,
    /// Pin the baseline server (a child process) to this CPU.
    #[arg(long)]
    pub baseline_cpu: Option<usize>,
    /// Give up after this many seconds (the whole scenario).
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One late joiner, connect → `caught_up`.
struct Joined {
    took: Duration,
    /// Event frames, and whether a snapshot came instead of (or before) them.
    events: u64,
    snapshot: bool,
    bytes: u64,
    head: u64,
    /// Every frame before `caught_up` (kept for the baseline to send).
    frames: Vec<String>,
}

async fn late_joiner(url: &str) -> Result<Joined> {
    let t = Instant::now();
    let mut sock = connect(url).await?;
    let (mut events, mut snapshot, mut bytes) = (0u64, false, 0u64);
    let run_deadline = t + Duration::from_secs(20);
    let mut seen: Vec<String> = Vec::new();
    let mut frames = Vec::new();
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
            let took = t.elapsed();
            let _ = sock.close(None).await;
            return Ok(Joined {
                took,
                events,
                snapshot,
                bytes,
                head: v["head"].as_u64().unwrap_or(0),
                frames,
            });
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
        frames.push(text.to_string());
    }
}

/// Each run's time in ms, sorted, and their median.
fn times(runs: &[Joined]) -> (Vec<f64>, f64) {
    let mut ms: Vec<f64> = runs.iter().map(|r| r.took.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    (ms, median)
}

fn list(ms: &[f64]) -> Vec<String> {
    ms.iter().map(|m| format!("{m:.1}")).collect()
}

pub async fn run(a: &ReplayArgs) -> Result<(String, Value)> {
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
    for i in 0..a.runs.max(1) {
        if a.write_between {
            let text = json!({"type": "PostComment", "kind": "comment", "text": "between joiners"});
            command(&http, &base, &p, &format!("between-{i}"), text).await?;
        }
        runs.push(late_joiner(&ws).await?);
    }
    let (ms, median) = times(&runs);

    // The baseline sends the frames the first late joiner got, then `caught_up`.
    let history = std::env::temp_dir().join(format!(
        "sprintlog-loadtest-replay-{}.frames",
        std::process::id()
    ));
    std::fs::write(&history, runs[0].frames.join("\n"))?;
    let child = baseline::spawn(a.baseline_cpu, Some(&history)).await;
    let _ = std::fs::remove_file(&history);
    let child = child?;
    let url = format!("ws://{}/replay", child.addr);
    let mut b_runs = Vec::new();
    for _ in 0..a.runs.max(1) {
        b_runs.push(late_joiner(&url).await?);
    }
    drop(child);
    let (b_ms, b_median) = times(&b_runs);
    let ratio = crate::ratio(median, b_median).unwrap_or(f64::NAN);

    let Joined {
        events,
        snapshot,
        bytes,
        head,
        ..
    } = runs[0];
    let per_s = head as f64 / (median / 1e3);
    let human = format!(
        "replay: {} events seeded in {seed_s:.2} s ({:.0} commands/s over REST, {} in flight)\n  \
         sprintlog: late joiner since=0 → caught_up (head {head}): median {median:.1} ms over {} \
         runs {:?}\n  = {per_s:.0} events/s; received {} ({events} event frames, {} frames, \
         {:.1} KiB)\n  baseline, sending the same {} frames: median {b_median:.2} ms {:?}\n\
         sprintlog / baseline: time to caught_up × {ratio:.2}",
        a.events,
        a.events as f64 / seed_s,
        a.concurrency,
        ms.len(),
        list(&ms),
        if snapshot { "a snapshot" } else { "the events" },
        runs[0].frames.len(),
        bytes as f64 / 1024.0,
        runs[0].frames.len(),
        list(&b_ms),
    );
    let json = json!({
        "scenario": "replay",
        "events": a.events,
        "write_between": a.write_between,
        "head": head,
        "seed_s": seed_s,
        "seed_commands_per_s": a.events as f64 / seed_s,
        "caught_up_ms": {"median": median, "runs": ms},
        "events_per_s": per_s,
        "snapshot": snapshot,
        "event_frames": events,
        "frames": runs[0].frames.len(),
        "bytes": bytes,
        "baseline": {
            "caught_up_ms": {"median": b_median, "runs": b_ms},
            "bytes": b_runs[0].bytes,
        },
        "ratio": {"caught_up_ms": ratio},
    });
    Ok((human, json))
}
