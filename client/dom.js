// DOM helpers shared by the screens: element building (text is never parsed as HTML), re-render
// that keeps focus and typed text, and time formatting in the viewer's own time zone.

/** Builds an element: h('button', {class: 'x', onclick: f}, 'text', child…). Text is never HTML; `style` is an object of properties ({width: '5%'}), never a string. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    // Through the CSSOM: a `style` attribute is inline style, which the page's CSP refuses.
    else if (k === 'style') for (const [prop, val] of Object.entries(v)) el.style.setProperty(prop, String(val));
    else if (k === 'value' && tag === 'input') el.setAttribute('value', String(v)); // also the default
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  return add(el, ...children);
}

/** SVG element (for the small charts). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  return add(el, ...children);
}

/** Appends children to el, skipping null/undefined/false (Element.append would write "null"). */
export function add(el, ...children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function errorText(e) {
  return e && e.message ? e.message : String(e);
}

// ---------- refusals beside their control ----------

/** The refusal on show, by the key of the control that caused it (kept across re-renders). */
const refusals = new Map();

/** Where a control's refusal goes: the end of its form, after its deck or row, or after it. */
function placeNote(control, note) {
  const form = control.closest('form');
  if (form) return form.append(note);
  (control.closest('.deck, .row') || control).after(note);
}

function noteFor(message) {
  return h('p', { class: 'error refusal', role: 'alert' }, message);
}

/**
 * Shows `message` beside `control` (the button, field or deck that sent the refused command)
 * until the next command; a re-render puts it back beside the control's replacement. Returns
 * false when there is no such control on the page (the caller shows the message elsewhere).
 */
export function showRefusal(control, message) {
  if (!control || !control.isConnected || control === document.body) return false;
  clearRefusals();
  const note = noteFor(message);
  const key = keyOf(control);
  if (key) refusals.set(key, { message, note });
  placeNote(control, note);
  if (control.id && !control.getAttribute('aria-describedby')) control.setAttribute('aria-describedby', (note.id = `${control.id}-refusal`));
  return true;
}

/** Takes every refusal off the page (a new command is on its way). */
export function clearRefusals() {
  for (const { note } of refusals.values()) note.remove();
  refusals.clear();
  for (const n of document.querySelectorAll('.refusal')) n.remove();
}

/** Puts the refusals back beside their controls after `root` was re-rendered. */
function replaceRefusals(root) {
  for (const [key, r] of refusals) {
    const control = root.querySelector(key);
    if (!control) continue;
    r.note = noteFor(r.message);
    placeNote(control, r.note);
  }
}

/** The key a control is found again by after a re-render: its id, else `data-key`. */
function keyOf(el) {
  if (el.id) return `#${CSS.escape(el.id)}`;
  if (el.dataset && el.dataset.key) return `[data-key="${CSS.escape(el.dataset.key)}"]`;
  return null;
}

/**
 * Replaces root's children with `nodes` and keeps what a person was doing: the focused control
 * (found again by id or `data-key`), its caret, and text typed into any field with an id
 * (`drafts`, filled by an `input` listener on root) — state updates arrive while people type.
 */
export function rerender(root, nodes, drafts) {
  const active = document.activeElement;
  const key = active && root.contains(active) ? keyOf(active) : null;
  const caret = active && typeof active.selectionStart === 'number' ? [active.selectionStart, active.selectionEnd] : null;
  // Disclosures the person opened or closed keep that state (the others follow the content).
  const disclosed = new Map([...root.querySelectorAll('details[data-key][data-touched]')].map((d) => [d.dataset.key, d.open]));
  root.replaceChildren(...nodes.filter(Boolean));
  for (const d of root.querySelectorAll('details[data-key]')) {
    if (disclosed.has(d.dataset.key)) {
      d.open = disclosed.get(d.dataset.key);
      d.dataset.touched = '1';
    }
  }
  if (drafts) {
    for (const [id, value] of drafts) {
      const el = root.querySelector(`#${CSS.escape(id)}`);
      if (el && 'value' in el && el.type !== 'checkbox') el.value = value;
    }
  }
  replaceRefusals(root);
  if (key) {
    const el = root.querySelector(key);
    if (el && el !== document.activeElement) {
      el.focus({ preventScroll: true });
      if (caret && typeof el.setSelectionRange === 'function') {
        try {
          el.setSelectionRange(caret[0], caret[1]);
        } catch {
          /* not a text field */
        }
      }
    }
  }
}

/** Remembers text typed into fields with an id, for `rerender`. */
export function trackDrafts(root) {
  const drafts = new Map();
  const remember = (ev) => {
    const t = ev.target;
    if (t && t.id && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') && t.type !== 'checkbox' && t.type !== 'range' && t.type !== 'file') {
      drafts.set(t.id, t.value);
    }
  };
  root.addEventListener('input', remember);
  root.addEventListener('change', remember);
  // A disclosure opened or closed by hand (mouse or keyboard) keeps that state (see rerender).
  root.addEventListener('click', (ev) => {
    const summary = ev.target.closest?.('summary');
    if (summary && summary.parentElement?.dataset.key) summary.parentElement.dataset.touched = '1';
  });
  return drafts;
}

/**
 * Forgets the drafts of a form's fields (after it was sent) and clears them — in the form and,
 * when a re-render has replaced it meanwhile, in its replacement under `root`.
 */
export function clearForm(form, drafts, root) {
  for (const el of form.querySelectorAll('input[id], textarea[id], select[id]')) {
    drafts?.delete(el.id);
    for (const f of new Set([el, root?.querySelector(`#${CSS.escape(el.id)}`)])) {
      if (f && f.type !== 'checkbox' && f.tagName !== 'SELECT') f.value = f.defaultValue || '';
    }
  }
}

/**
 * Makes form submit handlers for a view: `build(form)` returns the command (null: nothing to
 * send); once `send` resolves, the form is cleared; on an error its text stays for another try
 * (`send` shows the error).
 */
export function formSubmitter(send, drafts, root) {
  return (build) => async (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    const cmd = build(form);
    if (!cmd) return;
    try {
      await send(cmd);
      clearForm(form, drafts, root);
    } catch {
      /* shown by send; the text stays */
    }
  };
}

// ---------- since my last visit ----------

/**
 * The mark on an item that changed since this person's last visit (`changes`: the item's entry
 * in the server's digest since then), or null.
 */
export function sinceVisitMark(changes) {
  if (!changes) return null;
  const label = changes.dropped ? 'out of the sprint since your last visit' : 'changed since your last visit';
  return h('span', { class: `badge since-visit${changes.dropped ? ' dropped' : ''}`, title: changes.changes.join('\n') }, label);
}

// ---------- loading ----------

/**
 * A loading placeholder in the shapes of the layout that will replace it (`shape`: board, live,
 * list), busy for assistive tech (`aria-busy`, the label read once). Shimmers unless the reader
 * asked for reduced motion (style.css).
 */
export function skeleton(label, shape, id) {
  const bar = (cls = '') => h('span', { class: `sk-bar ${cls}` });
  const block = (cls, ...kids) => h('div', { class: `sk-block ${cls}` }, kids);
  const rows = (n) => Array.from({ length: n }, (_, i) => h('div', { class: 'sk-row' }, h('span', { class: 'sk-dot' }), bar(i % 2 ? 'w-60' : 'w-80'), bar('w-15')));
  const shapes = {
    board: [block('sk-two', block('sk-card', bar('w-40'), rows(2)), block('sk-card', bar('w-30'), bar('w-80'), bar('w-60'))), block('sk-split', block('sk-card', bar('w-30'), rows(6)), block('sk-card sk-details', bar('w-60'), bar('w-80'), bar('w-40')))],
    live: [block('sk-split sk-live', block('sk-card', bar('w-40'), rows(4)), block('sk-card sk-table', bar('w-60'), h('div', { class: 'sk-seats' }, Array.from({ length: 4 }, () => h('span', { class: 'sk-pcard' }))), h('span', { class: 'sk-felt' })))],
    list: [block('sk-card', bar('w-40'), rows(5))],
  };
  return h(
    'div',
    { class: 'skeleton', role: 'status', 'aria-busy': 'true', 'aria-label': label, id },
    h('span', { class: 'sr-only' }, label),
    h('div', { 'aria-hidden': 'true' }, shapes[shape] || shapes.list),
  );
}

// ---------- time ----------

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const localDate = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const utc = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

/** A `<time>` in the viewer's time zone, with UTC in its title. `micros` since the epoch. */
export function timeEl(micros, { dateOnly = false, extra = {} } = {}) {
  const d = new Date(micros / 1000);
  return h(
    'time',
    { datetime: d.toISOString(), title: `${utc.format(d)} UTC`, ...extra },
    dateOnly ? dayText(micros) : local.format(d),
  );
}

/** A day in the viewer's time zone, as text ("7 Dec 2026"). `micros` since the epoch. */
export function dayText(micros) {
  return localDate.format(new Date(micros / 1000));
}

/** "2 h 05 min left", "4 min 10 s left", "passed". */
export function countdown(micros, now = Date.now()) {
  let left = Math.floor((micros / 1000 - now) / 1000);
  if (left <= 0) return 'deadline passed';
  const d = Math.floor(left / 86400);
  left -= d * 86400;
  const hh = Math.floor(left / 3600);
  left -= hh * 3600;
  const mm = Math.floor(left / 60);
  const ss = left - mm * 60;
  if (d > 0) return `${d} d ${hh} h left`;
  if (hh > 0) return `${hh} h ${String(mm).padStart(2, '0')} min left`;
  return `${mm} min ${String(ss).padStart(2, '0')} s left`;
}

/** A count with its noun in the right number: "1 item", "3 items" (`many` when not `one`+s). */
export function plural(n, one, many = `${one}s`) {
  return `${n} ${Number(n) === 1 ? one : many}`;
}

/** Points for display: 2.5, 8. */
export function pts(v) {
  if (v === null || v === undefined) return '0';
  return String(Math.round(Number(v) * 100) / 100);
}
