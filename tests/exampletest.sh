#!/bin/sh
# Smoke test of one training program on a few hundred real Fashion-MNIST images: one epoch,
# a checkpoint saved and resumed for a second epoch, an epoch with --bf16, both figures written
# as PNGs, and the final line in the documented format. Skipped (77) when the data set is absent.
#   exampletest.sh PROGRAM OUTDIR [extra flags...]
set -eu
prog="$1"
out="$2"
shift 2
name=$(basename "$prog")
. "$(dirname "$0")/smokecheck.sh"
need_fmnist train
rm -rf "$out"
mkdir -p "$out"
common="--data $data --limit 300 --batch 32 --threads 1"
pattern='^kNN top-1: [01]\.[0-9]{4} \(untrained: [01]\.[0-9]{4}, raw pixels: [01]\.[0-9]{4}\)$'
format='kNN top-1: 0.XXXX (untrained: 0.XXXX, raw pixels: 0.XXXX)'

log=$("$prog" $common --epochs 1 --out "$out/run1" --save "$out/ckpt.lct" "$@")
echo "$log" | tail -n 5
check_run "$log" "$out/run1" "$pattern" "$format"
[ -s "$out/ckpt.lct" ] || { echo "FAIL: no checkpoint written"; exit 1; }

log=$("$prog" $common --epochs 2 --out "$out/run2" --resume "$out/ckpt.lct" "$@")
echo "$log" | tail -n 3
check_resumed "$log" "$out/ckpt.lct"
check_run "$log" "$out/run2" "$pattern" "$format"

# --bf16: the same run with the encoders in bf16, or a clear refusal on a CPU without AMX tiles
if log=$("$prog" $common --epochs 1 --bf16 --out "$out/run3" "$@" 2>"$out/bf16.err"); then
    echo "$log" | tail -n 1
    check_run "$log" "$out/run3" "$pattern" "$format"
else
    rc=$?
    grep -q "AMX" "$out/bf16.err" && [ "$rc" = 1 ] || { echo "FAIL: --bf16 exited $rc:"; cat "$out/bf16.err"; exit 1; }
    echo "--bf16 refused as documented: $(cat "$out/bf16.err")"
fi

check_unknown_flag "$prog"
echo "$name: outputs, checkpoint round trip, bf16 run and final line as expected"
