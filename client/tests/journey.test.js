// The whole hybrid planning through the UI alone (issue 19, "What must be shown"): the test makes
// no API call of its own, only clicks, typing and reading pages. Fran (London) creates the
// planning on the Start screen and imports a 10-item CSV through the preview; Ann (Los Angeles),
// Bo (Berlin) and Cy (Kolkata) join by the invite link and set their zones and hours; the
// schedule takes the slot finder's proposal; a Definition of Ready, a question and its answer,
// capacity; two batches with deadlines, whose divergent and "?" votes flag items; the live
// session (focus, re-vote, reveal, agree); goal and scope committed; Dee joins late and catches
// up. Sprint dates read the same in every zone; the board of 10 items fits two screens.
// With SPRINTLOG_README_SHOTS set (a folder), the README's screenshots are written there too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { BASE, SHOTS, chromiumForFile, watch as watchInto } from './helpers.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);
const README = process.env.SPRINTLOG_README_SHOTS || '';
if (README) mkdirSync(README, { recursive: true });

/** A screenshot of the page into $SPRINTLOG_SCREENSHOTS (full page) and, asked, the README's (viewport). */
async function shot(page, name, readme) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  if (!README || !readme) return;
  // The README's picture waits for the card flip and other finite animations to end.
  await page.waitForFunction(() => document.getAnimations().every((a) => a.effect?.getTiming().iterations === Infinity || a.playState !== 'running'), null, { timeout: 5000 }).catch(() => {});
  await page.screenshot({ path: `${README}/${readme}.png` });
}

const DAY = 86400e3;
const TITLES = ['Login with SSO', 'Export CSV', 'Search', 'Audit log', 'Password reset', 'Invite teammates', 'Billing page', 'Dark mode', 'Email digest', 'Onboarding tour'];
const CSV = `title,key,acceptance_criteria\n${TITLES.map((t, i) => `${t},PRJ-${i + 1},Works as specified`).join('\n')}\n`;

/** Each member's cards per item: Export CSV diverges, Search gets a "?", the rest converge. */
const CARDS = {
  Ann: { 'Login with SSO': '3', 'Export CSV': '1', Search: '5', 'Audit log': '2', 'Password reset': '8', 'Invite teammates': '3', 'Billing page': '5', 'Dark mode': '1', 'Email digest': '2', 'Onboarding tour': '3' },
  Bo: { 'Login with SSO': '3', 'Export CSV': '13', Search: '5', 'Audit log': '2', 'Password reset': '8', 'Invite teammates': '3', 'Billing page': '5', 'Dark mode': '1', 'Email digest': '2', 'Onboarding tour': '3' },
  Cy: { 'Login with SSO': '3', 'Export CSV': '5', Search: '?', 'Audit log': '2', 'Password reset': '8', 'Invite teammates': '3', 'Billing page': '5', 'Dark mode': '1', 'Email digest': '2', 'Onboarding tour': '3' },
};

/** A member votes on every item of the open round on the board, one after the other. */
async function voteAll(m, count) {
  for (let i = 0; i < count; i++) {
    const title = (await m.page.locator('#round .voting h3 em').innerText()).trim();
    const card = CARDS[m.name][title];
    assert.ok(card, `${m.name} has a card for ${title}`);
    await m.page.locator(`#round .deck .vcard[data-card="${card}"]`).click();
    const mine = m.page.locator(`#round .deck .vcard.mine[data-card="${card}"]`);
    // The round's last vote closes it: the deck goes with it.
    await (i < count - 1 ? mine : mine.or(m.page.locator('#round').getByText('No round is open.'))).waitFor();
    if (i < count - 1) {
      await m.page.locator('#next-item').click();
      await m.page.locator('#round .voting h3 em', { hasNotText: title }).waitFor();
    }
  }
}

/** Fran ticks `titles` and opens a round with the deadline the dialog proposes. */
async function openBatch(a, titles) {
  for (const t of titles) await a.getByLabel(`Select ${t} for a round`).check();
  await a.locator('#open-round').click();
  const dialog = a.locator('dialog.deadline-dialog');
  await dialog.waitFor();
  assert.ok(await dialog.getByLabel(/Votes due/).inputValue(), 'the deadline is prefilled');
  return dialog;
}

