// End-to-end test of the web client in Debian's Chromium (playwright-core, no browser
// download), against a real sprintlog server whose base URL is in SPRINTLOG_BASE_URL.
// Started by `cargo test --test browser` (tests/browser.rs), which starts the server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch as watchInto } from './helpers.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);

test('two people plan: create, invite, join, propose, open a round, vote hidden, reveal on close', async () => {
  // Fran creates a planning.
  const fran = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
  const a = watch(await fran.newPage(), 'Fran');
  await a.goto(`${BASE}/`);
  await a.getByLabel('Title').fill('Sprint 42');
  await a.getByLabel('Your name').fill('Fran');
  await a.getByRole('button', { name: 'Create planning' }).click();
  const memberField = a.locator('#link-member');
  await memberField.waitFor();
  assert.match(await a.locator('#link-facilitator').inputValue(), /#\/p\/[0-9a-f-]+\?token=/);
  await a.getByRole('button', { name: 'Copy Member invite link' }).click();
  await a.getByText('Copied').first().waitFor();
  const copied = await a.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, await memberField.inputValue(), 'the copy button copies the member link');
  assert.match(copied, /#\/join\/[0-9a-f-]+\?invite=/);
  // "My plannings" lists it.
  await a.locator('ul.mine').getByText('Sprint 42').waitFor();

  // Fran opens the board, starts the async review and proposes two items.
  await a.locator('#open-board').click();
  await a.locator('#planning-title').getByText('Sprint 42').waitFor();
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();
  for (const [title, ac] of [
    ['Login with SSO', 'Works with Okta\nLogout clears the session'],
    ['Export CSV', 'Has a header row'],
  ]) {
    await a.locator('#item-title').fill(title);
    await a.locator('#item-ac').fill(ac);
    await a.locator('#propose').click();
    await a.locator('#items .item-title', { hasText: title }).waitFor();
  }
  // The first item's details show beside the list.
  await a.locator('#item-details').getByText('Logout clears the session').waitFor();
  assert.ok(!(await a.locator('#items').innerText()).includes('null'), 'no "null" rendered');
  assert.ok(!(await a.locator('#item-details').innerText()).includes('null'), 'no "null" rendered');

  // Ann joins with the copied member link, in her own browser context.
  const ann = await browser.newContext();
  const b = watch(await ann.newPage(), 'Ann');
  await b.goto(copied);
  await b.getByLabel('Your name').fill('Ann');
  await b.getByRole('button', { name: 'Join' }).click();
  await b.locator('#planning-title').getByText('Sprint 42').waitFor();
  assert.ok(!(await b.url()).includes('invite='), 'the join redirects to the board');
  await b.locator('#items').getByText('Login with SSO').waitFor();

  // Fran opens a round on both items.
  await a.locator('.people').getByText('Ann (member)').waitFor();
  // Fran sees Ann online: presence changes arrive as "joined"/"left" on top of the set.
  await a.locator('.people .person.on', { hasText: 'Ann (member)' }).waitFor();
  await a.getByLabel('Select Login with SSO for a round').check();
  await a.getByLabel('Select Export CSV for a round').check();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-open').click();
  await a.locator('#round .not-voted').getByText('Ann').waitFor();

  // Ann's "My plannings" says what she owes; she goes back to the board from there.
  await b.locator('a.brand').click();
  await b.locator('#my-plannings li', { hasText: 'Sprint 42' }).getByText('2 votes to cast').waitFor();
  await a.locator('.people .person:not(.on)', { hasText: 'Ann (member)' }).waitFor();
  await b.locator('#my-plannings a', { hasText: 'Sprint 42' }).click();
  await b.locator('#conn[data-state="online"]').waitFor();
  await a.locator('.people .person.on', { hasText: 'Ann (member)' }).waitFor();
  // Ann's own board has the whole set (sent after her catch-up): Fran is online.
  await b.locator('.people .person.on', { hasText: 'Fran (facilitator)' }).waitFor();
  // Her inbox (the server's) lists both votes she owes; Fran, who does not vote, owes none.
  await b.locator('#inbox-votes li').nth(1).waitFor();
  assert.deepEqual(await b.locator('#inbox-votes li button').allInnerTexts(), ['Login with SSO', 'Export CSV']);
  assert.equal(await a.locator('#inbox-votes').count(), 0);

  // Ann votes with the keyboard: a card's key is its label, "3" is the card 3.
  await b.locator('.deck .vcard').first().waitFor();
  await b.locator('#round h3').getByText('Login with SSO').waitFor();
  await b.keyboard.press('3');
  await b.locator('.deck .vcard.mine', { hasText: '3' }).waitFor();
  await b.locator('#my-vote').getByText('3').waitFor();
  assert.match(await b.locator('#item-details .vote.mine').first().innerText(), /3/);
  // She takes it back (Fran sees no vote of hers any more) and votes again.
  await a.locator('#item-details .vote.down', { hasText: 'Ann' }).waitFor();
  await b.locator('#withdraw-vote').click();
  await b.locator('#my-vote').waitFor({ state: 'detached' });
  await a.locator('#item-details .vote.down', { hasText: 'Ann' }).waitFor({ state: 'detached' });
  await b.keyboard.press('3');
  await b.locator('#my-vote').getByText('3').waitFor();
  await b.locator('#inbox-votes li').nth(1).waitFor({ state: 'detached' });
  assert.deepEqual(await b.locator('#inbox-votes li button').allInnerTexts(), ['Export CSV']);

  // Fran sees that Ann voted, face down, without the value.
  const annVote = a.locator('#item-details .vote.down', { hasText: 'Ann' });
  await annVote.waitFor();
  assert.equal((await annVote.innerText()).trim(), 'Ann', 'the card is face down');
  assert.equal(await a.locator('.vote.up').count(), 0, 'nothing revealed yet');
  await a.locator('#round .not-voted').getByText('Ann').waitFor(); // one item left
  await a.locator('#round .voted').getByText('Ann (1 of 2)').waitFor();
  await a.screenshot({ path: `${SHOTS}/board.png`, fullPage: true });
  await b.screenshot({ path: `${SHOTS}/board-member.png`, fullPage: true });

  // Ann votes on the second item ("5"): every member has voted,
  // the round closes, the votes converge and are revealed to everyone.
  await b.locator('#next-item').click();
  await b.locator('#round h3').getByText('Export CSV').waitFor();
  await b.keyboard.press('5');
  for (const page of [a, b]) {
    // The details beside the list show the chosen item's revealed votes.
    await page.locator('#item-details .votes.revealed .vote.up').waitFor();
    assert.match(await page.locator('#item-details .votes.revealed').innerText(), /3/);
    await page.locator('#items .item-title', { hasText: 'Export CSV' }).click();
    await page.locator('#item-details h2').getByText('Export CSV').waitFor();
    assert.match(await page.locator('#item-details .votes.revealed').innerText(), /5/);
    await page.locator('#round').getByText('No round is open.').waitFor();
  }
  await b.locator('#inbox').getByText('Nothing waits for you.').waitFor();
  await a.locator('.badge', { hasText: 'proposed 3' }).waitFor();
  await a.screenshot({ path: `${SHOTS}/board-revealed.png`, fullPage: true });

  assert.deepEqual(problems, [], 'no console errors');
  await fran.close();
  await ann.close();
});
