// The backlog: a compact list of the candidate items with their state at a glance (ready, votes,
// flag, open questions, estimate, in or out of the sprint), filters, ranking by drag and by
// keyboard, ticking items for a round (within the planning's batch size), the withdrawn items
// with "restore", proposing, importing a CSV or Jira file with a preview, the tracker panel
// (tracker.js), and the estimates' export.

import * as api from './api.js';
import { h, add, errorText, sinceVisitMark } from './dom.js';
import { askRoundDeadline } from './deadlines.js';
import { openRounds, rankedItems, members, flagOf, pastFlagText } from './model.js';
import { MAX_LEN } from './protocol.js';
import { failedCriteria, lines } from './item.js';
import { trackerPanel } from './tracker.js';

/** The list's filters: what each keeps, from what the server derives. */
const FILTERS = [
  { key: 'all', label: 'All' },
  { key: 'owe', label: 'Votes I owe' },
  { key: 'not-ready', label: 'Not ready' },
  { key: 'flagged', label: 'Flagged' },
  { key: 'questions', label: 'Questions for me' },
];

/** The row's flag: standing, or the one a converged re-vote left behind (muted). */
function flagBadge(s, it) {
  const f = flagOf(s, it);
  if (f.now) return h('span', { class: 'badge flag', title: f.now.note || '' }, `flagged: ${f.now.reason}`);
  if (f.past) return h('span', { class: 'badge flag-past' }, pastFlagText(f.past));
  return null;
}

function filterSets(ctx, s) {
  const inbox = ctx.store.inbox || {};
  return {
    all: null,
    owe: new Set((inbox.pending_votes || []).map((p) => p.item)),
    'not-ready': new Set(s.derived?.not_ready || []),
    flagged: new Set(Object.values(s.items).filter((i) => flagOf(s, i).now).map((i) => i.id)),
    questions: new Set((inbox.questions || []).map((q) => q.item).filter(Boolean)),
  };
}

/** The items the list shows now: the backlog order, through the chosen filter. */
export function shownItems(env, s) {
  const all = rankedItems(s);
  const keep = filterSets(env.ctx, s)[env.ui.filter];
  return keep ? all.filter((i) => keep.has(i.id)) : all;
}

/** The backlog section (list column). `env` is the board's: {ctx, send, submit, el, ui, render, drafts}. */
export function backlogSection(env, s) {
  const { ctx, ui } = env;
  const me = ctx.store.view.you;
  const isFac = me.role === 'facilitator';
  const canWork = isFac || me.role === 'member';
  const open = s.phase !== 'committed';
  const all = rankedItems(s);
  const sets = filterSets(ctx, s);
  const shown = shownItems(env, s);
  const canRank = isFac && open && ui.filter === 'all' && all.length > 1;
  const withdrawn = Object.values(s.items).filter((i) => i.withdrawn);
  return h(
    'section',
    { class: 'card backlog', 'aria-labelledby': 'items-h', id: 'backlog' },
    h(
      'div',
      { class: 'backlog-head' },
      h('h2', { id: 'items-h' }, 'Backlog ', h('span', { class: 'count' }, String(all.length))),
      h('button', { type: 'button', class: 'secondary', id: 'export-estimates', title: 'The agreed estimates, keyed by tracker key, for a bulk update', onclick: () => exportCsv(env) }, 'Export estimates (CSV)'),
    ),
    ui.exportStatus ? h('p', { class: 'hint', role: 'status' }, ui.exportStatus) : null,
    isFac && open ? importPanel(env) : null,
    // Once committed only the tracker's write-back is left (the import holds it before).
    isFac && !open ? trackerPanel(env, { canImport: false }) : null,
    h(
      'div',
      { class: 'filters', role: 'group', 'aria-label': 'Show' },
      // Only members owe votes.
      FILTERS.filter((f) => f.key !== 'owe' || me.role === 'member').map((f) =>
        h(
          'button',
          {
            type: 'button',
            class: `chip${ui.filter === f.key ? ' on' : ''}`,
            'aria-pressed': ui.filter === f.key ? 'true' : 'false',
            id: `filter-${f.key}`,
            onclick: () => {
              ui.filter = f.key;
              // The details follow the list: its first item when the one shown left it.
              const now = shownItems(env, ctx.store.view.state);
              if (now.length && !now.some((i) => i.id === ui.open)) ui.open = now[0].id;
              env.render();
            },
          },
          f.label,
          sets[f.key] ? ` (${all.filter((i) => sets[f.key].has(i.id)).length})` : '',
        ),
      ),
    ),
    canRank ? h('p', { class: 'hint', id: 'rank-hint' }, 'To rank: drag a row by its handle ⠿, or focus it and press ↑ / ↓ (Home / End).') : null,
    shown.length
      ? h('ol', { class: 'items', id: 'items', 'aria-label': 'Backlog items' }, shown.map((it) => row(env, s, it, all, canRank)))
      : h('p', { class: 'muted', id: 'no-items' }, all.length ? 'No item matches this filter.' : `No items yet. ${isFac && open ? 'Propose one below, or import a CSV or JSON file above.' : canWork && open ? 'Propose one below.' : 'The team proposes them here.'}`),
    isFac && (s.phase === 'async' || s.phase === 'sync') ? roundControl(env, s, all) : null,
    withdrawn.length ? withdrawnList(env, s, withdrawn) : null,
    canWork && open ? proposeForm(env) : null,
  );
}

