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
    #[error("not allowed while the planning is {}", phase_words(*actual))]
    WrongPhase { actual: Phase },
    #[error("only {needed} may do this")]
    Forbidden { needed: &'static str },
    #[error("unknown participant")]
    NotAParticipant,
    #[error("that person is not in this planning")]
    UnknownParticipant(ParticipantId),
    #[error("that invite is not valid (it may have been rotated)")]
    InvalidInvite,
    #[error("that item is not in this planning")]
    UnknownItem(ItemId),
    #[error("this item was withdrawn")]
    ItemWithdrawn(ItemId),
    #[error("that round is not in this planning")]
    UnknownRound(RoundId),
    #[error("this round is closed")]
    RoundClosed(RoundId),
    #[error("this round is still open")]
    RoundOpen(RoundId),
    #[error("this round's deadline has passed")]
    DeadlinePassed(RoundId),
    #[error("this round's deadline has not passed yet")]
    DeadlineNotReached(RoundId),
    #[error("this item is not part of that round")]
    ItemNotInRound { round: RoundId, item: ItemId },
    #[error("this item is already being estimated in an open round")]
    ItemInOpenRound(ItemId),
    /// `title` and `criteria` (the failing criteria's texts) make the message; the ids are
    /// for code.
    #[error(
        "“{title}” is not ready: {} (the facilitator can override)",
        not_met(criteria)
    )]
    NotReady {
        item: ItemId,
        failing: Vec<CriterionId>,
        title: String,
        criteria: Vec<String>,
    },
    #[error("“{0}” is not a card of this round's deck")]
    InvalidCard(String),
    #[error("no vote to withdraw")]
    NoVote,
    #[error("the votes on this item are already revealed")]
    AlreadyRevealed(ItemId),
    #[error("this item is not flagged")]
    NotFlagged(ItemId),
    #[error("this item has no agreed estimate")]
    NoEstimate(ItemId),
    #[error("this item already has an agreed estimate")]
    AlreadyEstimated(ItemId),
    #[error("this item was already sent back to refinement")]
    AlreadyReturned(ItemId),
    #[error("this item is not the one the room discusses: move the focus to it first")]
    NotFocused(ItemId),
    #[error("no time box is running")]
    NoTimer,
    #[error("that goal suggestion is not in this planning")]
    UnknownSuggestion(SuggestionId),
    #[error("that goal suggestion was already adopted")]
    AlreadyAdopted(SuggestionId),
    #[error("that comment is not in this planning")]
    UnknownComment(CommentId),
    #[error("that comment was deleted")]
    CommentDeleted(CommentId),
    #[error("that comment is not a question")]
    NotAQuestion(CommentId),
    #[error("that criterion is not in the Definition of Ready")]
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
    #[error("that webhook is not registered")]
    UnknownWebhook(WebhookId),
    #[error("the {} role cannot be granted this way", role_words(*.0))]
    InvalidRole(Role),
    #[error("{} must not be empty", spoken(field))]
    Empty { field: &'static str },
    #[error("{} must be at most {max} characters", spoken(field))]
    TooLong { field: &'static str, max: usize },
    #[error(
        "{} contains control characters or characters that display as nothing",
        spoken(field)
    )]
    BadCharacters { field: &'static str },
    #[error("{} must have {min} to {max} entries", spoken(field))]
    WrongCount {
        field: &'static str,
        min: usize,
        max: usize,
    },
    #[error("{} must be {expected}", spoken(field))]
    BadFormat {
        field: &'static str,
        expected: &'static str,
    },
    #[error("{} must be {range}", spoken(field))]
    OutOfRange {
        field: &'static str,
        range: &'static str,
    },
    #[error("the deadline must be in the future")]
    DeadlineInPast,
    #[error("{}: {value} appears twice", spoken(field))]
    Duplicate { field: &'static str, value: String },
    /// One entry of a batch (an import) was refused: the entry's own refusal, with its place.
    #[error("item {index}: {error}")]
    InEntry {
        /// 1-based, as people count rows.
        index: usize,
        error: Box<DomainError>,
    },
    /// The name is another active participant's, or looks like it (same confusable skeleton).
    #[error("{0} is already the name of someone here, or looks like it: choose another")]
    NameTaken(String),
    #[error("{0}")]
    Invalid(String),
}

/// A phase as people say it: `a draft`, `estimating async`, …
pub fn phase_words(p: Phase) -> &'static str {
    match p {
        Phase::Draft => "a draft",
        Phase::Async => "estimating async",
        Phase::Sync => "in its live session",
        Phase::Committed => "committed",
    }
}

