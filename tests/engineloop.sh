#!/bin/sh
# examples/engine_loop (C++, no exceptions): 200 ticks on two workers of the engine's job system;
# the loss must fall and the checkpoint must be written.
set -eu
prog="$1" ckpt="$2"
rm -f "$ckpt"
line=$("$prog" 200 2 "$ckpt" | tail -n 1)
echo "$line"
echo "$line" | awk '/^engine_loop: 200 ticks, loss / { if ($7 + 0 < $5 + 0) ok = 1 } END { exit !ok }' ||
    { echo "FAIL: the loss did not fall"; exit 1; }
[ -s "$ckpt" ] || { echo "FAIL: no checkpoint written"; exit 1; }
