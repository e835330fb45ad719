//! The async readiness report: is async prep likely to work for this planning, or should the
//! team keep the live meeting? Pure, derived from the state (nothing stored).
//!
//! Figures (each a share `count` of `of`, with a whole `percent` rounded down, absent when
//! `of` is 0):
//! - **items ready**: of the items still to estimate (not withdrawn, no agreed estimate), those
//!   that need no live discussion (see [`super::discussion`]);
//! - **unanswered questions**: of all questions not deleted, those neither resolved nor
//!   answered;
//! - **participation**: over the last [`LAST_ROUNDS`] closed async rounds, the active members
//!   who voted on at least one item of a round, of the active members in each round;
//! - **votes before the deadline**: over the same rounds, the votes that were in when the round
//!   closed (the domain refuses late votes) of the votes expected (members × items).
//!
//! Async prep is judged likely to work when at least [`READY_PERCENT`] of the items are ready,
//! at most [`UNANSWERED_PERCENT`] of the questions are unanswered, and — once there are closed
//! rounds — participation and votes before the deadline reach [`VOTES_PERCENT`]. Otherwise the
//! plain advice is to keep the live meeting, with the reasons.

use super::event::Role;
use super::ids::RoundId;
use super::state::State;
use serde::Serialize;

/// How many of the most recent closed async rounds count.
pub const LAST_ROUNDS: usize = 3;
/// Least share of ready items for async prep.
pub const READY_PERCENT: u32 = 80;
/// Largest share of unanswered questions for async prep.
pub const UNANSWERED_PERCENT: u32 = 20;
/// Least participation and share of votes in by the deadline.
pub const VOTES_PERCENT: u32 = 70;

/// `count` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Share {
    pub count: u32,
    pub of: u32,
    /// `count × 100 / of`, rounded down; `None` when `of` is 0.
    pub percent: Option<u32>,
}

impl Share {
    pub fn new(count: usize, of: usize) -> Share {
        let (count, of) = (count as u32, of as u32);
        Share {
            count,
            of,
            percent: (of > 0).then(|| (u64::from(count) * 100 / u64::from(of)) as u32),
        }
    }
}

/// One counted round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundTurnout {
    pub round: RoundId,
    pub members_voted: Share,
    pub votes: Share,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub items_ready: Share,
    pub questions_unanswered: Share,
    pub participation: Share,
    pub votes_before_deadline: Share,
    /// The rounds counted, most recent first.
    pub rounds: Vec<RoundTurnout>,
    pub async_likely_to_work: bool,
    /// The plain advice: keep the live meeting when async prep is not likely to work.
    pub keep_live_meeting: bool,
    pub advice: String,
    /// Why, one line each (empty when async prep looks fine).
    pub concerns: Vec<String>,
}

