//! Room and people: given/when/then.

use super::*;

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
        // Default-ignorable code points: they display as nothing, so `An\u{200b}n` poses as Ann.
        ("An\u{200b}n", "bad_characters"),
        ("Ann\u{200e}", "bad_characters"),
        ("\u{200f}Ann", "bad_characters"),
        ("An\u{061c}n", "bad_characters"),
        ("\u{feff}Ann", "bad_characters"),
        ("An\u{00ad}n", "bad_characters"),
        ("An\u{200d}n", "bad_characters"),
        ("An\u{2060}n", "bad_characters"),
        ("A\u{3164}", "bad_characters"),
        (&*"n".repeat(81), "too_long"),
    ] {
        s.when(new, join(bad, member_invite(), hash(60)))
            .then_error(code);
    }
    s.when(new, join("X", member_invite(), "short".into()))
        .then_error("invalid_format");
    // Emoji keep their joiners and variation selectors.
    s.when(
        new,
        join(
            "Ann \u{2764}\u{fe0f} \u{1f469}\u{200d}\u{1f4bb}",
            member_invite(),
            hash(60),
        ),
    )
    .then_kinds(&["ParticipantJoined"]);
    // 80 characters (not bytes) is fine.
    s.when(new, join(&"é".repeat(80), member_invite(), hash(60)))
        .then_kinds(&["ParticipantJoined"]);
}

#[test]
fn a_planning_takes_at_most_500_participants() {
    let mut s = Scenario::new();
    let join = |i: usize| {
        Command::Join(Join {
            name: format!("P{i}"),
            invite_hash: member_invite(),
            token_hash: hash(10_000 + i as u64),
        })
    };
    for i in s.state.participants.len()..500 {
        let new = s.fresh_id();
        s.given(new, join(i));
    }
    let new = s.fresh_id();
    let err = s.when(new, join(500)).then_error("invalid");
    assert_eq!(err.to_string(), "a planning has at most 500 participants");
}

