//! Time well spent: how long the live session took against its planned length, how many
//! estimates were settled async vs live, and how many flagged items were actually discussed.
//! Folded from the log (pure; the audit and the digest show it).
//!
//! - **sessions**: each `SyncStarted` … `SyncEnded` (committing the scope ends a running session
//!   with a `SyncEnded` too); the actual length is the sum of the ended sessions, in whole
//!   minutes rounded half up; the planned length is the schedule's `sync_minutes` (45 when no
//!   schedule was set);
//! - **settled async / live**: items (not withdrawn) with an agreed estimate. An item is settled
//!   async when its agreed card is the one an async round proposed for it (it converged without
//!   the meeting: agreeing it in the live session only confirms it), or when it was agreed while
//!   no live session ran; otherwise live (revealed, re-voted or decided in the meeting). A later
//!   round on the item forgets the earlier proposal;
//! - **flagged / discussed**: items (not withdrawn) that were ever flagged or sent to the
//!   agenda, and of those the ones something happened to during a live session (their votes
//!   revealed, a vote or re-vote opened on them, a comment on them, their flag cleared, their
//!   estimate agreed, the room's focus on them);
//! - **per item**: how long each item held the room's focus (`FocusSet` until the next one or
//!   the end of the session; the focus held now counts once it moves or the session ends), in
//!   the order they first got it, with the time box it was last given (`TimerStarted` plus
//!   its `TimerExtended`s).

use crate::domain::event::{Event, Micros};
use crate::domain::ids::{ItemId, RoundId};
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
    /// Live discussion time per item, in the order the items first got the focus.
    pub items: Vec<ItemTime>,
}

/// How long one item was discussed live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemTime {
    pub item: ItemId,
    pub title: String,
    /// How long it held the room's focus, over every session.
    pub seconds: u64,
    /// The time box it was last given (its first length plus extensions), if any.
    pub timebox_seconds: Option<u64>,
}

/// The fold of the focus and the time boxes into time per item.
#[derive(Default)]
struct FocusClock {
    /// The focused item and since when.
    current: Option<(ItemId, Micros)>,
    /// Item → micros focused, in the order of their first focus.
    focused: Vec<(ItemId, Micros)>,
    timebox: BTreeMap<ItemId, u64>,
}

impl FocusClock {
    fn fold(&mut self, e: &Event) {
        match e {
            Event::FocusSet { item, at, .. } => {
                self.release(*at);
                if let Some(i) = item {
                    self.current = Some((*i, *at));
                    if !self.focused.iter().any(|(f, _)| f == i) {
                        self.focused.push((*i, 0));
                    }
                }
            }
            Event::SyncEnded { at, .. } => self.release(*at),
            Event::TimerStarted { item, seconds, .. } => {
                self.timebox.insert(*item, u64::from(*seconds));
            }
            Event::TimerExtended { item, seconds, .. } => {
                *self.timebox.entry(*item).or_default() += u64::from(*seconds);
            }
            _ => {}
        }
    }

    /// The focus ends at `at`: its time goes to its item.
    fn release(&mut self, at: Micros) {
        if let Some((item, since)) = self.current.take() {
            if let Some((_, total)) = self.focused.iter_mut().find(|(i, _)| *i == item) {
                *total += (at - since).max(0);
            }
        }
    }

    fn items(self, state: &State) -> Vec<ItemTime> {
        self.focused
            .into_iter()
            .map(|(item, micros)| ItemTime {
                item,
                title: state
                    .items
                    .get(&item)
                    .map(|i| i.draft.title.clone())
                    .unwrap_or_default(),
                seconds: ((micros + 500_000) / 1_000_000) as u64,
                timebox_seconds: self.timebox.get(&item).copied(),
            })
            .collect()
    }
}

