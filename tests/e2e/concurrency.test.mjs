// concurrency.test.mjs - continuous batching must not change any output:
// 8 streams at once equal the same requests one by one; a client that hangs
// up frees its slot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { client, collectStream, EOS, get, metric, post, sleep, URL, KEY } from './helpers.mjs';

const ai = client();

const PROMPTS = [
  'Once upon a time', 'The little dog', 'Lily and Ben went to the', 'One day, a big bird',
  'Tom had a red ball. He', 'The sun was hot and', 'Mom said to Sue', 'There was a small frog who',
];

function requestFor(i) {
  // half sampled with a seed, half greedy; different lengths so slots finish at different steps
  const sampled = i % 2 === 0;
  return {
    model: 'x', prompt: PROMPTS[i], max_tokens: 40 + 8 * i, logit_bias: { [EOS]: -100 },
    ...(sampled ? { temperature: 0.9, seed: 100 + i, top_k: 0, top_p: 0.95, min_p: 0 } : { temperature: 0 }),
  };
}

test('8 concurrent streams give exactly the outputs of the same requests run one by one', async () => {
  const alone = [];
  for (let i = 0; i < 8; i++) alone.push(await ai.completions.create(requestFor(i)));
  const together = await Promise.all(PROMPTS.map(async (_, i) => collectStream(
    await ai.completions.create({ ...requestFor(i), stream: true }))));
  for (let i = 0; i < 8; i++) {
    assert.equal(together[i].text, alone[i].choices[0].text, `request ${i}`);
    assert.equal(together[i].finish, 'length');
  }
});

test('chat requests started while others run (continuous batching) keep their outputs', async () => {
  const messages = (i) => [{ role: 'user', content: PROMPTS[i] }];
  const args = (i) => ({ model: 'x', messages: messages(i), max_tokens: 30, temperature: 0.7, seed: i, logit_bias: { [EOS]: -100 } });
  const alone = [];
  for (let i = 0; i < 4; i++) alone.push((await ai.chat.completions.create(args(i))).choices[0].message.content);
  const running = [];
  for (let i = 0; i < 4; i++) {
    running.push(ai.chat.completions.create(args(i)));
    await sleep(3); // staggered: each joins a batch already decoding
  }
  const got = (await Promise.all(running)).map((r) => r.choices[0].message.content);
  assert.deepEqual(got, alone);
});

test('a client that disconnects cancels its request and frees its slot', async () => {
  const cancelled0 = await metric('slm_requests_cancelled_total');
  const ctrl = new AbortController();
  const res = await fetch(`${URL}/v1/completions`, {
    method: 'POST', signal: ctrl.signal,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 1500, stream: true, logit_bias: { [EOS]: -100 } }),
  });
  const reader = res.body.getReader();
  await reader.read();
  await reader.read();
  assert.equal(await metric('slm_slots_busy'), 1);
  ctrl.abort();
  let busy = 1;
  for (let i = 0; i < 100 && busy !== 0; i++) {
    await sleep(20);
    busy = await metric('slm_slots_busy');
  }
  assert.equal(busy, 0, 'the slot is still busy after the client left');
  assert.equal(await metric('slm_requests_cancelled_total'), cancelled0 + 1);
  // a non-streaming request whose client leaves is cancelled too
  const ctrl2 = new AbortController();
  const pending = fetch(`${URL}/v1/completions`, {
    method: 'POST', signal: ctrl2.signal,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 1500, logit_bias: { [EOS]: -100 } }),
  }).catch(() => null);
  await sleep(50);
  ctrl2.abort();
  await pending;
  for (let i = 0; i < 100 && (await metric('slm_slots_busy')) !== 0; i++) await sleep(20);
  assert.equal(await metric('slm_slots_busy'), 0);
  assert.equal(await metric('slm_requests_cancelled_total'), cancelled0 + 2);
  const ok = await post('/v1/completions', { prompt: 'Hi', max_tokens: 3 });
  assert.equal(ok.status, 200);
  assert.equal((await get('/health')).status, 200);
});
