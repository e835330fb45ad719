// The audit: how every item got where it is (rendered from the audit JSON), downloads as
// Markdown, CSV and JSON, and the chain head the server has just verified.

import * as api from './api.js';
import { h, skeleton, rerender, timeEl, errorText, pts, plural } from './dom.js';

const FORMATS = [
  { format: 'md', label: 'Markdown', ext: 'md', type: 'text/markdown' },
  { format: 'csv', label: 'CSV', ext: 'csv', type: 'text/csv' },
  { format: 'json', label: 'JSON', ext: 'json', type: 'application/json' },
];

export function auditView(ctx) {
  const el = h('div', { class: 'audit' });
  const ui = { audit: null, chain: null, error: null, status: '', loadedAt: -1 };
  let timer = null;
  let alive = true;

  async function load() {
    const head = ctx.store.view?.head ?? 0;
    try {
      const [audit, chain] = await Promise.all([api.audit(ctx.planning, ctx.token, 'json'), api.verify(ctx.planning, ctx.token)]);
      ui.audit = audit;
      ui.chain = chain;
      ui.error = null;
      ui.loadedAt = head;
    } catch (e) {
      ui.error = e;
    }
    if (alive) render();
  }

  async function download(f) {
    ui.status = `Preparing the ${f.label} file…`;
    render();
    try {
      const text = f.format === 'json' ? JSON.stringify(await api.audit(ctx.planning, ctx.token, 'json'), null, 2) : await api.audit(ctx.planning, ctx.token, f.format);
      const url = URL.createObjectURL(new Blob([text], { type: `${f.type};charset=utf-8` }));
      const a = h('a', { href: url, download: `audit-${ctx.planning}.${f.ext}`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      ui.status = `${f.label} downloaded.`;
    } catch (e) {
      ui.status = `Download failed: ${errorText(e)}`;
    }
    render();
  }

  const stepRows = (steps) =>
    h(
      'table',
      { class: 'steps' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'When'), h('th', { scope: 'col' }, 'Who'), h('th', { scope: 'col' }, 'What'))),
      h('tbody', {}, steps.map((st) => h('tr', {}, h('td', {}, String(st.seq)), h('td', {}, timeEl(st.at)), h('td', {}, st.actor), h('td', {}, st.what)))),
    );

  function render() {
    const v = ctx.store.view;
    // Reload (debounced) when the planning moved on since the report was made.
    if (v && ui.loadedAt >= 0 && v.head > ui.loadedAt) {
      clearTimeout(timer);
      timer = setTimeout(load, 300);
    }
    const a = ui.audit;
    const c = ui.chain;
    const head = h(
      'section',
      { class: 'card', 'aria-labelledby': 'audit-h' },
      h('h2', { id: 'audit-h' }, 'Audit'),
      h(
        'div',
        { class: 'row wrap downloads', role: 'group', 'aria-label': 'Download the audit' },
        FORMATS.map((f) => h('button', { type: 'button', id: `dl-${f.format}`, onclick: () => download(f) }, `Download ${f.label}`)),
      ),
      h('p', { class: 'hint', 'aria-live': 'polite', id: 'dl-status' }, ui.status),
      c
        ? h(
            'p',
            { id: 'chain', class: c.intact ? 'chain ok' : 'chain bad' },
            c.intact ? [h('strong', {}, '✓ Chain verified'), ` — ${plural(c.events, 'event')}, head hash `, h('code', { id: 'chain-head' }, c.head_hash)] : [h('strong', {}, '✗ Chain broken'), ` at event ${c.broken_at}`],
          )
        : null,
      a && c && c.intact && a.head === c.events && a.head_hash !== c.head_hash ? h('p', { class: 'error' }, 'The report’s head hash differs from the verified one.') : null,
      ui.error ? h('p', { class: 'error' }, `Cannot load the audit: ${errorText(ui.error)}`) : null,
      !a && !ui.error ? skeleton('Loading the audit…', 'list', 'audit-loading') : null,
    );
    if (!a) {
      rerender(el, [head]);
      return;
    }
    const overview = h(
      'section',
      { class: 'card', 'aria-labelledby': 'audit-overview-h' },
      h('h2', { id: 'audit-overview-h' }, a.title),
      h('p', {}, `Phase ${a.phase} · ${plural(a.head, 'event')}`),
      a.time ? timeSpent(a.time) : null,
      a.goal.length ? [h('h3', {}, 'The goal'), stepRows(a.goal)] : null,
      a.commitment.length ? [h('h3', {}, 'The commitment'), stepRows(a.commitment)] : null,
      a.coin_flips.length ? [h('h3', {}, 'Coin flips'), stepRows(a.coin_flips)] : null,
    );
    const items = h(
      'section',
      { class: 'card', 'aria-labelledby': 'audit-items-h', id: 'audit-items' },
      h('h2', { id: 'audit-items-h' }, 'Items'),
      a.items.length ? null : h('p', { class: 'muted', id: 'audit-no-items' }, 'No items yet: once an item is proposed, every step it takes shows here.'),
      a.items.map((it) =>
        h(
          'article',
          { class: 'audit-item', 'aria-labelledby': `ai-${it.item}` },
          h('h3', { id: `ai-${it.item}` }, it.title, it.external_key ? h('span', { class: 'badge' }, it.external_key) : null, h('span', { class: `badge outcome-${it.outcome}` }, it.outcome), it.estimate ? h('span', { class: 'badge est' }, `${it.estimate} (${plural(pts(it.points), 'point')})`) : null),
          stepRows(it.steps),
          it.rounds.length
            ? h(
                'ul',
                { class: 'rounds' },
                it.rounds.map((r) =>
                  h(
                    'li',
                    {},
                    `Round opened at #${r.opened_seq}${r.live ? ' (live)' : ''}${r.revote ? ' (re-vote)' : ''}${r.closed ? `, closed: ${r.closed}` : ', open'} — `,
                    r.votes.length ? r.votes.map(([who, card]) => `${who}: ${card}`).join(', ') : plural(r.sealed_votes, 'sealed vote'),
                  ),
                ),
              )
            : null,
        ),
      ),
    );
    rerender(el, [head, overview, items]);
  }

  /** The live session against its plan; how estimates were settled; flagged items discussed. */
  function timeSpent(t) {
    const live =
      t.sync_minutes === null || t.sync_minutes === undefined
        ? t.sessions.length
          ? 'the live session is running'
          : 'no live session yet'
        : `live session: ${t.sync_minutes} min against ${t.planned_minutes} planned (${againstPlan(t.over_planned_minutes)}) in ${plural(t.sessions.filter((s) => s.ended_at).length, 'session')}`;
    return h(
      'ul',
      { class: 'time-spent', id: 'time-spent', 'aria-label': 'Time well spent' },
      h('li', {}, live),
      h('li', {}, `estimates settled async: ${t.settled_async}, live: ${t.settled_live}`),
      h('li', {}, `flagged items discussed: ${t.flagged_discussed} of ${t.flagged}`),
    );
  }

  /** "12 min shorter", "5 min longer", "as planned" — never a signed number. */
  function againstPlan(over) {
    if (!over) return 'as planned';
    return over < 0 ? `${-over} min shorter` : `${over} min longer`;
  }

  load();
  return {
    el,
    render,
    destroy() {
      alive = false;
      clearTimeout(timer);
    },
  };
}
