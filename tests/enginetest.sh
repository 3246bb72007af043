#!/bin/sh
# examples/engine_jobs: a few frames on the engine's jobs create no libcontrast thread, and on the
# runtime's own pool exactly its workers; both end with the summary line.
set -eu
prog="$1"
out=$("$prog" --frames 12 --batch 16 --workers 1)
echo "$out" | tail -n 2
echo "$out" | tail -n 1 | grep -q '^engine_jobs: 12 frames, library p50 .* 0 thread(s) created by libcontrast (on the engine' ||
    { echo "FAIL: expected no thread created on the engine's jobs"; exit 1; }
out=$("$prog" --frames 12 --batch 16 --workers 1 --own-pool)
echo "$out" | tail -n 1
echo "$out" | tail -n 1 | grep -q ' 1 thread(s) created by libcontrast (its own pool)' ||
    { echo "FAIL: expected one pool worker"; exit 1; }
