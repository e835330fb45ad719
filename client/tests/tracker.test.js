// The facilitator's tracker panel against a fake Jira Cloud on loopback (the server runs with
// `--tracker-allow 127.0.0.1`): connect (the token is sent once and never on the page again),
// check the connection, preview and import issues by JQL (a second preview skips what is in the
// backlog), write the agreed estimates back and follow each write-back to `verified`, or to
// `failed` with the tracker's own words.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { axe } from './a11y.js';

const browser = chromiumForFile();
const problems = [];
after(() => assert.deepEqual(problems, []));

const FIELD = 'customfield_10016';
const EMAIL = 'bot@acme.example';
const TOKEN = 'jira-api-token-0123456789';

/** A Jira Cloud with three issues; PRJ-3's story points field refuses every value. */
function fakeJira() {
  const issues = new Map([
    ['PRJ-1', { summary: 'Login with SSO', points: null }],
    ['PRJ-2', { summary: 'Export CSV', points: null }],
    ['PRJ-3', { summary: 'Audit log', points: null }],
  ]);
  const auth = `Basic ${Buffer.from(`${EMAIL}:${TOKEN}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const send = (status, json) => {
        res.writeHead(status, json ? { 'content-type': 'application/json' } : {});
        res.end(json ? JSON.stringify(json) : undefined);
      };
      if (req.headers.authorization !== auth) return send(401, { errorMessages: ['You are not authenticated.'] });
      const url = new URL(req.url, 'http://x');
      const key = url.pathname.match(/^\/rest\/api\/3\/issue\/([A-Z]+-\d+)$/)?.[1];
      if (req.method === 'GET' && url.pathname === '/rest/api/3/myself') return send(200, { displayName: 'Sprint Bot' });
      if (req.method === 'POST' && url.pathname === '/rest/api/3/search/jql') {
        const list = [...issues].map(([k, i], n) => ({ id: String(10001 + n), key: k, fields: { summary: i.summary, labels: [] } }));
        return send(200, { issues: list, isLast: true });
      }
      if (key && issues.has(key) && req.method === 'PUT') {
        const v = JSON.parse(body || '{}').fields?.[FIELD];
        if (key === 'PRJ-3') return send(400, { errorMessages: [], errors: { [FIELD]: 'Field is not on the screen.' } });
        issues.get(key).points = v;
        return send(204);
      }
      if (key && issues.has(key) && req.method === 'GET') return send(200, { key, fields: { [FIELD]: issues.get(key).points } });
      return send(404, { errorMessages: ['Issue does not exist'] });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, issues, site: `http://127.0.0.1:${server.address().port}` })));
}

