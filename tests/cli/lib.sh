# lib.sh - sourced by the tests/cli scripts: where the shared test data is,
# and the rule for missing data (skip with exit 77; fail when CI=true).
# Sets SLM (absolute path of the binary given as $1), REPO and DATA.

SLM=$(realpath "$1")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=${SLM_TEST_DATA:-$REPO/../shared}

# require_data FILE...: every file must exist, else skip (or fail in CI).
require_data() {
    local f
    for f in "$@"; do
        if [ ! -e "$f" ]; then
            echo "missing $f (set SLM_TEST_DATA)"
            [ "${CI:-}" = true ] && exit 1
            exit 77
        fi
    done
}
