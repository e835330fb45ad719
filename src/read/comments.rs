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

/// The discussion a view of `state` carries for `viewer`: `(comments, summary)` — the shown
/// comments by id, and `{"items": {item: figures}, "planning": figures}` for `derived`. The
/// comments are those every viewer is shown ([`shared`]) and the viewer's own
/// ([`addressed`]).
pub fn bounded(
    state: &State,
    viewer: Option<ParticipantId>,
) -> (BTreeMap<CommentId, CommentView>, Value) {
    let (mut comments, summary) = shared(state);
    if let Some(me) = viewer {
        comments.extend(addressed(state, me));
    }
    (comments, summary)
}

/// The part of [`bounded`] that is the same for every viewer.
pub fn shared(state: &State) -> (BTreeMap<CommentId, CommentView>, Value) {
    let mut threads: BTreeMap<Option<ItemId>, Thread> = BTreeMap::new();
    for c in state.comments.values() {
        let t = threads.entry(c.item).or_insert_with(|| Thread {
            comments: 0,
            live: 0,
            open: 0,
            recent: Newest::new(RECENT),
            open_recent: Newest::new(OPEN_SHOWN),
        });
        t.comments += 1;
        t.recent.push(c);
        if !c.deleted {
            t.live += 1;
        }
        if is_open(state, c) {
            t.open += 1;
            t.open_recent.push(c);
        }
    }
    let mut shown: BTreeSet<CommentId> = BTreeSet::new();
    let (mut items, mut planning) = (Map::new(), None);
    for (item, t) in &threads {
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

/// The [`OPEN_SHOWN`] most recent open questions addressed to `me`, across threads, with the
/// questions they answer. Some may also be among the [`shared`] ones.
pub fn addressed(state: &State, me: ParticipantId) -> BTreeMap<CommentId, CommentView> {
    let mut mine = Newest::new(OPEN_SHOWN);
    state
        .comments
        .values()
        .filter(|c| c.addressee == Some(me) && is_open(state, c))
        .for_each(|c| mine.push(c));
    with_parents(state, mine.ids().collect())
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
