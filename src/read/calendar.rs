//! Calendar entries (RFC 5545 `.ics`): the live session and the estimation deadline of a
//! planning, for one participant, in their own time zone.
//!
//! Times are written as local times with a `TZID` and a `VTIMEZONE` built from the tz
//! database for the span the entries need (every transition from the one in force at the
//! first entry to a year after the last), so calendar apps that follow the RFC (Outlook,
//! Apple Calendar, Thunderbird) and those that read the IANA name (Google) agree. A participant
//! without a zone gets UTC times. Each entry keeps its UID for the planning's life, and its
//! `SEQUENCE` is how often the schedule moved it, so a calendar that imported or subscribed
//! to it updates the entry instead of adding a second one.

use crate::domain::event::Micros;
use crate::domain::ids::{ParticipantId, PlanningId};
use crate::domain::state::State;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// Default length of the live session when the schedule has none (as `SetSchedule` resolves).
const SYNC_MINUTES: u32 = 45;
/// How far past the last entry the `VTIMEZONE` reaches (a calendar may show the entry moved).
const ZONE_SPAN_MICROS: i64 = 366 * 24 * 3600 * 1_000_000;

/// The `.ics` of `planning` for `participant` (their zone, if they set one), stamped `now`;
/// `planning_url` is the planning's page in the web client.
pub fn ics(
    planning: PlanningId,
    state: &State,
    participant: ParticipantId,
    planning_url: &str,
    now: Micros,
) -> String {
    let zone = state
        .participants
        .get(&participant)
        .and_then(|p| p.time_zone.as_deref())
        .and_then(|name| TimeZone::get(name).ok().map(|tz| (name, tz)));
    let schedule = &state.schedule;
    let title = &state.title;
    let mut entries = Vec::new();
    if let Some(start) = schedule.sync_start {
        let minutes = i64::from(schedule.sync_minutes.unwrap_or(SYNC_MINUTES));
        entries.push(Entry {
            uid: format!("sync-{planning}@sprintlog"),
            sequence: state.calendar_revisions.sync,
            start,
            end: Some(start.saturating_add(minutes * 60_000_000)),
            summary: format!("{title}: live planning session"),
            description: format!(
                "The live session of the planning \"{title}\": the items the team's \
                 estimates disagree on are discussed and the sprint's scope is committed.\n\
                 Open the planning: {planning_url}"
            ),
            busy: true,
        });
    }
    if let Some(at) = schedule.estimation_deadline {
        entries.push(Entry {
            uid: format!("deadline-{planning}@sprintlog"),
            sequence: state.calendar_revisions.deadline,
            start: at,
            end: None,
            summary: format!("{title}: estimates due"),
            description: format!(
                "Cast your estimates for the planning \"{title}\" before this time.\n\
                 Open the planning: {planning_url}"
            ),
            busy: false,
        });
    }
    let mut out = Lines::default();
    out.line("BEGIN:VCALENDAR");
    out.line("VERSION:2.0");
    out.line("PRODID:-//sprintlog//sprintlog//EN");
    out.line("CALSCALE:GREGORIAN");
    out.line("METHOD:PUBLISH");
    out.line(&format!("X-WR-CALNAME:{}", text(title)));
    if let Some((name, tz)) = &zone {
        out.line(&format!("X-WR-TIMEZONE:{name}"));
        if let (Some(first), Some(last)) = (
            entries.iter().map(|e| e.start).min(),
            entries.iter().map(|e| e.end.unwrap_or(e.start)).max(),
        ) {
            vtimezone(
                &mut out,
                name,
                tz,
                first,
                last.saturating_add(ZONE_SPAN_MICROS),
            );
        }
    }
    let zone = zone.as_ref().map(|(name, tz)| (*name, tz));
    for e in &entries {
        e.write(&mut out, zone, now, planning_url);
    }
    out.line("END:VCALENDAR");
    out.0
}

/// One `VEVENT`.
struct Entry {
    uid: String,
    sequence: u32,
    start: Micros,
    end: Option<Micros>,
    summary: String,
    description: String,
    /// Blocks time (the session) or not (a deadline is a moment, not a meeting).
    busy: bool,
}

impl Entry {
    fn write(&self, out: &mut Lines, zone: Option<(&str, &TimeZone)>, now: Micros, url: &str) {
        out.line("BEGIN:VEVENT");
        out.line(&format!("UID:{}", self.uid));
        out.line(&format!("DTSTAMP:{}", utc(now)));
        out.line(&format!("SEQUENCE:{}", self.sequence));
        out.line(&format!("DTSTART{}", when(self.start, zone)));
        if let Some(end) = self.end {
            out.line(&format!("DTEND{}", when(end, zone)));
        }
        out.line(&format!("SUMMARY:{}", text(&self.summary)));
        out.line(&format!("DESCRIPTION:{}", text(&self.description)));
        out.line(&format!("URL:{url}"));
        out.line(if self.busy {
            "TRANSP:OPAQUE"
        } else {
            "TRANSP:TRANSPARENT"
        });
        out.line("STATUS:CONFIRMED");
        out.line("END:VEVENT");
    }
}

