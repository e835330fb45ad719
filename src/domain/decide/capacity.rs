//! Capacity: who is available how much, and the team's velocity.

use super::guard::{active, opt_text, Actor};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::fixed::Fixed2;
use crate::domain::ids::*;

/// One declaration of availability.
pub(super) struct Availability<'c> {
    pub participant: Option<ParticipantId>,
    pub available_days: Fixed2,
    pub focus_factor: Fixed2,
    pub notes: &'c Option<String>,
}

pub(super) fn declare(a: &Actor, c: Availability<'_>) -> Result<Vec<Event>> {
    a.need(&[Role::Facilitator, Role::Member])?;
    a.open_phase()?;
    let target = c.participant.unwrap_or(a.me);
    if target != a.me {
        a.facilitator()?;
    }
    if active(a.state, target)?.role == Role::Observer {
        return Err(DomainError::Invalid("observers have no capacity".into()));
    }
    if c.available_days < Fixed2::ZERO || c.available_days > Fixed2::from_int(limits::MAX_DAYS) {
        return Err(DomainError::OutOfRange {
            field: "available_days",
            range: "0 to 366",
        });
    }
    if c.focus_factor < Fixed2::ZERO || c.focus_factor > Fixed2::ONE {
        return Err(DomainError::OutOfRange {
            field: "focus_factor",
            range: "0 to 1",
        });
    }
    opt_text(c.notes, "notes", limits::SHORT_TEXT)?;
    Ok(vec![Event::CapacityDeclared {
        participant: target,
        available_days: c.available_days,
        focus_factor: c.focus_factor,
        notes: c.notes.clone(),
        by: a.me,
    }])
}

pub(super) fn set_velocity(a: &Actor, points_per_day: Fixed2) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    if points_per_day <= Fixed2::ZERO || points_per_day > Fixed2::from_int(1000) {
        return Err(DomainError::OutOfRange {
            field: "points_per_day",
            range: "above 0 and at most 1000",
        });
    }
    Ok(vec![Event::VelocitySet {
        points_per_day,
        by: a.me,
    }])
}
