//! The live meeting — focus, next item, live rounds on items without an async round,
//! auto-reveal, ties, time boxes, refinement, the scope draft: given/when/then.

use super::*;
use sprintlog::domain::command::{
    DraftScope, ExtendTimer, ReturnToRefinement, SendToAgenda, SetFocus, StartTimer,
};
use sprintlog::domain::live;

fn focus(item: Option<ItemId>) -> Command {
    Command::SetFocus(SetFocus { item })
}

fn flag(item: ItemId) -> Command {
    Command::FlagItem(FlagItem { item, note: None })
}

fn back_to_refinement(item: ItemId, note: Option<&str>) -> Command {
    Command::ReturnToRefinement(ReturnToRefinement {
        item,
        note: note.map(str::to_string),
    })
}

fn start_timer(item: ItemId, seconds: u32) -> Command {
    Command::StartTimer(StartTimer { item, seconds })
}

fn extend_timer(seconds: u32) -> Command {
    Command::ExtendTimer(ExtendTimer { seconds })
}

fn open_live(item: ItemId) -> Command {
    Command::OpenRound(OpenRound {
        items: vec![item],
        deck: None,
        deadline: None,
    })
}

fn focused(s: &Scenario) -> Option<ItemId> {
    s.state.focus.as_ref().map(|f| f.item)
}

/// `async_team` with four flagged items `[a, b, c, d]` on the agenda of a running session.
fn in_session() -> (Scenario, [ItemId; 4]) {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    let (c, d) = (s.propose("Audit log"), s.propose("Export"));
    for i in [a, b, c, d] {
        s.given(fac, flag(i));
    }
    s.given(fac, Command::StartSync);
    (s, [a, b, c, d])
}

#[test]
fn start_sync_focuses_the_first_item_and_the_facilitator_moves_the_focus() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    s.when(fac, focus(Some(a))).then_error("sync_not_running");
    s.given(fac, flag(b));
    s.given(fac, flag(a));
    let ev = s.try_do(fac, Command::StartSync).then_kinds(&[
        "PhaseChanged",
        "SyncStarted",
        "AgendaSet",
        "FocusSet",
    ]);
    assert!(
        matches!(ev[3], Event::FocusSet { item: Some(i), by, at } if i == a && by == fac && at == s.now)
    );
    assert_eq!(focused(&s), Some(a));

    s.when(ann, focus(Some(b))).then_error("forbidden");
    s.when(fac, focus(Some(unknown_item())))
        .then_error("unknown_item");
    s.advance(MINUTE);
    s.try_do(fac, focus(Some(b))).then_kinds(&["FocusSet"]);
    assert_eq!(focused(&s), Some(b));
    assert_eq!(s.state.focus.as_ref().unwrap().at, s.now);
    // Any live item may have the room's attention, on the agenda or not.
    let c = s.propose("c");
    s.try_do(fac, focus(Some(c))).then_kinds(&["FocusSet"]);
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: a,
            reason: None,
        }),
    );
    s.when(fac, focus(Some(a))).then_error("item_withdrawn");
    s.try_do(fac, focus(None)).then_kinds(&["FocusSet"]);
    assert_eq!(s.state.focus, None);

    s.given(fac, focus(Some(b)));
    s.given(fac, Command::EndSync);
    assert_eq!(s.state.focus, None, "the session's end ends the focus");
    // A session without flagged items starts with no focus.
    let (mut t, _, _) = async_team();
    let fac = t.fac;
    t.when(fac, Command::StartSync)
        .then_kinds(&["PhaseChanged", "SyncStarted", "AgendaSet"]);
    s.assert_replays();
}

