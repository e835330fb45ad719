//! The checks every section shares: who is acting and with which role, in which phase, which
//! participant, item, comment or round a command names, and the shape of text and hashes.

use super::{limits, Context, Result};
use crate::domain::command::Command;
use crate::domain::error::DomainError;
use crate::domain::event::{Micros, Phase, Role};
use crate::domain::ids::*;
use crate::domain::state::{Comment, Item, Participant, Round, State};
use crate::domain::words::quoted;
use rand::RngCore;
use std::collections::BTreeSet;

/// The actor of a command as the rules see it: who, with which role, in which phase, when.
pub(super) struct Actor<'a> {
    pub state: &'a State,
    pub me: ParticipantId,
    pub now: Micros,
    pub role: Role,
    pub phase: Phase,
    rng: &'a mut dyn RngCore,
}

impl<'a> Actor<'a> {
    /// The actor of `cmd` in a planning that exists; the system actor only sends the commands
    /// made for it.
    pub fn of(state: &'a State, cmd: &Command, ctx: &'a mut Context<'_>) -> Result<Self> {
        let role = actor_role(state, ctx.actor, cmd)?;
        Ok(Actor {
            state,
            me: ctx.actor,
            now: ctx.now,
            role,
            phase: state.phase.unwrap_or(Phase::Draft),
            rng: ctx.rng,
        })
    }

    /// Refuses unless the actor has one of the `allowed` roles.
    pub fn need(&self, allowed: &[Role]) -> Result<()> {
        need(self.role, allowed)
    }

    /// Refuses unless the actor is the facilitator.
    pub fn facilitator(&self) -> Result<()> {
        self.need(&[Role::Facilitator])
    }

    /// Refuses unless the actor is the server itself (its scheduler's jobs).
    pub fn server(&self) -> Result<()> {
        if self.me.is_system() {
            Ok(())
        } else {
            Err(DomainError::Forbidden {
                needed: "the server",
            })
        }
    }

    /// Refuses once the planning is committed: the scope is final.
    pub fn open_phase(&self) -> Result<()> {
        if self.phase == Phase::Committed {
            return Err(DomainError::WrongPhase { actual: self.phase });
        }
        Ok(())
    }

    /// Refuses outside the `allowed` phases.
    pub fn in_phase(&self, allowed: &[Phase]) -> Result<()> {
        if allowed.contains(&self.phase) {
            Ok(())
        } else {
            Err(DomainError::WrongPhase { actual: self.phase })
        }
    }

    /// Sixteen fresh random bytes (new ids, vote nonces).
    pub fn random16(&mut self) -> [u8; 16] {
        random16(self.rng)
    }

