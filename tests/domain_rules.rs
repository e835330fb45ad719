//! Given/when/then tests for every rule of the planning domain (`decide` + `apply`), as docs/domain.md states them.

mod common;

use common::domain::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::{
    AgreeEstimates, AmendGoal, CarryOverItems, CastVote, ChangePhase, ChangeRole, CheckReadiness,
    ClearFlag, CloseRound, CommitScope, CreatePlanning, DeclareCapacity, DeleteComment, DraftGoal,
    EditComment, EditItem, FlagItem, FlipCoin, ImportItems, Join, OpenRound, OverrideReadiness,
    PostComment, ProposeItem, RankItems, RecordReminder, ReissueLink, RemoveParticipant, Rename,
    ResolveQuestion, RevealVotes, Revote, RotateInvite, SetAgenda, SetDefinitionOfReady, SetPolicy,
    SetSchedule, SetTimeZone, SetVelocity, WithdrawItem, WithdrawVote,
};
use sprintlog::domain::command::{AgreedEstimate, Command};
use sprintlog::domain::deck::Deck;
use sprintlog::domain::event::{
    CloseReason, CommentKind, ItemPatch, NewItem, Policy, RevealedVote, Schedule,
};
use sprintlog::domain::fixed::Fixed2;
use sprintlog::domain::policy::FlagReason;
use sprintlog::domain::{
    decide, CommentId, Context, CriterionId, DomainError, Event, ItemId, ParticipantId, Phase,
    PlanningId, Role, RoundId, State,
};
use uuid::Uuid;

fn f(h: i64) -> Fixed2 {
    Fixed2::from_hundredths(h)
}

fn unknown_item() -> ItemId {
    ItemId(Uuid::from_u128(0xDEAD))
}

fn unknown_round() -> RoundId {
    RoundId(Uuid::from_u128(0xBEEF))
}

fn unknown_person() -> ParticipantId {
    ParticipantId(Uuid::from_u128(0xF00D))
}

const SYSTEM: ParticipantId = ParticipantId::SYSTEM;

/// A planning in `async` with members ann, bob and cat, an observer obs and two items.
fn async_team() -> (Scenario, ItemId, ItemId) {
    let mut s = Scenario::new()
        .member("ann")
        .member("bob")
        .member("cat")
        .observer("obs");
    let a = s.propose("Login page");
    let b = s.propose("Password reset");
    s.phase(Phase::Async);
    (s, a, b)
}

fn agree(item: ItemId, card: &str) -> Command {
    Command::AgreeEstimates(AgreeEstimates {
        estimates: vec![AgreedEstimate {
            item,
            card: card.into(),
        }],
    })
}

fn declare(days: i64, focus: i64) -> Command {
    Command::DeclareCapacity(DeclareCapacity {
        participant: None,
        available_days: f(days),
        focus_factor: f(focus),
        notes: None,
    })
}

fn comment(kind: CommentKind, parent: Option<CommentId>, t: &str) -> Command {
    Command::PostComment(PostComment {
        item: None,
        kind,
        parent,
        addressee: None,
        text: t.into(),
    })
}

fn posted(ev: &[Event]) -> CommentId {
    match ev {
        [Event::CommentPosted { comment, .. }] => *comment,
        other => panic!("unexpected {other:?}"),
    }
}

// ======================================================================================
// Room and people
// ======================================================================================

#[test]
fn create_planning_makes_the_creator_facilitator_in_draft() {
    let mut s = Scenario::empty();
    let fac = s.fac;
    let ev = s.try_do(fac, create_cmd()).then_kinds(&["PlanningCreated"]);
    assert!(
        matches!(&ev[0], Event::PlanningCreated { creator, deck, .. }
        if *creator == fac && *deck == Deck::fibonacci())
    );
    assert_eq!(s.state.phase, Some(Phase::Draft));
    assert_eq!(s.state.participants[&fac].role, Role::Facilitator);
    assert_eq!(s.state.policy, Policy::default());
    assert_eq!(
        s.state.participant_by_token(&hash(1)).map(|p| p.id),
        Some(fac)
    );
}

#[test]
fn create_planning_rejections() {
    let mut s = Scenario::new();
    let fac = s.fac;
    s.when(fac, create_cmd()).then_error("already_created");

    let mut e = Scenario::empty();
    e.when(SYSTEM, create_cmd()).then_error("forbidden");
    let with = |f: &dyn Fn(&mut Command)| {
        let mut c = create_cmd();
        f(&mut c);
        c
    };
    let cases: Vec<Command> = vec![
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { title, .. }) = c {
                *title = "   ".into()
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { title, .. }) = c {
                *title = "x".repeat(201)
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { title, .. }) = c {
                *title = "bell\u{7}".into()
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { creator_name, .. }) = c {
                *creator_name = "x".repeat(81)
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning {
                creator_token_hash, ..
            }) = c
            {
                *creator_token_hash = "ABC".into()
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning {
                member_invite_hash, ..
            }) = c
            {
                *member_invite_hash = hash(0xabc).to_uppercase()
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning {
                observer_invite_hash,
                ..
            }) = c
            {
                *observer_invite_hash = member_invite()
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { deck, .. }) = c {
                *deck = Some(Deck::custom(vec!["1".into()]))
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { deck, .. }) = c {
                *deck = Some(Deck::custom(vec!["1".into(), "?".into()]))
            }
        }),
        with(&|c| {
            if let Command::CreatePlanning(CreatePlanning { policy, .. }) = c {
                *policy = Some(Policy {
                    batch_size: 0,
                    ..Policy::default()
                })
            }
        }),
    ];
    for c in cases {
        e.when(ParticipantId(Uuid::from_u128(1)), c.clone())
            .then_error_in(&[
                "empty",
                "too_long",
                "bad_characters",
                "invalid_format",
                "out_of_range",
                "invalid",
            ]);
    }
    assert_eq!(e.state, State::default());
}

#[test]
fn nothing_but_create_works_before_the_planning_exists() {
    let mut s = Scenario::empty();
    let p = s.fac;
    s.when(p, Command::Rename(Rename { name: "x".into() }))
        .then_error("no_planning");
    s.when(
        p,
        Command::Join(Join {
            name: "x".into(),
            invite_hash: member_invite(),
            token_hash: hash(5),
        }),
    )
    .then_error("no_planning");
}

#[test]
fn the_invite_decides_the_role() {
    let mut s = Scenario::new();
    let (m, o) = (s.fresh_id(), s.fresh_id());
    let ev = s
        .try_do(
            m,
            Command::Join(Join {
                name: "  Ann ".into(),
                invite_hash: member_invite(),
                token_hash: hash(50),
            }),
        )
        .then_kinds(&["ParticipantJoined"]);
    assert!(
        matches!(&ev[0], Event::ParticipantJoined { role: Role::Member, name, .. } if name == "Ann")
    );
    s.given(
        o,
        Command::Join(Join {
            name: "Obs".into(),
            invite_hash: observer_invite(),
            token_hash: hash(51),
        }),
    );
    assert_eq!(s.state.participants[&o].role, Role::Observer);
    assert_eq!(
        s.state.participant_by_token(&hash(50)).map(|p| p.id),
        Some(m)
    );
}

#[test]
fn join_rejections() {
    let mut s = Scenario::new().member("ann");
    let ann = s.id("ann");
    let join = |name: &str, invite: String, token: String| {
        Command::Join(Join {
            name: name.into(),
            invite_hash: invite,
            token_hash: token,
        })
    };
    let new = s.fresh_id();
    s.when(new, join("X", hash(999), hash(60)))
        .then_error("invalid_invite");
    s.when(ann, join("X", member_invite(), hash(60)))
        .then_error("invalid");
    s.when(SYSTEM, join("X", member_invite(), hash(60)))
        .then_error("invalid");
    for (bad, code) in [
        ("", "empty"),
        ("  ", "empty"),
        ("a\nb", "bad_characters"),
        ("tab\there", "bad_characters"),
        (&*"n".repeat(81), "too_long"),
    ] {
        s.when(new, join(bad, member_invite(), hash(60)))
            .then_error(code);
    }
    s.when(new, join("X", member_invite(), "short".into()))
        .then_error("invalid_format");
    // 80 characters (not bytes) is fine.
    s.when(new, join(&"é".repeat(80), member_invite(), hash(60)))
        .then_kinds(&["ParticipantJoined"]);
}

#[test]
fn rename() {
    let mut s = Scenario::new().member("ann");
    let ann = s.id("ann");
    s.try_do(
        ann,
        Command::Rename(Rename {
            name: " Annie ".into(),
        }),
    )
    .then_kinds(&["ParticipantRenamed"]);
    assert_eq!(s.state.participants[&ann].name, "Annie");
    s.when(ann, Command::Rename(Rename { name: "".into() }))
        .then_error("empty");
    s.when(
        unknown_person(),
        Command::Rename(Rename { name: "x".into() }),
    )
    .then_error("not_a_participant");
    s.when(SYSTEM, Command::Rename(Rename { name: "x".into() }))
        .then_error("forbidden");
}

#[test]
fn change_role() {
    let mut s = Scenario::new().member("ann").observer("obs");
    let (fac, ann, obs) = (s.fac, s.id("ann"), s.id("obs"));
    let to = |p, role| {
        Command::ChangeRole(ChangeRole {
            participant: p,
            role,
        })
    };
    s.when(ann, to(obs, Role::Member)).then_error("forbidden");
    s.when(fac, to(fac, Role::Member))
        .then_error("last_facilitator");
    s.when(fac, to(ann, Role::Member)).then_error("invalid");
    s.when(fac, to(unknown_person(), Role::Member))
        .then_error("unknown_participant");
    s.try_do(fac, to(obs, Role::Member))
        .then_kinds(&["RoleChanged"]);
    assert_eq!(s.state.participants[&obs].role, Role::Member);
    // With a second facilitator the first may step down.
    s.given(fac, to(ann, Role::Facilitator));
    s.given(fac, to(fac, Role::Member));
    assert_eq!(s.state.participants[&fac].role, Role::Member);
    s.when(fac, to(obs, Role::Observer)).then_error("forbidden");
    s.when(ann, to(ann, Role::Observer))
        .then_error("last_facilitator");
}

#[test]
fn remove_participant_stops_their_tokens_at_once() {
    let mut s = Scenario::new().member("ann").member("bob");
    let (fac, ann, bob) = (s.fac, s.id("ann"), s.id("bob"));
    let token = s.state.participants[&ann].token_hashes[0].clone();
    s.when(
        ann,
        Command::RemoveParticipant(RemoveParticipant { participant: bob }),
    )
    .then_error("forbidden");
    s.when(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: fac }),
    )
    .then_error("last_facilitator");
    s.try_do(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: ann }),
    )
    .then_kinds(&["ParticipantRemoved"]);
    assert!(s.state.participant_by_token(&token).is_none());
    assert!(s.state.participant(ann).is_none());
    s.when(
        ann,
        Command::Rename(Rename {
            name: "back".into(),
        }),
    )
    .then_error("not_a_participant");
    s.when(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: ann }),
    )
    .then_error("unknown_participant");
    // A removed participant cannot come back under the same id.
    s.when(
        ann,
        Command::Join(Join {
            name: "Ann".into(),
            invite_hash: member_invite(),
            token_hash: hash(77),
        }),
    )
    .then_error("invalid");
}

