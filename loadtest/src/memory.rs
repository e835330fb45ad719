//! The server's resident memory around a scenario's load, from `/proc/<pid>/status`: before its
//! clients connect, once they are connected and idle, the peak while the load runs, and once it
//! has settled after it (the clients still connected), each also per connection.
//!
//! Per connection is (reading − before) / connections: everything the load made the server hold
//! (the connections, and the room state and buffers a busy room keeps) over the connections
//! that made it, the figure issue 22 sets a target for. Much of that is not per connection:
//! SQLite's page caches and prepared statements fill as the log grows, whatever the number of
//! clients, so sprintlog's SQLite memory (its `/metrics` gauge) is read before and after too,
//! and the settled figure is also given without its growth.

use crate::proc_stat;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the peak is sampled while the load runs (a read of a small `/proc` file each).
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// How long after the load the settled reading waits: the connections' queues have drained
/// and what the server gives back (buffers shrunk, memory trimmed) has been given back.
pub const SETTLE: Duration = Duration::from_secs(1);

/// The readings of one server's RSS in KiB (`None` where `/proc` could not be read).
pub struct Memory {
    pid: u32,
    before: Option<u64>,
    idle: Option<u64>,
    peak: Arc<AtomicU64>,
    sampler: Option<tokio::task::JoinHandle<()>>,
    settled: Option<u64>,
    /// SQLite's own memory in KiB, before the clients connected and once settled (sprintlog
    /// only: [`Memory::sqlite_before`], [`Memory::sqlite_settled`]).
    sqlite: (Option<u64>, Option<u64>),
}

impl Memory {
    /// Reads the RSS before the clients connect.
    pub fn before(pid: u32) -> Self {
        Memory {
            pid,
            before: proc_stat::rss_kib(pid),
            idle: None,
            peak: Arc::new(AtomicU64::new(0)),
            sampler: None,
            settled: None,
            sqlite: (None, None),
        }
    }

    /// Records sprintlog's SQLite memory before the clients connect.
    pub async fn sqlite_before(&mut self, http: &reqwest::Client, base: &str) {
        self.sqlite.0 = sqlite_kib(http, base).await;
    }

    /// Records sprintlog's SQLite memory once settled (after [`Memory::load_ended`]).
    pub async fn sqlite_settled(&mut self, http: &reqwest::Client, base: &str) {
        self.sqlite.1 = sqlite_kib(http, base).await;
    }

    /// SQLite's growth from before to settled, in KiB.
    fn sqlite_growth(&self) -> Option<u64> {
        Some(self.sqlite.1?.saturating_sub(self.sqlite.0?))
    }

    /// Reads the RSS with the clients connected and idle, then samples its peak in the
    /// background until [`Memory::load_ended`].
    pub fn load_starts(&mut self) {
        self.idle = proc_stat::rss_kib(self.pid);
        self.peak
            .fetch_max(self.idle.unwrap_or(0), Ordering::Relaxed);
        let (pid, peak) = (self.pid, self.peak.clone());
        self.sampler = Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            loop {
                every.tick().await;
                if let Some(r) = proc_stat::rss_kib(pid) {
                    peak.fetch_max(r, Ordering::Relaxed);
                }
            }
        }));
    }

    /// Stops sampling the peak, waits [`SETTLE`] and reads the settled RSS.
    pub async fn load_ended(&mut self) {
        if let Some(s) = self.sampler.take() {
            s.abort();
        }
        if let Some(r) = proc_stat::rss_kib(self.pid) {
            self.peak.fetch_max(r, Ordering::Relaxed);
        }
        tokio::time::sleep(SETTLE).await;
        self.settled = proc_stat::rss_kib(self.pid);
    }

    /// The peak RSS while the load ran (`None` before it started or if never read).
    pub fn peak(&self) -> Option<u64> {
        Some(self.peak.load(Ordering::Relaxed)).filter(|&p| p > 0)
    }

    /// `(reading − before) / connections` in KiB.
    fn per_connection(&self, reading: Option<u64>, connections: usize) -> Option<f64> {
        let (before, reading) = (self.before?, reading?);
        (connections > 0).then(|| reading.saturating_sub(before) as f64 / connections as f64)
    }

    /// The settled RSS less SQLite's growth over the load.
    fn settled_without_sqlite(&self) -> Option<u64> {
        Some(self.settled?.saturating_sub(self.sqlite_growth()?))
    }

    /// The readings and the per-connection figures, for a report.
    pub fn json(&self, connections: usize) -> Value {
        let per = |r| self.per_connection(r, connections);
        json!({
            "before": self.before,
            "idle": self.idle,
            "peak": self.peak(),
            "settled": self.settled,
            "sqlite_before": self.sqlite.0,
            "sqlite_settled": self.sqlite.1,
            "per_connection_kib": {
                "idle": per(self.idle),
                "peak": per(self.peak()),
                "settled": per(self.settled),
                "settled_without_sqlite": per(self.settled_without_sqlite()),
            },
        })
    }

    /// One line for a human report.
    pub fn human(&self, connections: usize) -> String {
        let mib = |r: Option<u64>| {
            r.map(|r| format!("{:.1} MiB", r as f64 / 1024.0))
                .unwrap_or("–".into())
        };
        let kib = |r| {
            self.per_connection(r, connections)
                .map(|k| format!("{k:.1}"))
                .unwrap_or("–".into())
        };
        let sqlite = match self.sqlite {
            (Some(b), Some(s)) => format!(
                "; SQLite {:.1} → {:.1} MiB, settled without its growth {} KiB per connection",
                b as f64 / 1024.0,
                s as f64 / 1024.0,
                kib(self.settled_without_sqlite())
            ),
            _ => String::new(),
        };
        format!(
            "server RSS: {} before the clients, {} connected, {} peak, {} settled; per \
             connection {} KiB idle, {} peak, {} settled{sqlite}",
            mib(self.before),
            mib(self.idle),
            mib(self.peak()),
            mib(self.settled),
            kib(self.idle),
            kib(self.peak()),
            kib(self.settled),
        )
    }
}

impl Drop for Memory {
    fn drop(&mut self) {
        if let Some(s) = self.sampler.take() {
            s.abort();
        }
    }
}

/// sprintlog's gauge of SQLite's own memory (page caches, prepared statements).
const SQLITE_MEMORY: &str = "sprintlog_sqlite_memory_bytes";

/// SQLite's memory in sprintlog from its `/metrics`, in bytes (`None` if it cannot be read,
/// e.g. behind `--metrics-token`).
pub async fn sqlite_bytes(http: &reqwest::Client, base: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(SQLITE_MEMORY)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The same in KiB.
async fn sqlite_kib(http: &reqwest::Client, base: &str) -> Option<u64> {
    Some((sqlite_bytes(http, base).await? / 1024.0).round() as u64)
}
