// Keyboard voting and navigation: a card is cast by typing its label ("3" is the card 3, "13"
// is typed 1 then 3, "xl" the T-shirt XL); `?` is unsure, `p` the pause card; `j`/`]` and
// `k`/`[` move to the next/previous item to vote on; `h` shows the keys. The deck comes from
// the round (the server's); nothing here decides a rule.

import { UNSURE, PAUSE } from './protocol.js';

/** How long a typed prefix waits for its next key when a longer card starts with it. */
export const TYPE_PAUSE_MS = 700;

/** Labels typed differently from how they are written. */
const ALIASES = { '½': '.5', [PAUSE]: 'p' };

/** Moves between items and shows the keys (unless a card's label starts with the key). */
export const NAV_KEYS = { next: ['j', ']'], previous: ['k', '['], help: ['h'] };

/** What to type for a card: its label (lower case), or an alias for one no keyboard has. */
export function keyFor(card) {
  if (card === UNSURE) return UNSURE;
  const typed = ALIASES[card] ?? card.toLowerCase();
  return /^[\x21-\x7e]+$/.test(typed) ? typed : null;
}

/** Every card of `cards` (plus the special ones) with what to type for it; `null`: no key. */
export function deckKeys(cards) {
  return [...cards, UNSURE, PAUSE].map((card) => ({ card, key: keyFor(card) }));
}

/** "type 1, 2, 3, 5, 8, 13 or 21; ? unsure; p a pause" — the deck's keys in words. */
export function keysInWords(cards) {
  const typed = cards.map((c) => keyFor(c)).filter(Boolean);
  const list = typed.length > 1 ? `${typed.slice(0, -1).join(', ')} or ${typed[typed.length - 1]}` : typed.join('');
  return `type a card's label (${list}); ${UNSURE} for unsure; p for a pause`;
}

/**
 * Turns key presses into cards: `press(key)` answers `{card}` (cast it now), `{wait: true}`
 * (a longer card may follow: `onLate(card)` is called after TYPE_PAUSE_MS unless another key
 * comes), or `null` (no card starts with what was typed).
 */
export class CardTyper {
  constructor(onLate) {
    this.onLate = onLate;
    this.typed = '';
    this.timer = null;
  }

  reset() {
    clearTimeout(this.timer);
    this.timer = null;
    this.typed = '';
  }

  press(key, cards) {
    const k = key.toLowerCase();
    const keys = deckKeys(cards).filter((d) => d.key);
    clearTimeout(this.timer);
    let typed = this.typed + k;
    if (!keys.some((d) => d.key.startsWith(typed))) {
      // A fresh start: a card typed whole before it ("1", then "j") is cast first.
      const before = keys.find((d) => d.key === this.typed);
      if (before) this.onLate(before.card);
      typed = k;
    }
    const starting = keys.filter((d) => d.key.startsWith(typed));
    if (!starting.length) {
      this.typed = '';
      return null;
    }
    const exact = starting.find((d) => d.key === typed);
    if (exact && starting.length === 1) {
      this.typed = '';
      return { card: exact.card };
    }
    this.typed = typed;
    this.timer = setTimeout(() => {
      const card = exact?.card;
      this.reset();
      if (card !== undefined) this.onLate(card);
    }, TYPE_PAUSE_MS);
    return { wait: true };
  }
}
