// Teams: `#/teams` creates a team with its roster (the admin token is kept in this browser,
// `sprintlog.teams`), `#/teams/<id>` shows it: the roster (editable), its plannings with what
// they committed, the velocity its next planning gets, and "start the next planning" with
// carry-over, which hands out the roster's invite links.

import * as api from './api.js';
import { h, skeleton, errorText, pts } from './dom.js';
import { MAX_LEN } from './protocol.js';
import { browserZone } from './people.js';

const TEAMS_KEY = 'sprintlog.teams';
const PLANNINGS_KEY = 'sprintlog.plannings';

/** The teams this browser holds an admin token for: `[{team, name, token}]`, newest first. */
export function heldTeams() {
  try {
    return JSON.parse(localStorage.getItem(TEAMS_KEY)) || [];
  } catch {
    return [];
  }
}

/** One held team, or undefined. */
export function teamOf(id) {
  return heldTeams().find((t) => t.team === id);
}

function rememberTeam(entry) {
  const list = heldTeams().filter((t) => t.team !== entry.team);
  list.unshift({ ...teamOf(entry.team), ...entry });
  localStorage.setItem(TEAMS_KEY, JSON.stringify(list));
}

/** Keeps a planning's token in "My plannings" (the list app.js reads). */
function rememberPlanning(entry) {
  let all = [];
  try {
    all = JSON.parse(localStorage.getItem(PLANNINGS_KEY)) || [];
  } catch {
    all = [];
  }
  localStorage.setItem(PLANNINGS_KEY, JSON.stringify([entry, ...all.filter((p) => p.planning !== entry.planning)]));
}

function heldPlanning(id) {
  try {
    return (JSON.parse(localStorage.getItem(PLANNINGS_KEY)) || []).find((p) => p.planning === id);
  } catch {
    return undefined;
  }
}

function copyRow(label, value, id) {
  const input = h('input', { id, readonly: true, value, class: 'link' });
  return h(
    'div',
    { class: 'copy-field' },
    h('label', { for: id }, label),
    h(
      'div',
      { class: 'row' },
      input,
      h('button', { type: 'button', 'aria-label': `Copy ${label}`, onclick: () => navigator.clipboard?.writeText(value).catch(() => input.select()) }, 'Copy'),
    ),
  );
}

// ---------- the roster editor ----------

/** Editable rows of a roster: name, role, time zone; "Add a person" adds a row. */
function rosterEditor(prefix, roster) {
  const body = h('tbody');
  let n = 0;
  const addRow = (p = {}) => {
    const i = n++;
    const id = (k) => `${prefix}-${k}-${i}`;
    body.append(
      h(
        'tr',
        { class: 'roster-row' },
        h('td', {}, h('label', { for: id('name'), class: 'sr-only' }, `Name of person ${i + 1}`), h('input', { id: id('name'), name: 'name', maxlength: MAX_LEN.name, value: p.name || '', autocomplete: 'off' })),
        h(
          'td',
          {},
          h('label', { for: id('role'), class: 'sr-only' }, `Role of person ${i + 1}`),
          h('select', { id: id('role'), name: 'role' }, ['member', 'observer'].map((r) => h('option', { value: r, selected: (p.role || 'member') === r || undefined }, r))),
        ),
        h('td', {}, h('label', { for: id('zone'), class: 'sr-only' }, `Time zone of person ${i + 1}`), h('input', { id: id('zone'), name: 'zone', list: 'team-zones', value: p.time_zone || '', placeholder: 'e.g. Europe/Berlin', autocomplete: 'off', spellcheck: 'false' })),
        h('td', {}, h('button', { type: 'button', class: 'mini', id: id('remove'), 'aria-label': `Remove person ${i + 1} from the roster`, onclick: (ev) => ev.currentTarget.closest('tr').remove() }, '✕')),
      ),
    );
  };
  for (const p of roster) addRow(p);
  if (!roster.length) addRow();
  const el = h(
    'div',
    { class: 'roster-editor' },
    h('datalist', { id: 'team-zones' }, (Intl.supportedValuesOf?.('timeZone') || []).map((z) => h('option', { value: z }))),
    h('table', { class: 'roster' }, h('caption', { class: 'sr-only' }, 'Roster'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Time zone (optional)'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Remove')))), body),
    h('button', { type: 'button', class: 'secondary', id: `${prefix}-add`, onclick: () => { addRow(); body.lastChild.querySelector('input').focus(); } }, 'Add a person'),
  );
  /** The roster as typed (rows without a name left out). */
  el.value = () =>
    [...body.querySelectorAll('tr')]
      .map((tr) => ({
        name: tr.querySelector('[name=name]').value.trim(),
        role: tr.querySelector('[name=role]').value,
        time_zone: tr.querySelector('[name=zone]').value.trim() || null,
      }))
      .filter((p) => p.name);
  return el;
}

