//! The audit of a planning: how every item got where it is, and how the scope was decided.
//!
//! Built by folding the stored log (not the projection), so every step keeps its seq, time and
//! actor: who proposed an item, its readiness checks, questions and answers, every round with
//! its votes once revealed, flags and who cleared them, the agreed estimate and the commitment;
//! plus the goal's history (suggested wordings, and whose wording an amendment adopted), coin
//! flips, the path of the live sessions (where the facilitator moved the discussion, time
//! boxes, scope drafts), the time well spent ([`crate::read::time_spent`]) and the chain's head
//! hash (so a printed report can be checked against the log later).
//!
//! Redaction: votes appear only once revealed (`VotesRevealed` carries them); a sealed round
//! shows how many votes it holds. Which votes a round holds, and whose sealed cards a reader
//! may see, follow the projection and the views ([`State::apply`], [`view::may_see_card`]):
//! only [`Audience::Operator`] (the CLI run against the database) sees sealed values.
//! Renderers are deterministic: fixed ordering, times from the log only.

use crate::domain::event::{Event, Micros, RevealedVote};
use crate::domain::fixed::Fixed2;
use crate::domain::ids::{CommentId, ItemId, ParticipantId, RoundId};
use crate::domain::state::State;
use crate::domain::vec_map::VecMap;
use crate::domain::words;
use crate::read::utc::rfc3339;
use crate::read::view::{self, Seer};
use crate::read::{md_text, Envelope};
use serde::Serialize;
use std::collections::BTreeMap;

/// Who the report is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A participant (over HTTP): sealed votes stay sealed, their own too (a report is
    /// passed around).
    Participant,
    /// The operator's CLI: sees sealed values too.
    Operator,
}

impl Audience {
    fn seer(self) -> Seer {
        match self {
            Audience::Participant => Seer::Public,
            Audience::Operator => Seer::Operator,
        }
    }
}

/// One step of an item's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub seq: i64,
    pub at: Micros,
    pub actor: String,
    pub what: String,
}

/// A round as far as one item is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoundStory {
    pub round: RoundId,
    pub opened_seq: i64,
    pub live: bool,
    pub revote: bool,
    pub closed: Option<String>,
    /// Revealed votes `(name, card)`; empty while sealed.
    pub votes: Vec<(String, String)>,
    /// Votes held but not revealed (participants' view) — the count only.
    pub sealed_votes: usize,
    /// Sealed values, for the operator only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sealed_values: Vec<(String, String)>,
}

/// Everything about one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemStory {
    pub item: ItemId,
    pub title: String,
    pub external_key: Option<String>,
    /// `committed`, `dropped` (not committed in a committed planning), `withdrawn` or `open`.
    pub outcome: String,
    pub estimate: Option<String>,
    pub points: Option<Fixed2>,
    pub steps: Vec<Step>,
    pub rounds: Vec<RoundStory>,
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Audit {
    pub planning: String,
    pub title: String,
    pub head: i64,
    pub head_hash: String,
    pub phase: String,
    pub goal: Vec<Step>,
    pub commitment: Vec<Step>,
    pub coin_flips: Vec<Step>,
    /// The path of the live sessions: their start and end, the moves of the room's focus, time
    /// boxes, items sent back to refinement and scope drafts.
    pub meeting: Vec<Step>,
    /// The live session against its plan, async vs live settlements, flagged items discussed,
    /// time per item.
    pub time: crate::read::time_spent::TimeWellSpent,
    pub items: Vec<ItemStory>,
}

fn name(state: &State, p: ParticipantId) -> String {
    if p.is_system() {
        return "server".into();
    }
    state
        .participants
        .get(&p)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| p.to_string())
}

