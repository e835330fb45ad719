//! The network side: REST and websockets over the realtime core.
//!
//! - [`room`]: one planning's projection, writer task and fan-out (transport independent);
//! - [`registry`]: the `DashMap` of live rooms, loaded on demand, evicted when idle;
//! - [`view`]: per-viewer redaction, used by every path that shows events or state;
//! - [`protocol`]: websocket frames; [`ws`]: one connection's loop; [`socket`]: the websocket
//!   upgrade and socket I/O below it; [`api`]: REST routes;
//! - [`workflow`]: import, inbox and estimate export routes;
//! - [`schedule_api`]: sync slots and the async readiness report;
//! - [`teams`]: teams, plannings for a team, and "my plannings";
//! - [`cluster`]: hearing about other nodes' appends (PostgreSQL LISTEN/NOTIFY + polling);
//! - [`scheduler`]: durable jobs (round deadlines, scheduled phases, reminders, webhook
//!   deliveries) that survive restarts;
//! - [`webhook`]: outbound webhooks (URL policy, signing, delivery); [`webhook_api`]: their routes;
//! - [`client`]: the embedded web client, served at `/`;
//! - [`error`], [`metrics`], [`auth`], [`rate`]: the plumbing.

pub mod api;
pub mod auth;
pub mod client;
pub mod cluster;
pub mod comments;
pub mod error;
pub mod metrics;
pub mod protocol;
pub mod rate;
pub mod registry;
pub mod room;
pub mod schedule_api;
pub mod scheduler;
pub mod socket;
pub mod teams;
pub mod view;
pub mod webhook;
pub mod webhook_api;
pub mod workflow;
pub mod ws;

use crate::config::Limits;
use crate::store::EventStore;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use dashmap::DashMap;
use metrics::Metrics;
use rate::Buckets;
use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    /// Base of the links handed out (invites, personal links).
    pub public_url: Arc<str>,
    /// Tells open websockets the server is shutting down.
    pub shutdown: broadcast::Sender<()>,
    /// Wakes the scheduler when a command wrote a job.
    pub jobs_changed: Arc<tokio::sync::Notify>,
    /// REST command rate limits, per token hash.
    rest_buckets: Arc<Buckets>,
    /// Open websocket connections per client IP (for `max_connections_per_ip`).
    ip_connections: Arc<DashMap<std::net::IpAddr, usize>>,
}

/// One websocket connection counted against its IP's cap; released when dropped.
pub struct IpSlot {
    map: Arc<DashMap<std::net::IpAddr, usize>>,
    ip: std::net::IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        // Remove the entry at zero so the map holds only addresses with open connections.
        self.map.remove_if_mut(&self.ip, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, limits: Limits, public_url: String) -> Self {
        let metrics = Arc::new(Metrics::default());
        let jobs_changed = Arc::new(tokio::sync::Notify::new());
        let deps = room::Deps {
            store,
            metrics: metrics.clone(),
            jobs_changed: jobs_changed.clone(),
        };
        let rest_buckets = Arc::new(Buckets::new(limits.command_rate, limits.command_burst));
        AppState {
            registry: Arc::new(Registry::new(deps).with_max_rooms(limits.max_rooms)),
            metrics,
            limits: Arc::new(limits),
            public_url: public_url.trim_end_matches('/').into(),
            shutdown: broadcast::channel(1).0,
            jobs_changed,
            rest_buckets,
            ip_connections: Arc::new(DashMap::new()),
        }
    }

