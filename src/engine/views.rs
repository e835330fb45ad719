//! Views pushed to the connections that keep one: after each batch a room sends the change
//! to the shared view (one frame for every such connection) and to each watching
//! participant's own part (see `read::pushed`), as JSON Patches (RFC 6902) against what it
//! sent before.
//!
//! A push is stamped with the head it brings a view to (`at`) and the head of the view it
//! applies to (`base`; none for a whole view). A part changes only with a frame, so a
//! connection holding a view at `have` may apply any patch with `base <= have < at`: nothing
//! changed between `base` and `have`. A connection that holds a view from before `base` (it
//! missed a frame: a lagged feed) sends the whole view again ([`whole`]).

use crate::domain::event::Micros;
use crate::domain::ids::ParticipantId;
use crate::domain::state::State;
use crate::engine::feed::Frame;
use crate::engine::joins;
use crate::engine::metrics::Metrics;
use crate::engine::room::Room;
use crate::read::pushed;
use crate::read::view::Common;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// One part's change after a batch.
#[derive(Debug)]
pub struct Stamped {
    /// The head of the view the patch applies to; `None`: `frame` holds the whole part.
    pub base: Option<i64>,
    /// The head the part is at after it.
    pub at: i64,
    pub frame: Frame,
}

/// A batch's changes to the kept views: the shared view's, and each participant's own part
/// that changed.
#[derive(Debug, Default)]
pub struct ViewPush {
    pub shared: Option<Stamped>,
    pub mine: HashMap<ParticipantId, Stamped>,
}

/// The frames of docs/protocol.md "Kept views".
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ViewFrame<'a> {
    View {
        at: i64,
        view: &'a Value,
    },
    ViewPatch {
        base: i64,
        at: i64,
        ops: &'a json_patch::Patch,
    },
    Mine {
        at: i64,
        mine: &'a Value,
    },
    MinePatch {
        base: i64,
        at: i64,
        ops: &'a json_patch::Patch,
    },
}

/// Which part a frame carries.
#[derive(Clone, Copy)]
enum Part {
    Shared,
    Mine,
}

impl Part {
    fn whole(self, at: i64, value: &Value) -> Frame {
        Frame::json(&match self {
            Part::Shared => ViewFrame::View { at, view: value },
            Part::Mine => ViewFrame::Mine { at, mine: value },
        })
    }

    fn patch(self, base: i64, at: i64, ops: &json_patch::Patch) -> Frame {
        Frame::json(&match self {
            Part::Shared => ViewFrame::ViewPatch { base, at, ops },
            Part::Mine => ViewFrame::MinePatch { base, at, ops },
        })
    }
}

/// A part as last sent.
struct Kept {
    at: i64,
    value: Value,
}

/// The change from what `kept` holds to `new` (the whole part when nothing is kept), or
/// `None` when nothing changed and the part is `Mine`; `kept` then holds `new`. The shared
/// part is stamped after every batch, with no operation when it did not change: a client
/// then knows its view is at the head of the events it received.
fn stamp(kept: &mut Option<Kept>, part: Part, at: i64, new: Value) -> Option<Stamped> {
    let stamped = match kept.as_ref() {
        Some(k) => {
            let ops = crate::read::diff::diff(&k.value, &new);
            if ops.0.is_empty() && matches!(part, Part::Mine) {
                return None;
            }
            Stamped {
                base: Some(k.at),
                at,
                frame: part.patch(k.at, at, &ops),
            }
        }
        None => Stamped {
            base: None,
            at,
            frame: part.whole(at, &new),
        },
    };
    *kept = Some(Kept { at, value: new });
    Some(stamped)
}

fn value(v: &impl Serialize) -> Value {
    // Views have string keys only: serialising them cannot fail.
    serde_json::to_value(v).unwrap_or_default()
}

/// What a room's writer last pushed; owned by the writer task, which alone pushes.
#[derive(Default)]
pub struct Publisher {
    head: i64,
    shared: Option<Kept>,
    mine: HashMap<ParticipantId, Option<Kept>>,
}

impl Publisher {
    /// The changes `state` (at `head`) brings to the views of the `watching` participants,
    /// or `None` when nobody watches (what was kept is dropped: the next push is whole).
    /// Nobody watches: what was kept is dropped (the next push is whole).
    pub fn stop(&mut self) {
        *self = Publisher::default();
    }

    /// Whether the views at `head` were pushed already.
    pub fn has_pushed(&self, head: i64) -> bool {
        head <= self.head
    }

