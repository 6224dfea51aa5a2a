#!/usr/bin/env bash
# test_perplexity.sh - `slm perplexity` on stories260K: chunk-by-chunk output
# and a final estimate with its ± , a KL-divergence base file, KLD of the
# model against itself (0, 100% agreement) and of quantized copies (Q8_0 much
# closer than Q4_0), and bad input.
# usage: test_perplexity.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MODEL=$DATA/models/stories260K.gguf

require_data "$MODEL"

TMP=$(mktemp -d /tmp/slm-ppl-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }

# A text the model itself wrote (sampled, fixed seeds): about 1500 tokens.
for s in 1 2 3; do
    "$SLM" run -m "$MODEL" -p "Once upon a time" -n 500 --temp 1 -s $s -t 2 --ignore-eos 2>/dev/null
    echo
done >"$TMP/text.txt"

"$SLM" perplexity -m "$MODEL" -f "$TMP/text.txt" -c 128 -t 2 --kl-divergence-base "$TMP/base.bin" >"$TMP/out" 2>&1 ||
    fail "perplexity exited $?: $(tail -3 "$TMP/out")"
grep -Eq '^\[1/[0-9]+\] ppl [0-9.]+ ± [0-9.]+$' "$TMP/out" || fail "no chunk lines: $(head -3 "$TMP/out")"
python3 - "$TMP/out" <<'EOF' || fail "final estimate"
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"^Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)$", t, re.M)
ppl, err = float(m.group(1)), float(m.group(2))
assert 1.5 < ppl < 8, ppl          # the model's own samples at temperature 1: low perplexity
assert 0 < err < 0.5 * ppl, err
n = len(re.findall(r"^\[\d+/\d+\] ppl", t, re.M))
assert n >= 10, n
EOF
[ -s "$TMP/base.bin" ] || fail "no base file"

# --chunks limits the work.
"$SLM" perplexity -m "$MODEL" -f "$TMP/text.txt" -c 128 --chunks 2 -t 2 >"$TMP/out2" 2>&1 || fail "--chunks exited $?"
[ "$(grep -c '^\[' "$TMP/out2")" = 2 ] || fail "--chunks 2 evaluated $(grep -c '^\[' "$TMP/out2") chunks"

# kld FILE: "mean p99 top1" of a model against the base.
kld() {
    "$SLM" perplexity -m "$1" --kl-divergence-base "$TMP/base.bin" --kl-divergence -t 2 >"$TMP/k.out" 2>&1 ||
        { fail "KLD of $1 exited $?: $(tail -2 "$TMP/k.out")"; echo "9 9 0"; return; }
    python3 - "$TMP/k.out" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"^KL divergence: mean ([0-9.e-]+) ± [0-9.e-]+, median [0-9.e-]+, 99th percentile ([0-9.e-]+)", t, re.M)
a = re.search(r"^top-1 agreement: ([0-9.]+)%", t, re.M)
assert re.search(r"^RMS Δp of the next token: [0-9.]+%$", t, re.M)
print(m.group(1), m.group(2), a.group(1))
EOF
}
read -r k0 p0 a0 <<<"$(kld "$MODEL")"
python3 -c "assert $k0 < 1e-6 and $p0 < 1e-5 and $a0 == 100.0" || fail "self KLD $k0 p99 $p0 top1 $a0"
"$SLM" quantize -q "$MODEL" "$TMP/q8.gguf" Q8_0 && "$SLM" quantize -q "$MODEL" "$TMP/q4.gguf" Q4_0 || fail "quantize"
read -r k8 p8 a8 <<<"$(kld "$TMP/q8.gguf")"
read -r k4 p4 a4 <<<"$(kld "$TMP/q4.gguf")"
echo "KLD: Q8_0 $k8 (p99 $p8, top-1 $a8%), Q4_0 $k4 (p99 $p4, top-1 $a4%)"
python3 -c "assert 0 < $k8 < 0.005 and $k8 * 5 < $k4 < 0.3 and $p8 < $p4 and $a8 > $a4 > 70" || fail "KLD ordering"

# --- bad input ----------------------------------------------------------------
"$SLM" perplexity -m "$MODEL" >"$TMP/e" 2>&1 && fail "no -f accepted"
grep -q "missing -f TEXT" "$TMP/e" || fail "no -f: $(head -2 "$TMP/e")"
"$SLM" perplexity -m "$MODEL" -f "$TMP/none.txt" >"$TMP/e" 2>&1 && fail "missing text accepted"
grep -q "none.txt: No such file" "$TMP/e" || fail "missing text: $(head -2 "$TMP/e")"
echo "Once upon a time" >"$TMP/short.txt"
"$SLM" perplexity -m "$MODEL" -f "$TMP/short.txt" >"$TMP/e" 2>&1 && fail "short text accepted"
grep -q "fewer than one chunk" "$TMP/e" || fail "short text: $(head -2 "$TMP/e")"
"$SLM" perplexity -m "$MODEL" --kl-divergence-base "$TMP/text.txt" --kl-divergence >"$TMP/e" 2>&1 && fail "bad base accepted"
grep -q "not a file made by --kl-divergence-base" "$TMP/e" || fail "bad base: $(head -2 "$TMP/e")"

[ $FAILS -eq 0 ] && echo "test_perplexity: all passed"
[ $FAILS -eq 0 ]
