#!/bin/sh
# Compare the built library with the stored ABI baseline; fail on an incompatible change.
# abidiff's exit status is a bit field: 4 = ABI changed (e.g. additions), 8 = incompatible change.
set -u
lib="$1" baseline="$2" headers="$3"
out=$(abidiff --headers-dir2 "$headers" "$baseline" "$lib" 2>&1)
rc=$?
echo "$out"
if [ $((rc & 8)) -ne 0 ]; then echo "FAIL: incompatible ABI change against $baseline"; exit 1; fi
if [ $((rc & 3)) -ne 0 ]; then echo "FAIL: abidiff could not compare (status $rc)"; exit 1; fi
if [ $((rc & 4)) -ne 0 ]; then echo "compatible ABI additions against the baseline"; else echo "ABI identical to the baseline"; fi
exit 0
