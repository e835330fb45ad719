// Who set each time of the schedule: Fran (Berlin) sets the sprint dates, Ann (Los Angeles, a
// second facilitator) moves the live sync in the schedule editor; Kai (a member in Kolkata) reads
// "set by Fran, <day>" beside the dates and "set by Ann, <day>" beside the sync, in light and
// dark, and the same origin in the hover of the header's times.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch as watchInto, rest, command } from './helpers.js';
import { axe } from './a11y.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);
const DAY = 86400e3;

after(() => assert.deepEqual(problems, []));

/** "7 Dec" for an instant (µs) in `zone`, as an en-GB reader sees it. */
function shortDay(micros, zone) {
  return new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: zone }).format(new Date(micros / 1000));
}

test('each schedule time says who set it and when', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 8', name: 'Fran' } });
  const join = (name) => rest('POST', `/api/plannings/${c.planning}/join`, { body: { invite: c.member_invite, name } });
  const [ann, kai] = [await join('Ann'), await join('Kai')];
  const start = Math.floor(Date.now() / DAY + 10) * DAY * 1000;
  await command(c.planning, c.token, { type: 'SetTimeZone', time_zone: 'Europe/Berlin' });
  await command(c.planning, c.token, { type: 'SetSchedule', schedule: { sprint_start: start, sprint_end: start + 14 * DAY * 1000 - 1 } });
  await command(c.planning, c.token, { type: 'ChangeRole', participant: ann.participant, role: 'facilitator' });

  // Ann moves the live sync in the editor.
  const annCtx = await browser.newContext({ timezoneId: 'America/Los_Angeles', locale: 'en-GB', viewport: { width: 1280, height: 900 } });
  const a = watch(await annCtx.newPage(), 'Ann');
  await a.goto(`${BASE}/#/p/${c.planning}/time?token=${ann.token}`);
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#schedule-form').waitFor();
  const before = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const origins = before.state.schedule.origins;
  assert.equal(origins.sprint_start.by, before.you.participant, 'the sprint dates are Fran’s');
  assert.match(origins.sprint_start.at_utc, /Z$/);
  await a.locator('#sched-sync').fill(new Date(start / 1000 + 17 * 3600e3).toISOString().slice(0, 16));
  await a.locator('#save-schedule').click();
  const fran = shortDay(origins.sprint_start.at, 'America/Los_Angeles');
  await a.locator('#sum-sync .set-by').getByText(/^set by Ann, /).waitFor();

  const after = await rest('GET', `/api/plannings/${c.planning}`, { token: c.token });
  const o = after.state.schedule.origins;
  assert.equal(o.sync_start.by, ann.participant, 'the sync is Ann’s now');
  assert.equal(o.sprint_start.by, origins.sprint_start.by, 'the dates she left alone stay Fran’s');
  assert.deepEqual(o.sprint_start, origins.sprint_start);

  // Kai in Kolkata, light and dark: each time with its author and day, in his zone.
  for (const colorScheme of ['light', 'dark']) {
    const kaiCtx = await browser.newContext({ timezoneId: 'Asia/Kolkata', locale: 'en-GB', colorScheme, viewport: { width: 1280, height: 900 } });
    const k = watch(await kaiCtx.newPage(), `Kai (${colorScheme})`);
    await k.goto(`${BASE}/#/p/${c.planning}/time?token=${kai.token}`);
    await k.locator('#sum-sync .set-by').waitFor();
    assert.equal(await k.locator('#sum-sprint .set-by').innerText(), `set by Fran, ${shortDay(origins.sprint_start.at, 'Asia/Kolkata')}`);
    assert.equal(await k.locator('#sum-sync .set-by').innerText(), `set by Ann, ${shortDay(o.sync_start.at, 'Asia/Kolkata')}`);
    // The times Fran's schedule placed (deadline, candidates) are hers; the hover says so too.
    assert.match(await k.locator('#sum-deadline .set-by').innerText(), /^set by (Fran|Ann), /);
    assert.match(await k.locator('#sync-at time').getAttribute('title'), /^Set by Ann on .* in the schedule · .* UTC$/);
    assert.deepEqual(await axe(k), [], `axe on People & time (${colorScheme})`);
    await k.screenshot({ path: `${SHOTS}/origins-${colorScheme}.png`, fullPage: true });
    await kaiCtx.close();
  }
  // In Ann's own editor, under each saved field.
  await a.locator('#schedule-form .set-by-hint', { hasText: `set by Fran, ${fran}` }).first().waitFor();
  await a.screenshot({ path: `${SHOTS}/origins-editor.png`, fullPage: true });
  await annCtx.close();
});
