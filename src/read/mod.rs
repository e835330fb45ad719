//! Read models: pure functions from the domain's state and events to what people read.

pub mod audit;
pub mod calendar;
pub mod chat;
pub mod comments;
pub mod diff;
pub mod digest;
pub mod export;
pub mod import;
pub mod inbox;
pub mod pushed;
pub mod time_spent;
pub mod timeline;
pub mod utc;
pub mod view;

use crate::domain::event::{Event, Micros};
use crate::domain::ids::ParticipantId;

/// `s` as literal text inside a line of Markdown: HTML's `&`, `<` and `>` as entities (no tag,
/// no entity of the author's survives), Markdown's inline marks (emphasis, code, links and
/// images, table pipes, strike-through, a heading's closing `#`) escaped with a backslash, and
/// line breaks as spaces (a line cannot start a block).
pub fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// One event of a planning's log as the read models take it: where it sits in the log, who
/// did it and when it was recorded, and the fact itself. How the log is stored is no concern
/// of a read model (the engine turns stored rows into envelopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub seq: i64,
    pub id: uuid::Uuid,
    pub actor: ParticipantId,
    /// When the event was recorded.
    pub at: Micros,
    pub event: Event,
}

/// Dates a log's steps as they happened, walking it in order (see [`Dater::date`]).
#[derive(Debug, Default)]
pub struct Dater {
    /// The deadline close being dated: its batch's recorded time and the deadline.
    close: Option<(Micros, Micros)>,
}

impl Dater {
    /// When the step `e` happened: its recorded time, except for a deadline's close. A server
    /// records that close when it gets to it, after downtime maybe long past the deadline; the
    /// `RoundClosed` carries the deadline, and the rule's steps recorded in the same batch
    /// right after it (reveals, flags, proposed estimates) are dated at the deadline too.
    pub fn date(&mut self, e: &Envelope) -> Micros {
        use crate::domain::event::CloseReason;
        if let Event::RoundClosed {
            reason: CloseReason::Deadline,
            at,
            ..
        } = &e.event
        {
            self.close = (*at < e.at).then_some((e.at, *at));
            return (*at).min(e.at);
        }
        match self.close {
            Some((recorded, deadline)) if recorded == e.at && e.actor == ParticipantId::SYSTEM => {
                deadline
            }
            _ => {
                self.close = None;
                e.at
            }
        }
    }

    /// `e` dated as it happened: borrowed when its recorded time is that, else a copy.
    pub fn dated<'e>(&mut self, e: &'e Envelope) -> std::borrow::Cow<'e, Envelope> {
        let at = self.date(e);
        if at == e.at {
            std::borrow::Cow::Borrowed(e)
        } else {
            std::borrow::Cow::Owned(Envelope { at, ..e.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::CloseReason;
    use crate::domain::ids::{ItemId, RoundId};
    use uuid::Uuid;

    fn env(seq: i64, at: Micros, actor: ParticipantId, event: Event) -> Envelope {
        Envelope {
            seq,
            id: Uuid::nil(),
            actor,
            at,
            event,
        }
    }

    /// A deadline at 100 closed at 900 (after downtime): the close and the rule's flag in its
    /// batch are dated 100; the next batch, and a member's step, keep their recorded time.
    #[test]
    fn a_deadline_close_after_downtime_is_dated_at_the_deadline() {
        let (round, item) = (RoundId(Uuid::from_u128(1)), ItemId(Uuid::from_u128(2)));
        let sys = ParticipantId::SYSTEM;
        let ann = ParticipantId(Uuid::from_u128(3));
        let close = |reason| Event::RoundClosed {
            round,
            reason,
            at: 100,
        };
        let flag = Event::FlagCleared { item, by: sys };
        let log = [
            env(1, 900, sys, close(CloseReason::Deadline)),
            env(2, 900, sys, flag.clone()),
            env(3, 900, ann, flag.clone()),
            env(4, 950, sys, flag.clone()),
        ];
        let mut d = Dater::default();
        let dates: Vec<Micros> = log.iter().map(|e| d.date(e)).collect();
        assert_eq!(dates, [100, 100, 900, 950]);
        // A close on time, or by hand, is dated when it was recorded.
        let mut d = Dater::default();
        assert_eq!(d.date(&env(1, 100, sys, close(CloseReason::Deadline))), 100);
        assert_eq!(
            d.date(&env(1, 300, ann, close(CloseReason::Facilitator))),
            300
        );
    }

    #[test]
    fn markdown_text_is_inert() {
        assert_eq!(
            super::md_text("<img src=x onerror=alert(1)> **x** | y\n# [a](b) `c` ~d~ _e_ \\ &amp;"),
            "&lt;img src=x onerror=alert(1)&gt; \\*\\*x\\*\\* \\| y \\# \\[a\\](b) \\`c\\` \\~d\\~ \\_e\\_ \\\\ &amp;amp;"
        );
        assert_eq!(
            super::md_text("Sprint 1.2: login (SSO)"),
            "Sprint 1.2: login (SSO)"
        );
    }
}
