// The live sync: the agenda of flagged items with their reason, the instant reveal with the vote
// distribution (a small SVG chart with spread and median), re-vote, agree, coin flip, goal
// amend/commit, and committing the scope against a capacity bar.

import { h, svg, add, rerender, trackDrafts, formSubmitter, timeEl, countdown, pts } from './dom.js';
import { openRounds, rankedItems, nameOf, lastRound, distribution, FLAG_TEXT } from './model.js';
import { MAX_LEN } from './protocol.js';
import { votingContext, votingPanel, itemVotes, runCountdowns } from './board.js';

/** A bar chart of how many votes each card got; the median card's bar is marked. */
export function voteChart(deck, votes, names, pointTable) {
  const d = distribution(deck, votes, pointTable);
  const bars = [...d.counts].filter(([card, who]) => who.length || deck.cards.includes(card));
  const max = Math.max(1, ...bars.map(([, who]) => who.length));
  const bw = 34;
  const gap = 8;
  const height = 110;
  const width = bars.length * (bw + gap) + gap;
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${width} ${height + 34}`, width, height: height + 34, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title chart-desc' },
    svg('title', { id: 'chart-title' }, 'Vote distribution'),
    svg('desc', { id: 'chart-desc' }, bars.filter(([, w]) => w.length).map(([c, w]) => `${c}: ${w.length}`).join(', ')),
    bars.map(([card, who], i) => {
      const x = gap + i * (bw + gap);
      const bh = Math.round((who.length / max) * (height - 16));
      const isMedian = card === d.median;
      return svg(
        'g',
        { class: `bar${isMedian ? ' median' : ''}${who.length ? '' : ' empty'}`, 'data-card': card, 'data-count': who.length },
        svg('rect', { x, y: height - bh, width: bw, height: Math.max(bh, 1), rx: 3 }),
        who.length ? svg('text', { x: x + bw / 2, y: height - bh - 4, 'text-anchor': 'middle', class: 'count' }, String(who.length)) : null,
        svg('text', { x: x + bw / 2, y: height + 16, 'text-anchor': 'middle', class: 'label' }, card),
        isMedian ? svg('text', { x: x + bw / 2, y: height + 30, 'text-anchor': 'middle', class: 'mark' }, 'median') : null,
      );
    }),
  );
  return h(
    'figure',
    { class: 'distribution', id: 'distribution' },
    chart,
    h(
      'figcaption',
      {},
      h('span', { id: 'spread' }, d.spread === null ? 'No estimates' : `Spread: ${d.spread} deck step${d.spread === 1 ? '' : 's'} (${d.low} → ${d.high}${d.spreadPoints !== null ? `, ${pts(d.spreadPoints)} points` : ''})`),
      ' · ',
      h('span', { id: 'median' }, `Median: ${d.median ?? '—'}`),
      ` · ${votes.length} vote${votes.length === 1 ? '' : 's'}`,
      h('ul', { class: 'who-voted' }, votes.map((v) => h('li', {}, `${names(v.voter)}: `, h('strong', {}, v.card)))),
    ),
  );
}

export function liveView(ctx) {
  const el = h('div', { class: 'live' });
  const drafts = trackDrafts(el);
  const ui = { excluded: new Set() };
  const send = ctx.send;
  const tick = runCountdowns(el);

  const submit = formSubmitter(send, drafts, el);
  const act = (cmd) => () => send(cmd).catch(() => {});

  function render() {
    const v = ctx.store.view;
    if (!v) return;
    const s = v.state;
    const me = v.you;
    const isFac = me.role === 'facilitator';
    const names = (pid) => (pid === me.participant ? 'you' : nameOf(s, pid));
    const committed = s.phase === 'committed';

    // ---- session controls ----
    const controls = h(
      'section',
      { class: 'card', 'aria-labelledby': 'live-h' },
      h('h2', { id: 'live-h' }, 'Live sync'),
      h('p', { id: 'sync-state' }, committed ? 'The scope is committed.' : s.sync_running ? 'The live session is running.' : 'The live session has not started.'),
      isFac && !committed && !s.sync_running ? h('button', { type: 'button', id: 'start-sync', onclick: act({ type: 'StartSync' }) }, 'Start the live session') : null,
      isFac && s.sync_running ? h('button', { type: 'button', class: 'secondary', id: 'end-sync', onclick: act({ type: 'EndSync' }) }, 'End the live session') : null,
    );

    // ---- agenda ----
    // `agenda_order` keeps the items that left the agenda (agreed ones show their estimate).
    const agendaItems = (s.agenda_order || s.agenda || []).map((id) => s.items[id]).filter((it) => it && !it.withdrawn);
    if (!agendaItems.some((it) => it.id === ctx.shared.liveItem)) ctx.shared.liveItem = agendaItems.find((it) => !it.estimate)?.id || agendaItems[0]?.id || null;
    const agenda = h(
      'section',
      { class: 'card', 'aria-labelledby': 'agenda-h' },
      h('h2', { id: 'agenda-h' }, 'Agenda'),
      agendaItems.length
        ? h(
            'ol',
            { id: 'agenda', class: 'agenda' },
            agendaItems.map((it) =>
              h(
                'li',
                { class: it.id === ctx.shared.liveItem ? 'current' : '', dataset: { item: it.id } },
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'link-button',
                    dataset: { key: `agenda-${it.id}` },
                    'aria-current': it.id === ctx.shared.liveItem ? 'true' : false,
                    onclick: () => {
                      ctx.shared.liveItem = it.id;
                      render();
                    },
                  },
                  it.draft.title,
                ),
                ' ',
                it.flag ? h('span', { class: 'reason' }, `— ${FLAG_TEXT[it.flag.reason] || it.flag.reason}${it.flag.note ? ` (${it.flag.note})` : ''}`) : null,
                it.estimate ? h('span', { class: 'badge est' }, `agreed ${it.estimate}`) : null,
              ),
            ),
          )
        : h('p', { class: 'muted' }, s.sync_running ? 'Nothing was flagged: nothing to discuss.' : 'Starting the live session puts the flagged items here: ? first, then the widest spread.'),
    );

    // ---- the item under discussion ----
    const it = ctx.shared.liveItem ? s.items[ctx.shared.liveItem] : null;
    const focus = h('section', { class: 'card', 'aria-labelledby': 'focus-h', id: 'live-item' });
    if (!it) {
      add(focus, h('h2', { id: 'focus-h' }, 'Now discussing'), h('p', { class: 'muted' }, 'No item selected.'));
    } else {
      const r = lastRound(s, it);
      const revealed = r?.revealed?.[it.id];
      const open = r && !r.closed;
      const sealedCount = r ? Object.keys(r.votes?.[it.id] || {}).length : 0;
      add(
        focus,
        h('h2', { id: 'focus-h' }, 'Now discussing: ', h('em', {}, it.draft.title)),
        it.flag ? h('p', { class: 'reason' }, `Flagged: ${FLAG_TEXT[it.flag.reason] || it.flag.reason}${it.flag.note ? ` — ${it.flag.note}` : ''}`) : null,
        it.draft.description ? h('p', {}, it.draft.description) : null,
      );
      if (open) {
        add(
          focus,
          h('p', {}, `A ${r.live ? 'live ' : ''}round is open · `, h('span', { class: 'countdown', dataset: { deadline: String(r.deadline) } }, countdown(r.deadline))),
          itemVotes(s, it, me.participant),
          isFac ? h('button', { type: 'button', id: 'close-live-round', onclick: act({ type: 'CloseRound', round: r.id }) }, 'Close the round and reveal') : null,
        );
        if (me.role === 'member') {
          // Vote on the item under discussion.
          ctx.shared.current = it.id;
          const vc = votingContext(ctx);
          if (vc && vc.item === it.id) add(focus, votingPanel(ctx, vc, render));
        }
      } else if (revealed) {
        add(focus, voteChart(r.deck, revealed, names, s.policy?.point_table || {}));
      } else if (r) {
        add(
          focus,
          h('p', { id: 'sealed' }, `${sealedCount} sealed vote${sealedCount === 1 ? '' : 's'}.`),
          isFac && s.sync_running ? h('button', { type: 'button', id: 'reveal', onclick: act({ type: 'RevealVotes', round: r.id, item: it.id }) }, 'Reveal the votes') : null,
          isFac && !s.sync_running ? h('p', { class: 'hint' }, 'Votes can be revealed once the live session runs.') : null,
        );
      } else {
        add(focus, h('p', { class: 'muted' }, 'Not estimated yet.'));
      }
      if (isFac && !committed && r && !open) {
        const median = revealed ? distribution(r.deck, revealed).median : null;
        const preset = it.estimate || it.proposed_estimate || median || r.deck.cards[0];
        add(
          focus,
          h(
            'div',
            { class: 'decide' },
            s.sync_running
              ? h('button', { type: 'button', class: 'secondary', id: 'revote', onclick: act({ type: 'Revote', previous: r.id, items: [it.id] }) }, 'Vote again')
              : null,
            h(
              'form',
              { class: 'row', onsubmit: submit(() => ({ type: 'AgreeEstimates', estimates: [{ item: it.id, card: el.querySelector('#agree-card').value }] })) },
              h('label', { for: 'agree-card' }, 'Estimate'),
              h('select', { id: 'agree-card' }, r.deck.cards.map((c) => h('option', { value: c, selected: c === preset || undefined }, c))),
              h('button', { type: 'submit', id: 'agree' }, it.estimate ? 'Change the estimate' : 'Agree the estimate'),
            ),
          ),
        );
      }
      if (it.estimate) add(focus, h('p', { id: 'agreed' }, 'Agreed: ', h('strong', {}, it.estimate)));
    }

    // ---- converged items: agree them at once ----
    const proposed = rankedItems(s).filter((i) => i.proposed_estimate && !i.estimate && !openRounds(s).some((r) => r.items.includes(i.id)));
    const converged = isFac && !committed && proposed.length
      ? h(
          'section',
          { class: 'card', 'aria-labelledby': 'conv-h' },
          h('h2', { id: 'conv-h' }, 'Converged in async'),
          h('ul', {}, proposed.map((i) => h('li', {}, `${i.draft.title}: `, h('strong', {}, i.proposed_estimate)))),
          h('button', { type: 'button', id: 'agree-proposed', onclick: act({ type: 'AgreeEstimates', estimates: proposed.map((i) => ({ item: i.id, card: i.proposed_estimate })) }) }, `Agree all ${proposed.length} proposed`),
        )
      : null;

    // ---- coin flips ----
    const flips = s.coin_flips || [];
    const coin = h(
      'section',
      { class: 'card', 'aria-labelledby': 'coin-h', id: 'coin' },
      h('h2', { id: 'coin-h' }, 'Coin flip'),
      flips.length
        ? h(
            'ol',
            { class: 'flips', id: 'flips', reversed: true },
            [...flips].reverse().map((f) =>
              h('li', {}, h('span', {}, f.question), ' → ', h('strong', { class: 'outcome' }, f.options[f.outcome]), h('span', { class: 'muted' }, ` (of ${f.options.join(' / ')}; by ${names(f.by)}, `, timeEl(f.at), ')')),
            ),
          )
        : h('p', { class: 'muted' }, 'No coin flipped yet. The server flips, and the outcome is recorded.'),
      isFac && !committed
        ? h(
            'form',
            {
              onsubmit: submit(() => ({
                type: 'FlipCoin',
                question: el.querySelector('#coin-question').value.trim(),
                options: el.querySelector('#coin-options').value.split(',').map((o) => o.trim()).filter(Boolean),
              })),
            },
            h('label', { for: 'coin-question' }, 'Question'),
            h('input', { id: 'coin-question', required: true, maxlength: MAX_LEN.short, placeholder: 'Which item goes in?' }),
            h('label', { for: 'coin-options' }, 'Options (comma separated)'),
            h('input', { id: 'coin-options', required: true, placeholder: 'Export, Audit log' }),
            h('button', { type: 'submit', id: 'flip' }, 'Flip'),
          )
        : null,
    );

    // ---- goal ----
    const goal = h(
      'section',
      { class: 'card', 'aria-labelledby': 'lgoal-h', id: 'live-goal' },
      h('h2', { id: 'lgoal-h' }, 'Sprint goal'),
      s.goal ? h('p', { id: 'live-goal-text' }, s.goal.text, s.goal.committed ? h('span', { class: 'badge est' }, 'committed') : null) : h('p', { class: 'muted' }, 'No goal drafted yet.'),
      s.goal && s.goal.history?.length > 1 ? h('details', { dataset: { key: 'goal-history' } }, h('summary', {}, `${s.goal.history.length} wordings`), h('ol', {}, s.goal.history.map(([t, by]) => h('li', {}, `${t} (${names(by)})`)))) : null,
      isFac && !committed && s.goal && !s.goal.committed
        ? [
            h(
              'form',
              {
                onsubmit: submit(() => ({ type: 'AmendGoal', text: el.querySelector('#amend-text').value.trim(), note: el.querySelector('#amend-note').value.trim() || null })),
              },
              h('label', { for: 'amend-text' }, 'New wording'),
              h('input', { id: 'amend-text', required: true, maxlength: MAX_LEN.goal }),
              h('label', { for: 'amend-note' }, 'Why (optional)'),
              h('input', { id: 'amend-note', maxlength: MAX_LEN.short }),
              h('button', { type: 'submit', id: 'amend-goal' }, 'Amend the goal'),
            ),
            h('button', { type: 'button', class: 'secondary', id: 'commit-goal', onclick: act({ type: 'CommitGoal' }) }, 'Commit the goal'),
          ]
        : null,
    );

    rerender(el, [controls, h('div', { class: 'grid live-grid' }, agenda, focus), converged, h('div', { class: 'grid' }, goal, coin), scope(s, me, isFac, committed)].filter(Boolean), drafts);
  }

  function scope(s, me, isFac, committed) {
    const capacity = Number(s.derived?.capacity_points || 0);
    if (committed && s.commitment) {
      const c = s.commitment;
      return h(
        'section',
        { class: 'card', 'aria-labelledby': 'scope-h', id: 'scope' },
        h('h2', { id: 'scope-h' }, 'Committed scope'),
        capacityBar(Number(c.points), Number(c.capacity)),
        h('ul', {}, c.items.map((id) => h('li', {}, `${s.items[id]?.draft.title} (${s.items[id]?.estimate})`))),
        c.over_capacity_confirmed ? h('p', { class: 'error' }, 'Committed over capacity, confirmed by the facilitator.') : null,
      );
    }
    const estimated = rankedItems(s).filter((i) => i.estimate);
    const chosen = estimated.filter((i) => !ui.excluded.has(i.id));
    const points = chosen.reduce((a, i) => a + Number(i.points ?? 0), 0);
    const over = points > capacity;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'scope-h', id: 'scope' },
      h('h2', { id: 'scope-h' }, 'Commit the scope'),
      capacityBar(points, capacity),
      estimated.length
        ? h(
            'fieldset',
            { class: 'scope-items' },
            h('legend', {}, 'Items with an agreed estimate'),
            estimated.map((i) =>
              h(
                'label',
                { class: 'check' },
                h('input', {
                  type: 'checkbox',
                  id: `scope-${i.id}`,
                  checked: !ui.excluded.has(i.id),
                  disabled: !isFac || undefined,
                  onchange: (ev) => {
                    if (ev.target.checked) ui.excluded.delete(i.id);
                    else ui.excluded.add(i.id);
                    render();
                  },
                }),
                ` ${i.draft.title} — ${i.estimate} (${pts(i.points)} points)`,
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No item has an agreed estimate yet.'),
      isFac && estimated.length
        ? h(
            'form',
            {
              onsubmit: submit(() => ({ type: 'CommitScope', items: chosen.map((i) => i.id), confirm_over_capacity: el.querySelector('#confirm-over')?.checked || false })),
            },
            over ? h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'confirm-over' }), ' Commit over capacity anyway') : null,
            h('button', { type: 'submit', id: 'commit-scope', disabled: !chosen.length || !s.goal || undefined }, `Commit ${chosen.length} item${chosen.length === 1 ? '' : 's'}`),
            !s.goal ? h('p', { class: 'hint' }, 'Draft a goal first.') : null,
          )
        : null,
    );
  }

  return {
    el,
    render,
    votingContext: () => {
      const vc = votingContext(ctx, { liveOnly: false });
      return vc && vc.item === ctx.shared.liveItem ? vc : null;
    },
    destroy() {
      clearInterval(tick);
    },
  };
}

/** Points against capacity; red when over. */
export function capacityBar(points, capacity) {
  const over = points > capacity;
  const pct = capacity > 0 ? Math.round((points / capacity) * 100) : points > 0 ? Infinity : 0;
  const width = Math.min(100, Number.isFinite(pct) ? pct : 100);
  return h(
    'div',
    { class: `capbar-wrap${over ? ' over' : ''}`, id: 'capbar' },
    h(
      'div',
      {
        class: 'capbar',
        role: 'meter',
        'aria-label': 'Scope against capacity',
        'aria-valuemin': 0,
        'aria-valuemax': pts(capacity),
        'aria-valuenow': pts(points),
        'aria-valuetext': `${pts(points)} of ${pts(capacity)} points${over ? ', over capacity' : ''}`,
      },
      h('div', { class: 'fill', style: `width: ${width}%` }),
    ),
    h('p', { class: 'captext' }, `${pts(points)} of ${pts(capacity)} points`, Number.isFinite(pct) ? ` (${pct}%)` : '', over ? h('strong', { class: 'error' }, ' — over capacity') : ''),
  );
}
