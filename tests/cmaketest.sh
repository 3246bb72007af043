#!/bin/sh
# The CMake package: stage `meson install --destdir`, configure tests/consumer/CMakeLists.txt with
# Debian's cmake against it, build the C program on libcontrast::libcontrast and on
# libcontrast::libcontrast_static and the C++ one on the wrapper, and run them.
set -eu
build="$1" src="$2" prefix="$3"
command -v cmake >/dev/null || { echo "skip: cmake not found (apt-get install cmake)"; exit 77; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >/dev/null
config=$(find "$stage" -name libcontrastConfig.cmake | head -n 1)
[ -n "$config" ] || { echo "FAIL: no libcontrastConfig.cmake installed"; exit 1; }
cmake -S "$src/tests/consumer" -B "$stage/cmake-build" -DCMAKE_PREFIX_PATH="$stage$prefix" -DCMAKE_BUILD_TYPE=Release \
    > "$stage/configure.log" 2>&1 ||
    { cat "$stage/configure.log"; echo "FAIL: cmake could not configure the consumer"; exit 1; }
grep 'libcontrast .* from' "$stage/configure.log"
cmake --build "$stage/cmake-build" -j 2 > "$stage/build.log" 2>&1 ||
    { cat "$stage/build.log"; echo "FAIL: the consumer does not build"; exit 1; }
passed=0 failed=0
for app in app_shared app_static app_cpp; do
    if "$stage/cmake-build/$app"; then passed=$((passed + 1)); else echo "FAIL: $app"; failed=$((failed + 1)); fi
done
# The static program carries the library: no libcontrast.so among its dependencies.
if ldd "$stage/cmake-build/app_static" | grep -q libcontrast; then
    echo "FAIL: app_static needs libcontrast.so"; failed=$((failed + 1))
else
    passed=$((passed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
