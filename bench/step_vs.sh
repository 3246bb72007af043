#!/bin/sh
# Two lct-bench runs of one training step per method, alternately (A B A B ...) in fresh processes;
# prints each side's median samples/s and the median of the pairwise ratios A/B.
#   bench/step_vs.sh A/lct-bench B/lct-bench THREADS_A THREADS_B [ROUNDS] [--busy N] [--host-jobs-a] [--steps S]
# Old build against new: the same threads on both sides. The pool beside a busy host: one build,
# threads 2 against 1, with --busy 1 (N CPU-bound processes spin beside every run).
# --host-jobs-a: side A runs on a host's job system (lct_scheduler) instead of the pool.
set -eu
a="$1"; b="$2"; ta="$3"; tb="$4"; rounds="${5:-5}"; shift 4; [ $# -gt 0 ] && shift
ja=
busy=0
steps=3
while [ $# -gt 0 ]; do
    case "$1" in
    --busy) busy="$2"; shift 2 ;;
    --host-jobs-a) ja="--host-jobs"; shift ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
pids=""
i=0
while [ "$i" -lt "$busy" ]; do
    sh -c 'while :; do :; done' &
    pids="$pids $!"
    i=$((i + 1))
done
trap '[ -n "$pids" ] && kill $pids 2>/dev/null' EXIT
median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }
echo "| method | A threads | B threads | A samples/s | B samples/s | A/B (median of pairs) |"
echo "|---|---|---|---|---|---|"
for m in instdisc npsoftmax invaspread cpc cmc; do
    ra=""; rb=""; rr=""
    r=0
    while [ "$r" -lt "$rounds" ]; do
        x=$("$a" step --threads "$ta" --steps "$steps" $ja --one "$m" | awk '{print $1}')
        y=$("$b" step --threads "$tb" --steps "$steps" --one "$m" | awk '{print $1}')
        ra="$ra $x"; rb="$rb $y"; rr="$rr $(echo "$x $y" | awk '{printf "%.4f", $1 / $2}')"
        r=$((r + 1))
    done
    printf '| %s | %s | %s | %.1f | %.1f | %.3f |\n' "$m" "$ta" "$tb" \
        "$(echo $ra | tr ' ' '\n' | median)" "$(echo $rb | tr ' ' '\n' | median)" "$(echo $rr | tr ' ' '\n' | median)"
done
