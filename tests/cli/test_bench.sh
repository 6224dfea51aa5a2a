#!/usr/bin/env bash
# test_bench.sh - `slm bench` on stories260K: the table and the JSON object
# have the figures llama-bench has (speeds are not checked, only present and
# positive), --scalar names the reference kernels, bad options fail.
# usage: test_bench.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MODEL=$DATA/models/stories260K.gguf

require_data "$MODEL"

TMP=$(mktemp -d /tmp/slm-bench-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
expect_line() { grep -Eq -- "$2" "$1" || fail "no line matching '$2' in $(basename "$1"): $(cat "$1")"; }

# --- table ------------------------------------------------------------------
"$SLM" bench -m "$MODEL" -p 16 -n 8 -t 2 -r 2 --membw 10 >"$TMP/out" 2>"$TMP/err" ||
    fail "slm bench exited $?: $(cat "$TMP/err")"
expect_line "$TMP/out" '^\| model \| size \| params \| type \| kernels \| threads \| test \| t/s \|$'
expect_line "$TMP/out" '^\| llama \| [0-9.]+ MiB \| [0-9.]+ M \| F32 \| [a-z0-9+]+ \| 2 \| pp16 \| [0-9.]+ ± [0-9.]+ \|$'
expect_line "$TMP/out" '^\| llama \| .* \| tg8 \| [0-9.]+ ± [0-9.]+ \|$'
expect_line "$TMP/out" '^cpu features: '
expect_line "$TMP/out" '^weights: (mapped|copied into private memory .*)$'
expect_line "$TMP/out" '^roofline: [0-9.]+ MB read per token at 10.00 GB/s -> [0-9.]+ t/s; tg8 reaches [0-9.]+ %$'

# --- JSON -------------------------------------------------------------------
"$SLM" bench -m "$MODEL" -p 8 -n 4 -r 3 --membw 10 --json >"$TMP/json" 2>"$TMP/err" ||
    fail "slm bench --json exited $?: $(cat "$TMP/err")"
python3 - "$TMP/json" <<'PY' || fail "JSON output: $(cat "$TMP/json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["arch"] == "llama" and r["type"] == "F32", r
assert r["n_params"] > 0 and r["size_bytes"] > 0 and r["bytes_per_token"] > 0
assert [t["name"] for t in r["tests"]] == ["pp8", "tg4"], r["tests"]
for t in r["tests"]:
    assert t["avg_ts"] > 0 and t["stddev_ts"] >= 0 and len(t["samples_ts"]) == 3, t
assert 0 < r["tests"][1]["roofline_fraction"], r["tests"][1]
assert r["weights"] in ("mapped", "copied"), r
PY

# --- how the weights sit in memory -------------------------------------------
"$SLM" bench -m "$MODEL" -p 0 -n 2 -r 1 --mmap >"$TMP/out" 2>&1 || fail "--mmap exited $?: $(cat "$TMP/out")"
expect_line "$TMP/out" '^weights: mapped$'
"$SLM" bench -m "$MODEL" -p 0 -n 2 -r 1 --no-mmap >"$TMP/out" 2>&1 || fail "--no-mmap exited $?: $(cat "$TMP/out")"
expect_line "$TMP/out" '^weights: copied into private memory \(--mmap maps the file\)'

# --- scalar kernels, skipped tests ------------------------------------------
"$SLM" bench -m "$MODEL" -p 4 -n 0 -r 1 --scalar >"$TMP/out" 2>&1 || fail "--scalar exited $?"
expect_line "$TMP/out" '\| scalar \| .* \| pp4 \|'
grep -q 'tg' "$TMP/out" && fail "-n 0 still ran a generation test"

# --- bad input --------------------------------------------------------------
"$SLM" bench -p 4 >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "missing -m should exit 2"
expect_line "$TMP/out" 'missing -m FILE'
"$SLM" bench -m "$MODEL" -t 0 >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "-t 0 should exit 2"
"$SLM" bench -m "$MODEL" --frobnicate >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "an unknown option should exit 2"
"$SLM" bench -m "$TMP/none.gguf" -p 4 -n 0 >"$TMP/out" 2>&1
[ $? -eq 1 ] || fail "a missing file should exit 1"
expect_line "$TMP/out" 'none.gguf'

[ "$FAILS" -eq 0 ] && echo "all slm bench checks passed"
exit $((FAILS > 0))
