//! The websocket transport: the upgrade and socket I/O, the protocol's frames, and one
//! connection's loop over a live room.

pub mod connection;
pub mod outbox;
pub mod protocol;
pub mod socket;