test('tracker panel: connect, check, preview and import by JQL, write estimates back and see each verified or failed', async () => {
  const jira = await fakeJira();
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 12', name: 'Fran' } });
  const ann = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin' });
  const page = watch(await ctx.newPage(), 'Fran', problems);
  await page.goto(`${BASE}/#/p/${c.planning}?token=${c.token}`);
  await page.locator('#conn[data-state="online"]').waitFor();

  // Connect: the fields follow the kind; the token goes to the server once.
  await page.locator('#import > summary').click();
  await page.locator('#tracker > summary').click();
  await page.getByLabel('Tracker', { exact: true }).selectOption('github');
  await page.getByLabel('Repository').waitFor();
  await page.getByLabel('Tracker', { exact: true }).selectOption('jira-cloud');
  await page.getByLabel('Site').fill(jira.site);
  await page.getByLabel('Story points field').fill(FIELD);
  await page.getByLabel('Account email').fill(EMAIL);
  await page.getByLabel('API token').fill(TOKEN);
  await page.locator('#trk-connect').click();
  await page.locator('#trk-conn').getByText(`Jira Cloud · ${jira.site} · field ${FIELD} · credential stored`).waitFor();
  assert.ok(!(await page.content()).includes(TOKEN), 'the token is nowhere on the page once connected');

  await page.locator('#trk-test').click();
  await page.locator('#trk-status').getByText('The connection works: Sprint Bot.').waitFor();

  // Import by JQL: a preview first, nothing written; then the import; then nothing new.
  await page.getByLabel('JQL').fill('project = PRJ');
  await page.locator('#trk-preview').click();
  await page.locator('#trk-summary').getByText('3 issues fetched: 3 new.').waitFor();
  assert.equal(Object.keys((await rest('GET', `/api/plannings/${c.planning}`, { token: c.token })).state.items).length, 0, 'a preview writes nothing');
  await page.screenshot({ path: `${SHOTS}/tracker-preview.png`, fullPage: true });
  await page.locator('#trk-import').click();
  await page.locator('#trk-status').getByText('Imported 3 items.').waitFor();
  for (const t of ['Login with SSO', 'Export CSV', 'Audit log']) await page.locator('#items .item-title', { hasText: t }).waitFor();
  await page.locator('#items .item-title', { hasText: 'Login with SSO' }).click();
  await page.getByText('imported by Fran from Jira Cloud').waitFor();
  await page.locator('#trk-preview').click();
  await page.locator('#trk-summary').getByText('3 issues fetched: 0 new, 3 already in the backlog (not imported again).').waitFor();
  assert.equal(await page.locator('#trk-import').count(), 0, 'nothing to import');

  // Agreed estimates, written back: two verified by reading the issue back, one refused.
  const st = (await rest('GET', `/api/plannings/${c.planning}`, { token: c.token })).state;
  const id = (key) => Object.values(st.items).find((i) => i.draft.external_key === key).id;
  await command(c.planning, c.token, { type: 'ChangePhase', to: 'async' });
  await command(c.planning, c.token, { type: 'OpenRound', items: ['PRJ-1', 'PRJ-2', 'PRJ-3'].map(id) });
  const round = (await rest('GET', `/api/plannings/${c.planning}`, { token: c.token })).state.round_order[0];
  for (const [key, card] of [['PRJ-1', '3'], ['PRJ-2', '5'], ['PRJ-3', '8']]) await command(c.planning, ann.token, { type: 'CastVote', round, item: id(key), card });
  await command(c.planning, c.token, { type: 'AgreeEstimates', estimates: [['PRJ-1', '3'], ['PRJ-2', '5'], ['PRJ-3', '8']].map(([k, card]) => ({ item: id(k), card })) });
  await page.locator('#trk-writeback').click();
  await page.locator('#trk-status').getByText('Writing 3 estimates back.').waitFor();
  const stateOf = (key) => page.locator(`#trk-writes tr[data-issue="${key}"]`).getAttribute('data-state');
  for (let i = 0; i < 50; i++) {
    const states = await Promise.all(['PRJ-1', 'PRJ-2', 'PRJ-3'].map((k) => stateOf(k).catch(() => null)));
    if (states.join() === 'verified,verified,failed') break;
    await page.waitForTimeout(200);
    await page.locator('#trk-refresh').click();
  }
  assert.equal(await stateOf('PRJ-1'), 'verified');
  assert.equal(await stateOf('PRJ-2'), 'verified');
  assert.equal(await stateOf('PRJ-3'), 'failed');
  await page.locator('#trk-writes tr[data-issue="PRJ-3"]').getByText('Field is not on the screen.').waitFor();
  assert.deepEqual([jira.issues.get('PRJ-1').points, jira.issues.get('PRJ-2').points], [3, 5], 'the tracker holds the agreed points');
  await page.screenshot({ path: `${SHOTS}/tracker-writeback.png`, fullPage: true });

  // A member reads where each estimate stands in the tracker in the item's details.
  const annCtx = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/Los_Angeles' });
  const annPage = watch(await annCtx.newPage(), 'Ann', problems);
  await annPage.goto(`${BASE}/#/p/${c.planning}?token=${ann.token}`);
  await annPage.locator('#conn[data-state="online"]').waitFor();
  await annPage.locator('#items .item-title', { hasText: 'Login with SSO' }).click();
  await annPage.locator('#item-writeback[data-state="verified"]').getByText('Estimate 3 written back to Jira Cloud and read back.').waitFor();
  await annPage.locator('#items .item-title', { hasText: 'Audit log' }).click();
  await annPage.locator('#item-writeback[data-state="failed"]').getByText(/^Estimate 8 could not be written to Jira Cloud: .*Field is not on the screen\.$/).waitFor();
  await annPage.screenshot({ path: `${SHOTS}/tracker-member-item.png`, fullPage: true });
  await annCtx.close();
  assert.deepEqual(await axe(page), [], 'axe on the board with the tracker panel open');

  // At a phone's width, dark: the panel fits the screen (no sideways scroll) and still passes axe.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.locator('#trk-writes').scrollIntoViewIfNeeded();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= 390), 'no sideways scroll at 390 px');
  const [table, panel] = await Promise.all(['#trk-writes', '#tracker'].map((sel) => page.locator(sel).boundingBox()));
  assert.ok(table.x + table.width <= panel.x + panel.width + 0.5, `the write-back table stays within its panel: ${JSON.stringify([table, panel])}`);
  await page.locator('#tracker').screenshot({ path: `${SHOTS}/tracker-writeback-390-dark.png` });
  assert.deepEqual(await axe(page), [], 'axe at 390 px, dark');

  // Forget: the connection and its credential are gone; the form is back.
  await page.locator('#trk-forget').click();
  await page.locator('#trk-status').getByText('The connection and its credential are deleted.').waitFor();
  await page.getByLabel('API token').waitFor();
  await ctx.close();
  jira.server.close();
});
