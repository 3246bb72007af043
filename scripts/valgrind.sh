#!/bin/sh
# valgrind memcheck over unit suites of an existing build (default build/): every suite named on
# the command line, or all of them. A suite passes when its Check run passes and memcheck finds
# no error and no definitely or indirectly lost block (--error-exitcode). Prints one line per
# suite with its time, then "N passed, N failed".
#   scripts/valgrind.sh                       all unit suites
#   scripts/valgrind.sh checkpoint npy        just these
#   LCT_BUILD=build-x scripts/valgrind.sh     another build directory
set -u
cd "$(dirname "$0")/.."
build=${LCT_BUILD:-build}
suites=${*:-"core encoder layers optimizer bank knn augment loss checkpoint npy examples_common reliability misuse threads"}
passed=0
failed=0
for s in $suites; do
    exe=$build/tests/test_$s
    [ -x "$exe" ] || { echo "valgrind: $exe missing" >&2; failed=$((failed + 1)); continue; }
    start=$(date +%s)
    log=$build/valgrind-$s.log
    # One OpenMP thread: libgomp's pool threads outlive the tests and valgrind slows every
    # extra thread down; results do not depend on the thread count.
    OMP_NUM_THREADS=1 LCT_SOURCE_ROOT=$(pwd) valgrind --quiet --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --log-file="$log" "$exe" >"$build/valgrind-$s.out" 2>&1
    rc=$?
    t=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "valgrind $s: ok (${t} s)"
    else
        failed=$((failed + 1))
        echo "valgrind $s: FAILED (exit $rc, ${t} s); see $log and $build/valgrind-$s.out"
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
