//! Comments out of the snapshot: the bounded discussion a projection view carries, and pages of
//! a thread's older comments (`GET /api/plannings/{id}/items/{item}/comments`).
//!
//! A planning can hold any number of comments (the replay scenario seeds 100,000), so no view
//! of the projection (the `snapshot` frame, `GET /api/plannings/{id}`, `state_at`) carries
//! them all: a late joiner would wait for one huge frame. A view carries, per thread (each item's, and the planning's own item-less one), the last
//! [`RECENT`] comments with the questions they answer, the [`OPEN_SHOWN`] most recent open
//! questions, and up to [`OPEN_SHOWN`] open questions addressed to the viewer;
//! `derived.discussion` counts each thread and says where its pages of older comments start.
//! A page is read from the room's projection in posting order ([`Comment::n`]); comments hold
//! nothing private (hidden votes live in rounds), so a page is the same for every participant.

use crate::domain::event::CommentKind;
use crate::domain::ids::{CommentId, ItemId, ParticipantId};
use crate::domain::state::{Comment, State};
use crate::read::utc::Utc;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// Most recent comments of each thread a view carries.
pub const RECENT: usize = 5;
/// Most recent open questions of each thread a view carries (and, across threads, open
/// questions addressed to the viewer).
pub const OPEN_SHOWN: usize = 20;
/// Comments per page when the request names no `limit`.
pub const PAGE_DEFAULT: usize = 50;
/// Largest `limit` of a page.
pub const PAGE_MAX: usize = 500;

/// Whether a question has an answer that was not deleted.
pub fn answered(state: &State, c: &Comment) -> bool {
    c.answers
        .iter()
        .any(|a| state.comments.get(a).is_some_and(|a| !a.deleted))
}

/// Whether `c` is a question still waiting: not deleted, not resolved, not answered.
pub fn is_open(state: &State, c: &Comment) -> bool {
    c.kind == CommentKind::Question && !c.deleted && !c.resolved && !answered(state, c)
}

/// A comment as views and pages show it. The ids of its answers are replaced by their count
/// and whether one stands (a question can have any number of answers; a client finds the ones
/// it holds by their `parent`).
#[derive(Debug, Clone, Serialize)]
pub struct CommentView {
    id: CommentId,
    n: u64,
    item: Option<ItemId>,
    kind: CommentKind,
    parent: Option<CommentId>,
    addressee: Option<ParticipantId>,
    text: String,
    by: ParticipantId,
    #[serde(flatten)]
    at: Utc,
    edited: bool,
    deleted: bool,
    resolved: bool,
    answer_count: usize,
    answered: bool,
}

impl CommentView {
    pub fn of(state: &State, c: &Comment) -> Self {
        let Comment {
            id,
            n,
            item,
            kind,
            parent,
            addressee,
            text,
            by,
            at,
            edited,
            deleted,
            resolved,
            answers,
        } = c;
        CommentView {
            id: *id,
            n: *n,
            item: *item,
            kind: *kind,
            parent: *parent,
            addressee: *addressee,
            text: text.clone(),
            by: *by,
            at: Utc::new("at", *at),
            edited: *edited,
            deleted: *deleted,
            resolved: *resolved,
            answer_count: answers.len(),
            answered: answered(state, c),
        }
    }
}

/// Keeps the `cap` largest keys pushed (a min-heap of at most `cap`).
struct Newest {
    cap: usize,
    heap: BinaryHeap<Reverse<(u64, CommentId)>>,
}

impl Newest {
    fn new(cap: usize) -> Self {
        Self {
            cap,
            heap: BinaryHeap::with_capacity(cap + 1),
        }
    }

    fn push(&mut self, c: &Comment) {
        // Most comments of a long thread are older than the ones kept: no heap work for them.
        if self.heap.len() >= self.cap && self.oldest().is_some_and(|o| c.n <= o) {
            return;
        }
        self.heap.push(Reverse((c.n, c.id)));
        if self.heap.len() > self.cap {
            self.heap.pop();
        }
    }

    fn oldest(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((n, _))| *n)
    }

    fn ids(&self) -> impl Iterator<Item = CommentId> + '_ {
        self.heap.iter().map(|Reverse((_, id))| *id)
    }
}