/// A field name as people say it: `batch_size` reads `batch size`.
fn spoken(field: &str) -> String {
    field.replace('_', " ")
}

/// A role as people say it.
pub fn role_words(r: Role) -> &'static str {
    match r {
        Role::Facilitator => "facilitator",
        Role::Member => "member",
        Role::Observer => "observer",
    }
}

/// `“AC written” is not met`, `“AC written” and “Sized” are not met`.
fn not_met(criteria: &[String]) -> String {
    let quoted: Vec<String> = criteria.iter().map(|c| format!("“{c}”")).collect();
    match quoted.as_slice() {
        [] => "a criterion of the Definition of Ready is not met".into(),
        [one] => format!("{one} is not met"),
        [rest @ .., last] => format!("{} and {last} are not met", rest.join(", ")),
    }
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
            NameTaken(_) => "name_taken",
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
            Duplicate { .. } | NameTaken(_) => true,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::words::not_plain;

    fn id<T>(make: fn([u8; 16]) -> T, n: u8) -> T {
        make([n.wrapping_mul(37) ^ 0x5a; 16])
    }

    /// One refusal of every kind, with real ids where it carries some.
    fn every_refusal() -> Vec<DomainError> {
        use DomainError::*;
        let item = id(ItemId::from_random, 1);
        let round = id(RoundId::from_random, 2);
        let field = "batch_size";
        vec![
            NoPlanning,
            AlreadyCreated,
            WrongPhase {
                actual: Phase::Async,
            },
            Forbidden {
                needed: "the facilitator",
            },
            NotAParticipant,
            UnknownParticipant(id(ParticipantId::from_random, 3)),
            InvalidInvite,
            UnknownItem(item),
            ItemWithdrawn(item),
            UnknownRound(round),
            RoundClosed(round),
            RoundOpen(round),
            DeadlinePassed(round),
            DeadlineNotReached(round),
            ItemNotInRound { round, item },
            ItemInOpenRound(item),
            NotReady {
                item,
                failing: vec![
                    id(CriterionId::from_random, 4),
                    id(CriterionId::from_random, 5),
                ],
                title: "Login page".into(),
                criteria: vec!["Has AC".into(), "Sized".into()],
            },
            InvalidCard("21".into()),
            NoVote,
            AlreadyRevealed(item),
            NotFlagged(item),
            NoEstimate(item),
            AlreadyEstimated(item),
            AlreadyReturned(item),
            NotFocused(item),
            NoTimer,
            UnknownSuggestion(id(SuggestionId::from_random, 6)),
            AlreadyAdopted(id(SuggestionId::from_random, 6)),
            UnknownComment(id(CommentId::from_random, 7)),
            CommentDeleted(id(CommentId::from_random, 7)),
            NotAQuestion(id(CommentId::from_random, 7)),
            UnknownCriterion(id(CriterionId::from_random, 4)),
            NoGoal,
            GoalAlreadyCommitted,
            SyncNotRunning,
            SyncRunning,
            OverCapacity {
                points: Fixed2::from_int(30),
                capacity: Fixed2::from_int(20),
            },
            LastFacilitator,
            UnknownWebhook(id(WebhookId::from_random, 8)),
            InvalidRole(Role::Facilitator),
            Empty { field },
            TooLong { field, max: 200 },
            BadCharacters { field },
            WrongCount {
                field,
                min: 1,
                max: 6,
            },
            BadFormat {
                field,
                expected: "an https URL",
            },
            OutOfRange {
                field,
                range: "1 to 20",
            },
            DeadlineInPast,
            Duplicate {
                field,
                value: "“Login page”".into(),
            },
            InEntry {
                index: 3,
                error: Box::new(UnknownItem(item)),
            },
            Invalid("nothing to change".into()),
        ]
    }

    #[test]
    fn every_refusal_is_in_plain_words() {
        let all = every_refusal();
        // One sample per kind (each kind has its code; an entry's refusal is its error's).
        let codes: std::collections::BTreeSet<_> = all.iter().map(DomainError::code).collect();
        assert_eq!(codes.len() + 1, all.len());
        for e in &all {
            let text = e.to_string();
            assert_eq!(not_plain(&text), None, "{}: {text}", e.code());
        }
        assert_eq!(
            all[16].to_string(),
            "“Login page” is not ready: “Has AC” and “Sized” are not met \
             (the facilitator can override)"
        );
        let twice = all.iter().find(|e| e.code() == "duplicate");
        assert_eq!(
            twice.map(ToString::to_string).as_deref(),
            Some("batch size: “Login page” appears twice")
        );
    }
}
