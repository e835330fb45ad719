//! Review: comments, questions and answers, and readiness against the Definition of Ready.

use super::guard::{
    active, count, known_item, live_comment, live_item, opt_text, text, twice, Actor,
};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;
use crate::domain::words::quoted;
use std::collections::BTreeSet;

/// Where a new comment goes and what it is.
pub(super) struct NewComment<'c> {
    pub item: Option<ItemId>,
    pub kind: CommentKind,
    pub parent: Option<CommentId>,
    pub addressee: Option<ParticipantId>,
    pub text: &'c str,
}

pub(super) fn post(a: &mut Actor, c: NewComment<'_>) -> Result<Vec<Event>> {
    if let Some(i) = c.item {
        known_item(a.state, i)?;
    }
    if let Some(p) = c.parent {
        let pc = live_comment(a.state, p)?;
        if c.kind == CommentKind::Answer && pc.kind != CommentKind::Question {
            return Err(DomainError::NotAQuestion(p));
        }
    } else if c.kind == CommentKind::Answer {
        return Err(DomainError::Invalid(
            "an answer needs the question as parent".into(),
        ));
    }
    if let Some(p) = c.addressee {
        active(a.state, p)?;
    }
    text(c.text, "text", 1, limits::TEXT)?;
    Ok(vec![Event::CommentPosted {
        comment: CommentId::from_random(a.random16()),
        item: c.item,
        kind: c.kind,
        parent: c.parent,
        addressee: c.addressee,
        text: c.text.to_string(),
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn edit(a: &Actor, comment: CommentId, t: &str) -> Result<Vec<Event>> {
    let c = live_comment(a.state, comment)?;
    if c.by != a.me {
        return Err(DomainError::Forbidden {
            needed: "the author",
        });
    }
    text(t, "text", 1, limits::TEXT)?;
    Ok(vec![Event::CommentEdited {
        comment,
        text: t.to_string(),
        by: a.me,
    }])
}

pub(super) fn delete(a: &Actor, comment: CommentId) -> Result<Vec<Event>> {
    let c = live_comment(a.state, comment)?;
    if c.by != a.me && a.role != Role::Facilitator {
        return Err(DomainError::Forbidden {
            needed: "the author or the facilitator",
        });
    }
    Ok(vec![Event::CommentDeleted { comment, by: a.me }])
}

pub(super) fn resolve(a: &Actor, comment: CommentId) -> Result<Vec<Event>> {
    let c = live_comment(a.state, comment)?;
    if c.kind != CommentKind::Question {
        return Err(DomainError::NotAQuestion(comment));
    }
    if c.by != a.me && c.addressee != Some(a.me) && a.role != Role::Facilitator {
        return Err(DomainError::Forbidden {
            needed: "the asker, the addressee or the facilitator",
        });
    }
    if c.resolved {
        return Err(DomainError::Invalid(
            "the question is already resolved".into(),
        ));
    }
    Ok(vec![Event::QuestionResolved { comment, by: a.me }])
}

pub(super) fn check_readiness(
    a: &Actor,
    item: ItemId,
    criterion: CriterionId,
    ok: bool,
    note: &Option<String>,
) -> Result<Vec<Event>> {
    a.need(&[Role::Facilitator, Role::Member])?;
    a.open_phase()?;
    live_item(a.state, item)?;
    if !a
        .state
        .definition_of_ready
        .iter()
        .any(|c| c.id == criterion)
    {
        return Err(DomainError::UnknownCriterion(criterion));
    }
    opt_text(note, "note", limits::SHORT_TEXT)?;
    Ok(vec![Event::ReadinessChecked {
        item,
        criterion,
        ok,
        note: note.clone(),
        by: a.me,
    }])
}

pub(super) fn set_definition_of_ready(a: &mut Actor, criteria: &[String]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    count(criteria.len(), "criteria", 0, limits::CRITERIA)?;
    let mut seen = BTreeSet::new();
    for c in criteria {
        text(c, "criterion", 1, limits::SHORT_TEXT)?;
        // Ids follow texts: a text twice would be one criterion id listed twice.
        if !seen.insert(c.trim()) {
            return Err(twice("criteria", quoted(c.trim())));
        }
    }
    // A criterion keeps its id (and its checks) when its text is kept.
    let criteria = criteria
        .iter()
        .map(|t| {
            let t = t.trim().to_string();
            let kept = a.state.definition_of_ready.iter().find(|c| c.text == t);
            let id = match kept {
                Some(c) => c.id,
                None => CriterionId::from_random(a.random16()),
            };
            Criterion { id, text: t }
        })
        .collect();
    Ok(vec![Event::DefinitionOfReadySet { criteria, by: a.me }])
}

pub(super) fn override_readiness(a: &Actor, item: ItemId, reason: &str) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    live_item(a.state, item)?;
    text(reason, "reason", 1, limits::SHORT_TEXT)?;
    Ok(vec![Event::ReadinessOverridden {
        item,
        reason: reason.to_string(),
        by: a.me,
    }])
}
