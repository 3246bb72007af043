#!/bin/sh
# Quick start 2: install dependencies, build, run the whole test suite (the consumers too: CMake,
# Meson subproject, C++ wrapper, C# under Mono, the Windows exports) — then the unit suites, fuzz
# corpora and C++ wrapper again under AddressSanitizer + UndefinedBehaviorSanitizer, the thread and
# pool tests under ThreadSanitizer, fuzz_api under libFuzzer for 45 s (LCT_FUZZ_SECONDS), most unit
# suites under valgrind memcheck (LCT_NO_VALGRIND=1 skips it), and an arm64 cross-build with a
# subset of the unit suites under qemu (scripts/arm64.sh).
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
    meson test -C build-asan --suite unit --suite fuzz --suite cpp --print-errorlogs --num-processes 2 "$@" || status=$?

# The thread and pool tests again under ThreadSanitizer (clang: GCC's TSan cannot start a library
# with target_clones kernels). die_after_fork=0: TSan cannot check a child that starts threads after
# a multi-threaded fork (the fork test does); it still checks the parent.
if command -v clang >/dev/null; then
    if [ ! -f build-tsan/build.ninja ]; then
        CC=clang meson setup build-tsan -Dtests=enabled -Db_sanitize=thread -Db_lundef=false >/dev/null
    fi
    ninja -C build-tsan tests/test_threads tests/test_pool >/dev/null
    TSAN_OPTIONS="halt_on_error=1:die_after_fork=0" \
        meson test -C build-tsan --no-rebuild --print-errorlogs threads pool || status=$?
    tsan_log=build-tsan/meson-logs/testlog.json
else
    echo "test.sh: clang not found, the ThreadSanitizer run is skipped" >&2
    tsan_log=
fi

# fuzz_api under libFuzzer for a bounded time (clang, ASan + UBSan, build-fuzz/ from scripts/fuzz.sh):
# LCT_FUZZ_SECONDS seconds (default 45) of the public API with counts at the edges.
fuzz_log=
if command -v clang >/dev/null; then
    if ./scripts/fuzz.sh; then
        LCT_FUZZ_SECONDS=${LCT_FUZZ_SECONDS:-45} \
            meson test -C build-fuzz --no-rebuild --print-errorlogs --suite fuzzrun || status=$?
        fuzz_log=build-fuzz/meson-logs/testlog.json
    else
        status=1
    fi
else
    echo "test.sh: clang not found, the libFuzzer run of fuzz_api is skipped" >&2
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

# arm64: cross-built, a bounded subset of the unit suites and the C++ wrapper's tests under qemu.
arm64_logs=
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    ./scripts/arm64.sh || status=$?
    for log in build-arm64/meson-logs/build.json build-arm64/meson-logs/testlog.json; do
        [ -f "$log" ] && arm64_logs="$arm64_logs $log"
    done
else
    echo "test.sh: no arm64 cross compiler or qemu-aarch64, the arm64 run is skipped" >&2
fi

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json $tsan_log \
    $fuzz_log $valgrind_log $arm64_logs || status=1
exit $status
