//! The shape every event-sourced aggregate has, so one writer can serve them all: a planning
//! ([`State`]) and a team ([`TeamState`]).
//!
//! An aggregate decides a command against its state into events (or a refusal), folds events
//! into its state, and its events go to the log as `(kind, version, canonical JSON payload)`
//! through one [`Codec`].

use crate::domain::event::{CodecError, Event};
use crate::domain::ids::{PlanningId, TeamId};
use crate::domain::team::{decide_team, TeamCommand, TeamContext, TeamEvent, TeamState};
use crate::domain::{decide, Command, Context, DomainError, State};
use uuid::Uuid;

/// How an aggregate's events are stored: a kind, a schema version and a canonical payload.
pub trait Codec: Sized {
    fn encode(&self) -> (&'static str, i32, String);
    fn decode(kind: &str, version: i32, payload: &str) -> Result<Self, CodecError>;
}

/// An event-sourced aggregate: the projection of one stream of the log.
pub trait Aggregate: Default + Send + Sync + 'static {
    type Command: Send + Sync + 'static;
    type Event: Codec + Send + Sync + 'static;

    /// The rules: `cmd` against this state, as `ctx.actor` at `ctx.now`, for the stream
    /// `stream` (the aggregate's id, chosen before its first command).
    fn decide(
        &self,
        stream: Uuid,
        cmd: &Self::Command,
        ctx: &mut Context<'_>,
    ) -> Result<Vec<Self::Event>, DomainError>;

    /// Folds one event into the state.
    fn apply(&mut self, event: &Self::Event);
}

impl Codec for Event {
    fn encode(&self) -> (&'static str, i32, String) {
        Event::encode(self)
    }

    fn decode(kind: &str, version: i32, payload: &str) -> Result<Self, CodecError> {
        Event::decode(kind, version, payload)
    }
}

impl Aggregate for State {
    type Command = Command;
    type Event = Event;

    fn decide(
        &self,
        stream: Uuid,
        cmd: &Command,
        ctx: &mut Context<'_>,
    ) -> Result<Vec<Event>, DomainError> {
        let mut events = decide(self, cmd, ctx)?;
        // A planning's id is the stream it is written to: its writer (and the room readers
        // find it by) exist before the creation is decided, so the id the rules draw for a
        // bare `decide` gives way to the stream's.
        if let Some(Event::PlanningCreated { planning, .. }) = events.first_mut() {
            *planning = PlanningId(stream);
        }
        Ok(events)
    }

    fn apply(&mut self, event: &Event) {
        State::apply(self, event);
    }
}

impl Codec for TeamEvent {
    fn encode(&self) -> (&'static str, i32, String) {
        TeamEvent::encode(self)
    }

    fn decode(kind: &str, version: i32, payload: &str) -> Result<Self, CodecError> {
        TeamEvent::decode(kind, version, payload)
    }
}

impl Aggregate for TeamState {
    type Command = TeamCommand;
    type Event = TeamEvent;

    fn decide(
        &self,
        stream: Uuid,
        cmd: &TeamCommand,
        ctx: &mut Context<'_>,
    ) -> Result<Vec<TeamEvent>, DomainError> {
        let team = TeamContext {
            team: TeamId(stream),
            now: ctx.now,
        };
        decide_team(self, cmd, &team)
    }

    fn apply(&mut self, event: &TeamEvent) {
        TeamState::apply(self, event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::CreatePlanning;
    use crate::domain::ids::ParticipantId;

    #[test]
    fn a_created_planning_is_named_after_its_stream() {
        let stream = Uuid::from_u128(42);
        let create = Command::CreatePlanning(CreatePlanning {
            title: "T".into(),
            creator_name: "Fay".into(),
            creator_token_hash: "a".repeat(64),
            deck: None,
            policy: None,
            member_invite_hash: "b".repeat(64),
            observer_invite_hash: "c".repeat(64),
        });
        let mut rng = rand::rngs::OsRng;
        let mut ctx = Context {
            actor: ParticipantId(Uuid::from_u128(1)),
            now: 5,
            rng: &mut rng,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        };
        let events = Aggregate::decide(&State::default(), stream, &create, &mut ctx).unwrap();
        let mut state = State::default();
        events.iter().for_each(|e| Aggregate::apply(&mut state, e));
        assert_eq!(state.planning, Some(PlanningId(stream)));
    }
}
