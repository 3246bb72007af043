#!/bin/sh
# Stage `meson install --destdir`, then build a ten-line program with the installed
# libcontrast.pc and run it: the headers, the .pc file and the library must work as installed.
set -eu
build="$1"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --no-rebuild --quiet >/dev/null
pc=$(find "$stage" -name libcontrast.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: no libcontrast.pc installed"; exit 1; }
cat > "$stage/app.c" <<'C'
#include <libcontrast/libcontrast.h>
#include <stdio.h>
int main(void) {
    lct_runtime *rt;
    if (lct_runtime_new(&rt, NULL) != LCT_OK) { fprintf(stderr, "%s\n", lct_error_last()); return 1; }
    printf("libcontrast %s kernels %s\n", lct_version_string(), lct_runtime_kernel(rt, NULL));
    lct_runtime_free(rt);
    return lct_version_number() == LCT_VERSION_NUMBER ? 0 : 1;
}
C
export PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_LIBDIR="$(dirname "$pc")"
cc -std=c11 -Wall -Werror "$stage/app.c" -o "$stage/app" $(pkg-config --cflags --libs libcontrast)
libdir=$(dirname "$(dirname "$pc")")
LD_LIBRARY_PATH="$libdir" "$stage/app"
ls "$libdir"/libcontrast.so.1 "$libdir"/libcontrast.a >/dev/null
# The Python binding: every module of the source tree installed, and importable against the staged library.
src_py="$(cd "$(dirname "$0")/../python/libcontrast" && pwd)"
init=$(find "$stage" -path '*/libcontrast/__init__.py' | head -n 1)
if [ -n "$init" ]; then
    for f in "$src_py"/*.py; do
        [ -f "$(dirname "$init")/$(basename "$f")" ] || { echo "FAIL: python/libcontrast/$(basename "$f") not installed"; exit 1; }
    done
    if command -v python3 >/dev/null; then
        PYTHONPATH="$(dirname "$(dirname "$init")")" LIBCONTRAST_LIBRARY="$libdir/libcontrast.so.1" \
            python3 -c 'import libcontrast, sys; sys.exit(0 if libcontrast.Encoder else 1)' \
            || { echo "FAIL: the installed Python package does not import"; exit 1; }
    fi
fi
echo "installed headers, libcontrast.pc, libraries and the Python package work"
