//! The fuzz harness, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, included with
//! `#[path]`) and their proptest twins in `tests/fuzz.rs`, so both run the same checks:
//!
//! - [`ws_frame`]: a websocket text frame is decoded as the connection loop does;
//! - [`rest_command`]: a `POST …/commands` body is decoded as the route does;
//! - [`decide_sequence`]: bytes drive a sequence of commands (valid templates over a planning
//!   with people, items, an open round, a question, then mutated: fields replaced by hostile
//!   values, removed, or added) decided by arbitrary actors at arbitrary times; accepted events
//!   must apply and survive the event codec unchanged.
//!
//! Nothing may panic; that is the property. Any input that did becomes a regression test.

#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use sprintlog::domain::command::Command;
use sprintlog::domain::{decide, Context, Event, ParticipantId, State};
use sprintlog::http::api::{check_op, CommandBody};
use sprintlog::ws::protocol::ClientMsg;
use uuid::Uuid;

/// 2026-01-05 09:00 UTC, in microseconds.
pub const T0: i64 = 1_767_603_600_000_000;

/// Reads choices from fuzz bytes; zeros once they run out (so every input is complete).
pub struct Choices<'a> {
    data: &'a [u8],
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data }
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let v = u16::from_le_bytes([self.byte(), self.byte()]) as usize;
        v % n
    }

    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// A websocket frame: decoding never panics, and a decoded frame re-encodes.
pub fn ws_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the websocket layer refuses non-UTF-8 text frames before us
    };
    if let Ok(msg) = sprintlog::http::plain::json::<ClientMsg>(text.as_bytes(), "the frame") {
        let again = serde_json::to_string(&msg).expect("a decoded frame re-encodes");
        assert!(!again.is_empty());
        if let ClientMsg::Command { op, .. } = &msg {
            let _ = check_op(op);
        }
    }
}

/// A REST command body: decoding never panics.
pub fn rest_command(data: &[u8]) {
    // Through the server's own reading, whose refusals are worded from serde's messages.
    if let Ok(body) = sprintlog::http::plain::json::<CommandBody>(data, "the body") {
        let _ = check_op(&body.client_op_id);
        let _ = serde_json::to_string(&body.command).expect("a decoded command re-encodes");
    }
}

/// The planning the commands run against, and the ids templates refer to.
pub struct Fixture {
    pub state: State,
    /// Facilitator, two members, an observer, a stranger, the system.
    pub people: Vec<ParticipantId>,
    pub items: Vec<String>,
    pub round: String,
    pub question: String,
    pub criterion: String,
}

fn hash(n: u8) -> String {
    format!("{n:064x}")
}

fn pid(n: u128) -> ParticipantId {
    ParticipantId(Uuid::from_u128(n))
}

