//! Domain benchmarks: `decide` + `apply` per command, and a projection rebuild from
//! 10k events (`State::replay`). Run with `cargo bench --bench domain`; `cargo test` does not
//! run them, `cargo clippy --all-targets` checks they compile.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::Command;
use sprintlog::domain::command::{
    CastVote, ChangePhase, CreatePlanning, Join, OpenRound, PostComment, ProposeItem,
};
use sprintlog::domain::event::{CommentKind, ItemDraft};
use sprintlog::domain::{decide, Context, Event, ItemId, ParticipantId, Phase, RoundId, State};
use uuid::Uuid;

const T0: i64 = 1_704_067_200_000_000;
const HOUR: i64 = 3_600_000_000;

struct Planning {
    state: State,
    events: Vec<Event>,
    rng: StdRng,
    fac: ParticipantId,
    members: Vec<ParticipantId>,
    item: ItemId,
    round: RoundId,
}

fn hash(n: u64) -> String {
    format!("{n:064x}")
}

fn run(
    state: &mut State,
    events: &mut Vec<Event>,
    rng: &mut StdRng,
    actor: ParticipantId,
    cmd: Command,
) {
    let mut ctx = Context {
        actor,
        now: T0,
        rng,
        max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
    };
    let out = decide(state, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?}: {e:?}"));
    for e in &out {
        state.apply(e);
    }
    events.extend(out);
}

/// A planning in `async` with `members` members, one item and an open round on it.
fn planning(members: usize) -> Planning {
    let mut state = State::default();
    let mut events = Vec::new();
    let mut rng = StdRng::seed_from_u64(7);
    let fac = ParticipantId(Uuid::from_u128(1));
    run(
        &mut state,
        &mut events,
        &mut rng,
        fac,
        Command::CreatePlanning(CreatePlanning {
            title: "Bench".into(),
            creator_name: "Fay".into(),
            creator_token_hash: hash(1),
            deck: None,
            policy: None,
            member_invite_hash: hash(2),
            observer_invite_hash: hash(3),
        }),
    );
    let mut ids = Vec::new();
    for i in 0..members {
        let id = ParticipantId(Uuid::from_u128(100 + i as u128));
        run(
            &mut state,
            &mut events,
            &mut rng,
            id,
            Command::Join(Join {
                name: format!("m{i}"),
                invite_hash: hash(2),
                token_hash: hash(1000 + i as u64),
            }),
        );
        ids.push(id);
    }
    run(
        &mut state,
        &mut events,
        &mut rng,
        fac,
        Command::ProposeItem(ProposeItem {
            draft: ItemDraft {
                title: "Login page".into(),
                ..ItemDraft::default()
            },
        }),
    );
    let item = match events.last() {
        Some(Event::ItemProposed { item, .. }) => *item,
        other => panic!("{other:?}"),
    };
    run(
        &mut state,
        &mut events,
        &mut rng,
        fac,
        Command::ChangePhase(ChangePhase { to: Phase::Async }),
    );
    run(
        &mut state,
        &mut events,
        &mut rng,
        fac,
        Command::OpenRound(OpenRound {
            items: vec![item],
            deck: None,
            deadline: Some(T0 + HOUR),
        }),
    );
    let round = match events.last() {
        Some(Event::RoundOpened { round, .. }) => *round,
        other => panic!("{other:?}"),
    };
    Planning {
        state,
        events,
        rng,
        fac,
        members: ids,
        item,
        round,
    }
}

fn vote(p: &Planning, i: usize) -> (ParticipantId, Command) {
    let card = if i.is_multiple_of(2) { "5" } else { "8" };
    // Half the members only: a round closes by itself once every member has voted.
    (
        p.members[i % (p.members.len() / 2).max(1)],
        Command::CastVote(CastVote {
            round: p.round,
            item: p.item,
            card: card.into(),
        }),
    )
}

fn decide_apply(c: &mut Criterion) {
    let mut p = planning(10);
    let mut i = 0usize;
    c.bench_function("decide+apply CastVote (10 members)", |b| {
        b.iter(|| {
            let (actor, cmd) = vote(&p, i);
            i += 1;
            let mut ctx = Context {
                actor,
                now: T0,
                rng: &mut p.rng,
                max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
            };
            let events = decide(&p.state, black_box(&cmd), &mut ctx).expect("vote");
            for e in &events {
                p.state.apply(e);
            }
            black_box(events);
        })
    });
}

/// 10,000 events: the setup, then votes (cast and changed) and comments, alternating.
fn ten_thousand() -> Vec<Event> {
    let mut p = planning(10);
    let fac = p.fac;
    let mut i = 0usize;
    while p.events.len() < 10_000 {
        let (actor, cmd) = if i.is_multiple_of(2) {
            vote(&p, i / 2)
        } else {
            (
                fac,
                Command::PostComment(PostComment {
                    item: Some(p.item),
                    kind: CommentKind::Comment,
                    parent: None,
                    addressee: None,
                    text: format!("Comment {i}: what about the error states?"),
                }),
            )
        };
        run(&mut p.state, &mut p.events, &mut p.rng, actor, cmd);
        i += 1;
    }
    p.events.truncate(10_000);
    p.events
}

fn replay(c: &mut Criterion) {
    let events = ten_thousand();
    c.bench_function("State::replay 10k events", |b| {
        b.iter(|| State::replay(black_box(&events)))
    });
}

criterion_group!(benches, decide_apply, replay);
criterion_main!(benches);
