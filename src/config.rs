//! Command-line and environment configuration; the doc comments below are the `--help`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

/// sprintlog: a self-hostable server for async-first sprint planning.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Where the event log lives: `sqlite://FILE` (created if missing) or `postgres://…`.
    /// (`--help` does not show the environment's value: it may hold a password.)
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://sprintlog.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Address the HTTP and websocket server listens on.
    #[arg(long, env = "SPRINTLOG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Public base URL used in invite links (defaults to http://<bind>).
    #[arg(long, env = "SPRINTLOG_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log: String,

    /// Log line format: `text` (colour codes only when stdout is a terminal) or `json` (one
    /// object per line: `timestamp`, `level`, `target`, `message` and the event's fields).
    /// The access log (target `sprintlog::access`) is one line per request in either format.
    #[arg(long, env = "SPRINTLOG_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub limits: Limits,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Protection limits; every one is configurable (a load test raises them).
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Largest websocket message accepted, in bytes.
    #[arg(long, env = "SPRINTLOG_MAX_FRAME_BYTES", default_value_t = 64 * 1024)]
    pub max_frame_bytes: usize,

    /// Largest HTTP request body accepted, in bytes (imports included).
    #[arg(long, env = "SPRINTLOG_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Commands per second one token may send (its REST writes and websockets together).
    #[arg(long, env = "SPRINTLOG_COMMAND_RATE", default_value_t = 20)]
    pub command_rate: u32,

    /// Burst of commands allowed above the rate.
    #[arg(long, env = "SPRINTLOG_COMMAND_BURST", default_value_t = 40)]
    pub command_burst: u32,

    /// Costly reads per second one token may make: a past view (`?at=`, websocket `state_at`),
    /// the audit, digest, verification and estimate export, each of which reads the planning's
    /// whole log or renders all of it (the timeline is paged and not counted).
    #[arg(long, env = "SPRINTLOG_READ_RATE", default_value_t = 5)]
    pub read_rate: u32,

    /// Burst of costly reads allowed above the rate.
    #[arg(long, env = "SPRINTLOG_READ_BURST", default_value_t = 20)]
    pub read_burst: u32,

    /// Frames queued for one websocket before it is closed as too slow (close code 4008).
    #[arg(long, env = "SPRINTLOG_OUTBOUND_QUEUE", default_value_t = 512)]
    pub outbound_queue: usize,

    /// Bytes queued for one websocket before it is closed as too slow (close code 4008); a
    /// single larger frame (a snapshot of a big planning) is still sent alone.
    #[arg(long, env = "SPRINTLOG_OUTBOUND_QUEUE_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub outbound_queue_bytes: usize,

    /// Commands one planning holds queued for its writer (from all its connections and REST
    /// requests). Past it a command is refused at once with 503 `busy` (nothing written; the
    /// client retries the same op after a moment) rather than waited on.
    #[arg(long, env = "SPRINTLOG_ROOM_QUEUE", default_value_t = 256)]
    pub room_queue: usize,

    /// People who may join one planning, removed ones included (1 to 100,000); past it a join
    /// is refused (400 `invalid`, "a planning has at most N participants"). Every member of a
    /// room receives every event of it: raise it for an all-hands planning, not by default.
    #[arg(long, env = "SPRINTLOG_MAX_PARTICIPANTS", default_value_t = 500,
        value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_participants: u32,

    /// Seconds an unused room stays in memory.
    #[arg(long, env = "SPRINTLOG_ROOM_IDLE_SECS", default_value_t = 300)]
    pub room_idle_secs: u64,

    /// Seconds an HTTP request may take.
    #[arg(long, env = "SPRINTLOG_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Open TCP connections (HTTP and websockets) the server holds at once; past it a new
    /// connection is answered 503 `server_full` and closed (0: no cap). Keep it under the
    /// process's file descriptor limit (`ulimit -n`).
    #[arg(long, env = "SPRINTLOG_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Seconds a new connection may take to send its first request's headers.
    #[arg(long, env = "SPRINTLOG_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds a connection may stay silent (no byte either way) before it is closed:
    /// keep-alive HTTP connections and websockets (the web client pings every 25 s).
    #[arg(long, env = "SPRINTLOG_IDLE_TIMEOUT_SECS", default_value_t = 120)]
    pub idle_timeout_secs: u64,

    /// Websocket connections one client IP address may hold open at once (0: no cap); an
    /// IPv6 client is counted by its /64. Behind a reverse proxy every client has the proxy's
    /// address: cap there, set `--trusted-proxies`, or raise this.
    #[arg(long, env = "SPRINTLOG_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    pub max_connections_per_ip: usize,

    /// Reverse proxies (IP addresses or CIDRs such as `10.0.0.0/8`, comma separated) whose
    /// `X-Forwarded-For` is believed: behind them, the per-IP cap counts the client's address
    /// (the right-most one in the header that is not itself a trusted proxy) instead of the
    /// proxy's.
    #[arg(
        long,
        env = "SPRINTLOG_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_network
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Plannings held in memory at once. Past it, the least recently used one without open
    /// connections is evicted to make room; when every one is in use, opening another is
    /// refused with 503 `server_full` (0: no cap).
    #[arg(long, env = "SPRINTLOG_MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Websocket `Origin`s allowed besides the server's own origin (comma separated, scheme
    /// included: `https://plan.example.com`).
    #[arg(long, env = "SPRINTLOG_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Host names (`plan.example.com`, any port) or `host:port` pairs the server answers for
    /// (comma separated). A request whose `Host` is not listed is refused 400 `bad_host`
    /// (`/healthz` and `/readyz` excepted). Empty (the default): any `Host` is served.
    #[arg(long, env = "SPRINTLOG_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// A bearer token `GET /metrics` then requires (`Authorization: Bearer …`). Unset,
    /// `/metrics` is public: it shows counts and limits, never content.
    #[arg(long, env = "SPRINTLOG_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Milliseconds between polls of loaded rooms' heads in the log (repairs lost
    /// notifications from other nodes; 0 disables).
    #[arg(long, env = "SPRINTLOG_HEAD_POLL_MS", default_value_t = 5000)]
    pub head_poll_ms: u64,

    /// Catch-up sends a snapshot instead of events when the client is this far behind.
    #[arg(long, env = "SPRINTLOG_SNAPSHOT_AFTER", default_value_t = 1000)]
    pub snapshot_after: i64,

    /// This node's name in the jobs table (unique per running node, the same across its
    /// restarts): a node that starts again under its name takes back the job leases it held
    /// when it stopped, instead of waiting them out (30 s). Default: `<host name>:<port>`.
    #[arg(long, env = "SPRINTLOG_NODE_ID")]
    pub node_id: Option<String>,

    #[command(flatten)]
    pub webhooks: WebhookConfig,

    #[command(flatten)]
    pub trackers: TrackerConfig,
}

