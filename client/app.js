// sprintlog web client: hash router, Start and Join screens, and the planning shell whose views
// (board, live sync, people & time, timeline, audit) share one socket and one projection.
//   #/                            Start: create a planning, "My plannings"
//   #/join/<planning>?invite=…    Join with an invite link
//   #/p/<planning>[/<view>]       a planning; a `?token=` in the link is stored, then dropped
//   #/teams[/<team>]              teams (teams.js)

import * as api from './api.js';
import { PlanningSocket } from './socket.js';
import { PlanningStore } from './state.js';
import { h, add, errorText, rerender, showRefusal, clearRefusals, plural } from './dom.js';
import { boardView } from './board.js';
import { liveView } from './live.js';
import { timelineView } from './timeline.js';
import { auditView } from './audit.js';
import { timeView, sprintDatesText, dayStart, dayEnd } from './schedule.js';
import { deadlineEl, scheduleOrigin } from './deadlines.js';
import { peopleLine, zonePrompt, browserZone } from './people.js';
import { teamsScreen, heldTeams, teamOf } from './teams.js';
import { DECK_PRESETS, DEFAULT_DECK, MAX_LEN, MY_PLANNINGS_MAX, SPECIAL_CARDS } from './protocol.js';
import { CardTyper, NAV_KEYS, keysInWords } from './keys.js';

const app = document.getElementById('app');
const connEl = document.getElementById('conn');
const STORE_KEY = 'sprintlog.plannings';

function show(...nodes) {
  app.replaceChildren(...nodes.filter(Boolean));
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
  const all = myPlannings();
  const old = all.find((p) => p.planning === entry.planning) || {};
  const list = all.filter((p) => p.planning !== entry.planning);
  list.unshift({ ...old, ...entry });
  localStorage.setItem(STORE_KEY, JSON.stringify(list));
}

function held(planning) {
  return myPlannings().find((p) => p.planning === planning);
}

// ---------- router ----------

let session = null; // the open planning: {planning, show(view), close()}
let screenTeardown = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { parts: path.split('/').filter(Boolean), params: new URLSearchParams(query) };
}

function route() {
  screenTeardown?.();
  screenTeardown = null;
  const { parts, params } = parseHash();
  if (parts[0] === 'p' && parts[1]) {
    const planning = parts[1];
    const view = parts[2] || 'board';
    const token = params.get('token');
    if (token) {
      history.replaceState(null, '', `#/p/${planning}${parts[2] ? `/${parts[2]}` : ''}`);
      const mine = held(planning);
      // A link for someone else must not silently replace who this browser is here.
      if (mine?.token && mine.token !== token) {
        askIdentity(planning, mine, token);
        return;
      }
      remember({ planning, token });
    }
    if (session && session.planning !== planning) {
      session.close();
      session = null;
    }
    if (!session) session = openPlanning(planning);
    session?.show(view);
    return;
  }
  session?.close();
  session = null;
  connEl.hidden = true;
  if (parts[0] === 'join' && parts[1]) joinScreen(parts[1], params.get('invite') || '');
  else if (parts[0] === 'teams') screenTeardown = teamsScreen(app, parts[1] || null);
  else startScreen();
  app.focus();
}

window.addEventListener('hashchange', route);

/**
 * This browser already holds another token for `planning` than the link's: asks whether to
 * keep it or to use the link's, then opens the planning as the one chosen. Escape, or leaving
 * the page, keeps the one held.
 */
