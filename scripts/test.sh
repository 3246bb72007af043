#!/bin/sh
# Quick start 2: install dependencies, build, run the whole test suite — then the unit suites and
# fuzz corpora again under AddressSanitizer + UndefinedBehaviorSanitizer, and the thread test under
# ThreadSanitizer, and most unit suites under valgrind memcheck (LCT_NO_VALGRIND=1 skips it).
# The last line reads "N passed, N failed, N skipped" over all runs (docs/reliability.md lists
# every tool, what it covers and its figures).
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
    meson test -C build-asan --suite unit --suite fuzz --print-errorlogs --num-processes 2 "$@" || status=$?

# The thread and pool tests again under ThreadSanitizer (clang: GCC's TSan cannot start a library
# with target_clones kernels).
if command -v clang >/dev/null; then
    if [ ! -f build-tsan/build.ninja ]; then
        CC=clang meson setup build-tsan -Dtests=enabled -Db_sanitize=thread -Db_lundef=false >/dev/null
    fi
    ninja -C build-tsan tests/test_threads tests/test_pool >/dev/null
    TSAN_OPTIONS="halt_on_error=1" \
        meson test -C build-tsan --no-rebuild --print-errorlogs threads pool || status=$?
    tsan_log=build-tsan/meson-logs/testlog.json
else
    echo "test.sh: clang not found, the ThreadSanitizer run is skipped" >&2
    tsan_log=
fi

# valgrind memcheck over the unit suites that take seconds, not minutes, under it (the encoder,
# layers, kNN and augmenter suites take minutes of CPU each: scripts/valgrind.sh runs every suite).
# Child processes run under valgrind too, so that they see the same (emulated) CPU.
valgrind_log=
if command -v valgrind >/dev/null && [ -z "${LCT_NO_VALGRIND:-}" ]; then
    meson test -C build --no-rebuild --logbase memcheck --num-processes 2 --timeout-multiplier 4 --print-errorlogs \
        --wrapper "valgrind --quiet --error-exitcode=99 --leak-check=full --trace-children=yes \
                   --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect" \
        core optimizer bank loss checkpoint npy examples_common reliability misuse threads pool replay || status=$?
    valgrind_log=build/meson-logs/memcheck-valgrind.json  # meson appends the wrapper's name
fi

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json $tsan_log \
    $valgrind_log || status=1
exit $status
