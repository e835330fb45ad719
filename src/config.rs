//! Command-line and environment configuration; the doc comments below are the `--help`.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

/// sprintlog: a self-hostable server for async-first sprint planning.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
pub struct Config {
    /// Where the event log lives: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://sprintlog.db")]
    pub database_url: String,

    /// Address the HTTP and websocket server listens on.
    #[arg(long, env = "SPRINTLOG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Log filter in `tracing_subscriber::EnvFilter` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log: String,

    #[command(subcommand)]
    pub command: Option<Cmd>,
}

/// Operator commands run against the configured database without a server.
#[derive(Debug, Clone, Subcommand)]
pub enum Cmd {
    /// Run the server (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
}
