// The look of the live meeting, in Chromium: the card table (a card back for who voted, an empty
// seat for who did not), every card of the focused item turning over in the same frame on the
// reveal on every page, no animation under `prefers-reduced-motion`, and what the empty views say.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

const browser = chromiumForFile();
const problems = [];

/** Starts recording, in the page, the moment each seat's card shows its face and each flip starts. */
async function recordFlip(page) {
  await page.evaluate(() => {
    const rec = { up: {}, starts: [] };
    window.__flip = rec;
    document.addEventListener('animationstart', (ev) => {
      if (ev.animationName === 'flip') rec.starts.push({ voter: ev.target.closest('.seat')?.dataset.voter, t: performance.now() });
    });
    const sample = (t) => {
      for (const seat of document.querySelectorAll('#card-table .seat.up')) rec.up[seat.dataset.voter] ??= t;
      requestAnimationFrame(sample);
    };
    requestAnimationFrame(sample);
  });
}

/** The seats of the card table as {name, state, face}, in one JavaScript turn. */
function seats(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#card-table .seat')].map((s) => ({
      voter: s.dataset.voter,
      name: s.querySelector('.seat-name').textContent,
      state: ['empty', 'down', 'up'].find((c) => s.classList.contains(c)),
      face: s.querySelector('.pfront').textContent,
      animation: getComputedStyle(s.querySelector('.pcard-inner')).animationName,
      transform: getComputedStyle(s.querySelector('.pcard-inner')).transform,
    })),
  );
}

