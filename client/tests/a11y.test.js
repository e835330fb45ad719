// Every view through axe-core (npm), light and dark, at 1280 px and 390 px: no serious or
// critical violation. The planning is set up over REST with a revealed round, a running live
// session and comments, so each view shows its real content, not its empty state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');
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
  return { c, ann };
}

async function axe(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

test('axe-core: no serious or critical violation on any view, light and dark, wide and narrow', async () => {
  const { c, ann } = await planning();
  const views = [
    ['start', `${BASE}/#/`],
    ['board', c.links.facilitator],
    ['live', c.links.facilitator.replace('?token=', '/live?token=')],
    ['member-live', `${BASE}/#/p/${c.planning}/live?token=${ann.token}`],
    ['timeline', c.links.facilitator.replace('?token=', '/timeline?token=')],
    ['audit', c.links.facilitator.replace('?token=', '/audit?token=')],
  ];
  const found = [];
  for (const scheme of ['light', 'dark']) {
    for (const width of [1280, 390]) {
      const ctx = await browser.newContext({ colorScheme: scheme, viewport: { width, height: 900 } });
      const page = watch(await ctx.newPage(), `${scheme} ${width}`, problems);
      for (const [name, url] of views) {
        await page.goto(url);
        if (name !== 'start') await page.locator('#conn[data-state="online"]').waitFor();
        await page.locator('main h1, main h2').first().waitFor();
        if (name === 'audit') await page.locator('#audit-items, .error').first().waitFor();
        for (const v of await axe(page)) found.push({ view: name, scheme, width, ...v });
        if (width === 1280 && (name === 'board' || name === 'live')) await page.screenshot({ path: `${SHOTS}/a11y-${name}-${scheme}.png` });
      }
      await ctx.close();
    }
  }
  assert.deepEqual(found, [], 'no serious or critical axe violation');
  assert.deepEqual(problems, []);
});
