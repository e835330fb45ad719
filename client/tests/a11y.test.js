// Every view through axe-core (npm), light and dark, at 1280 px and 390 px: no serious or
// critical violation. The planning is set up over REST with a revealed round, a running live
// session and comments, so each view shows its real content, not its empty state; a team too.
// Besides the views, the states opened in them: the import preview, an item's edit form, the
// round-deadline dialog and the keyboard help.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { axe } from './a11y.js';
const browser = chromiumForFile();
const problems = [];

async function planning() {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 11', name: 'Fran' } });
  const p = c.planning;
  const ann = await rest('POST', `/api/plannings/${p}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const bo = await rest('POST', `/api/plannings/${p}/join`, { body: { invite: c.member_invite, name: 'Bo' } });
  const fran = (cmd) => command(p, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  const day = Math.floor(Date.now() / 86400e3 + 10) * 86400e6;
  await fran({ type: 'SetSchedule', schedule: { sprint_start: day, sprint_end: day + 14 * 86400e6 - 1 } });
  await command(p, ann.token, { type: 'SetTimeZone', time_zone: 'America/Los_Angeles', work_start_minute: 480, work_end_minute: 990, work_days: ['mon', 'tue', 'wed', 'thu', 'fri'] });
  for (const title of ['Login with SSO', 'Export CSV']) await fran({ type: 'ProposeItem', draft: { title, description: 'So that people sign in once.', acceptance_criteria: ['works'] } });
  let view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const [a, b] = view.state.rank;
  await command(p, ann.token, { type: 'PostComment', item: a, kind: 'question', text: 'Which identity providers?', addressee: c.participant });
  await fran({ type: 'OpenRound', items: [a, b] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const round = view.state.round_order[0];
  for (const [who, cards] of [[ann, ['1', '3']], [bo, ['13', '3']]]) {
    await command(p, who.token, { type: 'CastVote', round, item: a, card: cards[0] });
    await command(p, who.token, { type: 'CastVote', round, item: b, card: cards[1] });
  }
  await fran({ type: 'StartSync' });
  await fran({ type: 'RevealVotes', round, item: a });
  const team = await rest('POST', '/api/teams', { body: { name: 'Core', roster: [{ name: 'Ada', time_zone: 'Europe/Berlin' }, { name: 'Cy', role: 'observer' }] } });
  // A planning still in its async review, where opening a round asks for the deadline.
  const c2 = await rest('POST', '/api/plannings', { body: { title: 'Sprint 12', name: 'Fran' } });
  await command(c2.planning, c2.token, { type: 'ChangePhase', to: 'async' });
  await command(c2.planning, c2.token, { type: 'ProposeItem', draft: { title: 'Search', acceptance_criteria: ['works'] } });
  return { c, c2, ann, team };
}

/** Opens a state of the board that axe should see too. */
const STATES = {
  async 'import-preview'(page) {
    await page.locator('#import > summary').click();
    await page.locator('#import-text').fill('title,key\nLogin,PRJ-1\n,PRJ-2\n');
    await page.locator('#import-preview').click();
    await page.locator('#import-result tr.bad').waitFor();
  },
  async 'item-edit'(page) {
    await page.locator('#item-details #edit-item').click();
    await page.locator('#edit-title').waitFor();
  },
  async 'round-deadline'(page) {
    await page.getByLabel('Select Search for a round').check();
    await page.locator('#open-round').click();
    await page.locator('dialog.deadline-dialog').waitFor();
  },
  async 'keys-help'(page) {
    await page.locator('#key-help-open').click();
    await page.locator('#key-help').waitFor();
  },
};

test('axe-core: no serious or critical violation on any view, light and dark, wide and narrow', async () => {
  const { c, c2, ann, team } = await planning();
  const fac = c.links.facilitator;
  const views = [
    ['start', `${BASE}/#/`],
    ['board', c.links.facilitator],
    ['live', c.links.facilitator.replace('?token=', '/live?token=')],
    ['member-live', `${BASE}/#/p/${c.planning}/live?token=${ann.token}`],
    ['timeline', c.links.facilitator.replace('?token=', '/timeline?token=')],
    ['audit', c.links.facilitator.replace('?token=', '/audit?token=')],
    ['time', fac.replace('?token=', '/time?token=')],
    ['teams', `${BASE}/#/teams`],
    ['team', `${BASE}/#/teams/${team.team}`],
    ['import-preview', fac],
    ['item-edit', fac],
    ['round-deadline', c2.links.facilitator],
    ['keys-help', fac.replace('?token=', '/live?token=')],
  ];
  const found = [];
  for (const scheme of ['light', 'dark']) {
    for (const width of [1280, 390]) {
      // bypassCSP: axe-core is injected as an inline script, which the page's policy refuses
      // (defences.test.js walks the views under the policy).
      const ctx = await browser.newContext({ colorScheme: scheme, viewport: { width, height: 900 }, bypassCSP: true });
      await ctx.addInitScript((t) => localStorage.setItem('sprintlog.teams', JSON.stringify([t])), { team: team.team, name: 'Core', token: team.admin_token });
      const page = watch(await ctx.newPage(), `${scheme} ${width}`, problems);
      for (const [name, url] of views) {
        await page.goto(url);
        if (!['start', 'teams', 'team'].includes(name)) await page.locator('#conn[data-state="online"]').waitFor();
        await page.locator('main h1, main h2').first().waitFor();
        if (name === 'audit') await page.locator('#audit-items, .error').first().waitFor();
        if (name === 'team') await page.locator('#team-title').waitFor();
        if (name === 'time') await page.locator('#people-table').waitFor();
        if (STATES[name]) await STATES[name](page);
        for (const v of await axe(page)) found.push({ view: name, scheme, width, ...v });
        if (width === 1280 && (name === 'board' || name === 'live' || name === 'time' || name === 'team')) await page.screenshot({ path: `${SHOTS}/a11y-${name}-${scheme}.png` });
      }
      await ctx.close();
    }
  }
  assert.deepEqual(found, [], 'no serious or critical axe violation');
  assert.deepEqual(problems, []);
});
