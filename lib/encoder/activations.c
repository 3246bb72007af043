/* ReLU and dropout. Dropout masks come from one generator per (stream, step, layer, sample). */
#include "encoder_internal.h"

#define BLK 16384

LCT__VEC static void relu_fwd(size_t n, const float *x, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

LCT__VEC static void relu_bwd(size_t n, const float *y, const float *dy, float *dx)
{
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ReLU in blocks of BLK: forward when dy is NULL (in = x), else backward (in = y, the layer's output). */
typedef struct relu_job {
    size_t n;
    const float *in, *dy;
    float *out;
} relu_job;

static void relu_blocks(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const relu_job *cx = ctx;
    size_t n = cx->n;
    for (size_t b = b0; b < b1; b++) {
        size_t i0 = b * BLK, len = i0 + BLK < n ? BLK : n - i0;
        if (cx->dy) relu_bwd(len, cx->in + i0, cx->dy + i0, cx->out + i0);
        else relu_fwd(len, cx->in + i0, cx->out + i0);
    }
}

static void relu(const lct__pass *p, size_t n, const float *in, const float *dy, float *out)
{
    relu_job cx = {.n = n, .in = in, .dy = dy, .out = out};
    lct__parallel(p->rt, n > LCT__PAR_MIN ? p->threads : 1, (n + BLK - 1) / BLK, 1, relu_blocks, &cx);
}

void lct__relu_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    relu(p, p->batch * l->in_size, x, NULL, y);
}

void lct__relu_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                        float *dx)
{
    (void)x;
    relu(p, p->batch * l->in_size, y, dy, dx);
}

int lct__dropout_init(lct__layer *l, const char *func)
{
    if (!(l->p >= 0.0f && l->p < 1.0f))
        return lct__fail(LCT_EINVAL, func, "dropout p is %g; it must be in [0, 1)", (double)l->p);
    return LCT_OK;
}

size_t lct__dropout_ws(const lct__layer *l, size_t batch)
{
    return lct__round16(batch * l->in_size); /* the mask: 0 or 1/(1-p) per element */
}

LCT__VEC static void mul(size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

/* out = in · mask per sample; with make_mask set, each sample's mask is drawn first (forward). */
typedef struct dropout_job {
    size_t n;
    int make_mask;
    uint64_t seed, base;
    float keep, scale;
    const float *in;
    float *mask, *out;
} dropout_job;

static void dropout_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const dropout_job *cx = ctx;
    size_t n = cx->n;
    float keep = cx->keep, scale = cx->scale;
    for (size_t b = b0; b < b1; b++) {
        float *m = cx->mask + b * n;
        if (cx->make_mask) {
            lct__rng r;
            lct__rng_seed(&r, cx->seed, lct__hash64(cx->base, b));
            for (size_t i = 0; i < n; i++) m[i] = lct__rng_uniform(&r) < keep ? scale : 0.0f;
        }
        mul(n, cx->in + b * n, m, cx->out + b * n);
    }
}

static void dropout(const lct__pass *p, dropout_job *cx)
{
    lct__parallel(p->rt, p->batch * cx->n > LCT__PAR_MIN ? p->threads : 1, p->batch, 1, dropout_samples, cx);
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
    dropout_job cx = {.n = n, .make_mask = 1, .seed = p->seed, .base = base, .keep = keep, .scale = scale, .in = x,
                      .mask = l->ws, .out = y};
    dropout(p, &cx);
}

void lct__dropout_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                           float *dx)
{
    (void)x;
    (void)y;
    size_t n = l->in_size;
    if (!p->train || l->p == 0.0f) {
        lct__copy(p, p->batch * n, dy, dx);
        return;
    }
    dropout_job cx = {.n = n, .in = dy, .mask = l->ws, .out = dx};
    dropout(p, &cx);
}

static int relu_init(lct__layer *l, const char *func)
{
    (void)l;
    (void)func;
    return LCT_OK;
}

static int spec_dropout(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "dropout %.9g", (double)l->p);
}

const lct__layer_ops lct__relu_ops = {relu_init, lct__no_tensors, NULL, lct__relu_forward, lct__relu_backward,
                                      lct__spec_name, 0};
const lct__layer_ops lct__dropout_ops = {lct__dropout_init, lct__no_tensors, lct__dropout_ws, lct__dropout_forward,
                                         lct__dropout_backward, spec_dropout, 0};
