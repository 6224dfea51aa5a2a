// errors.test.mjs - every error code, authentication, limits, malformed
// input, backpressure, timeouts and shutdown.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import OpenAI from 'openai';
import { client, EOS, get, MODEL, post, sleep, spawnServer, startServer, URL } from './helpers.mjs';

function assertError(r, status, re) {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.json.error.message, 'string');
  assert.equal(typeof r.json.error.type, 'string');
  assert.ok('code' in r.json.error);
  if (re) assert.match(r.json.error.message, re);
}

test('401: missing or wrong API key; /health stays open', async () => {
  assertError(await post('/v1/completions', { prompt: 'a' }, { key: null }), 401);
  assertError(await post('/v1/completions', { prompt: 'a' }, { key: 'wrong' }), 401);
  assertError(await post('/v1/completions', { prompt: 'a' }, { key: `${process.env.SLM_API_KEY}x` }), 401);
  assert.equal((await get('/v1/models', { key: null })).status, 401);
  assert.equal((await get('/health', { key: null })).status, 200);
  await assert.rejects(client(URL, 'nope').completions.create({ model: 'x', prompt: 'a', max_tokens: 2 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('400: invalid JSON, wrong types, unknown role, n > 1, context overflow', async () => {
  assertError(await post('/v1/completions', '{"prompt": ', { raw: true }), 400, /invalid JSON/);
  assertError(await post('/v1/completions', '[1,2]', { raw: true }), 400, /JSON object/);
  assertError(await post('/v1/completions', { prompt: 'a', temperature: 'hot' }), 400, /temperature/);
  assertError(await post('/v1/completions', { prompt: 'a', max_tokens: 1.5 }), 400, /max_tokens/);
  assertError(await post('/v1/completions', { prompt: 'a', stop: [1] }), 400, /stop/);
  assertError(await post('/v1/completions', {}), 400, /prompt/);
  assertError(await post('/v1/chat/completions', { messages: [{ role: 'wizard', content: 'x' }] }), 400, /role/);
  assertError(await post('/v1/chat/completions', { messages: 'hi' }), 400, /messages/);
  assertError(await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], n: 2 }), 400, /'n'/);
  const r = await post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 4000 });
  assertError(r, 400, /context/);
  assert.match(r.json.error.message, /4000/);
  assert.match(r.json.error.message, /2048/);
  assertError(await post('/v1/completions', { prompt: [100000] }), 400, /token id/);
  assertError(await post('/v1/completions', { prompt: 'a', logit_bias: { abc: 1 } }), 400, /logit_bias/);
  const deep = '{"prompt":' + '['.repeat(100) + ']'.repeat(100) + '}';
  assertError(await post('/v1/completions', deep, { raw: true }), 400, /nested/);
  await assert.rejects(client().chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'x' }], n: 3 }),
    (e) => e instanceof OpenAI.BadRequestError);
});

test('404 unknown route, 405 wrong method', async () => {
  assertError(await post('/v1/nothing', {}), 404);
  assertError({ ...(await get('/v2/models')), json: JSON.parse((await get('/v2/models')).text) }, 404);
  const r = await get('/v1/completions');
  assert.equal(r.status, 405);
  assert.equal(r.headers.get('allow'), 'POST');
  assert.ok(JSON.parse(r.text).error);
  assert.equal((await post('/metrics', {})).status, 405);
});

test('413: a body over --max-body', async () => {
  const big = JSON.stringify({ prompt: 'a'.repeat(1100 * 1024) });
  const r = await post('/v1/completions', big, { raw: true });
  assert.equal(r.status, 413);
  assert.match(JSON.parse(r.text).error.message, /max-body/);
  assert.equal((await post('/v1/completions', { prompt: 'Hi', max_tokens: 2 })).status, 200);
});

test('hundreds of malformed requests, then a normal one still works', async () => {
  let seed = 7;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const valid = JSON.stringify({ messages: [{ role: 'user', content: 'hello' }], max_tokens: 3, stop: ['x'], logit_bias: { 5: 1 } });
  const bodies = [
    '', 'null', 'true', '"str"', '{}', '{"messages":[]}', '{"messages":[{}]}', '{"messages":[{"role":"user"}]}',
    '{"messages":[{"role":"user","content":{"a":1}}]}', '{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}',
    '{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}', '{"messages":[{"role":"user","content":"x"}],"max_tokens":1e99}',
    '{"messages":[{"role":"user","content":"x"}],"temperature":-5}', '{"messages":[{"role":"user","content":"x"}],"stop":{"a":1}}',
    '{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e","f","g","h","i"]}',
    '{"messages":[{"role":"user","content":"x"}],"stream_options":5}', '{"messages":[{"role":"user","content":"\\u0000"}]}',
    '{"messages":[{"role":"user","content":"x"}],"seed":"abc"}', '{"messages":[{"role":"user","content":"x"}],"logprobs":"yes"}',
    '{"messages":[{"role":"user","content":"x"}],"top_logprobs":50,"logprobs":true}', '{"a":1,"a":2}',
    '{"messages":[{"role":"user","content":"x"}],"logit_bias":{"-1":5}}', '\xff\xfe{', '{"messages":"\ud800"}',
  ];
  for (let i = 0; i < 300; i++) {
    const cut = valid.slice(0, rand(valid.length));
    const noise = Array.from({ length: rand(40) }, () => String.fromCharCode(rand(128))).join('');
    const spliced = valid.slice(0, rand(valid.length)) + noise + valid.slice(rand(valid.length));
    bodies.push([cut, noise, spliced, '['.repeat(rand(5000)), '{"messages":' + '{"a":'.repeat(rand(200))][i % 5]);
  }
  const paths = ['/v1/chat/completions', '/v1/completions', '/tokenize', '/detokenize'];
  let n = 0;
  for (let i = 0; i < bodies.length; i += 16) {
    const batch = bodies.slice(i, i + 16).map(async (b, k) => {
      const r = await post(paths[(i + k) % paths.length], b, { raw: true });
      assert.ok(r.status === 400 || r.status === 200, `status ${r.status} for ${JSON.stringify(b).slice(0, 200)}`);
      if (r.status === 400) assert.ok(r.json && r.json.error, r.text);
      n++;
    });
    await Promise.all(batch);
  }
  assert.ok(n >= 300);
  const ok = await client().chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5 });
  assert.ok(ok.choices[0].message.content !== undefined);
  assert.equal((await get('/health')).status, 200);
});