#[test]
fn removed_member_loses_their_open_votes_and_voting_but_closed_rounds_keep_them() {
    let (mut s, a, b) = async_team();
    let (fac, ann, bob) = (s.fac, s.id("ann"), s.id("bob"));
    let r1 = s.open_round(&[a], 60);
    for who in ["ann", "bob"] {
        s.vote(who, r1, a, "3");
    }
    s.vote("cat", r1, a, "5"); // all voted: closes
    assert!(!s.state.rounds[&r1].is_open());
    let r2 = s.open_round(&[b], 60);
    s.vote("ann", r2, b, "8");
    s.vote("bob", r2, b, "8");
    s.given(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: ann }),
    );
    assert!(!s.state.rounds[&r2].votes[&b].contains_key(&ann));
    assert_eq!(s.state.rounds[&r1].votes[&a].len(), 3);
    s.when(
        ann,
        Command::CastVote(CastVote {
            round: r2,
            item: b,
            card: "8".into(),
        }),
    )
    .then_error("not_a_participant");
    // Removing ann leaves bob and cat as the voters: cat's vote now closes the round.
    let ev = s.vote("cat", r2, b, "8");
    assert_eq!(
        kinds(&ev),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    let Event::VotesRevealed { votes, .. } = &ev[2] else {
        unreachable!()
    };
    assert!(votes.iter().all(|v| v.voter != ann));
    assert_eq!(votes.len(), 2);
    let _ = bob;
    s.assert_replays();
}

#[test]
fn removing_the_last_member_who_had_not_voted_closes_the_round() {
    // Waiting for someone who can no longer vote would hold the round until its deadline.
    let (mut s, a, b) = async_team();
    let (fac, cat) = (s.fac, s.id("cat"));
    let r = s.open_round(&[a, b], 60);
    for who in ["ann", "bob"] {
        s.vote(who, r, a, "3");
        s.vote(who, r, b, "5");
    }
    s.vote("cat", r, a, "3"); // cat still owes a card on b
    assert!(s.state.rounds[&r].is_open());
    let ev = s
        .try_do(
            fac,
            Command::RemoveParticipant(RemoveParticipant { participant: cat }),
        )
        .then_kinds(&[
            "ParticipantRemoved",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed",
            "VotesRevealed",
            "EstimateProposed",
        ]);
    assert!(matches!(
        ev[1],
        Event::RoundClosed {
            reason: CloseReason::AllVoted,
            ..
        }
    ));
    // Cat's vote on a no longer counts: only ann's and bob's are revealed.
    let Event::VotesRevealed { item, votes, .. } = &ev[2] else {
        unreachable!()
    };
    assert_eq!(*item, a);
    assert_eq!(votes.len(), 2);
    assert!(votes.iter().all(|v| v.voter != cat));
    s.assert_replays();
}

#[test]
fn demoting_the_last_holdout_closes_the_round_but_removing_an_observer_does_not() {
    let (mut s, a, _) = async_team();
    let (fac, cat, obs) = (s.fac, s.id("cat"), s.id("obs"));
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "3");
    // An observer never votes: removing one changes nothing about who is awaited.
    s.try_do(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: obs }),
    )
    .then_kinds(&["ParticipantRemoved"]);
    s.vote("bob", r, a, "3");
    assert!(s.state.rounds[&r].is_open(), "cat has not voted");
    s.try_do(
        fac,
        Command::ChangeRole(ChangeRole {
            participant: cat,
            role: Role::Observer,
        }),
    )
    .then_kinds(&[
        "RoleChanged",
        "RoundClosed",
        "VotesRevealed",
        "EstimateProposed",
    ]);
    assert_eq!(s.state.items[&a].proposed_estimate.as_deref(), Some("3"));
    s.assert_replays();
}

#[test]
fn removing_a_member_with_nobody_else_voted_keeps_the_round_open() {
    let (mut s, a, _) = async_team();
    let (fac, cat) = (s.fac, s.id("cat"));
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "3");
    s.try_do(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: cat }),
    )
    .then_kinds(&["ParticipantRemoved"]);
    assert!(s.state.rounds[&r].is_open(), "bob has not voted");
    s.assert_replays();
}

#[test]
fn demoted_member_loses_their_open_votes() {
    // Observers never vote: a member demoted to observer must not keep a vote that counts.
    let (mut s, a, _) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "3");
    s.given(
        fac,
        Command::ChangeRole(ChangeRole {
            participant: ann,
            role: Role::Observer,
        }),
    );
    assert!(!s.state.rounds[&r]
        .votes
        .get(&a)
        .is_some_and(|v| v.contains_key(&ann)));
    s.vote("bob", r, a, "21");
    let ev = s.vote("cat", r, a, "21");
    // Without ann's 3 the two remaining votes agree.
    assert_eq!(
        kinds(&ev),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert!(matches!(&ev[3], Event::EstimateProposed { card, .. } if card == "21"));
    s.assert_replays();
}

#[test]
fn rotate_invite_replaces_the_old_link() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let rot = |role, h: String| {
        Command::RotateInvite(RotateInvite {
            role,
            invite_hash: h,
        })
    };
    s.when(ann, rot(Role::Member, hash(300)))
        .then_error("forbidden");
    s.when(fac, rot(Role::Facilitator, hash(300)))
        .then_error("invalid_role");
    s.when(fac, rot(Role::Member, "nothex".into()))
        .then_error("invalid_format");
    s.try_do(fac, rot(Role::Member, hash(300)))
        .then_kinds(&["InviteRotated"]);
    s.given(fac, rot(Role::Observer, hash(301)));
    let join = |invite: String| {
        Command::Join(Join {
            name: "New".into(),
            invite_hash: invite,
            token_hash: hash(302),
        })
    };
    let n = s.fresh_id();
    s.when(n, join(member_invite()))
        .then_error("invalid_invite");
    s.when(n, join(observer_invite()))
        .then_error("invalid_invite");
    let ev = s.when(n, join(hash(300))).unwrap();
    assert!(matches!(
        &ev[0],
        Event::ParticipantJoined {
            role: Role::Member,
            ..
        }
    ));
    let ev = s.when(n, join(hash(301))).unwrap();
    assert!(matches!(
        &ev[0],
        Event::ParticipantJoined {
            role: Role::Observer,
            ..
        }
    ));
    // Existing participants keep working.
    s.when(ann, Command::Rename(Rename { name: "A".into() }))
        .then_kinds(&["ParticipantRenamed"]);
}

#[test]
fn reissue_link_adds_or_replaces_a_token() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let old = s.state.participants[&ann].token_hashes[0].clone();
    let re = |p, h: String, revoke| {
        Command::ReissueLink(ReissueLink {
            participant: p,
            token_hash: h,
            revoke_previous: revoke,
        })
    };
    s.when(ann, re(ann, hash(400), false))
        .then_error("forbidden");
    s.when(fac, re(unknown_person(), hash(400), false))
        .then_error("unknown_participant");
    s.when(fac, re(ann, "x".into(), false))
        .then_error("invalid_format");
    s.try_do(fac, re(ann, hash(400), false))
        .then_kinds(&["ParticipantLinkReissued"]);
    assert_eq!(s.state.participant_by_token(&old).map(|p| p.id), Some(ann));
    assert_eq!(
        s.state.participant_by_token(&hash(400)).map(|p| p.id),
        Some(ann)
    );
    s.given(fac, re(ann, hash(401), true));
    assert!(s.state.participant_by_token(&old).is_none());
    assert!(s.state.participant_by_token(&hash(400)).is_none());
    assert_eq!(s.state.participants[&ann].token_hashes, vec![hash(401)]);
}

#[test]
fn set_time_zone() {
    let mut s = Scenario::new().observer("obs");
    let obs = s.id("obs");
    let tz = |z: &str, a, b| {
        Command::SetTimeZone(SetTimeZone {
            time_zone: z.into(),
            work_start_minute: a,
            work_end_minute: b,
            work_days: None,
        })
    };
    s.try_do(obs, tz("Europe/Berlin", Some(540), Some(1050)))
        .then_kinds(&["TimeZoneSet"]);
    let p = &s.state.participants[&obs];
    assert_eq!(p.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(
        (p.work_start_minute, p.work_end_minute),
        (Some(540), Some(1050))
    );
    s.given(obs, tz("UTC", None, None));
    for bad in [
        tz("", None, None),
        tz("Not a zone!", None, None),
        tz("/etc/passwd", None, None),
        tz(&"A".repeat(65), None, None),
        tz("UTC", Some(540), None),
        tz("UTC", Some(600), Some(600)),
        tz("UTC", Some(1440), Some(10)),
        tz("UTC", Some(10), Some(1441)),
    ] {
        s.when(obs, bad).then_error("invalid");
    }
}

#[test]
fn change_phase() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let to = |p| Command::ChangePhase(ChangePhase { to: p });
    s.when(ann, to(Phase::Async)).then_error("forbidden");
    s.when(fac, to(Phase::Draft)).then_error("invalid");
    s.when(fac, to(Phase::Committed)).then_error("invalid");
    let ev = s
        .try_do(fac, to(Phase::Async))
        .then_kinds(&["PhaseChanged"]);
    assert!(matches!(
        ev[0],
        Event::PhaseChanged {
            from: Phase::Draft,
            to: Phase::Async,
            ..
        }
    ));
    // Back to draft is allowed (the facilitator can open phases early or late).
    s.given(fac, to(Phase::Draft));
    s.given(fac, Command::StartSync);
    s.when(fac, to(Phase::Async)).then_error("sync_running");
    s.given(fac, Command::EndSync);
    s.given(fac, to(Phase::Async));
}

#[test]
fn set_schedule() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let good = Schedule {
        sprint_start: Some(T0 + DAY),
        sprint_end: Some(T0 + 15 * DAY),
        sync_minutes: Some(45),
        ..Schedule::default()
    };
    s.when(
        ann,
        Command::SetSchedule(SetSchedule {
            schedule: good.clone(),
        }),
    )
    .then_error("forbidden");
    s.try_do(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: good.clone(),
        }),
    )
    .then_kinds(&["ScheduleSet"]);
    // Recorded resolved: the times default from the sprint start (2 days, 1 day, 0 days
    // before), the reminder lead to an hour.
    assert_eq!(
        s.state.schedule,
        Schedule {
            candidates_shared_at: Some(T0 - DAY),
            estimation_deadline: Some(T0),
            sync_start: Some(T0 + DAY),
            reminder_minutes: Some(60),
            ..good.clone()
        }
    );
    for bad in [
        Schedule {
            sync_minutes: Some(0),
            ..good.clone()
        },
        Schedule {
            sync_minutes: Some(481),
            ..good.clone()
        },
        Schedule {
            sprint_end: Some(T0 + DAY),
            ..good.clone()
        },
    ] {
        s.when(fac, Command::SetSchedule(SetSchedule { schedule: bad }))
            .then_error_in(&["out_of_range", "invalid"]);
    }
}

#[test]
fn set_policy() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let mut p = Policy::default();
    p.divergence.spread_steps = 3;
    p.batch_size = 8;
    s.when(ann, Command::SetPolicy(SetPolicy { policy: p.clone() }))
        .then_error("forbidden");
    s.try_do(fac, Command::SetPolicy(SetPolicy { policy: p.clone() }))
        .then_kinds(&["PolicySet"]);
    assert_eq!(s.state.policy, p);
    let bads: Vec<Policy> = vec![
        Policy {
            batch_size: 9,
            ..Policy::default()
        },
        Policy {
            batch_size: 0,
            ..Policy::default()
        },
        Policy {
            default_deadline_minutes: 0,
            ..Policy::default()
        },
        Policy {
            default_deadline_minutes: 60 * 24 * 60 + 1,
            ..Policy::default()
        },
        {
            let mut p = Policy::default();
            p.divergence.spread_steps = 0;
            p
        },
        {
            let mut p = Policy::default();
            p.divergence.quorum_percent = 101;
            p
        },
        {
            let mut p = Policy::default();
            p.point_table.insert("XS".into(), f(-100));
            p
        },
    ];
    for bad in bads {
        s.when(fac, Command::SetPolicy(SetPolicy { policy: bad }))
            .then_error_in(&["out_of_range", "invalid"]);
    }
}

// ======================================================================================
// Goal
// ======================================================================================

