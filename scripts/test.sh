#!/bin/sh
# Quick start 2: install dependencies, build, run the whole test suite.
# The last line reads "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh test
./scripts/build.sh
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?
python3 scripts/test-summary.py build/meson-logs/testlog.json || status=1
exit $status
