//! The catch-up digest: "since you last looked" — what others changed after a seq, grouped by
//! item, as JSON or Markdown. Lines come from the timeline's summaries, so a digest never shows
//! a sealed vote.

use crate::domain::event::Event;
use crate::domain::ids::{ItemId, ParticipantId};
use crate::domain::state::State;
use crate::read::timeline;
use crate::read::Envelope;
use serde::Serialize;
use std::collections::BTreeMap;

/// Changes to one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChanges {
    pub item: ItemId,
    pub title: String,
    pub changes: Vec<String>,
}

/// What changed since `since`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Digest {
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
/// schedule and policy tweaks are noise for someone catching up).
fn notable(e: &Event) -> bool {
    use Event::*;
    matches!(
        e,
        ItemProposed { .. }
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

/// The last seq at which `who` did something (0 if never).
pub fn last_activity(log: &[Envelope], who: ParticipantId) -> i64 {
    log.iter()
        .rev()
        .find(|s| s.actor == who)
        .map(|s| s.seq)
        .unwrap_or(0)
}

/// Builds the digest of `log` events after `since`, leaving out the viewer's own actions.
pub fn build(log: &[Envelope], state: &State, viewer: ParticipantId, since: i64) -> Digest {
    let mut goal = Vec::new();
    let mut planning = Vec::new();
    let mut per_item: BTreeMap<ItemId, Vec<String>> = BTreeMap::new();
    for s in log.iter().filter(|s| s.seq > since) {
        let e = &s.event;
        if s.actor == viewer || !notable(e) {
            continue;
        }
        let line = timeline::summary(s.actor, e, state);
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
    let mut out = format!(
        "# Since you last looked (events {}–{})\n",
        d.since.saturating_add(1),
        d.head
    );
    if d.goal.is_empty() && d.items.is_empty() && d.planning.is_empty() {
        out.push_str("\nNothing new.\n");
        time_section(&mut out, d);
        return out;
    }
    let list = |out: &mut String, lines: &[String]| {
        for l in lines {
            out.push_str(&format!("- {}\n", l.replace('\n', " ")));
        }
    };
    if !d.goal.is_empty() {
        out.push_str("\n## Goal\n\n");
        list(&mut out, &d.goal);
    }
    for it in &d.items {
        out.push_str(&format!("\n## {}\n\n", it.title.replace('\n', " ")));
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