#[test]
fn goal_draft_amend_commit() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let amend = |t: &str| {
        Command::AmendGoal(AmendGoal {
            text: t.into(),
            note: None,
        })
    };
    s.when(fac, amend("x")).then_error("no_goal");
    s.when(fac, Command::CommitGoal).then_error("no_goal");
    s.when(ann, Command::DraftGoal(DraftGoal { text: "g".into() }))
        .then_error("forbidden");
    s.when(fac, Command::DraftGoal(DraftGoal { text: " ".into() }))
        .then_error("empty");
    s.when(
        fac,
        Command::DraftGoal(DraftGoal {
            text: "g".repeat(501),
        }),
    )
    .then_error("too_long");
    s.try_do(
        fac,
        Command::DraftGoal(DraftGoal {
            text: " Ship login ".into(),
        }),
    )
    .then_kinds(&["GoalDrafted"]);
    s.when(
        fac,
        Command::DraftGoal(DraftGoal {
            text: "again".into(),
        }),
    )
    .then_error("invalid");
    s.when(ann, amend("x")).then_error("forbidden");
    s.when(
        fac,
        Command::AmendGoal(AmendGoal {
            text: "x".into(),
            note: Some("n".repeat(501)),
        }),
    )
    .then_error("too_long");
    s.try_do(
        fac,
        Command::AmendGoal(AmendGoal {
            text: "Ship login and reset".into(),
            note: Some("scope grew".into()),
        }),
    )
    .then_kinds(&["GoalAmended"]);
    let g = s.state.goal.clone().unwrap();
    assert_eq!(g.text, "Ship login and reset");
    assert_eq!(g.history.len(), 2);
    assert_eq!(g.history[0], ("Ship login".to_string(), fac));
    s.when(ann, Command::CommitGoal).then_error("forbidden");
    s.try_do(fac, Command::CommitGoal)
        .then_kinds(&["GoalCommitted"]);
    assert!(s.state.goal.as_ref().unwrap().committed);
    s.when(fac, amend("late"))
        .then_error("goal_already_committed");
    s.when(fac, Command::CommitGoal)
        .then_error("goal_already_committed");
}

// ======================================================================================
// Items
// ======================================================================================

#[test]
fn propose_item() {
    let mut s = Scenario::new().member("ann").observer("obs");
    let (ann, obs) = (s.id("ann"), s.id("obs"));
    let mut d = draft("Login");
    d.description = "multi\nline\ttext".into();
    d.labels = vec!["auth".into()];
    let ev = s
        .try_do(ann, Command::ProposeItem(ProposeItem { draft: d.clone() }))
        .then_kinds(&["ItemProposed"]);
    let Event::ItemProposed { item, .. } = ev[0] else {
        unreachable!()
    };
    assert_eq!(s.state.items[&item].draft, d);
    assert_eq!(s.state.items[&item].proposed_by, ann);
    s.when(obs, Command::ProposeItem(ProposeItem { draft: draft("x") }))
        .then_error("forbidden");
    let mut bad: Vec<sprintlog::domain::event::ItemDraft> = vec![
        draft(""),
        draft("   "),
        draft("two\nlines"),
        draft(&"t".repeat(201)),
    ];
    let mut d2 = draft("x");
    d2.labels = vec!["l".into(); 101];
    bad.push(d2);
    let mut d3 = draft("x");
    d3.acceptance_criteria = vec!["".into()];
    bad.push(d3);
    let mut d4 = draft("x");
    d4.external_key = Some("k\u{0}".into());
    bad.push(d4);
    for d in bad {
        s.when(ann, Command::ProposeItem(ProposeItem { draft: d }))
            .then_error_in(&["empty", "too_long", "bad_characters", "wrong_count"]);
    }
    let mut dep = draft("x");
    dep.dependencies = vec![unknown_item()];
    s.when(ann, Command::ProposeItem(ProposeItem { draft: dep }))
        .then_error("unknown_item");
    let mut dep = draft("depends on login");
    dep.dependencies = vec![item];
    s.when(ann, Command::ProposeItem(ProposeItem { draft: dep }))
        .then_kinds(&["ItemProposed"]);
}

#[test]
fn edit_item() {
    let mut s = Scenario::new().member("ann").member("bob");
    let (fac, ann, bob) = (s.fac, s.id("ann"), s.id("bob"));
    let ev = s.given(
        ann,
        Command::ProposeItem(ProposeItem {
            draft: draft("Login"),
        }),
    );
    let Event::ItemProposed { item, .. } = ev[0] else {
        unreachable!()
    };
    let other = s.propose("Other");
    let edit = |i, p: ItemPatch| Command::EditItem(EditItem { item: i, patch: p });
    let title = |t: &str| ItemPatch {
        title: Some(t.into()),
        ..ItemPatch::default()
    };
    s.try_do(ann, edit(item, title("Login v2")))
        .then_kinds(&["ItemEdited"]);
    s.given(fac, edit(item, title("Login v3")));
    assert_eq!(s.state.items[&item].draft.title, "Login v3");
    s.when(bob, edit(item, title("mine")))
        .then_error("forbidden");
    s.when(fac, edit(unknown_item(), title("x")))
        .then_error("unknown_item");
    s.when(fac, edit(item, ItemPatch::default()))
        .then_error("invalid");
    s.when(fac, edit(item, title(""))).then_error("empty");
    s.when(
        fac,
        edit(
            item,
            ItemPatch {
                dependencies: Some(vec![item]),
                ..ItemPatch::default()
            },
        ),
    )
    .then_error("invalid");
    s.given(
        fac,
        edit(
            item,
            ItemPatch {
                dependencies: Some(vec![other]),
                external_key: Some("JIRA-1".into()),
                ..ItemPatch::default()
            },
        ),
    );
    assert_eq!(s.state.items[&item].draft.dependencies, vec![other]);
    assert_eq!(
        s.state.items[&item].draft.external_key.as_deref(),
        Some("JIRA-1")
    );
    s.given(
        fac,
        edit(
            item,
            ItemPatch {
                external_key: Some(String::new()),
                ..ItemPatch::default()
            },
        ),
    );
    assert_eq!(s.state.items[&item].draft.external_key, None);
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: other,
            reason: None,
        }),
    );
    s.when(fac, edit(other, title("x")))
        .then_error("item_withdrawn");
    s.assert_replays();
}

#[test]
fn withdraw_item() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let w = |i| {
        Command::WithdrawItem(WithdrawItem {
            item: i,
            reason: Some("not this sprint".into()),
        })
    };
    s.when(ann, w(a)).then_error("forbidden");
    s.when(fac, w(unknown_item())).then_error("unknown_item");
    s.when(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: a,
            reason: Some("r".repeat(501)),
        }),
    )
    .then_error("too_long");
    let r = s.open_round(&[a], 60);
    s.when(fac, w(a)).then_error("item_in_open_round");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    // Withdrawing clears the flag (quorum: nobody voted) and takes the item off the agenda.
    assert!(s.state.items[&a].flag.is_some());
    s.given(fac, Command::StartSync);
    assert_eq!(s.state.agenda, vec![a]);
    s.try_do(fac, w(a)).then_kinds(&["ItemWithdrawn"]);
    assert!(s.state.items[&a].withdrawn);
    assert!(s.state.items[&a].flag.is_none());
    assert!(s.state.agenda.is_empty());
    s.when(fac, w(a)).then_error("item_withdrawn");
    assert_eq!(
        s.state.ranked_items().map(|i| i.id).collect::<Vec<_>>(),
        vec![b]
    );
    // The proposer may withdraw their own item.
    let ev = s.given(
        ann,
        Command::ProposeItem(ProposeItem {
            draft: draft("mine"),
        }),
    );
    let Event::ItemProposed { item, .. } = ev[0] else {
        unreachable!()
    };
    s.when(ann, w(item)).then_kinds(&["ItemWithdrawn"]);
}

#[test]
fn import_is_one_event_and_all_or_nothing() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let import = |items, source: &str| {
        Command::ImportItems(ImportItems {
            items,
            source: source.into(),
        })
    };
    let ev = s
        .try_do(
            fac,
            import(vec![draft("A"), draft("B"), draft("C")], "jira"),
        )
        .then_kinds(&["ItemsImported"]);
    let Event::ItemsImported { items, .. } = &ev[0] else {
        unreachable!()
    };
    assert_eq!(items.len(), 3);
    assert_eq!(s.state.items.len(), 3);
    assert!(s
        .state
        .items
        .values()
        .all(|i| i.source.as_deref() == Some("import:jira")));
    let titles: Vec<_> = s
        .state
        .ranked_items()
        .map(|i| i.draft.title.clone())
        .collect();
    assert_eq!(titles, ["A", "B", "C"]);
    // One bad row rejects the whole batch and names the row.
    let before = s.state.clone();
    let e = s
        .try_do(fac, import(vec![draft("D"), draft(""), draft("F")], "csv"))
        .then_error("empty");
    assert!(e.to_string().contains("item 2"), "{e}");
    assert_eq!(s.state, before);
    s.when(fac, import(vec![], "csv")).then_error("wrong_count");
    s.when(fac, import(vec![draft("x"); 501], "csv"))
        .then_error("wrong_count");
    s.when(fac, import(vec![draft("x")], ""))
        .then_error("empty");
    s.when(ann, import(vec![draft("x")], "csv"))
        .then_error("forbidden");
    s.when(fac, import(vec![draft("x"); 500], "csv"))
        .then_kinds(&["ItemsImported"]);
}

#[test]
fn rank_items() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let (a, b, c) = (s.propose("a"), s.propose("b"), s.propose("c"));
    s.try_do(fac, Command::RankItems(RankItems { order: vec![c, a] }))
        .then_kinds(&["ItemsRanked"]);
    let order: Vec<_> = s.state.ranked_items().map(|i| i.id).collect();
    assert_eq!(order, vec![c, a, b]);
    s.when(ann, Command::RankItems(RankItems { order: vec![a] }))
        .then_error("forbidden");
    s.when(
        fac,
        Command::RankItems(RankItems {
            order: vec![a, unknown_item()],
        }),
    )
    .then_error("unknown_item");
    s.when(fac, Command::RankItems(RankItems { order: vec![a, a] }))
        .then_error("duplicate");
}

#[test]
fn carry_over_items() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let here = s.propose("here");
    let prev = PlanningId(Uuid::from_u128(0x9999));
    let (x, y) = (ItemId(Uuid::from_u128(0x51)), ItemId(Uuid::from_u128(0x52)));
    let mut dx = draft("x");
    // y travels along, an item of the previous planning that did not does not.
    dx.dependencies = vec![y, ItemId(Uuid::from_u128(0x53))];
    let carry = |items: Vec<NewItem>| {
        Command::CarryOverItems(CarryOverItems {
            from_planning: prev,
            items,
        })
    };
    let good = vec![
        NewItem {
            item: x,
            draft: dx.clone(),
        },
        NewItem {
            item: y,
            draft: draft("y"),
        },
    ];
    s.when(ann, carry(good.clone())).then_error("forbidden");
    s.try_do(fac, carry(good.clone()))
        .then_kinds(&["ItemsCarriedOver"]);
    assert_eq!(s.state.items[&x].draft.dependencies, vec![y]);
    assert_eq!(
        s.state.items[&x].source,
        Some(format!("carried-over:{prev}"))
    );
    s.when(fac, carry(good.clone())).then_error("invalid");
    s.when(
        fac,
        carry(vec![NewItem {
            item: here,
            draft: draft("dup"),
        }]),
    )
    .then_error("invalid");
    let z = ItemId(Uuid::from_u128(0x60));
    s.when(
        fac,
        carry(vec![
            NewItem {
                item: z,
                draft: draft("z"),
            },
            NewItem {
                item: z,
                draft: draft("z"),
            },
        ]),
    )
    .then_error("invalid");
    s.when(fac, carry(vec![])).then_error("wrong_count");
    s.when(
        fac,
        carry(vec![NewItem {
            item: z,
            draft: draft(""),
        }]),
    )
    .then_error("empty");
    let same = Command::CarryOverItems(CarryOverItems {
        from_planning: s.state.planning.unwrap(),
        items: vec![NewItem {
            item: z,
            draft: draft("z"),
        }],
    });
    s.when(fac, same).then_error("invalid");
    s.given(fac, Command::StartSync);
    s.when(
        fac,
        carry(vec![NewItem {
            item: z,
            draft: draft("z"),
        }]),
    )
    .then_error("wrong_phase");
}

