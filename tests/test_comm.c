/*
 * Communicators and data-parallel training, tested with P threads of one process behind the
 * public callback table (thread_comm.h): P ranks with a global batch split in P slices must give
 * what one process gives with the whole batch, within the float tolerance of docs/distributed.md.
 * Check's assertions run on the main thread only: rank threads store their results.
 */
#include "testutil.h"
#include "thread_comm.h"
#include "dist_steps.h"


/* A runtime for a rank thread (no Check assertion off the main thread). */
static lct_runtime *lct_test_runtime_nockeck(unsigned threads, uint64_t seed)
{
    lct_runtime_options o;
    lct_runtime_options_init(&o, LCT_RUNTIME_OPTIONS_VERSION);
    o.threads = threads;
    o.seed = seed;
    lct_runtime *rt = NULL;
    lct_runtime_new(&rt, &o);
    return rt;
}

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
static int ok_bcast(void *u, void *b, size_t n, int root) { (void)u; (void)b; (void)n; (void)root; return 0; }
static int fail_barrier(void *u) { (void)u; return 42; }

START_TEST(test_error_set)
{
    lct_error_clear();
    ck_assert_int_eq(lct_error_set(LCT_ECOMM, "engine: link down"), LCT_ECOMM);
    ck_assert_str_eq(lct_error_last(), "engine: link down");
    ck_assert_int_eq(lct_error_set(LCT_EINVAL, NULL), LCT_EINVAL);
    ck_assert_str_eq(lct_error_last(), "");
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    lct_error_set(LCT_EIO, big);
    ck_assert_uint_eq(strlen(lct_error_last()), 511);
    ck_assert_str_eq(lct_status_string(LCT_ECOMM), "collective communication failed");
}
END_TEST

START_TEST(test_comm_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 1), *rt2 = lct_test_runtime(1, 1);
    lct_comm *c = (lct_comm *)1;
    lct_comm_ops ops;
    LCT_ASSERT_OPTIONS_INIT(lct_comm_ops_init, ops, LCT_COMM_OPS_VERSION, "ops");
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
    LCT_ASSERT_FAILS(lct_comm_new(&c, rt, &ops, &rank), LCT_EINVAL, "ops->broadcast"); /* allgatherv may be NULL */
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
    LCT_ASSERT_FAILS(lct_encoder_set_comm(enc, c), LCT_EMISMATCH, "runtime");
    LCT_ASSERT_FAILS(lct_encoder_set_comm(NULL, c), LCT_EINVAL, "enc");
    ck_assert_int_eq(lct_encoder_set_comm(enc, NULL), LCT_OK);
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
    int sync_bn;
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
        w->rc[r] = dp_train(rt, c, w->spec, w->sync_bn > 0, r, w->g.size, w->params[r], &w->nparams);
    }
    lct_comm_free(c);
    lct_runtime_free(rt);
}

static void check_dp_bn(const char *spec, int sync_bn)
{
    lct_runtime *rt = lct_test_runtime(1, 1000);
    float *ref = malloc(DP_MAXP * sizeof(float));
    size_t nref = 0;
    ck_assert_int_eq(dp_train(rt, NULL, spec, 0, 0, 1, ref, &nref), LCT_OK);
    lct_runtime_free(rt);
    for (int P = 2; P <= 3; P++) {
        dp_world *w = calloc(1, sizeof *w);
        w->spec = spec;
        w->sync_bn = sync_bn;
        tcomm_group_init(&w->g, P);
        for (int r = 0; r < P; r++) w->params[r] = malloc(DP_MAXP * sizeof(float));
        tcomm_run(P, dp_rank, w);
        ck_assert_uint_eq(w->nparams, nref);
        for (int r = 0; r < P; r++) {
            ck_assert_msg(w->rc[r] == LCT_OK, "P=%d rank %d: %d", P, r, w->rc[r]);
            /* every rank holds the same bits (per-rank batch-norm statistics excepted) */
            if (sync_bn >= 0) ck_assert(memcmp(w->params[r], w->params[0], nref * sizeof(float)) == 0);
        }
        double e = max_err(w->params[0], ref, nref);
        if (sync_bn >= 0) ck_assert_msg(e < TOL_PARAMS, "P=%d: parameters differ from one process by %g", P, e);
        else ck_assert_msg(e > 1e-3, "P=%d: per-rank batch norm should differ from one process (%g)", P, e);
        for (int r = 0; r < P; r++) free(w->params[r]);
        tcomm_group_destroy(&w->g);
        free(w);
    }
    free(ref);
}

static void check_dp(const char *spec)
{
    check_dp_bn(spec, 0);
}

