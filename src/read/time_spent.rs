//! Time well spent: how long the live session took against its planned length, how many
//! estimates were settled async vs live, and how many flagged items were actually discussed.
//! Folded from the log (pure; the audit and the digest show it).
//!
//! - **sessions**: each `SyncStarted` … `SyncEnded` (committing the scope ends a running session
//!   with a `SyncEnded` too); the actual length is the sum of the ended sessions, in whole
//!   minutes rounded half up; the planned length is the schedule's `sync_minutes` (45 when no
//!   schedule was set);
//! - **settled async / live**: items (not withdrawn) with an agreed estimate, by whether their
//!   latest `EstimateAgreed` came while a live session was running;
//! - **flagged / discussed**: items (not withdrawn) that were ever flagged or sent to the
//!   agenda, and of those the ones something happened to during a live session (their votes
//!   revealed, a vote or re-vote opened on them, a comment on them, their flag cleared, their
//!   estimate agreed).

use crate::domain::event::{Event, Micros};
use crate::domain::ids::ItemId;
use crate::domain::state::State;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

const MINUTE: Micros = 60_000_000;

/// One live session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub started_at: Micros,
    /// `started_at` as RFC 3339 UTC (session times carry UTC everywhere in the API).
    pub started_at_utc: String,
    /// `None` while it runs.
    pub ended_at: Option<Micros>,
    pub ended_at_utc: Option<String>,
    pub minutes: Option<u32>,
}

/// The figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeWellSpent {
    pub sessions: Vec<Session>,
    /// Sum of the ended sessions (`None` before any ended).
    pub sync_minutes: Option<u32>,
    pub planned_minutes: u32,
    /// `sync_minutes − planned_minutes` (negative: shorter than planned).
    pub over_planned_minutes: Option<i64>,
    pub settled_async: u32,
    pub settled_live: u32,
    pub flagged: u32,
    pub flagged_discussed: u32,
}

fn minutes(micros: Micros) -> u32 {
    ((micros.max(0) + MINUTE / 2) / MINUTE).min(u32::MAX as i64) as u32
}

/// Folds the log (in seq order) with the final projection.
pub fn build<'a>(events: impl IntoIterator<Item = &'a Event>, state: &State) -> TimeWellSpent {
    let mut sessions: Vec<Session> = Vec::new();
    let mut running = false;
    let mut settled: BTreeMap<ItemId, bool> = BTreeMap::new();
    let mut flagged: BTreeSet<ItemId> = BTreeSet::new();
    let mut discussed: BTreeSet<ItemId> = BTreeSet::new();
    for e in events {
        let mut touched: Vec<ItemId> = Vec::new();
        match e {
            Event::SyncStarted { at, .. } => {
                running = true;
                sessions.push(Session {
                    started_at: *at,
                    started_at_utc: crate::read::utc::rfc3339(*at),
                    ended_at: None,
                    ended_at_utc: None,
                    minutes: None,
                });
            }
            Event::SyncEnded { at, .. } => {
                running = false;
                if let Some(s) = sessions.last_mut().filter(|s| s.ended_at.is_none()) {
                    s.ended_at = Some(*at);
                    s.ended_at_utc = Some(crate::read::utc::rfc3339(*at));
                    s.minutes = Some(minutes(at - s.started_at));
                }
            }
            Event::ItemFlagged { item, .. } | Event::ItemSentToAgenda { item, .. } => {
                flagged.insert(*item);
            }
            Event::EstimateAgreed { item, .. } => {
                settled.insert(*item, running);
                touched.push(*item);
            }
            Event::VotesRevealed { item, .. } | Event::FlagCleared { item, .. } => {
                touched.push(*item)
            }
            Event::RoundOpened { items, .. } | Event::RevoteOpened { items, .. } => {
                touched.extend(items.iter().copied())
            }
            Event::CommentPosted {
                item: Some(item), ..
            } => touched.push(*item),
            _ => {}
        }
        if running {
            discussed.extend(touched);
        }
    }
    let live_item = |i: &ItemId| state.items.get(i).is_some_and(|it| !it.withdrawn);
    let settled_live = settled
        .iter()
        .filter(|(i, live)| **live && live_item(i))
        .count() as u32;
    let settled_async = settled
        .iter()
        .filter(|(i, live)| !**live && live_item(i))
        .count() as u32;
    let flagged_live: Vec<ItemId> = flagged.into_iter().filter(live_item).collect();
    let flagged_discussed = flagged_live
        .iter()
        .filter(|i| discussed.contains(i))
        .count() as u32;
    let ended: Vec<u32> = sessions.iter().filter_map(|s| s.minutes).collect();
    let ended_micros: Micros = sessions
        .iter()
        .filter_map(|s| Some(s.ended_at? - s.started_at))
        .sum();
    let sync_minutes = (!ended.is_empty()).then(|| minutes(ended_micros));
    let planned_minutes = state.schedule.sync_minutes.unwrap_or(45);
    TimeWellSpent {
        sessions,
        sync_minutes,
        planned_minutes,
        over_planned_minutes: sync_minutes.map(|m| i64::from(m) - i64::from(planned_minutes)),
        settled_async,
        settled_live,
        flagged: flagged_live.len() as u32,
        flagged_discussed,
    }
}

