/* Small shared kernels of the encoder: column sums and parallel copies. */
#include "layer.h"

#define COLBLOCK 256

LCT__VEC static void colsum_block(const float *a, size_t rows, size_t cols, size_t j0, size_t j1, float *out)
{
    for (size_t i = 0; i < rows; i++) {
        const float *r = a + i * cols;
        for (size_t j = j0; j < j1; j++) out[j] += r[j];
    }
}

void lct__colsum_add(const lct__pass *p, const float *a, size_t rows, size_t cols, float *out)
{
    /* Each column is summed over the rows in order by one thread: the same result for any thread count. */
    size_t nblk = (cols + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (rows * cols > LCT__PAR_MIN && nblk > 1)
    for (size_t b = 0; b < nblk; b++) {
        size_t j0 = b * COLBLOCK, j1 = j0 + COLBLOCK < cols ? j0 + COLBLOCK : cols;
        colsum_block(a, rows, cols, j0, j1, out);
    }
}

void lct__copy(const lct__pass *p, size_t n, const float *x, float *y)
{
    if (x == y) return;
    const size_t blk = 16384;
    size_t nblk = (n + blk - 1) / blk;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (n > 4 * LCT__PAR_MIN)
    for (size_t b = 0; b < nblk; b++) {
        size_t i0 = b * blk, len = i0 + blk < n ? blk : n - i0;
        memcpy(y + i0, x + i0, len * sizeof *y);
    }
}