/// The readiness report of a planning.
pub fn report(state: &State) -> Readiness {
    let to_estimate: Vec<_> = state
        .ranked_items()
        .filter(|i| i.estimate.is_none())
        .collect();
    let ready = to_estimate
        .iter()
        .filter(|i| super::discussion::reasons(state, i).is_empty())
        .count();
    let items_ready = Share::new(ready, to_estimate.len());

    let questions = state
        .comments
        .values()
        .filter(|c| c.kind == super::event::CommentKind::Question && !c.deleted)
        .count();
    let unanswered = super::discussion::open_questions(state, None).len();
    let questions_unanswered = Share::new(unanswered, questions);

    let members: Vec<_> = state
        .participants
        .values()
        .filter(|p| !p.removed && p.role == Role::Member)
        .map(|p| p.id)
        .collect();
    let rounds: Vec<RoundTurnout> = state
        .round_order
        .iter()
        .rev()
        .filter_map(|r| state.rounds.get(r))
        .filter(|r| !r.is_open() && !r.live)
        .take(LAST_ROUNDS)
        .map(|r| {
            let voted = members
                .iter()
                .filter(|m| r.votes.values().any(|v| v.contains_key(m)))
                .count();
            let votes: usize = r
                .items
                .iter()
                .map(|i| {
                    r.votes
                        .get(i)
                        .map_or(0, |v| members.iter().filter(|m| v.contains_key(m)).count())
                })
                .sum();
            RoundTurnout {
                round: r.id,
                members_voted: Share::new(voted, members.len()),
                votes: Share::new(votes, members.len() * r.items.len()),
            }
        })
        .collect();
    let sum = |f: fn(&RoundTurnout) -> Share| {
        let (c, o) = rounds.iter().map(f).fold((0usize, 0usize), |(c, o), s| {
            (c + s.count as usize, o + s.of as usize)
        });
        Share::new(c, o)
    };
    let participation = sum(|r| r.members_voted);
    let votes_before_deadline = sum(|r| r.votes);

    let mut backlog = Vec::new();
    let mut turnout = Vec::new();
    match items_ready.percent {
        None => backlog.push("there are no candidate items to estimate yet".to_string()),
        Some(p) if p < READY_PERCENT => backlog.push(format!(
            "{} of {} items need live discussion (ready: {p}%, want {READY_PERCENT}%)",
            items_ready.of - items_ready.count,
            items_ready.of
        )),
        _ => {}
    }
    if let Some(p) = questions_unanswered
        .percent
        .filter(|p| *p > UNANSWERED_PERCENT)
    {
        backlog.push(format!(
            "{} of {} questions are unanswered ({p}%, want at most {UNANSWERED_PERCENT}%)",
            questions_unanswered.count, questions_unanswered.of
        ));
    }
    if let Some(p) = participation.percent.filter(|p| *p < VOTES_PERCENT) {
        turnout.push(format!(
            "only {p}% of the members voted in the last rounds (want {VOTES_PERCENT}%)"
        ));
    }
    if let Some(p) = votes_before_deadline.percent.filter(|p| *p < VOTES_PERCENT) {
        turnout.push(format!(
            "only {p}% of the expected votes came in before the deadline (want {VOTES_PERCENT}%)"
        ));
    }
    let advice = if !backlog.is_empty() {
        "Keep the live meeting: the backlog is not ready for async estimation.".to_string()
    } else if !turnout.is_empty() {
        "Keep the live meeting: too few votes come in asynchronously.".to_string()
    } else {
        "Async prep is likely to work: estimate async and keep the live meeting short, for the \
         flagged items only."
            .to_string()
    };
    let concerns: Vec<String> = backlog.into_iter().chain(turnout).collect();
    Readiness {
        items_ready,
        questions_unanswered,
        participation,
        votes_before_deadline,
        rounds,
        async_likely_to_work: concerns.is_empty(),
        keep_live_meeting: !concerns.is_empty(),
        advice,
        concerns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::Command;
    use crate::domain::command::{
        CastVote, ChangePhase, CloseRound, CreatePlanning, Join, OpenRound, PostComment,
        ProposeItem, ResolveQuestion,
    };
    use crate::domain::event::{CommentKind, Event, ItemDraft, Micros, Phase};
    use crate::domain::ids::*;
    use uuid::Uuid;

    const FAC: ParticipantId = ParticipantId(Uuid::from_u128(1));

    use crate::domain::decide::testing::run;

    fn planning(members: u128) -> State {
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
        for m in 0..members {
            run(
                &mut s,
                ParticipantId(Uuid::from_u128(10 + m)),
                2,
                Command::Join(Join {
                    name: format!("M{m}"),
                    invite_hash: "2".repeat(64),
                    token_hash: format!("{:064x}", 100 + m),
                }),
            );
        }
        s
    }

    fn propose(s: &mut State, title: &str, ac: bool) -> ItemId {
        // A distinct time per item: the rng (and so the id) is seeded by it.
        let now = 100 + s.proposal_order.len() as Micros;
        let ev = run(
            s,
            FAC,
            now,
            Command::ProposeItem(ProposeItem {
                draft: ItemDraft {
                    title: title.into(),
                    acceptance_criteria: if ac { vec!["done".into()] } else { vec![] },
                    ..ItemDraft::default()
                },
            }),
        );
        match ev[0] {
            Event::ItemProposed { item, .. } => item,
            _ => panic!(),
        }
    }

    /// Worked example: 4 members, 5 items of which 2 lack acceptance criteria and 1 has an
    /// unanswered question (2 of 5 ready, 40%), 1 of 2 questions unanswered (50%); one closed round over 2 items where 2 members voted on
    /// both and 1 on one: participation 3/4 = 75%, votes 5/8 = 62%.
    #[test]
    fn a_backlog_that_is_not_ready_keeps_the_live_meeting() {
        let mut s = planning(4);
        let m = |n: u128| ParticipantId(Uuid::from_u128(10 + n));
        let a = propose(&mut s, "a", true);
        let b = propose(&mut s, "b", true);
        propose(&mut s, "c", true);
        propose(&mut s, "d", false);
        propose(&mut s, "e", false);
        for (n, (i, text)) in [(a, "q1"), (b, "q2")].into_iter().enumerate() {
            run(
                &mut s,
                m(0),
                40 + n as Micros,
                Command::PostComment(PostComment {
                    item: Some(i),
                    kind: CommentKind::Question,
                    parent: None,
                    addressee: None,
                    text: text.into(),
                }),
            );
        }
        let q1 = *s
            .comments
            .keys()
            .find(|c| s.comments[c].text == "q1")
            .unwrap();
        run(
            &mut s,
            FAC,
            5,
            Command::ResolveQuestion(ResolveQuestion { comment: q1 }),
        );
        // Before any round: nothing about turnout yet.
        let r = report(&s);
        assert_eq!(r.items_ready, Share::new(2, 5));
        assert_eq!(r.items_ready.percent, Some(40));
        assert_eq!(r.questions_unanswered.percent, Some(50));
        assert_eq!(r.participation.percent, None);
        assert!(r.keep_live_meeting && !r.async_likely_to_work);
        assert!(r
            .advice
            .starts_with("Keep the live meeting: the backlog is not ready"));
        assert_eq!(r.concerns.len(), 2, "{:?}", r.concerns);

        // "b" (with an open question) cannot be estimated async yet; "a" and "c" can.
        run(
            &mut s,
            FAC,
            6,
            Command::ChangePhase(ChangePhase { to: Phase::Async }),
        );
        let c = s.rank[2];
        run(
            &mut s,
            FAC,
            7,
            Command::OpenRound(OpenRound {
                items: vec![a, c],
                deck: None,
                deadline: Some(1_000),
            }),
        );
        let round = s.round_order[0];
        for (who, item) in [(0, a), (0, c), (1, a), (1, c), (2, a)] {
            run(
                &mut s,
                m(who),
                8,
                Command::CastVote(CastVote {
                    round,
                    item,
                    card: "3".into(),
                }),
            );
        }
        run(
            &mut s,
            ParticipantId::SYSTEM,
            1_000,
            Command::CloseRound(CloseRound { round }),
        );
        let r = report(&s);
        assert_eq!(r.rounds.len(), 1);
        assert_eq!(r.participation, Share::new(3, 4));
        assert_eq!(r.votes_before_deadline, Share::new(5, 8));
        assert_eq!(r.votes_before_deadline.percent, Some(62));
        assert_eq!(r.concerns.len(), 3, "{:?}", r.concerns);
    }

    #[test]
    fn a_ready_backlog_with_turnout_says_async_works() {
        let mut s = planning(2);
        let m = |n: u128| ParticipantId(Uuid::from_u128(10 + n));
        let a = propose(&mut s, "a", true);
        propose(&mut s, "b", true);
        run(
            &mut s,
            FAC,
            6,
            Command::ChangePhase(ChangePhase { to: Phase::Async }),
        );
        run(
            &mut s,
            FAC,
            7,
            Command::OpenRound(OpenRound {
                items: vec![a],
                deck: None,
                deadline: Some(1_000),
            }),
        );
        let round = s.round_order[0];
        for who in [0, 1] {
            run(
                &mut s,
                m(who),
                8,
                Command::CastVote(CastVote {
                    round,
                    item: a,
                    card: "5".into(),
                }),
            );
        }
        let r = report(&s);
        assert_eq!(r.items_ready, Share::new(2, 2));
        assert_eq!(r.participation, Share::new(2, 2));
        assert_eq!(r.votes_before_deadline, Share::new(2, 2));
        assert!(r.async_likely_to_work && !r.keep_live_meeting);
        assert!(r.concerns.is_empty());
        assert!(r.advice.starts_with("Async prep is likely to work"));
    }
}
