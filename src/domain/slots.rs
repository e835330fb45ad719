//! Working hours in IANA time zones and the sync slot finder (pure: the tz database is compiled
//! in through `jiff`'s bundled copy, so nothing here reads the system's zoneinfo or a clock).
//!
//! A member's working hours are a local start and end minute on some days of the week
//! (`09:00–17:30 Mon–Fri` is `540..1050` on `mon…fri`); an end at or before the start means the
//! shift runs past local midnight, and the days name the day a shift *starts*. Local times are
//! turned into UTC per day, so daylight saving transitions move the hours in UTC as they do
//! for the people.
//!
//! [`find_slots`] proposes sync slots of a given length inside a UTC window: the slots inside
//! the most members' working hours first, ties broken by the least total minutes outside, then
//! the earliest. For each slot it says who would be outside their hours and by how much: the
//! minutes by which that member's working day would have to start earlier or end later to hold
//! the whole slot (a slot at 08:15–09:00 for someone who starts at 09:00 is 45 minutes outside;
//! one at 17:00–17:45 for someone who stops at 17:30 is 15 minutes outside).

use super::event::Micros;
use super::ids::ParticipantId;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

const MINUTE: Micros = 60_000_000;
const DAY_MINUTES: u32 = 24 * 60;
/// Longest window the finder searches: 31 days.
pub const MAX_WINDOW_MICROS: Micros = 31 * 24 * 60 * MINUTE;
/// Longest slot: 8 hours.
pub const MAX_SLOT_MINUTES: u32 = 8 * 60;
/// Most slots one search returns.
pub const MAX_SLOTS: usize = 50;
/// Working hours assumed for someone who set a time zone but no hours: 09:00–17:30.
pub const DEFAULT_WORK_START: u32 = 9 * 60;
pub const DEFAULT_WORK_END: u32 = 17 * 60 + 30;

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkDay {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl WorkDay {
    /// Monday to Friday, the default working week.
    pub const WEEKDAYS: [WorkDay; 5] = [
        WorkDay::Mon,
        WorkDay::Tue,
        WorkDay::Wed,
        WorkDay::Thu,
        WorkDay::Fri,
    ];

    fn of(date: Date) -> WorkDay {
        match date.weekday().to_monday_one_offset() {
            1 => WorkDay::Mon,
            2 => WorkDay::Tue,
            3 => WorkDay::Wed,
            4 => WorkDay::Thu,
            5 => WorkDay::Fri,
            6 => WorkDay::Sat,
            _ => WorkDay::Sun,
        }
    }
}

/// Why working hours or a search are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("{} is not a time zone name (e.g. Europe/Berlin)", crate::domain::words::quoted(.0))]
    UnknownTimeZone(String),
    #[error("working hours need a start and an end minute (0–1440) that differ")]
    BadHours,
    #[error("working hours need at least one working day")]
    NoDays,
    #[error("the window must end after it starts and span at most 31 days")]
    BadWindow,
    #[error("a slot lasts 1 to 480 minutes")]
    BadLength,
    #[error("the step must be one of 5, 10, 15, 20, 30 or 60 minutes")]
    BadStep,
}

/// Looks an IANA zone name up in the bundled tz database.
pub fn time_zone(name: &str) -> Result<TimeZone, SlotError> {
    // `TimeZone::get` also accepts a few non-IANA spellings; keep the log to the names people
    // pick from a list, so every client can show them.
    let shaped = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
        && !name.starts_with('/');
    if !shaped {
        return Err(SlotError::UnknownTimeZone(name.to_string()));
    }
    TimeZone::get(name).map_err(|_| SlotError::UnknownTimeZone(name.to_string()))
}

/// One member's working hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHours {
    pub time_zone: String,
    /// Minutes after local midnight, 0–1439.
    pub start_minute: u32,
    /// Minutes after local midnight, 1–1440; at or before the start: the next day.
    pub end_minute: u32,
    /// The days a shift starts on.
    pub days: Vec<WorkDay>,
}

impl WorkingHours {
    /// Checks the hours and resolves the zone.
    pub fn validate(&self) -> Result<TimeZone, SlotError> {
        let tz = time_zone(&self.time_zone)?;
        if self.start_minute >= DAY_MINUTES
            || self.end_minute > DAY_MINUTES
            || self.start_minute == self.end_minute
        {
            return Err(SlotError::BadHours);
        }
        if self.days.is_empty() {
            return Err(SlotError::NoDays);
        }
        Ok(tz)
    }

