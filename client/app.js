// sprintlog web client: hash router and screens (Start, Join, Board).
//   #/                          Start: create a planning, "My plannings"
//   #/join/<planning>?invite=…  Join with an invite link
//   #/p/<planning>?token=…      Board (a token in the link is stored, then dropped from the URL)

import * as api from './api.js';
import { PlanningSocket } from './socket.js';
import { PlanningStore } from './state.js';

const app = document.getElementById('app');
const connEl = document.getElementById('conn');
const STORE_KEY = 'sprintlog.plannings';

// ---------- small helpers ----------

/** Builds an element: h('button', {class: 'x', onclick: f}, 'text', child…). Text is never HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Appends children to el, skipping null/undefined/false (Element.append would write "null"). */
function add(el, ...children) {
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

function show(...nodes) {
  app.replaceChildren(...nodes);
}

function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// ---------- tokens this browser holds ----------

function myPlannings() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY)) || [];
  } catch {
    return [];
  }
}

function remember(entry) {
  const list = myPlannings().filter((p) => p.planning !== entry.planning);
  const old = myPlannings().find((p) => p.planning === entry.planning) || {};
  list.unshift({ ...old, ...entry, seen: Date.now() });
  localStorage.setItem(STORE_KEY, JSON.stringify(list));
}

function held(planning) {
  return myPlannings().find((p) => p.planning === planning);
}

// ---------- router ----------

let current = null; // the screen's teardown

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query) };
}

function route() {
  current?.();
  current = null;
  connEl.hidden = true;
  const { parts, params } = parseHash();
  if (parts[0] === 'join' && parts[1]) {
    joinScreen(parts[1], params.get('invite') || '');
  } else if (parts[0] === 'p' && parts[1]) {
    const token = params.get('token');
    if (token) {
      remember({ planning: parts[1], token });
      history.replaceState(null, '', `#/p/${parts[1]}`);
    }
    current = boardScreen(parts[1]);
  } else {
    startScreen();
  }
  app.focus();
}

window.addEventListener('hashchange', route);

// ---------- Start ----------

function copyField(label, value, id) {
  const input = h('input', { id, readonly: true, value, class: 'link' });
  const status = h('span', { class: 'copied', 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      type: 'button',
      'aria-label': `Copy ${label}`,
      onclick: async () => {
        input.select();
        try {
          await navigator.clipboard.writeText(value);
        } catch {
          document.execCommand?.('copy');
        }
        status.textContent = 'Copied';
      },
    },
    'Copy',
  );
  return h('div', { class: 'copy-field' }, h('label', { for: id }, label), h('div', { class: 'row' }, input, button, status));
}

function startScreen() {
  const title = h('input', { id: 'title', name: 'title', required: true, maxlength: 200, autocomplete: 'off' });
  const name = h('input', { id: 'name', name: 'name', required: true, maxlength: 80, autocomplete: 'name' });
  const error = h('p', { class: 'error', role: 'alert' });
  const result = h('div', { id: 'created' });
  const form = h(
    'form',
    {
      class: 'card',
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = '';
        try {
          const r = await api.createPlanning(title.value.trim(), name.value.trim());
          remember({
            planning: r.planning,
            token: r.token,
            role: r.role,
            name: name.value.trim(),
            title: title.value.trim(),
            links: r.links,
          });
          result.replaceChildren(
            h('h2', {}, 'Planning created'),
            copyField('Your facilitator link (keep it private)', r.links.facilitator, 'link-facilitator'),
            copyField('Member invite link', r.links.member, 'link-member'),
            copyField('Observer invite link', r.links.observer, 'link-observer'),
            h('p', {}, h('a', { href: `#/p/${r.planning}`, class: 'button', id: 'open-board' }, 'Open the board')),
          );
          form.reset();
          renderMine();
        } catch (e) {
          error.textContent = errorText(e);
        }
      },
    },
    h('h2', {}, 'New planning'),
    h('label', { for: 'title' }, 'Title'),
    title,
    h('label', { for: 'name' }, 'Your name'),
    name,
    h('button', { type: 'submit' }, 'Create planning'),
    error,
  );
  const mine = h('section', { class: 'card', 'aria-labelledby': 'mine-h' });
  function renderMine() {
    const list = myPlannings();
    mine.replaceChildren(
      h('h2', { id: 'mine-h' }, 'My plannings'),
      list.length
        ? h(
            'ul',
            { class: 'mine' },
            list.map((p) =>
              h('li', {}, h('a', { href: `#/p/${p.planning}` }, p.title || p.planning), p.role ? h('span', { class: 'role' }, p.role) : null),
            ),
          )
        : h('p', { class: 'muted' }, 'None yet on this browser.'),
    );
  }
  renderMine();
  show(h('h1', {}, 'Plan a sprint'), h('div', { class: 'grid' }, form, mine), result);
}

