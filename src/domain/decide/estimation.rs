//! Estimation: rounds of hidden votes, their close and reveal, flags, agreed estimates and
//! live re-votes.

use super::guard::{
    check_deadline, count, distinct_known, live_item, not_estimated, open_round, opt_text, round,
    twice, unsettled_item, Actor,
};
use super::{limits, Result};
use crate::domain::card::Card;
use crate::domain::command::AgreedEstimate;
use crate::domain::deck::{Deck, PAUSE, UNSURE};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;
use crate::domain::policy::{FlagReason, Verdict};
use crate::domain::state::{Round, State};
use crate::domain::words::quoted;
use std::collections::{BTreeMap, BTreeSet};

/// The cards of a round: item → voter → card.
type Cards = BTreeMap<ItemId, BTreeMap<ParticipantId, String>>;

pub(super) fn open(
    a: &mut Actor,
    items: &[ItemId],
    deck: &Option<Deck>,
    deadline: Option<Micros>,
) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.in_phase(&[Phase::Async, Phase::Sync])?;
    let state = a.state;
    let max = state.policy.batch_size as usize;
    count(items.len(), "items", 1, max)?;
    distinct_known(state, items, "items")?;
    for i in items {
        estimable(state, *i)?;
    }
    let deck = match deck {
        Some(d) => {
            d.validate().map_err(DomainError::Invalid)?;
            d.clone()
        }
        None => state.deck.clone(),
    };
    let deadline = deadline.unwrap_or_else(|| default_deadline(a));
    check_deadline(a.now, deadline)?;
    Ok(vec![Event::RoundOpened {
        round: RoundId::from_random(a.random16()),
        items: items.to_vec(),
        deck,
        deadline,
        // Live only while the session runs: outside it, flagged votes stay sealed.
        live: state.sync_running,
        by: a.me,
        at: a.now,
    }])
}

/// A live round without a deadline lasts as long as a re-vote. An async one ends at the
/// schedule's estimation deadline while that is ahead (and within a round's longest life: a
/// sprint planned months out must not make every round unopenable), else after the policy's
/// default length.
fn default_deadline(a: &Actor) -> Micros {
    let (state, now) = (a.state, a.now);
    if state.sync_running {
        return now.saturating_add(limits::LIVE_ROUND_MICROS);
    }
    match state.schedule.estimation_deadline {
        Some(d) if d > now && d - now <= limits::MAX_ROUND_MICROS && !state.sync_running => d,
        _ => now.saturating_add(state.policy.default_deadline_minutes as i64 * 60_000_000),
    }
}

/// Whether an item may enter a new round.
fn estimable(state: &State, id: ItemId) -> Result<()> {
    let it = live_item(state, id)?;
    if state.open_round_of(id).is_some() {
        return Err(DomainError::ItemInOpenRound(id));
    }
    not_estimated(it)?;
    let failing = it.failing_criteria(&state.definition_of_ready);
    if !failing.is_empty() && !it.readiness_overridden {
        let criteria = failing
            .iter()
            .filter_map(|c| state.definition_of_ready.iter().find(|d| d.id == *c))
            .map(|d| d.text.clone())
            .collect();
        return Err(DomainError::NotReady {
            item: id,
            failing,
            title: it.draft.title.clone(),
            criteria,
        });
    }
    Ok(())
}

pub(super) fn cast_vote(
    a: &mut Actor,
    round: RoundId,
    item: ItemId,
    card: &str,
) -> Result<Vec<Event>> {
    a.need(&[Role::Member])?;
    let r = votable(a, round, item)?;
    if !r.deck.accepts(card) {
        return Err(DomainError::InvalidCard(card.to_string()));
    }
    let mut events = vec![Event::VoteCast {
        round,
        item,
        voter: a.me,
        card: card.to_string(),
        nonce: hex::encode(a.random16()),
    }];
    let mut votes = cards(r);
    votes
        .entry(item)
        .or_default()
        .insert(a.me, card.to_string());
    let members: Vec<ParticipantId> = a.state.members().map(|m| m.id).collect();
    if closes_when_all_voted(a.state, r) && everyone_voted(r, &votes, &members) {
        let reason = CloseReason::AllVoted;
        events.extend(close(a.state, r, &votes, reason, a.me, a.now));
    }
    Ok(events)
}

pub(super) fn withdraw_vote(a: &Actor, round: RoundId, item: ItemId) -> Result<Vec<Event>> {
    a.need(&[Role::Member])?;
    let r = votable(a, round, item)?;
    if !r.votes.get(&item).is_some_and(|v| v.contains_key(&a.me)) {
        return Err(DomainError::NoVote);
    }
    Ok(vec![Event::VoteWithdrawn {
        round,
        item,
        voter: a.me,
    }])
}

