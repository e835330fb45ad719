// A page whose websocket really dies (a TCP proxy in front of the server cuts it) catches up
// without a reload: no gap and no duplicate, and a command sent while it was cut is queued
// with its client op id and applied exactly once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, chromiumForFile, watch, rest, allEvents, startProxy } from './helpers.js';

const browser = chromiumForFile();
let proxy;
const problems = [];

before(async () => {
  proxy = await startProxy(BASE);
});

after(async () => {
  await proxy?.close();
});

test('a cut websocket resumes from its last seq and delivers the queued command once', async () => {
  const created = await rest('POST', '/api/plannings', { body: { title: 'Cut', name: 'Fran' } });
  const planning = created.planning;
  const joined = await rest('POST', `/api/plannings/${planning}/join`, {
    body: { invite: created.member_invite, name: 'Ann' },
  });

  // Fran is connected directly; Ann through the proxy.
  const fran = await browser.newContext();
  const a = watch(await fran.newPage(), 'Fran', problems);
  await a.goto(created.links.facilitator);
  await a.locator('#conn[data-state="online"]').waitFor();
  await a.locator('#to-async').click();
  await a.locator('#phase').getByText('async').waitFor();

  const ann = await browser.newContext();
  const b = watch(await ann.newPage(), 'Ann', problems);
  // Every frame Ann's page receives or sends, over all its sockets.
  const received = [];
  const sent = [];
  let sockets = 0;
  b.on('websocket', (ws) => {
    sockets += 1;
    ws.on('framereceived', (f) => received.push(JSON.parse(f.payload)));
    ws.on('framesent', (f) => sent.push(JSON.parse(f.payload)));
  });
  await b.goto(`${proxy.url}/#/p/${planning}?token=${joined.token}`);
  await b.locator('#conn[data-state="online"]').waitFor();
  await b.locator('#phase').getByText('async').waitFor();
  // A mark that a reload would wipe.
  await b.evaluate(() => {
    window.__notReloaded = true;
  });

  // The network drops: Ann's socket (and any other connection of hers) dies.
  proxy.cut();
  await b.locator('#conn:not([data-state="online"])').waitFor();

  // Meanwhile Fran keeps planning.
  for (const title of ['Login with SSO', 'Export CSV', 'Audit log']) {
    await a.locator('#item-title').fill(title);
    await a.locator('#propose').click();
    await a.locator('#items .item-title', { hasText: title }).waitFor();
  }
  await a.locator('#goal-input').fill('Ship SSO');
  await a.locator('#draft-goal').click();
  await a.locator('#goal-text').getByText('Ship SSO').waitFor();

  // Ann, still cut off, proposes an item: it waits in her queue.
  await b.locator('#item-title').fill('Offline idea');
  await b.locator('#propose').click();
  await b.locator('#conn[data-queued="1"]').waitFor();
  assert.match(await b.locator('#conn').innerText(), /1 queued/);
  const before = await allEvents(planning, created.token);
  assert.ok(
    !before.some((e) => e.kind === 'ItemProposed' && e.data.draft.title === 'Offline idea'),
    'nothing reached the server while cut',
  );

  // The network comes back: Ann catches up without a reload and her command goes through.
  proxy.restore();
  await b.locator('#conn[data-state="online"][data-queued="0"]').waitFor();
  for (const title of ['Login with SSO', 'Export CSV', 'Audit log', 'Offline idea']) {
    await b.locator('#items .item-title', { hasText: title }).waitFor();
  }
  await b.locator('#goal-text').getByText('Ship SSO').waitFor();
  assert.equal(await b.evaluate(() => window.__notReloaded), true, 'the page was not reloaded');
  await a.locator('#items .item-title', { hasText: 'Offline idea' }).waitFor();
  assert.equal(await a.locator('#items .item-title', { hasText: 'Offline idea' }).count(), 1);

  // The log holds the queued command once; Ann's page is at the head.
  const events = await allEvents(planning, created.token);
  const head = events[events.length - 1].seq;
  const offline = events.filter((e) => e.kind === 'ItemProposed' && e.data.draft.title === 'Offline idea');
  assert.equal(offline.length, 1, 'applied once');
  await b.locator(`#conn[data-seq="${head}"]`).waitFor();

  // Frames: at least two sockets; every seq 1..head arrived exactly once (no gap, no duplicate).
  assert.ok(sockets >= 2, `Ann reconnected (${sockets} sockets)`);
  const seqs = received.filter((f) => f.type === 'event').map((f) => f.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: head }, (_, i) => i + 1),
    'each event once, in order',
  );
  // The queued command went out with its op after the reconnect and was acknowledged once.
  const cmd = sent.filter((f) => f.type === 'command' && f.command.draft?.title === 'Offline idea');
  assert.ok(cmd.length >= 1);
  const op = cmd[0].op;
  assert.ok(cmd.every((f) => f.op === op), 'every send of it carries the same op');
  assert.equal(received.filter((f) => f.type === 'ack' && f.op === op).length, 1, 'one ack');
  assert.ok(proxy.connections >= 2);

  assert.deepEqual(problems, [], 'no console errors');
  await fran.close();
  await ann.close();
});