fn label<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Builds the audit from the log (in seq order) and the final projection (for names);
/// `head_hash` is the hash of the chain at the log's last event.
pub fn build(log: &[Envelope], head_hash: &str, state: &State, audience: Audience) -> Audit {
    let mut fold = Fold {
        state,
        audience,
        items: BTreeMap::new(),
        goal: Vec::new(),
        commitment: Vec::new(),
        coin_flips: Vec::new(),
        meeting: Vec::new(),
        rounds: BTreeMap::new(),
        question_item: BTreeMap::new(),
        then: State::default(),
    };
    // Steps are dated as they happened (a deadline's close at its deadline, see `Dater`).
    let mut dater = crate::read::Dater::default();
    for s in log {
        let s = &*dater.dated(s);
        fold.then.apply(&s.event);
        let _ = fold.item_event(s)
            || fold.round_event(s)
            || fold.scope_event(s)
            || fold.meeting_event(s);
    }
    fold.finish(log, head_hash)
}

/// The audit's fold over the log: what each item, the goal and the scope went through.
struct Fold<'a> {
    /// The final projection, for names and texts.
    state: &'a State,
    audience: Audience,
    items: BTreeMap<ItemId, ItemStory>,
    goal: Vec<Step>,
    commitment: Vec<Step>,
    coin_flips: Vec<Step>,
    meeting: Vec<Step>,
    /// Round → (opened seq, live, revote, items).
    rounds: BTreeMap<RoundId, (i64, bool, bool, Vec<ItemId>)>,
    /// Question → its item.
    question_item: BTreeMap<CommentId, Option<ItemId>>,
    /// The projection at this point of the fold: the votes a round holds when it closes.
    then: State,
}