#[test]
fn next_on_agenda_follows_the_agenda_past_the_items_that_left_it() {
    let (mut s, [a, b, c, d]) = in_session();
    let fac = s.fac;
    assert_eq!(s.state.agenda, vec![a, b, c, d]);
    assert_eq!(live::next_on_agenda(&s.state), Some(b));
    s.given(fac, focus(Some(b)));
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    // Agreed: the item leaves the agenda, the focus stays on it, "next" goes on from its place.
    s.given(fac, agree(b, "5"));
    assert_eq!(s.state.agenda, vec![a, c, d]);
    assert_eq!(s.state.agenda_order, vec![a, b, c, d]);
    assert_eq!(focused(&s), Some(b));
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    // From the last item, "next" comes round to what was skipped.
    s.given(fac, focus(Some(d)));
    assert_eq!(live::next_on_agenda(&s.state), Some(a));
    s.given(fac, back_to_refinement(a, None));
    assert_eq!(s.state.agenda, vec![c, d]);
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    // No focus: the agenda's first; the focus off the agenda: its first other than the focus.
    s.given(fac, focus(None));
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    let e = s.propose("e");
    s.given(fac, focus(Some(e)));
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    // Flagged during the session: appended to the agenda and to its order.
    s.given(fac, flag(e));
    assert_eq!(s.state.agenda, vec![c, d, e]);
    assert_eq!(live::next_on_agenda(&s.state), Some(c));
    // Withdrawn: off the agenda too.
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: c,
            reason: Some("not this sprint".into()),
        }),
    );
    assert_eq!(s.state.agenda, vec![d, e]);
    s.given(fac, focus(Some(d)));
    assert_eq!(live::next_on_agenda(&s.state), Some(e));
    s.given(fac, agree(e, "3"));
    assert_eq!(
        live::next_on_agenda(&s.state),
        None,
        "nothing else to discuss"
    );
    s.given(fac, Command::EndSync);
    assert_eq!(live::next_on_agenda(&s.state), None);
    s.assert_replays();
}

/// An item sent to the agenda without any vote is estimated from the live session alone:
/// focus, a live round on it, everyone votes, the votes reveal themselves, agree.
#[test]
fn an_item_without_an_async_round_is_estimated_live() {
    let (mut s, a, _) = async_team();
    let fac = s.fac;
    s.given(
        fac,
        Command::SendToAgenda(SendToAgenda {
            item: a,
            note: Some("unclear".into()),
        }),
    );
    s.given(fac, Command::StartSync);
    assert_eq!(focused(&s), Some(a));
    assert!(s.state.items[&a].rounds.is_empty());
    let actions = live::focus_actions(&s.state);
    for expected in [
        "OpenRound",
        "AgreeEstimates",
        "StartTimer",
        "ReturnToRefinement",
        "WithdrawItem",
    ] {
        assert!(actions.iter().any(|x| x == expected), "{actions:?}");
    }
    assert!(!actions
        .iter()
        .any(|x| x == "RevealVotes" || x == "CloseRound"));

    let ev = s.try_do(fac, open_live(a)).then_kinds(&["RoundOpened"]);
    let Event::RoundOpened {
        round,
        live: true,
        deadline,
        ..
    } = ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        deadline,
        s.now + 10 * MINUTE,
        "a live round lasts a re-vote's time"
    );
    assert_eq!(live::focus_actions(&s.state), ["CloseRound", "StartTimer"]);
    s.vote("ann", round, a, "5");
    s.vote("bob", round, a, "5");
    let ev = s.vote("cat", round, a, "8");
    assert_eq!(
        kinds(&ev),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    assert!(s.state.rounds[&round].revealed.contains_key(&a));
    let actions = live::focus_actions(&s.state);
    for expected in [
        "AgreeEstimates",
        "Revote",
        "ReturnToRefinement",
        "WithdrawItem",
    ] {
        assert!(actions.iter().any(|x| x == expected), "{actions:?}");
    }
    s.given(fac, agree(a, "5"));
    assert!(s.state.agenda.is_empty());
    assert_eq!(s.state.items[&a].estimate.as_deref(), Some("5"));
    s.assert_replays();
}

