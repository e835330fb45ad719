// A long discussion: an item's thread shows its recent comments (and its open questions), and
// "Show older comments" loads the rest page by page, in posting order, none twice; comments
// posted or edited afterwards show without a reload.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SHOTS, chromiumForFile, watch, rest, command } from './helpers.js';

const browser = chromiumForFile();
const problems = [];

const label = (i) => `Comment ${String(i).padStart(2, '0')}`;

test('a long thread shows its recent comments and loads older ones on demand', async () => {
  const created = await rest('POST', '/api/plannings', { body: { title: 'Talkative', name: 'Fran' } });
  const { planning, token } = created;
  await command(planning, token, { type: 'ProposeItem', draft: { title: 'Login with SSO' } });
  const view = await rest('GET', `/api/plannings/${planning}`, { token });
  const itemId = Object.values(view.state.items)[0].id;
  // An open question first, then comments: the view holds the newest five and the question.
  await command(planning, token, { type: 'PostComment', item: itemId, kind: 'question', text: 'Question 00?' });
  for (let i = 1; i <= 16; i++) await command(planning, token, { type: 'PostComment', item: itemId, kind: 'comment', text: label(i) });

  const ctx = await browser.newContext();
  const a = watch(await ctx.newPage(), 'Fran', problems);
  await a.goto(created.links.facilitator);
  await a.locator('#conn[data-state="online"]').waitFor();
  const thread = a.locator(`[data-key="thread-${itemId}"]`);
  await thread.getByText(label(16)).waitFor();
  await thread.getByText('Discussion (17)').waitFor();
  const texts = () => thread.locator('.comment-text').allTextContents();
  assert.deepEqual(await texts(), ['Question 00?', label(12), label(13), label(14), label(15), label(16)]);

  // Eleven more exist (the question is shown already); the page size is 50, one click.
  await thread.getByRole('button', { name: 'Show older comments (11)' }).click();
  await thread.getByText(label(1), { exact: true }).waitFor();
  const all = ['Question 00?', ...Array.from({ length: 16 }, (_, i) => label(i + 1))];
  assert.deepEqual(await texts(), all);
  assert.equal(await thread.getByRole('button', { name: /Show older/ }).count(), 0);
  await a.screenshot({ path: `${SHOTS}/comments-older.png`, fullPage: true });

  // Live: a new comment joins the end, an edit of an old one shows, nothing is lost.
  await command(planning, token, { type: 'PostComment', item: itemId, kind: 'comment', text: label(17) });
  await thread.getByText(label(17)).waitFor();
  const page = await rest('GET', `/api/plannings/${planning}/items/${itemId}/comments?limit=50`, { token });
  const second = page.comments.find((c) => c.text === label(2));
  await command(planning, token, { type: 'EditComment', comment: second.id, text: 'Comment 02, edited' });
  await thread.getByText('Comment 02, edited').waitFor();
  assert.deepEqual(await texts(), [...all.slice(0, 2), 'Comment 02, edited', ...all.slice(3), label(17)]);
  assert.deepEqual(problems, []);
  await ctx.close();
});