/// `;TZID=<zone>:<local>` or `:<utc>Z`.
fn when(at: Micros, zone: Option<(&str, &TimeZone)>) -> String {
    match zone {
        Some((name, tz)) => {
            let offset = tz.to_offset(timestamp(at));
            format!(";TZID={name}:{}", local(at, offset))
        }
        None => format!(":{}", utc(at)),
    }
}

/// The `VTIMEZONE` of `tz` from the observance in force at `from` to the last transition
/// before `to`: each transition an observance of its own (`DTSTART` is its onset in the local
/// time before it, as RFC 5545 says).
fn vtimezone(out: &mut Lines, name: &str, tz: &TimeZone, from: Micros, to: Micros) {
    out.line("BEGIN:VTIMEZONE");
    out.line(&format!("TZID:{name}"));
    let from_ts = timestamp(from);
    let first = tz
        .preceding(
            from_ts
                .checked_add(jiff::SignedDuration::from_secs(1))
                .unwrap_or(from_ts),
        )
        .next();
    let mut transitions: Vec<_> = first.into_iter().collect();
    transitions.extend(
        tz.following(from_ts)
            .take_while(|t| t.timestamp() <= timestamp(to))
            .take(64),
    );
    if transitions.is_empty() {
        // A zone that never changed: one observance since the epoch.
        let info = tz.to_offset_info(from_ts);
        observance(
            out,
            info.dst().is_dst(),
            "19700101T000000",
            info.offset(),
            info.offset(),
            info.abbreviation(),
        );
    }
    for t in transitions {
        let before = tz.to_offset(
            t.timestamp()
                .checked_sub(jiff::SignedDuration::from_secs(1))
                .unwrap_or(t.timestamp()),
        );
        let onset = before.to_datetime(t.timestamp());
        observance(
            out,
            t.dst().is_dst(),
            &onset.strftime("%Y%m%dT%H%M%S").to_string(),
            before,
            t.offset(),
            t.abbreviation(),
        );
    }
    out.line("END:VTIMEZONE");
}

fn observance(out: &mut Lines, dst: bool, onset: &str, from: Offset, to: Offset, abbr: &str) {
    let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
    out.line(&format!("BEGIN:{kind}"));
    out.line(&format!("DTSTART:{onset}"));
    out.line(&format!("TZOFFSETFROM:{}", utc_offset(from)));
    out.line(&format!("TZOFFSETTO:{}", utc_offset(to)));
    if !abbr.is_empty() {
        out.line(&format!("TZNAME:{}", text(abbr)));
    }
    out.line(&format!("END:{kind}"));
}

fn timestamp(at: Micros) -> Timestamp {
    Timestamp::from_microsecond(at).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `YYYYMMDDTHHMMSSZ`.
fn utc(at: Micros) -> String {
    format!("{}Z", local(at, Offset::UTC))
}

/// `YYYYMMDDTHHMMSS` at `offset`.
fn local(at: Micros, offset: Offset) -> String {
    offset
        .to_datetime(timestamp(at))
        .strftime("%Y%m%dT%H%M%S")
        .to_string()
}

/// `±HHMM`, or `±HHMMSS` for the odd historical offset.
fn utc_offset(offset: Offset) -> String {
    let total = offset.seconds();
    let sign = if total < 0 { '-' } else { '+' };
    let s = total.unsigned_abs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{sec:02}")
    }
}

/// A TEXT value: backslash, `;`, `,` and newlines escaped (RFC 5545 §3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Content lines ended by CRLF and folded at 75 octets, never inside a character
/// (RFC 5545 §3.1).
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, line: &str) {
        let mut width = 0;
        for c in line.chars() {
            let len = c.len_utf8();
            if width + len > 75 {
                self.0.push_str("\r\n ");
                width = 1;
            }
            self.0.push(c);
            width += len;
        }
        self.0.push_str("\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let mut l = Lines::default();
        let long = format!("SUMMARY:{}", "é".repeat(60));
        l.line(&long);
        for physical in l.0.split("\r\n").filter(|s| !s.is_empty()) {
            assert!(physical.len() <= 75, "{physical:?}");
        }
        assert_eq!(l.0.replace("\r\n ", ""), format!("{long}\r\n"));
    }

    #[test]
    fn text_values_are_escaped() {
        assert_eq!(text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
    }

    #[test]
    fn offsets_are_written_as_rfc_5545_utc_offsets() {
        assert_eq!(utc_offset(Offset::from_seconds(19_800).unwrap()), "+0530");
        assert_eq!(utc_offset(Offset::from_seconds(-25_200).unwrap()), "-0700");
        assert_eq!(
            utc_offset(Offset::from_seconds(-17_762).unwrap()),
            "-045602"
        );
    }
}
