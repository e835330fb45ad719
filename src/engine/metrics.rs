//! Counters for `/metrics`, kept as atomics on the hot paths and encoded at scrape time in
//! the Prometheus text format by `prometheus-client` (names, types, escaping, histogram
//! layout), with the process's figures and a build-info gauge beside them.
//!
//! The counters stay plain atomics (one `fetch_add` where they are counted) and are read by a
//! [`Collector`] per scrape; the append latency is the crate's own histogram.

use crate::config::Limits;
use crate::engine::commands::Refusals;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The `Content-Type` of what [`render`] returns (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds of the append latency histogram, in seconds.
const BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

#[derive(Debug)]
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
    /// Scans of a planning's whole discussion for the views of one head that clients joining
    /// or keeping a view get (see `engine::joins`): one per head, however many join.
    pub join_scans: AtomicU64,
    /// Views encoded for clients that join (a snapshot, a kept view's shared part): one per
    /// head for everyone without a part of their own, one per viewer who has one.
    pub join_views_built: AtomicU64,
    append_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: AtomicUsize::default(),
            rooms: AtomicUsize::default(),
            events_appended: AtomicU64::default(),
            events_fanned_out: AtomicU64::default(),
            append_conflicts: AtomicU64::default(),
            commands_rejected: AtomicU64::default(),
            rate_limited: AtomicU64::default(),
            slow_consumer_closes: AtomicU64::default(),
            lagged_resyncs: AtomicU64::default(),
            bad_frames: AtomicU64::default(),
            jobs_run: AtomicU64::default(),
            webhook_deliveries: AtomicU64::default(),
            webhook_failures: AtomicU64::default(),
            webhook_given_up: AtomicU64::default(),
            tracker_writes: AtomicU64::default(),
            tracker_failures: AtomicU64::default(),
            feed_reconnects: AtomicU64::default(),
            events_replayed: AtomicU64::default(),
            connections_refused: AtomicU64::default(),
            connections_over_cap: AtomicU64::default(),
            connection_timeouts: AtomicU64::default(),
            rooms_evicted: AtomicU64::default(),
            rooms_refused: AtomicU64::default(),
            request_timeouts: AtomicU64::default(),
            bodies_too_large: AtomicU64::default(),
            group_commits: AtomicU64::default(),
            group_committed_commands: AtomicU64::default(),
            join_scans: AtomicU64::default(),
            join_views_built: AtomicU64::default(),
            append_seconds: Histogram::new(BUCKETS),
        }
    }
}

impl Metrics {
    pub fn observe_append(&self, d: Duration) {
        self.append_seconds.observe(d.as_secs_f64());
    }

