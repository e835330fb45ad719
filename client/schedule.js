// The schedule: sprint dates as calendar dates (the same text in every time zone), the live sync
// proposed by the server's slot finder, and the "People & time" view (`#/p/<id>/time`): everyone's
// hours, the schedule with its outside-hours warnings, and the facilitator's editor.

import * as api from './api.js';
import { h, rerender, trackDrafts, errorText } from './dom.js';
import { openRounds } from './model.js';
import { deadlineEl, scheduleOrigin, scheduleTimeEl, roundOrigin, minutesText, outsideWarning, roundDeadlineWarning, fitPreview, localValue, fromLocal } from './deadlines.js';
import { zoneForm, hoursOf, hhmm, clockIn, daysText } from './people.js';

const MINUTE = 60_000_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

// ---------- sprint dates: calendar days ----------

/**
 * The calendar day a sprint date stands for, as 00:00 UTC in microseconds. The client sends a
 * day's 00:00 UTC (and a last day's 23:59:59.999999 UTC); a date set as local midnight by an
 * older client rounds to the same day.
 */
export function sprintDay(micros, { last = false } = {}) {
  const m = last ? micros + 1 - DAY : micros;
  return Math.round(m / DAY) * DAY;
}

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeZone: 'UTC' });

/** A calendar day as text, the same in every time zone ("Dec 14, 2026"). */
export function dayLabel(dayMicros) {
  return dateFmt.format(new Date(dayMicros / 1000));
}

/** "Dec 14, 2026 – Dec 25, 2026": the sprint's first and last day. */
export function sprintDatesText(sched) {
  const a = sched.sprint_start != null ? dayLabel(sprintDay(sched.sprint_start)) : '?';
  const b = sched.sprint_end != null ? dayLabel(sprintDay(sched.sprint_end, { last: true })) : '?';
  return `${a} – ${b}`;
}

/** A `yyyy-mm-dd` date input's value → the day's 00:00 UTC (µs); null when empty. */
export function dayStart(value) {
  if (!value) return null;
  const [y, m, d] = value.split('-').map(Number);
  return Date.UTC(y, m - 1, d) * 1000;
}

/** A `yyyy-mm-dd` date input's value → the day's last microsecond in UTC; null when empty. */
export function dayEnd(value) {
  const s = dayStart(value);
  return s === null ? null : s + DAY - 1;
}

/** A calendar day (00:00 UTC, µs) as a date input's value. */
function dayValue(dayMicros) {
  return new Date(dayMicros / 1000).toISOString().slice(0, 10);
}

// ---------- proposals from the server's slot finder ----------

/** The slot finder's best live sync slots on the sprint's first day (else the next 7 days). */
export async function proposeSync(ctx, sprintStart, minutes) {
  const from = sprintStart != null ? sprintDay(sprintStart) : null;
  return api.slots(ctx.planning, ctx.token, {
    from: from ?? undefined,
    to: from != null ? from + DAY : undefined,
    minutes,
    limit: 5,
  });
}


// ---------- the People & time view ----------

