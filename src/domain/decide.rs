//! `decide`: the rules. A command is checked against the state and becomes events, or an error.
//!
//! Pure: the actor, the time and the randomness (ids, vote nonces, coin flips) come in through
//! [`Context`]; nothing here does I/O or reads a clock, so every rule is testable as
//! given(events) / when(command) / then(events or error).

use super::command::{AgreedEstimate, Command};
use super::deck::{Deck, PAUSE, UNSURE};
use super::error::DomainError;
use super::event::*;
use super::fixed::Fixed2;
use super::ids::*;
use super::policy::{FlagReason, Verdict};
use super::slots::{self, SlotError, WorkDay, WorkingHours};
use super::state::{Round, State};
use rand::RngCore;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a decision may depend on besides the state and the command.
pub struct Context<'a> {
    /// Who sends the command ([`ParticipantId::SYSTEM`] for the server's own jobs).
    pub actor: ParticipantId,
    /// "Now", in microseconds since the epoch.
    pub now: Micros,
    /// Randomness for new ids, vote nonces and coin flips (a CSPRNG in the server).
    pub rng: &'a mut dyn RngCore,
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
    /// Default length of a live re-vote: 10 minutes.
    pub const REVOTE_MICROS: i64 = 10 * 60 * 1_000_000;
    /// Longest webhook URL.
    pub const URL: usize = 2000;
    /// Most webhooks one planning may have.
    pub const WEBHOOKS: usize = 10;
}

type Result<T> = std::result::Result<T, DomainError>;