/** One compact row: handle, tick box, title (opens the details), state badges. */
function row(env, s, it, all, canRank) {
  const { ctx, ui } = env;
  const me = ctx.store.view.you;
  const isFac = me.role === 'facilitator';
  const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
  const notReady = (s.derived?.not_ready || []).includes(it.id);
  const discuss = (s.derived?.needs_discussion || []).find((d) => d.item === it.id);
  const questions = ctx.store.threadFigures(it.id)?.open_questions ?? 0;
  // Only what the server would put in a round is offered (an item ticked before it turned not
  // ready stays ticked, so the refusal can say why).
  const selectable = isFac && !inOpen && !it.estimate && (s.phase === 'async' || s.phase === 'sync') && (!notReady || ui.selected.has(it.id));
  const batch = s.policy?.batch_size ?? 6;
  const full = ui.selected.size >= batch && !ui.selected.has(it.id);
  const voted = inOpen ? Object.keys(inOpen.votes?.[it.id] || {}).length : 0;
  const inSprint = s.derived?.in_sprint;
  const owed = new Set((ctx.store.inbox?.pending_votes || []).map((p) => p.item));
  const failed = notReady ? failedCriteria(s, it) : [];
  // Why it needs the live call, less what its other badges say already.
  const needs = discuss && !it.flag && !notReady ? discuss.reasons.filter((r) => !(r.reason === 'open_questions' && questions)) : [];
  const li = h('li', {
    class: `item${notReady ? ' not-ready' : ''}${ui.open === it.id ? ' open' : ''}`,
    dataset: { item: it.id },
    id: `item-${it.id}`,
    draggable: canRank ? 'true' : undefined,
  });
  if (canRank) dragAndDrop(env, li, it, all);
  return add(
    li,
    canRank
      ? h(
          'button',
          {
            type: 'button',
            class: 'handle',
            dataset: { key: `move-${it.id}` },
            'aria-label': `Move ${it.draft.title} (↑ / ↓, Home / End)`,
            title: 'Drag, or press ↑ / ↓ (Home / End: to the top / bottom)',
            onkeydown: (ev) => {
              const at = all.findIndex((i) => i.id === it.id);
              const by = { ArrowUp: -1, ArrowDown: 1, Home: -at, End: all.length - 1 - at }[ev.key];
              if (by === undefined) return;
              ev.preventDefault();
              if (by) move(env, all, it.id, by);
            },
          },
          '⠿',
        )
      : null,
    selectable
      ? h('input', {
          type: 'checkbox',
          id: `sel-${it.id}`,
          'aria-label': `Select ${it.draft.title} for a round`,
          checked: ui.selected.has(it.id),
          disabled: full || undefined,
          title: full ? `A round holds at most ${batch} items` : undefined,
          onchange: (ev) => {
            if (ev.target.checked) ui.selected.add(it.id);
            else ui.selected.delete(it.id);
            ui.roundError = '';
            env.render();
          },
        })
      : null,
    h(
      'button',
      {
        type: 'button',
        class: 'item-title link-button',
        dataset: { key: `open-${it.id}` },
        'aria-current': ui.open === it.id ? 'true' : undefined,
        onclick: () => {
          ui.open = it.id;
          ui.editing = null;
          env.render();
          env.el.querySelector('#details-h')?.focus({ preventScroll: window.innerWidth > 900 });
        },
      },
      it.draft.title,
    ),
    h(
      'span',
      { class: 'glance' },
      sinceVisitMark(env.ctx.sinceVisit?.items.get(it.id)),
      it.draft.external_key ? h('span', { class: 'badge' }, it.draft.external_key) : null,
      it.estimate ? h('span', { class: 'badge est' }, `estimate ${it.estimate}`) : it.proposed_estimate ? h('span', { class: 'badge' }, `proposed ${it.proposed_estimate}`) : null,
      inOpen ? h('span', { class: 'badge open', title: 'Votes cast so far (who, never what)' }, `voting: ${voted} of ${members(s).length}`) : null,
      owed.has(it.id) ? h('span', { class: 'badge owe' }, 'your vote') : null,
      flagBadge(s, it),
      notReady ? h('span', { class: 'badge flag', title: failed.map((c) => c.text).join(', ') }, `not ready: ${failed.map((c) => c.text).join(', ')}`) : readyBadge(s, it),
      needs.length ? h('span', { class: 'badge warn' }, `needs discussion: ${needs.map(reasonShort).join(', ')}`) : null,
      questions ? h('span', { class: 'badge flag' }, `${questions} open question${questions === 1 ? '' : 's'}`) : null,
      inSprint ? (inSprint[it.id] ? h('span', { class: 'badge est in-sprint' }, 'in the sprint') : h('span', { class: 'badge out-sprint' }, 'not in the sprint')) : null,
      it.returned_to_refinement ? h('span', { class: 'badge warn' }, 'back to refinement') : null,
    ),
  );
}

