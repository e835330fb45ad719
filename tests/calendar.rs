//! The calendar over a real server: each participant's `.ics` of the live session and the
//! estimation deadline, read back by an independent RFC 5545 parser (the `icalendar` crate),
//! in three zones across daylight-saving changes; the same UIDs with a higher SEQUENCE when
//! the schedule moves; the subscription link that needs no token.

mod common;

use common::server::*;
use icalendar::parser::{read_calendar, unfold, Component};
use serde_json::json;

/// 2027-03-12T17:00:00Z, a Friday: Los Angeles still on PST (DST starts there on the 14th).
const DEADLINE: i64 = 1_804_870_800_000_000;
/// 2027-03-15T17:00:00Z, the Monday after: Los Angeles on PDT, Berlin still on CET.
const SYNC: i64 = 1_805_130_000_000_000;
/// 2027-03-29T16:00:00Z: Berlin on CEST since the 28th.
const SYNC_MOVED: i64 = 1_806_336_000_000_000;
const SECOND: i64 = 1_000_000;

/// One participant's zone, and the local times (written by hand from the zones' rules, not by
/// the code under test) their calendar must show.
struct Expect {
    zone: &'static str,
    deadline: &'static str,
    sync: &'static str,
    sync_end: &'static str,
    sync_moved: &'static str,
}

const ZONES: [Expect; 3] = [
    Expect {
        zone: "America/Los_Angeles",
        deadline: "20270312T090000", // PST, UTC-8
        sync: "20270315T100000",     // PDT, UTC-7
        sync_end: "20270315T104500",
        sync_moved: "20270329T090000",
    },
    Expect {
        zone: "Europe/Berlin",
        deadline: "20270312T180000", // CET, UTC+1
        sync: "20270315T180000",
        sync_end: "20270315T184500",
        sync_moved: "20270329T180000", // CEST, UTC+2
    },
    Expect {
        zone: "Asia/Kolkata",
        deadline: "20270312T223000", // IST, UTC+5:30, no DST
        sync: "20270315T223000",
        sync_end: "20270315T231500",
        sync_moved: "20270329T213000",
    },
];

// ---------------------------------------------------------------- reading an .ics back

fn prop<'a>(c: &'a Component<'a>, name: &str) -> Option<&'a icalendar::parser::Property<'a>> {
    c.properties.iter().find(|p| p.name.as_str() == name)
}

fn val(c: &Component<'_>, name: &str) -> String {
    prop(c, name)
        .map(|p| p.val.as_str().to_string())
        .unwrap_or_else(|| panic!("no {name} in {}", c.name.as_str()))
}

fn param(c: &Component<'_>, name: &str, key: &str) -> Option<String> {
    prop(c, name)?
        .params
        .iter()
        .find(|p| p.key.as_str() == key)
        .and_then(|p| p.val.as_ref().map(|v| v.as_str().to_string()))
}

/// Seconds of a `YYYYMMDDTHHMMSS` wall time read as if it were UTC.
fn wall(s: &str) -> i64 {
    let civil =
        jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", s).unwrap_or_else(|e| panic!("{s}: {e}"));
    jiff::tz::Offset::UTC
        .to_timestamp(civil)
        .unwrap()
        .as_second()
}

/// `±HHMM[SS]` in seconds.
fn offset(s: &str) -> i64 {
    let sign = if s.starts_with('-') { -1 } else { 1 };
    let d = &s[1..];
    let h: i64 = d[0..2].parse().unwrap();
    let m: i64 = d[2..4].parse().unwrap();
    let sec: i64 = d.get(4..6).map_or(0, |x| x.parse().unwrap());
    sign * (h * 3600 + m * 60 + sec)
}

/// The UTC second of a local time in the file's own VTIMEZONE: the observance in force is the
/// last one whose onset is not after the time.
fn resolve(vtimezone: &Component<'_>, local: &str) -> i64 {
    let mut onsets: Vec<(i64, i64)> = vtimezone
        .components
        .iter()
        .map(|o| {
            assert!(
                matches!(o.name.as_str(), "STANDARD" | "DAYLIGHT"),
                "{}",
                o.name.as_str()
            );
            let from = offset(&val(o, "TZOFFSETFROM"));
            let to = offset(&val(o, "TZOFFSETTO"));
            (wall(&val(o, "DTSTART")) - from, to)
        })
        .collect();
    onsets.sort();
    let w = wall(local);
    let mut found = None;
    for (onset, to) in onsets {
        if onset <= w - to {
            found = Some(w - to);
        }
    }
    found.unwrap_or_else(|| panic!("no observance covers {local}"))
}