#[test]
fn auto_reveal_governs_live_rounds_only() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    assert!(s.state.policy.auto_reveal, "on by default");
    let policy = Policy {
        auto_reveal: false,
        ..Policy::default()
    };
    s.try_do(fac, Command::SetPolicy(SetPolicy { policy }))
        .then_kinds(&["PolicySet"]);
    assert!(!s.state.policy.auto_reveal);
    // Async: the last vote still closes the round.
    let r = s.open_round(&[b], 60);
    s.vote("ann", r, b, "3");
    s.vote("bob", r, b, "3");
    assert_eq!(
        kinds(&s.vote("cat", r, b, "3")),
        [
            "VoteCast",
            "RoundClosed",
            "VotesRevealed",
            "EstimateProposed"
        ]
    );
    // Live: the round waits for the facilitator, who reveals it by closing it.
    s.given(fac, Command::StartSync);
    let live = s.open_round(&[a], 10);
    s.vote("ann", live, a, "3");
    s.vote("bob", live, a, "13");
    assert_eq!(kinds(&s.vote("cat", live, a, "5")), ["VoteCast"]);
    assert!(s.state.rounds[&live].is_open());
    s.given(fac, focus(Some(a)));
    assert!(live::focus_actions(&s.state)
        .iter()
        .any(|x| x == "CloseRound"));
    let ev = s.given(fac, Command::CloseRound(CloseRound { round: live }));
    assert_eq!(kinds(&ev), ["RoundClosed", "VotesRevealed", "ItemFlagged"]);
    // The last member leaving a live round does not close it either.
    let c = s.propose("c");
    let r3 = s.open_round(&[c], 10);
    s.vote("ann", r3, c, "3");
    s.vote("bob", r3, c, "3");
    let cat = s.id("cat");
    s.given(
        fac,
        Command::RemoveParticipant(RemoveParticipant { participant: cat }),
    );
    assert!(s.state.rounds[&r3].is_open());
    s.assert_replays();
}

#[test]
fn a_revealed_tie_offers_a_coin_flip_over_the_tied_cards() {
    let (mut s, a, b) = async_team();
    let fac = s.fac;
    s.given(fac, Command::StartSync);
    let r = s.open_round(&[a, b], 10);
    // a: 5 5 8 is no tie; b: 2 ? 8 ties 2 and 8 (`?` is no estimate).
    for (who, item, card) in [
        ("ann", a, "5"),
        ("bob", a, "5"),
        ("cat", a, "8"),
        ("ann", b, "8"),
        ("bob", b, "?"),
        ("cat", b, "2"),
    ] {
        s.vote(who, r, item, card);
    }
    assert!(!s.state.rounds[&r].is_open());
    let ties = live::tied_cards(&s.state);
    assert_eq!(ties.get(&b), Some(&vec!["2".to_string(), "8".to_string()]));
    assert!(!ties.contains_key(&a));
    s.given(fac, focus(Some(b)));
    assert!(live::focus_actions(&s.state)
        .iter()
        .any(|x| x == "FlipCoin"));
    s.given(fac, focus(Some(a)));
    assert!(!live::focus_actions(&s.state)
        .iter()
        .any(|x| x == "FlipCoin"));
    // A re-vote hides the tie until it is revealed in turn.
    s.given(
        fac,
        Command::Revote(Revote {
            previous: r,
            items: vec![b],
            deadline: None,
        }),
    );
    assert!(!live::tied_cards(&s.state).contains_key(&b));
    s.assert_replays();
}

