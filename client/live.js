// The live sync, one shared meeting: everyone follows the facilitator's focus (or looks
// elsewhere and comes back), a live round on the focus opens every member's deck, the reveal
// with the vote distribution (a small SVG chart with spread and median), re-vote, agree, a coin
// flip prefilled with tied cards, a time box on the server's clock, goal suggestions and
// adoption, and the scope selection shared with everyone against a capacity bar. What the
// facilitator can do at each point is the server's list (`derived.focus_actions`).

import { h, svg, add, skeleton, rerender, trackDrafts, formSubmitter, timeEl, countdown, pts } from './dom.js';
import { rankedItems, members, nameOf, lastRound, flagOf, pastFlagText, FLAG_TEXT } from './model.js';
import { MAX_LEN, SPECIAL_CARDS } from './protocol.js';
import { votingContext, votingPanel, runCountdowns } from './board.js';

/**
 * The middle of the revealed estimates, as people read it: the server's `median` is the upper
 * one (the card the rule proposes), which alone misleads when an even number of votes has two
 * different middle cards (1 and 13 read "median 13"); then both are named ("1–13") and both
 * stand out. `cards` is the set to mark.
 */
export function middleOf(deck, d) {
  if (!d || d.median == null) return { text: '—', cards: new Set() };
  const ranked = deck.cards.flatMap((card) => Array(d.counts[card] || 0).fill(card));
  const lower = ranked.length % 2 === 0 ? ranked[ranked.length / 2 - 1] : d.median;
  if (lower === undefined || lower === d.median) return { text: d.median, cards: new Set([d.median]) };
  return { text: `${lower}–${d.median}`, cards: new Set([lower, d.median]) };
}

/**
 * A bar chart of how many votes each card got, from the server's figures for the item
 * (`distribution` of its round: counts, low/high, median, spread); the median card's bar is marked.
 */
