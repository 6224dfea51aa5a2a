#!/usr/bin/env bash
# test_run.sh - `slm run` on stories260K: greedy text and ids against the
# llama.cpp / reference outputs, the logits dump, seeded sampling that does
# not depend on the thread count, context errors, a missing model, Ctrl-C.
# usage: test_run.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MODEL=$DATA/models/stories260K.gguf
REF=$DATA/reference/stories260K

require_data "$MODEL" "$REF/stories260K-reference.json"

TMP=$(mktemp -d /tmp/slm-run-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
GREEDY=(run -m "$MODEL" --temp 0 -n 128 --prompt "Once upon a time" --cache-type-k f32 --cache-type-v f32)

# --- greedy text equals llama.cpp's (modulo trailing newlines) -----------------
"$SLM" "${GREEDY[@]}" >"$TMP/greedy.txt" 2>"$TMP/err" || fail "greedy run exited $?: $(cat "$TMP/err")"
[ "$(cat "$TMP/greedy.txt")" = "$(cat "$REF/greedy_stories260K-F32.txt")" ] ||
    fail "greedy text differs from greedy_stories260K-F32.txt: $(diff "$TMP/greedy.txt" "$REF/greedy_stories260K-F32.txt" | head -5)"
for what in "load time" "prompt .* 5 tokens .*tokens/s" "generation .* 128 tokens .*tokens/s" "time to first token"; do
    grep -Eq "$what" "$TMP/err" || fail "summary on stderr lacks '$what': $(cat "$TMP/err")"
done
# The model file mapped (--mmap) or copied into memory (--no-mmap): the same text.
for how in --mmap --no-mmap; do
    "$SLM" "${GREEDY[@]}" "$how" >"$TMP/greedy-how.txt" 2>"$TMP/err" || fail "greedy run $how exited $?: $(cat "$TMP/err")"
    cmp -s "$TMP/greedy.txt" "$TMP/greedy-how.txt" || fail "greedy text with $how differs"
done

# -f reads the prompt from a file (its trailing newline dropped); llama.cpp's
# long spellings work; --no-display-prompt prints only the continuation.
printf 'Once upon a time\n' >"$TMP/prompt.txt"
"$SLM" run --model "$MODEL" --temp 0 --n-predict 128 --ctx-size 256 --threads 1 --file "$TMP/prompt.txt" \
    --cache-type-k f32 --cache-type-v f32 >"$TMP/from-file.txt" 2>"$TMP/err" || fail "-f run exited $?: $(cat "$TMP/err")"
cmp -s "$TMP/greedy.txt" "$TMP/from-file.txt" || fail "-f prompt.txt and -p differ"
"$SLM" "${GREEDY[@]}" --no-display-prompt >"$TMP/continuation.txt" 2>"$TMP/err" ||
    fail "--no-display-prompt exited $?: $(cat "$TMP/err")"
[ " Once upon a time$(cat "$TMP/continuation.txt")" = "$(cat "$TMP/greedy.txt")" ] ||
    fail "--no-display-prompt: got '$(head -c 80 "$TMP/continuation.txt")'"

# --- --output-ids equals the reference greedy ids ------------------------------
expected_ids=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["greedy_ids"])))' \
    "$REF/stories260K-reference.json")
"$SLM" "${GREEDY[@]}" --output-ids >"$TMP/ids" 2>"$TMP/err" || fail "--output-ids exited $?: $(cat "$TMP/err")"
[ "$(cat "$TMP/ids")" = "$expected_ids" ] || fail "--output-ids: got '$(head -c 200 "$TMP/ids")'"

# --- --prompt-ids: the same ids without tokenizing (BOS given explicitly) -------
"$SLM" run -m "$MODEL" --temp 0 -n 16 --prompt-ids 1,403,407,261,378 --output-ids >"$TMP/ids16" 2>"$TMP/err" ||
    fail "--prompt-ids exited $?: $(cat "$TMP/err")"
[ "$(cat "$TMP/ids16")" = "$(echo "$expected_ids" | cut -d' ' -f1-16)" ] || fail "--prompt-ids: got '$(cat "$TMP/ids16")'"

