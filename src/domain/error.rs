//! Why the domain refused a command. Each variant has a stable machine-readable code.

use super::event::{Phase, Role};
use super::fixed::Fixed2;
use super::ids::*;

/// A rejected command. Nothing was decided, so nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the planning does not exist yet")]
    NoPlanning,
    #[error("the planning already exists")]
    AlreadyCreated,
    #[error("not allowed in phase {actual:?}")]
    WrongPhase { actual: Phase },
    #[error("only {needed} may do this")]
    Forbidden { needed: &'static str },
    #[error("unknown participant")]
    NotAParticipant,
    #[error("unknown participant {0}")]
    UnknownParticipant(ParticipantId),
    #[error("that invite is not valid (it may have been rotated)")]
    InvalidInvite,
    #[error("unknown item {0}")]
    UnknownItem(ItemId),
    #[error("item {0} was withdrawn")]
    ItemWithdrawn(ItemId),
    #[error("unknown round {0}")]
    UnknownRound(RoundId),
    #[error("round {0} is closed")]
    RoundClosed(RoundId),
    #[error("round {0} is still open")]
    RoundOpen(RoundId),
    #[error("the deadline of round {0} has passed")]
    DeadlinePassed(RoundId),
    #[error("the deadline of round {0} has not passed yet")]
    DeadlineNotReached(RoundId),
    #[error("item {item} is not part of round {round}")]
    ItemNotInRound { round: RoundId, item: ItemId },
    #[error("item {0} is already being estimated in an open round")]
    ItemInOpenRound(ItemId),
    #[error(
        "item {item} is not ready: criteria {failing:?} failed (the facilitator can override)"
    )]
    NotReady {
        item: ItemId,
        failing: Vec<CriterionId>,
    },
    #[error("card {0:?} is not in this round's deck")]
    InvalidCard(String),
    #[error("no vote to withdraw")]
    NoVote,
    #[error("the votes on item {0} of this round are already revealed")]
    AlreadyRevealed(ItemId),
    #[error("item {0} is not flagged")]
    NotFlagged(ItemId),
    #[error("item {0} has no agreed estimate")]
    NoEstimate(ItemId),
    #[error("item {0} already has an agreed estimate")]
    AlreadyEstimated(ItemId),
    #[error("item {0} was already sent back to refinement")]
    AlreadyReturned(ItemId),
    #[error("item {0} is not the item the room discusses: move the focus to it first")]
    NotFocused(ItemId),
    #[error("no time box is running")]
    NoTimer,
    #[error("unknown goal suggestion {0}")]
    UnknownSuggestion(SuggestionId),
    #[error("goal suggestion {0} was already adopted")]
    AlreadyAdopted(SuggestionId),
    #[error("unknown comment {0}")]
    UnknownComment(CommentId),
    #[error("comment {0} was deleted")]
    CommentDeleted(CommentId),
    #[error("comment {0} is not a question")]
    NotAQuestion(CommentId),
    #[error("unknown readiness criterion {0}")]
    UnknownCriterion(CriterionId),
    #[error("no sprint goal drafted yet")]
    NoGoal,
    #[error("the goal is already committed")]
    GoalAlreadyCommitted,
    #[error("the live session is not running")]
    SyncNotRunning,
    #[error("the live session is already running")]
    SyncRunning,
    #[error("{points} points exceed the capacity of {capacity}: confirm to commit anyway")]
    OverCapacity { points: Fixed2, capacity: Fixed2 },
    #[error("the planning needs at least one facilitator")]
    LastFacilitator,
    #[error("unknown webhook {0}")]
    UnknownWebhook(WebhookId),
    #[error("role {0:?} cannot be granted this way")]
    InvalidRole(Role),
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} contains control or text-direction characters")]
    BadCharacters { field: &'static str },
    #[error("{field} must have {min} to {max} entries")]
    WrongCount {
        field: &'static str,
        min: usize,
        max: usize,
    },
    #[error("{field} must be {expected}")]
    BadFormat {
        field: &'static str,
        expected: &'static str,
    },
    #[error("{field} must be {range}")]
    OutOfRange {
        field: &'static str,
        range: &'static str,
    },
    #[error("the deadline must be in the future")]
    DeadlineInPast,
    #[error("{field}: {value} appears twice")]
    Duplicate { field: &'static str, value: String },
    /// One entry of a batch (an import) was refused: the entry's own refusal, with its place.
    #[error("item {index}: {error}")]
    InEntry {
        /// 1-based, as people count rows.
        index: usize,
        error: Box<DomainError>,
    },
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl DomainError {
    /// A stable code for APIs and clients.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            NoPlanning => "no_planning",
            AlreadyCreated => "already_created",
            WrongPhase { .. } => "wrong_phase",
            Forbidden { .. } => "forbidden",
            NotAParticipant => "not_a_participant",
            UnknownParticipant(_) => "unknown_participant",
            InvalidInvite => "invalid_invite",
            UnknownItem(_) => "unknown_item",
            ItemWithdrawn(_) => "item_withdrawn",
            UnknownRound(_) => "unknown_round",
            RoundClosed(_) => "round_closed",
            RoundOpen(_) => "round_open",
            DeadlinePassed(_) => "deadline_passed",
            DeadlineNotReached(_) => "deadline_not_reached",
            ItemNotInRound { .. } => "item_not_in_round",
            ItemInOpenRound(_) => "item_in_open_round",
            NotReady { .. } => "not_ready",
            InvalidCard(_) => "invalid_card",
            NoVote => "no_vote",
            AlreadyRevealed(_) => "already_revealed",
            NotFlagged(_) => "not_flagged",
            NoEstimate(_) => "no_estimate",
            AlreadyEstimated(_) => "already_estimated",
            AlreadyReturned(_) => "already_returned",
            NotFocused(_) => "not_focused",
            NoTimer => "no_timer",
            UnknownSuggestion(_) => "unknown_suggestion",
            AlreadyAdopted(_) => "already_adopted",
            UnknownComment(_) => "unknown_comment",
            CommentDeleted(_) => "comment_deleted",
            NotAQuestion(_) => "not_a_question",
            UnknownCriterion(_) => "unknown_criterion",
            NoGoal => "no_goal",
            GoalAlreadyCommitted => "goal_already_committed",
            SyncNotRunning => "sync_not_running",
            SyncRunning => "sync_running",
            OverCapacity { .. } => "over_capacity",
            LastFacilitator => "last_facilitator",
            InvalidRole(_) => "invalid_role",
            UnknownWebhook(_) => "unknown_webhook",
            Empty { .. } => "empty",
            TooLong { .. } => "too_long",
            BadCharacters { .. } => "bad_characters",
            WrongCount { .. } => "wrong_count",
            BadFormat { .. } => "invalid_format",
            OutOfRange { .. } => "out_of_range",
            DeadlineInPast => "deadline_in_past",
            Duplicate { .. } => "duplicate",
            InEntry { error, .. } => error.code(),
            Invalid(_) => "invalid",
        }
    }

    /// Whether the command was refused because of what it says (its input), not who sent it or
    /// when: resending it unchanged can never succeed.
    pub fn is_input(&self) -> bool {
        use DomainError::*;
        match self {
            InEntry { error, .. } => error.is_input(),
            Invalid(_) | InvalidCard(_) | InvalidRole(_) | NotAQuestion(_) => true,
            ItemNotInRound { .. } | Empty { .. } | TooLong { .. } | BadCharacters { .. } => true,
            WrongCount { .. } | BadFormat { .. } | OutOfRange { .. } | DeadlineInPast => true,
            Duplicate { .. } => true,
            _ => false,
        }
    }

    /// Whether the command was refused because of who sent it (vs. what or when).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            DomainError::Forbidden { .. }
                | DomainError::NotAParticipant
                | DomainError::InvalidInvite
        )
    }
}
