//! Whole-log reads kept per planning ([`History`]): the audit and the digest used to read and
//! decode a planning's whole log on every request (after 4,000 joins, 1.5 MiB and 30–50 ms
//! each). The decoded log is now kept at the head it was read to, and a later request reads
//! only the events after it; an audit rendering is kept for the head it was made at.
//!
//! The chain check (`verify`) is kept the same way: the prefix of the chain checked before
//! (its last seq and hash) is not read again; a request checks the events after it and the
//! head stored beside the log.
//!
//! Bounded: at most [`KEEP`] plannings' logs and renderings; past that, an arbitrary one is
//! dropped (it is read again whole on its next request).

use crate::domain::ids::PlanningId;
use crate::domain::state::State;
use crate::engine::replay::{envelopes, Log, ReplayError, PAGE};
use crate::read::audit::Audience;
use crate::store::{ChainCheck, Checked, EventStore, StoreResult, GENESIS_HASH};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Plannings whose log (and, apart, whose renderings) are kept at once.
pub const KEEP: usize = 16;

/// An audit rendering's planning and format (kept with the head it was rendered at).
type AuditKey = (PlanningId, String);

/// The kept logs and audit renderings.
#[derive(Default)]
pub struct History {
    logs: Mutex<HashMap<PlanningId, Arc<Log>>>,
    audits: Mutex<HashMap<AuditKey, (i64, Arc<str>)>>,
    /// How far each planning's chain was found intact.
    checked: Mutex<HashMap<PlanningId, Checked>>,
    /// Events read from the store for history reads: the cost of the reads, for tests and
    /// `/metrics`.
    pub events_read: AtomicU64,
    /// Audits rendered (not served from the kept rendering).
    pub audits_rendered: AtomicU64,
}

/// Inserts into a map of at most [`KEEP`] entries, dropping an arbitrary other one when full.
fn keep<K: std::hash::Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= KEEP && !map.contains_key(&key) {
        if let Some(other) = map.keys().next().cloned() {
            map.remove(&other);
        }
    }
    map.insert(key, value);
}

impl History {
    /// The planning's whole log, decoded: the kept one and the events after it.
    pub async fn log(
        &self,
        store: &dyn EventStore,
        planning: PlanningId,
    ) -> Result<Arc<Log>, ReplayError> {
        let kept = self
            .logs
            .lock()
            .expect("history lock")
            .get(&planning)
            .cloned();
        let mut after = kept
            .as_ref()
            .and_then(|l| l.events.last())
            .map_or(0, |e| e.seq);
        let mut new = Vec::new();
        let mut head_hash = None;
        loop {
            let page = store.read(planning.0, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            head_hash = Some(last.hash.clone());
            self.events_read
                .fetch_add(page.len() as u64, Ordering::Relaxed);
            new.extend(envelopes(&page)?);
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        let log = match (kept, head_hash) {
            (Some(kept), None) => return Ok(kept),
            (None, None) => Arc::new(Log::default()),
            (kept, Some(head_hash)) => {
                let mut events = kept.map(|k| k.events.clone()).unwrap_or_default();
                events.extend(new);
                Arc::new(Log { events, head_hash })
            }
        };
        keep(
            &mut self.logs.lock().expect("history lock"),
            planning,
            log.clone(),
        );
        Ok(log)
    }

    /// The planning's chain checked against the log and the head stored beside it: only the
    /// events after the prefix found intact before are read (the operator's `sprintlog verify`
    /// reads them all).
    pub async fn verify(
        &self,
        store: &dyn EventStore,
        planning: PlanningId,
    ) -> StoreResult<ChainCheck> {
        let from = self
            .checked
            .lock()
            .expect("history lock")
            .get(&planning)
            .cloned()
            .unwrap_or(Checked {
                seq: 0,
                hash: GENESIS_HASH.to_string(),
            });
        let (check, read) = crate::store::verify_chain_from(store, planning.0, from).await?;
        self.events_read.fetch_add(read, Ordering::Relaxed);
        let mut checked = self.checked.lock().expect("history lock");
        match &check {
            ChainCheck::Intact { events, head_hash } => keep(
                &mut checked,
                planning,
                Checked {
                    seq: *events,
                    hash: head_hash.clone(),
                },
            ),
            // Checked again from the start next time (after a repair, say).
            _ => {
                checked.remove(&planning);
            }
        }
        Ok(check)
    }

    /// The participants' audit of the planning as `format` (`json`, `md` or `csv`; `None` for
    /// another), rendered once per head.
    pub async fn audit(
        &self,
        store: &dyn EventStore,
        planning: PlanningId,
        format: &str,
    ) -> Result<Option<Arc<str>>, ReplayError> {
        if !matches!(format, "json" | "md" | "markdown" | "csv") {
            return Ok(None);
        }
        let log = self.log(store, planning).await?;
        let head = log.events.last().map_or(0, |e| e.seq);
        let key = (planning, format.to_string());
        if let Some((at, kept)) = self.audits.lock().expect("history lock").get(&key) {
            if *at == head {
                return Ok(Some(kept.clone()));
            }
        }
        self.audits_rendered.fetch_add(1, Ordering::Relaxed);
        let rendered: Arc<str> = render_audit(&log, Audience::Participant, format)
            .unwrap_or_default()
            .into();
        keep(
            &mut self.audits.lock().expect("history lock"),
            key,
            (head, rendered.clone()),
        );
        Ok(Some(rendered))
    }
}

/// The audit of `log` for `audience` as `format`; `None` for an unknown format.
pub fn render_audit(log: &Log, audience: Audience, format: &str) -> Option<String> {
    let state = State::replay(log.events.iter().map(|s| &s.event));
    let a = crate::read::audit::build(&log.events, &log.head_hash, &state, audience);
    match format {
        "json" => Some(serde_json::to_string_pretty(&a).unwrap_or_default()),
        "md" | "markdown" => Some(crate::read::audit::markdown(&a)),
        "csv" => Some(crate::read::audit::csv(&a)),
        _ => None,
    }
}
