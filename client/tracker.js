// The facilitator's tracker panel on the board (docs/protocol.md "Trackers"): connect a Jira
// Cloud, Jira Data Center or GitHub Issues source (the credential is sent once and never shown
// again), check it, preview and import issues by JQL or label, write the agreed estimates back
// and follow each write-back until the tracker reads the value back.

import * as api from './api.js';
import { h, errorText, plural } from './dom.js';

const KINDS = [
  ['jira-cloud', 'Jira Cloud'],
  ['jira-dc', 'Jira Data Center'],
  ['github', 'GitHub Issues'],
];
const KIND_NAMES = Object.fromEntries(KINDS);

/** The panel's state, kept by the board between renders. */
export function newTrackerState() {
  return { loaded: false, conn: null, kind: 'jira-cloud', error: '', status: '', preview: null, writes: null, busy: false };
}

/**
 * The tracker panel (facilitator). `env` is the board's; `canImport` is false once the scope is
 * committed (the write-back stays).
 */
export function trackerPanel(env, { canImport }) {
  const { ctx, el, drafts } = env;
  const t = env.ui.trk;
  const value = (id) => el.querySelector(`#${id}`)?.value.trim() ?? '';
  // One call at a time; its answer or refusal becomes the panel's line.
  const run = async (what) => {
    t.busy = true;
    t.error = '';
    t.status = '';
    env.render();
    try {
      await what();
    } catch (e) {
      t.error = errorText(e);
    }
    t.busy = false;
    env.render();
  };
  const load = () =>
    run(async () => {
      const w = await api.trackerWrites(ctx.planning, ctx.token);
      t.writes = w.writes;
      // Only a set connection is asked for: no 404 in the console for "none yet".
      t.conn = w.connected ? await api.trackerConnection(ctx.planning, ctx.token) : null;
      t.loaded = true;
    });
  const connect = (ev) => {
    ev.preventDefault();
    const kind = value('trk-kind');
    const body = { kind, site: value('trk-site'), token: el.querySelector('#trk-token').value };
    if (kind === 'github') body.repo = value('trk-repo');
    else body.field = value('trk-field');
    if (kind === 'jira-cloud') body.email = value('trk-email');
    return run(async () => {
      t.conn = await api.setTracker(ctx.planning, ctx.token, body);
      // The credential is the server's now: nothing of it stays on the page.
      drafts.delete('trk-token');
      t.status = 'Connected. The credential is stored on the server and never shown again.';
    });
  };
  const query = () => (t.conn.kind === 'github' ? { label: value('trk-query') } : { jql: value('trk-query') });
  const preview = () =>
    run(async () => {
      const q = query();
      // One op id per preview: a retried click on "Import" applies once.
      t.preview = { ...(await api.trackerImport(ctx.planning, ctx.token, q, { dryRun: true })), query: q, op: `tracker-${Date.now()}` };
    });
  const importNow = () =>
    run(async () => {
      const r = await api.trackerImport(ctx.planning, ctx.token, { ...t.preview.query, client_op_id: t.preview.op });
      t.preview = null;
      t.status = `Imported ${plural(r.items.length, 'item')}${r.skipped?.length ? `; ${r.skipped.length} already in the backlog` : ''}.`;
    });
  const writeBack = () =>
    run(async () => {
      const r = await api.trackerWriteBack(ctx.planning, ctx.token);
      t.writes = (await api.trackerWrites(ctx.planning, ctx.token)).writes;
      t.status = `Writing ${plural(r.queued.length, 'estimate')} back${r.skipped.length ? `; ${r.skipped.length} skipped (${r.skipped[0].reason})` : ''}.`;
    });
  const refresh = () =>
    run(async () => {
      t.writes = (await api.trackerWrites(ctx.planning, ctx.token)).writes;
    });
  return h(
    'details',
    {
      class: 'import',
      id: 'tracker',
      dataset: { key: 'tracker' },
      ontoggle: (ev) => {
        if (ev.target.open && !t.loaded && !t.busy) load();
      },
    },
    h('summary', {}, 'Tracker (Jira or GitHub)'),
    !t.loaded ? h('p', { class: 'hint' }, t.busy ? 'Loading…' : '') : t.conn ? connected(t, { preview, importNow, writeBack, refresh, run, ctx, canImport }) : connectForm(t, env, connect),
    t.error ? h('p', { class: 'error', role: 'alert', id: 'trk-error' }, t.error) : null,
    t.status ? h('p', { class: 'ok', role: 'status', id: 'trk-status' }, t.status) : null,
  );
}

