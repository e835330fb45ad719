// People and time in four browser contexts: Fran (facilitator) in Berlin, members in Los Angeles,
// Berlin and Kolkata. Zones and hours set through the UI (the browser's zone proposed), shown
// beside each name; sprint dates the same text everywhere; the first live sync placed by the
// slot finder (not at midnight); the schedule editor's proposal from the slot finder; warnings
// for a deadline and a sync outside someone's hours; the round's deadline prompt prefilled from
// the schedule and its origin on hover.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SHOTS, chromiumForFile, watch as watchInto, rest } from './helpers.js';

const browser = chromiumForFile();
const problems = [];
const watch = (page, who) => watchInto(page, who, problems);

const DAY = 86400e3;

/** A Monday at least 8 days ahead, as `yyyy-mm-dd`. */
function nextMonday() {
  let d = new Date(Date.now() + 8 * DAY);
  while (d.getUTCDay() !== 1) d = new Date(d.getTime() + DAY);
  return d.toISOString().slice(0, 10);
}

/** An instant (µs) as the time of day in `zone` ("09:00"). */
function clock(micros, zone) {
  return new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone }).format(new Date(micros / 1000));
}

/** An instant (µs) as a `datetime-local` value in `zone`. */
function localValue(micros, zone) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone })
      .formatToParts(new Date(micros / 1000))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

