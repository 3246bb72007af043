#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and run one.
#   scripts/fuzz.sh                      build only
#   scripts/fuzz.sh checkpoint 600       fuzz the checkpoint loader for 600 s
#   scripts/fuzz.sh npy 600              fuzz the .npy reader for 600 s
#   scripts/fuzz.sh spec 600             fuzz the encoder spec parser for 600 s
#   scripts/fuzz.sh setters 600          fuzz option structs and parameter setters for 600 s
#   scripts/fuzz.sh api 600              fuzz the public API with counts at the edges for 600 s
# The seed corpus tests/fuzz/corpus/<target>/ is copied to build-fuzz/corpus-<target>/, which
# collects the inputs libFuzzer finds; crashes land in build-fuzz/ as crash-*.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fsanitize=fuzzer-no-link \
        -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C build-fuzz tests/fuzz/fuzz_checkpoint tests/fuzz/fuzz_npy tests/fuzz/fuzz_spec tests/fuzz/fuzz_setters \
    tests/fuzz/fuzz_api >build-fuzz/build.log || {
    echo "fuzz.sh: the clang build failed; see build-fuzz/build.log" >&2
    tail -20 build-fuzz/build.log >&2
    exit 1
}
[ $# -ge 1 ] || exit 0
target=$1
seconds=${2:-600}
mkdir -p "build-fuzz/corpus-$target"
cp -n tests/fuzz/corpus/"$target"/* "build-fuzz/corpus-$target/"
cd build-fuzz
exec ./tests/fuzz/fuzz_"$target" -max_total_time="$seconds" -jobs=1 -workers=1 -print_final_stats=1 \
    -rss_limit_mb=2048 "corpus-$target"
