//! Typed identifiers: a planning, participant, item, round, comment or suggestion id is never
//! mixed up.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Builds an id from 16 random bytes (a version 4 UUID).
            pub fn from_random(bytes: [u8; 16]) -> Self {
                Self(uuid::Builder::from_random_bytes(bytes).into_uuid())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// A planning (one room, one sprint).
    PlanningId,
    /// A participant of one planning.
    ParticipantId,
    /// A candidate backlog item.
    ItemId,
    /// An estimation round.
    RoundId,
    /// A comment, question or answer.
    CommentId,
    /// A Definition of Ready criterion.
    CriterionId,
    /// An outbound webhook registered on a planning.
    WebhookId,
    /// A team: its own event stream in the log, grouping plannings.
    TeamId,
    /// A wording of the sprint goal someone suggested during the planning.
    SuggestionId,
);

impl ParticipantId {
    /// The server itself, for commands it issues (deadlines, reminders).
    pub const SYSTEM: ParticipantId = ParticipantId(Uuid::nil());

    pub fn is_system(&self) -> bool {
        self.0.is_nil()
    }
}
