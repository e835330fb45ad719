//! The websocket protocol: tagged JSON frames, one doc line per variant (see docs/protocol.md).
//!
//! Only `event` frames carry `seq`. Everything else (acks, errors, presence, snapshots, query
//! replies) uses other field names (`head`, `at`), so a client's "drop `seq <= last`" rule can
//! never swallow them.

use crate::domain::command::Command;
use crate::domain::event::Role;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::read::view::StateView;
use serde::{Deserialize, Serialize};

/// Close code: the token is unknown or was revoked (the participant was removed or re-linked).
pub const CLOSE_REVOKED: u16 = 4003;
/// Close code: the client did not read fast enough; resume with `since` = last seq seen.
pub const CLOSE_TOO_SLOW: u16 = 4008;
/// Close code: the server is shutting down; reconnect later and resume.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// Frames a client sends.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Run a domain command; answered by `ack` or `error` naming the same `op`.
    Command {
        /// Idempotency key chosen by the client; a retry with the same key applies once.
        op: String,
        /// The head the client's decision was based on; a stale one is refused as a conflict.
        #[serde(default)]
        expected_seq: Option<i64>,
        command: Box<Command>,
    },
    /// The planning as you could see it right after seq `at` (for scrubbing a timeline
    /// without reconnecting); answered by `state_at` or `error` naming the same `req`.
    StateAt {
        at: i64,
        #[serde(default)]
        req: Option<String>,
    },
    /// Keep-alive; answered by `pong`.
    Ping,
}

/// A `command` frame read on its own, only to word a refusal: [`ClientMsg`] is read by its
/// `type`, which hides the path to the field that failed inside it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandFrame {
    #[serde(rename = "type")]
    pub kind: String,
    pub op: String,
    #[serde(default)]
    pub expected_seq: Option<i64>,
    pub command: Box<Command>,
}

/// You, as the server knows you.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    pub participant: ParticipantId,
    pub name: String,
    pub role: Role,
}

/// Frames the server sends (event frames are built by `view::event_frame`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame of a connection: who you are, the head when you connected, and the
    /// server's clock then (`now`, micros), to show time boxes in server time.
    Hello {
        planning: PlanningId,
        you: Me,
        head: i64,
        now: i64,
    },
    /// The projection as you may see it, at position `at`, instead of a long catch-up.
    Snapshot { at: i64, state: Box<StateView> },
    /// Catch-up is complete; live events follow.
    CaughtUp { head: i64 },
    /// A command was durably appended (or had been: `duplicate`); `head` is its last seq.
    Ack {
        op: String,
        first: i64,
        head: i64,
        duplicate: bool,
    },
    /// A frame or command was refused; nothing was written.
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        op: Option<String>,
        code: String,
        message: String,
    },
    /// Who is online (soft state, not logged): the whole set (`online`, once per connection,
    /// after `caught_up`), then changes (`joined`, `left`) to apply to it.
    Presence {
        #[serde(skip_serializing_if = "Option::is_none")]
        online: Option<Vec<ParticipantId>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        joined: Vec<ParticipantId>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        left: Vec<ParticipantId>,
    },
    /// Answer to `state_at`: the projection as you could see it right after `at`.
    StateAt {
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<String>,
        at: i64,
        state: Box<StateView>,
    },
    /// Answer to `ping`.
    Pong,
}

impl ServerMsg {
    pub fn error(op: Option<String>, code: &str, message: impl Into<String>) -> ServerMsg {
        ServerMsg::Error {
            op,
            code: code.to_string(),
            message: message.into(),
        }
    }
}
