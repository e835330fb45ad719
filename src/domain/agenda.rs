//! The live agenda `StartSync` proposes: flagged items only, the hardest discussions first.
//!
//! Order: items flagged `unsure` (someone played `?`) first; then items flagged `spread`, the
//! widest spread first (distance in deck steps between the highest and the lowest sealed vote
//! of the round that flagged them); then `quorum`, `manual` and `discussion` flags. Ties, and the order inside
//! each group, follow the backlog rank.
//!
//! The spread is computed here, inside the domain, from the sealed votes; the `AgendaSet` event
//! carries item ids only, so no vote value leaves the seal (only the relative order of the
//! spread items, which the facilitator asked for).

use super::ids::ItemId;
use super::policy::{FlagReason, Spread};
use super::state::{Item, State};

/// Spread in deck steps of the votes that flagged `item` (0 when unknown).
fn spread(state: &State, item: &Item) -> usize {
    let Some(round) = item
        .flag
        .as_ref()
        .and_then(|f| f.round)
        .and_then(|r| state.rounds.get(&r))
    else {
        return 0;
    };
    let cards = round
        .votes
        .get(&item.id)
        .into_iter()
        .flat_map(|v| v.values())
        .map(|v| v.card.as_str());
    Spread::of(&round.deck, cards).map_or(0, |s| s.steps())
}

/// The flagged items in agenda order (see the module docs).
pub fn sync_agenda(state: &State) -> Vec<ItemId> {
    let mut keyed: Vec<((u8, std::cmp::Reverse<usize>), usize, ItemId)> = state
        .ranked_items()
        .enumerate()
        .filter_map(|(rank, it)| {
            let flag = it.flag.as_ref()?;
            let key = match flag.reason {
                FlagReason::Unsure => (0, std::cmp::Reverse(0)),
                FlagReason::Spread => (1, std::cmp::Reverse(spread(state, it))),
                FlagReason::Quorum | FlagReason::Manual | FlagReason::Discussion => {
                    (2, std::cmp::Reverse(0))
                }
            };
            Some((key, rank, it.id))
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use crate::domain::command::Command;
    use crate::domain::command::{
        CastVote, ChangePhase, CloseRound, CreatePlanning, FlagItem, ImportItems, Join, OpenRound,
    };
    use crate::domain::event::{Event, ItemDraft, Phase};
    use crate::domain::ids::*;
    use crate::domain::policy::FlagReason;
    use crate::domain::state::State;
    use uuid::Uuid;

    fn p(n: u128) -> ParticipantId {
        ParticipantId(Uuid::from_u128(n))
    }

    fn hash(c: char) -> String {
        c.to_string().repeat(64)
    }

    use crate::domain::decide::testing::run;

    /// Three members vote on seven items: `votes[i]` are the cards of item i.
    #[test]
    fn start_sync_orders_unsure_then_widest_spread_then_the_rest_by_rank() {
        let (fac, a, b, c) = (p(1), p(2), p(3), p(4));
        let mut s = State::default();
        run(
            &mut s,
            fac,
            1,
            Command::CreatePlanning(CreatePlanning {
                title: "S".into(),
                creator_name: "Fran".into(),
                creator_token_hash: hash('a'),
                deck: None,
                policy: None,
                member_invite_hash: hash('b'),
                observer_invite_hash: hash('c'),
            }),
        );
        for (who, t) in [(a, 'd'), (b, 'e'), (c, 'f')] {
            run(
                &mut s,
                who,
                2,
                Command::Join(Join {
                    name: format!("M{t}"),
                    invite_hash: hash('b'),
                    token_hash: hash(t),
                }),
            );
        }
        let drafts = (0..7)
            .map(|i| ItemDraft {
                title: format!("item {i}"),
                description: String::new(),
                acceptance_criteria: vec![],
                attachments: vec![],
                dependencies: vec![],
                labels: vec![],
                external_key: None,
            })
            .collect();
        run(
            &mut s,
            fac,
            3,
            Command::ImportItems(ImportItems {
                items: drafts,
                source: "csv".into(),
            }),
        );
        let items = s.rank.clone();
        run(
            &mut s,
            fac,
            4,
            Command::ChangePhase(ChangePhase { to: Phase::Async }),
        );
        run(
            &mut s,
            fac,
            5,
            Command::OpenRound(OpenRound {
                items: items[..6].to_vec(),
                deck: None,
                deadline: Some(1_000_000),
            }),
        );
        let round = s.round_order[0];
        // item 0: 3 8 5 → spread 2; item 1: converges; item 2: `?` → unsure;
        // item 3: 1 13 2 → spread 5; item 4: only one vote → quorum; item 5: 2 8 3 → spread 3.
        let votes: [&[&str]; 6] = [
            &["3", "8", "5"],
            &["5", "5", "5"],
            &["5", "?", "5"],
            &["1", "13", "2"],
            &["5"],
            &["2", "8", "3"],
        ];
        let mut now = 10;
        for (i, cards) in votes.iter().enumerate() {
            for (who, card) in [a, b, c].iter().zip(cards.iter()) {
                now += 1;
                run(
                    &mut s,
                    *who,
                    now,
                    Command::CastVote(CastVote {
                        round,
                        item: items[i],
                        card: card.to_string(),
                    }),
                );
            }
        }
        run(&mut s, fac, 100, Command::CloseRound(CloseRound { round }));
        // Send the converged item to the agenda by hand; item 6 was never estimated.
        run(
            &mut s,
            fac,
            101,
            Command::FlagItem(FlagItem {
                item: items[1],
                note: None,
            }),
        );
        assert_eq!(
            s.items[&items[4]].flag.as_ref().map(|f| f.reason),
            Some(FlagReason::Quorum)
        );

        let events = run(&mut s, fac, 102, Command::StartSync);
        let agenda = events
            .iter()
            .find_map(|e| match e {
                Event::AgendaSet { items, .. } => Some(items.clone()),
                _ => None,
            })
            .expect("AgendaSet");
        assert_eq!(
            agenda,
            vec![items[2], items[3], items[5], items[0], items[1], items[4]]
        );
        assert_eq!(s.agenda, agenda);
        // The event names items only: no card of a sealed vote is in it.
        let (_, _, payload) = events
            .iter()
            .find(|e| matches!(e, Event::AgendaSet { .. }))
            .map(|e| e.encode())
            .expect("AgendaSet");
        assert!(!payload.contains("\"13\"") && !payload.contains("card"));
        // Flagged votes are still sealed.
        assert!(!s.rounds[&round].revealed.contains_key(&items[3]));
    }
}
