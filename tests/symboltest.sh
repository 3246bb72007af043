#!/bin/sh
# The shared library exports lct_ symbols only (no lct__ internals, nothing from BLIS or zlib).
set -eu
lib="$1"
bad=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | grep -v '^lct_' || true)
internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep '^lct__' || true)
count=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -c '^lct_' || true)
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
status=0
[ -n "$bad" ] && { echo "FAIL: non-lct_ symbols exported:"; echo "$bad"; status=1; }
[ -n "$internal" ] && { echo "FAIL: internal symbols exported:"; echo "$internal"; status=1; }
[ "$soname" = "libcontrast.so.1" ] || { echo "FAIL: soname is '$soname', expected libcontrast.so.1"; status=1; }
[ "$count" -gt 0 ] || { echo "FAIL: no lct_ symbols exported"; status=1; }
[ "$status" = 0 ] && echo "$count lct_ symbols exported, soname $soname"
exit "$status"
