// helpers.mjs - shared setup of the end-to-end tests: the server under test
// (SLM_URL, started by run.sh) and extra servers with other options that a
// test starts itself (SLM_BIN, SLM_MODEL).
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

export const URL = process.env.SLM_URL;
export const KEY = process.env.SLM_API_KEY;
export const BIN = process.env.SLM_BIN;
export const MODEL = process.env.SLM_MODEL;
if (!URL || !KEY || !BIN || !MODEL) throw new Error('run through tests/e2e/run.sh (SLM_URL, SLM_API_KEY, SLM_BIN, SLM_MODEL)');

export const EOS = 2; // stories260K's </s>: banning it makes a request run to max_tokens

export function client(url = URL, apiKey = KEY) {
  return new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
}

export async function post(path, body, { key = KEY, url = URL, raw = false, headers = {} } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  if (key) h.Authorization = `Bearer ${key}`;
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: h, body: raw ? body : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

export async function get(path, { key = KEY, url = URL } = {}) {
  const res = await fetch(`${url}${path}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

export async function metric(name, url = URL) {
  const { text } = await get('/metrics', { url });
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Spawns `slm serve -m model` on a free loopback port; resolves with the
// process, its URL (once it says it listens) and its log so far.
export async function spawnServer(model, args = []) {
  const proc = spawn(BIN, ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', '-t', '1', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    proc.stderr.on('data', (d) => {
      log += d;
      const m = log.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    proc.on('exit', (code) => reject(new Error(`slm serve exited with ${code}: ${log}`)));
  });
  return { proc, url, log: () => log };
}

// Starts `slm serve` on the test model with extra options; resolves once
// /health answers 200.
export async function startServer(args) {
  const { proc, url, log } = await spawnServer(MODEL, args);
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/health`)).status === 200) break; } catch { /* not yet */ }
    await sleep(25);
  }
  const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  return {
    url, proc, log,
    stop: async (signal = 'SIGTERM') => { proc.kill(signal); return exited; },
  };
}

// The text of a streamed completion/chat, its finish reason and usage.
export async function collectStream(stream) {
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta ? (c.delta.content ?? '') : (c.text ?? '');
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, finish, usage, chunks };
}