impl Fold<'_> {
    /// Adds a step to an item's story (an item the audit has not met is skipped).
    fn push(&mut self, s: &Envelope, item: ItemId, what: String) {
        let mut step = step_of(self.state, s, what);
        if crate::read::timeline::by_rule(&s.event) {
            step.actor = crate::read::timeline::RULE.into();
        }
        if let Some(story) = self.items.get_mut(&item) {
            story.steps.push(step);
        }
    }

    /// Folds an event of an item's backlog life: proposals, edits, readiness and questions; false for any other event.
    fn item_event(&mut self, s: &Envelope) -> bool {
        match &s.event {
            Event::ItemProposed { item, draft, .. } => {
                self.items.insert(*item, story(*item, self.state));
                self.push(s, *item, format!("proposed “{}”", draft.title));
            }
            Event::ItemsImported {
                items: new, source, ..
            } => {
                for n in new {
                    self.items.insert(n.item, story(n.item, self.state));
                    self.push(s, n.item, format!("imported from {source}"));
                }
            }
            Event::ItemsCarriedOver { items: new, .. } => {
                for n in new {
                    self.items.insert(n.item, story(n.item, self.state));
                    self.push(s, n.item, "carried over from the previous planning".into());
                }
            }
            Event::ItemEdited { item, .. } => self.push(s, *item, "edited".into()),
            Event::ItemRestored { item, .. } => self.push(s, *item, "restored".into()),
            Event::ItemWithdrawn { item, reason, .. } => self.push(
                s,
                *item,
                format!(
                    "withdrawn{}",
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ),
            ),
            Event::ReadinessChecked {
                item,
                criterion,
                ok,
                note,
                ..
            } => self.push(
                s,
                *item,
                format!(
                    "readiness “{}”: {}{}",
                    criterion_text(self.state, *criterion),
                    if *ok { "ok" } else { "not ready" },
                    note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                ),
            ),
            Event::ReadinessOverridden { item, reason, .. } => {
                self.push(s, *item, format!("readiness overridden: {reason}"))
            }
            Event::CommentPosted {
                comment,
                item,
                kind,
                parent,
                text,
                ..
            } => {
                let item = item
                    .or_else(|| parent.and_then(|p| self.question_item.get(&p).copied().flatten()));
                self.question_item.insert(*comment, item);
                if let Some(i) = item {
                    // Deleted comments keep their place but not their text.
                    let text = match self.state.comments.get(comment) {
                        Some(c) if c.deleted => "(deleted)".to_string(),
                        Some(c) => c.text.clone(),
                        None => text.clone(),
                    };
                    self.push(s, i, format!("{}: {text}", label(kind)));
                }
            }
            Event::QuestionResolved { comment, .. } => {
                if let Some(Some(i)) = self.question_item.get(comment).copied() {
                    self.push(s, i, "question resolved".into());
                }
            }
            _ => return false,
        }
        true
    }

    /// Folds an event of estimation: rounds, votes, flags and estimates; false for any other event.
    fn round_event(&mut self, s: &Envelope) -> bool {
        match &s.event {
            Event::RoundOpened {
                round, items: its, ..
            }
            | Event::RevoteOpened {
                round, items: its, ..
            } => {
                let revote = matches!(&s.event, Event::RevoteOpened { .. });
                // A re-vote happens in the live session; a round is live if opened during it.
                let live = match &s.event {
                    Event::RoundOpened { live, .. } => *live,
                    _ => true,
                };
                self.rounds
                    .insert(*round, (s.seq, live, revote, its.clone()));
                for i in its {
                    if let Some(st) = self.items.get_mut(i) {
                        st.rounds.push(RoundStory {
                            round: *round,
                            opened_seq: s.seq,
                            live,
                            revote,
                            closed: None,
                            votes: Vec::new(),
                            sealed_votes: 0,
                            sealed_values: Vec::new(),
                        });
                    }
                    self.push(
                        s,
                        *i,
                        if revote {
                            "re-vote opened".into()
                        } else {
                            "round opened".into()
                        },
                    );
                }
            }
            Event::RoundClosed { round, reason, .. } => {
                if let Some((_, _, _, its)) = self.rounds.get(round) {
                    for i in its {
                        if let Some(r) = self
                            .items
                            .get_mut(i)
                            .and_then(|st| st.rounds.iter_mut().find(|r| r.round == *round))
                        {
                            r.closed = Some(label(reason));
                            let held = self.then.rounds.get(round).and_then(|r| r.votes.get(i));
                            r.sealed_votes = held.map_or(0, VecMap::len);
                            r.sealed_values = held
                                .into_iter()
                                .flatten()
                                .filter(|(p, _)| view::may_see_card(self.audience.seer(), **p))
                                .map(|(p, v)| (name(self.state, *p), v.card.to_string()))
                                .collect();
                        }
                    }
                }
            }
            Event::VotesRevealed {
                round, item, votes, ..
            } => {
                if let Some(r) = self
                    .items
                    .get_mut(item)
                    .and_then(|st| st.rounds.iter_mut().find(|r| r.round == *round))
                {
                    r.votes = revealed(self.state, votes);
                    r.sealed_votes = 0;
                    r.sealed_values.clear();
                }
                let shown = cards(&revealed(self.state, votes));
                let what = if crate::read::timeline::by_rule(&s.event) {
                    format!("votes revealed as the round closed: {shown}")
                } else {
                    format!("votes revealed: {shown}")
                };
                self.push(s, *item, what);
            }
            Event::ItemFlagged {
                item,
                reason,
                note,
                round,
                ..
            } => self.push(
                s,
                *item,
                format!(
                    "flagged for the live session{}{}",
                    if round.is_some() {
                        format!(" by the divergence rule ({})", label(reason))
                    } else {
                        String::new()
                    },
                    note.as_ref().map(|n| format!(": {n}")).unwrap_or_default()
                ),
            ),
            Event::FlagCleared { item, .. } => self.push(s, *item, "flag cleared".into()),
            Event::ItemSentToAgenda { item, reasons, .. } => self.push(
                s,
                *item,
                format!(
                    "sent to the live agenda before any vote{}",
                    if reasons.is_empty() {
                        String::new()
                    } else {
                        let why: Vec<&str> = reasons.iter().map(|r| r.code()).collect();
                        format!(" ({})", why.join(", "))
                    }
                ),
            ),
            Event::EstimateProposed { item, card, .. } => {
                self.push(s, *item, format!("estimate {card} proposed (the median)"))
            }
            Event::EstimateAgreed {
                item, card, points, ..
            } => self.push(
                s,
                *item,
                format!(
                    "estimate {card} agreed{}",
                    points.map(|p| format!(" ({p} points)")).unwrap_or_default()
                ),
            ),
            _ => return false,
        }
        true
    }

    /// Folds an event of the goal, the coin flips and the commitment; false for any other event.
    fn scope_event(&mut self, s: &Envelope) -> bool {
        match &s.event {
            Event::GoalDrafted { text, .. } => {
                self.goal
                    .push(step_of(self.state, s, format!("drafted: {text}")))
            }
            Event::GoalAmended {
                text,
                note,
                suggestion,
                ..
            } => {
                // Whose wording it was, when the facilitator adopted a suggestion.
                let author = suggestion
                    .and_then(|id| self.state.goal_suggestions.iter().find(|g| g.id == id))
                    .map(|g| format!(" (wording suggested by {})", name(self.state, g.by)))
                    .unwrap_or_default();
                self.goal.push(step_of(
                    self.state,
                    s,
                    format!(
                        "amended: {text}{author}{}",
                        note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                    ),
                ))
            }
            Event::GoalSuggested { text, .. } => {
                self.goal
                    .push(step_of(self.state, s, format!("suggested: {text}")))
            }
            Event::GoalCommitted { text, .. } => {
                self.goal
                    .push(step_of(self.state, s, format!("committed: {text}")))
            }
            Event::CoinFlipped {
                question,
                options,
                outcome,
                ..
            } => self.coin_flips.push(step_of(
                self.state,
                s,
                format!(
                    "“{question}” between {}: {}",
                    options.join(" / "),
                    options.get(*outcome as usize).cloned().unwrap_or_default()
                ),
            )),
            Event::ScopeCommitted {
                items: its,
                points,
                capacity,
                over_capacity_confirmed,
                ..
            } => {
                self.commitment.push(step_of(
                    self.state,
                    s,
                    format!(
                        "committed {}, {points} points against a capacity of {capacity}{}",
                        words::items(its.len()),
                        if *over_capacity_confirmed {
                            " (over capacity, confirmed)"
                        } else {
                            ""
                        }
                    ),
                ));
                for i in its {
                    self.push(s, *i, format!("committed at {points} total points"));
                }
            }

            _ => return false,
        }
        true
    }

    /// Folds an event of the live meeting — sessions, the focus, time boxes, refinement, scope
    /// drafts — into the meeting's path (and the stories of the items concerned); false for
    /// any other event.
    fn meeting_event(&mut self, s: &Envelope) -> bool {
        use crate::read::time_spent::clock_text;
        let state = self.state;
        let title = |i: &ItemId| item_title(state, *i);
        let what = match &s.event {
            Event::SyncStarted { .. } => "started the live session".to_string(),
            Event::SyncEnded { .. } => "ended the live session".to_string(),
            Event::FocusSet { item: Some(i), .. } => {
                self.push(s, *i, "discussed live: the room's focus moved here".into());
                format!("moved the discussion to “{}”", title(i))
            }
            Event::FocusSet { item: None, .. } => "moved the discussion off the items".into(),
            Event::TimerStarted { item, seconds, .. } => {
                let len = clock_text(u64::from(*seconds));
                self.push(s, *item, format!("time box of {len}"));
                format!("started a time box of {len} on “{}”", title(item))
            }
            Event::TimerExtended { item, seconds, .. } => format!(
                "gave “{}” {} more",
                title(item),
                clock_text(u64::from(*seconds))
            ),
            Event::TimerStopped { item, .. } => {
                format!("stopped the time box on “{}”", title(item))
            }
            Event::ItemReturnedToRefinement { item, note, .. } => {
                let note = note.as_ref().map(|n| format!(": {n}")).unwrap_or_default();
                self.push(s, *item, format!("sent back to refinement{note}"));
                format!("sent “{}” back to refinement{note}", title(item))
            }
            Event::ScopeDrafted { items: its, .. } => {
                // The points as they stood when the draft was shared.
                let points = its
                    .iter()
                    .filter_map(|i| self.then.items.get(i).and_then(|it| it.points))
                    .fold(Fixed2::ZERO, Fixed2::saturating_add);
                format!(
                    "drafted a scope of {}, {points} points",
                    words::items(its.len())
                )
            }
            _ => return false,
        };
        self.meeting.push(step_of(self.state, s, what));
        true
    }

    /// Orders the stories (backlog order, then anything not ranked) and sets their outcome.
    fn finish(mut self, log: &[Envelope], head_hash: &str) -> Audit {
        let state = self.state;
        let committed: Vec<ItemId> = state
            .commitment
            .as_ref()
            .map(|c| c.items.clone())
            .unwrap_or_default();
        // Backlog order, then anything not ranked.
        let mut ordered: Vec<ItemStory> = Vec::new();
        for id in state.rank.iter().chain(state.proposal_order.iter()) {
            if let Some(mut st) = self.items.remove(id) {
                let it = state.items.get(id);
                st.outcome = if committed.contains(id) {
                    "committed"
                } else if it.is_some_and(|i| i.withdrawn) {
                    "withdrawn"
                } else if state.commitment.is_some() {
                    "dropped"
                } else {
                    "open"
                }
                .into();
                st.estimate = it.and_then(|i| i.estimate.clone());
                st.points = it.and_then(|i| i.points);
                ordered.push(st);
            }
        }
        ordered.extend(self.items.into_values());
        Audit {
            planning: state.planning.map(|p| p.to_string()).unwrap_or_default(),
            title: state.title.clone(),
            head: log.last().map(|s| s.seq).unwrap_or(0),
            head_hash: head_hash.to_string(),
            phase: state.phase.map(|p| label(&p)).unwrap_or_default(),
            goal: self.goal,
            commitment: self.commitment,
            coin_flips: self.coin_flips,
            meeting: self.meeting,
            time: crate::read::time_spent::build(log.iter().map(|s| &s.event), state),
            items: ordered,
        }
    }
}

