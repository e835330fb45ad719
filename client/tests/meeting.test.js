// One shared meeting, five people in their own browsers: Fran facilitates from Berlin, Ann votes
// from San Francisco, Bo from Berlin, Cy from Bangalore, Olga observes. Every page keeps its view
// from the server's pushes: during 20 votes and 2 reveals no page makes an HTTP request, every
// page's view equals `GET /api/plannings/{id}` for that person afterwards, and no pushed shared
// view ever carries a sealed card.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

const browser = chromiumForFile();
const problems = [];

const PEOPLE = [
  { name: 'Fran', zone: 'Europe/Berlin', role: 'facilitator' },
  { name: 'Ann', zone: 'America/Los_Angeles', role: 'member' },
  { name: 'Bo', zone: 'Europe/Berlin', role: 'member' },
  { name: 'Cy', zone: 'Asia/Kolkata', role: 'member' },
  { name: 'Olga', zone: 'Europe/Berlin', role: 'observer' },
];

/** Whether a kept-view frame shows a card in some round's votes (only a viewer's own part may). */
function sealedCardIn(frame) {
  if (frame.type === 'view') {
    return Object.values(frame.view.rounds || {}).some((r) =>
      Object.values(r.votes || {}).some((per) => Object.values(per).some((v) => 'card' in v)),
    );
  }
  if (frame.type === 'view_patch') {
    return frame.ops.some((op) => op.path.includes('/votes/') && JSON.stringify(op.value ?? null).includes('"card"'));
  }
  return false;
}

test('one meeting: pages keep their views from pushes, with no HTTP request and nothing sealed leaked', async () => {
  const c = await rest('POST', '/api/plannings', { body: { title: 'Sprint 9', name: 'Fran' } });
  const p = c.planning;
  const people = [{ ...PEOPLE[0], token: c.token, link: c.links.facilitator }];
  for (const who of PEOPLE.slice(1)) {
    const invite = who.role === 'observer' ? c.observer_invite : c.member_invite;
    const j = await rest('POST', `/api/plannings/${p}/join`, { body: { invite, name: who.name } });
    people.push({ ...who, token: j.token, link: j.link, participant: j.participant });
  }
  const fran = (cmd) => command(p, c.token, cmd);
  await fran({ type: 'ChangePhase', to: 'async' });
  await fran({ type: 'DraftGoal', text: 'Ship SSO' });
  for (const title of ['Login with SSO', 'Export CSV', 'Audit log']) await fran({ type: 'ProposeItem', draft: { title } });
  let view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const [a, b, cItem] = view.state.rank;
  await fran({ type: 'OpenRound', items: [a, b, cItem] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const round = view.state.round_order[0];

  // Everyone opens the planning in a browser of their own, in their own time zone.
  for (const who of people) {
    const ctx = await browser.newContext({ timezoneId: who.zone, viewport: { width: 1280, height: 900 } });
    who.page = watch(await ctx.newPage(), who.name, problems);
    who.frames = [];
    who.requests = [];
    who.page.on('websocket', (ws) =>
      ws.on('framereceived', (f) => {
        try {
          who.frames.push(JSON.parse(f.payload));
        } catch {
          // not JSON: nothing of ours
        }
      }),
    );
    await who.page.goto(who.link);
    await who.page.locator('#conn[data-state="online"]').waitFor();
  }
  const heldHead = (who) => who.page.evaluate(() => window.sprintlogStore?.view?.head ?? -1);
  for (const who of people) {
    await who.page.waitForFunction(() => window.sprintlogStore?.view, null, { timeout: 10_000 });
    who.page.on('request', (r) => who.requests.push(`${r.method()} ${r.url()}`));
  }

  // 20 votes and 2 reveals, sent by the members' own clients over REST from here: the pages only
  // watch. Ann changes her mind 8 times before Cy's last vote closes the round.
  const [fr, ann, bo, cy] = people;
  const vote = (who, item, card, r = round) => command(p, who.token, { type: 'CastVote', round: r, item, card });
  for (const [who, cards] of [[ann, ['3', '1', '2']], [bo, ['3', '13', '2']]]) {
    for (const [i, card] of [a, b, cItem].map((it, k) => [it, cards[k]])) await vote(who, i, card);
  }
  for (let n = 0; n < 8; n++) await vote(ann, n % 2 ? cItem : b, ['5', '3', '2', '1'][n % 4]);
  for (const [i, card] of [[a, '3'], [b, '8'], [cItem, '21']]) await vote(cy, i, card);
  await fran({ type: 'StartSync' });
  await fran({ type: 'RevealVotes', round, item: b });
  await fran({ type: 'Revote', previous: round, items: [cItem] });
  view = await rest('GET', `/api/plannings/${p}`, { token: c.token });
  const revote = view.state.round_order[1];
  let last;
  for (const who of [ann, bo, cy]) last = await vote(who, cItem, '5', revote);
  const head = last.head;

  for (const who of people) {
    const deadline = Date.now() + 10_000;
    while ((await heldHead(who)) < head && Date.now() < deadline) await who.page.waitForTimeout(50);
    assert.equal(await heldHead(who), head, `${who.name}'s page reached the head`);
  }
  for (const who of people) {
    assert.deepEqual(who.requests, [], `${who.name}'s page made no HTTP request during the votes`);
    const held = await who.page.evaluate(() => window.sprintlogStore.view.state);
    const fresh = await rest('GET', `/api/plannings/${p}`, { token: who.token });
    assert.deepEqual(held, fresh.state, `${who.name}'s kept view is the projection`);
    const leaked = who.frames.filter(sealedCardIn);
    assert.deepEqual(leaked, [], `${who.name} was pushed no sealed card`);
    assert.ok(who.frames.some((f) => f.type === 'view_patch'), `${who.name} got patches`);
  }
  // A member's page shows the re-vote's revealed result; the live session is announced.
  for (const who of [ann, cy]) {
    await who.page.locator('#live-banner #join-live').waitFor();
    await who.page.screenshot({ path: `${SHOTS}/meeting-${who.name.toLowerCase()}-board.png`, fullPage: false });
  }
  await fr.page.screenshot({ path: `${SHOTS}/meeting-fran-board.png`, fullPage: false });
  assert.deepEqual(problems, []);
});
