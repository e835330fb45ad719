//! Given/when/then tests of the schedule rules: working hours, the planning schedule (defaults,
//! phases that follow it, reminders once) and sending ambiguous items to the live agenda.

mod common;

use common::domain::*;
use sprintlog::domain::command::Command;
use sprintlog::domain::command::{
    EditItem, FollowSchedule, OpenRound, ProposeItem, RecordReminder, RemindVoters, SendToAgenda,
    SetSchedule, SetTimeZone,
};
use sprintlog::domain::discussion::DiscussionReason;
use sprintlog::domain::event::{ItemDraft, ItemPatch, Schedule};
use sprintlog::domain::policy::FlagReason;
use sprintlog::domain::slots::WorkDay;
use sprintlog::domain::{Event, ItemId, ParticipantId, Phase};

const SYSTEM: ParticipantId = ParticipantId::SYSTEM;

fn tz(zone: &str, hours: Option<(u32, u32)>, days: Option<Vec<WorkDay>>) -> Command {
    Command::SetTimeZone(SetTimeZone {
        time_zone: zone.into(),
        work_start_minute: hours.map(|h| h.0),
        work_end_minute: hours.map(|h| h.1),
        work_days: days,
    })
}

#[test]
fn working_hours_are_validated_and_recorded_with_days() {
    let mut s = Scenario::new().member("ann");
    let ann = s.id("ann");
    let ev = s
        .try_do(ann, tz("America/Los_Angeles", Some((540, 1050)), None))
        .then_kinds(&["TimeZoneSet"]);
    assert!(matches!(
        &ev[0],
        Event::TimeZoneSet { work_days, .. } if *work_days == WorkDay::WEEKDAYS.to_vec()
    ));
    let p = &s.state.participants[&ann];
    assert_eq!(p.time_zone.as_deref(), Some("America/Los_Angeles"));
    assert_eq!(p.work_days, WorkDay::WEEKDAYS.to_vec());
    // Days are kept sorted and unique; a night shift may end after midnight.
    s.given(
        ann,
        tz(
            "Asia/Kolkata",
            Some((22 * 60, 6 * 60)),
            Some(vec![WorkDay::Sun, WorkDay::Mon, WorkDay::Sun]),
        ),
    );
    assert_eq!(
        s.state.participants[&ann].work_days,
        vec![WorkDay::Mon, WorkDay::Sun]
    );
    // The zone must exist in the tz database, not only look like one.
    for bad in [
        tz("Mars/Olympus_Mons", None, None),
        tz("Europe/Berlin", Some((540, 540)), None),
        tz("Europe/Berlin", Some((540, 1050)), Some(Vec::new())),
        tz("Europe/Berlin", None, Some(Vec::new())),
    ] {
        s.when(ann, bad).then_error("invalid");
    }
}

#[test]
fn a_schedule_defaults_from_the_sprint_start_and_is_checked() {
    let mut s = Scenario::new().member("ann");
    let fac = s.fac;
    let start = T0 + 10 * DAY;
    s.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                sprint_start: Some(start),
                auto_phases: true,
                ..Schedule::default()
            },
        }),
    );
    let got = &s.state.schedule;
    assert_eq!(got.candidates_shared_at, Some(start - 2 * DAY));
    assert_eq!(got.estimation_deadline, Some(start - DAY));
    assert_eq!(got.sync_start, Some(start));
    assert_eq!(got.sync_minutes, Some(45));
    assert_eq!(got.reminder_minutes, Some(60));
    assert!(got.auto_phases);
    let bad = |schedule| Command::SetSchedule(SetSchedule { schedule });
    for schedule in [
        // The deadline before the candidates are shared.
        Schedule {
            sprint_start: Some(start),
            candidates_shared_at: Some(start - DAY / 2),
            ..Schedule::default()
        },
        Schedule {
            reminder_minutes: Some(7 * 24 * 60 + 1),
            ..Schedule::default()
        },
        // Automatic phases with no time to follow.
        Schedule {
            auto_phases: true,
            ..Schedule::default()
        },
    ] {
        s.when(fac, bad(schedule))
            .then_error_in(&["out_of_range", "invalid"]);
    }
}

