//! Ambiguity before estimation: which items need the live discussion rather than an async
//! round, and why (pure, derived from the state; nothing stored).
//!
//! An item that is not withdrawn and has no agreed estimate **needs live discussion** when any
//! of these holds (each is a reason, in this order):
//! - `no_acceptance_criteria`: its draft lists none;
//! - `open_questions`: questions on it that are neither resolved nor answered (a deleted answer
//!   does not count; deleted questions do not count);
//! - `failing_readiness`: Definition-of-Ready criteria whose latest check failed, unless the
//!   facilitator overrode its readiness;
//! - `unresolved_dependencies`: items it depends on that are withdrawn or have no agreed
//!   estimate yet (the order between them is not settled).
//!
//! Votes on an ambiguous item mostly measure different readings of it, so the facilitator can
//! send it straight to the sync agenda (`SendToAgenda`) instead of opening an async round.

use super::event::CommentKind;
use super::ids::*;
use super::state::{Item, State};
use serde::{Deserialize, Serialize};

/// Why an item needs live discussion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DiscussionReason {
    NoAcceptanceCriteria,
    OpenQuestions { questions: Vec<CommentId> },
    FailingReadiness { criteria: Vec<CriterionId> },
    UnresolvedDependencies { items: Vec<ItemId> },
}

impl DiscussionReason {
    /// The reason's name, as on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            DiscussionReason::NoAcceptanceCriteria => "no_acceptance_criteria",
            DiscussionReason::OpenQuestions { .. } => "open_questions",
            DiscussionReason::FailingReadiness { .. } => "failing_readiness",
            DiscussionReason::UnresolvedDependencies { .. } => "unresolved_dependencies",
        }
    }
}

/// An item that needs live discussion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedsDiscussion {
    pub item: ItemId,
    pub title: String,
    pub reasons: Vec<DiscussionReason>,
}

/// The reasons an item needs live discussion (empty: async estimation is fine).
pub fn reasons(state: &State, item: &Item) -> Vec<DiscussionReason> {
    let mut out = Vec::new();
    if item.withdrawn || item.estimate.is_some() {
        return out;
    }
    if item.draft.acceptance_criteria.is_empty() {
        out.push(DiscussionReason::NoAcceptanceCriteria);
    }
    let questions = open_questions(state, Some(item.id));
    if !questions.is_empty() {
        out.push(DiscussionReason::OpenQuestions { questions });
    }
    if !item.readiness_overridden {
        let criteria = item.failing_criteria(&state.definition_of_ready);
        if !criteria.is_empty() {
            out.push(DiscussionReason::FailingReadiness { criteria });
        }
    }
    let items: Vec<ItemId> = item
        .draft
        .dependencies
        .iter()
        .filter(|d| {
            state
                .items
                .get(d)
                .is_none_or(|dep| dep.withdrawn || dep.estimate.is_none())
        })
        .copied()
        .collect();
    if !items.is_empty() {
        out.push(DiscussionReason::UnresolvedDependencies { items });
    }
    out
}

/// Questions (on `item`, or on any item and the planning itself when `None`) that are neither
/// deleted, resolved nor answered, oldest first.
pub fn open_questions(state: &State, item: Option<ItemId>) -> Vec<CommentId> {
    let mut qs: Vec<_> = state
        .comments
        .values()
        .filter(|c| c.kind == CommentKind::Question && !c.deleted && !c.resolved)
        .filter(|c| item.is_none() || c.item == item)
        .filter(|c| {
            !c.answers
                .iter()
                .any(|a| state.comments.get(a).is_some_and(|a| !a.deleted))
        })
        .map(|c| (c.at, c.id))
        .collect();
    qs.sort();
    qs.into_iter().map(|(_, id)| id).collect()
}

