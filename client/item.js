// One item's details, shown beside the backlog list (below it at a phone's width): its text,
// edit / withdraw, readiness per criterion (who checked, which mark is active, the failed
// criteria by their text and the facilitator's override in one step), votes, flag and the
// threaded discussion.

import { h, timeEl } from './dom.js';
import { openRounds, rankedItems, nameOf, isOpenQuestion, flagOf, pastFlagText, FLAG_TEXT, discussionText } from './model.js';
import { MAX_LEN } from './protocol.js';
import { itemVotes } from './votes.js';
import * as api from './api.js';

/** Text lines of a textarea, trimmed, blank ones left out. */
export function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** An attachment: a link when it is one, text otherwise. */
function attachment(a) {
  if (/^https?:\/\//i.test(a)) return h('a', { href: a, target: '_blank', rel: 'noopener noreferrer' }, a);
  return a;
}

/** An import's source (`ItemsImported.source`) in words: a file's format or a tracker. */
const IMPORTED_FROM = { csv: 'a CSV file', jira: 'a Jira export', 'jira-cloud': 'Jira Cloud', 'jira-dc': 'Jira Data Center', github: 'GitHub Issues' };

/** Where an item came from, in words (its `source` names the import's format or the planning). */
function origin(s, it) {
  const who = nameOf(s, it.proposed_by);
  const src = it.source || '';
  if (src.startsWith('import:')) return `imported by ${who} from ${IMPORTED_FROM[src.slice(7)] || 'a file'}`;
  if (src.startsWith('carried-over:')) return `carried over from the last sprint by ${who}`;
  return `proposed by ${who}`;
}

/** Imports that came from a tracker this server writes estimates back to. */
const TRACKERS = new Set(['jira-cloud', 'jira-dc', 'github']);
/** How often the details of a tracker's item ask the server for the write-backs again. */
const WRITES_EVERY_MS = 10_000;

/**
 * Where the item's agreed estimate stands in its tracker, for everyone (the facilitator's
 * tracker panel has the whole table): its latest write-back, asked of the server when the
 * details of a tracker's item show, at most every [WRITES_EVERY_MS] (write-backs finish with no
 * event on the feed). Null for an item with none.
 */
function writtenBack(env, it) {
  const src = (it.source || '').replace(/^import:/, '');
  if (!it.source?.startsWith('import:') || !TRACKERS.has(src)) return null;
  const w = (env.ui.writes ||= { at: -Infinity, rows: [], busy: false });
  if (!w.busy && Date.now() - w.at > WRITES_EVERY_MS) {
    w.busy = true;
    w.at = Date.now();
    api
      .trackerWrites(env.ctx.planning, env.ctx.token)
      .then((r) => (w.rows = r.writes))
      .catch(() => {})
      .finally(() => {
        w.busy = false;
        env.render();
      });
  }
  const row = w.rows.find((r) => r.item === it.id);
  if (!row) return null;
  const where = IMPORTED_FROM[src];
  const why = (row.error || '').replace(/\.$/, '');
  const text = {
    pending: `Estimate ${row.estimate} queued for ${where}.`,
    retrying: `Estimate ${row.estimate} not yet written to ${where}; retrying${why ? ` (${why})` : ''}.`,
    verified: `Estimate ${row.estimate} written back to ${where} and read back.`,
    failed: `Estimate ${row.estimate} could not be written to ${where}: ${why || 'no reason given'}.`,
  }[row.state];
  return h('p', { class: row.state === 'failed' ? 'warn-note' : 'muted', id: 'item-writeback', dataset: { state: row.state } }, text || `${where}: ${row.state}`);
}

/**
 * The Definition-of-Ready criteria that keep the item from being ready, as the server derives
 * them (`derived.needs_discussion`, reason `failing_readiness`; none once overridden).
 */
export function failedCriteria(s, it) {
  const need = (s.derived?.needs_discussion || []).find((d) => d.item === it.id);
  const ids = need?.reasons.find((r) => r.reason === 'failing_readiness')?.criteria || [];
  return (s.definition_of_ready || []).filter((c) => ids.includes(c.id));
}

/**
 * The details pane. `env` is the board's: {ctx, send, submit, el, ui, render}. `it` null: no
 * item to show.
 */
export function itemDetails(env, s, it, shown = []) {
  const { ctx, ui } = env;
  const me = ctx.store.view.you;
  if (!it) {
    return h('section', { class: 'card item-details', id: 'item-details', 'aria-labelledby': 'details-h' }, h('h2', { id: 'details-h' }, 'Item details'), h('p', { class: 'muted' }, 'Pick an item in the list to see it here.'));
  }
  const isFac = me.role === 'facilitator';
  const canWork = isFac || me.role === 'member';
  const open = s.phase !== 'committed';
  const mayChange = open && (isFac || it.proposed_by === me.participant);
  const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
  const discuss = (s.derived?.needs_discussion || []).find((d) => d.item === it.id);
  const editing = ui.editing === it.id;
  const discussWhy = (discuss?.reasons || []).filter((r) => r.reason !== 'failing_readiness');
  return h(
    'section',
    { class: 'card item-details', id: 'item-details', 'aria-labelledby': 'details-h', dataset: { item: it.id } },
    h('div', { class: 'details-head' }, h('h2', { id: 'details-h', tabindex: '-1' }, it.draft.title), stepper(env, it, shown)),
    h(
      'p',
      { class: 'meta' },
      it.draft.external_key ? h('span', { class: 'badge' }, it.draft.external_key) : null,
      (it.draft.labels || []).map((l) => h('span', { class: 'badge' }, l)),
      h('span', { class: 'muted' }, ` ${origin(s, it)} · `, timeEl(it.proposed_at, { dateOnly: true })),
    ),
    writtenBack(env, it),
    editing ? editForm(env, s, it) : body(s, it),
    mayChange && !editing ? itemActions(env, s, it, inOpen) : null,
    readiness(env, s, it, canWork && open),
    votesBlock(s, it, me.participant),
    inOpen && me.role === 'member'
      ? h('button', { type: 'button', class: 'link-button', dataset: { key: `vote-on-${it.id}` }, onclick: () => { ctx.shared.current = it.id; env.render(); } }, 'Vote on this')
      : null,
    flagOf(s, it).now ? h('p', { class: 'flag-note' }, `Flagged for the live session: ${it.flag.note || FLAG_TEXT[it.flag.reason] || it.flag.reason}`) : null,
    flagOf(s, it).past ? h('p', { class: 'muted flag-past' }, `${pastFlagText(it.flag)[0].toUpperCase()}${pastFlagText(it.flag).slice(1)}; the latest round converged.`) : null,
    // Why it needs the live call (a failed readiness check says so in its own box above).
    discussWhy.length && !it.flag ? h('p', { class: 'warn-note' }, `Needs discussion: ${discussWhy.map(discussionText).join(', ')}`) : null,
    h(
      'p',
      { class: 'row wrap actions' },
      canWork && open && !it.flag && !it.estimate
        ? h('button', { type: 'button', class: 'secondary', dataset: { key: `flag-${it.id}` }, onclick: () => env.send({ type: 'FlagItem', item: it.id, note: 'to discuss live' }).catch(() => {}) }, 'Flag for the live session')
        : null,
      isFac && open && discuss && !it.flag && !inOpen
        ? h('button', { type: 'button', class: 'secondary', dataset: { key: `send-agenda-${it.id}` }, onclick: () => env.send({ type: 'SendToAgenda', item: it.id }).catch(() => {}) }, 'Send to the live agenda (no async round)')
        : null,
    ),
    thread(env, s, it, canWork || me.role === 'observer'),
  );
}

/** The votes on the item (face down while its round is open), under a heading. */
function votesBlock(s, it, me) {
  const votes = itemVotes(s, it, me);
  return votes ? h('div', { class: 'votes-block' }, h('h3', {}, 'Votes'), votes) : null;
}

/** Previous and next item of the list as it shows now (its order and filter). */
function stepper(env, it, shown) {
  const at = shown.findIndex((i) => i.id === it.id);
  const go = (by) => () => {
    env.ui.open = shown[at + by].id;
    env.ui.editing = null;
    env.render();
  };
  if (shown.length < 2 || at < 0) return null;
  return h(
    'span',
    { class: 'stepper', role: 'group', 'aria-label': 'Other items' },
    h('button', { type: 'button', class: 'mini', id: 'prev-item', disabled: at === 0 || undefined, 'aria-label': 'Previous item', onclick: at > 0 ? go(-1) : undefined }, '‹'),
    h('span', { class: 'muted' }, ` ${at + 1} of ${shown.length} `),
    h('button', { type: 'button', class: 'mini', id: 'next-in-list', disabled: at === shown.length - 1 || undefined, 'aria-label': 'Next item', onclick: at < shown.length - 1 ? go(1) : undefined }, '›'),
  );
}

function body(s, it) {
  const deps = (it.draft.dependencies || []).map((id) => s.items[id]).filter(Boolean);
  return [
    it.draft.description ? h('p', { class: 'desc' }, it.draft.description) : null,
    it.draft.acceptance_criteria?.length ? h('div', {}, h('span', { class: 'muted' }, 'Acceptance criteria'), h('ul', { class: 'ac' }, it.draft.acceptance_criteria.map((c) => h('li', {}, c)))) : null,
    it.draft.attachments?.length ? h('div', { class: 'attachments' }, h('span', { class: 'muted' }, 'Attachments'), h('ul', { class: 'ac' }, it.draft.attachments.map((a) => h('li', {}, attachment(a))))) : null,
    deps.length
      ? h('p', { class: 'deps' }, h('span', { class: 'muted' }, 'Depends on: '), deps.map((d) => `${d.draft.title}${d.withdrawn ? ' (withdrawn)' : d.estimate ? ` (${d.estimate})` : ''}`).join(', '))
      : null,
  ];
}

/** Edit and withdraw (the facilitator, or the item's proposer). */
function itemActions(env, s, it, inOpen) {
  const { ui } = env;
  return h(
    'div',
    { class: 'row wrap actions' },
    h('button', { type: 'button', class: 'secondary', id: 'edit-item', onclick: () => { forgetEdit(env); ui.editing = it.id; ui.editDeps = new Set(it.draft.dependencies || []); env.render(); env.el.querySelector('#edit-title')?.focus(); } }, 'Edit'),
    inOpen
      ? h('span', { class: 'hint' }, 'In an open round: it can be withdrawn once the round closes.')
      : h(
          'form',
          {
            class: 'row withdraw',
            onsubmit: env.submit((f) => ({ type: 'WithdrawItem', item: it.id, reason: f.querySelector('input').value.trim() || null })),
          },
          h('label', { for: 'withdraw-reason', class: 'sr-only' }, `Why withdraw ${it.draft.title} (optional)`),
          h('input', { id: 'withdraw-reason', maxlength: MAX_LEN.short, placeholder: 'Reason (optional)', autocomplete: 'off' }),
          h('button', { type: 'submit', class: 'secondary', id: 'withdraw-item' }, 'Withdraw'),
        ),
  );
}

const EDIT_FIELDS = ['edit-title', 'edit-desc', 'edit-ac', 'edit-att', 'edit-labels', 'edit-key'];

/** Forgets what was typed into the edit form (it opens on the item's own text). */
function forgetEdit(env) {
  for (const id of EDIT_FIELDS) env.drafts.delete(id);
  env.ui.editDeps = null;
}

/** The edit form: only the fields changed go in the patch. */
function editForm(env, s, it) {
  const { ui } = env;
  const d = it.draft;
  // Dependencies are ticked here and kept in `ui` (tick boxes are not kept across re-renders).
  const deps = ui.editDeps || new Set(d.dependencies || []);
  ui.editDeps = deps;
  // In backlog order; a withdrawn item only while it is still a dependency.
  const others = [...rankedItems(s), ...Object.values(s.items).filter((o) => o.withdrawn && deps.has(o.id))].filter((o) => o.id !== it.id);
  const done = () => {
    forgetEdit(env);
    ui.editing = null;
    env.render();
  };
  return h(
    'form',
    {
      class: 'edit-item',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const f = ev.currentTarget;
        const v = (id) => f.querySelector(`#${id}`).value;
        const patch = {};
        const title = v('edit-title').trim();
        if (title !== d.title) patch.title = title;
        const desc = v('edit-desc').trim();
        if (desc !== (d.description || '')) patch.description = desc;
        const ac = lines(v('edit-ac'));
        if (ac.join('\n') !== (d.acceptance_criteria || []).join('\n')) patch.acceptance_criteria = ac;
        const att = lines(v('edit-att'));
        if (att.join('\n') !== (d.attachments || []).join('\n')) patch.attachments = att;
        const labels = v('edit-labels').split(',').map((l) => l.trim()).filter(Boolean);
        if (labels.join(',') !== (d.labels || []).join(',')) patch.labels = labels;
        const key = v('edit-key').trim();
        if (key !== (d.external_key || '')) patch.external_key = key;
        const before = d.dependencies || [];
        if (before.length !== deps.size || before.some((x) => !deps.has(x))) patch.dependencies = [...deps];
        if (!Object.keys(patch).length) return done();
        try {
          await env.send({ type: 'EditItem', item: it.id, patch });
          done();
        } catch {
          /* shown; the text stays for another try */
        }
      },
    },
    h('label', { for: 'edit-title' }, 'Title'),
    h('input', { id: 'edit-title', required: true, maxlength: MAX_LEN.title, value: d.title, autocomplete: 'off' }),
    h('label', { for: 'edit-desc' }, 'Description'),
    h('textarea', { id: 'edit-desc', rows: 3 }, d.description || ''),
    h('label', { for: 'edit-ac' }, 'Acceptance criteria (one per line)'),
    h('textarea', { id: 'edit-ac', rows: 3 }, (d.acceptance_criteria || []).join('\n')),
    h('label', { for: 'edit-att' }, 'Attachments (one per line)'),
    h('textarea', { id: 'edit-att', rows: 2 }, (d.attachments || []).join('\n')),
    h('div', { class: 'two' },
      h('div', {}, h('label', { for: 'edit-labels' }, 'Labels (comma separated)'), h('input', { id: 'edit-labels', value: (d.labels || []).join(', '), autocomplete: 'off' })),
      h('div', {}, h('label', { for: 'edit-key' }, 'Tracker key'), h('input', { id: 'edit-key', value: d.external_key || '', autocomplete: 'off' })),
    ),
    others.length
      ? h(
          'fieldset',
          { class: 'deps-pick' },
          h('legend', {}, 'Depends on'),
          others.map((o) =>
            h(
              'label',
              { class: 'check' },
              h('input', {
                type: 'checkbox',
                dataset: { key: `dep-${o.id}` },
                checked: deps.has(o.id),
                onchange: (ev) => {
                  if (ev.target.checked) deps.add(o.id);
                  else deps.delete(o.id);
                },
              }),
              o.draft.title,
            ),
          ),
        )
      : null,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save-item' }, 'Save changes'), h('button', { type: 'button', class: 'secondary', id: 'cancel-edit', onclick: done }, 'Cancel')),
  );
}

