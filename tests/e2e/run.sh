#!/usr/bin/env bash
# run.sh - end-to-end tests of `slm serve` with the official openai npm client.
# usage: tests/e2e/run.sh PATH_TO_SLM
# Starts the server on stories260K (from $SLM_TEST_DATA, default ../shared
# next to the repository) on a free loopback port, runs `node --test`, and
# stops the server on exit.  Exit 77 (skipped) when the model is missing,
# unless CI=true.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
slm="$(realpath "${1:-$repo/build/slm}")"
shift || true
data="${SLM_TEST_DATA:-$repo/../shared}"
model="$data/models/stories260K.gguf"
if [[ ! -f "$model" ]]; then
  if [[ "${CI:-}" == "true" ]]; then echo "e2e: missing $model (CI=true)" >&2; exit 1; fi
  echo "e2e: $model not found (set SLM_TEST_DATA); skipping" >&2
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e: node and npm are needed" >&2
  exit 1
fi
if [[ ! -d "$here/node_modules/openai" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

log="$(mktemp)"
key="e2e-$RANDOM$RANDOM"
"$slm" serve -m "$model" --host 127.0.0.1 --port 0 --parallel 8 -t 2 --api-key "$key" >/dev/null 2>"$log" &
pid=$!
cleanup() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT

url=""
for _ in $(seq 1 200); do
  url="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)"
  if [[ -n "$url" ]] && curl -fsS "$url/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; exit 1; fi
  sleep 0.05
done
if [[ -z "$url" ]] || ! curl -fsS "$url/health" >/dev/null; then
  echo "e2e: the server did not become healthy" >&2
  cat "$log" >&2
  exit 1
fi

cd "$here"
SLM_URL="$url" SLM_API_KEY="$key" SLM_BIN="$slm" SLM_MODEL="$model" node --test --test-concurrency=1 "$@" ./*.test.mjs
