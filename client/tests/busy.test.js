// The client's socket retries a command the server answered `busy` (docs/protocol.md: nothing
// was written, the same op applies once), against a real server whose rooms hold one queued
// command (SPRINTLOG_BUSY_URL, started by tests/browser.rs), in a real browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromiumForFile, watch } from './helpers.js';

const BUSY = process.env.SPRINTLOG_BUSY_URL;
const chromium = chromiumForFile();

test('a burst of commands answered busy is retried until each applies once', { skip: !BUSY && 'SPRINTLOG_BUSY_URL not set' }, async () => {
  const context = await chromium.newContext();
  const problems = [];
  const page = watch(await context.newPage(), 'Fran', problems);
  await page.goto(`${BUSY}/`);
  const result = await page.evaluate(async () => {
    const created = await fetch('/api/plannings', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'Busy sprint', name: 'Fran' }),
    }).then((r) => r.json());
    const { PlanningSocket } = await import('/socket.js');
    const refused = [];
    let online;
    const ready = new Promise((resolve) => { online = resolve; });
    const socket = new PlanningSocket({
      planning: created.planning,
      token: created.token,
      handlers: { onCaughtUp: () => online() },
    });
    await ready;
    const titles = Array.from({ length: 40 }, (_, i) => `item ${i}`);
    // All at once: one room queue slot, so most of the burst is first answered busy.
    const acks = await Promise.all(titles.map((title) =>
      socket.send({ type: 'ProposeItem', draft: { title } }).catch((e) => refused.push(e.code))));
    socket.stop();
    const view = await fetch(`/api/plannings/${created.planning}`, {
      headers: { Authorization: `Bearer ${created.token}` },
    }).then((r) => r.json());
    const got = Object.values(view.state.items).map((i) => i.draft.title).sort();
    return { acks: acks.length, refused, got, want: titles.sort() };
  });
  assert.deepEqual(result.refused, [], 'no command ends refused');
  assert.deepEqual(result.got, result.want, 'every command applied exactly once');
  assert.deepEqual(problems, []);
  await context.close();
});