#[test]
fn a_default_sync_goes_to_the_slot_finders_best_slot_on_the_sprints_first_day() {
    let mut s = Scenario::new().member("ann").member("bo").member("cy");
    let fac = s.fac;
    let [ann, bo, cy] = ["ann", "bo", "cy"].map(|n| s.id(n));
    // In January: Los Angeles works 17:00–01:30 UTC, Berlin 08:00–16:30, Kolkata (10:00–19:00)
    // 04:30–13:30. The facilitator set no zone and is not counted.
    s.given(ann, tz("America/Los_Angeles", None, None));
    s.given(bo, tz("Europe/Berlin", None, None));
    s.given(cy, tz("Asia/Kolkata", Some((600, 1140)), None));
    let start = T0 + 14 * DAY; // Monday 15 January 2024, 00:00 UTC
    let set = |schedule| Command::SetSchedule(SetSchedule { schedule });
    s.given(
        fac,
        set(Schedule {
            sprint_start: Some(start),
            ..Schedule::default()
        }),
    );
    // Berlin and Kolkata inside; Los Angeles would start 4 h 15 min early at 12:45 UTC (the
    // least of any slot with two inside), not at midnight.
    let got = s.state.schedule.clone();
    assert_eq!(got.sync_start, Some(start + 12 * HOUR + 45 * MINUTE));
    // The deadline: the end of the latest hour Berlin and Kolkata share before the weekend,
    // Friday 12:30–13:30 UTC; the candidates a day before it.
    let friday = start - 2 * DAY - 10 * HOUR - 30 * MINUTE;
    assert_eq!(got.estimation_deadline, Some(friday));
    assert_eq!(got.candidates_shared_at, Some(friday - DAY));
    let oh = sprintlog::domain::hours::outside_hours(&s.state);
    assert_eq!(
        oh.estimation_deadline.len(),
        1,
        "only Los Angeles is outside"
    );
    assert_eq!(oh.sync.len(), 1);
    // A sync start or deadline that is given is kept.
    s.given(
        fac,
        set(Schedule {
            sprint_start: Some(start),
            estimation_deadline: Some(start - 3 * HOUR),
            ..Schedule::default()
        }),
    );
    assert_eq!(s.state.schedule.estimation_deadline, Some(start - 3 * HOUR));
    assert_eq!(s.state.schedule.sync_start, got.sync_start);
    s.given(
        fac,
        set(Schedule {
            sprint_start: Some(start),
            sync_start: Some(start + 9 * HOUR),
            ..Schedule::default()
        }),
    );
    assert_eq!(s.state.schedule.sync_start, Some(start + 9 * HOUR));
    assert_eq!(s.state.schedule.estimation_deadline, Some(friday));
    // Nobody's zone known: the plain defaults (see above).
    let mut plain = Scenario::new().member("ann");
    let fac = plain.fac;
    plain.given(
        fac,
        set(Schedule {
            sprint_start: Some(start),
            ..Schedule::default()
        }),
    );
    assert_eq!(plain.state.schedule.sync_start, Some(start));
    assert_eq!(plain.state.schedule.estimation_deadline, Some(start - DAY));
}

