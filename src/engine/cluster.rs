//! Several nodes on one database: hearing about other nodes' appends and catching up.
//!
//! PostgreSQL alone assigns `seq` (under the planning's row lock), so history cannot fork; what
//! a node needs is to *learn* that another node appended, so its rooms' subscribers get the new
//! events. After commit the appending node NOTIFYs `planning:head` (a hint, see
//! `store::postgres`); every node that has the planning loaded asks the room's writer to read
//! the log past its head — one read per node, shared by all its connections — and fans out.
//! The in-memory projection is brought up to date from the log, never from the notification.
//!
//! Repair, because notifications can be lost: when the listener's connection drops (and
//! reconnects) every loaded room refreshes, and a slow poll (`--head-poll-ms`) refreshes every
//! loaded room anyway. Duplicates are harmless: a room applies only `seq > head`.
//!
//! A faster bus (e.g. NATS JetStream, publishing after commit with the event id as message id)
//! would plug in as another `HeadFeed`: the rooms only need "planning P has a head ≥ N".

use crate::domain::ids::PlanningId;
use crate::engine::app::AppState;
use crate::store::HeadNotice;
use std::time::Duration;

/// Starts the listener and the poller.
pub fn spawn(app: AppState) {
    spawn_listener(app.clone());
    let poll = app.limits.head_poll_ms;
    if poll > 0 {
        let mut shutdown = app.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(poll)) => {}
                    _ = shutdown.recv() => return,
                }
                refresh_all(&app);
            }
        });
    }
}

fn refresh_all(app: &AppState) {
    for room in app.registry.loaded() {
        room.refresh();
    }
}

fn spawn_listener(app: AppState) {
    let mut shutdown = app.shutdown.subscribe();
    tokio::spawn(async move {
        let store = app.registry.store().clone();
        let mut feed = loop {
            match store.head_feed().await {
                Ok(Some(feed)) => break feed,
                Ok(None) => return, // a backend without other writers (SQLite)
                Err(e) => {
                    tracing::warn!(error = %e, "head feed unavailable; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.recv() => return,
                    }
                }
            }
        };
        loop {
            let notice = tokio::select! {
                n = feed.next() => n,
                _ = shutdown.recv() => return,
            };
            match notice {
                Ok(HeadNotice::Head { planning_id, head }) => {
                    if let Some(room) = app.registry.loaded_room(PlanningId(planning_id)) {
                        if room.head() < head {
                            room.refresh();
                        }
                    }
                }
                Ok(HeadNotice::Reconnected) => {
                    tracing::info!("head feed reconnected; re-reading loaded rooms");
                    app.metrics
                        .feed_reconnects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    refresh_all(&app);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "head feed error");
                    refresh_all(&app);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
}
