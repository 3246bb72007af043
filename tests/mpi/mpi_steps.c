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
static void check_dp(int rank, int P, const char *spec, int sync_bn, const char *what)
{
    float *mine = malloc(DP_MAXP * sizeof(float)), *ref = malloc(DP_MAXP * sizeof(float));
    size_t n = 0, nref = 0;
    lct_runtime *rt = runtime(1000 + (uint64_t)rank);
    lct_comm *comm = NULL;
    int rc = lct_comm_new_mpi(&comm, rt, MPI_COMM_WORLD);
    if (rc == LCT_OK) rc = dp_train(rt, comm, spec, sync_bn, rank, P, mine, &n);
    if (rc) fprintf(stderr, "rank %d: %s: %s\n", rank, what, lct_error_last());
    lct_comm_free(comm);
    lct_runtime_free(rt);
    double err = 1.0;
    if (rank == 0 && rc == LCT_OK) {
        rt = runtime(1000);
        if (dp_train(rt, NULL, spec, 0, 0, 1, ref, &nref) == LCT_OK && nref == n) err = max_err(mine, ref, n);
        lct_runtime_free(rt);
    }
    report(rank, what, rc == LCT_OK && (rank != 0 || err < TOL_PARAMS), err);
    free(mine);
    free(ref);
}

/* InstDisc with a sharded bank for `steps` steps (saving, rebuilding and loading after ckpt_at if > 0);
 * every rank then runs the one-process reference itself and compares its parameters, losses and its
 * own rows of the bank. */
#define ID_STEPS 4
static int id_world_run(lct_comm *comm, int mode, int ckpt_at, float *params, size_t *np, float *loss, float *bank)
{
    lct_runtime *rt = runtime(77);
    lct_comm *c = NULL;
    int rc = comm ? lct_comm_new_mpi(&c, rt, MPI_COMM_WORLD) : LCT_OK;
    id_run s;
    if (rc == LCT_OK) rc = id_setup(&s, rt, c, mode);
    for (int step = 0; step < ID_STEPS && rc == LCT_OK; step++) {
        rc = id_step(&s, step, &loss[step]);
        if (rc == LCT_OK && step + 1 == ckpt_at) {
            mem_sink m = {0};
            rc = id_save(&s, &m);
            id_free(&s);
            if (rc == LCT_OK) rc = id_setup(&s, rt, c, mode);
            if (rc == LCT_OK) rc = id_load(&s, &m);
            free(m.data);
        }
    }
    if (rc == LCT_OK) rc = id_state(&s, params, np, bank);
    if (rc) fprintf(stderr, "instdisc: %s\n", lct_error_last());
    id_free(&s);
    lct_comm_free(c);
    lct_runtime_free(rt);
    return rc;
}

static void check_instdisc(int rank, int mode, const char *what)
{
    float p[ID_MAXP], pr[ID_MAXP], l[ID_STEPS], lr[ID_STEPS], b[ID_N * ID_D], br[ID_N * ID_D], p2[ID_MAXP], l2[ID_STEPS],
        b2[ID_N * ID_D];
    size_t n = 0, nr = 0, n2 = 0;
    lct_comm *world = (lct_comm *)1; /* any non-NULL: distributed */
    int rc = id_world_run(world, mode, 0, p, &n, l, b);
    int rc2 = id_world_run(world, mode, 2, p2, &n2, l2, b2);
    int rcr = id_world_run(NULL, mode, 0, pr, &nr, lr, br);
    double err = 1.0;
    int ok = rc == LCT_OK && rcr == LCT_OK && rc2 == LCT_OK && n == nr;
    if (ok) {
        size_t first, count;
        lct_comm *c = NULL;
        lct_runtime *rt = runtime(1);
        lct_comm_new_mpi(&c, rt, MPI_COMM_WORLD);
        lct_bank *probe = NULL;
        lct_bank_new_sharded(&probe, rt, ID_N, ID_D, c, NULL);
        lct_bank_shard(probe, &first, &count, NULL, NULL);
        lct_bank_free(probe);
        lct_comm_free(c);
        lct_runtime_free(rt);
        double ep = max_err(p, pr, n), el = max_err(l, lr, ID_STEPS), eb = max_err(b + first * ID_D, br + first * ID_D, count * ID_D);
        err = fmax(ep, fmax(el, eb));
        ok = ep < TOL_PARAMS && el < TOL_LOSS && eb < TOL_PARAMS;
        /* saved after 2 steps, loaded, continued: the uninterrupted run, bit for bit */
        ok = ok && memcmp(p, p2, n * sizeof *p) == 0 && memcmp(l, l2, sizeof l) == 0 &&
             memcmp(b + first * ID_D, b2 + first * ID_D, count * ID_D * sizeof *b) == 0;
    }
    report(rank, what, ok, err);
}

