/*
 * Run under mpirun: every distributed code path of dist_steps.h on MPI_COMM_WORLD, then rank 0
 * repeats it in one process on the whole global batch and compares. Prints one line per check;
 * exit status 0 when every check passes on every rank.
 */
#include <stdio.h>

#include <libcontrast/mpi.h>

#include "../dist_steps.h"

static lct_runtime *runtime(uint64_t seed)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = 1;
    o.seed = seed;
    lct_runtime *rt = NULL;
    return lct_runtime_new(&rt, &o) == LCT_OK ? rt : NULL;
}

static int failures = 0;

static void report(int rank, const char *what, int ok, double err)
{
    if (rank == 0) printf("%-44s %s (max error %.3g)\n", what, ok ? "ok" : "FAILED", err);
    if (!ok) failures++;
}

/* Data-parallel SGD of a small MLP: ranks start from different weights, broadcast, average. */
static void check_dp(int rank, int P, const char *spec, const char *what)
{
    float *mine = malloc(DP_MAXP * sizeof(float)), *ref = malloc(DP_MAXP * sizeof(float));
    size_t n = 0, nref = 0;
    lct_runtime *rt = runtime(1000 + (uint64_t)rank);
    lct_comm *comm = NULL;
    int rc = lct_comm_new_mpi(&comm, rt, MPI_COMM_WORLD);
    if (rc == LCT_OK) rc = dp_train(rt, comm, spec, rank, P, mine, &n);
    if (rc) fprintf(stderr, "rank %d: %s: %s\n", rank, what, lct_error_last());
    lct_comm_free(comm);
    lct_runtime_free(rt);
    double err = 1.0;
    if (rank == 0 && rc == LCT_OK) {
        rt = runtime(1000);
        if (dp_train(rt, NULL, spec, 0, 1, ref, &nref) == LCT_OK && nref == n) err = max_err(mine, ref, n);
        lct_runtime_free(rt);
    }
    report(rank, what, rc == LCT_OK && (rank != 0 || err < TOL_PARAMS), err);
    free(mine);
    free(ref);
}

/* Bad input of lct_comm_new_mpi(): the documented code and a message naming the argument. */
static void check_bad_input(int rank)
{
    lct_runtime *rt = runtime(1);
    lct_comm *c = (lct_comm *)1;
    int ok = lct_comm_new_mpi(NULL, rt, MPI_COMM_WORLD) == LCT_EINVAL && strstr(lct_error_last(), "out") != NULL;
    ok = ok && lct_comm_new_mpi(&c, NULL, MPI_COMM_WORLD) == LCT_EINVAL && c == NULL &&
         strstr(lct_error_last(), "rt") != NULL;
    ok = ok && lct_comm_new_mpi(&c, rt, MPI_COMM_NULL) == LCT_EINVAL && strstr(lct_error_last(), "MPI_COMM_NULL");
    /* a good one reports MPI's rank and size */
    int r = -1, p = -1;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    MPI_Comm_size(MPI_COMM_WORLD, &p);
    ok = ok && lct_comm_new_mpi(&c, rt, MPI_COMM_WORLD) == LCT_OK && lct_comm_rank(c) == r && lct_comm_size(c) == p;
    float v[3] = {1.0f, (float)r, 2.0f};
    ok = ok && lct_comm_allreduce_sum(c, v, 3) == LCT_OK && v[0] == (float)p && v[1] == (float)(p * (p - 1) / 2);
    lct_comm_free(c);
    lct_runtime_free(rt);
    report(rank, "lct_comm_new_mpi: bad input, rank, size", ok, 0.0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, P;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &P);
    if (rank == 0) printf("libcontrast over MPI: %d ranks\n", P);
    check_bad_input(rank);
    check_dp(rank, P, "in 5; linear 8; relu; linear 3", "data-parallel SGD, small tensors");
    check_dp(rank, P, "in 4; linear 1024; relu; linear 1024; linear 2", "data-parallel SGD, a 4 MiB tensor");
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s\n", all ? "FAILED" : "all checks passed");
    MPI_Finalize();
    return all ? 1 : 0;
}