/// Tracker connections (Jira, GitHub): which sites they may reach and how hard a write-back
/// tries.
#[derive(Debug, Clone, Args)]
pub struct TrackerConfig {
    /// Hosts (`host`) or endpoints (`host:port`) a tracker connection's site may name even
    /// though they resolve into private, loopback, link-local or CGNAT ranges (comma
    /// separated), e.g. a Jira Data Center on the operator's network. The same rules as
    /// `--webhook-allow`, kept apart so allowing one does not allow the other.
    #[arg(
        id = "tracker-allow",
        long = "tracker-allow",
        env = "SPRINTLOG_TRACKER_ALLOW",
        value_delimiter = ','
    )]
    pub allow: Vec<String>,

    /// Delay before the first retry of a write-back the tracker could not take now (5xx,
    /// network), in milliseconds; it doubles with each further attempt (capped at ten
    /// minutes). A 429's `Retry-After` is honoured instead.
    #[arg(
        id = "tracker-backoff-ms",
        long = "tracker-backoff-ms",
        env = "SPRINTLOG_TRACKER_BACKOFF_MS",
        default_value_t = 2000
    )]
    pub backoff_ms: u64,

    /// Attempts per write-back before it is reported as failed.
    #[arg(
        id = "tracker-max-attempts",
        long = "tracker-max-attempts",
        env = "SPRINTLOG_TRACKER_MAX_ATTEMPTS",
        default_value_t = 8
    )]
    pub max_attempts: u32,

    /// How long one request to a tracker may take, in milliseconds.
    #[arg(
        id = "tracker-timeout-ms",
        long = "tracker-timeout-ms",
        env = "SPRINTLOG_TRACKER_TIMEOUT_MS",
        default_value_t = 10000
    )]
    pub timeout_ms: u64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            allow: Vec::new(),
            backoff_ms: 2000,
            max_attempts: 8,
            timeout_ms: 10000,
        }
    }
}