/// One thread's figures while scanning.
struct Thread {
    comments: usize,
    live: usize,
    open: usize,
    recent: Newest,
    open_recent: Newest,
}

/// The discussion the views of one state draw on, from one scan of its comments: the comments
/// every viewer is shown, the per-thread figures, and the open questions addressed to each
/// participant. Viewers differ only in the last, so a room finds it once per head for every
/// viewer (see `engine::snapshots`) instead of scanning a long discussion per view.
#[derive(Debug, Clone)]
pub struct Discussion {
    /// The comments every viewer is shown.
    shared: BTreeMap<CommentId, CommentView>,
    /// `{"items": {item: figures}, "planning": figures}`, for the view's `derived`.
    summary: Value,
    /// Per addressee, the [`OPEN_SHOWN`] most recent open questions addressed to them, with
    /// the questions they answer (some may also be among `shared`).
    addressed: BTreeMap<ParticipantId, BTreeMap<CommentId, CommentView>>,
}

impl Discussion {
    /// One scan of `state`'s comments.
    pub fn of(state: &State) -> Self {
        let mut threads: BTreeMap<Option<ItemId>, Thread> = BTreeMap::new();
        let mut addressed: BTreeMap<ParticipantId, Newest> = BTreeMap::new();
        for c in state.comments.values() {
            let t = threads.entry(c.item).or_insert_with(Thread::new);
            let open = is_open(state, c);
            t.add(c, open);
            if let (true, Some(to)) = (open, c.addressee) {
                addressed
                    .entry(to)
                    .or_insert_with(|| Newest::new(OPEN_SHOWN))
                    .push(c);
            }
        }
        let (shared, summary) = summarise(state, &threads);
        let addressed = addressed
            .into_iter()
            .map(|(to, mine)| (to, with_parents(state, mine.ids().collect())))
            .collect();
        Discussion {
            shared,
            summary,
            addressed,
        }
    }

    /// The comments a view for `viewer` carries: every viewer's and the viewer's own.
    pub fn shown_to(&self, viewer: Option<ParticipantId>) -> BTreeMap<CommentId, CommentView> {
        let mut comments = self.shared.clone();
        if let Some(me) = viewer {
            comments.extend(self.addressed_to(me));
        }
        comments
    }

    /// Per thread: how many comments, how many open questions, and where the pages of the
    /// comments the views leave out start (`{"items": {item: figures}, "planning": figures}`).
    pub fn summary(&self) -> &Value {
        &self.summary
    }

    /// The open questions addressed to `me` a view carries, with the questions they answer.
    pub fn addressed_to(&self, me: ParticipantId) -> BTreeMap<CommentId, CommentView> {
        self.addressed.get(&me).cloned().unwrap_or_default()
    }

    /// Whether a view for `me` carries questions of their own (beside every viewer's).
    pub fn has_addressed(&self, me: ParticipantId) -> bool {
        self.addressed.contains_key(&me)
    }
}

impl Thread {
    fn new() -> Self {
        Thread {
            comments: 0,
            live: 0,
            open: 0,
            recent: Newest::new(RECENT),
            open_recent: Newest::new(OPEN_SHOWN),
        }
    }

    fn add(&mut self, c: &Comment, open: bool) {
        self.comments += 1;
        self.recent.push(c);
        if !c.deleted {
            self.live += 1;
        }
        if open {
            self.open += 1;
            self.open_recent.push(c);
        }
    }
}

/// The comments every viewer is shown and the per-thread figures, from the scanned threads.
fn summarise(
    state: &State,
    threads: &BTreeMap<Option<ItemId>, Thread>,
) -> (BTreeMap<CommentId, CommentView>, Value) {
    let mut shown: BTreeSet<CommentId> = BTreeSet::new();
    let (mut items, mut planning) = (Map::new(), None);
    for (item, t) in threads {
        shown.extend(t.recent.ids().chain(t.open_recent.ids()));
        let older = t.comments.saturating_sub(RECENT);
        let figures = json!({
            "comments": t.comments,
            "live": t.live,
            "open_questions": t.open,
            "older": older,
            // Where this thread's pages start: comments posted before the recent ones.
            "before": if older > 0 { t.recent.oldest() } else { None },
        });
        match item {
            Some(i) => {
                items.insert(i.to_string(), figures);
            }
            None => planning = Some(figures),
        }
    }
    let summary = json!({ "items": items, "planning": planning });
    (with_parents(state, shown), summary)
}

