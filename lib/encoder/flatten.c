/* Transpose of a rank-2 sample (C×L ↔ L×C); flatten is a plain copy (ops.c). */
#include "layer.h"

static void transpose(const lct__pass *p, size_t rows, size_t cols, const float *x, float *y)
{
    size_t n = rows * cols;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (p->batch * n > LCT__PAR_MIN)
    for (size_t b = 0; b < p->batch; b++) {
        const float *xb = x + b * n;
        float *yb = y + b * n;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) yb[j * rows + i] = xb[i * cols + j];
    }
}

void lct__transpose_forward(const lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    transpose(p, l->in.d[0], l->in.d[1], x, y);
}

void lct__transpose_backward(const lct__layer *l, const lct__pass *p, const float *dy, float *dx)
{
    transpose(p, l->out.d[0], l->out.d[1], dy, dx);
}
