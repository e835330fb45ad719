//! The sprint goal: drafted, amended, committed.

use super::guard::{opt_text, text, Actor};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::state::Goal;

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