    /// `common`: what every view of `state` shares (built once, for every watcher).
    pub fn push(
        &mut self,
        state: &State,
        head: i64,
        watching: &[ParticipantId],
        now: Micros,
        common: &Common,
    ) -> Option<ViewPush> {
        if watching.is_empty() {
            self.stop();
            return None;
        }
        // A writer reading its log again from the start passes old heads: already pushed.
        if self.has_pushed(head) {
            return None;
        }
        self.head = head;
        self.mine.retain(|p, _| watching.contains(p));
        let shared = stamp(
            &mut self.shared,
            Part::Shared,
            head,
            value(&pushed::shared(state, common)),
        );
        let mine = watching
            .iter()
            .filter_map(|p| {
                let new = value(&pushed::mine(state, *p, now, common.discussion()));
                let kept = self.mine.entry(*p).or_default();
                Some((*p, stamp(kept, Part::Mine, head, new)?))
            })
            .collect();
        Some(ViewPush { shared, mine })
    }
}

/// Who keeps a view of a room, with how many connections each.
#[derive(Default)]
pub struct Watchers(Mutex<BTreeMap<ParticipantId, usize>>);

impl Watchers {
    /// The participants watching now.
    pub fn now(&self) -> Vec<ParticipantId> {
        self.lock().keys().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ParticipantId, usize>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, p: ParticipantId) {
        *self.lock().entry(p).or_default() += 1;
    }

    pub(crate) fn remove(&self, p: ParticipantId) {
        let mut w = self.lock();
        if let Some(n) = w.get_mut(&p) {
            *n -= 1;
            if *n == 0 {
                w.remove(&p);
            }
        }
    }
}

/// What a connection does with a stamped part, given the head of the part it holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// Already included in what it holds.
    Skip,
    /// Send the frame; the connection then holds the part at `at`.
    Send,
    /// It missed a change: send the whole part again ([`whole`]).
    Again,
}

/// See the module comment.
pub fn take(have: i64, s: &Stamped) -> Take {
    match s.base {
        _ if s.at <= have => Take::Skip,
        None => Take::Send,
        Some(base) if base <= have => Take::Send,
        Some(_) => Take::Again,
    }
}

/// The whole view of `me` now, from the room's projection: `(head, view frame, mine frame)`.
/// Built under the room's read lock, serialised after it; the shared part once per head for
/// every client that starts keeping a view at it (see `engine::joins`).
pub fn whole(
    room: &Room,
    me: ParticipantId,
    now: Micros,
    metrics: &Metrics,
) -> (i64, Frame, Frame) {
    let (head, at, shared, mine) = room.read(|l| {
        let at = room.joins().at(l.head);
        let common = at.common(&l.state, metrics);
        let shared = match at.frame(joins::Shared::View) {
            Some(frame) => Ok(frame),
            None => Err(pushed::shared(&l.state, common)),
        };
        let mine = pushed::mine(&l.state, me, now, common.discussion());
        (l.head, at.clone(), shared, mine)
    });
    let shared = shared.unwrap_or_else(|view| {
        metrics.join_views_built.fetch_add(1, Ordering::Relaxed);
        let frame = Part::Shared.whole(head, &value(&view));
        at.keep(joins::Shared::View, &frame);
        frame
    });
    (head, shared, Part::Mine.whole(head, &value(&mine)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(base: Option<i64>, at: i64) -> Stamped {
        Stamped {
            base,
            at,
            frame: Frame::json(&()),
        }
    }

    #[test]
    fn a_patch_applies_to_any_view_since_its_base() {
        assert_eq!(take(5, &stamped(Some(3), 7)), Take::Send);
        assert_eq!(take(3, &stamped(Some(3), 7)), Take::Send);
        assert_eq!(take(2, &stamped(Some(3), 7)), Take::Again);
        assert_eq!(take(7, &stamped(Some(3), 7)), Take::Skip);
        assert_eq!(take(9, &stamped(None, 7)), Take::Skip);
        assert_eq!(take(0, &stamped(None, 7)), Take::Send);
    }

    #[test]
    fn patches_bring_a_kept_part_to_the_new_one() {
        let mut kept = None;
        let first = serde_json::json!({"a": [1, 2], "b": {"x": 1}});
        let second = serde_json::json!({"a": [1, 3, 4], "b": {"y": null}});
        let whole = stamp(&mut kept, Part::Shared, 1, first.clone()).expect("whole");
        assert_eq!(whole.base, None);
        let same = stamp(&mut kept, Part::Shared, 2, first.clone()).expect("stamped");
        assert!(String::from_utf8_lossy(same.frame.as_bytes()).contains(r#""ops":[]"#));
        let patch = stamp(&mut kept, Part::Shared, 3, second.clone()).expect("patch");
        assert_eq!(patch.base, Some(2));
        let mut mine = None;
        stamp(&mut mine, Part::Mine, 1, first.clone()).expect("whole");
        assert!(
            stamp(&mut mine, Part::Mine, 2, first.clone()).is_none(),
            "unchanged"
        );
        let frame: Value = serde_json::from_slice(patch.frame.as_bytes()).expect("json");
        assert_eq!(frame["type"], "view_patch");
        let ops: json_patch::Patch = serde_json::from_value(frame["ops"].clone()).expect("ops");
        let mut doc = first;
        json_patch::patch(&mut doc, &ops).expect("applies");
        assert_eq!(doc, second);
    }
}
