#!/bin/sh
# The C# binding: compiled with Mono's mcs as a library (as a Unity project would hold it) and a test
# program against it, run under mono on the built libcontrast.so.
set -eu
lib="$1" src="$2" work="$3"
command -v mcs >/dev/null && command -v mono >/dev/null ||
    { echo "skip: mcs or mono not found (apt-get install mono-mcs mono-runtime)"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
mcs -target:library -warnaserror+ -out:"$work/Libcontrast.dll" "$src/bindings/csharp/Libcontrast.cs"
mcs -warnaserror+ -r:"$work/Libcontrast.dll" -out:"$work/BindingTest.exe" "$src/tests/csharp/BindingTest.cs"
# DllImport("libcontrast") finds libcontrast.so on the library path, as a player finds its plugin.
LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" mono "$work/BindingTest.exe" "$work"
