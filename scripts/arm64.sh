#!/bin/sh
# Cross-build libcontrast for arm64 (Jetson, Raspberry Pi) with Debian's cross toolchain into
# build-arm64/ (cross/aarch64-linux-gnu.ini) and run a bounded subset of the unit suites and the
# C++ wrapper's tests under qemu-aarch64; only the library and those programs are built. qemu runs
# BLIS at 0.05-0.2 GFLOP/s, so the suites with large shapes (bank, encoder, augment, reliability,
# threads, pool, comm) stay out, and each test has at most 5 minutes. A compiler warning counts as
# a failed test. Results, for scripts/test-summary.py: build-arm64/meson-logs/testlog.json (the
# tests) and build-arm64/meson-logs/build.json (the build and its warnings). Extra arguments go to
# meson test.
set -eu
cd "$(dirname "$0")/.."
# Suites whose runtimes stay on one thread: qemu-aarch64 7.2 (Debian 12) on this project's machines
# hangs in the first pthread_create of any program (a five-line pthread program does too), so the
# suites that start the pool's workers (layers, loss, knn, pool, threads) cannot run under it.
tests="core optimizer checkpoint npy misuse
       cpp-c++17 cpp-c++17-noexceptions cpp-c++20 cpp-c++20-noexceptions"
if [ ! -f build-arm64/build.ninja ]; then
    meson setup build-arm64 --cross-file cross/aarch64-linux-gnu.ini -Dtests=enabled -Dmpi=disabled >/dev/null
fi
logs=build-arm64/meson-logs
rm -f "$logs/testlog.json" "$logs/build.json"
# Build the library and the programs of those tests only (the rest is the x86-64 build's business).
targets=$(meson introspect --tests --targets build-arm64 | python3 -c '
import json, os, sys
info, names = json.load(sys.stdin), sys.argv[1].split()
paths = [t["cmd"][0] for t in info["tests"] if t["name"] in names]
paths += [f for t in info["targets"] if t["name"] == "contrast" for f in t["filename"]]
print(" ".join(os.path.relpath(p, "build-arm64") for p in paths))' "$tests")
build_ok=true
# shellcheck disable=SC2086 # one target per word
ninja -C build-arm64 $targets > "$logs/ninja.log" 2>&1 || build_ok=false
# Objects that warned are deleted, so that the next run compiles them, and reports them, again.
awk '/^\[[0-9]+\/[0-9]+\] / { obj = ($2 == "Compiling") ? $NF : "" } /warning:/ && obj != "" { print obj }' \
    "$logs/ninja.log" | sort -u | while read -r obj; do rm -f "build-arm64/$obj"; done
warnings=$(grep -E 'warning:|error:' "$logs/ninja.log" || true)
if $build_ok && [ -z "$warnings" ]; then result=OK; else result=FAIL; fi
[ "$result" = OK ] || { echo "arm64 build:"; grep -E -A3 'warning:|error:' "$logs/ninja.log" || tail -n 20 "$logs/ninja.log"; }
python3 -c 'import json, sys; print(json.dumps({"name": "arm64 build without warnings", "result": sys.argv[1], "stdout": sys.argv[2]}))' \
    "$result" "$warnings" > "$logs/build.json"
$build_ok || exit 1
status=0
# shellcheck disable=SC2086 # the list of tests is split on purpose
meson test -C build-arm64 --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 0.5 "$@" $tests || status=$?
[ "$result" = OK ] || status=1
exit "$status"