/**
 * Where an item stands against the Definition of Ready when nothing failed: `ready` once every
 * criterion was checked as met (or the facilitator overrode it), else how many are checked.
 */
function readyBadge(s, it) {
  const dor = s.definition_of_ready || [];
  if (!dor.length || it.estimate) return null;
  if (it.readiness_overridden) return h('span', { class: 'badge est', title: 'Overridden by the facilitator' }, 'ready (override)');
  const met = dor.filter((c) => it.readiness?.[c.id]?.ok).length;
  if (met === dor.length) return h('span', { class: 'badge est' }, 'ready');
  return h('span', { class: 'badge', title: 'Definition-of-Ready criteria checked as met' }, `DoR ${met} of ${dor.length}`);
}

/** A needs-discussion reason in a word or two (the details say it in full). */
function reasonShort(r) {
  switch (r.reason) {
    case 'no_acceptance_criteria':
      return 'no acceptance criteria';
    case 'open_questions':
      return 'open questions';
    case 'failing_readiness':
      return 'not ready';
    case 'unresolved_dependencies':
      return 'dependencies';
    default:
      return r.reason;
  }
}

/** Moves an item by one place in the backlog order and sends the whole order. */
function move(env, all, id, by) {
  const order = all.map((i) => i.id);
  const at = order.indexOf(id);
  const to = at + by;
  if (at < 0 || to < 0 || to >= order.length) return;
  order.splice(at, 1);
  order.splice(to, 0, id);
  const title = all[at].draft.title;
  env
    .send({ type: 'RankItems', order })
    .then(() => env.say(`${title} moved to place ${to + 1} of ${order.length}`))
    .catch(() => {});
}

/** Drag a row onto another: it takes that row's place. */
function dragAndDrop(env, li, it, all) {
  li.addEventListener('dragstart', (ev) => {
    env.ui.dragging = it.id;
    ev.dataTransfer.effectAllowed = 'move';
    ev.dataTransfer.setData('text/plain', it.id);
    li.classList.add('dragging');
  });
  li.addEventListener('dragend', () => {
    env.ui.dragging = null;
    li.classList.remove('dragging');
  });
  li.addEventListener('dragover', (ev) => {
    if (!env.ui.dragging || env.ui.dragging === it.id) return;
    ev.preventDefault();
    li.classList.add('drop-here');
  });
  li.addEventListener('dragleave', () => li.classList.remove('drop-here'));
  li.addEventListener('drop', (ev) => {
    ev.preventDefault();
    li.classList.remove('drop-here');
    const from = env.ui.dragging || ev.dataTransfer.getData('text/plain');
    env.ui.dragging = null;
    if (!from || from === it.id) return;
    const order = all.map((i) => i.id).filter((x) => x !== from);
    const at = order.indexOf(it.id);
    const before = all.findIndex((i) => i.id === from) > all.findIndex((i) => i.id === it.id);
    order.splice(before ? at : at + 1, 0, from);
    const title = all.find((i) => i.id === from)?.draft.title;
    env
      .send({ type: 'RankItems', order })
      .then(() => env.say(`${title} moved to place ${order.indexOf(from) + 1} of ${order.length}`))
      .catch(() => {});
  });
}

