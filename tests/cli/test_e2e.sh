#!/usr/bin/env bash
# test_e2e.sh - runs the end-to-end tests of `slm serve` (tests/e2e/run.sh)
# as a ctest test: bash tests/cli/test_e2e.sh PATH_TO_SLM
exec bash "$(dirname "${BASH_SOURCE[0]}")/../e2e/run.sh" "$1"