START_TEST(test_sync_batchnorm)
{
    /* vectors (one value per channel and sample) and images (partials fed by the convolution) */
    check_dp_bn("in 5; linear 8; bn; relu; linear 3", 1);
    check_dp_bn("in 2x4x4; conv2d 3 k3 p1; bn; relu; flatten; linear 3", 1);
    check_dp_bn("in 2x4x4; conv2d 3 k3 p1; bn; relu; maxpool 2; flatten; linear 3", 1);
    /* without synchronisation each rank normalises its own slice: not the one-process run */
    check_dp_bn("in 5; linear 8; bn; relu; linear 3", -1);
}
END_TEST

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


/* ---- sharded memory bank ------------------------------------------------------------------------ */

#define SB_N 11
#define SB_D 5
#define SB_B 6

typedef struct {
    tcomm_group g;
    int rc[TCOMM_MAX][15];
    float rows[SB_N * SB_D];        /* each rank writes its shard after the updates */
    float init[SB_N * SB_D];        /* ... and before */
    int64_t knn_idx[TCOMM_MAX][4 * 3];
    float knn_sim[TCOMM_MAX][4 * 3];
    int32_t pred[TCOMM_MAX][4];
    size_t first[TCOMM_MAX], count[TCOMM_MAX];
    char msg[TCOMM_MAX][4][256];
} sb_world;

static void sb_batch(int step, float *f, int64_t *idx)
{
    fill(f, SB_B * SB_D, 500 + (uint64_t)step);
    for (int b = 0; b < SB_B; b++) idx[b] = (step * 3 + b * 4) % SB_N;
    idx[4] = idx[1]; /* the same row twice, from different ranks when P > 1 */
}

static const float sb_queries[4 * SB_D] = {1, 0, 0, 0, 0, 0, 1, 0, 0.5f, 0, -1, 0.25f, 0, 0, 0, 0.3f, 0.1f, 0.9f, -0.2f, 0.4f};
static const int32_t sb_labels[SB_N] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1};

/* rank < 0: the unsharded reference */
static void sb_rank(int r, void *arg)
{
    sb_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 55);
    lct_comm *c = NULL;
    int ref = w->g.size == 1;
    if (!ref) tcomm_new(&c, rt, &w->g, r);
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.normalize = 1;
    lct_bank *bank = NULL;
    int *rc = w->rc[r];
    rc[0] = ref ? lct_bank_new(&bank, rt, SB_N, SB_D, &bo) : lct_bank_new_sharded(&bank, rt, SB_N, SB_D, c, &bo);
    if (rc[0]) goto out;
    size_t first, count;
    rc[1] = lct_bank_shard(bank, &first, &count, NULL, NULL);
    w->first[r] = first;
    w->count[r] = count;
    rc[2] = lct_bank_get_rows(bank, first, count, w->init + first * SB_D);
    int P = ref ? 1 : w->g.size;
    size_t bl = SB_B / (size_t)P;
    for (int step = 0; step < 3; step++) {
        float f[SB_B * SB_D];
        int64_t idx[SB_B];
        sb_batch(step, f, idx);
        int e = lct_bank_update(bank, f + (size_t)r * bl * SB_D, idx + (size_t)r * bl, bl, 0.5f);
        if (e) rc[3] = e;
    }
    rc[4] = lct_bank_get_rows(bank, first, count, w->rows + first * SB_D);
    rc[5] = lct_knn_topk_bank(bank, sb_queries, 4, 3, w->knn_idx[r], w->knn_sim[r]);
    rc[6] = lct_knn_classify_bank(bank, sb_labels, sb_queries, 4, 3, 0.07f, 3, w->pred[r], NULL);
    if (!ref) {
        /* what a shard refuses */
        float buf[SB_N * SB_D], out[SB_B * 4];
        int64_t other = first == 0 ? (int64_t)(first + count) : 0, pos[1] = {0}, neg[3] = {0, 1, 2};
        rc[7] = lct_bank_get_rows(bank, 0, SB_N, buf);
        snprintf(w->msg[r][0], 256, "%s", lct_error_last());
        rc[8] = lct_bank_gather(bank, &other, 1, buf);
        snprintf(w->msg[r][1], 256, "%s", lct_error_last());
        rc[9] = lct_bank_similarity(bank, buf, 1, pos, neg, 3, LCT_BANK_SAMPLE_REPLACE, out);
        snprintf(w->msg[r][2], 256, "%s", lct_error_last());
        rc[10] = lct_bank_similarity_all(bank, buf, 1, 0, 2, out, 2);
        rc[11] = lct_bank_proximal(bank, buf, pos, 1, 1.0f, NULL, NULL);
        lct_loss *l = NULL;
        rc[12] = lct_loss_new_npsoftmax(&l, rt, bank, NULL);
        lct_loss_free(l);
        /* the positive from the host: refused on every rank alike (the check is agreed on) */
        l = NULL;
        lct_loss_new_nce(&l, rt, bank, NULL);
        float lv;
        fill(buf, SB_D, 1);
        rc[13] = lct_loss_nce_compute_pos(l, buf, buf, pos, 1, &lv, NULL, NULL);
        lct_loss_free(l);
        /* kNN over the shards needs the same queries on every rank: refused on all of them */
        float qs[SB_D];
        fill(qs, SB_D, 70 + (uint64_t)r);
        int64_t ki[2];
        rc[14] = lct_knn_topk_bank(bank, qs, 1, 2, ki, NULL);
    }
