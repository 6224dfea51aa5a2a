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

# stories_calibration FILE: a short calibration text for stories260K (the
# imatrix tests), twelve lines in the style of its training stories.
stories_calibration() {
    local i
    for i in 1 2 3 4 5 6; do
        echo "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her dog."
        echo "One day, Tom went to the park with his mom. He saw a big red ball and wanted to play with it."
    done >"$1"
}
