#!/bin/sh
# Store the ABI baseline of the built library (run at a release, after review of `abidiff`).
set -eu
build=${1:-build}
abidw --headers-dir include/libcontrast --out-file tests/abi/libcontrast.abi "$build"/lib/libcontrast.so.1
echo "baseline written to tests/abi/libcontrast.abi"
