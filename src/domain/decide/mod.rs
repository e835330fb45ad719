//! `decide`: the rules. A command is checked against the state and becomes events, or an error.
//!
//! Pure: the actor, the time and the randomness (ids, vote nonces, coin flips) come in through
//! [`Context`]; nothing here does I/O or reads a clock, so every rule is testable as
//! given(events) / when(command) / then(events or error).
//!
//! [`decide`] only routes: the rules live in one module per section of the planning ([`people`],
//! [`schedule`], [`goal`], [`items`], [`review`], [`capacity`], [`estimation`], [`sync`],
//! [`meeting`], [`webhooks`]), and the checks they share (roles, phases, lookups, text) in
//! [`guard`].

mod capacity;
mod estimation;
mod goal;
mod guard;
mod items;
mod meeting;
mod people;
mod review;
mod schedule;
mod sync;
mod webhooks;

pub use guard::hides_text;
pub use items::item_draft;
pub use schedule::resolve_schedule;

use super::command::Command;
use super::error::DomainError;
use super::event::*;
use super::ids::*;
use super::state::State;
use crate::domain::command::{
    AdoptGoalSuggestion, AgreeEstimates, AmendGoal, CarryOverItems, CastVote, ChangePhase,
    ChangeRole, CheckReadiness, ClearFlag, CloseRound, CommitScope, DeclareCapacity, DeleteComment,
    DraftGoal, DraftScope, EditComment, EditItem, ExtendTimer, FlagItem, FlipCoin, FollowSchedule,
    ImportItems, Join, OpenRound, OverrideReadiness, PostComment, ProposeItem, RankItems,
    RecordReminder, RegisterWebhook, ReissueLink, RemindVoters, RemoveParticipant, RemoveWebhook,
    Rename, ResolveQuestion, RestoreItem, ReturnToRefinement, RevealVotes, Revote, RotateInvite,
    SendToAgenda, SetAgenda, SetDefinitionOfReady, SetFocus, SetPolicy, SetSchedule, SetTimeZone,
    SetVelocity, StartTimer, SuggestGoal, WithdrawItem, WithdrawVote,
};
use guard::Actor;
use rand::RngCore;

/// Everything a decision may depend on besides the state and the command.
pub struct Context<'a> {
    /// Who sends the command ([`ParticipantId::SYSTEM`] for the server's own jobs).
    pub actor: ParticipantId,
    /// "Now", in microseconds since the epoch.
    pub now: Micros,
    /// Randomness for new ids, vote nonces and coin flips (a CSPRNG in the server).
    pub rng: &'a mut dyn RngCore,
    /// Most people who may join one planning, removed ones included (the server's
    /// `--max-participants`; [`limits::PARTICIPANTS`] by default).
    pub max_participants: usize,
}

/// Input limits. The server may enforce tighter ones; these keep the log sane on their own.
pub mod limits {
    pub const TITLE: usize = 200;
    pub const NAME: usize = 80;
    pub const TEXT: usize = 20_000;
    pub const SHORT_TEXT: usize = 500;
    pub const LIST: usize = 100;
    pub const IMPORT: usize = 500;
    pub const CRITERIA: usize = 30;
    pub const COIN_OPTIONS: usize = 20;
    pub const MAX_DAYS: i64 = 366;
    /// Longest a round may stay open: 60 days.
    pub const MAX_ROUND_MICROS: i64 = 60 * 24 * 3600 * 1_000_000;
    /// Default length of a live round (a re-vote, or one opened during the session): 10 minutes.
    pub const LIVE_ROUND_MICROS: i64 = 10 * 60 * 1_000_000;
    /// Longest time box, and most time left on one after an extension: an hour, in seconds.
    pub const TIMER_SECONDS: u32 = 3600;
    /// Most goal wordings one planning may collect.
    pub const GOAL_SUGGESTIONS: usize = 100;
    /// Longest webhook URL.
    pub const URL: usize = 2000;
    /// Most webhooks one planning may have.
    pub const WEBHOOKS: usize = 10;
    /// Most people who may join one planning by default (removed ones included: each stays
    /// in its state); the server's `--max-participants` sets [`super::Context::max_participants`].
    pub const PARTICIPANTS: usize = 500;
}

type Result<T> = std::result::Result<T, DomainError>;

/// Decides a command against a state.
pub fn decide(state: &State, cmd: &Command, ctx: &mut Context<'_>) -> Result<Vec<Event>> {
    use Command as C;
    match cmd {
        C::CreatePlanning(c) => people::create(state, c, ctx),
        _ if state.planning.is_none() => Err(DomainError::NoPlanning),
        C::Join(Join {
            name,
            invite_hash,
            token_hash,
        }) => people::join(state, ctx, name, invite_hash, token_hash),
        _ => route(&mut Actor::of(state, cmd, ctx)?, cmd),
    }
}

