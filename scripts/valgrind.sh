#!/bin/sh
# valgrind memcheck over unit suites of an existing build (default build/): every suite named on
# the command line, or all of them. A suite passes when its Check run passes and memcheck finds
# no error and no definitely or indirectly lost block (--error-exitcode). Prints one line per
# suite with its time, then "N passed, N failed". Child processes (the checkpoint suite resumes a
# run in one) run under valgrind too: valgrind hides AVX-512, and a native child would pick other
# kernels and round differently.
#   scripts/valgrind.sh                       all unit suites
#   scripts/valgrind.sh checkpoint npy        just these
#   LCT_BUILD=build-x scripts/valgrind.sh     another build directory
set -u
cd "$(dirname "$0")/.."
build=${LCT_BUILD:-build}
suites=${*:-"core encoder layers optimizer bank knn augment loss checkpoint npy examples_common reliability misuse threads replay"}
passed=0
failed=0
for s in $suites; do
    exe=$build/tests/test_$s
    [ -x "$exe" ] || { echo "valgrind: $exe missing" >&2; failed=$((failed + 1)); continue; }
    log=$build/valgrind-$s.%p.log
    rm -f "$build"/valgrind-"$s".*.log
    tfile=$build/valgrind-$s.time
    /usr/bin/time -f "%e s wall, %U s user, %S s sys" -o "$tfile" \
        valgrind --quiet --error-exitcode=99 --leak-check=full --trace-children=yes \
        --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
        --log-file="$log" "$exe" >"$build/valgrind-$s.out" 2>&1
    rc=$?
    t=$(tail -1 "$tfile" 2>/dev/null)
    checks=$(grep -o 'Checks: [0-9]*' "$build/valgrind-$s.out" | tail -1)
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "valgrind $s: ok ($checks; $t)"
    else
        failed=$((failed + 1))
        echo "valgrind $s: FAILED (exit $rc; $checks; $t); see $build/valgrind-$s.*.log and $build/valgrind-$s.out"
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
