/* kNN: top-k retrieval and weighted classification against brute-force references. */
#include "testutil.h"

#include "bank/bank.h"

static void fill_normalised(float *x, size_t n, size_t d, uint64_t seed)
{
    lct__rng r;
    lct__rng_seed(&r, seed, 13);
    for (size_t i = 0; i < n; i++) {
        double ss = 0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = (float)lct__rng_normal(&r);
            ss += (double)x[i * d + j] * x[i * d + j];
        }
        for (size_t j = 0; j < d; j++) x[i * d + j] = (float)(x[i * d + j] / sqrt(ss));
    }
}

typedef struct {
    double s;
    int64_t i;
} cand;

static int cmp_cand(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/* Brute force: every similarity in double, sorted by (similarity desc, index asc). */
static cand *ref_rank(const float *feat, size_t n, size_t d, const float *query)
{
    cand *c = malloc(n * sizeof *c);
    for (size_t r = 0; r < n; r++) {
        double s = 0;
        for (size_t t = 0; t < d; t++) s += (double)query[t] * feat[r * d + t];
        c[r] = (cand){s, (int64_t)r};
    }
    qsort(c, n, sizeof *c, cmp_cand);
    return c;
}

static double ref_sim(const float *feat, size_t d, const float *query, int64_t r)
{
    double s = 0;
    for (size_t t = 0; t < d; t++) s += (double)query[t] * feat[(size_t)r * d + t];
    return s;
}

/* The result is a correct top-k: sorted, right similarities, no better row left out, and the
 * same indices as the reference wherever the reference's similarities are well separated. */
static void check_topk(const float *feat, size_t n, size_t d, const float *queries, size_t q, size_t k,
                       const int64_t *idx, const float *sim)
{
    const double tol = 1e-5;
    for (size_t i = 0; i < q; i++) {
        const float *qu = queries + i * d;
        cand *ref = ref_rank(feat, n, d, qu);
        for (size_t j = 0; j < k; j++) {
            int64_t r = idx[i * k + j];
            ck_assert(r >= 0 && r < (int64_t)n);
            ck_assert(fabs(sim[i * k + j] - ref_sim(feat, d, qu, r)) < tol);
            if (j > 0) {
                ck_assert(sim[i * k + j] <= sim[i * k + j - 1]);
                if (sim[i * k + j] == sim[i * k + j - 1]) ck_assert(r > idx[i * k + j - 1]);
            }
            ck_assert_msg(fabs(sim[i * k + j] - ref[j].s) < tol, "query %zu rank %zu: %g vs %g", i, j,
                          sim[i * k + j], ref[j].s);
            int separated = (j == 0 || ref[j - 1].s - ref[j].s > tol) && (j + 1 >= n || ref[j].s - ref[j + 1].s > tol);
            if (separated) ck_assert_int_eq(r, ref[j].i);
        }
        if (k < n) ck_assert(sim[i * k + k - 1] >= ref[k].s - tol);
        free(ref);
    }
}

START_TEST(test_topk_matches_brute_force)
{
    /* n crosses several row chunks; q makes several query blocks and a partial one. */
    const size_t n = 5000, d = 40, q = 300;
    float *feat = malloc(n * d * 4), *qs = malloc(q * d * 4);
    fill_normalised(feat, n, d, 1);
    fill_normalised(qs, q, d, 2);
    size_t ks[] = {1, 7, 200};
    for (size_t t = 0; t < 3; t++) {
        size_t k = ks[t];
        int64_t *idx1 = malloc(q * k * 8), *idx2 = malloc(q * k * 8);
        float *sim1 = malloc(q * k * 4), *sim2 = malloc(q * k * 4);
        lct_runtime *rt = lct_test_runtime(1, 0);
        ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, q, k, idx1, sim1), LCT_OK);
        /* The workspace is the documented bound per thread (0.8 MiB + 16 KiB k + small), not O(n) or O(q). */
        size_t peak;
        lct_runtime_memory(rt, NULL, &peak);
        /* On AMX, plus the bf16 copy of the rows (32-row, 32-coordinate padding) and a flag per query block. */
        size_t amx = lct__amx_ready() ? ((n + 31) / 32 * 32) * ((d + 31) / 32 * 32) * 2 + q : 0;
        ck_assert_uint_le(peak, (800u << 10) + (16u << 10) * k + 4 * (4 * k > 512 ? 4 * k : 512) + 16384 + amx);
        check_topk(feat, n, d, qs, q, k, idx1, sim1);
        lct_runtime_set_threads(rt, 2);
        ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, q, k, idx2, sim2), LCT_OK);
        ck_assert_mem_eq(idx1, idx2, q * k * 8); /* thread count changes nothing */
        ck_assert_mem_eq(sim1, sim2, q * k * 4);
        ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, 3, k, idx2, NULL), LCT_OK); /* few queries */
        ck_assert_mem_eq(idx1, idx2, 3 * k * 8);
        lct_runtime_free(rt);
        free(idx1);
        free(idx2);
        free(sim1);
        free(sim2);
    }
    free(feat);
    free(qs);
}
END_TEST