/// Markdown lines (no heading), shared by the audit and the digest.
pub fn markdown(t: &TimeWellSpent) -> String {
    let mut out = String::new();
    match (t.sync_minutes, t.over_planned_minutes) {
        (Some(m), Some(over)) => out.push_str(&format!(
            "- live session: {m} min against {} planned ({}{} min) in {} session(s)\n",
            t.planned_minutes,
            if over > 0 { "+" } else { "" },
            over,
            t.sessions.iter().filter(|s| s.ended_at.is_some()).count()
        )),
        _ if t.sessions.is_empty() => out.push_str(&format!(
            "- live session: not held ({} min planned)\n",
            t.planned_minutes
        )),
        _ => out.push_str(&format!(
            "- live session: running ({} min planned)\n",
            t.planned_minutes
        )),
    }
    out.push_str(&format!(
        "- estimates settled async: {}, live: {}\n",
        t.settled_async, t.settled_live
    ));
    out.push_str(&format!(
        "- flagged items discussed live: {} of {}\n",
        t.flagged_discussed, t.flagged
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ParticipantId;
    use crate::domain::policy::FlagReason;
    use uuid::Uuid;

    #[test]
    fn sessions_settlements_and_discussed_flags() {
        let by = ParticipantId(Uuid::from_u128(1));
        let item = |n| ItemId(Uuid::from_u128(n));
        let mut state = State::default();
        for n in 1..=4 {
            state.apply(&Event::ItemProposed {
                item: item(n),
                draft: crate::domain::event::ItemDraft {
                    title: format!("i{n}"),
                    ..Default::default()
                },
                by,
                at: 0,
            });
        }
        let flag = |n| Event::ItemFlagged {
            item: item(n),
            reason: FlagReason::Spread,
            round: None,
            note: None,
            by,
        };
        let agree = |n| Event::EstimateAgreed {
            item: item(n),
            card: "3".into(),
            points: None,
            by,
        };
        let events = vec![
            agree(1),
            flag(2),
            flag(3),
            Event::SyncStarted { by, at: 0 },
            agree(2),
            Event::SyncEnded {
                by,
                at: 50 * MINUTE + 29_000_000,
            },
            Event::SyncStarted {
                by,
                at: 60 * MINUTE,
            },
            Event::SyncEnded {
                by,
                at: 70 * MINUTE,
            },
            agree(4),
        ];
        let t = build(&events, &state);
        assert_eq!(t.sessions.len(), 2);
        assert_eq!(t.sessions[0].minutes, Some(50));
        assert_eq!(t.sessions[1].started_at_utc, "1970-01-01T01:00:00Z");
        assert_eq!(
            t.sessions[1].ended_at_utc.as_deref(),
            Some("1970-01-01T01:10:00Z")
        );
        assert_eq!(t.sync_minutes, Some(60));
        assert_eq!(t.planned_minutes, 45);
        assert_eq!(t.over_planned_minutes, Some(15));
        assert_eq!((t.settled_async, t.settled_live), (2, 1));
        assert_eq!((t.flagged, t.flagged_discussed), (2, 1));
        let md = markdown(&t);
        assert!(
            md.contains("60 min against 45 planned (+15 min) in 2 session(s)"),
            "{md}"
        );
        assert!(md.contains("flagged items discussed live: 1 of 2"), "{md}");
        assert!(markdown(&build(&[], &state)).contains("not held (45 min planned)"));
    }
}
