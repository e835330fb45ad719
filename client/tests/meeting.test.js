// One shared meeting, five people in their own browsers: Fran facilitates from Berlin, Ann votes
// from San Francisco, Bo from Berlin, Cy from Bangalore, Olga observes. Every page keeps its view
// from the server's pushes: during 20 votes and 2 reveals no page makes an HTTP request, every
// page's view equals `GET /api/plannings/{id}` for that person afterwards, and no pushed shared
// view ever carries a sealed card.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

const browser = chromiumForFile();
const problems = [];

const PEOPLE = [
  { name: 'Fran', zone: 'Europe/Berlin', role: 'facilitator' },
  { name: 'Ann', zone: 'America/Los_Angeles', role: 'member' },
  { name: 'Bo', zone: 'Europe/Berlin', role: 'member' },
  { name: 'Cy', zone: 'Asia/Kolkata', role: 'member' },
  { name: 'Olga', zone: 'Europe/Berlin', role: 'observer' },
];

/** Whether a kept-view frame shows a card in some round's votes (only a viewer's own part may). */
function sealedCardIn(frame) {
  if (frame.type === 'view') {
    return Object.values(frame.view.rounds || {}).some((r) =>
      Object.values(r.votes || {}).some((per) => Object.values(per).some((v) => 'card' in v)),
    );
  }
  if (frame.type === 'view_patch') {
    return frame.ops.some((op) => op.path.includes('/votes/') && JSON.stringify(op.value ?? null).includes('"card"'));
  }
  return false;
}