/** Open a round on the ticked items: the batch size shown while ticking, refusals kept here. */
function roundControl(env, s, all) {
  const { ui } = env;
  const batch = s.policy?.batch_size ?? 6;
  // Ticked items that left the list (withdrawn, estimated, in a round) are no longer ticked.
  for (const id of [...ui.selected]) if (!all.some((i) => i.id === id && !i.estimate) || openRounds(s).some((r) => r.items.includes(id))) ui.selected.delete(id);
  const n = ui.selected.size;
  return h(
    'div',
    { class: 'round-control' },
    h(
      'button',
      {
        type: 'button',
        id: 'open-round',
        disabled: n === 0 || n > batch || ui.opening || undefined,
        'aria-describedby': 'open-round-hint',
        onclick: async () => {
          const ids = all.map((i) => i.id).filter((id) => ui.selected.has(id));
          const s = env.ctx.store.view.state;
          // An async round asks for its deadline (prefilled from the schedule); cancel opens nothing.
          const deadline = s.sync_running ? undefined : await askRoundDeadline(env.ctx, ids.length);
          if (deadline === null) return;
          ui.roundError = '';
          ui.opening = true;
          env.render();
          try {
            await env.send({ type: 'OpenRound', items: ids, deadline }, { quiet: true });
            ui.selected.clear();
          } catch (e) {
            ui.roundError = refusalText(e, env.ctx.store.view.state, ids);
          }
          ui.opening = false;
          env.render();
        },
      },
      `Open round (${n} selected)`,
    ),
    h('span', { class: 'hint', id: 'open-round-hint' }, `${n} of at most ${batch} items per round`),
    ui.roundError ? h('p', { class: 'error', role: 'alert', id: 'open-round-error' }, ui.roundError) : null,
  );
}

/**
 * A refused round in words: for items that turned not ready meanwhile, which ones and which
 * criteria (from the server's `derived.not_ready` and the checks), else the server's message.
 */
function refusalText(e, s, ids) {
  const notReady = ids.filter((id) => (s.derived?.not_ready || []).includes(id)).map((id) => s.items[id]);
  if (e.code !== 'not_ready' || !notReady.length) return errorText(e);
  const why = notReady.map((it) => `“${it.draft.title}” (${failedCriteria(s, it).map((c) => c.text).join(', ')} not met)`);
  return `No round opened: ${why.join(' and ')} ${notReady.length === 1 ? 'is' : 'are'} not ready. Untick ${notReady.length === 1 ? 'it' : 'them'}, or override the readiness in the details.`;
}

/** The withdrawn items, each with "Restore" for the facilitator or its proposer. */
function withdrawnList(env, s, items) {
  const me = env.ctx.store.view.you;
  const open = s.phase !== 'committed';
  return h(
    'details',
    { class: 'withdrawn', id: 'withdrawn', dataset: { key: 'withdrawn' } },
    h('summary', {}, `Withdrawn (${items.length})`),
    h(
      'ul',
      {},
      items.map((it) =>
        h(
          'li',
          { dataset: { item: it.id } },
          h('span', {}, it.draft.title),
          open && (me.role === 'facilitator' || it.proposed_by === me.participant)
            ? h('button', { type: 'button', class: 'mini', dataset: { key: `restore-${it.id}` }, 'aria-label': `Restore ${it.draft.title}`, onclick: () => env.send({ type: 'RestoreItem', item: it.id }).catch(() => {}) }, 'Restore')
            : null,
        ),
      ),
    ),
  );
}