START_TEST(test_topk_ties_and_k_equals_n)
{
    /* Rows repeat with period 5: equal similarities must come out by increasing index. */
    const size_t n = 40, d = 6, q = 3;
    float feat[40 * 6], qs[3 * 6];
    float base[5 * 6];
    fill_normalised(base, 5, d, 3);
    for (size_t r = 0; r < n; r++) memcpy(feat + r * d, base + (r % 5) * d, d * 4);
    fill_normalised(qs, q, d, 4);
    int64_t idx[3 * 40];
    float sim[3 * 40];
    lct_runtime *rt = lct_test_runtime(2, 0);
    ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, q, n, idx, sim), LCT_OK);
    for (size_t i = 0; i < q; i++) {
        for (size_t j = 0; j < n; j++) {
            if (j % 8 != 0) {
                ck_assert(sim[i * n + j] == sim[i * n + j - 1]);
                ck_assert_int_eq(idx[i * n + j], idx[i * n + j - 1] + 5);
            } else {
                ck_assert_int_lt(idx[i * n + j], 5); /* each group of 8 equal rows starts at its first copy */
            }
        }
        check_topk(feat, n, d, qs + i * d, 1, n, idx + i * n, sim + i * n);
    }
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_topk_both_paths)
{
    /* d not a multiple of 16 or 32, n not a multiple of a chunk, a partial query block. */
    const size_t n = 3000, d = 70, q = 130;
    float *feat = malloc(n * d * 4), *qs = malloc(q * d * 4);
    fill_normalised(feat, n, d, 5);
    fill_normalised(qs, q, d, 6);
    size_t ks[] = {1, 50};
    int64_t *idx = malloc(q * 50 * 8);
    float *sim = malloc(q * 50 * 4);
    lct_runtime *rt = lct_test_runtime(2, 0);
    for (int mode = 0; mode < 2; mode++) {
        lct__test_control(LCT__TESTCTRL_KNN_AMX, mode); /* 1 takes the bf16 path where the CPU has AMX, the exact path elsewhere */
        for (size_t t = 0; t < 2; t++) {
            ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, q, ks[t], idx, sim), LCT_OK);
            check_topk(feat, n, d, qs, q, ks[t], idx, sim);
        }
    }
    lct__test_control(LCT__TESTCTRL_KNN_AMX, -1);
    lct_runtime_free(rt);
    free(feat);
    free(qs);
    free(idx);
    free(sim);
}
END_TEST

