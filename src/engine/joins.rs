//! What a room serves the clients that join, built once per head: the part every view of the
//! head shares ([`Common`]: a scan of the whole discussion, and the derived figures), the
//! `snapshot` frame of everyone without a part of their own, and a kept view's shared part.
//!
//! A late joiner used to cost a view of the whole projection of its own: on a planning of
//! 100,000 comments, two scans of every comment under the room's read lock, then the encoding
//! (7.3 ms to `caught_up`, README "Performance"). Most joiners at one head see the same view:
//! whoever has no card in a round, no open question addressed to them and no webhook URL shown
//! whole (`read::pushed::has_own_part`). Their snapshot is built for no viewer at all (the
//! public view, which holds nothing personal by construction) and encoded once per head; a
//! viewer with a part of their own gets a view of their own, built from the shared [`Common`]
//! without a scan, and never the shared frame. So a member's sealed card reaches no one else
//! through the cache, and their own view still shows it.
//!
//! When someone keeps a view, the room's publisher scans after each batch anyway and hands its
//! scan over ([`Joins::offer`]): the joiners after a write then do no scan at all.
//!
//! Only the room's current head is kept: the first use at a newer head replaces what was kept
//! (heads only move forward), so a room holds at most one snapshot frame and one view frame.
//! Two joiners that miss at once may both encode the frame (the same bytes; the first kept
//! wins); the scan is done once ([`OnceLock`]).

use crate::domain::ids::ParticipantId;
use crate::domain::state::State;
use crate::engine::feed::Frame;
use crate::engine::metrics::Metrics;
use crate::engine::room::Room;
use crate::read::pushed;
use crate::read::view::{self, Common, StateView};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

/// What a room keeps for the clients that join at its current head.
#[derive(Default)]
pub struct Joins(Mutex<Option<Arc<AtHead>>>);

/// The shared parts of the views of one head.
pub struct AtHead {
    head: i64,
    common: OnceLock<Arc<Common>>,
    snapshot: OnceLock<Frame>,
    view: OnceLock<Frame>,
}

/// Which shared frame.
#[derive(Clone, Copy)]
pub enum Shared {
    /// The `snapshot` frame of a far-behind client.
    Snapshot,
    /// The shared part of a kept view, whole (`engine::views`).
    View,
}

impl Joins {
    /// What is kept for `head`, made empty if what was kept is for another head. Called
    /// under the room's read lock with the projection at `head`.
    pub fn at(&self, head: i64) -> Arc<AtHead> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match kept.as_ref() {
            Some(at) if at.head == head => at.clone(),
            _ => {
                let at = Arc::new(AtHead::new(head));
                *kept = Some(at.clone());
                at
            }
        }
    }

    /// Keeps `common` (built by someone else from the projection at `head`, which is the
    /// room's head now: the kept views' publisher after a batch) for the clients that join
    /// at `head`.
    pub fn offer(&self, head: i64, common: Arc<Common>) {
        let _ = self.at(head).common.set(common);
    }
}

impl AtHead {
    fn new(head: i64) -> Self {
        AtHead {
            head,
            common: OnceLock::new(),
            snapshot: OnceLock::new(),
            view: OnceLock::new(),
        }
    }

    /// The part every view of the head shares, built from `state` (the projection at this
    /// head) on first use.
    pub fn common(&self, state: &State, metrics: &Metrics) -> &Common {
        self.common.get_or_init(|| {
            metrics.join_scans.fetch_add(1, Ordering::Relaxed);
            Arc::new(Common::of(state))
        })
    }

    /// The shared frame, if it was encoded at this head.
    pub fn frame(&self, which: Shared) -> Option<Frame> {
        self.cell(which).get().cloned()
    }

    /// Keeps the shared frame (the first one kept stays: they are the same bytes).
    pub fn keep(&self, which: Shared, frame: &Frame) {
        let _ = self.cell(which).set(frame.clone());
    }

    fn cell(&self, which: Shared) -> &OnceLock<Frame> {
        match which {
            Shared::Snapshot => &self.snapshot,
            Shared::View => &self.view,
        }
    }
}

/// A view to send: encoded already, or to encode outside the room's lock (and to keep when it
/// is the shared one).
enum Got {
    Kept(Frame),
    Build {
        view: Box<StateView>,
        share: Option<Arc<AtHead>>,
    },
}

/// The `snapshot` frame of the room's projection at `head` as `me` may see it, or `None` if
/// the room has moved past `head`. `encode` makes the frame of a view at a head (the
/// transport's wire form; the engine knows none). See the module comment.
pub fn snapshot(
    room: &Room,
    me: ParticipantId,
    head: i64,
    metrics: &Metrics,
    encode: impl FnOnce(i64, Box<StateView>) -> Frame,
) -> Option<Frame> {
    let got = room.read(|l| {
        if l.head != head {
            return None;
        }
        let at = room.joins().at(head);
        let common = at.common(&l.state, metrics);
        if pushed::has_own_part(&l.state, me, common.discussion()) {
            let view = Box::new(view::state_view_with(&l.state, Some(me), common));
            return Some(Got::Build { view, share: None });
        }
        Some(match at.frame(Shared::Snapshot) {
            Some(frame) => Got::Kept(frame),
            None => Got::Build {
                view: Box::new(view::state_view_with(&l.state, None, common)),
                share: Some(at.clone()),
            },
        })
    })?;
    Some(match got {
        Got::Kept(frame) => frame,
        Got::Build { view, share } => {
            metrics.join_views_built.fetch_add(1, Ordering::Relaxed);
            let frame = encode(head, view);
            if let Some(at) = share {
                at.keep(Shared::Snapshot, &frame);
            }
            frame
        }
    })
}
