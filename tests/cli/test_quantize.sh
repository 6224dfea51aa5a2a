#!/usr/bin/env bash
# test_quantize.sh - `slm quantize`: every TYPE on llama-k-F32 gives the
# tensor types llama-quantize chose for the same file (its .tensors.json
# manifests), loads and runs in slm; fallbacks on stories260K (rows of 64 and
# 172); the options; and bad input (missing file, non-GGUF, unknown TYPE,
# read-only output folder, full disk via a file size limit, requantizing)
# fails with a clear message and leaves neither OUT nor OUT.tmp.
# usage: test_quantize.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
SYN=$DATA/reference/synthetic
F32=$SYN/llama-k-F32.gguf
STORIES=$DATA/models/stories260K.gguf

require_data "$F32" "$STORIES"

TMP=$(mktemp -d /tmp/slm-quantize-test.XXXXXX)
trap 'chmod -R u+w "$TMP"; rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# types FILE: "name type" lines, sorted.
types() { "$SLM" info --json "$1" | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tensors"]: print(t["name"], t["type"])' | sort; }

# runs FILE: slm loads the file and generates a few tokens.
runs() { "$SLM" run -m "$1" --prompt-ids 1,457,145 -n 4 -t 2 >"$TMP/run.out" 2>&1; }

# --- every preset on llama-k-F32: llama-quantize's type choice -------------
for T in Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS F16 BF16; do
    OUT=$TMP/k-$T.gguf
    "$SLM" quantize -q -t 2 "$F32" "$OUT" $T >"$TMP/q.out" 2>&1 || { fail "$T: exit $?: $(cat "$TMP/q.out")"; continue; }
    python3 - "$SYN/llama-k-$T.tensors.json" >"$TMP/want" <<'EOF'
import json, sys
for t in json.load(open(sys.argv[1]))["tensors"]: print(t["name"], t["type"])
EOF
    sort "$TMP/want" -o "$TMP/want"
    types "$OUT" >"$TMP/got"
    cmp -s "$TMP/want" "$TMP/got" || fail "$T: tensor types differ from llama-quantize's: $(diff "$TMP/want" "$TMP/got" | head -5)"
    runs "$OUT" || fail "$T: slm run failed: $(tail -3 "$TMP/run.out")"
    [ -e "$OUT.tmp" ] && fail "$T: $OUT.tmp left behind"
done
rm -f "$TMP"/k-*.gguf

# Q3_K_L (no llama.cpp manifest here): attn_v, attn_output and ffn_down get Q5_K.
"$SLM" quantize -q -t 2 "$F32" "$TMP/l.gguf" Q3_K_L || fail "Q3_K_L exited $?"
types "$TMP/l.gguf" | python3 -c '
import sys
t = dict(l.split() for l in sys.stdin)
for n, ty in t.items():
    want = "F32" if "norm" in n else "Q6_K" if n == "output.weight" else \
           "Q5_K" if any(k in n for k in ("attn_v", "attn_output", "ffn_down")) else "Q3_K"
    assert ty == want, (n, ty, want)' || fail "Q3_K_L types"

# --- fallbacks on stories260K: rows of 64 (not 256) and 172 (not 32) ---------
"$SLM" quantize -q -t 2 "$STORIES" "$TMP/s.gguf" Q4_K_M || fail "stories Q4_K_M exited $?"
types "$TMP/s.gguf" | python3 -c '
import sys
t = dict(l.split() for l in sys.stdin)
assert t["output.weight"] == "Q8_0", t["output.weight"]         # rows of 64 do not fit Q6_K
assert t["token_embd.weight"] == "Q5_0", t["token_embd.weight"]
assert t["blk.0.attn_q.weight"] == "Q5_0", t["blk.0.attn_q.weight"] # Q4_K falls back to Q5_0
assert t["blk.0.ffn_down.weight"] == "F16", t["blk.0.ffn_down.weight"] # 172 fits no block type
assert t["blk.0.attn_norm.weight"] == "F32"' || fail "stories fallback types"
runs "$TMP/s.gguf" || fail "stories Q4_K_M does not run: $(tail -3 "$TMP/run.out")"

# --- options -----------------------------------------------------------------
"$SLM" quantize -q -t 1 --pure "$F32" "$TMP/p.gguf" Q4_K_M || fail "--pure exited $?"
types "$TMP/p.gguf" | grep -v norm | grep -vq ' Q4_K$' && fail "--pure: a matrix is not Q4_K"
"$SLM" quantize -q --output-tensor-type q8_0 --token-embedding-type Q5_K --tensor-type 'attn_(q|k)=Q8_0' \
    "$F32" "$TMP/o.gguf" Q4_K_S || fail "type options exited $?"
types "$TMP/o.gguf" | python3 -c '
import sys
t = dict(l.split() for l in sys.stdin)
assert t["output.weight"] == "Q8_0" and t["token_embd.weight"] == "Q5_K"
assert t["blk.1.attn_q.weight"] == "Q8_0" and t["blk.0.attn_k.weight"] == "Q8_0"
assert t["blk.0.ffn_up.weight"] == "Q4_K"' || fail "type options not applied"
"$SLM" quantize "$F32" "$TMP/t.gguf" Q6_K >"$TMP/table" 2>/dev/null || fail "table run exited $?"
grep -Eq '^size: 6\.0[0-9] MiB -> 1\.2[0-9] MiB .*bits per weight: 32\.00 -> 6\.[0-9]+' "$TMP/table" ||
    fail "no size/bpw summary: $(tail -2 "$TMP/table")"
grep -Eq '^blk\.0\.ffn_down\.weight +F32 +-> Q6_K' "$TMP/table" || fail "no per-tensor table"

# --- bad input: clear error, no OUT, no OUT.tmp --------------------------------
# expect_error DESC REGEX ARGS...: non-zero exit, a stderr line matching REGEX.
expect_error() {
    local desc=$1 re=$2
    shift 2
    "$SLM" quantize -q "$@" >"$TMP/e.out" 2>"$TMP/e.err"
    local rc=$?
    [ $rc -ne 0 ] || fail "$desc: exit status 0"
    [ $rc -lt 128 ] || fail "$desc: killed by a signal ($rc)"
    grep -Eq -- "$re" "$TMP/e.err" || fail "$desc: stderr '$(head -c 300 "$TMP/e.err")' does not match '$re'"
}
no_output() { [ ! -e "$1" ] && [ ! -e "$1.tmp" ] || fail "$2: output or temporary file left at $1"; }

expect_error "missing input" "$TMP/nope.gguf.*(No such file|cannot open)" "$TMP/nope.gguf" "$TMP/x.gguf" Q4_0
no_output "$TMP/x.gguf" "missing input"
printf 'not a gguf file at all, just text\n' >"$TMP/text.gguf"
expect_error "non-GGUF" "text\.gguf.*(magic|GGUF)" "$TMP/text.gguf" "$TMP/x.gguf" Q4_0
no_output "$TMP/x.gguf" "non-GGUF"
expect_error "unknown TYPE" "unknown quantization type 'Q9_X'.*Q4_K_M" "$F32" "$TMP/x.gguf" Q9_X
no_output "$TMP/x.gguf" "unknown TYPE"
expect_error "bad --tensor-type" "REGEX=TYPE" --tensor-type attn_q "$F32" "$TMP/x.gguf" Q4_0
expect_error "bad override type" "'Q7' is not a tensor type" --output-tensor-type Q7 "$F32" "$TMP/x.gguf" Q4_0
mkdir "$TMP/ro" && chmod a-w "$TMP/ro"
if [ "$(id -u)" != 0 ]; then
    expect_error "read-only folder" "ro/x\.gguf\.tmp.*Permission denied" "$F32" "$TMP/ro/x.gguf" Q4_0
    no_output "$TMP/ro/x.gguf" "read-only folder"
fi
# A file size limit of 200 KiB: the write fails half way (EFBIG), like a full disk.
(ulimit -f 200 && "$SLM" quantize -q "$F32" "$TMP/big.gguf" Q8_0) >"$TMP/e.out" 2>"$TMP/e.err"
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] || fail "disk full: exit status $rc"
grep -Eq "big\.gguf\.tmp.*(File too large|No space)" "$TMP/e.err" || fail "disk full: stderr '$(cat "$TMP/e.err")'"
no_output "$TMP/big.gguf" "disk full"
# Requantizing a quantized file needs --allow-requantize.
"$SLM" quantize -q "$F32" "$TMP/q4.gguf" Q4_0 || fail "Q4_0 exited $?"
expect_error "requantize" "already quantized \(Q4_0\).*--allow-requantize" "$TMP/q4.gguf" "$TMP/x.gguf" Q4_K_M
no_output "$TMP/x.gguf" "requantize"
"$SLM" quantize -q --allow-requantize "$TMP/q4.gguf" "$TMP/x.gguf" Q4_K_M || fail "--allow-requantize exited $?"
runs "$TMP/x.gguf" || fail "requantized file does not run"
# An existing OUT survives a failed run untouched.
echo keep >"$TMP/keep.gguf"
expect_error "failure keeps OUT" "unknown quantization type" "$F32" "$TMP/keep.gguf" NOPE
[ "$(cat "$TMP/keep.gguf")" = keep ] || fail "a failed run changed an existing OUT"

[ $FAILS -eq 0 ] && echo "test_quantize: all passed"
[ $FAILS -eq 0 ]