/** The form that sets the connection, its fields following the kind. */
function connectForm(t, env, connect) {
  const field = (id, label, attrs = {}) => h('div', { class: 'row' }, h('label', { for: id }, label), h('input', { id, required: true, autocomplete: 'off', spellcheck: 'false', ...attrs }));
  return h(
    'form',
    { id: 'trk-form', onsubmit: connect },
    h('p', { class: 'hint' }, 'Import issues as items, and write each agreed estimate back to its issue.'),
    h(
      'div',
      { class: 'row' },
      h('label', { for: 'trk-kind' }, 'Tracker'),
      h(
        'select',
        {
          id: 'trk-kind',
          onchange: (ev) => {
            t.kind = ev.target.value;
            env.render();
          },
        },
        KINDS.map(([v, l]) => h('option', { value: v, selected: t.kind === v || undefined }, l)),
      ),
    ),
    field('trk-site', 'Site', { type: 'url', placeholder: t.kind === 'github' ? 'https://api.github.com' : t.kind === 'jira-dc' ? 'https://jira.example.com/jira' : 'https://acme.atlassian.net' }),
    t.kind === 'github' ? field('trk-repo', 'Repository', { placeholder: 'owner/name' }) : field('trk-field', 'Story points field', { placeholder: 'customfield_10016' }),
    t.kind === 'jira-cloud' ? field('trk-email', 'Account email', { type: 'email' }) : null,
    field('trk-token', t.kind === 'jira-cloud' ? 'API token' : t.kind === 'jira-dc' ? 'Personal access token' : 'Token', { type: 'password', autocomplete: 'new-password' }),
    h('button', { type: 'submit', id: 'trk-connect', disabled: t.busy || undefined }, 'Connect'),
  );
}

/** A stored connection: what it is, a check, the import, the write-back and its states. */
function connected(t, { preview, importNow, writeBack, refresh, run, ctx, canImport }) {
  const c = t.conn;
  const github = c.kind === 'github';
  const p = t.preview;
  return h(
    'div',
    { id: 'trk-connected' },
    h('p', { id: 'trk-conn' }, `${KIND_NAMES[c.kind] || c.kind} · ${c.site} · ${github ? `repository ${c.repo}` : `field ${c.field}`} · credential stored`),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', class: 'secondary', id: 'trk-test', disabled: t.busy || undefined, onclick: () => run(async () => {
        const r = await api.trackerTest(ctx.planning, ctx.token);
        t.status = `The connection works: ${r.account}.`;
      }) }, 'Check the connection'),
      h('button', { type: 'button', class: 'secondary', id: 'trk-forget', disabled: t.busy || undefined, onclick: () => run(async () => {
        await api.clearTracker(ctx.planning, ctx.token);
        t.conn = null;
        t.preview = null;
        t.status = 'The connection and its credential are deleted.';
      }) }, 'Forget it'),
    ),
    canImport ? h('h3', {}, 'Import issues') : null,
    canImport
      ? h(
          'div',
          { class: 'row' },
          h('label', { for: 'trk-query' }, github ? 'Label' : 'JQL'),
          h('input', { id: 'trk-query', autocomplete: 'off', spellcheck: 'false', placeholder: github ? 'sprint-1' : 'project = PRJ AND sprint in openSprints()' }),
          h('button', { type: 'button', class: 'secondary', id: 'trk-preview', disabled: t.busy || undefined, onclick: preview }, 'Preview'),
        )
      : null,
    canImport && p ? importPreview(p, importNow, t) : null,
    h('h3', {}, 'Write estimates back'),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', class: 'secondary', id: 'trk-writeback', disabled: t.busy || undefined, onclick: writeBack }, 'Write agreed estimates back'),
      h('button', { type: 'button', class: 'secondary', id: 'trk-refresh', disabled: t.busy || undefined, onclick: refresh }, 'Refresh'),
    ),
    writesTable(t.writes || []),
  );
}

/** What a dry run fetched: new issues, those already in the backlog, or the refusal. */
function importPreview(p, importNow, t) {
  const items = p.items || [];
  return h(
    'div',
    { id: 'trk-preview-result' },
    h(
      'p',
      { id: 'trk-summary', class: p.refusal || p.rows?.length ? 'error' : '' },
      `${plural(p.fetched, 'issue')} fetched: ${items.length} new`,
      p.skipped?.length ? `, ${p.skipped.length} already in the backlog (not imported again)` : '',
      p.refusal ? `. ${p.refusal}` : p.rows?.length ? `. ${p.rows.map((r) => `issue ${r.line}: ${r.error}`).join('; ')}` : '.',
    ),
    items.length ? h('ul', { class: 'trk-items' }, items.map((i) => h('li', {}, `${i.external_key} — ${i.title}`))) : null,
    !p.refusal && !p.rows?.length && items.length
      ? h('button', { type: 'button', id: 'trk-import', disabled: t.busy || undefined, onclick: importNow }, `Import ${plural(items.length, 'item')}`)
      : null,
  );
}

/** Each item's latest write-back and where it stands. */
function writesTable(writes) {
  if (!writes.length) return h('p', { class: 'hint', id: 'trk-no-writes' }, 'Nothing written back yet. Committing the scope writes every agreed estimate back.');
  const word = { pending: 'queued', retrying: 'retrying', verified: 'verified', failed: 'failed' };
  return h(
    'table',
    { class: 'import-preview', id: 'trk-writes' },
    h('caption', { class: 'sr-only' }, 'Write-backs to the tracker'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Issue'), h('th', { scope: 'col' }, 'Estimate'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Why'))),
    h(
      'tbody',
      {},
      writes.map((w) =>
        h(
          'tr',
          { class: w.state === 'failed' ? 'bad' : w.state === 'verified' ? 'good' : '', dataset: { issue: w.key, state: w.state } },
          h('td', {}, w.key),
          h('td', {}, w.estimate),
          h('td', {}, word[w.state] || w.state),
          h('td', {}, w.error || '—'),
        ),
      ),
    ),
  );
}
