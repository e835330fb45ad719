// Read-only questions about a planning's projection (the `state` of GET /api/plannings/{id}),
// shared by the screens so they all answer them the same way.

export const SPECIAL = ['?', '☕'];

export function openRounds(s) {
  return (s.round_order || Object.keys(s.rounds)).map((id) => s.rounds[id]).filter((r) => r && !r.closed);
}

/** Items not withdrawn, in backlog order (ranked first, then by proposal). */
export function rankedItems(s) {
  const ids = [...(s.rank || [])];
  for (const id of s.proposal_order || Object.keys(s.items)) if (!ids.includes(id)) ids.push(id);
  return ids.map((id) => s.items[id]).filter((it) => it && !it.withdrawn);
}

export function members(s) {
  return Object.values(s.participants).filter((p) => p.role === 'member' && !p.removed);
}

export function nameOf(s, pid) {
  if (pid === '00000000-0000-0000-0000-000000000000') return 'server';
  return s.participants[pid]?.name || 'someone';
}

/** The item's latest round (open or closed), if any. */
export function lastRound(s, item) {
  return [...(item.rounds || [])].reverse().map((id) => s.rounds[id]).find(Boolean) || null;
}

/** Members who have not voted on every item of an open round. */
export function notVoted(s, round) {
  return members(s).filter((m) => round.items.some((i) => !(round.votes?.[i] || {})[m.id]));
}

/** Questions addressed to `me` that are open: not deleted, not resolved, no undeleted answer. */
export function questionsFor(s, me) {
  return Object.values(s.comments || {})
    .filter((c) => c.kind === 'question' && c.addressee === me && !c.deleted && !c.resolved)
    .filter((c) => !isAnswered(s, c))
    .sort((a, b) => a.at - b.at);
}

export function isAnswered(s, q) {
  // The server says (a view holds only some answers); `answers` is the older shape.
  if (typeof q.answered === 'boolean') return q.answered;
  return (q.answers || []).some((id) => s.comments[id] && !s.comments[id].deleted);
}

/** Items of open rounds, deadline not passed, that member `me` has not voted on. */
export function pendingVotes(s, me, now = Date.now() * 1000) {
  const out = [];
  for (const r of openRounds(s)) {
    if (r.deadline <= now) continue;
    for (const i of r.items) {
      if (!(r.votes?.[i] || {})[me]) out.push({ round: r, item: s.items[i] });
    }
  }
  return out.sort((a, b) => a.round.deadline - b.round.deadline);
}

/**
 * The vote distribution of revealed votes on a deck: counts per card (deck order, then `?`/`☕`),
 * the spread in deck steps (and in points when cards are numbers) and the median card.
 */
export function distribution(deck, votes, pointTable = {}) {
  const counts = new Map([...deck.cards, ...SPECIAL].map((c) => [c, []]));
  for (const v of votes) {
    if (!counts.has(v.card)) counts.set(v.card, []);
    counts.get(v.card).push(v.voter);
  }
  const steps = votes.map((v) => deck.cards.indexOf(v.card)).filter((i) => i >= 0).sort((a, b) => a - b);
  let median = null;
  let spread = null;
  if (steps.length) {
    // The upper median on an even count: a card that exists in the deck, and the same rule the
    // server uses for a converged item's proposed estimate (src/domain/policy.rs).
    median = deck.cards[steps[Math.floor(steps.length / 2)]];
    spread = steps[steps.length - 1] - steps[0];
  }
  const point = (c) => (c in pointTable ? Number(pointTable[c]) : Number(c));
  let spreadPoints = null;
  if (steps.length) {
    const lo = point(deck.cards[steps[0]]);
    const hi = point(deck.cards[steps[steps.length - 1]]);
    if (Number.isFinite(lo) && Number.isFinite(hi)) spreadPoints = hi - lo;
  }
  return { counts, median, spread, spreadPoints, estimates: steps.length };
}

/** Points of a card under the planning's point table (null for `?`, `☕` or words without points). */
export function pointsOf(s, card) {
  const table = s.policy?.point_table || {};
  if (card in table) return Number(table[card]);
  const n = Number(card === '½' ? 0.5 : card);
  return Number.isFinite(n) ? n : null;
}

export const FLAG_TEXT = {
  spread: 'the votes are far apart',
  unsure: 'someone could not estimate (?)',
  quorum: 'too few members voted',
  manual: 'flagged by hand',
  discussion: 'needs discussion before any vote',
};

/** Why an item needs live discussion (`derived.needs_discussion` reasons), in words. */
export function discussionText(reason) {
  switch (reason.reason) {
    case 'no_acceptance_criteria':
      return 'no acceptance criteria';
    case 'open_questions': {
      const n = reason.questions?.length || 0;
      return `${n} open question${n === 1 ? '' : 's'}`;
    }
    case 'failing_readiness':
      return 'fails the Definition of Ready';
    case 'unresolved_dependencies':
      return 'depends on items not settled yet';
    default:
      return reason.reason;
  }
}