START_TEST(test_topk_near_duplicates)
{
    /* 600 rows within 1e-4 of one direction, queried near it: more rows fall inside the bf16
     * path's error margin than its candidate buffer holds, so the block is searched again exactly. */
    const size_t n = 2500, d = 64, q = 70, k = 10;
    float *feat = malloc(n * d * 4), *qs = malloc(q * d * 4), *noise = malloc(n * d * 4);
    fill_normalised(feat, n, d, 7);
    fill_normalised(noise, n, d, 8);
    for (size_t r = 100; r < 700; r++)
        for (size_t j = 0; j < d; j++) feat[r * d + j] = feat[j] + 1e-4f * noise[r * d + j];
    for (size_t i = 0; i < q; i++)
        for (size_t j = 0; j < d; j++) qs[i * d + j] = feat[j] + 1e-2f * noise[i * d + j];
    int64_t *idx = malloc(q * k * 8);
    float *sim = malloc(q * k * 4);
    lct_runtime *rt = lct_test_runtime(1, 0);
    size_t before = lct__knn_amx_redone();
    ck_assert_int_eq(lct_knn_topk(rt, feat, n, d, qs, q, k, idx, sim), LCT_OK);
    check_topk(feat, n, d, qs, q, k, idx, sim);
    if (lct__amx_ready()) ck_assert_uint_gt(lct__knn_amx_redone(), before);
    lct_runtime_free(rt);
    free(feat);
    free(qs);
    free(noise);
    free(idx);
    free(sim);
}
END_TEST

/* Reference weighted vote in double (InstDisc: weights exp(s/tau), summed per class). */
static int32_t ref_classify(const float *feat, const int32_t *labels, size_t n, size_t d, const float *query, size_t k,
                            double tau, int32_t c, double *votes)
{
    cand *ref = ref_rank(feat, n, d, query);
    for (int32_t i = 0; i < c; i++) votes[i] = 0;
    for (size_t j = 0; j < k; j++) votes[labels[ref[j].i]] += exp((ref[j].s - ref[0].s) / tau);
    int32_t best = 0;
    for (int32_t i = 1; i < c; i++)
        if (votes[i] > votes[best]) best = i;
    free(ref);
    return best;
}

START_TEST(test_classify_small_labelled_set)
{
    /* 10 classes, rows scattered around one centre per class; queries drawn the same way. */
    const size_t n = 3000, d = 32, q = 200, k = 50;
    const int32_t c = 10;
    float centres[10 * 32], *feat = malloc(n * d * 4), *qs = malloc(q * d * 4);
    int32_t *labels = malloc(n * 4), truth[200], pred[200], pred2[200];
    fill_normalised(centres, (size_t)c, d, 9);
    lct__rng r;
    lct__rng_seed(&r, 10, 0);
    for (size_t i = 0; i < n + q; i++) {
        int32_t y = (int32_t)lct__rng_below(&r, (uint64_t)c);
        float *x = i < n ? feat + i * d : qs + (i - n) * d;
        double ss = 0;
        for (size_t t = 0; t < d; t++) {
            x[t] = centres[y * d + t] + 0.25f * (float)lct__rng_normal(&r) / sqrtf((float)d);
            ss += (double)x[t] * x[t];
        }
        for (size_t t = 0; t < d; t++) x[t] = (float)(x[t] / sqrt(ss));
        if (i < n) labels[i] = y;
        else truth[i - n] = y;
    }
    float *scores = malloc(q * (size_t)c * 4);
    double votes[10];
    lct_runtime *rt = lct_test_runtime(2, 0);
    ck_assert_int_eq(lct_knn_classify(rt, feat, labels, n, d, qs, q, k, 0.07f, c, pred, scores), LCT_OK);
    int correct = 0;
    for (size_t i = 0; i < q; i++) {
        int32_t want = ref_classify(feat, labels, n, d, qs + i * d, k, 0.07, c, votes);
        ck_assert_int_eq(pred[i], want);
        correct += pred[i] == truth[i];
        for (int32_t y = 0; y < c; y++)
            ck_assert_msg(fabs(scores[i * c + y] - votes[y]) < 1e-3 * fmax(1.0, votes[y]), "query %zu class %d: %g vs %g",
                          i, y, scores[i * c + y], votes[y]);
    }
    ck_assert_int_ge(correct, 195); /* well-separated clusters: near-perfect */
    lct_runtime_set_threads(rt, 1);
    ck_assert_int_eq(lct_knn_classify(rt, feat, labels, n, d, qs, q, k, 0.07f, c, pred2, NULL), LCT_OK);
    ck_assert_mem_eq(pred, pred2, sizeof pred);

    /* The bank variants give the same answers as the features variant on the bank's rows. */
    for (int s = 0; s < 2; s++) {
        lct_bank_options o;
        lct_bank_options_init(&o, LCT_BANK_OPTIONS_VERSION);
        o.storage = s;
        lct_bank *b;
        ck_assert_int_eq(lct_bank_new(&b, rt, n, d, &o), LCT_OK);
        ck_assert_int_eq(lct_bank_set_rows(b, 0, n, feat), LCT_OK);
        float *back = malloc(n * d * 4);
        lct_bank_get_rows(b, 0, n, back);
        ck_assert_int_eq(lct_knn_classify_bank(b, labels, qs, q, k, 0.07f, c, pred2, NULL), LCT_OK);
        ck_assert_int_eq(lct_knn_classify(rt, back, labels, n, d, qs, q, k, 0.07f, c, pred, NULL), LCT_OK);
        ck_assert_mem_eq(pred, pred2, sizeof pred);
        int64_t *i1 = malloc(q * k * 8), *i2 = malloc(q * k * 8);
        float *s1 = malloc(q * k * 4), *s2 = malloc(q * k * 4);
        ck_assert_int_eq(lct_knn_topk_bank(b, qs, q, k, i1, s1), LCT_OK);
        ck_assert_int_eq(lct_knn_topk(rt, back, n, d, qs, q, k, i2, s2), LCT_OK);
        ck_assert_mem_eq(i1, i2, q * k * 8);
        ck_assert_mem_eq(s1, s2, q * k * 4);
        free(i1);
        free(i2);
        free(s1);
        free(s2);
        free(back);
        lct_bank_free(b);
    }
    lct_runtime_free(rt);
    free(feat);
    free(qs);
    free(labels);
    free(scores);
}
END_TEST

