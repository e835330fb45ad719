//! Teams: a small pure aggregate with its own event stream in the same log as the plannings.
//!
//! A team id is a uuid used as the stream id in the store, exactly like a planning id; its
//! events are [`TeamEvent`]s, never planning [`Event`](crate::domain::Event)s, so a planning's
//! log stays planning-only. The link from a team to its plannings lives here
//! (`PlanningLinked`), in creation order, which is what "the team's previous planning" means.
//!
//! Same shape as the planning domain, and the same [`Aggregate`](crate::domain::aggregate)
//! to the writer: [`decide_team`] checks a [`TeamCommand`] against a [`TeamState`] into events
//! or a [`DomainError`]; [`TeamState::apply`] folds events; the codec stores `(kind, version,
//! canonical JSON payload)`.

use crate::domain::decide::limits;
use crate::domain::event::{CodecError, Micros};
use crate::domain::ids::{PlanningId, TeamId};
use crate::domain::DomainError;
use serde::{Deserialize, Serialize};

/// Most people on a roster.
pub const MAX_ROSTER: usize = 100;

/// A roster entry's role in the plannings of the team (facilitators are whoever creates one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosterRole {
    #[default]
    Member,
    Observer,
}

/// One person on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntry {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub role: RosterRole,
}

/// Every fact of a team. Serialised adjacently tagged, like planning events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum TeamEvent {
    /// The team exists; whoever holds the admin token administers it.
    TeamCreated {
        team: TeamId,
        name: String,
        /// SHA-256 of the admin token (the token itself is never stored).
        admin_token_hash: String,
        at: Micros,
    },
    /// The roster was replaced as a whole.
    RosterSet {
        members: Vec<RosterEntry>,
        /// Who set it: `admin` (the only actor a team has for now).
        by: String,
    },
    /// A planning was created for the team (in creation order).
    PlanningLinked { planning: PlanningId, at: Micros },
}

/// Every team event type name.
pub const TEAM_EVENT_KINDS: &[&str] = &["TeamCreated", "RosterSet", "PlanningLinked"];

impl TeamEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            TeamEvent::TeamCreated { .. } => "TeamCreated",
            TeamEvent::RosterSet { .. } => "RosterSet",
            TeamEvent::PlanningLinked { .. } => "PlanningLinked",
        }
    }

    /// The current schema version of a team event type (all are at 1).
    pub fn current_version(_kind: &str) -> i32 {
        1
    }

    /// Encodes as `(kind, version, canonical JSON payload)`.
    pub fn encode(&self) -> (&'static str, i32, String) {
        let kind = self.kind();
        let data = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => m.remove("data").unwrap_or_default(),
            _ => serde_json::Value::Null,
        };
        // A Value's objects are BTreeMaps, so this text is canonical (sorted keys).
        (kind, Self::current_version(kind), data.to_string())
    }

    /// Decodes a stored team event.
    pub fn decode(kind: &str, version: i32, payload: &str) -> Result<TeamEvent, CodecError> {
        if !TEAM_EVENT_KINDS.contains(&kind) {
            return Err(CodecError::UnknownKind(kind.to_string()));
        }
        if version != Self::current_version(kind) {
            return Err(CodecError::UnsupportedVersion {
                kind: kind.to_string(),
                version,
            });
        }
        let malformed = |source| CodecError::Malformed {
            kind: kind.to_string(),
            source,
        };
        let data: serde_json::Value = serde_json::from_str(payload).map_err(malformed)?;
        serde_json::from_value(serde_json::json!({ "type": kind, "data": data })).map_err(malformed)
    }
}

/// The projection of a team.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct TeamState {
    /// `None` until `TeamCreated`.
    pub team: Option<TeamId>,
    pub name: String,
    #[serde(skip)]
    pub admin_token_hash: String,
    pub created_at: Micros,
    pub roster: Vec<RosterEntry>,
    /// Linked plannings, oldest first.
    pub plannings: Vec<PlanningId>,
}

impl TeamState {
    pub fn apply(&mut self, e: &TeamEvent) {
        match e {
            TeamEvent::TeamCreated {
                team,
                name,
                admin_token_hash,
                at,
            } => {
                self.team = Some(*team);
                self.name = name.clone();
                self.admin_token_hash = admin_token_hash.clone();
                self.created_at = *at;
            }
            TeamEvent::RosterSet { members, .. } => self.roster = members.clone(),
            TeamEvent::PlanningLinked { planning, .. } => {
                if !self.plannings.contains(planning) {
                    self.plannings.push(*planning);
                }
            }
        }
    }
}

/// What a team can be asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum TeamCommand {
    CreateTeam {
        name: String,
        roster: Vec<RosterEntry>,
        admin_token_hash: String,
    },
    SetRoster {
        roster: Vec<RosterEntry>,
    },
    LinkPlanning {
        planning: PlanningId,
    },
}

impl TeamCommand {
    /// The idempotency hash, by the same recipe as a planning command's.
    pub fn hash(&self) -> String {
        crate::domain::canonical::hash(self)
    }
}

/// What a team decision depends on besides state and command.
pub struct TeamContext {
    /// The id a new team gets (the stream it is written to).
    pub team: TeamId,
    pub now: Micros,
}

