//! Counters for `/metrics` (Prometheus text format), kept as atomics on the hot paths.
//!
//! A handful of counters and one histogram do not need a metrics framework; the exposition
//! format is plain text and is rendered by hand in [`Metrics::render`].

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Upper bounds of the append latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicUsize,
    pub rooms: AtomicUsize,
    pub events_appended: AtomicU64,
    pub events_fanned_out: AtomicU64,
    pub append_conflicts: AtomicU64,
    pub commands_rejected: AtomicU64,
    pub rate_limited: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub lagged_resyncs: AtomicU64,
    pub bad_frames: AtomicU64,
    pub jobs_run: AtomicU64,
    /// Webhook deliveries a receiver accepted (2xx).
    pub webhook_deliveries: AtomicU64,
    /// Webhook attempts that failed (error status, timeout, refused URL…); each is retried
    /// until the delivery's attempts run out.
    pub webhook_failures: AtomicU64,
    /// Webhook deliveries given up after their last attempt.
    pub webhook_given_up: AtomicU64,
    /// Estimates written to a tracker and verified by reading them back.
    pub tracker_writes: AtomicU64,
    /// Tracker write-backs reported as failed (refused, credential refused, not applied, or
    /// given up after their last attempt).
    pub tracker_failures: AtomicU64,
    pub feed_reconnects: AtomicU64,
    pub events_replayed: AtomicU64,
    /// Websocket upgrades refused by the per-IP connection cap.
    pub connections_refused: AtomicU64,
    /// TCP connections refused by the server-wide connection cap.
    pub connections_over_cap: AtomicU64,
    /// TCP connections closed by the header-read or idle timeout.
    pub connection_timeouts: AtomicU64,
    /// Rooms dropped from memory (idle, or to make room under the cap).
    pub rooms_evicted: AtomicU64,
    /// Requests refused because the room cap was reached with every room in use.
    pub rooms_refused: AtomicU64,
    /// HTTP requests abandoned at the request timeout.
    pub request_timeouts: AtomicU64,
    /// HTTP request bodies refused as over the size limit.
    pub bodies_too_large: AtomicU64,
    /// Appends that wrote several commands in one commit (group commit), and those commands.
    pub group_commits: AtomicU64,
    pub group_committed_commands: AtomicU64,
    append_buckets: [AtomicU64; BUCKETS.len()],
    append_count: AtomicU64,
    append_micros_sum: AtomicU64,
}

impl Metrics {
    pub fn observe_append(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.append_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.append_count.fetch_add(1, Ordering::Relaxed);
        self.append_micros_sum
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// Every gauge and counter: name, help, type and value.
    fn figures(&self) -> Vec<(&'static str, &'static str, &'static str, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("sprintlog_connections", "Open websocket connections.", "gauge", self.connections.load(Ordering::Relaxed) as u64),
            ("sprintlog_rooms", "Rooms loaded in memory.", "gauge", self.rooms.load(Ordering::Relaxed) as u64),
            ("sprintlog_sqlite_memory_bytes", "Memory SQLite's allocator holds in this process (page caches, schemas, statements).", "gauge", sqlite_memory_used()),
            ("sprintlog_events_appended_total", "Events durably appended by this node.", "counter", r(&self.events_appended)),
            ("sprintlog_group_commits_total", "Appends that wrote several queued commands of a planning in one commit.", "counter", r(&self.group_commits)),
            ("sprintlog_group_committed_commands_total", "Commands written by those group commits.", "counter", r(&self.group_committed_commands)),
            ("sprintlog_events_fanned_out_total", "Events broadcast to rooms' subscribers.", "counter", r(&self.events_fanned_out)),
            ("sprintlog_append_conflicts_total", "Appends that lost the race for a planning's head and were decided again.", "counter", r(&self.append_conflicts)),
            ("sprintlog_commands_rejected_total", "Commands refused (domain rules, auth, conflicts).", "counter", r(&self.commands_rejected)),
            ("sprintlog_rate_limited_total", "Commands refused by the per-connection rate limit.", "counter", r(&self.rate_limited)),
            ("sprintlog_slow_consumer_closes_total", "Websockets closed because their outbound queue was full.", "counter", r(&self.slow_consumer_closes)),
            ("sprintlog_lagged_resyncs_total", "Subscribers that fell behind the fan-out ring and resynced from the log.", "counter", r(&self.lagged_resyncs)),
            ("sprintlog_bad_frames_total", "Malformed or oversized websocket frames.", "counter", r(&self.bad_frames)),
            ("sprintlog_jobs_run_total", "Scheduled jobs (deadlines) run.", "counter", r(&self.jobs_run)),
            ("sprintlog_webhook_deliveries_total", "Webhook deliveries accepted by their receiver (2xx).", "counter", r(&self.webhook_deliveries)),
            ("sprintlog_webhook_failures_total", "Webhook delivery attempts that failed (each retried with backoff until given up).", "counter", r(&self.webhook_failures)),
            ("sprintlog_webhook_given_up_total", "Webhook deliveries abandoned after their last attempt.", "counter", r(&self.webhook_given_up)),
            ("sprintlog_tracker_writes_verified_total", "Estimates written to a tracker and verified by reading them back.", "counter", r(&self.tracker_writes)),
            ("sprintlog_tracker_writes_failed_total", "Tracker write-backs reported as failed.", "counter", r(&self.tracker_failures)),
            ("sprintlog_events_replayed_total", "Events read from the log to load rooms (snapshots keep this small).", "counter", r(&self.events_replayed)),
            ("sprintlog_head_feed_reconnects_total", "Times the cross-node head feed (LISTEN) reconnected and rooms were re-read.", "counter", r(&self.feed_reconnects)),
            ("sprintlog_connections_refused_total", "Websocket connections refused by the per-IP cap.", "counter", r(&self.connections_refused)),
            ("sprintlog_connections_over_cap_total", "TCP connections refused (503 server_full) by the server-wide --max-connections cap.", "counter", r(&self.connections_over_cap)),
            ("sprintlog_connection_timeouts_total", "TCP connections closed by the header-read or idle timeout.", "counter", r(&self.connection_timeouts)),
            ("sprintlog_rooms_evicted_total", "Rooms dropped from memory (idle, or least recently used under the room cap).", "counter", r(&self.rooms_evicted)),
            ("sprintlog_rooms_refused_total", "Requests refused because the room cap was reached with every room in use.", "counter", r(&self.rooms_refused)),
            ("sprintlog_request_timeouts_total", "HTTP requests abandoned at the request timeout.", "counter", r(&self.request_timeouts)),
            ("sprintlog_bodies_too_large_total", "HTTP request bodies refused as over the size limit.", "counter", r(&self.bodies_too_large)),
        ]
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, kind, v) in self.figures() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP sprintlog_append_seconds Latency of durable appends.\n# TYPE sprintlog_append_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "sprintlog_append_seconds_bucket{{le=\"{b}\"}} {}",
                r(&self.append_buckets[i])
            );
        }
        let count = r(&self.append_count);
        let _ = writeln!(
            out,
            "sprintlog_append_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "sprintlog_append_seconds_sum {}",
            r(&self.append_micros_sum) as f64 / 1e6
        );
        let _ = writeln!(out, "sprintlog_append_seconds_count {count}");
        out
    }
}

