/* Transpose of a rank-2 sample (C×L ↔ L×C); flatten, a plain copy. */
#include "encoder_internal.h"

int lct__flatten_init(lct__layer *l, const char *func)
{
    l->out.rank = 1;
    l->out.d[0] = (uint32_t)l->in_size;
    if (l->in_size > UINT32_MAX)
        return lct__fail(LCT_ESHAPE, func, "flatten: %zu features do not fit a 32-bit dimension", l->in_size);
    return LCT_OK;
}

int lct__transpose_init(lct__layer *l, const char *func)
{
    if (l->in.rank != 2)
        return lct__fail(LCT_ESHAPE, func, "transpose needs a rank-2 input (C x L), got rank %u", l->in.rank);
    l->out.d[0] = l->in.d[1];
    l->out.d[1] = l->in.d[0];
    return LCT_OK;
}

typedef struct transpose_job {
    size_t rows, cols, n;
    const float *x;
    float *y;
} transpose_job;

/* y (cols x rows) = xᵀ (x: rows x cols) */
static void transpose_one(const float *x, size_t rows, size_t cols, float *y)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) y[j * rows + i] = x[i * cols + j];
}

static void transpose_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const transpose_job *cx = ctx;
    for (size_t b = b0; b < b1; b++) transpose_one(cx->x + b * cx->n, cx->rows, cx->cols, cx->y + b * cx->n);
}

static void transpose(const lct__pass *p, size_t rows, size_t cols, const float *x, float *y)
{
    size_t n = rows * cols;
    transpose_job cx = {.rows = rows, .cols = cols, .n = n, .x = x, .y = y};
    lct__parallel(p->rt, p->batch * n > LCT__PAR_MIN ? p->threads : 1, p->batch, 1, transpose_samples, &cx);
}

void lct__transpose_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    transpose(p, l->in.d[0], l->in.d[1], x, y);
}

void lct__transpose_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                             float *dx)
{
    (void)x;
    (void)y;
    transpose(p, l->out.d[0], l->out.d[1], dy, dx);
}

/* Flatten keeps the memory as it is: a copy when it runs at all (the plan aliases it). */
void lct__flatten_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    lct__copy(p, p->batch * l->in_size, x, y);
}

void lct__flatten_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                           float *dx)
{
    (void)x;
    (void)y;
    lct__copy(p, p->batch * l->in_size, dy, dx);
}

const lct__layer_ops lct__flatten_ops = {lct__flatten_init, lct__no_tensors, NULL, lct__flatten_forward,
                                         lct__flatten_backward, lct__spec_name, 0};
const lct__layer_ops lct__transpose_ops = {lct__transpose_init, lct__no_tensors, NULL, lct__transpose_forward,
                                           lct__transpose_backward, lct__spec_name, 0};
