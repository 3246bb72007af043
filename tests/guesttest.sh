#!/bin/sh
# libcontrast is a guest in its host's process: no OpenMP runtime among its dependencies, no write to
# the process environment, no OpenMP directive but the vectorisation hints of lib/core/internal.h.
set -eu
lib="$1"
src="$2"
status=0
if ldd "$lib" | grep -Ei 'gomp|libomp|iomp'; then
    echo "FAIL: $lib depends on an OpenMP runtime"; status=1
fi
if nm -D --undefined-only "$lib" | grep -Ei ' (GOMP_|omp_|setenv|unsetenv|putenv|clearenv)'; then
    echo "FAIL: $lib calls OpenMP or writes the environment"; status=1
fi
if grep -rnE '\b(setenv|unsetenv|putenv|clearenv)\b' "$src/lib"; then
    echo "FAIL: lib/ writes the environment"; status=1
fi
if grep -rn '#pragma omp' "$src/lib"; then
    echo "FAIL: lib/ has OpenMP directives (use lct__parallel, or LCT__SIMD for vectorisation)"; status=1
fi
[ "$status" = 0 ] && echo "no OpenMP runtime, no environment writes: $(ldd "$lib" | wc -l) shared dependencies"
exit "$status"