    /// The working intervals (UTC microseconds, sorted, merged) of shifts starting on local
    /// days from the day of `from` minus one to the day of `to` plus one.
    pub fn intervals(&self, tz: &TimeZone, from: Micros, to: Micros) -> Vec<(Micros, Micros)> {
        let (Some(first), Some(last)) = (local_date(tz, from), local_date(tz, to)) else {
            return Vec::new();
        };
        let mut out: Vec<(Micros, Micros)> = Vec::new();
        let mut day = first.yesterday().unwrap_or(first);
        let end_day = last.tomorrow().unwrap_or(last);
        while day <= end_day {
            if self.days.contains(&WorkDay::of(day)) {
                let next = day.tomorrow().unwrap_or(day);
                let end_date = if self.end_minute <= self.start_minute {
                    next
                } else {
                    day
                };
                if let (Some(a), Some(b)) = (
                    local_instant(tz, day, self.start_minute),
                    local_instant(tz, end_date, self.end_minute),
                ) {
                    if b > a {
                        match out.last_mut() {
                            // Back-to-back shifts (e.g. around the clock) are one stretch.
                            Some(last) if a <= last.1 => last.1 = last.1.max(b),
                            _ => out.push((a, b)),
                        }
                    }
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        out
    }
}

/// The local calendar date of an instant.
fn local_date(tz: &TimeZone, at: Micros) -> Option<Date> {
    let ts = Timestamp::from_microsecond(at).ok()?;
    Some(tz.to_datetime(ts).date())
}

/// The instant of a local wall-clock minute (1440 is the next midnight). In a spring-forward
/// gap the time is read as after the gap, in a fall-back fold as the earlier one (the
/// "compatible" rule RFC 5545 and most calendars use).
fn local_instant(tz: &TimeZone, date: Date, minute: u32) -> Option<Micros> {
    let (date, minute) = if minute >= DAY_MINUTES {
        (date.tomorrow().ok()?, minute - DAY_MINUTES)
    } else {
        (date, minute)
    };
    let dt = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
    let z = dt.to_zoned_datetime(tz.clone()).ok()?;
    Some(z.timestamp().as_microsecond())
}

/// A member for the finder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMember {
    pub participant: ParticipantId,
    pub hours: WorkingHours,
}

/// What to search for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotQuery {
    /// The window, UTC microseconds: slots start at or after `from` and end by `to`.
    pub from: Micros,
    pub to: Micros,
    /// Slot length in minutes.
    pub minutes: u32,
    /// Candidate starts are on multiples of this many minutes (UTC).
    pub step_minutes: u32,
    /// Most slots returned (non-overlapping, best first).
    pub limit: usize,
}

/// A member outside their hours in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outside {
    pub participant: ParticipantId,
    /// How much earlier their day would have to start, or later end, to hold the slot.
    pub minutes: u32,
}

/// A proposed slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub start: Micros,
    pub end: Micros,
    /// Members inside their working hours for the whole slot.
    pub inside: Vec<ParticipantId>,
    /// Members outside, most minutes first.
    pub outside: Vec<Outside>,
    /// Sum of `outside[].minutes`.
    pub minutes_outside: u32,
}

/// Proposes up to `limit` non-overlapping slots, best first (see the module docs).
pub fn find_slots(members: &[SlotMember], q: &SlotQuery) -> Result<Vec<Slot>, SlotError> {
    if q.to <= q.from || q.to - q.from > MAX_WINDOW_MICROS {
        return Err(SlotError::BadWindow);
    }
    if q.minutes == 0 || q.minutes > MAX_SLOT_MINUTES {
        return Err(SlotError::BadLength);
    }
    if ![5, 10, 15, 20, 30, 60].contains(&q.step_minutes) {
        return Err(SlotError::BadStep);
    }
    // Working intervals over the window plus a week each side, so the nearest working day of
    // a weekend slot is always in sight.
    let margin = 8 * 24 * 60 * MINUTE;
    let mut hours = Vec::with_capacity(members.len());
    for m in members {
        let tz = m.hours.validate()?;
        let iv = m.hours.intervals(
            &tz,
            q.from.saturating_sub(margin),
            q.to.saturating_add(margin),
        );
        hours.push((m.participant, iv));
    }
    let len = q.minutes as Micros * MINUTE;
    let step = q.step_minutes as Micros * MINUTE;
    let mut start = q.from.div_euclid(step) * step;
    if start < q.from {
        start += step;
    }
    let mut candidates = Vec::new();
    while start + len <= q.to {
        candidates.push(slot_at(&hours, start, start + len));
        start += step;
    }
    candidates.sort_by(|a, b| {
        b.inside
            .len()
            .cmp(&a.inside.len())
            .then(a.minutes_outside.cmp(&b.minutes_outside))
            .then(a.start.cmp(&b.start))
    });
    let mut chosen: Vec<Slot> = Vec::new();
    for c in candidates {
        if chosen.len() >= q.limit.min(MAX_SLOTS) {
            break;
        }
        if chosen.iter().all(|s| c.end <= s.start || c.start >= s.end) {
            chosen.push(c);
        }
    }
    Ok(chosen)
}

