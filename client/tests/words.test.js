// Plain words, catching up, keys and attribution (issue 19, parts 5, 6, 9 and 10): no "null"
// after the invite links; a card's key is its label (13 typed as 1 then 3), j/k move between
// the items to vote on, h shows the keys; a refusal in plain words beside the form that caused
// it, kept through a re-render, with the typed text kept; a newcomer's "catch me up" tells the
// story so far; a returning member's board marks what changed and names the items that left
// the sprint; the audit credits the rule's steps to sprintlog, counts an item that converged
// async as settled async, and says the session's length against its plan in words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch as watchInto, command, rest } from './helpers.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** The item ids by title, as the facilitator reads them. */
async function itemIds(planning, token) {
  const st = await rest('GET', `/api/plannings/${planning}`, { token });
  return Object.fromEntries(Object.values(st.state.items).map((it) => [it.draft.title, it.id]));
}

/** The token this page holds for `planning`. */
const tokenOf = (page, planning) => page.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((e) => e.planning === p).token, planning);

test('plain words, keys, catching up and attribution', async () => {
  // Fran creates a planning: the links, and no literal "null" after them.
  const fran = await browser.newContext({ timezoneId: 'Europe/Berlin' });
  const a = watch(await fran.newPage(), 'Fran');
  await a.goto(`${BASE}/`);
  await a.getByLabel('Title').fill('Sprint 7');
  await a.getByLabel('Your name').fill('Fran');
  await a.getByRole('button', { name: 'Create planning' }).click();
  await a.locator('#open-board').waitFor();
  assert.ok(!(await a.locator('#created').innerText()).includes('null'), 'no "null" after the invite links');
  const invite = await a.locator('#link-member').inputValue();
  const planning = invite.match(/#\/join\/([0-9a-f-]+)/)[1];
  const fac = new URL((await a.locator('#link-facilitator').inputValue()).replace('#/', '')).searchParams.get('token');

  // Ann joins (Los Angeles); Fran sets up four items and a round on three of them.
  const ann = await browser.newContext({ timezoneId: 'America/Los_Angeles' });
  const b = watch(await ann.newPage(), 'Ann');
  await b.goto(invite);
  await b.getByLabel('Your name').fill('Ann');
  await b.getByRole('button', { name: 'Join' }).click();
  await b.locator('#planning-title').getByText('Sprint 7').waitFor();
  for (const title of ['Login', 'Export', 'Search', 'Archive']) await command(planning, fac, { type: 'ProposeItem', draft: { title } });
  await command(planning, fac, { type: 'ChangePhase', to: 'async' });
  const ids = await itemIds(planning, fac);
  await command(planning, fac, { type: 'OpenRound', items: [ids.Login, ids.Export, ids.Search], deadline: Date.now() * 1000 + 3_600_000_000 });

  // Keys: a card's label casts it ("3" is the card 3, not the third card, 2).
  await b.locator('.voting h3', { hasText: 'Login' }).waitFor();
  const page = await b.locator('body').innerText();
  assert.ok(!page.includes('thisflag'), 'the item links read apart ("vote on this · flag for the live session")');
  assert.match(await b.locator('#deck-keys').innerText(), /0, 1, 2, 3, 5, 8, 13 or 21/);
  await b.keyboard.press('3');
  await b.locator('#my-vote').getByText('3', { exact: true }).waitFor();
  // j: the next item; "1" then "3" is the card 13.
  await b.keyboard.press('j');
  await b.locator('.voting h3', { hasText: 'Export' }).waitFor();
  assert.equal(await b.locator('#key-nav').innerText(), 'Voting on “Export” (2 of 3)');
  await b.keyboard.press('1');
  await b.keyboard.press('3');
  await b.locator('#my-vote').getByText('13', { exact: true }).waitFor();
  // k: back to Login; "1" alone waits for a possible "13", then casts 1.
  await b.keyboard.press('k');
  await b.locator('.voting h3', { hasText: 'Login' }).waitFor();
  await b.keyboard.press('1');
  await b.locator('#my-vote').getByText('1', { exact: true }).waitFor();
  // h: the keys, with this deck's labels; Escape hides them.
  await b.keyboard.press('h');
  await b.locator('#key-help').waitFor();
  assert.match(await b.locator('#key-help').innerText(), /13 or 21/);
  await b.screenshot({ path: `${SHOTS}/words-keys.png` });
  await b.keyboard.press('Escape');
  await b.locator('#key-help').waitFor({ state: 'hidden' });
  // The last vote (Search, 5) closes the round: each item converged, sprintlog proposes it.
  await b.keyboard.press('j');
  await b.keyboard.press('j');
  await b.locator('.voting h3', { hasText: 'Search' }).waitFor();
  await b.keyboard.press('5');
  let votes = null;
  for (let i = 0; i < 50 && !votes?.rounds[votes.round_order[0]].closed; i += 1) {
    if (votes) await new Promise((r) => setTimeout(r, 100));
    votes = (await rest('GET', `/api/plannings/${planning}`, { token: fac })).state;
  }
  const cardOf = (item) => votes.rounds[votes.round_order[0]].revealed[item]?.[0]?.card;
  assert.deepEqual([cardOf(ids.Login), cardOf(ids.Export), cardOf(ids.Search)], ['1', '13', '5']);

  // A question and its answer, then Ann leaves.
  const annToken = await tokenOf(b, planning);
  await command(planning, annToken, { type: 'PostComment', item: ids.Login, kind: 'question', text: 'SSO too?' });
  await b.goto(`${BASE}/#/`);
  await b.locator('#my-plannings').waitFor();

  // While Ann is away: Fran edits Login and withdraws Archive.
  await command(planning, fac, { type: 'EditItem', item: ids.Login, patch: { description: 'Okta only' } });
  await command(planning, fac, { type: 'WithdrawItem', item: ids.Archive });
  // Ann comes back: the board marks Login and names Archive as out of the sprint.
  await b.goto(`${BASE}/#/p/${planning}`);
  await b.locator('#since-visit').getByText('Since your last visit').waitFor();
  assert.match(await b.locator('#dropped-since-visit').innerText(), /out of the sprint: “Archive”/);
  const mark = b.locator('.badge.since-visit', { hasText: 'changed since your last visit' }).first();
  await mark.waitFor();
  assert.match(await mark.evaluate((el) => el.closest('li, article, .item')?.textContent || el.parentElement.textContent), /Login/);
  await b.screenshot({ path: `${SHOTS}/words-since-visit.png` });

  // Cat just joined: "catch me up" tells the story so far, not "nothing new".
  const cat = await browser.newContext({ timezoneId: 'Asia/Kolkata' });
  const c = watch(await cat.newPage(), 'Cat');
  await c.goto(invite);
  await c.getByLabel('Your name').fill('Cat');
  await c.getByRole('button', { name: 'Join' }).click();
  await c.locator('#planning-title').getByText('Sprint 7').waitFor();
  await c.locator('#since-visit').getByText('New here?').waitFor();
  await c.locator('#catch-up-link').click(); // the timeline opens with the story read
  await c.locator('#digest-span').waitFor();
  const story = await c.locator('#digest').innerText();
  assert.match(story, /The story so far \(\d+ events\)/);
  assert.ok(!/Nothing new/.test(story), story);
  assert.match(story, /Fran created the planning “Sprint 7”/);
  assert.match(story, /Ann joined as a member/);
  assert.match(story, /sprintlog proposed 1 for “Login”/);
  assert.match(story, /Ann posted a question on “Login”/);
  assert.match(story, /out of the sprint/, 'Archive is marked as out of the sprint');
  assert.ok(!UUID.test(story), story);
  await c.screenshot({ path: `${SHOTS}/words-story.png`, fullPage: true });

  // A refusal beside the form that caused it, in plain words, the typed text kept — also
  // through a re-render caused by someone else.
  await a.goto(`${BASE}/#/p/${planning}/live`);
  // (The keys are one click away too; with no round to vote in, they say so.)
  await a.locator('#key-help-open').click();
  await a.locator('#key-help').getByText("type a card's label while a round waits for your vote").waitFor();
  assert.equal(await a.locator('#key-help-open').getAttribute('aria-expanded'), 'true');
  await a.locator('#key-help-close').click();
  await a.locator('#key-help').waitFor({ state: 'hidden' });
  assert.equal(await a.evaluate(() => document.activeElement.id), 'key-help-open', 'focus goes back');
  await a.locator('#coin-question').fill('Which first?');
  await a.locator('#coin-options').fill('Export');
  await a.locator('#flip').click();
  const refusal = a.locator('#coin form .refusal');
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /options must have 2 to \d+ entries/);
  assert.ok(!UUID.test(await refusal.innerText()));
  assert.equal(await a.locator('#board-error').innerText(), '', 'not at the foot of the page');
  assert.equal(await a.locator('#coin-question').inputValue(), 'Which first?');
  assert.equal(await a.locator('#coin-options').inputValue(), 'Export');
  const head = await a.evaluate(() => window.sprintlogStore.view.head);
  await command(planning, annToken, { type: 'PostComment', item: ids.Export, kind: 'comment', text: 'fine' });
  await a.waitForFunction((h) => window.sprintlogStore.view.head > h, head);
  await a.locator('#coin form .refusal').waitFor();
  await a.screenshot({ path: `${SHOTS}/words-refusal.png` });
  // Sent again, corrected: the refusal goes.
  await a.locator('#coin-options').fill('Export, Search');
  await a.locator('#flip').click();
  await a.locator('#flips li').first().waitFor();
  assert.equal(await a.locator('.refusal').count(), 0);

  // The live session: the proposed Login agreed, then ended at once.
  await command(planning, fac, { type: 'StartSync' });
  await command(planning, fac, { type: 'AgreeEstimates', estimates: [{ item: ids.Login, card: '1' }] });
  await command(planning, fac, { type: 'EndSync' });
  // The audit: rule-made steps are sprintlog's; Login converged async; the length in words.
  await a.goto(`${BASE}/#/p/${planning}/audit`);
  await a.locator('#time-spent').waitFor();
  const time = await a.locator('#time-spent').innerText();
  assert.match(time, /estimates settled async: 1, live: 0/);
  assert.match(time, /0 min against 45 planned \(45 min shorter\) in 1 session\b/);
  assert.ok(!/\(-|\(\+/.test(time), time);
  const rows = await a.locator('#audit-items tr').allInnerTexts();
  const proposed = rows.find((r) => /estimate 1 proposed/.test(r));
  assert.match(proposed, /\bsprintlog\b/, `the median is the rule's: ${proposed}`);
  assert.ok(!rows.some((r) => /Ann\s+estimate \d+ proposed/.test(r)), rows.join('\n'));
  assert.match(await a.locator('#chain').innerText(), /\d+ events/);

  assert.deepEqual(problems, []);
  await Promise.all([fran.close(), ann.close(), cat.close()]);
});