// ---------- Join ----------

function joinScreen(planning, invite) {
  const name = h('input', { id: 'join-name', required: true, maxlength: 80, autocomplete: 'name' });
  const error = h('p', { class: 'error', role: 'alert' });
  show(
    h('h1', {}, 'Join a planning'),
    h(
      'form',
      {
        class: 'card',
        onsubmit: async (ev) => {
          ev.preventDefault();
          error.textContent = '';
          try {
            const r = await api.join(planning, invite, name.value.trim());
            remember({ planning, token: r.token, role: r.role, name: name.value.trim(), link: r.link });
            location.hash = `#/p/${planning}`;
          } catch (e) {
            error.textContent =
              e.code === 'invalid_invite' ? 'This invite link is no longer valid. Ask the facilitator for a new one.' : errorText(e);
          }
        },
      },
      h('label', { for: 'join-name' }, 'Your name'),
      name,
      h('button', { type: 'submit' }, 'Join'),
      error,
    ),
  );
}

// ---------- Board ----------

const SPECIAL = ['?', '☕'];

function fmtDeadline(micros) {
  const d = new Date(micros / 1000);
  const left = micros / 1000 - Date.now();
  let rel;
  if (left <= 0) rel = 'passed';
  else if (left < 3600e3) rel = `in ${Math.ceil(left / 60e3)} min`;
  else if (left < 48 * 3600e3) rel = `in ${Math.round(left / 3600e3)} h`;
  else rel = `in ${Math.round(left / 86400e3)} days`;
  return `${d.toLocaleString()} (${rel})`;
}