/// Who would be inside and outside their working hours from `start` to `end` (an instant when
/// they are equal: a deadline), with the same measure as the finder's slots.
pub fn fit(members: &[SlotMember], start: Micros, end: Micros) -> Slot {
    let margin = 8 * 24 * 60 * MINUTE;
    let hours: Vec<_> = members
        .iter()
        .filter_map(|m| {
            let tz = m.hours.validate().ok()?;
            let iv = m.hours.intervals(
                &tz,
                start.saturating_sub(margin),
                end.saturating_add(margin),
            );
            Some((m.participant, iv))
        })
        .collect();
    slot_at(&hours, start, end.max(start))
}

fn slot_at(hours: &[(ParticipantId, Vec<(Micros, Micros)>)], start: Micros, end: Micros) -> Slot {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for (p, iv) in hours {
        // Intervals are sorted and disjoint: of those starting by `start` the last one ends
        // latest, and of those starting after it the first one starts soonest, so the nearest
        // working interval is one of these two.
        let i = iv.partition_point(|&(a, _)| a <= start);
        let micros = iv[i.saturating_sub(1)..(i + 1).min(iv.len())]
            .iter()
            .map(|&(a, b)| (a - start).max(0) + (end - b).max(0))
            .min()
            .unwrap_or(Micros::MAX);
        if micros == 0 {
            inside.push(*p);
        } else {
            // Rounded up: a slot one second outside is a minute outside, never zero.
            let minutes = (micros.saturating_add(MINUTE - 1) / MINUTE).min(u32::MAX as i64);
            outside.push(Outside {
                participant: *p,
                minutes: minutes as u32,
            });
        }
    }
    outside.sort_by(|a, b| {
        b.minutes
            .cmp(&a.minutes)
            .then(a.participant.cmp(&b.participant))
    });
    let minutes_outside = outside
        .iter()
        .fold(0u32, |acc, o| acc.saturating_add(o.minutes));
    Slot {
        start,
        end,
        inside,
        outside,
        minutes_outside,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const SF: ParticipantId = ParticipantId(Uuid::from_u128(1));
    const BERLIN: ParticipantId = ParticipantId(Uuid::from_u128(2));
    const BANGALORE: ParticipantId = ParticipantId(Uuid::from_u128(3));

    /// `YYYY-MM-DDTHH:MM:SSZ` in microseconds.
    fn utc(s: &str) -> Micros {
        s.parse::<Timestamp>().unwrap().as_microsecond()
    }

    fn member(p: ParticipantId, tz: &str, start: u32, end: u32) -> SlotMember {
        SlotMember {
            participant: p,
            hours: WorkingHours {
                time_zone: tz.into(),
                start_minute: start,
                end_minute: end,
                days: WorkDay::WEEKDAYS.to_vec(),
            },
        }
    }

    /// San Francisco, Berlin and Bangalore, each 09:00–17:30 Mon–Fri.
    fn team() -> Vec<SlotMember> {
        vec![
            member(SF, "America/Los_Angeles", 540, 1050),
            member(BERLIN, "Europe/Berlin", 540, 1050),
            member(BANGALORE, "Asia/Kolkata", 540, 1050),
        ]
    }

    fn query(from: &str, to: &str, minutes: u32) -> SlotQuery {
        SlotQuery {
            from: utc(from),
            to: utc(to),
            minutes,
            step_minutes: 15,
            limit: 3,
        }
    }

    #[test]
    fn summer_tuesday_berlin_and_bangalore_overlap_and_san_francisco_is_told_how_early() {
        // 16 June 2026 (Tuesday). In UTC: SF (PDT, −7) works 16:00–00:30, Berlin (CEST, +2)
        // 07:00–15:30, Bangalore (IST, +5:30) 03:30–12:00. No slot suits all three; Berlin and
        // Bangalore share 07:00–12:00, where the slot that asks SF for the least is the last
        // one: 11:15–12:00 UTC is 04:15–05:00 in SF, 4 h 45 before their 09:00.
        let slots = find_slots(
            &team(),
            &query("2026-06-16T00:00:00Z", "2026-06-17T00:00:00Z", 45),
        )
        .unwrap();
        let best = &slots[0];
        assert_eq!(best.start, utc("2026-06-16T11:15:00Z"));
        assert_eq!(best.end, utc("2026-06-16T12:00:00Z"));
        assert_eq!(best.inside, vec![BERLIN, BANGALORE]);
        assert_eq!(
            best.outside,
            vec![Outside {
                participant: SF,
                minutes: 285
            }]
        );
        assert_eq!(best.minutes_outside, 285);
        // The next best do not overlap it and are no better.
        assert_eq!(slots.len(), 3);
        for s in &slots[1..] {
            assert!(s.end <= best.start || s.start >= best.end);
            assert!(s.inside.len() <= 2);
            assert!(s.inside.len() < 2 || s.minutes_outside >= 285);
        }
        // The second: still Berlin and Bangalore, the latest slot that does not overlap.
        assert_eq!(slots[1].start, utc("2026-06-16T10:30:00Z"));
        assert_eq!(slots[1].outside[0].minutes, 330);
    }

    #[test]
    fn the_end_of_a_working_day_counts_as_late() {
        // Berlin ends 15:30 UTC in summer; 15:15–16:00 runs 30 minutes late for Berlin and
        // starts 45 minutes early for SF; Bangalore stopped at 12:00 UTC (4 h before 16:00).
        let team = team();
        let q = SlotQuery {
            limit: MAX_SLOTS,
            step_minutes: 15,
            ..query("2026-06-16T15:15:00Z", "2026-06-16T16:00:00Z", 45)
        };
        let slots = find_slots(&team, &q).unwrap();
        assert_eq!(slots.len(), 1);
        let s = &slots[0];
        assert!(s.inside.is_empty());
        assert_eq!(
            s.outside,
            vec![
                Outside {
                    participant: BANGALORE,
                    minutes: 240
                },
                Outside {
                    participant: SF,
                    minutes: 45
                },
                Outside {
                    participant: BERLIN,
                    minutes: 30
                },
            ]
        );
        assert_eq!(s.minutes_outside, 315);
    }

    #[test]
    fn dst_gap_weeks_let_san_francisco_and_berlin_meet_for_half_an_hour() {
        // US clocks moved on 8 March 2026, Europe's only on 29 March: on Monday 9 March SF is
        // UTC−7 (16:00–00:30 UTC) and Berlin still UTC+1 (08:00–16:30 UTC), so 16:00–16:30 UTC
        // suits both.
        let team = &team()[..2];
        let slots = find_slots(
            team,
            &query("2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z", 30),
        )
        .unwrap();
        assert_eq!(slots[0].start, utc("2026-03-09T16:00:00Z"));
        assert_eq!(slots[0].inside, vec![SF, BERLIN]);
        assert!(slots[0].outside.is_empty());
        assert_eq!(slots[0].minutes_outside, 0);

        // On Monday 30 March both are on summer time: nine hours apart, no common half hour.
        // Best are one-inside slots asking the other for an hour: 15:00–15:30 (Berlin in, SF
        // an hour early) before 16:00–16:30 (SF in, Berlin an hour late), earliest first.
        let slots = find_slots(
            team,
            &query("2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", 30),
        )
        .unwrap();
        assert_eq!(slots[0].start, utc("2026-03-30T15:00:00Z"));
        assert_eq!(slots[0].inside, vec![BERLIN]);
        assert_eq!(slots[0].outside[0].minutes, 60);
        assert_eq!(slots[1].start, utc("2026-03-30T16:00:00Z"));
        assert_eq!(slots[1].inside, vec![SF]);
        assert_eq!(slots[1].outside[0].minutes, 60);
    }

    #[test]
    fn berlin_hours_move_in_utc_across_the_transition_weekend() {
        let berlin = &team()[1].hours;
        let tz = berlin.validate().unwrap();
        let iv = berlin.intervals(
            &tz,
            utc("2026-03-27T00:00:00Z"),
            utc("2026-03-30T23:00:00Z"),
        );
        // Friday 27 March on CET, no weekend shifts, Monday 30 March on CEST.
        assert!(iv.contains(&(utc("2026-03-27T08:00:00Z"), utc("2026-03-27T16:30:00Z"))));
        assert!(iv.contains(&(utc("2026-03-30T07:00:00Z"), utc("2026-03-30T15:30:00Z"))));
        assert!(!iv
            .iter()
            .any(|&(a, _)| a >= utc("2026-03-28T00:00:00Z") && a < utc("2026-03-30T00:00:00Z")));
    }

    #[test]
    fn weekends_point_to_the_nearest_working_day_and_night_shifts_cross_midnight() {
        // Saturday: nobody works; each member's distance is to Friday's end or Monday's start.
        let slots = find_slots(
            &team(),
            &query("2026-06-20T11:00:00Z", "2026-06-20T12:00:00Z", 60),
        )
        .unwrap();
        assert!(slots[0].inside.is_empty());
        // Berlin stopped Friday 15:30 UTC: Saturday 12:00 UTC is 20 h 30 later.
        let berlin = slots[0]
            .outside
            .iter()
            .find(|o| o.participant == BERLIN)
            .unwrap();
        assert_eq!(berlin.minutes, 20 * 60 + 30);

        // A Bangalore night shift 22:00–06:00 (16:30–00:30 UTC) holds a 7-hour slot from
        // Monday 17:00 to Tuesday 00:00 UTC: 22:30–05:30 local, across local midnight.
        let night = vec![member(BANGALORE, "Asia/Kolkata", 22 * 60, 6 * 60)];
        let slots = find_slots(
            &night,
            &query("2026-06-15T17:00:00Z", "2026-06-16T00:00:00Z", 7 * 60),
        )
        .unwrap();
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].inside, vec![BANGALORE]);
    }

    #[test]
    fn the_nearest_interval_shortcut_agrees_with_a_scan_of_all_intervals() {
        let mut members = team();
        members.push(member(
            ParticipantId(Uuid::from_u128(4)),
            "Asia/Kolkata",
            22 * 60,
            6 * 60,
        ));
        let from = utc("2026-03-25T00:00:00Z");
        let to = utc("2026-04-02T00:00:00Z");
        let hours: Vec<_> = members
            .iter()
            .map(|m| {
                let tz = m.hours.validate().unwrap();
                (
                    m.participant,
                    m.hours.intervals(&tz, from - 8 * 1440 * MINUTE, to),
                )
            })
            .collect();
        let mut start = from;
        while start < to - 45 * MINUTE {
            let end = start + 45 * MINUTE;
            let slot = slot_at(&hours, start, end);
            for (p, iv) in &hours {
                let scan = iv
                    .iter()
                    .map(|&(a, b)| (a - start).max(0) + (end - b).max(0))
                    .min()
                    .unwrap();
                let got = slot
                    .outside
                    .iter()
                    .find(|o| o.participant == *p)
                    .map_or(0, |o| o.minutes as i64 * MINUTE);
                assert_eq!(got, (scan + MINUTE - 1) / MINUTE * MINUTE, "{p} at {start}");
            }
            start += 35 * MINUTE;
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let q = query("2026-06-16T00:00:00Z", "2026-06-17T00:00:00Z", 45);
        let bad_zone = vec![member(SF, "Mars/Olympus", 540, 1050)];
        assert_eq!(
            find_slots(&bad_zone, &q),
            Err(SlotError::UnknownTimeZone("Mars/Olympus".into()))
        );
        assert!(time_zone("../etc/passwd").is_err());
        assert!(time_zone("Europe/Berlin").is_ok());
        assert!(time_zone("UTC").is_ok());
        let bad_hours = vec![member(SF, "UTC", 540, 540)];
        assert_eq!(find_slots(&bad_hours, &q), Err(SlotError::BadHours));
        let mut no_days = member(SF, "UTC", 540, 600);
        no_days.hours.days.clear();
        assert_eq!(find_slots(&[no_days], &q), Err(SlotError::NoDays));
        assert_eq!(
            find_slots(&team(), &SlotQuery { to: q.from, ..q }),
            Err(SlotError::BadWindow)
        );
        assert_eq!(
            find_slots(&team(), &SlotQuery { minutes: 0, ..q }),
            Err(SlotError::BadLength)
        );
        assert_eq!(
            find_slots(
                &team(),
                &SlotQuery {
                    step_minutes: 7,
                    ..q
                }
            ),
            Err(SlotError::BadStep)
        );
        // A window shorter than the slot proposes nothing.
        let short = query("2026-06-16T10:00:00Z", "2026-06-16T10:30:00Z", 45);
        assert_eq!(find_slots(&team(), &short), Ok(Vec::new()));
    }
}