export function timeView(ctx) {
  const el = h('div', { class: 'time-view' });
  const drafts = trackDrafts(el);
  const ui = { proposal: null, proposing: false, chosen: null, error: '', calendar: null, calendarAsked: false };
  // Before saving: who a typed deadline or sync falls outside the hours of (kept across renders).
  const dueFit = h('div', { id: 'preview-due', 'aria-live': 'polite' });
  const syncFit = h('div', { id: 'preview-sync', 'aria-live': 'polite' });
  let showDue = null;
  let showSync = null;

  /** Asks the server about the typed times that differ from the saved ones. */
  function preview() {
    const s = ctx.store.view?.state;
    if (!s) return;
    showDue ??= fitPreview(ctx, s, dueFit, 'preview-due-outside');
    showSync ??= fitPreview(ctx, s, syncFit, 'preview-sync-outside');
    const sched = s.schedule || {};
    const due = fromLocal(el.querySelector('#sched-due')?.value);
    const sync = fromLocal(el.querySelector('#sched-sync')?.value);
    const minutes = Number(el.querySelector('#sched-minutes')?.value) || 45;
    showDue(due === sched.estimation_deadline ? null : due, 0);
    showSync(sync === sched.sync_start && minutes === (sched.sync_minutes ?? 45) ? null : sync, minutes);
  }
  el.addEventListener('input', (ev) => {
    if (['sched-due', 'sched-sync', 'sched-minutes'].includes(ev.target.id)) preview();
  });

  /** Sets a field of the editor as if typed (kept across re-renders). */
  function setField(id, value) {
    drafts.set(id, value);
    const f = el.querySelector(`#${id}`);
    if (f) f.value = value;
  }

  function peopleTable(s) {
    const rows = Object.values(s.participants).filter((p) => !p.removed);
    return h(
      'div',
      { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': 'Time zones and working hours' },
      h(
      'table',
      { class: 'people-table', id: 'people-table' },
      h('caption', { class: 'sr-only' }, 'Time zones and working hours'),
      h('thead', {}, h('tr', {}, ['Who', 'Time zone', 'Working hours', 'Days', 'Their time now'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        rows.map((p) => {
          const w = hoursOf(p);
          return h(
            'tr',
            { dataset: { person: p.id } },
            h('th', { scope: 'row' }, `${p.name} `, h('span', { class: 'role' }, p.role)),
            w
              ? [
                  h('td', { class: 'zone' }, w.zone),
                  h('td', {}, `${hhmm(w.start)}–${hhmm(w.end)}`),
                  h('td', {}, daysText(w.days)),
                  h('td', {}, clockIn(w.zone)),
                ]
              : h('td', { colspan: 4, class: 'muted' }, 'no time zone set (not counted for the live sync)'),
          );
        }),
      ),
      ),
    );
  }

  function summary(s) {
    const sched = s.schedule || {};
    const oh = s.derived?.outside_hours || {};
    const row = (label, id, ...value) => [h('dt', {}, label), h('dd', { id }, ...value)];
    const syncEnd = sched.sync_start != null ? sched.sync_start + (sched.sync_minutes ?? 45) * MINUTE : null;
    const rounds = openRounds(s).filter((r) => !r.live);
    return h(
      'dl',
      { class: 'schedule-summary' },
      row(
        'Sprint',
        'sum-sprint',
        sched.sprint_start != null || sched.sprint_end != null ? [sprintDatesText(sched), ' ', scheduleOrigin(s, sched.sprint_start != null ? 'sprint_start' : 'sprint_end').note] : h('span', { class: 'muted' }, 'no dates yet'),
      ),
      row('Candidates shared', 'sum-candidates', sched.candidates_shared_at != null ? scheduleTimeEl(s, 'candidates_shared_at') : h('span', { class: 'muted' }, 'not set')),
      row(
        'Votes due',
        'sum-deadline',
        sched.estimation_deadline != null ? scheduleTimeEl(s, 'estimation_deadline') : h('span', { class: 'muted' }, 'not set'),
        outsideWarning(s, oh.estimation_deadline, 'outside-deadline'),
      ),
      row(
        'Live sync',
        'sum-sync',
        sched.sync_start != null
          ? [deadlineEl(sched.sync_start, scheduleOrigin(s, 'sync_start').title), ' – ', h('time', {}, new Intl.DateTimeFormat(undefined, { timeStyle: 'short' }).format(new Date(syncEnd / 1000))), ` (${minutesText(sched.sync_minutes ?? 45)})`, ' ', scheduleOrigin(s, 'sync_start').note]
          : h('span', { class: 'muted' }, 'not set'),
        outsideWarning(s, oh.sync, 'outside-sync'),
      ),
      row('Reminders', 'sum-reminders', sched.reminder_minutes ? `${minutesText(sched.reminder_minutes)} before each round's deadline` : 'off'),
      row('Phases', 'sum-phases', sched.auto_phases ? 'follow the schedule' : 'moved by the facilitator'),
      rounds.length
        ? row(
            'Open rounds',
            'sum-rounds',
            h('ul', { class: 'plain' }, rounds.map((r) => h('li', {}, `${r.items.length} item${r.items.length === 1 ? '' : 's'}, votes due `, deadlineEl(r.deadline, roundOrigin(s, r)), roundDeadlineWarning(s, r.id)))),
          )
        : null,
    );
  }

  async function propose() {
    const s = ctx.store.view.state;
    ui.proposing = true;
    ui.error = '';
    render();
    try {
      const start = dayStart(el.querySelector('#sched-start')?.value) ?? s.schedule?.sprint_start ?? null;
      const minutes = Number(el.querySelector('#sched-minutes')?.value) || s.schedule?.sync_minutes || 45;
      ui.proposal = await proposeSync(ctx, start, minutes);
    } catch (e) {
      ui.error = errorText(e);
    }
    ui.proposing = false;
    render();
  }

  function useSlot(slot) {
    setField('sched-sync', localValue(slot.start));
    // A deadline after the new sync would be refused: left empty, the server places one.
    const due = fromLocal(el.querySelector('#sched-due')?.value);
    if (due != null && due > slot.start) setField('sched-due', '');
    ui.chosen = slot.start;
    render();
    preview();
  }

  function proposals(s) {
    const p = ui.proposal;
    if (!p) return null;
    const fmt = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
    return h(
      'div',
      { class: 'proposals', id: 'sync-proposals' },
      h('h4', {}, `The slot finder's best ${p.minutes}-minute slots (your time)`),
      p.without_time_zone?.length ? h('p', { class: 'hint' }, `Not counted (no time zone): ${p.without_time_zone.map((x) => x.name).join(', ')}`) : null,
      p.slots.length
        ? h(
            'ol',
            {},
            p.slots.map((slot, i) =>
              h(
                'li',
                { class: ui.chosen === slot.start ? 'chosen' : '' },
                h('time', { datetime: slot.start_utc, title: `${slot.start_utc.replace('T', ' ').replace(/:00Z$/, '')} UTC` }, fmt.format(new Date(slot.start / 1000))),
                ' · ',
                slot.outside.length ? outsideWarning(s, slot.outside, `slot-${i}-outside`) : h('span', { class: 'ok' }, 'inside everyone\'s hours'),
                h('button', { type: 'button', class: 'secondary', dataset: { key: `use-slot-${i}` }, onclick: () => useSlot(slot) }, 'Use this slot'),
              ),
            ),
          )
        : h('p', { class: 'muted' }, 'No slot in that window.'),
    );
  }

  function editor(s) {
    const sched = s.schedule || {};
    const field = (id, label, input, extra) => h('div', {}, h('label', { for: id }, label), input, extra);
    // Who set the saved time, under its field.
    const setBy = (key) => scheduleOrigin(s, key).note && h('p', { class: 'hint set-by-hint' }, scheduleOrigin(s, key).note);
    const save = async (ev) => {
      ev.preventDefault();
      const f = ev.currentTarget;
      const val = (id) => f.querySelector(`#${id}`).value;
      const num = (id) => (val(id) === '' ? null : Number(val(id)));
      try {
        await ctx.send({
          type: 'SetSchedule',
          schedule: {
            sprint_start: dayStart(val('sched-start')),
            sprint_end: dayEnd(val('sched-end')),
            candidates_shared_at: fromLocal(val('sched-shared')),
            estimation_deadline: fromLocal(val('sched-due')),
            sync_start: fromLocal(val('sched-sync')),
            sync_minutes: num('sched-minutes'),
            reminder_minutes: num('sched-reminders'),
            auto_phases: f.querySelector('#sched-auto').checked,
          },
        });
        for (const id of [...drafts.keys()].filter((k) => k.startsWith('sched-'))) drafts.delete(id);
        ui.proposal = null;
        ui.chosen = null;
        dueFit.replaceChildren();
        syncFit.replaceChildren();
        render();
      } catch {
        /* shown by send; the fields keep their text */
      }
    };
    return h(
      'form',
      { class: 'card schedule-editor', id: 'schedule-form', 'aria-labelledby': 'sched-edit-h', onsubmit: save },
      h('h3', { id: 'sched-edit-h' }, 'Edit the schedule'),
      h('p', { class: 'hint', id: 'sched-hint' }, 'Dates are calendar days, the same for everyone; times are in your time zone. Left empty, the live sync is placed by the slot finder on the sprint\'s first day and the estimation deadline at the end of the last working hour most people share before it.'),
      h(
        'div',
        { class: 'fields' },
        field('sched-start', 'Sprint starts', h('input', { id: 'sched-start', type: 'date', value: sched.sprint_start != null ? dayValue(sprintDay(sched.sprint_start)) : '' }), setBy('sprint_start')),
        field('sched-end', 'Sprint ends (last day)', h('input', { id: 'sched-end', type: 'date', value: sched.sprint_end != null ? dayValue(sprintDay(sched.sprint_end, { last: true })) : '' }), setBy('sprint_end')),
        field('sched-shared', 'Candidates shared', h('input', { id: 'sched-shared', type: 'datetime-local', value: localValue(sched.candidates_shared_at) }), setBy('candidates_shared_at')),
        field('sched-due', 'Estimation deadline', h('input', { id: 'sched-due', type: 'datetime-local', value: localValue(sched.estimation_deadline), 'aria-describedby': 'preview-due' }), [setBy('estimation_deadline'), dueFit]),
        field('sched-sync', 'Live sync starts', h('input', { id: 'sched-sync', type: 'datetime-local', value: localValue(sched.sync_start), 'aria-describedby': 'preview-sync' }), [setBy('sync_start'), syncFit]),
        field('sched-minutes', 'Live sync length (minutes)', h('input', { id: 'sched-minutes', type: 'number', min: 1, max: 480, value: String(sched.sync_minutes ?? 45) })),
        field('sched-reminders', 'Reminder before a deadline (minutes, 0 = off)', h('input', { id: 'sched-reminders', type: 'number', min: 0, max: 10080, value: String(sched.reminder_minutes ?? 60) })),
      ),
      h('label', { class: 'check' }, h('input', { id: 'sched-auto', type: 'checkbox', checked: Boolean(sched.auto_phases) }), ' Move the phases by the schedule (async when candidates are shared, sync at the live sync)'),
      h(
        'div',
        { class: 'row' },
        h('button', { type: 'button', class: 'secondary', id: 'propose-sync', disabled: ui.proposing || undefined, onclick: propose }, ui.proposing ? 'Asking the slot finder…' : 'Propose the live sync from everyone\'s hours'),
        h('button', { type: 'submit', id: 'save-schedule' }, 'Save the schedule'),
      ),
      ui.error ? h('p', { class: 'error', role: 'alert' }, ui.error) : null,
      proposals(s),
    );
  }

  // The live sync and the deadline for the viewer's calendar: a download and a subscription
  // link (the server's calendar key, not the personal token, is in them).
  function calendarLinks(s) {
    const sched = s.schedule || {};
    if (sched.sync_start == null && sched.estimation_deadline == null) return null;
    if (!ui.calendarAsked) {
      ui.calendarAsked = true;
      api.calendarLinks(ctx.planning, ctx.token).then(
        (links) => {
          ui.calendar = links;
          render();
        },
        () => {},
      );
    }
    if (!ui.calendar) return null;
    return h(
      'p',
      { id: 'calendar-links' },
      h('a', { href: ui.calendar.ics, download: 'sprintlog.ics', id: 'calendar-download' }, 'Add the live sync and the deadline to your calendar (.ics)'),
      ui.calendar.webcal ? [' · ', h('a', { href: ui.calendar.webcal, id: 'calendar-subscribe' }, 'subscribe')] : null,
    );
  }

  function render() {
    const v = ctx.store.view;
    if (!v) return;
    const s = v.state;
    const isFac = v.you.role === 'facilitator';
    rerender(
      el,
      [
        h('section', { class: 'card', 'aria-labelledby': 'people-h' }, h('h2', { id: 'people-h' }, 'People and their hours'), peopleTable(s), h('h3', {}, 'My time zone and hours'), zoneForm(ctx, 'mine')),
        h('section', { class: 'card', 'aria-labelledby': 'sched-h', id: 'schedule' }, h('h2', { id: 'sched-h' }, 'Schedule'), summary(s), calendarLinks(s), isFac && s.phase !== 'committed' ? editor(s) : null),
      ],
      drafts,
    );
  }

  return { el, render };
}
