#!/bin/sh
# Smoke test of lct-plot-demo on the real Fashion-MNIST test set: both PNGs written and valid,
# the report printed, and usage errors exit with 2. Skipped (77) when the data set is absent.
set -eu
demo="$1"
out="$2"
data="${LCT_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
if [ ! -e "$data/t10k-images-idx3-ubyte.gz" ] && [ ! -e "$data/t10k-images-idx3-ubyte" ]; then
    echo "SKIP: no Fashion-MNIST in $data (install the Debian package dataset-fashion-mnist)"
    exit 77
fi
rm -rf "$out"
log=$("$demo" --data "$data" --out "$out/nested")
echo "$log"
for f in embedding.png loss.png; do
    [ -s "$out/nested/$f" ] || { echo "FAIL: $out/nested/$f missing or empty"; exit 1; }
    sig=$(od -An -tx1 -N8 "$out/nested/$f" | tr -d ' \n')
    [ "$sig" = "89504e470d0a1a0a" ] || { echo "FAIL: $f does not start with the PNG signature ($sig)"; exit 1; }
    echo "$log" | grep -q "wrote $out/nested/$f" || { echo "FAIL: no 'wrote' line for $f"; exit 1; }
done
echo "$log" | grep -Eq '^PCA of 10000 raw test images .* explain (2[5-9]|3[0-3])\.[0-9]% and' ||
    { echo "FAIL: unexpected PCA line"; exit 1; }
ls "$out/nested" | grep -q tmp && { echo "FAIL: temporary files left behind"; exit 1; }

status=0
"$demo" --bogus >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || { echo "FAIL: an unknown flag exited with $status, not 2"; exit 1; }
"$demo" --help | grep -q -- "--points N" || { echo "FAIL: --help lacks --points"; exit 1; }
status=0
"$demo" --data "$out/no-such-folder" --out "$out/x" >/dev/null 2>&1 || status=$?
[ "$status" -eq 1 ] || { echo "FAIL: a missing data folder exited with $status, not 1"; exit 1; }
echo "lct-plot-demo: outputs and exit codes as expected"
