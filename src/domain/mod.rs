//! The pure planning domain: commands, events, the projection, and the rules between them.
//!
//! - [`command::Command`]: what someone asks for;
//! - [`decide::decide`]: the rules, `(&State, &Command, Context) -> Result<Vec<Event>>`;
//! - [`canonical`]: the one JSON text of a payload and the one hash of a command;
//! - [`event::Event`]: the facts, stored in the log with a type and a schema version;
//! - [`state::State::apply`]: the fold of events into the projection;
//! - [`aggregate::Aggregate`]: the shape a planning and a team share, which one writer serves;
//! - [`agenda`] (the live agenda's order) and [`inbox`] (a participant's inbox): derived views;
//! - [`slots`] (working hours, the sync slot finder), [`hours`] (who a scheduled time falls
//!   outside the working hours of), [`discussion`] (what needs the live
//!   call), [`readiness`] (whether async prep is likely to work) and [`live`] (the live
//!   meeting's next item, ties, the facilitator's actions, the scope draft): pure derived
//!   figures.

pub mod agenda;
pub mod aggregate;
pub mod canonical;
pub mod card;
pub mod command;
pub mod decide;
pub mod deck;
pub mod discussion;
pub mod error;
pub mod event;
pub mod fixed;
pub mod hours;
pub mod ids;
pub mod inbox;
pub mod live;
pub mod policy;
pub mod readiness;
pub mod secret;
pub mod slots;
pub mod state;
pub mod team;
pub mod vec_map;
pub mod words;

pub use command::Command;
pub use decide::{decide, Context};
pub use error::DomainError;
pub use event::{Event, Phase, Role};
pub use ids::*;
pub use state::State;
