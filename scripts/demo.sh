#!/bin/sh
# Quick start 1: install dependencies, build, run the main demo: InstDisc trained on
# Fashion-MNIST with its default settings (examples/instdisc.c), ending with its kNN line.
# Extra arguments go to the program (e.g. --epochs 1, --threads 2; --help lists them).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh build
./scripts/build.sh
# Without a setting of its own, OpenMP spins idle threads, which collapses a 2-thread run on a
# machine shared with other work; passive waiting costs nothing on an idle one.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
exec ./build/examples/instdisc --out out/instdisc "$@"
