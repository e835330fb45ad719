// The async board: inbox, goal, the open round (countdown, who has voted, the deck), capacity,
// Definition of Ready, and the candidate items with readiness, attachments and threads.

import { h, add, rerender, trackDrafts, formSubmitter, timeEl, countdown, pts, sinceVisitMark } from './dom.js';
import { openRounds, rankedItems, members, nameOf, lastRound, isOpenQuestion, FLAG_TEXT, discussionText } from './model.js';
import { SPECIAL_CARDS, UNSURE, PAUSE, MAX_LEN } from './protocol.js';
import { keyFor, keysInWords } from './keys.js';

/**
 * Keeps every `[data-deadline]` countdown inside root current, once a second and without a
 * re-render; returns the interval to clear when the view goes.
 */
export function runCountdowns(root) {
  return setInterval(() => {
    for (const el of root.querySelectorAll('[data-deadline]')) el.textContent = countdown(Number(el.dataset.deadline));
  }, 1000);
}

/** The member's voting context: the open round and item to vote on now, and its cards. */
export function votingContext(ctx, { liveOnly = false } = {}) {
  const v = ctx.store.view;
  if (!v || v.you.role !== 'member') return null;
  const me = v.you.participant;
  const pairs = openRounds(v.state)
    .filter((r) => !liveOnly || r.live)
    .flatMap((r) => r.items.map((item) => ({ round: r, item })));
  if (!pairs.length) return null;
  let pick = pairs.find((p) => p.item === ctx.shared.current);
  if (!pick) pick = pairs.find((p) => !(p.round.votes?.[p.item] || {})[me]) || pairs[0];
  return { ...pick, cards: pick.round.deck.cards, pairs };
}

/** The deck to vote with (cards, keyboard hint, my vote, withdraw, next item). */
export function votingPanel(ctx, vc, rerenderAll) {
  const v = ctx.store.view;
  const me = v.you.participant;
  const item = v.state.items[vc.item];
  const mine = (vc.round.votes?.[vc.item] || {})[me];
  const next = vc.pairs.find((p) => p.item !== vc.item && !(p.round.votes?.[p.item] || {})[me]);
  const cast = (card) => {
    ctx.shared.current = vc.item;
    ctx.send({ type: 'CastVote', round: vc.round.id, item: vc.item, card }).catch(() => {});
  };
  return h(
    'div',
    { class: 'voting' },
    h('h3', {}, 'Your vote on ', h('em', {}, item?.draft.title || '')),
    h(
      'div',
      { class: 'deck', role: 'group', 'aria-label': `Cards (${keysInWords(vc.cards)})` },
      [...vc.cards, ...SPECIAL_CARDS].map((c) =>
        h(
          'button',
          {
            type: 'button',
            class: `vcard ${mine && mine.card === c ? 'mine' : ''}`,
            'aria-pressed': mine && mine.card === c ? 'true' : 'false',
            'aria-label': c === UNSURE ? `${UNSURE} (cannot estimate)` : c === PAUSE ? `${PAUSE} (need a break)` : `card ${c}`,
            dataset: { card: c, key: `card-${c}` },
            title: keyFor(c) ? `key ${keyFor(c)}` : undefined,
            'aria-keyshortcuts': keyFor(c) && keyFor(c).length === 1 ? keyFor(c) : undefined,
            onclick: () => cast(c),
          },
          c,
        ),
      ),
    ),
    h('p', { class: 'hint', id: 'deck-keys' }, `Keys: ${keysInWords(vc.cards)}; j/k next or previous item; h all keys. You can change or withdraw your vote until the round closes.`),
    mine
      ? h(
          'p',
          { id: 'my-vote' },
          'Your vote: ',
          h('strong', {}, mine.card),
          ' ',
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              id: 'withdraw-vote',
              onclick: () => ctx.send({ type: 'WithdrawVote', round: vc.round.id, item: vc.item }).catch(() => {}),
            },
            'Withdraw my vote',
          ),
        )
      : null,
    next
      ? h(
          'button',
          {
            type: 'button',
            id: 'next-item',
            onclick: () => {
              ctx.shared.current = next.item;
              rerenderAll();
            },
          },
          'Next item to vote on',
        )
      : null,
  );
}

