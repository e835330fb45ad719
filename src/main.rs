//! The `sprintlog` binary: parse the configuration, set up logging, open the log, serve.

use clap::Parser;
use sprintlog::config::{Cmd, Config, LogFormat};
use sprintlog::domain::PlanningId;
use sprintlog::server::Server;
use sprintlog::store::ChainCheck;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // Display, not Debug: this is what an operator reads.
        eprintln!("sprintlog: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::parse();
    init_logging(&config);
    sprintlog::server::memory::return_large_blocks();
    let store = sprintlog::store::open(&config.database_url).await?;
    match config.command.clone().unwrap_or(Cmd::Serve) {
        Cmd::Migrate => {
            let origin = sprintlog::store::url_origin(&config.database_url);
            tracing::info!(database = %origin, "migrations applied");
            Ok(())
        }
        Cmd::Audit { planning, format } => {
            let out = sprintlog::engine::replay::audit(
                &*store,
                PlanningId(planning),
                sprintlog::read::audit::Audience::Operator,
                &format,
            )
            .await?;
            store.close().await;
            match out {
                Some(text) => {
                    print!("{text}");
                    Ok(())
                }
                None => Err("--format must be json, md or csv".into()),
            }
        }
        Cmd::Export { planning, out } => {
            let text = sprintlog::engine::transfer::export(&*store, PlanningId(planning)).await?;
            store.close().await;
            match out {
                Some(path) => write_private(&path, &text)?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Cmd::Import { file } => {
            let text = std::fs::read_to_string(file)?;
            let report = sprintlog::engine::transfer::import(&*store, &text).await;
            store.close().await;
            for (p, head) in report? {
                println!("{p}: imported {head} events");
            }
            Ok(())
        }
        Cmd::Backup { file } => {
            // An empty file of our own for SQLite's `VACUUM INTO` to fill: it keeps its mode.
            // An existing file is left to SQLite (which refuses one that is not empty).
            if !std::path::Path::new(&file).exists() {
                write_private(std::path::Path::new(&file), "")?;
            }
            store.backup(&file).await?;
            store.close().await;
            println!("backup written to {file}");
            Ok(())
        }
        Cmd::Purge { planning, yes } => {
            if !yes {
                return Err("purge removes the planning for good: add --yes".into());
            }
            let now = sprintlog::engine::clock::now_micros();
            let n = store.purge(planning, now).await?;
            store.close().await;
            println!("{planning}: purged {n} events (recorded in the purges table)");
            Ok(())
        }
        Cmd::Verify { planning } => {
            let plannings = match planning {
                Some(p) => vec![p],
                None => store.plannings().await?,
            };
            let mut broken = false;
            for p in plannings {
                match sprintlog::store::verify_chain(&*store, p).await? {
                    ChainCheck::Intact { events, head_hash } => {
                        println!("{p}: ok, {events} events, head hash {head_hash}");
                    }
                    ChainCheck::BrokenAt {
                        seq,
                        stored,
                        computed,
                    } => {
                        broken = true;
                        println!(
                            "{p}: BROKEN at seq {seq}: stored hash {stored:?}, content gives {computed}"
                        );
                    }
                    ChainCheck::Missing { seq } => {
                        broken = true;
                        println!("{p}: BROKEN: seq {seq} missing");
                    }
                }
            }
            store.close().await;
            if broken {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Serve => {
            if let Some(path) = &config.limits.webhooks.ca_file {
                // A bad CA file is the operator's mistake to hear about now, not at the first
                // delivery to a private receiver.
                sprintlog::engine::webhook::load_ca_file(path).await?;
            }
            let server = Server::start(
                store,
                config.bind,
                config.limits.clone(),
                config.public_url.clone(),
            )
            .await?;
            tracing::info!(addr = %server.addr, url = %server.app.public_url, "sprintlog is listening");
            if config.log_format == LogFormat::Text {
                // For a person at a terminal; with JSON logs stdout holds JSON lines only.
                println!("sprintlog web client: {}/", server.app.public_url);
            }
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight appends");
            server.shutdown().await;
            Ok(())
        }
    }
}

/// Logs to stdout in the configured format; text carries colour codes only for a terminal,
/// so a file, a pipe or journald gets plain lines.
fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::new(&config.log);
    match config.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stdout().is_terminal())
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_env_filter(filter)
            .init(),
    }
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Writes `text` to `path`, a new file readable by its owner only (0600): an export or a backup
/// holds the whole log, sealed votes included. An existing file is overwritten and keeps its
/// mode.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path)?.write_all(text.as_bytes())
}