test('503 + Retry-After when the queue is full; --timeout stops a request', async () => {
  // 8000 tokens take the tiny model several seconds; the timeout stops it long before
  const srv = await startServer(['--parallel', '1', '--max-queue', '1', '--timeout', '0.6', '-c', '8192']);
  try {
    const long = { prompt: 'Once upon a time', max_tokens: 8000, logit_bias: { [EOS]: -100 } };
    const opts = { url: srv.url, key: null };
    const first = post('/v1/completions', long, opts);     // takes the slot
    await sleep(50);
    const second = post('/v1/completions', long, opts);    // waits in the queue
    await sleep(50);
    const third = await post('/v1/completions', long, opts);
    assertError(third, 503, /queue/);
    assert.equal(third.headers.get('retry-after'), '1');
    const a = await first;
    assert.equal(a.status, 200);
    assert.equal(a.json.choices[0].finish_reason, 'length');
    assert.ok(a.json.usage.completion_tokens < 8000, 'the timeout did not stop the request');
    const b = await second;
    assert.ok(b.status === 200 || b.status === 503, b.text);
  } finally {
    const { code } = await srv.stop();
    assert.equal(code, 0);
  }
});

test('503 + Retry-After while the model loads, then ready', async () => {
  // The model comes through a FIFO: loading blocks until the test writes it,
  // so the server is listening without a model for as long as the test likes.
  const dir = mkdtempSync(join(tmpdir(), 'slm-e2e-'));
  const fifo = join(dir, 'model.gguf');
  execFileSync('mkfifo', [fifo]);
  const { proc, url, log } = await spawnServer(fifo);
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  let ready = false;
  try {
    const r = await get('/v1/models', { url, key: null });
    assert.equal(r.status, 503, r.text);
    assert.equal(JSON.parse(r.text).error.code, 'model_loading');
    assert.equal(r.headers.get('retry-after'), '1');
    const c = await post('/v1/completions', { prompt: 'a' }, { url, key: null });
    assertError(c, 503, /loading/);
    assert.equal(c.headers.get('retry-after'), '1');
    assert.equal((await get('/health', { url, key: null })).status, 503);
    await pipeline(createReadStream(MODEL), createWriteStream(fifo));
    for (let i = 0; i < 200 && !ready; i++) {
      ready = (await get('/health', { url, key: null })).status === 200;
      if (!ready) await sleep(25);
    }
    assert.ok(ready, log());
    const ok = await get('/v1/models', { url, key: null });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('retry-after'), null);
  } finally {
    // SIGTERM is only listened for once the model is loaded
    proc.kill(ready ? 'SIGTERM' : 'SIGKILL');
    const code = await exited;
    rmSync(dir, { recursive: true, force: true });
    if (ready) assert.equal(code, 0, log());
  }
});

test('SIGTERM and SIGINT shut down cleanly (exit 0), even with a request running', async () => {
  for (const signal of ['SIGTERM', 'SIGINT']) {
    const srv = await startServer(['--parallel', '2']);
    const running = post('/v1/completions', { prompt: 'Once', max_tokens: 1900, stream: true, logit_bias: { [EOS]: -100 } },
      { url: srv.url, key: null }).catch(() => null);
    await sleep(100);
    const exit = await srv.stop(signal);
    assert.equal(exit.code, 0, srv.log());
    await running;
  }
});

test('a model without a chat template gets ChatML and one warning, not one per request', async () => {
  const srv = await startServer(['--parallel', '1']);
  try {
    const ai = client(srv.url, 'unused');
    for (let i = 0; i < 3; i++)
      await ai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    assert.equal(srv.log().match(/no chat template/g)?.length, 1, srv.log());
    assert.doesNotMatch(srv.log(), /without --api-key/); // loopback: no warning about the missing key
  } finally {
    await srv.stop();
  }
});
