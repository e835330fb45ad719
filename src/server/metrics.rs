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
    pub feed_reconnects: AtomicU64,
    pub events_replayed: AtomicU64,
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

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        };
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            "sprintlog_connections",
            "Open websocket connections.",
            "gauge",
            self.connections.load(Ordering::Relaxed) as u64,
        );
        gauge(
            "sprintlog_rooms",
            "Rooms loaded in memory.",
            "gauge",
            self.rooms.load(Ordering::Relaxed) as u64,
        );
        gauge(
            "sprintlog_events_appended_total",
            "Events durably appended by this node.",
            "counter",
            r(&self.events_appended),
        );
        gauge(
            "sprintlog_events_fanned_out_total",
            "Events broadcast to rooms' subscribers.",
            "counter",
            r(&self.events_fanned_out),
        );
        gauge(
            "sprintlog_append_conflicts_total",
            "Appends that lost the race for a planning's head and were decided again.",
            "counter",
            r(&self.append_conflicts),
        );
        gauge(
            "sprintlog_commands_rejected_total",
            "Commands refused (domain rules, auth, conflicts).",
            "counter",
            r(&self.commands_rejected),
        );
        gauge(
            "sprintlog_rate_limited_total",
            "Commands refused by the per-connection rate limit.",
            "counter",
            r(&self.rate_limited),
        );
        gauge(
            "sprintlog_slow_consumer_closes_total",
            "Websockets closed because their outbound queue was full.",
            "counter",
            r(&self.slow_consumer_closes),
        );
        gauge(
            "sprintlog_lagged_resyncs_total",
            "Subscribers that fell behind the fan-out ring and resynced from the log.",
            "counter",
            r(&self.lagged_resyncs),
        );
        gauge(
            "sprintlog_bad_frames_total",
            "Malformed or oversized websocket frames.",
            "counter",
            r(&self.bad_frames),
        );
        gauge(
            "sprintlog_jobs_run_total",
            "Scheduled jobs (deadlines) run.",
            "counter",
            r(&self.jobs_run),
        );
        gauge(
            "sprintlog_webhook_deliveries_total",
            "Webhook deliveries accepted by their receiver (2xx).",
            "counter",
            r(&self.webhook_deliveries),
        );
        gauge(
            "sprintlog_webhook_failures_total",
            "Webhook delivery attempts that failed (each retried with backoff until given up).",
            "counter",
            r(&self.webhook_failures),
        );
        gauge(
            "sprintlog_webhook_given_up_total",
            "Webhook deliveries abandoned after their last attempt.",
            "counter",
            r(&self.webhook_given_up),
        );
        gauge(
            "sprintlog_events_replayed_total",
            "Events read from the log to load rooms (snapshots keep this small).",
            "counter",
            r(&self.events_replayed),
        );
        gauge(
            "sprintlog_head_feed_reconnects_total",
            "Times the cross-node head feed (LISTEN) reconnected and rooms were re-read.",
            "counter",
            r(&self.feed_reconnects),
        );
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
