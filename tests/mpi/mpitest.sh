#!/bin/sh
# Run the MPI test program with 2 ranks and with 3 ranks on 2 cores (--oversubscribe), over
# loopback only. Without MPI (no program given) the test is skipped: exit status 77.
set -u
prog="${1:-}"
if [ -z "$prog" ] || ! command -v mpirun >/dev/null 2>&1; then
    echo "SKIP: MPI is not installed (libopenmpi-dev, openmpi-bin); libcontrast-mpi was not built"
    exit 77
fi
# Shared memory and self only: no network interface is probed; as root Open MPI needs the flag.
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
# ranks that wait yield the core: the tests run with more ranks than cores, beside other work
export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_plm_rsh_agent=
export OMP_NUM_THREADS=1
root=""
[ "$(id -u)" = 0 ] && root="--allow-run-as-root"
status=0
for np in 2 3; do
    echo "== mpirun -np $np"
    mpirun $root --oversubscribe -np "$np" "$prog" || status=1
done
exit "$status"