out:
    lct_bank_free(bank);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_sharded_bank_equals_unsharded)
{
    sb_world *ref = calloc(1, sizeof *ref);
    tcomm_run_group(&ref->g, 1, sb_rank, ref);
    for (int k = 0; k < 7; k++) ck_assert_msg(ref->rc[0][k] == LCT_OK, "reference call %d: %d", k, ref->rc[0][k]);
    for (int P = 2; P <= 3; P++) {
        sb_world *w = calloc(1, sizeof *w);
        tcomm_run_group(&w->g, P, sb_rank, w);
        size_t next = 0;
        for (int r = 0; r < P; r++) {
            for (int k = 0; k < 7; k++) ck_assert_msg(w->rc[r][k] == LCT_OK, "P=%d rank %d call %d: %d", P, r, k, w->rc[r][k]);
            /* contiguous shards covering N, the first N mod P one row longer */
            ck_assert_uint_eq(w->first[r], next);
            ck_assert_uint_eq(w->count[r], SB_N / P + ((size_t)r < SB_N % P ? 1 : 0));
            next += w->count[r];
            ck_assert_int_eq(w->rc[r][7], LCT_ERANGE);
            ck_assert(strstr(w->msg[r][0], "shard") != NULL);
            ck_assert_int_eq(w->rc[r][8], LCT_ERANGE);
            ck_assert(strstr(w->msg[r][1], "shard") != NULL);
            ck_assert_int_eq(w->rc[r][9], LCT_EUNSUPPORTED);
            ck_assert(strstr(w->msg[r][2], "sharded") != NULL);
            ck_assert_int_eq(w->rc[r][10], LCT_EUNSUPPORTED);
            ck_assert_int_eq(w->rc[r][11], LCT_EUNSUPPORTED);
            ck_assert_int_eq(w->rc[r][12], LCT_EUNSUPPORTED);
            ck_assert_int_eq(w->rc[r][13], LCT_EUNSUPPORTED);
            ck_assert_int_eq(w->rc[r][14], LCT_EMISMATCH);
            /* kNN over the shards: the merged top-k and votes of the whole bank, on every rank */
            ck_assert(memcmp(w->knn_idx[r], ref->knn_idx[0], sizeof ref->knn_idx[0]) == 0);
            ck_assert(memcmp(w->knn_sim[r], ref->knn_sim[0], sizeof ref->knn_sim[0]) == 0);
            ck_assert(memcmp(w->pred[r], ref->pred[0], sizeof ref->pred[0]) == 0);
        }
        ck_assert_uint_eq(next, SB_N);
        /* same initial rows, and the same rows after three collective updates: bit for bit */
        ck_assert(memcmp(w->init, ref->init, sizeof ref->init) == 0);
        ck_assert(memcmp(w->rows, ref->rows, sizeof ref->rows) == 0);
        ck_assert(memcmp(w->rows, w->init, sizeof ref->rows) != 0);
        free(w);
    }
    free(ref);
}
END_TEST

/* ---- InstDisc over a sharded bank ---------------------------------------------------------------- */

#define ID_STEPS 4

typedef struct {
    tcomm_group g;
    int mode, ckpt_at;     /* ckpt_at > 0: save after that many steps, rebuild, load, go on */
    int rc[TCOMM_MAX];
    float params[TCOMM_MAX][ID_MAXP];
    size_t np;
    float loss[TCOMM_MAX][ID_STEPS];
    float bank[ID_N * ID_D];
} id_world;

/* Rank r's communicator in group g, or NULL in a group of one (the single-process reference). */
static lct_comm *rank_comm(lct_runtime *rt, tcomm_group *g, int r)
{
    lct_comm *c = NULL;
    if (g->size > 1) tcomm_new(&c, rt, g, r);
    return c;
}

/* Every one of the P ranks returned LCT_OK. */
static void assert_ranks_ok(const int *rc, int P)
{
    for (int r = 0; r < P; r++) ck_assert_msg(rc[r] == LCT_OK, "P=%d rank %d: %s", P, r, lct_status_string(rc[r]));
}

static void id_rank(int r, void *arg)
{
    id_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 77);
    lct_comm *c = rank_comm(rt, &w->g, r);
    id_run s;
    int rc = id_setup(&s, rt, c, w->mode);
    for (int step = 0; step < ID_STEPS && rc == LCT_OK; step++) {
        rc = id_step(&s, step, &w->loss[r][step]);
        if (rc == LCT_OK && step + 1 == w->ckpt_at) {
            mem_sink m = {0};
            rc = id_save(&s, &m);
            id_free(&s);
            if (rc == LCT_OK) rc = id_setup(&s, rt, c, w->mode);
            if (rc == LCT_OK) rc = id_load(&s, &m);
            free(m.data);
        }
    }
    if (rc == LCT_OK) rc = id_state(&s, w->params[r], &w->np, w->bank);
    w->rc[r] = rc;
    id_free(&s);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