# --- --dump-logits: valid JSON, rows close to the float64 reference -----------
"$SLM" run -m "$MODEL" --temp 0 -n 8 -p "Once upon a time" --cache-type-k f32 --cache-type-v f32 \
    --dump-logits "$TMP/logits.json" >/dev/null 2>"$TMP/err" || fail "--dump-logits exited $?: $(cat "$TMP/err")"
python3 - "$TMP/logits.json" "$REF/stories260K-reference.json" <<'PY' || fail "--dump-logits content"
import json, sys
dump, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
def maxdiff(a, b):
    assert len(a) == len(b) == 512, (len(a), len(b))
    return max(abs(x - y) for x, y in zip(a, b))
assert dump["n_vocab"] == 512
assert dump["prompt_ids"] == ref["prompt_ids_with_bos"], dump["prompt_ids"]
assert len(dump["prompt_logits"]) == 5, len(dump["prompt_logits"])
assert len(dump["greedy_logits"]) == 8 and dump["greedy_ids"] == ref["greedy_ids"][:8], dump["greedy_ids"]
d0 = maxdiff(dump["prompt_logits"][0], ref["logits_after_bos"])
d4 = maxdiff(dump["prompt_logits"][4], ref["logits_after_prompt"])
assert d0 < 1e-3 and d4 < 1e-3, (d0, d4)
# The logits that chose token k are the row its argmax came from.
assert dump["greedy_logits"][0] == dump["prompt_logits"][4]
for row, tok in zip(dump["greedy_logits"], dump["greedy_ids"]):
    assert row.index(max(row)) == tok
PY

# --- the dump has the layout of the llama.cpp reference cases (synthetic llama-a)
CASE=$DATA/reference/synthetic/llama-a.p20.json
ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["prompt_ids"])))' "$CASE")
"$SLM" run -m "$DATA/reference/synthetic/llama-a.gguf" --prompt-ids "$ids" -n 24 --temp 0 --cache-type-k f32 \
    --cache-type-v f32 --output-ids --dump-logits "$TMP/llama-a.json" >/dev/null 2>"$TMP/err" ||
    fail "llama-a p20 run exited $?: $(cat "$TMP/err")"
python3 - "$TMP/llama-a.json" "$CASE" <<'PY' || fail "--dump-logits on llama-a differs from llama-a.p20.json"
import json, sys
dump, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert dump["greedy_ids"] == ref["greedy_ids"], dump["greedy_ids"]
for key in ("prompt_logits", "greedy_logits"):
    assert len(dump[key]) == len(ref[key]), (key, len(dump[key]))
    worst = max(abs(a - b) for x, y in zip(dump[key], ref[key]) for a, b in zip(x, y))
    assert worst < 1e-3, (key, worst)
PY

# --- seeded sampling is reproducible, also across thread counts ---------------
SAMPLE=(run -m "$MODEL" -p "Once upon a time" -n 100 --temp 1.0 --seed 42)
"$SLM" "${SAMPLE[@]}" -t 1 >"$TMP/s1" 2>/dev/null || fail "seeded run -t 1 failed"
"$SLM" "${SAMPLE[@]}" -t 1 >"$TMP/s1b" 2>/dev/null || fail "seeded run -t 1 (again) failed"
"$SLM" "${SAMPLE[@]}" -t 2 >"$TMP/s2" 2>/dev/null || fail "seeded run -t 2 failed"
"$SLM" run -m "$MODEL" -p "Once upon a time" -n 100 --temp 1.0 --seed 43 >"$TMP/s3" 2>/dev/null ||
    fail "seeded run --seed 43 failed"
cmp -s "$TMP/s1" "$TMP/s1b" || fail "same seed twice gave different text"
cmp -s "$TMP/s1" "$TMP/s2" || fail "same seed with -t 1 and -t 2 gave different text"
cmp -s "$TMP/s1" "$TMP/s3" && fail "seeds 42 and 43 gave the same text"
[ "$(wc -c <"$TMP/s1")" -gt 40 ] || fail "seeded run printed almost nothing: $(cat "$TMP/s1")"