/// Builds the fixture by deciding commands (so it is a state the server could reach).
pub fn fixture() -> Fixture {
    let mut rng = StdRng::seed_from_u64(7);
    let mut state = State::default();
    let (fac, ann, bob, olga) = (pid(1), pid(2), pid(3), pid(4));
    let mut events = Vec::new();
    let mut run = |state: &mut State, events: &mut Vec<Event>, actor, cmd: Value| {
        let cmd: Command = serde_json::from_value(cmd).expect("fixture command decodes");
        let mut ctx = Context {
            actor,
            now: T0,
            rng: &mut rng,
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
        };
        let out = decide(state, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        for e in &out {
            state.apply(e);
        }
        events.extend(out);
    };
    run(
        &mut state,
        &mut events,
        fac,
        json!({"type": "CreatePlanning", "title": "Fuzz", "creator_name": "Fran",
            "creator_token_hash": hash(1), "member_invite_hash": hash(2),
            "observer_invite_hash": hash(3)}),
    );
    for (who, name, invite, token) in [(ann, "Ann", 2, 4), (bob, "Bob", 2, 5), (olga, "Olga", 3, 6)]
    {
        run(
            &mut state,
            &mut events,
            who,
            json!({"type": "Join", "name": name, "invite_hash": hash(invite), "token_hash": hash(token)}),
        );
    }
    for i in 0..4 {
        run(
            &mut state,
            &mut events,
            fac,
            json!({"type": "ProposeItem", "draft": {"title": format!("Item {i}"),
                "acceptance_criteria": ["works"], "labels": ["l"]}}),
        );
    }
    run(
        &mut state,
        &mut events,
        fac,
        json!({"type": "SetDefinitionOfReady", "criteria": ["Has criteria"]}),
    );
    run(
        &mut state,
        &mut events,
        fac,
        json!({"type": "DraftGoal", "text": "Ship it"}),
    );
    run(
        &mut state,
        &mut events,
        fac,
        json!({"type": "ChangePhase", "to": "async"}),
    );
    let items: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::ItemProposed { item, .. } => Some(item.to_string()),
            _ => None,
        })
        .collect();
    run(
        &mut state,
        &mut events,
        ann,
        json!({"type": "PostComment", "item": items[0], "kind": "question", "text": "Why?"}),
    );
    run(
        &mut state,
        &mut events,
        fac,
        json!({"type": "OpenRound", "items": [items[0], items[1]]}),
    );
    let round = round_of(&events);
    run(
        &mut state,
        &mut events,
        ann,
        json!({"type": "CastVote", "round": round, "item": items[0], "card": "3"}),
    );
    let question = events
        .iter()
        .find_map(|e| match e {
            Event::CommentPosted { comment, .. } => Some(comment.to_string()),
            _ => None,
        })
        .expect("a question");
    let criterion = events
        .iter()
        .find_map(|e| match e {
            Event::DefinitionOfReadySet { criteria, .. } => criteria
                .first()
                .map(|c| serde_json::to_value(c).unwrap()["id"].to_string()),
            _ => None,
        })
        .expect("a criterion")
        .trim_matches('"')
        .to_string();
    Fixture {
        state,
        people: vec![fac, ann, bob, olga, pid(99), ParticipantId::SYSTEM],
        items,
        round,
        question,
        criterion,
    }
}

