/*
 * conv1d and conv2d through im2col + GEMM, one sample at a time, the batch split
 * into LCT__CHUNKS fixed chunks run in parallel (one single-threaded GEMM per
 * sample). Weight gradients are summed per chunk, then over chunks in order, so
 * they do not depend on the thread count. conv1d is conv2d with H = 1.
 */
#include "layer.h"

typedef struct geom {
    size_t c, h, w;       /* input */
    size_t kh, kw, sh, sw, ph, pw;
    size_t o, oh, ow;     /* output */
    size_t k, n;          /* GEMM: K = c·kh·kw rows of col, N = oh·ow columns */
} geom;

static geom geometry(const lct__layer *l)
{
    geom g;
    int two = l->kind == LCT__L_CONV2D;
    g.c = l->in.d[0];
    g.h = two ? l->in.d[1] : 1;
    g.w = two ? l->in.d[2] : l->in.d[1];
    g.kh = two ? l->kernel : 1;
    g.kw = l->kernel;
    g.sh = two ? l->stride : 1;
    g.sw = l->stride;
    g.ph = two ? l->padding : 0;
    g.pw = l->padding;
    g.o = l->units;
    g.oh = two ? l->out.d[1] : 1;
    g.ow = two ? l->out.d[2] : l->out.d[1];
    g.k = g.c * g.kh * g.kw;
    g.n = g.oh * g.ow;
    return g;
}

int lct__conv_init(lct__layer *l, const char *func)
{
    int two = l->kind == LCT__L_CONV2D;
    const char *k = two ? "conv2d" : "conv1d";
    if (l->units == 0) return lct__fail(LCT_EINVAL, func, "%s: out_channels is 0", k);
    if (l->kernel == 0) return lct__fail(LCT_EINVAL, func, "%s: kernel is 0", k);
    if (l->stride == 0) return lct__fail(LCT_EINVAL, func, "%s: stride is 0", k);
    if (l->kernel > 65536 || l->padding > 65536 || l->stride > 65536)
        return lct__fail(LCT_EINVAL, func, "%s: kernel %u, stride %u or padding %u exceeds 65536", k, l->kernel,
                         l->stride, l->padding);
    if (l->in.rank != (two ? 3u : 2u))
        return lct__fail(LCT_ESHAPE, func, "%s needs a rank-%d input (%s), got rank %u", k, two ? 3 : 2,
                         two ? "C x H x W" : "C x L", l->in.rank);
    for (uint32_t i = 1; i < l->in.rank; i++) {
        uint64_t span = (uint64_t)l->in.d[i] + 2u * l->padding;
        if (span < l->kernel)
            return lct__fail(LCT_ESHAPE, func, "%s: kernel %u is larger than the padded input (%llu)", k, l->kernel,
                             (unsigned long long)span);
        l->out.d[i] = (uint32_t)((span - l->kernel) / l->stride + 1);
    }
    l->out.d[0] = l->units;
    size_t kk;
    if (lct__mul_size((size_t)l->in.d[0] * l->kernel, two ? l->kernel : 1, &kk) || kk > ((size_t)1 << 32))
        return lct__fail(LCT_ESHAPE, func, "%s: weight too large", k);
    return LCT_OK;
}

static size_t chunks(size_t batch)
{
    return batch < LCT__CHUNKS ? batch : LCT__CHUNKS;
}

