//! Property tests of the replay claim: random valid-ish command sequences fold live to the state
//! that a replay (also of encoded and decoded events) reaches, and the generator reaches every
//! event type.

mod common;

use common::domain::{hash, DAY, HOUR, MINUTE, T0};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sprintlog::domain::command::{
    AdoptGoalSuggestion, AgreeEstimates, AmendGoal, CarryOverItems, CastVote, ChangePhase,
    ChangeRole, CheckReadiness, ClearFlag, CloseRound, CommitScope, CreatePlanning,
    DeclareCapacity, DeleteComment, DraftGoal, DraftScope, EditComment, EditItem, ExtendTimer,
    FlagItem, FlipCoin, FollowSchedule, ImportItems, Join, OpenRound, OverrideReadiness,
    PostComment, ProposeItem, RankItems, RecordReminder, RegisterWebhook, ReissueLink,
    RemindVoters, RemoveParticipant, RemoveWebhook, Rename, ResolveQuestion, RestoreItem,
    ReturnToRefinement, RevealVotes, Revote, RotateInvite, SendToAgenda, SetAgenda,
    SetDefinitionOfReady, SetFocus, SetPolicy, SetSchedule, SetTimeZone, SetVelocity, StartTimer,
    SuggestGoal, WithdrawItem, WithdrawVote,
};
use sprintlog::domain::command::{AgreedEstimate, Command};
use sprintlog::domain::deck::{Deck, PAUSE, UNSURE};
use sprintlog::domain::event::{
    CommentKind, ItemDraft, ItemPatch, NewItem, Policy, Schedule, WebhookFormat, EVENT_KINDS,
};
use sprintlog::domain::fixed::Fixed2;
use sprintlog::domain::slots::WorkDay;
use sprintlog::domain::state::{Item, Round};
use sprintlog::domain::{
    decide, CommentId, Context, CriterionId, Event, ItemId, ParticipantId, Phase, PlanningId, Role,
    RoundId, State, SuggestionId, WebhookId,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

const SYSTEM: ParticipantId = ParticipantId::SYSTEM;

/// A run of the generator: the live fold and everything it produced.
struct Run {
    state: State,
    events: Vec<Event>,
    now: i64,
    next_id: u128,
    /// Commands decided, accepted and rejected.
    accepted: usize,
    rejected: usize,
    /// Rejections by command type and error code (to tune the generator).
    rejections: BTreeMap<(String, &'static str), usize>,
}

impl Run {
    fn new() -> Self {
        Run {
            state: State::default(),
            events: Vec::new(),
            now: T0,
            next_id: 1_000,
            accepted: 0,
            rejected: 0,
            rejections: BTreeMap::new(),
        }
    }

    fn fresh(&mut self) -> Uuid {
        self.next_id += 1;
        Uuid::from_u128(self.next_id)
    }

    /// One step: pick a command from the state with an rng seeded by `choice`, decide it with
    /// the same rng, and apply what it yields.
    fn step(&mut self, choice: u64) {
        let mut g = StdRng::seed_from_u64(choice);
        // Time moves: mostly minutes, sometimes hours or days (so deadlines pass).
        self.now += match g.gen_range(0..100) {
            0..=91 => g.gen_range(0..5 * MINUTE),
            92..=97 => g.gen_range(HOUR..12 * HOUR),
            _ => g.gen_range(DAY..3 * DAY),
        };
        let (actor, cmd) = self.pick(&mut g);
        let before = self.state.clone();
        let mut ctx = Context {
            actor,
            now: self.now,
            rng: &mut g,
            max_participants: sprintlog::domain::decide::limits::PARTICIPANTS,
        };
        match decide(&self.state, &cmd, &mut ctx) {
            Ok(events) => {
                assert!(!events.is_empty(), "{cmd:?} decided to nothing");
                for e in &events {
                    self.state.apply(e);
                }
                self.events.extend(events);
                self.accepted += 1;
            }
            Err(e) => {
                *self.rejections.entry((cmd.kind(), e.code())).or_default() += 1;
                // (c) a rejected command never changed state.
                assert_eq!(self.state, before, "rejected {cmd:?} changed the state");
                self.rejected += 1;
            }
        }
    }

    // ---- picking from the state ----

    fn people(&self, pred: impl Fn(Role) -> bool) -> Vec<ParticipantId> {
        self.state
            .participants
            .values()
            .filter(|p| !p.removed && pred(p.role))
            .map(|p| p.id)
            .collect()
    }

    /// Mostly someone with one of the roles, sometimes anyone (or nobody valid).
    fn actor(&mut self, g: &mut StdRng, roles: &[Role]) -> ParticipantId {
        let fitting = self.people(|r| roles.contains(&r));
        match g.gen_range(0..100) {
            0..=89 if !fitting.is_empty() => fitting[g.gen_range(0..fitting.len())],
            0..=95 => {
                let all: Vec<ParticipantId> = self.state.participants.keys().copied().collect();
                if all.is_empty() {
                    SYSTEM
                } else {
                    all[g.gen_range(0..all.len())]
                }
            }
            96..=97 => SYSTEM,
            _ => ParticipantId(self.fresh()),
        }
    }

    fn fac(&mut self, g: &mut StdRng) -> ParticipantId {
        self.actor(g, &[Role::Facilitator])
    }

    fn any_participant(&mut self, g: &mut StdRng) -> ParticipantId {
        let all: Vec<ParticipantId> = self.state.participants.keys().copied().collect();
        if all.is_empty() || g.gen_bool(0.05) {
            ParticipantId(self.fresh())
        } else {
            all[g.gen_range(0..all.len())]
        }
    }

    fn items_where(&self, pred: impl Fn(&Item) -> bool) -> Vec<ItemId> {
        self.state
            .items
            .values()
            .filter(|i| pred(i))
            .map(|i| i.id)
            .collect()
    }

    /// An item matching `pred` most of the time, else any item or an unknown one.
    fn item(&mut self, g: &mut StdRng, pred: impl Fn(&Item) -> bool) -> ItemId {
        let fitting = self.items_where(pred);
        if !fitting.is_empty() && g.gen_bool(0.9) {
            return fitting[g.gen_range(0..fitting.len())];
        }
        let all = self.items_where(|_| true);
        if !all.is_empty() && g.gen_bool(0.8) {
            return all[g.gen_range(0..all.len())];
        }
        ItemId(self.fresh())
    }

    fn live_item(&mut self, g: &mut StdRng) -> ItemId {
        self.item(g, |i| !i.withdrawn)
    }

    fn rounds_where(&self, pred: impl Fn(&Round) -> bool) -> Vec<RoundId> {
        self.state
            .rounds
            .values()
            .filter(|r| pred(r))
            .map(|r| r.id)
            .collect()
    }

    fn round(&mut self, g: &mut StdRng, pred: impl Fn(&Round) -> bool) -> RoundId {
        let fitting = self.rounds_where(pred);
        if !fitting.is_empty() && g.gen_bool(0.92) {
            return fitting[g.gen_range(0..fitting.len())];
        }
        let all = self.rounds_where(|_| true);
        if !all.is_empty() && g.gen_bool(0.7) {
            return all[g.gen_range(0..all.len())];
        }
        RoundId(self.fresh())
    }

    fn comment(&mut self, g: &mut StdRng, pred: impl Fn(CommentKind, bool) -> bool) -> CommentId {
        let fitting: Vec<CommentId> = self
            .state
            .comments
            .values()
            .filter(|c| pred(c.kind, c.deleted))
            .map(|c| c.id)
            .collect();
        if !fitting.is_empty() && g.gen_bool(0.9) {
            return fitting[g.gen_range(0..fitting.len())];
        }
        CommentId(self.fresh())
    }

    fn text(&mut self, g: &mut StdRng, what: &str) -> String {
        match g.gen_range(0..100) {
            0..=93 => format!("{what} {}", g.gen_range(0..1000)),
            94 => String::new(),
            95 => "  ".into(),
            96 => "ctl\u{7}".into(),
            97 => "x".repeat(600),
            98 => "ünï ☕ €".into(),
            _ => "line\nbreak".into(),
        }
    }

    fn draft(&mut self, g: &mut StdRng) -> ItemDraft {
        let mut d = ItemDraft {
            title: self.text(g, "item"),
            ..ItemDraft::default()
        };
        if g.gen_bool(0.3) {
            d.description = "As a user\nI want".into();
            d.acceptance_criteria = vec!["works".into()];
            d.labels = vec!["ui".into()];
            d.external_key = Some(format!("JIRA-{}", g.gen_range(0..99)));
        }
        if g.gen_bool(0.15) {
            d.dependencies = vec![self.live_item(g)];
        }
        d
    }

    fn fixed(&self, g: &mut StdRng, lo: i64, hi: i64) -> Fixed2 {
        Fixed2::from_hundredths(g.gen_range(lo..=hi))
    }

    fn deck_of_round_or_planning(&self, r: Option<&Round>) -> Deck {
        r.map(|r| Deck::clone(&r.deck))
            .unwrap_or_else(|| self.state.deck.clone())
    }

    /// A card near the item's "true size", sometimes `?`, `☕`, far off or not in the deck.
    fn card(&self, g: &mut StdRng, deck: &Deck, item: ItemId) -> String {
        let n = deck.cards.len();
        let truth = (item.0.as_u128() % n as u128) as i64;
        match g.gen_range(0..100) {
            0..=69 => {
                let i = (truth + g.gen_range(-1..=1)).clamp(0, n as i64 - 1);
                deck.cards[i as usize].clone()
            }
            70..=79 => deck.cards[g.gen_range(0..n)].clone(),
            80..=88 => UNSURE.into(),
            89..=95 => PAUSE.into(),
            _ => "nope".into(),
        }
    }

    fn policy(&self, g: &mut StdRng) -> Policy {
        let mut p = Policy::default();
        p.divergence.spread_steps = g.gen_range(0..5);
        p.divergence.flag_unsure = g.gen_bool(0.7);
        p.divergence.quorum_percent = g.gen_range(0..=105);
        p.batch_size = g.gen_range(0..=8);
        p.default_deadline_minutes = g.gen_range(0..3000);
        p.auto_reveal = g.gen_bool(0.7);
        if g.gen_bool(0.3) {
            p.point_table
                .insert("13".into(), Fixed2::from_int(g.gen_range(-1..20)));
        }
        p
    }

    /// Picks a command (and its sender) that makes sense in the current state most of the time.
    fn pick(&mut self, g: &mut StdRng) -> (ParticipantId, Command) {
        let s = &self.state;
        let Some(phase) = s.phase else {
            if g.gen_bool(0.1) {
                return (self.any_participant(g), Command::StartSync);
            }
            let deck = match g.gen_range(0..5) {
                0 => Some(Deck::t_shirt()),
                1 => Some(Deck::modified_fibonacci()),
                2 => Some(Deck::powers_of_two()),
                _ => None,
            };
            let id = ParticipantId(self.fresh());
            return (
                if g.gen_bool(0.03) { SYSTEM } else { id },
                Command::CreatePlanning(CreatePlanning {
                    title: self.text(g, "Sprint"),
                    creator_name: "Fay".into(),
                    creator_token_hash: hash(g.gen()),
                    deck,
                    policy: None,
                    member_invite_hash: hash(1),
                    observer_invite_hash: hash(2),
                }),
            );
        };
        let members = self.people(|r| r == Role::Member).len();
        let people = s.participants.len();
        let live_items = s.items.values().filter(|i| !i.withdrawn).count();
        let open_rounds = s.rounds.values().filter(|r| r.is_open()).count();
        let votable = s
            .rounds
            .values()
            .filter(|r| r.is_open() && self.now < r.deadline)
            .count() as u32;
        let closed_rounds = s.rounds.len() - open_rounds;
        let overdue = s
            .rounds
            .values()
            .filter(|r| r.is_open() && r.deadline <= self.now)
            .count();
        let flagged = s.items.values().filter(|i| i.flag.is_some()).count();
        let lead = i64::from(s.schedule.reminder_minutes.unwrap_or(0)) * MINUTE;
        let remindable = s
            .rounds
            .values()
            .filter(|r| r.is_open() && self.now < r.deadline && self.now >= r.deadline - lead)
            .count();
        let proposed = s
            .items
            .values()
            .filter(|i| i.proposed_estimate.is_some())
            .count();
        let estimated = s.items.values().filter(|i| i.estimate.is_some()).count();
        let unrevealed = s
            .rounds
            .values()
            .filter(|r| !r.is_open())
            .flat_map(|r| r.items.iter().filter(|i| !r.revealed.contains_key(*i)))
            .count();
        let draft = phase == Phase::Draft;
        let asy = phase == Phase::Async;
        let sync = phase == Phase::Sync;
        let running = s.sync_running;
        let open = phase != Phase::Committed;
        let w = |cond: bool, yes: u32| if cond { yes } else { 1 };

        // (weight, action) pairs; a weight of 1 keeps an action possible (and mostly invalid).
        let table: Vec<(u32, u32)> = vec![
            (if people < 6 { 40 } else { 3 }, 0), // join
            (3, 1),                               // rename
            (3, 2),                               // change role
            (1, 3),                               // remove
            (2, 4),                               // rotate invite
            (2, 5),                               // reissue link
            (2, 6),                               // time zone
            (
                w(
                    open && !running,
                    if draft && live_items >= 3 { 12 } else { 3 },
                ),
                7,
            ), // phase
            (2, 8),                               // schedule
            (2, 9),                               // policy
            (w(open && s.goal.is_none(), 10), 10), // draft goal
            (w(open && s.goal.is_some(), 3), 11), // amend goal
            (w(open && s.goal.is_some(), 2), 12), // commit goal
            (w(open, if draft { 25 } else { 6 }), 13), // propose
            (w(open && live_items > 0, 4), 14),   // edit
            (w(open && live_items > 2, 2), 15),   // withdraw
            (w(open, if draft { 6 } else { 2 }), 16), // import
            (w(open && live_items > 1, 3), 17),   // rank
            (w(draft || asy, 3), 18),             // carry over
            (8, 19),                              // comment
            (w(!s.comments.is_empty(), 3), 20),   // edit comment
            (w(!s.comments.is_empty(), 2), 21),   // delete comment
            (w(!s.comments.is_empty(), 3), 22),   // resolve question
            (w(open && !s.definition_of_ready.is_empty(), 5), 23), // check readiness
            (w(open, 3), 24),                     // set DoR
            (w(open && live_items > 0, 3), 25),   // override
            (w(open && members > 0, 5), 26),      // capacity
            (w(open, 3), 27),                     // velocity
            (w((asy || sync) && live_items > 0, 25), 28), // open round
            (w(votable > 0, 80 + 40 * votable), 29), // vote
            (w(votable > 0, 6), 30),              // withdraw vote
            (w(open_rounds > 0, 6 + 20 * overdue as u32), 31), // close
            (w(running && unrevealed > 0, 15), 32), // reveal
            (w(open && live_items > 0, 4), 33),   // flag
            (w(open && flagged > 0, 5), 34),      // clear flag
            (w(open && (proposed > 0 || flagged > 0), 20), 35), // agree
            (w(sync && closed_rounds > 0, 10), 36), // revote
            (w(asy && closed_rounds > 0 && !running, 8), 37), // start sync
            (w(running, 3), 38),                  // agenda
            (w(open, 3), 39),                     // coin flip
            (w(running, 3), 40),                  // end sync
            (w((asy || sync) && estimated > 0 && open_rounds == 0, 8), 41), // commit
            (w(open_rounds > 0, 4), 42),          // reminder
            (2, 43),                              // register webhook
            (w(!s.webhooks.is_empty(), 2), 44),   // remove webhook
            (w(open && live_items > 0, 3), 45),   // send to agenda
            (w(open && s.schedule.auto_phases, 6), 46), // follow schedule
            (w(remindable > 0, 30), 47),          // remind voters
            (w(running, 15), 48),                 // set focus
            (w(running && s.focus.is_some(), 6), 49), // start timer
            (w(s.timer.is_some(), 5), 50),        // extend timer
            (w(s.timer.is_some(), 3), 51),        // stop timer
            (w(open && live_items > 0, 3), 52),   // return to refinement
            (w((asy || sync) && estimated > 0, 5), 53), // draft scope
            (w(open, 4), 54),                     // suggest goal
            (w(open && !s.goal_suggestions.is_empty(), 4), 55), // adopt suggestion
            (w(open && s.items.len() > live_items, 3), 56), // restore
        ];
        let total: u32 = table.iter().map(|(w, _)| w).sum();
        let mut x = g.gen_range(0..total);
        let mut action = 0;
        for (wt, a) in &table {
            if x < *wt {
                action = *a;
                break;
            }
            x -= wt;
        }
        self.command(g, action)
    }

    fn command(&mut self, g: &mut StdRng, action: u32) -> (ParticipantId, Command) {
        use Command as C;
        let any = [Role::Facilitator, Role::Member, Role::Observer];
        let workers = [Role::Facilitator, Role::Member];
        match action {
            0 => {
                let invite = match g.gen_range(0..10) {
                    0..=5 => self.state.member_invite_hash.clone(),
                    6..=8 => self.state.observer_invite_hash.clone(),
                    _ => hash(g.gen()),
                };
                let id = if g.gen_bool(0.95) {
                    ParticipantId(self.fresh())
                } else {
                    self.any_participant(g)
                };
                let name = self.text(g, "person");
                (
                    id,
                    C::Join(Join {
                        name,
                        invite_hash: invite,
                        token_hash: hash(g.gen()),
                    }),
                )
            }
            1 => {
                let a = self.actor(g, &any);
                (
                    a,
                    C::Rename(Rename {
                        name: self.text(g, "nick"),
                    }),
                )
            }
            2 => {
                let a = self.fac(g);
                let p = self.any_participant(g);
                let role = any[g.gen_range(0..3)];
                (
                    a,
                    C::ChangeRole(ChangeRole {
                        participant: p,
                        role,
                    }),
                )
            }
            3 => {
                let a = self.fac(g);
                let p = self.any_participant(g);
                (
                    a,
                    C::RemoveParticipant(RemoveParticipant { participant: p }),
                )
            }
            4 => {
                let a = self.fac(g);
                let role = any[g.gen_range(0..3)];
                // Keep the two invites apart most of the time.
                let h = if g.gen_bool(0.9) {
                    hash(g.gen_range(10..u64::MAX))
                } else {
                    "not a hash".into()
                };
                (
                    a,
                    C::RotateInvite(RotateInvite {
                        role,
                        invite_hash: h,
                    }),
                )
            }
            5 => {
                let a = self.fac(g);
                let p = self.any_participant(g);
                (
                    a,
                    C::ReissueLink(ReissueLink {
                        participant: p,
                        token_hash: hash(g.gen()),
                        revoke_previous: g.gen(),
                    }),
                )
            }
            6 => {
                let a = self.actor(g, &any);
                let (tz, s, e) = match g.gen_range(0..6) {
                    0 => ("Europe/Berlin", Some(540), Some(1050)),
                    1 => ("America/New_York", None, None),
                    2 => ("UTC", Some(600), Some(600)),
                    3 => ("Etc/GMT+5", Some(0), Some(1440)),
                    4 => ("Asia/Kolkata", Some(1320), Some(360)),
                    _ => ("bad zone", None, None),
                };
                let work_days = match g.gen_range(0..4) {
                    0 => Some(vec![WorkDay::Sun, WorkDay::Mon, WorkDay::Sun]),
                    1 => Some(Vec::new()),
                    _ => None,
                };
                (
                    a,
                    C::SetTimeZone(SetTimeZone {
                        time_zone: tz.into(),
                        work_start_minute: s,
                        work_end_minute: e,
                        work_days,
                    }),
                )
            }
            7 => {
                let a = self.fac(g);
                let to = match (self.state.phase, g.gen_range(0..10)) {
                    (_, 0) => Phase::Committed,
                    (Some(Phase::Draft), 1..=8) => Phase::Async,
                    (Some(Phase::Async), 1..=6) => Phase::Sync,
                    (Some(Phase::Sync), 1..=4) => Phase::Async,
                    _ => Phase::Draft,
                };
                (a, C::ChangePhase(ChangePhase { to }))
            }
            8 => {
                let a = self.fac(g);
                let start = self.now + g.gen_range(0..5) * DAY;
                let schedule = Schedule {
                    sprint_start: Some(start),
                    sprint_end: Some(start + g.gen_range(-1..15) * DAY),
                    candidates_shared_at: g.gen_bool(0.3).then_some(self.now),
                    estimation_deadline: None,
                    sync_start: g.gen_bool(0.3).then_some(start - HOUR),
                    sync_minutes: g.gen_bool(0.8).then(|| g.gen_range(0..500)),
                    auto_phases: g.gen_bool(0.7),
                    reminder_minutes: g.gen_bool(0.7).then(|| g.gen_range(0..600)),
                };
                (a, C::SetSchedule(SetSchedule { schedule }))
            }
            9 => {
                let a = self.fac(g);
                (
                    a,
                    C::SetPolicy(SetPolicy {
                        policy: self.policy(g),
                    }),
                )
            }
            10 => {
                let a = self.fac(g);
                (
                    a,
                    C::DraftGoal(DraftGoal {
                        text: self.text(g, "goal"),
                    }),
                )
            }
            11 => {
                let a = self.fac(g);
                let note = g.gen_bool(0.5).then(|| "why".to_string());
                (
                    a,
                    C::AmendGoal(AmendGoal {
                        text: self.text(g, "goal"),
                        note,
                    }),
                )
            }
            12 => (self.fac(g), C::CommitGoal),
            13 => {
                let a = self.actor(g, &workers);
                (
                    a,
                    C::ProposeItem(ProposeItem {
                        draft: self.draft(g),
                    }),
                )
            }
            14 => {
                let item = self.live_item(g);
                let proposer = self.state.items.get(&item).map(|i| i.proposed_by);
                let a = match proposer {
                    Some(p) if g.gen_bool(0.4) => p,
                    _ => self.fac(g),
                };
                let patch = match g.gen_range(0..5) {
                    0 => ItemPatch::default(),
                    1 => ItemPatch {
                        dependencies: Some(vec![item]),
                        ..ItemPatch::default()
                    },
                    2 => ItemPatch {
                        external_key: Some(String::new()),
                        labels: Some(vec!["x".into()]),
                        ..ItemPatch::default()
                    },
                    _ => ItemPatch {
                        title: Some(self.text(g, "retitled")),
                        description: Some("more".into()),
                        ..ItemPatch::default()
                    },
                };
                (a, C::EditItem(EditItem { item, patch }))
            }
            15 => {
                let a = self.fac(g);
                let item = self.live_item(g);
                (
                    a,
                    C::WithdrawItem(WithdrawItem {
                        item,
                        reason: g.gen_bool(0.5).then(|| "later".into()),
                    }),
                )
            }
            16 => {
                let a = self.fac(g);
                let n = g.gen_range(0..5);
                let items = (0..n).map(|_| self.draft(g)).collect();
                (
                    a,
                    C::ImportItems(ImportItems {
                        items,
                        source: "csv".into(),
                    }),
                )
            }
            17 => {
                let a = self.fac(g);
                let mut order = self.items_where(|_| true);
                // A deterministic shuffle.
                for i in (1..order.len()).rev() {
                    order.swap(i, g.gen_range(0..=i));
                }
                order.truncate(g.gen_range(0..=order.len()));
                if g.gen_bool(0.05) {
                    order.push(ItemId(self.fresh()));
                }
                (a, C::RankItems(RankItems { order }))
            }
            18 => {
                let a = self.fac(g);
                let n = g.gen_range(0..4);
                let ids: Vec<ItemId> = (0..n).map(|_| ItemId(self.fresh())).collect();
                let items = ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| {
                        let mut d = ItemDraft {
                            title: format!("carried {k}"),
                            ..ItemDraft::default()
                        };
                        if k > 0 {
                            d.dependencies = vec![ids[0], ItemId(Uuid::from_u128(7))];
                        }
                        NewItem {
                            item: *id,
                            draft: d,
                        }
                    })
                    .collect();
                let from = if g.gen_bool(0.95) {
                    PlanningId(self.fresh())
                } else {
                    self.state.planning.unwrap_or(PlanningId(Uuid::nil()))
                };
                (
                    a,
                    C::CarryOverItems(CarryOverItems {
                        from_planning: from,
                        items,
                    }),
                )
            }
            19 => {
                let a = self.actor(g, &any);
                let kind = [
                    CommentKind::Comment,
                    CommentKind::Question,
                    CommentKind::Answer,
                ][g.gen_range(0..3)];
                let parent = match kind {
                    CommentKind::Answer if g.gen_bool(0.9) => {
                        Some(self.comment(g, |k, d| k == CommentKind::Question && !d))
                    }
                    _ if g.gen_bool(0.2) => Some(self.comment(g, |_, d| !d)),
                    _ => None,
                };
                let item = g.gen_bool(0.6).then(|| self.live_item(g));
                let addressee = g.gen_bool(0.3).then(|| self.any_participant(g));
                (
                    a,
                    C::PostComment(PostComment {
                        item,
                        kind,
                        parent,
                        addressee,
                        text: self.text(g, "comment"),
                    }),
                )
            }
            20..=22 => {
                let c = self.comment(g, |k, d| !d && (action != 22 || k == CommentKind::Question));
                let author = self.state.comments.get(&c).map(|c| c.by);
                let addressee = self.state.comments.get(&c).and_then(|c| c.addressee);
                let a = match g.gen_range(0..10) {
                    0..=5 if author.is_some() => author.unwrap(),
                    6 if addressee.is_some() => addressee.unwrap(),
                    _ => self.actor(g, &any),
                };
                let cmd = match action {
                    20 => C::EditComment(EditComment {
                        comment: c,
                        text: self.text(g, "edited"),
                    }),
                    21 => C::DeleteComment(DeleteComment { comment: c }),
                    _ => C::ResolveQuestion(ResolveQuestion { comment: c }),
                };
                (a, cmd)
            }
            23 => {
                let a = self.actor(g, &workers);
                let item = self.live_item(g);
                let dor = &self.state.definition_of_ready;
                let criterion = if !dor.is_empty() && g.gen_bool(0.95) {
                    dor[g.gen_range(0..dor.len())].id
                } else {
                    CriterionId(self.fresh())
                };
                (
                    a,
                    C::CheckReadiness(CheckReadiness {
                        item,
                        criterion,
                        ok: g.gen_bool(0.7),
                        note: g.gen_bool(0.3).then(|| "note".into()),
                    }),
                )
            }
            24 => {
                let a = self.fac(g);
                let pool = ["Has AC", "Sized", "Designed", "No blockers", ""];
                let n = g.gen_range(0..4);
                let criteria = (0..n)
                    .map(|_| {
                        let extra = g.gen_range(0..2);
                        pool[g.gen_range(0..pool.len() - 1 + extra)].into()
                    })
                    .collect();
                (
                    a,
                    C::SetDefinitionOfReady(SetDefinitionOfReady { criteria }),
                )
            }
            25 => {
                let a = self.fac(g);
                let item = self.item(g, |i| !i.withdrawn && !i.readiness_overridden);
                (
                    a,
                    C::OverrideReadiness(OverrideReadiness {
                        item,
                        reason: self.text(g, "because"),
                    }),
                )
            }
            26 => {
                let a = self.actor(g, &workers);
                let participant = g.gen_bool(0.2).then(|| self.any_participant(g));
                (
                    a,
                    C::DeclareCapacity(DeclareCapacity {
                        participant,
                        available_days: self.fixed(g, -100, 1200),
                        focus_factor: self.fixed(g, 0, 110),
                        notes: g.gen_bool(0.2).then(|| "on call".into()),
                    }),
                )
            }
            27 => {
                let a = self.fac(g);
                (
                    a,
                    C::SetVelocity(SetVelocity {
                        points_per_day: self.fixed(g, -10, 400),
                    }),
                )
            }
            28 => {
                let a = self.fac(g);
                let batch = self.state.policy.batch_size.max(1) as usize;
                let mut candidates = self.items_where(|i| !i.withdrawn && i.estimate.is_none());
                candidates.retain(|i| self.state.open_round_of(*i).is_none());
                let n = g.gen_range(1..=batch.min(4));
                let mut items: Vec<ItemId> = Vec::new();
                for _ in 0..n {
                    let i = if !candidates.is_empty() && g.gen_bool(0.92) {
                        candidates.swap_remove(g.gen_range(0..candidates.len()))
                    } else {
                        self.item(g, |_| true)
                    };
                    items.push(i);
                }
                let deck = match g.gen_range(0..10) {
                    0 => Some(Deck::t_shirt()),
                    1 => Some(Deck::custom(vec!["a".into(), "a".into()])),
                    _ => None,
                };
                let deadline = match g.gen_range(0..10) {
                    0..=6 => Some(self.now + g.gen_range(5..180) * MINUTE),
                    7 => Some(self.now - 1),
                    _ => None,
                };
                (
                    a,
                    C::OpenRound(OpenRound {
                        items,
                        deck,
                        deadline,
                    }),
                )
            }
            29 | 30 => {
                let now = self.now;
                let round = self.round(g, |r| r.is_open() && now < r.deadline);
                let r = self.state.rounds.get(&round).cloned();
                let item = match &r {
                    Some(r) if g.gen_bool(0.95) => r.items[g.gen_range(0..r.items.len())],
                    _ => self.item(g, |_| true),
                };
                // Prefer members who have not voted on that item yet (who have, to withdraw).
                let waiting: Vec<ParticipantId> = self
                    .people(|x| x == Role::Member)
                    .into_iter()
                    .filter(|m| {
                        let voted = r
                            .as_ref()
                            .and_then(|r| r.votes.get(&item))
                            .is_some_and(|v| v.contains_key(m));
                        voted == (action == 30)
                    })
                    .collect();
                let a = if !waiting.is_empty() && g.gen_bool(0.8) {
                    waiting[g.gen_range(0..waiting.len())]
                } else {
                    self.actor(g, &[Role::Member])
                };
                if action == 29 {
                    let deck = self.deck_of_round_or_planning(r.as_ref());
                    let card = self.card(g, &deck, item);
                    (a, C::CastVote(CastVote { round, item, card }))
                } else {
                    (a, C::WithdrawVote(WithdrawVote { round, item }))
                }
            }
            31 => {
                let now = self.now;
                let overdue = self.rounds_where(|r| r.is_open() && r.deadline <= now);
                if !overdue.is_empty() && g.gen_bool(0.8) {
                    let round = overdue[g.gen_range(0..overdue.len())];
                    return (SYSTEM, C::CloseRound(CloseRound { round }));
                }
                let round = self.round(g, |r| r.is_open());
                let a = if g.gen_bool(0.2) { SYSTEM } else { self.fac(g) };
                (a, C::CloseRound(CloseRound { round }))
            }
            32 => {
                let a = self.fac(g);
                let pairs: Vec<(RoundId, ItemId)> = self
                    .state
                    .rounds
                    .values()
                    .filter(|r| !r.is_open())
                    .flat_map(|r| {
                        r.items
                            .iter()
                            .filter(|i| !r.revealed.contains_key(*i))
                            .map(|i| (r.id, *i))
                    })
                    .collect();
                let (round, item) = if !pairs.is_empty() && g.gen_bool(0.9) {
                    pairs[g.gen_range(0..pairs.len())]
                } else {
                    (self.round(g, |_| true), self.item(g, |_| true))
                };
                (a, C::RevealVotes(RevealVotes { round, item }))
            }
            33 => {
                let a = self.actor(g, &workers);
                let item = self.item(g, |i| !i.withdrawn && i.flag.is_none());
                (
                    a,
                    C::FlagItem(FlagItem {
                        item,
                        note: g.gen_bool(0.5).then(|| "discuss".into()),
                    }),
                )
            }
            34 => {
                let a = self.fac(g);
                let item = self.item(g, |i| !i.withdrawn && i.flag.is_some());
                (a, C::ClearFlag(ClearFlag { item }))
            }
            35 => {
                let a = self.fac(g);
                let mut ready = self.items_where(|i| {
                    !i.withdrawn && (i.proposed_estimate.is_some() || i.flag.is_some())
                });
                ready.retain(|i| self.state.open_round_of(*i).is_none());
                let n = g.gen_range(1..=3.min(ready.len().max(1)));
                let mut estimates = Vec::new();
                for _ in 0..n {
                    let item = if !ready.is_empty() && g.gen_bool(0.9) {
                        ready.swap_remove(g.gen_range(0..ready.len()))
                    } else {
                        self.item(g, |_| true)
                    };
                    let it = self.state.items.get(&item);
                    let deck = self.deck_of_round_or_planning(
                        it.and_then(|i| i.rounds.last())
                            .and_then(|r| self.state.rounds.get(r)),
                    );
                    let card = match it.and_then(|i| i.proposed_estimate.clone()) {
                        Some(c) if g.gen_bool(0.8) => c,
                        _ => self.card(g, &deck, item),
                    };
                    estimates.push(AgreedEstimate { item, card });
                }
                (a, C::AgreeEstimates(AgreeEstimates { estimates }))
            }
            36 => {
                let a = self.fac(g);
                let previous = self.round(g, |r| !r.is_open());
                let items = match self.state.rounds.get(&previous) {
                    Some(r) if g.gen_bool(0.9) => {
                        let mut v: Vec<ItemId> = r
                            .items
                            .iter()
                            .copied()
                            .filter(|i| self.state.open_round_of(*i).is_none())
                            .collect();
                        v.truncate(g.gen_range(1..=v.len().max(1)));
                        v
                    }
                    _ => vec![self.item(g, |_| true)],
                };
                let deadline = g
                    .gen_bool(0.5)
                    .then(|| self.now + g.gen_range(-5..30) * MINUTE);
                (
                    a,
                    C::Revote(Revote {
                        previous,
                        items,
                        deadline,
                    }),
                )
            }
            37 => (self.fac(g), C::StartSync),
            38 => {
                let a = self.fac(g);
                let mut items = self.items_where(|i| !i.withdrawn && i.flag.is_some());
                if g.gen_bool(0.3) {
                    items.push(self.item(g, |_| true));
                }
                (a, C::SetAgenda(SetAgenda { items }))
            }
            39 => {
                let a = self.fac(g);
                let n = g.gen_range(1..5);
                let options = (0..n).map(|k| format!("option {k}")).collect();
                (
                    a,
                    C::FlipCoin(FlipCoin {
                        question: self.text(g, "who demos"),
                        options,
                    }),
                )
            }
            40 => (self.fac(g), C::EndSync),
            41 => {
                let a = self.fac(g);
                let items = self.items_where(|i| !i.withdrawn && i.estimate.is_some());
                let mut items: Vec<ItemId> =
                    items.into_iter().filter(|_| g.gen_bool(0.8)).collect();
                if g.gen_bool(0.1) {
                    items.push(self.item(g, |_| true));
                }
                (
                    a,
                    C::CommitScope(CommitScope {
                        items,
                        confirm_over_capacity: g.gen_bool(0.6),
                    }),
                )
            }
            43 => {
                // As the REST route sends it (URL checked); sometimes unchecked or filtered.
                let events = match g.gen_range(0..4) {
                    0 => vec!["ScopeCommitted".into()],
                    1 => vec!["VoteCast".into()],
                    _ => Vec::new(),
                };
                (
                    self.fac(g),
                    C::RegisterWebhook(RegisterWebhook {
                        url: format!("http://hooks.example/{}", g.gen_range(0..100)),
                        events,
                        format: match g.gen_range(0..4) {
                            0 => WebhookFormat::Slack,
                            1 => WebhookFormat::Teams,
                            2 => WebhookFormat::Mattermost,
                            _ => WebhookFormat::Generic,
                        },
                        url_checked: g.gen_bool(0.9),
                    }),
                )
            }
            44 => {
                let webhook = match self.state.webhooks.keys().next() {
                    Some(w) if g.gen_bool(0.9) => *w,
                    _ => WebhookId(self.fresh()),
                };
                (self.fac(g), C::RemoveWebhook(RemoveWebhook { webhook }))
            }
            45 => {
                let a = self.fac(g);
                let item = self.item(g, |i| {
                    !i.withdrawn && i.flag.is_none() && i.estimate.is_none()
                });
                (
                    a,
                    C::SendToAgenda(SendToAgenda {
                        item,
                        note: g.gen_bool(0.5).then(|| "unclear".into()),
                    }),
                )
            }
            46 => {
                let a = if g.gen_bool(0.9) { SYSTEM } else { self.fac(g) };
                let to = match g.gen_range(0..5) {
                    0..=1 => Phase::Async,
                    2..=3 => Phase::Sync,
                    _ => Phase::Draft,
                };
                (a, C::FollowSchedule(FollowSchedule { to }))
            }
            48..=55 => self.meeting_command(g, action),
            56 => {
                // The facilitator, or a member (the proposer may, another member may not).
                let a = if g.gen_bool(0.7) {
                    self.fac(g)
                } else {
                    self.actor(g, &[Role::Member])
                };
                let item = self.item(g, |i| i.withdrawn);
                (a, C::RestoreItem(RestoreItem { item }))
            }
            47 => {
                let a = if g.gen_bool(0.9) { SYSTEM } else { self.fac(g) };
                let now = self.now;
                let lead = i64::from(self.state.schedule.reminder_minutes.unwrap_or(0)) * MINUTE;
                let round = self.round(g, |r| {
                    r.is_open() && now < r.deadline && now >= r.deadline - lead
                });
                (a, C::RemindVoters(RemindVoters { round }))
            }
            _ => {
                let a = if g.gen_bool(0.9) { SYSTEM } else { self.fac(g) };
                let participant = self.any_participant(g);
                let round = g.gen_bool(0.8).then(|| self.round(g, |r| r.is_open()));
                (a, C::RecordReminder(RecordReminder { participant, round }))
            }
        }
    }
}

impl Run {
    /// A command of the live meeting or of goal suggestions (actions 48 to 55).
    fn meeting_command(&mut self, g: &mut StdRng, action: u32) -> (ParticipantId, Command) {
        use Command as C;
        let a = self.fac(g);
        let focus = self.state.focus.as_ref().map(|f| f.item);
        let seconds = match g.gen_range(0..10) {
            0 => 0,
            1 => 4000,
            _ => g.gen_range(1..900),
        };
        match action {
            48 => {
                let item = match g.gen_range(0..10) {
                    0 => None,
                    1..=6 if !self.state.agenda.is_empty() => {
                        Some(self.state.agenda[g.gen_range(0..self.state.agenda.len())])
                    }
                    _ => Some(self.item(g, |_| true)),
                };
                (a, C::SetFocus(SetFocus { item }))
            }
            49 => {
                let item = match focus {
                    Some(f) if g.gen_bool(0.9) => f,
                    _ => self.item(g, |_| true),
                };
                (a, C::StartTimer(StartTimer { item, seconds }))
            }
            50 => (a, C::ExtendTimer(ExtendTimer { seconds })),
            51 => (a, C::StopTimer),
            52 => {
                let item = match focus {
                    Some(f) if g.gen_bool(0.5) => f,
                    _ => self.item(g, |i| !i.withdrawn && i.estimate.is_none()),
                };
                let note = g.gen_bool(0.5).then(|| "split it".to_string());
                (a, C::ReturnToRefinement(ReturnToRefinement { item, note }))
            }
            53 => {
                let mut items = self.items_where(|i| !i.withdrawn && i.estimate.is_some());
                items.retain(|_| g.gen_bool(0.7));
                if g.gen_bool(0.1) {
                    items.push(self.item(g, |_| true));
                }
                (a, C::DraftScope(DraftScope { items }))
            }
            54 => {
                let who = self.actor(g, &[Role::Facilitator, Role::Member]);
                let text = self.text(g, "goal idea");
                (who, C::SuggestGoal(SuggestGoal { text }))
            }
            _ => {
                let list = &self.state.goal_suggestions;
                let suggestion = if !list.is_empty() && g.gen_bool(0.9) {
                    list[g.gen_range(0..list.len())].id
                } else {
                    SuggestionId(self.fresh())
                };
                (
                    a,
                    C::AdoptGoalSuggestion(AdoptGoalSuggestion { suggestion }),
                )
            }
        }
    }
}

/// Runs one generated sequence.
fn run(choices: &[u64]) -> Run {
    let mut r = Run::new();
    for c in choices {
        r.step(*c);
    }
    r
}

/// The replay claims over one run.
fn check(r: &Run) -> Result<(), TestCaseError> {
    // (a) a replay from zero reaches the live state.
    prop_assert_eq!(&State::replay(&r.events), &r.state);
    // (b) encoding and decoding every event is lossless, and so is replaying the decoded log.
    let decoded: Vec<Event> = r
        .events
        .iter()
        .map(|e| {
            let (kind, version, payload) = e.encode();
            Event::decode(kind, version, &payload)
                .unwrap_or_else(|err| panic!("{kind} v{version} {payload}: {err}"))
        })
        .collect();
    prop_assert_eq!(&decoded, &r.events);
    prop_assert_eq!(&State::replay(&decoded), &r.state);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn live_fold_equals_replay_of_the_encoded_log(
        choices in prop::collection::vec(any::<u64>(), 1..150)
    ) {
        let r = run(&choices);
        check(&r)?;
    }
}

/// Snapshot + tail equals a full replay, at every N: the state after `k` events, written as a
/// snapshot (JSON text, as the store keeps it) and read back, plus events `k..n`, is the state
/// after `n` events — for every `k <= n`.
fn check_snapshots(r: &Run) -> Result<(), TestCaseError> {
    let mut prefix = State::default();
    let mut states = vec![prefix.clone()];
    for e in &r.events {
        prefix.apply(e);
        states.push(prefix.clone());
    }
    let step = (r.events.len() / 12).max(1);
    for k in (0..=r.events.len()).step_by(step) {
        let text = serde_json::to_string(&states[k]).unwrap();
        let snapshot: State = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&snapshot, &states[k]);
        let mut s = snapshot;
        for (n, e) in r.events.iter().enumerate().skip(k) {
            s.apply(e);
            prop_assert_eq!(&s, &states[n + 1], "snapshot at {} + tail to {}", k, n + 1);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 32,
        max_shrink_iters: 1_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn snapshot_plus_tail_equals_full_replay_at_every_n(
        choices in prop::collection::vec(any::<u64>(), 1..120)
    ) {
        let r = run(&choices);
        check_snapshots(&r)?;
    }
}

/// Fixed seeds through the same generation code as the property test.
fn seeded_runs(n: u64, len: usize) -> impl Iterator<Item = Run> {
    (0..n).map(move |seed| {
        let mut master = StdRng::seed_from_u64(seed);
        let choices: Vec<u64> = (0..len).map(|_| master.gen()).collect();
        run(&choices)
    })
}

#[test]
fn the_generator_reaches_every_event_type() {
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut accepted, mut rejected) = (0, 0);
    let mut committed = 0;
    let mut rejections: BTreeMap<(String, &str), usize> = BTreeMap::new();
    for r in seeded_runs(64, 150) {
        for (k, n) in &r.rejections {
            *rejections.entry(k.clone()).or_default() += n;
        }
        check(&r).unwrap();
        for e in &r.events {
            *seen.entry(e.kind()).or_default() += 1;
        }
        accepted += r.accepted;
        rejected += r.rejected;
        committed += usize::from(r.state.phase == Some(Phase::Committed));
    }
    for ((kind, code), n) in &rejections {
        eprintln!("rejected {kind} {code}: {n}");
    }
    eprintln!("{accepted} accepted, {rejected} rejected, {committed} committed; {seen:?}");
    let all: BTreeSet<&str> = EVENT_KINDS.iter().copied().collect();
    let got: BTreeSet<&str> = seen.keys().copied().collect();
    let missing: Vec<&&str> = all.difference(&got).collect();
    assert!(
        missing.is_empty(),
        "never generated: {missing:?}; seen: {seen:?}"
    );
    assert_eq!(got, all);
    // Valid-ish: both accepted and rejected commands are exercised in earnest.
    assert!(
        accepted > rejected / 2,
        "{accepted} accepted, {rejected} rejected"
    );
    assert!(rejected > 500, "{rejected} rejected");
    assert!(committed > 0);
}
