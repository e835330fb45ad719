//! The live meeting's derived figures, so every screen shows the same and no client restates a
//! rule: the next item on the agenda, the cards a revealed vote is tied between, what the
//! facilitator can do with the focused item now, the scope draft against capacity and, once
//! committed, which items are in the sprint (pure; nothing stored).
//!
//! What the facilitator can do is not restated here either: each candidate command is decided
//! against the state ([`focus_actions`]), so the list follows the rules as they are.

use super::command::{
    AgreeEstimates, AgreedEstimate, CloseRound, Command, ExtendTimer, FlipCoin, OpenRound,
    ReturnToRefinement, RevealVotes, Revote, StartTimer, WithdrawItem,
};
use super::decide::{decide, Context};
use super::deck::{PAUSE, UNSURE};
use super::event::Role;
use super::fixed::Fixed2;
use super::ids::*;
use super::state::State;
use serde::Serialize;
use std::collections::BTreeMap;

/// The item `SetFocus` moves on to: the first item still on the agenda after the focus's
/// place in it (its place in the agenda as set, when the focused item has left the agenda
/// since), else the first one still on it before that; with no focus, the agenda's first.
/// `None` when the session is not running or nothing else is left to discuss.
pub fn next_on_agenda(state: &State) -> Option<ItemId> {
    if !state.sync_running {
        return None;
    }
    let Some(focus) = state.focus.as_ref().map(|f| f.item) else {
        return state.agenda.first().copied();
    };
    let after = state
        .agenda_order
        .iter()
        .position(|i| *i == focus)
        .map_or(&[][..], |p| &state.agenda_order[p + 1..]);
    after
        .iter()
        .find(|i| state.agenda.contains(i))
        .or_else(|| state.agenda.iter().find(|i| **i != focus))
        .copied()
}

/// Per item without an agreed estimate whose latest round has revealed its votes: the cards
/// most voted for when two or more share the most votes, in deck order (`?` and `☕` are not
/// estimates and do not count) — what a coin flip would settle.
pub fn tied_cards(state: &State) -> BTreeMap<ItemId, Vec<String>> {
    let mut out = BTreeMap::new();
    for it in state.ranked_items().filter(|i| i.estimate.is_none()) {
        let Some(round) = it.rounds.last().and_then(|r| state.rounds.get(r)) else {
            continue;
        };
        let Some(votes) = round.revealed.get(&it.id) else {
            continue;
        };
        let mut counts: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
        for v in votes.iter().filter(|v| v.card != UNSURE && v.card != PAUSE) {
            if let Some(step) = round.deck.step(&v.card) {
                counts.entry(step).or_insert((0, v.card.as_str())).0 += 1;
            }
        }
        let most = counts.values().map(|(n, _)| *n).max().unwrap_or(0);
        let tied: Vec<String> = counts
            .values()
            .filter(|(n, _)| *n == most)
            .map(|(_, card)| card.to_string())
            .collect();
        if tied.len() >= 2 {
            out.insert(it.id, tied);
        }
    }
    out
}

/// The commands (their wire names) the facilitator may send about the focused item right
/// now, each decided against the state: open a round, reveal (`CloseRound` for a live round
/// still open, `RevealVotes` for sealed votes), re-vote, agree, flip a coin over tied cards,
/// start, extend or stop its time box, send it back to refinement, withdraw it. Empty
/// without a focus. Moving on is `SetFocus` to [`next_on_agenda`].
pub fn focus_actions(state: &State) -> Vec<String> {
    let (Some(focus), Some(fac)) = (state.focus.as_ref(), facilitator(state)) else {
        return Vec::new();
    };
    let item = focus.item;
    let latest = state
        .items
        .get(&item)
        .and_then(|it| it.rounds.last())
        .copied();
    let mut candidates: Vec<Command> = vec![Command::OpenRound(OpenRound {
        items: vec![item],
        deck: None,
        deadline: None,
    })];
    if let Some(round) = latest {
        candidates.push(Command::CloseRound(CloseRound { round }));
        candidates.push(Command::RevealVotes(RevealVotes { round, item }));
        candidates.push(Command::Revote(Revote {
            previous: round,
            items: vec![item],
            deadline: None,
        }));
    }
    candidates.extend(agree_probe(state, item));
    if let Some(options) = tied_cards(state).remove(&item) {
        candidates.push(Command::FlipCoin(FlipCoin {
            question: "Which estimate?".into(),
            options,
        }));
    }
    candidates.push(Command::StartTimer(StartTimer { item, seconds: 60 }));
    candidates.push(Command::ExtendTimer(ExtendTimer { seconds: 1 }));
    candidates.push(Command::StopTimer);
    candidates.push(Command::ReturnToRefinement(ReturnToRefinement {
        item,
        note: None,
    }));
    candidates.push(Command::WithdrawItem(WithdrawItem { item, reason: None }));
    // Only extending a time box depends on the time; as it runs out, any extension fits.
    let now = state
        .timer
        .as_ref()
        .map_or(focus.at, |t| t.ends_at.max(focus.at));
    let mut actions = Vec::new();
    for cmd in candidates {
        let kind = cmd.kind();
        let mut ctx = Context {
            actor: fac,
            now,
            rng: &mut NoRandomness,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        };
        if !actions.contains(&kind) && decide(state, &cmd, &mut ctx).is_ok() {
            actions.push(kind);
        }
    }
    actions
}

