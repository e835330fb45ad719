//! Read models: pure functions from the domain's state and events to what people read.

pub mod audit;
pub mod comments;
pub mod diff;
pub mod digest;
pub mod export;
pub mod import;
pub mod inbox;
pub mod pushed;
pub mod time_spent;
pub mod timeline;
pub mod utc;
pub mod view;

use crate::domain::event::{Event, Micros};
use crate::domain::ids::ParticipantId;

/// One event of a planning's log as the read models take it: where it sits in the log, who
/// did it and when it was recorded, and the fact itself. How the log is stored is no concern
/// of a read model (the engine turns stored rows into envelopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub seq: i64,
    pub id: uuid::Uuid,
    pub actor: ParticipantId,
    /// When the event was recorded.
    pub at: Micros,
    pub event: Event,
}