// ======================================================================================
// Review
// ======================================================================================

#[test]
fn comments_questions_and_answers() {
    let mut s = Scenario::new().member("ann").member("bob").observer("obs");
    let (fac, ann, bob, obs) = (s.fac, s.id("ann"), s.id("bob"), s.id("obs"));
    let item = s.propose("Login");
    // Observers comment too.
    let c = posted(&s.given(obs, comment(CommentKind::Comment, None, "hi\nthere")));
    let q = posted(&s.given(
        ann,
        Command::PostComment(PostComment {
            item: Some(item),
            kind: CommentKind::Question,
            parent: None,
            addressee: Some(fac),
            text: "SSO too?".into(),
        }),
    ));
    let a = posted(&s.given(bob, comment(CommentKind::Answer, Some(q), "yes")));
    assert_eq!(s.state.comments[&q].answers, vec![a]);
    assert_eq!(s.state.comments[&q].item, Some(item));
    s.when(ann, comment(CommentKind::Answer, None, "x"))
        .then_error("invalid");
    s.when(ann, comment(CommentKind::Answer, Some(c), "x"))
        .then_error("not_a_question");
    s.when(
        ann,
        comment(
            CommentKind::Comment,
            Some(CommentId(Uuid::from_u128(3))),
            "x",
        ),
    )
    .then_error("unknown_comment");
    s.when(
        ann,
        Command::PostComment(PostComment {
            item: Some(unknown_item()),
            kind: CommentKind::Comment,
            parent: None,
            addressee: None,
            text: "x".into(),
        }),
    )
    .then_error("unknown_item");
    s.when(
        ann,
        Command::PostComment(PostComment {
            item: None,
            kind: CommentKind::Comment,
            parent: None,
            addressee: Some(unknown_person()),
            text: "x".into(),
        }),
    )
    .then_error("unknown_participant");
    for (bad, code) in [
        ("", "empty"),
        ("  ", "empty"),
        ("esc\u{1b}[31m", "bad_characters"),
        (&*"x".repeat(20_001), "too_long"),
    ] {
        s.when(ann, comment(CommentKind::Comment, None, bad))
            .then_error(code);
    }
    s.when(unknown_person(), comment(CommentKind::Comment, None, "x"))
        .then_error("not_a_participant");

    // Edit: the author only.
    let edit = |c, t: &str| {
        Command::EditComment(EditComment {
            comment: c,
            text: t.into(),
        })
    };
    s.try_do(obs, edit(c, "hello"))
        .then_kinds(&["CommentEdited"]);
    assert!(s.state.comments[&c].edited);
    s.when(fac, edit(c, "mod")).then_error("forbidden");
    s.when(obs, edit(c, "")).then_error("empty");
    s.when(obs, edit(CommentId(Uuid::from_u128(3)), "x"))
        .then_error("unknown_comment");

    // Delete: the author or the facilitator; a tombstone remains.
    s.when(ann, Command::DeleteComment(DeleteComment { comment: c }))
        .then_error("forbidden");
    s.try_do(fac, Command::DeleteComment(DeleteComment { comment: c }))
        .then_kinds(&["CommentDeleted"]);
    assert!(s.state.comments[&c].deleted);
    assert!(s.state.comments[&c].text.is_empty());
    s.when(obs, edit(c, "x")).then_error("comment_deleted");
    s.when(obs, Command::DeleteComment(DeleteComment { comment: c }))
        .then_error("comment_deleted");
    s.when(ann, comment(CommentKind::Comment, Some(c), "re"))
        .then_error("comment_deleted");
    s.given(bob, Command::DeleteComment(DeleteComment { comment: a }));

    // Resolve: the asker, the addressee or the facilitator.
    s.when(
        bob,
        Command::ResolveQuestion(ResolveQuestion { comment: q }),
    )
    .then_error("forbidden");
    s.when(
        obs,
        Command::ResolveQuestion(ResolveQuestion { comment: a }),
    )
    .then_error("comment_deleted");
    s.try_do(
        fac,
        Command::ResolveQuestion(ResolveQuestion { comment: q }),
    )
    .then_kinds(&["QuestionResolved"]);
    assert!(s.state.comments[&q].resolved);
    s.when(
        ann,
        Command::ResolveQuestion(ResolveQuestion { comment: q }),
    )
    .then_error("invalid");
    let q2 = posted(&s.given(
        bob,
        Command::PostComment(PostComment {
            item: None,
            kind: CommentKind::Question,
            parent: None,
            addressee: Some(ann),
            text: "?".into(),
        }),
    ));
    s.when(
        ann,
        Command::ResolveQuestion(ResolveQuestion { comment: q2 }),
    )
    .then_kinds(&["QuestionResolved"]);
    s.when(
        bob,
        Command::ResolveQuestion(ResolveQuestion { comment: q2 }),
    )
    .then_kinds(&["QuestionResolved"]);
    s.when(
        obs,
        Command::ResolveQuestion(ResolveQuestion { comment: q2 }),
    )
    .then_error("forbidden");
    let plain = posted(&s.given(ann, comment(CommentKind::Comment, None, "x")));
    s.when(
        ann,
        Command::ResolveQuestion(ResolveQuestion { comment: plain }),
    )
    .then_error("not_a_question");
    s.assert_replays();
}

#[test]
fn definition_of_ready_checks_and_override() {
    let (mut s, a, b) = async_team();
    let (fac, ann, obs) = (s.fac, s.id("ann"), s.id("obs"));
    let dor = |c: &[&str]| {
        Command::SetDefinitionOfReady(SetDefinitionOfReady {
            criteria: c.iter().map(|s| s.to_string()).collect(),
        })
    };
    s.when(ann, dor(&["x"])).then_error("forbidden");
    s.when(fac, dor(&[""])).then_error("empty");
    s.when(fac, dor(&["c"; 31])).then_error("wrong_count");
    s.try_do(fac, dor(&["Has AC", "Sized"]))
        .then_kinds(&["DefinitionOfReadySet"]);
    let ids: Vec<CriterionId> = s.state.definition_of_ready.iter().map(|c| c.id).collect();
    // Kept texts keep their ids.
    s.given(fac, dor(&["Sized", " Has AC ", "Designed"]));
    let again: Vec<CriterionId> = s.state.definition_of_ready.iter().map(|c| c.id).collect();
    assert_eq!(again[0], ids[1]);
    assert_eq!(again[1], ids[0]);
    assert!(!ids.contains(&again[2]));
    // A text named twice would be one criterion id listed twice (checks and failures twice).
    s.when(fac, dor(&["Sized", "Sized "]))
        .then_error("duplicate");
    s.when(fac, dor(&["New", "New"])).then_error("duplicate");

    let check = |i, c, ok| {
        Command::CheckReadiness(CheckReadiness {
            item: i,
            criterion: c,
            ok,
            note: None,
        })
    };
    s.when(obs, check(a, ids[0], true)).then_error("forbidden");
    s.when(ann, check(a, CriterionId(Uuid::from_u128(5)), true))
        .then_error("unknown_criterion");
    s.when(ann, check(unknown_item(), ids[0], true))
        .then_error("unknown_item");
    s.try_do(ann, check(a, ids[0], false))
        .then_kinds(&["ReadinessChecked"]);
    s.given(ann, check(b, ids[0], true));

    // A failing criterion keeps the item out of rounds until fixed or overridden.
    let open = |i| {
        Command::OpenRound(OpenRound {
            items: vec![i],
            deck: None,
            deadline: None,
        })
    };
    let e = s.when(fac, open(a)).then_error("not_ready");
    assert_eq!(
        e,
        DomainError::NotReady {
            item: a,
            failing: vec![ids[0]]
        }
    );
    s.when(fac, open(b)).then_kinds(&["RoundOpened"]);
    let ov = |r: &str| {
        Command::OverrideReadiness(OverrideReadiness {
            item: a,
            reason: r.into(),
        })
    };
    s.when(ann, ov("ok")).then_error("forbidden");
    s.when(fac, ov("")).then_error("empty");
    s.when(
        fac,
        Command::OverrideReadiness(OverrideReadiness {
            item: unknown_item(),
            reason: "x".into(),
        }),
    )
    .then_error("unknown_item");
    s.try_do(fac, ov("small risk"))
        .then_kinds(&["ReadinessOverridden"]);
    s.when(fac, open(a)).then_kinds(&["RoundOpened"]);
    // Fixing the check works as well.
    let c = s.propose("c");
    s.given(ann, check(c, ids[0], false));
    s.when(fac, open(c)).then_error("not_ready");
    s.given(fac, check(c, ids[0], true));
    s.when(fac, open(c)).then_kinds(&["RoundOpened"]);
    // A criterion dropped from the DoR no longer blocks.
    let d = s.propose("d");
    s.given(ann, check(d, ids[1], false));
    s.when(fac, open(d)).then_error("not_ready");
    s.given(fac, dor(&["Has AC"]));
    s.when(fac, open(d)).then_kinds(&["RoundOpened"]);
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: d,
            reason: None,
        }),
    );
    s.when(fac, check(d, ids[0], true))
        .then_error("item_withdrawn");
    s.assert_replays();
}

// ======================================================================================
// Capacity
// ======================================================================================

#[test]
fn declare_capacity() {
    let mut s = Scenario::new().member("ann").member("bob").observer("obs");
    let (fac, ann, bob, obs) = (s.fac, s.id("ann"), s.id("bob"), s.id("obs"));
    s.try_do(ann, declare(1000, 80))
        .then_kinds(&["CapacityDeclared"]);
    let c = s.state.participants[&ann].capacity.clone().unwrap();
    assert_eq!((c.available_days, c.focus_factor), (f(1000), f(80)));
    let for_bob = Command::DeclareCapacity(DeclareCapacity {
        participant: Some(bob),
        available_days: f(500),
        focus_factor: f(100),
        notes: Some("on call".into()),
    });
    s.when(ann, for_bob.clone()).then_error("forbidden");
    s.when(fac, for_bob).then_kinds(&["CapacityDeclared"]);
    s.when(obs, declare(100, 100)).then_error("forbidden");
    s.when(
        fac,
        Command::DeclareCapacity(DeclareCapacity {
            participant: Some(obs),
            available_days: f(100),
            focus_factor: f(100),
            notes: None,
        }),
    )
    .then_error("invalid");
    s.when(
        fac,
        Command::DeclareCapacity(DeclareCapacity {
            participant: Some(unknown_person()),
            available_days: f(100),
            focus_factor: f(100),
            notes: None,
        }),
    )
    .then_error("unknown_participant");
    for bad in [
        declare(-1, 100),
        declare(36_601, 100),
        declare(100, 101),
        declare(100, -1),
    ] {
        s.when(ann, bad).then_error("out_of_range");
    }
    s.when(ann, declare(36_600, 0))
        .then_kinds(&["CapacityDeclared"]);
}

#[test]
fn velocity() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let v = |h| {
        Command::SetVelocity(SetVelocity {
            points_per_day: f(h),
        })
    };
    s.when(ann, v(100)).then_error("forbidden");
    s.when(fac, v(0)).then_error("out_of_range");
    s.when(fac, v(100_001)).then_error("out_of_range");
    s.try_do(fac, v(150)).then_kinds(&["VelocitySet"]);
    assert_eq!(s.state.velocity, Some(f(150)));
}