/** "What is missing?" on a failed check: a link, then a field that records the check again with the note. */
function missingNote(env, it, c, r) {
  const key = `${it.id}:${c.id}`;
  if (env.ui.noteFor !== key) {
    return h('button', { type: 'button', class: 'link-button note-link', dataset: { key: `note-${key}` }, 'aria-label': `Say what is missing for ${c.text}`, onclick: () => { env.ui.noteFor = key; env.render(); env.el.querySelector(`#missing-${CSS.escape(c.id)}`)?.focus(); } }, r.note ? 'change the note' : 'say what is missing');
  }
  return h(
    'form',
    {
      class: 'row missing',
      onsubmit: env.submit((f) => {
        env.ui.noteFor = null;
        const note = f.querySelector('input').value.trim();
        return { type: 'CheckReadiness', item: it.id, criterion: c.id, ok: false, note: note || null };
      }),
    },
    h('label', { for: `missing-${c.id}`, class: 'sr-only' }, `What is missing for ${c.text}`),
    h('input', { id: `missing-${c.id}`, maxlength: MAX_LEN.short, placeholder: 'What is missing?', value: r.note || '', autocomplete: 'off' }),
    h('button', { type: 'submit', class: 'mini', dataset: { key: `save-note-${key}` } }, 'Save'),
  );
}

