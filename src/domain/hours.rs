//! Who the schedule's times and the open rounds' deadlines fall outside the working hours of.
//!
//! A deadline is an instant (outside: the minutes to the nearest working time); the live sync
//! is its whole session. Only facilitators and members who set a time zone are counted, with
//! the finder's default hours and days when they set none ([`crate::domain::slots`]).

use super::event::Role;
use super::ids::{ParticipantId, RoundId};
use super::slots::{self, Outside, SlotMember, WorkDay, WorkingHours};
use super::state::State;
use serde::Serialize;
use std::collections::BTreeMap;

const MINUTE: i64 = 60_000_000;

/// The participants who attend the live session (facilitators and members) with their
/// working hours, and apart those who set no time zone.
pub fn attendees(state: &State) -> (Vec<SlotMember>, Vec<ParticipantId>) {
    let mut placed = Vec::new();
    let mut unplaced = Vec::new();
    for p in state
        .participants
        .values()
        .filter(|p| !p.removed && p.role != Role::Observer)
    {
        match &p.time_zone {
            Some(tz) => placed.push(SlotMember {
                participant: p.id,
                hours: WorkingHours {
                    time_zone: tz.clone(),
                    start_minute: p.work_start_minute.unwrap_or(slots::DEFAULT_WORK_START),
                    end_minute: p.work_end_minute.unwrap_or(slots::DEFAULT_WORK_END),
                    days: if p.work_days.is_empty() {
                        WorkDay::WEEKDAYS.to_vec()
                    } else {
                        p.work_days.clone()
                    },
                },
            }),
            None => unplaced.push(p.id),
        }
    }
    (placed, unplaced)
}

/// Who is outside their hours at each scheduled time (empty lists: everyone inside).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutsideHours {
    /// At the schedule's estimation deadline (empty without one).
    pub estimation_deadline: Vec<Outside>,
    /// During the scheduled live sync (`sync_start` for `sync_minutes`, default 45).
    pub sync: Vec<Outside>,
    /// At each open async round's deadline.
    pub rounds: BTreeMap<RoundId, Vec<Outside>>,
}

/// The figures of [`OutsideHours`] for the planning as it is.
pub fn outside_hours(state: &State) -> OutsideHours {
    let (members, _) = attendees(state);
    if members.is_empty() {
        return OutsideHours::default();
    }
    let at = |t: i64| slots::fit(&members, t, t).outside;
    let sched = &state.schedule;
    OutsideHours {
        estimation_deadline: sched.estimation_deadline.map(at).unwrap_or_default(),
        sync: sched
            .sync_start
            .map(|s| {
                let len = sched.sync_minutes.unwrap_or(45) as i64 * MINUTE;
                slots::fit(&members, s, s.saturating_add(len)).outside
            })
            .unwrap_or_default(),
        rounds: state
            .rounds
            .values()
            .filter(|r| r.is_open() && !r.live)
            .map(|r| (r.id, at(r.deadline)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{Participant, Round};
    use uuid::Uuid;

    /// 2026-06-16 (a Tuesday) at `hh:mm` UTC, in microseconds.
    fn utc(hh: i64, mm: i64) -> i64 {
        (1_781_568_000 + hh * 3600 + mm * 60) * 1_000_000
    }

    fn person(n: u128, role: Role, zone: Option<&str>) -> Participant {
        Participant {
            id: ParticipantId(Uuid::from_u128(n)),
            name: format!("p{n}"),
            role,
            token_hashes: Vec::new(),
            removed: false,
            joined_at: 0,
            time_zone: zone.map(str::to_string),
            work_start_minute: None,
            work_end_minute: None,
            work_days: Vec::new(),
            capacity: None,
        }
    }

    fn outside(n: u128, minutes: u32) -> Outside {
        Outside {
            participant: ParticipantId(Uuid::from_u128(n)),
            minutes,
        }
    }

    #[test]
    fn the_schedule_and_open_rounds_say_who_they_fall_outside_the_hours_of() {
        assert_eq!(utc(0, 0), 1_781_568_000_000_000, "2026-06-16T00:00:00Z");
        let mut state = State::default();
        for p in [
            person(1, Role::Facilitator, Some("Europe/Berlin")),
            person(2, Role::Member, Some("Asia/Kolkata")),
            person(3, Role::Member, Some("America/Los_Angeles")),
            person(4, Role::Observer, Some("Pacific/Kiritimati")),
            person(5, Role::Member, None),
        ] {
            state.participants.insert(p.id, p);
        }
        // Berlin works 07:00–15:30 UTC that day, Kolkata 03:30–12:00, Los Angeles 16:00–00:30.
        state.schedule.estimation_deadline = Some(utc(14, 0));
        state.schedule.sync_start = Some(utc(8, 0));
        let round = RoundId(Uuid::from_u128(9));
        state.rounds.insert(
            round,
            Round {
                id: round,
                items: Vec::new(),
                deck: state.deck.clone().into(),
                deadline: utc(10, 0),
                live: false,
                opened_at: 0,
                opened_by: None,
                previous: None,
                closed: None,
                closed_at: None,
                votes: Default::default(),
                revealed: Default::default(),
            },
        );
        let o = outside_hours(&state);
        // The observer and the member without a zone are not counted.
        assert_eq!(
            o.estimation_deadline,
            vec![outside(2, 120), outside(3, 120)]
        );
        // 08:00–08:45 UTC: Los Angeles would start 8 h earlier (16:00 the day before ended 00:30).
        assert_eq!(o.sync, vec![outside(3, 480)]);
        assert_eq!(o.rounds[&round], vec![outside(3, 360)]);

        // A session that runs past a working day's end is outside by the overrun.
        state.schedule.sync_start = Some(utc(11, 30));
        state.schedule.sync_minutes = Some(60);
        assert_eq!(
            outside_hours(&state).sync,
            vec![outside(3, 270), outside(2, 30)]
        );
    }

    #[test]
    fn nobody_with_a_time_zone_means_no_warning() {
        let mut state = State::default();
        let p = person(1, Role::Member, None);
        state.participants.insert(p.id, p);
        state.schedule.estimation_deadline = Some(utc(3, 0));
        assert_eq!(outside_hours(&state), OutsideHours::default());
    }
}