test('people and time: zones and hours, calendar dates, the slot finder, outside-hours warnings, the round deadline prompt', async () => {
  const start = nextMonday();
  const end = new Date(Date.parse(`${start}T00:00:00Z`) + 11 * DAY).toISOString().slice(0, 10);

  // Fran creates the planning in Berlin, with the sprint's dates; her zone is the browser's.
  const franCtx = await browser.newContext({ timezoneId: 'Europe/Berlin', locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const a = watch(await franCtx.newPage(), 'Fran');
  await a.goto(`${BASE}/`);
  await a.getByLabel('Title').fill('Sprint 7');
  await a.getByLabel('Your name').fill('Fran');
  assert.equal(await a.locator('#my-zone').inputValue(), 'Europe/Berlin', 'the browser zone is proposed');
  await a.getByLabel('Sprint starts').fill(start);
  await a.getByLabel('Sprint ends').fill(end);
  await a.getByRole('button', { name: 'Create planning' }).click();
  const memberLink = await a.locator('#link-member').inputValue();
  await a.locator('#open-board').click();
  await a.locator('#conn[data-state="online"]').waitFor();
  const planning = a.url().match(/#\/p\/([0-9a-f-]+)/)[1];
  const token = await a.evaluate((p) => JSON.parse(localStorage.getItem('sprintlog.plannings')).find((x) => x.planning === p).token, planning);
  assert.equal(await a.locator('#zone-prompt').count(), 0, 'no prompt: Fran set her zone when creating');

  // The first schedule: calendar days at 00:00 UTC, the live sync inside Fran's hours (the
  // slot finder's), not at midnight; the deadline before it, inside her hours too.
  let view = await rest('GET', `/api/plannings/${planning}`, { token });
  const sched = view.state.schedule;
  assert.equal(sched.sprint_start_utc, `${start}T00:00:00Z`);
  assert.equal(new Date(sched.sprint_end / 1000 + 1e-3).toISOString().slice(0, 10), new Date(Date.parse(`${end}T00:00:00Z`) + DAY).toISOString().slice(0, 10));
  assert.equal(clock(sched.sync_start, 'Europe/Berlin'), '09:00', 'the first live sync starts Fran\'s working day');
  assert.ok(sched.estimation_deadline < sched.sync_start);
  assert.deepEqual(view.state.derived.outside_hours.sync, []);
  assert.deepEqual(view.state.derived.outside_hours.estimation_deadline, []);

  // Three members join in their own zones; each is offered the browser's zone and sets hours.
  const members = [
    { name: 'Ann', zone: 'America/Los_Angeles', hours: null },
    { name: 'Bo', zone: 'Europe/Berlin', hours: ['08:00', '16:00'] },
    { name: 'Cy', zone: 'Asia/Kolkata', hours: ['10:00', '19:00'] },
  ];
  for (const m of members) {
    m.ctx = await browser.newContext({ timezoneId: m.zone, locale: 'en-US', viewport: { width: 1280, height: 900 } });
    m.page = watch(await m.ctx.newPage(), m.name);
    await m.page.goto(memberLink);
    await m.page.getByLabel('Your name').fill(m.name);
    await m.page.getByRole('button', { name: 'Join' }).click();
    await m.page.locator('#conn[data-state="online"]').waitFor();
    const prompt = m.page.locator('#zone-prompt');
    await prompt.waitFor();
    // Who has not set a zone yet is counted once at the end of the line, not marked one by one.
    await a.locator('.people #zones-unset').getByText('· 1 without a time zone yet').waitFor();
    assert.equal(await prompt.getByLabel('My time zone').inputValue(), m.zone, `${m.name}: the browser's zone is proposed`);
    assert.equal(await prompt.getByLabel('Working hours from').inputValue(), '09:00');
    if (m.name === 'Ann') await m.page.screenshot({ path: `${SHOTS}/people-prompt.png` });
    if (m.hours) {
      await prompt.getByLabel('Working hours from').fill(m.hours[0]);
      await prompt.getByLabel('to', { exact: true }).fill(m.hours[1]);
    }
    await prompt.getByRole('button', { name: 'Save my time zone' }).click();
    await prompt.waitFor({ state: 'detached' });
  }

  // Each one's zone and hours beside their name, on Fran's page.
  const people = a.locator('.people');
  await people.locator('.person', { hasText: 'Ann (member)' }).getByText('Los Angeles 09:00–17:30').waitFor();
  await people.locator('.person', { hasText: 'Bo (member)' }).getByText('Berlin 08:00–16:00').waitFor();
  await people.locator('.person', { hasText: 'Cy (member)' }).getByText('Kolkata 10:00–19:00').waitFor();
  await people.locator('.person', { hasText: 'Fran (facilitator)' }).getByText('Berlin 09:00–17:30').waitFor();
  assert.equal(await people.locator('#zones-unset').count(), 0, 'everyone has a zone: no count');
  view = await rest('GET', `/api/plannings/${planning}`, { token });
  const byName = Object.fromEntries(Object.values(view.state.participants).map((p) => [p.name, p]));
  assert.equal(byName.Cy.time_zone, 'Asia/Kolkata');
  assert.equal(byName.Cy.work_start_minute, 600);
  assert.equal(byName.Cy.work_end_minute, 1140);
  assert.deepEqual(byName.Ann.work_days, ['mon', 'tue', 'wed', 'thu', 'fri']);

  // Sprint dates: the same text in every zone.
  const dates = [];
  for (const p of [a, ...members.map((m) => m.page)]) dates.push(await p.locator('#sprint-dates').innerText());
  assert.equal(new Set(dates).size, 1, `sprint dates differ: ${dates.join(' | ')}`);
  const shown = (d) => new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(`${d}T00:00:00Z`));
  assert.equal(dates[0].trim(), `· Sprint ${shown(start)} – ${shown(end)}`);

  // A deadline is shown in the viewer's zone, with its origin and UTC on hover.
  const due = view.state.schedule.estimation_deadline;
  for (const m of members) {
    const el = m.page.locator('#votes-due time');
    const expected = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: m.zone }).format(new Date(due / 1000));
    assert.equal((await el.innerText()).replace(/\s+/g, ' '), expected.replace(/\s+/g, ' '), `${m.name} sees the deadline in their zone`);
    // Fran's schedule placed it (she set the dates): who set it and when, in the viewer's words.
    const on = new Intl.DateTimeFormat('en-US', { day: 'numeric', month: 'short', timeZone: m.zone }).format(new Date(view.state.schedule.origins.estimation_deadline.at / 1000));
    assert.equal(view.state.schedule.origins.estimation_deadline.by, view.you.participant);
    assert.match(await el.getAttribute('title'), new RegExp(`^Set by Fran on ${on} in the schedule · .* UTC$`));
  }

  // The schedule editor: the slot finder proposes the live sync over everyone's hours.
  await a.locator('#tab-time').click();
  await a.locator('#people-table').getByText('Asia/Kolkata').waitFor();
  await a.locator('#propose-sync').click();
  const proposals = a.locator('#sync-proposals li');
  await proposals.first().waitFor();
  const found = await rest('GET', `/api/plannings/${planning}/slots?from=${start}T00:00:00Z&to=${new Date(Date.parse(`${start}T00:00:00Z`) + DAY).toISOString().replace('.000', '')}&limit=5`, { token });
  assert.equal(await proposals.count(), found.slots.length);
  const best = found.slots[0];
  assert.equal(await proposals.first().locator('time').getAttribute('datetime'), best.start_utc);
  const outsideNames = best.outside.map((o) => view.state.participants[o.participant].name);
  assert.ok(outsideNames.length > 0, 'no slot fits Los Angeles, Berlin and Kolkata at once');
  for (const n of outsideNames) await proposals.first().locator('.outside-hours').getByText(n).waitFor();
  await a.locator('[data-key="use-slot-0"]').click();
  await a.locator('#sync-proposals li.chosen').waitFor();
  assert.equal(await a.locator('#sched-sync').inputValue(), localValue(best.start, 'Europe/Berlin'));
  await a.screenshot({ path: `${SHOTS}/schedule-proposal.png`, fullPage: true });
  // The deadline left empty: the server places it in the hours most people share before the sync.
  await a.locator('#sched-due').fill('');
  await a.locator('#save-schedule').click();

  // Saved: the sync is the slot, and the warnings are the server's outside_hours.
  await a.locator('#sync-proposals').waitFor({ state: 'detached' });
  await a.waitForFunction((s) => window.sprintlogStore.view.state.schedule.sync_start === s, best.start);
  view = await rest('GET', `/api/plannings/${planning}`, { token });
  // Berlin (Fran 09:00–17:30, Bo 08:00–16:00) and Kolkata (10:00–19:00) share hours until
  // Kolkata's day ends; the last such hour before the weekend ends 13:30 UTC on Friday.
  assert.equal(clock(view.state.schedule.estimation_deadline, 'UTC'), '13:30');
  assert.equal(new Date(view.state.schedule.estimation_deadline / 1000).getUTCDay(), 5, 'a Friday');
  assert.equal(await a.locator('#sched-due').inputValue(), localValue(view.state.schedule.estimation_deadline, 'Europe/Berlin'));
  const oh = view.state.derived.outside_hours;
  assert.ok(oh.sync.length > 0 && oh.estimation_deadline.length > 0, JSON.stringify(oh));
  const names = (list) => list.map((o) => view.state.participants[o.participant].name);
  for (const n of names(oh.sync)) await a.locator('#outside-sync').getByText(n).waitFor();
  for (const n of names(oh.estimation_deadline)) await a.locator('#outside-deadline').getByText(n).waitFor();
  assert.equal(await a.locator('#outside-sync strong').count(), oh.sync.length);

  // The schedule view links Fran's calendar: the live sync in her zone, no token in the link.
  const ics = await a.locator('#calendar-download').getAttribute('href');
  assert.ok(ics.includes(`/api/plannings/${planning}/calendar.ics?participant=`) && !ics.includes(token), ics);
  assert.ok((await a.locator('#calendar-subscribe').getAttribute('href')).startsWith('webcal://'));
  const cal = await (await fetch(ics)).text();
  const syncLocal = localValue(best.start, 'Europe/Berlin').replace(/[-:]/g, '');
  assert.ok(cal.includes(`DTSTART;TZID=Europe/Berlin:${syncLocal}00`), cal);

  // A deadline typed at 03:00 Berlin time falls outside Fran's and Bo's hours (and Cy's).
  const dueDay = localValue(view.state.schedule.estimation_deadline, 'Europe/Berlin').slice(0, 10);
  await a.locator('#sched-due').fill(`${dueDay}T03:00`);
  // Warned before saving (the server's fit of the typed time), then by the saved schedule.
  await a.locator('#preview-due').getByText('Fran').waitFor();
  await a.locator('#preview-due').getByText('Bo').waitFor();
  await a.locator('#save-schedule').click();
  await a.locator('#outside-deadline').getByText('Fran').waitFor();
  await a.locator('#outside-deadline').getByText('Bo').waitFor();
  await a.screenshot({ path: `${SHOTS}/schedule-warnings.png`, fullPage: true });

  // Opening a round asks for its deadline, prefilled from the schedule.
  await a.locator('#tab-board').click();
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();
  await a.locator('#item-title').fill('Login with SSO');
  await a.locator('#item-ac').fill('Works with Okta');
  await a.locator('#propose').click();
  await a.getByLabel('Select Login with SSO for a round').check();
  await a.locator('#open-round').click();
  const dialog = a.locator('dialog.deadline-dialog');
  await dialog.waitFor();
  view = await rest('GET', `/api/plannings/${planning}`, { token });
  const scheduled = view.state.schedule.estimation_deadline;
  assert.equal(await dialog.getByLabel(/Votes due/).inputValue(), localValue(scheduled, 'Europe/Berlin'), 'prefilled with the schedule');
  await dialog.getByText('Prefilled with the schedule\'s estimation deadline').waitFor();
  await dialog.locator('#round-deadline-outside').getByText('Bo').waitFor();
  await a.screenshot({ path: `${SHOTS}/round-deadline.png` });
  // A later time than the prefilled one: the round takes what was chosen.
  // 13:45 UTC that Friday: after Kolkata's day, before Los Angeles', inside Berlin's (any season).
  const chosen = Date.parse(`${new Date(view.state.schedule.estimation_deadline / 1000).toISOString().slice(0, 10)}T13:45:00Z`) * 1000;
  await dialog.getByLabel(/Votes due/).fill(localValue(chosen, 'Europe/Berlin'));
  // The warning follows the chosen time before the round opens.
  await a.waitForFunction(() => {
    const t = document.querySelector('#round-deadline-outside')?.textContent || '';
    return t.includes('Cy') && t.includes('Ann') && !t.includes('Bo');
  });
  await a.locator('#round-deadline-open').click();
  const round = a.locator('#round .round');
  await round.waitFor();
  view = await rest('GET', `/api/plannings/${planning}`, { token });
  const r = view.state.rounds[view.state.round_order[0]];
  assert.equal(r.deadline, chosen, 'the chosen deadline');
  assert.match(await round.locator('time').first().getAttribute('title'), /^Set by Fran when opening the round · .* UTC$/);
  // Outside Ann's (Los Angeles) and Cy's (Kolkata) hours.
  assert.deepEqual(names(view.state.derived.outside_hours.rounds[r.id]).sort(), ['Ann', 'Cy']);
  await round.locator('.outside-hours').getByText('Ann').waitFor();
  await round.locator('.outside-hours').getByText('Cy').waitFor();
  // Cancelling the prompt opens nothing.
  await a.locator('#item-title').fill('Export CSV');
  await a.locator('#item-ac').fill('Has a header row');
  await a.locator('#propose').click();
  await a.getByLabel('Select Export CSV for a round').check();
  await a.locator('#open-round').click();
  await a.locator('#round-deadline-cancel').click();
  await dialog.waitFor({ state: 'detached' });
  assert.equal((await rest('GET', `/api/plannings/${planning}`, { token })).state.round_order.length, 1);

  // Ann in Los Angeles sees the round's deadline in her zone.
  const annRound = members[0].page.locator('#round .round time').first();
  await annRound.waitFor();
  const la = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/Los_Angeles' }).format(new Date(r.deadline / 1000));
  assert.equal((await annRound.innerText()).replace(/\s+/g, ' '), la.replace(/\s+/g, ' '));
  // Her inbox says the same, with who set it on hover.
  const owed = members[0].page.locator('#inbox-votes li time').first();
  assert.equal((await owed.innerText()).replace(/\s+/g, ' '), la.replace(/\s+/g, ' '));
  assert.match(await owed.getAttribute('title'), /^Set by Fran when opening the round · .* UTC$/);
  await members[0].page.locator('#tab-time').click();
  await members[0].page.locator('#people-table').getByText('Europe/Berlin').first().waitFor();
  await members[0].page.screenshot({ path: `${SHOTS}/people-time.png`, fullPage: true });

  assert.deepEqual(problems, [], 'no console errors');
  for (const m of members) await m.ctx.close();
  await franCtx.close();
});