/// An `AgreeEstimates` of the focused item the rules accept, if any card makes one: the
/// proposed estimate first, then the cards of its latest round's deck (or the planning's).
fn agree_probe(state: &State, item: ItemId) -> Option<Command> {
    let it = state.items.get(&item)?;
    let deck = it
        .rounds
        .last()
        .and_then(|r| state.rounds.get(r))
        .map_or(&state.deck, |r| &r.deck);
    let fac = facilitator(state)?;
    it.proposed_estimate
        .iter()
        .chain(deck.cards.iter())
        .map(|card| {
            Command::AgreeEstimates(AgreeEstimates {
                estimates: vec![AgreedEstimate {
                    item,
                    card: card.clone(),
                }],
            })
        })
        .find(|cmd| {
            let mut ctx = Context {
                actor: fac,
                now: 0,
                rng: &mut NoRandomness,
                max_participants: crate::domain::decide::limits::PARTICIPANTS,
            };
            decide(state, cmd, &mut ctx).is_ok()
        })
}

/// A facilitator to decide the probes as (the rules for these commands are the same for all).
fn facilitator(state: &State) -> Option<ParticipantId> {
    state
        .participants
        .values()
        .find(|p| !p.removed && p.role == Role::Facilitator)
        .map(|p| p.id)
}

/// Probes draw no ids or coins that anyone keeps: zeros will do.
struct NoRandomness;

impl rand::RngCore for NoRandomness {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        dest.fill(0);
        Ok(())
    }
}

/// The scope draft against capacity, as `CommitScope` would weigh it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeFigures {
    /// The selection: the facilitator's draft, or, before any draft, every live item with an
    /// agreed estimate in backlog order (what the room sees selected until the facilitator
    /// changes it).
    pub items: Vec<ItemId>,
    /// Whether `items` is the facilitator's draft (`false`: the default selection).
    pub drafted: bool,
    /// The points of the selected items' agreed estimates.
    pub points: Fixed2,
    /// The team's capacity in points (as the commitment would record it).
    pub capacity: Fixed2,
    /// `points > capacity`: committing it needs `confirm_over_capacity`.
    pub over_capacity: bool,
}

/// The figures of the scope selection; `None` once the scope is committed.
pub fn scope_draft(state: &State) -> Option<ScopeFigures> {
    if state.commitment.is_some() {
        return None;
    }
    let (items, drafted) = match state.scope_draft.as_ref() {
        Some(d) => (d.items.clone(), true),
        None => (
            state
                .ranked_items()
                .filter(|i| i.estimate.is_some())
                .map(|i| i.id)
                .collect(),
            false,
        ),
    };
    let points = items
        .iter()
        .filter_map(|i| state.items.get(i))
        .filter(|i| !i.withdrawn)
        .filter_map(|i| i.points)
        .fold(Fixed2::ZERO, Fixed2::saturating_add);
    let capacity = state.capacity_points().min(Fixed2::MAX);
    Some(ScopeFigures {
        items,
        drafted,
        points,
        capacity,
        over_capacity: points > capacity,
    })
}

/// Once the scope is committed: every item, in the sprint (`true`) or not. `None` before.
pub fn in_sprint(state: &State) -> Option<BTreeMap<ItemId, bool>> {
    let c = state.commitment.as_ref()?;
    Some(
        state
            .items
            .keys()
            .map(|i| (*i, c.items.contains(i)))
            .collect(),
    )
}