/**
 * Readiness per criterion: the latest check, who made it, the active mark pressed; a not-ready
 * item names its failed criteria and offers the facilitator's override with a reason.
 */
function readiness(env, s, it, canCheck) {
  const dor = s.definition_of_ready || [];
  if (!dor.length) return null;
  const me = env.ctx.store.view.you;
  const notReady = (s.derived?.not_ready || []).includes(it.id);
  const failed = failedCriteria(s, it);
  const check = (c, ok) => env.send({ type: 'CheckReadiness', item: it.id, criterion: c.id, ok }).catch(() => {});
  return h(
    'div',
    { class: 'readiness', id: 'readiness' },
    h('h3', {}, 'Definition of Ready', it.readiness_overridden ? h('span', { class: 'badge est' }, 'overridden by the facilitator') : null),
    h(
      'ul',
      { class: 'checks' },
      dor.map((c) => {
        const r = it.readiness?.[c.id];
        const state = !r ? 'unchecked' : r.ok ? 'ok' : 'failed';
        const mark = { unchecked: '○', ok: '✓', failed: '✗' }[state];
        return h(
          'li',
          { class: `check-${state}`, dataset: { criterion: c.id } },
          h('span', { 'aria-hidden': 'true' }, `${mark} `),
          `${c.text}: ${state === 'unchecked' ? 'not checked' : state === 'ok' ? 'ok' : 'not met'}`,
          r ? h('span', { class: 'muted checked-by' }, ` — checked by ${r.by === me.participant ? 'you' : nameOf(s, r.by)}`) : null,
          r?.note ? h('span', { class: 'muted' }, ` (${r.note})`) : null,
          canCheck
            ? h(
                'span',
                { class: 'marks', role: 'group', 'aria-label': `Check ${c.text}` },
                h('button', { type: 'button', class: `mini${state === 'ok' ? ' active' : ''}`, 'aria-pressed': state === 'ok' ? 'true' : 'false', dataset: { key: `ok-${it.id}-${c.id}` }, 'aria-label': `${c.text} is met for ${it.draft.title}`, onclick: () => check(c, true) }, '✓'),
                h('button', { type: 'button', class: `mini${state === 'failed' ? ' active bad' : ''}`, 'aria-pressed': state === 'failed' ? 'true' : 'false', dataset: { key: `no-${it.id}-${c.id}` }, 'aria-label': `${c.text} is not met for ${it.draft.title}`, onclick: () => check(c, false) }, '✗'),
              )
            : null,
          // A failed check can say what is missing, so whoever fixes the item knows.
          canCheck && state === 'failed' ? missingNote(env, it, c, r) : null,
        );
      }),
    ),
    notReady
      ? h(
          'div',
          { class: 'not-ready-box', id: 'not-ready' },
          h('p', {}, h('strong', {}, 'Not ready: '), failed.map((c) => `“${c.text}”`).join(', '), failed.length === 1 ? ' is not met.' : ' are not met.', failed.filter((c) => it.readiness[c.id]?.note).map((c) => ` ${c.text}: ${it.readiness[c.id].note}.`)),
          me.role === 'facilitator' && s.phase !== 'committed'
            ? h(
                'form',
                { class: 'row', onsubmit: env.submit((f) => {
                  const reason = f.querySelector('input').value.trim();
                  return reason ? { type: 'OverrideReadiness', item: it.id, reason } : null;
                }) },
                h('label', { for: 'override-reason', class: 'sr-only' }, `Why ${it.draft.title} is ready anyway`),
                h('input', { id: 'override-reason', required: true, maxlength: MAX_LEN.short, placeholder: 'Why it is ready anyway', autocomplete: 'off' }),
                h('button', { type: 'submit', id: 'override-readiness' }, 'Override: ready anyway'),
              )
            : null,
        )
      : null,
  );
}

