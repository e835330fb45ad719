//! The catch-up digest: "since you last looked" — what others changed after a seq, grouped by
//! item, as JSON or Markdown. Lines come from the timeline's summaries, so a digest never shows
//! a sealed vote.

use crate::domain::event::Event;
use crate::domain::ids::{ItemId, ParticipantId};
use crate::domain::state::State;
use crate::domain::words;
use crate::read::timeline;
use crate::read::Envelope;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Changes to one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChanges {
    pub item: ItemId,
    pub title: String,
    pub changes: Vec<String>,
    /// It left the sprint in these events: withdrawn, sent back to refinement, or left out
    /// of the committed scope.
    pub dropped: bool,
}

/// What changed since `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
    /// `0`: the story from the start (a newcomer's catch-up).
    pub since: i64,
    pub head: i64,
    /// Goal drafts, suggestions, amendments (an adopted suggestion names its author) and
    /// commitment.
    pub goal: Vec<String>,
    /// New items, questions and answers, reveals, flags, estimates — per item, backlog order.
    pub items: Vec<ItemChanges>,
    /// Phase changes, the live session and the path of its focus, coin flips, the scope draft
    /// and the commitment.
    pub planning: Vec<String>,
    /// The whole planning's time well spent (not only since `since`), see [`crate::read::time_spent`].
    pub time_well_spent: crate::read::time_spent::TimeWellSpent,
}

/// Whether an event is worth a line in a digest (votes themselves, renames, edits of comments,
/// schedule and policy tweaks are noise for someone catching up). The creation opens the story
/// a newcomer reads.
fn notable(e: &Event) -> bool {
    use Event::*;
    matches!(
        e,
        PlanningCreated { .. }
            | ItemProposed { .. }
            | ItemsImported { .. }
            | ItemsCarriedOver { .. }
            | ItemWithdrawn { .. }
            | ItemRestored { .. }
            | ItemEdited { .. }
            | CommentPosted { .. }
            | QuestionResolved { .. }
            | ReadinessChecked { ok: false, .. }
            | RoundOpened { .. }
            | RevoteOpened { .. }
            | VotesRevealed { .. }
            | ItemFlagged { .. }
            | FlagCleared { .. }
            | ItemSentToAgenda { .. }
            | EstimateProposed { .. }
            | EstimateAgreed { .. }
            | GoalDrafted { .. }
            | GoalAmended { .. }
            | GoalSuggested { .. }
            | FocusSet { .. }
            | ItemReturnedToRefinement { .. }
            | ScopeDrafted { .. }
            | GoalCommitted { .. }
            | PhaseChanged { .. }
            | SyncStarted { .. }
            | SyncEnded { .. }
            | CoinFlipped { .. }
            | ScopeCommitted { .. }
            | ParticipantJoined { .. }
    )
}

/// The last seq at which `who` did something other than join (0 if never: someone who only
/// just joined is told the story from the start, not "nothing new").
pub fn last_activity(log: &[Envelope], who: ParticipantId) -> i64 {
    log.iter()
        .rev()
        .find(|s| s.actor == who && !matches!(s.event, Event::ParticipantJoined { .. }))
        .map(|s| s.seq)
        .unwrap_or(0)
}

/// The items an event takes out of the sprint: the withdrawn one, the one sent back to
/// refinement, the candidates a committed scope leaves out.
fn dropped_by(e: &Event, state: &State) -> Vec<ItemId> {
    match e {
        Event::ItemWithdrawn { item, .. } | Event::ItemReturnedToRefinement { item, .. } => {
            vec![*item]
        }
        Event::ScopeCommitted { items, .. } => state
            .rank
            .iter()
            .filter(|i| !items.contains(i))
            .filter(|i| state.items.get(i).is_some_and(|it| !it.withdrawn))
            .copied()
            .collect(),
        _ => Vec::new(),
    }
}

/// Builds the digest of `log` events after `since`, leaving out the viewer's own actions.
pub fn build(log: &[Envelope], state: &State, viewer: ParticipantId, since: i64) -> Digest {
    let mut goal = Vec::new();
    let mut planning = Vec::new();
    let mut per_item: BTreeMap<ItemId, Vec<String>> = BTreeMap::new();
    let mut dropped: BTreeSet<ItemId> = BTreeSet::new();
    for s in log.iter().filter(|s| s.seq > since) {
        let e = &s.event;
        // A rule-made step set off by the viewer's own vote is still news to them.
        if (s.actor == viewer && !timeline::by_rule(e)) || !notable(e) {
            continue;
        }
        let line = timeline::summary(s.actor, e, state);
        for i in dropped_by(e, state) {
            if dropped.insert(i) && matches!(e, Event::ScopeCommitted { .. }) {
                per_item
                    .entry(i)
                    .or_default()
                    .push("left out of the sprint at the commitment".into());
            }
        }
        match e {
            Event::GoalDrafted { .. }
            | Event::GoalAmended { .. }
            | Event::GoalSuggested { .. }
            | Event::GoalCommitted { .. } => goal.push(line),
            _ => {
                let items = timeline::items_of(e);
                // The focus's path and the scope are the meeting's, read in order.
                let whole = matches!(
                    e,
                    Event::ScopeCommitted { .. }
                        | Event::ScopeDrafted { .. }
                        | Event::FocusSet { .. }
                );
                if items.is_empty() || whole {
                    planning.push(line);
                } else {
                    for i in items {
                        per_item.entry(i).or_default().push(line.clone());
                    }
                }
            }
        }
    }
    let mut items = Vec::new();
    for id in state.rank.iter() {
        if let Some(changes) = per_item.remove(id) {
            items.push(ItemChanges {
                item: *id,
                title: state
                    .items
                    .get(id)
                    .map(|i| i.draft.title.clone())
                    .unwrap_or_default(),
                changes,
                dropped: dropped.contains(id),
            });
        }
    }
    Digest {
        since,
        head: log.last().map(|s| s.seq).unwrap_or(0),
        goal,
        items,
        planning,
        time_well_spent: crate::read::time_spent::build(log.iter().map(|s| &s.event), state),
    }
}

