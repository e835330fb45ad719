// The async board: inbox, goal, the open round (countdown, who has voted, the deck), capacity,
// Definition of Ready, then the backlog as a compact list (backlog.js) with the chosen item's
// details beside it (item.js; below it at a phone's width).

import { h, add, skeleton, trackDrafts, formSubmitter, timeEl, countdown, pts, plural, rerender } from './dom.js';
import { openRounds, rankedItems, members, nameOf } from './model.js';
import { MAX_LEN } from './protocol.js';
import { runCountdowns, votingContext, votingPanel } from './votes.js';
import { backlogSection, newImportState, shownItems } from './backlog.js';
import { newTrackerState } from './tracker.js';
import { itemDetails } from './item.js';
import { deadlineEl, roundOrigin, roundDeadlineWarning } from './deadlines.js';

// The voting pieces live in votes.js; the live view and the timeline import them from here too.
export { runCountdowns, votingContext, votingPanel, itemVotes } from './votes.js';

export function boardView(ctx) {
  // The content is re-rendered; the live region beside it stays, so what it says is announced.
  const content = h('div', {}, skeleton('Loading the board…', 'board', 'board-loading'));
  const announce = h('p', { class: 'sr-only', role: 'status', id: 'board-status' });
  const el = h('div', { class: 'board' }, content, announce);
  const drafts = trackDrafts(el);
  // What this page remembers between renders: the ticked items, the item whose details show,
  // the filter, an edit under way, the import's preview, a refusal to show beside its control.
  const ui = { selected: new Set(), open: null, filter: 'all', editing: null, roundError: '', opening: false, dragging: null, imp: newImportState(), trk: newTrackerState(), exportStatus: '' };
  const tick = runCountdowns(el);
  const send = ctx.send;

  const submit = formSubmitter(send, drafts, el);
  const env = { ctx, send, submit, el, ui, drafts, render: () => render(), say: (text) => { announce.textContent = text; } };

  function render() {
    const v = ctx.store.view;
    if (!v) return;
    const s = v.state;
    const me = v.you;
    const isFac = me.role === 'facilitator';
    const canWork = isFac || me.role === 'member';
    const open = s.phase !== 'committed';
    const vc = votingContext(ctx);
    const names = (pid) => nameOf(s, pid);

    // ---- my inbox (as the server derives it) ----
    const pending = ctx.store.inbox?.pending_votes || [];
    const questions = ctx.store.inbox?.questions || [];
    const inbox = h(
      'section',
      { class: 'card', 'aria-labelledby': 'inbox-h', id: 'inbox' },
      h('h2', { id: 'inbox-h' }, 'My inbox ', h('span', { class: 'count' }, String(pending.length + questions.length))),
      !pending.length && !questions.length ? h('p', { class: 'muted' }, 'Nothing waits for you.') : null,
      pending.length
        ? h(
            'div',
            {},
            h('h3', {}, 'Votes you owe'),
            h(
              'ul',
              { class: 'inbox-list', id: 'inbox-votes' },
              pending.map((p) =>
                h(
                  'li',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'link-button',
                      dataset: { key: `inbox-vote-${p.item}` },
                      onclick: () => {
                        ctx.shared.current = p.item;
                        ui.open = p.item;
                        render();
                        el.querySelector('.deck .vcard')?.focus();
                      },
                    },
                    p.title,
                  ),
                  ' — by ',
                  s.rounds[p.round] ? deadlineEl(p.deadline, roundOrigin(s, s.rounds[p.round])) : timeEl(p.deadline),
                ),
              ),
            ),
          )
        : null,
      questions.length
        ? h(
            'div',
            {},
            h('h3', {}, 'Questions for you'),
            h(
              'ul',
              { class: 'inbox-list', id: 'inbox-questions' },
              questions.map((q) =>
                h(
                  'li',
                  {},
                  `${names(q.by)} asks${q.item ? ` on “${s.items[q.item]?.draft.title}”` : ''}: `,
                  h('q', {}, q.text),
                  ' ',
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'link-button',
                      dataset: { key: `inbox-q-${q.comment}` },
                      onclick: () => {
                        // The question's item opens beside the list, its answer field focused.
                        if (q.item) ui.open = q.item;
                        render();
                        el.querySelector(`#answer-${CSS.escape(q.comment)}`)?.focus();
                      },
                    },
                    'Answer',
                  ),
                ),
              ),
            ),
          )
        : null,
    );

    // ---- goal ----
    const goal = h(
      'section',
      { class: 'card', 'aria-labelledby': 'goal-h', id: 'goal' },
      h('h2', { id: 'goal-h' }, 'Sprint goal'),
      s.goal ? h('p', { id: 'goal-text' }, s.goal.text, s.goal.committed ? h('span', { class: 'badge est' }, 'committed') : null) : h('p', { class: 'muted' }, 'No goal drafted yet.'),
      isFac && open && !(s.goal && s.goal.committed)
        ? h(
            'form',
            { class: 'row', onsubmit: submit(() => {
              const text = el.querySelector('#goal-input').value.trim();
              if (!text) return null;
              return s.goal ? { type: 'AmendGoal', text } : { type: 'DraftGoal', text };
            }) },
            h('label', { for: 'goal-input', class: 'sr-only' }, s.goal ? 'New wording of the goal' : 'Goal'),
            h('input', { id: 'goal-input', maxlength: MAX_LEN.goal, autocomplete: 'off', placeholder: s.goal ? 'Reword the goal' : 'What should this sprint achieve?' }),
            h('button', { type: 'submit', id: 'draft-goal' }, s.goal ? 'Amend goal' : 'Set goal'),
          )
        : null,
    );

    // ---- the open round(s) ----
    const rounds = openRounds(s);
    const roundSection = h('section', { class: 'card', 'aria-labelledby': 'round-h', id: 'round' }, h('h2', { id: 'round-h' }, 'Open round'));
    if (!rounds.length) add(roundSection, h('p', { class: 'muted', id: 'no-round' }, 'No round is open. ', isFac ? 'Tick ready items on the Backlog and open a round.' : 'When the facilitator opens one, your cards show here.'));
    for (const r of rounds) {
      const missing = ctx.store.inbox?.rounds.find((x) => x.round === r.id)?.not_voted;
      // Who voted on how many of the round's items (who, never what).
      const voted = members(s)
        .map((m) => ({ m, n: r.items.filter((i) => (r.votes?.[i] || {})[m.id]).length }))
        .filter((x) => x.n > 0)
        .map((x) => (x.n < r.items.length ? `${x.m.name} (${x.n} of ${r.items.length})` : x.m.name));
      add(
        roundSection,
        h(
          'div',
          { class: 'round', dataset: { round: r.id } },
          h('p', {}, `${r.items.length} item${r.items.length === 1 ? '' : 's'}${r.live ? ' · live' : ''}: `, r.items.map((i) => s.items[i]?.draft.title).join(', ')),
          h(
            'p',
            {},
            'Deadline: ',
            deadlineEl(r.deadline, roundOrigin(s, r)),
            ' · ',
            h('span', { class: 'countdown', dataset: { deadline: String(r.deadline) }, role: 'timer', 'aria-live': 'off' }, countdown(r.deadline)),
          ),
          r.live ? null : roundDeadlineWarning(s, r.id),
          h('p', { class: 'voted' }, 'Voted: ', voted.length ? voted.join(', ') : 'nobody yet'),
          missing ? h('p', { class: 'not-voted' }, 'Not voted yet: ', missing.length ? missing.map(names).join(', ') : 'everyone voted') : null,
          isFac
            ? h(
                'button',
                {
                  type: 'button',
                  class: 'secondary',
                  dataset: { key: `close-${r.id}` },
                  id: rounds.length === 1 ? 'close-round' : undefined,
                  onclick: () => send({ type: 'CloseRound', round: r.id }).catch(() => {}),
                },
                'Close round now',
              )
            : null,
        ),
      );
    }
    if (vc) add(roundSection, votingPanel(ctx, vc, render));

    // ---- capacity ----
    const team = Object.values(s.participants).filter((p) => !p.removed && p.role !== 'observer');
    const myCap = s.participants[me.participant]?.capacity;
    const capacity = h(
      'details',
      { class: 'card', id: 'capacity', dataset: { key: 'capacity' } },
      h(
        'summary',
        { id: 'team-capacity' },
        'Capacity: ',
        h('strong', {}, `${pts(s.derived?.capacity_points)} points`),
        ` (velocity ${s.velocity == null ? 'not set' : `${pts(s.velocity)} points per focused day`}) · agreed so far: ${pts(s.derived?.agreed_points)} points`,
        myCap || !canWork || !open ? null : h('span', { class: 'badge warn' }, 'yours is not declared'),
      ),
      h(
        'table',
        { class: 'cap-table' },
        h('caption', { class: 'sr-only' }, 'Declared capacity per person'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Who'), h('th', { scope: 'col' }, 'Days'), h('th', { scope: 'col' }, 'Focus'), h('th', { scope: 'col' }, 'Focused days'), h('th', { scope: 'col' }, 'Notes'))),
        h(
          'tbody',
          {},
          team.map((p) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, p.name),
              p.capacity
                ? [h('td', {}, pts(p.capacity.available_days)), h('td', {}, pts(p.capacity.focus_factor)), h('td', {}, pts(s.derived?.focused_days?.[p.id])), h('td', {}, p.capacity.notes || '')]
                : [h('td', { colspan: 4, class: 'muted' }, 'not declared')],
            ),
          ),
        ),
      ),
      canWork && open
        ? h(
            'form',
            {
              class: 'inline-form',
              id: 'capacity-form',
              onsubmit: submit(() => ({
                type: 'DeclareCapacity',
                available_days: Number(el.querySelector('#cap-days').value),
                focus_factor: Number(el.querySelector('#cap-focus').value),
                notes: el.querySelector('#cap-notes').value.trim() || null,
              })),
            },
            h('h3', {}, 'My capacity'),
            h('div', { class: 'fields' },
              h('div', {}, h('label', { for: 'cap-days' }, 'Available days'), h('input', { id: 'cap-days', type: 'number', min: 0, max: 100, step: 0.5, required: true, value: myCap ? String(myCap.available_days) : '' })),
              h('div', {}, h('label', { for: 'cap-focus' }, 'Focus factor (0–1)'), h('input', { id: 'cap-focus', type: 'number', min: 0, max: 1, step: 0.05, required: true, value: myCap ? String(myCap.focus_factor) : '0.8' })),
              h('div', { class: 'wide' }, h('label', { for: 'cap-notes' }, 'Notes'), h('input', { id: 'cap-notes', maxlength: MAX_LEN.short, value: myCap?.notes || '' })),
            ),
            h('button', { type: 'submit', id: 'declare-capacity' }, 'Save my capacity'),
          )
        : null,
      isFac && open
        ? h(
            'form',
            { onsubmit: submit(() => ({ type: 'SetVelocity', points_per_day: Number(el.querySelector('#velocity').value) })) },
            h('label', { for: 'velocity' }, 'Velocity (points per focused day)'),
            h(
              'div',
              { class: 'row' },
              h('input', { id: 'velocity', type: 'number', min: 0, step: 0.05, required: true, value: s.velocity == null ? '' : String(s.velocity) }),
              h('button', { type: 'submit', id: 'set-velocity' }, 'Set velocity'),
            ),
          )
        : null,
    );

    // ---- Definition of Ready (facilitator) ----
    const dor = s.definition_of_ready || [];
    const dorSection = isFac && open
      ? h(
          'details',
          { class: 'card', id: 'dor', dataset: { key: 'dor' } },
          h('summary', {}, `Definition of Ready (${plural(dor.length, 'criterion', 'criteria')})`),
          h(
            'form',
            {
              onsubmit: submit(() => ({
                type: 'SetDefinitionOfReady',
                criteria: el.querySelector('#dor-input').value.split('\n').map((l) => l.trim()).filter(Boolean),
              })),
            },
            h('label', { for: 'dor-input' }, 'Criteria, one per line'),
            // The editor opens on the criteria in force (and keeps them after saving): a kept
            // text keeps its criterion and the checks made against it.
            h('textarea', { id: 'dor-input', rows: Math.max(3, dor.length + 1), placeholder: 'AC written\nDesigns linked' }, dor.map((c) => c.text).join('\n')),
            h('p', { class: 'hint' }, 'Keep a line as it is to keep the checks made against it.'),
            h('button', { type: 'submit', id: 'set-dor' }, 'Set the Definition of Ready'),
          ),
        )
      : null;

    // ---- the backlog and the chosen item ----
    const items = rankedItems(s);
    if (!ui.open || !s.items[ui.open] || s.items[ui.open].withdrawn) ui.open = items[0]?.id ?? null;
    if (ui.editing && ui.editing !== ui.open) ui.editing = null;
    const backlog = h('div', { class: 'backlog-layout' }, backlogSection(env, s), itemDetails(env, s, ui.open ? s.items[ui.open] : null, shownItems(env, s)));

    const phaseBar = isFac && (s.phase === 'draft' || !s.phase)
      ? h('p', {}, h('button', { type: 'button', id: 'to-async', onclick: () => send({ type: 'ChangePhase', to: 'async' }).catch(() => {}) }, 'Start async review'))
      : null;

    // One band above the backlog: inbox, goal, capacity and readiness beside the open round.
    rerender(content, [phaseBar, h('div', { class: `board-top${dorSection ? '' : ' no-dor'}` }, inbox, goal, roundSection, capacity, dorSection), backlog].filter(Boolean), drafts);
  }

  return {
    el,
    render,
    votingContext: () => votingContext(ctx),
    destroy() {
      clearInterval(tick);
    },
  };
}
