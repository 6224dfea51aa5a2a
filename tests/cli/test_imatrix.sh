#!/usr/bin/env bash
# test_imatrix.sh - `slm imatrix` on stories260K writes an importance matrix
# (llama.cpp's imatrix GGUF: general.type, chunk keys, NAME.in_sum2 and
# NAME.counts for every matrix) that `slm quantize --imatrix` accepts and
# that changes its output; bad input fails with a clear message and writes
# nothing.
# usage: test_imatrix.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
STORIES=$DATA/models/stories260K.gguf

require_data "$STORIES"

TMP=$(mktemp -d /tmp/slm-imatrix-test.XXXXXX)
trap 'chmod -R u+w "$TMP"; rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

stories_calibration "$TMP/calib.txt"

# --- collect, then quantize with it -----------------------------------------
IM=$TMP/im.gguf
"$SLM" imatrix -m "$STORIES" -f "$TMP/calib.txt" -o "$IM" -c 64 -t 2 >"$TMP/out" 2>"$TMP/err" ||
    fail "imatrix: exit $?: $(cat "$TMP/err")"
grep -q "wrote 36 matrices" "$TMP/err" || fail "imatrix: no summary line: $(cat "$TMP/err")"
"$SLM" info --json "$IM" >"$TMP/info.json" 2>&1 || fail "info on the imatrix: $(cat "$TMP/info.json")"
python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
md = j["metadata"]
assert md["general.type"]["value"] == "imatrix"
assert md["imatrix.chunk_size"]["value"] == 64 and md["imatrix.chunk_count"]["value"] >= 2
names = {t["name"]: t for t in j["tensors"]}
sums = [n for n in names if n.endswith(".in_sum2")]
assert len(sums) == 36, len(sums)
for n in sums:
    c = n[:-len(".in_sum2")] + ".counts"
    assert c in names, c
    assert names[n]["type"] == "F32" and names[c]["type"] == "F32"
assert "blk.0.ffn_down.weight.in_sum2" in names and "output.weight.in_sum2" in names
' "$TMP/info.json" || fail "imatrix file layout"

"$SLM" quantize -q -t 2 "$STORIES" "$TMP/plain.gguf" Q4_0 >"$TMP/q.out" 2>&1 || fail "quantize: $(cat "$TMP/q.out")"
"$SLM" quantize -q -t 2 --imatrix "$IM" "$STORIES" "$TMP/im-q.gguf" Q4_0 >"$TMP/q.out" 2>&1 ||
    fail "quantize --imatrix: $(cat "$TMP/q.out")"
cmp -s "$TMP/plain.gguf" "$TMP/im-q.gguf" && fail "the imatrix did not change the quantized weights"
"$SLM" run -m "$TMP/im-q.gguf" --prompt-ids 1,457,145 -n 4 -t 2 >"$TMP/run.out" 2>&1 ||
    fail "the imatrix-quantized model does not run: $(cat "$TMP/run.out")"

# --awq folds per-channel scales into the norms; the file still runs
"$SLM" quantize -t 2 --imatrix "$IM" --awq "$STORIES" "$TMP/awq.gguf" Q4_0 >"$TMP/q.out" 2>&1 ||
    fail "quantize --awq: $(cat "$TMP/q.out")"
"$SLM" run -m "$TMP/awq.gguf" --prompt-ids 1,457,145 -n 4 -t 2 >"$TMP/run.out" 2>&1 ||
    fail "the --awq model does not run: $(cat "$TMP/run.out")"
"$SLM" quantize --awq "$STORIES" "$TMP/bad.gguf" Q4_0 >"$TMP/q.out" 2>&1 && fail "--awq without --imatrix: exit 0"
grep -q "needs --imatrix" "$TMP/q.out" || fail "--awq without --imatrix: $(cat "$TMP/q.out")"
[ -e "$TMP/bad.gguf" ] && fail "--awq without --imatrix left a file"

# --chunks limits the text used
"$SLM" imatrix -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/one.gguf" -c 64 --chunks 1 -t 2 >/dev/null 2>"$TMP/err" ||
    fail "--chunks 1: $(cat "$TMP/err")"
grep -q "1 chunks of 64 tokens" "$TMP/err" || fail "--chunks 1: $(cat "$TMP/err")"

# --- bad input: a clear message, no output -----------------------------------
expect_fail() { # WHAT PATTERN ARGS...
    local what=$1 pat=$2
    shift 2
    if "$SLM" imatrix "$@" >"$TMP/out" 2>"$TMP/err"; then fail "$what: exit 0"; fi
    grep -q -- "$pat" "$TMP/err" || fail "$what: expected '$pat' in: $(cat "$TMP/err")"
    if [ -e "$TMP/bad.gguf" ] || [ -e "$TMP/bad.gguf.tmp" ]; then fail "$what: left an output file"; fi
    rm -f "$TMP/bad.gguf" "$TMP/bad.gguf.tmp"
}
expect_fail "no -o" "missing -o" -m "$STORIES" -f "$TMP/calib.txt"
expect_fail "no -f" "missing -f" -m "$STORIES" -o "$TMP/bad.gguf"
expect_fail "missing text" "nope.txt" -m "$STORIES" -f "$TMP/nope.txt" -o "$TMP/bad.gguf"
expect_fail "missing model" "nope.gguf" -m "$TMP/nope.gguf" -f "$TMP/calib.txt" -o "$TMP/bad.gguf"
expect_fail "text shorter than a chunk" "fewer than one chunk" -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/bad.gguf" -c 4096
expect_fail "bad -c" "ctx-size" -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/bad.gguf" -c x
expect_fail "unknown option" "unknown option" -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/bad.gguf" --frobnicate
expect_fail "output folder missing" "nodir/x.gguf" -m "$STORIES" -f "$TMP/calib.txt" -o "$TMP/nodir/x.gguf" -c 64 --chunks 1

[ $FAILS -eq 0 ] && echo "all imatrix CLI tests passed"
[ $FAILS -eq 0 ]
