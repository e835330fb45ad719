//! Who issues commands: the authenticated [`Caller`] every transport resolves a request to.

use crate::domain::event::Role;
use crate::domain::ids::ParticipantId;
use crate::engine::room::Room;
use std::sync::Arc;

/// A participant of one planning, authenticated by a personal token.
pub struct Caller {
    pub room: Arc<Room>,
    pub participant: ParticipantId,
    pub role: Role,
    pub name: String,
    /// The SHA-256 of the token: the key of the caller's rate limit and of revocations.
    pub token_hash: String,
}
