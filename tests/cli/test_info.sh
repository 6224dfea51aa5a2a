#!/usr/bin/env bash
# test_info.sh - `slm info` on stories260K (text and --json), on a synthetic
# model, on a Q4_K file this build may not compute, and on bad input.
# usage: test_info.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
MODEL=$DATA/models/stories260K.gguf

require_data "$MODEL"

TMP=$(mktemp -d /tmp/slm-info-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# expect_line FILE REGEX: some line of FILE matches the extended regex.
expect_line() { grep -Eq -- "$2" "$1" || fail "no line matching '$2' in $(basename "$1")"; }

# --- text output on stories260K ---------------------------------------------
"$SLM" info "$MODEL" >"$TMP/out" 2>"$TMP/err" || fail "slm info exited $? on stories260K: $(cat "$TMP/err")"
expect_line "$TMP/out" '^GGUF version: +3$'
expect_line "$TMP/out" '^file size: +1185376 bytes'
expect_line "$TMP/out" '^alignment: +32$'
expect_line "$TMP/out" '^data offset: +14176$'
expect_line "$TMP/out" '^keys: +19$'
expect_line "$TMP/out" '^tensors: +48$'
expect_line "$TMP/out" '^  general\.architecture +string +"llama"$'
expect_line "$TMP/out" '^  llama\.block_count +u32 +5$'
expect_line "$TMP/out" '^  llama\.attention\.layer_norm_rms_epsilon +f32 +1e-05$'
expect_line "$TMP/out" '^  tokenizer\.ggml\.tokens +array +\[string x 512\] "<unk>", "<s>", "</s>", "<0x00>", "<0x01>", \.\.\. \(512 total\)$'
expect_line "$TMP/out" '^ +0 +token_embd\.weight +F32 +\[64, 512\] +131072 +14176$'
expect_line "$TMP/out" '^ +47 +blk\.4\.ffn_norm\.weight +F32 +\[64\] +256 +1185120$'
expect_line "$TMP/out" '^  parameters +292800 '
expect_line "$TMP/out" '^  bits per weight +32\.00$'
expect_line "$TMP/out" '^  heads +8$'
expect_line "$TMP/out" '^  kv heads +4$'
expect_line "$TMP/out" '^  head dim +8$'
expect_line "$TMP/out" '^  vocab size +512$'
expect_line "$TMP/out" '^  tokenizer +llama$'
expect_line "$TMP/out" '^all tensor types can be computed'
n_rows=$(grep -Ec '^ +[0-9]+ +(token_embd|output|blk)' "$TMP/out")
[ "$n_rows" = 48 ] || fail "tensor table has $n_rows rows, expected 48"

# --- JSON output ------------------------------------------------------------
"$SLM" info --json "$MODEL" >"$TMP/json" || fail "slm info --json exited $?"
python3 - "$TMP/json" <<'EOF' || fail "JSON checks"
import json, sys
d = json.load(open(sys.argv[1]))
def check(cond, what):
    if not cond:
        print("  json:", what); sys.exit(1)
check(d["version"] == 3 and d["file_size"] == 1185376, "version/file_size")
check(d["alignment"] == 32 and d["data_offset"] == 14176, "alignment/data_offset")
check(d["n_keys"] == 19 and len(d["metadata"]) == 19, "19 keys")
check(d["n_tensors"] == 48 and len(d["tensors"]) == 48, "48 tensors")
md = d["metadata"]
check(list(md)[0] == "tokenizer.ggml.tokens", "key order kept")
check(md["llama.block_count"] == {"type": "u32", "value": 5}, "block_count")
check(abs(md["llama.attention.layer_norm_rms_epsilon"]["value"] - 1e-5) < 1e-12, "eps")
tok = md["tokenizer.ggml.tokens"]["value"]
check(tok["element_type"] == "string" and tok["count"] == 512, "tokens array")
check(tok["head"] == ["<unk>", "<s>", "</s>", "<0x00>", "<0x01>"], "tokens head")
t0 = d["tensors"][0]
check(t0 == {"name": "token_embd.weight", "type": "F32", "shape": [64, 512], "n_elements": 32768,
             "bytes": 131072, "offset": 14176}, "first tensor")
check(d["totals"]["n_params"] == sum(t["n_elements"] for t in d["tensors"]) == 292800, "n_params")
check(d["totals"]["bits_per_weight"] == 32.0, "bits per weight")
a = d["architecture"]
check(a["arch"] == "llama" and a["n_embd"] == 64 and a["n_layer"] == 5 and a["n_head"] == 8
      and a["n_head_kv"] == 4 and a["head_dim"] == 8 and a["n_ff"] == 172 and a["n_vocab"] == 512
      and a["n_ctx_train"] == 2048 and a["tokenizer"] == "llama", "architecture summary")
check(d["can_run"] is True and d["unsupported_types"] == [], "can_run")
EOF

# --- a synthetic model: control characters escaped, strings shortened --------
if "$SLM" synth --shape tiny --arch qwen2 --type f16 --seed 5 -o "$TMP/tiny.gguf" 2>"$TMP/err"; then
    "$SLM" info "$TMP/tiny.gguf" >"$TMP/tiny" || fail "slm info on the synthetic model exited $?"
    expect_line "$TMP/tiny" '^  tokenizer\.chat_template +string +"\{% for message in messages %\}.*"\.\.\. \([0-9]+ bytes\)$'
    expect_line "$TMP/tiny" '^  qwen2\.rope\.freq_base +f32 +10000$'
    expect_line "$TMP/tiny" '^  tokenizer +gpt2 \(pre: gpt-2\)$'
    expect_line "$TMP/tiny" 'blk\.1\.attn_v\.bias +F32 +\[32\] +128 '
    expect_line "$TMP/tiny" '^  bits per weight +16\.[0-9]+$'
    "$SLM" info --json "$TMP/tiny.gguf" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["metadata"]["tokenizer.chat_template"]["value"].endswith("{% endif %}")
assert d["architecture"]["n_vocab"] == 320 and d["architecture"]["head_dim"] == 16
' || fail "JSON of the synthetic model"
else
    fail "slm synth failed: $(cat "$TMP/err")"
fi

# --- control characters and invalid UTF-8 are escaped ------------------------
python3 - "$TMP/ctl.gguf" <<'EOF'
import struct, sys
def s(b): return struct.pack("<Q", len(b)) + b
kv = s(b"test.text") + struct.pack("<I", 8) + s(b'a\nb\tc\x01d"e\\f\xffg')
kv += s(b"test.list") + struct.pack("<II", 9, 8) + struct.pack("<Q", 2) + s(b"x\ry") + s(b"")
open(sys.argv[1], "wb").write(b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv)
EOF
"$SLM" info "$TMP/ctl.gguf" >"$TMP/ctl" || fail "slm info exited $? on a file without tensors"
expect_line "$TMP/ctl" '^  test\.text +string +"a\\nb\\tc\\x01d\\"e\\\\f\\xffg"$'
expect_line "$TMP/ctl" '^  test\.list +array +\[string x 2\] "x\\ry", ""$'
expect_line "$TMP/ctl" '^tensors: +0$'
"$SLM" info --json "$TMP/ctl.gguf" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["metadata"]["test.text"]["value"] == "a\nb\tc\x01d\"e\\f\ufffdg", d["metadata"]["test.text"]
assert d["architecture"] is None and d["totals"]["n_params"] == 0
' || fail "JSON escaping"

# --- a type this build cannot compute (when there is one) -------------------
Q4K=$DATA/reference/synthetic/llama-k-Q4_K_M.gguf
if [ -f "$Q4K" ]; then
    "$SLM" info "$Q4K" >"$TMP/q4k" || fail "slm info exited $? on $Q4K"
    "$SLM" info --json "$Q4K" >"$TMP/q4k.json" || fail "slm info --json exited $? on $Q4K"
    python3 - "$TMP/q4k.json" "$TMP/q4k" <<'EOF' || fail "unsupported-type lines"
import json, sys
d = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
types = {t["type"] for t in d["tensors"]}
for u in d["unsupported_types"]:
    line = "unsupported: %d tensor%s of type %s, which this build cannot compute: the model cannot run" % (
        u["n_tensors"], "" if u["n_tensors"] == 1 else "s", u["type"])
    assert line in text, line
assert "Q4_K" in types
assert d["can_run"] == (not d["unsupported_types"])
assert ("all tensor types can be computed" in text) == d["can_run"]
EOF
fi

# --- bad input --------------------------------------------------------------
head -c 5000 "$MODEL" >"$TMP/truncated.gguf"
"$SLM" info "$TMP/truncated.gguf" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] || fail "truncated file: exit $rc, expected 1"
grep -q "truncated.gguf" "$TMP/err" && grep -qi "truncated\|past the end\|left in the file" "$TMP/err" ||
    fail "truncated file: unclear message: $(cat "$TMP/err")"

"$SLM" info "$TMP/does-not-exist.gguf" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] || fail "missing file: exit $rc, expected 1"
grep -q "does-not-exist.gguf" "$TMP/err" && grep -qi "no such file" "$TMP/err" ||
    fail "missing file: unclear message: $(cat "$TMP/err")"

"$SLM" info >/dev/null 2>&1
[ $? = 2 ] || fail "no FILE: expected exit 2"
"$SLM" info --help | grep -q "usage: slm info FILE" || fail "--help"

if [ $FAILS -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "ok"
