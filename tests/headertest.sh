#!/bin/sh
# Every public header compiles alone, as C11 and as C++11, with strict warnings, and as C11 for
# Windows with MinGW-w64 when it is installed.
set -eu
inc="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# mpi.h (libcontrast-mpi) includes <mpi.h>: compiled with MPI's flags when MPI is installed.
# Its directories are system headers (-isystem): Open MPI's own C++ bindings do not pass -Werror.
mpi_flags=$(pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null || echo none)
mpi_flags=$(echo "$mpi_flags" | sed 's/-I/-isystem /g')
mingw=$(command -v x86_64-w64-mingw32-gcc || true)
[ -n "$mingw" ] || echo "note: x86_64-w64-mingw32-gcc not found, the Windows compile is skipped"
for h in "$inc"/libcontrast/*.h; do
    name=$(basename "$h")
    extra=""
    if [ "$name" = mpi.h ]; then
        if [ "$mpi_flags" = none ]; then echo "skip: mpi.h (MPI is not installed)"; continue; fi
        extra="$mpi_flags"
    fi
    printf '#include <libcontrast/%s>\n#include <libcontrast/%s>\nint main(void) { return 0; }\n' "$name" "$name" > "$tmp/t.c"
    cp "$tmp/t.c" "$tmp/t.cpp"
    if ! cc -std=c11 -Wall -Wextra -pedantic -Werror -I"$inc" $extra -c "$tmp/t.c" -o "$tmp/t.o"; then
        echo "FAIL: $name as C11"; fail=1
    fi
    if ! c++ -std=c++11 -Wall -Wextra -pedantic -Werror -I"$inc" $extra -c "$tmp/t.cpp" -o "$tmp/t.o"; then
        echo "FAIL: $name as C++11"; fail=1
    fi
    # Windows: as a DLL user (the default), a static user and the library's own build (dlltest.py
    # checks what that exports). mpi.h needs MPI's Windows headers.
    if [ -n "$mingw" ] && [ "$name" != mpi.h ]; then
        for mode in "" -DLCT_STATIC -DLCT_BUILDING_LIBRARY; do
            if ! "$mingw" -std=c11 -Wall -Wextra -pedantic -Werror $mode -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"; then
                echo "FAIL: $name as C11 for Windows (MinGW-w64${mode:+, $mode})"; fail=1
            fi
        done
    fi
    if grep -nE '\b(blis|zlib|omp)\.h|\bz_stream\b|\bdim_t\b|\brntm_t\b|\bomp_' "$h"; then
        echo "FAIL: $name names a dependency's type"; fail=1
    fi
done
[ "$fail" = 0 ] && echo "all public headers compile as C11 and C++11${mingw:+, and as C11 for Windows}"
exit "$fail"