/// The discussion a view of `state` carries for `viewer`: `(comments, summary)`, see
/// [`Discussion`].
pub fn bounded(
    state: &State,
    viewer: Option<ParticipantId>,
) -> (BTreeMap<CommentId, CommentView>, Value) {
    let discussion = Discussion::of(state);
    (discussion.shown_to(viewer), discussion.summary)
}

/// The views of `shown` and of the comments they answer: an answer shown without its question
/// could not be placed in its thread.
fn with_parents(state: &State, mut shown: BTreeSet<CommentId>) -> BTreeMap<CommentId, CommentView> {
    let parents: Vec<CommentId> = shown
        .iter()
        .filter_map(|id| state.comments.get(id)?.parent)
        .collect();
    shown.extend(parents);
    shown
        .iter()
        .filter_map(|id| state.comments.get(id))
        .map(|c| (c.id, CommentView::of(state, c)))
        .collect()
}

/// One page of a thread: up to `limit` of its comments posted before `before` (all when
/// `None`), oldest first, and the cursor of the page before it (`None`: this was the first).
pub fn page(
    state: &State,
    item: Option<ItemId>,
    before: Option<u64>,
    limit: usize,
) -> (Vec<&Comment>, Option<u64>) {
    let before = before.unwrap_or(u64::MAX);
    let mut all: Vec<&Comment> = state
        .comments
        .values()
        .filter(|c| c.item == item && c.n < before)
        .collect();
    let limit = limit.max(1);
    let more = all.len() > limit;
    if more {
        // Only the newest `limit` are sorted: a thread can be long, a page is short.
        let cut = all.len() - limit;
        all.select_nth_unstable_by_key(cut, |c| c.n);
        all.drain(..cut);
    }
    all.sort_unstable_by_key(|c| c.n);
    let next = if more { all.first().map(|c| c.n) } else { None };
    (all, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::Event;
    use crate::domain::ids::ParticipantId;
    use uuid::Uuid;

    fn post(s: &mut State, i: u128, item: Option<ItemId>, kind: CommentKind, parent: Option<u128>) {
        s.apply(&Event::CommentPosted {
            comment: CommentId(Uuid::from_u128(i)),
            item,
            kind,
            parent: parent.map(|p| CommentId(Uuid::from_u128(p))),
            addressee: None,
            text: format!("c{i}"),
            by: ParticipantId(Uuid::from_u128(1)),
            at: 1,
        });
    }

    #[test]
    fn pages_cover_a_thread_once_in_posting_order() {
        let mut s = State::default();
        let item = Some(ItemId(Uuid::from_u128(9)));
        // Ids in reverse of posting order, so id order and posting order differ.
        for i in 0..23u128 {
            let on = if i % 3 == 0 { None } else { item };
            post(&mut s, 1000 - i, on, CommentKind::Comment, None);
        }
        let mut got = Vec::new();
        let mut before = None;
        loop {
            let (page, next) = page(&s, item, before, 4);
            assert!(page.len() <= 4);
            got.splice(0..0, page.iter().map(|c| c.n));
            match next {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        let want: Vec<u64> = (0..23u64).filter(|n| n % 3 != 0).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_view_holds_a_bounded_discussion_and_the_questions_answered() {
        let mut s = State::default();
        let item = Some(ItemId(Uuid::from_u128(9)));
        post(&mut s, 1, item, CommentKind::Question, None);
        for i in 2..100u128 {
            post(&mut s, i, item, CommentKind::Comment, None);
        }
        post(&mut s, 100, item, CommentKind::Answer, Some(1));
        let (comments, summary) = bounded(&s, None);
        // The last five and the (old) question the newest one answers.
        assert_eq!(comments.len(), RECENT + 1);
        assert!(comments.contains_key(&CommentId(Uuid::from_u128(1))));
        let figures = &summary["items"][Uuid::from_u128(9).to_string()];
        assert_eq!(figures["comments"], 100);
        assert_eq!(figures["open_questions"], 0);
        assert_eq!(figures["older"], 95);
        assert_eq!(figures["before"], 95);
        assert!(summary["planning"].is_null());
    }
}