    /// Every gauge and counter: name, help, type and value.
    fn figures(&self) -> Vec<(&'static str, &'static str, MetricType, u64)> {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("sprintlog_connections", "Open websocket connections.", MetricType::Gauge, self.connections.load(Ordering::Relaxed) as u64),
            ("sprintlog_rooms", "Rooms loaded in memory.", MetricType::Gauge, self.rooms.load(Ordering::Relaxed) as u64),
            ("sprintlog_sqlite_memory_bytes", "Memory SQLite's allocator holds in this process (page caches, schemas, statements).", MetricType::Gauge, sqlite_memory_used()),
            ("sprintlog_events_appended_total", "Events durably appended by this node.", MetricType::Counter, r(&self.events_appended)),
            ("sprintlog_group_commits_total", "Appends that wrote several queued commands of a planning in one commit.", MetricType::Counter, r(&self.group_commits)),
            ("sprintlog_group_committed_commands_total", "Commands written by those group commits.", MetricType::Counter, r(&self.group_committed_commands)),
            ("sprintlog_join_scans_total", "Scans of a planning's whole discussion for the views clients get when they join or start keeping a view: one per head, however many join.", MetricType::Counter, r(&self.join_scans)),
            ("sprintlog_join_views_built_total", "Views encoded for joining clients (snapshots, kept views' shared parts): one per head for everyone without a part of their own (a card, a question addressed to them), one per viewer who has one.", MetricType::Counter, r(&self.join_views_built)),
            ("sprintlog_events_fanned_out_total", "Events broadcast to rooms' subscribers.", MetricType::Counter, r(&self.events_fanned_out)),
            ("sprintlog_append_conflicts_total", "Appends that lost the race for a planning's head and were decided again.", MetricType::Counter, r(&self.append_conflicts)),
            ("sprintlog_commands_rejected_total", "Commands refused (domain rules, auth, conflicts).", MetricType::Counter, r(&self.commands_rejected)),
            ("sprintlog_rate_limited_total", "Commands refused by the per-connection rate limit.", MetricType::Counter, r(&self.rate_limited)),
            ("sprintlog_slow_consumer_closes_total", "Websockets closed because their outbound queue was full.", MetricType::Counter, r(&self.slow_consumer_closes)),
            ("sprintlog_lagged_resyncs_total", "Subscribers that fell behind the fan-out ring and resynced from the log.", MetricType::Counter, r(&self.lagged_resyncs)),
            ("sprintlog_bad_frames_total", "Malformed or oversized websocket frames.", MetricType::Counter, r(&self.bad_frames)),
            ("sprintlog_jobs_run_total", "Scheduled jobs (deadlines) run.", MetricType::Counter, r(&self.jobs_run)),
            ("sprintlog_webhook_deliveries_total", "Webhook deliveries accepted by their receiver (2xx).", MetricType::Counter, r(&self.webhook_deliveries)),
            ("sprintlog_webhook_failures_total", "Webhook delivery attempts that failed (each retried with backoff until given up).", MetricType::Counter, r(&self.webhook_failures)),
            ("sprintlog_webhook_given_up_total", "Webhook deliveries abandoned after their last attempt.", MetricType::Counter, r(&self.webhook_given_up)),
            ("sprintlog_tracker_writes_verified_total", "Estimates written to a tracker and verified by reading them back.", MetricType::Counter, r(&self.tracker_writes)),
            ("sprintlog_tracker_writes_failed_total", "Tracker write-backs reported as failed.", MetricType::Counter, r(&self.tracker_failures)),
            ("sprintlog_events_replayed_total", "Events read from the log to load rooms (snapshots keep this small).", MetricType::Counter, r(&self.events_replayed)),
            ("sprintlog_head_feed_reconnects_total", "Times the cross-node head feed (LISTEN) reconnected and rooms were re-read.", MetricType::Counter, r(&self.feed_reconnects)),
            ("sprintlog_connections_refused_total", "Websocket connections refused by the per-IP cap.", MetricType::Counter, r(&self.connections_refused)),
            ("sprintlog_connections_over_cap_total", "TCP connections refused (503 server_full) by the server-wide --max-connections cap.", MetricType::Counter, r(&self.connections_over_cap)),
            ("sprintlog_connection_timeouts_total", "TCP connections closed by the header-read or idle timeout.", MetricType::Counter, r(&self.connection_timeouts)),
            ("sprintlog_rooms_evicted_total", "Rooms dropped from memory (idle, or least recently used under the room cap).", MetricType::Counter, r(&self.rooms_evicted)),
            ("sprintlog_rooms_refused_total", "Requests refused because the room cap was reached with every room in use.", MetricType::Counter, r(&self.rooms_refused)),
            ("sprintlog_request_timeouts_total", "HTTP requests abandoned at the request timeout.", MetricType::Counter, r(&self.request_timeouts)),
            ("sprintlog_bodies_too_large_total", "HTTP request bodies refused as over the size limit.", MetricType::Counter, r(&self.bodies_too_large)),
        ]
    }
}

