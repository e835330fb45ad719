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

#[test]
fn goal_suggestions_are_adopted_with_their_author() {
    use sprintlog::domain::command::{AdoptGoalSuggestion, SuggestGoal};
    use sprintlog::domain::SuggestionId;
    let mut s = Scenario::new().member("ann").observer("obs");
    let (fac, ann, obs) = (s.fac, s.id("ann"), s.id("obs"));
    let suggest = |t: &str| Command::SuggestGoal(SuggestGoal { text: t.into() });
    let adopt = |suggestion| Command::AdoptGoalSuggestion(AdoptGoalSuggestion { suggestion });
    s.when(obs, suggest("x")).then_error("forbidden");
    s.when(ann, suggest(" ")).then_error("empty");
    s.when(ann, suggest(&"g".repeat(501)))
        .then_error("too_long");
    s.when(ann, suggest("a\u{202e}b"))
        .then_error("bad_characters");
    // Before any draft too: a wording may come from anyone.
    let ev = s
        .try_do(ann, suggest(" Ship login for everyone "))
        .then_kinds(&["GoalSuggested"]);
    let Event::GoalSuggested {
        suggestion,
        ref text,
        by,
        ..
    } = ev[0]
    else {
        unreachable!()
    };
    assert_eq!((text.as_str(), by), ("Ship login for everyone", ann));
    s.when(fac, suggest("Ship login for everyone"))
        .then_error("duplicate");
    s.try_do(fac, suggest("Ship login"))
        .then_kinds(&["GoalSuggested"]);
    assert_eq!(s.state.goal_suggestions.len(), 2);
    assert!(!s.state.goal_suggestions[0].adopted);

    s.when(fac, adopt(suggestion)).then_error("no_goal");
    s.given(
        fac,
        Command::DraftGoal(DraftGoal {
            text: "Login".into(),
        }),
    );
    s.when(ann, adopt(suggestion)).then_error("forbidden");
    s.when(fac, adopt(SuggestionId(Uuid::from_u128(77))))
        .then_error("unknown_suggestion");
    let ev = s
        .try_do(fac, adopt(suggestion))
        .then_kinds(&["GoalAmended"]);
    assert!(
        matches!(&ev[0], Event::GoalAmended { text, suggestion: Some(id), by, .. }
        if text == "Ship login for everyone" && *id == suggestion && *by == fac)
    );
    let g = s.state.goal.clone().unwrap();
    assert_eq!(g.text, "Ship login for everyone");
    // The wording is recorded as its author's.
    assert_eq!(g.history.last().unwrap().1, ann);
    assert!(s.state.goal_suggestions[0].adopted);
    s.when(fac, adopt(suggestion)).then_error("already_adopted");
    s.given(fac, Command::CommitGoal);
    s.when(ann, suggest("late"))
        .then_error("goal_already_committed");
    let second = s.state.goal_suggestions[1].id;
    s.when(fac, adopt(second))
        .then_error("goal_already_committed");
    s.assert_replays();

    // At most 100 wordings per planning.
    let mut t = Scenario::new().member("ann");
    let ann = t.id("ann");
    for n in 0..100 {
        t.given(ann, suggest(&format!("goal {n}")));
    }
    t.when(ann, suggest("one more")).then_error("out_of_range");
}