static id_world *id_go(int P, int mode, int ckpt_at)
{
    id_world *w = calloc(1, sizeof *w);
    w->mode = mode;
    w->ckpt_at = ckpt_at;
    tcomm_run_group(&w->g, P, id_rank, w);
    assert_ranks_ok(w->rc, P);
    return w;
}

START_TEST(test_instdisc_sharded_equals_one_process)
{
    static const int modes[] = {LCT_BANK_SAMPLE_REPLACE, LCT_BANK_SAMPLE_EXCLUDE_SELF, LCT_BANK_SAMPLE_SHARED};
    for (size_t mi = 0; mi < 3; mi++) {
        id_world *ref = id_go(1, modes[mi], 0);
        ck_assert(ref->loss[0][0] != ref->loss[0][ID_STEPS - 1]); /* the run does something */
        for (int P = 2; P <= 3; P++) {
            id_world *w = id_go(P, modes[mi], 0);
            ck_assert_uint_eq(w->np, ref->np);
            for (int r = 0; r < P; r++) {
                ck_assert(memcmp(w->params[r], w->params[0], w->np * sizeof(float)) == 0);
                ck_assert(memcmp(w->loss[r], w->loss[0], sizeof w->loss[0]) == 0);
            }
            double ep = max_err(w->params[0], ref->params[0], w->np);
            double el = max_err(w->loss[0], ref->loss[0], ID_STEPS);
            double eb = max_err(w->bank, ref->bank, ID_N * ID_D);
            ck_assert_msg(ep < TOL_PARAMS && el < TOL_LOSS && eb < TOL_PARAMS,
                          "mode %d P=%d: params %g, loss %g, bank %g", modes[mi], P, ep, el, eb);
            if (mi == 0 && P == 2) fprintf(stderr, "instdisc P=2: params %.3g, loss %.3g, bank %.3g\n", ep, el, eb);
            free(w);
        }
        free(ref);
    }
}
END_TEST

START_TEST(test_instdisc_sharded_checkpoint_resume)
{
    for (int P = 2; P <= 3; P++) {
        id_world *run = id_go(P, LCT_BANK_SAMPLE_REPLACE, 0), *resumed = id_go(P, LCT_BANK_SAMPLE_REPLACE, 2);
        /* save on P ranks, load on P ranks, continue = the uninterrupted run, bit for bit */
        for (int r = 0; r < P; r++) {
            ck_assert(memcmp(resumed->params[r], run->params[r], run->np * sizeof(float)) == 0);
            ck_assert(memcmp(resumed->loss[r], run->loss[r], sizeof run->loss[r]) == 0);
        }
        ck_assert(memcmp(resumed->bank, run->bank, sizeof run->bank) == 0);
        free(run);
        free(resumed);
    }
}
END_TEST

typedef struct {
    tcomm_group g;
    mem_sink saved[TCOMM_MAX];   /* P = 2: each rank's checkpoint of its shard */
    const mem_sink *load;        /* P = 3: rank 0's checkpoint of a P = 2 run */
    int rc[TCOMM_MAX][6];
    char msg[TCOMM_MAX][256];
} ck_world;

