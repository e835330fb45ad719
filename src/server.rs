//! A running server: the engine's tasks and the HTTP and websocket transports over one
//! listener (used by `main` and by the integration tests), behind the connection cap and
//! timeouts of [`listener`].

pub mod listener;
pub mod memory;
pub mod openapi;

use crate::config::Limits;
use crate::engine::app::AppState;
use crate::engine::clock::Clock;
use crate::engine::{cluster, scheduler};
use crate::store::EventStore;
use axum::serve::ListenerExt;
use listener::{Guarded, Guards};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Every route: REST and the client from [`crate::http`], the websocket from [`crate::ws`],
/// behind the `Host` allow-list and with the security headers on every answer.
pub fn router(app: AppState) -> axum::Router {
    let routes = crate::http::router(app.clone())
        .route(
            "/ws/plannings/{id}",
            axum::routing::get(crate::ws::connection::upgrade),
        )
        .route("/api/openapi.json", axum::routing::get(openapi::document));
    crate::http::guard::guarded(routes, &app)
        // Outermost, so every answer is logged once, refusals and upgrades included.
        .layer(axum::middleware::from_fn(crate::http::access::log))
        .with_state(app)
}

/// A running server (used by `main` and by the integration tests).
pub struct Server {
    pub addr: SocketAddr,
    pub app: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Binds `bind` (port 0 for an ephemeral port) and serves until [`Server::shutdown`], on
    /// the system clock.
    pub async fn start(
        store: Arc<dyn EventStore>,
        bind: SocketAddr,
        limits: Limits,
        public_url: Option<String>,
    ) -> std::io::Result<Server> {
        Self::start_clocked(store, bind, limits, public_url, Clock::system()).await
    }

    /// [`Server::start`] on `clock` (a manual clock lets tests move time themselves).
    pub async fn start_clocked(
        store: Arc<dyn EventStore>,
        bind: SocketAddr,
        limits: Limits,
        public_url: Option<String>,
        clock: Clock,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
        let mut limits = limits;
        limits.node_id = Some(limits.node_id.unwrap_or_else(|| default_node_id(addr)));
        let app = AppState::new(store, limits, public_url, clock);
        // TCP_NODELAY: connections batch their frames themselves (one flush per batch), so
        // Nagle's algorithm only adds latency — an ack written right after its event frame
        // waited for the client's delayed ACK (up to 40 ms per command one at a time).
        let listener = Guarded::new(listener, guards(&app.limits), app.metrics.clone()).tap_io(
            |io: &mut listener::GuardedIo| {
                if let Err(e) = io.tcp().set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
            },
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = router(app.clone());
        scheduler::spawn(app.clone());
        cluster::spawn(app.clone());
        spawn_evictor(app.clone());
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Server {
            addr,
            app,
            task,
            stop,
        })
    }

    /// Stops accepting, answers the commands websockets had queued and closes them (1001),
    /// lets queued appends finish, then returns.
    pub async fn shutdown(self) {
        let _ = self.app.shutdown.send(());
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        websockets_closed(&self.app).await;
        self.app.registry.clear();
        // Room tasks end once their queues are drained; give them a moment.
        for _ in 0..100 {
            if self
                .app
                .metrics
                .rooms
                .load(std::sync::atomic::Ordering::Relaxed)
                == 0
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `<host name>:<port>`: unique among running nodes (two cannot listen on one host's port)
/// and the same when the node restarts on its port.
fn default_node_id(addr: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", addr.port())
}

/// Waits until every websocket has sent its last answers and closed (each waits at most
/// [`crate::ws::connection::SHUTDOWN_GRACE`] for its commands), a little longer at most.
async fn websockets_closed(app: &AppState) {
    let deadline = tokio::time::Instant::now()
        + crate::ws::connection::SHUTDOWN_GRACE
        + Duration::from_secs(1);
    while app
        .metrics
        .connections
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The connection cap and timeouts of `limits`.
fn guards(limits: &Limits) -> Guards {
    Guards {
        max_connections: limits.max_connections,
        header_read: Duration::from_secs(limits.header_read_timeout_secs.max(1)),
        idle: Duration::from_secs(limits.idle_timeout_secs.max(1)),
    }
}

fn spawn_evictor(app: AppState) {
    let idle = app.limits.room_idle_secs;
    let mut shutdown = app.shutdown.subscribe();
    tokio::spawn(async move {
        tokio::select! {
            _ = app.registry.evict_idle_every(idle) => {}
            _ = shutdown.recv() => {}
        }
    });
}
