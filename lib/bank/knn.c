/*
 * kNN: blocked GEMM (a block of queries × a chunk of rows at a time) and a
 * bounded min-heap per query holding its best k so far. Each query block is
 * one unit of work; a block's result depends only on its own data, so the
 * thread count changes nothing. Neighbours are totally ordered by
 * (similarity descending, index ascending), which makes the top-k set unique.
 */
#include <math.h>
#ifdef _OPENMP
#  include <omp.h>
#endif

#include "bank_internal.h"

#define KNN_QB 256          /* queries per block (fewer when there are few queries per thread) */
#define KNN_NB 2048         /* rows per chunk */
#define KNN_HEAP_BYTES (16u << 20) /* per-thread cap on the heaps: fewer queries per block for huge k */
#define KNN_MAX_CLASSES (1 << 24)

typedef struct {
    const float *f32;     /* fp32 rows, or NULL */
    const uint16_t *f16;  /* fp16 rows, or NULL */
    size_t n, d;
} knn_rows;

typedef struct {
    const int32_t *labels;
    float tau;
    int32_t n_classes;
    int32_t *pred;
    float *scores;
} knn_vote;

/* a is worse than b: smaller similarity, or equal similarity and larger index. */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static void sift_down(float *hs, int64_t *hi, size_t cnt, size_t i)
{
    float s = hs[i];
    int64_t x = hi[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= cnt) break;
        if (c + 1 < cnt && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
        if (!worse(hs[c], hi[c], s, x)) break;
        hs[i] = hs[c];
        hi[i] = hi[c];
        i = c;
    }
    hs[i] = s;
    hi[i] = x;
}

static void sift_up(float *hs, int64_t *hi, size_t i)
{
    float s = hs[i];
    int64_t x = hi[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(s, x, hs[p], hi[p])) break;
        hs[i] = hs[p];
        hi[i] = hi[p];
        i = p;
    }
    hs[i] = s;
    hi[i] = x;
}

/* Offer one chunk's similarities (row indices r0..r0+m) to a query's heap. */
static size_t heap_offer(float *hs, int64_t *hi, size_t cnt, size_t k, const float *s, size_t m, int64_t r0)
{
    size_t j = 0;
    for (; j < m && cnt < k; j++) {
        hs[cnt] = s[j];
        hi[cnt] = r0 + (int64_t)j;
        sift_up(hs, hi, cnt);
        cnt++;
    }
    float thr = hs[0];
    for (; j < m; j++) {
        /* Rows come in increasing index order: an equal similarity never beats the heap's worst. */
        if (s[j] > thr) {
            hs[0] = s[j];
            hi[0] = r0 + (int64_t)j;
            sift_down(hs, hi, cnt, 0);
            thr = hs[0];
        }
    }
    return cnt;
}

/* Heap sort in place: afterwards hs/hi run from best to worst. */
static void heap_sort(float *hs, int64_t *hi, size_t cnt)
{
    for (size_t end = cnt; end > 1; end--) {
        float s = hs[0];
        int64_t x = hi[0];
        hs[0] = hs[end - 1];
        hi[0] = hi[end - 1];
        hs[end - 1] = s;
        hi[end - 1] = x;
        sift_down(hs, hi, end - 1, 0);
    }
}

static void vote(const knn_vote *v, const float *hs, const int64_t *hi, size_t k, double *acc, size_t query)
{
    size_t c = (size_t)v->n_classes;
    memset(acc, 0, c * sizeof *acc);
    double top = hs[0], inv = 1.0 / (double)v->tau;
    for (size_t j = 0; j < k; j++) acc[v->labels[hi[j]]] += exp(((double)hs[j] - top) * inv);
    size_t best = 0;
    for (size_t i = 1; i < c; i++)
        if (acc[i] > acc[best]) best = i;
    v->pred[query] = (int32_t)best;
    if (v->scores)
        for (size_t i = 0; i < c; i++) v->scores[query * c + i] = (float)acc[i];
}

