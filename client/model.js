// Read-only questions about a planning's projection (the `state` of GET /api/plannings/{id}),
// shared by the screens so they all answer them the same way. Figures the server derives (my
// inbox, who has not voted, capacity and focused days, readiness, the agenda, open questions per
// thread, a revealed item's distribution, the items converged in async) are read from it, not
// recomputed here.

import { SYSTEM_ACTOR } from './protocol.js';

/** The rounds still open, in the order they were opened. */
export function openRounds(s) {
  return (s.round_order || Object.keys(s.rounds)).map((id) => s.rounds[id]).filter((r) => r && !r.closed);
}

/** Items not withdrawn, in backlog order (ranked first, then by proposal). */
export function rankedItems(s) {
  const ids = [...(s.rank || [])];
  for (const id of s.proposal_order || Object.keys(s.items)) if (!ids.includes(id)) ids.push(id);
  return ids.map((id) => s.items[id]).filter((it) => it && !it.withdrawn);
}

/** Members (who vote) not removed. */
export function members(s) {
  return Object.values(s.participants).filter((p) => p.role === 'member' && !p.removed);
}

/** A participant's name, for the system actor `server`. */
export function nameOf(s, pid) {
  if (pid === SYSTEM_ACTOR) return 'server';
  return s.participants[pid]?.name || 'someone';
}

/** The item's latest round (open or closed), if any. */
export function lastRound(s, item) {
  return [...(item.rounds || [])].reverse().map((id) => s.rounds[id]).find(Boolean) || null;
}

/**
 * The item's flag as it stands now (`now`) or as history (`past`): a flag a round raised holds
 * until a later round of the item is revealed without raising one (a re-vote that converged).
 */
export function flagOf(s, it) {
  const f = it.flag;
  if (!f) return { now: null, past: null };
  const r = lastRound(s, it);
  if (f.round && r && r.id !== f.round && r.revealed?.[it.id]) return { now: null, past: f };
  return { now: f, past: null };
}

/**
 * Whether a comment is an open question: not deleted, not resolved, and no answer stands. The
 * server decides `answered` (a view holds only some answers) and counts open questions per thread
 * in `derived.discussion`; this reads the same flags for one comment.
 */
export function isOpenQuestion(c) {
  return c.kind === 'question' && !c.deleted && !c.resolved && !c.answered;
}

export const FLAG_TEXT = {
  spread: 'the votes are far apart',
  unsure: 'someone could not estimate (?)',
  quorum: 'too few members voted',
  manual: 'flagged by hand',
  discussion: 'needs discussion before any vote',
};

/** A flag a later round left behind, in the past tense ("flagged earlier: the votes were far apart"). */
export function pastFlagText(f) {
  const why = { spread: 'the votes were far apart', unsure: 'someone could not estimate (?)', quorum: 'too few members voted' }[f.reason];
  return `flagged earlier${why ? `: ${why}` : ''}`;
}

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
