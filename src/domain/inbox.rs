//! The personal inbox and "who hasn't voted", derived from the state (pure, nothing stored).
//!
//! Nothing here is pushed as a personal frame: `GET /api/plannings/{id}/inbox` serves it
//! computed by the server (documented in `docs/protocol.md`), and the web client reads it
//! there rather than repeating these rules.
//!
//! - **pending votes** (members only): every item of every open round whose deadline has not
//!   passed that I have not voted on, with the deadline, soonest first;
//! - **questions for me**: questions addressed to me, not deleted, not resolved, without an
//!   answer (deleted answers do not count);
//! - **flagged by me**: items (not withdrawn) whose current flag I raised by hand (`manual`;
//!   flags raised by the divergence policy are nobody's, even if my vote closed the round);
//! - **reminders**: the reminders the server sent me (`ReminderSent`) for open rounds whose
//!   deadline has not passed and where I still owe a vote;
//! - **rounds**: per open round, the members who have not voted on all of its items. This is
//!   public: every participant sees who hasn't voted, never what anyone voted.

use super::event::{CommentKind, Micros, Role};
use super::ids::*;
use super::policy::FlagReason;
use super::state::State;
use serde::Serialize;

/// A vote I still owe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingVote {
    pub round: RoundId,
    pub item: ItemId,
    pub title: String,
    pub deadline: Micros,
}

/// A question waiting for my answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenQuestion {
    pub comment: CommentId,
    pub item: Option<ItemId>,
    pub by: ParticipantId,
    pub text: String,
    pub at: Micros,
}

/// An item I flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MyFlag {
    pub item: ItemId,
    pub title: String,
    pub reason: FlagReason,
    pub note: Option<String>,
}

/// A reminder the server sent me about a round I still owe votes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboxReminder {
    pub round: RoundId,
    pub deadline: Micros,
    /// When it was sent.
    pub at: Micros,
}

/// An open round and who still has to vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundStatus {
    pub round: RoundId,
    pub items: Vec<ItemId>,
    pub deadline: Micros,
    pub live: bool,
    /// Active members who have not voted on every item of the round.
    pub not_voted: Vec<ParticipantId>,
}

/// One participant's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inbox {
    pub participant: ParticipantId,
    pub pending_votes: Vec<PendingVote>,
    pub questions: Vec<OpenQuestion>,
    pub flagged: Vec<MyFlag>,
    pub reminders: Vec<InboxReminder>,
    pub rounds: Vec<RoundStatus>,
}

