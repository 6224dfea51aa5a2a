#!/usr/bin/env bash
# test_pull.sh - `slm pull` against tests/cli/http_server.py on 127.0.0.1:
# normal, redirected and resumed downloads, checksum failures, HTTP errors,
# HF_TOKEN, an unreachable endpoint and the default model.
# usage: test_pull.sh PATH_TO_SLM        (exit 77 = skipped: no shared data)
set -u
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
HERE=$REPO/tests/cli
MODELS=$DATA/models
MODEL=$MODELS/stories260K.gguf
SHA=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d
SIZE=1185376

require_data "$MODEL"

TMP=$(mktemp -d /tmp/slm-pull-test.XXXXXX)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

python3 "$HERE/http_server.py" --root "$MODELS" --log "$TMP/server.log" --port-file "$TMP/port" \
    >/dev/null 2>"$TMP/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do [ -f "$TMP/port" ] && break; sleep 0.1; done
if [ ! -f "$TMP/port" ]; then
    echo "FAIL: the test server did not start:"; cat "$TMP/server.err"; exit 1
fi
BASE=http://127.0.0.1:$(cat "$TMP/port")

# Short curl timeouts so that every case ends in seconds; no token from the caller.
export SLM_PULL_TIMEOUT=3
unset HF_TOKEN XDG_CACHE_HOME

FAILED=0
N=0
fail() { echo "FAIL [$CASE]: $*"; echo "--- stderr:"; cat "$TMP/err"; FAILED=$((FAILED + 1)); }
ok() { echo "ok   [$CASE]"; }

