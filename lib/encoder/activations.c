/* ReLU and dropout. Dropout masks come from one generator per (stream, step, layer, sample). */
#include "layer.h"

#define BLK 16384

LCT__VEC static void relu_fwd(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

LCT__VEC static void relu_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void lct__relu_forward(const lct__pass *p, size_t n, const float *x, float *y)
{
    size_t nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (n > LCT__PAR_MIN)
    for (size_t b = 0; b < nblk; b++) {
        size_t i0 = b * BLK, len = i0 + BLK < n ? BLK : n - i0;
        relu_fwd(len, x + i0, y + i0);
    }
}

void lct__relu_backward(const lct__pass *p, size_t n, const float *y, const float *dy, float *dx)
{
    size_t nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (n > LCT__PAR_MIN)
    for (size_t b = 0; b < nblk; b++) {
        size_t i0 = b * BLK, len = i0 + BLK < n ? BLK : n - i0;
        relu_bwd(len, y + i0, dy + i0, dx + i0);
    }
}

size_t lct__dropout_ws(const lct__layer *l, size_t batch)
{
    return lct__round16(batch * l->in_size); /* the mask: 0 or 1/(1-p) per element */
}

LCT__VEC static void mul(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

void lct__dropout_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t n = l->in_size;
    if (!p->train || l->p == 0.0f) {
        lct__copy(p, p->batch * n, x, y);
        return;
    }
    float keep = 1.0f - l->p, scale = 1.0f / keep;
    uint64_t base = lct__hash64(lct__hash64(p->stream, p->step), l->index);
#pragma omp parallel for num_threads(p->threads) schedule(static) if (p->batch * n > LCT__PAR_MIN)
    for (size_t b = 0; b < p->batch; b++) {
        lct__rng r;
        lct__rng_seed(&r, p->seed, lct__hash64(base, b));
        float *m = l->ws + b * n;
        for (size_t i = 0; i < n; i++) m[i] = lct__rng_uniform(&r) < keep ? scale : 0.0f;
        mul(n, x + b * n, m, y + b * n);
    }
}

void lct__dropout_backward(lct__layer *l, const lct__pass *p, const float *dy, float *dx)
{
    size_t n = l->in_size;
    if (!p->train || l->p == 0.0f) {
        lct__copy(p, p->batch * n, dy, dx);
        return;
    }
#pragma omp parallel for num_threads(p->threads) schedule(static) if (p->batch * n > LCT__PAR_MIN)
    for (size_t b = 0; b < p->batch; b++) mul(n, dy + b * n, l->ws + b * n, dx + b * n);
}
