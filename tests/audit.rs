//! The audit report: a scripted planning (clock and randomness injected) against a golden
//! Markdown file; redaction over HTTP vs the operator's CLI; formula-safe CSV.

mod common;

use common::server::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::{
    AdoptGoalSuggestion, AgreeEstimates, AmendGoal, CastVote, ChangePhase, CheckReadiness,
    CommitScope, CreatePlanning, DeclareCapacity, DraftGoal, DraftScope, FlipCoin, Join, OpenRound,
    PostComment, ProposeItem, ResolveQuestion, RevealVotes, Revote, SetDefinitionOfReady, SetFocus,
    SetVelocity, StartTimer, SuggestGoal,
};
use sprintlog::domain::command::{AgreedEstimate, Command};
use sprintlog::domain::event::{CommentKind, Event, ItemDraft};
use sprintlog::domain::fixed::Fixed2;
use sprintlog::domain::{decide, Context, ParticipantId, Phase, State};
use sprintlog::engine::auth::hash_secret;
use sprintlog::store::{AppendRequest, EventStore, NewEvent};
use std::sync::Arc;
use uuid::Uuid;

const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

struct Script {
    state: State,
    rng: StdRng,
    now: i64,
    n: u128,
    store: Arc<dyn EventStore>,
    head: i64,
}