static void ck_rank(int r, void *arg)
{
    ck_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 5);
    lct_comm *c = NULL;
    tcomm_new(&c, rt, &w->g, r);
    lct_bank *bank = NULL;
    w->rc[r][0] = lct_bank_new_sharded(&bank, rt, 12, 4, c, NULL);
    if (w->load == NULL) {
        lct_checkpoint_writer *wr = NULL;
        lct_checkpoint_writer_new(&wr, rt, NULL);
        w->rc[r][1] = lct_checkpoint_add_bank(wr, "bank", bank);
        w->rc[r][2] = lct_checkpoint_write_cb(wr, mem_write, &w->saved[r]);
        lct_checkpoint_writer_free(wr);
        /* another rank's shard is refused */
        lct_checkpoint_reader *rd = NULL;
        w->rc[r][3] = lct_checkpoint_reader_open_memory(&rd, rt, w->saved[r].data, w->saved[r].size);
        w->rc[r][4] = lct_checkpoint_load_bank(rd, "bank", bank);
        lct_checkpoint_reader_free(rd);
        /* n differs between the ranks: refused on every rank */
        lct_bank *odd = NULL;
        w->rc[r][5] = lct_bank_new_sharded(&odd, rt, r == 0 ? 12 : 13, 4, c, NULL);
        snprintf(w->msg[r], sizeof w->msg[r], "%s", lct_error_last());
        lct_bank_free(odd);
    } else {
        lct_checkpoint_reader *rd = NULL;
        w->rc[r][3] = lct_checkpoint_reader_open_memory(&rd, rt, w->load->data, w->load->size);
        w->rc[r][4] = lct_checkpoint_load_bank(rd, "bank", bank);
        snprintf(w->msg[r], sizeof w->msg[r], "%s", lct_error_last());
        lct_checkpoint_reader_free(rd);
    }
    lct_bank_free(bank);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_sharded_checkpoint_layout_mismatch)
{
    ck_world *two = calloc(1, sizeof *two), *three = calloc(1, sizeof *three);
    tcomm_group_init(&two->g, 2);
    tcomm_run(2, ck_rank, two);
    tcomm_group_destroy(&two->g);
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 4; k++) ck_assert_int_eq(two->rc[r][k], LCT_OK);
        ck_assert_int_eq(two->rc[r][4], LCT_OK); /* its own shard loads */
        ck_assert_int_eq(two->rc[r][5], LCT_EMISMATCH);
        ck_assert(strstr(two->msg[r], "differs between ranks") != NULL);
    }
    /* saved on 2 ranks, loaded on 3: refused, naming both counts */
    three->load = &two->saved[0];
    tcomm_group_init(&three->g, 3);
    tcomm_run(3, ck_rank, three);
    tcomm_group_destroy(&three->g);
    for (int r = 0; r < 3; r++) {
        ck_assert_int_eq(three->rc[r][4], LCT_EMISMATCH);
        ck_assert_msg(strstr(three->msg[r], "2 ranks") && strstr(three->msg[r], "different number of ranks"), "%s",
                      three->msg[r]);
    }
    /* rank 1's shard into rank 0 of a 2-rank bank, and a shard into an unsharded bank */
    lct_runtime *rt = lct_test_runtime(1, 5);
    lct_bank *plain = NULL, *made = (lct_bank *)1;
    ck_assert_int_eq(lct_bank_new(&plain, rt, 12, 4, NULL), LCT_OK);
    lct_checkpoint_reader *rd = NULL;
    ck_assert_int_eq(lct_checkpoint_reader_open_memory(&rd, rt, two->saved[1].data, two->saved[1].size), LCT_OK);
    float before[48], after[48];
    lct_bank_get_rows(plain, 0, 12, before);
    LCT_ASSERT_FAILS(lct_checkpoint_load_bank(rd, "bank", plain), LCT_EMISMATCH, "not sharded");
    lct_bank_get_rows(plain, 0, 12, after);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    LCT_ASSERT_FAILS(lct_checkpoint_new_bank(rd, "bank", rt, &made), LCT_EMISMATCH, "lct_bank_new_sharded");
    ck_assert_ptr_null(made);
    lct_checkpoint_reader_free(rd);
    lct_bank_free(plain);
    lct_runtime_free(rt);
    for (int r = 0; r < 2; r++) free(two->saved[r].data);
    free(two);
    free(three);
}
END_TEST

START_TEST(test_sharded_bank_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 5), *rt2 = lct_test_runtime(1, 5);
    lct_comm *c = NULL;
    ck_assert_int_eq(lct_comm_new_self(&c, rt), LCT_OK);
    lct_bank *b = (lct_bank *)1;
    LCT_ASSERT_FAILS(lct_bank_new_sharded(NULL, rt, 4, 2, c, NULL), LCT_EINVAL, "out");
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, NULL, 4, 2, c, NULL), LCT_EINVAL, "rt");
    ck_assert_ptr_null(b);
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, rt, 4, 2, NULL, NULL), LCT_EINVAL, "comm");
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, rt2, 4, 2, c, NULL), LCT_EMISMATCH, "runtime");
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, rt, 0, 2, c, NULL), LCT_EINVAL, "n is 0");
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, rt, 4, 0, c, NULL), LCT_EINVAL, "d is 0");
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.version = 99;
    LCT_ASSERT_FAILS(lct_bank_new_sharded(&b, rt, 4, 2, c, &bo), LCT_EVERSION, "version");
    ck_assert_ptr_null(b);
    LCT_ASSERT_FAILS(lct_bank_shard(NULL, NULL, NULL, NULL, NULL), LCT_EINVAL, "bank");
    /* with one rank a sharded bank is a whole bank */
    ck_assert_int_eq(lct_bank_new_sharded(&b, rt, 4, 2, c, NULL), LCT_OK);
    size_t off = 9, cnt = 0;
    int rank = -1, size = 0;
    ck_assert_int_eq(lct_bank_shard(b, &off, &cnt, &rank, &size), LCT_OK);
    ck_assert(off == 0 && cnt == 4 && rank == 0 && size == 1);
    lct_bank_free(b);
    lct_comm_free(c);
    lct_runtime_free(rt2);
    lct_runtime_free(rt);
}
END_TEST

/* ---- InvaSpread and CPC with global in-batch negatives ------------------------------------------- */

#define IB_STEPS 3