struct Parsed {
    text: String,
}

/// The calendar as the parser reads it: its own properties, its components, and its events.
struct Root<'a> {
    properties: &'a [icalendar::parser::Property<'a>],
    components: &'a [Component<'a>],
}

impl Parsed {
    fn with<T>(&self, f: impl FnOnce(&Root<'_>, Vec<&Component<'_>>) -> T) -> T {
        let unfolded = unfold(&self.text);
        let cal = read_calendar(&unfolded).unwrap_or_else(|e| panic!("{e}\n{}", self.text));
        // `read_calendar` hands the VCALENDAR's own properties and components at the top.
        let root = Root {
            properties: &cal.properties,
            components: &cal.components,
        };
        assert!(!root.properties.is_empty(), "no VCALENDAR in {}", self.text);
        let events = root
            .components
            .iter()
            .filter(|c| c.name.as_str() == "VEVENT")
            .collect();
        f(&root, events)
    }
}

fn root_val(root: &Root<'_>, name: &str) -> Option<String> {
    root.properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.val.as_str().to_string())
}

fn event<'a>(events: &[&'a Component<'a>], uid_prefix: &str) -> &'a Component<'a> {
    events
        .iter()
        .find(|e| val(e, "UID").starts_with(uid_prefix))
        .unwrap_or_else(|| panic!("no {uid_prefix} event"))
}

// ---------------------------------------------------------------- helpers

async fn ics(t: &TestServer, planning: &str, token: &str) -> Parsed {
    let resp = t
        .http
        .get(format!("{}/api/plannings/{planning}/calendar.ics", t.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/calendar"), "{ct}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("END:VCALENDAR\r\n"), "{text}");
    assert!(
        text.split("\r\n").all(|l| l.len() <= 75),
        "lines folded at 75 octets: {text}"
    );
    Parsed { text }
}

async fn set_schedule(t: &TestServer, c: &Created, sync: i64) {
    t.ok(
        &c.planning,
        &c.token,
        json!({"type": "SetSchedule", "schedule": {
            "sprint_start": SYNC_MOVED + 7 * 24 * 3600 * SECOND,
            "candidates_shared_at": DEADLINE - 2 * 24 * 3600 * SECOND,
            "estimation_deadline": DEADLINE,
            "sync_start": sync,
            "sync_minutes": 45,
            "reminder_minutes": 0,
        }}),
    )
    .await;
}

// ---------------------------------------------------------------- tests

/// Three people in three zones each get the live session and the deadline in their own zone,
/// with a VTIMEZONE that maps those local times back to the scheduled instants on both sides
/// of a daylight-saving change; moving the sync keeps the UIDs and raises its SEQUENCE only.
#[tokio::test]
async fn each_participant_gets_the_schedule_in_their_zone_across_dst() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 12; Q1, \"big\"").await;
    let mut tokens = vec![c.token.clone()];
    for name in ["Ann", "Ravi"] {
        tokens.push(t.join(&c.planning, &c.member_invite, name).await.1);
    }
    for (token, z) in tokens.iter().zip(&ZONES) {
        t.ok(
            &c.planning,
            token,
            json!({"type": "SetTimeZone", "time_zone": z.zone}),
        )
        .await;
    }
    set_schedule(&t, &c, SYNC).await;

    let mut first_sequences = Vec::new();
    for (token, z) in tokens.iter().zip(&ZONES) {
        let cal = ics(&t, &c.planning, token).await;
        assert!(!cal.text.contains(token.as_str()), "token in the calendar");
        assert!(cal.text.contains("SUMMARY:Sprint 12\\; Q1\\, \"big\""));
        let seqs = cal.with(|root, events| {
            assert_eq!(root_val(root, "VERSION").as_deref(), Some("2.0"));
            assert!(root_val(root, "PRODID").is_some());
            let tz = root
                .components
                .iter()
                .find(|x| x.name.as_str() == "VTIMEZONE")
                .expect("a VTIMEZONE");
            assert_eq!(val(tz, "TZID"), z.zone);
            assert_eq!(events.len(), 2);

            let sync = event(&events, "sync-");
            let due = event(&events, "deadline-");
            assert_eq!(val(sync, "UID"), format!("sync-{}@sprintlog", c.planning));
            for (e, local, at) in [(sync, z.sync, SYNC), (due, z.deadline, DEADLINE)] {
                assert_eq!(param(e, "DTSTART", "TZID").as_deref(), Some(z.zone));
                assert_eq!(val(e, "DTSTART"), local, "{}", z.zone);
                assert_eq!(resolve(tz, &val(e, "DTSTART")), at / SECOND, "{}", z.zone);
                assert!(val(e, "DTSTAMP").ends_with('Z'));
                assert!(val(e, "URL").contains(&c.planning));
            }
            assert_eq!(val(sync, "DTEND"), z.sync_end);
            assert_eq!(
                resolve(tz, &val(sync, "DTEND")),
                (SYNC + 45 * 60 * SECOND) / SECOND
            );
            // The title's `;`, `,` and quotes survive as text (escaped in the file, read back
            // as written).
            assert_eq!(
                val(sync, "SUMMARY"),
                "Sprint 12; Q1, \"big\": live planning session"
            );
            assert_eq!(val(due, "TRANSP"), "TRANSPARENT");
            (
                val(sync, "SEQUENCE").parse::<u32>().unwrap(),
                val(due, "SEQUENCE").parse::<u32>().unwrap(),
            )
        });
        first_sequences.push(seqs);
    }

    // The sync moves past Berlin's change to summer time: same UIDs, the sync's SEQUENCE up,
    // the deadline's (unchanged) not.
    set_schedule(&t, &c, SYNC_MOVED).await;
    for ((token, z), (sync_seq, due_seq)) in tokens.iter().zip(&ZONES).zip(first_sequences) {
        let cal = ics(&t, &c.planning, token).await;
        cal.with(|root, events| {
            let tz = root
                .components
                .iter()
                .find(|x| x.name.as_str() == "VTIMEZONE")
                .unwrap();
            let sync = event(&events, &format!("sync-{}", c.planning));
            let due = event(&events, &format!("deadline-{}", c.planning));
            assert_eq!(val(sync, "DTSTART"), z.sync_moved, "{}", z.zone);
            assert_eq!(resolve(tz, z.sync_moved), SYNC_MOVED / SECOND, "{}", z.zone);
            assert_eq!(resolve(tz, z.deadline), DEADLINE / SECOND, "{}", z.zone);
            assert!(val(sync, "SEQUENCE").parse::<u32>().unwrap() > sync_seq);
            assert_eq!(val(due, "SEQUENCE").parse::<u32>().unwrap(), due_seq);
        });
    }
}

