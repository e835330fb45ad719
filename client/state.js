// The planning as this browser sees it. The server does the projection and derives the figures
// shown from it, and keeps this browser's copy current: the websocket keeps a view
// (docs/protocol.md, "Kept views"), whose shared part and my own part (my cards, questions
// for me, my inbox: votes I owe, who has not voted) arrive whole and then as patches after every
// batch of events. No event causes a REST read. `refresh()` reads the view over REST only when
// no websocket view has arrived yet (a first paint while the socket connects).
//
// A view carries only the recent part of each discussion thread (and its open questions);
// older comments are fetched page by page on demand (`loadOlder`) and kept here, beside the
// view, across refetches. Live comment events keep those copies current.

import { readPlanning, readInbox, commentPage } from './api.js';
import { COMMENT_PAGE_MAX } from './protocol.js';
import { applyPatch, overlay } from './patch.js';

export class PlanningStore {
  constructor(planning, token) {
    this.planning = planning;
    this.token = token;
    this.view = null; // {planning, head, you, online, state}
    this.inbox = null; // {participant, head, pending_votes, questions, flagged, reminders, rounds}
    this.listeners = new Set();
    this.fetching = false;
    this.again = false;
    this.timer = null;
    this.error = null;
    // Thread key (item id, or '' for the planning's own) → {comments: {id: comment}, before,
    // loading, error}: the older comments fetched so far and the cursor of the next page.
    this.older = new Map();
    // The kept view's parts as pushed (`view`, `mine`) and the head each is at.
    this.kept = { view: null, mine: null, viewAt: -1, mineAt: -1 };
    this.you = null;
    this.online = [];
  }

  /** The `hello` frame: who I am. */
  hello(f) {
    this.you = f.you;
    if (typeof f.now === 'number') this.clockOffsetMs = f.now / 1000 - Date.now();
  }

  /** The server's clock now, in milliseconds since the epoch (this browser's, corrected). */
  serverNow() {
    return Date.now() + (this.clockOffsetMs || 0);
  }

  /**
   * A frame of the kept view (`view`, `mine`, `view_patch`, `mine_patch`). Returns false when a
   * patch cannot be applied: the caller reconnects, and the whole view comes again.
   */
  applyKept(f) {
    const k = this.kept;
    const part = f.type.startsWith('view') ? 'view' : 'mine';
    const atKey = part === 'view' ? 'viewAt' : 'mineAt';
    if (f.type === 'view' || f.type === 'mine') {
      k[part] = f[part];
    } else {
      if (f.at <= k[atKey]) return true; // already held
      if (k[part] === null || f.base > k[atKey]) return false;
      try {
        k[part] = applyPatch(k[part], f.ops);
      } catch {
        k[part] = null;
        return false;
      }
    }
    k[atKey] = f.at;
    if (k.view && k.mine && this.you) {
      this.view = { planning: this.planning, head: k.viewAt, you: this.you, online: this.online, state: overlay(k.view, k.mine) };
      this.inbox = { ...k.mine.inbox, head: k.mineAt };
      this.error = null;
      this.followOlder();
      this.emit();
    }
    return true;
  }

  /** The comments of a thread held now (the view's and the older pages'), by id. */
  commentsOf(item) {
    const out = {};
    const older = this.older.get(item || '');
    if (older) Object.assign(out, older.comments);
    for (const c of Object.values(this.view?.state?.comments || {})) {
      if ((c.item || '') === (item || '')) out[c.id] = c; // the view's copy is the fresher
    }
    return out;
  }

  /** The thread's figures from the view (`derived.discussion`), if it has comments. */
  threadFigures(item) {
    const d = this.view?.state?.derived?.discussion;
    return (item ? d?.items?.[item] : d?.planning) || null;
  }

  /** Comments of the thread still to fetch (0 when every one is held). */
  olderLeft(item) {
    const f = this.threadFigures(item);
    if (!f || f.before === null || f.before === undefined) return 0;
    const older = this.older.get(item || '');
    if (older && older.before === null) return 0;
    // Held already: older pages, and the view's open questions from before its recent ones.
    const held = Object.values(this.commentsOf(item)).filter((c) => c.n < f.before).length;
    return Math.max(0, f.older - held);
  }