/** Votes on an item: face-down cards while its round is open, the values once revealed. */
export function itemVotes(s, it, me) {
  const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
  if (inOpen) {
    const voters = Object.entries(inOpen.votes?.[it.id] || {});
    return h(
      'div',
      { class: 'votes', 'aria-label': 'Votes' },
      voters.length ? null : h('span', { class: 'muted' }, 'No votes yet.'),
      voters.map(([pid, vote]) =>
        pid === me
          ? h('span', { class: 'vote mine', dataset: { voter: pid } }, h('span', { class: 'vcard small mine' }, vote.card ?? '✓'), ' you')
          : h('span', { class: 'vote down', dataset: { voter: pid } }, h('span', { class: 'vcard small back', role: 'img', 'aria-label': 'face-down card' }, ''), ` ${nameOf(s, pid)}`),
      ),
    );
  }
  const revealed = lastRound(s, it)?.revealed?.[it.id];
  if (revealed?.length) {
    return h(
      'div',
      { class: 'votes revealed', 'aria-label': 'Revealed votes' },
      revealed.map((rv) => h('span', { class: 'vote up', dataset: { voter: rv.voter } }, h('span', { class: 'vcard small' }, rv.card), ` ${rv.voter === me ? 'you' : nameOf(s, rv.voter)}`)),
    );
  }
  return null;
}