function thread(env, s, it, canPost) {
  const { ctx, send, submit } = env;
  const me = ctx.store.view.you;
  // The view holds the recent comments (and open questions); older pages come on demand.
  const held = ctx.store.commentsOf(it.id);
  const all = Object.values(held);
  const byN = (a, b) => (a.n ?? a.at) - (b.n ?? b.at);
  const top = all.filter((c) => !c.parent).sort(byN);
  const figures = ctx.store.threadFigures(it.id);
  const left = ctx.store.olderLeft(it.id);
  const older = ctx.store.older.get(it.id);
  const people = Object.values(s.participants).filter((p) => !p.removed && p.id !== me.participant);
  const names = (pid) => nameOf(s, pid);
  const commentEl = (c) => {
    const unanswered = isOpenQuestion(c);
    const answers = all.filter((a) => a.parent === c.id && a.kind === 'answer').sort(byN);
    const canResolve = c.kind === 'question' && !c.resolved && !c.deleted && (c.by === me.participant || c.addressee === me.participant || me.role === 'facilitator');
    return h(
      'li',
      { class: `comment ${c.kind}${unanswered ? ' unanswered' : ''}`, dataset: { comment: c.id } },
      h(
        'p',
        { class: 'comment-head' },
        h('strong', {}, names(c.by)),
        c.kind === 'question' ? ` asks${c.addressee ? ` ${names(c.addressee)}` : ''}` : c.kind === 'answer' ? ' answers' : '',
        ' · ',
        timeEl(c.at),
        unanswered ? h('span', { class: 'badge flag' }, 'unanswered') : null,
        c.resolved ? h('span', { class: 'badge est' }, 'resolved') : null,
      ),
      h('p', { class: 'comment-text' }, c.deleted ? h('em', { class: 'muted' }, 'deleted') : c.text),
      answers.length ? h('ul', { class: 'answers' }, answers.map(commentEl)) : null,
      c.kind === 'question' && !c.deleted && canPost
        ? h(
            'form',
            { class: 'row reply', onsubmit: submit((f) => {
              const text = f.querySelector('input').value.trim();
              return text ? { type: 'PostComment', item: it.id, kind: 'answer', parent: c.id, text } : null;
            }) },
            h('label', { for: `answer-${c.id}`, class: 'sr-only' }, `Answer to ${names(c.by)}`),
            h('input', { id: `answer-${c.id}`, maxlength: MAX_LEN.comment, placeholder: 'Answer…', autocomplete: 'off' }),
            h('button', { type: 'submit', class: 'secondary', dataset: { key: `send-answer-${c.id}` } }, 'Answer'),
            canResolve ? h('button', { type: 'button', class: 'secondary', dataset: { key: `resolve-${c.id}` }, onclick: () => send({ type: 'ResolveQuestion', comment: c.id }).catch(() => {}) }, 'Resolve') : null,
          )
        : null,
    );
  };
  // A thread without figures has no comments yet.
  const open = figures?.open_questions ?? 0;
  const live = figures?.live ?? 0;
  return h(
    'details',
    { class: 'thread', open: true, dataset: { key: `thread-${it.id}` } },
    h('summary', {}, `Discussion (${live})`, open ? h('span', { class: 'badge flag' }, `${open} unanswered`) : null),
    left > 0
      ? h(
          'p',
          { class: 'older' },
          h(
            'button',
            { type: 'button', class: 'link-button', dataset: { key: `older-${it.id}` }, disabled: older?.loading || undefined, onclick: () => ctx.store.loadOlder(it.id) },
            older?.loading ? 'Loading older comments…' : `Show older comments (${left})`,
          ),
          older?.error ? h('span', { class: 'error' }, ` Could not load them: ${older.error.message}`) : null,
        )
      : null,
    top.length ? h('ul', { class: 'comments' }, top.map(commentEl)) : null,
    canPost
      ? h(
          'form',
          {
            class: 'new-comment',
            onsubmit: submit((f) => {
              const text = f.querySelector('textarea').value.trim();
              const kind = f.querySelector('select[name=kind]').value;
              const to = f.querySelector('select[name=to]').value;
              if (!text) return null;
              return { type: 'PostComment', item: it.id, kind, addressee: kind === 'question' && to ? to : null, text };
            }),
          },
          h('label', { for: `c-text-${it.id}` }, 'Comment or question'),
          h('textarea', { id: `c-text-${it.id}`, rows: 2, maxlength: MAX_LEN.comment }),
          h(
            'div',
            { class: 'row' },
            h('label', { for: `c-kind-${it.id}`, class: 'sr-only' }, 'Kind'),
            h('select', { id: `c-kind-${it.id}`, name: 'kind' }, h('option', { value: 'comment' }, 'Comment'), h('option', { value: 'question' }, 'Question')),
            h('label', { for: `c-to-${it.id}`, class: 'sr-only' }, 'Ask whom'),
            h('select', { id: `c-to-${it.id}`, name: 'to' }, h('option', { value: '' }, 'to anyone'), people.map((p) => h('option', { value: p.id }, `to ${p.name}`))),
            h('button', { type: 'submit', class: 'secondary', id: `c-send-${it.id}` }, 'Post'),
          ),
        )
      : null,
  );
}
