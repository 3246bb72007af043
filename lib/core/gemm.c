/*
 * The library's single GEMM entry: validates everything BLIS would abort on. BLIS runs single-threaded
 * on the kernel set the library chose; a product with threads splits C into column (or row) blocks
 * that run as the tasks of a parallel region, so it obeys the host's scheduler like every other loop.
 * BLIS's small-matrix ("sup") path is turned off per call: it picks its k-blocking from m and n, so a
 * block would sum in another order than the whole product. On the blocked path the k-blocking
 * depends on k alone, and every element's sum runs in the same order for any split.
 */
#include <blis.h>
#include <math.h>

#include "internal.h"
#include "kernels.h"

/* Products below this many multiply-adds run on one thread: a region costs more than it saves. */
#define PAR_MIN ((size_t)1 << 17)
/* Blocks per thread (a task that starts late finds the rest taken), and their alignment in rows or
 * columns, a multiple of the kernels' micro-tiles. */
#define BLOCKS_PER_THREAD 2
#define BLOCK_ALIGN 16

typedef struct gemm_job {
    int ta, tb, split_n;
    size_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_job;

/* C[i0:i1, j0:j1] on one thread. */
static void gemm_block(const gemm_job *g, size_t i0, size_t i1, size_t j0, size_t j1)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads_only(1, &rntm);
    bli_rntm_disable_l3_sup(&rntm);
    float al = g->alpha, be = g->beta;
    const float *a = g->a + (g->ta ? i0 : i0 * g->lda), *b = g->b + (g->tb ? j0 * g->ldb : j0);
    bli_sgemm_ex(g->ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, g->tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 (dim_t)(i1 - i0), (dim_t)(j1 - j0), (dim_t)g->k, &al, (float *)a, (inc_t)g->lda, 1, (float *)b,
                 (inc_t)g->ldb, 1, &be, g->c + i0 * g->ldc + j0, (inc_t)g->ldc, 1, lct__kernels_context(), &rntm);
}

static void gemm_range(void *ctx, size_t begin, size_t end, size_t slot)
{
    (void)slot;
    const gemm_job *g = ctx;
    if (g->split_n) gemm_block(g, 0, g->m, begin, end);
    else gemm_block(g, begin, end, 0, g->n);
}

/* 1 if a matrix of `rows` rows of `len` floats, `ld` apart, fits one buffer that can exist. */
static int extent_fits(size_t rows, size_t ld, size_t len)
{
    size_t e;
    return lct__mul_size(rows - 1, ld, &e) == 0 && e <= SIZE_MAX - len && lct__fits(e + len, sizeof(float));
}

static int gemm_impl(lct_runtime *rt, int threads, const char *func, int trans_a, int trans_b,
                     size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                     const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    if (rt == NULL) return lct__fail(LCT_EINVAL, func, "argument 'rt' is NULL");
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
        return lct__fail(LCT_EINVAL, func, "trans_a is %d and trans_b is %d; each must be 0 or 1", trans_a,
                         trans_b);
    if (!isfinite(alpha) || !isfinite(beta))
        return lct__fail(LCT_EINVAL, func, "alpha (%g) and beta (%g) must be finite", (double)alpha,
                         (double)beta);
    const size_t lim = (size_t)INT64_MAX / 4;
    if (m > lim || n > lim || k > lim || lda > lim || ldb > lim || ldc > lim)
        return lct__fail(LCT_ESHAPE, func, "a size or stride exceeds %zu", lim);
    if (m == 0 || n == 0) return LCT_OK;
    if (c == NULL) return lct__fail(LCT_EINVAL, func, "argument 'c' is NULL");
    if (ldc < n) return lct__fail(LCT_ESHAPE, func, "ldc (%zu) is smaller than n (%zu)", ldc, n);
    if (!extent_fits(m, ldc, n))
        return lct__fail(LCT_ESHAPE, func, "C (%zu rows of stride %zu) is larger than any buffer", m, ldc);
    if (k > 0 && alpha != 0.0f) {
        if (a == NULL) return lct__fail(LCT_EINVAL, func, "argument 'a' is NULL");
        if (b == NULL) return lct__fail(LCT_EINVAL, func, "argument 'b' is NULL");
        size_t arow = trans_a ? m : k, brow = trans_b ? k : n;
        if (lda < arow) return lct__fail(LCT_ESHAPE, func, "lda (%zu) is smaller than a row of A (%zu)", lda, arow);
        if (ldb < brow) return lct__fail(LCT_ESHAPE, func, "ldb (%zu) is smaller than a row of B (%zu)", ldb, brow);
        if (!extent_fits(trans_a ? k : m, lda, arow) || !extent_fits(trans_b ? n : k, ldb, brow))
            return lct__fail(LCT_ESHAPE, func, "A or B (strides %zu and %zu) is larger than any buffer", lda, ldb);
    } else {
        /* Nothing to multiply: C = beta * C without reading A or B (BLIS would still touch them). */
        for (size_t i = 0; i < m; i++) {
            float *row = c + i * ldc;
            if (beta == 0.0f) memset(row, 0, n * sizeof *row);
            else for (size_t j = 0; j < n; j++) row[j] *= beta;
        }
        return LCT_OK;
    }
    gemm_job g = {.ta = trans_a, .tb = trans_b, .split_n = n >= m, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb,
                  .ldc = ldc, .alpha = alpha, .beta = beta, .a = a, .b = b, .c = c};
    size_t mn = m * n, len = g.split_n ? n : m; /* m, n <= INT64_MAX / 4, but their product may not fit */
    int big = mn / m == n && (k == 0 || mn <= SIZE_MAX / k) ? mn * k >= PAR_MIN : 1;
    if (threads > 1 && big && len >= 2 * BLOCK_ALIGN) {
        size_t blocks = (size_t)threads * BLOCKS_PER_THREAD;
        size_t block = (len + blocks - 1) / blocks;
        block = (block + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
        lct__parallel(rt, threads, len, block, gemm_range, &g);
    } else {
        gemm_block(&g, 0, m, 0, n);
    }
    return LCT_OK;
}

int lct__gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
              const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return gemm_impl(rt, rt ? lct__threads(rt) : 1, "lct_gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b,
                     ldb, beta, c, ldc);
}

int lct__gemm1(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
               const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return gemm_impl(rt, 1, "lct_gemm", trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int lct_gemm(lct_runtime *rt, int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
             const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c, size_t ldc)
{
    return lct__gemm(rt, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
