// api.test.mjs - the endpoints and response shapes, through the openai client.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { client, collectStream, EOS, get, post } from './helpers.mjs';

const ai = client();
const greedy = { temperature: 0, logit_bias: { [EOS]: -100 } };

test('health, models and props', async () => {
  const h = await get('/health', { key: null });
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.text).status, 'ok');
  const models = await ai.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].id, 'stories260K.gguf');
  const props = JSON.parse((await get('/props')).text);
  assert.equal(props.parallel, 8);
  assert.equal(props.chat_template, 'chatml');
  assert.equal(props.chat_template_recognised, false);
});

test('completion: text, max_tokens -> length, usage counts the prompt tokens', async () => {
  const prompt = 'Once upon a time';
  const r = await ai.completions.create({ model: 'x', prompt, max_tokens: 12, ...greedy });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.ok(r.choices[0].text.length > 0);
  const tok = await post('/tokenize', { content: prompt, add_special: true });
  assert.equal(r.usage.prompt_tokens, tok.json.tokens.length);
  assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 12);
});

test('completion: the prompt as token ids gives the same text as the string', async () => {
  const tok = await post('/tokenize', { content: 'The cat', add_special: true });
  const a = await ai.completions.create({ model: 'x', prompt: 'The cat', max_tokens: 10, ...greedy });
  const b = await ai.completions.create({ model: 'x', prompt: tok.json.tokens, max_tokens: 10, ...greedy });
  assert.equal(b.choices[0].text, a.choices[0].text);
});

test('completion: streaming gives the same text as one response', async () => {
  const args = { model: 'x', prompt: 'Lily went to the park', max_tokens: 24, ...greedy };
  const whole = await ai.completions.create(args);
  const s = await collectStream(await ai.completions.create({ ...args, stream: true, stream_options: { include_usage: true } }));
  assert.equal(s.text, whole.choices[0].text);
  assert.equal(s.finish, 'length');
  assert.equal(s.usage.prompt_tokens, whole.usage.prompt_tokens);
  assert.equal(s.usage.completion_tokens, whole.usage.completion_tokens);
});

test('chat: a response and a stream, with the assistant role and usage', async () => {
  const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me about a dog.' }];
  const r = await ai.chat.completions.create({ model: 'x', messages, max_tokens: 20, ...greedy });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 20);
  const stream = await ai.chat.completions.create({ model: 'x', messages, max_tokens: 20, stream: true, stream_options: { include_usage: true }, ...greedy });
  const s = await collectStream(stream);
  assert.equal(s.text, r.choices[0].message.content);
  assert.equal(s.usage.completion_tokens, 20);
  assert.equal(s.usage.prompt_tokens, r.usage.prompt_tokens);
});

test('chat: content as an array of text parts equals the joined string', async () => {
  const a = await ai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 8, ...greedy });
  const b = await ai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello ' }, { type: 'text', text: 'there' }] }], max_tokens: 8, ...greedy });
  assert.equal(b.choices[0].message.content, a.choices[0].message.content);
});

test('raw SSE: data: chunks and data: [DONE]', async () => {
  const r = await post('/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, stream: true, ...greedy });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/event-stream/);
  const events = r.text.split('\n\n').filter(Boolean);
  assert.equal(events.at(-1), 'data: [DONE]');
  for (const e of events.slice(0, -1)) assert.equal(JSON.parse(e.slice(6)).object, 'chat.completion.chunk');
});

test('stop strings: the text ends before the stop, which is not returned', async () => {
  const base = await ai.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 40, ...greedy });
  const text = base.choices[0].text;
  const word = text.trim().split(/\s+/)[3];
  const r = await ai.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 40, stop: [word], ...greedy });
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.choices[0].text, text.slice(0, text.indexOf(word)));
});

