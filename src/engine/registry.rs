//! The registry of live rooms: a `DashMap` from planning id to room, loaded on first use and
//! evicted when idle.
//!
//! Two requests may load the same planning at once; the first insert wins and the loser's
//! room is dropped before anyone used it. Even if two rooms for one planning ever coexist
//! (an evicted room still finishing a command), the log's `expected_seq` check makes the
//! second writer catch up and decide again, exactly as between two nodes.

use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::Command;
use crate::engine::room::{Ack, Deps, Live, Room, RoomError};
use crate::store::EventStore;
use dashmap::DashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub struct Registry {
    rooms: DashMap<PlanningId, Arc<Room>>,
    deps: Deps,
    /// Most rooms in memory (0: no cap); see [`Registry::make_room`].
    max_rooms: usize,
}

impl Registry {
    pub fn new(deps: Deps) -> Self {
        Registry {
            rooms: DashMap::new(),
            deps,
            max_rooms: 0,
        }
    }

    /// Caps the rooms held in memory.
    pub fn with_max_rooms(mut self, max_rooms: usize) -> Self {
        self.max_rooms = max_rooms;
        self
    }

    /// Makes space for one more room under the cap: evicts the least recently used room that
    /// has no connection, or refuses when every room is in use. (Two loads racing may each
    /// pass and overshoot the cap by one each; it bounds memory, it is not a quota.)
    pub fn make_room(&self) -> Result<(), RoomError> {
        if self.max_rooms == 0 || self.rooms.len() < self.max_rooms {
            return Ok(());
        }
        let victim = self
            .rooms
            .iter()
            .filter(|r| r.value().connections() == 0)
            .max_by_key(|r| r.value().idle_secs())
            .map(|r| *r.key());
        match victim {
            Some(id) => {
                self.rooms.remove(&id);
                self.deps
                    .metrics
                    .rooms_evicted
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            None => {
                self.deps
                    .metrics
                    .rooms_refused
                    .fetch_add(1, Ordering::Relaxed);
                Err(RoomError::ServerFull)
            }
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.deps.store
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// The room of a planning, loading it from the log if needed; `None` if it does not exist.
    pub async fn get(&self, id: PlanningId) -> Result<Option<Arc<Room>>, RoomError> {
        if let Some(r) = self.rooms.get(&id) {
            return Ok(Some(r.clone()));
        }
        let room = match Room::load(&self.deps, id).await {
            Ok(Some(room)) => room,
            Ok(None) => return Ok(None),
            // A team's stream shares the id space: asked for as a planning, it does not exist
            // (rather than being an unreadable planning).
            Err(RoomError::Codec(e)) => {
                let first = self.deps.store.read(id.0, 0, 1).await?;
                return match first.first() {
                    Some(s) if crate::domain::team::TEAM_EVENT_KINDS.contains(&s.kind.as_str()) => {
                        Ok(None)
                    }
                    _ => Err(RoomError::Codec(e)),
                };
            }
            Err(e) => return Err(e),
        };
        // Space is made only for a planning that exists: requests for made-up ids must not
        // push real rooms out. (A refused room is dropped here; its task ends at once.)
        if !self.rooms.contains_key(&id) {
            self.make_room()?;
        }
        Ok(Some(self.rooms.entry(id).or_insert(room).clone()))
    }

    /// Creates a planning (`command` is a `CreatePlanning`) through the writer of a new room at
    /// head 0, like any command, and registers the room once the planning exists.
    pub async fn create(
        &self,
        creator: ParticipantId,
        command: Command,
    ) -> Result<(Arc<Room>, Ack), RoomError> {
        self.create_at(PlanningId(uuid::Uuid::new_v4()), creator, command)
            .await
    }

    /// [`Registry::create`] under a chosen id. Sent again for a planning that exists, the same
    /// creation is answered as the duplicate it is (another one is refused): a creation
    /// retried with the same id applies once.
    pub async fn create_at(
        &self,
        id: PlanningId,
        creator: ParticipantId,
        command: Command,
    ) -> Result<(Arc<Room>, Ack), RoomError> {
        if let Some(room) = self.get(id).await? {
            let ack = room
                .execute(creator, format!("create:{id}"), Some(0), command)
                .await?;
            return Ok((room, ack));
        }
        // Its room joins the others in memory: make space first (refused when all are in use).
        self.make_room()?;
        let room = Room::spawn(self.deps.clone(), id, Live::default());
        // The append runs in the room's task: a caller that goes away cannot cut it short,
        // and a planning created without its caller is loaded from the log like any other.
        let ack = room
            .execute(creator, format!("create:{id}"), Some(0), command)
            .await?;
        Ok((self.insert(room), ack))
    }

    /// The room if it is loaded (never loads).
    pub fn loaded_room(&self, id: PlanningId) -> Option<Arc<Room>> {
        self.rooms.get(&id).map(|r| r.clone())
    }

    /// Registers a room created in this process.
    pub fn insert(&self, room: Arc<Room>) -> Arc<Room> {
        self.rooms.entry(room.shared.id).or_insert(room).clone()
    }

    /// Rooms currently in memory.
    pub fn loaded(&self) -> Vec<Arc<Room>> {
        self.rooms.iter().map(|r| r.value().clone()).collect()
    }

    /// Drops rooms that have no connection and were unused for `idle_secs`.
    pub fn evict_idle(&self, idle_secs: u64) -> usize {
        let before = self.rooms.len();
        self.rooms
            .retain(|_, room| room.connections() > 0 || room.idle_secs() < idle_secs);
        let evicted = before.saturating_sub(self.rooms.len());
        self.deps
            .metrics
            .rooms_evicted
            .fetch_add(evicted as u64, Ordering::Relaxed);
        evicted
    }

    /// Evicts idle rooms ([`Registry::evict_idle`]) every quarter of `idle_secs` (1 s to 60 s),
    /// until the future is dropped. It waits on tokio's clock, as rooms measure their idle
    /// time, so a test pauses and advances that clock instead of waiting.
    pub async fn evict_idle_every(&self, idle_secs: u64) {
        let period = Duration::from_secs((idle_secs / 4).clamp(1, 60));
        loop {
            tokio::time::sleep(period).await;
            let n = self.evict_idle(idle_secs);
            if n > 0 {
                tracing::debug!(evicted = n, "idle rooms evicted");
            }
        }
    }

    /// Forgets every room; their writer tasks finish queued commands and end.
    pub fn clear(&self) {
        self.rooms.clear();
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::Clock;
    use crate::engine::metrics::Metrics;

    /// A registry holding one room nobody uses, on a paused tokio clock.
    async fn one_idle_room() -> (Arc<Registry>, PlanningId) {
        // Opened before the clock is paused: SQLite answers from a thread of its own, which a
        // paused clock does not wait for.
        let store = crate::store::open("sqlite::memory:").await.expect("store");
        tokio::time::pause();
        let registry = Arc::new(Registry::new(Deps {
            store,
            metrics: Arc::new(Metrics::default()),
            jobs_changed: Arc::new(tokio::sync::Notify::new()),
            clock: Clock::system(),
            queue: 256,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        }));
        let id = PlanningId(uuid::Uuid::new_v4());
        registry.insert(Room::spawn(registry.deps().clone(), id, Live::default()));
        (registry, id)
    }

    #[tokio::test]
    async fn a_room_is_idle_only_once_its_idle_time_has_passed_on_tokios_clock() {
        let (registry, id) = one_idle_room().await;
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(registry.evict_idle(60), 0, "evicted after 59 s");
        assert!(registry.loaded_room(id).is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(registry.evict_idle(60), 1, "kept after 60 s");
        assert!(registry.loaded_room(id).is_none());
    }

    #[tokio::test]
    async fn the_evictor_drops_an_idle_room_within_a_period_after_its_idle_time() {
        let (registry, id) = one_idle_room().await;
        let evictor = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.evict_idle_every(60).await })
        };
        // Second by second, letting the evictor run after each step (it looks every 15 s).
        let mut waited = 0;
        while registry.loaded_room(id).is_some() && waited < 200 {
            tokio::time::advance(Duration::from_secs(1)).await;
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            waited += 1;
        }
        evictor.abort();
        assert!(
            (60..=75).contains(&waited),
            "evicted after {waited} s of tokio time (idle time 60 s, looked at every 15 s)"
        );
    }
}