#[test]
fn capacity_is_sum_of_days_times_focus_times_velocity() {
    let mut s = Scenario::new().member("ann").member("bob").member("cat");
    let (fac, ann, bob, cat) = (s.fac, s.id("ann"), s.id("bob"), s.id("cat"));
    assert_eq!(s.state.capacity_points(), Fixed2::ZERO);
    s.given(ann, declare(1000, 80)); // 8
    s.given(bob, declare(850, 50)); // 4.25
    s.given(fac, declare(500, 100)); // 5 (a facilitator who works in the sprint counts)
    s.given(cat, declare(300, 100)); // 3
                                     // No velocity yet: zero points.
    assert_eq!(s.state.capacity_points(), Fixed2::ZERO);
    s.given(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: f(150),
        }),
    );
    // (8 + 4.25 + 5 + 3) × 1.5 = 30.375 → 30.38
    assert_eq!(s.state.capacity_points(), f(3038));
    // A removed member and a member moved to observer no longer count.
    s.given(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: cat }),
    );
    s.given(
        fac,
        Command::ChangeRole(ChangeRole {
            participant: bob,
            role: Role::Observer,
        }),
    );
    // (8 + 5) × 1.5
    assert_eq!(s.state.capacity_points(), f(1950));
}

// ======================================================================================
// Estimation
// ======================================================================================

#[test]
fn open_round() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let open = |items: Vec<ItemId>, deadline| {
        Command::OpenRound(OpenRound {
            items,
            deck: None,
            deadline,
        })
    };
    let ev = s
        .try_do(fac, open(vec![a, b], None))
        .then_kinds(&["RoundOpened"]);
    let Event::RoundOpened {
        round,
        deadline,
        live,
        ref deck,
        ..
    } = ev[0]
    else {
        unreachable!()
    };
    assert_eq!(deadline, s.now + 24 * HOUR);
    assert!(!live);
    assert_eq!(*deck, Deck::fibonacci());
    assert_eq!(s.state.items[&a].rounds, vec![round]);
    assert_eq!(s.state.open_round_of(b).map(|r| r.id), Some(round));
    s.when(fac, open(vec![a], None))
        .then_error("item_in_open_round");

    let c = s.propose("c");
    s.when(ann, open(vec![c], None)).then_error("forbidden");
    s.when(fac, open(vec![], None)).then_error("wrong_count");
    let many: Vec<ItemId> = (0..7).map(|n| s.propose(&format!("m{n}"))).collect();
    s.when(fac, open(many.clone(), None))
        .then_error("wrong_count");
    s.when(fac, open(many[..6].to_vec(), None))
        .then_kinds(&["RoundOpened"]);
    s.when(fac, open(vec![c, c], None)).then_error("duplicate");
    s.when(fac, open(vec![unknown_item()], None))
        .then_error("unknown_item");
    s.when(fac, open(vec![c], Some(s.now)))
        .then_error("deadline_in_past");
    s.when(fac, open(vec![c], Some(s.now + 60 * DAY + 1)))
        .then_error("out_of_range");
    s.when(fac, open(vec![c], Some(s.now + 60 * DAY)))
        .then_kinds(&["RoundOpened"]);
    s.when(
        fac,
        Command::OpenRound(OpenRound {
            items: vec![c],
            deck: Some(Deck::custom(vec!["S".into(), "S".into()])),
            deadline: None,
        }),
    )
    .then_error("invalid");
    let ev = s
        .when(
            fac,
            Command::OpenRound(OpenRound {
                items: vec![c],
                deck: Some(Deck::t_shirt()),
                deadline: None,
            }),
        )
        .unwrap();
    assert!(matches!(&ev[0], Event::RoundOpened { deck, .. } if *deck == Deck::t_shirt()));
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: c,
            reason: None,
        }),
    );
    s.when(fac, open(vec![c], None))
        .then_error("item_withdrawn");

    // An item with an agreed estimate is done.
    let d = s.propose("d");
    s.given(fac, agree(d, "3"));
    s.when(fac, open(vec![d], None)).then_error("invalid");

    // Rounds open in async and sync only; in sync they are live.
    let mut draft_s = Scenario::new();
    let x = draft_s.propose("x");
    let fac2 = draft_s.fac;
    draft_s
        .when(fac2, open(vec![x], None))
        .then_error("wrong_phase");
    let e = s.propose("e");
    s.given(fac, Command::StartSync);
    let ev = s.when(fac, open(vec![e], None)).unwrap();
    assert!(matches!(ev[0], Event::RoundOpened { live: true, .. }));
}

#[test]
fn cast_and_withdraw_votes() {
    let (mut s, a, b) = async_team();
    let (fac, ann, obs) = (s.fac, s.id("ann"), s.id("obs"));
    let r = s.open_round(&[a], 60);
    let vote = |round, item, card: &str| {
        Command::CastVote(CastVote {
            round,
            item,
            card: card.into(),
        })
    };
    let ev = s.try_do(ann, vote(r, a, "5")).then_kinds(&["VoteCast"]);
    let Event::VoteCast { nonce, voter, .. } = &ev[0] else {
        unreachable!()
    };
    assert_eq!(*voter, ann);
    assert_eq!(nonce.len(), 32, "a 128-bit nonce seals the card");
    // Voting again changes the vote, with a fresh nonce.
    let ev = s.given(ann, vote(r, a, "8"));
    assert!(matches!(&ev[0], Event::VoteCast { nonce: n2, .. } if n2 != nonce));
    assert_eq!(s.state.rounds[&r].votes[&a][&ann].card, "8");
    s.when(ann, vote(r, a, "?")).then_kinds(&["VoteCast"]);
    s.when(ann, vote(r, a, "☕")).then_kinds(&["VoteCast"]);
    // Observers never vote; neither does the facilitator.
    s.when(obs, vote(r, a, "5")).then_error("forbidden");
    s.when(fac, vote(r, a, "5")).then_error("forbidden");
    s.when(SYSTEM, vote(r, a, "5")).then_error("forbidden");
    s.when(ann, vote(r, a, "4")).then_error("invalid_card");
    s.when(ann, vote(r, a, "XL")).then_error("invalid_card");
    s.when(ann, vote(unknown_round(), a, "5"))
        .then_error("unknown_round");
    s.when(ann, vote(r, b, "5")).then_error("item_not_in_round");

    // Withdraw.
    let wd = |round, item| Command::WithdrawVote(WithdrawVote { round, item });
    let bob = s.id("bob");
    s.when(bob, wd(r, a)).then_error("no_vote");
    s.when(obs, wd(r, a)).then_error("forbidden");
    s.when(ann, wd(r, b)).then_error("item_not_in_round");
    s.try_do(ann, wd(r, a)).then_kinds(&["VoteWithdrawn"]);
    assert!(!s.state.rounds[&r].votes[&a].contains_key(&ann));
    s.when(ann, wd(r, a)).then_error("no_vote");

    // At the deadline voting stops, though the round is still open until closed.
    s.given(ann, vote(r, a, "5"));
    s.advance(60 * MINUTE);
    s.when(bob, vote(r, a, "5")).then_error("deadline_passed");
    s.when(ann, wd(r, a)).then_error("deadline_passed");
    s.given(SYSTEM, Command::CloseRound(CloseRound { round: r }));
    s.when(bob, vote(r, a, "5")).then_error("round_closed");
    s.when(ann, wd(r, a)).then_error("round_closed");
}

#[test]
fn round_closes_in_the_same_command_as_the_last_members_vote() {
    let (mut s, a, b) = async_team();
    let r = s.open_round(&[a, b], 60);
    for who in ["ann", "bob", "cat"] {
        s.vote(who, r, a, "3");
    }
    s.vote("ann", r, b, "5");
    let ev = s.vote("bob", r, b, "5");
    assert_eq!(kinds(&ev), ["VoteCast"], "cat has not voted on b yet");
    let ev = s.vote("cat", r, b, "8");
    assert_eq!(
        kinds(&ev),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert!(matches!(
        ev[1],
        Event::RoundClosed {
            reason: CloseReason::AllVoted,
            ..
        }
    ));
    // The last vote is part of what is revealed.
    let Event::VotesRevealed { item, votes, .. } = &ev[4] else {
        unreachable!()
    };
    assert_eq!(*item, b);
    let cards: Vec<&str> = votes.iter().map(|v| v.card.as_str()).collect();
    assert_eq!(cards.iter().filter(|c| **c == "8").count(), 1);
    assert_eq!(votes.len(), 3);
    assert!(!s.state.rounds[&r].is_open());
    assert_eq!(s.state.rounds[&r].closed, Some(CloseReason::AllVoted));
    // 3 3 3 → 3; 5 5 8 → median 5.
    assert_eq!(s.state.items[&a].proposed_estimate.as_deref(), Some("3"));
    assert_eq!(s.state.items[&b].proposed_estimate.as_deref(), Some("5"));
    s.assert_replays();
}

#[test]
fn close_at_deadline_only_by_the_system_after_the_deadline() {
    let (mut s, a, _) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let r = s.open_round(&[a], 60);
    let close = Command::CloseRound(CloseRound { round: r });
    s.when(SYSTEM, close.clone())
        .then_error("deadline_not_reached");
    s.advance(59 * MINUTE);
    s.when(SYSTEM, close.clone())
        .then_error("deadline_not_reached");
    s.when(ann, close.clone()).then_error("forbidden");
    s.when(
        SYSTEM,
        Command::CloseRound(CloseRound {
            round: unknown_round(),
        }),
    )
    .then_error("unknown_round");
    s.advance(MINUTE);
    let ev = s.try_do(SYSTEM, close.clone()).unwrap();
    assert!(matches!(
        ev[0],
        Event::RoundClosed {
            reason: CloseReason::Deadline,
            ..
        }
    ));
    s.when(SYSTEM, close.clone()).then_error("round_closed");
    s.when(fac, close).then_error("round_closed");
}

#[test]
fn facilitator_may_close_early() {
    let (mut s, a, _) = async_team();
    let fac = s.fac;
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "5");
    let ev = s
        .try_do(fac, Command::CloseRound(CloseRound { round: r }))
        .then_kinds(&["RoundClosed", "VotesRevealed", "EstimateProposed"]);
    assert!(matches!(
        ev[0],
        Event::RoundClosed {
            reason: CloseReason::Facilitator,
            ..
        }
    ));
    // 3, 5: the upper median.
    assert!(matches!(&ev[2], Event::EstimateProposed { card, .. } if card == "5"));
}

/// Closes a one-item async round with the given votes of ann, bob and cat, then returns the
/// close events.
fn close_with(votes: &[(&str, &str)]) -> (Scenario, ItemId, RoundId, Vec<Event>) {
    let (mut s, a, _) = async_team();
    let fac = s.fac;
    let r = s.open_round(&[a], 60);
    for (who, card) in votes {
        s.vote(who, r, a, card);
    }
    let ev = if s.state.rounds[&r].is_open() {
        s.given(fac, Command::CloseRound(CloseRound { round: r }))
    } else {
        Vec::new()
    };
    (s, a, r, ev)
}

fn assert_sealed_flag(ev: &[Event], reason: FlagReason) {
    assert_eq!(kinds(ev), ["RoundClosed", "ItemFlagged"], "{ev:#?}");
    let Event::ItemFlagged {
        reason: got, note, ..
    } = &ev[1]
    else {
        unreachable!()
    };
    assert_eq!(*got, reason);
    assert_eq!(*note, None);
    // The flag's payload names the rule and nothing else: no cards, no votes.
    let (_, _, payload) = ev[1].encode();
    let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["by", "item", "note", "reason", "round"]);
    assert!(["quorum", "unsure", "spread"].contains(&v["reason"].as_str().unwrap()));
}

#[test]
fn spread_is_flagged_and_stays_sealed() {
    let (s, a, r, ev) = close_with(&[("ann", "3"), ("bob", "8")]);
    assert_sealed_flag(&ev, FlagReason::Spread);
    assert!(s.state.rounds[&r].revealed.is_empty());
    assert_eq!(s.state.items[&a].flag.as_ref().unwrap().round, Some(r));
    assert_eq!(s.state.items[&a].proposed_estimate, None);
}

