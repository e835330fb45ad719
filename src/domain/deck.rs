//! Estimation decks: the cards a vote may take and how cards map to points.

use super::fixed::Fixed2;
use super::words::quoted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// "Can't estimate": flags the item (policy `unsure`).
pub const UNSURE: &str = "?";
/// "I need a pause": an abstention, not a vote for quorum or spread.
pub const PAUSE: &str = "☕";

/// Which family a deck belongs to (only informative; `cards` is the truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeckKind {
    Fibonacci,
    ModifiedFibonacci,
    TShirt,
    PowersOfTwo,
    Custom,
}

/// A deck: its estimate cards in ascending order, plus the special cards `?` and `☕`.
///
/// Deck steps (for the divergence policy and the proposed estimate) are positions in `cards`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deck {
    pub kind: DeckKind,
    /// Estimate cards, lowest first; never contains the special cards.
    pub cards: Vec<String>,
}

/// Longest card label accepted in a custom deck.
pub const MAX_CARD_LEN: usize = 16;
/// Most cards in a custom deck.
pub const MAX_CARDS: usize = 30;

impl Deck {
    fn of(kind: DeckKind, cards: &[&str]) -> Deck {
        Deck {
            kind,
            cards: cards.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// 0 1 2 3 5 8 13 21 (+ `?`).
    pub fn fibonacci() -> Deck {
        Self::of(
            DeckKind::Fibonacci,
            &["0", "1", "2", "3", "5", "8", "13", "21"],
        )
    }

    /// 0 ½ 1 2 3 5 8 13 20 40 100 (+ `?`).
    pub fn modified_fibonacci() -> Deck {
        Self::of(
            DeckKind::ModifiedFibonacci,
            &["0", "½", "1", "2", "3", "5", "8", "13", "20", "40", "100"],
        )
    }

    /// XS S M L XL (+ `?`); points come from the planning's point table.
    pub fn t_shirt() -> Deck {
        Self::of(DeckKind::TShirt, &["XS", "S", "M", "L", "XL"])
    }

    /// 1 2 4 8 16 32 (+ `?`).
    pub fn powers_of_two() -> Deck {
        Self::of(DeckKind::PowersOfTwo, &["1", "2", "4", "8", "16", "32"])
    }

    /// A custom deck; validated by [`Deck::validate`].
    pub fn custom(cards: Vec<String>) -> Deck {
        Deck {
            kind: DeckKind::Custom,
            cards,
        }
    }

    /// Checks the deck is usable: 2..=30 distinct, non-empty, short labels, no special cards.
    pub fn validate(&self) -> Result<(), String> {
        if self.cards.len() < 2 || self.cards.len() > MAX_CARDS {
            return Err(format!("a deck needs 2 to {MAX_CARDS} cards"));
        }
        for (i, c) in self.cards.iter().enumerate() {
            if c.trim().is_empty() || c.chars().count() > MAX_CARD_LEN {
                return Err(format!(
                    "card {} must be 1 to {MAX_CARD_LEN} characters",
                    quoted(c)
                ));
            }
            if super::decide::hides_text(c, false) {
                return Err("a card contains control characters".into());
            }
            if c == UNSURE || c == PAUSE {
                return Err(format!(
                    "card {} is a special card, always available",
                    quoted(c)
                ));
            }
            if self.cards[..i].contains(c) {
                return Err(format!("card {} appears twice", quoted(c)));
            }
        }
        Ok(())
    }

    /// Whether `card` may be played with this deck (estimate cards and the special cards).
    pub fn accepts(&self, card: &str) -> bool {
        card == UNSURE || card == PAUSE || self.step(card).is_some()
    }

    /// Position of an estimate card in the deck (`None` for special or unknown cards).
    pub fn step(&self, card: &str) -> Option<usize> {
        self.cards.iter().position(|c| c == card)
    }

    /// Points of a card: the planning's point table first, then the card read as a number.
    pub fn points(&self, card: &str, table: &BTreeMap<String, Fixed2>) -> Option<Fixed2> {
        if let Some(p) = table.get(card) {
            return Some(*p);
        }
        self.step(card)?;
        Fixed2::parse(card)
    }
}

impl Default for Deck {
    fn default() -> Self {
        Deck::fibonacci()
    }
}

/// The default point table for t-shirt sizes.
pub fn default_point_table() -> BTreeMap<String, Fixed2> {
    [("XS", 1), ("S", 2), ("M", 3), ("L", 5), ("XL", 8)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Fixed2::from_int(v)))
        .collect()
}