// ---------- #/teams ----------

function teamsList(app) {
  const name = h('input', { id: 'team-name', required: true, maxlength: MAX_LEN.name, autocomplete: 'off' });
  const roster = rosterEditor('new-roster', []);
  const error = h('p', { class: 'error', role: 'alert' });
  const held = heldTeams();
  app.replaceChildren(
    h('h1', {}, 'Teams'),
    h(
      'div',
      { class: 'grid' },
      h(
        'form',
        {
          class: 'card',
          'aria-labelledby': 'new-team-h',
          onsubmit: async (ev) => {
            ev.preventDefault();
            error.textContent = '';
            try {
              const r = await api.createTeam(name.value.trim(), roster.value());
              rememberTeam({ team: r.team, name: r.name, token: r.admin_token });
              location.hash = `#/teams/${r.team}`;
            } catch (e) {
              error.textContent = errorText(e);
            }
          },
        },
        h('h2', { id: 'new-team-h' }, 'New team'),
        h('label', { for: 'team-name' }, 'Team name'),
        name,
        h('h3', {}, 'Roster'),
        h('p', { class: 'hint' }, 'Everyone who plans with the team. Each planning gives each of them an invite link.'),
        roster,
        h('button', { type: 'submit', id: 'create-team' }, 'Create team'),
        error,
      ),
      h(
        'section',
        { class: 'card', 'aria-labelledby': 'my-teams-h' },
        h('h2', { id: 'my-teams-h' }, 'My teams'),
        held.length ? h('ul', { class: 'mine', id: 'my-teams' }, held.map((t) => h('li', {}, h('a', { href: `#/teams/${t.team}` }, t.name)))) : h('p', { class: 'muted' }, 'None yet on this browser.'),
      ),
    ),
  );
}

// ---------- #/teams/<id> ----------

