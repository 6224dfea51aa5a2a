#!/usr/bin/env bash
# test_quantize_gptq.sh - `slm imatrix --covariance` stores every matrix
# input's covariance (NAME.in_cov, F32 [n_in, n_in]) next to llama.cpp's
# tensors; `slm quantize --gptq` uses it (the output changes, still runs,
# and does not depend on the thread count; the 5 F16 ffn_down are left
# alone); --gptq without covariances
# fails with a clear message and writes nothing.
# usage: test_quantize_gptq.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
STORIES=$DATA/models/stories260K.gguf

require_data "$STORIES"

TMP=$(mktemp -d /tmp/slm-gptq-test.XXXXXX)
trap 'chmod -R u+w "$TMP"; rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

stories_calibration "$TMP/calib.txt"

IM=$TMP/im.gguf
"$SLM" imatrix -m "$STORIES" -f "$TMP/calib.txt" -o "$IM" -c 64 -t 2 --covariance >/dev/null 2>"$TMP/err" ||
    fail "imatrix --covariance: $(cat "$TMP/err")"
"$SLM" info --json "$IM" >"$TMP/info.json" 2>&1 || fail "info on the imatrix: $(cat "$TMP/info.json")"
python3 -c '
import json, sys
names = {t["name"]: t for t in json.load(open(sys.argv[1]))["tensors"]}
sums = [n for n in names if n.endswith(".in_sum2")]
assert len(sums) == 36, len(sums)
for n in sums:
    c = names[n[:-len(".in_sum2")] + ".in_cov"]
    w = names[n]["shape"][0]
    assert c["type"] == "F32" and c["shape"][:2] == [w, w], c
' "$TMP/info.json" || fail "in_cov tensors missing or misshapen"

"$SLM" quantize -q -t 2 --imatrix "$IM" "$STORIES" "$TMP/im.q.gguf" Q4_K_M >"$TMP/q.out" 2>&1 ||
    fail "quantize --imatrix: $(cat "$TMP/q.out")"
"$SLM" quantize -t 2 --imatrix "$IM" --gptq "$STORIES" "$TMP/g2.gguf" Q4_K_M >"$TMP/q.out" 2>&1 ||
    fail "quantize --gptq: $(cat "$TMP/q.out")"
grep -q "31 matrices rounded with error feedback" "$TMP/q.out" || fail "--gptq summary: $(cat "$TMP/q.out")"
"$SLM" quantize -q -t 1 --imatrix "$IM" --gptq "$STORIES" "$TMP/g1.gguf" Q4_K_M >"$TMP/q.out" 2>&1 ||
    fail "quantize --gptq -t 1: $(cat "$TMP/q.out")"
cmp -s "$TMP/g1.gguf" "$TMP/g2.gguf" || fail "--gptq output depends on the thread count"
cmp -s "$TMP/im.q.gguf" "$TMP/g2.gguf" && fail "--gptq did not change the quantized weights"
"$SLM" quantize -q -t 2 --imatrix "$IM" --awq --gptq "$STORIES" "$TMP/ag.gguf" Q4_K_M >"$TMP/q.out" 2>&1 ||
    fail "quantize --awq --gptq: $(cat "$TMP/q.out")"
for f in g2 ag; do
    "$SLM" run -m "$TMP/$f.gguf" --prompt-ids 1,457,145 -n 4 -t 2 >"$TMP/run.out" 2>&1 ||
        fail "the $f model does not run: $(cat "$TMP/run.out")"
done

# --- bad input: a clear message, no output -----------------------------------
expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    if "$SLM" quantize "$@" "$STORIES" "$TMP/bad.gguf" Q4_K_M >"$TMP/out" 2>&1; then fail "$what: exit 0"; fi
    grep -q -- "$pat" "$TMP/out" || fail "$what: expected '$pat' in: $(cat "$TMP/out")"
    if [ -e "$TMP/bad.gguf" ] || [ -e "$TMP/bad.gguf.tmp" ]; then fail "$what: left an output file"; fi
    rm -f "$TMP/bad.gguf" "$TMP/bad.gguf.tmp"
}
"$SLM" imatrix -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/diag.gguf" -c 64 -t 2 >/dev/null 2>"$TMP/err" ||
    fail "imatrix: $(cat "$TMP/err")"
expect_fail "--gptq without --imatrix" "needs --imatrix" --gptq
expect_fail "--gptq with a diagonal imatrix" "imatrix --covariance" --gptq --imatrix "$TMP/diag.gguf"
expect_fail "bad --gptq-damp" "gptq-damp" --gptq --imatrix "$IM" --gptq-damp x
expect_fail "--gptq-damp without --gptq" "only applies with --gptq" --imatrix "$IM" --gptq-damp 0.1

[ $FAILS -eq 0 ] && echo "all gptq CLI tests passed"
[ $FAILS -eq 0 ]