typedef struct {
    tcomm_group g;
    int cpc, variant;
    int rc[TCOMM_MAX];
    float params[TCOMM_MAX][ID_MAXP];
    size_t np;
    float loss[TCOMM_MAX][IB_STEPS];
} ib_world;

static void ib_rank(int r, void *arg)
{
    ib_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 91);
    lct_comm *c = rank_comm(rt, &w->g, r);
    ib_run s;
    int rc = ib_setup(&s, rt, c, w->cpc, w->variant);
    for (int step = 0; step < IB_STEPS && rc == LCT_OK; step++) rc = ib_step(&s, step, &w->loss[r][step]);
    if (rc == LCT_OK) w->np = ib_params(&s, w->params[r], ID_MAXP);
    w->rc[r] = rc;
    ib_free(&s);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

static ib_world *ib_go(int P, int cpc, int variant)
{
    ib_world *w = calloc(1, sizeof *w);
    w->cpc = cpc;
    w->variant = variant;
    tcomm_run_group(&w->g, P, ib_rank, w);
    assert_ranks_ok(w->rc, P);
    return w;
}

static void check_ib(int cpc, int variant)
{
    ib_world *ref = ib_go(1, cpc, variant);
    ck_assert(ref->loss[0][0] != ref->loss[0][IB_STEPS - 1]);
    for (int P = 2; P <= 3; P++) {
        ib_world *w = ib_go(P, cpc, variant);
        ck_assert_uint_eq(w->np, ref->np);
        for (int r = 0; r < P; r++) {
            ck_assert(memcmp(w->params[r], w->params[0], w->np * sizeof(float)) == 0);
            ck_assert(memcmp(w->loss[r], w->loss[0], sizeof w->loss[0]) == 0);
        }
        double ep = max_err(w->params[0], ref->params[0], w->np), el = max_err(w->loss[0], ref->loss[0], IB_STEPS);
        ck_assert_msg(ep < TOL_PARAMS && el < TOL_LOSS, "%s variant %d P=%d: params %g, loss %g",
                      cpc ? "CPC" : "InvaSpread", variant, P, ep, el);
        free(w);
    }
    free(ref);
}

START_TEST(test_invaspread_global_negatives)
{
    check_ib(0, LCT_INVASPREAD_PAPER);
    check_ib(0, LCT_INVASPREAD_CODE);
}
END_TEST

START_TEST(test_cpc_global_negatives)
{
    check_ib(1, LCT_INFONCE_BATCH);
    check_ib(1, LCT_INFONCE_ALL);
    check_ib(1, LCT_INFONCE_SEQUENCE);
}
END_TEST

/* CMC-softmax: the loss and each rank's gradient against one process (gradient times P). */
#define CM_B 6
#define CM_D 5
#define CM_V 3

typedef struct {
    tcomm_group g;
    int graph;
    int rc[TCOMM_MAX];
    float loss[TCOMM_MAX];
    float df[CM_V][CM_B * CM_D]; /* each rank writes its rows */
} cm_world;

static void cm_inputs(float f[CM_V][CM_B * CM_D])
{
    for (int v = 0; v < CM_V; v++) fill(f[v], CM_B * CM_D, 900 + (uint64_t)v);
}

static void cm_rank(int r, void *arg)
{
    cm_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 3);
    lct_comm *c = NULL;
    int P = w->g.size;
    if (P > 1) tcomm_new(&c, rt, &w->g, r);
    lct_loss_cmc_options o;
    lct_loss_cmc_options_init(&o, LCT_LOSS_CMC_OPTIONS_VERSION);
    o.objective = LCT_CMC_SOFTMAX;
    o.graph = w->graph;
    lct_loss *loss = NULL;
    int rc = lct_loss_new_cmc(&loss, rt, CM_V, CM_D, NULL, &o);
    if (rc == LCT_OK && c) rc = lct_loss_set_comm(loss, c);
    float f[CM_V][CM_B * CM_D], g[CM_V][CM_B * CM_D];
    cm_inputs(f);
    size_t bl = CM_B / (size_t)P, first = (size_t)r * bl;
    const float *fp[CM_V];
    float *gp[CM_V];
    for (int v = 0; v < CM_V; v++) {
        fp[v] = f[v] + first * CM_D;
        gp[v] = g[v];
    }
    if (rc == LCT_OK) rc = lct_loss_cmc_compute(loss, fp, NULL, bl, &w->loss[r], gp);
    for (int v = 0; v < CM_V && rc == LCT_OK; v++)
        for (size_t i = 0; i < bl * CM_D; i++) w->df[v][first * CM_D + i] = g[v][i] / (float)P;
    w->rc[r] = rc;
    lct_loss_free(loss);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_cmc_softmax_global_negatives)
{
    for (int graph = LCT_CMC_CORE; graph <= LCT_CMC_FULL; graph++) {
        cm_world *ref = calloc(1, sizeof *ref);
        ref->graph = graph;
        tcomm_run_group(&ref->g, 1, cm_rank, ref);
        ck_assert_int_eq(ref->rc[0], LCT_OK);
        for (int P = 2; P <= 3; P++) {
            cm_world *w = calloc(1, sizeof *w);
            w->graph = graph;
            tcomm_run_group(&w->g, P, cm_rank, w);
            for (int r = 0; r < P; r++) {
                ck_assert_int_eq(w->rc[r], LCT_OK);
                ck_assert(w->loss[r] == w->loss[0]);
            }
            double el = max_err(&w->loss[0], &ref->loss[0], 1);
            double eg = max_err(w->df[0], ref->df[0], CM_V * CM_B * CM_D);
            ck_assert_msg(el < TOL_LOSS && eg < TOL_PARAMS, "graph %d P=%d: loss %g, gradient %g", graph, P, el, eg);
            free(w);
        }
        free(ref);
    }
}
END_TEST

