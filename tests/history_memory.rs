//! What a planning's history of rounds holds in memory (issue 22: a room of 100 members with a
//! reveal every 10 votes held ~260 KiB per connection, its closed rounds held twice).
//!
//! A counting allocator measures the live bytes a `State` grows by per closed round, built
//! through the real commands (`decide`, then `apply`), and a snapshot written by the state's
//! earlier representation must still load and serialise the same.

use rand::rngs::StdRng;
use rand::SeedableRng;
use sprintlog::domain::command::{
    CastVote, ChangePhase, CloseRound, Command, CreatePlanning, Join, OpenRound, ProposeItem,
    WithdrawVote,
};
use sprintlog::domain::deck::Deck;
use sprintlog::domain::event::ItemDraft;
use sprintlog::domain::{decide, Context, Event, ItemId, ParticipantId, Phase, RoundId, State};
use sprintlog::read::view::state_view;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use uuid::Uuid;

/// Counts the bytes allocated and not yet freed, as asked (not as the allocator rounds them).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The tests of this binary run one at a time: the counter is global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const T0: i64 = 1_704_067_200_000_000;
const MINUTE: i64 = 60_000_000;

fn hash(n: u64) -> String {
    format!("{n:064x}")
}

/// A planning driven through the rules, keeping only its state (the events are dropped, as a
/// room's writer drops them once appended).
struct Planning {
    state: State,
    rng: StdRng,
    now: i64,
    fac: ParticipantId,
    members: Vec<ParticipantId>,
    item: ItemId,
}

impl Planning {
    fn run(&mut self, actor: ParticipantId, cmd: Command) -> Vec<Event> {
        self.now += 1_000;
        let mut ctx = Context {
            actor,
            now: self.now,
            rng: &mut self.rng,
            max_participants: 10_000,
        };
        let events =
            decide(&self.state, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?} refused: {e}"));
        for e in &events {
            self.state.apply(e);
        }
        events
    }

    /// A planning with `members` members and one item, in the live session when `live`.
    fn new(members: usize, live: bool) -> Self {
        let fac = ParticipantId(Uuid::from_u128(1));
        let mut p = Planning {
            state: State::default(),
            rng: StdRng::seed_from_u64(22),
            now: T0,
            fac,
            members: Vec::new(),
            item: ItemId(Uuid::nil()),
        };
        p.run(
            fac,
            Command::CreatePlanning(CreatePlanning {
                title: "Sprint 22".into(),
                creator_name: "Fay".into(),
                creator_token_hash: hash(1),
                deck: None,
                policy: None,
                member_invite_hash: hash(2),
                observer_invite_hash: hash(3),
            }),
        );
        let draft = ItemDraft {
            title: "Load item".into(),
            ..ItemDraft::default()
        };
        p.item = match p.run(fac, Command::ProposeItem(ProposeItem { draft }))[0] {
            Event::ItemProposed { item, .. } => item,
            ref e => panic!("{e:?}"),
        };
        p.run(fac, Command::ChangePhase(ChangePhase { to: Phase::Async }));
        for n in 0..members {
            let id = ParticipantId(Uuid::from_u128(100 + n as u128));
            let join = Join {
                name: format!("Member {n}"),
                invite_hash: hash(2),
                token_hash: hash(1000 + n as u64),
            };
            p.run(id, Command::Join(join));
            p.members.push(id);
        }
        if live {
            p.run(fac, Command::StartSync);
        }
        p
    }

    fn open(&mut self, items: Vec<ItemId>, deck: Option<Deck>) -> RoundId {
        let deadline = Some(self.now + 60 * MINUTE);
        let open = OpenRound {
            items,
            deck,
            deadline,
        };
        match self.run(self.fac, Command::OpenRound(open))[0] {
            Event::RoundOpened { round, .. } => round,
            ref e => panic!("{e:?}"),
        }
    }

    fn vote(&mut self, voter: ParticipantId, round: RoundId, item: ItemId, card: &str) {
        let card = card.to_string();
        self.run(voter, Command::CastVote(CastVote { round, item, card }));
    }

    fn close(&mut self, round: RoundId) {
        self.run(self.fac, Command::CloseRound(CloseRound { round }));
    }

