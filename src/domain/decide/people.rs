//! People: creating a planning, joining it, names, roles, invites, personal links, time zones.

use super::estimation::close_rounds_left_complete;
use super::guard::{self, active, facilitators, hash, text, Actor};
use super::schedule::validate_policy;
use super::{limits, Context, Result};
use crate::domain::command::CreatePlanning;
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::ids::*;
use crate::domain::slots::{self, SlotError, WorkDay, WorkingHours};
use crate::domain::state::State;

pub(super) fn create(
    state: &State,
    cmd: &CreatePlanning,
    ctx: &mut Context<'_>,
) -> Result<Vec<Event>> {
    let CreatePlanning {
        title,
        creator_name,
        creator_token_hash,
        deck,
        policy,
        member_invite_hash,
        observer_invite_hash,
    } = cmd;
    if state.planning.is_some() {
        return Err(DomainError::AlreadyCreated);
    }
    if ctx.actor.is_system() {
        return Err(DomainError::Forbidden { needed: "a person" });
    }
    text(title, "title", 1, limits::TITLE)?;
    text(creator_name, "name", 1, limits::NAME)?;
    for h in [creator_token_hash, member_invite_hash, observer_invite_hash] {
        hash(h)?;
    }
    guard::distinct_invites(member_invite_hash, observer_invite_hash)?;
    let deck = deck.clone().unwrap_or_default();
    deck.validate().map_err(DomainError::Invalid)?;
    let policy = policy.clone().unwrap_or_default();
    validate_policy(&policy)?;
    Ok(vec![Event::PlanningCreated {
        planning: PlanningId::from_random(guard::random16(ctx.rng)),
        title: title.trim().to_string(),
        creator: ctx.actor,
        creator_name: creator_name.trim().to_string(),
        creator_token_hash: creator_token_hash.clone(),
        deck,
        policy,
        member_invite_hash: member_invite_hash.clone(),
        observer_invite_hash: observer_invite_hash.clone(),
        at: ctx.now,
    }])
}

pub(super) fn join(
    state: &State,
    ctx: &Context<'_>,
    name: &str,
    invite_hash: &str,
    token_hash: &str,
) -> Result<Vec<Event>> {
    let me = ctx.actor;
    if me.is_system() || state.participants.contains_key(&me) {
        return Err(DomainError::Invalid("this participant id is taken".into()));
    }
    use crate::domain::secret::same_hash;
    let role = if same_hash(invite_hash, &state.member_invite_hash) {
        Role::Member
    } else if same_hash(invite_hash, &state.observer_invite_hash) {
        Role::Observer
    } else {
        return Err(DomainError::InvalidInvite);
    };
    text(name, "name", 1, limits::NAME)?;
    name_free(state, me, name)?;
    hash(token_hash)?;
    if state.participants.len() >= ctx.max_participants {
        return Err(DomainError::Invalid(format!(
            "a planning has at most {} participants",
            ctx.max_participants
        )));
    }
    Ok(vec![Event::ParticipantJoined {
        participant: me,
        name: name.trim().to_string(),
        role,
        token_hash: token_hash.to_string(),
        at: ctx.now,
    }])
}

/// Refuses `name` when it is, or looks like (Unicode's confusable skeleton, ignoring case),
/// the name of another participant who has not been removed: the audit and the room tell
/// people apart by name.
fn name_free(state: &State, me: ParticipantId, name: &str) -> Result<()> {
    let key = |s: &str| -> (String, String) {
        let s = s.trim();
        (
            unicode_security::skeleton(s).collect(),
            unicode_security::skeleton(&s.to_lowercase()).collect(),
        )
    };
    let (mine, mine_lower) = key(name);
    let taken = state.participants.values().find(|p| {
        let (theirs, theirs_lower) = key(&p.name);
        p.id != me && !p.removed && (theirs == mine || theirs_lower == mine_lower)
    });
    match taken {
        Some(p) => Err(DomainError::NameTaken(p.name.clone())),
        None => Ok(()),
    }
}