/* 1×1 kernels with stride 1 and no padding need no im2col: the input is already the column matrix. */
static int direct(const geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

size_t lct__conv_ws(const lct__layer *l, size_t batch)
{
    geom g = geometry(l);
    size_t per = lct__round16(g.k * g.n) + lct__round16(g.o * g.k) + lct__round16(g.o);
    return chunks(batch) * per;
}

static void im2col(const geom *g, const float *x, float *col)
{
    for (size_t c = 0; c < g->c; c++)
        for (size_t i = 0; i < g->kh; i++)
            for (size_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * g->n;
                for (size_t oy = 0; oy < g->oh; oy++) {
                    float *dst = row + oy * g->ow;
                    ptrdiff_t iy = (ptrdiff_t)(oy * g->sh + i) - (ptrdiff_t)g->ph;
                    if (iy < 0 || iy >= (ptrdiff_t)g->h) {
                        memset(dst, 0, g->ow * sizeof *dst);
                        continue;
                    }
                    const float *src = x + (c * g->h + (size_t)iy) * g->w;
                    ptrdiff_t off = (ptrdiff_t)j - (ptrdiff_t)g->pw;
                    if (g->sw == 1) {
                        /* valid ox: 0 <= ox + off < w */
                        ptrdiff_t lo = off < 0 ? -off : 0, hi = (ptrdiff_t)g->w - off;
                        if (hi > (ptrdiff_t)g->ow) hi = (ptrdiff_t)g->ow;
                        if (hi < lo) hi = lo;
                        for (ptrdiff_t ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                        if (hi > lo) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
                        for (ptrdiff_t ox = hi; ox < (ptrdiff_t)g->ow; ox++) dst[ox] = 0.0f;
                    } else {
                        for (size_t ox = 0; ox < g->ow; ox++) {
                            ptrdiff_t ix = (ptrdiff_t)(ox * g->sw) + off;
                            dst[ox] = ix >= 0 && ix < (ptrdiff_t)g->w ? src[ix] : 0.0f;
                        }
                    }
                }
            }
}

/* dx += col2im(dcol); dx must be zeroed by the caller. */
static void col2im(const geom *g, const float *col, float *dx)
{
    for (size_t c = 0; c < g->c; c++)
        for (size_t i = 0; i < g->kh; i++)
            for (size_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * g->n;
                for (size_t oy = 0; oy < g->oh; oy++) {
                    const float *src = row + oy * g->ow;
                    ptrdiff_t iy = (ptrdiff_t)(oy * g->sh + i) - (ptrdiff_t)g->ph;
                    if (iy < 0 || iy >= (ptrdiff_t)g->h) continue;
                    float *dst = dx + (c * g->h + (size_t)iy) * g->w;
                    ptrdiff_t off = (ptrdiff_t)j - (ptrdiff_t)g->pw;
                    for (size_t ox = 0; ox < g->ow; ox++) {
                        ptrdiff_t ix = (ptrdiff_t)(ox * g->sw) + off;
                        if (ix >= 0 && ix < (ptrdiff_t)g->w) dst[ix] += src[ox];
                    }
                }
            }
}

void lct__conv_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    geom g = geometry(l);
    size_t nch = chunks(p->batch), per = lct__round16(g.k * g.n) + lct__round16(g.o * g.k) + lct__round16(g.o);
    size_t in_size = l->in_size, out_size = l->out_size;
    const float *w = l->value[0], *bias = l->has_bias ? l->value[1] : NULL;
    int dir = direct(&g);
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t c = 0; c < nch; c++) {
        float *col = l->ws + c * per;
        size_t b0 = p->batch * c / nch, b1 = p->batch * (c + 1) / nch;
        for (size_t b = b0; b < b1; b++) {
            const float *xb = x + b * in_size;
            float *yb = y + b * out_size;
            if (!dir) im2col(&g, xb, col);
            if (bias)
                for (size_t o = 0; o < g.o; o++)
                    for (size_t q = 0; q < g.n; q++) yb[o * g.n + q] = bias[o];
            lct__gemm1(p->rt, 0, 0, g.o, g.n, g.k, 1.0f, w, g.k, dir ? xb : col, g.n, bias ? 1.0f : 0.0f, yb, g.n);
        }
    }
}

void lct__conv_backward(lct__layer *l, const lct__pass *p, const float *x, const float *dy, float *dx)
{
    geom g = geometry(l);
    size_t nch = chunks(p->batch), per = lct__round16(g.k * g.n) + lct__round16(g.o * g.k) + lct__round16(g.o);
    size_t in_size = l->in_size, out_size = l->out_size;
    const float *w = l->value[0];
    int dir = direct(&g), bias = l->has_bias != 0;
#pragma omp parallel for num_threads(p->threads) schedule(static)
    for (size_t c = 0; c < nch; c++) {
        float *col = l->ws + c * per;
        float *dw = col + lct__round16(g.k * g.n), *db = dw + lct__round16(g.o * g.k);
        size_t b0 = p->batch * c / nch, b1 = p->batch * (c + 1) / nch;
        for (size_t b = b0; b < b1; b++) {
            const float *xb = x + b * in_size, *dyb = dy + b * out_size;
            if (!dir) im2col(&g, xb, col);
            /* partial dW of this chunk = Σ_b dy_b colᵀ (the first sample overwrites) */
            lct__gemm1(p->rt, 0, 1, g.o, g.k, g.n, 1.0f, dyb, g.n, dir ? xb : col, g.n, b == b0 ? 0.0f : 1.0f, dw,
                       g.k);
            if (bias)
                for (size_t o = 0; o < g.o; o++) {
                    float s = 0.0f;
                    for (size_t q = 0; q < g.n; q++) s += dyb[o * g.n + q];
                    db[o] = b == b0 ? s : db[o] + s;
                }
            if (dx) {
                float *dxb = dx + b * in_size;
                if (dir) {
                    lct__gemm1(p->rt, 1, 0, g.k, g.n, g.o, 1.0f, w, g.k, dyb, g.n, 0.0f, dxb, g.n);
                } else {
                    /* the column buffer is free again once this sample's dW is done */
                    lct__gemm1(p->rt, 1, 0, g.k, g.n, g.o, 1.0f, w, g.k, dyb, g.n, 0.0f, col, g.n);
                    memset(dxb, 0, in_size * sizeof *dxb);
                    col2im(&g, col, dxb);
                }
            }
        }
    }
    /* Sum the chunks in order, element by element. */
    size_t nw = g.o * g.k;
    float *gw = l->grad[0];
#pragma omp parallel for num_threads(p->threads) schedule(static) if (nw * nch > LCT__PAR_MIN)
    for (size_t i = 0; i < nw; i++) {
        float s = gw[i];
        for (size_t c = 0; c < nch; c++) s += l->ws[c * per + lct__round16(g.k * g.n) + i];
        gw[i] = s;
    }
    if (bias) {
        float *gb = l->grad[1];
        for (size_t o = 0; o < g.o; o++) {
            float s = gb[o];
            for (size_t c = 0; c < nch; c++) s += l->ws[c * per + lct__round16(g.k * g.n) + lct__round16(g.o * g.k) + o];
            gb[o] = s;
        }
    }
}