test('the card table: backs while sealed, empty seats, every card flips in the same frame on every page', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 9', name: 'Fran' } });
  const join = (name) => rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name } });
  const [ann, bob, cy] = [await join('Ann'), await join('Bob'), await join('Cy')];
  const fran = (cmd) => command(c.planning, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  let view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const login = Object.keys(view.state.items)[0];
  await fran({ type: 'OpenRound', items: [login] });
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const round = view.state.round_order[0];
  await command(c.planning, ann.token, { type: 'CastVote', round, item: login, card: '1' });
  await command(c.planning, bob.token, { type: 'CastVote', round, item: login, card: '13' });
  await fran({ type: 'CloseRound', round }); // sealed: Cy never voted

  // Fran at 1280 px, light; Ann at 390 px in Los Angeles, dark; Cy (who did not vote) in Kolkata;
  // Bob asks for reduced motion.
  const people = [
    { who: 'Fran', token: c.token, opts: { viewport: { width: 1280, height: 900 } } },
    { who: 'Ann', token: ann.token, opts: { viewport: { width: 390, height: 844 }, timezoneId: 'America/Los_Angeles', colorScheme: 'dark' } },
    { who: 'Cy', token: cy.token, opts: { viewport: { width: 1280, height: 900 }, timezoneId: 'Asia/Kolkata', colorScheme: 'dark' } },
    { who: 'Bob', token: bob.token, opts: { viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin', reducedMotion: 'reduce' } },
  ];
  const pages = {};
  for (const p of people) {
    const ctx = await browser.newContext(p.opts);
    const page = watch(await ctx.newPage(), p.who, problems);
    await page.goto(`${BASE}/#/p/${c.planning}?token=${p.token}`);
    await page.locator('#conn[data-state="online"]').waitFor();
    await page.locator('#tab-live').click();
    pages[p.who] = page;
  }
  const all = Object.values(pages);

  await pages.Fran.locator('#start-sync').click();
  for (const page of all) {
    await page.locator('#sealed').getByText('2 sealed votes').waitFor();
    const s = await seats(page);
    assert.deepEqual(s.map((x) => x.state).sort(), ['down', 'down', 'empty'], 'two backs and an empty seat');
    assert.equal(s.find((x) => x.voter === cy.participant).state, 'empty', 'Cy did not vote');
    assert.ok(s.every((x) => x.face === ''), 'no face shows before the reveal');
    await recordFlip(page);
  }
  await pages.Ann.screenshot({ path: `${SHOTS}/look-ann-sealed-390-dark.png`, fullPage: true });

  await pages.Fran.locator('#reveal').click();
  await pages.Fran.locator('#card-table .seat.up').nth(1).waitFor();
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const cards = Object.fromEntries(view.state.rounds[round].revealed[login].map((v) => [v.voter, v.card]));
  for (const [who, page] of Object.entries(pages)) {
    await page.locator('#card-table .seat.up').nth(1).waitFor();
    await page.waitForTimeout(700);
    const rec = await page.evaluate(() => window.__flip);
    const times = Object.values(rec.up);
    assert.equal(times.length, 2, `${who}: both cards face up`);
    assert.ok(Math.max(...times) - Math.min(...times) < 1, `${who}: the cards turn in the same frame (${times})`);
    const s = await seats(page);
    for (const x of s.filter((x) => x.state === 'up')) assert.equal(x.face, cards[x.voter], `${who}: the server's card`);
    assert.equal(s.find((x) => x.voter === cy.participant).state, 'empty');
    // 1 and 13: two middle cards, both stand out (the server's median is the upper one).
    assert.equal(view.state.rounds[round].distribution[login].median, '13');
    assert.deepEqual(await page.evaluate(() => [...document.querySelectorAll('#card-table .seat.median .pfront')].map((e) => e.textContent).sort()), ['1', '13'], `${who}: the middle cards stand out`);
    assert.ok(s.every((x) => x.state !== 'up' || ['none', 'matrix(1, 0, 0, 1, 0, 0)'].includes(x.transform)), `${who}: every face shows once the flip is over: ${JSON.stringify(s)}`);
    if (who === 'Bob') {
      assert.equal(rec.starts.length, 0, 'reduced motion: no flip animation');
      assert.ok(s.every((x) => x.animation === 'none'), 'reduced motion: an instant change');
    } else {
      assert.equal(rec.starts.length, 2, `${who}: one flip per card`);
      const starts = rec.starts.map((x) => x.t);
      assert.ok(Math.max(...starts) - Math.min(...starts) < 17, `${who}: the flips start within one frame (${starts})`);
    }
    await page.locator('#distribution').waitFor();
  }
  // At 390 px the seats are one group above the result; at 1280 px a table around it.
  const layout = (page) =>
    page.evaluate(() => {
      const felt = document.querySelector('#card-table .felt').getBoundingClientRect();
      const seats = [...document.querySelectorAll('#card-table .seat')].map((s) => s.getBoundingClientRect());
      return { above: seats.filter((r) => r.bottom <= felt.top).length, rows: new Set(seats.map((r) => Math.round(r.top))).size, n: seats.length };
    });
  assert.deepEqual(await layout(pages.Ann), { above: 3, rows: 1, n: 3 }, 'Ann (390 px): every seat in one row above the result');
  assert.deepEqual((await layout(pages.Fran)).above, 2, 'Fran (1280 px): the table has seats on both sides');
  await pages.Fran.screenshot({ path: `${SHOTS}/look-fran-reveal-1280.png`, fullPage: true });
  await pages.Ann.screenshot({ path: `${SHOTS}/look-ann-reveal-390-dark.png`, fullPage: true });

  // A page that loads after the reveal shows the faces without turning them.
  await pages.Cy.reload();
  await pages.Cy.locator('#card-table .seat.up').nth(1).waitFor();
  assert.equal(await pages.Cy.locator('#card-table.flipping').count(), 0, 'no flip for a reveal seen earlier');
  assert.deepEqual(problems, []);
});

test('empty views say what to do', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 10', name: 'Fran' } });
  const ann = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const pageOf = async (who, token, opts = {}) => {
    const page = watch(await (await browser.newContext(opts)).newPage(), who, problems);
    await page.goto(`${BASE}/#/p/${c.planning}/live?token=${token}`);
    await page.locator('#conn[data-state="online"]').waitFor();
    return page;
  };
  const f = await pageOf('Fran', c.token);
  const a = await pageOf('Ann', ann.token, { colorScheme: 'dark', viewport: { width: 390, height: 844 } });
  await f.locator('#focus-empty').getByText('No items yet. Propose or import items on the Backlog').waitFor();
  await f.locator('#agenda-empty').getByText('Starting the live session puts the flagged items here').waitFor();
  await f.locator('#live-no-goal').getByText('Draft it on the Board').waitFor();
  await a.locator('#live-no-goal').getByText('The facilitator drafts it on the Board').waitFor();
  await f.locator('#scope-empty').getByText('No item has an agreed estimate yet.').waitFor();
  await f.screenshot({ path: `${SHOTS}/look-fran-empty-1280.png`, fullPage: true });
  await command(c.planning, c.token, { type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  await f.locator('#focus-empty').getByText('Start the live session to discuss the flagged items').waitFor();
  await a.locator('#focus-empty').getByText('The facilitator starts the live session').waitFor();
  // Nothing flagged (another planning, with no item): the session has nothing to discuss live.
  const d = await rest('POST', '/api/plannings', { body: { title: 'Sprint 11', name: 'Fran' } });
  await command(d.planning, d.token, { type: 'ChangePhase', to: 'async' });
  await command(d.planning, d.token, { type: 'StartSync' });
  await a.goto(`${BASE}/#/p/${d.planning}/live?token=${d.token}`);
  await a.locator('#agenda-empty').getByText('nothing to discuss live').waitFor();
  await a.locator('#focus-empty').getByText('Nothing to discuss live.').waitFor();
  await a.screenshot({ path: `${SHOTS}/look-ann-nothing-390-dark.png`, fullPage: true });
  assert.deepEqual(problems, []);
});