#[test]
fn the_server_follows_the_schedule_once_and_never_overrules_the_facilitator() {
    let mut s = Scenario::new().member("ann");
    let fac = s.fac;
    let start = T0 + 3 * DAY;
    let follow = |to| Command::FollowSchedule(FollowSchedule { to });
    // Not while the schedule does not move phases.
    s.when(SYSTEM, follow(Phase::Async)).then_error("invalid");
    s.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                sprint_start: Some(start),
                auto_phases: true,
                ..Schedule::default()
            },
        }),
    );
    // Only the server, only when due.
    s.when(fac, follow(Phase::Async)).then_error("forbidden");
    s.when(SYSTEM, follow(Phase::Async)).then_error("invalid");
    s.advance(DAY);
    let ev = s
        .try_do(SYSTEM, follow(Phase::Async))
        .then_kinds(&["PhaseChanged"]);
    assert!(matches!(
        ev[0],
        Event::PhaseChanged {
            from: Phase::Draft,
            to: Phase::Async,
            by: ParticipantId::SYSTEM,
            ..
        }
    ));
    // Once: a second run of the same job finds the planning past it.
    s.when(SYSTEM, follow(Phase::Async)).then_error("invalid");
    s.when(SYSTEM, follow(Phase::Sync)).then_error("invalid");
    s.when(SYSTEM, follow(Phase::Draft)).then_error("invalid");
    s.advance(2 * DAY);
    s.try_do(SYSTEM, follow(Phase::Sync))
        .then_kinds(&["PhaseChanged"]);
    assert_eq!(s.state.phase, Some(Phase::Sync));

    // A facilitator who already moved on is not overruled.
    let mut t = Scenario::new();
    let fac = t.fac;
    t.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                sprint_start: Some(T0 + DAY),
                auto_phases: true,
                ..Schedule::default()
            },
        }),
    );
    t.phase(Phase::Async);
    t.given(fac, Command::StartSync);
    t.advance(2 * DAY);
    t.when(SYSTEM, follow(Phase::Async)).then_error("invalid");
    t.when(SYSTEM, follow(Phase::Sync)).then_error("invalid");
    t.assert_replays();
}

#[test]
fn async_rounds_default_to_the_estimation_deadline() {
    let mut s = Scenario::new().member("ann");
    let fac = s.fac;
    let a = s.propose("a");
    s.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                sprint_start: Some(T0 + 5 * DAY),
                ..Schedule::default()
            },
        }),
    );
    s.phase(Phase::Async);
    let ev = s.given(
        fac,
        Command::OpenRound(OpenRound {
            items: vec![a],
            deck: None,
            deadline: None,
        }),
    );
    assert!(matches!(ev[0], Event::RoundOpened { deadline, .. } if deadline == T0 + 4 * DAY));

    // A sprint planned further out than a round may last: the policy's default length instead
    // (not a refusal as longer than 60 days).
    let mut s = Scenario::new().member("ann");
    let fac = s.fac;
    let a = s.propose("a");
    s.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                sprint_start: Some(T0 + 90 * DAY),
                ..Schedule::default()
            },
        }),
    );
    s.phase(Phase::Async);
    let default = s.state.policy.default_deadline_minutes as i64 * 60_000_000;
    let ev = s.given(
        fac,
        Command::OpenRound(OpenRound {
            items: vec![a],
            deck: None,
            deadline: None,
        }),
    );
    let now = s.now;
    assert!(matches!(ev[0], Event::RoundOpened { deadline, .. } if deadline == now + default));
}