static int knn_run(lct_runtime *rt, const knn_rows *rows, const float *queries, size_t q, size_t k, int64_t *idx,
                   float *sim, const knn_vote *v)
{
    int threads = lct__threads(rt);
    size_t d = rows->d, n = rows->n;
    size_t qb = (q + (size_t)threads - 1) / (size_t)threads;
    if (qb > KNN_QB) qb = KNN_QB;
    size_t cap = KNN_HEAP_BYTES / (k * (sizeof(float) + sizeof(int64_t)));
    if (cap < 1) cap = 1;
    if (qb > cap) qb = cap;
    if (qb < 1) qb = 1;
    size_t nblocks = (q + qb - 1) / qb;
    if ((size_t)threads > nblocks) threads = (int)nblocks;

    /* Per-thread workspace: similarities, converted rows (fp16), heaps, votes. */
    size_t s_f = qb * KNN_NB, c_f = rows->f16 ? (size_t)KNN_NB * d : 0, h_n = qb * k;
    size_t v_n = v ? (size_t)v->n_classes : 0;
    size_t bytes = s_f * 4 + c_f * 4 + h_n * 12 + v_n * 8 + 4 * 64;
    unsigned char *ws[256] = {0};
    for (int t = 0; t < threads; t++) {
        ws[t] = lct__malloc(rt, bytes);
        if (ws[t] == NULL) {
            for (int u = 0; u < t; u++) lct__free(rt, ws[u]);
            return LCT_ENOMEM;
        }
    }
    int failed = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (size_t blk = 0; blk < nblocks; blk++) {
        int t = 0;
#ifdef _OPENMP
        t = omp_get_thread_num();
#endif
        unsigned char *p = ws[t];
        float *sbuf = (float *)(void *)p;
        float *conv = (float *)(void *)(p + ((s_f * 4 + 63) & ~(size_t)63));
        int64_t *hidx = (int64_t *)(void *)((unsigned char *)conv + ((c_f * 4 + 63) & ~(size_t)63));
        float *hsim = (float *)(void *)((unsigned char *)hidx + ((h_n * 8 + 63) & ~(size_t)63));
        double *acc = (double *)(void *)((unsigned char *)hsim + ((h_n * 4 + 63) & ~(size_t)63));
        size_t q0 = blk * qb, m = q - q0 < qb ? q - q0 : qb;
        size_t cnt[KNN_QB];
        for (size_t i = 0; i < m; i++) cnt[i] = 0;
        for (size_t r0 = 0; r0 < n; r0 += KNN_NB) {
            size_t nb = n - r0 < KNN_NB ? n - r0 : KNN_NB;
            const float *b;
            if (rows->f32) {
                b = rows->f32 + r0 * d;
            } else {
                lct__half_to_float(rows->f16 + r0 * d, conv, nb * d);
                b = conv;
            }
            if (lct__gemm1(rt, 0, 1, m, nb, d, 1.0f, queries + q0 * d, d, b, d, 0.0f, sbuf, nb) != LCT_OK) {
                failed = 1;
                break;
            }
            for (size_t i = 0; i < m; i++)
                cnt[i] = heap_offer(hsim + i * k, hidx + i * k, cnt[i], k, sbuf + i * nb, nb, (int64_t)r0);
        }
        for (size_t i = 0; i < m && !failed; i++) {
            float *hs = hsim + i * k;
            int64_t *hi = hidx + i * k;
            heap_sort(hs, hi, k);
            if (v) {
                vote(v, hs, hi, k, acc, q0 + i);
            } else {
                memcpy(idx + (q0 + i) * k, hi, k * sizeof *hi);
                if (sim) memcpy(sim + (q0 + i) * k, hs, k * sizeof *hs);
            }
        }
    }
    for (int t = 0; t < threads; t++) lct__free(rt, ws[t]);
    return failed ? LCT__FAIL(LCT_EINVAL, "internal GEMM failed") : LCT_OK;
}

static int check_common(const char *func, size_t n, size_t d, const float *queries, size_t q, size_t k)
{
    if (queries == NULL) return lct__fail(LCT_EINVAL, func, "argument 'queries' is NULL");
    if (n == 0) return lct__fail(LCT_EINVAL, func, "n is 0");
    if (d == 0) return lct__fail(LCT_EINVAL, func, "d is 0");
    if (q == 0) return lct__fail(LCT_EINVAL, func, "q is 0");
    if (k == 0) return lct__fail(LCT_EINVAL, func, "k is 0");
    if (k > n) return lct__fail(LCT_EINVAL, func, "k (%zu) exceeds the number of rows n (%zu)", k, n);
    size_t t;
    if (lct__mul_size(n, d, &t) != 0 || t > SIZE_MAX / 4 || lct__mul_size(q, d, &t) != 0 || t > SIZE_MAX / 4 ||
        lct__mul_size(q, k, &t) != 0 || t > SIZE_MAX / 8 || k > SIZE_MAX / 4096)
        return lct__fail(LCT_ESHAPE, func, "sizes overflow (n %zu, d %zu, q %zu, k %zu)", n, d, q, k);
    if (!lct__all_finite(queries, q * d)) return lct__fail(LCT_ENUMERIC, func, "queries hold NaN or Inf");
    return LCT_OK;
}

