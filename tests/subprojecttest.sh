#!/bin/sh
# The Meson subproject: tests/consumer/meson.build, with this source tree as subprojects/libcontrast,
# finds the library with dependency('libcontrast') (shared and static: true), builds it as part of
# itself and runs its three programs as its own tests.
set -eu
src="$1" work="$2"
rm -rf "$work"
mkdir -p "$work/subprojects"
cp "$src"/tests/consumer/meson.build "$src"/tests/consumer/app.c "$src"/tests/consumer/app.cpp "$work/"
ln -s "$src" "$work/subprojects/libcontrast"
# --force-fallback-for: the subproject even where an installed libcontrast.pc would be found.
meson setup "$work/build" "$work" --force-fallback-for=libcontrast -Dlibcontrast:tests=disabled \
    -Dlibcontrast:mpi=disabled > "$work/setup.log" 2>&1 || { cat "$work/setup.log"; echo "FAIL: meson setup"; exit 1; }
grep -E "Dependency libcontrast .*found" "$work/setup.log" || true
ninja -C "$work/build" -j 2 > "$work/build.log" 2>&1 || { cat "$work/build.log"; echo "FAIL: the consumer does not build"; exit 1; }
out=$(meson test -C "$work/build" --no-rebuild --print-errorlogs 2>&1) || { echo "$out"; echo "FAIL: the consumer's tests"; exit 1; }
echo "$out" | grep -E '^ *[0-9]+/[0-9]+ '
n=$(echo "$out" | grep -cE '^ *[0-9]+/[0-9]+ .* OK ')
echo "$n passed, $((3 - n)) failed"
[ "$n" = 3 ]
