//! Schedule: phases, the schedule that may move them, the policy, and the reminders it sends.

use super::guard::{active, open_round, Actor};
use super::Result;
use crate::domain::error::DomainError;
use crate::domain::event::*;
use crate::domain::fixed::Fixed2;
use crate::domain::ids::*;
use crate::domain::slots::{self, SlotQuery};
use crate::domain::state::State;

pub(super) fn change_phase(a: &Actor, to: Phase) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    if to == Phase::Committed {
        return Err(DomainError::Invalid(
            "a planning becomes committed by committing its scope".into(),
        ));
    }
    if to == a.phase {
        return Err(DomainError::Invalid(format!(
            "the planning already is {}",
            crate::domain::error::phase_words(to)
        )));
    }
    if a.state.sync_running && to != Phase::Sync {
        return Err(DomainError::SyncRunning);
    }
    // Votes belong to async or sync: going back to draft would strand an open round.
    if to == Phase::Draft {
        if let Some(r) = a.state.rounds.values().find(|r| r.is_open()) {
            return Err(DomainError::RoundOpen(r.id));
        }
    }
    Ok(vec![phase_changed(a, to)])
}

/// The phase moves from the current one to `to`, by the actor, now.
pub(super) fn phase_changed(a: &Actor, to: Phase) -> Event {
    Event::PhaseChanged {
        from: a.phase,
        to,
        by: a.me,
        at: a.now,
    }
}

pub(super) fn set_schedule(a: &Actor, schedule: &Schedule) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    Ok(vec![Event::ScheduleSet {
        schedule: resolve_schedule(&place_sync(a.state, schedule, a.now))?,
        by: Some(a.me),
        at: Some(a.now),
    }])
}

const DAY: Micros = 24 * 3600 * 1_000_000;
const HOUR: Micros = 3600 * 1_000_000;

/// Times left out are placed in the working hours of the attendees who set a time zone, not at
/// midnight UTC (with nobody's zone known, the defaults of [`resolve_schedule`] stay):
/// - with a sprint start and no sync start, the sync goes to the slot finder's best slot on the
///   sprint's first day (from the sprint start, 24 hours);
/// - with a sync start and no estimation deadline, the deadline goes to [`deadline_before`] it,
///   and candidates left out are shared a day before that deadline (or 2 days before the sprint
///   start when that is earlier).
fn place_sync(state: &State, schedule: &Schedule, now: Micros) -> Schedule {
    let mut s = schedule.clone();
    let (members, _) = crate::domain::hours::attendees(state);
    if members.is_empty() {
        return s;
    }
    if let (Some(start), None) = (s.sprint_start, s.sync_start) {
        let query = SlotQuery {
            from: start,
            to: start.saturating_add(DAY),
            minutes: s.sync_minutes.unwrap_or(45),
            step_minutes: 15,
            limit: 1,
        };
        s.sync_start = slots::find_slots(&members, &query)
            .ok()
            .and_then(|v| v.into_iter().next())
            .map(|slot| slot.start);
    }
    if let (Some(sync), None) = (s.sync_start, s.estimation_deadline) {
        let from = s.candidates_shared_at.unwrap_or(Micros::MIN).max(now);
        if let Some(due) = deadline_before(&members, from, sync) {
            s.estimation_deadline = Some(due);
            let shared = due.saturating_sub(DAY);
            let shared = s
                .sprint_start
                .map_or(shared, |st| shared.min(st.saturating_sub(2 * DAY)));
            s.candidates_shared_at.get_or_insert(shared);
        }
    }
    s
}

/// An estimation deadline for a sync at `sync`: the end of the latest working hour the most
/// attendees share between 4 days and 12 hours before it (and not before `from`). None when
/// that window is shorter than an hour or nobody works in it.
fn deadline_before(members: &[slots::SlotMember], from: Micros, sync: Micros) -> Option<Micros> {
    let query = SlotQuery {
        from: from.max(sync.saturating_sub(4 * DAY)),
        to: sync.saturating_sub(12 * HOUR),
        minutes: 60,
        step_minutes: 30,
        limit: slots::MAX_SLOTS,
    };
    let found = slots::find_slots(members, &query).ok()?;
    let most = found.iter().map(|x| x.inside.len()).max()?;
    found
        .iter()
        .filter(|x| most > 0 && x.inside.len() == most)
        .map(|x| x.end)
        .max()
}