/// A duration as `m:ss` (`4:05`; `62:00` past the hour).
pub fn clock_text(seconds: u64) -> String {
    format!("{}:{:02}", seconds / 60, seconds % 60)
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
    let mut clock = FocusClock::default();
    // Whether each round was opened live, and the card an async round proposed per item.
    let mut live_round: BTreeMap<RoundId, bool> = BTreeMap::new();
    let mut async_proposal: BTreeMap<ItemId, String> = BTreeMap::new();
    for e in events {
        clock.fold(e);
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
            Event::EstimateAgreed { item, card, .. } => {
                let converged_async = async_proposal.get(item) == Some(card);
                settled.insert(*item, running && !converged_async);
                touched.push(*item);
            }
            Event::EstimateProposed { item, round, card }
                if live_round.get(round) == Some(&false) =>
            {
                async_proposal.insert(*item, card.clone());
            }
            Event::VotesRevealed { item, .. } | Event::FlagCleared { item, .. } => {
                touched.push(*item)
            }
            Event::RoundOpened {
                items, round, live, ..
            } => {
                live_round.insert(*round, *live);
                items.iter().for_each(|i| drop(async_proposal.remove(i)));
                touched.extend(items.iter().copied())
            }
            Event::RevoteOpened { items, round, .. } => {
                live_round.insert(*round, true);
                items.iter().for_each(|i| drop(async_proposal.remove(i)));
                touched.extend(items.iter().copied())
            }
            Event::CommentPosted {
                item: Some(item), ..
            }
            | Event::FocusSet {
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
        items: clock.items(state),
    }
}

/// How a session's length compares with its plan, in words: `12 min shorter`, `5 min
/// longer`, `as planned` (never a signed number).
pub fn against_plan(over: i64) -> String {
    match over {
        0 => "as planned".into(),
        o if o < 0 => format!("{} min shorter", -o),
        o => format!("{o} min longer"),
    }
}

/// Markdown lines (no heading), shared by the audit and the digest.
pub fn markdown(t: &TimeWellSpent) -> String {
    let mut out = String::new();
    match (t.sync_minutes, t.over_planned_minutes) {
        (Some(m), Some(over)) => {
            let held = t.sessions.iter().filter(|s| s.ended_at.is_some()).count();
            out.push_str(&format!(
                "- live session: {m} min against {} planned ({}) in {}\n",
                t.planned_minutes,
                against_plan(over),
                crate::domain::words::plural(held, "session", "sessions")
            ))
        }
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
    for it in &t.items {
        out.push_str(&format!(
            "- “{}”: discussed {}{}\n",
            crate::read::md_text(&it.title),
            clock_text(it.seconds),
            it.timebox_seconds
                .map(|b| format!(" (time box {})", clock_text(b)))
                .unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ParticipantId;
    use crate::domain::policy::FlagReason;
    use uuid::Uuid;

    const BY: ParticipantId = ParticipantId(Uuid::from_u128(1));

    fn item(n: u128) -> ItemId {
        ItemId(Uuid::from_u128(n))
    }

    /// A state holding items 1 to `n`, titled `i1`…
    fn proposed(n: u128) -> State {
        let mut state = State::default();
        for n in 1..=n {
            state.apply(&Event::ItemProposed {
                item: item(n),
                draft: crate::domain::event::ItemDraft {
                    title: format!("i{n}"),
                    ..Default::default()
                },
                by: BY,
                at: 0,
            });
        }
        state
    }

    #[test]
    fn sessions_settlements_and_discussed_flags() {
        let (by, state) = (BY, proposed(4));
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
            md.contains("60 min against 45 planned (15 min longer) in 2 sessions"),
            "{md}"
        );
        assert!(md.contains("flagged items discussed live: 1 of 2"), "{md}");
        assert!(markdown(&build(&[], &state)).contains("not held (45 min planned)"));
    }

    /// Items that converged in an async round count as settled async even when the facilitator
    /// agrees them in the live session; a live re-vote makes the item's settlement live.
    #[test]
    fn items_converged_async_and_agreed_live_are_settled_async() {
        let by = ParticipantId(Uuid::from_u128(1));
        let item = |n| ItemId(Uuid::from_u128(n));
        let (async_round, revote) = (RoundId(Uuid::from_u128(7)), RoundId(Uuid::from_u128(8)));
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
        let proposed = |n, round| Event::EstimateProposed {
            item: item(n),
            round,
            card: "3".into(),
        };
        let agree = |n| Event::EstimateAgreed {
            item: item(n),
            card: "3".into(),
            points: None,
            by,
        };
        let mut events = vec![Event::RoundOpened {
            round: async_round,
            items: (1..=4).map(item).collect(),
            deck: crate::domain::deck::Deck::fibonacci(),
            deadline: 1,
            live: false,
            by,
            at: 0,
        }];
        events.extend((1..=4).map(|n| proposed(n, async_round)));
        events.push(Event::SyncStarted { by, at: 0 });
        events.push(Event::RevoteOpened {
            round: revote,
            items: vec![item(4)],
            previous: async_round,
            deck: crate::domain::deck::Deck::fibonacci(),
            deadline: 1,
            by,
            at: 0,
        });
        events.push(proposed(4, revote));
        events.extend((1..=4).map(agree));
        let t = build(&events, &state);
        assert_eq!((t.settled_async, t.settled_live), (3, 1));
    }

    #[test]
    fn a_session_against_its_plan_reads_in_words() {
        assert_eq!(against_plan(-45), "45 min shorter");
        assert_eq!(against_plan(7), "7 min longer");
        assert_eq!(against_plan(0), "as planned");
    }

    /// Each focus counts until the next one or the session's end; a time box is its first
    /// length plus its extensions; the focus still held counts once it ends.
    #[test]
    fn time_per_item_follows_the_focus() {
        let (by, state) = (BY, proposed(2));
        let focus = |n: Option<u128>, at| Event::FocusSet {
            item: n.map(item),
            by,
            at,
        };
        let s = 1_000_000;
        let mut events = vec![
            Event::SyncStarted { by, at: 0 },
            focus(Some(1), 0),
            Event::TimerStarted {
                item: item(1),
                seconds: 120,
                ends_at: 120 * s,
                by,
                at: 0,
            },
            Event::TimerExtended {
                item: item(1),
                seconds: 30,
                ends_at: 150 * s,
                by,
                at: 10 * s,
            },
            focus(Some(2), 95 * s),
            focus(None, 100 * s),
            focus(Some(1), 200 * s),
            Event::SyncEnded { by, at: 230 * s },
        ];
        let t = build(&events, &state);
        let got: Vec<(ItemId, u64, Option<u64>)> = t
            .items
            .iter()
            .map(|i| (i.item, i.seconds, i.timebox_seconds))
            .collect();
        assert_eq!(got, vec![(item(1), 125, Some(150)), (item(2), 5, None)]);
        let md = markdown(&t);
        assert!(
            md.contains("- “i1”: discussed 2:05 (time box 2:30)\n"),
            "{md}"
        );
        assert!(md.contains("- “i2”: discussed 0:05\n"), "{md}");
        // While the session runs, the current focus is not counted yet.
        events.truncate(7);
        assert_eq!(build(&events, &state).items[0].seconds, 95);
    }
}