#[test]
fn a_name_that_is_or_looks_like_someone_elses_is_refused() {
    let mut s = Scenario::new().member("Ann").member("Bob");
    let bob = s.id("Bob");
    let join = |name: &str, n: u64| {
        Command::Join(Join {
            name: name.into(),
            invite_hash: member_invite(),
            token_hash: hash(700 + n),
        })
    };
    let new = s.fresh_id();
    // The same name, in another case or with spaces, or with a look-alike letter (Cyrillic А,
    // Greek Α, a digit 0 for O).
    for (n, name) in ["Ann", "ann", " ANN ", "\u{410}nn", "\u{391}nn"]
        .iter()
        .enumerate()
    {
        let err = s.when(new, join(name, n as u64)).then_error("name_taken");
        assert_eq!(
            err.to_string(),
            "Ann is already the name of someone here, or looks like it: choose another"
        );
    }
    s.when(
        bob,
        Command::Rename(Rename {
            name: "\u{410}NN".into(),
        }),
    )
    .then_error("name_taken");
    // Someone else's name is fine, and so is keeping one's own.
    s.when(new, join("Anna", 9))
        .then_kinds(&["ParticipantJoined"]);
    s.when(bob, Command::Rename(Rename { name: "bob".into() }))
        .then_kinds(&["ParticipantRenamed"]);
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
    // Times far outside any sprint (i64::MIN, year 1900, year 3000) are refused, whichever
    // field carries them.
    let far = [
        i64::MIN,
        -2_208_988_800_000_000,
        32_503_680_000_000_000,
        i64::MAX,
    ];
    for t in far {
        for bad in [
            Schedule {
                sprint_start: Some(t),
                sprint_end: None,
                ..good.clone()
            },
            Schedule {
                sprint_end: Some(t),
                ..good.clone()
            },
            Schedule {
                sprint_start: None,
                sprint_end: None,
                sync_start: Some(t),
                ..good.clone()
            },
        ] {
            let err = s
                .when(fac, Command::SetSchedule(SetSchedule { schedule: bad }))
                .then_error("out_of_range");
            assert_eq!(
                err.to_string(),
                "schedule times must be between the years 2000 and 2100"
            );
        }
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

/// Each time of the schedule remembers who set it and when: a later schedule that changes only
/// the sync makes the sync the new setter's and leaves the sprint dates with the first.
#[test]
fn schedule_times_say_who_set_them() {
    use sprintlog::domain::state::{Origin, ScheduleTime};
    let mut s = Scenario::new().facilitator("ann");
    let (fay, ann) = (s.fac, s.id("ann"));
    let first = Schedule {
        sprint_start: Some(T0 + 10 * DAY),
        sprint_end: Some(T0 + 24 * DAY),
        ..Schedule::default()
    };
    let ev = s
        .try_do(
            fay,
            Command::SetSchedule(SetSchedule {
                schedule: first.clone(),
            }),
        )
        .then_kinds(&["ScheduleSet"]);
    let fay_at = s.now;
    assert!(
        matches!(&ev[0], Event::ScheduleSet { by: Some(b), at: Some(t), .. } if *b == fay && *t == fay_at)
    );
    let fays = Origin {
        by: fay,
        at: fay_at,
    };
    assert_eq!(
        s.state.schedule_origins.len(),
        5,
        "every time set, the defaults too"
    );
    assert!(s.state.schedule_origins.values().all(|o| *o == fays));

    // Ann moves only the live sync, a day later.
    s.advance(DAY);
    let mut moved = s.state.schedule.clone();
    moved.sync_start = Some(T0 + 10 * DAY + HOUR);
    s.given(ann, Command::SetSchedule(SetSchedule { schedule: moved }));
    let o = &s.state.schedule_origins;
    assert_eq!(o[&ScheduleTime::SyncStart], Origin { by: ann, at: s.now });
    for kept in [
        ScheduleTime::SprintStart,
        ScheduleTime::SprintEnd,
        ScheduleTime::CandidatesSharedAt,
        ScheduleTime::EstimationDeadline,
    ] {
        assert_eq!(o[&kept], fays, "{kept:?} stays Fay's");
    }
    s.assert_replays();
}

/// A `ScheduleSet` stored before events said who set it (v2) still loads and replays to the
/// same schedule, its times without an author; a later one by someone gives the changed times
/// theirs.
#[test]
fn an_old_schedule_event_replays_without_an_author() {
    use sprintlog::domain::state::ScheduleTime;
    let mut s = Scenario::new();
    let fay = s.fac;
    let v2 = format!(
        r#"{{"schedule":{{"auto_phases":false,"candidates_shared_at":{c},"estimation_deadline":{d},"reminder_minutes":60,"sprint_end":null,"sprint_start":{st},"sync_minutes":45,"sync_start":{st}}}}}"#,
        c = T0 + 8 * DAY,
        d = T0 + 9 * DAY,
        st = T0 + 10 * DAY,
    );
    let old = Event::decode("ScheduleSet", 2, &v2).unwrap();
    assert!(matches!(
        &old,
        Event::ScheduleSet {
            by: None,
            at: None,
            ..
        }
    ));
    s.state.apply(&old);
    s.events.push(old);
    assert_eq!(s.state.schedule.sync_start, Some(T0 + 10 * DAY));
    assert_eq!(s.state.schedule.reminder_minutes, Some(60));
    assert!(s.state.schedule_origins.is_empty());
    s.assert_replays();

    let mut later = s.state.schedule.clone();
    later.sprint_end = Some(T0 + 24 * DAY);
    s.given(fay, Command::SetSchedule(SetSchedule { schedule: later }));
    let o = &s.state.schedule_origins;
    assert_eq!(
        o.keys().copied().collect::<Vec<_>>(),
        vec![ScheduleTime::SprintEnd]
    );
    assert_eq!(o[&ScheduleTime::SprintEnd].by, fay);
}
