//! Sync and decisions: given/when/then.

use super::*;

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
    let ev = s.try_do(fac, Command::StartSync).then_kinds(&[
        "PhaseChanged",
        "SyncStarted",
        "AgendaSet",
        "FocusSet",
    ]);
    assert!(matches!(&ev[2], Event::AgendaSet { items, .. } if *items == vec![c, a]));
    // The room starts on the agenda's first item.
    assert!(matches!(&ev[3], Event::FocusSet { item: Some(i), .. } if *i == c));
    assert!(s.state.sync_running);
    assert_eq!(s.state.phase, Some(Phase::Sync));
    s.when(fac, Command::StartSync).then_error("sync_running");
    s.when(ann, Command::EndSync).then_error("forbidden");
    s.try_do(fac, Command::EndSync).then_kinds(&["SyncEnded"]);
    s.when(fac, Command::EndSync).then_error("sync_not_running");
    // Restarting in the sync phase needs no phase change.
    s.when(fac, Command::StartSync)
        .then_kinds(&["SyncStarted", "AgendaSet", "FocusSet"]);
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
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
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
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
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
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
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