/// The open round a vote goes to, checked.
fn votable<'s>(a: &Actor<'s>, round: RoundId, item: ItemId) -> Result<&'s Round> {
    let r = open_round(a.state, round)?;
    if a.now >= r.deadline {
        return Err(DomainError::DeadlinePassed(round));
    }
    if !r.items.contains(&item) {
        return Err(DomainError::ItemNotInRound { round, item });
    }
    Ok(r)
}

pub(super) fn close_round(a: &Actor, round: RoundId) -> Result<Vec<Event>> {
    let r = open_round(a.state, round)?;
    let reason = if a.me.is_system() {
        if a.now < r.deadline {
            return Err(DomainError::DeadlineNotReached(round));
        }
        CloseReason::Deadline
    } else {
        a.facilitator()?;
        CloseReason::Facilitator
    };
    // A deadline close is dated at the deadline, even when it runs late (after a restart).
    let at = if reason == CloseReason::Deadline {
        r.deadline
    } else {
        a.now
    };
    Ok(close(a.state, r, &cards(r), reason, a.me, at))
}

pub(super) fn reveal(a: &Actor, round: RoundId, item: ItemId) -> Result<Vec<Event>> {
    a.facilitator()?;
    if !a.state.sync_running {
        return Err(DomainError::SyncNotRunning);
    }
    let r = super::guard::round(a.state, round)?;
    if r.is_open() {
        return Err(DomainError::RoundOpen(round));
    }
    if !r.items.contains(&item) {
        return Err(DomainError::ItemNotInRound { round, item });
    }
    if r.revealed.contains_key(&item) {
        return Err(DomainError::AlreadyRevealed(item));
    }
    Ok(vec![Event::VotesRevealed {
        round,
        item,
        votes: revealed(&cards(r), item),
        by: a.me,
    }])
}

pub(super) fn flag(a: &Actor, item: ItemId, note: &Option<String>) -> Result<Vec<Event>> {
    a.need(&[Role::Facilitator, Role::Member])?;
    a.open_phase()?;
    let it = live_item(a.state, item)?;
    if it.flag.is_some() {
        return Err(DomainError::Invalid("the item is already flagged".into()));
    }
    opt_text(note, "note", limits::SHORT_TEXT)?;
    Ok(vec![Event::ItemFlagged {
        item,
        reason: FlagReason::Manual,
        round: None,
        note: note.clone(),
        by: a.me,
    }])
}

pub(super) fn clear_flag(a: &Actor, item: ItemId) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    let it = live_item(a.state, item)?;
    if it.flag.is_none() {
        return Err(DomainError::NotFlagged(item));
    }
    Ok(vec![Event::FlagCleared { item, by: a.me }])
}

pub(super) fn send_to_agenda(a: &Actor, item: ItemId, note: &Option<String>) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    let it = unsettled_item(a.state, item)?;
    if it.flag.is_some() {
        return Err(DomainError::Invalid(
            "the item is already flagged for the live session".into(),
        ));
    }
    opt_text(note, "note", limits::SHORT_TEXT)?;
    Ok(vec![Event::ItemSentToAgenda {
        item,
        reasons: crate::domain::discussion::reasons(a.state, it),
        note: note.clone(),
        by: a.me,
    }])
}

pub(super) fn agree(a: &Actor, estimates: &[AgreedEstimate]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    let state = a.state;
    count(estimates.len(), "estimates", 1, limits::LIST)?;
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    for e in estimates {
        let it = live_item(state, e.item)?;
        if !seen.insert(e.item) {
            return Err(twice("estimates", quoted(&it.draft.title)));
        }
        if state.open_round_of(e.item).is_some() {
            return Err(DomainError::ItemInOpenRound(e.item));
        }
        // The deck of the item's latest round, or the planning's deck.
        let deck: &Deck = it
            .rounds
            .last()
            .and_then(|r| state.rounds.get(r))
            .map(|r| &*r.deck)
            .unwrap_or(&state.deck);
        if e.card == UNSURE || e.card == PAUSE || deck.step(&e.card).is_none() {
            return Err(DomainError::InvalidCard(e.card.clone()));
        }
        events.push(Event::EstimateAgreed {
            item: e.item,
            card: e.card.clone(),
            points: deck.points(&e.card, &state.policy.point_table),
            by: a.me,
        });
    }
    Ok(events)
}