#[test]
fn a_time_box_on_the_focused_item() {
    let (mut s, [a, b, ..]) = in_session();
    let (fac, ann) = (s.fac, s.id("ann"));
    s.when(fac, extend_timer(60)).then_error("no_timer");
    s.when(fac, Command::StopTimer).then_error("no_timer");
    s.when(ann, start_timer(a, 300)).then_error("forbidden");
    s.when(fac, start_timer(b, 300)).then_error("not_focused");
    s.when(fac, start_timer(a, 0)).then_error("out_of_range");
    s.when(fac, start_timer(a, 3601)).then_error("out_of_range");
    s.when(fac, start_timer(unknown_item(), 60))
        .then_error("unknown_item");
    let ev = s
        .try_do(fac, start_timer(a, 300))
        .then_kinds(&["TimerStarted"]);
    assert!(
        matches!(ev[0], Event::TimerStarted { item, seconds: 300, ends_at, .. }
        if item == a && ends_at == s.now + 5 * MINUTE)
    );
    let t = s.state.timer.clone().unwrap();
    assert_eq!((t.item, t.seconds, t.started_at), (a, 300, s.now));
    let started = s.now;

    s.advance(MINUTE);
    s.when(ann, extend_timer(60)).then_error("forbidden");
    s.when(fac, extend_timer(0)).then_error("out_of_range");
    // At most an hour left after an extension: 4 minutes are left.
    s.when(fac, extend_timer(3600 - 4 * 60 + 1))
        .then_error("out_of_range");
    s.try_do(fac, extend_timer(120))
        .then_kinds(&["TimerExtended"]);
    let t = s.state.timer.clone().unwrap();
    assert_eq!((t.seconds, t.ends_at), (420, started + 7 * MINUTE));
    // Run out, then extended: from now.
    s.advance(10 * MINUTE);
    s.given(fac, extend_timer(60));
    assert_eq!(s.state.timer.as_ref().unwrap().ends_at, s.now + MINUTE);
    s.try_do(fac, Command::StopTimer)
        .then_kinds(&["TimerStopped"]);
    assert_eq!(s.state.timer, None);

    // Moving the focus ends the box; so does the end of the session.
    s.given(fac, start_timer(a, 60));
    s.given(fac, focus(Some(a)));
    assert!(s.state.timer.is_some(), "the same item keeps its box");
    s.given(fac, focus(Some(b)));
    assert_eq!(s.state.timer, None);
    s.given(fac, start_timer(b, 60));
    s.given(fac, Command::EndSync);
    assert_eq!(s.state.timer, None);
    s.when(fac, start_timer(b, 60))
        .then_error("sync_not_running");
    s.assert_replays();
}

#[test]
fn return_to_refinement() {
    let (mut s, [a, b, c, _]) = in_session();
    let (fac, ann) = (s.fac, s.id("ann"));
    s.when(ann, back_to_refinement(a, None))
        .then_error("forbidden");
    s.when(fac, back_to_refinement(unknown_item(), None))
        .then_error("unknown_item");
    let long = "n".repeat(501);
    s.when(fac, back_to_refinement(a, Some(long.as_str())))
        .then_error("too_long");
    s.given(fac, agree(b, "3"));
    s.when(fac, back_to_refinement(b, None))
        .then_error("already_estimated");
    let r = s.open_round(&[c], 10);
    s.when(fac, back_to_refinement(c, None))
        .then_error("item_in_open_round");
    s.given(fac, Command::CloseRound(CloseRound { round: r }));

    let ev = s
        .try_do(fac, back_to_refinement(a, Some("split it")))
        .then_kinds(&["ItemReturnedToRefinement"]);
    assert!(
        matches!(&ev[0], Event::ItemReturnedToRefinement { item, note: Some(n), .. }
        if *item == a && n == "split it")
    );
    let it = &s.state.items[&a];
    assert_eq!(it.flag, None);
    assert_eq!(it.returned_to_refinement.as_ref().unwrap().by, fac);
    assert!(!s.state.agenda.contains(&a));
    assert_eq!(focused(&s), Some(a), "the room sees where the item went");
    s.when(fac, back_to_refinement(a, None))
        .then_error("already_returned");
    // Refined (edited): no longer waiting for refinement.
    s.given(
        fac,
        Command::EditItem(EditItem {
            item: a,
            patch: ItemPatch {
                description: Some("smaller".into()),
                ..ItemPatch::default()
            },
        }),
    );
    assert_eq!(s.state.items[&a].returned_to_refinement, None);
    s.given(fac, back_to_refinement(a, None));
    s.given(fac, flag(a));
    assert_eq!(s.state.items[&a].returned_to_refinement, None);
    s.assert_replays();

    // Not once the planning is committed.
    let (mut t, a, _) = async_team();
    let fac = t.fac;
    t.given(fac, Command::DraftGoal(DraftGoal { text: "g".into() }));
    t.given(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![],
            confirm_over_capacity: false,
        }),
    );
    t.when(fac, back_to_refinement(a, None))
        .then_error("wrong_phase");
}

