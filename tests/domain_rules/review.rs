//! Review: given/when/then.

use super::*;

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
        ("hid\u{200b}den", "bad_characters"),
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
            failing: vec![ids[0]],
            title: s.state.items[&a].draft.title.clone(),
            criteria: vec!["Has AC".into()],
        }
    );
    // In plain words: the item's title and the criterion's text, no ids.
    assert_eq!(
        e.to_string(),
        format!(
            "“{}” is not ready: “Has AC” is not met (the facilitator can override)",
            s.state.items[&a].draft.title
        )
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
