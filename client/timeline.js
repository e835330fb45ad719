// The timeline: a scrubber over the planning's history with chapters (creation, phase changes,
// the live session, reveals, the commitment); the board as it was at the chosen event, fetched
// from the server (`?at=SEQ`, redacted as of then); and "catch me up", the digest since my last
// visit.

import * as api from './api.js';
import { h, add, skeleton, rerender, trackDrafts, timeEl, errorText, plural } from './dom.js';
import { rankedItems, nameOf, FLAG_TEXT } from './model.js';
import { itemVotes } from './board.js';

export function timelineView(ctx) {
  const el = h('div', { class: 'timeline' });
  const drafts = trackDrafts(el);
  const ui = { entries: [], head: 0, at: null, then: null, loading: false, error: null, digest: null, follow: true };
  let timer = null;
  let request = 0;
  let alive = true;

  async function load() {
    try {
      let after = ui.entries.length ? ui.entries[ui.entries.length - 1].seq : 0;
      for (;;) {
        const page = await api.timeline(ctx.planning, ctx.token, after);
        ui.entries.push(...page.entries);
        ui.head = Math.max(ui.head, page.head);
        if (page.done || page.next_after <= after) break;
        after = page.next_after;
      }
      if (ui.at === null || ui.follow) await goTo(ui.head, false);
    } catch (e) {
      ui.error = e;
    }
    if (alive) render();
  }

  /** Reads the entries appended since the index was loaded, once someone scrubs. */
  function refreshIndex() {
    if (!ui.stale || ui.loading) return;
    ui.stale = false;
    ui.loading = true;
    load().finally(() => {
      ui.loading = false;
    });
  }

  /** Shows the board right after `seq` (debounced while dragging). */
  function scrub(seq) {
    refreshIndex();
    ui.at = seq;
    ui.follow = seq >= ui.head;
    clearTimeout(timer);
    timer = setTimeout(() => goTo(seq, true), 120);
    renderSummary();
  }

  async function goTo(seq, draw) {
    const mine = ++request;
    ui.at = seq;
    try {
      const then = await api.readPlanningAt(ctx.planning, ctx.token, seq);
      if (mine !== request) return; // a later position won
      ui.then = then;
      ui.error = null;
    } catch (e) {
      ui.error = e;
    }
    if (draw && alive) render();
  }

  function entryAt(seq) {
    return ui.entries.find((e) => e.seq === seq) || null;
  }

  function renderSummary() {
    const out = el.querySelector('#at-summary');
    if (out) replaceSummary(out);
  }

  function replaceSummary(out) {
    const e = entryAt(ui.at);
    const v = ctx.store.view;
    out.replaceChildren();
    add(out, h('strong', {}, `Event ${ui.at} of ${ui.head}`), e ? [' · ', e.summary, ' · by ', e.by_rule ? 'sprintlog (a rule)' : v ? nameOf(v.state, e.actor) : '', ' · ', timeEl(e.at)] : null);
  }

  async function catchUp() {
    ui.digestError = null;
    try {
      ui.digest = await api.digest(ctx.planning, ctx.token, ctx.visitSince ?? undefined);
    } catch (e) {
      ui.digestError = e;
    }
    render();
    el.querySelector('#digest-h')?.focus();
  }

  function render() {
    const v = ctx.store.view;
    if (!v) return;
    // New events while the page is open: the board "now" is the kept view (no REST read on an
    // event); the index of entries is extended only when someone moves in the history.
    if (v.head > ui.head && ui.entries.length) {
      ui.head = v.head;
      ui.stale = true;
      if (ui.follow) {
        ui.at = v.head;
        ui.then = { ...v, at: v.head };
      }
    }
    const chapters = ui.entries.filter((e) => e.chapter);
    const at = ui.at ?? ui.head;
    const prev = [...chapters].reverse().find((c) => c.seq < at);
    const next = chapters.find((c) => c.seq > at);
    const currentChapter = [...chapters].reverse().find((c) => c.seq <= at);
    const scrubber = h(
      'section',
      { class: 'card', 'aria-labelledby': 'tl-h' },
      h('h2', { id: 'tl-h' }, 'Timeline'),
      ui.entries.length
        ? [
            h('label', { for: 'scrubber' }, 'Position in the history'),
            h('input', {
              type: 'range',
              id: 'scrubber',
              min: 1,
              max: ui.head,
              step: 1,
              value: String(at),
              list: 'chapter-marks',
              'aria-valuetext': `event ${at} of ${ui.head}`,
              oninput: (ev) => scrub(Number(ev.target.value)),
            }),
            h('datalist', { id: 'chapter-marks' }, chapters.map((c) => h('option', { value: c.seq, label: c.summary }))),
            h('div', { class: 'ticks', 'aria-hidden': 'true' }, chapters.map((c) => h('span', { class: 'tick', style: { left: `${ui.head > 1 ? ((c.seq - 1) / (ui.head - 1)) * 100 : 0}%` }, title: c.summary }))),
            h('p', { id: 'at-summary', 'aria-live': 'polite' }),
            h(
              'div',
              { class: 'row wrap' },
              h('button', { type: 'button', class: 'secondary', id: 'prev-chapter', disabled: !prev || undefined, onclick: () => prev && scrubTo(prev.seq) }, '◀ Previous chapter'),
              h('button', { type: 'button', class: 'secondary', id: 'next-chapter', disabled: !next || undefined, onclick: () => next && scrubTo(next.seq) }, 'Next chapter ▶'),
              h('button', { type: 'button', class: 'secondary', id: 'to-now', disabled: at >= ui.head || undefined, onclick: () => scrubTo(ui.head) }, 'Now'),
            ),
            h('h3', {}, 'Chapters'),
            h(
              'ol',
              { class: 'chapters', id: 'chapters' },
              chapters.map((c) =>
                h(
                  'li',
                  { class: c === currentChapter ? 'current' : '' },
                  h('button', { type: 'button', class: 'link-button', dataset: { seq: String(c.seq), key: `chapter-${c.seq}` }, onclick: () => scrubTo(c.seq) }, c.summary),
                  ' ',
                  h('span', { class: 'muted' }, `#${c.seq} · `, timeEl(c.at)),
                ),
              ),
            ),
          ]
        : ui.error ? h('p', { class: 'muted' }, `Cannot load the timeline: ${errorText(ui.error)}`) : skeleton('Loading the timeline…', 'list', 'timeline-loading'),
    );
    const then = ui.then ? boardThen(ui.then) : null;
    const d = ui.digest;
    const digest = h(
      'section',
      { class: 'card', 'aria-labelledby': 'digest-h', id: 'digest' },
      h('h2', { id: 'digest-h', tabindex: '-1' }, 'Catch me up'),
      h('p', { class: 'hint' }, ctx.visitSince ? `What others changed since your last visit (event ${ctx.visitSince}).` : 'The story so far, or what others changed since your last action here.'),
      h('button', { type: 'button', id: 'catch-up', onclick: catchUp }, 'Catch me up'),
      ui.digestError ? h('p', { class: 'error' }, `Cannot catch up: ${errorText(ui.digestError)}`) : null,
      d ? digestBody(d) : null,
    );
    // "Catch me up" first: it is what a returning person wants, and it does not move while the
    // timeline below loads.
    rerender(el, [digest, scrubber, then], drafts);
    const out = el.querySelector('#at-summary');
    if (out) replaceSummary(out);
  }

  function scrubTo(seq) {
    const input = el.querySelector('#scrubber');
    if (input) input.value = String(seq);
    scrub(seq);
  }

  function boardThen(view) {
    const s = view.state;
    const me = ctx.store.view.you;
    const items = rankedItems(s);
    return h(
      'section',
      { class: 'card then', 'aria-labelledby': 'then-h', id: 'then' },
      h('h2', { id: 'then-h' }, `The board right after event ${view.at}`),
      h('p', {}, 'Phase: ', h('strong', { id: 'then-phase' }, s.phase || 'draft'), s.sync_running ? ' · live session running' : ''),
      h('p', {}, 'Goal: ', s.goal ? h('span', { id: 'then-goal' }, s.goal.text) : h('span', { class: 'muted' }, 'none yet')),
      items.length
        ? h(
            'ol',
            { class: 'items', id: 'then-items' },
            items.map((it) =>
              h(
                'li',
                { class: 'item' },
                h(
                  'div',
                  { class: 'item-head' },
                  h('strong', { class: 'item-title' }, it.draft.title),
                  it.flag ? h('span', { class: 'badge flag' }, `flagged: ${FLAG_TEXT[it.flag.reason] || it.flag.reason}`) : null,
                  it.estimate ? h('span', { class: 'badge est' }, `estimate ${it.estimate}`) : it.proposed_estimate ? h('span', { class: 'badge' }, `proposed ${it.proposed_estimate}`) : null,
                ),
                itemVotes(s, it, me.participant),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No items yet. Nobody had proposed one at this point.'),
    );
  }

  function digestBody(d) {
    const empty = !d.goal.length && !d.items.length && !d.planning.length;
    return h(
      'div',
      { class: 'digest-body' },
      h('p', { class: 'muted', id: 'digest-span' }, digestSpan(d)),
      empty ? h('p', {}, d.since === 0 ? 'Nothing has happened yet.' : 'Nothing new from the others since then.') : null,
      d.planning.length ? [h('h3', {}, 'The planning'), h('ul', {}, d.planning.map((l) => h('li', {}, l)))] : null,
      d.goal.length ? [h('h3', {}, 'The goal'), h('ul', {}, d.goal.map((l) => h('li', {}, l)))] : null,
      d.items.length
        ? [
            h('h3', {}, 'Items'),
            d.items.map((i) =>
              add(
                h('div', { class: `digest-item${i.dropped ? ' dropped' : ''}` }),
                h('h4', {}, i.title, i.dropped ? h('span', { class: 'badge flag' }, 'out of the sprint') : null),
                h('ul', {}, i.changes.map((l) => h('li', {}, l))),
              ),
            ),
          ]
        : null,
    );
  }

  /** "The story so far (128 events)" or "Since your last visit: events 40 to 128". */
  function digestSpan(d) {
    if (d.since === 0) return `The story so far (${plural(d.head, 'event')}).`;
    if (d.head <= d.since) return `Since your last visit (event ${d.since}).`;
    return `Since your last visit: events ${d.since + 1} to ${d.head}.`;
  }

  load();
  if (ctx.catchUpNow) {
    // Arrived by "catch me up" from the note on top of the planning.
    ctx.catchUpNow = false;
    catchUp();
  }
  return {
    el,
    render,
    destroy() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
