//! Estimation: given/when/then.

use super::*;

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
    s.when(fac, open(vec![d], None))
        .then_error("already_estimated");

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