/// The Prometheus text exposition of everything `/metrics` shows: this node's counters and
/// gauges, refusals by code, the configured limits, the process and the build.
pub fn render(metrics: Arc<Metrics>, refusals: Arc<Refusals>, limits: Arc<Limits>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Figures {
        metrics,
        refusals,
        limits,
    }));
    let mut out = String::new();
    // Writing into a `String` cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

/// What one scrape reads.
#[derive(Debug)]
struct Figures {
    metrics: Arc<Metrics>,
    refusals: Arc<Refusals>,
    limits: Arc<Limits>,
}

impl Collector for Figures {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, kind, v) in self.metrics.figures() {
            one(&mut enc, name, help, kind, v)?;
        }
        let m = &self.metrics;
        let hist = m.append_seconds.metric_type();
        let e = enc.encode_descriptor(
            "sprintlog_append_seconds",
            "Latency of durable appends.",
            None,
            hist,
        )?;
        m.append_seconds.encode(e)?;
        let mut e = enc.encode_descriptor(
            "sprintlog_refusals",
            "Writes refused (REST and websocket), by error code.",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in self.refusals.counts() {
            e.encode_family(&[("code", code.as_str())])?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(&n, None)?;
        }
        let mut e = enc.encode_descriptor(
            "sprintlog_limit",
            "Configured limits (see `sprintlog --help`; 0 means no cap where the help says so).",
            None,
            MetricType::Gauge,
        )?;
        for (name, v) in limits(&self.limits) {
            e.encode_family(&[("name", name)])?.encode_gauge(&v)?;
        }
        let mut e = enc.encode_descriptor(
            "sprintlog_build_info",
            "The running build: its version (the value is always 1).",
            None,
            MetricType::Gauge,
        )?;
        e.encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?
            .encode_gauge(&1u64)?;
        process(&mut enc)
    }
}

/// A figure without labels; a counter's name is given with its `_total`, which the encoder
/// adds itself.
fn one(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    v: u64,
) -> Result<(), std::fmt::Error> {
    let name = match kind {
        MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let mut e = enc.encode_descriptor(name, help, None, kind)?;
    match kind {
        MetricType::Counter => {
            e.encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(&v, None)
        }
        _ => e.encode_gauge(&v),
    }
}

/// Prometheus's standard `process_*` figures (none where they cannot be read).
fn process(enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
    let Some(p) = crate::engine::process::read() else {
        return Ok(());
    };
    let gauge = MetricType::Gauge;
    let e = enc.encode_descriptor(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds.",
        None,
        MetricType::Counter,
    );
    e?.encode_counter::<prometheus_client::encoding::NoLabelSet, _, f64>(&p.cpu_seconds, None)?;
    let bytes = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_memory_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            p.virtual_memory_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        ),
    ];
    for (name, help, v) in bytes {
        enc.encode_descriptor(name, help, None, gauge)?
            .encode_gauge(&v)?;
    }
    if let Some(max) = p.max_fds {
        enc.encode_descriptor(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            None,
            gauge,
        )?
        .encode_gauge(&max)?;
    }
    if let Some(start) = p.start_time_seconds {
        enc.encode_descriptor(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            None,
            gauge,
        )?
        .encode_gauge(&start)?;
    }
    Ok(())
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
fn limits(l: &Limits) -> Vec<(&'static str, u64)> {
    vec![
        ("max_frame_bytes", l.max_frame_bytes as u64),
        ("max_body_bytes", l.max_body_bytes as u64),
        ("command_rate", u64::from(l.command_rate)),
        ("command_burst", u64::from(l.command_burst)),
        ("read_rate", u64::from(l.read_rate)),
        ("read_burst", u64::from(l.read_burst)),
        ("outbound_queue", l.outbound_queue as u64),
        ("outbound_queue_bytes", l.outbound_queue_bytes as u64),
        ("room_queue", l.room_queue as u64),
        ("max_participants", u64::from(l.max_participants)),
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
    ]
}
