//! What a room publishes to its subscribers: JSON texts serialised once and shared by every
//! connection that sends them (a transport frames them; the engine knows no wire format).

use crate::domain::ids::ParticipantId;
use serde::Serialize;

/// One JSON text, serialised once and shared by reference count: queuing it for a thousand
/// subscribers copies no text.
#[derive(Clone, Debug)]
pub struct Frame(bytes::Bytes);

impl Frame {
    /// `value` serialised as JSON.
    pub fn json(value: &impl Serialize) -> Self {
        let mut buf = Vec::with_capacity(256);
        if serde_json::to_writer(&mut buf, value).is_err() {
            // Only a map with non-string keys fails, and no message has one.
            buf = b"{}".to_vec();
        }
        Frame(buf.into())
    }

    /// The JSON text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A shared frame and maybe a private one for one participant.
pub(crate) type Frames = (Frame, Option<(ParticipantId, Frame)>);

/// What a room sends its subscribers, in the order it happened.
#[derive(Debug)]
pub enum Outgoing {
    /// An appended event.
    Event(EventOut),
    /// Who came online and who went offline ([`PresenceChange`]).
    Presence(Frame),
    /// The change to the kept views after a batch (see `engine::views`).
    Views(crate::engine::views::ViewPush),
}

/// An event's frames.
#[derive(Debug)]
pub struct EventOut {
    pub seq: i64,
    /// The frame every participant gets.
    pub shared: Frame,
    /// A different frame for one participant (the author's own vote).
    pub private: Option<(ParticipantId, Frame)>,
    /// Token hashes that stopped working with this event: their connections must close.
    pub revoked: Vec<String>,
}

impl EventOut {
    /// The frame `viewer` should get.
    pub fn frame_for(&self, viewer: ParticipantId) -> &Frame {
        match &self.private {
            Some((p, text)) if *p == viewer => text,
            _ => &self.shared,
        }
    }
}

/// Who came online and who went offline since the previous presence frame (soft state, not
/// logged). Its wire form is the `presence` frame of docs/protocol.md without `online`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "presence")]
pub struct PresenceChange {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    joined: Vec<ParticipantId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    left: Vec<ParticipantId>,
}

impl PresenceChange {
    pub fn new(joined: Vec<ParticipantId>, left: Vec<ParticipantId>) -> Self {
        PresenceChange { joined, left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_change_has_the_presence_frame_shape() {
        let p = ParticipantId(uuid::Uuid::from_u128(1));
        let text = Frame::json(&PresenceChange::new(vec![p], vec![]));
        let v: serde_json::Value = serde_json::from_slice(text.as_bytes()).expect("json");
        assert_eq!(v, serde_json::json!({"type": "presence", "joined": [p]}));
    }
}
