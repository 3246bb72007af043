#!/bin/sh
# Quick start 1: install dependencies, build, run the main demo.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh build
./scripts/build.sh
exec ./build/examples/lct-info "$@"
