//! Shared helpers for the domain tests: a given/when/then harness over `decide` and `apply`.

use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::Command;
use sprintlog::domain::command::{
    CastVote, ChangePhase, ChangeRole, CreatePlanning, Join, OpenRound, ProposeItem,
};
use sprintlog::domain::event::ItemDraft;
use sprintlog::domain::{decide, Context, DomainError, Event, ItemId, ParticipantId, RoundId};
use sprintlog::domain::{Role, State};
use std::collections::BTreeMap;
use uuid::Uuid;

/// 2024-01-01T00:00:00Z in microseconds.
pub const T0: i64 = 1_704_067_200_000_000;
pub const MINUTE: i64 = 60_000_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// A SHA-256-shaped hash (64 lowercase hex digits) derived from a number.
pub fn hash(n: u64) -> String {
    format!("{n:064x}")
}

pub fn member_invite() -> String {
    hash(0xA11CE)
}

pub fn observer_invite() -> String {
    hash(0x0B5)
}

pub fn draft(title: &str) -> ItemDraft {
    ItemDraft {
        title: title.into(),
        ..ItemDraft::default()
    }
}

pub fn create_cmd() -> Command {
    Command::CreatePlanning(CreatePlanning {
        title: "Sprint 42".into(),
        creator_name: "Fay".into(),
        creator_token_hash: hash(1),
        deck: None,
        policy: None,
        member_invite_hash: member_invite(),
        observer_invite_hash: observer_invite(),
    })
}

/// The kinds of a list of events, for compact assertions.
pub fn kinds(events: &[Event]) -> Vec<&'static str> {
    events.iter().map(Event::kind).collect()
}

/// A planning under test: the state, every event so far, a seeded rng and an explicit clock.
pub struct Scenario {
    pub state: State,
    pub events: Vec<Event>,
    pub rng: StdRng,
    pub now: i64,
    /// The creator (a facilitator).
    pub fac: ParticipantId,
    pub people: BTreeMap<String, ParticipantId>,
    next_person: u128,
    next_token: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

impl Scenario {
    /// An empty log (no planning yet).
    pub fn empty() -> Self {
        Scenario {
            state: State::default(),
            events: Vec::new(),
            rng: StdRng::seed_from_u64(7),
            now: T0,
            fac: ParticipantId(Uuid::from_u128(1)),
            people: BTreeMap::new(),
            next_person: 100,
            next_token: 1000,
        }
    }

    /// A planning in `draft`, created by the facilitator "fay".
    pub fn new() -> Self {
        let mut s = Self::empty();
        let fac = s.fac;
        s.given(fac, create_cmd());
        s.people.insert("fay".into(), fac);
        s
    }

    /// The id of a named participant.
    pub fn id(&self, name: &str) -> ParticipantId {
        *self
            .people
            .get(name)
            .unwrap_or_else(|| panic!("no participant {name}"))
    }

    /// A fresh participant id nobody uses yet.
    pub fn fresh_id(&mut self) -> ParticipantId {
        self.next_person += 1;
        ParticipantId(Uuid::from_u128(self.next_person))
    }

    pub fn fresh_hash(&mut self) -> String {
        self.next_token += 1;
        hash(self.next_token)
    }

    fn join(mut self, name: &str, invite: String) -> Self {
        let id = self.fresh_id();
        let token_hash = self.fresh_hash();
        self.given(
            id,
            Command::Join(Join {
                name: name.into(),
                invite_hash: invite,
                token_hash,
            }),
        );
        self.people.insert(name.into(), id);
        self
    }

    /// Someone joins through the member invite.
    pub fn member(self, name: &str) -> Self {
        self.join(name, member_invite())
    }

    /// Someone joins through the observer invite.
    pub fn observer(self, name: &str) -> Self {
        self.join(name, observer_invite())
    }

    /// A second facilitator: joins as a member and is promoted.
    pub fn facilitator(mut self, name: &str) -> Self {
        self = self.member(name);
        let id = self.id(name);
        let fac = self.fac;
        self.given(
            fac,
            Command::ChangeRole(ChangeRole {
                participant: id,
                role: Role::Facilitator,
            }),
        );
        self
    }

    /// Moves the clock.
    pub fn advance(&mut self, micros: i64) -> &mut Self {
        self.now += micros;
        self
    }