/// The digest as Markdown.
pub fn markdown(d: &Digest) -> String {
    // `since` comes from the query string: any i64 (saturating, never an overflow panic).
    let mut out = if d.since == 0 {
        format!(
            "# The story so far ({})\n",
            words::plural(d.head.max(0) as usize, "event", "events")
        )
    } else {
        format!(
            "# Since you last looked (events {}–{})\n",
            d.since.saturating_add(1),
            d.head
        )
    };
    if d.goal.is_empty() && d.items.is_empty() && d.planning.is_empty() {
        out.push_str("\nNothing new from the others.\n");
        time_section(&mut out, d);
        return out;
    }
    let list = |out: &mut String, lines: &[String]| {
        for l in lines {
            out.push_str(&format!("- {}\n", crate::read::md_text(l)));
        }
    };
    if !d.goal.is_empty() {
        out.push_str("\n## Goal\n\n");
        list(&mut out, &d.goal);
    }
    for it in &d.items {
        let out_of = if it.dropped {
            " (out of the sprint)"
        } else {
            ""
        };
        out.push_str(&format!(
            "\n## {}{out_of}\n\n",
            crate::read::md_text(&it.title)
        ));
        list(&mut out, &it.changes);
    }
    if !d.planning.is_empty() {
        out.push_str("\n## Planning\n\n");
        list(&mut out, &d.planning);
    }
    time_section(&mut out, d);
    out
}

/// "Time well spent", once a live session was held (before that it says nothing new).
fn time_section(out: &mut String, d: &Digest) {
    if !d.time_well_spent.sessions.is_empty() {
        out.push_str("\n## Time well spent\n\n");
        out.push_str(&crate::read::time_spent::markdown(&d.time_well_spent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::ItemDraft;
    use crate::domain::fixed::Fixed2;
    use uuid::Uuid;

    /// Items that left the sprint since `since` are marked dropped: sent back to refinement, or
    /// left out of the committed scope (with a line saying so); the commitment itself is the
    /// planning's line, the committed item no change of its own.
    #[test]
    fn items_out_of_the_sprint_are_marked_dropped() {
        let fran = ParticipantId(Uuid::from_u128(1));
        let ann = ParticipantId(Uuid::from_u128(9));
        let item = |n| ItemId(Uuid::from_u128(n));
        let mut events: Vec<Event> = ["Login", "Export", "Search"]
            .iter()
            .zip(2..)
            .map(|(t, n)| Event::ItemProposed {
                item: item(n),
                draft: ItemDraft {
                    title: (*t).into(),
                    ..Default::default()
                },
                by: fran,
                at: 0,
            })
            .collect();
        events.push(Event::ItemReturnedToRefinement {
            item: item(3),
            note: None,
            by: fran,
            at: 0,
        });
        events.push(Event::ScopeCommitted {
            items: vec![item(2)],
            points: Fixed2::ZERO,
            capacity: Fixed2::ZERO,
            over_capacity_confirmed: false,
            by: fran,
            at: 0,
        });
        let log: Vec<Envelope> = events
            .into_iter()
            .zip(1..)
            .map(|(event, seq)| Envelope {
                seq,
                id: Uuid::from_u128(seq as u128),
                actor: fran,
                at: 0,
                event,
            })
            .collect();
        let state = State::replay(log.iter().map(|e| &e.event));
        let d = build(&log, &state, ann, 3);
        let dropped: Vec<(&str, bool)> = d
            .items
            .iter()
            .map(|i| (i.title.as_str(), i.dropped))
            .collect();
        assert_eq!(dropped, [("Export", true), ("Search", true)]);
        assert_eq!(d.planning.len(), 1, "{:?}", d.planning);
        assert_eq!(
            d.items[1].changes,
            ["left out of the sprint at the commitment"]
        );
        assert!(markdown(&d).contains("\n## Search (out of the sprint)\n"));
        // The viewer's own commitment is no news to them, nor what it left out.
        assert!(build(&log, &state, fran, 3).items.is_empty());
    }
}
