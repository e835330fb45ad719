//! Goal: given/when/then.

use super::*;

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
