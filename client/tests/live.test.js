// The live sync and what comes after it, in Chromium: the agenda with its reasons, the instant
// reveal with the distribution chart, a re-vote, agreeing, a coin flip, amending the goal and
// committing the scope against the capacity bar; then the timeline scrubber, "catch me up",
// and the audit with its downloads and verified chain head.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

// The bar's colour, read in one JavaScript turn: a locator's element can be replaced by a
// re-render (presence, a peer's command) between finding it and reading its style, and a
// detached element's computed style is empty. Polled until the bar has a colour.
async function fillColour(page) {
  for (let i = 0; i < 50; i++) {
    const c = await page.evaluate(() => {
      const e = document.querySelector('#capbar .fill');
      return e ? getComputedStyle(e).backgroundColor : '';
    });
    if (c) return c;
    await page.waitForTimeout(100);
  }
  return '';
}

const browser = chromiumForFile();
const problems = [];
const P = {}; // the planning shared by the tests of this file

test('live sync: agenda, reveal chart, re-vote, agree, coin flip, goal, commit against capacity', async () => {
  // Set up over REST: Fran facilitates, Ann and Bob vote; one item diverges, one converges.
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 7', name: 'Fran' } });
  const ann = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Ann' } });
  const bob = await rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name: 'Bob' } });
  Object.assign(P, { c, ann, bob });
  const fran = (cmd) => command(c.planning, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  await fran({ type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  await fran({ type: 'ProposeItem', draft: { title: 'Export CSV' } });
  await fran({ type: 'SetVelocity', points_per_day: 1 });
  await command(c.planning, ann.token, { type: 'DeclareCapacity', available_days: 6, focus_factor: 1 });
  let view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const byTitle = (t) => Object.values(view.state.items).find((i) => i.draft.title === t).id;
  const [login, exportCsv] = [byTitle('Login with SSO'), byTitle('Export CSV')];
  Object.assign(P, { login, exportCsv });
  await fran({ type: 'OpenRound', items: [login, exportCsv] });
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const round = view.state.round_order[0];
  await command(c.planning, ann.token, { type: 'CastVote', round, item: login, card: '1' });
  await command(c.planning, ann.token, { type: 'CastVote', round, item: exportCsv, card: '3' });
  await command(c.planning, bob.token, { type: 'CastVote', round, item: login, card: '13' });
  await command(c.planning, bob.token, { type: 'CastVote', round, item: exportCsv, card: '3' });

  const franCtx = await browser.newContext({ acceptDownloads: true });
  const a = watch(await franCtx.newPage(), 'Fran', problems);
  await a.goto(c.links.facilitator.replace('?token=', '/live?token='));
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#tab-live[aria-current="page"]').waitFor();
  const annCtx = await browser.newContext();
  const b = watch(await annCtx.newPage(), 'Ann', problems);
  await b.goto(`${BASE}/#/p/${c.planning}?token=${ann.token}`);
  await b.locator('#conn[data-state="online"]').waitFor();
  await b.locator('#tab-live').click();
  P.annCtx = annCtx;
  P.a = a;

  // The session starts: the diverging item is on the agenda with its reason, votes sealed.
  await a.locator('#start-sync').click();
  await a.locator('#agenda li', { hasText: 'Login with SSO' }).getByText('the votes are far apart').waitFor();
  await b.locator('#agenda li', { hasText: 'Login with SSO' }).waitFor();
  await a.locator('#sealed').getByText('2 sealed votes').waitFor();
  await b.locator('#sealed').getByText('2 sealed votes').waitFor();
  assert.equal(await b.locator('#reveal').count(), 0, 'only the facilitator reveals');
  // The header says the session runs: no card repeats it, and a member has no controls card.
  await a.locator('#end-sync').waitFor();
  assert.equal(await a.locator('#sync-state').count(), 0, 'no status line under the header');
  assert.equal(await b.locator('#live-h').count(), 0, 'a member has no controls card');

  // Reveal: both see the distribution at once, the figures the server derived.
  await a.locator('#reveal').click();
  await a.locator('#distribution').waitFor();
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const figures = view.state.rounds[round].distribution[login];
  assert.equal(figures.median, '13', 'the upper median, as the server proposes');
  assert.deepEqual([figures.spread_steps, figures.low, figures.high, figures.spread_points], [5, '1', '13', 12]);
  for (const page of [a, b]) {
    await page.locator('#distribution').waitFor();
    // Two votes, two middle cards: both named, not the server's upper median alone.
    assert.equal(await page.locator('#median').innerText(), 'Median: 1–13', 'the two middle cards');
    assert.deepEqual(await page.locator('#distribution .bar.median').evaluateAll((bars) => bars.map((b) => b.dataset.card)), ['1', '13']);
    assert.equal(await page.locator('#distribution .bar[data-card="1"]').getAttribute('data-count'), '1');
    assert.equal(await page.locator('#distribution .bar[data-card="13"]').getAttribute('data-count'), '1');
    assert.equal(await page.locator('#distribution .bar[data-card="5"]').getAttribute('data-count'), '0');
    assert.equal(await page.locator('#spread').innerText(), 'Spread: 5 deck steps (1 → 13, 12 points)');
  }
  await b.locator('#distribution').getByText('Bob: 13').waitFor();
  await a.screenshot({ path: `${SHOTS}/live-reveal.png`, fullPage: true });

  // Vote again, live: Ann with the keyboard ("5", the card 5), Bob over REST.
  await a.locator('#revote').click();
  await b.locator('#live-item .deck .vcard').first().waitFor();
  await b.keyboard.press('5');
  await b.locator('#live-item .deck .vcard.mine', { hasText: '5' }).waitFor();
  // Fran sees Ann's card face down.
  await a.locator('#live-item .vote.down', { hasText: 'Ann' }).waitFor();
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const revote = view.state.round_order[1];
  await command(c.planning, bob.token, { type: 'CastVote', round: revote, item: login, card: '5' });
  for (const page of [a, b]) {
    await page.locator('#distribution .bar[data-card="5"][data-count="2"]').waitFor();
    assert.equal(await page.locator('#spread').innerText(), 'Spread: 0 deck steps (5 → 5, 0 points)');
  }

  // Agree 5 (preset from the proposal) and the converged item at once.
  assert.equal(await a.locator('#agree-card').inputValue(), '5');
  await a.locator('#agree').click();
  await a.locator('#agreed').getByText('5').waitFor();
  await b.locator('#agenda li', { hasText: 'Login with SSO' }).getByText('agreed 5').waitFor();
  await a.locator('#agree-proposed').click();
  await a.locator('#scope').getByText('Export CSV — 3').waitFor();

  // A coin flip, recorded by the server.
  await a.locator('#coin-question').fill('Which demo first?');
  await a.locator('#coin-options').fill('Login, Export');
  await a.locator('#flip').click();
  await a.locator('#flips li').first().waitFor();
  view = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const flip = view.state.coin_flips[0];
  const outcome = flip.options[flip.outcome];
  assert.equal(await a.locator('#flips .outcome').first().innerText(), outcome);
  await b.locator('#flips .outcome', { hasText: outcome }).waitFor();
  // Ann leaves here; she catches up on the rest later (timeline test).
  await b.close();

  // The goal is reworded.
  await a.locator('#amend-text').fill('Ship SSO and exports');
  await a.locator('#amend-note').fill('exports fit');
  await a.locator('#amend-goal').click();
  await a.locator('#live-goal-text').getByText('Ship SSO and exports').waitFor();

  // Scope: 5 + 3 = 8 points against 6 (Ann: 6 days × 1.0 × velocity 1): the bar is red.
  const bar = a.locator('#capbar');
  await bar.getByText('8 of 6 points').waitFor();
  assert.match(await bar.getAttribute('class'), /\bover\b/);
  const red = await fillColour(a);
  assert.equal(red, 'rgb(180, 35, 24)', 'red when over capacity');
  await a.screenshot({ path: `${SHOTS}/live-sync.png`, fullPage: true });
  await a.getByLabel('Export CSV — 3 (3 points)').uncheck();
  await bar.getByText('5 of 6 points').waitFor();
  assert.doesNotMatch(await bar.getAttribute('class'), /\bover\b/);
  const green = await fillColour(a);
  assert.equal(green, 'rgb(26, 127, 55)');
  await a.getByLabel('Export CSV — 3 (3 points)').check();
  await a.locator('#confirm-over').check();
  await a.locator('#commit-scope').click();
  await a.locator('#phase').getByText('committed').waitFor();
  await a.locator('#scope h2').getByText('Committed scope').waitFor();
  await a.locator('#scope').getByText('Committed over capacity').waitFor();
  assert.deepEqual(problems, [], 'no console errors');
});

test('timeline: the scrubber shows the board as it was; catch me up', async () => {
  const { c, ann, a } = P;
  assert.ok(a, 'the live test ran');
  await a.locator('#tab-timeline').click();
  const scrubber = a.locator('#scrubber');
  await scrubber.waitFor();
  const head = (await rest('GET', `/api/plannings/${c.planning}`, { token: c.token })).head;
  assert.equal(await scrubber.getAttribute('max'), String(head));
  await a.locator('#then-phase').getByText('committed').waitFor();

  // The chapter "moved the planning to async": no item existed yet, no goal either.
  await a.locator('#chapters button', { hasText: 'moved the planning to async' }).click();
  await a.locator('#then h2').getByText(/right after event 4$/).waitFor();
  await a.locator('#then-phase').getByText('async').waitFor();
  await a.locator('#then').getByText('No items yet.').waitFor();
  assert.equal(await scrubber.inputValue(), '4');

  // Dragging to the first reveal: Ann's 1 and Bob's 13, no estimate yet.
  const timeline = await rest('GET', `/api/plannings/${c.planning}/timeline?chapters=true`, { token: c.token });
  // (a facilitator's reveal is credited to her, one as a round closed to sprintlog's rule)
  const reveal = timeline.entries.find((e) => /^(votes on “Login with SSO” revealed|Fran revealed the votes on “Login with SSO”)/.test(e.summary));
  await scrubber.fill(String(reveal.seq));
  await a.locator('#then h2').getByText(new RegExp(`right after event ${reveal.seq}$`)).waitFor();
  await a.locator('#at-summary').getByText(reveal.summary).waitFor();
  const votes = a.locator('#then-items .item', { hasText: 'Login with SSO' }).locator('.vote.up');
  assert.deepEqual((await votes.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim()).sort(), ['1 Ann', '13 Bob']);
  assert.equal(await a.locator('#then-items .badge.est').count(), 0, 'nothing agreed yet then');
  await a.screenshot({ path: `${SHOTS}/timeline.png`, fullPage: true });

  // The keyboard works on the scrubber too: End goes to now.
  await scrubber.focus();
  await a.keyboard.press('End');
  await a.locator('#then-phase').getByText('committed').waitFor();
  assert.equal(await a.evaluate(() => document.activeElement.id), 'scrubber', 'focus stays on the scrubber');

  // Ann comes back on a new page: "catch me up" lists what Fran did since her last visit.
  const b = watch(await P.annCtx.newPage(), 'Ann again', problems);
  await b.goto(`${BASE}/#/p/${c.planning}/timeline`);
  await b.locator('#scrubber').waitFor();
  await b.locator('#catch-up').click();
  await b.locator('#digest .digest-body').waitFor();
  assert.match(await b.locator('#digest').innerText(), /since your last visit \(event \d+\)/);
  await b.locator('#digest').getByText(/Fran committed 2 items, 8 points against a capacity of 6/).waitFor();
  await b.locator('#digest').getByText(/amended the goal: Ship SSO and exports/).waitFor();
  assert.deepEqual(problems, [], 'no console errors');
  void ann;
});

test('audit: rendered, verified chain head, three downloads with content', async () => {
  const { c, a } = P;
  assert.ok(a, 'the live test ran');
  await a.locator('#tab-audit').click();
  await a.locator('#chain').getByText('Chain verified').waitFor();
  const verified = await rest('GET', `/api/plannings/${c.planning}/verify`, { token: c.token });
  assert.equal(verified.intact, true);
  assert.equal(await a.locator('#chain-head').innerText(), verified.head_hash);
  await a.locator('#audit-items h3', { hasText: 'Login with SSO' }).getByText('committed').waitFor();
  await a.locator('#audit-items .rounds li', { hasText: 'Ann: 1' }).getByText(/Bob: 13/).waitFor();
  const report = await rest('GET', `/api/plannings/${c.planning}/audit?format=json`, { token: c.token });
  const t = report.time;
  await a.locator('#time-spent').getByText(`estimates settled async: ${t.settled_async}, live: ${t.settled_live}`).waitFor();
  await a.locator('#time-spent').getByText(`flagged items discussed: ${t.flagged_discussed} of ${t.flagged}`).waitFor();
  await a.locator("#time-spent").getByText(`live session: ${t.sync_minutes} min against ${t.planned_minutes} planned (`).waitFor();
  assert.equal(t.settled_async + t.settled_live, 2, 'both estimates counted');
  await a.screenshot({ path: `${SHOTS}/audit.png`, fullPage: true });

  const got = {};
  for (const f of ['md', 'csv', 'json']) {
    const [download] = await Promise.all([a.waitForEvent('download'), a.locator(`#dl-${f}`).click()]);
    assert.equal(download.suggestedFilename(), `audit-${c.planning}.${f}`);
    got[f] = await readFile(await download.path(), 'utf8');
  }
  assert.match(got.md, /Sprint 7/);
  assert.match(got.md, new RegExp(verified.head_hash));
  assert.equal(got.csv.split('\n')[0], 'item,title,outcome,seq,time,actor,step');
  assert.match(got.csv, /Login with SSO/);
  const json = JSON.parse(got.json);
  assert.equal(json.head_hash, verified.head_hash);
  assert.equal(json.items.length, 2);
  assert.deepEqual(problems, [], 'no console errors');
});
