//! Moving a planning between databases: its log as JSON Lines, preserving seq, ids, times and
//! hashes (so SQLite ↔ PostgreSQL moves are exact and verifiable). Operator tools only: the
//! export holds sealed votes.

use crate::domain::event::Event;
use crate::domain::ids::PlanningId;
use crate::store::{AppendRequest, EventStore, NewEvent, StoreError, StoredEvent, GENESIS_HASH};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One exported event (one line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub planning: Uuid,
    pub seq: i64,
    pub event_id: Uuid,
    pub actor: Uuid,
    pub client_op_id: String,
    pub kind: String,
    pub version: i32,
    /// The stored canonical payload text, byte for byte.
    pub payload: String,
    pub recorded_at: i64,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("line {line}: {message}")]
    Invalid { line: usize, message: String },
    #[error("planning {0} already has events here (head {1}); import into an empty database")]
    Exists(Uuid, i64),
}

impl From<&StoredEvent> for Line {
    fn from(e: &StoredEvent) -> Self {
        Line {
            planning: e.planning_id,
            seq: e.seq,
            event_id: e.event_id,
            actor: e.actor,
            client_op_id: e.client_op_id.clone(),
            kind: e.kind.clone(),
            version: e.version,
            payload: e.payload.clone(),
            recorded_at: e.recorded_at,
            hash: e.hash.clone(),
        }
    }
}

/// The planning's log as JSON Lines.
pub async fn export(store: &dyn EventStore, planning: PlanningId) -> Result<String, StoreError> {
    let mut out = String::new();
    let mut after = 0;
    loop {
        let page = store.read(planning.0, after, 1000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            out.push_str(&serde_json::to_string(&Line::from(e)).unwrap_or_default());
            out.push('\n');
        }
    }
    Ok(out)
}

/// Imports JSON Lines into `store`; returns `(planning, events)` per imported planning.
///
/// Every line is checked before anything is written: seqs contiguous from 1 per planning, the
/// hash chain intact (a tampered export is refused), the kinds decodable. Events of one command
/// (same actor, op id and time, consecutive) are appended together, so idempotency records and
/// deadline jobs come back too.
pub async fn import(store: &dyn EventStore, text: &str) -> Result<Vec<(Uuid, i64)>, TransferError> {
    let mut lines: Vec<(usize, Line)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line: Line = serde_json::from_str(raw).map_err(|e| TransferError::Invalid {
            line: n + 1,
            message: e.to_string(),
        })?;
        lines.push((n + 1, line));
    }
    let mut plannings: Vec<Uuid> = lines.iter().map(|(_, l)| l.planning).collect();
    plannings.sort();
    plannings.dedup();
    for p in &plannings {
        let head = store.head(*p).await?;
        if head != 0 {
            return Err(TransferError::Exists(*p, head));
        }
        let mut prev = GENESIS_HASH.to_string();
        let mut seq = 0;
        for (n, l) in lines.iter().filter(|(_, l)| l.planning == *p) {
            let bad = |message: String| TransferError::Invalid { line: *n, message };
            if l.seq != seq + 1 {
                return Err(bad(format!("seq {} follows {seq}", l.seq)));
            }
            // A stream is a planning's or a team's (see `crate::domain::team`); both move alike.
            if let Err(e) = Event::decode(&l.kind, l.version, &l.payload) {
                crate::domain::team::TeamEvent::decode(&l.kind, l.version, &l.payload)
                    .map_err(|_| bad(e.to_string()))?;
            }
            let stored = StoredEvent {
                global_id: 0,
                planning_id: l.planning,
                seq: l.seq,
                event_id: l.event_id,
                actor: l.actor,
                client_op_id: l.client_op_id.clone(),
                kind: l.kind.clone(),
                version: l.version,
                payload: l.payload.clone(),
                recorded_at: l.recorded_at,
                hash: l.hash.clone(),
            };
            let computed = stored.compute_hash(&prev);
            if computed != l.hash {
                return Err(bad(format!("hash chain broken at seq {}", l.seq)));
            }
            prev = computed;
            seq = l.seq;
        }
    }
    let mut report = Vec::new();
    for p in plannings {
        let mine: Vec<&Line> = lines
            .iter()
            .filter(|(_, l)| l.planning == p)
            .map(|(_, l)| l)
            .collect();
        let mut i = 0;
        let mut head = 0;
        while i < mine.len() {
            let first = mine[i];
            let mut j = i + 1;
            while j < mine.len()
                && mine[j].actor == first.actor
                && mine[j].client_op_id == first.client_op_id
                && mine[j].recorded_at == first.recorded_at
            {
                j += 1;
            }
            let group = &mine[i..j];
            let events: Vec<Event> = group
                .iter()
                .filter_map(|l| Event::decode(&l.kind, l.version, &l.payload).ok())
                .collect();
            let appended = store
                .append(AppendRequest {
                    planning_id: p,
                    expected_seq: head,
                    actor: first.actor,
                    client_op_id: first.client_op_id.clone(),
                    // The original command is not in the log; this marks the record as imported.
                    command_hash: format!("imported:{}", first.event_id),
                    recorded_at: first.recorded_at,
                    events: group
                        .iter()
                        .map(|l| NewEvent {
                            event_id: l.event_id,
                            kind: l.kind.clone(),
                            version: l.version,
                            payload: l.payload.clone(),
                        })
                        .collect(),
                    // Deadline jobs come back; webhooks are not re-delivered for history (an
                    // empty state has no webhooks registered, and their secrets are not exported).
                    jobs: crate::engine::scheduler::jobs_for(
                        PlanningId(p),
                        &crate::domain::State::default(),
                        head + 1,
                        &events,
                        // History's reactions are dated when it was recorded.
                        first.recorded_at,
                    ),
                })
                .await?;
            head = appended.last_seq;
            i = j;
        }
        report.push((p, head));
    }
    Ok(report)
}