/// Someone without a time zone gets UTC times; the subscription link works without a token,
/// a wrong key or none at all is refused, and reissuing the personal link retires the key.
#[tokio::test]
async fn the_subscription_link_opens_one_calendar_without_the_token() {
    let t = TestServer::start(sqlite()).await;
    let c = t.create("Sprint 7").await;
    set_schedule(&t, &c, SYNC).await;
    let (status, links) = t
        .get(
            &format!("/api/plannings/{}/calendar", c.planning),
            Some(&c.token),
        )
        .await;
    assert_eq!(status, 200, "{links}");
    let url = links["ics"].as_str().unwrap().to_string();
    assert!(!url.contains(&c.token), "{url}");
    assert!(links["webcal"].as_str().unwrap().starts_with("webcal://"));
    let resp = reqwest::get(&url).await.unwrap();
    assert_eq!(resp.status(), 200);
    let cal = Parsed {
        text: resp.text().await.unwrap(),
    };
    cal.with(|root, events| {
        assert!(root
            .components
            .iter()
            .all(|x| x.name.as_str() != "VTIMEZONE"));
        let sync = event(&events, "sync-");
        assert_eq!(val(sync, "DTSTART"), "20270315T170000Z");
        assert_eq!(param(sync, "DTSTART", "TZID"), None);
    });

    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        tampered
    };
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 401);
    let bare = url.split('?').next().unwrap();
    assert_eq!(reqwest::get(bare).await.unwrap().status(), 401);

    // A reissued personal link retires the calendar key too.
    let (ann, ann_token) = t.join(&c.planning, &c.member_invite, "Ann").await;
    let (_, ann_links) = t
        .get(
            &format!("/api/plannings/{}/calendar", c.planning),
            Some(&ann_token),
        )
        .await;
    let ann_url = ann_links["ics"].as_str().unwrap().to_string();
    assert_ne!(ann_url, url);
    assert_eq!(reqwest::get(&ann_url).await.unwrap().status(), 200);
    let (status, body) = t
        .post(
            &format!("/api/plannings/{}/participants/{ann}/link", c.planning),
            Some(&c.token),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reqwest::get(&ann_url).await.unwrap().status(), 401);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
}
