#!/bin/sh
# Install what libcontrast needs from Debian. `deps.sh build` for the library and demo,
# `deps.sh test` adds what the test suite uses, the arm64 cross-build among it (the arm64
# architecture is added to dpkg when needed). Installs only what is missing.
set -eu
what=${1:-build}
pkgs="build-essential meson ninja-build pkg-config libblis-dev libblis-serial-dev zlib1g-dev python3 dataset-fashion-mnist espeak-ng"
if [ "$what" = test ]; then
    pkgs="$pkgs check abigail-tools g++ clang python3-numpy valgrind libopenmpi-dev openmpi-bin"
    # Consumers (docs/building.md): CMake, C# under Mono, the Windows export check, arm64 under qemu.
    pkgs="$pkgs cmake mono-mcs mono-runtime gcc-mingw-w64-x86-64 crossbuild-essential-arm64 qemu-user"
    pkgs="$pkgs libblis-serial-dev:arm64 zlib1g-dev:arm64 check:arm64"
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
case "$missing" in
    *:arm64*) dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 ;;
esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
