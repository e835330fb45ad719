// People and their time: each participant's time zone and working hours beside their name, and
// my own zone and hours (`SetTimeZone`), the browser's zone proposed until I set one.

import { h } from './dom.js';
import { DEFAULT_WORK_DAYS, DEFAULT_WORK_END, DEFAULT_WORK_START, WORK_DAYS } from './protocol.js';

const DAY_NAMES = { mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat', sun: 'Sun' };

/** Old names some browsers still report (ICU keeps them), and the tz database's current ones. */
const RENAMED = {
  'Asia/Calcutta': 'Asia/Kolkata',
  'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Saigon': 'Asia/Ho_Chi_Minh',
  'Asia/Rangoon': 'Asia/Yangon',
  'Europe/Kiev': 'Europe/Kyiv',
  'Atlantic/Faeroe': 'Atlantic/Faroe',
  'America/Godthab': 'America/Nuuk',
};

/** The browser's IANA time zone ("Europe/Berlin"), by its current name. */
export function browserZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  return RENAMED[zone] || zone;
}

/** Every IANA zone the browser knows, for the zone picker's suggestions. */
function knownZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

/** "09:00" for 540 minutes after midnight. */
export function hhmm(minute) {
  const m = ((minute % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** 540 for "09:00"; null for anything else. */
function minuteOf(text) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text || '');
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** A participant's hours as set, with the server's defaults where they set none. */
export function hoursOf(p) {
  if (!p?.time_zone) return null;
  return {
    zone: p.time_zone,
    start: p.work_start_minute ?? DEFAULT_WORK_START,
    end: p.work_end_minute ?? DEFAULT_WORK_END,
    days: p.work_days?.length ? p.work_days : DEFAULT_WORK_DAYS,
  };
}

/** "Mon–Fri", or the days one by one ("Sun, Mon, Tue"). */
export function daysText(days) {
  const key = days.join(',');
  if (key === DEFAULT_WORK_DAYS.join(',')) return 'Mon–Fri';
  if (key === WORK_DAYS.join(',')) return 'every day';
  return days.map((d) => DAY_NAMES[d] || d).join(', ');
}

/** The time it is now in `zone` ("15:04"). */
export function clockIn(zone, now = Date.now()) {
  try {
    return new Intl.DateTimeFormat(undefined, { timeStyle: 'short', timeZone: zone }).format(new Date(now));
  } catch {
    return '';
  }
}

/** "Europe/Berlin · 09:00–17:30 Mon–Fri", or null without a time zone. */
export function hoursText(p) {
  const w = hoursOf(p);
  return w ? `${w.zone} · ${hhmm(w.start)}–${hhmm(w.end)} ${daysText(w.days)}` : null;
}

/**
 * The people line of the planning's header: name, role, and their zone and hours beside it;
 * those who have not set a zone are counted once at the end, not marked one by one.
 */
export function peopleLine(s, online) {
  const people = Object.values(s.participants).filter((p) => !p.removed);
  const unset = people.filter((p) => !hoursOf(p)).length;
  const line = people.map((p) => {
    const on = online.has(p.id);
    const w = hoursOf(p);
    return h(
      'span',
      { class: `person ${on ? 'on' : ''}`, title: on ? 'online' : 'not connected', dataset: { person: p.id } },
      `${p.name} (${p.role})`,
      h('span', { class: 'sr-only' }, on ? ', online' : ''),
      w ? h('span', { class: 'tz', title: `${hoursText(p)}; it is ${clockIn(w.zone)} there now` }, ` ${shortZone(w.zone)} ${hhmm(w.start)}–${hhmm(w.end)}`) : null,
    );
  });
  if (unset) line.push(h('span', { class: 'tz muted', id: 'zones-unset' }, ` · ${unset} without a time zone yet`));
  return line;
}

/** "Berlin" for "Europe/Berlin", "Los Angeles" for "America/Los_Angeles". */
export function shortZone(zone) {
  return (zone.split('/').pop() || zone).replace(/_/g, ' ');
}

/**
 * My time zone, hours and days as a form (`prefix` keeps ids unique when two are on a page):
 * prefilled with what I set, else the browser's zone and the default hours.
 */
export function zoneForm(ctx, prefix, { compact = false, extra = null } = {}) {
  const v = ctx.store.view;
  const me = v.state.participants[v.you.participant];
  const w = hoursOf(me) || { zone: browserZone(), start: DEFAULT_WORK_START, end: DEFAULT_WORK_END, days: DEFAULT_WORK_DAYS };
  const id = (k) => `${prefix}-${k}`;
  const listId = id('zones');
  const zone = h('input', { id: id('zone'), list: listId, required: true, autocomplete: 'off', value: w.zone, spellcheck: 'false' });
  const start = h('input', { id: id('start'), type: 'time', required: true, value: hhmm(w.start) });
  const end = h('input', { id: id('end'), type: 'time', required: true, value: hhmm(w.end) });
  const days = WORK_DAYS.map((d) => h('label', { class: 'check day' }, h('input', { type: 'checkbox', name: 'day', value: d, checked: w.days.includes(d) }), ` ${DAY_NAMES[d]}`));
  const submit = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget;
    const picked = [...f.querySelectorAll('input[name=day]:checked')].map((x) => x.value);
    await ctx
      .send({
        type: 'SetTimeZone',
        time_zone: f.querySelector(`#${id('zone')}`).value.trim(),
        work_start_minute: minuteOf(f.querySelector(`#${id('start')}`).value),
        work_end_minute: minuteOf(f.querySelector(`#${id('end')}`).value),
        work_days: picked.length ? picked : DEFAULT_WORK_DAYS,
      })
      .catch(() => {});
  };
  return h(
    'form',
    { class: `zone-form${compact ? ' compact' : ''}`, id: id('form'), onsubmit: submit },
    h('datalist', { id: listId }, knownZones().map((z) => h('option', { value: z }))),
    h(
      'div',
      { class: 'fields' },
      h('div', { class: 'wide' }, h('label', { for: id('zone') }, 'My time zone'), zone),
      h('div', {}, h('label', { for: id('start') }, 'Working hours from'), start),
      h('div', {}, h('label', { for: id('end') }, 'to'), end),
    ),
    compact ? null : h('fieldset', { class: 'days' }, h('legend', {}, 'Working days'), days),
    h('div', { class: 'row' }, h('button', { type: 'submit', id: id('save') }, me?.time_zone ? 'Save my hours' : 'Save my time zone'), extra),
  );
}

/**
 * The prompt on a planning until I set a time zone: the browser's zone and the default hours,
 * one click to keep them (or edit first). `null` once I have one or chose "Not now".
 */
export function zonePrompt(ctx) {
  const v = ctx.store.view;
  const me = v?.state.participants[v.you.participant];
  // Observers plan nothing around their hours: no prompt for them.
  if (!me || me.time_zone || v.you.role === 'observer') return null;
  const key = `sprintlog.zone-later.${ctx.planning}`;
  if (sessionStorage.getItem(key)) return null;
  return h(
    'section',
    { class: 'zone-prompt', 'aria-labelledby': 'zone-prompt-h', id: 'zone-prompt' },
    h('h2', { id: 'zone-prompt-h' }, 'When do you work?'),
    h('p', { class: 'hint' }, `Deadlines and the live sync are planned around everyone's working hours. Your browser says ${browserZone()}.`),
    zoneForm(ctx, 'prompt', {
      compact: true,
      extra: h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          id: 'zone-later',
          onclick: (ev) => {
            sessionStorage.setItem(key, '1');
            const section = ev.currentTarget.closest('section');
            // A note that shared the card (a newcomer's "catch me up") stays.
            const note = section?.querySelector('.visit-note');
            if (note) section.before(note);
            note?.classList.remove('in-prompt');
            section?.remove();
          },
        },
        'Not now',
      ),
    }),
  );
}
