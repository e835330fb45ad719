// Shared pieces of the browser tests: Chromium launch, the console/page-error watch, REST calls
// from node, and a killable TCP proxy (Playwright's setOffline does not close open websockets,
// so a real cut needs the connection itself to die).

import net from 'node:net';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const BASE = process.env.SPRINTLOG_BASE_URL;
export const SHOTS = process.env.SPRINTLOG_SCREENSHOTS || '/tmp/sprintlog-screenshots';
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

mkdirSync(SHOTS, { recursive: true });

export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Chromium for the tests of one file, launched before them and closed after them; call it at
 * the top level of a test file. Each `newContext` is a separate person (own storage, own tokens).
 */
export function chromiumForFile() {
  let browser = null;
  before(async () => {
    assert.ok(BASE, 'SPRINTLOG_BASE_URL must be set');
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
  });
  return { newContext: (options) => browser.newContext(options) };
}

/** Records console errors, page errors and HTTP errors of a page into `problems`. */
export function watch(page, who, problems) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${who} console: ${msg.text()}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${who} HTTP ${r.status()} for ${r.url()}`);
  });
  page.on('pageerror', (err) => problems.push(`${who} page error: ${err.message}`));
  page.setDefaultTimeout(10_000);
  return page;
}

/** A REST call from the test itself (not the browser). */
export async function rest(method, path, { token, body } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return text && resp.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
}

let ops = 0;
/** Sends a command over REST as `token`. */
export function command(planning, token, cmd) {
  ops += 1;
  return rest('POST', `/api/plannings/${planning}/commands`, {
    token,
    body: { client_op_id: `test-${Date.now()}-${ops}`, command: cmd },
  });
}

/** Every event of a planning as `token` sees it. */
export async function allEvents(planning, token) {
  const out = [];
  let after = 0;
  for (;;) {
    const page = await rest('GET', `/api/plannings/${planning}/events?after=${after}&limit=1000`, { token });
    out.push(...page.events);
    if (!page.events.length || after >= page.head) return out;
    after = page.events[page.events.length - 1].seq;
    if (after >= page.head) return out;
  }
}

/**
 * A TCP proxy in front of the server. `cut()` destroys every proxied connection (both sides)
 * and holds new ones until `restore()`, as a network that drops and later comes back does;
 * a held connection is neither refused nor answered, so the browser just waits for it.
 */
export async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const live = new Set();
  const held = [];
  let down = false;
  let connections = 0;
  const pipe = (client) => {
    connections += 1;
    const upstream = net.connect(Number(port), hostname);
    const pair = { client, upstream };
    live.add(pair);
    const drop = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server = net.createServer((client) => {
    if (down) {
      client.pause();
      client.on('error', () => {});
      held.push(client);
    } else {
      pipe(client);
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    get connections() {
      return connections;
    },
    cut() {
      down = true;
      for (const { client, upstream } of live) {
        client.destroy();
        upstream.destroy();
      }
      live.clear();
    },
    restore() {
      down = false;
      for (const c of held.splice(0)) if (!c.destroyed) pipe(c);
    },
    close() {
      this.cut();
      for (const c of held.splice(0)) c.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