#[test]
fn unsure_is_flagged_and_stays_sealed() {
    let (_, _, _, ev) = close_with(&[("ann", "?"), ("bob", "3"), ("cat", "3")]);
    // Everyone voted: the round closed with cat's vote.
    assert!(ev.is_empty());
    let (_, _, _, ev) = close_with(&[("ann", "?"), ("bob", "3")]);
    assert_sealed_flag(&ev, FlagReason::Unsure);
}

#[test]
fn quorum_is_flagged_and_stays_sealed() {
    // 1 of 3 members is below the default 50 %; a ☕ is not a vote.
    let (_, _, _, ev) = close_with(&[("ann", "5"), ("bob", "☕")]);
    assert_sealed_flag(&ev, FlagReason::Quorum);
    let (_, _, _, ev) = close_with(&[]);
    assert_sealed_flag(&ev, FlagReason::Quorum);
}

#[test]
fn all_voted_close_of_a_flagged_item_is_sealed_too() {
    let (mut s, a, _) = async_team();
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "1");
    s.vote("bob", r, a, "1");
    let ev = s.vote("cat", r, a, "13");
    assert_eq!(kinds(&ev), ["VoteCast", "RoundClosed", "ItemFlagged"]);
    assert!(matches!(
        ev[2],
        Event::ItemFlagged {
            reason: FlagReason::Spread,
            ..
        }
    ));
}

#[test]
fn converged_proposal_is_the_median_card_rounding_up() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("ann", "3"), ("bob", "5")], "5"),
        (&[("ann", "3"), ("bob", "3"), ("cat", "5")], "3"),
        (&[("ann", "5"), ("bob", "3"), ("cat", "5")], "5"),
        (&[("ann", "8"), ("bob", "5"), ("cat", "☕")], "8"),
        (&[("ann", "0"), ("bob", "1")], "1"),
    ];
    for (votes, want) in cases {
        let (s, a, _, ev) = close_with(votes);
        let ev = if ev.is_empty() {
            // Closed by the last vote: look at the log's tail.
            s.events[s.events.len() - 3..].to_vec()
        } else {
            ev
        };
        assert_eq!(
            kinds(&ev),
            ["RoundClosed", "VotesRevealed", "EstimateProposed"]
        );
        let Event::VotesRevealed { votes: shown, .. } = &ev[1] else {
            unreachable!()
        };
        assert_eq!(shown.len(), votes.len());
        assert!(
            matches!(&ev[2], Event::EstimateProposed { card, .. } if card == want),
            "{votes:?} → {ev:?}"
        );
        assert_eq!(s.state.items[&a].proposed_estimate.as_deref(), Some(*want));
    }
}

#[test]
fn divergence_policy_is_configurable() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    let mut p = Policy::default();
    p.divergence.spread_steps = 3;
    p.divergence.flag_unsure = false;
    p.divergence.quorum_percent = 0;
    s.given(fac, Command::SetPolicy(SetPolicy { policy: p }));
    let r = s.open_round(&[a, b], 60);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "8"); // 2 steps: fine with spread_steps 3
    s.vote("ann", r, b, "?");
    s.vote("bob", r, b, "2");
    let ev = s.given(fac, Command::CloseRound(CloseRound { round: r }));
    assert_eq!(
        kinds(&ev),
        [
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert!(matches!(&ev[2], Event::EstimateProposed { card, .. } if card == "8"));
    assert!(matches!(&ev[4], Event::EstimateProposed { card, .. } if card == "2"));
}

#[test]
fn live_round_reveals_flagged_items_at_close() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    s.given(fac, Command::StartSync);
    let r = s.open_round(&[a, b], 10);
    assert!(s.state.rounds[&r].live);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "13");
    s.vote("ann", r, b, "5");
    s.vote("bob", r, b, "5");
    let ev = s.given(fac, Command::CloseRound(CloseRound { round: r }));
    assert_eq!(
        kinds(&ev),
        [
            "RoundClosed",
            "VotesRevealed",
            "ItemFlagged",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert_eq!(s.state.rounds[&r].revealed.len(), 2);
    // A flag raised while the session runs lands on the agenda.
    assert!(s.state.agenda.contains(&a));
    s.when(fac, Command::RevealVotes(RevealVotes { round: r, item: a }))
        .then_error("already_revealed");
}

#[test]
fn reveal_votes_live_shows_sealed_votes_at_once() {
    let (mut s, a, b) = async_team();
    let (fac, ann, bob) = (s.fac, s.id("ann"), s.id("bob"));
    let r = s.open_round(&[a, b], 60);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "13");
    s.vote("ann", r, b, "5");
    s.vote("bob", r, b, "5");
    let reveal = |item| Command::RevealVotes(RevealVotes { round: r, item });
    // Not while the round is open, not outside the live session.
    s.given(fac, Command::StartSync);
    s.when(fac, reveal(a)).then_error("round_open");
    s.given(fac, Command::EndSync);
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    assert!(!s.state.rounds[&r].revealed.contains_key(&a));
    s.when(fac, reveal(a)).then_error("sync_not_running");
    s.given(fac, Command::StartSync);
    assert_eq!(s.state.agenda, vec![a]);
    s.when(ann, reveal(a)).then_error("forbidden");
    s.when(
        fac,
        Command::RevealVotes(RevealVotes {
            round: unknown_round(),
            item: a,
        }),
    )
    .then_error("unknown_round");
    let c = s.propose("c");
    s.when(fac, reveal(c)).then_error("item_not_in_round");
    s.when(fac, reveal(b)).then_error("already_revealed");
    let ev = s.try_do(fac, reveal(a)).then_kinds(&["VotesRevealed"]);
    let Event::VotesRevealed { votes, .. } = &ev[0] else {
        unreachable!()
    };
    assert_eq!(
        votes,
        &vec![
            RevealedVote {
                voter: ann,
                card: "3".into()
            },
            RevealedVote {
                voter: bob,
                card: "13".into()
            }
        ]
    );
    s.when(fac, reveal(a)).then_error("already_revealed");
    s.assert_replays();
}

#[test]
fn flag_and_clear_flag() {
    let (mut s, a, _) = async_team();
    let (fac, ann, obs) = (s.fac, s.id("ann"), s.id("obs"));
    let flag = |i, note: Option<&str>| {
        Command::FlagItem(FlagItem {
            item: i,
            note: note.map(str::to_string),
        })
    };
    s.when(obs, flag(a, None)).then_error("forbidden");
    s.when(ann, flag(unknown_item(), None))
        .then_error("unknown_item");
    s.when(ann, flag(a, Some(&"n".repeat(501))))
        .then_error("too_long");
    s.when(fac, Command::ClearFlag(ClearFlag { item: a }))
        .then_error("not_flagged");
    let ev = s
        .try_do(ann, flag(a, Some("needs design")))
        .then_kinds(&["ItemFlagged"]);
    assert!(matches!(
        &ev[0],
        Event::ItemFlagged {
            reason: FlagReason::Manual,
            round: None,
            ..
        }
    ));
    s.when(ann, flag(a, None)).then_error("invalid");
    s.when(ann, Command::ClearFlag(ClearFlag { item: a }))
        .then_error("forbidden");
    s.try_do(fac, Command::ClearFlag(ClearFlag { item: a }))
        .then_kinds(&["FlagCleared"]);
    assert!(s.state.items[&a].flag.is_none());
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: a,
            reason: None,
        }),
    );
    s.when(ann, flag(a, None)).then_error("item_withdrawn");
    s.when(fac, Command::ClearFlag(ClearFlag { item: a }))
        .then_error("item_withdrawn");
}

#[test]
fn agree_estimates_with_points() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let r = s.open_round(&[a], 60);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "5");
    s.vote("cat", r, a, "5");
    s.given(
        ann,
        Command::FlagItem(FlagItem {
            item: a,
            note: None,
        }),
    );
    let ev = s
        .try_do(
            fac,
            Command::AgreeEstimates(AgreeEstimates {
                estimates: vec![
                    AgreedEstimate {
                        item: a,
                        card: "5".into(),
                    },
                    AgreedEstimate {
                        item: b,
                        card: "8".into(),
                    },
                ],
            }),
        )
        .then_kinds(&["EstimateAgreed", "EstimateAgreed"]);
    assert!(matches!(&ev[0], Event::EstimateAgreed { points: Some(p), .. } if *p == f(500)));
    let it = &s.state.items[&a];
    assert_eq!(it.estimate.as_deref(), Some("5"));
    assert_eq!(it.points, Some(f(500)));
    assert!(it.flag.is_none() && it.proposed_estimate.is_none());
    assert_eq!(s.state.items[&b].points, Some(f(800)));
    // Agreeing again changes the estimate.
    s.when(fac, agree(a, "3")).then_kinds(&["EstimateAgreed"]);

    s.when(ann, agree(a, "5")).then_error("forbidden");
    for bad in ["?", "☕", "4", "M"] {
        s.when(fac, agree(a, bad)).then_error("invalid_card");
    }
    s.when(fac, agree(unknown_item(), "5"))
        .then_error("unknown_item");
    s.when(
        fac,
        Command::AgreeEstimates(AgreeEstimates { estimates: vec![] }),
    )
    .then_error("wrong_count");
    s.when(
        fac,
        Command::AgreeEstimates(AgreeEstimates {
            estimates: vec![
                AgreedEstimate {
                    item: a,
                    card: "5".into(),
                },
                AgreedEstimate {
                    item: a,
                    card: "3".into(),
                },
            ],
        }),
    )
    .then_error("duplicate");
    let c = s.propose("c");
    s.open_round(&[c], 60);
    s.when(fac, agree(c, "5")).then_error("item_in_open_round");
    let d = s.propose("d");
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: d,
            reason: None,
        }),
    );
    s.when(fac, agree(d, "5")).then_error("item_withdrawn");
}

#[test]
fn t_shirt_estimates_get_points_from_the_point_table() {
    let mut s = Scenario::empty();
    let fac = s.fac;
    let mut c = create_cmd();
    if let Command::CreatePlanning(CreatePlanning { deck, .. }) = &mut c {
        *deck = Some(Deck::t_shirt());
    }
    s.given(fac, c);
    s.people.insert("fay".into(), fac);
    let mut s = s.member("ann");
    let a = s.propose("a");
    let b = s.propose("b");
    s.phase(Phase::Async);
    let r = s.open_round(&[a], 60);
    s.when(
        s.id("ann"),
        Command::CastVote(CastVote {
            round: r,
            item: a,
            card: "5".into(),
        }),
    )
    .then_error("invalid_card");
    let ev = s.vote("ann", r, a, "L");
    assert!(matches!(&ev[3], Event::EstimateProposed { card, .. } if card == "L"));
    let ev = s.given(fac, agree(a, "L"));
    assert!(matches!(&ev[0], Event::EstimateAgreed { points: Some(p), .. } if *p == f(500)));
    // A custom table overrides the defaults.
    let mut p = Policy::default();
    p.point_table.insert("M".into(), f(400));
    s.given(fac, Command::SetPolicy(SetPolicy { policy: p }));
    let ev = s.given(fac, agree(b, "M"));
    assert!(matches!(&ev[0], Event::EstimateAgreed { points: Some(p), .. } if *p == f(400)));
    // A card without a number nor a table entry has no points.
    let mut p = Policy::default();
    p.point_table.clear();
    s.given(fac, Command::SetPolicy(SetPolicy { policy: p }));
    let ev = s.given(fac, agree(b, "XL"));
    assert!(matches!(&ev[0], Event::EstimateAgreed { points: None, .. }));
}