#[test]
fn the_scope_draft_is_shared_with_its_points_against_capacity() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let draft = |items: Vec<ItemId>| Command::DraftScope(DraftScope { items });
    s.given(fac, Command::DraftGoal(DraftGoal { text: "g".into() }));
    s.given(ann, declare(1000, 100));
    s.given(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: f(100),
        }),
    );
    s.given(fac, agree(a, "5"));
    // Before any draft the room sees every agreed item selected.
    let implied = live::scope_draft(&s.state).unwrap();
    assert_eq!((implied.items.clone(), implied.drafted), (vec![a], false));
    assert_eq!(implied.points, f(500));
    s.when(ann, draft(vec![a])).then_error("forbidden");
    s.when(fac, draft(vec![b])).then_error("no_estimate");
    s.when(fac, draft(vec![a, a])).then_error("duplicate");
    s.when(fac, draft(vec![unknown_item()]))
        .then_error("unknown_item");
    let ev = s.try_do(fac, draft(vec![a])).then_kinds(&["ScopeDrafted"]);
    assert!(
        matches!(&ev[0], Event::ScopeDrafted { items, by, .. } if *items == vec![a] && *by == fac)
    );
    let figures = live::scope_draft(&s.state).unwrap();
    assert_eq!(
        (figures.points, figures.capacity, figures.over_capacity),
        (f(500), f(1000), false)
    );
    assert!(figures.drafted);
    s.given(fac, agree(b, "8"));
    s.given(fac, draft(vec![a, b]));
    let figures = live::scope_draft(&s.state).unwrap();
    assert_eq!((figures.points, figures.over_capacity), (f(1300), true));
    // An empty draft is a draft (nothing selected yet).
    s.try_do(fac, draft(vec![])).then_kinds(&["ScopeDrafted"]);
    assert_eq!(live::scope_draft(&s.state).unwrap().points, f(0));
    s.given(fac, draft(vec![a, b]));
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: b,
            reason: None,
        }),
    );
    assert_eq!(s.state.scope_draft.as_ref().unwrap().items, vec![a]);
    assert_eq!(live::in_sprint(&s.state), None);

    s.given(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![a],
            confirm_over_capacity: false,
        }),
    );
    assert_eq!(s.state.scope_draft, None);
    assert_eq!(
        live::scope_draft(&s.state),
        None,
        "nothing to select once committed"
    );
    let in_sprint = live::in_sprint(&s.state).unwrap();
    assert_eq!((in_sprint[&a], in_sprint[&b]), (true, false));
    s.when(fac, draft(vec![a])).then_error("wrong_phase");
    s.assert_replays();

    let mut d = Scenario::new();
    let fac = d.fac;
    d.when(fac, draft(vec![])).then_error("wrong_phase");
}

/// Every point of the meeting's flow leaves the facilitator something to do with the focused
/// item, or the next item to move to: no dead end.
#[test]
fn the_focused_item_never_leaves_the_facilitator_without_a_move() {
    let (mut s, [a, b, c, _]) = in_session();
    let fac = s.fac;
    let stuck = |s: &Scenario| {
        live::focus_actions(&s.state).is_empty() && live::next_on_agenda(&s.state).is_none()
    };
    assert!(!stuck(&s));
    let r = s.open_round(&[a], 10);
    assert!(!stuck(&s));
    s.given(fac, Command::CloseRound(CloseRound { round: r }));
    assert!(!stuck(&s));
    s.given(
        fac,
        Command::WithdrawItem(WithdrawItem {
            item: a,
            reason: None,
        }),
    );
    assert!(live::focus_actions(&s.state).is_empty());
    assert_eq!(live::next_on_agenda(&s.state), Some(b));
    s.given(fac, focus(Some(c)));
    s.given(fac, back_to_refinement(c, None));
    assert!(!stuck(&s));
}
