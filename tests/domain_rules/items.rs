//! Items: given/when/then.

use super::*;

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
fn restore_item() {
    let (mut s, a, b) = async_team();
    let (fac, ann) = (s.fac, s.id("ann"));
    let restore = |i| Command::RestoreItem(RestoreItem { item: i });
    let withdraw = |i| {
        Command::WithdrawItem(WithdrawItem {
            item: i,
            reason: None,
        })
    };
    // Given a withdrawn item, only a withdrawn one comes back.
    s.when(fac, restore(a)).then_error("invalid");
    s.when(fac, restore(unknown_item()))
        .then_error("unknown_item");
    s.given(fac, withdraw(a));
    s.when(ann, restore(a)).then_error("forbidden");
    // When the facilitator restores it, then it is back at its place in the backlog order.
    s.try_do(fac, restore(a)).then_kinds(&["ItemRestored"]);
    assert!(!s.state.items[&a].withdrawn);
    assert_eq!(
        s.state.ranked_items().map(|i| i.id).collect::<Vec<_>>(),
        vec![a, b]
    );
    s.when(fac, restore(a)).then_error("invalid");
    // The proposer may restore their own item.
    let ev = s.given(
        ann,
        Command::ProposeItem(ProposeItem {
            draft: draft("mine"),
        }),
    );
    let Event::ItemProposed { item, .. } = ev[0] else {
        unreachable!()
    };
    s.given(ann, withdraw(item));
    s.when(ann, restore(item)).then_kinds(&["ItemRestored"]);
    s.assert_replays();
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