/// One step of a story: the event's seq, time and actor, and what happened.
fn step_of(state: &State, s: &Envelope, what: String) -> Step {
    Step {
        seq: s.seq,
        at: s.at,
        actor: name(state, s.actor),
        what,
    }
}

/// A Definition of Ready criterion's text, now.
fn criterion_text(state: &State, id: crate::domain::CriterionId) -> String {
    state
        .definition_of_ready
        .iter()
        .find(|c| c.id == id)
        .map(|c| c.text.clone())
        .unwrap_or_else(|| "a former criterion".into())
}

/// An item's title, now.
fn item_title(state: &State, item: ItemId) -> String {
    state
        .items
        .get(&item)
        .map(|i| i.draft.title.clone())
        .unwrap_or_default()
}

fn story(item: ItemId, state: &State) -> ItemStory {
    let it = state.items.get(&item);
    ItemStory {
        item,
        title: it.map(|i| i.draft.title.clone()).unwrap_or_default(),
        external_key: it.and_then(|i| i.draft.external_key.clone()),
        outcome: String::new(),
        estimate: None,
        points: None,
        steps: Vec::new(),
        rounds: Vec::new(),
    }
}

fn revealed(state: &State, votes: &[RevealedVote]) -> Vec<(String, String)> {
    votes
        .iter()
        .map(|v| (name(state, v.voter), v.card.to_string()))
        .collect()
}

