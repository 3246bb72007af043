/* Transpose of a rank-2 sample (C×L ↔ L×C); flatten is a plain copy (ops.c). */
#include "layer.h"

typedef struct transpose_job {
    size_t rows, cols, n;
    const float *x;
    float *y;
} transpose_job;

static void transpose_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const transpose_job *cx = ctx;
    size_t rows = cx->rows, cols = cx->cols, n = cx->n;
    for (size_t b = b0; b < b1; b++) {
        const float *xb = cx->x + b * n;
        float *yb = cx->y + b * n;
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++) yb[j * rows + i] = xb[i * cols + j];
    }
}

static void transpose(const lct__pass *p, size_t rows, size_t cols, const float *x, float *y)
{
    size_t n = rows * cols;
    transpose_job cx = {.rows = rows, .cols = cols, .n = n, .x = x, .y = y};
    lct__parallel(p->rt, p->batch * n > LCT__PAR_MIN ? p->threads : 1, p->batch, 1, transpose_samples, &cx);
}

void lct__transpose_forward(const lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    transpose(p, l->in.d[0], l->in.d[1], x, y);
}

void lct__transpose_backward(const lct__layer *l, const lct__pass *p, const float *dy, float *dx)
{
    transpose(p, l->out.d[0], l->out.d[1], dy, dx);
}