  /**
   * Fetches the next page of a thread's older comments. The pages held cover the comments
   * numbered `[before, top)`, the view those from its own `before` on; comments that left the
   * view's recent window since (`top` below the view's `before`) are fetched first.
   */
  async loadOlder(item) {
    const key = item || '';
    const f = this.threadFigures(item);
    if (!f || f.before === null || f.before === undefined) return;
    let older = this.older.get(key);
    if (!older) {
      older = { comments: {}, top: f.before, before: f.before, loading: false, error: null };
      this.older.set(key, older);
    }
    if (older.loading) return;
    older.loading = true;
    this.emit();
    try {
      await this.fillGap(item, older);
      if (older.before !== null) {
        const page = await commentPage(this.planning, this.token, item || null, older.before);
        for (const c of page.comments) older.comments[c.id] = c;
        older.before = page.before;
      }
      older.error = null;
    } catch (e) {
      older.error = e;
    } finally {
      older.loading = false;
      this.emit();
    }
  }

  /** Fetches what lies between the pages held and the view's recent window, if anything. */
  async fillGap(item, older) {
    const f = this.threadFigures(item);
    const until = f?.before;
    if (until === null || until === undefined || until <= older.top) return;
    let cursor = until;
    while (cursor !== null && cursor > older.top) {
      const page = await commentPage(this.planning, this.token, item || null, cursor, COMMENT_PAGE_MAX);
      for (const c of page.comments) older.comments[c.id] = c;
      cursor = page.before;
    }
    older.top = until;
  }

  /** After a refetch: close the gaps of the threads whose older pages are held. */
  followOlder() {
    for (const [key, older] of this.older) {
      const f = this.threadFigures(key || null);
      if (older.loading || !f || f.before === null || f.before === undefined || f.before <= older.top) continue;
      older.loading = true;
      this.fillGap(key || null, older)
        .catch((e) => {
          older.error = e;
        })
        .finally(() => {
          older.loading = false;
          this.emit();
        });
    }
  }

  /** Keeps fetched older comments current with a live event (the view is refetched anyway). */
  noteEvent(frame) {
    const d = frame?.data || {};
    const held = (id) => {
      for (const older of this.older.values()) if (older.comments[id]) return older.comments[id];
      return null;
    };
    const c = d.comment ? held(d.comment) : null;
    if (frame?.kind === 'CommentEdited' && c) Object.assign(c, { text: d.text, edited: true });
    if (frame?.kind === 'CommentDeleted' && c) Object.assign(c, { text: '', deleted: true });
    if (frame?.kind === 'QuestionResolved' && c) c.resolved = true;
    if (frame?.kind === 'CommentPosted' && d.parent) {
      const q = held(d.parent);
      if (q) {
        q.answer_count = (q.answer_count || 0) + 1;
        if (d.kind === 'answer') q.answered = true;
      }
    }
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  /** Fetches the projection now (coalesced: a request during a fetch causes one more). */
  async refresh() {
    if (this.kept.view) return; // the websocket keeps it
    if (this.fetching) {
      this.again = true;
      return;
    }
    this.fetching = true;
    let retried = false;
    try {
      do {
        this.again = false;
        const [view, inbox] = await Promise.all([readPlanning(this.planning, this.token), readInbox(this.planning, this.token)]);
        if (this.kept.view) return; // the websocket's view came meanwhile
        if (typeof view.now === 'number') this.clockOffsetMs = view.now / 1000 - Date.now();
        // Never go back in time (a slower, older answer).
        if (!this.view || view.head >= this.view.head) this.view = view;
        if (!this.inbox || inbox.head >= this.inbox.head) this.inbox = inbox;
        // An event between the two reads: read both once more so the inbox matches the view.
        if (this.inbox.head !== this.view.head && !retried) this.again = true;
        retried = true;
        this.error = null;
        this.followOlder();
        this.emit();
      } while (this.again);
    } catch (e) {
      this.error = e;
      this.emit();
    } finally {
      this.fetching = false;
    }
  }

  /** An event frame arrived: the kept view's patches follow it. */
  eventArrived(frame) {
    this.noteEvent(frame);
  }

  applySnapshot() {
    // A snapshot means events may have been skipped: older copies could be stale.
    this.older.clear();
  }

  /** A presence frame: the whole set (`online`, after each catch-up), or who joined and left. */
  applyPresence(f) {
    let online;
    if (Array.isArray(f.online)) {
      online = f.online;
    } else {
      const set = new Set(this.online);
      for (const id of f.joined || []) set.add(id);
      for (const id of f.left || []) set.delete(id);
      online = [...set];
    }
    this.online = online;
    if (!this.view) return;
    this.view = { ...this.view, online };
    this.emit();
  }
}
