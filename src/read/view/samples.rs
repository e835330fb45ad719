//! For the tests of the views: one sample of every event kind, every field filled (optional
//! times set, so their twins show), and [`check_times`], which walks a view for times without
//! their UTC twin and twins of no time. [`all`] checks itself against `EVENT_KINDS`, so a new
//! kind without a sample fails the tests that walk them.

use crate::domain::deck::Deck;
use crate::domain::discussion::DiscussionReason;
use crate::domain::event::{
    CloseReason, CommentKind, Criterion, Event, ItemDraft, ItemPatch, Micros, NewItem, Phase,
    Policy, RevealedVote, Role, Schedule, WebhookFormat, EVENT_KINDS,
};
use crate::domain::fixed::Fixed2;
use crate::domain::ids::*;
use crate::domain::policy::FlagReason;
use crate::domain::slots::WorkDay;
use crate::read::utc::rfc3339;
use serde_json::Value;
use uuid::Uuid;

/// 2026-06-16T08:00:00Z: sample times are this plus whole minutes, far above any other number
/// in a sample, so a time is recognisable by its value alone.
pub const T0: Micros = 1_781_596_800_000_000;

/// `T0` plus `minutes`.
pub fn t(minutes: i64) -> Micros {
    T0 + minutes * 60_000_000
}

/// The participant who cast the sample vote.
pub const VOTER: ParticipantId = ParticipantId(Uuid::from_u128(3));
pub const HASH: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
pub const SECRET_URL: &str = "https://user:pw@hooks.example:8443/services/T0/B0/secret?x=1";

const PLANNING: PlanningId = PlanningId(Uuid::from_u128(1));
const FAC: ParticipantId = ParticipantId(Uuid::from_u128(2));
const ITEM: ItemId = ItemId(Uuid::from_u128(4));
const ROUND: RoundId = RoundId(Uuid::from_u128(5));
const COMMENT: CommentId = CommentId(Uuid::from_u128(6));
const CRITERION: CriterionId = CriterionId(Uuid::from_u128(7));
const WEBHOOK: WebhookId = WebhookId(Uuid::from_u128(8));

fn draft() -> ItemDraft {
    ItemDraft {
        title: "Login".into(),
        description: "SSO".into(),
        acceptance_criteria: vec!["works".into()],
        attachments: vec!["https://example.com/design".into()],
        dependencies: vec![ItemId(Uuid::from_u128(9))],
        labels: vec!["auth".into()],
        external_key: Some("PROJ-1".into()),
    }
}