function teamPage(app, id) {
  const held = teamOf(id);
  if (!held) {
    const token = h('input', { id: 'team-admin-token', type: 'password', required: true, autocomplete: 'off' });
    const error = h('p', { class: 'error', role: 'alert' });
    app.replaceChildren(
      h('h1', {}, 'Team'),
      h(
        'form',
        {
          class: 'card',
          onsubmit: async (ev) => {
            ev.preventDefault();
            try {
              const t = await api.readTeam(id, token.value.trim());
              rememberTeam({ team: id, name: t.name, token: token.value.trim() });
              teamPage(app, id);
            } catch (e) {
              error.textContent = e.status === 401 ? 'That admin token does not open this team.' : errorText(e);
            }
          },
        },
        h('p', {}, 'This browser holds no admin token for this team.'),
        h('label', { for: 'team-admin-token' }, 'Team admin token'),
        token,
        h('button', { type: 'submit' }, 'Open the team'),
        error,
      ),
    );
    return;
  }
  const body = h('div', {}, skeleton('Loading the team…', 'list', 'team-loading'));
  app.replaceChildren(h('h1', { id: 'team-title' }, held.name), h('p', {}, h('a', { href: '#/teams' }, '← All teams')), body);
  load();

  async function load() {
    try {
      render(await api.readTeam(id, held.token));
    } catch (e) {
      body.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Cannot load the team: ${errorText(e)}`));
    }
  }

  function render(t) {
    body.replaceChildren(
      h('div', { class: 'grid' }, velocityCard(t), nextPlanning(t)),
      planningsCard(t),
      rosterCard(t),
      adminCard(),
    );
  }

  function velocityCard(t) {
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'team-velocity-h', id: 'team-velocity' },
      h('h2', { id: 'team-velocity-h' }, 'Velocity'),
      t.velocity == null
        ? h('p', { class: 'muted' }, 'No committed sprint yet: the first planning sets its velocity by hand.')
        : [
            h('p', { class: 'big' }, h('strong', { id: 'team-velocity-value' }, pts(t.velocity)), ' points per focused person-day'),
            h('p', { class: 'hint' }, `From the last ${t.velocity_from} committed sprint${t.velocity_from === 1 ? '' : 's'}: points committed ÷ focused person-days. The next planning starts with it.`),
          ],
    );
  }

  function planningsCard(t) {
    return h(
      'section',
      { class: 'card', 'aria-labelledby': 'team-plannings-h' },
      h('h2', { id: 'team-plannings-h' }, 'Plannings'),
      t.plannings.length
        ? h(
            'table',
            { id: 'team-plannings' },
            h('caption', { class: 'sr-only' }, 'The team\'s plannings, oldest first'),
            h('thead', {}, h('tr', {}, ['Planning', 'Phase', 'Committed points', 'Focused person-days', 'Points per day'].map((x) => h('th', { scope: 'col' }, x)))),
            h(
              'tbody',
              {},
              t.plannings.map((p) =>
                h(
                  'tr',
                  { dataset: { planning: p.planning } },
                  h('th', { scope: 'row' }, heldPlanning(p.planning)?.token ? h('a', { href: `#/p/${p.planning}` }, p.title) : p.title),
                  h('td', {}, p.phase || 'draft'),
                  h('td', {}, p.committed_points == null ? '—' : pts(p.committed_points)),
                  h('td', {}, p.focused_days == null ? '—' : pts(p.focused_days)),
                  h('td', {}, p.committed_points != null && Number(p.focused_days) > 0 ? pts(p.committed_points / p.focused_days) : '—'),
                ),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No planning yet.'),
    );
  }

  function nextPlanning(t) {
    const title = h('input', { id: 'next-title', required: true, maxlength: MAX_LEN.title, autocomplete: 'off', value: `${t.name} sprint ${t.plannings.length + 1}` });
    const name = h('input', { id: 'next-name', required: true, maxlength: MAX_LEN.name, autocomplete: 'name' });
    const carry = h('input', { id: 'next-carry', type: 'checkbox', checked: true });
    const error = h('p', { class: 'error', role: 'alert' });
    const out = h('div', { id: 'next-created' });
    const last = t.plannings[t.plannings.length - 1];
    return h(
      'form',
      {
        class: 'card',
        'aria-labelledby': 'next-h',
        onsubmit: async (ev) => {
          ev.preventDefault();
          error.textContent = '';
          try {
            const r = await api.createTeamPlanning(id, held.token, { title: title.value.trim(), name: name.value.trim(), carry_over: carry.checked });
            rememberPlanning({ planning: r.planning, token: r.token, role: r.role, name: name.value.trim(), title: title.value.trim() });
            // My own time zone, as on the Start screen (the browser's).
            await api.command(r.planning, r.token, `zone-${r.planning}`, { type: 'SetTimeZone', time_zone: browserZone() }).catch(() => {});
            out.replaceChildren(
              h('h3', { tabindex: '-1', id: 'next-created-h' }, 'Planning created'),
              h('p', { id: 'next-summary' }, `${r.carried_over.length} item${r.carried_over.length === 1 ? '' : 's'} carried over · velocity ${r.velocity == null ? 'not set' : `${pts(r.velocity)} points per focused day`}`),
              h('h4', {}, 'Invite links for the roster'),
              h('ul', { class: 'mine' }, r.roster.map((p, i) => h('li', {}, copyRow(`${p.name} (${p.role})`, p.link, `team-link-${i}`)))),
              h('p', {}, h('a', { class: 'button', href: `#/p/${r.planning}`, id: 'open-next' }, 'Open the board')),
            );
            out.querySelector('#next-created-h').focus();
          } catch (e) {
            error.textContent = errorText(e);
          }
        },
      },
      h('h2', { id: 'next-h' }, 'Start the next planning'),
      h('label', { for: 'next-title' }, 'Title'),
      title,
      h('label', { for: 'next-name' }, 'Your name (you facilitate)'),
      name,
      h('label', { class: 'check' }, carry, last?.phase === 'committed' ? ` Carry over what “${last.title}” did not commit` : ' Carry over unfinished items (once the last planning is committed)'),
      h('button', { type: 'submit', id: 'start-next' }, 'Create the planning'),
      error,
      out,
    );
  }

  function rosterCard(t) {
    const editor = rosterEditor('team-roster', t.roster);
    const status = h('p', { role: 'status', class: 'hint' });
    return h(
      'form',
      {
        class: 'card',
        'aria-labelledby': 'team-roster-h',
        id: 'team-roster-form',
        onsubmit: async (ev) => {
          ev.preventDefault();
          status.textContent = '';
          try {
            await api.setRoster(id, held.token, editor.value());
            await load();
            body.querySelector('#team-roster-form [role=status]').textContent = 'Roster saved. Plannings created from now on invite it.';
          } catch (e) {
            status.textContent = errorText(e);
            status.className = 'error';
          }
        },
      },
      h('h2', { id: 'team-roster-h' }, `Roster (${t.roster.length})`),
      editor,
      h('button', { type: 'submit', id: 'save-roster' }, 'Save the roster'),
      status,
    );
  }

  function adminCard() {
    return h(
      'details',
      { class: 'card' },
      h('summary', {}, 'Team admin token'),
      h('p', { class: 'hint' }, 'Whoever holds it can change the roster and start plannings. Keep it private; open this team in another browser with it.'),
      copyRow('Admin token', held.token, 'team-admin-copy'),
    );
  }
}

/** `#/teams` and `#/teams/<id>`; returns nothing to tear down. */
export function teamsScreen(app, id) {
  if (id) teamPage(app, id);
  else teamsList(app);
  return null;
}