    /// Decides without applying. Every refusal is checked to be in plain words (no id, no
    /// debug output), so each refusal any test provokes is checked.
    pub fn when(&mut self, actor: ParticipantId, cmd: Command) -> Result<Vec<Event>, DomainError> {
        let mut ctx = Context {
            actor,
            now: self.now,
            rng: &mut self.rng,
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
        };
        let out = decide(&self.state, &cmd, &mut ctx);
        if let Err(e) = &out {
            let text = e.to_string();
            if let Some(why) = sprintlog::domain::words::not_plain(&text) {
                panic!("the refusal {} shows {why}: {text}", e.code());
            }
        }
        out
    }

    /// Decides and applies; a rejected command leaves the state as it was.
    pub fn try_do(
        &mut self,
        actor: ParticipantId,
        cmd: Command,
    ) -> Result<Vec<Event>, DomainError> {
        let before = self.state.clone();
        let out = self.when(actor, cmd);
        match &out {
            Ok(events) => {
                for e in events {
                    self.state.apply(e);
                }
                self.events.extend(events.iter().cloned());
            }
            Err(_) => assert_eq!(self.state, before),
        }
        out
    }

    /// Decides and applies; panics if the command is rejected.
    pub fn given(&mut self, actor: ParticipantId, cmd: Command) -> Vec<Event> {
        let c = format!("{cmd:?}");
        self.try_do(actor, cmd)
            .unwrap_or_else(|e| panic!("given {c} was rejected: {e:?}"))
    }

    // ---- shortcuts for common steps ----

    pub fn propose(&mut self, title: &str) -> ItemId {
        let fac = self.fac;
        let ev = self.given(
            fac,
            Command::ProposeItem(ProposeItem {
                draft: draft(title),
            }),
        );
        match &ev[..] {
            [Event::ItemProposed { item, .. }] => *item,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn phase(&mut self, to: sprintlog::domain::Phase) {
        let fac = self.fac;
        self.given(fac, Command::ChangePhase(ChangePhase { to }));
    }

    /// Opens a round over `items` with a deadline `minutes` from now.
    pub fn open_round(&mut self, items: &[ItemId], minutes: i64) -> RoundId {
        let fac = self.fac;
        let deadline = self.now + minutes * MINUTE;
        let ev = self.given(
            fac,
            Command::OpenRound(OpenRound {
                items: items.to_vec(),
                deck: None,
                deadline: Some(deadline),
            }),
        );
        match &ev[..] {
            [Event::RoundOpened { round, .. }] | [Event::RevoteOpened { round, .. }] => *round,
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn vote(&mut self, who: &str, round: RoundId, item: ItemId, card: &str) -> Vec<Event> {
        let id = self.id(who);
        self.given(
            id,
            Command::CastVote(CastVote {
                round,
                item,
                card: card.into(),
            }),
        )
    }

    /// Asserts the state equals a replay of every event so far.
    pub fn assert_replays(&self) {
        assert_eq!(State::replay(&self.events), self.state);
    }
}

/// Assertions on an outcome.
pub trait Then {
    fn then_kinds(self, expected: &[&str]) -> Vec<Event>;
    fn then_error(self, code: &str) -> DomainError;
    /// Refused with one of `codes` (for a table of bad inputs refused for different reasons).
    fn then_error_in(self, codes: &[&str]) -> DomainError;
}

impl Then for Result<Vec<Event>, DomainError> {
    #[track_caller]
    fn then_kinds(self, expected: &[&str]) -> Vec<Event> {
        match self {
            Ok(events) => {
                assert_eq!(kinds(&events), expected, "events: {events:#?}");
                events
            }
            Err(e) => panic!("expected {expected:?}, got error {e:?}"),
        }
    }

    #[track_caller]
    fn then_error(self, code: &str) -> DomainError {
        match self {
            Ok(events) => panic!("expected error {code}, got {events:#?}"),
            Err(e) => {
                assert_eq!(e.code(), code, "error: {e:?}");
                e
            }
        }
    }

    #[track_caller]
    fn then_error_in(self, codes: &[&str]) -> DomainError {
        match self {
            Ok(events) => panic!("expected one of {codes:?}, got {events:#?}"),
            Err(e) => {
                assert!(codes.contains(&e.code()), "{codes:?}, got {e:?}");
                e
            }
        }
    }
}