function proposeForm(env) {
  const { el, submit } = env;
  return h(
    'form',
    {
      class: 'propose',
      onsubmit: submit(() => ({
        type: 'ProposeItem',
        draft: {
          title: el.querySelector('#item-title').value.trim(),
          description: el.querySelector('#item-desc').value.trim(),
          acceptance_criteria: lines(el.querySelector('#item-ac').value),
          attachments: lines(el.querySelector('#item-att').value),
        },
      })),
    },
    h('h3', {}, 'Propose an item'),
    // The title and the button on one line, the longer texts below.
    h('div', { class: 'propose-title' }, h('div', {}, h('label', { for: 'item-title' }, 'Title'), h('input', { id: 'item-title', required: true, maxlength: MAX_LEN.title, autocomplete: 'off' })), h('button', { type: 'submit', id: 'propose' }, 'Propose item')),
    h(
      'div',
      { class: 'fields' },
      h('div', {}, h('label', { for: 'item-desc' }, 'Description'), h('textarea', { id: 'item-desc', rows: 2 })),
      h('div', {}, h('label', { for: 'item-ac' }, 'Acceptance criteria'), h('textarea', { id: 'item-ac', rows: 2, placeholder: 'One criterion per line' })),
      h('div', {}, h('label', { for: 'item-att' }, 'Attachments'), h('textarea', { id: 'item-att', rows: 1, placeholder: 'Links or notes, one per line' })),
    ),
  );
}

// ---------- export ----------