function boardScreen(planning) {
  const entry = held(planning);
  if (!entry || !entry.token) {
    show(h('h1', {}, 'No access'), h('p', {}, 'This browser holds no link for this planning. Open your personal link or an invite link.'));
    return null;
  }
  const store = new PlanningStore(planning, entry.token);
  const ui = { selected: new Set(), current: null, message: '' };
  const messageEl = h('p', { class: 'error', role: 'alert', id: 'board-error' });
  const root = h('div', { class: 'board' });
  show(root, messageEl);

  // The indicator: connection state, commands waiting for their ack, and the last seq applied
  // (`data-seq`, also in the tooltip) so a person — or a test — can see where this page is.
  let connState = 'connecting';
  let queued = 0;
  let socket = null;
  const showConn = () => {
    connEl.hidden = false;
    const label = { online: 'Online', connecting: 'Connecting…', reconnecting: 'Reconnecting…', offline: 'Offline', closed: 'Disconnected' }[connState] || connState;
    connEl.textContent = queued && connState !== 'online' ? `${label} · ${queued} queued` : label;
    connEl.dataset.state = connState;
    connEl.dataset.queued = String(queued);
    if (socket) {
      connEl.dataset.seq = String(socket.last);
      connEl.title = `up to event ${socket.last}`;
    }
  };
  const setConn = (s) => {
    connState = s;
    showConn();
  };
  showConn();

  socket = new PlanningSocket({
    planning,
    token: entry.token,
    since: 0,
    handlers: {
      onState: setConn,
      onQueue: (n) => {
        queued = n;
        showConn();
      },
      onSnapshot: (f) => {
        store.applySnapshot(f);
        showConn();
      },
      onEvent: () => {
        store.eventArrived();
        showConn();
      },
      onCaughtUp: () => {
        store.refresh();
        showConn();
      },
      onPresence: (f) => store.setOnline(f.online),
      onError: (f) => {
        messageEl.textContent = f.message || f.code;
      },
    },
  });

  async function send(command) {
    messageEl.textContent = '';
    try {
      return await socket.send(command);
    } catch (e) {
      messageEl.textContent = errorText(e);
      throw e;
    }
  }

  const unsubscribe = store.subscribe(() => render());
  store.refresh();

  // Keyboard: digits pick the n-th card of the current item, `?` plays unsure.
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    const ctx = votingContext();
    if (!ctx) return;
    const { round, item, cards } = ctx;
    let card = null;
    if (ev.key === '?') card = '?';
    else if (/^[0-9]$/.test(ev.key)) {
      const n = ev.key === '0' ? 10 : Number(ev.key);
      card = cards[n - 1] ?? null;
    }
    if (card === null) return;
    ev.preventDefault();
    ui.current = item; // stay on it: the vote shows as mine
    send({ type: 'CastVote', round: round.id, item, card }).catch(() => {});
  }
  document.addEventListener('keydown', onKey);

  // Propose-item and goal forms live outside the re-rendered part, so typing survives updates.
  const proposeForm = buildProposeForm(send);
  const goalForm = buildGoalForm(send);

  function votingContext() {
    const v = store.view;
    if (!v || v.you.role !== 'member') return null;
    const s = v.state;
    const open = openRounds(s);
    if (!open.length) return null;
    const me = v.you.participant;
    const pairs = open.flatMap((r) => r.items.map((item) => ({ round: r, item })));
    let pick = pairs.find((p) => p.item === ui.current);
    if (!pick) pick = pairs.find((p) => !(p.round.votes?.[p.item] || {})[me]) || pairs[0];
    return { ...pick, cards: pick.round.deck.cards };
  }

  function nextUnvoted(ctx) {
    const me = store.view.you.participant;
    return openRounds(store.view.state)
      .flatMap((r) => r.items.map((item) => ({ round: r, item })))
      .find((p) => p.item !== ctx.item && !(p.round.votes?.[p.item] || {})[me]);
  }

  function render() {
    const v = store.view;
    if (!v) {
      if (store.error) root.replaceChildren(h('p', { class: 'error' }, `Cannot load the planning: ${errorText(store.error)}`));
      return;
    }
    const s = v.state;
    const me = v.you;
    remember({ planning, title: s.title, role: me.role, name: me.name });
    const isFac = me.role === 'facilitator';
    const canPropose = isFac || me.role === 'member';
    const names = (pid) => s.participants[pid]?.name || 'someone';
    const ctx = votingContext();
    const online = new Set(v.online || []);

    const header = h(
      'section',
      { class: 'card head' },
      h('h1', { id: 'planning-title' }, s.title),
      h(
        'p',
        {},
        'Phase: ',
        h('strong', { id: 'phase' }, s.phase || 'draft'),
        ` · You are ${me.name} (${me.role})`,
      ),
      isFac && (s.phase === 'draft' || !s.phase)
        ? h('button', { type: 'button', id: 'to-async', onclick: () => send({ type: 'ChangePhase', to: 'async' }).catch(() => {}) }, 'Start async review')
        : null,
      h(
        'p',
        { class: 'people' },
        'People: ',
        Object.values(s.participants)
          .filter((p) => !p.removed)
          .map((p) => h('span', { class: `person ${online.has(p.id) ? 'on' : ''}`, title: online.has(p.id) ? 'online' : 'not connected' }, `${p.name} (${p.role})`)),
      ),
    );

    const goal = h(
      'section',
      { class: 'card', 'aria-labelledby': 'goal-h' },
      h('h2', { id: 'goal-h' }, 'Sprint goal'),
      s.goal ? h('p', { id: 'goal-text' }, s.goal.text, s.goal.committed ? h('span', { class: 'badge' }, 'committed') : null) : h('p', { class: 'muted' }, 'No goal drafted yet.'),
      isFac && !(s.goal && s.goal.committed) ? goalForm : null,
    );

    const rounds = openRounds(s);
    const roundSection = h('section', { class: 'card', 'aria-labelledby': 'round-h', id: 'round' }, h('h2', { id: 'round-h' }, 'Open round'));
    if (!rounds.length) add(roundSection, h('p', { class: 'muted' }, 'No round is open.'));
    for (const r of rounds) {
      const members = Object.values(s.participants).filter((p) => p.role === 'member' && !p.removed);
      const notVoted = members.filter((m) => r.items.some((i) => !(r.votes?.[i] || {})[m.id]));
      add(roundSection, 
        h('p', {}, 'Deadline: ', h('time', { datetime: new Date(r.deadline / 1000).toISOString() }, fmtDeadline(r.deadline))),
        h('p', { class: 'not-voted' }, 'Not voted yet: ', notVoted.length ? notVoted.map((m) => m.name).join(', ') : 'everyone voted'),
      );
    }
    if (ctx) {
      const item = s.items[ctx.item];
      const mine = (ctx.round.votes?.[ctx.item] || {})[me.participant];
      add(roundSection, 
        h('h3', {}, 'Your vote on ', h('em', {}, item?.draft.title || '')),
        h(
          'div',
          { class: 'deck', role: 'group', 'aria-label': 'Cards (press 1–9 for the n-th card, ? for unsure)' },
          [...ctx.cards, ...SPECIAL].map((c, i) =>
            h(
              'button',
              {
                type: 'button',
                class: `vcard ${mine && mine.card === c ? 'mine' : ''}`,
                'aria-pressed': mine && mine.card === c ? 'true' : 'false',
                dataset: { card: c },
                title: i < ctx.cards.length && i < 10 ? `key ${(i + 1) % 10}` : c === '?' ? 'key ?' : undefined,
                onclick: () => {
                  ui.current = ctx.item;
                  send({ type: 'CastVote', round: ctx.round.id, item: ctx.item, card: c }).catch(() => {});
                },
              },
              c,
            ),
          ),
        ),
        h('p', { class: 'hint' }, 'Keys: 1–9 pick the n-th card, ? means unsure.'),
        mine ? h('p', { id: 'my-vote' }, 'Your vote: ', h('strong', {}, mine.card)) : null,
        nextUnvoted(ctx)
          ? h(
              'button',
              {
                type: 'button',
                id: 'next-item',
                onclick: () => {
                  ui.current = nextUnvoted(ctx).item;
                  render();
                },
              },
              'Next item to vote on',
            )
          : null,
      );
    }

    const items = rankedItems(s);
    const itemList = h(
      'ol',
      { class: 'items', id: 'items' },
      items.map((it) => renderItem(s, it, me, names, ui, render, send)),
    );
    const itemsSection = h(
      'section',
      { class: 'card', 'aria-labelledby': 'items-h' },
      h('h2', { id: 'items-h' }, 'Candidate items'),
      items.length ? itemList : h('p', { class: 'muted' }, 'No items yet.'),
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
      canPropose && s.phase !== 'committed' ? proposeForm : null,
    );

    root.replaceChildren(header, goal, roundSection, itemsSection);
  }

  return () => {
    unsubscribe();
    socket.stop();
    document.removeEventListener('keydown', onKey);
  };
}