/// Decides a team command.
pub fn decide_team(
    state: &TeamState,
    cmd: &TeamCommand,
    ctx: &TeamContext,
) -> Result<Vec<TeamEvent>, DomainError> {
    match cmd {
        TeamCommand::CreateTeam {
            name,
            roster,
            admin_token_hash,
        } => {
            if state.team.is_some() {
                return Err(DomainError::AlreadyCreated);
            }
            let name = check_name(name, "team name")?;
            let members = check_roster(roster)?;
            Ok(vec![
                TeamEvent::TeamCreated {
                    team: ctx.team,
                    name,
                    admin_token_hash: admin_token_hash.clone(),
                    at: ctx.now,
                },
                TeamEvent::RosterSet {
                    members,
                    by: "admin".into(),
                },
            ])
        }
        TeamCommand::SetRoster { roster } => {
            need_team(state)?;
            Ok(vec![TeamEvent::RosterSet {
                members: check_roster(roster)?,
                by: "admin".into(),
            }])
        }
        TeamCommand::LinkPlanning { planning } => {
            need_team(state)?;
            // Idempotent: linking twice records nothing.
            if state.plannings.contains(planning) {
                return Ok(Vec::new());
            }
            Ok(vec![TeamEvent::PlanningLinked {
                planning: *planning,
                at: ctx.now,
            }])
        }
    }
}

fn need_team(state: &TeamState) -> Result<(), DomainError> {
    state.team.map(|_| ()).ok_or(DomainError::NoPlanning)
}

fn check_name(name: &str, what: &str) -> Result<String, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > limits::NAME {
        return Err(DomainError::Invalid(format!(
            "{what} must be 1 to {} characters",
            limits::NAME
        )));
    }
    if crate::domain::decide::hides_text(name, false) {
        return Err(DomainError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(name.to_string())
}

fn check_roster(roster: &[RosterEntry]) -> Result<Vec<RosterEntry>, DomainError> {
    if roster.len() > MAX_ROSTER {
        return Err(DomainError::Invalid(format!(
            "a roster has at most {MAX_ROSTER} people"
        )));
    }
    let mut out = Vec::with_capacity(roster.len());
    for e in roster {
        let name = check_name(&e.name, "a roster name")?;
        if out.iter().any(|o: &RosterEntry| o.name == name) {
            return Err(DomainError::Invalid(format!(
                "{} is on the roster twice",
                crate::domain::words::quoted(&name)
            )));
        }
        // An IANA name from the tz database, as a planning's `SetTimeZone` takes (the roster
        // hands it on to the people it invites).
        let time_zone = match e.time_zone.as_deref().map(str::trim) {
            Some("") => None,
            Some(t) => {
                crate::domain::slots::time_zone(t)
                    .map_err(|e| DomainError::Invalid(e.to_string()))?;
                Some(t.to_string())
            }
            None => None,
        };
        out.push(RosterEntry {
            name,
            time_zone,
            role: e.role,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> TeamContext {
        TeamContext {
            team: TeamId(uuid::Uuid::from_u128(7)),
            now: 5,
        }
    }

    fn entry(name: &str) -> RosterEntry {
        RosterEntry {
            name: name.into(),
            time_zone: None,
            role: RosterRole::Member,
        }
    }

    #[test]
    fn create_link_and_round_trip() {
        let events = decide_team(
            &TeamState::default(),
            &TeamCommand::CreateTeam {
                name: " Core ".into(),
                roster: vec![entry("Ada")],
                admin_token_hash: "h".into(),
            },
            &ctx(),
        )
        .unwrap();
        let mut s = TeamState::default();
        for e in &events {
            let (k, v, p) = e.encode();
            assert_eq!(&TeamEvent::decode(k, v, &p).unwrap(), e);
            s.apply(e);
        }
        assert_eq!(s.name, "Core");
        let p = PlanningId(uuid::Uuid::from_u128(9));
        let link = decide_team(&s, &TeamCommand::LinkPlanning { planning: p }, &ctx()).unwrap();
        link.iter().for_each(|e| s.apply(e));
        assert_eq!(s.plannings, vec![p]);
        let again = decide_team(&s, &TeamCommand::LinkPlanning { planning: p }, &ctx()).unwrap();
        assert!(again.is_empty());
    }

    #[test]
    fn bad_input_is_refused() {
        let create = |name: &str, roster: Vec<RosterEntry>| {
            decide_team(
                &TeamState::default(),
                &TeamCommand::CreateTeam {
                    name: name.into(),
                    roster,
                    admin_token_hash: "h".into(),
                },
                &ctx(),
            )
        };
        assert!(create("", vec![]).is_err());
        let many = (0..101).map(|i| entry(&format!("p{i}"))).collect();
        assert!(create("T", many).is_err());
        assert!(create("T", vec![entry("A"), entry("A")]).is_err());
        // Time zones are IANA names from the tz database, as everywhere else.
        let zoned = |tz: &str| RosterEntry {
            time_zone: Some(tz.into()),
            ..entry("Ada")
        };
        for bad in [
            "Mars/Olympus_Mons",
            "Europe/Berlin\u{0}",
            "../../etc/passwd",
        ] {
            assert!(create("T", vec![zoned(bad)]).is_err(), "{bad:?} accepted");
        }
        assert!(create("T", vec![zoned(" Europe/Berlin ")]).is_ok());
        assert!(TeamEvent::decode("VoteCast", 1, "{}").is_err());
    }
}
