//! The application's shared parts: the room registry, metrics, limits, rate buckets, refusal
//! counts and the signals between the engine's tasks. Every transport holds one.

use crate::config::Limits;
use crate::engine::clock::Clock;
use crate::engine::commands::Refusals;
use crate::engine::metrics::Metrics;
use crate::engine::rate::Buckets;
use crate::engine::registry::Registry;
use crate::engine::room;
use crate::store::EventStore;
use dashmap::DashMap;
use std::sync::Arc;
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
    /// The time every handler, the rooms, the scheduler and webhook delivery go by.
    pub clock: Clock,
    /// Wakes the scheduler when a command wrote a job.
    pub jobs_changed: Arc<tokio::sync::Notify>,
    /// Command rate limits, per token hash: REST and every websocket of a token share one.
    pub buckets: Arc<Buckets>,
    /// Costly read limits (`--read-rate`), per token hash, apart from the commands'.
    pub read_buckets: Arc<Buckets>,
    /// Whole-log reads (audit, digest) kept per planning and head.
    pub history: Arc<crate::engine::history::History>,
    /// Writes refused, by code (see [`crate::engine::commands`]).
    pub refusals: Arc<Refusals>,
    /// The key of derived secrets, read from the store on first use
    /// ([`crate::engine::commands::server_key`]).
    pub server_key: Arc<tokio::sync::OnceCell<String>>,
    /// Open websocket connections per client IP, an IPv6 one per /64 (for
    /// `max_connections_per_ip`).
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
    pub fn new(
        store: Arc<dyn EventStore>,
        limits: Limits,
        public_url: String,
        clock: Clock,
    ) -> Self {
        let metrics = Arc::new(Metrics::default());
        let jobs_changed = Arc::new(tokio::sync::Notify::new());
        let deps = room::Deps {
            store,
            metrics: metrics.clone(),
            jobs_changed: jobs_changed.clone(),
            clock: clock.clone(),
            queue: limits.room_queue.max(1),
            max_participants: limits.max_participants as usize,
        };
        let buckets = Arc::new(Buckets::new(limits.command_rate, limits.command_burst));
        let read_buckets = Arc::new(Buckets::new(limits.read_rate, limits.read_burst));
        AppState {
            registry: Arc::new(Registry::new(deps).with_max_rooms(limits.max_rooms)),
            metrics,
            limits: Arc::new(limits),
            public_url: public_url.trim_end_matches('/').into(),
            shutdown: broadcast::channel(1).0,
            clock,
            jobs_changed,
            buckets,
            read_buckets,
            history: Arc::default(),
            refusals: Arc::default(),
            server_key: Arc::default(),
            ip_connections: Arc::new(DashMap::new()),
        }
    }

    /// Takes a connection slot for `ip` (an IPv6 address counts with its /64, see
    /// [`crate::engine::addresses::client_key`]), or `None` (counted) when it has its maximum
    /// open.
    pub fn connection_slot(&self, ip: std::net::IpAddr) -> Option<IpSlot> {
        let ip = crate::engine::addresses::client_key(ip);
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
}