    /// A uniform draw in `0..n` without modulo bias (rejection sampling).
    pub fn uniform_below(&mut self, n: u32) -> u32 {
        let zone = u32::MAX - (u32::MAX % n);
        loop {
            let v = self.rng.next_u32();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// Sixteen fresh random bytes from `rng`.
pub(super) fn random16(rng: &mut dyn RngCore) -> [u8; 16] {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b
}

/// The role of the actor; the system actor only sends the commands made for it.
fn actor_role(state: &State, me: ParticipantId, cmd: &Command) -> Result<Role> {
    if me.is_system() {
        return match cmd {
            Command::CloseRound(_)
            | Command::RecordReminder(_)
            | Command::RemindVoters(_)
            | Command::FollowSchedule(_) => Ok(Role::Observer),
            _ => Err(DomainError::Forbidden {
                needed: "a participant",
            }),
        };
    }
    state
        .participant(me)
        .map(|p| p.role)
        .ok_or(DomainError::NotAParticipant)
}

pub(super) fn need(role: Role, allowed: &[Role]) -> Result<()> {
    if allowed.contains(&role) {
        return Ok(());
    }
    Err(DomainError::Forbidden {
        needed: match allowed {
            [Role::Facilitator] => "the facilitator",
            [Role::Member] => "members",
            _ => "the facilitator or members",
        },
    })
}

/// How many facilitators the planning has (it must keep one).
pub(super) fn facilitators(state: &State) -> usize {
    state
        .participants
        .values()
        .filter(|p| !p.removed && p.role == Role::Facilitator)
        .count()
}

/// A participant who has not been removed.
pub(super) fn active(state: &State, id: ParticipantId) -> Result<&Participant> {
    state
        .participant(id)
        .ok_or(DomainError::UnknownParticipant(id))
}

/// An item, withdrawn or not.
pub(super) fn known_item(state: &State, id: ItemId) -> Result<&Item> {
    state.items.get(&id).ok_or(DomainError::UnknownItem(id))
}

/// An item that has not been withdrawn.
pub(super) fn live_item(state: &State, id: ItemId) -> Result<&Item> {
    let it = known_item(state, id)?;
    if it.withdrawn {
        return Err(DomainError::ItemWithdrawn(id));
    }
    Ok(it)
}

/// A comment that has not been deleted.
pub(super) fn live_comment(state: &State, id: CommentId) -> Result<&Comment> {
    let c = state
        .comments
        .get(&id)
        .ok_or(DomainError::UnknownComment(id))?;
    if c.deleted {
        return Err(DomainError::CommentDeleted(id));
    }
    Ok(c)
}

/// A round, open or closed.
pub(super) fn round(state: &State, id: RoundId) -> Result<&Round> {
    state.rounds.get(&id).ok_or(DomainError::UnknownRound(id))
}

/// A round that is still open.
pub(super) fn open_round(state: &State, id: RoundId) -> Result<&Round> {
    let r = round(state, id)?;
    if !r.is_open() {
        return Err(DomainError::RoundClosed(id));
    }
    Ok(r)
}

/// Refuses an item that already has an agreed estimate.
pub(super) fn not_estimated(it: &Item) -> Result<()> {
    if it.estimate.is_some() {
        return Err(DomainError::AlreadyEstimated(it.id));
    }
    Ok(())
}

/// An item not withdrawn, not estimated and in no open round: one the facilitator can still
/// send to the live agenda or back to refinement.
pub(super) fn unsettled_item(state: &State, id: ItemId) -> Result<&Item> {
    let it = live_item(state, id)?;
    not_estimated(it)?;
    if state.open_round_of(id).is_some() {
        return Err(DomainError::ItemInOpenRound(id));
    }
    Ok(it)
}

/// Known items, each named once.
pub(super) fn distinct_known(state: &State, ids: &[ItemId], field: &'static str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for i in ids {
        let it = known_item(state, *i)?;
        if !seen.insert(*i) {
            return Err(twice(field, quoted(&it.draft.title)));
        }
    }
    Ok(())
}

/// `value` is named twice in `field`.
pub(super) fn twice(field: &'static str, value: String) -> DomainError {
    DomainError::Duplicate { field, value }
}

/// Refuses a list whose length is outside `min..=max`.
pub(super) fn count(len: usize, field: &'static str, min: usize, max: usize) -> Result<()> {
    if len < min || len > max {
        return Err(DomainError::WrongCount { field, min, max });
    }
    Ok(())
}

/// Checks a text's length (in characters) and that it has no control characters but newlines
/// and tabs (a name has none at all).
pub(super) fn text(s: &str, field: &'static str, min: usize, max: usize) -> Result<()> {
    if s.trim().chars().count() < min {
        return Err(DomainError::Empty { field });
    }
    if s.chars().count() > max {
        return Err(DomainError::TooLong { field, max });
    }
    // Refused, not stripped: silently changing what someone typed would surprise them.
    if hides_text(s, max > limits::TITLE) {
        return Err(DomainError::BadCharacters { field });
    }
    Ok(())
}

/// An optional text: absent, empty or within `max` characters.
pub(super) fn opt_text(s: &Option<String>, field: &'static str, max: usize) -> Result<()> {
    match s {
        Some(s) => text(s, field, 0, max),
        None => Ok(()),
    }
}

/// A list of at most [`limits::LIST`] non-empty texts of at most `max_len` characters.
pub(super) fn list(values: &[String], field: &'static str, max_len: usize) -> Result<()> {
    count(values.len(), field, 0, limits::LIST)?;
    for v in values {
        text(v, field, 1, max_len)?;
    }
    Ok(())
}

/// Whether `s` holds a character that can hide or disguise text: a control character (line
/// breaks and tabs are fine in multi-line text), or a default-ignorable code point (zero-width
/// spaces and joiners, direction marks, bidi embeddings, overrides and isolates, the byte order
/// mark, fillers…), which display as nothing or make text display as something else
/// ("Trojan Source"; `An\u{200b}n` posing as `Ann`). Emoji keep what they are made of: a
/// zero-width joiner, variation selector or tag character right after a symbol (not a letter
/// or digit), and in multi-line text a zero-width non-joiner (Persian and Indic spelling).
/// Every text people read is checked with it (names, titles, deck cards, comments).
pub fn hides_text(s: &str, multi_line: bool) -> bool {
    let mut prev: Option<char> = None;
    for c in s.chars() {
        let after_symbol = prev.is_some_and(|p| !p.is_alphanumeric() && !p.is_whitespace());
        let hidden = if c.is_control() {
            !(multi_line && matches!(c, '\n' | '\t' | '\r'))
        } else if default_ignorable(c) {
            let emoji_part =
                matches!(c, '\u{200d}' | '\u{fe00}'..='\u{fe0f}' | '\u{e0020}'..='\u{e007f}');
            !(emoji_part && after_symbol || multi_line && c == '\u{200c}')
        } else {
            false
        };
        if hidden {
            return true;
        }
        prev = Some(c);
    }
    false
}

/// Unicode's `Default_Ignorable_Code_Point` (DerivedCoreProperties.txt, Unicode 15): characters
/// a renderer shows as nothing. A table of its 17 ranges rather than a crate: it changes
/// rarely, and only by new assignments inside these reserved blocks.
fn default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}'..='\u{1160}' | '\u{17b4}'..='\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{fff0}'..='\u{fff8}' | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}' | '\u{e0000}'..='\u{e0fff}')
}

/// A SHA-256 hash in lowercase hex.
pub(super) fn hash(h: &str) -> Result<()> {
    if h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(DomainError::BadFormat {
            field: "hash",
            expected: "64 lowercase hex digits",
        })
    }
}

/// The member and observer invites must differ, or one invite would grant two roles.
pub(super) fn distinct_invites(member: &str, observer: &str) -> Result<()> {
    if member == observer {
        return Err(DomainError::Invalid("the two invites must differ".into()));
    }
    Ok(())
}

/// A round's deadline: ahead of now, and within a round's longest life.
pub(super) fn check_deadline(now: Micros, deadline: Micros) -> Result<()> {
    if deadline <= now {
        return Err(DomainError::DeadlineInPast);
    }
    if deadline - now > limits::MAX_ROUND_MICROS {
        return Err(DomainError::OutOfRange {
            field: "deadline",
            range: "at most 60 days ahead",
        });
    }
    Ok(())
}