#[test]
fn members_with_pending_votes_are_reminded_once() {
    let mut s = Scenario::new().member("ann").member("bob").observer("obs");
    let (fac, ann, bob) = (s.fac, s.id("ann"), s.id("bob"));
    let a = s.propose("a");
    s.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                reminder_minutes: Some(30),
                ..Schedule::default()
            },
        }),
    );
    s.phase(Phase::Async);
    let r = s.open_round(&[a], 120);
    s.vote("bob", r, a, "3");
    let remind = Command::RemindVoters(RemindVoters { round: r });
    s.when(fac, remind.clone()).then_error("forbidden");
    // Too early: the reminder is due 30 minutes before the deadline.
    s.when(SYSTEM, remind.clone()).then_error("invalid");
    s.advance(95 * MINUTE);
    let ev = s
        .try_do(SYSTEM, remind.clone())
        .then_kinds(&["ReminderSent"]);
    // Only Ann owes a vote (Bob voted, the observer and the facilitator never vote).
    assert!(matches!(
        ev[0],
        Event::ReminderSent { participant, round: Some(round), .. } if participant == ann && round == r
    ));
    assert!(!s.state.reminders.contains(&(bob, Some(r))));
    // Exactly once: the job again, or a recorded reminder again, is refused.
    s.when(SYSTEM, remind.clone()).then_error("invalid");
    s.when(
        SYSTEM,
        Command::RecordReminder(RecordReminder {
            participant: ann,
            round: Some(r),
        }),
    )
    .then_error("invalid");
    // After the deadline there is nothing to remind of.
    s.advance(30 * MINUTE);
    s.when(SYSTEM, remind).then_error("deadline_passed");
    // Reminders off: refused.
    let mut t = Scenario::new().member("ann");
    let b = t.propose("b");
    let fac = t.fac;
    t.given(
        fac,
        Command::SetSchedule(SetSchedule {
            schedule: Schedule {
                reminder_minutes: Some(0),
                ..Schedule::default()
            },
        }),
    );
    t.phase(Phase::Async);
    let r = t.open_round(&[b], 10);
    t.when(SYSTEM, Command::RemindVoters(RemindVoters { round: r }))
        .then_error("invalid");
    s.assert_replays();
}

fn item_with(s: &mut Scenario, draft: ItemDraft) -> ItemId {
    let fac = s.fac;
    match &s.given(fac, Command::ProposeItem(ProposeItem { draft }))[..] {
        [Event::ItemProposed { item, .. }] => *item,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_facilitator_sends_an_ambiguous_item_straight_to_the_agenda() {
    let mut s = Scenario::new().member("ann");
    let (fac, ann) = (s.fac, s.id("ann"));
    let vague = s.propose("Make it faster");
    let clear = item_with(
        &mut s,
        ItemDraft {
            title: "Cache the home page".into(),
            acceptance_criteria: vec!["served in 100 ms".into()],
            ..ItemDraft::default()
        },
    );
    s.phase(Phase::Async);
    let send = |item| {
        Command::SendToAgenda(SendToAgenda {
            item,
            note: Some("what is fast?".into()),
        })
    };
    s.when(ann, send(vague)).then_error("forbidden");
    let ev = s.try_do(fac, send(vague)).then_kinds(&["ItemSentToAgenda"]);
    assert!(matches!(
        &ev[0],
        Event::ItemSentToAgenda { reasons, .. }
            if *reasons == vec![DiscussionReason::NoAcceptanceCriteria]
    ));
    let flag = s.state.items[&vague].flag.clone().unwrap();
    assert_eq!(flag.reason, FlagReason::Discussion);
    // Already on the agenda; unknown items are refused.
    s.when(fac, send(vague)).then_error("invalid");
    s.when(fac, send(ItemId(uuid::Uuid::from_u128(0xDEAD))))
        .then_error("unknown_item");
    // A clear item may be sent too (the facilitator's call), with no reasons recorded.
    let ev = s.given(fac, send(clear));
    assert!(matches!(&ev[0], Event::ItemSentToAgenda { reasons, .. } if reasons.is_empty()));
    // The live agenda proposed at the start of the session holds both.
    let ev = s.given(fac, Command::StartSync);
    let agenda = ev
        .iter()
        .find_map(|e| match e {
            Event::AgendaSet { items, .. } => Some(items.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(agenda, vec![vague, clear]);
    // Sent during the session: appended to the agenda.
    let late = s.propose("Later");
    s.given(
        fac,
        Command::EditItem(EditItem {
            item: late,
            patch: ItemPatch {
                description: Some("tbd".into()),
                ..ItemPatch::default()
            },
        }),
    );
    s.given(fac, send(late));
    assert_eq!(s.state.agenda, vec![vague, clear, late]);
    s.assert_replays();
}
