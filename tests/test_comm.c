/*
 * Communicators and data-parallel training, tested with P threads of one process behind the
 * public callback table (thread_comm.h): P ranks with a global batch split in P slices must give
 * what one process gives with the whole batch, within the float tolerance of docs/distributed.md.
 * Check's assertions run on the main thread only: rank threads store their results.
 */
#include "testutil.h"
#include "thread_comm.h"
#include "dist_steps.h"


/* ---- communicator basics ----------------------------------------------------------------- */

START_TEST(test_self_comm)
{
    lct_runtime *rt = lct_test_runtime(1, 1);
    lct_comm *c = NULL;
    ck_assert_int_eq(lct_comm_new_self(&c, rt), LCT_OK);
    ck_assert_int_eq(lct_comm_rank(c), 0);
    ck_assert_int_eq(lct_comm_size(c), 1);
    float v[3] = {1, 2, 3}, g[3] = {0};
    ck_assert_int_eq(lct_comm_allreduce_sum(c, v, 3), LCT_OK);
    ck_assert(v[0] == 1 && v[1] == 2 && v[2] == 3);
    ck_assert_int_eq(lct_comm_allgather(c, v, g, sizeof v), LCT_OK);
    ck_assert(memcmp(v, g, sizeof v) == 0);
    ck_assert_int_eq(lct_comm_broadcast(c, v, sizeof v, 0), LCT_OK);
    ck_assert_int_eq(lct_comm_barrier(c), LCT_OK);
    lct_comm_free(c);
    lct_comm_free(NULL);
    lct_runtime_free(rt);
}
END_TEST

typedef struct {
    tcomm_group g;
    int rc[TCOMM_MAX][6];
    float out[TCOMM_MAX][64];
} basic_world;

static void basic_rank(int r, void *arg)
{
    basic_world *w = arg;
    int P = w->g.size;
    lct_runtime *rt = NULL;
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    lct_runtime_new(&rt, &o);
    lct_comm *c = NULL;
    w->rc[r][0] = tcomm_new(&c, rt, &w->g, r);
    if (w->rc[r][0]) return;
    float *out = w->out[r];
    /* allreduce of 5 values: rank r contributes (r + 1) * (i + 1) */
    for (int i = 0; i < 5; i++) out[i] = (float)((r + 1) * (i + 1));
    w->rc[r][1] = lct_comm_allreduce_sum(c, out, 5);
    /* allgather of 2 floats per rank */
    float mine[2] = {(float)r, (float)(10 * r)};
    w->rc[r][2] = lct_comm_allgather(c, mine, out + 8, sizeof mine);
    /* broadcast from the last rank */
    out[30] = (float)(100 + r);
    w->rc[r][3] = lct_comm_broadcast(c, out + 30, sizeof(float), P - 1);
    w->rc[r][4] = lct_comm_barrier(c);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_thread_comm_collectives)
{
    for (int P = 2; P <= 3; P++) {
        basic_world w;
        memset(&w, 0, sizeof w);
        tcomm_group_init(&w.g, P);
        tcomm_run(P, basic_rank, &w);
        for (int r = 0; r < P; r++) {
            for (int k = 0; k < 5; k++) ck_assert_int_eq(w.rc[r][k], LCT_OK);
            double tri = P * (P + 1) / 2.0;
            for (int i = 0; i < 5; i++) ck_assert(w.out[r][i] == (float)(tri * (i + 1)));
            for (int q = 0; q < P; q++) {
                ck_assert(w.out[r][8 + 2 * q] == (float)q);
                ck_assert(w.out[r][9 + 2 * q] == (float)(10 * q));
            }
            ck_assert(w.out[r][30] == (float)(100 + P - 1));
        }
        tcomm_group_destroy(&w.g);
    }
}
END_TEST

static int bad_rank(void *u) { return *(int *)u; }
static int bad_size(void *u) { (void)u; return 2; }
static int ok_reduce(void *u, float *b, size_t n) { (void)u; (void)b; (void)n; return 0; }
static int ok_gather(void *u, const void *s, void *r, size_t n) { (void)u; (void)s; (void)r; (void)n; return 0; }
static int ok_gatherv(void *u, const void *s, size_t sb, void *r, const size_t *rb, const size_t *d)
{
    (void)u; (void)s; (void)sb; (void)r; (void)rb; (void)d;
    return 0;
}
static int ok_bcast(void *u, void *b, size_t n, int root) { (void)u; (void)b; (void)n; (void)root; return 0; }
static int fail_barrier(void *u) { (void)u; return 42; }

