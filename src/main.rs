//! The `sprintlog` binary: parse the configuration, set up logging, open the log, serve.

use clap::Parser;
use sprintlog::config::{Cmd, Config};

#[tokio::main]
async fn main() -> anyhow_free::Result {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&config.log))
        .init();
    let store = sprintlog::store::open(&config.database_url).await?;
    match config.command.clone().unwrap_or(Cmd::Serve) {
        Cmd::Migrate => {
            tracing::info!(url = %config.database_url, "migrations applied");
            Ok(())
        }
        Cmd::Serve => {
            tracing::info!(bind = %config.bind, "server not built yet; log opened");
            drop(store);
            Ok(())
        }
    }
}

/// `main`'s error type: anything displayable, printed once by the runtime.
mod anyhow_free {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
