#!/bin/sh
# Install what libcontrast needs from Debian. `deps.sh build` for the library and demo,
# `deps.sh test` adds what the test suite uses. Installs only what is missing.
set -eu
what=${1:-build}
pkgs="build-essential meson ninja-build pkg-config libblis-dev zlib1g-dev python3 dataset-fashion-mnist espeak-ng"
if [ "$what" = test ]; then
    pkgs="$pkgs check abigail-tools g++ python3-numpy valgrind libopenmpi-dev openmpi-bin clang"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: missing packages:$missing; run as root or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
