//! A vote's card and nonce held inside the vote, without a heap allocation of their own.
//!
//! A planning keeps every vote of every round it ever ran; as `String`s each card (one to a
//! few bytes) and each nonce (32 hex digits) took an allocation. Both read and write as the
//! same JSON strings as before, so snapshots and views do not change.

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

/// A card label: up to 24 bytes inline (a deck's labels are at most 16 characters, most one or
/// two bytes), longer ones on the heap — `compact_str`'s string, in the size of a `String`.
#[derive(Clone, PartialEq, Eq)]
pub struct Card(CompactString);

impl Card {
    pub fn new(label: &str) -> Card {
        Card(CompactString::new(label))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Card {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Card {
    fn from(label: &str) -> Card {
        Card::new(label)
    }
}

impl From<String> for Card {
    fn from(label: String) -> Card {
        Card::new(&label)
    }
}

impl From<&Card> for String {
    fn from(card: &Card) -> String {
        card.as_str().to_owned()
    }
}

impl PartialEq<str> for Card {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Card {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Card {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Display for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Card {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Card {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cow::<'de, str>::deserialize(d).map(|s| Card::new(&s))
    }
}

/// A vote's nonce: sixteen random bytes written as 32 lowercase hex digits (what the rules
/// draw), kept as the bytes; any other text (a log written otherwise) is kept as it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Nonce {
    Bytes([u8; 16]),
    Text(Box<str>),
}

impl Nonce {
    pub fn new(text: &str) -> Nonce {
        let mut bytes = [0; 16];
        let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if text.len() == 32 && lower && hex::decode_to_slice(text, &mut bytes).is_ok() {
            Nonce::Bytes(bytes)
        } else {
            Nonce::Text(text.into())
        }
    }

    /// The nonce as written in the log.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Nonce::Bytes(b) => Cow::Owned(hex::encode(b)),
            Nonce::Text(t) => Cow::Borrowed(t),
        }
    }
}

impl From<&str> for Nonce {
    fn from(text: &str) -> Nonce {
        Nonce::new(text)
    }
}

impl From<String> for Nonce {
    fn from(text: String) -> Nonce {
        Nonce::new(&text)
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text(), f)
    }
}

impl Serialize for Nonce {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cow::<'de, str>::deserialize(d).map(|s| Nonce::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_and_nonces_read_and_write_as_their_strings() {
        let long = "x".repeat(40);
        for label in ["3", "½", "☕", "?", "XL", "sixteen chars ok", &long, ""] {
            let card = Card::from(label.to_string());
            assert_eq!(card, label);
            assert_eq!(format!("{card}|{card:?}"), format!("{label}|{label:?}"));
            let json = serde_json::to_string(&card).unwrap();
            assert_eq!(json, serde_json::to_string(label).unwrap());
            assert_eq!(serde_json::from_str::<Card>(&json).unwrap(), card);
        }
        let drawn = hex::encode([0xAB; 16]);
        for text in [
            drawn.as_str(),
            "ABABABABABABABABABABABABABABABAB",
            "n",
            "0x12",
        ] {
            let nonce = Nonce::new(text);
            assert_eq!(nonce.text(), text);
            let json = serde_json::to_string(&nonce).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap());
            assert_eq!(serde_json::from_str::<Nonce>(&json).unwrap(), nonce);
        }
        assert!(matches!(Nonce::new(&drawn), Nonce::Bytes(_)));
    }

    #[test]
    fn a_vote_s_strings_fit_in_three_words() {
        assert_eq!(std::mem::size_of::<Card>(), 24);
        assert_eq!(std::mem::size_of::<Nonce>(), 24);
    }
}
