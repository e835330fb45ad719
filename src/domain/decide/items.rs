//! Items: proposed, edited, withdrawn, imported, ranked, carried over from the last planning.

use super::guard::{count, distinct_known, known_item, list, live_item, opt_text, text, Actor};
use super::{limits, Result};
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;
use crate::domain::state::{Item, State};
use crate::domain::words::quoted;
use std::collections::BTreeSet;

pub(super) fn propose(a: &mut Actor, draft: &ItemDraft) -> Result<Vec<Event>> {
    a.need(&[Role::Facilitator, Role::Member])?;
    a.open_phase()?;
    item_draft(a.state, draft)?;
    Ok(vec![Event::ItemProposed {
        item: ItemId::from_random(a.random16()),
        draft: draft.clone(),
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn edit(a: &Actor, item: ItemId, patch: &ItemPatch) -> Result<Vec<Event>> {
    let it = own_item(a, item)?;
    let mut d = it.draft.clone();
    patch.apply_to(&mut d);
    if d.dependencies.contains(&item) {
        return Err(DomainError::Invalid(
            "an item cannot depend on itself".into(),
        ));
    }
    item_draft(a.state, &d)?;
    if *patch == ItemPatch::default() {
        return Err(DomainError::Invalid("nothing to change".into()));
    }
    Ok(vec![Event::ItemEdited {
        item,
        patch: patch.clone(),
        by: a.me,
    }])
}

pub(super) fn withdraw(a: &Actor, item: ItemId, reason: &Option<String>) -> Result<Vec<Event>> {
    own_item(a, item)?;
    if a.state.open_round_of(item).is_some() {
        return Err(DomainError::ItemInOpenRound(item));
    }
    opt_text(reason, "reason", limits::SHORT_TEXT)?;
    Ok(vec![Event::ItemWithdrawn {
        item,
        reason: reason.clone(),
        by: a.me,
    }])
}

/// A withdrawn item comes back as it was when withdrawn, at its place in the backlog order; its
/// flag, agenda place and scope selection (cleared on withdrawal) are not brought back.
pub(super) fn restore(a: &Actor, item: ItemId) -> Result<Vec<Event>> {
    a.open_phase()?;
    let it = known_item(a.state, item)?;
    if !it.withdrawn {
        return Err(DomainError::Invalid("the item is not withdrawn".into()));
    }
    if a.role != Role::Facilitator && it.proposed_by != a.me {
        return Err(DomainError::Forbidden {
            needed: "the facilitator or the proposer",
        });
    }
    Ok(vec![Event::ItemRestored { item, by: a.me }])
}

/// A live item that the actor may change: the facilitator's, or its proposer's.
fn own_item<'s>(a: &Actor<'s>, item: ItemId) -> Result<&'s Item> {
    a.open_phase()?;
    let it = live_item(a.state, item)?;
    if a.role != Role::Facilitator && it.proposed_by != a.me {
        return Err(DomainError::Forbidden {
            needed: "the facilitator or the proposer",
        });
    }
    Ok(it)
}

pub(super) fn import(a: &mut Actor, drafts: &[ItemDraft], source: &str) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    text(source, "source", 1, limits::TITLE)?;
    count(drafts.len(), "items", 1, limits::IMPORT)?;
    for (n, d) in drafts.iter().enumerate() {
        item_draft(a.state, d).map_err(|e| DomainError::InEntry {
            index: n + 1,
            error: Box::new(e),
        })?;
    }
    let items = drafts
        .iter()
        .map(|d| NewItem {
            item: ItemId::from_random(a.random16()),
            draft: d.clone(),
        })
        .collect();
    Ok(vec![Event::ItemsImported {
        items,
        source: source.to_string(),
        by: a.me,
        at: a.now,
    }])
}

pub(super) fn rank(a: &Actor, order: &[ItemId]) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    distinct_known(a.state, order, "order")?;
    Ok(vec![Event::ItemsRanked {
        order: order.to_vec(),
        by: a.me,
    }])
}

pub(super) fn carry_over(
    a: &Actor,
    from_planning: PlanningId,
    items: &[NewItem],
) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.in_phase(&[Phase::Draft, Phase::Async])?;
    if Some(from_planning) == a.state.planning {
        return Err(DomainError::Invalid(
            "cannot carry items over from the same planning".into(),
        ));
    }
    count(items.len(), "items", 1, limits::IMPORT)?;
    let mut seen = BTreeSet::new();
    for n in items {
        if a.state.items.contains_key(&n.item) || !seen.insert(n.item) {
            return Err(DomainError::Invalid(format!(
                "{} is already in this planning",
                quoted(&n.draft.title)
            )));
        }
        let mut d = n.draft.clone();
        // Dependencies point into the previous planning; keep only those carried along.
        d.dependencies.clear();
        item_draft(a.state, &d)?;
    }
    let items = items
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.draft.dependencies.retain(|d| seen.contains(d));
            n
        })
        .collect();
    Ok(vec![Event::ItemsCarriedOver {
        from_planning,
        items,
        by: a.me,
        at: a.now,
    }])
}

/// Checks an item draft against the limits (and its dependencies against the state).
pub fn item_draft(state: &State, d: &ItemDraft) -> Result<()> {
    text(&d.title, "title", 1, limits::TITLE)?;
    text(&d.description, "description", 0, limits::TEXT)?;
    list(
        &d.acceptance_criteria,
        "acceptance criterion",
        limits::SHORT_TEXT,
    )?;
    list(&d.attachments, "attachment", limits::SHORT_TEXT * 4)?;
    list(&d.labels, "label", 50)?;
    opt_text(&d.external_key, "external_key", 100)?;
    count(d.dependencies.len(), "dependencies", 0, limits::LIST)?;
    for dep in &d.dependencies {
        known_item(state, *dep)?;
    }
    Ok(())
}
