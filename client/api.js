// REST calls (docs/protocol.md). Every failure is thrown as an ApiError with the server's code.

import { TIMELINE_PAGE } from './protocol.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { token, body, raw = false, text: rawBody, contentType } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (rawBody !== undefined) headers['Content-Type'] = contentType;
  if (token) headers.Authorization = `Bearer ${token}`;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: rawBody !== undefined ? rawBody : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached.');
  }
  const text = await resp.text();
  if (raw && resp.ok) return text;
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || text);
    if (Array.isArray(err.rows)) e.rows = err.rows;
    throw e;
  }
  return data;
}

const enc = encodeURIComponent;

/** Creates a planning; the caller becomes its facilitator. `deck` is optional. */
export function createPlanning(title, name, deck) {
  return request('POST', '/api/plannings', { body: deck ? { title, name, deck } : { title, name } });
}

/** Creates a planning for a team (admin token of the team); the answer adds the roster's links. */
export function createTeamPlanning(team, adminToken, body) {
  return request('POST', `/api/teams/${enc(team)}/plannings`, { token: adminToken, body });
}

/** A token drawn here, as the server draws its own: 32 random bytes, lowercase hex. */
export function newToken() {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Joins with an invite (the invite decides the role) and a token of our own (`newToken`): the
 * same request sent again joins once.
 */
export function join(planning, invite, name, token) {
  return request('POST', `/api/plannings/${enc(planning)}/join`, { body: { invite, name, token } });
}

/** The planning as this token sees it: {planning, head, you, online, state}. */
export function readPlanning(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}`, { token });
}

/**
 * My inbox as the server derives it (`src/domain/inbox.rs`): votes I owe, questions for me, my
 * flags, reminders, and who has not voted in each open round.
 */
export function readInbox(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}/inbox`, { token });
}

/** A command over REST (used when no socket is wanted). */
export function command(planning, token, clientOpId, cmd) {
  return request('POST', `/api/plannings/${enc(planning)}/commands`, {
    token,
    body: { client_op_id: clientOpId, command: cmd },
  });
}

/**
 * One page of a thread's comments posted before `before` (a comment's `n`), oldest first:
 * `{comments, before}` where `before` is the cursor of the page before it (null: none).
 * `item` null is the planning's own thread.
 */
export function commentPage(planning, token, item, before, limit = 50) {
  const thread = item ? `/items/${enc(item)}` : '';
  const from = before === null || before === undefined ? '' : `before=${enc(before)}&`;
  return request('GET', `/api/plannings/${enc(planning)}${thread}/comments?${from}limit=${enc(limit)}`, { token });
}

/** The planning as the caller could have seen it right after `at`. */
export function readPlanningAt(planning, token, at) {
  return request('GET', `/api/plannings/${enc(planning)}?at=${enc(at)}`, { token });
}

/** One page of the timeline (scrub index). */
export function timeline(planning, token, after = 0, limit = TIMELINE_PAGE) {
  return request('GET', `/api/plannings/${enc(planning)}/timeline?after=${enc(after)}&limit=${enc(limit)}`, { token });
}

/** Most timeline pages read in one go: a server that never says `done` cannot loop us forever. */
const MAX_TIMELINE_PAGES = 1000;

/** The whole timeline, paged. */
export async function fullTimeline(planning, token) {
  const entries = [];
  let after = 0;
  let head = 0;
  for (let n = 0; n < MAX_TIMELINE_PAGES; n += 1) {
    const page = await timeline(planning, token, after);
    entries.push(...page.entries);
    head = page.head;
    if (page.done || page.next_after <= after) break;
    after = page.next_after;
  }
  return { entries, head };
}

/** What others changed since `since` (default: my last action). */
export function digest(planning, token, since) {
  const q = since === undefined || since === null ? '' : `?since=${enc(since)}`;
  return request('GET', `/api/plannings/${enc(planning)}/digest${q}`, { token });
}

/** The audit: JSON parsed, or `md` / `csv` as text. */
export function audit(planning, token, format = 'json') {
  return request('GET', `/api/plannings/${enc(planning)}/audit?format=${enc(format)}`, { token, raw: format !== 'json' });
}

