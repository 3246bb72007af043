#!/bin/sh
# Smoke test of lct-plot-demo on the real Fashion-MNIST test set: both PNGs written and valid,
# the report printed, and usage errors exit with 2. Skipped (77) when the data set is absent.
set -eu
demo="$1"
out="$2"
. "$(dirname "$0")/smokecheck.sh"
need_fmnist t10k
rm -rf "$out"
log=$("$demo" --data "$data" --out "$out/nested")
echo "$log"
check_pngs "$out/nested" embedding.png loss.png
for f in embedding.png loss.png; do
    echo "$log" | grep -q "wrote $out/nested/$f" || { echo "FAIL: no 'wrote' line for $f"; exit 1; }
done
echo "$log" | grep -Eq '^PCA of 10000 raw test images .* explain (2[5-9]|3[0-3])\.[0-9]% and' ||
    { echo "FAIL: unexpected PCA line"; exit 1; }
ls "$out/nested" | grep -q tmp && { echo "FAIL: temporary files left behind"; exit 1; }

check_unknown_flag "$demo"
"$demo" --help | grep -q -- "--points N" || { echo "FAIL: --help lacks --points"; exit 1; }
status=0
"$demo" --data "$out/no-such-folder" --out "$out/x" >/dev/null 2>&1 || status=$?
[ "$status" -eq 1 ] || { echo "FAIL: a missing data folder exited with $status, not 1"; exit 1; }
echo "lct-plot-demo: outputs and exit codes as expected"