/// Bytes SQLite has allocated, all connections together: its page caches grow toward their
/// bound (`cache_size`, 2 MB per connection by default) as a database grows, which a soak's RSS
/// shows as a slowing rise; this gauge tells that growth from a leak of ours. (0 with a
/// PostgreSQL backend.)
fn sqlite_memory_used() -> u64 {
    // SAFETY: `sqlite3_memory_used` takes no arguments and reads SQLite's own statistics
    // under its internal mutex; it may be called from any thread, at any time, even before
    // any connection is open.
    let n = unsafe { libsqlite3_sys::sqlite3_memory_used() };
    u64::try_from(n).unwrap_or(0)
}

/// The configured limits as one labelled gauge, so a dashboard shows the counters above next
/// to the limits they count against.
pub fn render_limits(l: &crate::config::Limits) -> String {
    let values: &[(&str, u64)] = &[
        ("max_frame_bytes", l.max_frame_bytes as u64),
        ("max_body_bytes", l.max_body_bytes as u64),
        ("command_rate", u64::from(l.command_rate)),
        ("command_burst", u64::from(l.command_burst)),
        ("read_rate", u64::from(l.read_rate)),
        ("read_burst", u64::from(l.read_burst)),
        ("outbound_queue", l.outbound_queue as u64),
        ("outbound_queue_bytes", l.outbound_queue_bytes as u64),
        ("room_queue", l.room_queue as u64),
        ("room_idle_secs", l.room_idle_secs),
        ("request_timeout_secs", l.request_timeout_secs),
        ("max_connections", l.max_connections as u64),
        ("header_read_timeout_secs", l.header_read_timeout_secs),
        ("idle_timeout_secs", l.idle_timeout_secs),
        ("max_connections_per_ip", l.max_connections_per_ip as u64),
        ("trusted_proxies", l.trusted_proxies.len() as u64),
        ("max_rooms", l.max_rooms as u64),
        ("allowed_origins", l.allowed_origins.len() as u64),
        ("allowed_hosts", l.allowed_hosts.len() as u64),
        ("head_poll_ms", l.head_poll_ms),
        ("snapshot_after", l.snapshot_after.max(0) as u64),
        ("webhook_max_attempts", u64::from(l.webhooks.max_attempts)),
    ];
    let mut out = String::from(
        "# HELP sprintlog_limit Configured limits (see `sprintlog --help`; 0 means no cap where \
         the help says so).\n# TYPE sprintlog_limit gauge\n",
    );
    for (name, v) in values {
        let _ = writeln!(out, "sprintlog_limit{{name=\"{name}\"}} {v}");
    }
    out
}
