// The browser's defences, in Chromium: the client runs under the server's Content-Security-Policy
// (every main view walked, no violation reported), and a personal link for someone else does
// not silently replace the identity this browser holds for a planning (it asks first).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, chromiumForFile, watch, rest, command } from './helpers.js';

const browser = chromiumForFile();

/** Collects CSP violations of `page`: the DOM event (before any script of the page) and the console. */
async function watchCsp(page, violations) {
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'} ${e.sample || ''}`);
    });
  });
  page.on('console', (msg) => {
    if (msg.text().includes('Refused to')) violations.push(`console: ${msg.text()}`);
  });
}

async function reported(page, violations) {
  const seen = await page.evaluate(() => window.cspViolations || []);
  return [...violations, ...seen];
}

test('CSP: the main views run without a violation', async () => {
  const problems = [];
  const violations = [];
  // A planning with something in every view: a goal, items, capacity (its bar), votes revealed
  // live (the card table's flip), a timeline with chapters (its ticks), a team.
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint CSP', name: 'Fran' } });
  const ann = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const bob = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Bob' } });
  const fran = (cmd) => command(c.planning, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  await fran({ type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  await fran({ type: 'SetVelocity', points_per_day: 1 });
  await command(c.planning, ann.token, { type: 'DeclareCapacity', available_days: 6, focus_factor: 1 });
  let view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const login = Object.values(view.state.items)[0].id;
  await fran({ type: 'OpenRound', items: [login] });
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const round = view.state.round_order[0];
  await command(c.planning, ann.token, { type: 'CastVote', round, item: login, card: '3' });
  await command(c.planning, bob.token, { type: 'CastVote', round, item: login, card: '13' });
  await rest('POST', '/api/teams', { body: { name: 'Team CSP', roster: [{ name: 'Ann' }] } });

  const ctx = await browser.newContext();
  const page = watch(await ctx.newPage(), 'Fran', problems);
  await watchCsp(page, violations);
  const start = await page.goto(`${BASE}/`);
  const csp = start.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /style-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.equal(start.headers()['x-frame-options'], 'DENY');
  assert.equal(start.headers()['referrer-policy'], 'no-referrer');
  await page.locator('#title').waitFor();

  await page.goto(`${BASE}/#/join/${c.planning}?invite=${c.member_invite}`);
  await page.locator('#app input').first().waitFor();
  await page.goto(`${BASE}/#/teams`);
  await page.locator('#app h1').first().waitFor();

  await page.goto(c.links.facilitator.replace('?token=', '/live?token='));
  await page.locator('#conn[data-state="online"]').waitFor();
  await page.locator('#tab-live[aria-current="page"]').waitFor();
  await page.locator('#capbar .fill').waitFor({ state: 'attached' });
  await page.locator('#start-sync').click();
  await page.locator('#reveal').click();
  await page.locator('#card-table.revealed').waitFor();
  await page.locator('#distribution').waitFor();
  for (const tab of ['board', 'time', 'timeline', 'audit']) {
    await page.locator(`#tab-${tab}`).click();
    await page.locator(`#tab-${tab}[aria-current="page"]`).waitFor();
    await page.locator('#view > *').first().waitFor();
  }
  await page.locator('#tab-timeline').click();
  await page.locator('#view .tick').first().waitFor({ state: 'attached' });
  // The styles the client sets itself were applied (through the CSSOM, which CSP allows).
  const left = await page.locator('#view .tick').last().evaluate((e) => e.style.left);
  assert.match(left, /%$/, 'the tick is placed');
  await page.locator('#tab-live').click();
  const width = await page.locator('#capbar .fill').evaluate((e) => e.style.width);
  assert.match(width, /%$/, 'the capacity bar is drawn');

  assert.deepEqual(await reported(page, violations), [], 'no CSP violation');
  assert.deepEqual(problems, [], 'no console error');

  // The watch itself: an inline style attribute is refused and seen.
  await page.evaluate(() => document.body.setAttribute('style', 'color: red'));
  await page.waitForFunction(() => window.cspViolations.length > 0);
  assert.match((await reported(page, violations)).join('\n'), /style-src/);
  await ctx.close();
});

test('a link for someone else asks before it replaces who this browser is', async () => {
  const problems = [];
  const c = await rest('POST', '/api/plannings', { body: { title: 'Two people', name: 'Fran' } });
  const ann = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const bob = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Bob' } });
  const ctx = await browser.newContext();
  const page = watch(await ctx.newPage(), 'browser', problems);
  const held = () => page.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, c.planning);
  const meta = page.locator('#planning-title + .meta');

  // Ann's link: nothing held yet, no question.
  await page.goto(`${BASE}/#/p/${c.planning}?token=${ann.token}`);
  await meta.getByText('You are Ann (member)').waitFor();
  assert.equal(await page.locator('#identity-dialog').count(), 0);
  assert.equal(await held(), ann.token);
  assert.doesNotMatch(page.url(), /token=/, 'the token leaves the address bar');

  // Ann's link again (the same token): no question either.
  await page.goto(`${BASE}/#/p/${c.planning}/timeline?token=${ann.token}`);
  await page.locator('#tab-timeline[aria-current="page"]').waitFor();
  assert.equal(await page.locator('#identity-dialog').count(), 0);

  // Bob's link: asked, in a modal dialog named by its heading; Ann stays when she says so.
  await page.goto(`${BASE}/#/p/${c.planning}?token=${bob.token}`);
  const dialog = page.getByRole('dialog', { name: 'This link is for another participant' });
  await dialog.waitFor();
  await dialog.getByText('Bob').waitFor();
  assert.match(await dialog.innerText(), /this browser is Ann/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'identity-keep', 'focus on the safe choice');
  assert.doesNotMatch(page.url(), /token=/);
  await dialog.getByRole('button', { name: 'Stay as Ann' }).click();
  await meta.getByText('You are Ann (member)').waitFor();
  assert.equal(await page.locator('#identity-dialog').count(), 0);
  assert.equal(await held(), ann.token, 'Ann kept');

  // Escape keeps Ann as well.
  await page.goto(`${BASE}/#/p/${c.planning}/time?token=${bob.token}`);
  await dialog.waitFor();
  await page.keyboard.press('Escape');
  await page.locator('#identity-dialog').waitFor({ state: 'detached' });
  await meta.getByText('You are Ann (member)').waitFor();
  assert.equal(await held(), ann.token);

  // Bob's link, and this time the link is used: Bob from now on, Ann's name forgotten here.
  await page.goto(`${BASE}/#/p/${c.planning}?token=${bob.token}`);
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Use the link' }).click();
  await meta.getByText('You are Bob (member)').waitFor();
  assert.equal(await held(), bob.token, 'Bob now');
  const entry = await page.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p), c.planning);
  assert.equal(entry.name, 'Bob');

  assert.deepEqual(problems, []);
  await ctx.close();
});