/* InvaSpread (cpc 0) or CPC (cpc 1) with global in-batch negatives, against the one-process run. */
#define IB_STEPS 3
static int ib_world_run(int distributed, int cpc, int variant, float *params, size_t *np, float *loss)
{
    lct_runtime *rt = runtime(91);
    lct_comm *c = NULL;
    int rc = distributed ? lct_comm_new_mpi(&c, rt, MPI_COMM_WORLD) : LCT_OK;
    ib_run s;
    if (rc == LCT_OK) rc = ib_setup(&s, rt, c, cpc, variant);
    for (int step = 0; step < IB_STEPS && rc == LCT_OK; step++) rc = ib_step(&s, step, &loss[step]);
    if (rc == LCT_OK) *np = ib_params(&s, params, ID_MAXP);
    if (rc) fprintf(stderr, "%s: %s\n", cpc ? "cpc" : "invaspread", lct_error_last());
    ib_free(&s);
    lct_comm_free(c);
    lct_runtime_free(rt);
    return rc;
}

static void check_ib(int rank, int cpc, int variant, const char *what)
{
    float p[ID_MAXP], pr[ID_MAXP], l[IB_STEPS], lr[IB_STEPS];
    size_t n = 0, nr = 0;
    int rc = ib_world_run(1, cpc, variant, p, &n, l), rcr = ib_world_run(0, cpc, variant, pr, &nr, lr);
    double err = 1.0;
    int ok = rc == LCT_OK && rcr == LCT_OK && n == nr;
    if (ok) {
        double ep = max_err(p, pr, n), el = max_err(l, lr, IB_STEPS);
        err = fmax(ep, el);
        ok = ep < TOL_PARAMS && el < TOL_LOSS;
    }
    report(rank, what, ok, err);
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
    check_dp(rank, P, "in 5; linear 8; relu; linear 3", 0, "data-parallel SGD, small tensors");
    check_dp(rank, P, "in 4; linear 1024; relu; linear 1024; linear 2", 0, "data-parallel SGD, a 4 MiB tensor");
    check_dp(rank, P, "in 2x4x4; conv2d 3 k3 p1; bn; relu; flatten; linear 3", 1, "data-parallel SGD, synchronised batch norm");
    check_instdisc(rank, LCT_BANK_SAMPLE_REPLACE, "InstDisc, sharded bank, per-sample negatives");
    check_instdisc(rank, LCT_BANK_SAMPLE_SHARED, "InstDisc, sharded bank, shared negatives");
    check_ib(rank, 0, LCT_INVASPREAD_PAPER, "InvaSpread, global negatives");
    check_ib(rank, 1, LCT_INFONCE_BATCH, "CPC, global negatives (batch mode)");
    check_ib(rank, 1, LCT_INFONCE_ALL, "CPC, global negatives (all mode)");
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s\n", all ? "FAILED" : "all checks passed");
    MPI_Finalize();
    return all ? 1 : 0;
}
