//! The sprint goal: drafted, amended, committed; wordings suggested and adopted.

use super::guard::{opt_text, text, twice, Actor};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::SuggestionId;
use crate::domain::state::Goal;
use crate::domain::words::quoted;

pub(super) fn draft(a: &Actor, goal: &str) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    if a.state.goal.is_some() {
        return Err(DomainError::Invalid(
            "the goal is already drafted: amend it".into(),
        ));
    }
    text(goal, "goal", 1, limits::SHORT_TEXT)?;
    Ok(vec![Event::GoalDrafted {
        text: goal.trim().to_string(),
        by: a.me,
    }])
}

pub(super) fn amend(a: &Actor, goal: &str, note: &Option<String>) -> Result<Vec<Event>> {
    open_goal(a)?;
    text(goal, "goal", 1, limits::SHORT_TEXT)?;
    opt_text(note, "note", limits::SHORT_TEXT)?;
    Ok(vec![Event::GoalAmended {
        text: goal.trim().to_string(),
        note: note.clone(),
        suggestion: None,
        by: a.me,
    }])
}

pub(super) fn suggest(a: &mut Actor, wording: &str) -> Result<Vec<Event>> {
    a.need(&[Role::Facilitator, Role::Member])?;
    a.open_phase()?;
    if a.state.goal.as_ref().is_some_and(|g| g.committed) {
        return Err(DomainError::GoalAlreadyCommitted);
    }
    text(wording, "goal", 1, limits::SHORT_TEXT)?;
    let wording = wording.trim();
    let suggestions = &a.state.goal_suggestions;
    if suggestions.len() >= limits::GOAL_SUGGESTIONS {
        return Err(DomainError::OutOfRange {
            field: "goal suggestions",
            range: "at most 100 per planning",
        });
    }
    if suggestions.iter().any(|s| s.text == wording) {
        return Err(twice("goal suggestions", quoted(wording)));
    }
    Ok(vec![Event::GoalSuggested {
        suggestion: SuggestionId::from_random(a.random16()),
        text: wording.to_string(),
        by: a.me,
        at: a.now,
    }])
}

/// Adopting a suggestion is an amendment that names it, so the wording keeps its author.
pub(super) fn adopt(a: &Actor, suggestion: SuggestionId) -> Result<Vec<Event>> {
    open_goal(a)?;
    let s = a
        .state
        .goal_suggestions
        .iter()
        .find(|s| s.id == suggestion)
        .ok_or(DomainError::UnknownSuggestion(suggestion))?;
    if s.adopted {
        return Err(DomainError::AlreadyAdopted(suggestion));
    }
    Ok(vec![Event::GoalAmended {
        text: s.text.clone(),
        note: None,
        suggestion: Some(suggestion),
        by: a.me,
    }])
}

pub(super) fn commit(a: &Actor) -> Result<Vec<Event>> {
    let goal = open_goal(a)?;
    Ok(vec![committed(a, goal)])
}

/// The drafted goal, not committed yet, for the facilitator while the planning is open.
fn open_goal<'s>(a: &Actor<'s>) -> Result<&'s Goal> {
    a.facilitator()?;
    a.open_phase()?;
    let goal = a.state.goal.as_ref().ok_or(DomainError::NoGoal)?;
    if goal.committed {
        return Err(DomainError::GoalAlreadyCommitted);
    }
    Ok(goal)
}

/// The goal becomes final as it reads now.
pub(super) fn committed(a: &Actor, goal: &Goal) -> Event {
    Event::GoalCommitted {
        text: goal.text.clone(),
        by: a.me,
        at: a.now,
    }
}