#[test]
fn agreed_estimate_uses_the_deck_of_the_items_latest_round() {
    let (mut s, a, _) = async_team();
    let fac = s.fac;
    s.given(
        fac,
        Command::OpenRound(OpenRound {
            items: vec![a],
            deck: Some(Deck::modified_fibonacci()),
            deadline: None,
        }),
    );
    let r = s.state.items[&a].rounds[0];
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    s.when(fac, agree(a, "21")).then_error("invalid_card");
    let ev = s.given(fac, agree(a, "½"));
    assert!(matches!(&ev[0], Event::EstimateAgreed { points: Some(p), .. } if *p == f(50)));
}

/// A re-vote round is live (everything in it is revealed at its close), so it may only be
/// opened while the live session runs: in phase `sync` without a session (moved there by hand,
/// or after `EndSync`) its flagged votes would be revealed with nobody live.
#[test]
fn revote_needs_the_running_live_session() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    let r = s.open_round(&[a, b], 60);
    s.vote("ann", r, a, "2");
    s.vote("bob", r, a, "13");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    let revote = Command::Revote(Revote {
        previous: r,
        items: vec![a],
        deadline: None,
    });
    s.phase(Phase::Sync);
    assert!(!s.state.sync_running);
    s.when(fac, revote.clone()).then_error("sync_not_running");
    s.given(fac, Command::StartSync);
    s.given(fac, Command::EndSync);
    s.when(fac, revote.clone()).then_error("sync_not_running");
    s.given(fac, Command::StartSync);
    s.try_do(fac, revote).then_kinds(&["RevoteOpened"]);
}

/// A live round reveals everything at its close, but only while the session still runs: one
/// that closes after the session ended keeps its flagged votes sealed until the next session
/// reveals them (no anchoring before the discussion).
#[test]
fn a_live_round_closing_after_its_session_keeps_flagged_votes_sealed() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    s.given(fac, Command::StartSync);
    let r = s.open_round(&[a, b], 10);
    assert!(s.state.rounds[&r].live);
    s.vote("ann", r, a, "3");
    s.vote("bob", r, a, "13");
    s.vote("ann", r, b, "5");
    s.vote("bob", r, b, "5");
    s.given(fac, Command::EndSync);
    s.advance(10 * MINUTE);
    let ev = s.given(SYSTEM, Command::CloseRound(CloseRound { round: r }));
    assert_eq!(
        kinds(&ev),
        [
            "RoundClosed",
            "ItemFlagged",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::VotesRevealed { item, .. } if *item == a)),
        "{ev:#?}"
    );
    assert!(!s.state.rounds[&r].revealed.contains_key(&a));
    s.given(fac, Command::StartSync);
    s.try_do(fac, Command::RevealVotes(RevealVotes { round: r, item: a }))
        .then_kinds(&["VotesRevealed"]);
    s.assert_replays();
}

#[test]
fn revote_in_the_live_session() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let r = s.open_round(&[a, b], 60);
    s.vote("ann", r, a, "2");
    s.vote("bob", r, a, "13");
    let revote = |items: Vec<ItemId>| {
        Command::Revote(Revote {
            previous: r,
            items,
            deadline: None,
        })
    };
    s.when(fac, revote(vec![a])).then_error("wrong_phase");
    s.given(fac, Command::StartSync);
    s.when(fac, revote(vec![a])).then_error("round_open");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    s.given(fac, Command::RevealVotes(RevealVotes { round: r, item: a }));
    s.when(ann, revote(vec![a])).then_error("forbidden");
    s.when(fac, revote(vec![])).then_error("empty");
    s.when(fac, revote(vec![a, a])).then_error("duplicate");
    s.when(
        fac,
        Command::Revote(Revote {
            previous: unknown_round(),
            items: vec![a],
            deadline: None,
        }),
    )
    .then_error("unknown_round");
    let c = s.propose("c");
    s.when(fac, revote(vec![c])).then_error("item_not_in_round");
    s.when(
        fac,
        Command::Revote(Revote {
            previous: r,
            items: vec![a],
            deadline: Some(s.now - 1),
        }),
    )
    .then_error("deadline_in_past");
    let ev = s.try_do(fac, revote(vec![a])).then_kinds(&["RevoteOpened"]);
    let Event::RevoteOpened {
        round: r2,
        previous,
        deadline,
        ref deck,
        ..
    } = ev[0]
    else {
        unreachable!()
    };
    assert_eq!(previous, r);
    assert_eq!(deadline, s.now + 10 * MINUTE);
    assert_eq!(*deck, Deck::fibonacci());
    let round = &s.state.rounds[&r2];
    assert!(round.live && round.previous == Some(r));
    assert_eq!(s.state.items[&a].rounds, vec![r, r2]);
    s.when(fac, revote(vec![a]))
        .then_error("item_in_open_round");
    s.vote("ann", r2, a, "5");
    s.vote("bob", r2, a, "5");
    let ev = s.vote("cat", r2, a, "8");
    assert_eq!(
        kinds(&ev),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: b,
            reason: None,
        }),
    );
    s.when(fac, revote(vec![b])).then_error("item_withdrawn");
    s.assert_replays();
}

// ======================================================================================
// Sync and decisions
// ======================================================================================

#[test]
fn start_sync_sets_the_agenda_to_flagged_items_by_rank() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let c = s.propose("c");
    s.given(
        ann,
        Command::FlagItem(FlagItem {
            item: a,
            note: None,
        }),
    );
    s.given(
        ann,
        Command::FlagItem(FlagItem {
            item: c,
            note: None,
        }),
    );
    s.given(
        fac,
        Command::RankItems(RankItems {
            order: vec![c, b, a],
        }),
    );
    s.when(ann, Command::StartSync).then_error("forbidden");
    let ev =
        s.try_do(fac, Command::StartSync)
            .then_kinds(&["PhaseChanged", "SyncStarted", "AgendaSet"]);
    assert!(matches!(&ev[2], Event::AgendaSet { items, .. } if *items == vec![c, a]));
    assert!(s.state.sync_running);
    assert_eq!(s.state.phase, Some(Phase::Sync));
    s.when(fac, Command::StartSync).then_error("sync_running");
    s.when(ann, Command::EndSync).then_error("forbidden");
    s.try_do(fac, Command::EndSync).then_kinds(&["SyncEnded"]);
    s.when(fac, Command::EndSync).then_error("sync_not_running");
    // Restarting in the sync phase needs no phase change.
    s.when(fac, Command::StartSync)
        .then_kinds(&["SyncStarted", "AgendaSet"]);
}

#[test]
fn set_agenda() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let set = |items| Command::SetAgenda(SetAgenda { items });
    s.when(ann, set(vec![a])).then_error("forbidden");
    s.when(fac, set(vec![a, a])).then_error("duplicate");
    s.when(fac, set(vec![unknown_item()]))
        .then_error("unknown_item");
    s.try_do(fac, set(vec![b, a])).then_kinds(&["AgendaSet"]);
    assert_eq!(s.state.agenda, vec![b, a]);
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: a,
            reason: None,
        }),
    );
    assert_eq!(s.state.agenda, vec![b]);
    s.when(fac, set(vec![a])).then_error("item_withdrawn");
}

#[test]
fn coin_flip_is_uniform_and_recorded() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let flip = |q: &str, opts: &[&str]| {
        Command::FlipCoin(FlipCoin {
            question: q.into(),
            options: opts.iter().map(|o| o.to_string()).collect(),
        })
    };
    s.when(ann, flip("q", &["a", "b"])).then_error("forbidden");
    s.when(fac, flip("q", &["a"])).then_error("wrong_count");
    s.when(fac, flip("q", &["o"; 21])).then_error("wrong_count");
    s.when(fac, flip("", &["a", "b"])).then_error("empty");
    s.when(fac, flip("q", &["a", ""])).then_error("empty");
    s.when(fac, flip("q", &["a", "b\nc"]))
        .then_error("bad_characters");
    let ev = s
        .try_do(fac, flip("Who demos?", &["ann", "bob"]))
        .then_kinds(&["CoinFlipped"]);
    let Event::CoinFlipped { outcome, .. } = ev[0] else {
        unreachable!()
    };
    assert!(outcome < 2);
    assert_eq!(s.state.coin_flips.len(), 1);
    assert_eq!(s.state.coin_flips[0].outcome, outcome);

    // Seeded: the same rng gives the same outcome.
    let once = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ctx = Context {
            actor: fac,
            now: T0,
            rng: &mut rng,
        };
        decide(&s.state, &flip("q", &["a", "b", "c"]), &mut ctx).unwrap()
    };
    assert_eq!(once(5), once(5));
    // Uniform in range: 3000 flips over 3 options land ~1000 each.
    let mut rng = StdRng::seed_from_u64(42);
    let mut counts = [0u32; 3];
    for _ in 0..3000 {
        let mut ctx = Context {
            actor: fac,
            now: T0,
            rng: &mut rng,
        };
        let ev = decide(&s.state, &flip("q", &["a", "b", "c"]), &mut ctx).unwrap();
        let Event::CoinFlipped { outcome, .. } = ev[0] else {
            unreachable!()
        };
        counts[outcome as usize] += 1;
    }
    assert!(
        counts.iter().all(|c| (850..=1150).contains(c)),
        "{counts:?}"
    );
    // All 20 options are reachable.
    let opts: Vec<String> = (0..20).map(|n| format!("o{n}")).collect();
    let mut seen = [false; 20];
    for _ in 0..2000 {
        let mut ctx = Context {
            actor: fac,
            now: T0,
            rng: &mut rng,
        };
        let ev = decide(
            &s.state,
            &Command::FlipCoin(FlipCoin {
                question: "q".into(),
                options: opts.clone(),
            }),
            &mut ctx,
        )
        .unwrap();
        let Event::CoinFlipped { outcome, .. } = ev[0] else {
            unreachable!()
        };
        seen[outcome as usize] = true;
    }
    assert!(seen.iter().all(|s| *s));
}

/// A planning in sync with an agreed 5 on `a` and 8 on `b`, a goal, and capacity 10 points.
fn ready_to_commit() -> (Scenario, ItemId, ItemId) {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    s.given(
        fac,
        Command::DraftGoal(DraftGoal {
            text: "Login".into(),
        }),
    );
    s.given(ann, declare(1000, 100));
    s.given(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: f(100),
        }),
    );
    s.given(fac, agree(a, "5"));
    s.given(fac, agree(b, "8"));
    s.given(fac, Command::StartSync);
    (s, a, b)
}

#[test]
fn commit_scope_within_capacity() {
    let (mut s, a, _) = ready_to_commit();
    let fac = s.fac;
    let ev = s
        .try_do(
            fac,
            Command::CommitScope(CommitScope {
                items: vec![a],
                confirm_over_capacity: true,
            }),
        )
        .then_kinds(&[
            "GoalCommitted",
            "SyncEnded",
            "ScopeCommitted",
            "PhaseChanged",
        ]);
    assert!(matches!(
        ev[2],
        Event::ScopeCommitted {
            points,
            capacity,
            over_capacity_confirmed: false,
            ..
        } if points == f(500) && capacity == f(1000)
    ));
    assert_eq!(s.state.phase, Some(Phase::Committed));
    assert!(!s.state.sync_running);
    assert!(s.state.goal.as_ref().unwrap().committed);
    let c = s.state.commitment.clone().unwrap();
    assert_eq!(c.items, vec![a]);
    s.assert_replays();
}

#[test]
fn commit_over_capacity_needs_a_recorded_confirmation() {
    let (mut s, a, b) = ready_to_commit();
    let (fac, ann) = (s.fac, s.id("ann"));
    let commit = |confirm| {
        Command::CommitScope(CommitScope {
            items: vec![a, b],
            confirm_over_capacity: confirm,
        })
    };
    let e = s.when(fac, commit(false)).then_error("over_capacity");
    assert_eq!(
        e,
        DomainError::OverCapacity {
            points: f(1300),
            capacity: f(1000)
        }
    );
    s.when(ann, commit(true)).then_error("forbidden");
    s.given(fac, Command::CommitGoal);
    s.given(fac, Command::EndSync);
    // Goal already committed and no live session: just the scope and the phase.
    let ev = s
        .try_do(fac, commit(true))
        .then_kinds(&["ScopeCommitted", "PhaseChanged"]);
    assert!(matches!(
        ev[0],
        Event::ScopeCommitted {
            over_capacity_confirmed: true,
            ..
        }
    ));
    assert!(s.state.commitment.as_ref().unwrap().over_capacity_confirmed);
}