test('the whole hybrid planning through the UI alone', async (t) => {
  let start = new Date(Date.now() + 8 * DAY);
  while (start.getUTCDay() !== 1) start = new Date(start.getTime() + DAY);
  const startDay = start.toISOString().slice(0, 10);
  const endDay = new Date(start.getTime() + 11 * DAY).toISOString().slice(0, 10);
  const size = { viewport: { width: 1280, height: 900 }, locale: 'en-US' };

  // ---- Start: Fran creates the planning ----
  const franCtx = await browser.newContext({ ...size, timezoneId: 'Europe/London' });
  const a = watch(await franCtx.newPage(), 'Fran');
  await a.goto(`${BASE}/`);
  await a.getByLabel('Title').fill('Sprint 12');
  await a.getByLabel('Your name').fill('Fran');
  await a.getByLabel('Sprint starts').fill(startDay);
  await a.getByLabel('Sprint ends').fill(endDay);
  await shot(a, 'journey-start', '1-start');
  await a.getByRole('button', { name: 'Create planning' }).click();
  const memberLink = await a.locator('#link-member').inputValue();
  assert.match(memberLink, /#\/join\/[0-9a-f-]+\?invite=/);
  await a.locator('#open-board').click();
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();

  // ---- import: ten items pasted, previewed, imported in one click ----
  await a.locator('#import > summary').click();
  await a.locator('#import-text').fill(CSV);
  await a.locator('#import-preview').click();
  await a.locator('#import-summary').getByText('10 rows ready. Nothing is written until you import.').waitFor();
  assert.equal(await a.locator('#import-result tr.good').count(), 10);
  await shot(a, 'journey-import-preview', '2-import-preview');
  await a.locator('#import-go').getByText('Import 10 items').click();
  await a.locator('#import-status').getByText('Imported 10 items.').waitFor();
  await a.locator('#items .item').nth(9).waitFor();
  assert.deepEqual(await a.locator('#items .item-title').allInnerTexts(), TITLES);
  await a.locator('#import > summary').click();

  // ---- Definition of Ready ----
  await a.locator('#dor summary').click();
  await a.locator('#dor-input').fill('AC written');
  await a.locator('#set-dor').click();
  await a.locator('#dor summary').getByText('1 criterion').waitFor();
  await a.locator('#dor summary').click();

  // ---- three members join by the link and set their zones and hours ----
  const members = [
    { name: 'Ann', zone: 'America/Los_Angeles', hours: ['08:00', '16:30'], city: 'Los Angeles' },
    { name: 'Bo', zone: 'Europe/Berlin', hours: ['09:00', '17:00'], city: 'Berlin' },
    { name: 'Cy', zone: 'Asia/Kolkata', hours: ['10:00', '19:00'], city: 'Kolkata' },
  ];
  for (const m of members) {
    m.ctx = await browser.newContext({ ...size, timezoneId: m.zone });
    m.page = watch(await m.ctx.newPage(), m.name);
    await m.page.goto(memberLink);
    await m.page.getByLabel('Your name').fill(m.name);
    await m.page.getByRole('button', { name: 'Join' }).click();
    await m.page.locator('#conn[data-state="online"]').waitFor();
    const prompt = m.page.locator('#zone-prompt');
    await prompt.waitFor();
    assert.equal(await prompt.getByLabel('My time zone').inputValue(), m.zone);
    await prompt.getByLabel('Working hours from').fill(m.hours[0]);
    await prompt.getByLabel('to', { exact: true }).fill(m.hours[1]);
    await prompt.getByRole('button', { name: 'Save my time zone' }).click();
    await prompt.waitFor({ state: 'detached' });
    await a.locator('.people .person', { hasText: `${m.name} (member)` }).getByText(`${m.city} ${m.hours[0]}–${m.hours[1]}`).waitFor();
  }

  // Sprint dates: calendar days, the same text in every zone.
  const dates = [];
  for (const p of [a, ...members.map((m) => m.page)]) dates.push((await p.locator('#sprint-dates').innerText()).trim());
  assert.equal(new Set(dates).size, 1, `sprint dates differ: ${dates.join(' | ')}`);
  const shown = (d) => new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${d}T00:00:00Z`));
  assert.equal(dates[0], `· Sprint ${shown(startDay)} – ${shown(endDay)}`);

  // ---- the schedule: the slot finder proposes the live sync ----
  await a.locator('#tab-time').click();
  await a.locator('#people-table').getByText('Asia/Kolkata').waitFor();
  await a.locator('#propose-sync').click();
  await a.locator('#sync-proposals li').first().waitFor();
  const slot = await a.locator('#sync-proposals li').first().locator('time').getAttribute('datetime');
  await a.locator('[data-key="use-slot-0"]').click();
  await a.locator('#sync-proposals li.chosen').waitFor();
  await a.locator('#schedule-form').evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await shot(a, 'journey-people-time', '3-people-and-time');
  await a.locator('#save-schedule').click();
  await a.locator('#sync-proposals').waitFor({ state: 'detached' });
  // The saved sync is the proposed slot, in each member's own zone.
  for (const m of members) {
    await m.page.locator('#tab-time').click();
    await m.page.locator(`#schedule time[datetime="${new Date(slot).toISOString()}"]`).first().waitFor();
    await m.page.locator('#tab-board').click();
  }
  await a.locator('#tab-board').click();

  // ---- readiness checked, a question and its answer ----
  const details = a.locator('#item-details');
  for (const t of TITLES) {
    await a.locator('#items .item-title', { hasText: t }).click();
    await details.locator('h2').getByText(t).waitFor();
    await details.getByRole('button', { name: `AC written is met for ${t}` }).click();
    await a.locator('#items .item', { hasText: t }).locator('.badge', { hasText: /^ready/ }).waitFor();
  }
  const ann = members[0].page;
  await ann.locator('#items .item-title', { hasText: 'Billing page' }).click();
  const annDetails = ann.locator('#item-details');
  await annDetails.locator('h2').getByText('Billing page').waitFor();
  await annDetails.getByLabel('Comment or question').fill('Which payment provider?');
  await annDetails.getByLabel('Kind').selectOption('question');
  await annDetails.getByLabel('Ask whom').selectOption({ label: 'to Fran' });
  await annDetails.getByRole('button', { name: 'Post' }).click();
  await a.locator('#inbox-questions').getByText('Which payment provider?').waitFor();
  await a.locator('#inbox-questions').getByRole('button', { name: 'Answer' }).click();
  const answer = details.getByLabel('Answer to Ann');
  await answer.fill('Stripe, as today');
  await answer.press('Enter');
  await annDetails.locator('.answers').getByText('Stripe, as today').waitFor();

  // ---- capacity: each member's days, the velocity ----
  for (const [m, days] of members.map((m, i) => [m, [8, 6, 9][i]])) {
    await m.page.locator('#capacity summary').click();
    await m.page.locator('#cap-days').fill(String(days));
    await m.page.locator('#cap-focus').fill('0.5');
    await m.page.locator('#declare-capacity').click();
    await a.locator('#capacity tr', { hasText: new RegExp(`^${m.name}\\d`) }).waitFor({ state: 'attached' });
    await m.page.locator('#capacity summary').click(); // closed again
  }
  await a.locator('#capacity summary').click();
  await a.locator('#velocity').fill('2');
  await a.locator('#set-velocity').click();
  await a.locator('#team-capacity').getByText('23 points').waitFor();
  await a.locator('#capacity summary').click();

  // ---- two batches with deadlines; votes on the board ----
  await a.locator('#goal-input').fill('Customers sign in with SSO and find their data');
  await a.locator('#draft-goal').click();
  await a.locator('#goal-text').getByText('Customers sign in with SSO').waitFor();
  for (const batch of [TITLES.slice(0, 5), TITLES.slice(5)]) {
    const dialog = await openBatch(a, batch);
    if (batch[0] === TITLES[0]) await shot(a, 'journey-round-deadline');
    await a.locator('#round-deadline-open').click();
    await a.locator('#round .round').waitFor().catch(async (e) => {
      await a.screenshot({ path: `${SHOTS}/journey-fail.png`, fullPage: true });
      throw e;
    });
    for (const m of members) {
      await m.page.locator('#round .voting').waitFor();
      await voteAll(m, batch.length);
    }
    void dialog;
    await a.locator('#round').getByText('No round is open.').waitFor();
  }

  // Flags: the divergent item and the one with a "?" are flagged for the live session.
  await a.locator('#items .item', { hasText: 'Export CSV' }).locator('.badge.flag').waitFor();
  await a.locator('#items .item', { hasText: 'Search' }).locator('.badge.flag').waitFor();
  await a.locator('#items .item', { hasText: 'Audit log' }).locator('.badge', { hasText: 'proposed 2' }).waitFor();
  assert.equal(await a.locator('#items .item .badge.flag').count(), 2);

  // The board of 10 items within two screens at 1280×900, for Fran and a member.
  await shot(ann, 'journey-board-member');
  for (const [who, p] of [['Fran', a], ['Ann', ann]]) {
    const height = await p.evaluate(() => document.documentElement.scrollHeight);
    t.diagnostic(`${who}'s board of 10 items: ${height} px`);
    assert.ok(height <= 1500, `${who}'s board of 10 items is ${height} px tall (at most 1500)`);
  }
  // (the README's shot starts at the goal, the backlog's heading below the sticky header)
  await a.evaluate(() => window.scrollTo(0, document.querySelector('#goal').getBoundingClientRect().top + window.scrollY - 56));
  await shot(a, 'journey-board', '4-board');

  // ---- the live session ----
  await a.locator('#tab-live').click();
  for (const m of members) await m.page.locator('#tab-live').click();
  await a.locator('#start-sync').click();
  await a.locator('#agenda li', { hasText: 'Export CSV' }).waitFor();
  await a.locator('#agenda li', { hasText: 'Search' }).waitFor();
  for (const title of ['Export CSV', 'Search']) {
    await a.locator('#next-agenda', { hasText: title }).click();
    for (const m of members) await m.page.locator('#focus-h em').getByText(title).waitFor();
    await a.locator('#revote').click();
    for (const m of members) {
      await m.page.locator('#live-item .deck .vcard').first().waitFor();
      await m.page.locator('#live-item .deck .vcard[data-card="5"]').click();
      // (the last vote reveals at once: its deck goes)
      if (m !== members[2]) await m.page.locator('#live-item .deck .vcard.mine[data-card="5"]').waitFor();
    }
    // The last vote reveals on every page: all three 5s.
    for (const p of [a, ...members.map((m) => m.page)]) await p.locator('#distribution .bar[data-card="5"][data-count="3"]').waitFor();
    if (title === 'Export CSV') {
      await shot(a, 'journey-live-reveal', '5-live-reveal');
    }
    assert.equal(await a.locator('#agree-card').inputValue(), '5');
    await a.locator('#agree').click();
    await a.locator('#agreed').getByText('5').waitFor();
  }
  await a.locator('#agree-proposed').click();
  await a.locator('#converged').waitFor({ state: 'detached' });

  // ---- goal and scope committed ----
  await a.locator('#commit-goal').click();
  await a.locator('#live-goal-text .badge').getByText('committed').waitFor();
  // 37 points agreed against 23: three items stay out, and the bar is within capacity.
  await a.locator('#capbar').getByText('37 of 23 points').waitFor();
  for (const [title, points] of [['Password reset', 8], ['Billing page', 5], ['Onboarding tour', 3]]) await a.getByLabel(`${title} — ${points} (${points} points)`).uncheck();
  await a.locator('#capbar').getByText('21 of 23 points').waitFor();
  assert.equal(await a.locator('#confirm-over').count(), 0);
  await a.locator('#commit-scope').click();
  await a.locator('#phase').getByText('committed').waitFor();
  await a.locator('#scope h2').getByText('Committed scope').waitFor();
  for (const m of members) await m.page.locator('#scope h2').getByText('Committed scope').waitFor();
  await shot(a, 'journey-commitment', '6-commitment');

  // ---- a late joiner catches up: the story so far ----
  const deeCtx = await browser.newContext({ ...size, timezoneId: 'America/New_York' });
  const d = watch(await deeCtx.newPage(), 'Dee');
  await d.goto(memberLink);
  await d.getByLabel('Your name').fill('Dee');
  await d.getByRole('button', { name: 'Join' }).click();
  await d.locator('#conn[data-state="online"]').waitFor();
  await d.locator('#since-visit').getByText('New here?').waitFor();
  await d.locator('#catch-up-link').click();
  await d.locator('#digest-span').waitFor();
  const story = await d.locator('#digest').innerText();
  assert.match(story, /The story so far/);
  assert.match(story, /Fran created the planning “Sprint 12”/);
  assert.match(story, /Cy joined as a member/);
  assert.match(story, /committed 7 items, 21 points against a capacity of 23/);
  await shot(d, 'journey-catch-up', '7-catch-up');

  // ---- the audit ----
  await a.locator('#tab-audit').click();
  await a.locator('#chain').getByText('Chain verified').waitFor();
  await a.locator('#audit-items h3', { hasText: 'Export CSV' }).getByText('committed').waitFor();
  await shot(a, 'journey-audit');

  assert.deepEqual(problems, [], 'no console errors');
  for (const m of members) await m.ctx.close();
  await deeCtx.close();
  await franCtx.close();
});