/// Outbound webhooks: where they may point and how hard delivery tries.
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Hosts (`host`) or endpoints (`host:port`, `[v6]:port`) webhooks may reach even though
    /// they resolve into private, loopback, link-local or CGNAT ranges (comma separated).
    /// Without an entry such URLs are refused, so planning facilitators cannot make the server
    /// probe the operator's network.
    #[arg(
        long = "webhook-allow",
        env = "SPRINTLOG_WEBHOOK_ALLOW",
        value_delimiter = ','
    )]
    pub allow: Vec<String>,

    /// Delay before the first retry of a failed delivery, in milliseconds; it doubles with
    /// each further attempt (capped at ten minutes).
    #[arg(
        long = "webhook-backoff-ms",
        env = "SPRINTLOG_WEBHOOK_BACKOFF_MS",
        default_value_t = 1000
    )]
    pub backoff_ms: u64,

    /// Attempts per delivery before it is given up (and counted as failed).
    #[arg(
        long = "webhook-max-attempts",
        env = "SPRINTLOG_WEBHOOK_MAX_ATTEMPTS",
        default_value_t = 8
    )]
    pub max_attempts: u32,

    /// How long one delivery attempt may take (connect, send, response), in milliseconds.
    #[arg(
        long = "webhook-timeout-ms",
        env = "SPRINTLOG_WEBHOOK_TIMEOUT_MS",
        default_value_t = 5000
    )]
    pub timeout_ms: u64,

    /// A PEM file of CA certificates trusted for `https://` webhooks besides the system's
    /// roots: for receivers inside the organisation whose certificates a private CA signs.
    #[arg(long = "webhook-ca-file", env = "SPRINTLOG_WEBHOOK_CA_FILE")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// A network in CIDR notation, or one address (a /32 or /128).
fn parse_network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR such as 10.0.0.0/8"))
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow: Vec::new(),
            backoff_ms: 1000,
            max_attempts: 8,
            timeout_ms: 5000,
            ca_file: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 2 * 1024 * 1024,
            command_rate: 20,
            command_burst: 40,
            read_rate: 5,
            read_burst: 20,
            outbound_queue: 512,
            outbound_queue_bytes: 4 * 1024 * 1024,
            room_queue: 256,
            max_participants: 500,
            room_idle_secs: 300,
            request_timeout_secs: 30,
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 120,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            metrics_token: None,
            max_connections_per_ip: 64,
            trusted_proxies: Vec::new(),
            max_rooms: 10_000,
            snapshot_after: 1000,
            webhooks: WebhookConfig::default(),
            trackers: TrackerConfig::default(),
            head_poll_ms: 5000,
            node_id: None,
        }
    }
}

/// Operator commands run against the configured database without a server.
#[derive(Debug, Clone, Subcommand)]
pub enum Cmd {
    /// Run the server (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
    /// Print the audit of a planning (sealed votes included: this is the operator's view).
    Audit {
        planning: uuid::Uuid,
        /// json, md or csv.
        #[arg(long, default_value = "md")]
        format: String,
    },
    /// Write a planning's log as JSON Lines (sealed votes included: operator only).
    Export {
        planning: uuid::Uuid,
        /// Output file (standard output when absent).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Import plannings from a JSON Lines export into this (empty for them) database.
    Import { file: std::path::PathBuf },
    /// Write a consistent copy of a live SQLite database.
    Backup { file: String },
    /// Remove a planning entirely (data-protection request); the purge is recorded.
    Purge {
        planning: uuid::Uuid,
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Recompute the hash chain of one planning (or all) and report the first broken link.
    /// Exits with status 1 when a chain is broken.
    Verify {
        /// The planning to check; all plannings when absent.
        planning: Option<uuid::Uuid>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// clap checks its definition only when it parses: two flattened groups with a field of
    /// the same name (`allow`) would make every start panic.
    #[test]
    fn the_command_line_definition_is_consistent() {
        Config::command().debug_assert();
        let c = Config::try_parse_from([
            "sprintlog",
            "--webhook-allow",
            "hooks.local",
            "--tracker-allow",
            "jira.local:8080",
            "--tracker-max-attempts",
            "3",
        ])
        .expect("parses");
        assert_eq!(c.limits.webhooks.allow, ["hooks.local"]);
        assert_eq!(c.limits.trackers.allow, ["jira.local:8080"]);
        assert_eq!(c.limits.trackers.max_attempts, 3);
        assert_eq!(c.limits.webhooks.max_attempts, 8);
    }
}