fn cards(votes: &[(String, String)]) -> String {
    votes
        .iter()
        .map(|(n, c)| format!("{n} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The audit as Markdown.
pub fn markdown(a: &Audit) -> String {
    let mut out = String::new();
    let line = |out: &mut String, s: &Step| {
        out.push_str(&format!(
            "- #{} {} — {}: {}\n",
            s.seq,
            rfc3339(s.at),
            md_text(&s.actor),
            md_text(&s.what)
        ));
    };
    out.push_str(&format!("# Audit: {}\n\n", md_text(&a.title)));
    out.push_str(&format!(
        "Planning `{}` · phase {} · {} events · chain head `{}`\n\n",
        a.planning, a.phase, a.head, a.head_hash
    ));
    out.push_str("## Goal\n\n");
    if a.goal.is_empty() {
        out.push_str("(none)\n");
    }
    a.goal.iter().for_each(|s| line(&mut out, s));
    out.push_str("\n## Commitment\n\n");
    if a.commitment.is_empty() {
        out.push_str("(not committed)\n");
    }
    a.commitment.iter().for_each(|s| line(&mut out, s));
    out.push_str("\n## Time well spent\n\n");
    out.push_str(&crate::read::time_spent::markdown(&a.time));
    if !a.meeting.is_empty() {
        out.push_str("\n## Live session\n\n");
        a.meeting.iter().for_each(|s| line(&mut out, s));
    }
    if !a.coin_flips.is_empty() {
        out.push_str("\n## Coin flips\n\n");
        a.coin_flips.iter().for_each(|s| line(&mut out, s));
    }
    out.push_str("\n## Items\n");
    for it in &a.items {
        out.push_str(&format!(
            "\n### {}{} — {}{}\n\n",
            md_text(&it.title),
            it.external_key
                .as_ref()
                .map(|k| format!(" ({})", md_text(k)))
                .unwrap_or_default(),
            md_text(&it.outcome),
            it.estimate
                .as_ref()
                .map(|e| format!(", estimate {}", md_text(e)))
                .unwrap_or_default()
        ));
        it.steps.iter().for_each(|s| line(&mut out, s));
        for (n, r) in it.rounds.iter().enumerate() {
            let votes = if !r.votes.is_empty() {
                cards(&r.votes)
            } else if !r.sealed_values.is_empty() {
                format!("sealed: {}", cards(&r.sealed_values))
            } else if r.sealed_votes > 0 {
                format!("{}, sealed", words::plural(r.sealed_votes, "vote", "votes"))
            } else {
                "no votes".into()
            };
            out.push_str(&format!(
                "- round {} ({}{}, opened #{}): {} — {}\n",
                n + 1,
                if r.revote { "re-vote" } else { "vote" },
                if r.live { ", live" } else { "" },
                r.opened_seq,
                r.closed.as_deref().unwrap_or("open"),
                md_text(&votes)
            ));
        }
    }
    out
}

/// Escapes a CSV cell against formula injection: cells starting with `=`, `+`, `-`, `@`, tab
/// or carriage return get a leading `'`, so spreadsheets show them as text.
pub fn csv_cell(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The audit as CSV: one row per step (`item,title,outcome,seq,time,actor,step`).
pub fn csv(a: &Audit) -> String {
    let mut out = String::from("item,title,outcome,seq,time,actor,step\n");
    let mut row = |item: &str, title: &str, outcome: &str, s: &Step| {
        let cells = [
            item.to_string(),
            title.to_string(),
            outcome.to_string(),
            s.seq.to_string(),
            rfc3339(s.at),
            s.actor.clone(),
            s.what.clone(),
        ];
        let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    };
    for s in &a.goal {
        row("", "(goal)", "", s);
    }
    for s in &a.coin_flips {
        row("", "(coin flip)", "", s);
    }
    for s in &a.commitment {
        row("", "(commitment)", "", s);
    }
    for s in &a.meeting {
        row("", "(live session)", "", s);
    }
    for it in &a.items {
        let key = it
            .external_key
            .clone()
            .unwrap_or_else(|| it.item.to_string());
        for s in &it.steps {
            row(&key, &it.title, &it.outcome, s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::command::Command;
    use crate::domain::command::{
        CastVote, ChangePhase, ChangeRole, CloseRound, CreatePlanning, Join, OpenRound,
        ProposeItem, RemoveParticipant,
    };
    use crate::domain::{decide, Context};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    /// Runs commands through the domain into a log as the store would hold it.
    fn play(steps: Vec<(ParticipantId, Command)>) -> (Vec<Envelope>, State) {
        let mut state = State::default();
        let mut log = Vec::new();
        let mut rng = StdRng::seed_from_u64(3);
        for (n, (actor, cmd)) in steps.into_iter().enumerate() {
            let now = 1_000_000 * (n as i64 + 1);
            let mut ctx = Context {
                actor,
                now,
                rng: &mut rng,
                max_participants: crate::domain::decide::limits::PARTICIPANTS,
            };
            let events = decide(&state, &cmd, &mut ctx).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
            for event in events {
                state.apply(&event);
                log.push(Envelope {
                    seq: log.len() as i64 + 1,
                    id: Uuid::from_u128(log.len() as u128 + 1),
                    actor,
                    at: now,
                    event,
                });
            }
        }
        (log, state)
    }

    #[test]
    fn a_removed_members_votes_in_an_open_round_are_not_counted_as_sealed() {
        let p = |n| ParticipantId(Uuid::from_u128(n));
        // Dan never votes, so the round stays open until the facilitator closes it.
        let (fac, ann, bob, cat, dan) = (p(1), p(2), p(3), p(4), p(5));
        let hash = |c: char| c.to_string().repeat(64);
        let mut steps = vec![(
            fac,
            Command::CreatePlanning(CreatePlanning {
                title: "S".into(),
                creator_name: "Fran".into(),
                creator_token_hash: hash('a'),
                deck: None,
                policy: None,
                member_invite_hash: hash('b'),
                observer_invite_hash: hash('c'),
            }),
        )];
        for (who, t) in [(ann, 'd'), (bob, 'e'), (cat, 'f'), (dan, '9')] {
            steps.push((
                who,
                Command::Join(Join {
                    name: format!("M{t}"),
                    invite_hash: hash('b'),
                    token_hash: hash(t),
                }),
            ));
        }
        steps.push((
            fac,
            Command::ProposeItem(ProposeItem {
                draft: crate::domain::event::ItemDraft {
                    title: "Login".into(),
                    ..Default::default()
                },
            }),
        ));
        let (_, state) = play(steps.clone());
        let item = state.rank[0];
        steps.push((
            fac,
            Command::ChangePhase(ChangePhase {
                to: crate::domain::Phase::Async,
            }),
        ));
        steps.push((
            fac,
            Command::OpenRound(OpenRound {
                items: vec![item],
                deck: None,
                deadline: Some(1_000_000_000),
            }),
        ));
        let (_, state) = play(steps.clone());
        let round = state.round_order[0];
        let vote = |card: &str| {
            Command::CastVote(CastVote {
                round,
                item,
                card: card.into(),
            })
        };
        steps.push((ann, vote("?")));
        steps.push((bob, vote("5")));
        steps.push((cat, vote("8")));
        // Bob leaves and Cat becomes an observer while the round is open: their votes go.
        steps.push((
            fac,
            Command::RemoveParticipant(RemoveParticipant { participant: bob }),
        ));
        steps.push((
            fac,
            Command::ChangeRole(ChangeRole {
                participant: cat,
                role: crate::domain::Role::Observer,
            }),
        ));
        steps.push((fac, Command::CloseRound(CloseRound { round })));
        let (log, state) = play(steps);
        assert_eq!(state.rounds[&round].votes[&item].len(), 1);
        for audience in [Audience::Participant, Audience::Operator] {
            let a = build(&log, "", &state, audience);
            let r = &a.items[0].rounds[0];
            assert_eq!(r.sealed_votes, 1, "{audience:?}: {r:?}");
            if audience == Audience::Operator {
                assert_eq!(r.sealed_values, vec![("Md".to_string(), "?".to_string())]);
            }
        }
    }

    #[test]
    fn csv_cells_are_escaped_against_formulas() {
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@x"), "'@x");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("plain"), "plain");
    }
}
