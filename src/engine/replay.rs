//! Rebuilding a planning's projection from the log: now (loading a room) or at any past seq.
//!
//! Snapshots are a cache: the nearest snapshot at or below the wanted seq (for the current
//! [`PROJECTION_VERSION`]) plus the events after it gives the same state as a replay from zero —
//! a property test holds us to that — and a missing or unreadable snapshot only costs time.

use crate::domain::event::{CodecError, Event};
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::state::State;
use crate::read::Envelope;
use crate::store::{EventStore, StoreError, StoredEvent};

/// Version of the projection's shape; bump it when `State` or `apply` change meaning, so old
/// snapshots are ignored (they are keyed by it).
pub const PROJECTION_VERSION: i32 = 5;

/// A snapshot is written at least every this many events while the log is short (and at
/// phase changes); see [`snapshot_due`].
pub const SNAPSHOT_EVERY: i64 = 100;

/// Whether a planning at `head` whose latest snapshot is at `last` should get a new one.
///
/// Every [`SNAPSHOT_EVERY`] events while the log is short, then once the log has grown by an
/// eighth. A snapshot holds the whole projection, so a fixed interval makes the bytes written
/// grow with the square of the log (a 100k-comment planning wrote 9 GB of snapshots); growing
/// the interval with the log keeps all of them within ~9 × the latest one, and a cold load
/// still replays at most an eighth of the log.
pub fn snapshot_due(head: i64, last: i64) -> bool {
    head - last >= SNAPSHOT_EVERY.max(head / 8)
}

/// Page size for reading the log.
pub const PAGE: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// A projection rebuilt from the log.
#[derive(Debug, Default)]
pub struct Loaded {
    pub state: State,
    /// The seq the state is at (0: nothing).
    pub head: i64,
    /// Seq of the snapshot it started from (0: none).
    pub from_snapshot: i64,
    /// Events read from the log and applied on top of the snapshot.
    pub events_read: u64,
}

/// The projection right after `at` (or now, with `None`).
pub async fn state_at(
    store: &dyn EventStore,
    planning: PlanningId,
    at: Option<i64>,
) -> Result<Loaded, ReplayError> {
    let limit = at.unwrap_or(i64::MAX);
    let mut loaded = Loaded::default();
    if limit <= 0 {
        return Ok(loaded);
    }
    if let Some((seq, text)) = store
        .load_snapshot(planning.0, PROJECTION_VERSION, limit)
        .await?
    {
        match serde_json::from_str::<State>(&text) {
            Ok(state) => {
                loaded.state = state;
                loaded.head = seq;
                loaded.from_snapshot = seq;
            }
            Err(e) => tracing::warn!(%planning, seq, error = %e, "unreadable snapshot ignored"),
        }
    }
    while loaded.head < limit {
        let page = store
            .read(planning.0, loaded.head, PAGE.min(limit - loaded.head))
            .await?;
        let Some(last) = page.last() else { break };
        let last = last.seq;
        for s in &page {
            loaded
                .state
                .apply(&Event::decode(&s.kind, s.version, &s.payload)?);
        }
        loaded.events_read += page.len() as u64;
        loaded.head = last;
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    Ok(loaded)
}

/// Writes a snapshot of `state` at `seq` (best effort: a cache that failed to write is logged).
pub async fn save_snapshot(store: &dyn EventStore, planning: PlanningId, seq: i64, state: &State) {
    let text = match serde_json::to_string(state) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%planning, error = %e, "snapshot not serialisable");
            return;
        }
    };
    if let Err(e) = store
        .save_snapshot(planning.0, PROJECTION_VERSION, seq, &text)
        .await
    {
        tracing::warn!(%planning, seq, error = %e, "snapshot not saved");
    }
}

/// A stored event as the read models take it.
pub fn envelope(stored: &StoredEvent, event: Event) -> Envelope {
    Envelope {
        seq: stored.seq,
        id: stored.event_id,
        actor: ParticipantId(stored.actor),
        at: stored.recorded_at,
        event,
    }
}

/// Decodes a page of the log into envelopes.
pub fn envelopes(page: &[StoredEvent]) -> Result<Vec<Envelope>, ReplayError> {
    page.iter()
        .map(|s| Ok(envelope(s, Event::decode(&s.kind, s.version, &s.payload)?)))
        .collect()
}

/// A planning's whole log, decoded.
#[derive(Debug, Default)]
pub struct Log {
    /// In seq order.
    pub events: Vec<Envelope>,
    /// The hash chain's head (at the last event; empty for an empty log).
    pub head_hash: String,
}

/// A planning's whole log, decoded, in seq order (for audits and digests).
pub async fn read_log(store: &dyn EventStore, planning: PlanningId) -> Result<Log, ReplayError> {
    let mut log = Log::default();
    let mut after = 0;
    loop {
        let page = store.read(planning.0, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        log.head_hash = last.hash.clone();
        log.events.extend(envelopes(&page)?);
        if (page.len() as i64) < PAGE {
            break;
        }
    }
    Ok(log)
}

/// The audit of a planning, rendered as `json`, `md` or `csv`; `None` for an unknown format.
pub async fn audit(
    store: &dyn EventStore,
    planning: PlanningId,
    audience: crate::read::audit::Audience,
    format: &str,
) -> Result<Option<String>, ReplayError> {
    let log = read_log(store, planning).await?;
    Ok(crate::engine::history::render_audit(&log, audience, format))
}