START_TEST(test_loss_set_comm_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 5), *rt2 = lct_test_runtime(1, 5);
    lct_comm *c = NULL, *c2 = NULL;
    ck_assert_int_eq(lct_comm_new_self(&c, rt), LCT_OK);
    ck_assert_int_eq(lct_comm_new_self(&c2, rt2), LCT_OK);
    lct_loss *inv = NULL, *nce = NULL;
    lct_bank *bank = NULL;
    ck_assert_int_eq(lct_loss_new_invaspread(&inv, rt, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_bank_new(&bank, rt, 8, 4, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_new_nce(&nce, rt, bank, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_loss_set_comm(NULL, c), LCT_EINVAL, "loss");
    LCT_ASSERT_FAILS(lct_loss_set_comm(inv, c2), LCT_EMISMATCH, "runtime");
    LCT_ASSERT_FAILS(lct_loss_set_comm(nce, c), LCT_EUNSUPPORTED, "sharding");
    ck_assert_int_eq(lct_loss_set_comm(inv, c), LCT_OK);
    /* one rank: the same result as without a communicator */
    float x[16], dx[16], dx0[16], l = 0, l0 = 0;
    fill(x, 16, 4);
    ck_assert_int_eq(lct_loss_invaspread_compute(inv, x, 2, &l, dx), LCT_OK);
    ck_assert_int_eq(lct_loss_set_comm(inv, NULL), LCT_OK);
    ck_assert_int_eq(lct_loss_invaspread_compute(inv, x, 2, &l0, dx0), LCT_OK);
    ck_assert(l == l0 && memcmp(dx, dx0, sizeof dx) == 0);
    lct_loss_free(nce);
    lct_bank_free(bank);
    lct_loss_free(inv);
    lct_comm_free(c2);
    lct_comm_free(c);
    lct_runtime_free(rt2);
    lct_runtime_free(rt);
}
END_TEST

/* A rank whose batch differs is refused on every rank, before anything is exchanged. */
static void mismatch_rank(int r, void *arg)
{
    cm_world *w = arg;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 3);
    lct_comm *c = NULL;
    tcomm_new(&c, rt, &w->g, r);
    lct_loss *inv = NULL;
    lct_loss_new_invaspread(&inv, rt, CM_D, NULL);
    lct_loss_set_comm(inv, c);
    float x[4 * CM_D], dx[4 * CM_D];
    fill(x, 4 * CM_D, 1);
    if (r == 1) x[3] = NAN; /* rank 1 fails its own check; rank 0 must not wait for it */
    w->rc[r] = lct_loss_invaspread_compute(inv, x, 2, &w->loss[r], dx);
    lct_loss_free(inv);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_distributed_failure_is_agreed)
{
    cm_world *w = calloc(1, sizeof *w);
    tcomm_group_init(&w->g, 2);
    tcomm_run(2, mismatch_rank, w);
    tcomm_group_destroy(&w->g);
    ck_assert_int_eq(w->rc[1], LCT_ENUMERIC);
    ck_assert_int_eq(w->rc[0], LCT_EMISMATCH);
    free(w);
}
END_TEST

/* CMC-NCE over sharded banks (one per view): loss, gradients and bank rows against one process. */
#define CN_N 14
#define CN_STEPS 2

typedef struct {
    tcomm_group g;
    int rc[TCOMM_MAX];
    float loss[TCOMM_MAX][CN_STEPS];
    float df[CN_STEPS][CM_V][CM_B * CM_D];
    float rows[CM_V][CN_N * CM_D];
} cn_world;

static void cn_rank(int r, void *arg)
{
    cn_world *w = arg;
    int P = w->g.size;
    lct_runtime *rt = lct_test_runtime_nockeck(1, 8);
    lct_comm *c = NULL;
    if (P > 1) tcomm_new(&c, rt, &w->g, r);
    lct_bank *banks[CM_V] = {0};
    lct_bank_options bo;
    lct_bank_options_init(&bo, LCT_BANK_OPTIONS_VERSION);
    bo.normalize = 1;
    int rc = LCT_OK;
    for (int v = 0; v < CM_V && rc == LCT_OK; v++)
        rc = c ? lct_bank_new_sharded(&banks[v], rt, CN_N, CM_D, c, &bo) : lct_bank_new(&banks[v], rt, CN_N, CM_D, &bo);
    lct_loss_cmc_options o;
    lct_loss_cmc_options_init(&o, LCT_LOSS_CMC_OPTIONS_VERSION);
    o.k = 9;
    o.graph = LCT_CMC_FULL;
    lct_loss *loss = NULL;
    if (rc == LCT_OK) rc = lct_loss_new_cmc(&loss, rt, CM_V, CM_D, banks, &o);
    size_t bl = CM_B / (size_t)P, first = (size_t)r * bl;
    for (int step = 0; step < CN_STEPS && rc == LCT_OK; step++) {
        float f[CM_V][CM_B * CM_D], g[CM_V][CM_B * CM_D];
        int64_t idx[CM_B];
        const float *fp[CM_V];
        float *gp[CM_V];
        for (int v = 0; v < CM_V; v++) {
            fill(f[v], CM_B * CM_D, 40 + 10 * (uint64_t)step + (uint64_t)v);
            fp[v] = f[v] + first * CM_D;
            gp[v] = g[v];
        }
        for (int b = 0; b < CM_B; b++) idx[b] = (step * 5 + b * 3) % CN_N;
        rc = lct_loss_cmc_compute(loss, fp, idx + first, bl, &w->loss[r][step], gp);
        for (int v = 0; v < CM_V && rc == LCT_OK; v++) {
            for (size_t i = 0; i < bl * CM_D; i++) w->df[step][v][first * CM_D + i] = g[v][i] / (float)P;
            rc = lct_bank_update(banks[v], fp[v], idx + first, bl, 0.5f);
        }
    }
    for (int v = 0; v < CM_V && rc == LCT_OK; v++) {
        size_t off, cnt;
        lct_bank_shard(banks[v], &off, &cnt, NULL, NULL);
        rc = lct_bank_get_rows(banks[v], off, cnt, w->rows[v] + off * CM_D);
    }
    w->rc[r] = rc;
    lct_loss_free(loss);
    for (int v = 0; v < CM_V; v++) lct_bank_free(banks[v]);
    lct_comm_free(c);
    lct_runtime_free(rt);
}

START_TEST(test_cmc_nce_sharded_banks)
{
    cn_world *ref = calloc(1, sizeof *ref);
    tcomm_run_group(&ref->g, 1, cn_rank, ref);
    ck_assert_int_eq(ref->rc[0], LCT_OK);
    for (int P = 2; P <= 3; P++) {
        cn_world *w = calloc(1, sizeof *w);
        tcomm_run_group(&w->g, P, cn_rank, w);
        for (int r = 0; r < P; r++) {
            ck_assert_msg(w->rc[r] == LCT_OK, "rank %d: %s", r, lct_status_string(w->rc[r]));
            ck_assert(memcmp(w->loss[r], w->loss[0], sizeof w->loss[0]) == 0);
        }
        double el = max_err(w->loss[0], ref->loss[0], CN_STEPS);
        double eg = max_err(w->df[0][0], ref->df[0][0], CN_STEPS * CM_V * CM_B * CM_D);
        /* the inputs are fixed: the rows after the updates are the same bits */
        ck_assert(memcmp(w->rows, ref->rows, sizeof ref->rows) == 0);
        ck_assert_msg(el < TOL_LOSS && eg < TOL_PARAMS, "P=%d: loss %g, gradient %g", P, el, eg);
        free(w);
    }
    free(ref);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_self_comm);
    tcase_add_test(tc, test_thread_comm_collectives);
    tcase_add_test(tc, test_comm_bad_input);
    tcase_add_test(tc, test_error_set);
    tcase_add_test(tc, test_dp_optimizer_equals_one_process);
    tcase_add_test(tc, test_dp_optimizer_buckets_large_tensor);
    tcase_add_test(tc, test_sync_batchnorm);
    tcase_add_test(tc, test_params_broadcast_layout_mismatch);
    tcase_add_test(tc, test_sharded_bank_equals_unsharded);
    tcase_add_test(tc, test_instdisc_sharded_equals_one_process);
    tcase_add_test(tc, test_instdisc_sharded_checkpoint_resume);
    tcase_add_test(tc, test_sharded_checkpoint_layout_mismatch);
    tcase_add_test(tc, test_sharded_bank_bad_input);
    tcase_add_test(tc, test_invaspread_global_negatives);
    tcase_add_test(tc, test_cpc_global_negatives);
    tcase_add_test(tc, test_cmc_softmax_global_negatives);
    tcase_add_test(tc, test_cmc_nce_sharded_banks);
    tcase_add_test(tc, test_loss_set_comm_bad_input);
    tcase_add_test(tc, test_distributed_failure_is_agreed);
}

int main(void)
{
    return lct_test_main("comm", "comm", 120, add_tests);
}