static int check_vote(const char *func, const int32_t *labels, size_t n, float tau, int32_t n_classes, int32_t *pred,
                      size_t q, float *scores)
{
    if (labels == NULL) return lct__fail(LCT_EINVAL, func, "argument 'labels' is NULL");
    if (pred == NULL) return lct__fail(LCT_EINVAL, func, "argument 'pred' is NULL");
    if (!(tau > 0.0f) || !isfinite(tau)) return lct__fail(LCT_EINVAL, func, "tau is %g; it must be finite and > 0", (double)tau);
    if (n_classes < 1 || n_classes > KNN_MAX_CLASSES)
        return lct__fail(LCT_EINVAL, func, "n_classes is %d; it must be in 1..2^24", (int)n_classes);
    size_t t;
    if (scores && (lct__mul_size(q, (size_t)n_classes, &t) != 0 || t > SIZE_MAX / 4))
        return lct__fail(LCT_ESHAPE, func, "q (%zu) x n_classes (%d) overflows", q, (int)n_classes);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return lct__fail(LCT_EINVAL, func, "labels[%zu] is %d; classes are 0..%d", i, (int)labels[i],
                             (int)n_classes - 1);
    return LCT_OK;
}

int lct_knn_topk(lct_runtime *rt, const float *features, size_t n, size_t d, const float *queries, size_t q, size_t k,
                 int64_t *idx, float *sim)
{
    LCT__REQUIRE(rt);
    LCT__REQUIRE(features);
    LCT__REQUIRE(idx);
    int rc = check_common(__func__, n, d, queries, q, k);
    if (rc) return rc;
    if (!lct__all_finite(features, n * d)) return LCT__FAIL(LCT_ENUMERIC, "features hold NaN or Inf");
    knn_rows rows = {features, NULL, n, d};
    return knn_run(rt, &rows, queries, q, k, idx, sim, NULL);
}

int lct_knn_topk_bank(lct_bank *bank, const float *queries, size_t q, size_t k, int64_t *idx, float *sim)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(idx);
    int rc = check_common(__func__, bank->n, bank->d, queries, q, k);
    if (rc) return rc;
    knn_rows rows = {bank->storage == LCT_BANK_FP32 ? bank->rows : NULL,
                     bank->storage == LCT_BANK_FP16 ? bank->rows : NULL, bank->n, bank->d};
    return knn_run(bank->rt, &rows, queries, q, k, idx, sim, NULL);
}

int lct_knn_classify(lct_runtime *rt, const float *features, const int32_t *labels, size_t n, size_t d,
                     const float *queries, size_t q, size_t k, float tau, int32_t n_classes, int32_t *pred,
                     float *scores)
{
    LCT__REQUIRE(rt);
    LCT__REQUIRE(features);
    int rc = check_common(__func__, n, d, queries, q, k);
    if (rc) return rc;
    rc = check_vote(__func__, labels, n, tau, n_classes, pred, q, scores);
    if (rc) return rc;
    if (!lct__all_finite(features, n * d)) return LCT__FAIL(LCT_ENUMERIC, "features hold NaN or Inf");
    knn_rows rows = {features, NULL, n, d};
    knn_vote v = {labels, tau, n_classes, pred, scores};
    return knn_run(rt, &rows, queries, q, k, NULL, NULL, &v);
}

int lct_knn_classify_bank(lct_bank *bank, const int32_t *labels, const float *queries, size_t q, size_t k, float tau,
                          int32_t n_classes, int32_t *pred, float *scores)
{
    LCT__REQUIRE(bank);
    int rc = check_common(__func__, bank->n, bank->d, queries, q, k);
    if (rc) return rc;
    rc = check_vote(__func__, labels, bank->n, tau, n_classes, pred, q, scores);
    if (rc) return rc;
    knn_rows rows = {bank->storage == LCT_BANK_FP32 ? bank->rows : NULL,
                     bank->storage == LCT_BANK_FP16 ? bank->rows : NULL, bank->n, bank->d};
    knn_vote v = {labels, tau, n_classes, pred, scores};
    return knn_run(bank->rt, &rows, queries, q, k, NULL, NULL, &v);
}