function askIdentity(planning, mine, token) {
  const linkName = h('strong', {}, 'someone else');
  const dialog = h(
    'dialog',
    { class: 'identity-dialog', id: 'identity-dialog', 'aria-labelledby': 'identity-h', 'aria-describedby': 'identity-text' },
    h('h2', { id: 'identity-h' }, 'This link is for another participant'),
    h(
      'p',
      { id: 'identity-text' },
      'In this planning, this browser is ',
      h('strong', {}, mine.name || 'you'),
      '. The link you opened signs in as ',
      linkName,
      '. Which one do you want to be here?',
    ),
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'button', id: 'identity-keep', onclick: () => done(false) }, mine.name ? `Stay as ${mine.name}` : 'Stay as I am'),
      h('button', { type: 'button', class: 'secondary', id: 'identity-use-link', onclick: () => done(true) }, 'Use the link'),
    ),
  );
  api.readPlanning(planning, token).then(
    (r) => r?.you?.name && (linkName.textContent = r.you.name),
    () => (linkName.textContent = 'someone else (the link may no longer work)'),
  );
  dialog.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    done(false);
  });
  const leave = () => finish();
  window.addEventListener('hashchange', leave);
  function finish() {
    window.removeEventListener('hashchange', leave);
    dialog.close();
    dialog.remove();
  }
  function done(useLink) {
    finish();
    if (useLink) {
      // The held entry's name and role were the other person's: only the planning's title stays.
      const list = myPlannings().filter((p) => p.planning !== planning);
      localStorage.setItem(STORE_KEY, JSON.stringify(list));
      remember({ planning, token, title: mine.title });
      if (session?.planning === planning) {
        session.close();
        session = null;
      }
    }
    route();
  }
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector('#identity-keep').focus();
}

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
          status.textContent = 'Copied';
        } catch {
          status.textContent = 'Select the link and copy it';
        }
      },
    },
    'Copy',
  );
  return h('div', { class: 'copy-field' }, h('label', { for: id }, label), h('div', { class: 'row' }, input, button, status));
}

const DECK_NAMES = { fibonacci: 'Fibonacci', modified_fibonacci: 'Modified Fibonacci', t_shirt: 'T-shirt sizes', powers_of_two: 'Powers of two' };
const DECKS = {
  ...Object.fromEntries(Object.entries(DECK_PRESETS).map(([kind, cards]) => [kind, { label: `${DECK_NAMES[kind]} (${cards.join(' ')})`, cards }])),
  custom: { label: 'Custom…', cards: [] },
};

