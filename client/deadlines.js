// Deadlines: a time in the viewer's zone with its origin and UTC on hover, who a time falls
// outside the working hours of (the server's `derived.outside_hours`, or `GET …/fit` for a time
// not set yet), and the deadline asked for when a round opens (prefilled from the schedule).

import * as api from './api.js';
import { h, timeEl } from './dom.js';
import { nameOf } from './model.js';

const MINUTE = 60_000_000;

// ---------- datetime-local fields ----------

/** An instant as a `datetime-local` value in the viewer's zone. */
export function localValue(micros) {
  if (micros == null) return '';
  const d = new Date(micros / 1000);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** A `datetime-local` value (the viewer's zone) as µs; null when empty. */
export function fromLocal(value) {
  return value ? new Date(value).getTime() * 1000 : null;
}

// ---------- deadlines and warnings ----------

/** A time in the viewer's zone; on hover where it comes from and its UTC instant. */
export function deadlineEl(micros, origin) {
  const el = timeEl(micros);
  if (origin) el.title = `${origin} · ${el.title}`;
  return el;
}

const shortDay = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });

/**
 * Who set a time of the schedule and when (`schedule.origins[key]`), as the hover's origin
 * ("Set by Ann on 3 Dec") and a visible note ("set by Ann, 3 Dec"); without a known author
 * (set before the server recorded it), the schedule itself.
 */
export function scheduleOrigin(s, key) {
  const o = s.schedule?.origins?.[key];
  if (!o) return { title: "From the planning's schedule", note: null };
  const who = nameOf(s, o.by);
  const day = shortDay.format(new Date(o.at / 1000));
  return {
    title: `Set by ${who} on ${day} in the schedule`,
    note: h('span', { class: 'set-by', dataset: { setBy: key } }, `set by ${who}, ${day}`),
  };
}

/** A schedule time in the viewer's zone with who set it beside it (and in the hover). */
export function scheduleTimeEl(s, key) {
  const o = scheduleOrigin(s, key);
  return [deadlineEl(s.schedule[key], o.title), o.note ? [' ', o.note] : null];
}

/** Where an open round's deadline comes from, for the hover. */
export function roundOrigin(s, r) {
  return r.opened_by ? `Set by ${nameOf(s, r.opened_by)} when opening the round` : 'Set when the round was opened';
}

/** "2 h 30 min", "45 min". */
export function minutesText(n) {
  const hh = Math.floor(n / 60);
  const mm = n % 60;
  return [hh ? `${hh} h` : '', mm ? `${mm} min` : ''].filter(Boolean).join(' ') || '0 min';
}

/**
 * The warning for who a time falls outside the working hours of (`derived.outside_hours`
 * lists), or null when nobody. `id` names the element for tests and links.
 */
export function outsideWarning(s, list, id) {
  if (!list?.length) return null;
  return h(
    'p',
    { class: 'outside-hours', role: 'note', id },
    h('span', { 'aria-hidden': 'true' }, '⚠ '),
    'Outside the working hours of ',
    list.map((o, i) => [i ? ', ' : '', h('strong', {}, nameOf(s, o.participant)), ` (by ${minutesText(o.minutes)})`]),
  );
}

/** The warning for an open async round's deadline, for the board. */
export function roundDeadlineWarning(s, round) {
  return outsideWarning(s, s.derived?.outside_hours?.rounds?.[round], `outside-round-${round}`);
}

/**
 * Shows in `target` who a time falls outside the working hours of, from the server
 * (`GET …/fit`), asked a moment after the last change; returns `(at, minutes) => void`.
 */
export function fitPreview(ctx, s, target, id) {
  let timer = null;
  let asked = 0;
  return (at, minutes) => {
    clearTimeout(timer);
    if (at == null || Number.isNaN(at)) {
      target.replaceChildren();
      return;
    }
    timer = setTimeout(async () => {
      const n = ++asked;
      try {
        const r = await api.fit(ctx.planning, ctx.token, at, minutes);
        if (n !== asked) return;
        target.replaceChildren(
          ...[r.outside.length ? outsideWarning(s, r.outside, id) : h('p', { class: 'ok', id }, r.inside.length ? 'Inside the working hours of everyone with a time zone.' : '')].filter(Boolean),
        );
      } catch {
        target.replaceChildren();
      }
    }, 250);
  };
}

// ---------- opening a round ----------

/**
 * Asks the facilitator for a round's deadline in a dialog, prefilled with the schedule's
 * estimation deadline while it is ahead (else the policy's default length from now). Resolves
 * to the deadline (µs) or null when cancelled.
 */
export function askRoundDeadline(ctx, count) {
  const v = ctx.store.view;
  const s = v.state;
  const now = ctx.store.serverNow() * 1000;
  const due = s.schedule?.estimation_deadline;
  const fromSchedule = due != null && due > now;
  const prefill = fromSchedule ? due : now + (s.policy?.default_deadline_minutes ?? 1440) * MINUTE;
  return new Promise((resolve) => {
    const input = h('input', { id: 'round-deadline', type: 'datetime-local', required: true, value: localValue(prefill), 'aria-describedby': 'round-deadline-origin round-deadline-fit' });
    const error = h('p', { class: 'error', role: 'alert' });
    // Who the chosen time falls outside the working hours of, asked as it changes.
    const fitEl = h('div', { id: 'round-deadline-fit', 'aria-live': 'polite' });
    const showFit = fitPreview(ctx, s, fitEl, 'round-deadline-outside');
    input.addEventListener('input', () => showFit(fromLocal(input.value), 0));
    showFit(prefill, 0);
    const dialog = h(
      'dialog',
      { class: 'deadline-dialog', 'aria-labelledby': 'round-deadline-h' },
      h(
        'form',
        {
          method: 'dialog',
          onsubmit: (ev) => {
            ev.preventDefault();
            const at = fromLocal(input.value);
            if (at === null || at <= ctx.store.serverNow() * 1000) {
              error.textContent = 'Pick a deadline in the future.';
              input.focus();
              return;
            }
            done(at);
          },
        },
        h('h2', { id: 'round-deadline-h' }, `Open a round on ${count} item${count === 1 ? '' : 's'}`),
        h('label', { for: 'round-deadline' }, `Votes due (your time, ${Intl.DateTimeFormat().resolvedOptions().timeZone})`),
        input,
        h(
          'p',
          { class: 'hint', id: 'round-deadline-origin' },
          fromSchedule ? ['Prefilled with the schedule\'s estimation deadline, ', timeEl(due), '.'] : `Prefilled with the planning's default round length (${minutesText(s.policy?.default_deadline_minutes ?? 1440)}).`,
        ),
        fitEl,
        error,
        h(
          'div',
          { class: 'row' },
          h('button', { type: 'submit', id: 'round-deadline-open' }, 'Open round'),
          h('button', { type: 'button', class: 'secondary', id: 'round-deadline-cancel', onclick: () => done(null) }, 'Cancel'),
        ),
      ),
    );
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      done(null);
    });
    // Leaving the view (the back button, a link) cancels the question with it.
    const leave = () => done(null);
    window.addEventListener('hashchange', leave);
    function done(value) {
      window.removeEventListener('hashchange', leave);
      dialog.close();
      dialog.remove();
      resolve(value);
    }
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