/// Every kind once, in the order of `EVENT_KINDS`.
pub fn all() -> Vec<Event> {
    let all: Vec<Event> = [
        people(),
        goal_and_items(),
        review_and_capacity(),
        estimation(),
        sync_and_integrations(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let kinds: Vec<&str> = all.iter().map(Event::kind).collect();
    assert_eq!(kinds, EVENT_KINDS, "one sample per event kind, in order");
    all
}

fn people() -> Vec<Event> {
    vec![
        Event::PlanningCreated {
            planning: PLANNING,
            title: "Sprint 1".into(),
            creator: FAC,
            creator_name: "Fran".into(),
            creator_token_hash: HASH.into(),
            deck: Deck::default(),
            policy: Policy::default(),
            member_invite_hash: HASH.into(),
            observer_invite_hash: HASH.into(),
            at: t(0),
        },
        Event::ParticipantJoined {
            participant: VOTER,
            name: "Ann".into(),
            role: Role::Member,
            token_hash: HASH.into(),
            at: t(1),
        },
        Event::ParticipantRenamed {
            participant: VOTER,
            name: "Ann B".into(),
        },
        Event::RoleChanged {
            participant: VOTER,
            role: Role::Facilitator,
            by: FAC,
        },
        Event::ParticipantRemoved {
            participant: VOTER,
            by: FAC,
        },
        Event::InviteRotated {
            role: Role::Member,
            invite_hash: HASH.into(),
            by: FAC,
        },
        Event::ParticipantLinkReissued {
            participant: VOTER,
            token_hash: HASH.into(),
            revoked_previous: true,
            by: FAC,
        },
        Event::TimeZoneSet {
            participant: VOTER,
            time_zone: "Europe/Berlin".into(),
            work_start_minute: Some(540),
            work_end_minute: Some(1050),
            work_days: WorkDay::WEEKDAYS.to_vec(),
        },
        Event::PhaseChanged {
            from: Phase::Draft,
            to: Phase::Async,
            by: FAC,
            at: t(2),
        },
        Event::ScheduleSet {
            schedule: Schedule {
                sprint_start: Some(t(7 * 24 * 60)),
                sprint_end: Some(t(21 * 24 * 60)),
                candidates_shared_at: Some(t(5 * 24 * 60)),
                estimation_deadline: Some(t(6 * 24 * 60)),
                sync_start: Some(t(7 * 24 * 60)),
                sync_minutes: Some(45),
                auto_phases: true,
                reminder_minutes: Some(60),
            },
            by: Some(FAC),
            at: Some(t(3)),
        },
        Event::PolicySet {
            policy: Policy::default(),
        },
    ]
}

fn goal_and_items() -> Vec<Event> {
    vec![
        Event::GoalDrafted {
            text: "Ship login".into(),
            by: FAC,
        },
        Event::GoalAmended {
            text: "Ship SSO login".into(),
            note: Some("scope".into()),
            suggestion: None,
            by: FAC,
        },
        Event::GoalSuggested {
            suggestion: crate::domain::ids::SuggestionId(uuid::Uuid::from_u128(77)),
            text: "Ship SSO for admins".into(),
            by: VOTER,
            at: t(2),
        },
        Event::GoalCommitted {
            text: "Ship SSO login".into(),
            by: FAC,
            at: t(3),
        },
        Event::ItemProposed {
            item: ITEM,
            draft: draft(),
            by: FAC,
            at: t(4),
        },
        Event::ItemEdited {
            item: ITEM,
            patch: ItemPatch {
                title: Some("Login v2".into()),
                ..ItemPatch::default()
            },
            by: FAC,
        },
        Event::ItemWithdrawn {
            item: ITEM,
            reason: Some("later".into()),
            by: FAC,
        },
        Event::ItemRestored {
            item: ITEM,
            by: FAC,
        },
        Event::ItemsImported {
            items: vec![NewItem {
                item: ITEM,
                draft: draft(),
            }],
            source: "csv".into(),
            by: FAC,
            at: t(5),
        },
        Event::ItemsRanked {
            order: vec![ITEM],
            by: FAC,
        },
        Event::ItemsCarriedOver {
            from_planning: PlanningId(Uuid::from_u128(10)),
            items: vec![NewItem {
                item: ITEM,
                draft: draft(),
            }],
            by: FAC,
            at: t(6),
        },
    ]
}

fn review_and_capacity() -> Vec<Event> {
    vec![
        Event::CommentPosted {
            comment: COMMENT,
            item: Some(ITEM),
            kind: CommentKind::Question,
            parent: Some(CommentId(Uuid::from_u128(11))),
            addressee: Some(VOTER),
            text: "Which IdP?".into(),
            by: FAC,
            at: t(7),
        },
        Event::CommentEdited {
            comment: COMMENT,
            text: "Which IdPs?".into(),
            by: FAC,
        },
        Event::CommentDeleted {
            comment: COMMENT,
            by: FAC,
        },
        Event::QuestionResolved {
            comment: COMMENT,
            by: FAC,
        },
        Event::ReadinessChecked {
            item: ITEM,
            criterion: CRITERION,
            ok: false,
            note: Some("no design".into()),
            by: FAC,
        },
        Event::DefinitionOfReadySet {
            criteria: vec![Criterion {
                id: CRITERION,
                text: "Has a design".into(),
            }],
            by: FAC,
        },
        Event::ReadinessOverridden {
            item: ITEM,
            reason: "urgent".into(),
            by: FAC,
        },
        Event::CapacityDeclared {
            participant: VOTER,
            available_days: Fixed2::from_hundredths(850),
            focus_factor: Fixed2::from_hundredths(80),
            notes: Some("on call".into()),
            by: VOTER,
        },
        Event::VelocitySet {
            points_per_day: Fixed2::from_hundredths(150),
            by: FAC,
        },
    ]
}

fn estimation() -> Vec<Event> {
    vec![
        Event::RoundOpened {
            round: ROUND,
            items: vec![ITEM],
            deck: Deck::default(),
            deadline: t(60),
            live: false,
            by: FAC,
            at: t(8),
        },
        Event::VoteCast {
            round: ROUND,
            item: ITEM,
            voter: VOTER,
            card: "13".into(),
            nonce: "ab12".into(),
        },
        Event::VoteWithdrawn {
            round: ROUND,
            item: ITEM,
            voter: VOTER,
        },
        Event::RoundClosed {
            round: ROUND,
            reason: CloseReason::Deadline,
            at: t(60),
        },
        Event::VotesRevealed {
            round: ROUND,
            item: ITEM,
            votes: vec![RevealedVote {
                voter: VOTER,
                card: "13".into(),
            }],
            by: FAC,
        },
        Event::ItemFlagged {
            item: ITEM,
            reason: FlagReason::Spread,
            round: Some(ROUND),
            note: Some("far apart".into()),
            by: ParticipantId::SYSTEM,
        },
        Event::FlagCleared {
            item: ITEM,
            by: FAC,
        },
        Event::ItemSentToAgenda {
            item: ITEM,
            reasons: vec![
                DiscussionReason::NoAcceptanceCriteria,
                DiscussionReason::OpenQuestions {
                    questions: vec![COMMENT],
                },
            ],
            note: Some("talk".into()),
            by: FAC,
        },
        Event::EstimateProposed {
            item: ITEM,
            round: ROUND,
            card: "8".into(),
        },
        Event::EstimateAgreed {
            item: ITEM,
            card: "8".into(),
            points: Some(Fixed2::from_int(8)),
            by: FAC,
        },
        Event::RevoteOpened {
            round: RoundId(Uuid::from_u128(12)),
            items: vec![ITEM],
            previous: ROUND,
            deck: Deck::default(),
            deadline: t(80),
            by: FAC,
            at: t(70),
        },
    ]
}

fn sync_and_integrations() -> Vec<Event> {
    vec![
        Event::SyncStarted { by: FAC, at: t(65) },
        Event::AgendaSet {
            items: vec![ITEM],
            by: FAC,
        },
        Event::CoinFlipped {
            question: "Who demos?".into(),
            options: vec!["Ann".into(), "Bob".into()],
            outcome: 1,
            by: FAC,
            at: t(66),
        },
        Event::SyncEnded { by: FAC, at: t(90) },
        Event::FocusSet {
            item: Some(ITEM),
            by: FAC,
            at: t(66),
        },
        Event::TimerStarted {
            item: ITEM,
            seconds: 120,
            ends_at: t(67),
            by: FAC,
            at: t(66),
        },
        Event::TimerExtended {
            item: ITEM,
            seconds: 60,
            ends_at: t(68),
            by: FAC,
            at: t(66),
        },
        Event::TimerStopped {
            item: ITEM,
            by: FAC,
            at: t(67),
        },
        Event::ItemReturnedToRefinement {
            item: ITEM,
            note: Some("needs a design".into()),
            by: FAC,
            at: t(67),
        },
        Event::ScopeDrafted {
            items: vec![ITEM],
            by: FAC,
            at: t(68),
        },
        Event::ScopeCommitted {
            items: vec![ITEM],
            points: Fixed2::from_int(8),
            capacity: Fixed2::from_int(10),
            over_capacity_confirmed: false,
            by: FAC,
            at: t(91),
        },
        Event::ReminderSent {
            participant: VOTER,
            round: Some(ROUND),
            at: t(50),
        },
        Event::WebhookRegistered {
            webhook: WEBHOOK,
            url: SECRET_URL.into(),
            events: vec!["SyncStarted".into()],
            format: WebhookFormat::Slack,
            by: FAC,
            at: t(9),
        },
        Event::WebhookRemoved {
            webhook: WEBHOOK,
            by: FAC,
        },
    ]
}

/// Whether a field's name says it holds a time: `at`, `…_at`, `…deadline`, or a start or
/// an end (`sprint_start`, `sync_start`, `sprint_end`, `…starts`, `…ends`).
fn named_as_time(name: &str) -> bool {
    name == "at"
        || ["_at", "deadline", "_start", "_end", "starts", "ends"]
            .iter()
            .any(|end| name.ends_with(end))
}

/// Every time in `v` (a field named as one, or holding a sample time) has its twin, and
/// every twin mirrors such a time.
pub fn check_times(v: &Value, path: &str, problems: &mut Vec<String>) {
    let Value::Object(map) = v else {
        if let Value::Array(items) = v {
            for (i, item) in items.iter().enumerate() {
                check_times(item, &format!("{path}[{i}]"), problems);
            }
        }
        return;
    };
    for (name, value) in map {
        let here = format!("{path}.{name}");
        if let Some(base) = name.strip_suffix("_utc") {
            match map.get(base).and_then(Value::as_i64) {
                Some(at) if named_as_time(base) => {
                    let twin = value.as_str().unwrap_or_default();
                    let parsed = twin.parse::<jiff::Timestamp>();
                    if twin != rfc3339(at) || !twin.ends_with('Z') || parsed.is_err() {
                        problems.push(format!("{here}: {value} is not {base} in RFC 3339"));
                    }
                }
                _ => problems.push(format!("{here}: a twin of no time field")),
            }
            continue;
        }
        let is_time = value
            .as_i64()
            .is_some_and(|n| named_as_time(name) || n >= T0 / 2);
        if is_time && !map.contains_key(&format!("{name}_utc")) {
            problems.push(format!("{here}: a time without its `{name}_utc` twin"));
        }
        check_times(value, &here, problems);
    }
}

#[test]
fn the_check_finds_a_missing_twin_and_a_stray_one() {
    let mut problems = Vec::new();
    let data = serde_json::json!({
        "at": T0,
        "nested": [{"closed_at": 5, "closed_at_utc": "1970-01-01T00:00:00.000005Z"}],
        "since": T0,
        "outcome": 1,
        "outcome_utc": "1970-01-01T00:00:00.000001Z",
    });
    check_times(&data, "x", &mut problems);
    assert_eq!(
        problems,
        [
            "x.at: a time without its `at_utc` twin",
            "x.outcome_utc: a twin of no time field",
            "x.since: a time without its `since_utc` twin",
        ]
    );
}
