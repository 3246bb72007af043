#!/bin/sh
# Quick start 1: install dependencies, build, run the main demo: InstDisc trained on
# Fashion-MNIST with its default settings (examples/instdisc.c), ending with its kNN line.
# Extra arguments go to the program (e.g. --epochs 1, --threads 2; --help lists them).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh build
./scripts/build.sh
exec ./build/examples/instdisc --out out/instdisc "$@"
