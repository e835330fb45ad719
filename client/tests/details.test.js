// The start form's sprint dates and deck, the async board's details (readiness per criterion,
// attachments, threaded questions with the unanswered ones highlighted, the inbox, capacity, the
// round's countdown and who has voted, closing a round), and accessibility: every control
// labelled, focus and typed text kept across live re-renders, usable at a phone's width.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { unlabelled, lowContrast, overflows } from './a11y.js';

const browser = chromiumForFile();
const problems = [];

test('phone width: create with dates and deck; board details; focus kept while others work', async () => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'America/New_York', locale: 'en-US' });
  const a = watch(await ctx.newPage(), 'Fran', problems);
  await a.goto(`${BASE}/`);
  assert.deepEqual(await unlabelled(a), [], 'every control on the start screen is labelled');
  await a.getByLabel('Title').fill('Phone sprint');
  await a.getByLabel('Your name').fill('Fran');
  // A sprint starting in a week (the schedule's defaults put the vote deadline a day before).
  const day = (n) => new Date(Date.now() + n * 86400e3).toISOString().slice(0, 10);
  const shown = (d) => new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${d}T00:00:00Z`));
  await a.getByLabel('Sprint starts').fill(day(7));
  await a.getByLabel('Sprint ends').fill(day(18));
  await a.getByLabel('Deck').selectOption('t_shirt');
  await a.getByRole('button', { name: 'Create planning' }).click();
  await a.locator('#open-board').click();
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#sprint-dates').getByText(`${shown(day(7))} – ${shown(day(18))}`).waitFor();
  assert.match(await a.locator('#votes-due time').getAttribute('title'), /UTC$/);
  await a.locator('.meta').getByText('Deck: XS S M L XL').waitFor();
  assert.equal(await overflows(a), false, 'no sideways scrolling on the board');
  const planning = a.url().match(/#\/p\/([0-9a-f-]+)/)[1];
  const token = await a.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, planning);
  const view = await rest('GET', `/api/plannings/${planning}`, { token });
  assert.equal(view.state.deck.kind, 't_shirt');
  assert.ok(view.state.schedule.sprint_start < view.state.schedule.sprint_end);

  // Async review with a Definition of Ready and an item with an attachment.
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();
  await a.locator('#dor summary').click();
  await a.locator('#dor-input').fill('AC written\nDesigns linked');
  await a.locator('#set-dor').click();
  await a.locator('#dor summary').getByText('2 criteria').waitFor();
  await a.locator('#item-title').fill('Login with SSO');
  await a.locator('#item-ac').fill('Works with Okta');
  await a.locator('#item-att').fill('https://design.example/login\nsee the Okta notes');
  await a.locator('#propose').click();
  // The list row shows its state at a glance; the details beside it (below it at this width)
  // show the chosen item, the first one here.
  const row = a.locator('#items .item', { hasText: 'Login with SSO' });
  const item = a.locator('#item-details');
  await item.locator('h2').getByText('Login with SSO').waitFor();
  await item.locator('.attachments a[href="https://design.example/login"]').waitFor();
  await item.getByText('see the Okta notes').waitFor();
  await item.getByText('AC written: not checked').waitFor();
  await item.getByRole('button', { name: 'AC written is met for Login with SSO' }).click();
  await item.locator('.check-ok').getByText('AC written: ok').waitFor();
  await item.getByRole('button', { name: 'Designs linked is not met for Login with SSO' }).click();
  await item.locator('.check-failed').getByText('Designs linked: not met').waitFor();
  await row.locator('.badge', { hasText: 'not ready: Designs linked' }).waitFor();

  // Capacity (a disclosure whose summary gives the team's figures).
  await a.locator('#capacity summary').click();
  await a.locator('#cap-days').fill('8');
  await a.locator('#cap-focus').fill('0.5');
  await a.locator('#declare-capacity').click();
  await a.locator('#capacity tr', { hasText: 'Fran' }).getByText('4', { exact: true }).waitFor();
  await a.locator('#velocity').fill('2');
  await a.locator('#set-velocity').click();
  await a.locator('#team-capacity').getByText('8 points').waitFor();

  // Ann joins and asks Fran a question: it shows in Fran's inbox and is highlighted.
  const created = await rest('GET', `/api/plannings/${planning}`, { token });
  const invite = await rest('POST', `/api/plannings/${planning}/invites`, { token, body: { role: 'member' } });
  const ann = await rest('POST', `/api/plannings/${planning}/join`, { body: { invite: invite.invite, name: 'Ann' } });
  const itemId = Object.values(created.state.items)[0].id;
  await command(planning, ann.token, { type: 'PostComment', item: itemId, kind: 'question', addressee: created.you.participant, text: 'Which Okta tenant?' });
  await a.locator('#inbox-questions').getByText('Which Okta tenant?').waitFor();
  const question = item.locator('.comment.question.unanswered', { hasText: 'Which Okta tenant?' });
  await question.waitFor();
  await question.locator('.badge', { hasText: 'unanswered' }).waitFor();
  // Fran answers from the inbox: the button takes her to the answer field.
  await a.locator('#inbox-questions').getByRole('button', { name: 'Answer' }).click();
  const answerField = question.getByLabel('Answer to Ann');
  assert.equal(await answerField.evaluate((e) => e === document.activeElement), true, 'focus moved to the answer field');
  await answerField.fill('The staging one');
  await answerField.press('Enter');
  await item.locator('.answers').getByText('The staging one').waitFor();
  await item.locator('.comment.question:not(.unanswered)', { hasText: 'Which Okta tenant?' }).waitFor();
  await a.locator('#inbox').getByText('Nothing waits for you.').waitFor();

  // Focus and typed text survive re-renders caused by others.
  await a.locator('#item-title').click();
  await a.locator('#item-title').pressSequentially('Half typed');
  await command(planning, ann.token, { type: 'PostComment', item: itemId, kind: 'comment', text: 'I can take it' });
  await item.getByText('I can take it').waitFor();
  assert.equal(await a.evaluate(() => document.activeElement.id), 'item-title', 'focus kept');
  assert.equal(await a.locator('#item-title').inputValue(), 'Half typed', 'text kept');
  await a.keyboard.type(' item');
  assert.equal(await a.locator('#item-title').inputValue(), 'Half typed item', 'the caret stayed at the end');
  await a.locator('#item-title').fill('');

  // A round: deadline in the viewer's zone with UTC in the title, a countdown, who voted.
  await a.locator('.people').getByText('Ann (member)').waitFor();
  await item.getByRole('button', { name: 'Designs linked is met for Login with SSO' }).click();
  await row.locator('.badge', { hasText: 'not ready' }).waitFor({ state: 'detached' });
  await a.getByLabel('Select Login with SSO for a round').check();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-open').click();
  const round = a.locator('#round .round');
  await round.waitFor();
  assert.match(await round.locator('time').getAttribute('title'), /UTC$/);
  // Shown in the viewer's own zone (this context runs in New York).
  const iso = await round.locator('time').getAttribute('datetime');
  const ny = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/New_York' }).format(new Date(iso));
  const norm = (t) => t.replace(/\s+/g, ' ').trim();
  assert.equal(norm(await round.locator('time').innerText()), norm(ny));
  assert.match(await round.locator('.countdown').innerText(), /(h|min) .*left$/);
  await round.locator('.not-voted').getByText('Ann').waitFor();
  await round.locator('.voted').getByText('nobody yet').waitFor();
  const r = (await rest('GET', `/api/plannings/${planning}`, { token })).state.round_order[0];
  await command(planning, ann.token, { type: 'CastVote', round: r, item: itemId, card: 'M' });
  await a.locator('#round-h').waitFor();
  // Ann is the only member: her vote closes the round, converged.
  await a.locator('#round').getByText('No round is open.').waitFor();
  await row.locator('.badge', { hasText: 'proposed M' }).waitFor();
  assert.deepEqual(await unlabelled(a), [], 'every control on the board is labelled');
  assert.deepEqual(await lowContrast(a), [], 'enough contrast on the board');
  assert.equal(await overflows(a), false, 'no sideways scrolling on the board');
  await a.screenshot({ path: `${SHOTS}/board-phone.png`, fullPage: true });

  // A second round closed early by the facilitator.
  await a.locator('#item-title').fill('Export CSV');
  await a.locator('#propose').click();
  await a.getByLabel('Select Export CSV for a round').check();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-open').click();
  await a.locator('#close-round').click();
  await a.locator('#round').getByText('No round is open.').waitFor();

  // An item without acceptance criteria needs discussion; Fran sends it to the live agenda.
  await a.locator('#item-title').fill('Audit log');
  await a.locator('#propose').click();
  const audit = a.locator('#items .item', { hasText: 'Audit log' });
  await audit.locator('.badge', { hasText: 'needs discussion: no acceptance criteria' }).waitFor();
  await audit.locator('.item-title').click();
  await a.locator('#item-details h2').getByText('Audit log').waitFor();
  await a.locator('#item-details').getByRole('button', { name: 'Send to the live agenda (no async round)' }).click();
  await audit.locator('.badge.flag', { hasText: 'flagged: discussion' }).waitFor();
  assert.equal(await audit.locator('.badge', { hasText: 'needs discussion' }).count(), 0);

  for (const tab of ['live', 'time', 'timeline', 'audit']) {
    await a.locator(`#tab-${tab}`).click();
    await a.locator(`#tab-${tab}[aria-current="page"]`).waitFor();
    if (tab === 'timeline') await a.locator('#scrubber').waitFor();
    if (tab === 'audit') await a.locator('#chain').waitFor();
    assert.equal(await overflows(a), false, `no sideways scrolling on ${tab}`);
    assert.deepEqual(await unlabelled(a), [], `every control on ${tab} is labelled`);
    assert.deepEqual(await lowContrast(a), [], `enough contrast on ${tab}`);
  }
  // A keyboard user on a tab stays there while others' changes re-render the page.
  await a.locator('#tab-board').focus();
  await command(planning, ann.token, { type: 'Rename', name: 'Annie' });
  await a.locator('.people').getByText('Annie (member)').waitFor();
  assert.equal(await a.evaluate(() => document.activeElement.id), 'tab-board', 'focus kept on the tab');
  assert.deepEqual(problems, [], 'no console errors');
  await ctx.close();
});