    /// One reveal cycle of the load tool's room: a round on the item, `votes` votes, the
    /// facilitator's close (which reveals them in the live session). `voters` members cast
    /// them in turn (1: one member changing their card, as `compare` streams).
    fn cycle(&mut self, votes: usize, voters: usize) {
        const CARDS: [&str; 8] = ["0", "1", "2", "3", "5", "8", "13", "21"];
        let item = self.item;
        let round = self.open(vec![item], None);
        for v in 0..votes {
            let voter = self.members[v % voters];
            self.vote(voter, round, item, CARDS[v % CARDS.len()]);
        }
        self.close(round);
    }
}

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes the state grows by per closed round over `cycles` reveal cycles of 10 votes by
/// `voters` members, in a room of 100.
fn bytes_per_round(voters: usize, cycles: usize) -> isize {
    let mut p = Planning::new(100, true);
    p.cycle(10, voters); // the first round's one-off allocations
    let before = live_bytes();
    for _ in 0..cycles {
        p.cycle(10, voters);
    }
    let grown = live_bytes() - before;
    assert_eq!(p.state.rounds.len(), cycles + 1);
    assert!(p.state.rounds.values().all(|r| r.revealed.len() == 1));
    grown / cycles as isize
}

/// The bound a closed round of the load tool's room keeps to. The representation where every
/// round held its own deck, one-entry B-tree maps and a heap string per card and nonce took
/// ~2,700 bytes for one voter and ~4,300 for ten.
const ONE_VOTER_BOUND: isize = 700;
const TEN_VOTERS_BOUND: isize = 1_500;

#[test]
fn a_closed_round_is_compact() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let one = bytes_per_round(1, 1_000);
    let ten = bytes_per_round(10, 1_000);
    eprintln!("bytes per closed round: one voter {one}, ten voters {ten}");
    assert!(one <= ONE_VOTER_BOUND, "one voter: {one} bytes per round");
    assert!(ten <= TEN_VOTERS_BOUND, "ten voters: {ten} bytes per round");
}

/// A planning touching every part of a round's record: sealed and revealed votes, a withdrawn
/// vote, a custom deck, async and live rounds, special cards.
fn varied_planning() -> State {
    let mut p = Planning::new(4, false);
    let second = ItemDraft {
        title: "Second".into(),
        ..ItemDraft::default()
    };
    let other = match p.run(p.fac, Command::ProposeItem(ProposeItem { draft: second }))[0] {
        Event::ItemProposed { item, .. } => item,
        ref e => panic!("{e:?}"),
    };
    let (item, m) = (p.item, p.members.clone());
    // Async: the first item converges and is revealed, the second diverges and stays sealed.
    let round = p.open(vec![item, other], None);
    for (voter, a, b) in [(m[0], "3", "1"), (m[1], "3", "21"), (m[2], "5", "?")] {
        p.vote(voter, round, item, a);
        p.vote(voter, round, other, b);
    }
    p.vote(m[3], round, item, "☕");
    let withdraw = WithdrawVote { round, item };
    p.run(m[3], Command::WithdrawVote(withdraw));
    p.close(round);
    // A custom deck, live.
    p.run(p.fac, Command::StartSync);
    let round = p.open(vec![other], Some(Deck::t_shirt()));
    for (voter, card) in [(m[0], "S"), (m[1], "XL"), (m[2], "M")] {
        p.vote(voter, round, other, card);
    }
    p.close(round);
    for _ in 0..3 {
        p.cycle(10, 3);
    }
    // A round still open, with a vote in.
    let round = p.open(vec![item], None);
    p.vote(m[1], round, item, "8");
    p.state
}

const SNAPSHOT: &str = include_str!("golden/history_state.json");

/// A snapshot of the state as main's representation wrote it (`golden/history_state.json`,
/// written before rounds were made compact) loads into the same state, gives the same views,
/// and the state serialises to the very same JSON.
#[test]
fn an_earlier_snapshot_loads_and_serialises_the_same() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let state = varied_planning();
    let written = serde_json::to_string_pretty(&state).unwrap() + "\n";
    if std::env::var_os("SPRINTLOG_WRITE_HISTORY_SNAPSHOT").is_some() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/golden/history_state.json"
        );
        std::fs::write(path, &written).unwrap();
    }
    assert_eq!(written, SNAPSHOT, "the state's JSON changed");
    let loaded: State = serde_json::from_str(SNAPSHOT).unwrap();
    assert_eq!(loaded, state);
    let viewers = [
        None,
        Some(state.participants.keys().next().copied().unwrap()),
    ]
    .into_iter()
    .chain(state.participants.keys().copied().map(Some));
    for viewer in viewers {
        let a = serde_json::to_value(state_view(&state, viewer)).unwrap();
        let b = serde_json::to_value(state_view(&loaded, viewer)).unwrap();
        assert_eq!(a, b, "the view of {viewer:?}");
    }
    assert_eq!(
        serde_json::to_string_pretty(&loaded).unwrap() + "\n",
        SNAPSHOT
    );
}
