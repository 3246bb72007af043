# Shared by the example smoke tests (sourced).

# need_fmnist SPLIT: sets data to the Fashion-MNIST folder ($LCT_FMNIST_DIR, else Debian's), or exits
# with 77 (skipped) when the images of SPLIT (train or t10k) are not there.
need_fmnist() {
    data="${LCT_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}"
    if [ ! -e "$data/$1-images-idx3-ubyte.gz" ] && [ ! -e "$data/$1-images-idx3-ubyte" ]; then
        echo "SKIP: no Fashion-MNIST in $data (install the Debian package dataset-fashion-mnist)"
        exit 77
    fi
}

# check_pngs DIR FILE...: each FILE in DIR exists and is a PNG.
check_pngs() {
    dir="$1"
    shift
    for f in "$@"; do
        [ -s "$dir/$f" ] || { echo "FAIL: $dir/$f missing or empty"; exit 1; }
        sig=$(od -An -tx1 -N8 "$dir/$f" | tr -d ' \n')
        [ "$sig" = "89504e470d0a1a0a" ] || { echo "FAIL: $dir/$f is not a PNG ($sig)"; exit 1; }
    done
}

# check_run LOG DIR PATTERN FORMAT checks that DIR holds loss.png and embedding.png as PNG files and
# that the last line of LOG matches the extended regular expression PATTERN (FORMAT is its
# human-readable form, for the message).
check_run() {
    check_pngs "$2" loss.png embedding.png
    last=$(printf '%s\n' "$1" | tail -n 1)
    printf '%s\n' "$last" | grep -Eq "$3" || { echo "FAIL: last line '$last' is not '$4'"; exit 1; }
}

# check_resumed LOG CHECKPOINT: the run of LOG resumed from CHECKPOINT at epoch 2 and did not train
# epoch 1 again.
check_resumed() {
    echo "$1" | grep -q "resumed from $2 at epoch 2" || { echo "FAIL: no resume line"; exit 1; }
    echo "$1" | grep -q "epoch 1/2" && { echo "FAIL: the resumed run trained epoch 1 again"; exit 1; }
    return 0
}

# check_unknown_flag PROGRAM: an unknown flag makes PROGRAM exit with 2.
check_unknown_flag() {
    status=0
    "$1" --bogus >/dev/null 2>&1 || status=$?
    [ "$status" -eq 2 ] || { echo "FAIL: an unknown flag exited with $status, not 2"; exit 1; }
}