START_TEST(test_comm_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1), *rt2 = lct_test_runtime(1, 1);
    lct_comm *c = (lct_comm *)1;
    lct_comm_ops ops;
    LCT_ASSERT_FAILS(lct_comm_ops_init(NULL, LCT_COMM_OPS_VERSION), LCT_EINVAL, "ops");
    LCT_ASSERT_FAILS(lct_comm_ops_init(&ops, 0), LCT_EVERSION, "version");
    LCT_ASSERT_FAILS(lct_comm_ops_init(&ops, LCT_COMM_OPS_VERSION + 1), LCT_EVERSION, "version");
    ck_assert_int_eq(lct_comm_ops_init(&ops, LCT_COMM_OPS_VERSION), LCT_OK);
    ck_assert_ptr_null(ops.rank);
    int rank = 0;
    LCT_ASSERT_FAILS(lct_comm_new(NULL, rt, &ops, &rank), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_comm_new(&c, NULL, &ops, &rank), LCT_EINVAL, "rt");
    ck_assert_ptr_null(c);
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, NULL, &rank), LCT_EINVAL, "ops");
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_EINVAL, "ops->rank");
    ops.rank = bad_rank;
    ops.size = bad_size;
    ops.allreduce_sum_f32 = ok_reduce;
    ops.allgather = ok_gather;
    ops.allgatherv = ok_gatherv;
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_EINVAL, "ops->broadcast");
    ops.broadcast = ok_bcast;
    ops.barrier = fail_barrier;
    ops.version = 0;
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_EVERSION, "version");
    ops.version = 2;
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_EVERSION, "version");
    ops.version = LCT_COMM_OPS_VERSION;
    rank = 2;
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_ERANGE, "rank returned 2");
    rank = -1;
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_ERANGE, "rank returned -1");
    ck_assert_ptr_null(c);
    rank = 1;
    ck_assert_int_eq(lct_comm_new(&c, rt, &ops, &rank), LCT_OK);
    ck_assert_int_eq(lct_comm_rank(c), 1);
    ck_assert_int_eq(lct_comm_size(c), 2);
    /* a failing callback maps to LCT_ECOMM naming it */
    LCT_ASSERT_FAILS(lct_comm_barrier(c), LCT_ECOMM, "barrier");
    ck_assert(strstr(lct_error_last(), "42") != NULL);
    float v[2] = {0};
    LCT_ASSERT_FAILS(lct_comm_allreduce_sum(NULL, v, 2), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_allreduce_sum(c, NULL, 2), LCT_EINVAL, "buf");
    LCT_ASSERT_FAILS(lct_comm_allreduce_sum(c, v, 0), LCT_EINVAL, "count");
    LCT_ASSERT_FAILS(lct_comm_allgather(NULL, v, v, 4), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_allgather(c, NULL, v, 4), LCT_EINVAL, "send");
    LCT_ASSERT_FAILS(lct_comm_allgather(c, v, NULL, 4), LCT_EINVAL, "recv");
    LCT_ASSERT_FAILS(lct_comm_allgather(c, v, v, 0), LCT_EINVAL, "bytes");
    LCT_ASSERT_FAILS(lct_comm_broadcast(NULL, v, 4, 0), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_broadcast(c, NULL, 4, 0), LCT_EINVAL, "buf");
    LCT_ASSERT_FAILS(lct_comm_broadcast(c, v, 0, 0), LCT_EINVAL, "bytes");
    LCT_ASSERT_FAILS(lct_comm_broadcast(c, v, 4, 2), LCT_ERANGE, "root is 2");
    LCT_ASSERT_FAILS(lct_comm_broadcast(c, v, 4, -1), LCT_ERANGE, "root is -1");
    LCT_ASSERT_FAILS(lct_comm_barrier(NULL), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_rank(NULL), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_size(NULL), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_comm_new_self(NULL, rt), LCT_EINVAL, "out");
    lct_comm *s = (lct_comm *)1;
    LCT_ASSERT_FAILS(lct_comm_new_self(&s, NULL), LCT_EINVAL, "rt");
    ck_assert_ptr_null(s);

    /* handles of another runtime are refused */
    lct_encoder *enc = NULL;
    ck_assert_int_eq(lct_encoder_new_from_spec(&enc, rt2, "in 3; linear 2", NULL), LCT_OK);
    lct_optimizer *opt = NULL;
    ck_assert_int_eq(lct_optimizer_new(&opt, rt2, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_optimizer_set_comm(opt, c), LCT_EMISMATCH, "runtime");
    LCT_ASSERT_FAILS(lct_optimizer_set_comm(NULL, c), LCT_EINVAL, "opt");
    ck_assert_int_eq(lct_optimizer_set_comm(opt, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_params_broadcast(lct_encoder_params(enc), c, 0), LCT_EMISMATCH, "runtime");
    LCT_ASSERT_FAILS(lct_params_broadcast(NULL, c, 0), LCT_EINVAL, "params");
    LCT_ASSERT_FAILS(lct_params_broadcast(lct_encoder_params(enc), NULL, 0), LCT_EINVAL, "comm");
    lct_comm *c2 = NULL;
    ck_assert_int_eq(lct_comm_new_self(&c2, rt2), LCT_OK);
    LCT_ASSERT_FAILS(lct_params_broadcast(lct_encoder_params(enc), c2, 1), LCT_ERANGE, "root");
    ck_assert_int_eq(lct_params_broadcast(lct_encoder_params(enc), c2, 0), LCT_OK);
    lct_comm_free(c2);
    lct_optimizer_free(opt);
    lct_encoder_free(enc);
    lct_comm_free(c);
    lct_runtime_free(rt2);
    lct_runtime_free(rt);
}
END_TEST

/* ---- parameter broadcast and data-parallel optimiser ------------------------------------------ */

typedef struct {
    tcomm_group g;
    const char *spec;
    int rc[TCOMM_MAX];
    int fail_layout;        /* rank 1 builds another architecture */
    float *params[TCOMM_MAX];
    size_t nparams;
} dp_world;

static void dp_rank(int r, void *arg)
{
    dp_world *w = arg;
    lct_runtime *rt = NULL;
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.seed = 1000 + (uint64_t)r; /* different initial weights: the broadcast must fix them */
    lct_runtime_new(&rt, &o);
    lct_comm *c = NULL;
    tcomm_new(&c, rt, &w->g, r);
    if (w->fail_layout) {
        lct_encoder *enc = NULL;
        lct_encoder_new_from_spec(&enc, rt, r == 1 ? "in 3; linear 3" : "in 3; linear 2", NULL);
        float before[16], after[16];
        size_t n = params_flat(lct_encoder_params(enc), before, 16);
        w->rc[r] = lct_params_broadcast(lct_encoder_params(enc), c, 0);
        params_flat(lct_encoder_params(enc), after, 16);
        if (memcmp(before, after, n * sizeof(float)) != 0) w->rc[r] = 12345; /* nothing may change */
        lct_encoder_free(enc);
    } else {
        w->rc[r] = dp_train(rt, c, w->spec, r, w->g.size, w->params[r], &w->nparams);
    }
    lct_comm_free(c);
    lct_runtime_free(rt);
}

static void check_dp(const char *spec)
{
    lct_runtime *rt = lct_test_runtime(1, 1000);
    float *ref = malloc(DP_MAXP * sizeof(float));
    size_t nref = 0;
    ck_assert_int_eq(dp_train(rt, NULL, spec, 0, 1, ref, &nref), LCT_OK);
    lct_runtime_free(rt);
    for (int P = 2; P <= 3; P++) {
        dp_world *w = calloc(1, sizeof *w);
        w->spec = spec;
        tcomm_group_init(&w->g, P);
        for (int r = 0; r < P; r++) w->params[r] = malloc(DP_MAXP * sizeof(float));
        tcomm_run(P, dp_rank, w);
        ck_assert_uint_eq(w->nparams, nref);
        for (int r = 0; r < P; r++) {
            ck_assert_msg(w->rc[r] == LCT_OK, "P=%d rank %d: %d", P, r, w->rc[r]);
            /* every rank holds the same bits */
            ck_assert(memcmp(w->params[r], w->params[0], nref * sizeof(float)) == 0);
        }
        double e = max_err(w->params[0], ref, nref);
        ck_assert_msg(e < TOL_PARAMS, "P=%d: parameters differ from one process by %g", P, e);
        for (int r = 0; r < P; r++) free(w->params[r]);
        tcomm_group_destroy(&w->g);
        free(w);
    }
    free(ref);
}

START_TEST(test_dp_optimizer_equals_one_process)
{
    check_dp("in 5; linear 8; relu; linear 3");
}
END_TEST

START_TEST(test_dp_optimizer_buckets_large_tensor)
{
    /* w2 has 2^20 floats: all-reduced alone while w1 and b1 wait in the bucket */
    check_dp("in 4; linear 1024; relu; linear 1024; linear 2");
}
END_TEST

START_TEST(test_params_broadcast_layout_mismatch)
{
    dp_world *w = calloc(1, sizeof *w);
    w->fail_layout = 1;
    tcomm_group_init(&w->g, 2);
    tcomm_run(2, dp_rank, w);
    ck_assert_int_eq(w->rc[0], LCT_EMISMATCH);
    ck_assert_int_eq(w->rc[1], LCT_EMISMATCH);
    tcomm_group_destroy(&w->g);
    free(w);
}
END_TEST

static Suite *comm_suite(void)
{
    Suite *s = suite_create("comm");
    TCase *tc = tcase_create("comm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_self_comm);
    tcase_add_test(tc, test_thread_comm_collectives);
    tcase_add_test(tc, test_comm_bad_input);
    tcase_add_test(tc, test_dp_optimizer_equals_one_process);
    tcase_add_test(tc, test_dp_optimizer_buckets_large_tensor);
    tcase_add_test(tc, test_params_broadcast_layout_mismatch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return lct_test_run(comm_suite());
}