async function exportCsv(env) {
  const { ctx, ui } = env;
  try {
    const text = await api.exportEstimates(ctx.planning, ctx.token, 'csv');
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
    const a = h('a', { href: url, download: `estimates-${ctx.planning}.csv`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    ui.exportStatus = 'Estimates downloaded (CSV: key, title, estimate, points).';
  } catch (e) {
    ui.exportStatus = `Could not export: ${errorText(e)}`;
  }
  env.render();
}

// ---------- import ----------

/** The format of a file: chosen, or guessed from its name and first character. */
function formatOf(imp, text) {
  if (imp.format !== 'auto') return imp.format;
  if (/\.json$/i.test(imp.name || '') || text.trimStart().startsWith('{')) return 'jira';
  return 'csv';
}

/** A short stable id for a file's text: sending the same file twice imports it once. */
function opIdOf(text) {
  let x = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return `import-${x.toString(16)}-${text.length}`;
}

function importPanel(env) {
  const { ctx, ui, el, drafts } = env;
  const imp = ui.imp;
  const textOf = () => el.querySelector('#import-text')?.value ?? '';
  const setText = (text, name) => {
    imp.name = name;
    drafts.set('import-text', text);
    const area = el.querySelector('#import-text');
    if (area) area.value = text;
  };
  const preview = async () => {
    const text = textOf();
    imp.error = '';
    imp.status = '';
    imp.preview = null;
    if (!text.trim()) {
      imp.error = 'Choose, drop or paste a file first.';
      return env.render();
    }
    imp.busy = true;
    env.render();
    try {
      imp.preview = await api.importItems(ctx.planning, ctx.token, formatOf(imp, text), text, { dryRun: true });
      imp.previewed = text;
    } catch (e) {
      imp.error = e.rows?.length ? `${errorText(e)} (line ${e.rows.map((r) => `${r.line}: ${r.error}`).join('; line ')})` : errorText(e);
    }
    imp.busy = false;
    env.render();
  };
  const load = async (file) => {
    if (!file) return;
    setText(await file.text(), file.name);
    await preview();
  };
  const go = async () => {
    const text = imp.previewed;
    imp.busy = true;
    env.render();
    try {
      const r = await api.importItems(ctx.planning, ctx.token, formatOf(imp, text), text, { opId: opIdOf(text) });
      imp.status = `Imported ${r.items.length} item${r.items.length === 1 ? '' : 's'}.`;
      imp.preview = null;
      setText('', null);
    } catch (e) {
      imp.error = errorText(e);
    }
    imp.busy = false;
    env.render();
  };
  const p = imp.preview;
  const rows = p ? [...p.items.map((i) => ({ line: i.line, item: i })), ...p.rows.map((r) => ({ line: r.line, error: r.error }))].sort((a, b) => a.line - b.line) : [];
  // A tracker key the backlog holds already: imported again, it would be there twice.
  const held = new Map(Object.values(ctx.store.view.state.items).filter((i) => !i.withdrawn && i.draft.external_key).map((i) => [i.draft.external_key, i.draft.title]));
  const twice = rows.filter((r) => held.has(r.item?.external_key)).length;
  const drop = h(
    'div',
    {
      class: 'drop-zone',
      id: 'import-drop',
      ondragover: (ev) => {
        if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
        ev.preventDefault();
        ev.currentTarget.classList.add('over');
      },
      ondragleave: (ev) => ev.currentTarget.classList.remove('over'),
      ondrop: (ev) => {
        ev.preventDefault();
        ev.currentTarget.classList.remove('over');
        load(ev.dataTransfer?.files?.[0]);
      },
    },
    h('p', {}, 'Drop a CSV or Jira JSON export here, choose it, or paste it below.'),
    h('label', { for: 'import-file' }, 'File'),
    h('input', { id: 'import-file', type: 'file', accept: '.csv,.json,text/csv,application/json', onchange: (ev) => load(ev.target.files?.[0]) }),
    h('label', { for: 'import-text' }, 'File content'),
    h('textarea', {
      id: 'import-text',
      rows: 4,
      // A preview is of the text previewed: changing the text asks for a new one.
      oninput: (ev) => {
        drafts.set('import-text', ev.target.value);
        imp.name = null; // typed or pasted: no longer the chosen file
        if (imp.preview) {
          imp.preview = null;
          env.render();
        }
      },
      placeholder: 'title,key,acceptance_criteria\nLogin with SSO,PRJ-1,Works with Okta' }),
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'import-format', class: 'sr-only' }, 'Format'),
      h(
        'select',
        { id: 'import-format', onchange: (ev) => { imp.format = ev.target.value; } },
        [['auto', 'Format: from the file'], ['csv', 'CSV'], ['jira', 'Jira JSON']].map(([v, l]) => h('option', { value: v, selected: imp.format === v || undefined }, l)),
      ),
      h('button', { type: 'button', class: 'secondary', id: 'import-preview', disabled: imp.busy || undefined, onclick: preview }, 'Preview'),
    ),
  );
  return h(
    'details',
    { class: 'import', id: 'import', dataset: { key: 'import' } },
    h('summary', {}, 'Import items (CSV, Jira JSON or a tracker)'),
    drop,
    imp.error ? h('p', { class: 'error', role: 'alert', id: 'import-error' }, imp.error) : null,
    imp.status ? h('p', { class: 'ok', role: 'status', id: 'import-status' }, imp.status) : null,
    p
      ? h(
          'div',
          { id: 'import-result' },
          h(
            'p',
            { id: 'import-summary', class: p.refusal ? 'error' : '' },
            `${p.items.length} row${p.items.length === 1 ? '' : 's'} ready`,
            p.rows.length
              ? `, ${p.rows.length} with a problem (below). Nothing is imported until every line is right: fix the file and preview again.`
              : p.refusal
                ? `: ${p.refusal}`
                : `. Nothing is written until you import.${twice ? ` ${twice} of them ${twice === 1 ? 'is' : 'are'} in the backlog already (same tracker key) and would be there twice.` : ''}`,
          ),
          h(
            'table',
            { class: 'import-preview' },
            h('caption', { class: 'sr-only' }, 'What the import would do, line by line'),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Line'), h('th', { scope: 'col' }, 'Title'), h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col', title: 'Acceptance criteria' }, 'AC'), h('th', { scope: 'col' }, 'Problem'))),
            h(
              'tbody',
              {},
              rows.map((r) =>
                h(
                  'tr',
                  { class: r.error ? 'bad' : 'good', dataset: { line: String(r.line) } },
                  h('td', {}, String(r.line)),
                  h('td', {}, r.item ? r.item.title : ''),
                  h('td', {}, r.item?.external_key || ''),
                  h('td', {}, r.item ? String(r.item.acceptance_criteria.length) : ''),
                  h('td', {}, r.error || (held.has(r.item.external_key) ? h('span', { class: 'warn-text' }, `already in the backlog as “${held.get(r.item.external_key)}”`) : '—')),
                ),
              ),
            ),
          ),
          !p.refusal && p.items.length
            ? h('button', { type: 'button', id: 'import-go', disabled: imp.busy || undefined, onclick: go }, `Import ${p.items.length} item${p.items.length === 1 ? '' : 's'}`)
            : null,
        )
      : null,
    trackerPanel(env, { canImport: true }),
  );
}

/** The import panel's state, kept by the board between renders. */
export function newImportState() {
  return { format: 'auto', name: null, preview: null, previewed: null, error: '', status: '', busy: false };
}