function startScreen() {
  const field = (id, label, input, hint) => [h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null];
  const title = h('input', { id: 'title', name: 'title', required: true, maxlength: MAX_LEN.title, autocomplete: 'off' });
  const name = h('input', { id: 'name', name: 'name', required: true, maxlength: MAX_LEN.name, autocomplete: 'name' });
  const start = h('input', { id: 'sprint-start', type: 'date' });
  const end = h('input', { id: 'sprint-end', type: 'date' });
  const deck = h('select', { id: 'deck' }, Object.entries(DECKS).map(([k, d]) => h('option', { value: k }, d.label)));
  const custom = h('input', { id: 'deck-custom', placeholder: 'e.g. 1, 2, 3, 5, 8', 'aria-describedby': 'deck-custom-hint' });
  const customWrap = h('div', { hidden: true }, field('deck-custom', 'Custom cards (comma separated, lowest first)', custom, `The cards ${SPECIAL_CARDS.join(' and ')} are always there.`));
  deck.addEventListener('change', () => {
    customWrap.hidden = deck.value !== 'custom';
  });
  const zone = h('input', { id: 'my-zone', list: 'start-zones', autocomplete: 'off', spellcheck: 'false', value: browserZone(), 'aria-describedby': 'my-zone-hint' });
  const team = h('input', { id: 'team', autocomplete: 'off', 'aria-describedby': 'team-hint' });
  const teamToken = h('input', { id: 'team-token', type: 'password', autocomplete: 'off' });
  const carry = h('input', { id: 'carry-over', type: 'checkbox', checked: true });
  const error = h('p', { class: 'error', role: 'alert' });
  const result = h('div', { id: 'created' });

  async function create() {
    const deckBody = deck.value === DEFAULT_DECK ? null : { kind: deck.value, cards: deck.value === 'custom' ? custom.value.split(',').map((c) => c.trim()).filter(Boolean) : DECKS[deck.value].cards };
    if (team.value.trim()) {
      const body = { title: title.value.trim(), name: name.value.trim(), carry_over: carry.checked };
      if (deckBody) body.deck = deckBody;
      return api.createTeamPlanning(team.value.trim(), teamToken.value.trim(), body);
    }
    return api.createPlanning(title.value.trim(), name.value.trim(), deckBody);
  }

  const form = h(
    'form',
    {
      class: 'card',
      'aria-labelledby': 'new-h',
      onsubmit: async (ev) => {
        ev.preventDefault();
        error.textContent = '';
        const [s, e] = [dayStart(start.value), dayEnd(end.value)];
        if (s && e && e <= s) {
          error.textContent = 'The sprint must end after it starts.';
          end.focus();
          return;
        }
        try {
          const r = await create();
          remember({ planning: r.planning, token: r.token, role: r.role, name: name.value.trim(), title: title.value.trim(), seen_seq: r.head });
          // My time zone (the browser's, proposed), with the default hours.
          // A zone the server does not know is asked again on the board (the prompt).
          if (zone.value.trim()) await api.command(r.planning, r.token, `zone-${r.planning}`, { type: 'SetTimeZone', time_zone: zone.value.trim() }).catch(() => {});
          if (s || e) {
            // Calendar days: 00:00 UTC of the first day to the last microsecond of the last. My
            // zone is set first, so the server places the live sync and the deadline in my
            // working hours (the slot finder), not at midnight.
            await api.command(r.planning, r.token, `schedule-${r.planning}`, { type: 'SetSchedule', schedule: { sprint_start: s, sprint_end: e } });
          }
          // `add` skips the absent roster (`replaceChildren` would write a literal "null").
          result.replaceChildren();
          add(
            result,
            h('h2', { tabindex: '-1', id: 'created-h' }, 'Planning created'),
            copyField('Your facilitator link (keep it private)', r.links.facilitator, 'link-facilitator'),
            copyField('Member invite link', r.links.member, 'link-member'),
            copyField('Observer invite link', r.links.observer, 'link-observer'),
            r.roster?.length
              ? h('div', {}, h('h3', {}, 'Team roster'), h('ul', { class: 'mine' }, r.roster.map((p, i) => h('li', {}, copyField(`${p.name} (${p.role})`, p.link, `link-roster-${i}`)))))
              : null,
            h('p', {}, h('a', { href: `#/p/${r.planning}`, class: 'button', id: 'open-board' }, 'Open the board')),
          );
          form.reset();
          customWrap.hidden = true;
          renderMine();
          refreshMine();
          document.getElementById('created-h')?.focus();
        } catch (e) {
          error.textContent = errorText(e);
        }
      },
    },
    h('h2', { id: 'new-h' }, 'New planning'),
    field('title', 'Title', title),
    field('name', 'Your name', name),
    h('div', { class: 'two' }, h('div', {}, field('sprint-start', 'Sprint starts', start)), h('div', {}, field('sprint-end', 'Sprint ends', end))),
    field('my-zone', 'Your time zone', zone, 'From your browser; the live sync is proposed inside your working hours (09:00–17:30, change them on the planning).'),
    h('datalist', { id: 'start-zones' }, (Intl.supportedValuesOf?.('timeZone') || []).map((z) => h('option', { value: z }))),
    field('deck', 'Deck', deck),
    customWrap,
    h(
      'details',
      { class: 'team' },
      h('summary', {}, 'For a team (optional)'),
      heldTeams().length
        ? field(
            'team-pick',
            'One of your teams',
            h(
              'select',
              {
                id: 'team-pick',
                onchange: (ev) => {
                  const held = teamOf(ev.target.value);
                  team.value = held?.team || '';
                  teamToken.value = held?.token || '';
                },
              },
              h('option', { value: '' }, '—'),
              heldTeams().map((t) => h('option', { value: t.team }, t.name)),
            ),
          )
        : null,
      h('p', {}, h('a', { href: '#/teams', id: 'teams-link' }, 'Create or open a team')),
      field('team', 'Team id', team, 'With a team, the roster gets invite links, unfinished items carry over and the velocity comes from past sprints.'),
      field('team-token', 'Team admin token', teamToken),
      h('label', { class: 'check' }, carry, ' Carry over unfinished items from the last sprint'),
    ),
    h('button', { type: 'submit' }, 'Create planning'),
    error,
  );
  const mine = h('section', { class: 'card', 'aria-labelledby': 'mine-h' });
  // The list from this browser's tokens, then what the server says about each (phase, votes I
  // owe); a planning the server no longer opens for the token is marked, not hidden.
  let live = null;
  function renderMine() {
    const list = myPlannings();
    const info = new Map((live || []).map((p) => [p.planning, p]));
    mine.replaceChildren(
      h('h2', { id: 'mine-h' }, 'My plannings'),
      list.length
        ? h(
            'ul',
            { class: 'mine', id: 'my-plannings' },
            list.map((p) => {
              const i = info.get(p.planning);
              return h(
                'li',
                {},
                h('a', { href: `#/p/${p.planning}` }, i?.title || p.title || p.planning),
                p.role ? h('span', { class: 'role' }, p.role) : null,
                i ? h('span', { class: 'badge' }, i.phase) : live ? h('span', { class: 'badge flag' }, 'no access') : null,
                i?.pending_votes ? h('span', { class: 'badge open' }, `${i.pending_votes} vote${i.pending_votes === 1 ? '' : 's'} to cast`) : null,
              );
            }),
          )
        : h('p', { class: 'muted' }, 'None yet on this browser.'),
    );
  }
  async function refreshMine() {
    const tokens = myPlannings()
      .filter((p) => p.token)
      .slice(0, MY_PLANNINGS_MAX)
      .map((p) => ({ planning: p.planning, token: p.token }));
    if (!tokens.length) return;
    try {
      live = (await api.myPlannings(tokens)).plannings;
      renderMine();
    } catch {
      /* the local list stays */
    }
  }
  renderMine();
  refreshMine();
  show(h('h1', {}, 'Plan a sprint'), h('div', { class: 'grid' }, form, mine), result);
}

