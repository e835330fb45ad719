//! Given/when/then tests for every rule of the planning domain (`decide` + `apply`), as
//! docs/domain.md states them: one module per section of `domain::decide`.

#[path = "../common/mod.rs"]
mod common;

use common::domain::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::{
    AgreeEstimates, AmendGoal, CarryOverItems, CastVote, ChangePhase, ChangeRole, CheckReadiness,
    ClearFlag, CloseRound, CommitScope, CreatePlanning, DeclareCapacity, DeleteComment, DraftGoal,
    EditComment, EditItem, FlagItem, FlipCoin, ImportItems, Join, OpenRound, OverrideReadiness,
    PostComment, ProposeItem, RankItems, RecordReminder, ReissueLink, RemoveParticipant, Rename,
    ResolveQuestion, RestoreItem, RevealVotes, Revote, RotateInvite, SetAgenda,
    SetDefinitionOfReady, SetPolicy, SetSchedule, SetTimeZone, SetVelocity, WithdrawItem,
    WithdrawVote,
};
use sprintlog::domain::command::{AgreedEstimate, Command};
use sprintlog::domain::deck::Deck;
use sprintlog::domain::event::{
    CloseReason, CommentKind, ItemPatch, NewItem, Policy, RevealedVote, Schedule,
};
use sprintlog::domain::fixed::Fixed2;
use sprintlog::domain::policy::FlagReason;
use sprintlog::domain::{
    decide, CommentId, Context, CriterionId, DomainError, Event, ItemId, ParticipantId, Phase,
    PlanningId, Role, RoundId, State,
};
use uuid::Uuid;

fn f(h: i64) -> Fixed2 {
    Fixed2::from_hundredths(h)
}

fn unknown_item() -> ItemId {
    ItemId(Uuid::from_u128(0xDEAD))
}

fn unknown_round() -> RoundId {
    RoundId(Uuid::from_u128(0xBEEF))
}

fn unknown_person() -> ParticipantId {
    ParticipantId(Uuid::from_u128(0xF00D))
}

const SYSTEM: ParticipantId = ParticipantId::SYSTEM;

/// A planning in `async` with members ann, bob and cat, an observer obs and two items.
fn async_team() -> (Scenario, ItemId, ItemId) {
    let mut s = Scenario::new()
        .member("ann")
        .member("bob")
        .member("cat")
        .observer("obs");
    let a = s.propose("Login page");
    let b = s.propose("Password reset");
    s.phase(Phase::Async);
    (s, a, b)
}

fn agree(item: ItemId, card: &str) -> Command {
    Command::AgreeEstimates(AgreeEstimates {
        estimates: vec![AgreedEstimate {
            item,
            card: card.into(),
        }],
    })
}

fn declare(days: i64, focus: i64) -> Command {
    Command::DeclareCapacity(DeclareCapacity {
        participant: None,
        available_days: f(days),
        focus_factor: f(focus),
        notes: None,
    })
}

fn comment(kind: CommentKind, parent: Option<CommentId>, t: &str) -> Command {
    Command::PostComment(PostComment {
        item: None,
        kind,
        parent,
        addressee: None,
        text: t.into(),
    })
}

fn posted(ev: &[Event]) -> CommentId {
    match ev {
        [Event::CommentPosted { comment, .. }] => *comment,
        other => panic!("unexpected {other:?}"),
    }
}

mod capacity;
mod estimation;
mod goal;
mod items;
mod meeting;
mod people;
mod review;
mod sync;