function openRounds(s) {
  return (s.round_order || Object.keys(s.rounds)).map((id) => s.rounds[id]).filter((r) => r && !r.closed);
}

function rankedItems(s) {
  const ids = [...(s.rank || [])];
  for (const id of s.proposal_order || Object.keys(s.items)) if (!ids.includes(id)) ids.push(id);
  return ids.map((id) => s.items[id]).filter((it) => it && !it.withdrawn);
}

function renderItem(s, it, me, names, ui, render, send) {
  const isFac = me.role === 'facilitator';
  const inOpen = openRounds(s).find((r) => r.items.includes(it.id));
  const lastRound = [...(it.rounds || [])].reverse().map((id) => s.rounds[id]).find(Boolean);
  const votes = inOpen ? inOpen.votes?.[it.id] || {} : {};
  const revealed = lastRound?.revealed?.[it.id];
  const li = h('li', { class: 'item', dataset: { item: it.id } });
  const selectable = isFac && !inOpen && !it.estimate && (s.phase === 'async' || s.phase === 'sync');
  add(li, 
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
              render();
            },
          })
        : null,
      h('strong', { class: 'item-title' }, it.draft.title),
      it.draft.external_key ? h('span', { class: 'badge' }, it.draft.external_key) : null,
      it.flag ? h('span', { class: 'badge flag', title: it.flag.note || '' }, `flagged: ${it.flag.reason}`) : null,
      it.estimate ? h('span', { class: 'badge est' }, `estimate ${it.estimate}`) : it.proposed_estimate ? h('span', { class: 'badge' }, `proposed ${it.proposed_estimate}`) : null,
      inOpen ? h('span', { class: 'badge open' }, 'in open round') : null,
    ),
    it.draft.description ? h('p', { class: 'desc' }, it.draft.description) : null,
    it.draft.acceptance_criteria?.length
      ? h('div', {}, h('span', { class: 'muted' }, 'Acceptance criteria'), h('ul', { class: 'ac' }, it.draft.acceptance_criteria.map((c) => h('li', {}, c))))
      : null,
  );
  if (inOpen) {
    const voters = Object.entries(votes);
    add(li, 
      h(
        'div',
        { class: 'votes', 'aria-label': 'Votes' },
        voters.length ? null : h('span', { class: 'muted' }, 'No votes yet.'),
        voters.map(([pid, vote]) =>
          pid === me.participant
            ? h('span', { class: 'vote mine', dataset: { voter: pid } }, h('span', { class: 'vcard small mine' }, vote.card ?? '✓'), ' you')
            : h('span', { class: 'vote down', dataset: { voter: pid } }, h('span', { class: 'vcard small back', 'aria-label': 'face-down card' }, ''), ` ${names(pid)}`),
        ),
        me.role === 'member'
          ? h('button', { type: 'button', class: 'link-button', onclick: () => { ui.current = it.id; render(); } }, 'vote on this')
          : null,
      ),
    );
  } else if (revealed?.length) {
    add(li, 
      h(
        'div',
        { class: 'votes revealed', 'aria-label': 'Revealed votes' },
        revealed.map((rv) => h('span', { class: 'vote up', dataset: { voter: rv.voter } }, h('span', { class: 'vcard small' }, rv.card), ` ${rv.voter === me.participant ? 'you' : names(rv.voter)}`)),
      ),
    );
  }
  return li;
}