/// Every item that needs live discussion, in backlog order.
pub fn needs_discussion(state: &State) -> Vec<NeedsDiscussion> {
    state
        .ranked_items()
        .filter_map(|it| {
            let reasons = reasons(state, it);
            (!reasons.is_empty()).then(|| NeedsDiscussion {
                item: it.id,
                title: it.draft.title.clone(),
                reasons,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::{
        AgreeEstimates, ChangePhase, CheckReadiness, CreatePlanning, Join, OverrideReadiness,
        PostComment, ProposeItem, SetDefinitionOfReady,
    };
    use crate::domain::command::{AgreedEstimate, Command};
    use crate::domain::event::{Event, ItemDraft, Micros, Phase};
    use uuid::Uuid;

    const FAC: ParticipantId = ParticipantId(Uuid::from_u128(1));
    const ANN: ParticipantId = ParticipantId(Uuid::from_u128(2));

    use crate::domain::decide::testing::run;

    fn item(s: &mut State, now: Micros, draft: ItemDraft) -> ItemId {
        let ev = run(s, FAC, now, Command::ProposeItem(ProposeItem { draft }));
        match &ev[0] {
            Event::ItemProposed { item, .. } => *item,
            e => panic!("{e:?}"),
        }
    }

    fn draft(title: &str, ac: &[&str], deps: &[ItemId]) -> ItemDraft {
        ItemDraft {
            title: title.into(),
            acceptance_criteria: ac.iter().map(|s| s.to_string()).collect(),
            dependencies: deps.to_vec(),
            ..ItemDraft::default()
        }
    }

    /// A worked example: "Export" is clear; "Import" has no acceptance criteria and depends on
    /// "Export" (not estimated yet); "Search" has an open question and fails "designs linked".
    #[test]
    fn the_rule_on_a_worked_example() {
        let mut s = State::default();
        run(
            &mut s,
            FAC,
            1,
            Command::CreatePlanning(CreatePlanning {
                title: "S".into(),
                creator_name: "Fay".into(),
                creator_token_hash: "1".repeat(64),
                deck: None,
                policy: None,
                member_invite_hash: "2".repeat(64),
                observer_invite_hash: "3".repeat(64),
            }),
        );
        run(
            &mut s,
            ANN,
            2,
            Command::Join(Join {
                name: "Ann".into(),
                invite_hash: "2".repeat(64),
                token_hash: "4".repeat(64),
            }),
        );
        run(
            &mut s,
            FAC,
            3,
            Command::SetDefinitionOfReady(SetDefinitionOfReady {
                criteria: vec!["designs linked".into()],
            }),
        );
        let crit = s.definition_of_ready[0].id;
        let export = item(&mut s, 4, draft("Export", &["CSV downloads"], &[]));
        let import = item(&mut s, 5, draft("Import", &[], &[export]));
        let search = item(&mut s, 6, draft("Search", &["finds by title"], &[]));
        let q = run(
            &mut s,
            ANN,
            7,
            Command::PostComment(PostComment {
                item: Some(search),
                kind: CommentKind::Question,
                parent: None,
                addressee: None,
                text: "fuzzy?".into(),
            }),
        );
        let Event::CommentPosted { comment: q, .. } = q[0] else {
            panic!()
        };
        run(
            &mut s,
            ANN,
            8,
            Command::CheckReadiness(CheckReadiness {
                item: search,
                criterion: crit,
                ok: false,
                note: None,
            }),
        );

        let found = needs_discussion(&s);
        assert_eq!(
            found
                .iter()
                .map(|n| (n.item, n.reasons.clone()))
                .collect::<Vec<_>>(),
            vec![
                (
                    import,
                    vec![
                        DiscussionReason::NoAcceptanceCriteria,
                        DiscussionReason::UnresolvedDependencies {
                            items: vec![export]
                        }
                    ]
                ),
                (
                    search,
                    vec![
                        DiscussionReason::OpenQuestions { questions: vec![q] },
                        DiscussionReason::FailingReadiness {
                            criteria: vec![crit]
                        }
                    ]
                ),
            ]
        );

        // An answer settles the question; an override settles readiness; an agreed estimate on
        // "Export" settles the dependency. Criteria still missing keep "Import" on the list.
        run(
            &mut s,
            FAC,
            9,
            Command::PostComment(PostComment {
                item: Some(search),
                kind: CommentKind::Answer,
                parent: Some(q),
                addressee: None,
                text: "no".into(),
            }),
        );
        run(
            &mut s,
            FAC,
            10,
            Command::OverrideReadiness(OverrideReadiness {
                item: search,
                reason: "designs next week".into(),
            }),
        );
        run(
            &mut s,
            FAC,
            11,
            Command::ChangePhase(ChangePhase { to: Phase::Async }),
        );
        run(
            &mut s,
            FAC,
            12,
            Command::AgreeEstimates(AgreeEstimates {
                estimates: vec![AgreedEstimate {
                    item: export,
                    card: "3".into(),
                }],
            }),
        );
        let found = needs_discussion(&s);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].item, import);
        assert_eq!(
            found[0].reasons,
            vec![DiscussionReason::NoAcceptanceCriteria]
        );
        // Estimated items are never listed.
        assert!(reasons(&s, &s.items[&export]).is_empty());
    }
}