export function voteChart(deck, votes, d, names) {
  const cards = [...new Set([...deck.cards, ...SPECIAL_CARDS, ...Object.keys(d.counts)])];
  const bars = cards.map((card) => [card, d.counts[card] || 0]).filter(([card, n]) => n || deck.cards.includes(card));
  const max = Math.max(1, ...bars.map(([, n]) => n));
  const middle = middleOf(deck, d);
  const bw = 34;
  const gap = 8;
  const height = 110;
  const width = bars.length * (bw + gap) + gap;
  const chart = svg(
    'svg',
    { viewBox: `0 0 ${width} ${height + 34}`, width, height: height + 34, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title chart-desc' },
    svg('title', { id: 'chart-title' }, 'Vote distribution'),
    svg('desc', { id: 'chart-desc' }, bars.filter(([, n]) => n).map(([c, n]) => `${c}: ${n}`).join(', ')),
    bars.map(([card, n], i) => {
      const x = gap + i * (bw + gap);
      const bh = Math.round((n / max) * (height - 16));
      const isMedian = middle.cards.has(card);
      return svg(
        'g',
        { class: `bar${isMedian ? ' median' : ''}${n ? '' : ' empty'}`, 'data-card': card, 'data-count': n },
        svg('rect', { x, y: height - bh, width: bw, height: Math.max(bh, 1), rx: 3 }),
        n ? svg('text', { x: x + bw / 2, y: height - bh - 4, 'text-anchor': 'middle', class: 'count' }, String(n)) : null,
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
      h('span', { id: 'spread' }, d.spread_steps === null ? 'No estimates' : `Spread: ${d.spread_steps} deck step${d.spread_steps === 1 ? '' : 's'} (${d.low} → ${d.high}${d.spread_points !== null ? `, ${pts(d.spread_points)} points` : ''})`),
      ' · ',
      h('span', { id: 'median' }, `Median: ${middle.text}`),
      ` · ${d.votes} vote${d.votes === 1 ? '' : 's'}`,
      h('ul', { class: 'who-voted' }, votes.map((v) => h('li', {}, `${names(v.voter)}: `, h('strong', {}, v.card)))),
    ),
  );
}

export function liveView(ctx) {
  const el = h('div', { class: 'live' }, skeleton('Loading the live sync…', 'live', 'live-loading'));
  const drafts = trackDrafts(el);
  // `look`: an item this person chose to look at instead of the room's focus (null: follow it).
  // `scope`: the selections sent that the server's draft has not shown yet (`sent`, oldest first)
  // and the draft they started from (`base`): ticks in quick succession build on the last one
  // sent, not on a draft the server has not echoed yet.
  const ui = { look: null, scope: null };
  const send = ctx.send;
  const tick = runCountdowns(el);
  // Time boxes count down on the server's clock (`hello`'s `now`), so every screen agrees.
  const boxTick = setInterval(() => {
    for (const t of el.querySelectorAll('[data-ends]')) t.textContent = boxLeft(Number(t.dataset.ends), ctx.store.serverNow());
  }, 250);

  const submit = formSubmitter(send, drafts, el);
  const act = (cmd) => () => send(cmd).catch(() => {});

  /** The item on screen: my own choice, else the room's focus, else the agenda's first. */
  function shownItem(s) {
    const focus = s.focus?.item || null;
    if (ui.look && (ui.look === focus || !s.items[ui.look])) ui.look = null;
    return ui.look || focus || (s.agenda || [])[0] || null;
  }

  function render() {
    const v = ctx.store.view;
    if (!v) return;
    const s = v.state;
    const me = v.you;
    const isFac = me.role === 'facilitator';
    const names = (pid) => (pid === me.participant ? 'you' : nameOf(s, pid));
    const committed = s.phase === 'committed';
    const d = s.derived || {};
    const focusId = s.focus?.item || null;
    const shownId = shownItem(s);
    // The live round on the focus opens my deck: keys and the panel follow the discussion.
    if (shownId) ctx.shared.current = shownId;

    // ---- session controls ----
    const next = d.next_on_agenda ? s.items[d.next_on_agenda] : null;
    // While the session runs the header says so: the card is the facilitator's controls only,
    // and a member has none to show.
    const running = s.sync_running && !committed;
    const controls =
      running && !isFac
        ? null
        : h(
            'section',
            { class: `card${running ? ' live-controls' : ''}`, 'aria-labelledby': 'live-h' },
            h('h2', { id: 'live-h', class: running ? 'sr-only' : null }, 'Live sync'),
            running ? null : h('p', { id: 'sync-state' }, committed ? 'The scope is committed.' : 'The live session has not started.'),
            isFac && !committed && !s.sync_running ? h('button', { type: 'button', id: 'start-sync', onclick: act({ type: 'StartSync' }) }, 'Start the live session') : null,
            isFac && s.sync_running && next ? h('button', { type: 'button', id: 'next-agenda', onclick: act({ type: 'SetFocus', item: next.id }) }, 'Next item: ', h('em', {}, next.draft.title)) : null,
            isFac && s.sync_running ? h('button', { type: 'button', class: 'secondary', id: 'end-sync', onclick: act({ type: 'EndSync' }) }, 'End the live session') : null,
          );

    el.classList.toggle('running', Boolean(s.sync_running));
    rerender(el, [controls, h('div', { class: 'grid live-grid' }, agenda(s, isFac, focusId, shownId), focusCard(s, me, isFac, names, focusId, shownId)), converged(s, isFac, committed), h('div', { class: 'grid' }, goal(s, me, isFac, names, committed), coin(s, isFac, names, committed)), scope(s, isFac, committed)].filter(Boolean), drafts);
  }

  /** The agenda: every item it held (`agenda_order`), done ones marked; the focus highlighted. */
  function agenda(s, isFac, focusId, shownId) {
    const onAgenda = new Set(s.agenda || []);
    const items = (s.agenda_order?.length ? s.agenda_order : s.agenda || []).map((id) => s.items[id]).filter(Boolean);
    const pick = (it) => () => {
      if (isFac && s.sync_running && it.id !== focusId) {
        ui.look = null;
        send({ type: 'SetFocus', item: it.id }).catch(() => {});
      } else {
        ui.look = it.id === focusId ? null : it.id;
        render();
      }
    };
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'agenda-h' },
      h('h2', { id: 'agenda-h' }, 'Agenda'),
      items.length
        ? h(
            'ol',
            { id: 'agenda', class: 'agenda' },
            items.map((it) =>
              h(
                'li',
                { class: [it.id === focusId ? 'current' : '', onAgenda.has(it.id) ? '' : 'done'].join(' ').trim(), dataset: { item: it.id } },
                h(
                  'button',
                  { type: 'button', class: 'link-button', dataset: { key: `agenda-${it.id}` }, 'aria-current': it.id === shownId ? 'true' : false, title: isFac && s.sync_running ? 'Move the discussion here' : 'Look at this item', onclick: pick(it) },
                  it.draft.title,
                ),
                it.id === focusId ? h('span', { class: 'badge open' }, 'now') : null,
                ' ',
                flagLine(s, it, (f) => `— ${FLAG_TEXT[f.reason] || f.reason}${f.note ? ` (${f.note})` : ''}`, (f) => `— ${pastFlagText(f)}`),
                it.estimate ? h('span', { class: 'badge est' }, `agreed ${it.estimate}`) : null,
                it.returned_to_refinement ? h('span', { class: 'badge warn' }, 'back to refinement') : null,
                it.withdrawn ? h('span', { class: 'badge flag' }, 'dropped') : null,
              ),
            ),
          )
        : h('p', { class: 'muted empty', id: 'agenda-empty' }, s.sync_running ? 'Nothing was flagged: nothing to discuss live. Agree what converged and commit the scope.' : 'Starting the live session puts the flagged items here: ? first, then the widest spread.'),
    );
  }

  /** The item on screen, its round, the time box, and what the facilitator can do now. */
  function focusCard(s, me, isFac, names, focusId, shownId) {
    const it = shownId ? s.items[shownId] : null;
    const card = h('section', { class: 'card', 'aria-labelledby': 'focus-h', id: 'live-item', dataset: { item: shownId || '' } });
    if (!it) return add(card, h('h2', { id: 'focus-h' }, 'Now discussing'), h('p', { class: 'muted empty', id: 'focus-empty' }, noFocusText(s, isFac)));
    const following = !ui.look;
    add(
      card,
      h('h2', { id: 'focus-h' }, following ? 'Now discussing: ' : 'You are looking at: ', h('em', {}, it.draft.title)),
      following
        ? null
        : h('p', { class: 'away' }, focusId ? ['The room discusses ', h('em', {}, s.items[focusId]?.draft.title || ''), '. '] : null, h('button', { type: 'button', id: 'back-to-focus', onclick: () => ((ui.look = null), render()) }, 'Back to the discussion')),
      timeBox(s, it),
      flagLine(s, it, (f) => `Flagged: ${FLAG_TEXT[f.reason] || f.reason}${f.note ? ` — ${f.note}` : ''}`, (f) => `${capital(pastFlagText(f))}; the latest round converged.`, 'p'),
      it.draft.description ? h('p', {}, it.draft.description) : null,
    );
    const r = lastRound(s, it);
    const open = r && !r.closed;
    const revealed = r?.revealed?.[it.id];
    const votes = r && r.items.includes(it.id) ? r.votes?.[it.id] || {} : {};
    const n = Object.keys(votes).length;
    let status;
    if (open) {
      status = h('p', { class: 'felt-status' }, `A ${r.live ? 'live ' : ''}round is open · `, h('span', { id: 'voted-count' }, `${n} of ${members(s).length} voted`), ' · ', h('span', { class: 'countdown', dataset: { deadline: String(r.deadline) } }, countdown(r.deadline)));
    } else if (revealed) {
      status = h('p', { class: 'felt-status', id: 'revealed-status' }, revealedText(s, it, r));
    } else if (n) {
      status = h('p', { class: 'felt-status', id: 'sealed' }, `${n} sealed vote${n === 1 ? '' : 's'}.`);
    } else {
      status = h('p', { class: 'felt-status muted', id: 'no-votes' }, isFac && it.id === focusId ? 'No votes yet. Open a round with “Vote on it now”.' : 'No votes yet. The facilitator opens a round.');
    }
    const table = cardTable(s, me, it, r, votes, revealed, status);
    add(card, revealed ? h('div', { class: 'reveal-row' }, table, voteChart(r.deck, revealed, r.distribution[it.id], names)) : table);
    if (open && me.role === 'member') {
      const vc = votingContext(ctx);
      if (vc && vc.item === it.id) add(card, votingPanel(ctx, vc, render));
    }
    if (it.estimate) add(card, h('p', { id: 'agreed' }, 'Agreed: ', h('strong', {}, it.estimate)));
    if (isFac && it.id === focusId) add(card, actions(s, it, r));
    return card;
  }

  /**
   * The card table: a seat for every member and anyone who voted. While the votes are sealed a
   * vote is a card back (mine too), a member who has not voted an empty seat; on the reveal every card turns over at once — one animation, started in one render
   * (`ui.flip` remembers it so a re-render within the animation continues it, not restarts it).
   */
  function cardTable(s, me, it, r, votes, revealed, status) {
    const key = r ? `${r.id}/${it.id}` : '';
    const up = new Map((revealed || []).map((v) => [v.voter, v.card]));
    // The median card (or the two middle ones) stands out on the table as in the chart.
    const middle = revealed ? middleOf(r.deck, r.distribution[it.id]).cards : new Set();
    if (!revealed && Object.keys(votes).length) ui.down = key;
    if (revealed && ui.down === key) {
      ui.down = null;
      ui.flip = { key, at: performance.now() };
    }
    const since = ui.flip?.key === key ? performance.now() - ui.flip.at : Infinity;
    const flipping = revealed && since < FLIP_MS;
    const ids = [...new Set([...members(s).map((p) => p.id), ...Object.keys(votes), ...up.keys()])];
    const seats = ids.map((pid) => {
      const who = pid === me.participant ? 'you' : nameOf(s, pid);
      const mine = pid === me.participant;
      let state = 'empty';
      let face = '';
      if (revealed) [state, face] = up.has(pid) ? ['up', up.get(pid)] : ['empty', ''];
      else if (votes[pid]) state = 'down';
      // My own card lies face down like the others (the deck shows which one I chose).
      const own = mine && state === 'down' && votes[pid].card ? ` (${votes[pid].card})` : '';
      const said = { empty: revealed ? 'did not vote' : 'has not voted', down: `voted, card face down${own}`, up: `card ${face}` }[state];
      return h(
        'li',
        { class: `seat vote ${state}${mine ? ' own' : ''}${revealed && middle.has(face) ? ' median' : ''}`, dataset: { voter: pid } },
        h('span', { class: 'pcard', 'aria-hidden': 'true' }, h('span', { class: 'pcard-inner' }, h('span', { class: 'pface pback' }), h('span', { class: 'pface pfront' }, face))),
        h('span', { class: 'seat-name' }, who, own ? h('span', { class: 'own-card' }, own) : null),
        h('span', { class: 'sr-only' }, `: ${said}`),
      );
    });
    const half = Math.ceil(seats.length / 2);
    return h(
      'div',
      { class: `card-table${flipping ? ' flipping' : ''}${revealed ? ' revealed' : ''}`, id: 'card-table', style: flipping ? { '--flip-delay': `${-Math.round(since)}ms` } : null },
      // role=list: at a phone's width the lists give their seats to one row (display: contents,
      // style.css), which drops a list's implicit role in some browsers.
      h('ul', { class: 'seats near', role: 'list', 'aria-label': 'Seats' }, seats.slice(0, half)),
      h('div', { class: 'felt' }, status),
      seats.length > half ? h('ul', { class: 'seats far', role: 'list', 'aria-label': 'More seats' }, seats.slice(half)) : null,
    );
  }

  const capital = (t) => t[0].toUpperCase() + t.slice(1);

  /** An item's flag (`now`) or the flag a later round left behind (`past`, muted), or null. */
  function flagLine(s, it, now, past, tag = 'span') {
    const f = flagOf(s, it);
    if (f.now) return h(tag, { class: 'reason flag-now' }, now(f.now));
    if (f.past) return h(tag, { class: 'reason flag-past muted' }, past(f.past));
    return null;
  }

  /** The status of a revealed item, from its latest round: agreed, converged, or flagged. */
  function revealedText(s, it, r) {
    const median = middleOf(r.deck, r.distribution[it.id]).text;
    if (it.estimate) return `Revealed · agreed ${it.estimate}`;
    const f = flagOf(s, it).now;
    if (f && f.round === r.id) return `Revealed · median ${median} · ${FLAG_TEXT[f.reason] || f.reason}`;
    if (it.proposed_estimate) return `Revealed · the votes converged: ${it.proposed_estimate} proposed`;
    return `Revealed · median ${median}`;
  }

  /** What the discussion pane says with no item to show: what happens next, and who does it. */
  function noFocusText(s, isFac) {
    if (s.sync_running) return 'Nothing to discuss live.';
    if (!Object.keys(s.items).length) return 'No items yet. Propose or import items on the Backlog, then vote on them.';
    return isFac ? 'Start the live session to discuss the flagged items one by one.' : 'The facilitator starts the live session; the item under discussion shows here.';
  }

  /** The facilitator's actions on the focused item: the ones the server says apply now. */
  function actions(s, it, r) {
    const can = new Set(s.derived?.focus_actions || []);
    const tied = s.derived?.tied_cards?.[it.id] || [];
    const deck = r?.deck || s.deck;
    const preset = it.estimate || it.proposed_estimate || r?.distribution?.[it.id]?.median || deck.cards[0];
    const box = s.timer && s.timer.item === it.id;
    return h(
      'div',
      { class: 'decide', id: 'focus-actions' },
      // One button per intent: once the item has a round, voting again is a re-vote.
      can.has('OpenRound') && !(can.has('Revote') && r) ? h('button', { type: 'button', id: 'open-live-round', onclick: act({ type: 'OpenRound', items: [it.id] }) }, 'Vote on it now') : null,
      can.has('CloseRound') && r ? h('button', { type: 'button', id: 'close-live-round', onclick: act({ type: 'CloseRound', round: r.id }) }, 'Close the round and reveal') : null,
      can.has('RevealVotes') && r ? h('button', { type: 'button', id: 'reveal', onclick: act({ type: 'RevealVotes', round: r.id, item: it.id }) }, 'Reveal the votes') : null,
      can.has('Revote') && r ? h('button', { type: 'button', class: 'secondary', id: 'revote', onclick: act({ type: 'Revote', previous: r.id, items: [it.id] }) }, 'Vote again') : null,
      can.has('FlipCoin') && tied.length >= 2
        ? h('button', { type: 'button', class: 'secondary', id: 'flip-tie', onclick: act({ type: 'FlipCoin', question: `Estimate for ${it.draft.title}`, options: tied }) }, `Flip a coin: ${tied.join(' or ')}`)
        : null,
      can.has('AgreeEstimates')
        ? h(
            'form',
            { class: 'row', onsubmit: submit(() => ({ type: 'AgreeEstimates', estimates: [{ item: it.id, card: el.querySelector('#agree-card').value }] })) },
            h('label', { for: 'agree-card' }, 'Estimate'),
            h('select', { id: 'agree-card' }, deck.cards.map((c) => h('option', { value: c, selected: c === preset || undefined }, c))),
            h('button', { type: 'submit', id: 'agree' }, it.estimate ? 'Change the estimate' : 'Agree the estimate'),
          )
        : null,
      h(
        'div',
        { class: 'row timebox-controls' },
        can.has('StartTimer') && !box ? [2, 5, 10].map((m) => h('button', { type: 'button', class: 'secondary', id: `timer-${m}`, onclick: act({ type: 'StartTimer', item: it.id, seconds: m * 60 }) }, `Time box ${m} min`)) : null,
        can.has('ExtendTimer') && box ? h('button', { type: 'button', class: 'secondary', id: 'timer-extend', onclick: act({ type: 'ExtendTimer', seconds: 60 }) }, '+1 min') : null,
        can.has('StopTimer') && box ? h('button', { type: 'button', class: 'secondary', id: 'timer-stop', onclick: act({ type: 'StopTimer' }) }, 'Stop the time box') : null,
      ),
      h(
        'div',
        { class: 'row' },
        can.has('ReturnToRefinement') ? h('button', { type: 'button', class: 'secondary', id: 'to-refinement', onclick: act({ type: 'ReturnToRefinement', item: it.id, note: null }) }, 'Back to refinement') : null,
        can.has('WithdrawItem') ? h('button', { type: 'button', class: 'secondary danger', id: 'drop-item', onclick: act({ type: 'WithdrawItem', item: it.id, reason: 'dropped in the live session' }) }, 'Drop from the sprint') : null,
      ),
    );
  }

  function timeBox(s, it) {
    if (!s.timer || s.timer.item !== it.id) return null;
    const left = boxLeft(s.timer.ends_at, ctx.store.serverNow());
    return h('p', { class: 'timebox', id: 'timebox' }, 'Time box: ', h('strong', { id: 'timebox-left', dataset: { ends: String(s.timer.ends_at) } }, left), h('span', { class: 'muted' }, ` of ${Math.round(s.timer.seconds / 60)} min`));
  }

  /** Items that converged in async, to agree at once (the server's list). */
  function converged(s, isFac, committed) {
    const proposed = (s.derived?.converged || []).map((id) => s.items[id]).filter(Boolean);
    if (!isFac || committed || !proposed.length) return null;
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'conv-h' },
      h('h2', { id: 'conv-h' }, 'Converged in async'),
      h('ul', {}, proposed.map((i) => h('li', {}, `${i.draft.title}: `, h('strong', {}, i.proposed_estimate)))),
      h('button', { type: 'button', id: 'agree-proposed', onclick: act({ type: 'AgreeEstimates', estimates: proposed.map((i) => ({ item: i.id, card: i.proposed_estimate })) }) }, `Agree all ${proposed.length} proposed`),
    );
  }

  function coin(s, isFac, names, committed) {
    const flips = s.coin_flips || [];
    return h(
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
  }

  /** The goal: its wording and history, the room's suggestions, amend, adopt, commit. */
  function goal(s, me, isFac, names, committed) {
    const open = s.goal && !s.goal.committed && !committed;
    const suggestions = s.goal_suggestions || [];
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'lgoal-h', id: 'live-goal' },
      h('h2', { id: 'lgoal-h' }, 'Sprint goal'),
      s.goal ? h('p', { id: 'live-goal-text' }, s.goal.text, s.goal.committed ? h('span', { class: 'badge est' }, 'committed') : null) : h('p', { class: 'muted empty', id: 'live-no-goal' }, isFac ? 'No goal drafted yet. Draft it on the Board; the room can then suggest wordings here.' : 'No goal drafted yet. The facilitator drafts it on the Board.'),
      s.goal && s.goal.history?.length > 1 ? h('details', { dataset: { key: 'goal-history' } }, h('summary', {}, `${s.goal.history.length} wordings`), h('ol', {}, s.goal.history.map(([t, by]) => h('li', {}, `${t} (${names(by)})`)))) : null,
      suggestions.length
        ? h(
            'ul',
            { id: 'goal-suggestions', class: 'suggestions', 'aria-label': 'Suggested wordings' },
            suggestions.map((g) =>
              h(
                'li',
                { dataset: { suggestion: g.id } },
                h('q', {}, g.text),
                h('span', { class: 'muted' }, ` — ${names(g.by)}`),
                g.adopted ? h('span', { class: 'badge est' }, 'adopted') : null,
                isFac && open && !g.adopted ? h('button', { type: 'button', class: 'secondary small', dataset: { key: `adopt-${g.id}` }, onclick: act({ type: 'AdoptGoalSuggestion', suggestion: g.id }) }, 'Adopt') : null,
              ),
            ),
          )
        : null,
      open && me.role !== 'observer'
        ? h(
            'form',
            { class: 'row', onsubmit: submit(() => ({ type: 'SuggestGoal', text: el.querySelector('#suggest-text').value.trim() })) },
            h('label', { for: 'suggest-text' }, 'Suggest a wording'),
            h('input', { id: 'suggest-text', required: true, maxlength: MAX_LEN.goal }),
            h('button', { type: 'submit', class: 'secondary', id: 'suggest-goal' }, 'Suggest'),
          )
        : null,
      isFac && open
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
  }

  /** The scope: the room's shared selection against capacity (the facilitator edits it). */
  function scope(s, isFac, committed) {
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
    const f = s.derived?.scope_draft || { items: [], drafted: false, points: 0, capacity: s.derived?.capacity_points || 0, over_capacity: false };
    const same = (a, b) => a.length === b.length && a.every((x) => b.includes(x));
    if (ui.scope && !same(ui.scope.base, f.items)) {
      // An echo drops what was sent up to it; a draft that is none of them (someone else's) all.
      const echoed = ui.scope.sent.findIndex((sel) => same(sel, f.items));
      ui.scope = echoed >= 0 && echoed < ui.scope.sent.length - 1 ? { base: f.items, sent: ui.scope.sent.slice(echoed + 1) } : null;
    }
    const pending = ui.scope?.sent.at(-1);
    const chosen = new Set(pending || f.items);
    const estimated = rankedItems(s).filter((i) => i.estimate);
    const toggle = (id, on) => {
      const base = new Set(ui.scope?.sent.at(-1) || f.items);
      const items = estimated.map((i) => i.id).filter((x) => (x === id ? on : base.has(x)));
      ui.scope = { base: ui.scope?.base || f.items, sent: [...(ui.scope?.sent || []), items] };
      send({ type: 'DraftScope', items }).catch(() => {
        ui.scope = null;
        render();
      });
    };
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'scope-h', id: 'scope', dataset: { drafted: String(f.drafted) } },
      h('h2', { id: 'scope-h' }, 'Commit the scope'),
      capacityBar(Number(f.points), Number(f.capacity)),
      h('p', { class: 'hint', id: 'scope-who' }, f.drafted ? `Selection by ${nameOf(s, s.scope_draft?.by)}, shared with everyone.` : 'Every agreed item is selected until the facilitator changes the selection.'),
      !estimated.length
        ? h('p', { class: 'muted empty', id: 'scope-empty' }, 'No item has an agreed estimate yet. Each estimate agreed in the discussion above joins the selection here.')
        : isFac
          ? h(
              'fieldset',
              { class: 'scope-items' },
              h('legend', {}, 'Items with an agreed estimate'),
              estimated.map((i) =>
                h(
                  'label',
                  { class: 'check', dataset: { scopeItem: i.id, selected: String(chosen.has(i.id)) } },
                  h('input', { type: 'checkbox', id: `scope-${i.id}`, checked: chosen.has(i.id), onchange: (ev) => toggle(i.id, ev.target.checked) }),
                  ` ${i.draft.title} — ${i.estimate} (${pts(i.points)} points)`,
                ),
              ),
            )
          : scopeList(estimated, chosen),
      isFac && estimated.length
        ? h(
            'form',
            {
              onsubmit: submit(() => ({ type: 'CommitScope', items: f.items, confirm_over_capacity: el.querySelector('#confirm-over')?.checked || false })),
            },
            f.over_capacity ? h('label', { class: 'check' }, h('input', { type: 'checkbox', id: 'confirm-over' }), ' Commit over capacity anyway') : null,
            h('button', { type: 'submit', id: 'commit-scope', disabled: !f.items.length || !s.goal || undefined }, `Commit ${f.items.length} item${f.items.length === 1 ? '' : 's'}`),
            !s.goal ? h('p', { class: 'hint' }, 'Draft a goal first.') : null,
          )
        : null,
    );
  }

  /** The selection as everyone but the facilitator reads it: what is in, what is left out. */
  function scopeList(estimated, chosen) {
    return h(
      'ul',
      { class: 'scope-list', 'aria-label': 'Items with an agreed estimate' },
      estimated.map((i) => {
        const on = chosen.has(i.id);
        return h(
          'li',
          { class: on ? 'in' : 'out', dataset: { scopeItem: i.id, selected: String(on) } },
          h('span', { class: 'mark', 'aria-hidden': 'true' }, on ? '✓' : '–'),
          ` ${i.draft.title} — ${i.estimate} (${pts(i.points)} points)`,
          h('span', { class: on ? 'sr-only' : 'left-out' }, on ? ', selected' : ' · left out'),
        );
      }),
    );
  }

  return {
    el,
    render,
    votingContext: () => {
      const vc = votingContext(ctx, { liveOnly: false });
      const s = ctx.store.view?.state;
      return vc && s && vc.item === shownItem(s) ? vc : null;
    },
    destroy() {
      clearInterval(tick);
      clearInterval(boxTick);
    },
  };
}

/** How long the reveal's flip takes (style.css, `.card-table.flipping`). */
const FLIP_MS = 600;

/** "4:05 left" of a time box ending at `endsMicros`, by the server's clock `nowMs`. */
function boxLeft(endsMicros, nowMs) {
  const left = Math.ceil((endsMicros / 1000 - nowMs) / 1000);
  if (left <= 0) return 'time is up';
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left`;
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
      h('div', { class: 'fill', style: { width: `${width}%` } }),
    ),
    h('p', { class: 'captext' }, `${pts(points)} of ${pts(capacity)} points`, Number.isFinite(pct) ? ` (${pct}%)` : '', over ? h('strong', { class: 'error' }, ' — over capacity') : ''),
  );
}