// ---------- Join ----------

function joinScreen(planning, invite) {
  const name = h('input', { id: 'join-name', required: true, maxlength: MAX_LEN.name, autocomplete: 'name' });
  const error = h('p', { class: 'error', role: 'alert' });
  // One token per name tried: pressing Join again after a lost answer (the request may have
  // gone through) joins once; a different name is a different join.
  let token = null;
  let tokenFor = null;
  show(
    h('h1', {}, 'Join a planning'),
    h(
      'form',
      {
        class: 'card',
        onsubmit: async (ev) => {
          ev.preventDefault();
          error.textContent = '';
          const who = name.value.trim();
          if (tokenFor !== who) {
            token = api.newToken();
            tokenFor = who;
          }
          try {
            const r = await api.join(planning, invite, who, token);
            remember({ planning, token: r.token, role: r.role, name: name.value.trim() });
            location.hash = `#/p/${planning}`;
          } catch (e) {
            error.textContent = e.code === 'invalid_invite' ? 'This invite link is no longer valid. Ask the facilitator for a new one.' : errorText(e);
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

// ---------- a planning ----------

const VIEWS = {
  board: { label: 'Board', make: boardView },
  live: { label: 'Live sync', make: liveView },
  time: { label: 'People & time', make: timeView },
  timeline: { label: 'Timeline', make: timelineView },
  audit: { label: 'Audit', make: auditView },
};

function openPlanning(planning) {
  const entry = held(planning);
  if (!entry || !entry.token) {
    show(h('h1', {}, 'No access'), h('p', {}, 'This browser holds no link for this planning. Open your personal link or an invite link.'));
    return null;
  }
  const store = new PlanningStore(planning, entry.token);
  const messageEl = h('p', { class: 'error', role: 'alert', id: 'board-error' });
  const headEl = h('section', { class: 'card head', 'aria-labelledby': 'planning-title' });
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Planning views' });
  const viewEl = h('div', { id: 'view' });
  // The meeting announces itself: on any other view, a running live session is a prompt to join.
  const liveEl = h('div', { id: 'live-banner', class: 'live-banner', role: 'status', hidden: true });
  // Since my last visit: what changed (the server's digest), and which items left the sprint.
  const visitEl = h('div', { id: 'since-visit', class: 'visit-note', role: 'status', hidden: true });
  // Until I set a time zone: the browser's zone proposed, one click to keep it (people.js).
  const zoneEl = h('div', { id: 'zone-slot' });
  show(headEl, liveEl, visitEl, zoneEl, nav, viewEl, messageEl);

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
  showConn();

  socket = new PlanningSocket({
    planning,
    token: entry.token,
    since: 0,
    handlers: {
      onState: (s) => {
        connState = s;
        showConn();
      },
      onQueue: (n) => {
        queued = n;
        showConn();
      },
      onSnapshot: (f) => {
        store.applySnapshot(f);
        showConn();
      },
      onEvent: (f) => {
        store.eventArrived(f);
        showConn();
      },
      onHello: (f) => store.hello(f),
      onView: (f) => store.applyKept(f),
      onCaughtUp: () => showConn(),
      onPresence: (f) => store.applyPresence(f),
      onError: (f) => {
        messageEl.textContent = f.message || f.code;
      },
    },
  });

  /**
   * Sends a command; a refusal is shown beside the control that sent it (`near`, else the
   * focused one) — or, with none, at the foot of the page — and rethrown so a form keeps its
   * text. `quiet`: the caller shows the refusal beside its own control.
   */
  async function send(command, { near, quiet = false } = {}) {
    const control = near || document.activeElement;
    messageEl.textContent = '';
    clearRefusals();
    try {
      return await socket.send(command);
    } catch (e) {
      if (!quiet && !showRefusal(viewEl.contains(control) ? control : null, errorText(e))) messageEl.textContent = errorText(e);
      throw e;
    }
  }

  // "Since my last visit": the seq this browser had seen when the planning was last open.
  const visitSince = entry.seen_seq ?? null;
  const ctx = { planning, token: entry.token, store, send, visitSince, sinceVisit: null, shared: { current: null } };
  loadSinceVisit();

  /** Marks what others changed since my last visit (a newcomer is offered the story so far). */
  async function loadSinceVisit() {
    if (visitSince === null) return renderVisit(null);
    try {
      const d = await api.digest(planning, entry.token, visitSince);
      ctx.sinceVisit = { since: d.since, items: new Map(d.items.map((i) => [i.item, i])), dropped: d.items.filter((i) => i.dropped), news: d.items.length + d.goal.length + d.planning.length };
      renderVisit(ctx.sinceVisit);
      current?.view.render();
    } catch {
      /* no marks: the board itself is current */
    }
  }

  function renderVisit(sv) {
    // The timeline opens with the digest already read (`ctx.catchUpNow`).
    const catchUp = h('a', { href: `#/p/${planning}/timeline`, id: 'catch-up-link', onclick: () => { ctx.catchUpNow = true; visitEl.hidden = true; } }, sv ? 'Catch me up' : 'Catch me up on the story so far');
    if (sv && !sv.news) return;
    visitEl.hidden = false;
    visitEl.replaceChildren();
    visitEl.dataset.newcomer = sv ? '' : 'yes';
    if (!sv) return add(visitEl, 'New here? ', catchUp, h('button', { type: 'button', class: 'link-button dismiss', 'aria-label': 'Hide this note', onclick: () => (visitEl.hidden = true) }, '×'));
    const changed = [...sv.items.values()].filter((i) => !i.dropped);
    const named = (list) => (list.length > 3 ? plural(list.length, 'item') : list.map((i) => `“${i.title}”`).join(', '));
    const news = [
      changed.length ? `${named(changed)} changed (marked below)` : null,
      sv.dropped.length ? h('span', { id: 'dropped-since-visit' }, `out of the sprint: ${named(sv.dropped)}`) : null,
    ].filter(Boolean);
    add(
      visitEl,
      h('strong', {}, 'Since your last visit: '),
      news.length ? news.flatMap((n, i) => (i ? ['; ', n] : [n])) : 'news from the others',
      '. ',
      catchUp,
      h('button', { type: 'button', class: 'link-button dismiss', 'aria-label': 'Hide this note', onclick: () => (visitEl.hidden = true) }, '×'),
    );
  }
  let current = null; // {name, view}

  function renderHead() {
    const v = store.view;
    if (!v) {
      if (store.error) headEl.replaceChildren(h('p', { class: 'error' }, `Cannot load the planning: ${errorText(store.error)}`));
      return;
    }
    const s = v.state;
    const me = v.you;
    const online = new Set(v.online || []);
    const sched = s.schedule || {};
    headEl.replaceChildren(
      h('h1', { id: 'planning-title' }, s.title),
      h(
        'p',
        { class: 'meta' },
        'Phase: ',
        h('strong', { id: 'phase' }, s.phase || 'draft'),
        s.sync_running ? h('span', { class: 'badge open' }, 'live session running') : null,
        sched.sprint_start || sched.sprint_end ? h('span', { id: 'sprint-dates' }, ` · Sprint ${sprintDatesText(sched)}`) : null,
        sched.estimation_deadline ? h('span', { id: 'votes-due' }, ' · Votes due ', deadlineEl(sched.estimation_deadline, scheduleOrigin(s, 'estimation_deadline').title)) : null,
        sched.sync_start ? h('span', { id: 'sync-at' }, ' · Live sync ', deadlineEl(sched.sync_start, scheduleOrigin(s, 'sync_start').title)) : null,
        ` · Deck: ${s.deck.cards.join(' ')}`,
        ` · You are ${me.name} (${me.role})`,
      ),
      h(
        'p',
        { class: 'people' },
        'People: ',
        peopleLine(s, online),
        ' ',
        h('a', { href: `#/p/${planning}/time`, id: 'people-time-link' }, 'hours and schedule'),
      ),
    );
  }

  function renderNav(active) {
    const v = store.view;
    const live = v?.state.sync_running;
    // Re-rendered on every update: `rerender` keeps the focus on a tab a keyboard user is on.
    rerender(nav, [
      ...Object.entries(VIEWS).map(([k, d]) =>
        h(
          'a',
          { href: `#/p/${planning}${k === 'board' ? '' : `/${k}`}`, id: `tab-${k}`, 'aria-current': k === active ? 'page' : false, class: live && k === 'live' ? 'live' : '' },
          d.label,
          live && k === 'live' ? h('span', { class: 'sr-only' }, ' (running)') : null,
        ),
      ),
      h('button', { type: 'button', id: 'key-help-open', class: 'link-button keys-open', 'aria-keyshortcuts': 'h', 'aria-expanded': helpEl.hidden ? 'false' : 'true', 'aria-controls': 'key-help', onclick: () => toggleHelp() }, 'Keys'),
    ]);
    // On a line that scrolls sideways (a phone), the current tab is scrolled into sight.
    if (active !== nav.dataset.active) {
      nav.dataset.active = active || '';
      const tab = nav.querySelector('[aria-current="page"]')?.getBoundingClientRect();
      const bar = nav.getBoundingClientRect();
      if (tab && (tab.left < bar.left || tab.right > bar.right)) nav.scrollLeft += tab.left - bar.left - 8;
    }
  }

  function renderZonePrompt() {
    // While the room meets, the live view is the meeting: the prompt waits on the other views.
    const meeting = Boolean(store.view?.state.sync_running) && current?.name === 'live';
    const needed = Boolean(store.view && !meeting && !store.view.state.participants[store.view.you.participant]?.time_zone);
    if (needed !== Boolean(zoneEl.firstChild)) zoneEl.replaceChildren(...[needed ? zonePrompt(ctx) : null].filter(Boolean)); // else unchanged: keep what is being typed
    placeVisit();
  }

  /**
   * One prompt at a time: a newcomer's "catch me up" joins the time-zone prompt as its last
   * line (one card) while that prompt is up, and stands on its own otherwise.
   */
  function placeVisit() {
    const prompt = zoneEl.querySelector('#zone-prompt');
    const inside = Boolean(prompt && visitEl.dataset.newcomer);
    if (inside && visitEl.parentElement !== prompt) prompt.append(visitEl);
    if (!inside && visitEl.parentElement !== zoneEl.parentElement) zoneEl.before(visitEl);
    visitEl.classList.toggle('in-prompt', inside);
  }

  function renderBanner() {
    const show = Boolean(store.view?.state.sync_running) && current?.name !== 'live';
    if (show === !liveEl.hidden) return; // unchanged: keep the link a keyboard user may be on
    liveEl.hidden = !show;
    liveEl.replaceChildren(
      ...(show
        ? [h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('strong', {}, 'The live session has started.'), ' ', h('a', { class: 'button', id: 'join-live', href: `#/p/${planning}/live` }, 'Join the discussion')]
        : []),
    );
  }

  // The planning as this page holds it, for the browser tests and for debugging from the console.
  window.sprintlogStore = store;

  const unsubscribe = store.subscribe(() => {
    const v = store.view;
    if (v) {
      remember({ planning, title: v.state.title, role: v.you.role, name: v.you.name, seen_seq: v.head });
      ctx.me = v.you;
    }
    renderHead();
    renderBanner();
    renderZonePrompt();
    // The live session's layout (style.css): at a phone's width the meeting comes first.
    app.classList.toggle('meeting', Boolean(v?.state.sync_running));
    renderNav(current?.name);
    current?.view.render();
  });
  store.refresh();

  // The keyboard on every view with a deck (keys.js): a card's label casts it, j/k move to the
  // next/previous item to vote on, h shows the keys, Escape hides them.
  const helpEl = h('section', { id: 'key-help', class: 'card key-help', role: 'dialog', 'aria-labelledby': 'key-help-h', hidden: true });
  const navEl = h('p', { id: 'key-nav', class: 'sr-only', 'aria-live': 'polite' });
  headEl.after(helpEl, navEl);
  let typingFor = null; // the voting context a pending (prefix) card belongs to
  const castCard = (vc, card) => {
    ctx.shared.current = vc.item; // stay on it: the vote shows as mine
    send({ type: 'CastVote', round: vc.round.id, item: vc.item, card }, { near: viewEl.querySelector('.deck .vcard') }).catch(() => {});
  };
  const typer = new CardTyper((card) => typingFor && castCard(typingFor, card));

  function toggleHelp(open = helpEl.hidden) {
    const vc = current?.view.votingContext?.();
    helpEl.replaceChildren(
      h('h2', { id: 'key-help-h', tabindex: '-1' }, 'Keyboard'),
      h(
        'dl',
        { class: 'keys' },
        h('dt', {}, 'Cast a card'),
        h('dd', {}, vc ? keysInWords(vc.cards) : "type a card's label while a round waits for your vote"),
        h('dt', {}, h('kbd', {}, 'j'), ' or ', h('kbd', {}, ']')),
        h('dd', {}, 'next item to vote on'),
        h('dt', {}, h('kbd', {}, 'k'), ' or ', h('kbd', {}, '[')),
        h('dd', {}, 'previous item to vote on'),
        h('dt', {}, h('kbd', {}, 'h')),
        h('dd', {}, 'show or hide these keys'),
        h('dt', {}, h('kbd', {}, 'Esc')),
        h('dd', {}, 'hide them'),
      ),
      h('button', { type: 'button', class: 'secondary', id: 'key-help-close', onclick: () => toggleHelp(false) }, 'Close'),
    );
    const wasOpen = !helpEl.hidden;
    helpEl.hidden = !open;
    nav.querySelector('#key-help-open')?.setAttribute('aria-expanded', String(open));
    if (open && !wasOpen) helpBack = document.activeElement;
    if (open) helpEl.querySelector('#key-help-h').focus();
    else if (wasOpen) backTo(helpBack); // back where the person was
  }
  let helpBack = null; // the element focused before the help opened
  /** Focuses `el`, or the control that replaced it (same id) if a re-render swapped it. */
  function backTo(el) {
    const target = el?.isConnected ? el : el?.id ? document.getElementById(el.id) : null;
    target?.focus();
  }

  /** Moves the item to vote on by `step` among the open rounds' items. */
  function moveItem(vc, step) {
    const at = vc.pairs.findIndex((p) => p.item === vc.item);
    const to = vc.pairs[(at + step + vc.pairs.length) % vc.pairs.length];
    ctx.shared.current = to.item;
    current?.view.render();
    const title = store.view?.state.items[to.item]?.draft.title || '';
    navEl.textContent = `Voting on “${title}” (${vc.pairs.indexOf(to) + 1} of ${vc.pairs.length})`;
  }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
    if (ev.key === 'Escape' && !helpEl.hidden) return toggleHelp(false);
    if (ev.key.length !== 1) return;
    const vc = current?.view.votingContext?.();
    if (vc) {
      if (typingFor && typingFor.item !== vc.item) typer.reset();
      typingFor = vc;
      const typed = typer.press(ev.key, vc.cards);
      if (typed) {
        ev.preventDefault();
        if (typed.card !== undefined) castCard(vc, typed.card);
        return;
      }
    }
    const key = ev.key.toLowerCase();
    if (NAV_KEYS.help.includes(key)) toggleHelp();
    else if (vc && NAV_KEYS.next.includes(key)) moveItem(vc, 1);
    else if (vc && NAV_KEYS.previous.includes(key)) moveItem(vc, -1);
    else return;
    ev.preventDefault();
  }
  document.addEventListener('keydown', onKey);

  return {
    planning,
    show(name) {
      const kind = VIEWS[name] ? name : 'board';
      if (current?.name === kind) return;
      current?.view.destroy?.();
      const view = VIEWS[kind].make(ctx);
      current = { name: kind, view };
      viewEl.replaceChildren(view.el);
      app.dataset.view = kind;
      renderNav(kind);
      renderBanner();
      renderZonePrompt();
      view.render();
      app.focus();
    },
    close() {
      current?.view.destroy?.();
      delete app.dataset.view;
      app.classList.remove('meeting');
      unsubscribe();
      socket.stop();
      document.removeEventListener('keydown', onKey);
      typer.reset();
    },
  };
}

route();
