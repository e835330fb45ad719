// The backlog in and out, a board that fits on a screen, and readiness that helps: import by
// drop, file picker and paste with a preview that names each bad line before anything is
// written; edit, withdraw, restore; rank by keyboard and by drag; the estimates' export; filters;
// the chosen item's details beside the list (below it at a phone's width); 8 items within two
// screen heights at 1280×900 for the facilitator and a member; the Definition of Ready kept in
// its editor, who made each check, the failed criterion named and the override in one step; the
// batch size shown while ticking and a refusal shown beside its control with the ticks kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';
import { unlabelled, lowContrast, overflows } from './a11y.js';

const browser = chromiumForFile();
const problems = [];

const TITLES = ['Login with SSO', 'Export CSV', 'Search', 'Audit log', 'Password reset', 'Invite teammates', 'Billing page', 'Dark mode'];

/** A CSV of the eight items; `bad` empties the third row's title (line 4). */
function csv(bad) {
  const rows = TITLES.map((t, i) => `${bad && i === 2 ? '' : t},PRJ-${i + 1},Works as specified;Has tests`);
  return `title,key,acceptance_criteria\n${rows.join('\n')}\n`;
}

const order = (page) => page.locator('#items .item-title').allInnerTexts();

test('backlog in and out, a board that fits, readiness that helps', async () => {
  const created = await rest('POST', '/api/plannings', { body: { title: 'Sprint 7', name: 'Fran' } });
  const { planning, token } = created;
  const fac = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  const a = watch(await fac.newPage(), 'Fran', problems);
  await a.goto(created.links.facilitator);
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();
  await a.locator('#no-items').getByText('No items yet.').waitFor();
  const head0 = (await rest('GET', `/api/plannings/${planning}`, { token })).head;

  // ---- import: a dropped CSV with a bad line is previewed, nothing written ----
  await a.locator('#import > summary').click();
  const dropped = await a.evaluateHandle((text) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], 'backlog.csv', { type: 'text/csv' }));
    return dt;
  }, csv(true));
  await a.locator('#import-drop').dispatchEvent('dragover', { dataTransfer: dropped });
  await a.locator('#import-drop').dispatchEvent('drop', { dataTransfer: dropped });
  const bad = a.locator('#import-result tr.bad[data-line="4"]');
  await bad.getByText('the title is empty').waitFor();
  assert.equal(await a.locator('#import-result tr.good').count(), 7, 'the other seven rows are fine');
  assert.deepEqual(await a.locator('#import-result tr[data-line="2"] td').allInnerTexts(), ['2', 'Login with SSO', 'PRJ-1', '2', '—']);
  await a.locator('#import-summary').getByText(/7 rows ready, 1 with a problem/).waitFor();
  assert.equal(await a.locator('#import-go').count(), 0, 'no import offered while a line is bad');
  assert.equal(await a.locator('#import-text').inputValue(), csv(true), 'the dropped file is shown to fix');
  await a.screenshot({ path: `${SHOTS}/import-preview.png`, fullPage: true });
  assert.deepEqual(await unlabelled(a), [], 'every control of the import is labelled');
  assert.deepEqual(await lowContrast(a), [], 'enough contrast in the preview');
  assert.equal((await rest('GET', `/api/plannings/${planning}`, { token })).head, head0, 'the preview wrote nothing');

  // A Jira export chosen with the file picker: its bad issue is named by its position.
  const jira = { issues: [{ key: 'J-1', fields: { summary: 'Jira one' } }, { key: 'J-2', fields: { summary: '' } }] };
  await a.locator('#import-file').setInputFiles({ name: 'jira.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(jira)) });
  await a.locator('#import-result tr.bad[data-line="2"]').waitFor();
  await a.locator('#import-result tr.good', { hasText: 'J-1' }).waitFor();
  assert.equal(await a.locator('#import-go').count(), 0);

  // The fixed CSV pasted in: previewed clean, then imported in one click.
  await a.locator('#import-text').fill(csv(false));
  await a.locator('#import-preview').click();
  await a.locator('#import-summary').getByText('8 rows ready. Nothing is written until you import.').waitFor();
  assert.equal(await a.locator('#import-result tr.bad').count(), 0);
  await a.locator('#import-go').getByText('Import 8 items').click();
  await a.locator('#import-status').getByText('Imported 8 items.').waitFor();
  await a.locator('#items .item').nth(7).waitFor();
  assert.deepEqual(await order(a), TITLES);
  // The same file again: its rows are marked as in the backlog already.
  await a.locator('#import-text').fill(csv(false));
  await a.locator('#import-preview').click();
  await a.locator('#import-result tr[data-line="2"]').getByText('already in the backlog as “Login with SSO”').waitFor();
  await a.locator('#import-summary').getByText('8 of them are in the backlog already').waitFor();
  await a.locator('#import-text').fill('');
  await a.locator('#import > summary').click(); // closed again

  // ---- Definition of Ready: the editor keeps its criteria after saving ----
  await a.locator('#dor summary').click();
  await a.locator('#dor-input').fill('AC written\nDesigns linked');
  await a.locator('#set-dor').click();
  await a.locator('#dor summary').getByText('2 criteria').waitFor();
  assert.equal(await a.locator('#dor-input').inputValue(), 'AC written\nDesigns linked', 'the criteria stay in the editor');
  await a.locator('#dor summary').click();

  // Ann (Los Angeles) joins with the member link.
  const mem = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'America/Los_Angeles', locale: 'en-US' });
  const b = watch(await mem.newPage(), 'Ann', problems);
  await b.goto(created.links.member);
  await b.getByLabel('Your name').fill('Ann');
  await b.getByRole('button', { name: 'Join' }).click();
  await b.locator('#conn[data-state="online"]').waitFor();
  await a.locator('.people').getByText('Ann (member)').waitFor();

  // ---- readiness: who checked, which mark is active, the failed criterion, the override ----
  const details = a.locator('#item-details');
  await details.locator('h2').getByText('Login with SSO').waitFor();
  // Ann's page settled first (her time-zone prompt shows above the board once her view is in).
  await b.locator('#zone-prompt').waitFor();
  await b.locator('#item-details h2').getByText('Login with SSO').waitFor();
  await b.locator('#item-details').getByRole('button', { name: 'AC written is met for Login with SSO' }).click();
  const acCheck = details.locator('.check-ok', { hasText: 'AC written: ok' });
  await acCheck.getByText('checked by Ann').waitFor();
  assert.equal(await details.getByRole('button', { name: 'AC written is met for Login with SSO' }).getAttribute('aria-pressed'), 'true');
  assert.equal(await details.getByRole('button', { name: 'AC written is not met for Login with SSO' }).getAttribute('aria-pressed'), 'false');
  await details.getByRole('button', { name: 'Designs linked is not met for Login with SSO' }).click();
  await details.locator('.check-failed', { hasText: 'Designs linked: not met' }).getByText('checked by you').waitFor();
  // A failed check says what is missing.
  await details.getByRole('button', { name: 'Say what is missing for Designs linked' }).click();
  await details.getByLabel('What is missing for Designs linked').fill('No Figma link yet');
  await details.getByLabel('What is missing for Designs linked').press('Enter');
  await details.locator('.check-failed', { hasText: 'Designs linked: not met' }).getByText('(No Figma link yet)').waitFor();
  assert.equal(await details.getByRole('button', { name: 'Designs linked is not met for Login with SSO' }).getAttribute('aria-pressed'), 'true');
  const loginRow = a.locator('#items .item', { hasText: 'Login with SSO' });
  await loginRow.locator('.badge', { hasText: 'not ready: Designs linked' }).waitFor();
  await details.locator('#not-ready').getByText('“Designs linked” is not met.').waitFor();
  assert.equal(await a.getByLabel('Select Login with SSO for a round').count(), 0, 'a not-ready item is not offered for a round');
  await a.screenshot({ path: `${SHOTS}/readiness.png`, fullPage: true });
  // The override, in one step: a reason and the button.
  await details.getByLabel('Why Login with SSO is ready anyway').fill('Designs are agreed, links follow');
  await details.locator('#override-readiness').click();
  await details.getByText('overridden by the facilitator').waitFor();
  await loginRow.locator('.badge', { hasText: 'not ready' }).waitFor({ state: 'detached' });
  await loginRow.locator('.badge', { hasText: 'ready (override)' }).waitFor();
  await a.locator('#items .item', { hasText: 'Export CSV' }).locator('.badge', { hasText: 'DoR 0 of 2' }).waitFor();
  await a.getByLabel('Select Login with SSO for a round').waitFor();

  // ---- edit, withdraw, restore ----
  await a.locator('#items .item-title', { hasText: 'Dark mode' }).click();
  await details.locator('h2').getByText('Dark mode').waitFor();
  await details.locator('#edit-item').click();
  await a.locator('#edit-title').fill('Dark mode (system setting)');
  await a.locator('#edit-desc').fill('Follows prefers-color-scheme');
  await a.locator('.deps-pick').getByLabel('Billing page').check();
  await details.screenshot({ path: `${SHOTS}/item-edit.png` });
  await a.locator('#save-item').click();
  await a.locator('#items .item-title', { hasText: 'Dark mode (system setting)' }).waitFor();
  await details.getByText('Follows prefers-color-scheme').waitFor();
  await details.locator('.deps').getByText('Billing page').waitFor();
  await a.getByLabel('Why withdraw Dark mode (system setting) (optional)').fill('next quarter');
  await a.locator('#withdraw-item').click();
  await a.locator('#withdrawn summary').getByText('Withdrawn (1)').waitFor();
  assert.equal(await a.locator('#items .item').count(), 7);
  await a.locator('#withdrawn summary').click();
  await a.getByRole('button', { name: 'Restore Dark mode (system setting)' }).click();
  await a.locator('#items .item').nth(7).waitFor();
  await a.locator('#withdrawn').waitFor({ state: 'detached' });
  const titles = [...TITLES.slice(0, 7), 'Dark mode (system setting)'];
  assert.deepEqual(await order(a), titles, 'restored at its place');
  // The details step through the list in its order.
  await details.locator('h2').getByText('Login with SSO').waitFor();
  assert.equal(await a.locator('#prev-item').isDisabled(), true, 'nothing before the first item');
  await a.locator('#next-in-list').click();
  await details.locator('h2').getByText('Export CSV').waitFor();
  await details.locator('.stepper').getByText('2 of 8').waitFor();
  await a.locator('#prev-item').click();
  await details.locator('h2').getByText('Login with SSO').waitFor();

  // ---- rank by keyboard and by drag ----
  const handle = (t) => a.getByRole('button', { name: `Move ${t} (↑ / ↓, Home / End)` });
  await handle('Search').focus();
  await a.keyboard.press('ArrowUp');
  await a.waitForFunction(() => document.querySelectorAll('#items .item-title')[1]?.textContent === 'Search');
  // Focus stays on the handle: a second press moves it on.
  await a.keyboard.press('ArrowUp');
  await a.waitForFunction(() => document.querySelectorAll('#items .item-title')[0]?.textContent === 'Search');
  await a.locator('#board-status').getByText('Search moved to place 1 of 8').waitFor({ state: 'attached' });
  // End sends it to the bottom, Home brings it back to the top.
  await a.keyboard.press('End');
  await a.waitForFunction(() => document.querySelectorAll('#items .item-title')[7]?.textContent === 'Search');
  await a.keyboard.press('Home');
  await a.waitForFunction(() => document.querySelectorAll('#items .item-title')[0]?.textContent === 'Search');
  assert.deepEqual(await order(a), ['Search', 'Login with SSO', 'Export CSV', ...titles.slice(3)]);
  await handle('Billing page').dragTo(a.locator('#items .item', { hasText: 'Login with SSO' }));
  await a.waitForFunction(() => document.querySelectorAll('#items .item-title')[1]?.textContent === 'Billing page');
  const ranked = ['Search', 'Billing page', 'Login with SSO', 'Export CSV', 'Audit log', 'Password reset', 'Invite teammates', 'Dark mode (system setting)'];
  assert.deepEqual(await order(a), ranked);
  const view = await rest('GET', `/api/plannings/${planning}`, { token });
  assert.deepEqual(view.state.rank.map((id) => view.state.items[id].draft.title), ranked, 'the server holds the order');
  assert.deepEqual(await order(b), ranked, 'Ann sees the same order');

  // ---- the batch size while ticking; a refusal beside its control, the ticks kept ----
  for (const t of ranked.slice(0, 6)) await a.getByLabel(`Select ${t} for a round`).check();
  await a.locator('#open-round-hint').getByText('6 of at most 6 items per round').waitFor();
  assert.equal(await a.getByLabel(`Select ${ranked[6]} for a round`).isDisabled(), true, 'a seventh cannot be ticked');
  for (const t of ranked.slice(2, 6)) await a.getByLabel(`Select ${t} for a round`).uncheck();
  await a.locator('#open-round').getByText('Open round (2 selected)').waitFor();
  // Meanwhile Ann finds "Billing page" lacks its designs: the round would be refused.
  const ids = Object.fromEntries(Object.values(view.state.items).map((i) => [i.draft.title, i.id]));
  const designs = view.state.definition_of_ready.find((c) => c.text === 'Designs linked').id;
  await command(planning, (await b.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, planning)), { type: 'CheckReadiness', item: ids['Billing page'], criterion: designs, ok: false });
  await a.locator('#items .item', { hasText: 'Billing page' }).locator('.badge', { hasText: 'not ready: Designs linked' }).waitFor();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-open').click();
  await a.locator('#open-round-error').getByText('No round opened: “Billing page” (Designs linked not met) is not ready.', { exact: false }).waitFor();
  await a.screenshot({ path: `${SHOTS}/open-round-refused.png` });
  assert.equal(await a.locator('#board-error').innerText(), '', 'not at the page bottom');
  assert.equal(await a.getByLabel('Select Search for a round').isChecked(), true, 'the ticks are kept');
  assert.equal(await a.getByLabel('Select Billing page for a round').isChecked(), true);
  // Unticked, the not-ready item is no longer offered.
  await a.getByLabel('Select Billing page for a round').click();
  await a.getByLabel('Select Billing page for a round').waitFor({ state: 'detached' });
  await a.locator('#open-round-error').waitFor({ state: 'detached' });
  await a.getByLabel('Select Login with SSO for a round').check();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-open').click();
  await a.locator('#round .round').waitFor();

  // ---- filters: votes I owe, not ready, flagged, questions for me ----
  await b.locator('#filter-owe').click();
  await b.waitForFunction(() => document.querySelectorAll('#items .item').length === 2);
  assert.deepEqual(await order(b), ['Search', 'Login with SSO']);
  await b.locator('#items .item', { hasText: 'Search' }).locator('.badge', { hasText: 'voting: 0 of 1' }).waitFor();
  await b.locator('#items .item', { hasText: 'Search' }).locator('.badge.owe', { hasText: 'your vote' }).waitFor();
  await a.locator('#filter-not-ready').click();
  assert.deepEqual(await order(a), ['Billing page']);
  await details.locator('h2').getByText('Billing page').waitFor(); // the details follow the filter
  // Ann flags "Audit log" and asks Fran about "Export CSV".
  await b.locator('#filter-all').click();
  await b.locator('#items .item-title', { hasText: 'Audit log' }).click();
  await b.locator('#item-details').getByRole('button', { name: 'Flag for the live session' }).click();
  await b.locator('#items .item-title', { hasText: 'Export CSV' }).click();
  await b.locator('#item-details textarea').fill('Which columns go first?');
  await b.locator('#item-details select[name=kind]').selectOption('question');
  await b.locator('#item-details select[name=to]').selectOption({ label: 'to Fran' });
  await b.locator('#item-details').getByRole('button', { name: 'Post' }).click();
  await a.locator('#filter-flagged').click();
  await a.waitForFunction(() => [...document.querySelectorAll('#items .item-title')].map((e) => e.textContent).join() === 'Audit log');
  await a.locator('#filter-questions').click();
  await a.waitForFunction(() => [...document.querySelectorAll('#items .item-title')].map((e) => e.textContent).join() === 'Export CSV');
  await a.locator('#items .item', { hasText: 'Export CSV' }).locator('.badge', { hasText: '1 open question' }).waitFor();
  await a.locator('#filter-all').click();

  // ---- the details beside the list; the height bound for the facilitator and a member ----
  await a.locator('#items .item-title', { hasText: 'Export CSV' }).click();
  await details.getByText('Which columns go first?').waitFor();
  const [list, side] = [await a.locator('#backlog').boundingBox(), await details.boundingBox()];
  assert.ok(side.x >= list.x + list.width - 1, 'the details are beside the list');
  assert.ok(Math.abs(side.y - list.y) < 5, 'at the same height');
  for (const [who, page] of [['facilitator', a], ['member', b]]) {
    await page.evaluate(() => window.scrollTo(0, 0));
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    assert.ok(height <= 1500, `the ${who}'s board of 8 items is ${height} px tall (at most 1500)`);
  }
  await a.screenshot({ path: `${SHOTS}/backlog.png`, fullPage: true });
  await b.screenshot({ path: `${SHOTS}/backlog-member.png`, fullPage: true });
  for (const page of [a, b]) {
    assert.deepEqual(await unlabelled(page), [], 'every control on the board is labelled');
    assert.deepEqual(await lowContrast(page), [], 'enough contrast on the board');
  }

  // An observer (Kolkata) reads the same list and details, with nothing to change.
  const obs = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Asia/Kolkata', locale: 'en-IN' });
  const o = watch(await obs.newPage(), 'Obi (observer)', problems);
  await o.goto(created.links.observer);
  await o.getByLabel('Your name').fill('Obi');
  await o.getByRole('button', { name: 'Join' }).click();
  await o.locator('#conn[data-state="online"]').waitFor();
  await o.locator('#items .item').nth(7).waitFor();
  assert.deepEqual(await order(o), ranked);
  for (const absent of ['#zone-prompt', '#import', '.handle', '#items input[type=checkbox]', '#open-round', '#edit-item', '#withdraw-item', '#override-readiness', '.propose']) {
    assert.equal(await o.locator(absent).count(), 0, `no ${absent} for an observer`);
  }
  await o.locator('#item-details h2').getByText('Search').waitFor();
  assert.ok((await o.evaluate(() => document.documentElement.scrollHeight)) <= 1500);
  await obs.close();

  // ---- the write-back export, one click away ----
  const [download] = await Promise.all([a.waitForEvent('download'), a.locator('#export-estimates').click()]);
  const fs = await import('node:fs/promises');
  const text = await fs.readFile(await download.path(), 'utf8');
  assert.match(text, /^key,title,estimate,points\n/);

  // ---- at a phone's width the details come below the list ----
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'Asia/Kolkata', locale: 'en-IN' });
  const c = watch(await phone.newPage(), 'Fran (phone)', problems);
  await c.goto(created.links.facilitator);
  await c.locator('#conn[data-state="online"]').waitFor();
  await c.locator('#items .item').nth(7).waitFor();
  const [plist, pside] = [await c.locator('#backlog').boundingBox(), await c.locator('#item-details').boundingBox()];
  assert.ok(pside.y >= plist.y + plist.height - 1, 'the details are below the list');
  assert.equal(await overflows(c), false, 'no sideways scrolling');
  assert.deepEqual(await lowContrast(c), [], 'enough contrast at a phone width');
  await c.screenshot({ path: `${SHOTS}/backlog-phone.png`, fullPage: true });

  assert.deepEqual(problems, [], 'no console errors');
  await phone.close();
  await mem.close();
  await fac.close();
});