fn round_of(events: &[Event]) -> String {
    events
        .iter()
        .rev()
        .find_map(|e| match e {
            Event::RoundOpened { round, .. } => Some(round.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// One valid-looking command of every type, over the fixture's ids.
pub fn templates(f: &Fixture) -> Vec<Value> {
    let (i0, i1, i2, i3) = (&f.items[0], &f.items[1], &f.items[2], &f.items[3]);
    let (r, q, c) = (&f.round, &f.question, &f.criterion);
    let ann = f.people[1].to_string();
    let bob = f.people[2].to_string();
    vec![
        json!({"type": "Join", "name": "Zed", "invite_hash": hash(2), "token_hash": hash(9)}),
        json!({"type": "Rename", "name": "New name"}),
        json!({"type": "ChangeRole", "participant": bob, "role": "observer"}),
        json!({"type": "RemoveParticipant", "participant": bob}),
        json!({"type": "RotateInvite", "role": "member", "invite_hash": hash(10)}),
        json!({"type": "ReissueLink", "participant": ann, "token_hash": hash(11), "revoke_previous": true}),
        json!({"type": "SetTimeZone", "time_zone": "Europe/Berlin", "work_start_minute": 540,
            "work_end_minute": 1020, "work_days": ["mon", "tue"]}),
        json!({"type": "ChangePhase", "to": "sync"}),
        json!({"type": "SetSchedule", "schedule": {"sprint_start": T0, "sprint_end": T0 + 14 * 86_400_000_000i64,
            "candidates_shared_at": null, "estimation_deadline": T0 + 86_400_000_000i64,
            "sync_start": T0 + 2 * 86_400_000_000i64, "sync_minutes": 45}}),
        json!({"type": "FollowSchedule", "to": "sync"}),
        json!({"type": "SetPolicy", "policy": {"divergence": {"spread_steps": 2, "flag_unsure": true,
            "quorum_percent": 50}, "batch_size": 6, "default_deadline_minutes": 60, "point_table": {"3": 3.0},
            "auto_reveal": false}}),
        json!({"type": "DraftGoal", "text": "Goal"}),
        json!({"type": "AmendGoal", "text": "Goal 2", "note": "why"}),
        json!({"type": "CommitGoal"}),
        json!({"type": "ProposeItem", "draft": {"title": "New", "description": "d",
            "dependencies": [i0], "external_key": "K-1"}}),
        json!({"type": "EditItem", "item": i2, "patch": {"title": "Renamed", "labels": ["x"]}}),
        json!({"type": "WithdrawItem", "item": i3, "reason": "dup"}),
        json!({"type": "ImportItems", "items": [{"title": "a"}, {"title": "b"}], "source": "csv"}),
        json!({"type": "RankItems", "order": [i3, i2, i1, i0]}),
        json!({"type": "PostComment", "item": i1, "kind": "comment", "parent": q, "addressee": ann, "text": "hi"}),
        json!({"type": "EditComment", "comment": q, "text": "Why not?"}),
        json!({"type": "DeleteComment", "comment": q}),
        json!({"type": "ResolveQuestion", "comment": q}),
        json!({"type": "CheckReadiness", "item": i2, "criterion": c, "ok": true, "note": "n"}),
        json!({"type": "SetDefinitionOfReady", "criteria": ["a", "b"]}),
        json!({"type": "OverrideReadiness", "item": i2, "reason": "urgent"}),
        json!({"type": "DeclareCapacity", "available_days": 8.5, "focus_factor": 0.7, "notes": "n"}),
        json!({"type": "SetVelocity", "points_per_day": 1.5}),
        json!({"type": "OpenRound", "items": [i2], "deadline": T0 + 3_600_000_000i64}),
        json!({"type": "CastVote", "round": r, "item": i1, "card": "5"}),
        json!({"type": "WithdrawVote", "round": r, "item": i0}),
        json!({"type": "CloseRound", "round": r}),
        json!({"type": "RevealVotes", "round": r, "item": i0}),
        json!({"type": "FlagItem", "item": i0, "note": "talk"}),
        json!({"type": "ClearFlag", "item": i0}),
        json!({"type": "SendToAgenda", "item": i2, "note": "live"}),
        json!({"type": "AgreeEstimates", "estimates": [{"item": i2, "card": "3"}]}),
        json!({"type": "Revote", "previous": r, "items": [i0]}),
        json!({"type": "StartSync"}),
        json!({"type": "SetAgenda", "items": [i0, i1]}),
        json!({"type": "FlipCoin", "question": "Who?", "options": ["a", "b"]}),
        json!({"type": "EndSync"}),
        json!({"type": "CommitScope", "items": [i2], "confirm_over_capacity": true}),
        json!({"type": "RegisterWebhook", "url": "https://hooks.example.com/x", "events": ["ScopeCommitted"]}),
        json!({"type": "RemoveWebhook", "webhook": Uuid::from_u128(5).to_string()}),
        json!({"type": "RecordReminder", "participant": ann, "round": r}),
        json!({"type": "RemindVoters", "round": r}),
        json!({"type": "CarryOverItems", "from_planning": Uuid::from_u128(6).to_string(), "items": []}),
        json!({"type": "SetFocus", "item": i1}),
        json!({"type": "StartTimer", "item": i1, "seconds": 300}),
        json!({"type": "ExtendTimer", "seconds": 60}),
        json!({"type": "StopTimer"}),
        json!({"type": "ReturnToRefinement", "item": i3, "note": "split"}),
        json!({"type": "DraftScope", "items": [i2]}),
        json!({"type": "SuggestGoal", "text": "Ship it all"}),
        json!({"type": "AdoptGoalSuggestion", "suggestion": Uuid::from_u128(7).to_string()}),
    ]
}

/// A hostile value for a field.
fn hostile(ch: &mut Choices, f: &Fixture) -> Value {
    match ch.below(24) {
        0 => Value::Null,
        1 => json!(i64::MAX),
        2 => json!(i64::MIN),
        3 => json!(u64::MAX),
        4 => json!(-1),
        5 => json!(0),
        6 => json!(1e308),
        7 => json!(-1e308),
        8 => json!(0.001),
        9 => json!(""),
        10 => json!("x".repeat(ch.below(30_000))),
        11 => json!("\u{0}\u{7}\n\t\u{202e}é☕?"),
        12 => json!(Uuid::from_u128(ch.u64() as u128).to_string()),
        13 => json!(f.items[ch.below(f.items.len())]),
        14 => json!(f.people[ch.below(f.people.len())].to_string()),
        15 => json!(f.round),
        16 => json!(f.question),
        17 => json!([]),
        18 => json!(vec![f.items[0].clone(); ch.below(2_000)]),
        19 => json!({}),
        20 => json!(true),
        21 => json!(["3", "½", "?", "☕", "100"][ch.below(5)]),
        22 => json!(T0 + (ch.u64() % 10_000_000_000_000) as i64),
        _ => json!(ch.u64() as i64),
    }
}

/// Replaces, removes or adds one field somewhere in `v`.
fn mutate(v: &mut Value, ch: &mut Choices, f: &Fixture) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[ch.below(keys.len())].clone();
            match ch.below(8) {
                0 if key != "type" => {
                    map.remove(&key);
                }
                1 => {
                    map.insert("surprise".into(), hostile(ch, f));
                }
                2 | 3 => {
                    if let Some(inner) = map.get_mut(&key) {
                        mutate(inner, ch, f);
                    }
                }
                _ => {
                    map.insert(key, hostile(ch, f));
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = ch.below(items.len());
            if ch.below(2) == 0 {
                mutate(&mut items[i], ch, f);
            } else {
                items[i] = hostile(ch, f);
            }
        }
        other => *other = hostile(ch, f),
    }
}

/// Decides up to 16 commands chosen (and mutated) by `data` against the fixture, applying
/// what is accepted. Returns (accepted, refused, undecodable) for coverage reports.
pub fn decide_sequence(f: &Fixture, templates: &[Value], data: &[u8]) -> (usize, usize, usize) {
    let mut ch = Choices::new(data);
    let mut state = f.state.clone();
    let mut rng = StdRng::seed_from_u64(ch.u64());
    let mut now = T0;
    let mut counts = (0, 0, 0);
    for _ in 0..16 {
        if ch.is_empty() {
            break;
        }
        // Half the commands come from the facilitator and half are sent as they are, so
        // sequences get deep into the planning instead of stopping at the first refusal.
        let actor = match ch.below(2) {
            0 => f.people[0],
            _ => f.people[ch.below(f.people.len())],
        };
        let mut cmd = templates[ch.below(templates.len())].clone();
        let mutations = match ch.below(4) {
            0 | 1 => 0,
            _ => 1 + ch.below(3),
        };
        for _ in 0..mutations {
            mutate(&mut cmd, &mut ch, f);
        }
        // Time moves forward mostly, sometimes by a year, sometimes back a little, sometimes
        // anywhere (the server's clock: never before 1970).
        now = match ch.below(8) {
            0 => now.saturating_add((ch.u64() % (400 * 86_400_000_000)) as i64),
            1 => now
                .saturating_sub((ch.u64() % 86_400_000_000) as i64)
                .max(0),
            2 => (ch.u64() >> 1) as i64,
            _ => now.saturating_add((ch.u64() % 3_600_000_000) as i64),
        };
        let Ok(command) = serde_json::from_value::<Command>(cmd) else {
            counts.2 += 1;
            continue;
        };
        let mut ctx = Context {
            actor,
            now,
            rng: &mut rng,
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
        };
        match decide(&state, &command, &mut ctx) {
            Ok(events) => {
                counts.0 += 1;
                for e in &events {
                    let (kind, version, payload) = e.encode();
                    let back = Event::decode(kind, version, &payload)
                        .unwrap_or_else(|err| panic!("{kind} does not decode: {err}\n{payload}"));
                    assert_eq!(&back, e, "{kind} changes through the codec");
                    state.apply(e);
                }
            }
            Err(e) => {
                counts.1 += 1;
                assert!(!e.code().is_empty());
                let _ = e.to_string();
            }
        }
    }
    counts
}
