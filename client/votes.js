// Voting pieces shared by the board and the live view: the countdowns, the member's voting
// context and deck, and the votes on an item (face down while the round is open).

import { h, countdown } from './dom.js';
import { openRounds, nameOf, lastRound } from './model.js';
import { SPECIAL_CARDS, UNSURE, PAUSE } from './protocol.js';
import { keyFor, keysInWords } from './keys.js';

/**
 * Keeps every `[data-deadline]` countdown inside root current, once a second and without a
 * re-render; returns the interval to clear when the view goes.
 */
export function runCountdowns(root) {
  return setInterval(() => {
    for (const el of root.querySelectorAll('[data-deadline]')) el.textContent = countdown(Number(el.dataset.deadline));
  }, 1000);
}

/** The member's voting context: the open round and item to vote on now, and its cards. */
export function votingContext(ctx, { liveOnly = false } = {}) {
  const v = ctx.store.view;
  if (!v || v.you.role !== 'member') return null;
  const me = v.you.participant;
  const pairs = openRounds(v.state)
    .filter((r) => !liveOnly || r.live)
    .flatMap((r) => r.items.map((item) => ({ round: r, item })));
  if (!pairs.length) return null;
  let pick = pairs.find((p) => p.item === ctx.shared.current);
  if (!pick) pick = pairs.find((p) => !(p.round.votes?.[p.item] || {})[me]) || pairs[0];
  return { ...pick, cards: pick.round.deck.cards, pairs };
}

/** The deck to vote with (cards, keyboard hint, my vote, withdraw, next item). */
export function votingPanel(ctx, vc, rerenderAll) {
  const v = ctx.store.view;
  const me = v.you.participant;
  const item = v.state.items[vc.item];
  const mine = (vc.round.votes?.[vc.item] || {})[me];
  const next = vc.pairs.find((p) => p.item !== vc.item && !(p.round.votes?.[p.item] || {})[me]);
  const cast = (card) => {
    ctx.shared.current = vc.item;
    ctx.send({ type: 'CastVote', round: vc.round.id, item: vc.item, card }).catch(() => {});
  };
  return h(
    'div',
    { class: 'voting' },
    h('h3', {}, 'Your vote on ', h('em', {}, item?.draft.title || '')),
    h(
      'div',
      { class: 'deck', role: 'group', 'aria-label': `Cards (${keysInWords(vc.cards)})` },
      [...vc.cards, ...SPECIAL_CARDS].map((c) =>
        h(
          'button',
          {
            type: 'button',
            class: `vcard ${mine && mine.card === c ? 'mine' : ''}`,
            'aria-pressed': mine && mine.card === c ? 'true' : 'false',
            'aria-label': c === UNSURE ? `${UNSURE} (cannot estimate)` : c === PAUSE ? `${PAUSE} (need a break)` : `card ${c}`,
            dataset: { card: c, key: `card-${c}` },
            title: keyFor(c) ? `key ${keyFor(c)}` : undefined,
            'aria-keyshortcuts': keyFor(c) && keyFor(c).length === 1 ? keyFor(c) : undefined,
            onclick: () => cast(c),
          },
          c,
        ),
      ),
    ),
    h('p', { class: 'hint', id: 'deck-keys' }, `Keys: ${keysInWords(vc.cards)}; j/k next or previous item; h all keys. You can change or withdraw your vote until the round closes.`),
    mine
      ? h(
          'p',
          { id: 'my-vote' },
          'Your vote: ',
          h('strong', {}, mine.card),
          ' ',
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              id: 'withdraw-vote',
              onclick: () => ctx.send({ type: 'WithdrawVote', round: vc.round.id, item: vc.item }).catch(() => {}),
            },
            'Withdraw my vote',
          ),
        )
      : null,
    next
      ? h(
          'button',
          {
            type: 'button',
            id: 'next-item',
            onclick: () => {
              ctx.shared.current = next.item;
              rerenderAll();
            },
          },
          'Next item to vote on',
        )
      : null,
  );
}

/** Votes on an item: face-down cards while its round is open, the values once revealed. */
export function itemVotes(s, it, me) {
  const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
  if (inOpen) {
    const voters = Object.entries(inOpen.votes?.[it.id] || {});
    return h(
      'div',
      { class: 'votes', 'aria-label': 'Votes' },
      voters.length ? null : h('span', { class: 'muted' }, 'No votes yet.'),
      voters.map(([pid, vote]) =>
        pid === me
          ? h('span', { class: 'vote mine', dataset: { voter: pid } }, h('span', { class: 'vcard small mine' }, vote.card ?? '✓'), ' you')
          : h('span', { class: 'vote down', dataset: { voter: pid } }, h('span', { class: 'vcard small back', role: 'img', 'aria-label': 'face-down card' }, ''), ` ${nameOf(s, pid)}`),
      ),
    );
  }
  const revealed = lastRound(s, it)?.revealed?.[it.id];
  if (revealed?.length) {
    return h(
      'div',
      { class: 'votes revealed', 'aria-label': 'Revealed votes' },
      revealed.map((rv) => h('span', { class: 'vote up', dataset: { voter: rv.voter } }, h('span', { class: 'vcard small' }, rv.card), ` ${rv.voter === me ? 'you' : nameOf(s, rv.voter)}`)),
    );
  }
  return null;
}
