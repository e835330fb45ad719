// At a phone's width (390 px): a newcomer joining during a live session gets one prompt (the
// time-zone question with "catch me up" as its last line), the tabs on one line, and the live
// table within the first screen. Loading shows placeholders in the layout's shapes, busy for
// assistive tech, light and dark, still under reduced motion.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { axe, overflows } from './a11y.js';

const browser = chromiumForFile();
/** A link the server made, at the address the tests reach it by. */
const at = (link) => link.replace(/^https?:\/\/[^/]+/, BASE);
const problems = [];
const PHONE = { viewport: { width: 390, height: 844 } };

after(() => assert.deepEqual(problems, []));

/** A planning in its live session, an item flagged and on the table. */
async function liveSession() {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 3', name: 'Fran' } });
  const join = (name) => rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name } });
  const [ann, bob] = [await join('Ann'), await join('Bob')];
  const fran = (cmd) => command(c.planning, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Sign-in that just works' });
  for (const title of ['Login with SSO', 'Export CSV', 'Audit log']) await fran({ type: 'ProposeItem', draft: { title, description: 'So that people sign in once, wherever they are.' } });
  let view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const items = view.state.rank;
  await fran({ type: 'OpenRound', items });
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const round = view.state.round_order[0];
  for (const [who, cards] of [[ann, ['1', '3', '5']], [bob, ['13', '3', '?']]]) {
    for (const [i, item] of items.entries()) await command(c.planning, who.token, { type: 'CastVote', round, item, card: cards[i] });
  }
  await fran({ type: 'StartSync' });
  return c;
}

/** The top of each tab, and the tab bar's height against one tab's. */
async function tabLine(page) {
  return page.evaluate(() => {
    const tabs = [...document.querySelectorAll('nav.tabs a, nav.tabs button')].map((t) => t.getBoundingClientRect());
    const bar = document.querySelector('nav.tabs').getBoundingClientRect();
    const mids = tabs.map((r) => (r.top + r.bottom) / 2);
    // One line: every tab's middle within a few pixels of the others'.
    return { line: Math.max(...mids) - Math.min(...mids) < 6, mids, bar: bar.height, tab: Math.max(...tabs.map((r) => r.height)) };
  });
}

test('390 px: a newcomer in a live session gets one prompt, one line of tabs and the live table on the first screen', async () => {
  const c = await liveSession();
  for (const colorScheme of ['light', 'dark']) {
    const ctx = await browser.newContext({ ...PHONE, colorScheme, timezoneId: 'Asia/Kolkata' });
    const d = watch(await ctx.newPage(), `Dee (${colorScheme})`, problems);
    await d.goto(at(c.links.member));
    await d.getByLabel('Your name').fill(colorScheme === 'light' ? 'Dee' : 'Dan');
    await d.getByRole('button', { name: 'Join' }).click();
    await d.locator('#conn[data-state="online"]').waitFor();

    // One prompt: "When do you work?" with "New here? Catch me up" as its last line.
    await d.locator('#zone-prompt #since-visit').getByText('New here?').waitFor();
    const cards = await d.locator('#zone-prompt, .visit-note:not(.in-prompt)').evaluateAll((els) => els.filter((e) => e.offsetParent !== null).length);
    assert.equal(cards, 1, 'one prompt at a time');

    // The tabs on one line; the bar scrolls sideways, the page does not.
    const line = await tabLine(d);
    assert.ok(line.line, `every tab on one line (middles ${line.mids})`);
    assert.ok(line.bar <= line.tab + 8, `the tab bar is one tab high (${line.bar} px for ${line.tab} px tabs)`);
    assert.equal(await overflows(d), false, 'no sideways scrolling of the page');
    await d.screenshot({ path: `${SHOTS}/phone-newcomer-${colorScheme}.png` });
    assert.deepEqual(await axe(d), [], `axe on the newcomer's board (${colorScheme})`);

    // Into the live session: the table is on the first screen.
    await d.locator('#join-live').click();
    await d.locator('#card-table').waitFor();
    await d.evaluate(() => window.scrollTo(0, 0));
    const top = await d.locator('#card-table').evaluate((el) => el.getBoundingClientRect().top);
    assert.ok(top < 844 - 150, `the live table starts within the first screen (at ${Math.round(top)} px)`);
    assert.ok((await tabLine(d)).line, 'the tabs stay on one line on the live view');
    await d.screenshot({ path: `${SHOTS}/phone-live-${colorScheme}.png` });
    assert.deepEqual(await axe(d), [], `axe on the live view at 390 px (${colorScheme})`);

    // The meeting holds the prompt; back on the board it asks again, and once the zone is set,
    // "catch me up" stands on its own.
    assert.equal(await d.locator('#zone-prompt').count(), 0, 'no prompt over the meeting');
    await d.locator('#tab-board').click();
    await d.locator('#zone-prompt #since-visit').getByText('New here?').waitFor();
    await d.locator('#zone-prompt button[type=submit]').click();
    await d.locator('#zone-prompt').waitFor({ state: 'detached' });
    await d.locator('.visit-note:not(.in-prompt)').getByText('New here?').waitFor();
    await ctx.close();
  }
});

test('loading: placeholders in the layout\'s shapes, busy for assistive tech, light and dark', async () => {
  const c = await liveSession();
  for (const [colorScheme, reducedMotion, view, shape] of [
    ['light', 'no-preference', '', '#board-loading .sk-card'],
    ['dark', 'reduce', '/live', '#live-loading .sk-pcard'],
  ]) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme, reducedMotion });
    const page = watch(await ctx.newPage(), `loading (${colorScheme})`, problems);
    // The socket connects to nothing and the first read waits: the page stays loading.
    await page.routeWebSocket(/\/ws\//, () => {});
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await page.route(/\/api\/plannings\/[^/?]+(\?.*)?$/, async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(at(c.links.facilitator).replace('?token=', `${view}?token=`));
    const busy = page.locator('.skeleton[aria-busy="true"][role="status"]');
    await busy.waitFor();
    assert.ok((await page.locator(shape).count()) >= 1, `the ${shape} shape`);
    assert.match(await busy.getAttribute('aria-label'), /^Loading the (board|live sync)…$/);
    const animation = await page.locator('.skeleton .sk-bar').first().evaluate((el) => getComputedStyle(el).animationName);
    assert.equal(animation, reducedMotion === 'reduce' ? 'none' : 'shimmer');
    assert.deepEqual(await axe(page), [], `axe on the loading ${view || '/board'} (${colorScheme})`);
    await page.screenshot({ path: `${SHOTS}/loading-${colorScheme}.png` });
    release();
    await page.locator('#planning-title').getByText('Sprint 3').waitFor();
    await busy.waitFor({ state: 'detached' });
    await ctx.close();
  }
});
