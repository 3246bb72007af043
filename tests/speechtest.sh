#!/bin/sh
# Smoke test of cpc_speech: three voices reading three sentences synthesised by espeak-ng into
# the test's own folder, one short epoch with a checkpoint saved and resumed for a second, both
# figures written as PNGs, and the final line in the documented format. Skipped (77) without
# espeak-ng.
#   speechtest.sh PROGRAM OUTDIR
set -eu
prog="$1"
out="$2"
if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "SKIP: espeak-ng is not installed (Debian package espeak-ng; scripts/deps.sh installs it)"
    exit 77
fi
rm -rf "$out"
mkdir -p "$out"
common="--data $out/data --voices 3 --limit 3 --batch 8 --window 8000 --channels 16 --hidden 32 --steps 4 --threads 1"

. "$(dirname "$0")/smokecheck.sh"
pattern='^speaker accuracy: [01]\.[0-9]{4} \(untrained: [01]\.[0-9]{4}, chance: 0\.3333\)$'
format='speaker accuracy: 0.XXXX (untrained: 0.XXXX, chance: 0.3333)'

log=$("$prog" $common --epochs 1 --out "$out/run1" --save "$out/ckpt.lct")
echo "$log" | tail -n 4
echo "$log" | grep -q "synthesised 9 utterances" || { echo "FAIL: the corpus was not synthesised"; exit 1; }
check_run "$log" "$out/run1" "$pattern" "$format"
[ -s "$out/ckpt.lct" ] || { echo "FAIL: no checkpoint written"; exit 1; }

log=$("$prog" $common --epochs 2 --out "$out/run2" --resume "$out/ckpt.lct")
echo "$log" | tail -n 3
echo "$log" | grep -q "synthesised" && { echo "FAIL: the cached corpus was synthesised again"; exit 1; }
check_resumed "$log" "$out/ckpt.lct"
check_run "$log" "$out/run2" "$pattern" "$format"

check_unknown_flag "$prog"
status=0
PATH=/nonexistent "$prog" --data "$out/empty" --voices 2 --limit 2 >"$out/missing.log" 2>&1 || status=$?
[ "$status" -eq 2 ] && grep -q "espeak-ng is not installed" "$out/missing.log" ||
    { echo "FAIL: without espeak-ng the program exited with $status: $(cat "$out/missing.log")"; exit 1; }
echo "cpc_speech: corpus, outputs, checkpoint round trip and final line as expected"