function buildProposeForm(send) {
  const title = h('input', { id: 'item-title', required: true, maxlength: 200, autocomplete: 'off' });
  const desc = h('textarea', { id: 'item-desc', rows: 2 });
  const ac = h('textarea', { id: 'item-ac', rows: 3, placeholder: 'One criterion per line' });
  return h(
    'form',
    {
      class: 'propose',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const draft = {
          title: title.value.trim(),
          description: desc.value.trim(),
          acceptance_criteria: ac.value.split('\n').map((l) => l.trim()).filter(Boolean),
        };
        try {
          await send({ type: 'ProposeItem', draft });
          title.value = '';
          desc.value = '';
          ac.value = '';
        } catch {
          /* shown by send */
        }
      },
    },
    h('h3', {}, 'Propose an item'),
    h('label', { for: 'item-title' }, 'Title'),
    title,
    h('label', { for: 'item-desc' }, 'Description'),
    desc,
    h('label', { for: 'item-ac' }, 'Acceptance criteria'),
    ac,
    h('button', { type: 'submit', id: 'propose' }, 'Propose item'),
  );
}

function buildGoalForm(send) {
  const text = h('input', { id: 'goal-input', maxlength: 2000, autocomplete: 'off' });
  return h(
    'form',
    {
      class: 'row',
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          await send({ type: 'DraftGoal', text: text.value.trim() });
          text.value = '';
        } catch {
          /* shown by send */
        }
      },
    },
    h('label', { for: 'goal-input', class: 'sr-only' }, 'Goal'),
    text,
    h('button', { type: 'submit', id: 'draft-goal' }, 'Set goal'),
  );
}

route();