test('stop strings split across tokens are found, streamed or not', async () => {
  const args = { model: 'x', prompt: 'Once upon a time', max_tokens: 40, logprobs: 0, ...greedy };
  const base = await ai.completions.create(args);
  const tokens = base.choices[0].logprobs.tokens;
  // a stop made of the end of one token and the start of the next
  let i = 2;
  while (i < tokens.length - 1 && (tokens[i].length < 2 || tokens[i + 1].length < 2)) i++;
  assert.ok(i < tokens.length - 1, 'no two neighbouring tokens of 2+ characters');
  const stop = tokens[i].slice(-1) + tokens[i + 1].slice(0, 2);
  const text = base.choices[0].text;
  const want = text.slice(0, text.indexOf(stop));
  const r = await ai.completions.create({ ...args, stop });
  assert.equal(r.choices[0].text, want);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await collectStream(await ai.completions.create({ ...args, stop, stream: true }));
  assert.equal(s.text, want);
  assert.equal(s.finish, 'stop');
});

test('seed: the same seed gives the same text, other seeds other texts', async () => {
  const args = { model: 'x', prompt: 'One day', max_tokens: 30, temperature: 1.0, top_k: 0, top_p: 1, min_p: 0, logit_bias: { [EOS]: -100 } };
  const a = await ai.completions.create({ ...args, seed: 1234 });
  const b = await ai.completions.create({ ...args, seed: 1234 });
  assert.equal(b.choices[0].text, a.choices[0].text);
  const others = await Promise.all([1, 2, 3].map((seed) => ai.completions.create({ ...args, seed })));
  assert.ok(others.some((o) => o.choices[0].text !== a.choices[0].text));
  // without a seed each request draws its own
  const fresh = await Promise.all([1, 2, 3].map(() => ai.completions.create(args)));
  assert.ok(fresh.some((o) => o.choices[0].text !== fresh[0].choices[0].text));
});

test('logprobs: chat entries per token, sorted alternatives, greedy picks the best', async () => {
  const r = await ai.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, logprobs: true, top_logprobs: 3, ...greedy });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 6);
  assert.equal(lp.map((e) => e.token).join(''), r.choices[0].message.content);
  for (const e of lp) {
    assert.ok(e.logprob <= 0);
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0].token, e.token);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    assert.deepEqual(Buffer.from(e.bytes).toString(), e.token);
  }
});

test('/tokenize and /detokenize round trip, with pieces', async () => {
  const content = 'Once upon a time, there was a little girl named Lily.';
  const t = await post('/tokenize', { content });
  assert.equal(t.status, 200);
  assert.ok(t.json.tokens.every(Number.isInteger));
  const d = await post('/detokenize', { tokens: t.json.tokens });
  assert.equal(d.json.content, content);
  const p = await post('/tokenize', { content: 'Once', with_pieces: true });
  assert.equal(p.json.tokens[0].piece.trim(), 'Once');
});

test('prompt cache: a repeated prompt reuses the slot cache', async () => {
  const prompt = 'Tom and Sam were best friends. They liked to play in the big green park near the house every day.';
  const a = await ai.completions.create({ model: 'x', prompt, max_tokens: 4, ...greedy });
  const b = await ai.completions.create({ model: 'x', prompt, max_tokens: 4, ...greedy });
  assert.equal(b.choices[0].text, a.choices[0].text);
  assert.equal(b.usage.prompt_tokens_details.cached_tokens, b.usage.prompt_tokens - 1);
});

test('/metrics is Prometheus text', async () => {
  const m = await get('/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type'), /text\/plain/);
  for (const name of ['slm_requests_total', 'slm_generated_tokens_total', 'slm_queue_depth', 'slm_slots_busy',
    'slm_prompt_tokens_per_second', 'slm_generation_tokens_per_second', 'slm_time_to_first_token_seconds_count'])
    assert.match(m.text, new RegExp(`^${name} `, 'm'));
  assert.match(m.text, /^# TYPE slm_time_to_first_token_seconds histogram$/m);
});