pub(super) fn follow_schedule(a: &Actor, to: Phase) -> Result<Vec<Event>> {
    a.server()?;
    a.open_phase()?;
    let s = &a.state.schedule;
    if !s.auto_phases {
        return Err(DomainError::Invalid(
            "the schedule does not move phases".into(),
        ));
    }
    let phase = a.phase;
    let (due, from_ok) = match to {
        Phase::Async => (s.candidates_shared_at, phase == Phase::Draft),
        Phase::Sync => (s.sync_start, matches!(phase, Phase::Draft | Phase::Async)),
        _ => (None, false),
    };
    let due = due.ok_or_else(|| {
        DomainError::Invalid(format!(
            "the schedule says nothing about when the planning is {}",
            crate::domain::error::phase_words(to)
        ))
    })?;
    if a.now < due {
        return Err(DomainError::Invalid(format!(
            "it is not time yet for the planning to be {}",
            crate::domain::error::phase_words(to)
        )));
    }
    if !from_ok {
        // The facilitator moved on (or back) by hand: the schedule does not overrule.
        return Err(DomainError::Invalid(format!(
            "the planning already is {}",
            crate::domain::error::phase_words(phase)
        )));
    }
    Ok(vec![phase_changed(a, to)])
}

pub(super) fn set_policy(a: &Actor, policy: &Policy) -> Result<Vec<Event>> {
    a.facilitator()?;
    a.open_phase()?;
    validate_policy(policy)?;
    Ok(vec![Event::PolicySet {
        policy: policy.clone(),
    }])
}

pub(super) fn record_reminder(
    a: &Actor,
    participant: ParticipantId,
    round: Option<RoundId>,
) -> Result<Vec<Event>> {
    a.server()?;
    active(a.state, participant)?;
    if let Some(r) = round {
        super::guard::round(a.state, r)?;
    }
    if a.state.reminders.contains(&(participant, round)) {
        return Err(DomainError::Invalid(
            "this reminder was already sent".into(),
        ));
    }
    Ok(vec![Event::ReminderSent {
        participant,
        round,
        at: a.now,
    }])
}

pub(super) fn remind_voters(a: &Actor, round: RoundId) -> Result<Vec<Event>> {
    a.server()?;
    let r = open_round(a.state, round)?;
    if a.now >= r.deadline {
        return Err(DomainError::DeadlinePassed(round));
    }
    let lead = a.state.schedule.reminder_minutes.unwrap_or(0) as i64 * 60_000_000;
    if lead == 0 {
        return Err(DomainError::Invalid("reminders are off".into()));
    }
    if a.now < r.deadline.saturating_sub(lead) {
        return Err(DomainError::Invalid("too early to remind".into()));
    }
    let events: Vec<Event> = a
        .state
        .not_voted(r)
        .into_iter()
        .filter(|p| !a.state.reminders.contains(&(*p, Some(round))))
        .map(|p| Event::ReminderSent {
            participant: p,
            round: Some(round),
            at: a.now,
        })
        .collect();
    if events.is_empty() {
        return Err(DomainError::Invalid("nobody left to remind".into()));
    }
    Ok(events)
}

/// The schedule as recorded: defaults filled in from the sprint start, then checked.
pub fn resolve_schedule(schedule: &Schedule) -> Result<Schedule> {
    const DAY: Micros = 24 * 3600 * 1_000_000;
    // Sane dates only: a time like i64::MIN would overflow date arithmetic further on.
    const EARLIEST: Micros = 946_684_800_000_000; // 2000-01-01T00:00:00Z
    const LATEST: Micros = 4_102_444_800_000_000; // 2100-01-01T00:00:00Z
    let times = [
        schedule.sprint_start,
        schedule.sprint_end,
        schedule.candidates_shared_at,
        schedule.estimation_deadline,
        schedule.sync_start,
    ];
    if times
        .iter()
        .flatten()
        .any(|t| !(EARLIEST..LATEST).contains(t))
    {
        return Err(DomainError::OutOfRange {
            field: "schedule times",
            range: "between the years 2000 and 2100",
        });
    }
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
        return Err(DomainError::OutOfRange {
            field: "sync_minutes",
            range: "1 to 480",
        });
    }
    if s.reminder_minutes.is_some_and(|m| m > 7 * 24 * 60) {
        return Err(DomainError::OutOfRange {
            field: "reminder_minutes",
            range: "0 (off) to 10080 (a week)",
        });
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

pub(super) fn validate_policy(p: &Policy) -> Result<()> {
    p.divergence.validate().map_err(DomainError::Invalid)?;
    if p.batch_size == 0 || p.batch_size > 8 {
        return Err(DomainError::OutOfRange {
            field: "batch_size",
            range: "1 to 8",
        });
    }
    if p.default_deadline_minutes == 0 || p.default_deadline_minutes > 60 * 24 * 60 {
        return Err(DomainError::OutOfRange {
            field: "default_deadline_minutes",
            range: "1 to 86400",
        });
    }
    let cards = crate::domain::deck::MAX_CARDS;
    super::guard::count(p.point_table.len(), "point_table", 0, cards)?;
    if p.point_table
        .values()
        .any(|v| *v < Fixed2::ZERO || *v > Fixed2::MAX)
    {
        return Err(DomainError::OutOfRange {
            field: "points",
            range: "0 to the largest recordable number",
        });
    }
    Ok(())
}
