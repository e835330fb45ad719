// Fixed values of the wire protocol (docs/protocol.md) the client depends on: close codes, the
// system actor, the special cards, the deck presets, page sizes and input limits. They live here
// once so every module that needs one agrees with the server and with the others.

/**
 * Websocket close codes ("Close codes" in docs/protocol.md). Only `REVOKED` stops the client:
 * on every other code it reconnects with `since`, as the table says.
 */
export const CLOSE = {
  /** We leave the planning (our own close). */
  NORMAL: 1000,
  /** The server shuts down. */
  GOING_AWAY: 1001,
  /** Storage unavailable during catch-up, or an internal error. */
  INTERNAL: 1011,
  /** Our own close on a seq gap: reconnecting with `since` fills it. */
  GAP: 4000,
  /** Our token was revoked: retrying cannot help. */
  REVOKED: 4003,
  /** We read too slowly and our outbound queue filled up. */
  SLOW_CONSUMER: 4008,
};

/** The participant id the server acts as (scheduler phase changes, reminders, …). */
export const SYSTEM_ACTOR = '00000000-0000-0000-0000-000000000000';

/** "Cannot estimate" (flags the item) and "need a break" (an abstention): on every deck. */
export const UNSURE = '?';
export const PAUSE = '☕';
export const SPECIAL_CARDS = [UNSURE, PAUSE];

/** The preset decks' cards by `kind` (the server's `Deck` presets); `custom` brings its own. */
export const DECK_PRESETS = {
  fibonacci: ['0', '1', '2', '3', '5', '8', '13', '21'],
  modified_fibonacci: ['0', '½', '1', '2', '3', '5', '8', '13', '20', '40', '100'],
  t_shirt: ['XS', 'S', 'M', 'L', 'XL'],
  powers_of_two: ['1', '2', '4', '8', '16', '32'],
};

/** The deck a planning gets when none is sent. */
export const DEFAULT_DECK = 'fibonacci';

/** Largest page the server gives: comments (`limit` 1–500) and timeline entries. */
export const COMMENT_PAGE_MAX = 500;
export const TIMELINE_PAGE = 1000;

/** Most tokens one `POST /api/my-plannings` may carry. */
export const MY_PLANNINGS_MAX = 50;

/** Input lengths (characters) the client lets one type, within the server's limits. */
export const MAX_LEN = {
  title: 200,
  name: 80,
  goal: 500,
  /** Notes and short questions (capacity notes, a goal amendment's note, a coin flip's question). */
  short: 200,
  comment: 4000,
};

/** Working hours of someone who set a time zone but no hours (minutes after local midnight). */
export const DEFAULT_WORK_START = 540;
export const DEFAULT_WORK_END = 1050;

/** The days a working day may start on, in the protocol's words, Monday first. */
export const WORK_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** The days when someone set none. */
export const DEFAULT_WORK_DAYS = ['mon', 'tue', 'wed', 'thu', 'fri'];
