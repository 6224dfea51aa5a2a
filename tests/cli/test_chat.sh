#!/usr/bin/env bash
# test_chat.sh - `slm chat`: a conversation read from standard input, greedy
# replies that do not depend on the thread count, /reset giving the first
# reply again (the KV cache really cleared), a later turn evaluating only its
# new tokens, a model's own template recognised, a message too long for the
# context refused without ending the chat, and the options of `slm run` that
# make no sense here refused.
# usage: test_chat.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MODEL=$DATA/models/stories260K.gguf

require_data "$MODEL"

TMP=$(mktemp -d /tmp/slm-chat-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
CHAT=(chat -m "$MODEL" --temp 0 -n 12 --cache-type-k f32 --cache-type-v f32)

# --- a conversation, /reset, unknown commands ---------------------------------
printf 'Once upon a time\n' | "$SLM" "${CHAT[@]}" >"$TMP/one" 2>"$TMP/err" || fail "slm chat exited $?: $(cat "$TMP/err")"
[ -s "$TMP/one" ] || fail "no reply"
printf 'Once upon a time\n/frobnicate\n/reset\nOnce upon a time\n/exit\nnever read\n' >"$TMP/in"
"$SLM" "${CHAT[@]}" --verbose <"$TMP/in" >"$TMP/out" 2>"$TMP/err" || fail "slm chat exited $?: $(cat "$TMP/err")"
cat "$TMP/one" "$TMP/one" | cmp -s - "$TMP/out" ||
    fail "the reply after /reset differs from the first one: $(cat "$TMP/out")"
grep -q 'unknown command /frobnicate' "$TMP/err" || fail "no message for an unknown command: $(cat "$TMP/err")"
grep -q 'conversation cleared' "$TMP/err" || fail "/reset said nothing: $(cat "$TMP/err")"
grep -q 'chatml chat template' "$TMP/err" || fail "--verbose did not name the template: $(cat "$TMP/err")"
# a second turn continues the first's conversation: only its new tokens are evaluated
printf 'Once upon a time\nThe end\n' >"$TMP/in"
"$SLM" "${CHAT[@]}" --verbose <"$TMP/in" >"$TMP/out" 2>"$TMP/err" || fail "slm chat exited $?: $(cat "$TMP/err")"
counts=$(grep -o '[0-9]* tokens in the conversation, [0-9]* evaluated' "$TMP/err" | sed -n 2p)
total=${counts%% tokens*}
evaluated=$(echo "$counts" | sed 's/.*, \([0-9]*\) evaluated/\1/')
[ -n "$counts" ] && [ "$evaluated" -lt "$total" ] || fail "turn 2 re-evaluated the whole conversation: $counts"

# --- the same replies with one thread as with two ------------------------------
"$SLM" "${CHAT[@]}" -t 1 <"$TMP/in" >"$TMP/out1" 2>"$TMP/err" || fail "-t 1 exited $?: $(cat "$TMP/err")"
"$SLM" "${CHAT[@]}" -t 2 <"$TMP/in" >"$TMP/out2" 2>"$TMP/err" || fail "-t 2 exited $?: $(cat "$TMP/err")"
cmp -s "$TMP/out1" "$TMP/out2" || fail "replies differ between 1 and 2 threads"

# --- a model with a chat template (slm synth's tiny one: ChatML), a system message
"$SLM" synth --shape tiny -o "$TMP/tiny.gguf" >/dev/null 2>"$TMP/err" || fail "slm synth exited $?: $(cat "$TMP/err")"
printf 'hello\nand again\n' | "$SLM" chat -m "$TMP/tiny.gguf" --temp 0 -n 6 --system "Be brief." --verbose \
    >"$TMP/out" 2>"$TMP/err" || fail "tiny chat exited $?: $(cat "$TMP/err")"
[ "$(grep -c 'tokens in the conversation' "$TMP/err")" -eq 2 ] || fail "tiny: expected two turns: $(cat "$TMP/err")"
grep -q 'chatml chat template, context' "$TMP/err" || fail "tiny's own template was not recognised: $(cat "$TMP/err")"

# --- a message that does not fit: refused, the chat goes on -------------------
long=$(printf 'word %.0s' $(seq 200))
printf '%s\nOnce upon a time\n' "$long" | "$SLM" "${CHAT[@]}" -c 128 >"$TMP/out" 2>"$TMP/err" ||
    fail "an oversized message ended the chat with $?: $(cat "$TMP/err")"
grep -q 'more than the context of 128; the message was not sent' "$TMP/err" ||
    fail "no message for the oversized input: $(cat "$TMP/err")"
cmp -s "$TMP/one" "$TMP/out" || fail "the next message got another reply: $(cat "$TMP/out")"

# --- options of slm run that chat refuses, help --------------------------------
"$SLM" chat -m "$MODEL" -p "hi" </dev/null >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "-p should exit 2"
grep -q -- '--system' "$TMP/out" || fail "-p refusal does not point to --system: $(cat "$TMP/out")"
"$SLM" chat -m "$MODEL" --output-ids </dev/null >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "--output-ids should exit 2"
"$SLM" chat --system </dev/null >"$TMP/out" 2>&1
[ $? -eq 2 ] || fail "--system without a value should exit 2"
"$SLM" chat --help >"$TMP/out" 2>&1 || fail "--help exited $?"
grep -q -- '--system TEXT' "$TMP/out" || fail "--help lacks --system: $(cat "$TMP/out")"
"$SLM" chat -m "$TMP/none.gguf" </dev/null >"$TMP/out" 2>&1
[ $? -eq 1 ] || fail "a missing model should exit 1"

[ "$FAILS" -eq 0 ] && echo "all slm chat checks passed"
exit $((FAILS > 0))
