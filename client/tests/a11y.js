// Accessibility checks shared by the browser tests: axe-core's serious and critical violations,
// unlabelled controls, text contrast below WCAG AA, sideways scrolling.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

// Evaluated through the DevTools protocol rather than added as a <script>: the page's
// Content-Security-Policy refuses inline scripts, and the check must not need it lifted.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core (npm) on the page as it is: its serious and critical violations. */
export async function axe(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Form controls without an accessible name. */
export function unlabelled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
      .filter((el) => {
        if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
        if (el.tagName === 'BUTTON') return !el.textContent.trim();
        return !(el.labels && el.labels.length);
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
}

/**
 * Text whose contrast against its background is below WCAG AA (4.5:1, or 3:1 for large text).
 * The background is the nearest ancestor's opaque background colour; disabled controls are
 * exempt (as in WCAG).
 */
export function lowContrast(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
      if (el.closest('svg') || el.closest(':disabled') || el.offsetParent === null) continue;
      const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join('');
      if (!text) continue;
      const st = getComputedStyle(el);
      const fg = rgb(st.color).slice(0, 3);
      const [l1, l2] = [lum(fg), lum(background(el))].sort((x, y) => y - x);
      const ratio = (l1 + 0.05) / (l2 + 0.05);
      const size = parseFloat(st.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) bad.push(`${text.slice(0, 30)} (${ratio.toFixed(2)})`);
    }
    return bad;
  });
}

/** Whether the page scrolls sideways (it must not, at a phone's width). */
export function overflows(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}