impl Script {
    async fn run(&mut self, actor: ParticipantId, cmd: Command) -> Vec<Event> {
        self.now += 60_000_000;
        let events = {
            let mut ctx = Context {
                actor,
                now: self.now,
                rng: &mut self.rng,
                max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
            };
            decide(&self.state, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
        };
        let planning = self
            .state
            .planning
            .or(match &events[0] {
                Event::PlanningCreated { planning, .. } => Some(*planning),
                _ => None,
            })
            .unwrap();
        let new: Vec<NewEvent> = events
            .iter()
            .map(|e| {
                self.n += 1;
                let (kind, version, payload) = e.encode();
                NewEvent {
                    event_id: Uuid::from_u128(self.n),
                    kind: kind.into(),
                    version,
                    payload,
                }
            })
            .collect();
        let a = self
            .store
            .append(AppendRequest {
                planning_id: planning.0,
                expected_seq: self.head,
                actor: actor.0,
                client_op_id: format!("op{}", self.n),
                command_hash: format!("h{}", self.n),
                recorded_at: self.now,
                events: new,
                jobs: Vec::new(),
            })
            .await
            .unwrap();
        self.head = a.last_seq;
        for e in &events {
            self.state.apply(e);
        }
        events
    }
}

fn draft(title: &str, key: Option<&str>) -> ItemDraft {
    ItemDraft {
        title: title.into(),
        acceptance_criteria: vec!["works".into()],
        external_key: key.map(str::to_string),
        ..ItemDraft::default()
    }
}

/// Plays a small planning; returns (planning id, facilitator token).
async fn scripted(store: Arc<dyn EventStore>) -> (String, String) {
    let fac = ParticipantId(Uuid::from_u128(1));
    let ann = ParticipantId(Uuid::from_u128(2));
    let bob = ParticipantId(Uuid::from_u128(3));
    let token = "facilitator-token".to_string();
    let mut s = Script {
        state: State::default(),
        rng: StdRng::seed_from_u64(7),
        now: T0,
        n: 100,
        store,
        head: 0,
    };
    s.run(
        fac,
        Command::CreatePlanning(CreatePlanning {
            title: "Sprint 7".into(),
            creator_name: "Fran".into(),
            creator_token_hash: hash_secret(&token),
            deck: None,
            policy: None,
            member_invite_hash: hash_secret("member"),
            observer_invite_hash: hash_secret("observer"),
        }),
    )
    .await;
    for (who, name) in [(ann, "Ann"), (bob, "Bob")] {
        s.run(
            who,
            Command::Join(Join {
                name: name.into(),
                invite_hash: hash_secret("member"),
                token_hash: hash_secret(name),
            }),
        )
        .await;
    }
    s.run(
        fac,
        Command::DraftGoal(DraftGoal {
            text: "Ship login".into(),
        }),
    )
    .await;
    s.run(
        fac,
        Command::SetDefinitionOfReady(SetDefinitionOfReady {
            criteria: vec!["AC written".into()],
        }),
    )
    .await;
    s.run(fac, Command::ChangePhase(ChangePhase { to: Phase::Async }))
        .await;
    let mut ids = Vec::new();
    for (t, k) in [
        ("Login form", Some("PRJ-1")),
        ("=Password reset", None),
        ("Audit log", None),
    ] {
        let ev = s
            .run(
                fac,
                Command::ProposeItem(ProposeItem { draft: draft(t, k) }),
            )
            .await;
        if let Event::ItemProposed { item, .. } = &ev[0] {
            ids.push(*item);
        }
    }
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let criterion = s.state.definition_of_ready[0].id;
    s.run(
        ann,
        Command::CheckReadiness(CheckReadiness {
            item: a,
            criterion,
            ok: true,
            note: None,
        }),
    )
    .await;
    let q = s
        .run(
            ann,
            Command::PostComment(PostComment {
                item: Some(a),
                kind: CommentKind::Question,
                parent: None,
                addressee: Some(fac),
                text: "Which providers?".into(),
            }),
        )
        .await;
    let Event::CommentPosted { comment: q, .. } = q[0].clone() else {
        panic!()
    };
    s.run(
        fac,
        Command::PostComment(PostComment {
            item: Some(a),
            kind: CommentKind::Answer,
            parent: Some(q),
            addressee: None,
            text: "Email only".into(),
        }),
    )
    .await;
    s.run(
        ann,
        Command::ResolveQuestion(ResolveQuestion { comment: q }),
    )
    .await;
    for who in [ann, bob] {
        s.run(
            who,
            Command::DeclareCapacity(DeclareCapacity {
                participant: None,
                available_days: Fixed2::from_int(8),
                focus_factor: Fixed2::from_hundredths(80),
                notes: None,
            }),
        )
        .await;
    }
    s.run(
        fac,
        Command::SetVelocity(SetVelocity {
            points_per_day: Fixed2::ONE,
        }),
    )
    .await;
    let ev = s
        .run(
            fac,
            Command::OpenRound(OpenRound {
                items: vec![a, b, c],
                deck: None,
                deadline: Some(T0 + 86_400_000_000),
            }),
        )
        .await;
    let Event::RoundOpened { round, .. } = ev[0].clone() else {
        panic!()
    };
    for (who, item, card) in [
        (ann, a, "3"),
        (bob, a, "3"),
        (ann, b, "2"),
        (bob, b, "13"),
        (ann, c, "?"),
        (bob, c, "5"),
    ] {
        s.run(
            who,
            Command::CastVote(CastVote {
                round,
                item,
                card: card.into(),
            }),
        )
        .await;
    }
    s.run(
        fac,
        Command::AgreeEstimates(AgreeEstimates {
            estimates: vec![AgreedEstimate {
                item: a,
                card: "3".into(),
            }],
        }),
    )
    .await;
    // The session starts on "Audit log" (`?` first); the room moves to the reset, time-boxed.
    s.run(fac, Command::StartSync).await;
    s.run(fac, Command::SetFocus(SetFocus { item: Some(b) }))
        .await;
    s.run(
        fac,
        Command::StartTimer(StartTimer {
            item: b,
            seconds: 300,
        }),
    )
    .await;
    s.run(fac, Command::RevealVotes(RevealVotes { round, item: b }))
        .await;
    let ev = s
        .run(
            fac,
            Command::Revote(Revote {
                previous: round,
                items: vec![b],
                deadline: None,
            }),
        )
        .await;
    let Event::RevoteOpened { round: r2, .. } = ev[0].clone() else {
        panic!()
    };
    s.run(
        ann,
        Command::CastVote(CastVote {
            round: r2,
            item: b,
            card: "5".into(),
        }),
    )
    .await;
    s.run(
        bob,
        Command::CastVote(CastVote {
            round: r2,
            item: b,
            card: "5".into(),
        }),
    )
    .await;
    s.run(
        fac,
        Command::AgreeEstimates(AgreeEstimates {
            estimates: vec![AgreedEstimate {
                item: b,
                card: "5".into(),
            }],
        }),
    )
    .await;
    s.run(
        fac,
        Command::FlipCoin(FlipCoin {
            question: "Demo on Friday?".into(),
            options: vec!["yes".into(), "no".into()],
        }),
    )
    .await;
    s.run(fac, Command::DraftScope(DraftScope { items: vec![a, b] }))
        .await;
    let ev = s
        .run(
            ann,
            Command::SuggestGoal(SuggestGoal {
                text: "Ship login and password reset".into(),
            }),
        )
        .await;
    let Event::GoalSuggested { suggestion, .. } = ev[0].clone() else {
        panic!()
    };
    s.run(
        fac,
        Command::AdoptGoalSuggestion(AdoptGoalSuggestion { suggestion }),
    )
    .await;
    s.run(
        fac,
        Command::AmendGoal(AmendGoal {
            text: "Ship login and reset".into(),
            note: Some("after sync".into()),
        }),
    )
    .await;
    s.run(
        fac,
        Command::CommitScope(CommitScope {
            items: vec![a, b],
            confirm_over_capacity: false,
        }),
    )
    .await;
    (s.state.planning.unwrap().to_string(), token)
}

#[tokio::test]
async fn golden_audit_markdown_and_redaction() {
    let db = common::fresh_sqlite();
    let store = sprintlog::store::open(&db.url).await.unwrap();
    let (planning, token) = scripted(store.clone()).await;
    let md = sprintlog::engine::replay::audit(
        &*store,
        planning.parse().unwrap(),
        sprintlog::read::audit::Audience::Participant,
        "md",
    )
    .await
    .unwrap()
    .unwrap();
    let golden_path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/audit.md");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(golden_path, &md).unwrap();
    }
    let golden = std::fs::read_to_string(golden_path).expect("golden file");
    assert_eq!(
        md, golden,
        "audit Markdown changed; UPDATE_GOLDEN=1 to accept"
    );
    // What the rule did is the rule's, not the last voter's (Bob's vote closed the round).
    for rule_made in [
        "sprintlog: flagged for the live session by the divergence rule (spread)",
        "sprintlog: votes revealed as the round closed: Ann 3, Bob 3",
        "sprintlog: estimate 5 proposed (the median)",
    ] {
        assert!(md.contains(rule_made), "{rule_made}");
    }
    for credited_to_voter in ["Bob: flagged", "Bob: votes revealed", "Bob: estimate"] {
        assert!(!md.contains(credited_to_voter), "{credited_to_voter}");
    }
    // Sealed votes on "Audit log" (flagged unsure, never revealed) stay sealed for participants.
    assert!(md.contains("2 votes, sealed"));
    store.close().await;

    // Over HTTP: the same report, for a participant.
    let t = TestServer::start(Backend::Shared(db.url.clone())).await;
    let resp = t
        .http
        .get(format!(
            "{}/api/plannings/{planning}/audit?format=md",
            t.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), golden);
    let csv = t
        .http
        .get(format!(
            "{}/api/plannings/{planning}/audit?format=csv",
            t.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("item,title,outcome,seq,time,actor,step\n"));
    assert!(csv.contains(",'=Password reset,"), "formula escaped: {csv}");
    let (status, json) = t
        .get(&format!("/api/plannings/{planning}/audit"), Some(&token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(json["items"][0]["outcome"], "committed");
    assert_eq!(json["items"][2]["outcome"], "dropped");
    let (status, _) = t
        .get(
            &format!("/api/plannings/{planning}/audit?format=pdf"),
            Some(&token),
        )
        .await;
    assert_eq!(status, 400);

    // The operator's CLI sees the sealed values.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sprintlog"))
        .args([
            "--database-url",
            &db.url,
            "audit",
            &planning,
            "--format",
            "md",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli = String::from_utf8(out.stdout).unwrap();
    assert!(cli.contains("sealed: Ann ?, Bob 5"), "{cli}");
}
