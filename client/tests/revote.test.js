// A flagged item re-voted live until it converges: its status follows the latest round (the
// converged proposal, then the agreed estimate), the old flag shows only as history, and the
// facilitator gets one button per intent ("Vote again", never "Vote on it now" beside it).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { axe } from './a11y.js';

const browser = chromiumForFile();
/** A link the server made, at the address the tests reach it by. */
const at = (link) => link.replace(/^https?:\/\/[^/]+/, BASE);
const problems = [];

after(() => assert.deepEqual(problems, []));

/** The labels of the facilitator's buttons on the focused item. */
const buttons = (page) => page.locator('#focus-actions button').allInnerTexts();

test('flag, then a live re-vote that converges: status, history and one action per intent', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 5', name: 'Fran' } });
  const join = (name) => rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name } });
  const [ann, bob] = [await join('Ann'), await join('Bob')];
  const fran = (cmd) => command(c.planning, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  let view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const login = view.state.rank[0];
  await fran({ type: 'OpenRound', items: [login] });
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const first = view.state.round_order[0];
  await command(c.planning, ann.token, { type: 'CastVote', round: first, item: login, card: '1' });
  await command(c.planning, bob.token, { type: 'CastVote', round: first, item: login, card: '13' });

  const franCtx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin' });
  const a = watch(await franCtx.newPage(), 'Fran', problems);
  await a.goto(at(c.links.facilitator).replace('?token=', '/live?token='));
  await a.locator('#conn[data-state="online"]').waitFor();
  const annCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'America/Los_Angeles', colorScheme: 'dark' });
  const b = watch(await annCtx.newPage(), 'Ann', problems);
  await b.goto(`${BASE}/#/p/${c.planning}/live?token=${ann.token}`);
  await b.locator('#conn[data-state="online"]').waitFor();

  // Flagged: the votes are far apart; revealed, the facilitator may vote again — once.
  await a.locator('#start-sync').click();
  await a.locator('#live-item .flag-now').getByText('Flagged: the votes are far apart').waitFor();
  await a.locator('#reveal').click();
  await a.locator('#revealed-status').getByText('Revealed · median 1–13 · the votes are far apart').waitFor();
  assert.deepEqual((await buttons(a)).filter((t) => /vote/i.test(t)), ['Vote again'], 'one button to vote again');

  // The live re-vote converges on 5.
  await a.locator('#revote').click();
  await b.locator('#live-item .deck .vcard').first().waitFor();
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const second = view.state.round_order[1];
  await command(c.planning, ann.token, { type: 'CastVote', round: second, item: login, card: '5' });
  await command(c.planning, bob.token, { type: 'CastVote', round: second, item: login, card: '5' });
  for (const page of [a, b]) {
    await page.locator('#revealed-status').getByText('Revealed · the votes converged: 5 proposed').waitFor();
    assert.equal(await page.locator('#live-item .flag-now').count(), 0, 'no standing flag after the converged re-vote');
    assert.equal(await page.locator('#live-item .flag-past').innerText(), 'Flagged earlier: the votes were far apart; the latest round converged.');
    assert.ok(!(await page.locator('#live-item').innerText()).includes('Flagged: the votes are far apart'));
    await page.locator('#agenda li', { hasText: 'Login with SSO' }).getByText('— flagged earlier: the votes were far apart').waitFor();
  }
  const labels = await buttons(a);
  assert.deepEqual(labels.filter((t) => /vote/i.test(t)), ['Vote again'], `one button per intent: ${labels}`);
  assert.equal(await a.locator('#agree-card').inputValue(), '5');
  await a.screenshot({ path: `${SHOTS}/revote-converged.png`, fullPage: true });
  await b.screenshot({ path: `${SHOTS}/revote-converged-phone.png`, fullPage: true });
  assert.deepEqual(await axe(a), [], 'axe on the live view after the re-vote');
  assert.deepEqual(await axe(b), [], 'axe on the member’s live view (390 px, dark)');

  // The board agrees: no flag badge, the flag as history, not under "Flagged".
  await b.locator('#tab-board').click();
  const row = b.locator('#items .item', { hasText: 'Login with SSO' });
  await row.locator('.badge.flag-past', { hasText: 'flagged earlier' }).waitFor();
  assert.equal(await row.locator('.badge.flag').count(), 0);
  await b.locator('#filter-flagged').click();
  await b.locator('#items .item').first().waitFor({ state: 'detached' });

  // Agreed: the status says so.
  await a.locator('#agree').click();
  await a.locator('#revealed-status').getByText('Revealed · agreed 5').waitFor();
  await a.locator('#agreed').getByText('5').waitFor();
  await franCtx.close();
  await annCtx.close();
});