/** The chain check: recomputes every event's hash on the server. */
export function verify(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}/verify`, { token });
}

/** What each held token opens: title, phase, my role, votes I still owe (invalid ones left out). */
export function myPlannings(tokens) {
  return request('POST', '/api/my-plannings', { body: { tokens } });
}

/**
 * Imports a backlog file (`format` csv or jira). With `dryRun` nothing is written and the answer
 * is the preview: `{items: [{line, …draft}], rows: [{line, error}], refusal}`. `opId` makes the
 * real import idempotent (the same file sent twice imports once).
 */
export function importItems(planning, token, format, text, { dryRun = false, opId } = {}) {
  const q = `format=${enc(format)}${dryRun ? '&dry_run=true' : ''}${opId ? `&client_op_id=${enc(opId)}` : ''}`;
  const contentType = format === 'jira' ? 'application/json' : 'text/csv';
  return request('POST', `/api/plannings/${enc(planning)}/import?${q}`, { token, text, contentType });
}

/** The planning's tracker connection, without its credential (404 `not_found` when none). */
export function trackerConnection(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}/tracker`, { token });
}

/** Sets (or replaces) the tracker connection: `{kind, site, field | repo, email?, token}`. */
export function setTracker(planning, token, body) {
  return request('PUT', `/api/plannings/${enc(planning)}/tracker`, { token, body });
}

/** Forgets the tracker connection and its credential. */
export function clearTracker(planning, token) {
  return request('DELETE', `/api/plannings/${enc(planning)}/tracker`, { token });
}

/** Asks the tracker who the credential is: `{ok, account}`. */
export function trackerTest(planning, token) {
  return request('POST', `/api/plannings/${enc(planning)}/tracker/test`, { token });
}

/** Imports issues (`{jql}`, `{board, sprint}`, `{label}` or `{milestone}`); `dryRun` previews. */
export function trackerImport(planning, token, body, { dryRun = false } = {}) {
  return request('POST', `/api/plannings/${enc(planning)}/tracker/import${dryRun ? '?dry_run=true' : ''}`, { token, body });
}

/** Queues a write of every agreed estimate to the tracker: `{queued, skipped}`. */
export function trackerWriteBack(planning, token) {
  return request('POST', `/api/plannings/${enc(planning)}/tracker/writeback`, { token });
}

/** Whether a connection is set, and each item's latest write-back: `{connected, writes: [{item, key, estimate, state, attempts, error}]}`. */
export function trackerWrites(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}/tracker/writeback`, { token });
}

/** The agreed estimates for a tracker's bulk update: `csv` as text, `json` parsed. */
export function exportEstimates(planning, token, format = 'csv') {
  return request('GET', `/api/plannings/${enc(planning)}/export/estimates?format=${enc(format)}`, { token, raw: format !== 'json' });
}

/**
 * Sync slots from the server's slot finder (the working hours of everyone who set a time zone):
 * `from`/`to` in microseconds, `minutes` the session length; best first.
 */
export function slots(planning, token, { from, to, minutes, step, limit } = {}) {
  const q = new URLSearchParams();
  if (from != null) q.set('from', new Date(from / 1000).toISOString());
  if (to != null) q.set('to', new Date(to / 1000).toISOString());
  if (minutes != null) q.set('minutes', String(minutes));
  if (step != null) q.set('step', String(step));
  if (limit != null) q.set('limit', String(limit));
  return request('GET', `/api/plannings/${enc(planning)}/slots?${q}`, { token });
}

/** Creates a team with its roster; the answer holds the team's admin token (shown once). */
export function createTeam(name, roster) {
  return request('POST', '/api/teams', { body: { name, roster } });
}

/** A team: its roster, its plannings (committed points) and the velocity of its next planning. */
export function readTeam(team, adminToken) {
  return request('GET', `/api/teams/${enc(team)}`, { token: adminToken });
}

/** Replaces a team's roster. */
export function setRoster(team, adminToken, roster) {
  return request('PUT', `/api/teams/${enc(team)}/roster`, { token: adminToken, body: { roster } });
}

/**
 * Who a time falls inside and outside the working hours of, before it is set: `start` in
 * microseconds, `minutes` the session's length (0: an instant, a deadline).
 */
/** The caller's calendar links: `{ics, webcal}` (the live sync and the deadline, in their zone). */
export function calendarLinks(planning, token) {
  return request('GET', `/api/plannings/${enc(planning)}/calendar`, { token });
}

export function fit(planning, token, start, minutes = 0) {
  const q = new URLSearchParams({ start: new Date(start / 1000).toISOString(), minutes: String(minutes) });
  return request('GET', `/api/plannings/${enc(planning)}/fit?${q}`, { token });
}