/// Hands a command in an existing planning, from a known actor, to its section.
fn route(a: &mut Actor, cmd: &Command) -> Result<Vec<Event>> {
    use Command as C;
    match cmd {
        C::CreatePlanning(_) | C::Join(_) => Err(misrouted()),
        // ---- people ----
        C::Rename(Rename { name }) => people::rename(a, name),
        C::ChangeRole(ChangeRole { participant, role }) => {
            people::change_role(a, *participant, *role)
        }
        C::RemoveParticipant(RemoveParticipant { participant }) => people::remove(a, *participant),
        C::RotateInvite(RotateInvite { role, invite_hash }) => {
            people::rotate_invite(a, *role, invite_hash)
        }
        C::ReissueLink(ReissueLink {
            participant,
            token_hash,
            revoke_previous,
        }) => people::reissue_link(a, *participant, token_hash, *revoke_previous),
        C::SetTimeZone(SetTimeZone {
            time_zone,
            work_start_minute,
            work_end_minute,
            work_days,
        }) => people::set_time_zone(
            a,
            time_zone,
            *work_start_minute,
            *work_end_minute,
            work_days,
        ),
        // ---- schedule ----
        C::ChangePhase(ChangePhase { to }) => schedule::change_phase(a, *to),
        C::SetSchedule(SetSchedule { schedule: s }) => schedule::set_schedule(a, s),
        C::FollowSchedule(FollowSchedule { to }) => schedule::follow_schedule(a, *to),
        C::SetPolicy(SetPolicy { policy }) => schedule::set_policy(a, policy),
        C::RecordReminder(RecordReminder { participant, round }) => {
            schedule::record_reminder(a, *participant, *round)
        }
        C::RemindVoters(RemindVoters { round }) => schedule::remind_voters(a, *round),
        // ---- goal ----
        C::DraftGoal(DraftGoal { text }) => goal::draft(a, text),
        C::AmendGoal(AmendGoal { text, note }) => goal::amend(a, text, note),
        C::CommitGoal => goal::commit(a),
        C::SuggestGoal(SuggestGoal { text }) => goal::suggest(a, text),
        C::AdoptGoalSuggestion(AdoptGoalSuggestion { suggestion }) => goal::adopt(a, *suggestion),
        // ---- items ----
        C::ProposeItem(ProposeItem { draft }) => items::propose(a, draft),
        C::EditItem(EditItem { item, patch }) => items::edit(a, *item, patch),
        C::WithdrawItem(WithdrawItem { item, reason }) => items::withdraw(a, *item, reason),
        C::RestoreItem(RestoreItem { item }) => items::restore(a, *item),
        C::ImportItems(ImportItems {
            items: drafts,
            source,
        }) => items::import(a, drafts, source),
        C::RankItems(RankItems { order }) => items::rank(a, order),
        C::CarryOverItems(CarryOverItems {
            from_planning,
            items: carried,
        }) => items::carry_over(a, *from_planning, carried),
        // ---- review ----
        C::PostComment(PostComment {
            item,
            kind,
            parent,
            addressee,
            text,
        }) => review::post(
            a,
            review::NewComment {
                item: *item,
                kind: *kind,
                parent: *parent,
                addressee: *addressee,
                text,
            },
        ),
        C::EditComment(EditComment { comment, text }) => review::edit(a, *comment, text),
        C::DeleteComment(DeleteComment { comment }) => review::delete(a, *comment),
        C::ResolveQuestion(ResolveQuestion { comment }) => review::resolve(a, *comment),
        C::CheckReadiness(CheckReadiness {
            item,
            criterion,
            ok,
            note,
        }) => review::check_readiness(a, *item, *criterion, *ok, note),
        C::SetDefinitionOfReady(SetDefinitionOfReady { criteria }) => {
            review::set_definition_of_ready(a, criteria)
        }
        C::OverrideReadiness(OverrideReadiness { item, reason }) => {
            review::override_readiness(a, *item, reason)
        }
        // ---- capacity ----
        C::DeclareCapacity(DeclareCapacity {
            participant,
            available_days,
            focus_factor,
            notes,
        }) => capacity::declare(
            a,
            capacity::Availability {
                participant: *participant,
                available_days: *available_days,
                focus_factor: *focus_factor,
                notes,
            },
        ),
        C::SetVelocity(SetVelocity { points_per_day }) => {
            capacity::set_velocity(a, *points_per_day)
        }
        C::OpenRound(_)
        | C::CastVote(_)
        | C::WithdrawVote(_)
        | C::CloseRound(_)
        | C::RevealVotes(_)
        | C::FlagItem(_)
        | C::ClearFlag(_)
        | C::SendToAgenda(_)
        | C::AgreeEstimates(_)
        | C::Revote(_)
        | C::StartSync
        | C::SetAgenda(_)
        | C::FlipCoin(_)
        | C::EndSync
        | C::CommitScope(_)
        | C::SetFocus(_)
        | C::StartTimer(_)
        | C::ExtendTimer(_)
        | C::StopTimer
        | C::ReturnToRefinement(_)
        | C::DraftScope(_)
        | C::RegisterWebhook(_)
        | C::RemoveWebhook(_) => route_live(a, cmd),
    }
}