test('start: a planning for a team gets the chosen deck and its roster links', async () => {
  const team = await rest('POST', '/api/teams', { body: { name: 'Core', roster: [{ name: 'Ada' }, { name: 'Cy', role: 'observer' }] } });
  const ctx = await browser.newContext({ locale: 'en-US' });
  const a = watch(await ctx.newPage(), 'Fran (team)', problems);
  await a.goto(`${BASE}/`);
  await a.getByLabel('Title').fill('Core sprint 1');
  await a.getByLabel('Your name').fill('Fran');
  await a.getByLabel('Deck').selectOption('custom');
  await a.getByLabel('Custom cards (comma separated, lowest first)').fill('1, 2, 4');
  await a.locator('details.team summary').click();
  await a.getByLabel('Team id').fill(team.team);
  await a.getByLabel('Team admin token').fill(team.admin_token);
  await a.getByRole('button', { name: 'Create planning' }).click();
  await a.locator('#created h3').getByText('Team roster').waitFor();
  assert.match(await a.locator('#link-roster-0').inputValue(), /#\/join\/[0-9a-f-]+\?invite=/);
  assert.match(await a.locator('#created').innerText(), /Cy \(observer\)/);
  await a.locator('#open-board').click();
  await a.locator('.meta').getByText('Deck: 1 2 4').waitFor();
  const view = await rest('GET', `/api/teams/${team.team}`, { token: team.admin_token });
  assert.equal(view.plannings[0].title, 'Core sprint 1');
  assert.deepEqual(problems, [], 'no console errors');
  await ctx.close();
});
