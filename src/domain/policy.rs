//! The divergence policy: when a closed round's item converges and when it is flagged.
//!
//! Rules, checked in this order for each item of a round (documented in `docs/domain.md`):
//! 1. `quorum`: fewer than `quorum_percent` % of the members voted (a `☕` is not a vote);
//! 2. `unsure`: `flag_unsure` is on and someone played `?`;
//! 3. `spread`: the highest and lowest estimate are `spread_steps` or more deck steps apart
//!    (default 2: on Fibonacci 3 vs 5 converges, 3 vs 8 is flagged).
//!
//! Otherwise the item converges and the proposed estimate is the deck card at the median vote,
//! rounding up (the upper median for an even count). A flag names its rule, never the values.

use super::deck::{Deck, UNSURE};
use serde::{Deserialize, Serialize};

/// Per-planning divergence settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DivergencePolicy {
    /// Flag when the highest and lowest estimate are this many deck steps apart or more.
    pub spread_steps: u32,
    /// Flag when anyone played `?`.
    pub flag_unsure: bool,
    /// Flag when fewer than this percentage of the members voted (0 disables).
    pub quorum_percent: u32,
}

impl Default for DivergencePolicy {
    fn default() -> Self {
        DivergencePolicy {
            spread_steps: 2,
            flag_unsure: true,
            quorum_percent: 50,
        }
    }
}

/// Why an item was flagged for the live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagReason {
    /// Too few members voted.
    Quorum,
    /// Someone could not estimate (`?`).
    Unsure,
    /// The votes are too far apart.
    Spread,
    /// Flagged by hand (a member, or the facilitator sending it to the agenda).
    Manual,
    /// Sent to the live agenda before any vote because it needs discussion (`SendToAgenda`).
    Discussion,
}

/// The outcome of one item of a closed round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Converged { proposed: String },
    Flagged(FlagReason),
}

impl DivergencePolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.spread_steps == 0 {
            return Err("spread_steps must be at least 1".into());
        }
        if self.quorum_percent > 100 {
            return Err("quorum_percent must be 0 to 100".into());
        }
        Ok(())
    }

    /// Judges one item from its cards (`☕` included) and the number of eligible members.
    pub fn judge<'a>(
        &self,
        deck: &Deck,
        cards: impl IntoIterator<Item = &'a str>,
        members: usize,
    ) -> Verdict {
        let cards: Vec<&str> = cards
            .into_iter()
            .filter(|c| *c != super::deck::PAUSE)
            .collect();
        let voted = cards.len();
        // voted/members < q/100, without division.
        if voted == 0 || (voted as u64) * 100 < (self.quorum_percent as u64) * (members as u64) {
            return Verdict::Flagged(FlagReason::Quorum);
        }
        if self.flag_unsure && cards.contains(&UNSURE) {
            return Verdict::Flagged(FlagReason::Unsure);
        }
        let Some(spread) = Spread::of(deck, cards) else {
            // Only `?` votes with flag_unsure off: nothing to estimate from.
            return Verdict::Flagged(FlagReason::Unsure);
        };
        if spread.steps() as u64 >= self.spread_steps as u64 {
            return Verdict::Flagged(FlagReason::Spread);
        }
        Verdict::Converged {
            proposed: deck.cards[spread.median].clone(),
        }
    }
}

/// Where the estimates on one item lie on the deck: the lowest, the highest and the median
/// card as deck steps. The rule [`DivergencePolicy::judge`] flags and proposes by, and what
/// views show of revealed votes, so both read the same figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub low: usize,
    pub high: usize,
    /// The upper median for an even count: a card of the deck, never between two.
    pub median: usize,
}

impl Spread {
    /// The spread of the estimate cards among `cards` (special and unknown cards are no
    /// estimate); `None` when there is no estimate.
    pub fn of<'a>(deck: &Deck, cards: impl IntoIterator<Item = &'a str>) -> Option<Spread> {
        let mut steps: Vec<usize> = cards.into_iter().filter_map(|c| deck.step(c)).collect();
        steps.sort_unstable();
        Some(Spread {
            low: *steps.first()?,
            high: *steps.last()?,
            median: steps[steps.len() / 2],
        })
    }

    /// How many deck steps apart the lowest and the highest estimate are.
    pub fn steps(&self) -> usize {
        self.high - self.low
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(cards: &[&str], members: usize) -> Verdict {
        DivergencePolicy::default().judge(&Deck::fibonacci(), cards.iter().copied(), members)
    }

    #[test]
    fn adjacent_cards_converge_on_the_upper_median() {
        assert_eq!(
            judge(&["3", "5"], 2),
            Verdict::Converged {
                proposed: "5".into()
            }
        );
        assert_eq!(
            judge(&["3", "3", "5"], 3),
            Verdict::Converged {
                proposed: "3".into()
            }
        );
    }

    #[test]
    fn two_steps_apart_is_flagged_as_spread() {
        assert_eq!(judge(&["3", "8"], 2), Verdict::Flagged(FlagReason::Spread));
    }

    #[test]
    fn unsure_beats_spread_and_quorum_beats_unsure() {
        assert_eq!(
            judge(&["?", "3", "21"], 3),
            Verdict::Flagged(FlagReason::Unsure)
        );
        assert_eq!(judge(&["?"], 4), Verdict::Flagged(FlagReason::Quorum));
        assert_eq!(judge(&[], 0), Verdict::Flagged(FlagReason::Quorum));
    }

    #[test]
    fn the_spread_is_read_on_deck_steps_with_the_upper_median() {
        let deck = Deck::fibonacci();
        let spread = |cards: &[&str]| Spread::of(&deck, cards.iter().copied());
        assert_eq!(
            spread(&["8", "3", "?", "☕", "5", "5"]),
            Some(Spread {
                low: 3,
                high: 5,
                median: 4
            })
        );
        assert_eq!(
            spread(&["3", "5"]).map(|s| s.median),
            Some(4),
            "upper median"
        );
        assert_eq!(spread(&["13"]).map(|s| s.steps()), Some(0));
        assert_eq!(spread(&["?", "☕"]), None);
    }

    #[test]
    fn pause_is_an_abstention() {
        assert_eq!(
            judge(&["☕", "☕", "5"], 3),
            Verdict::Flagged(FlagReason::Quorum)
        );
        assert_eq!(
            judge(&["☕", "5", "5"], 3),
            Verdict::Converged {
                proposed: "5".into()
            }
        );
    }
}