/** An attachment: a link when it is one, text otherwise. */
function attachment(a) {
  if (/^https?:\/\//i.test(a)) return h('a', { href: a, target: '_blank', rel: 'noopener noreferrer' }, a);
  return a;
}

export function boardView(ctx) {
  const el = h('div', { class: 'board' });
  const drafts = trackDrafts(el);
  const ui = { selected: new Set(), focusAfter: null };
  const tick = runCountdowns(el);
  const send = ctx.send;

  const submit = formSubmitter(send, drafts, el);

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
                        render();
                        el.querySelector('.deck .vcard')?.focus();
                      },
                    },
                    p.title,
                  ),
                  ' — by ',
                  timeEl(p.deadline),
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
                      onclick: () => el.querySelector(`#answer-${CSS.escape(q.comment)}`)?.focus(),
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
      { class: 'card', 'aria-labelledby': 'goal-h' },
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
    if (!rounds.length) add(roundSection, h('p', { class: 'muted' }, 'No round is open.'));
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
            timeEl(r.deadline),
            ' · ',
            h('span', { class: 'countdown', dataset: { deadline: String(r.deadline) }, role: 'timer', 'aria-live': 'off' }, countdown(r.deadline)),
          ),
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
      'section',
      { class: 'card', 'aria-labelledby': 'cap-h', id: 'capacity' },
      h('h2', { id: 'cap-h' }, 'Capacity'),
      h(
        'p',
        { id: 'team-capacity' },
        'Team capacity: ',
        h('strong', {}, `${pts(s.derived?.capacity_points)} points`),
        ` (velocity ${s.velocity == null ? 'not set' : `${pts(s.velocity)} points per focused day`}) · agreed so far: ${pts(s.derived?.agreed_points)} points`,
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
          h('summary', {}, `Definition of Ready (${dor.length} criteria)`),
          h(
            'form',
            {
              onsubmit: submit(() => ({
                type: 'SetDefinitionOfReady',
                criteria: el.querySelector('#dor-input').value.split('\n').map((l) => l.trim()).filter(Boolean),
              })),
            },
            h('label', { for: 'dor-input' }, 'Criteria, one per line'),
            h('textarea', { id: 'dor-input', rows: 3, placeholder: 'AC written\nDesigns linked' }),
            h('p', { class: 'hint' }, `Now: ${dor.length ? dor.map((c) => c.text).join(' · ') : 'none'}`),
            h('button', { type: 'submit', id: 'set-dor' }, 'Set the Definition of Ready'),
          ),
        )
      : null;

    // ---- items ----
    const items = rankedItems(s);
    const itemsSection = h(
      'section',
      { class: 'card', 'aria-labelledby': 'items-h' },
      h('h2', { id: 'items-h' }, 'Candidate items'),
      items.length ? h('ol', { class: 'items', id: 'items' }, items.map((it) => renderItem(s, it, me, ui, render))) : h('p', { class: 'muted' }, 'No items yet.'),
      isFac && (s.phase === 'async' || s.phase === 'sync')
        ? h(
            'button',
            {
              type: 'button',
              id: 'open-round',
              disabled: ui.selected.size === 0,
              onclick: async () => {
                const ids = items.map((i) => i.id).filter((id) => ui.selected.has(id));
                await send({ type: 'OpenRound', items: ids }).catch(() => {});
                ui.selected.clear();
                render();
              },
            },
            `Open round (${ui.selected.size} selected)`,
          )
        : null,
      canWork && open ? proposeForm() : null,
    );

    const phaseBar = isFac && (s.phase === 'draft' || !s.phase)
      ? h('p', {}, h('button', { type: 'button', id: 'to-async', onclick: () => send({ type: 'ChangePhase', to: 'async' }).catch(() => {}) }, 'Start async review'))
      : null;

    rerender(el, [phaseBar, inbox, goal, roundSection, h('div', { class: 'grid' }, capacity, dorSection), itemsSection].filter(Boolean), drafts);
  }

  function proposeForm() {
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
      h('label', { for: 'item-title' }, 'Title'),
      h('input', { id: 'item-title', required: true, maxlength: MAX_LEN.title, autocomplete: 'off' }),
      h('label', { for: 'item-desc' }, 'Description'),
      h('textarea', { id: 'item-desc', rows: 2 }),
      h('label', { for: 'item-ac' }, 'Acceptance criteria'),
      h('textarea', { id: 'item-ac', rows: 3, placeholder: 'One criterion per line' }),
      h('label', { for: 'item-att' }, 'Attachments (links or notes)'),
      h('textarea', { id: 'item-att', rows: 2, placeholder: 'One per line, e.g. https://design.example/login' }),
      h('button', { type: 'submit', id: 'propose' }, 'Propose item'),
    );
  }

  function renderItem(s, it, me, ui, rerenderAll) {
    const isFac = me.role === 'facilitator';
    const canWork = isFac || me.role === 'member';
    const open = s.phase !== 'committed';
    const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
    const notReady = (s.derived?.not_ready || []).includes(it.id);
    const discuss = (s.derived?.needs_discussion || []).find((d) => d.item === it.id);
    const li = h('li', { class: `item${notReady ? ' not-ready' : ''}`, dataset: { item: it.id }, id: `item-${it.id}` });
    const selectable = isFac && !inOpen && !it.estimate && (s.phase === 'async' || s.phase === 'sync');
    add(
      li,
      h(
        'div',
        { class: 'item-head' },
        selectable
          ? h('input', {
              type: 'checkbox',
              id: `sel-${it.id}`,
              'aria-label': `Select ${it.draft.title} for a round`,
              checked: ui.selected.has(it.id),
              onchange: (ev) => {
                if (ev.target.checked) ui.selected.add(it.id);
                else ui.selected.delete(it.id);
                rerenderAll();
              },
            })
          : null,
        h('strong', { class: 'item-title' }, it.draft.title),
        sinceVisitMark(ctx.sinceVisit?.items.get(it.id)),
        it.draft.external_key ? h('span', { class: 'badge' }, it.draft.external_key) : null,
        it.flag ? h('span', { class: 'badge flag', title: it.flag.note || FLAG_TEXT[it.flag.reason] || '' }, `flagged: ${it.flag.reason}`) : null,
        it.estimate ? h('span', { class: 'badge est' }, `estimate ${it.estimate}`) : it.proposed_estimate ? h('span', { class: 'badge' }, `proposed ${it.proposed_estimate}`) : null,
        inOpen ? h('span', { class: 'badge open' }, 'in open round') : null,
        // After the commitment: in or out of the sprint (the server's figure).
        s.derived?.in_sprint ? (s.derived.in_sprint[it.id] ? h('span', { class: 'badge est in-sprint' }, 'in the sprint') : h('span', { class: 'badge out-sprint' }, 'not in the sprint')) : null,
        it.returned_to_refinement ? h('span', { class: 'badge warn' }, 'back to refinement') : null,
        notReady ? h('span', { class: 'badge flag' }, 'not ready') : null,
        discuss && !it.flag ? h('span', { class: 'badge warn', title: 'Votes on an ambiguous item mostly measure different readings of it' }, `needs discussion: ${discuss.reasons.map(discussionText).join(', ')}`) : null,
        (it.draft.labels || []).map((l) => h('span', { class: 'badge' }, l)),
      ),
      it.draft.description ? h('p', { class: 'desc' }, it.draft.description) : null,
      it.draft.acceptance_criteria?.length ? h('div', {}, h('span', { class: 'muted' }, 'Acceptance criteria'), h('ul', { class: 'ac' }, it.draft.acceptance_criteria.map((c) => h('li', {}, c)))) : null,
      it.draft.attachments?.length ? h('div', { class: 'attachments' }, h('span', { class: 'muted' }, 'Attachments'), h('ul', { class: 'ac' }, it.draft.attachments.map((a) => h('li', {}, attachment(a))))) : null,
      readiness(s, it, canWork && open),
      itemVotes(s, it, me.participant),
      inOpen && me.role === 'member'
        ? h('button', { type: 'button', class: 'link-button', dataset: { key: `vote-on-${it.id}` }, onclick: () => { ctx.shared.current = it.id; rerenderAll(); } }, 'vote on this')
        : null,
      canWork && open && !it.flag && !it.estimate
        ? [inOpen && me.role === 'member' ? ' · ' : null, h('button', { type: 'button', class: 'link-button', dataset: { key: `flag-${it.id}` }, onclick: () => send({ type: 'FlagItem', item: it.id, note: 'to discuss live' }).catch(() => {}) }, 'flag for the live session')]
        : null,
      isFac && open && discuss && !it.flag && !inOpen
        ? [' · ', h('button', { type: 'button', class: 'link-button', dataset: { key: `send-agenda-${it.id}` }, onclick: () => send({ type: 'SendToAgenda', item: it.id }).catch(() => {}) }, 'send to the live agenda (no async round)')]
        : null,
      thread(s, it, me, canWork || me.role === 'observer'),
    );
    return li;
  }

  function readiness(s, it, canCheck) {
    const dor = s.definition_of_ready || [];
    if (!dor.length) return null;
    return h(
      'div',
      { class: 'readiness' },
      h('span', { class: 'muted' }, 'Ready? ', it.readiness_overridden ? '(overridden by the facilitator)' : ''),
      h(
        'ul',
        { class: 'checks' },
        dor.map((c) => {
          const r = it.readiness?.[c.id];
          const state = !r ? 'unchecked' : r.ok ? 'ok' : 'failed';
          const mark = { unchecked: '○', ok: '✓', failed: '✗' }[state];
          return h(
            'li',
            { class: `check-${state}` },
            h('span', { 'aria-hidden': 'true' }, `${mark} `),
            `${c.text}: ${state === 'unchecked' ? 'not checked' : state === 'ok' ? 'ok' : 'not met'}`,
            r?.note ? h('span', { class: 'muted' }, ` — ${r.note}`) : null,
            canCheck
              ? [
                  ' ',
                  h('button', { type: 'button', class: 'mini', dataset: { key: `ok-${it.id}-${c.id}` }, 'aria-label': `${c.text} is met for ${it.draft.title}`, onclick: () => send({ type: 'CheckReadiness', item: it.id, criterion: c.id, ok: true }).catch(() => {}) }, '✓'),
                  h('button', { type: 'button', class: 'mini', dataset: { key: `no-${it.id}-${c.id}` }, 'aria-label': `${c.text} is not met for ${it.draft.title}`, onclick: () => send({ type: 'CheckReadiness', item: it.id, criterion: c.id, ok: false }).catch(() => {}) }, '✗'),
                ]
              : null,
          );
        }),
      ),
    );
  }

  function thread(s, it, me, canPost) {
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
      { class: 'thread', open: all.length > 0 || undefined, dataset: { key: `thread-${it.id}` } },
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

  return {
    el,
    render,
    votingContext: () => votingContext(ctx),
    destroy() {
      clearInterval(tick);
    },
  };
}

function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}