# run_pull MODES ARGS...: pull into the case's own cache; sets RC, output in $TMP/out, $TMP/err.
run_pull() {
    local modes=$1; shift
    SLM_HF_ENDPOINT=$BASE${modes:+/_mode/$modes} SLM_CACHE_DIR=$CACHE "$SLM" pull "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}
new_case() { CASE=$1; N=$((N + 1)); CACHE=$TMP/cache$N; : >"$TMP/server.log"; }
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# expect_success: exit 0, the path on stdout, the right bytes, no .part left.
expect_success() {
    local dest=${1:-$CACHE/stories260K.gguf}
    if [ "$RC" -ne 0 ]; then fail "exit $RC, want 0"; return 1; fi
    if [ "$(cat "$TMP/out")" != "$dest" ]; then fail "stdout '$(cat "$TMP/out")', want '$dest'"; return 1; fi
    if [ ! -f "$dest" ] || [ "$(sha_of "$dest")" != "$SHA" ]; then fail "$dest missing or wrong sha256"; return 1; fi
    if [ -e "$dest.part" ]; then fail "$dest.part left behind"; return 1; fi
    return 0
}
# expect_failure PATTERN: exit 1, PATTERN in stderr, nothing under the final name.
expect_failure() {
    if [ "$RC" -ne 1 ]; then fail "exit $RC, want 1"; return 1; fi
    if ! grep -q -- "$1" "$TMP/err"; then fail "stderr lacks '$1'"; return 1; fi
    if [ -e "$CACHE/stories260K.gguf" ]; then fail "a file appeared under the final name"; return 1; fi
    return 0
}
log_has() { grep -q -- "$1" "$TMP/server.log" || { fail "server log lacks '$1'"; cat "$TMP/server.log"; return 1; }; }

new_case "normal download with X-Linked-Etag"
run_pull normal org/repo sub/dir/stories260K.gguf
expect_success && log_has "GET /_mode/normal/org/repo/resolve/main/sub/dir/stories260K.gguf range=-" && ok

new_case "a second pull finds the file"
CACHE=$TMP/cache$((N - 1))
run_pull normal org/repo stories260K.gguf
expect_success && { grep -q "already there" "$TMP/err" && [ ! -s "$TMP/server.log" ] && ok || fail "downloaded again"; }

new_case "redirect to a CDN, sha256 from the first hop"
run_pull redirect org/repo stories260K.gguf
expect_success && log_has "status=302" && log_has "GET /_cdn/" && ok

new_case "a wrong X-Linked-Etag on the redirect is caught"
run_pull redirect,badsum org/repo stories260K.gguf
expect_failure "sha256 mismatch" && { [ ! -e "$CACHE/stories260K.gguf.part" ] && ok || fail ".part kept"; }

new_case "sha256 in ETag"
run_pull etag org/repo stories260K.gguf
expect_success && ok

new_case "a wrong ETag sha256 is caught"
run_pull etag,badsum org/repo stories260K.gguf
expect_failure "sha256 mismatch" && ok

new_case "wrong checksum header: error, no file, no .part"
run_pull badsum org/repo stories260K.gguf
expect_failure "sha256 mismatch" && { [ ! -e "$CACHE/stories260K.gguf.part" ] && ok || fail ".part kept"; }

new_case "no checksum from the server: warns, --sha256 checks"
run_pull nohash org/repo stories260K.gguf
expect_success && { grep -q "no sha256 to check" "$TMP/err" && ok || fail "no warning"; }
new_case "--sha256 mismatch"
run_pull nohash org/repo stories260K.gguf --sha256 "$(printf '0%.0s' $(seq 64))"
expect_failure "sha256 mismatch" && ok
new_case "--sha256 match, --dest"
run_pull nohash org/repo stories260K.gguf --sha256 "$SHA" --dest "$TMP/elsewhere"
expect_success "$TMP/elsewhere/stories260K.gguf" && { ! grep -q "no sha256" "$TMP/err" && ok || fail "warned"; }

new_case "truncated transfer keeps the .part"
run_pull truncate org/repo stories260K.gguf
PART=$CACHE/stories260K.gguf.part
expect_failure "ended early" && { [ -f "$PART" ] && [ "$(size_of "$PART")" -gt 0 ] \
    && [ "$(size_of "$PART")" -lt $SIZE ] && ok || fail "no partial download kept"; }
HAVE=$(size_of "$PART" 2>/dev/null || echo 0)
CASE="the next pull resumes with a Range request"
: >"$TMP/server.log"
run_pull normal org/repo stories260K.gguf
expect_success && log_has "range=bytes=$HAVE- auth=- status=206" && grep -q "resuming" "$TMP/err" && ok

new_case "stalled transfer hits the low-speed limit, keeps the .part"
SLM_PULL_TIMEOUT=1 run_pull stall org/repo stories260K.gguf
expect_failure "ended early" && { [ -s "$CACHE/stories260K.gguf.part" ] && ok || fail "no .part"; }

new_case "a server without Range support: start over from zero"
mkdir -p "$CACHE" && head -c 1000 /dev/urandom >"$CACHE/stories260K.gguf.part"
run_pull norange org/repo stories260K.gguf
expect_success && log_has "range=bytes=1000- auth=- status=200" && grep -q "from zero" "$TMP/err" && ok

new_case "a complete .part (416 on resume) is verified and kept"
mkdir -p "$CACHE" && cp "$MODEL" "$CACHE/stories260K.gguf.part" && chmod u+w "$CACHE/stories260K.gguf.part"
run_pull normal org/repo stories260K.gguf
expect_success && log_has "range=bytes=$SIZE- auth=- status=416" && ok

new_case "a bogus .part (416, other size) is dropped"
mkdir -p "$CACHE" && head -c $((SIZE + 10)) /dev/zero >"$CACHE/stories260K.gguf.part"
run_pull normal org/repo stories260K.gguf
expect_success && log_has "status=416" && log_has "range=- auth=- status=200" && ok

new_case "--force downloads again"
run_pull normal org/repo stories260K.gguf
run_pull normal org/repo stories260K.gguf --force
expect_success && { [ "$(grep -c 'status=200' "$TMP/server.log")" -eq 2 ] && ok || fail "no second download"; }

new_case "404 names the file and the repository"
run_pull normal org/repo no-such-file.gguf
expect_failure "HTTP 404" && { grep -q "no-such-file.gguf" "$TMP/err" && grep -q "not found" "$TMP/err" \
    && [ -z "$(ls -A "$CACHE")" ] && ok || fail "bad 404 message or leftovers"; }

new_case "401 without a token mentions HF_TOKEN"
run_pull auth org/repo stories260K.gguf
expect_failure "HTTP 401" && { grep -q "HF_TOKEN" "$TMP/err" && ok || fail "no HF_TOKEN hint"; }

new_case "403 with a wrong token mentions HF_TOKEN"
HF_TOKEN=wrong-token run_pull auth org/repo stories260K.gguf
expect_failure "HTTP 403" && grep -q "HF_TOKEN" "$TMP/err" && log_has "auth=Bearer wrong-token" && ok

new_case "HF_TOKEN is sent as a Bearer token"
HF_TOKEN=test-token run_pull auth org/repo stories260K.gguf
expect_success && log_has "auth=Bearer test-token status=200" && ok

new_case "no token is sent when HF_TOKEN is unset"
run_pull normal org/repo stories260K.gguf
expect_success && log_has "auth=- status=200" && ok

new_case "unsafe names are refused"
run_pull normal org/repo ../evil.gguf
expect_failure "refusing" && { [ ! -e "$TMP/evil.gguf" ] && ok || fail "accepted .."; }
run_pull normal ../repo stories260K.gguf
expect_failure "refusing" && ok
run_pull normal org/repo /etc/passwd
expect_failure "refusing" && { [ ! -s "$TMP/server.log" ] && ok || fail "sent a request"; }

new_case "closed port: cannot reach"
CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SLM_HF_ENDPOINT=http://127.0.0.1:$CLOSED SLM_CACHE_DIR=$CACHE "$SLM" pull org/repo stories260K.gguf \
    >"$TMP/out" 2>"$TMP/err"
RC=$?
expect_failure "cannot reach http://127.0.0.1:$CLOSED" && { grep -q "download the file yourself and pass -m PATH" "$TMP/err" \
    && [ -z "$(ls -A "$CACHE" 2>/dev/null)" ] && ok || fail "wrong message or leftovers"; }

# The default model, as `slm run` fetches it: verified against the pinned
# sha256 even when the server gives none.
new_case "default model by name (pinned sha256)"
run_pull nohash ggml-org/models tinyllamas/stories260K.gguf
expect_success && { log_has "GET /_mode/nohash/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf" \
    && ! grep -q "no sha256" "$TMP/err" && ok || fail "pinned sha256 not used"; }

new_case "default model without arguments, endpoint with a trailing slash"
SLM_HF_ENDPOINT=$BASE/ SLM_CACHE_DIR=$CACHE "$SLM" pull >"$TMP/out" 2>"$TMP/err"
RC=$?
expect_success && log_has "GET /ggml-org/models/resolve/main/tinyllamas/stories260K.gguf range=-" && ok

new_case "the pinned sha256 beats a wrong server header"
run_pull badsum ggml-org/models tinyllamas/stories260K.gguf
expect_success && ok

new_case "usage errors exit 2"
"$SLM" pull only-a-repo >"$TMP/out" 2>"$TMP/err"; RC=$?
[ $RC -eq 2 ] && ok || fail "exit $RC"
"$SLM" pull a/b c.gguf --sha256 xyz >"$TMP/out" 2>"$TMP/err"; RC=$?
[ $RC -eq 2 ] && grep -q "64 hex" "$TMP/err" && ok || fail "exit $RC"

if [ "$FAILED" -ne 0 ]; then
    echo "$FAILED check(s) failed"
    exit 1
fi
echo "all pull checks passed"