test('one meeting: pages keep their views from pushes, with no HTTP request and nothing sealed leaked', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 9', name: 'Fran' } });
  const p = c.planning;
  const people = [{ ...PEOPLE[0], token: c.token, link: c.links.facilitator }];
  for (const who of PEOPLE.slice(1)) {
    const invite = who.role === 'observer' ? c.observer_invite : c.member_invite;
    const j = await rest('POST', `/api/plannings/${p}/join`, { body: { invite, name: who.name } });
    people.push({ ...who, token: j.token, link: j.link, participant: j.participant });
  }
  const fran = (cmd) => command(p, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  for (const title of ['Login with SSO', 'Export CSV', 'Audit log']) await fran({ type: 'ProposeItem', draft: { title } });
  let view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const [a, b, cItem] = view.state.rank;
  await fran({ type: 'OpenRound', items: [a, b, cItem] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const round = view.state.round_order[0];

  // Everyone opens the planning in a browser of their own, in their own time zone.
  for (const who of people) {
    const ctx = await browser.newContext({ timezoneId: who.zone, viewport: { width: 1280, height: 900 } });
    who.page = watch(await ctx.newPage(), who.name, problems);
    who.frames = [];
    who.requests = [];
    who.page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        try {
          who.frames.push(JSON.parse(f.payload));
        } catch {
          // not JSON: nothing of ours
        }
      }),
    );
    await who.page.goto(who.link);
    await who.page.locator('#conn[data-state="online"]').waitFor();
  }
  // The observer watches from the timeline: following "now" takes no REST read either.
  const watcher = people[people.length - 1];
  await watcher.page.locator('#tab-timeline').click();
  await watcher.page.locator('#scrubber').waitFor();
  await watcher.page.locator('#then-phase').waitFor();
  const heldHead = (who) => who.page.evaluate(() => window.sprintlogStore?.view?.head ?? -1);
  for (const who of people) {
    await who.page.waitForFunction(() => window.sprintlogStore?.view, null, { timeout: 10_000 });
    who.page.on('request', (r) => who.requests.push(`${r.method()} ${r.url()}`));
  }

  // 20 votes and 2 reveals, sent by the members' own clients over REST from here: the pages only
  // watch. Ann changes her mind 8 times before Cy's last vote closes the round.
  const [fr, ann, bo, cy] = people;
  const vote = (who, item, card, r = round) => command(p, who.token, { type: 'CastVote', round: r, item, card });
  for (const [who, cards] of [[ann, ['3', '1', '2']], [bo, ['3', '13', '2']]]) {
    for (const [i, card] of [a, b, cItem].map((it, k) => [it, cards[k]])) await vote(who, i, card);
  }
  for (let n = 0; n < 8; n++) await vote(ann, n % 2 ? cItem : b, ['5', '3', '2', '1'][n % 4]);
  for (const [i, card] of [[a, '3'], [b, '8'], [cItem, '21']]) await vote(cy, i, card);
  await fran({ type: 'StartSync' });
  await fran({ type: 'RevealVotes', round, item: b });
  await fran({ type: 'Revote', previous: round, items: [cItem] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const revote = view.state.round_order[1];
  let last;
  for (const who of [ann, bo, cy]) last = await vote(who, cItem, '5', revote);
  const head = last.head;

  for (const who of people) {
    const deadline = Date.now() + 10_000;
    while ((await heldHead(who)) < head && Date.now() < deadline) await who.page.waitForTimeout(50);
    assert.equal(await heldHead(who), head, `${who.name}'s page reached the head`);
  }
  for (const who of people) {
    assert.deepEqual(who.requests, [], `${who.name}'s page made no HTTP request during the votes`);
    const held = await who.page.evaluate(() => window.sprintlogStore.view.state);
    const fresh = await rest('GET', `/api/plannings/${p}`, { token: who.token });
    assert.deepEqual(held, fresh.state, `${who.name}'s kept view is the projection`);
    const leaked = who.frames.filter(sealedCardIn);
    assert.deepEqual(leaked, [], `${who.name} was pushed no sealed card`);
    assert.ok(who.frames.some((f) => f.type === 'view_patch'), `${who.name} got patches`);
  }
  await watcher.page.locator('#at-summary').getByText(`Event ${head} of ${head}`).waitFor();
  await watcher.page.locator('#then h2').getByText(`right after event ${head}`).waitFor();
  // A member's page shows the re-vote's revealed result; the live session is announced.
  for (const who of [ann, cy]) {
    await who.page.locator('#live-banner #join-live').waitFor();
    await who.page.screenshot({ path: `${SHOTS}/meeting-${who.name.toLowerCase()}-board.png`, fullPage: false });
  }
  await fr.page.screenshot({ path: `${SHOTS}/meeting-fran-board.png`, fullPage: false });
  assert.deepEqual(problems, []);
});

/** Parses "4:05 left" into seconds. */
function secondsLeft(text) {
  const m = /(\d+):(\d{2}) left/.exec(text);
  return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
}

test('one meeting: the focus, a live re-vote, the time box, an item with no votes, the scope and the goal, the same on every page', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 10', name: 'Fran' } });
  const p = c.planning;
  const people = [{ ...PEOPLE[0], token: c.token, link: c.links.facilitator }];
  for (const who of PEOPLE.slice(1)) {
    const invite = who.role === 'observer' ? c.observer_invite : c.member_invite;
    const j = await rest('POST', `/api/plannings/${p}/join`, { body: { invite, name: who.name } });
    people.push({ ...who, token: j.token, link: j.link });
  }
  const [fr, ann, bo, cy, olga] = people;
  const fran = (cmd) => command(p, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  await fran({ type: 'SetVelocity', points_per_day: 1 });
  for (const who of [ann, bo, cy]) await command(p, who.token, { type: 'DeclareCapacity', available_days: 4, focus_factor: 1 });
  for (const title of ['Login with SSO', 'Search', 'Export CSV']) await fran({ type: 'ProposeItem', draft: { title, acceptance_criteria: ['done'] } });
  let view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const id = (t) => Object.values(view.state.items).find((i) => i.draft.title === t).id;
  const [login, search, exportCsv] = [id('Login with SSO'), id('Search'), id('Export CSV')];
  await fran({ type: 'OpenRound', items: [login, exportCsv] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const round = view.state.round_order[0];
  for (const [who, l] of [[ann, '1'], [bo, '13'], [cy, '8']]) {
    await command(p, who.token, { type: 'CastVote', round, item: login, card: l });
    await command(p, who.token, { type: 'CastVote', round, item: exportCsv, card: '3' });
  }
  await fran({ type: 'SendToAgenda', item: search, note: 'nobody estimated it yet' });

  for (const who of people) {
    const ctx = await browser.newContext({ timezoneId: who.zone, viewport: { width: who.role === 'observer' ? 390 : 1280, height: 900 } });
    who.page = watch(await ctx.newPage(), who.name, problems);
    await who.page.goto(who.link);
    await who.page.locator('#conn[data-state="online"]').waitFor();
  }
  const pages = people.map((w) => w.page);
  const others = people.slice(1).map((w) => w.page);
  const onEvery = (list, selector, timeout = 1000) => Promise.all(list.map((pg) => pg.locator(selector).first().waitFor({ timeout })));

  // The facilitator starts the session; everyone else is prompted on the board and joins.
  await fr.page.locator('#tab-live').click();
  await fr.page.locator('#start-sync').click();
  for (const who of people.slice(1)) await who.page.locator('#join-live').click();
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const first = view.state.focus.item;
  assert.equal(first, login, 'the flagged item is discussed first');
  await onEvery(pages, `#live-item[data-item="${login}"]`, 5000);
  await onEvery(pages, '#sealed');

  // Reveal: every page at once.
  await fr.page.locator('#reveal').click();
  await fr.page.locator('#distribution').waitFor();
  await onEvery(others, '#distribution');

  // Vote again: every member's deck opens with no click; the last vote reveals on every page.
  await fr.page.locator('#revote').click();
  await fr.page.locator('#voted-count').waitFor();
  await onEvery([ann.page, bo.page, cy.page], '#live-item .deck .vcard');
  assert.equal(await olga.page.locator('#live-item .deck').count(), 0, 'the observer has no deck');
  await ann.page.locator('#live-item .vcard[data-card="5"]').click();
  await bo.page.locator('#live-item .vcard[data-card="5"]').click();
  await fr.page.locator('#voted-count').getByText('2 of 3 voted').waitFor();
  await onEvery(others, '#voted-count >> text=2 of 3 voted');
  await cy.page.locator('#live-item .vcard[data-card="8"]').click();
  await fr.page.locator('#distribution .bar[data-card="8"][data-count="1"]').waitFor();
  await onEvery(others, '#distribution .bar[data-card="8"][data-count="1"]');
  await fr.page.screenshot({ path: `${SHOTS}/meeting-fran-reveal.png` });
  await cy.page.screenshot({ path: `${SHOTS}/meeting-cy-reveal.png` });

  // A time box: the same time left on every page, within a second, and after a reload.
  await fr.page.locator('#timer-2').click();
  await onEvery(pages, '#timebox-left', 3000);
  const lefts = await Promise.all(pages.map(async (pg) => secondsLeft(await pg.locator('#timebox-left').innerText())));
  assert.ok(Math.max(...lefts) - Math.min(...lefts) <= 1, `time left agrees: ${lefts}`);
  await bo.page.reload();
  await bo.page.locator(`#live-item[data-item="${login}"]`).waitFor();
  await bo.page.locator('#timebox-left').waitFor();
  const [franLeft, boLeft] = await Promise.all([fr.page, bo.page].map(async (pg) => secondsLeft(await pg.locator('#timebox-left').innerText())));
  assert.ok(Math.abs(franLeft - boLeft) <= 1, `after a reload: ${franLeft} vs ${boLeft}`);

  // Agree, then the next item: everyone follows within a second.
  await fr.page.locator('#agree-card').selectOption('5');
  await fr.page.locator('#agree').click();
  await fr.page.locator('#agreed').waitFor();
  await fr.page.locator('#next-agenda').click();
  await fr.page.locator(`#live-item[data-item="${search}"]`).waitFor();
  await onEvery(others, `#live-item[data-item="${search}"]`);

  // Someone who looks elsewhere is offered the way back.
  await ann.page.locator('#agenda button', { hasText: 'Login with SSO' }).click();
  await ann.page.locator('#back-to-focus').click();
  await ann.page.locator(`#live-item[data-item="${search}"]`).waitFor();

  // The item nobody voted on is estimated from the live view alone.
  await onEvery(pages, '#no-votes');
  await fr.page.locator('#open-live-round').click();
  await onEvery([ann.page, bo.page, cy.page], '#live-item .deck .vcard', 3000);
  for (const who of [ann, bo, cy]) await who.page.locator('#live-item .vcard[data-card="3"]').click();
  await onEvery(pages, '#distribution .bar[data-card="3"][data-count="3"]', 3000);
  await fr.page.locator('#agree').click();
  await onEvery(pages, '#agreed >> text=3', 3000);
  await fr.page.locator('#agree-proposed').click();

  // The scope selection is the same on every page before the commit.
  await fr.page.locator(`#scope-${exportCsv}`).waitFor();
  await fr.page.locator(`#scope-${search}`).uncheck();
  await fr.page.locator('#scope[data-drafted="true"]').waitFor();
  await onEvery(others, '#scope[data-drafted="true"]', 3000);
  const scopeOf = (pg) =>
    pg.evaluate(() => ({
      selected: [...document.querySelectorAll('#scope [data-scope-item]')].map((i) => `${i.dataset.scopeItem}:${i.dataset.selected}`),
      bar: document.querySelector('#capbar .captext')?.textContent,
    }));
  const scopes = await Promise.all(pages.map(scopeOf));
  for (const s of scopes.slice(1)) assert.deepEqual(s, scopes[0], 'the same selection everywhere');
  assert.equal(scopes[0].selected.filter((x) => x.endsWith(':true')).length, 2);
  assert.equal(scopes[0].selected.length, 3);
  // Only the facilitator edits it; the others read a list, not disabled checkboxes.
  for (const pg of others) assert.equal(await pg.locator('#scope input[type=checkbox]').count(), 0);

  // Goal: Ann suggests a wording, everyone sees it, Fran adopts it.
  await ann.page.locator('#suggest-text').fill('Ship SSO and CSV export');
  await ann.page.locator('#suggest-goal').click();
  await onEvery(pages, '#goal-suggestions >> text=Ship SSO and CSV export', 3000);
  await fr.page.locator('#goal-suggestions button', { hasText: 'Adopt' }).click();
  await onEvery(pages, '#live-goal-text >> text=Ship SSO and CSV export', 3000);
  for (const who of people) await who.page.screenshot({ path: `${SHOTS}/meeting2-${who.name.toLowerCase()}.png`, fullPage: true });

  await fr.page.locator('#commit-scope').click();
  await onEvery(pages, '#scope h2 >> text=Committed scope', 3000);
  // The board marks each item in or out of the sprint.
  await ann.page.locator('#tab-board').click();
  await ann.page.locator(`[data-item="${login}"] .in-sprint`).first().waitFor();
  await ann.page.locator(`[data-item="${search}"] .out-sprint`).first().waitFor();
  assert.deepEqual(problems, []);
});