/// Decides a command against a state.
pub fn decide(state: &State, cmd: &Command, ctx: &mut Context<'_>) -> Result<Vec<Event>> {
    let me = ctx.actor;
    let now = ctx.now;
    if let Command::CreatePlanning { .. } = cmd {
        return create(state, cmd, ctx);
    }
    if state.planning.is_none() {
        return Err(DomainError::NoPlanning);
    }
    if let Command::Join {
        name,
        invite_hash,
        token_hash,
    } = cmd
    {
        return join(state, me, now, name, invite_hash, token_hash);
    }
    let phase = state.phase.unwrap_or(Phase::Draft);
    let role = actor_role(state, me, cmd)?;
    let open_phase = || -> Result<()> {
        if phase == Phase::Committed {
            Err(DomainError::WrongPhase { actual: phase })
        } else {
            Ok(())
        }
    };

    use Command as C;
    Ok(match cmd {
        C::CreatePlanning { .. } | C::Join { .. } => unreachable_command()?,
        C::Rename { name } => {
            text(name, "name", 1, limits::NAME)?;
            vec![Event::ParticipantRenamed {
                participant: me,
                name: name.trim().to_string(),
            }]
        }
        C::ChangeRole {
            participant,
            role: new_role,
        } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            let target = active(state, *participant)?;
            if target.role == Role::Facilitator
                && *new_role != Role::Facilitator
                && facilitators(state) <= 1
            {
                return Err(DomainError::LastFacilitator);
            }
            if target.role == *new_role {
                return Err(DomainError::Invalid(format!("already {new_role:?}")));
            }
            let changed = Event::RoleChanged {
                participant: *participant,
                role: *new_role,
                by: me,
            };
            let closes = if target.role == Role::Member {
                close_rounds_left_complete(state, &changed, me, now)
            } else {
                Vec::new()
            };
            std::iter::once(changed).chain(closes).collect()
        }
        C::RemoveParticipant { participant } => {
            need(role, &[Role::Facilitator])?;
            let target = active(state, *participant)?;
            if target.role == Role::Facilitator && facilitators(state) <= 1 {
                return Err(DomainError::LastFacilitator);
            }
            let removed = Event::ParticipantRemoved {
                participant: *participant,
                by: me,
            };
            let closes = if target.role == Role::Member {
                close_rounds_left_complete(state, &removed, me, now)
            } else {
                Vec::new()
            };
            std::iter::once(removed).chain(closes).collect()
        }
        C::RotateInvite {
            role: r,
            invite_hash,
        } => {
            need(role, &[Role::Facilitator])?;
            if *r == Role::Facilitator {
                return Err(DomainError::InvalidRole(*r));
            }
            hash(invite_hash)?;
            let other = match r {
                Role::Observer => &state.member_invite_hash,
                _ => &state.observer_invite_hash,
            };
            if invite_hash == other {
                return Err(DomainError::Invalid("the two invites must differ".into()));
            }
            vec![Event::InviteRotated {
                role: *r,
                invite_hash: invite_hash.clone(),
                by: me,
            }]
        }
        C::ReissueLink {
            participant,
            token_hash,
            revoke_previous,
        } => {
            // Anyone may rotate their own link (a leaked token is revoked by its owner at once);
            // adding links, or anyone else's, is the facilitator's.
            if *participant != me || !*revoke_previous {
                need(role, &[Role::Facilitator])?;
            }
            active(state, *participant)?;
            hash(token_hash)?;
            vec![Event::ParticipantLinkReissued {
                participant: *participant,
                token_hash: token_hash.clone(),
                revoked_previous: *revoke_previous,
                by: me,
            }]
        }
        C::SetTimeZone {
            time_zone,
            work_start_minute,
            work_end_minute,
            work_days,
        } => {
            let mut days = work_days
                .clone()
                .unwrap_or_else(|| WorkDay::WEEKDAYS.to_vec());
            days.sort();
            days.dedup();
            let hours = |start, end| WorkingHours {
                time_zone: time_zone.clone(),
                start_minute: start,
                end_minute: end,
                days: days.clone(),
            };
            let checked = match (work_start_minute, work_end_minute) {
                (None, None) if days.is_empty() => Err(SlotError::NoDays),
                (None, None) => slots::time_zone(time_zone).map(|_| ()),
                (Some(s), Some(e)) => hours(*s, *e).validate().map(|_| ()),
                _ => Err(SlotError::BadHours),
            };
            checked.map_err(|e| DomainError::Invalid(e.to_string()))?;
            vec![Event::TimeZoneSet {
                participant: me,
                time_zone: time_zone.clone(),
                work_start_minute: *work_start_minute,
                work_end_minute: *work_end_minute,
                work_days: days,
            }]
        }
        C::ChangePhase { to } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            if *to == Phase::Committed {
                return Err(DomainError::Invalid(
                    "a planning becomes committed by committing its scope".into(),
                ));
            }
            if *to == phase {
                return Err(DomainError::Invalid(format!("already in phase {to:?}")));
            }
            if state.sync_running && *to != Phase::Sync {
                return Err(DomainError::SyncRunning);
            }
            // Votes belong to async or sync: going back to draft would strand an open round.
            if *to == Phase::Draft {
                if let Some(r) = state.rounds.values().find(|r| r.is_open()) {
                    return Err(DomainError::RoundOpen(r.id));
                }
            }
            vec![Event::PhaseChanged {
                from: phase,
                to: *to,
                by: me,
                at: now,
            }]
        }
        C::SetSchedule { schedule } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            vec![Event::ScheduleSet {
                schedule: resolve_schedule(schedule)?,
            }]
        }
        C::FollowSchedule { to } => {
            if !me.is_system() {
                return Err(DomainError::Forbidden {
                    needed: "the server",
                });
            }
            open_phase()?;
            let s = &state.schedule;
            if !s.auto_phases {
                return Err(DomainError::Invalid(
                    "the schedule does not move phases".into(),
                ));
            }
            let (due, from_ok) = match to {
                Phase::Async => (s.candidates_shared_at, phase == Phase::Draft),
                Phase::Sync => (s.sync_start, matches!(phase, Phase::Draft | Phase::Async)),
                _ => (None, false),
            };
            let due = due.ok_or_else(|| {
                DomainError::Invalid(format!("the schedule has no time for phase {to:?}"))
            })?;
            if now < due {
                return Err(DomainError::Invalid(format!("phase {to:?} is not due yet")));
            }
            if !from_ok {
                // The facilitator moved on (or back) by hand: the schedule does not overrule.
                return Err(DomainError::Invalid(format!(
                    "the planning is already in phase {phase:?}"
                )));
            }
            vec![Event::PhaseChanged {
                from: phase,
                to: *to,
                by: me,
                at: now,
            }]
        }
        C::SetPolicy { policy } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            validate_policy(policy)?;
            vec![Event::PolicySet {
                policy: policy.clone(),
            }]
        }

        // ---- goal ----
        C::DraftGoal { text: t } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            if state.goal.is_some() {
                return Err(DomainError::Invalid(
                    "the goal is already drafted: amend it".into(),
                ));
            }
            text(t, "goal", 1, limits::SHORT_TEXT)?;
            vec![Event::GoalDrafted {
                text: t.trim().to_string(),
                by: me,
            }]
        }
        C::AmendGoal { text: t, note } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            let goal = state.goal.as_ref().ok_or(DomainError::NoGoal)?;
            if goal.committed {
                return Err(DomainError::GoalAlreadyCommitted);
            }
            text(t, "goal", 1, limits::SHORT_TEXT)?;
            opt_text(note, "note", limits::SHORT_TEXT)?;
            vec![Event::GoalAmended {
                text: t.trim().to_string(),
                note: note.clone(),
                by: me,
            }]
        }
        C::CommitGoal => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            let goal = state.goal.as_ref().ok_or(DomainError::NoGoal)?;
            if goal.committed {
                return Err(DomainError::GoalAlreadyCommitted);
            }
            vec![Event::GoalCommitted {
                text: goal.text.clone(),
                by: me,
                at: now,
            }]
        }

        // ---- items ----
        C::ProposeItem { draft } => {
            need(role, &[Role::Facilitator, Role::Member])?;
            open_phase()?;
            item_draft(state, draft)?;
            vec![Event::ItemProposed {
                item: ItemId::from_random(random16(ctx)),
                draft: draft.clone(),
                by: me,
                at: now,
            }]
        }
        C::EditItem { item, patch } => {
            open_phase()?;
            let it = live_item(state, *item)?;
            if role != Role::Facilitator && it.proposed_by != me {
                return Err(DomainError::Forbidden {
                    needed: "the facilitator or the proposer",
                });
            }
            let mut d = it.draft.clone();
            patch.apply_to(&mut d);
            if d.dependencies.contains(item) {
                return Err(DomainError::Invalid(
                    "an item cannot depend on itself".into(),
                ));
            }
            item_draft(state, &d)?;
            if *patch == ItemPatch::default() {
                return Err(DomainError::Invalid("nothing to change".into()));
            }
            vec![Event::ItemEdited {
                item: *item,
                patch: patch.clone(),
                by: me,
            }]
        }
        C::WithdrawItem { item, reason } => {
            open_phase()?;
            let it = live_item(state, *item)?;
            if role != Role::Facilitator && it.proposed_by != me {
                return Err(DomainError::Forbidden {
                    needed: "the facilitator or the proposer",
                });
            }
            if state.open_round_of(*item).is_some() {
                return Err(DomainError::ItemInOpenRound(*item));
            }
            opt_text(reason, "reason", limits::SHORT_TEXT)?;
            vec![Event::ItemWithdrawn {
                item: *item,
                reason: reason.clone(),
                by: me,
            }]
        }
        C::ImportItems { items, source } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            text(source, "source", 1, limits::TITLE)?;
            let items = new_items(state, items, ctx)?;
            vec![Event::ItemsImported {
                items,
                source: source.clone(),
                by: me,
                at: now,
            }]
        }
        C::RankItems { order } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            distinct_known(state, order, "order")?;
            vec![Event::ItemsRanked {
                order: order.clone(),
                by: me,
            }]
        }
        C::CarryOverItems {
            from_planning,
            items,
        } => {
            need(role, &[Role::Facilitator])?;
            if phase != Phase::Draft && phase != Phase::Async {
                return Err(DomainError::WrongPhase { actual: phase });
            }
            if Some(*from_planning) == state.planning {
                return Err(DomainError::Invalid(
                    "cannot carry items over from the same planning".into(),
                ));
            }
            if items.is_empty() || items.len() > limits::IMPORT {
                return Err(DomainError::Invalid(format!(
                    "carry over 1 to {} items",
                    limits::IMPORT
                )));
            }
            let mut seen = BTreeSet::new();
            for n in items {
                if state.items.contains_key(&n.item) || !seen.insert(n.item) {
                    return Err(DomainError::Invalid(format!(
                        "item {} already exists",
                        n.item
                    )));
                }
                let mut d = n.draft.clone();
                // Dependencies point into the previous planning; keep only those carried along.
                d.dependencies.clear();
                item_draft(state, &d)?;
            }
            let ids: BTreeSet<ItemId> = items.iter().map(|n| n.item).collect();
            let items = items
                .iter()
                .map(|n| {
                    let mut n = n.clone();
                    n.draft.dependencies.retain(|d| ids.contains(d));
                    n
                })
                .collect();
            vec![Event::ItemsCarriedOver {
                from_planning: *from_planning,
                items,
                by: me,
                at: now,
            }]
        }

        // ---- review ----
        C::PostComment {
            item,
            kind,
            parent,
            addressee,
            text: t,
        } => {
            if let Some(i) = item {
                known_item(state, *i)?;
            }
            if let Some(p) = parent {
                let pc = state
                    .comments
                    .get(p)
                    .ok_or(DomainError::UnknownComment(*p))?;
                if pc.deleted {
                    return Err(DomainError::CommentDeleted(*p));
                }
                if *kind == CommentKind::Answer && pc.kind != CommentKind::Question {
                    return Err(DomainError::NotAQuestion(*p));
                }
            } else if *kind == CommentKind::Answer {
                return Err(DomainError::Invalid(
                    "an answer needs the question as parent".into(),
                ));
            }
            if let Some(a) = addressee {
                active(state, *a)?;
            }
            text(t, "text", 1, limits::TEXT)?;
            vec![Event::CommentPosted {
                comment: CommentId::from_random(random16(ctx)),
                item: *item,
                kind: *kind,
                parent: *parent,
                addressee: *addressee,
                text: t.clone(),
                by: me,
                at: now,
            }]
        }
        C::EditComment { comment, text: t } => {
            let c = live_comment(state, *comment)?;
            if c.by != me {
                return Err(DomainError::Forbidden {
                    needed: "the author",
                });
            }
            text(t, "text", 1, limits::TEXT)?;
            vec![Event::CommentEdited {
                comment: *comment,
                text: t.clone(),
                by: me,
            }]
        }
        C::DeleteComment { comment } => {
            let c = live_comment(state, *comment)?;
            if c.by != me && role != Role::Facilitator {
                return Err(DomainError::Forbidden {
                    needed: "the author or the facilitator",
                });
            }
            vec![Event::CommentDeleted {
                comment: *comment,
                by: me,
            }]
        }
        C::ResolveQuestion { comment } => {
            let c = live_comment(state, *comment)?;
            if c.kind != CommentKind::Question {
                return Err(DomainError::NotAQuestion(*comment));
            }
            if c.by != me && c.addressee != Some(me) && role != Role::Facilitator {
                return Err(DomainError::Forbidden {
                    needed: "the asker, the addressee or the facilitator",
                });
            }
            if c.resolved {
                return Err(DomainError::Invalid(
                    "the question is already resolved".into(),
                ));
            }
            vec![Event::QuestionResolved {
                comment: *comment,
                by: me,
            }]
        }
        C::CheckReadiness {
            item,
            criterion,
            ok,
            note,
        } => {
            need(role, &[Role::Facilitator, Role::Member])?;
            open_phase()?;
            live_item(state, *item)?;
            if !state.definition_of_ready.iter().any(|c| c.id == *criterion) {
                return Err(DomainError::UnknownCriterion(*criterion));
            }
            opt_text(note, "note", limits::SHORT_TEXT)?;
            vec![Event::ReadinessChecked {
                item: *item,
                criterion: *criterion,
                ok: *ok,
                note: note.clone(),
                by: me,
            }]
        }
        C::SetDefinitionOfReady { criteria } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            if criteria.len() > limits::CRITERIA {
                return Err(DomainError::Invalid(format!(
                    "at most {} criteria",
                    limits::CRITERIA
                )));
            }
            let mut seen = BTreeSet::new();
            for c in criteria {
                text(c, "criterion", 1, limits::SHORT_TEXT)?;
                // Ids follow texts: a text twice would be one criterion id listed twice.
                if !seen.insert(c.trim()) {
                    return Err(DomainError::Invalid(format!(
                        "criterion {:?} appears twice",
                        c.trim()
                    )));
                }
            }
            // A criterion keeps its id (and its checks) when its text is kept.
            let criteria = criteria
                .iter()
                .map(|t| {
                    let t = t.trim().to_string();
                    let id = state
                        .definition_of_ready
                        .iter()
                        .find(|c| c.text == t)
                        .map(|c| c.id)
                        .unwrap_or_else(|| CriterionId::from_random(random16(ctx)));
                    Criterion { id, text: t }
                })
                .collect();
            vec![Event::DefinitionOfReadySet { criteria, by: me }]
        }
        C::OverrideReadiness { item, reason } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            live_item(state, *item)?;
            text(reason, "reason", 1, limits::SHORT_TEXT)?;
            vec![Event::ReadinessOverridden {
                item: *item,
                reason: reason.clone(),
                by: me,
            }]
        }

        // ---- capacity ----
        C::DeclareCapacity {
            participant,
            available_days,
            focus_factor,
            notes,
        } => {
            need(role, &[Role::Facilitator, Role::Member])?;
            open_phase()?;
            let target = participant.unwrap_or(me);
            if target != me {
                need(role, &[Role::Facilitator])?;
            }
            if active(state, target)?.role == Role::Observer {
                return Err(DomainError::Invalid("observers have no capacity".into()));
            }
            if *available_days < Fixed2::ZERO
                || *available_days > Fixed2::from_int(limits::MAX_DAYS)
            {
                return Err(DomainError::Invalid(
                    "available_days must be 0 to 366".into(),
                ));
            }
            if *focus_factor < Fixed2::ZERO || *focus_factor > Fixed2::ONE {
                return Err(DomainError::Invalid("focus_factor must be 0 to 1".into()));
            }
            opt_text(notes, "notes", limits::SHORT_TEXT)?;
            vec![Event::CapacityDeclared {
                participant: target,
                available_days: *available_days,
                focus_factor: *focus_factor,
                notes: notes.clone(),
                by: me,
            }]
        }
        C::SetVelocity { points_per_day } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            if *points_per_day <= Fixed2::ZERO || *points_per_day > Fixed2::from_int(1000) {
                return Err(DomainError::Invalid(
                    "points_per_day must be above 0 and at most 1000".into(),
                ));
            }
            vec![Event::VelocitySet {
                points_per_day: *points_per_day,
                by: me,
            }]
        }

        // ---- estimation ----
        C::OpenRound {
            items,
            deck,
            deadline,
        } => {
            need(role, &[Role::Facilitator])?;
            if phase != Phase::Async && phase != Phase::Sync {
                return Err(DomainError::WrongPhase { actual: phase });
            }
            let max = state.policy.batch_size as usize;
            if items.is_empty() || items.len() > max {
                return Err(DomainError::Invalid(format!(
                    "a round takes 1 to {max} items"
                )));
            }
            distinct_known(state, items, "items")?;
            for i in items {
                estimable(state, *i)?;
            }
            let deck = match deck {
                Some(d) => {
                    d.validate().map_err(DomainError::Invalid)?;
                    d.clone()
                }
                None => state.deck.clone(),
            };
            // An async round without a deadline ends at the schedule's estimation deadline
            // while that is ahead (and within a round's longest life: a sprint planned months
            // out must not make every round unopenable), else after the policy's default length.
            let deadline = deadline.unwrap_or_else(|| match state.schedule.estimation_deadline {
                Some(d)
                    if d > now && d - now <= limits::MAX_ROUND_MICROS && !state.sync_running =>
                {
                    d
                }
                _ => now.saturating_add(state.policy.default_deadline_minutes as i64 * 60_000_000),
            });
            check_deadline(now, deadline)?;
            vec![Event::RoundOpened {
                round: RoundId::from_random(random16(ctx)),
                items: items.clone(),
                deck,
                deadline,
                // Live only while the session runs: outside it, flagged votes stay sealed.
                live: state.sync_running,
                by: me,
                at: now,
            }]
        }
        C::CastVote { round, item, card } => {
            need(role, &[Role::Member])?;
            let r = votable(state, *round, *item, now)?;
            if !r.deck.accepts(card) {
                return Err(DomainError::InvalidCard(card.clone()));
            }
            let nonce = hex::encode(random16(ctx));
            let mut events = vec![Event::VoteCast {
                round: *round,
                item: *item,
                voter: me,
                card: card.clone(),
                nonce,
            }];
            let mut votes = cards(r);
            votes.entry(*item).or_default().insert(me, card.clone());
            let members: Vec<ParticipantId> = state.members().map(|m| m.id).collect();
            if everyone_voted(r, &votes, &members) {
                events.extend(close(state, r, &votes, CloseReason::AllVoted, me, now));
            }
            events
        }
        C::WithdrawVote { round, item } => {
            need(role, &[Role::Member])?;
            let r = votable(state, *round, *item, now)?;
            if !r.votes.get(item).is_some_and(|v| v.contains_key(&me)) {
                return Err(DomainError::NoVote);
            }
            vec![Event::VoteWithdrawn {
                round: *round,
                item: *item,
                voter: me,
            }]
        }
        C::CloseRound { round } => {
            let r = state
                .rounds
                .get(round)
                .ok_or(DomainError::UnknownRound(*round))?;
            if !r.is_open() {
                return Err(DomainError::RoundClosed(*round));
            }
            let reason = if me.is_system() {
                if now < r.deadline {
                    return Err(DomainError::DeadlineNotReached(*round));
                }
                CloseReason::Deadline
            } else {
                need(role, &[Role::Facilitator])?;
                CloseReason::Facilitator
            };
            // A deadline close is dated at the deadline, even when it runs late (after a restart).
            let at = if reason == CloseReason::Deadline {
                r.deadline
            } else {
                now
            };
            close(state, r, &cards(r), reason, me, at)
        }
        C::RevealVotes { round, item } => {
            need(role, &[Role::Facilitator])?;
            if !state.sync_running {
                return Err(DomainError::SyncNotRunning);
            }
            let r = state
                .rounds
                .get(round)
                .ok_or(DomainError::UnknownRound(*round))?;
            if r.is_open() {
                return Err(DomainError::RoundOpen(*round));
            }
            if !r.items.contains(item) {
                return Err(DomainError::ItemNotInRound {
                    round: *round,
                    item: *item,
                });
            }
            if r.revealed.contains_key(item) {
                return Err(DomainError::AlreadyRevealed(*item));
            }
            vec![Event::VotesRevealed {
                round: *round,
                item: *item,
                votes: revealed(&cards(r), *item),
                by: me,
            }]
        }
        C::FlagItem { item, note } => {
            need(role, &[Role::Facilitator, Role::Member])?;
            open_phase()?;
            let it = live_item(state, *item)?;
            if it.flag.is_some() {
                return Err(DomainError::Invalid("the item is already flagged".into()));
            }
            opt_text(note, "note", limits::SHORT_TEXT)?;
            vec![Event::ItemFlagged {
                item: *item,
                reason: FlagReason::Manual,
                round: None,
                note: note.clone(),
                by: me,
            }]
        }
        C::ClearFlag { item } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            let it = live_item(state, *item)?;
            if it.flag.is_none() {
                return Err(DomainError::NotFlagged(*item));
            }
            vec![Event::FlagCleared {
                item: *item,
                by: me,
            }]
        }
        C::SendToAgenda { item, note } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            let it = live_item(state, *item)?;
            if it.estimate.is_some() {
                return Err(DomainError::Invalid(format!(
                    "item {item} already has an agreed estimate"
                )));
            }
            if state.open_round_of(*item).is_some() {
                return Err(DomainError::ItemInOpenRound(*item));
            }
            if it.flag.is_some() {
                return Err(DomainError::Invalid(
                    "the item is already flagged for the live session".into(),
                ));
            }
            opt_text(note, "note", limits::SHORT_TEXT)?;
            vec![Event::ItemSentToAgenda {
                item: *item,
                reasons: super::discussion::reasons(state, it),
                note: note.clone(),
                by: me,
            }]
        }
        C::AgreeEstimates { estimates } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            agree(state, estimates, me)?
        }
        C::Revote {
            previous,
            items,
            deadline,
        } => {
            need(role, &[Role::Facilitator])?;
            if phase != Phase::Sync {
                return Err(DomainError::WrongPhase { actual: phase });
            }
            // A re-vote round is live (its flagged votes are revealed at close): only while
            // the session runs, or they would be revealed with nobody live (DESIGN §1).
            if !state.sync_running {
                return Err(DomainError::SyncNotRunning);
            }
            let r = state
                .rounds
                .get(previous)
                .ok_or(DomainError::UnknownRound(*previous))?;
            if r.is_open() {
                return Err(DomainError::RoundOpen(*previous));
            }
            if items.is_empty() {
                return Err(DomainError::Invalid(
                    "name the items to vote on again".into(),
                ));
            }
            distinct_known(state, items, "items")?;
            for i in items {
                if !r.items.contains(i) {
                    return Err(DomainError::ItemNotInRound {
                        round: *previous,
                        item: *i,
                    });
                }
                live_item(state, *i)?;
                if state.open_round_of(*i).is_some() {
                    return Err(DomainError::ItemInOpenRound(*i));
                }
            }
            let deadline = deadline.unwrap_or(now.saturating_add(limits::REVOTE_MICROS));
            check_deadline(now, deadline)?;
            vec![Event::RevoteOpened {
                round: RoundId::from_random(random16(ctx)),
                items: items.clone(),
                previous: *previous,
                deck: r.deck.clone(),
                deadline,
                by: me,
                at: now,
            }]
        }

        // ---- sync and decisions ----
        C::StartSync => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            if state.sync_running {
                return Err(DomainError::SyncRunning);
            }
            let mut events = Vec::new();
            if phase != Phase::Sync {
                events.push(Event::PhaseChanged {
                    from: phase,
                    to: Phase::Sync,
                    by: me,
                    at: now,
                });
            }
            events.push(Event::SyncStarted { by: me, at: now });
            // `?` first, then widest spread, then the rest by rank (see `agenda`).
            events.push(Event::AgendaSet {
                items: super::agenda::sync_agenda(state),
                by: me,
            });
            events
        }
        C::SetAgenda { items } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            distinct_known(state, items, "items")?;
            for i in items {
                live_item(state, *i)?;
            }
            vec![Event::AgendaSet {
                items: items.clone(),
                by: me,
            }]
        }
        C::FlipCoin { question, options } => {
            need(role, &[Role::Facilitator])?;
            open_phase()?;
            text(question, "question", 1, limits::SHORT_TEXT)?;
            if options.len() < 2 || options.len() > limits::COIN_OPTIONS {
                return Err(DomainError::Invalid(format!(
                    "a coin flip needs 2 to {} options",
                    limits::COIN_OPTIONS
                )));
            }
            for o in options {
                text(o, "option", 1, limits::TITLE)?;
            }
            let outcome = uniform_below(ctx.rng, options.len() as u32);
            vec![Event::CoinFlipped {
                question: question.clone(),
                options: options.clone(),
                outcome,
                by: me,
                at: now,
            }]
        }
        C::EndSync => {
            need(role, &[Role::Facilitator])?;
            if !state.sync_running {
                return Err(DomainError::SyncNotRunning);
            }
            vec![Event::SyncEnded { by: me, at: now }]
        }
        C::CommitScope {
            items,
            confirm_over_capacity,
        } => {
            need(role, &[Role::Facilitator])?;
            if phase != Phase::Async && phase != Phase::Sync {
                return Err(DomainError::WrongPhase { actual: phase });
            }
            let goal = state.goal.as_ref().ok_or(DomainError::NoGoal)?;
            if let Some(r) = state.rounds.values().find(|r| r.is_open()) {
                return Err(DomainError::RoundOpen(r.id));
            }
            distinct_known(state, items, "items")?;
            let mut points = Fixed2::ZERO;
            for i in items {
                let it = live_item(state, *i)?;
                if it.estimate.is_none() {
                    return Err(DomainError::NoEstimate(*i));
                }
                points = points.saturating_add(it.points.unwrap_or(Fixed2::ZERO));
            }
            if points > Fixed2::MAX {
                // The sum must stay decodable, or the log could not be replayed.
                return Err(DomainError::Invalid("the scope has too many points".into()));
            }
            // Recorded in the event, so it must stay decodable as well: beyond the largest
            // recordable number (tens of thousands of people at a year each) it is recorded
            // as that number, which no decodable scope exceeds anyway.
            let capacity = state.capacity_points().min(Fixed2::MAX);
            let over = points > capacity;
            if over && !confirm_over_capacity {
                return Err(DomainError::OverCapacity { points, capacity });
            }
            let mut events = Vec::new();
            if !goal.committed {
                events.push(Event::GoalCommitted {
                    text: goal.text.clone(),
                    by: me,
                    at: now,
                });
            }
            if state.sync_running {
                events.push(Event::SyncEnded { by: me, at: now });
            }
            events.push(Event::ScopeCommitted {
                items: items.clone(),
                points,
                capacity,
                over_capacity_confirmed: over,
                by: me,
                at: now,
            });
            events.push(Event::PhaseChanged {
                from: phase,
                to: Phase::Committed,
                by: me,
                at: now,
            });
            events
        }
        C::RecordReminder { participant, round } => {
            if !me.is_system() {
                return Err(DomainError::Forbidden {
                    needed: "the server",
                });
            }
            active(state, *participant)?;
            if let Some(r) = round {
                if !state.rounds.contains_key(r) {
                    return Err(DomainError::UnknownRound(*r));
                }
            }
            if state.reminders.contains(&(*participant, *round)) {
                return Err(DomainError::Invalid(
                    "this reminder was already sent".into(),
                ));
            }
            vec![Event::ReminderSent {
                participant: *participant,
                round: *round,
                at: now,
            }]
        }
        C::RemindVoters { round } => {
            if !me.is_system() {
                return Err(DomainError::Forbidden {
                    needed: "the server",
                });
            }
            let r = state
                .rounds
                .get(round)
                .ok_or(DomainError::UnknownRound(*round))?;
            if !r.is_open() {
                return Err(DomainError::RoundClosed(*round));
            }
            if now >= r.deadline {
                return Err(DomainError::DeadlinePassed(*round));
            }
            let lead = state.schedule.reminder_minutes.unwrap_or(0) as i64 * 60_000_000;
            if lead == 0 {
                return Err(DomainError::Invalid("reminders are off".into()));
            }
            if now < r.deadline.saturating_sub(lead) {
                return Err(DomainError::Invalid("too early to remind".into()));
            }
            let events: Vec<Event> = state
                .not_voted(r)
                .into_iter()
                .filter(|p| !state.reminders.contains(&(*p, Some(*round))))
                .map(|p| Event::ReminderSent {
                    participant: p,
                    round: Some(*round),
                    at: now,
                })
                .collect();
            if events.is_empty() {
                return Err(DomainError::Invalid("nobody left to remind".into()));
            }
            events
        }

        // ---- integrations ----
        C::RegisterWebhook {
            url,
            events,
            url_checked,
        } => {
            need(role, &[Role::Facilitator])?;
            if !url_checked {
                return Err(DomainError::Invalid(
                    "register webhooks with POST /api/plannings/{id}/webhooks \
                     (the server must check the URL first)"
                        .into(),
                ));
            }
            webhook_url(url)?;
            if state.webhooks.len() >= limits::WEBHOOKS {
                return Err(DomainError::Invalid(format!(
                    "a planning has at most {} webhooks",
                    limits::WEBHOOKS
                )));
            }
            vec![Event::WebhookRegistered {
                webhook: WebhookId::from_random(random16(ctx)),
                url: url.trim().to_string(),
                events: webhook_kinds(events)?,
                by: me,
                at: now,
            }]
        }
        C::RemoveWebhook { webhook } => {
            need(role, &[Role::Facilitator])?;
            if !state.webhooks.contains_key(webhook) {
                return Err(DomainError::UnknownWebhook(*webhook));
            }
            vec![Event::WebhookRemoved {
                webhook: *webhook,
                by: me,
            }]
        }
    })
}