#[test]
fn commit_scope_rejections() {
    let (mut s, a, _) = ready_to_commit();
    let fac = s.fac;
    let commit = |items| {
        Command::CommitScope(CommitScope {
            items,
            confirm_over_capacity: false,
        })
    };
    let c = s.propose("unestimated");
    s.when(fac, commit(vec![c])).then_error("no_estimate");
    s.when(fac, commit(vec![unknown_item()]))
        .then_error("unknown_item");
    s.when(fac, commit(vec![a, a])).then_error("duplicate");
    let r = s.open_round(&[c], 10);
    s.when(fac, commit(vec![a])).then_error("round_open");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    let d = s.propose("d");
    s.given(fac, agree(d, "1"));
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: d,
            reason: None,
        }),
    );
    s.when(fac, commit(vec![d])).then_error("item_withdrawn");
    // An empty scope is allowed (nothing fits).
    s.when(fac, commit(vec![])).then_kinds(&[
        "GoalCommitted",
        "SyncEnded",
        "ScopeCommitted",
        "PhaseChanged",
    ]);

    // No goal; wrong phase.
    let (mut t, a, _) = async_team();
    let fac = t.fac;
    t.given(fac, agree(a, "5"));
    t.when(fac, commit(vec![a])).then_error("no_goal");
    t.phase(Phase::Draft);
    t.given(fac, Command::DraftGoal(DraftGoal { text: "g".into() }));
    t.when(fac, commit(vec![a])).then_error("wrong_phase");
    t.phase(Phase::Async);
    // Without any capacity declared, every point is over capacity.
    t.when(fac, commit(vec![a])).then_error("over_capacity");
    t.when(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![a],
            confirm_over_capacity: true,
        }),
    )
    .then_kinds(&["GoalCommitted", "ScopeCommitted", "PhaseChanged"]);
}

#[test]
fn committed_points_stay_decodable() {
    // 11 cards of 999 999 999 points add up past what a Fixed2 survives on the wire.
    let mut s = Scenario::empty();
    let fac = s.fac;
    let mut c = create_cmd();
    if let Command::CreatePlanning(CreatePlanning { deck, .. }) = &mut c {
        *deck = Some(Deck::custom(vec!["1".into(), "999999999".into()]));
    }
    s.given(fac, c);
    let items: Vec<ItemId> = (0..11).map(|n| s.propose(&format!("i{n}"))).collect();
    s.given(fac, Command::DraftGoal(DraftGoal { text: "g".into() }));
    s.phase(Phase::Async);
    s.given(
        fac,
        Command::AgreeEstimates(AgreeEstimates {
            estimates: items
                .iter()
                .map(|i| AgreedEstimate {
                    item: *i,
                    card: "999999999".into(),
                })
                .collect(),
        }),
    );
    let commit = |items: &[ItemId]| {
        Command::CommitScope(CommitScope {
            items: items.to_vec(),
            confirm_over_capacity: true,
        })
    };
    s.when(fac, commit(&items)).then_error("invalid");
    let ev = s.when(fac, commit(&items[..10])).unwrap();
    for e in &ev {
        let (k, v, p) = e.encode();
        assert_eq!(&Event::decode(k, v, &p).unwrap(), e);
    }
    // A point table entry must survive the wire as well.
    let mut p = Policy::default();
    p.point_table
        .insert("XL".into(), Fixed2::from_hundredths(Fixed2::MAX.0 + 1));
    s.when(fac, Command::SetPolicy(SetPolicy { policy: p }))
        .then_error("out_of_range");
}

/// The capacity recorded in `ScopeCommitted` must survive the wire too: 27,400 people at 366
/// days, focus 1 and 1000 points per day add up past the largest number a `Fixed2` decodes
/// from, and an undecodable event would make the planning's log unreadable for good.
#[test]
fn committed_capacity_stays_decodable() {
    let mut s = Scenario::new();
    let fac = s.fac;
    let a = s.propose("Login");
    s.given(fac, Command::DraftGoal(DraftGoal { text: "g".into() }));
    s.phase(Phase::Async);
    s.given(fac, agree(a, "5"));
    s.given(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: Fixed2::from_int(1000),
        }),
    );
    // Built as events: 27,400 joins through `given` would replay the harness's checks each time.
    for n in 0..27_400u64 {
        let p = ParticipantId(Uuid::from_u128(1_000_000 + u128::from(n)));
        for e in [
            Event::ParticipantJoined {
                participant: p,
                name: format!("p{n}"),
                role: Role::Member,
                token_hash: hash(1_000_000 + n),
                at: s.now,
            },
            Event::CapacityDeclared {
                participant: p,
                available_days: Fixed2::from_int(366),
                focus_factor: Fixed2::ONE,
                notes: None,
                by: p,
            },
        ] {
            s.state.apply(&e);
            s.events.push(e);
        }
    }
    assert!(s.state.capacity_points() > Fixed2::MAX);
    let ev = s
        .try_do(
            fac,
            Command::CommitScope(CommitScope {
                items: vec![a],
                confirm_over_capacity: false,
            }),
        )
        .then_kinds(&["GoalCommitted", "ScopeCommitted", "PhaseChanged"]);
    for e in &ev {
        let (k, v, p) = e.encode();
        match Event::decode(k, v, &p) {
            Ok(back) => assert_eq!(&back, e),
            Err(err) => panic!("{k} {p} does not decode: {err}"),
        }
    }
}

#[test]
fn committed_planning_is_read_mostly() {
    let (mut s, a, b) = ready_to_commit();
    let (fac, ann) = (s.fac, s.id("ann"));
    s.given(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![a],
            confirm_over_capacity: false,
        }),
    );
    let wrong_phase: Vec<(ParticipantId, Command)> = vec![
        (fac, Command::ChangePhase(ChangePhase { to: Phase::Sync })),
        (fac, Command::StartSync),
        (
            fac,
            Command::ProposeItem(ProposeItem {
                draft: draft("late"),
            }),
        ),
        (fac, agree(b, "3")),
        (
            fac,
            Command::OpenRound(OpenRound {
                items: vec![b],
                deck: None,
                deadline: None,
            }),
        ),
        (
            fac,
            Command::CommitScope(CommitScope {
                items: vec![a],
                confirm_over_capacity: true,
            }),
        ),
        (ann, declare(100, 100)),
        (
            fac,
            Command::ChangeRole(ChangeRole {
                participant: ann,
                role: Role::Observer,
            }),
        ),
        (
            ann,
            Command::FlagItem(FlagItem {
                item: b,
                note: None,
            }),
        ),
        (
            fac,
            Command::FlipCoin(FlipCoin {
                question: "q".into(),
                options: vec!["a".into(), "b".into()],
            }),
        ),
        (fac, Command::DraftGoal(DraftGoal { text: "x".into() })),
        (
            fac,
            Command::SetVelocity(SetVelocity {
                points_per_day: f(100),
            }),
        ),
    ];
    for (who, cmd) in wrong_phase {
        let c = format!("{cmd:?}");
        let e = s.when(who, cmd).unwrap_err();
        assert_eq!(e.code(), "wrong_phase", "{c}: {e:?}");
    }
    // People and conversation still work.
    s.when(ann, comment(CommentKind::Comment, None, "retro note"))
        .then_kinds(&["CommentPosted"]);
    s.when(ann, Command::Rename(Rename { name: "A".into() }))
        .then_kinds(&["ParticipantRenamed"]);
}

#[test]
fn reminders_are_system_only() {
    let (mut s, a, _) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let r = s.open_round(&[a], 60);
    let remind = |p, round| {
        Command::RecordReminder(RecordReminder {
            participant: p,
            round,
        })
    };
    s.when(fac, remind(ann, Some(r))).then_error("forbidden");
    s.when(SYSTEM, remind(unknown_person(), None))
        .then_error("unknown_participant");
    s.when(SYSTEM, remind(ann, Some(unknown_round())))
        .then_error("unknown_round");
    s.try_do(SYSTEM, remind(ann, Some(r)))
        .then_kinds(&["ReminderSent"]);
    assert!(s.state.reminders.contains(&(ann, Some(r))));
}

#[test]
fn the_system_actor_only_sends_its_own_commands() {
    let (mut s, a, _) = async_team();
    let cmds = vec![
        Command::ProposeItem(ProposeItem { draft: draft("x") }),
        Command::StartSync,
        Command::ChangePhase(ChangePhase { to: Phase::Sync }),
        agree(a, "5"),
        Command::FlagItem(FlagItem {
            item: a,
            note: None,
        }),
        Command::SetTimeZone(SetTimeZone {
            time_zone: "UTC".into(),
            work_start_minute: None,
            work_end_minute: None,
            work_days: None,
        }),
    ];
    for c in cmds {
        s.when(SYSTEM, c).then_error("forbidden");
    }
    // Unknown people are not participants.
    s.when(unknown_person(), Command::StartSync)
        .then_error("not_a_participant");
}

#[test]
fn a_whole_planning_replays_to_the_live_state() {
    let (mut s, a, b) = ready_to_commit();
    let fac = s.fac;
    let c = s.propose("c");
    let r = s.open_round(&[c], 10);
    s.vote("ann", r, c, "1");
    s.vote("bob", r, c, "21");
    s.advance(10 * MINUTE);
    s.given(SYSTEM, Command::CloseRound(CloseRound { round: r }));
    s.given(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![a, b],
            confirm_over_capacity: true,
        }),
    );
    s.assert_replays();
    for e in &s.events {
        let (k, v, p) = e.encode();
        assert_eq!(&Event::decode(k, v, &p).unwrap(), e);
    }
}

#[test]
fn back_to_draft_is_refused_while_a_round_is_open() {
    let mut s = Scenario::new().member("ann");
    let fac = s.fac;
    s.phase(Phase::Async);
    let a = s.propose("a");
    let r = s.open_round(&[a], 60);
    s.when(fac, Command::ChangePhase(ChangePhase { to: Phase::Draft }))
        .then_error("round_open");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    s.given(fac, Command::ChangePhase(ChangePhase { to: Phase::Draft }));
}

#[test]
fn rotating_an_invite_to_the_other_roles_invite_is_refused() {
    let mut s = Scenario::new();
    let fac = s.fac;
    s.when(
        fac,
        Command::RotateInvite(RotateInvite {
            role: Role::Member,
            invite_hash: observer_invite(),
        }),
    )
    .then_error("invalid");
}

#[test]
fn a_round_opened_in_sync_phase_without_a_session_is_not_live() {
    let mut s = Scenario::new().member("ann");
    s.phase(Phase::Sync);
    let a = s.propose("a");
    let r = s.open_round(&[a], 60);
    assert!(!s.state.rounds[&r].live);
}

#[test]
fn a_participant_rotates_their_own_link_but_no_one_elses() {
    let mut s = Scenario::new().member("ann").member("bob");
    let (ann, bob) = (s.id("ann"), s.id("bob"));
    let old = s.state.participants[&ann].token_hashes[0].clone();
    let re = |p, h: String, revoke| {
        Command::ReissueLink(ReissueLink {
            participant: p,
            token_hash: h,
            revoke_previous: revoke,
        })
    };
    s.when(ann, re(bob, hash(500), true))
        .then_error("forbidden");
    s.when(ann, re(ann, hash(500), false))
        .then_error("forbidden");
    s.try_do(ann, re(ann, hash(501), true))
        .then_kinds(&["ParticipantLinkReissued"]);
    assert!(s.state.participant_by_token(&old).is_none());
    assert_eq!(s.state.participants[&ann].token_hashes, vec![hash(501)]);
}