# --- the prompt and -n must fit the context -----------------------------------
"$SLM" run -m "$MODEL" -c 4 -p "Once upon a time there was a girl" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "prompt longer than -c: exit $rc, expected 1"
grep -q "context holds 4" "$TMP/err" || fail "prompt longer than -c: unclear message: $(cat "$TMP/err")"
"$SLM" run -m "$MODEL" -c 16 -n 100 -p "Once upon a time" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "-n beyond the context: exit $rc, expected 1"
grep -q "105 tokens do not fit the context of 16" "$TMP/err" || fail "-n beyond the context: $(cat "$TMP/err")"
# -n -1 stops when the context is full, which is not an error.
"$SLM" run -m "$MODEL" -c 16 -n -1 --ignore-eos --temp 0 -p "Once upon a time" --output-ids >"$TMP/out" 2>"$TMP/err" ||
    fail "-n -1 with a small context exited $?: $(cat "$TMP/err")"
[ "$(wc -w <"$TMP/out")" -eq 12 ] || fail "-n -1 -c 16 after a 5-token prompt: expected 12 ids, got $(cat "$TMP/out")"

# --- bad input ----------------------------------------------------------------
"$SLM" run -m "$TMP/no-such-model.gguf" -p hi >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "missing model: exit $rc, expected 1"
grep -q "no-such-model.gguf" "$TMP/err" || fail "missing model: message does not name the file: $(cat "$TMP/err")"
"$SLM" run -m "$MODEL" --top-k abc >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && grep -q -- "--top-k" "$TMP/err" || fail "--top-k abc: $(cat "$TMP/err")"
"$SLM" run -m "$MODEL" --bogus >"$TMP/out" 2>"$TMP/err"
[ $? -eq 2 ] && grep -q -- "--bogus" "$TMP/err" || fail "unknown option: $(cat "$TMP/err")"
"$SLM" run --help >"$TMP/out" 2>&1 && grep -q -- "--n-predict" "$TMP/out" || fail "--help"

# --- no -m: $SLM_MODEL, else the cached default model, else a download -------
mkdir -p "$TMP/cache"
env -u SLM_MODEL SLM_CACHE_DIR="$TMP/cache" SLM_HF_ENDPOINT=http://127.0.0.1:9 \
    "$SLM" run -n 3 >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc -eq 1 ] || fail "no model and no network: exit $rc, expected 1"
grep -q -- "-m FILE" "$TMP/err" || fail "no model and no network: no hint about -m: $(cat "$TMP/err")"
cp "$MODEL" "$TMP/cache/stories260K.gguf"
env -u SLM_MODEL SLM_CACHE_DIR="$TMP/cache" SLM_HF_ENDPOINT=http://127.0.0.1:9 \
    "$SLM" run --temp 0 -n 4 -p "Once upon a time" >"$TMP/out" 2>"$TMP/err" ||
    fail "cached default model: exit $?: $(cat "$TMP/err")"
[ "$(cat "$TMP/out")" = " Once upon a time, there was a" ] || fail "cached default model: got '$(cat "$TMP/out")'"
SLM_MODEL="$TMP/from-env.gguf" "$SLM" run -n 1 >"$TMP/out" 2>"$TMP/err"
grep -q "from-env.gguf" "$TMP/err" || fail "\$SLM_MODEL is not used: $(cat "$TMP/err")"

# --- Ctrl-C stops the generation and still prints the summary -----------------
"$SLM" run -m "$MODEL" -c 100100 -n 100000 --ignore-eos -p "Once upon a time" >"$TMP/long" 2>"$TMP/err" &
pid=$!
sleep 1.5
kill -INT $pid 2>/dev/null || fail "the long run ended before Ctrl-C: $(cat "$TMP/err")"
wait $pid
rc=$?
[ $rc -eq 130 ] || fail "after SIGINT: exit $rc, expected 130: $(cat "$TMP/err")"
grep -q "interrupted" "$TMP/err" || fail "after SIGINT: no 'interrupted' note"
grep -Eq "generation .* tokens" "$TMP/err" || fail "after SIGINT: no summary: $(cat "$TMP/err")"
[ "$(wc -c <"$TMP/long")" -gt 20 ] || fail "after SIGINT: nothing was generated"

if [ $FAILS -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "all slm run checks passed"