pub(super) fn revote(
    a: &mut Actor,
    previous: RoundId,
    items: &[ItemId],
    deadline: Option<Micros>,
) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.in_phase(&[Phase::Sync])?;
    // A re-vote round is live (its flagged votes are revealed at close): only while the
    // session runs, or they would be revealed with nobody live to discuss them.
    if !a.state.sync_running {
        return Err(DomainError::SyncNotRunning);
    }
    let r = round(a.state, previous)?;
    if r.is_open() {
        return Err(DomainError::RoundOpen(previous));
    }
    if items.is_empty() {
        return Err(DomainError::Empty { field: "items" });
    }
    distinct_known(a.state, items, "items")?;
    for i in items {
        if !r.items.contains(i) {
            return Err(DomainError::ItemNotInRound {
                round: previous,
                item: *i,
            });
        }
        live_item(a.state, *i)?;
        if a.state.open_round_of(*i).is_some() {
            return Err(DomainError::ItemInOpenRound(*i));
        }
    }
    let deadline = deadline.unwrap_or(a.now.saturating_add(limits::LIVE_ROUND_MICROS));
    check_deadline(a.now, deadline)?;
    Ok(vec![Event::RevoteOpened {
        round: RoundId::from_random(a.random16()),
        items: items.to_vec(),
        previous,
        deck: Deck::clone(&r.deck),
        deadline,
        by: a.me,
        at: a.now,
    }])
}

/// Whether a round closes as its last vote comes in: an async round always does; a live one
/// when the policy reveals automatically (`auto_reveal`), else the facilitator closes it.
fn closes_when_all_voted(state: &State, r: &Round) -> bool {
    !r.live || state.policy.auto_reveal
}

/// Whether every member has a card on every item of a round.
fn everyone_voted(r: &Round, votes: &Cards, members: &[ParticipantId]) -> bool {
    r.items.iter().all(|i| {
        votes
            .get(i)
            .is_some_and(|v| members.iter().all(|m| v.contains_key(m)))
    })
}

/// The rounds that `leaving` (a member removed or no longer a member) leaves with every
/// remaining member's vote in, closed now as if the last vote had just arrived: waiting for
/// someone who can no longer vote would hold the round until its deadline for nothing.
pub(super) fn close_rounds_left_complete(
    state: &State,
    leaving: &Event,
    me: ParticipantId,
    now: Micros,
) -> Vec<Event> {
    // Removals are rare: judging on a copy with the event applied reuses `apply`'s rule for
    // which votes stop counting, instead of restating it here.
    let mut after = state.clone();
    after.apply(leaving);
    let members: Vec<ParticipantId> = after.members().map(|m| m.id).collect();
    let mut events = Vec::new();
    for r in after.rounds.values().filter(|r| r.is_open()) {
        let votes = cards(r);
        if closes_when_all_voted(&after, r) && everyone_voted(r, &votes, &members) {
            events.extend(close(&after, r, &votes, CloseReason::AllVoted, me, now));
        }
    }
    events
}

/// The cards of a round.
fn cards(r: &Round) -> Cards {
    r.votes
        .iter()
        .map(|(i, v)| {
            (
                *i,
                v.iter()
                    .map(|(p, vote)| (*p, vote.card.to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn revealed(votes: &Cards, item: ItemId) -> Vec<RevealedVote> {
    votes
        .get(&item)
        .map(|v| {
            v.iter()
                .map(|(p, c)| RevealedVote {
                    voter: *p,
                    card: Card::new(c),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Closing a round: `RoundClosed`, then per item (docs/domain.md): converged items are revealed with
/// a proposed estimate; flagged items stay sealed until the live reveal — unless the round was
/// live and the session still runs, where everything is revealed at once.
fn close(
    state: &State,
    r: &Round,
    votes: &Cards,
    reason: CloseReason,
    me: ParticipantId,
    now: Micros,
) -> Vec<Event> {
    let members = state.members().count();
    let mut events = vec![Event::RoundClosed {
        round: r.id,
        reason,
        at: now,
    }];
    for item in &r.items {
        let item_cards = votes.get(item);
        let verdict = state.policy.divergence.judge(
            &r.deck,
            item_cards
                .into_iter()
                .flat_map(|v| v.values().map(String::as_str)),
            members,
        );
        // Revealed by the rule at the close, not by whoever's vote or click closed the round.
        let reveal = Event::VotesRevealed {
            round: r.id,
            item: *item,
            votes: revealed(votes, *item),
            by: ParticipantId::SYSTEM,
        };
        match verdict {
            Verdict::Converged { proposed } => {
                events.push(reveal);
                events.push(Event::EstimateProposed {
                    item: *item,
                    round: r.id,
                    card: proposed,
                });
            }
            Verdict::Flagged(reason) => {
                // Revealed at close only while the live session still runs: a live round
                // that outlives its session keeps them sealed for the next one's reveal.
                if r.live && state.sync_running {
                    events.push(reveal);
                }
                events.push(Event::ItemFlagged {
                    item: *item,
                    reason,
                    round: Some(r.id),
                    note: None,
                    by: me,
                });
            }
        }
    }
    events
}