    /// Takes a connection slot for `ip`, or `None` (counted) when it has its maximum open.
    pub fn connection_slot(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let cap = self.limits.max_connections_per_ip;
        let mut n = self.ip_connections.entry(ip).or_insert(0);
        if cap > 0 && *n >= cap {
            drop(n);
            self.metrics
                .connections_refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        *n += 1;
        Some(IpSlot {
            map: self.ip_connections.clone(),
            ip,
        })
    }

    /// Takes one command from the token's REST bucket.
    pub fn rate_check(&self, token_hash: &str) -> bool {
        let ok = self.rest_buckets.try_take(token_hash);
        if !ok {
            self.metrics
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        ok
    }
}

/// The HTTP router.
pub fn router(app: AppState) -> Router {
    let timeout = Duration::from_secs(app.limits.request_timeout_secs.max(1));
    let api = Router::new()
        .route("/api/plannings", post(api::create_planning))
        .route("/api/plannings/{id}", get(api::read_planning))
        .route("/api/plannings/{id}/join", post(api::join))
        .route("/api/plannings/{id}/commands", post(api::command))
        .route("/api/plannings/{id}/events", get(api::events))
        .route("/api/plannings/{id}/timeline", get(api::timeline))
        .route("/api/plannings/{id}/comments", get(comments::planning_page))
        .route(
            "/api/plannings/{id}/items/{item}/comments",
            get(comments::item_page),
        )
        .route("/api/plannings/{id}/audit", get(api::audit))
        .route("/api/plannings/{id}/verify", get(api::verify))
        .route("/api/plannings/{id}/digest", get(api::digest))
        .route("/api/plannings/{id}/invites", post(api::rotate_invite))
        .route(
            "/api/plannings/{id}/participants/{pid}/link",
            post(api::reissue_link),
        )
        .route(
            "/api/plannings/{id}/participants/{pid}",
            delete(api::remove_participant),
        )
        .route(
            "/api/plannings/{id}/webhooks",
            post(webhook_api::register).get(webhook_api::list),
        )
        .route(
            "/api/plannings/{id}/webhooks/{webhook}",
            delete(webhook_api::remove),
        )
        .route("/api/plannings/{id}/import", post(workflow::import_items))
        .route("/api/plannings/{id}/inbox", get(workflow::inbox))
        .route("/api/plannings/{id}/slots", get(schedule_api::slots))
        .route(
            "/api/plannings/{id}/readiness",
            get(schedule_api::readiness),
        )
        .route(
            "/api/plannings/{id}/export/estimates",
            get(workflow::export_estimates),
        )
        .route("/api/teams", post(teams::create_team))
        .route("/api/teams/{id}", get(teams::read_team))
        .route("/api/teams/{id}/roster", put(teams::set_roster))
        .route(
            "/api/teams/{id}/plannings",
            post(teams::create_team_planning),
        )
        .route("/api/my-plannings", post(teams::my_plannings))
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            count_refusals,
        ));
    Router::new()
        .merge(api)
        .route("/ws/plannings/{id}", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(render_metrics))
        .fallback(client::serve)
        .with_state(app)
}

/// `GET /metrics`: Prometheus text, behind `--metrics-token` when one is set.
async fn render_metrics(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<String, error::ApiError> {
    if let Some(want) = &app.limits.metrics_token {
        let given = api::token_from(&headers, None).unwrap_or_default();
        if !auth::constant_time_eq(&given, want) {
            return Err(error::ApiError::Unauthorized);
        }
    }
    Ok(app.metrics.render() + &metrics::render_limits(&app.limits))
}

/// Counts requests refused by the timeout and body-size layers, and gives the timeout's bare
/// 408 the JSON error shape every other refusal has. A body whose `Content-Length` is over the
/// limit is refused before it is read: the client gets its 413 at once instead of uploading a
/// body that is thrown away (and, with a client that writes it all before reading, instead of
/// a broken pipe when the server closes after reading only the limit).
async fn count_refusals(
    axum::extract::State(app): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::sync::atomic::Ordering::Relaxed;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.limits.max_body_bytes as u64) {
        app.metrics.bodies_too_large.fetch_add(1, Relaxed);
        return error::ApiError::Body {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "too_large",
            message: format!(
                "request bodies are limited to {} bytes",
                app.limits.max_body_bytes
            ),
        }
        .into_response();
    }
    let resp = next.run(req).await;
    match resp.status() {
        StatusCode::REQUEST_TIMEOUT => {
            app.metrics.request_timeouts.fetch_add(1, Relaxed);
            error::ApiError::Timeout.into_response()
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            app.metrics.bodies_too_large.fetch_add(1, Relaxed);
            resp
        }
        _ => resp,
    }
}

/// A running server (used by `main` and by the integration tests).
pub struct Server {
    pub addr: SocketAddr,
    pub app: AppState,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// Binds `bind` (port 0 for an ephemeral port) and serves until [`Server::shutdown`].
    pub async fn start(
        store: Arc<dyn EventStore>,
        bind: SocketAddr,
        limits: Limits,
        public_url: Option<String>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        // TCP_NODELAY: connections batch their frames themselves (one flush per batch), so
        // Nagle's algorithm only adds latency — an ack written right after its event frame
        // waited for the client's delayed ACK (up to 40 ms per command one at a time).
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let public_url = public_url.unwrap_or_else(|| format!("http://{addr}"));
        let app = AppState::new(store, limits, public_url);
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

    /// Stops accepting, closes websockets (1001), lets queued appends finish, then returns.
    pub async fn shutdown(self) {
        let _ = self.app.shutdown.send(());
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
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

fn spawn_evictor(app: AppState) {
    let idle = app.limits.room_idle_secs;
    let mut shutdown = app.shutdown.subscribe();
    tokio::spawn(async move {
        let period = Duration::from_secs((idle / 4).clamp(1, 60));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(period) => {}
                _ = shutdown.recv() => return,
            }
            let n = app.registry.evict_idle(idle);
            if n > 0 {
                tracing::debug!(evicted = n, "idle rooms evicted");
            }
        }
    });
}