/// The shape of a webhook URL: `http(s)://host…`, one line, bounded. Where it points is the
/// server's to check (DNS); the domain only keeps obvious garbage out of the log.
fn webhook_url(url: &str) -> Result<()> {
    let url = url.trim();
    text(url, "url", 1, limits::URL)?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| DomainError::Invalid("a webhook url must be http:// or https://".into()))?;
    if rest.is_empty() || rest.starts_with('/') || url.chars().any(char::is_whitespace) {
        return Err(DomainError::Invalid("a webhook url needs a host".into()));
    }
    Ok(())
}

/// A webhook's event filter: known kinds, deduplicated in catalogue order; empty means all.
fn webhook_kinds(events: &[String]) -> Result<Vec<String>> {
    if let Some(bad) = events
        .iter()
        .find(|k| !WEBHOOK_EVENT_KINDS.contains(&k.as_str()))
    {
        return Err(DomainError::Invalid(format!(
            "webhooks can receive {WEBHOOK_EVENT_KINDS:?}, not {bad:?}"
        )));
    }
    Ok(WEBHOOK_EVENT_KINDS
        .iter()
        .filter(|k| events.is_empty() || events.iter().any(|e| e == *k))
        .map(|k| k.to_string())
        .collect())
}

fn unreachable_command() -> Result<Vec<Event>> {
    Err(DomainError::Invalid("command handled elsewhere".into()))
}

