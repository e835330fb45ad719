//! The live meeting's shared state: the room's focus, the time box on the focused item, items
//! sent back to refinement and the draft of the scope to commit.

use super::guard::{live_item, opt_text, unsettled_item, Actor};
use super::sync::scope_points;
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;

pub(super) fn set_focus(a: &Actor, item: Option<ItemId>) -> Result<Vec<Event>> {
    a.facilitator()?;
    running(a)?;
    if let Some(i) = item {
        live_item(a.state, i)?;
    }
    Ok(vec![Event::FocusSet {
        item,
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn start_timer(a: &Actor, item: ItemId, seconds: u32) -> Result<Vec<Event>> {
    a.facilitator()?;
    running(a)?;
    live_item(a.state, item)?;
    // Named, not implied: a click on an item the focus has just left must not time the next.
    if a.state.focus.as_ref().map(|f| f.item) != Some(item) {
        return Err(DomainError::NotFocused(item));
    }
    timer_seconds(seconds)?;
    Ok(vec![Event::TimerStarted {
        item,
        seconds,
        ends_at: a.now.saturating_add(micros(seconds)),
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn extend_timer(a: &Actor, seconds: u32) -> Result<Vec<Event>> {
    a.facilitator()?;
    running(a)?;
    let t = a.state.timer.as_ref().ok_or(DomainError::NoTimer)?;
    timer_seconds(seconds)?;
    // A box that ran out is extended from now: "two more minutes" means from here.
    let ends_at = t.ends_at.max(a.now).saturating_add(micros(seconds));
    if ends_at - a.now > micros(limits::TIMER_SECONDS) {
        return Err(DomainError::OutOfRange {
            field: "seconds",
            range: "such that at most 3600 seconds are left",
        });
    }
    Ok(vec![Event::TimerExtended {
        item: t.item,
        seconds,
        ends_at,
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn stop_timer(a: &Actor) -> Result<Vec<Event>> {
    a.facilitator()?;
    let t = a.state.timer.as_ref().ok_or(DomainError::NoTimer)?;
    Ok(vec![Event::TimerStopped {
        item: t.item,
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn return_to_refinement(
    a: &Actor,
    item: ItemId,
    note: &Option<String>,
) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    let it = unsettled_item(a.state, item)?;
    if it.returned_to_refinement.is_some() {
        return Err(DomainError::AlreadyReturned(item));
    }
    opt_text(note, "note", limits::SHORT_TEXT)?;
    Ok(vec![Event::ItemReturnedToRefinement {
        item,
        note: note.clone(),
        by: a.me,
        at: a.now,
    }])
}

/// A draft is held to the rules of the commitment it prepares (live, estimated items, each
/// once), so what the room sees can be committed as it stands.
pub(super) fn draft_scope(a: &Actor, items: &[ItemId]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.in_phase(&[Phase::Async, Phase::Sync])?;
    scope_points(a, items)?;
    Ok(vec![Event::ScopeDrafted {
        items: items.to_vec(),
        by: a.me,
        at: a.now,
    }])
}

/// The focus and the time box exist only while the live session runs.
fn running(a: &Actor) -> Result<()> {
    if !a.state.sync_running {
        return Err(DomainError::SyncNotRunning);
    }
    Ok(())
}

/// A time box's length (or an extension's): 1 to 3600 seconds.
fn timer_seconds(seconds: u32) -> Result<()> {
    if !(1..=limits::TIMER_SECONDS).contains(&seconds) {
        return Err(DomainError::OutOfRange {
            field: "seconds",
            range: "1 to 3600",
        });
    }
    Ok(())
}

fn micros(seconds: u32) -> Micros {
    i64::from(seconds) * 1_000_000
}