/// Hands a command of estimation, the live session, the meeting or webhooks to its section
/// (`route` names each one it forwards, so a new command must be routed to compile).
fn route_live(a: &mut Actor, cmd: &Command) -> Result<Vec<Event>> {
    use Command as C;
    match cmd {
        // ---- estimation ----
        C::OpenRound(OpenRound {
            items,
            deck,
            deadline,
        }) => estimation::open(a, items, deck, *deadline),
        C::CastVote(CastVote { round, item, card }) => {
            estimation::cast_vote(a, *round, *item, card)
        }
        C::WithdrawVote(WithdrawVote { round, item }) => {
            estimation::withdraw_vote(a, *round, *item)
        }
        C::CloseRound(CloseRound { round }) => estimation::close_round(a, *round),
        C::RevealVotes(RevealVotes { round, item }) => estimation::reveal(a, *round, *item),
        C::FlagItem(FlagItem { item, note }) => estimation::flag(a, *item, note),
        C::ClearFlag(ClearFlag { item }) => estimation::clear_flag(a, *item),
        C::SendToAgenda(SendToAgenda { item, note }) => estimation::send_to_agenda(a, *item, note),
        C::AgreeEstimates(AgreeEstimates { estimates }) => estimation::agree(a, estimates),
        C::Revote(Revote {
            previous,
            items,
            deadline,
        }) => estimation::revote(a, *previous, items, *deadline),
        // ---- sync ----
        C::StartSync => sync::start(a),
        C::SetAgenda(SetAgenda { items }) => sync::set_agenda(a, items),
        C::FlipCoin(FlipCoin { question, options }) => sync::flip_coin(a, question, options),
        C::EndSync => sync::end(a),
        C::CommitScope(CommitScope {
            items,
            confirm_over_capacity,
        }) => sync::commit_scope(a, items, *confirm_over_capacity),
        // ---- the live meeting ----
        C::SetFocus(SetFocus { item }) => meeting::set_focus(a, *item),
        C::StartTimer(StartTimer { item, seconds }) => meeting::start_timer(a, *item, *seconds),
        C::ExtendTimer(ExtendTimer { seconds }) => meeting::extend_timer(a, *seconds),
        C::StopTimer => meeting::stop_timer(a),
        C::ReturnToRefinement(ReturnToRefinement { item, note }) => {
            meeting::return_to_refinement(a, *item, note)
        }
        C::DraftScope(DraftScope { items }) => meeting::draft_scope(a, items),
        // ---- webhooks ----
        C::RegisterWebhook(RegisterWebhook {
            url,
            events,
            format,
            url_checked,
        }) => webhooks::register(a, url, events, *format, *url_checked),
        C::RemoveWebhook(RemoveWebhook { webhook }) => webhooks::remove(a, *webhook),
        _ => Err(misrouted()),
    }
}

/// A command reached a handler that is not its own: a routing bug, refused rather than guessed.
fn misrouted() -> DomainError {
    DomainError::Invalid("command handled elsewhere".into())
}

/// Running commands in unit tests of the derived figures (agenda, inbox, readiness, discussion).
#[cfg(test)]
pub(crate) mod testing {
    use super::{decide, Context};
    use crate::domain::command::Command;
    use crate::domain::event::{Event, Micros};
    use crate::domain::ids::ParticipantId;
    use crate::domain::state::State;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// Decides `cmd` at `now` (randomness seeded by it) and applies its events; panics with the
    /// command and the refusal when it is refused.
    pub fn run(s: &mut State, actor: ParticipantId, now: Micros, cmd: Command) -> Vec<Event> {
        let mut rng = StdRng::seed_from_u64(now as u64);
        let mut ctx = Context {
            actor,
            now,
            rng: &mut rng,
            max_participants: crate::domain::decide::limits::PARTICIPANTS,
        };
        let events = decide(s, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        for e in &events {
            s.apply(e);
        }
        events
    }
}