pub(super) fn rename(a: &Actor, name: &str) -> Result<Vec<Event>> {
    text(name, "name", 1, limits::NAME)?;
    name_free(a.state, a.me, name)?;
    Ok(vec![Event::ParticipantRenamed {
        participant: a.me,
        name: name.trim().to_string(),
    }])
}

pub(super) fn change_role(a: &Actor, participant: ParticipantId, role: Role) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    let target = active(a.state, participant)?;
    if target.role == Role::Facilitator && role != Role::Facilitator && facilitators(a.state) <= 1 {
        return Err(DomainError::LastFacilitator);
    }
    if target.role == role {
        return Err(DomainError::Invalid(format!(
            "they already are {}",
            crate::domain::error::role_words(role)
        )));
    }
    let changed = Event::RoleChanged {
        participant,
        role,
        by: a.me,
    };
    Ok(leaving(a, target.role, changed))
}

pub(super) fn remove(a: &Actor, participant: ParticipantId) -> Result<Vec<Event>> {
    a.facilitator()?;
    let target = active(a.state, participant)?;
    if target.role == Role::Facilitator && facilitators(a.state) <= 1 {
        return Err(DomainError::LastFacilitator);
    }
    let removed = Event::ParticipantRemoved {
        participant,
        by: a.me,
    };
    Ok(leaving(a, target.role, removed))
}

/// `event`, and when it takes a member out of the vote, the rounds it leaves complete closed.
fn leaving(a: &Actor, was: Role, event: Event) -> Vec<Event> {
    let closes = if was == Role::Member {
        close_rounds_left_complete(a.state, &event, a.me, a.now)
    } else {
        Vec::new()
    };
    std::iter::once(event).chain(closes).collect()
}

pub(super) fn rotate_invite(a: &Actor, role: Role, invite_hash: &str) -> Result<Vec<Event>> {
    a.facilitator()?;
    if role == Role::Facilitator {
        return Err(DomainError::InvalidRole(role));
    }
    hash(invite_hash)?;
    let other = match role {
        Role::Observer => &a.state.member_invite_hash,
        _ => &a.state.observer_invite_hash,
    };
    guard::distinct_invites(invite_hash, other)?;
    Ok(vec![Event::InviteRotated {
        role,
        invite_hash: invite_hash.to_string(),
        by: a.me,
    }])
}

pub(super) fn reissue_link(
    a: &Actor,
    participant: ParticipantId,
    token_hash: &str,
    revoke_previous: bool,
) -> Result<Vec<Event>> {
    // Anyone may rotate their own link (a leaked token is revoked by its owner at once);
    // adding links, or anyone else's, is the facilitator's.
    if participant != a.me || !revoke_previous {
        a.facilitator()?;
    }
    active(a.state, participant)?;
    hash(token_hash)?;
    Ok(vec![Event::ParticipantLinkReissued {
        participant,
        token_hash: token_hash.to_string(),
        revoked_previous: revoke_previous,
        by: a.me,
    }])
}

pub(super) fn set_time_zone(
    a: &Actor,
    time_zone: &str,
    start: Option<u32>,
    end: Option<u32>,
    work_days: &Option<Vec<WorkDay>>,
) -> Result<Vec<Event>> {
    let mut days = work_days
        .clone()
        .unwrap_or_else(|| WorkDay::WEEKDAYS.to_vec());
    days.sort();
    days.dedup();
    let checked = match (start, end) {
        (None, None) if days.is_empty() => Err(SlotError::NoDays),
        (None, None) => slots::time_zone(time_zone).map(|_| ()),
        (Some(s), Some(e)) => WorkingHours {
            time_zone: time_zone.to_string(),
            start_minute: s,
            end_minute: e,
            days: days.clone(),
        }
        .validate()
        .map(|_| ()),
        _ => Err(SlotError::BadHours),
    };
    checked.map_err(|e| DomainError::Invalid(e.to_string()))?;
    Ok(vec![Event::TimeZoneSet {
        participant: a.me,
        time_zone: time_zone.to_string(),
        work_start_minute: start,
        work_end_minute: end,
        work_days: days,
    }])
}
