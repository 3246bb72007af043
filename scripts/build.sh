#!/bin/sh
# Configure (once) and build libcontrast into build/. Extra arguments are Meson options
# (e.g. -Dtests=enabled), applied to a new or an existing build folder.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build "$@" >/dev/null
elif [ $# -gt 0 ]; then
    meson configure build "$@" >/dev/null
fi
ninja -C build >/dev/null
