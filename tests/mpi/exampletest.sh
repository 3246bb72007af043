#!/bin/sh
# Smoke test of examples/instdisc_mpi on 2 ranks over loopback: a few hundred images, one epoch,
# the final kNN line. Skipped (77) when libcontrast-mpi is not built.
set -u
prog="${1:-}"
if [ -z "$prog" ] || ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: MPI is not installed; examples/instdisc_mpi was not built"
    exit 77
fi
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_plm_rsh_agent= OMP_NUM_THREADS=1
export OMPI_MCA_mpi_yield_when_idle=1
root=""
[ "$(id -u)" = 0 ] && root="--allow-run-as-root"
out=$(mpirun $root --oversubscribe -np 2 "$prog" --limit 400 --epochs 1 --batch 64 --k 256 2>&1)
status=$?
echo "$out"
[ "$status" = 0 ] || { echo "FAIL: instdisc_mpi exited with $status"; exit 1; }
echo "$out" | grep -q '^kNN top-1 (bank): 0\.[0-9]*$' || { echo "FAIL: no kNN line"; exit 1; }
echo "$out" | grep -q 'rank(s)' || { echo "FAIL: no header line"; exit 1; }