/// The inbox of `me` at time `now`.
pub fn inbox(state: &State, me: ParticipantId, now: Micros) -> Inbox {
    let is_member = state
        .participant(me)
        .is_some_and(|p| p.role == Role::Member);
    let open_rounds: Vec<_> = state
        .round_order
        .iter()
        .filter_map(|r| state.rounds.get(r))
        .filter(|r| r.is_open())
        .collect();

    let mut pending_votes = Vec::new();
    if is_member {
        for r in open_rounds.iter().filter(|r| now < r.deadline) {
            for item in &r.items {
                let voted = r.votes.get(item).is_some_and(|v| v.contains_key(&me));
                if !voted {
                    pending_votes.push(PendingVote {
                        round: r.id,
                        item: *item,
                        title: state
                            .items
                            .get(item)
                            .map(|i| i.draft.title.clone())
                            .unwrap_or_default(),
                        deadline: r.deadline,
                    });
                }
            }
        }
        // Stable: within a deadline, rounds in opening order and items in round order.
        pending_votes.sort_by_key(|p| p.deadline);
    }

    let mut questions: Vec<OpenQuestion> = state
        .comments
        .values()
        .filter(|c| {
            c.kind == CommentKind::Question
                && c.addressee == Some(me)
                && !c.deleted
                && !c.resolved
                && !c
                    .answers
                    .iter()
                    .any(|a| state.comments.get(a).is_some_and(|a| !a.deleted))
        })
        .map(|c| OpenQuestion {
            comment: c.id,
            item: c.item,
            by: c.by,
            text: c.text.clone(),
            at: c.at,
        })
        .collect();
    questions.sort_by_key(|q| q.at);

    let flagged = state
        .ranked_items()
        .filter_map(|it| {
            let f = it
                .flag
                .as_ref()
                .filter(|f| f.by == me && f.reason == FlagReason::Manual)?;
            Some(MyFlag {
                item: it.id,
                title: it.draft.title.clone(),
                reason: f.reason,
                note: f.note.clone(),
            })
        })
        .collect();

    let reminders = state
        .reminder_log
        .iter()
        .filter(|r| r.participant == me)
        .filter_map(|r| {
            let round = r.round?;
            let owed = pending_votes.iter().find(|p| p.round == round)?;
            Some(InboxReminder {
                round,
                deadline: owed.deadline,
                at: r.at,
            })
        })
        .collect();

    let rounds = open_rounds
        .iter()
        .map(|r| RoundStatus {
            round: r.id,
            items: r.items.clone(),
            deadline: r.deadline,
            live: r.live,
            not_voted: state.not_voted(r),
        })
        .collect();

    Inbox {
        participant: me,
        pending_votes,
        questions,
        flagged,
        reminders,
        rounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::Command;
    use crate::domain::command::{
        CastVote, ChangePhase, CreatePlanning, FlagItem, ImportItems, Join, OpenRound, PostComment,
    };
    use crate::domain::event::ItemDraft;
    use uuid::Uuid;

    const H: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn p(n: u128) -> ParticipantId {
        ParticipantId(Uuid::from_u128(n))
    }

    use crate::domain::decide::testing::run;

    fn hash(c: char) -> String {
        c.to_string().repeat(64)
    }

    #[test]
    fn pending_votes_questions_flags_and_not_voted() {
        let (fac, ann, bob) = (p(1), p(2), p(3));
        let mut s = State::default();
        run(
            &mut s,
            fac,
            1,
            Command::CreatePlanning(CreatePlanning {
                title: "S".into(),
                creator_name: "Fran".into(),
                creator_token_hash: H.into(),
                deck: None,
                policy: None,
                member_invite_hash: hash('b'),
                observer_invite_hash: hash('c'),
            }),
        );
        for (who, tok) in [(ann, 'd'), (bob, 'e')] {
            run(
                &mut s,
                who,
                2,
                Command::Join(Join {
                    name: format!("M{tok}"),
                    invite_hash: hash('b'),
                    token_hash: hash(tok),
                }),
            );
        }
        let draft = |t: &str| ItemDraft {
            title: t.into(),
            description: String::new(),
            acceptance_criteria: vec![],
            attachments: vec![],
            dependencies: vec![],
            labels: vec![],
            external_key: None,
        };
        run(
            &mut s,
            fac,
            3,
            Command::ImportItems(ImportItems {
                items: vec![draft("a"), draft("b"), draft("c")],
                source: "csv".into(),
            }),
        );
        let items: Vec<ItemId> = s.rank.clone();
        run(
            &mut s,
            fac,
            4,
            Command::ChangePhase(ChangePhase {
                to: crate::domain::Phase::Async,
            }),
        );
        run(
            &mut s,
            fac,
            5,
            Command::OpenRound(OpenRound {
                items: items[..2].to_vec(),
                deck: None,
                deadline: Some(1_000),
            }),
        );
        let round = s.round_order[0];
        run(
            &mut s,
            ann,
            6,
            Command::CastVote(CastVote {
                round,
                item: items[0],
                card: "5".into(),
            }),
        );
        run(
            &mut s,
            ann,
            7,
            Command::PostComment(PostComment {
                item: Some(items[0]),
                kind: CommentKind::Question,
                parent: None,
                addressee: Some(bob),
                text: "why?".into(),
            }),
        );
        run(
            &mut s,
            bob,
            8,
            Command::FlagItem(FlagItem {
                item: items[2],
                note: Some("too big".into()),
            }),
        );

        let a = inbox(&s, ann, 10);
        assert_eq!(a.pending_votes.len(), 1);
        assert_eq!(a.pending_votes[0].item, items[1]);
        assert_eq!(a.pending_votes[0].deadline, 1_000);
        assert!(a.questions.is_empty() && a.flagged.is_empty());
        assert_eq!(a.rounds.len(), 1);
        assert_eq!(a.rounds[0].not_voted, {
            let mut v = vec![ann, bob];
            v.sort();
            v
        });

        let b = inbox(&s, bob, 10);
        assert_eq!(b.pending_votes.len(), 2);
        assert_eq!(b.questions.len(), 1);
        assert_eq!(b.questions[0].by, ann);
        assert_eq!(b.flagged.len(), 1);
        assert_eq!(b.flagged[0].reason, FlagReason::Manual);

        // The facilitator owes no votes; after the deadline nobody does.
        assert!(inbox(&s, fac, 10).pending_votes.is_empty());
        assert!(inbox(&s, bob, 1_000).pending_votes.is_empty());

        // An answer takes the question out of the inbox.
        let q = b.questions[0].comment;
        run(
            &mut s,
            bob,
            11,
            Command::PostComment(PostComment {
                item: None,
                kind: CommentKind::Answer,
                parent: Some(q),
                addressee: None,
                text: "because".into(),
            }),
        );
        assert!(inbox(&s, bob, 12).questions.is_empty());
    }
}
