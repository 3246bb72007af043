#!/bin/sh
# Quick start 2: install dependencies, build, run the whole test suite — then the unit suites
# again under AddressSanitizer + UndefinedBehaviorSanitizer. The last line reads
# "N passed, N failed, N skipped" over both runs.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh test
./scripts/build.sh -Dtests=enabled
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all >/dev/null
fi
ninja -C build-asan >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    meson test -C build-asan --suite unit --print-errorlogs --num-processes 2 "$@" || status=$?

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || status=1
exit $status
