#!/bin/sh
# Smoke test of examples/stream on a few hundred real Fashion-MNIST frames: the class-incremental
# stream with its i.i.d. pass beside it, under each replay policy (a budget of 6 ms, so that
# steps run even on a busy machine), the i.i.d. order alone, both figures as PNGs and the last
# line in the documented format. Skipped (77) when the data set is absent.
#   streamtest.sh PROGRAM OUTDIR
set -eu
prog="$1"
out="$2"
. "$(dirname "$0")/smokecheck.sh"
need_fmnist train
rm -rf "$out"
mkdir -p "$out"
pattern='^stream kNN top-1: [01]\.[0-9]{4} \(iid stream: ([01]\.[0-9]{4}|nan), untrained: [01]\.[0-9]{4}\); frame p99 [0-9]+\.[0-9]{2} ms of [0-9]+\.[0-9]{2} ms budget; peak memory [0-9]+\.[0-9] MiB$'
format='stream kNN top-1: 0.XXXX (iid stream: 0.XXXX, untrained: 0.XXXX); frame p99 X.XX ms of X.XX ms budget; peak memory XX.X MiB'

check_stream() { # LOG DIR
    check_pngs "$2" knn.png frame_time.png
    last=$(printf '%s\n' "$1" | tail -n 1)
    printf '%s\n' "$last" | grep -Eq "$pattern" || { echo "FAIL: last line '$last' is not '$format'"; exit 1; }
    printf '%s\n' "$1" | grep -q "task 5/5 done" || { echo "FAIL: the stream did not reach its fifth task"; exit 1; }
    printf '%s\n' "$1" | grep -q "a step costs" || { echo "FAIL: no cost model was fitted"; exit 1; }
}

common="--data $data --limit 400 --capacity 128 --budget-ms 6"
for policy in fifo reservoir minred; do
    log=$("$prog" $common --policy "$policy" --out "$out/$policy")
    echo "$log" | tail -n 1
    check_stream "$log" "$out/$policy"
    echo "$log" | tail -n 1 | grep -q "iid stream: nan" && { echo "FAIL: no i.i.d. figure"; exit 1; }
done
log=$("$prog" $common --order iid --out "$out/iid")
echo "$log" | tail -n 1
check_stream "$log" "$out/iid"
check_unknown_flag "$prog"
status=0
"$prog" --policy lifo >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || { echo "FAIL: an unknown policy exited with $status, not 2"; exit 1; }
echo "stream: every policy, both orders, figures and final line as expected"