fn create(state: &State, cmd: &Command, ctx: &mut Context<'_>) -> Result<Vec<Event>> {
    let Command::CreatePlanning {
        title,
        creator_name,
        creator_token_hash,
        deck,
        policy,
        member_invite_hash,
        observer_invite_hash,
    } = cmd
    else {
        return unreachable_command();
    };
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
    if member_invite_hash == observer_invite_hash {
        return Err(DomainError::Invalid("the two invites must differ".into()));
    }
    let deck = deck.clone().unwrap_or_default();
    deck.validate().map_err(DomainError::Invalid)?;
    let policy = policy.clone().unwrap_or_default();
    validate_policy(&policy)?;
    Ok(vec![Event::PlanningCreated {
        planning: PlanningId::from_random(random16(ctx)),
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

fn join(
    state: &State,
    me: ParticipantId,
    now: Micros,
    name: &str,
    invite_hash: &str,
    token_hash: &str,
) -> Result<Vec<Event>> {
    if me.is_system() || state.participants.contains_key(&me) {
        return Err(DomainError::Invalid("this participant id is taken".into()));
    }
    let role = if invite_hash == state.member_invite_hash {
        Role::Member
    } else if invite_hash == state.observer_invite_hash {
        Role::Observer
    } else {
        return Err(DomainError::InvalidInvite);
    };
    text(name, "name", 1, limits::NAME)?;
    hash(token_hash)?;
    Ok(vec![Event::ParticipantJoined {
        participant: me,
        name: name.trim().to_string(),
        role,
        token_hash: token_hash.to_string(),
        at: now,
    }])
}

/// The role of the actor; the system actor only sends the commands made for it.
fn actor_role(state: &State, me: ParticipantId, cmd: &Command) -> Result<Role> {
    if me.is_system() {
        return match cmd {
            Command::CloseRound { .. }
            | Command::RecordReminder { .. }
            | Command::RemindVoters { .. }
            | Command::FollowSchedule { .. } => Ok(Role::Observer),
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

fn need(role: Role, allowed: &[Role]) -> Result<()> {
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

fn facilitators(state: &State) -> usize {
    state
        .participants
        .values()
        .filter(|p| !p.removed && p.role == Role::Facilitator)
        .count()
}

fn active(state: &State, id: ParticipantId) -> Result<&super::state::Participant> {
    state
        .participant(id)
        .ok_or(DomainError::UnknownParticipant(id))
}

fn known_item(state: &State, id: ItemId) -> Result<&super::state::Item> {
    state.items.get(&id).ok_or(DomainError::UnknownItem(id))
}

fn live_item(state: &State, id: ItemId) -> Result<&super::state::Item> {
    let it = known_item(state, id)?;
    if it.withdrawn {
        return Err(DomainError::ItemWithdrawn(id));
    }
    Ok(it)
}

fn live_comment(state: &State, id: CommentId) -> Result<&super::state::Comment> {
    let c = state
        .comments
        .get(&id)
        .ok_or(DomainError::UnknownComment(id))?;
    if c.deleted {
        return Err(DomainError::CommentDeleted(id));
    }
    Ok(c)
}

/// Whether an item may enter a new round.
fn estimable(state: &State, id: ItemId) -> Result<()> {
    let it = live_item(state, id)?;
    if state.open_round_of(id).is_some() {
        return Err(DomainError::ItemInOpenRound(id));
    }
    if it.estimate.is_some() {
        return Err(DomainError::Invalid(format!(
            "item {id} already has an agreed estimate"
        )));
    }
    let failing = it.failing_criteria(&state.definition_of_ready);
    if !failing.is_empty() && !it.readiness_overridden {
        return Err(DomainError::NotReady { item: id, failing });
    }
    Ok(())
}

/// The open round a vote goes to, checked.
fn votable(state: &State, round: RoundId, item: ItemId, now: Micros) -> Result<&Round> {
    let r = state
        .rounds
        .get(&round)
        .ok_or(DomainError::UnknownRound(round))?;
    if !r.is_open() {
        return Err(DomainError::RoundClosed(round));
    }
    if now >= r.deadline {
        return Err(DomainError::DeadlinePassed(round));
    }
    if !r.items.contains(&item) {
        return Err(DomainError::ItemNotInRound { round, item });
    }
    Ok(r)
}

/// Whether every member has a card on every item of a round.
fn everyone_voted(
    r: &Round,
    votes: &BTreeMap<ItemId, BTreeMap<ParticipantId, String>>,
    members: &[ParticipantId],
) -> bool {
    r.items.iter().all(|i| {
        votes
            .get(i)
            .is_some_and(|v| members.iter().all(|m| v.contains_key(m)))
    })
}

/// The rounds that `leaving` (a member removed or no longer a member) leaves with every
/// remaining member's vote in, closed now as if the last vote had just arrived: waiting for
/// someone who can no longer vote would hold the round until its deadline for nothing.
fn close_rounds_left_complete(
    state: &State,
    leaving: &Event,
    me: ParticipantId,
    now: Micros,
) -> Vec<Event> {
    // Removals are rare: judging on a copy with the event applied reuses `apply`'s rule for
    // which votes stop counting, instead of restating it here.
    let mut after = state.clone();
    after.apply(leaving);
    let members: Vec<ParticipantId> = after.members().map(|m| m.id).collect();
    let mut events = Vec::new();
    for r in after.rounds.values().filter(|r| r.is_open()) {
        let votes = cards(r);
        if everyone_voted(r, &votes, &members) {
            events.extend(close(&after, r, &votes, CloseReason::AllVoted, me, now));
        }
    }
    events
}

/// The cards of a round: item → voter → card.
fn cards(r: &Round) -> BTreeMap<ItemId, BTreeMap<ParticipantId, String>> {
    r.votes
        .iter()
        .map(|(i, v)| {
            (
                *i,
                v.iter().map(|(p, vote)| (*p, vote.card.clone())).collect(),
            )
        })
        .collect()
}

fn revealed(
    votes: &BTreeMap<ItemId, BTreeMap<ParticipantId, String>>,
    item: ItemId,
) -> Vec<RevealedVote> {
    votes
        .get(&item)
        .map(|v| {
            v.iter()
                .map(|(p, c)| RevealedVote {
                    voter: *p,
                    card: c.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Closing a round: `RoundClosed`, then per item (DESIGN §1): converged items are revealed with
/// a proposed estimate; flagged items stay sealed until the live reveal — unless the round was
/// live and the session still runs, where everything is revealed at once.
fn close(
    state: &State,
    r: &Round,
    votes: &BTreeMap<ItemId, BTreeMap<ParticipantId, String>>,
    reason: CloseReason,
    me: ParticipantId,
    now: Micros,
) -> Vec<Event> {
    let members = state.members().count();
    let mut events = vec![Event::RoundClosed {
        round: r.id,
        reason,
        at: now,
    }];
    for item in &r.items {
        let item_cards = votes.get(item);
        let verdict = state.policy.divergence.judge(
            &r.deck,
            item_cards
                .into_iter()
                .flat_map(|v| v.values().map(String::as_str)),
            members,
        );
        let reveal = Event::VotesRevealed {
            round: r.id,
            item: *item,
            votes: revealed(votes, *item),
            by: me,
        };
        match verdict {
            Verdict::Converged { proposed } => {
                events.push(reveal);
                events.push(Event::EstimateProposed {
                    item: *item,
                    round: r.id,
                    card: proposed,
                });
            }
            Verdict::Flagged(reason) => {
                // Revealed at close only while the live session still runs: a live round
                // that outlives its session keeps them sealed for the next one's reveal.
                if r.live && state.sync_running {
                    events.push(reveal);
                }
                events.push(Event::ItemFlagged {
                    item: *item,
                    reason,
                    round: Some(r.id),
                    note: None,
                    by: me,
                });
            }
        }
    }
    events
}

fn agree(state: &State, estimates: &[AgreedEstimate], me: ParticipantId) -> Result<Vec<Event>> {
    if estimates.is_empty() || estimates.len() > limits::LIST {
        return Err(DomainError::Invalid(format!(
            "agree 1 to {} estimates",
            limits::LIST
        )));
    }
    let mut seen = BTreeSet::new();
    let mut events = Vec::new();
    for e in estimates {
        if !seen.insert(e.item) {
            return Err(DomainError::Invalid(format!(
                "item {} appears twice",
                e.item
            )));
        }
        let it = live_item(state, e.item)?;
        if state.open_round_of(e.item).is_some() {
            return Err(DomainError::ItemInOpenRound(e.item));
        }
        // The deck of the item's latest round, or the planning's deck.
        let deck: &Deck = it
            .rounds
            .last()
            .and_then(|r| state.rounds.get(r))
            .map(|r| &r.deck)
            .unwrap_or(&state.deck);
        if e.card == UNSURE || e.card == PAUSE || deck.step(&e.card).is_none() {
            return Err(DomainError::InvalidCard(e.card.clone()));
        }
        events.push(Event::EstimateAgreed {
            item: e.item,
            card: e.card.clone(),
            points: deck.points(&e.card, &state.policy.point_table),
            by: me,
        });
    }
    Ok(events)
}

fn new_items(state: &State, drafts: &[ItemDraft], ctx: &mut Context<'_>) -> Result<Vec<NewItem>> {
    if drafts.is_empty() || drafts.len() > limits::IMPORT {
        return Err(DomainError::Invalid(format!(
            "import 1 to {} items at once",
            limits::IMPORT
        )));
    }
    for (n, d) in drafts.iter().enumerate() {
        item_draft(state, d).map_err(|e| DomainError::Invalid(format!("item {}: {e}", n + 1)))?;
    }
    Ok(drafts
        .iter()
        .map(|d| NewItem {
            item: ItemId::from_random(random16(ctx)),
            draft: d.clone(),
        })
        .collect())
}

/// Checks an item draft against the limits (and its dependencies against the state).
pub fn item_draft(state: &State, d: &ItemDraft) -> Result<()> {
    text(&d.title, "title", 1, limits::TITLE)?;
    text(&d.description, "description", 0, limits::TEXT)?;
    list(
        &d.acceptance_criteria,
        "acceptance criterion",
        limits::SHORT_TEXT,
    )?;
    list(&d.attachments, "attachment", limits::SHORT_TEXT * 4)?;
    list(&d.labels, "label", 50)?;
    opt_text(&d.external_key, "external_key", 100)?;
    if d.dependencies.len() > limits::LIST {
        return Err(DomainError::Invalid("too many dependencies".into()));
    }
    for dep in &d.dependencies {
        known_item(state, *dep)?;
    }
    Ok(())
}

fn list(values: &[String], what: &str, max_len: usize) -> Result<()> {
    if values.len() > limits::LIST {
        return Err(DomainError::Invalid(format!(
            "at most {} entries of {what}",
            limits::LIST
        )));
    }
    for v in values {
        text(v, what, 1, max_len)?;
    }
    Ok(())
}

fn distinct_known(state: &State, ids: &[ItemId], what: &str) -> Result<()> {
    let mut seen = BTreeSet::new();
    for i in ids {
        known_item(state, *i)?;
        if !seen.insert(*i) {
            return Err(DomainError::Invalid(format!(
                "{what}: item {i} appears twice"
            )));
        }
    }
    Ok(())
}

/// Checks a text's length (in characters) and that it has no control characters but newlines
/// and tabs (a name has none at all).
fn text(s: &str, what: &str, min: usize, max: usize) -> Result<()> {
    let len = s.trim().chars().count();
    if len < min || s.chars().count() > max {
        return Err(DomainError::Invalid(format!(
            "{what} must be {min} to {max} characters"
        )));
    }
    // Refused, not stripped: silently changing what someone typed would surprise them.
    if hides_text(s, max > limits::TITLE) {
        return Err(DomainError::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

/// Whether `s` holds a character that can hide or disguise text: a control character (line
/// breaks and tabs are fine in multi-line text), or a bidi embedding, override or isolate, which
/// can make a name or title display as something else ("Trojan Source"); plain direction marks
/// stay allowed. Every label people read is checked with it (names, titles, deck cards).
pub fn hides_text(s: &str, multi_line: bool) -> bool {
    let bidi =
        |c: char| ('\u{202a}'..='\u{202e}').contains(&c) || ('\u{2066}'..='\u{2069}').contains(&c);
    s.chars()
        .any(|c| (c.is_control() && !(multi_line && matches!(c, '\n' | '\t' | '\r'))) || bidi(c))
}

fn opt_text(s: &Option<String>, what: &str, max: usize) -> Result<()> {
    match s {
        Some(s) => text(s, what, 0, max),
        None => Ok(()),
    }
}

/// A SHA-256 hash in lowercase hex.
fn hash(h: &str) -> Result<()> {
    if h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(DomainError::Invalid(
            "a hash must be 64 lowercase hex digits".into(),
        ))
    }
}

/// The schedule as recorded: defaults filled in from the sprint start, then checked.
pub fn resolve_schedule(schedule: &Schedule) -> Result<Schedule> {
    const DAY: Micros = 24 * 3600 * 1_000_000;
    let mut s = schedule.clone();
    if let Some(start) = s.sprint_start {
        s.candidates_shared_at
            .get_or_insert(start.saturating_sub(2 * DAY));
        s.estimation_deadline
            .get_or_insert(start.saturating_sub(DAY));
        s.sync_start.get_or_insert(start);
    }
    s.sync_minutes.get_or_insert(45);
    s.reminder_minutes.get_or_insert(60);
    if s.sync_minutes.is_some_and(|m| m == 0 || m > 8 * 60) {
        return Err(DomainError::Invalid("sync_minutes must be 1 to 480".into()));
    }
    if s.reminder_minutes.is_some_and(|m| m > 7 * 24 * 60) {
        return Err(DomainError::Invalid(
            "reminder_minutes must be 0 (off) to 10080 (a week)".into(),
        ));
    }
    if let (Some(a), Some(b)) = (s.sprint_start, s.sprint_end) {
        if b <= a {
            return Err(DomainError::Invalid(
                "the sprint must end after it starts".into(),
            ));
        }
    }
    let order = [s.candidates_shared_at, s.estimation_deadline, s.sync_start];
    let known: Vec<Micros> = order.iter().flatten().copied().collect();
    if known.windows(2).any(|w| w[1] < w[0]) {
        return Err(DomainError::Invalid(
            "candidates shared, estimation deadline and sync start must come in that order".into(),
        ));
    }
    if s.auto_phases && s.candidates_shared_at.is_none() && s.sync_start.is_none() {
        return Err(DomainError::Invalid(
            "automatic phases need a candidates-shared or sync start time".into(),
        ));
    }
    Ok(s)
}

fn validate_policy(p: &Policy) -> Result<()> {
    p.divergence.validate().map_err(DomainError::Invalid)?;
    if p.batch_size == 0 || p.batch_size > 8 {
        return Err(DomainError::Invalid("batch_size must be 1 to 8".into()));
    }
    if p.default_deadline_minutes == 0 || p.default_deadline_minutes > 60 * 24 * 60 {
        return Err(DomainError::Invalid(
            "default_deadline_minutes must be 1 to 86400".into(),
        ));
    }
    if p.point_table.len() > super::deck::MAX_CARDS {
        return Err(DomainError::Invalid("point table too large".into()));
    }
    if p.point_table.values().any(|v| *v < Fixed2::ZERO) {
        return Err(DomainError::Invalid("points cannot be negative".into()));
    }
    if p.point_table.values().any(|v| *v > Fixed2::MAX) {
        return Err(DomainError::Invalid("points too large".into()));
    }
    Ok(())
}

fn check_deadline(now: Micros, deadline: Micros) -> Result<()> {
    if deadline <= now {
        return Err(DomainError::Invalid(
            "the deadline must be in the future".into(),
        ));
    }
    if deadline - now > limits::MAX_ROUND_MICROS {
        return Err(DomainError::Invalid(
            "a round may last at most 60 days".into(),
        ));
    }
    Ok(())
}

fn random16(ctx: &mut Context<'_>) -> [u8; 16] {
    let mut b = [0u8; 16];
    ctx.rng.fill_bytes(&mut b);
    b
}

/// A uniform draw in `0..n` without modulo bias (rejection sampling).
fn uniform_below(rng: &mut dyn RngCore, n: u32) -> u32 {
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let v = rng.next_u32();
        if v < zone {
            return v % n;
        }
    }
}

#[cfg(test)]
mod webhook_tests {
    use super::*;
    use uuid::Uuid;

    const FAC: ParticipantId = ParticipantId(Uuid::from_u128(1));
    const MEM: ParticipantId = ParticipantId(Uuid::from_u128(2));

    fn run(state: &State, actor: ParticipantId, cmd: Command) -> Result<Vec<Event>> {
        let mut rng = rand::rngs::OsRng;
        let mut ctx = Context {
            actor,
            now: 1_000,
            rng: &mut rng,
        };
        decide(state, &cmd, &mut ctx)
    }

    fn given(state: &mut State, actor: ParticipantId, cmd: Command) -> Vec<Event> {
        let events = run(state, actor, cmd).expect("command accepted");
        for e in &events {
            state.apply(e);
        }
        events
    }

    fn planning() -> State {
        let mut s = State::default();
        given(
            &mut s,
            FAC,
            Command::CreatePlanning {
                title: "S1".into(),
                creator_name: "Fran".into(),
                creator_token_hash: "1".repeat(64),
                deck: None,
                policy: None,
                member_invite_hash: "2".repeat(64),
                observer_invite_hash: "3".repeat(64),
            },
        );
        given(
            &mut s,
            MEM,
            Command::Join {
                name: "Ann".into(),
                invite_hash: "2".repeat(64),
                token_hash: "4".repeat(64),
            },
        );
        s
    }

    fn register(url: &str, events: &[&str]) -> Command {
        Command::RegisterWebhook {
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            url_checked: true,
        }
    }

    #[test]
    fn the_facilitator_registers_and_removes_a_webhook() {
        let mut s = planning();
        let events = given(&mut s, FAC, register("http://hooks.example/x", &[]));
        let [Event::WebhookRegistered {
            webhook,
            url,
            events: kinds,
            by,
            ..
        }] = events.as_slice()
        else {
            panic!("{events:?}")
        };
        assert_eq!(url, "http://hooks.example/x");
        assert_eq!(kinds, &WEBHOOK_EVENT_KINDS.to_vec());
        assert_eq!(*by, FAC);
        assert!(s.webhooks[webhook].wants("ScopeCommitted"));
        let removed = given(&mut s, FAC, Command::RemoveWebhook { webhook: *webhook });
        assert_eq!(
            removed,
            vec![Event::WebhookRemoved {
                webhook: *webhook,
                by: FAC
            }]
        );
        assert!(s.webhooks.is_empty());
        assert_eq!(
            run(&s, FAC, Command::RemoveWebhook { webhook: *webhook }),
            Err(DomainError::UnknownWebhook(*webhook))
        );
    }

    #[test]
    fn the_event_filter_is_validated_and_normalised() {
        let mut s = planning();
        let events = given(
            &mut s,
            FAC,
            register(
                "https://h/x",
                &["ScopeCommitted", "RoundClosed", "RoundClosed"],
            ),
        );
        let Event::WebhookRegistered { events: kinds, .. } = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(
            kinds,
            &vec!["RoundClosed".to_string(), "ScopeCommitted".into()]
        );
        assert!(matches!(
            run(&s, FAC, register("http://h/", &["VoteCast"])),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn members_unchecked_urls_and_bad_urls_are_refused() {
        let s = planning();
        assert!(matches!(
            run(&s, MEM, register("http://h/", &[])),
            Err(DomainError::Forbidden { .. })
        ));
        let unchecked = Command::RegisterWebhook {
            url: "http://h/".into(),
            events: Vec::new(),
            url_checked: false,
        };
        assert!(matches!(
            run(&s, FAC, unchecked),
            Err(DomainError::Invalid(_))
        ));
        for bad in ["ftp://h/", "http://", "http:///x", "h/x", "http://a b/", ""] {
            assert!(
                matches!(
                    run(&s, FAC, register(bad, &[])),
                    Err(DomainError::Invalid(_))
                ),
                "{bad:?} accepted"
            );
        }
        let mut s = s;
        let id = WebhookId(Uuid::from_u128(9));
        assert_eq!(
            run(&s, MEM, Command::RemoveWebhook { webhook: id }),
            Err(DomainError::Forbidden {
                needed: "the facilitator"
            })
        );
        for _ in 0..limits::WEBHOOKS {
            given(&mut s, FAC, register("http://h/", &[]));
        }
        assert!(matches!(
            run(&s, FAC, register("http://h/", &[])),
            Err(DomainError::Invalid(_))
        ));
    }

    #[test]
    fn url_checked_never_comes_from_the_wire() {
        let cmd: Command = serde_json::from_str(
            r#"{"type":"RegisterWebhook","url":"http://10.0.0.1/","events":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            cmd,
            Command::RegisterWebhook {
                url_checked: false,
                ..
            }
        ));
        let forged = serde_json::from_str::<Command>(
            r#"{"type":"RegisterWebhook","url":"http://10.0.0.1/","url_checked":true}"#,
        );
        assert!(
            !matches!(
                forged,
                Ok(Command::RegisterWebhook {
                    url_checked: true,
                    ..
                })
            ),
            "{forged:?}"
        );
    }

    #[test]
    fn webhook_events_round_trip_through_the_codec() {
        let ev = Event::WebhookRegistered {
            webhook: WebhookId(Uuid::from_u128(3)),
            url: "http://h/".into(),
            events: vec!["SyncStarted".into()],
            by: FAC,
            at: 7,
        };
        for e in [
            ev,
            Event::WebhookRemoved {
                webhook: WebhookId(Uuid::from_u128(3)),
                by: FAC,
            },
        ] {
            let (kind, version, payload) = e.encode();
            assert!(EVENT_KINDS.contains(&kind));
            assert_eq!(version, 1);
            assert_eq!(Event::decode(kind, version, &payload).unwrap(), e);
        }
    }
}