START_TEST(test_classify_tie_takes_smaller_class)
{
    /* Two identical rows with labels 3 and 1: equal votes, class 1 wins. */
    float feat[2 * 2] = {1, 0, 1, 0}, qs[2] = {1, 0}, scores[4];
    int32_t labels[2] = {3, 1}, pred = -1;
    lct_runtime *rt = lct_test_runtime(1, 0);
    ck_assert_int_eq(lct_knn_classify(rt, feat, labels, 2, 2, qs, 1, 2, 0.1f, 4, &pred, scores), LCT_OK);
    ck_assert_int_eq(pred, 1);
    ck_assert_float_eq(scores[1], 1.0f);
    ck_assert_float_eq(scores[3], 1.0f);
    ck_assert_float_eq(scores[0], 0.0f);
    lct_runtime_free(rt);
}
END_TEST

START_TEST(test_knn_bad_input)
{
    lct_runtime *rt = lct_test_runtime(1, 0);
    float feat[4 * 2] = {1, 0, 0, 1, 1, 1, 0, 0}, qs[2] = {1, 0}, sim[4], scores[8];
    int64_t idx[4];
    int32_t labels[4] = {0, 1, 0, 1}, pred[1];
    LCT_ASSERT_FAILS(lct_knn_topk(NULL, feat, 4, 2, qs, 1, 2, idx, sim), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, NULL, 4, 2, qs, 1, 2, idx, sim), LCT_EINVAL, "features");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, NULL, 1, 2, idx, sim), LCT_EINVAL, "queries");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 1, 2, NULL, sim), LCT_EINVAL, "idx");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 0, 2, qs, 1, 2, idx, sim), LCT_EINVAL, "n is 0");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 0, qs, 1, 2, idx, sim), LCT_EINVAL, "d is 0");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 0, 2, idx, sim), LCT_EINVAL, "q is 0");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 1, 0, idx, sim), LCT_EINVAL, "k is 0");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 1, 5, idx, sim), LCT_EINVAL, "k (5) exceeds");
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, SIZE_MAX / 2, 4, qs, 1, 5, idx, sim), LCT_ESHAPE, "overflow");
    feat[3] = NAN;
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 1, 2, idx, sim), LCT_ENUMERIC, "features");
    feat[3] = 1;
    qs[1] = INFINITY;
    LCT_ASSERT_FAILS(lct_knn_topk(rt, feat, 4, 2, qs, 1, 2, idx, sim), LCT_ENUMERIC, "queries");
    qs[1] = 0;
    LCT_ASSERT_FAILS(lct_knn_classify(NULL, feat, labels, 4, 2, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL, "'rt'");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, NULL, labels, 4, 2, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL,
                     "features");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, NULL, 4, 2, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL, "labels");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, 0.07f, 2, NULL, scores), LCT_EINVAL, "pred");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, NULL, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL,
                     "queries");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, 0.0f, 2, pred, scores), LCT_EINVAL, "tau is 0");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, NAN, 2, pred, scores), LCT_EINVAL, "tau is nan");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, 0.07f, 0, pred, scores), LCT_EINVAL,
                     "n_classes is 0");
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 9, 0.07f, 2, pred, scores), LCT_EINVAL, "k (9)");
    labels[2] = 2;
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL,
                     "labels[2] is 2");
    labels[2] = 0;
    feat[0] = NAN;
    LCT_ASSERT_FAILS(lct_knn_classify(rt, feat, labels, 4, 2, qs, 1, 2, 0.07f, 2, pred, scores), LCT_ENUMERIC,
                     "features");
    feat[0] = 1;

    lct_bank *b;
    ck_assert_int_eq(lct_bank_new(&b, rt, 4, 2, NULL), LCT_OK);
    LCT_ASSERT_FAILS(lct_knn_topk_bank(NULL, qs, 1, 2, idx, sim), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_knn_topk_bank(b, NULL, 1, 2, idx, sim), LCT_EINVAL, "queries");
    LCT_ASSERT_FAILS(lct_knn_topk_bank(b, qs, 1, 2, NULL, sim), LCT_EINVAL, "idx");
    LCT_ASSERT_FAILS(lct_knn_topk_bank(b, qs, 0, 2, idx, sim), LCT_EINVAL, "q is 0");
    LCT_ASSERT_FAILS(lct_knn_topk_bank(b, qs, 1, 5, idx, sim), LCT_EINVAL, "exceeds");
    LCT_ASSERT_FAILS(lct_knn_classify_bank(NULL, labels, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL, "bank");
    LCT_ASSERT_FAILS(lct_knn_classify_bank(b, NULL, qs, 1, 2, 0.07f, 2, pred, scores), LCT_EINVAL, "labels");
    LCT_ASSERT_FAILS(lct_knn_classify_bank(b, labels, qs, 1, 2, -1.0f, 2, pred, scores), LCT_EINVAL, "tau is -1");
    LCT_ASSERT_FAILS(lct_knn_classify_bank(b, labels, qs, 1, 2, 0.07f, 1 << 25, pred, scores), LCT_EINVAL,
                     "n_classes");
    LCT_ASSERT_FAILS(lct_knn_classify_bank(b, labels, qs, 1, 0, 0.07f, 2, pred, scores), LCT_EINVAL, "k is 0");
    ck_assert_int_eq(lct_knn_classify_bank(b, labels, qs, 1, 4, 0.07f, 2, pred, scores), LCT_OK);
    lct_bank_free(b);
    size_t cur;
    lct_runtime_memory(rt, &cur, NULL);
    ck_assert_uint_eq(cur, 0); /* kNN workspaces are released */
    lct_runtime_free(rt);
}
END_TEST

static void add_tests(TCase *tc)
{
    tcase_add_test(tc, test_topk_matches_brute_force);
    tcase_add_test(tc, test_topk_ties_and_k_equals_n);
    tcase_add_test(tc, test_topk_both_paths);
    tcase_add_test(tc, test_topk_near_duplicates);
    tcase_add_test(tc, test_classify_small_labelled_set);
    tcase_add_test(tc, test_classify_tie_takes_smaller_class);
    tcase_add_test(tc, test_knn_bad_input);
}

int main(void)
{
    return lct_test_main("knn", "knn", 120, add_tests);
}
