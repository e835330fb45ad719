// Teams from the UI: create a team with its roster, start its first planning (the roster's
// invite links), see what it committed and the velocity it gives, change the roster, start the
// next planning with carry-over and that velocity. The first planning's estimation itself is
// played over REST (other tests cover it in the browser).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch as watchInto, rest, command } from './helpers.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);

test('teams: create with a roster, plan, commit, see the velocity, next planning with carry-over', async () => {
  const ctx = await browser.newContext({ timezoneId: 'Europe/Berlin', locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const a = watch(await ctx.newPage(), 'Fran');
  await a.goto(`${BASE}/`);
  await a.locator('details.team summary').click();
  await a.locator('#teams-link').click();
  await a.locator('#create-team').waitFor();
  // The header's "Teams" link leads there from anywhere.
  await a.locator('a.brand').click();
  await a.locator('#nav-teams').click();

  // A team with three people (rows added with "Add a person").
  await a.getByLabel('Team name').fill('Core');
  await a.getByLabel('Name of person 1').fill('Ada');
  await a.getByLabel('Time zone of person 1').fill('Europe/Berlin');
  await a.locator('#new-roster-add').click();
  await a.getByLabel('Name of person 2').fill('Bo');
  await a.getByLabel('Time zone of person 2').fill('America/New_York');
  await a.locator('#new-roster-add').click();
  await a.getByLabel('Name of person 3').fill('Cy');
  await a.getByLabel('Role of person 3').selectOption('observer');
  await a.locator('#create-team').click();
  await a.locator('#team-title').getByText('Core').waitFor();
  const team = a.url().match(/#\/teams\/([0-9a-f-]+)/)[1];
  const admin = await a.evaluate((t) => JSON.parse(localStorage.getItem('sprintlog.teams')).find((x) => x.team === t).token, team);
  const stored = await rest('GET', `/api/teams/${team}`, { token: admin });
  assert.deepEqual(
    stored.roster.map((r) => [r.name, r.role, r.time_zone]),
    [['Ada', 'member', 'Europe/Berlin'], ['Bo', 'member', 'America/New_York'], ['Cy', 'observer', null]],
  );
  await a.locator('#team-velocity').getByText('No committed sprint yet').waitFor();

  // The first planning: the roster's invite links.
  await a.getByLabel('Your name (you facilitate)').fill('Fran');
  await a.locator('#start-next').click();
  await a.locator('#next-summary').getByText('0 items carried over · velocity not set').waitFor();
  const links = [];
  for (let i = 0; i < 3; i += 1) links.push(await a.locator(`#team-link-${i}`).inputValue());
  assert.match(links[0], /#\/join\/[0-9a-f-]+\?invite=/);
  assert.equal(links[0], links[1], 'members share the member invite');
  assert.notEqual(links[0], links[2], 'the observer gets the observer invite');
  await a.locator('#open-next').click();
  await a.locator('#conn[data-state="online"]').waitFor();
  const p1 = a.url().match(/#\/p\/([0-9a-f-]+)/)[1];
  const fac = await a.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, p1);

  // Ada and Bo join with their links (Ada in the browser); 8 of 16 points get committed.
  const adaCtx = await browser.newContext({ timezoneId: 'Europe/Berlin', locale: 'en-US' });
  const ada = watch(await adaCtx.newPage(), 'Ada');
  await ada.goto(links[0]);
  await ada.getByLabel('Your name').fill('Ada');
  await ada.getByRole('button', { name: 'Join' }).click();
  await ada.locator('#conn[data-state="online"]').waitFor();
  const adaToken = await ada.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, p1);
  const bo = await rest('POST', `/api/plannings/${p1}/join`, { body: { invite: new URL(links[1]).hash.split('invite=')[1], name: 'Bo' } });
  for (const title of ['Login', 'Search', 'Reports']) await command(p1, fac, { type: 'ProposeItem', draft: { title, acceptance_criteria: ['works'] } });
  let st = (await rest('GET', `/api/plannings/${p1}`, { token: fac })).state;
  const ids = ['Login', 'Search', 'Reports'].map((t) => Object.values(st.items).find((i) => i.draft.title === t).id);
  await command(p1, fac, { type: 'ChangePhase', to: 'async' });
  for (const tok of [adaToken, bo.token]) await command(p1, tok, { type: 'DeclareCapacity', available_days: 5, focus_factor: 0.8 });
  await command(p1, fac, { type: 'DeclareCapacity', available_days: 3, focus_factor: 0.5 });
  await command(p1, fac, { type: 'SetVelocity', points_per_day: 1 });
  await command(p1, fac, { type: 'DraftGoal', text: 'Ship login' });
  await command(p1, fac, { type: 'OpenRound', items: ids, deadline: (Date.now() + 3600e3) * 1000 });
  st = (await rest('GET', `/api/plannings/${p1}`, { token: fac })).state;
  for (const tok of [adaToken, bo.token]) {
    for (const [i, card] of [[0, '3'], [1, '5'], [2, '8']]) await command(p1, tok, { type: 'CastVote', round: st.round_order[0], item: ids[i], card });
  }
  await command(p1, fac, { type: 'AgreeEstimates', estimates: [{ item: ids[0], card: '3' }, { item: ids[1], card: '5' }, { item: ids[2], card: '8' }] });
  await command(p1, fac, { type: 'CommitScope', items: [ids[0], ids[1]] });
  await a.locator('#phase').getByText('committed').waitFor();

  // The team page: what the sprint committed, its focused days and the velocity it gives.
  await a.goto(`${BASE}/#/teams/${team}`);
  const row = a.locator('#team-plannings tr', { hasText: 'Core sprint 1' });
  await row.getByText('committed').waitFor();
  assert.deepEqual(await row.locator('td').allInnerTexts(), ['committed', '8', '9.5', '0.84']);
  await a.locator('#team-velocity-value').getByText('0.84').waitFor();
  await a.screenshot({ path: `${SHOTS}/team.png`, fullPage: true });

  // The roster changes: Dee joins the team, Bo leaves it.
  await a.locator('#team-roster-add').click();
  await a.getByLabel('Name of person 4').fill('Dee');
  await a.getByRole('button', { name: 'Remove person 2 from the roster' }).click();
  await a.locator('#save-roster').click();
  // Saved (the count alone was 3 before the change too).
  await a.locator('#team-roster-form').getByText('Roster saved.').waitFor();
  await a.locator('#team-roster-h').getByText('Roster (3)').waitFor();
  assert.deepEqual((await rest('GET', `/api/teams/${team}`, { token: admin })).roster.map((r) => r.name), ['Ada', 'Cy', 'Dee']);

  // The next planning: "Reports" carried over, the velocity set, four invite links.
  assert.equal(await a.locator('#next-title').inputValue(), 'Core sprint 2');
  await a.getByLabel('Your name (you facilitate)').fill('Fran');
  assert.ok(await a.locator('#next-carry').isChecked());
  await a.locator('#next-h ~ label.check').getByText('Carry over what “Core sprint 1” did not commit').waitFor();
  await a.locator('#start-next').click();
  await a.locator('#next-summary').getByText('1 item carried over · velocity 0.84 points per focused day').waitFor();
  assert.equal(await a.locator('#next-created li').count(), 3);
  await a.locator('#next-created').getByText('Dee (member)').waitFor();
  await a.screenshot({ path: `${SHOTS}/team-next.png`, fullPage: true });
  await a.locator('#open-next').click();
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#items').getByText('Reports').waitFor();
  await a.locator('#team-capacity').getByText('velocity 0.84 points per focused day').waitFor();
  const p2 = a.url().match(/#\/p\/([0-9a-f-]+)/)[1];
  assert.notEqual(p2, p1);

  // The start screen offers the team held in this browser.
  await a.goto(`${BASE}/`);
  await a.locator('details.team summary').click();
  await a.getByLabel('One of your teams').selectOption({ label: 'Core' });
  assert.equal(await a.getByLabel('Team id').inputValue(), team);

  assert.deepEqual(problems, [], 'no console errors');
  await adaCtx.close();
  await ctx.close();
});
