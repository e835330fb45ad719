//! The live session and its decisions: start and end, the agenda, coin flips, committing scope.
//! (What the room shares while it runs — the focus, time boxes, the scope draft — is
//! `meeting`'s.)

use super::goal::committed;
use super::guard::{count, distinct_known, live_item, text, Actor};
use super::schedule::phase_changed;
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::fixed::Fixed2;
use crate::domain::ids::*;

pub(super) fn start(a: &Actor) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    if a.state.sync_running {
        return Err(DomainError::SyncRunning);
    }
    let mut events = Vec::new();
    if a.phase != Phase::Sync {
        events.push(phase_changed(a, Phase::Sync));
    }
    events.push(Event::SyncStarted {
        by: a.me,
        at: a.now,
    });
    // `?` first, then widest spread, then the rest by rank (see `agenda`).
    let agenda = crate::domain::agenda::sync_agenda(a.state);
    // The room starts on the first item: everyone who joins lands there.
    let first = agenda.first().copied();
    events.push(Event::AgendaSet {
        items: agenda,
        by: a.me,
    });
    if first.is_some() {
        events.push(Event::FocusSet {
            item: first,
            by: a.me,
            at: a.now,
        });
    }
    Ok(events)
}

pub(super) fn set_agenda(a: &Actor, items: &[ItemId]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    distinct_known(a.state, items, "items")?;
    for i in items {
        live_item(a.state, *i)?;
    }
    Ok(vec![Event::AgendaSet {
        items: items.to_vec(),
        by: a.me,
    }])
}

pub(super) fn flip_coin(a: &mut Actor, question: &str, options: &[String]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    text(question, "question", 1, limits::SHORT_TEXT)?;
    count(options.len(), "options", 2, limits::COIN_OPTIONS)?;
    for o in options {
        text(o, "option", 1, limits::TITLE)?;
    }
    Ok(vec![Event::CoinFlipped {
        question: question.to_string(),
        options: options.to_vec(),
        outcome: a.uniform_below(options.len() as u32),
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn end(a: &Actor) -> Result<Vec<Event>> {
    a.facilitator()?;
    if !a.state.sync_running {
        return Err(DomainError::SyncNotRunning);
    }
    Ok(vec![Event::SyncEnded {
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn commit_scope(a: &Actor, items: &[ItemId], confirm_over: bool) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.in_phase(&[Phase::Async, Phase::Sync])?;
    let state = a.state;
    let goal = state.goal.as_ref().ok_or(DomainError::NoGoal)?;
    if let Some(r) = state.rounds.values().find(|r| r.is_open()) {
        return Err(DomainError::RoundOpen(r.id));
    }
    let points = scope_points(a, items)?;
    // Recorded in the event, so it must stay decodable as well: beyond the largest recordable
    // number (tens of thousands of people at a year each) it is recorded as that number, which
    // no decodable scope exceeds anyway.
    let capacity = state.capacity_points().min(Fixed2::MAX);
    let over = points > capacity;
    if over && !confirm_over {
        return Err(DomainError::OverCapacity { points, capacity });
    }
    let mut events = Vec::new();
    if !goal.committed {
        events.push(committed(a, goal));
    }
    if state.sync_running {
        events.push(Event::SyncEnded {
            by: a.me,
            at: a.now,
        });
    }
    events.push(Event::ScopeCommitted {
        items: items.to_vec(),
        points,
        capacity,
        over_capacity_confirmed: over,
        by: a.me,
        at: a.now,
    });
    events.push(phase_changed(a, Phase::Committed));
    Ok(events)
}

/// The points of a scope: every item live and estimated, the sum decodable.
pub(super) fn scope_points(a: &Actor, items: &[ItemId]) -> Result<Fixed2> {
    distinct_known(a.state, items, "items")?;
    let mut points = Fixed2::ZERO;
    for i in items {
        let it = live_item(a.state, *i)?;
        if it.estimate.is_none() {
            return Err(DomainError::NoEstimate(*i));
        }
        points = points.saturating_add(it.points.unwrap_or(Fixed2::ZERO));
    }
    if points > Fixed2::MAX {
        // The sum must stay decodable, or the log could not be replayed.
        return Err(DomainError::Invalid("the scope has too many points".into()));
    }
    Ok(points)
}
