/* The library's single GEMM entry: validates everything BLIS would abort on. */
#include <blis.h>
#include <math.h>

#include "internal.h"

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
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads_only(threads, &rntm);
    float al = alpha, be = beta;
    bli_sgemm_ex(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
                 (dim_t)m, (dim_t)n, (dim_t)k, &al, (float *)a, (inc_t)lda, 1, (float *)b, (inc_t)ldb, 1, &be,
                 c, (inc_t)ldc, 1, NULL, &rntm);
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
