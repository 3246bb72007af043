#!/bin/sh
# A bounded libFuzzer run as a test (suite fuzzrun, built with -Dfuzzing=true; scripts/test.sh runs it):
#   fuzzrun.sh FUZZER SEED_CORPUS WORK_DIR
# fuzzes for LCT_FUZZ_SECONDS (default 45) seconds from a copy of the seed corpus in WORK_DIR/corpus;
# a crash fails the test and leaves its input in WORK_DIR (crash-*, leak-*, oom-*, timeout-*).
set -eu
fuzzer=$1
seeds=$2
work=$3
mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
exec "$fuzzer" -max_total_time="${LCT_FUZZ_SECONDS:-45}" -jobs=1 -workers=1 -print_final_stats=1 \
    -rss_limit_mb=2048 -artifact_prefix="$work/" "$work/corpus"
