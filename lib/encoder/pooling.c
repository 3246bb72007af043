/* Max and average pooling (2-d on C×H×W, 1-d on C×L; no padding) and global average pooling. */
#include <float.h>

#include "encoder_internal.h"


int lct__pool_init(lct__layer *l, const char *func)
{
    const char *k = lct__layer_kind_name(l->kind);
    if (l->in.rank < 2)
        return lct__fail(LCT_ESHAPE, func, "%s needs a C x L or C x H x W input, got rank %u", k, l->in.rank);
    if (l->kind == LCT__L_GAP) {
        l->out.rank = 1;
        return LCT_OK;
    }
    if (l->kernel == 0) return lct__fail(LCT_EINVAL, func, "%s: kernel is 0", k);
    if (l->stride == 0) return lct__fail(LCT_EINVAL, func, "%s: stride is 0", k);
    for (uint32_t i = 1; i < l->in.rank; i++) {
        if (l->in.d[i] < l->kernel)
            return lct__fail(LCT_ESHAPE, func, "%s: kernel %u is larger than the input (%u)", k, l->kernel, l->in.d[i]);
        l->out.d[i] = (l->in.d[i] - l->kernel) / l->stride + 1;
    }
    return LCT_OK;
}

size_t lct__pool_ws(const lct__layer *l, size_t batch)
{
    return lct__round16(batch * l->out_size); /* argmax index per output (as int32) */
}

/* 2×2 windows with stride 2 (the common case), four outputs at a time with even/odd shuffles. The first
 * maximum in scan order wins, as in PyTorch; the index is the position in the input plane. */
static inline void max2x2_one(const float *r0, const float *r1, size_t ox, size_t base, size_t w, float *y,
                              int32_t *arg)
{
    float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
    float m = a;
    int32_t k = 0;
    if (b > m) { m = b; k = 1; }
    if (c > m) { m = c; k = 2; }
    if (d > m) { m = d; k = 3; }
    y[ox] = m;
    arg[ox] = (int32_t)(base + 2 * ox) + (k & 1) + (k >> 1) * (int32_t)w;
}

LCT__VEC static void max2x2_row(const float *r0, const float *r1, size_t ow, size_t base, size_t w, float *y,
                                int32_t *arg)
{
    const lct__vi4 lane = {0, 2, 4, 6};
    size_t ox = 0;
    for (; ox + 4 <= ow; ox += 4) {
        lct__v4 l0, h0, l1, h1;
        LCT__LOAD(l0, r0 + 2 * ox);
        LCT__LOAD(h0, r0 + 2 * ox + 4);
        LCT__LOAD(l1, r1 + 2 * ox);
        LCT__LOAD(h1, r1 + 2 * ox + 4);
        lct__v4 a = LCT__SHUF4(l0, h0, 0, 2, 4, 6), b = LCT__SHUF4(l0, h0, 1, 3, 5, 7);
        lct__v4 c = LCT__SHUF4(l1, h1, 0, 2, 4, 6), d = LCT__SHUF4(l1, h1, 1, 3, 5, 7);
        lct__vi4 k = {0, 0, 0, 0}, t, w0 = k + (int32_t)w, w1 = w0 + 1;
        lct__v4 m = a;
        t = b > m; k = (t & 1) | (~t & k); m = (lct__v4)((t & (lct__vi4)b) | (~t & (lct__vi4)m));
        t = c > m; k = (t & w0) | (~t & k); m = (lct__v4)((t & (lct__vi4)c) | (~t & (lct__vi4)m));
        t = d > m; k = (t & w1) | (~t & k); m = (lct__v4)((t & (lct__vi4)d) | (~t & (lct__vi4)m));
        lct__vi4 idx = k + lane + (int32_t)(base + 2 * ox);
        LCT__STORE(y + ox, m);
        LCT__STORE(arg + ox, idx);
    }
    for (; ox < ow; ox++) max2x2_one(r0, r1, ox, base, w, y, arg);
}

LCT__VEC static void unmax2x2_row(const float *dy, const float *y, const int32_t *arg, size_t ow, size_t base,
                                  size_t w, float *d0, float *d1)
{
    const lct__vi4 lane = {0, 2, 4, 6};
    size_t ox = 0;
    for (; ox + 4 <= ow; ox += 4) {
        lct__v4 g;
        lct__vi4 a;
        LCT__LOAD(g, dy + ox);
        LCT__LOAD(a, arg + ox);
        lct__vi4 k = a - lane - (int32_t)(base + 2 * ox), gi = (lct__vi4)g;
        if (y) {
            lct__v4 yv, zero = {0, 0, 0, 0};
            LCT__LOAD(yv, y + ox);
            gi &= yv > zero;
        }
        lct__v4 p0 = (lct__v4)(gi & (k == 0)), p1 = (lct__v4)(gi & (k == 1));
        lct__v4 q0 = (lct__v4)(gi & (k == (int32_t)w)), q1 = (lct__v4)(gi & (k == (int32_t)w + 1));
        /* interleave (p0, p1) into row 0 and (q0, q1) into row 1 */
        lct__v4 r0a = LCT__SHUF4(p0, p1, 0, 4, 1, 5), r0b = LCT__SHUF4(p0, p1, 2, 6, 3, 7);
        lct__v4 r1a = LCT__SHUF4(q0, q1, 0, 4, 1, 5), r1b = LCT__SHUF4(q0, q1, 2, 6, 3, 7);
        LCT__STORE(d0 + 2 * ox, r0a);
        LCT__STORE(d0 + 2 * ox + 4, r0b);
        LCT__STORE(d1 + 2 * ox, r1a);
        LCT__STORE(d1 + 2 * ox + 4, r1b);
    }
    for (; ox < ow; ox++) {
        int32_t k = arg[ox] - (int32_t)(base + 2 * ox);
        float g = y && !(y[ox] > 0.0f) ? 0.0f : dy[ox];
        d0[2 * ox] = k == 0 ? g : 0.0f;
        d0[2 * ox + 1] = k == 1 ? g : 0.0f;
        d1[2 * ox] = k == (int32_t)w ? g : 0.0f;
        d1[2 * ox + 1] = k == (int32_t)w + 1 ? g : 0.0f;
    }
}

static int is_2x2(const lct__geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2;
}

int lct__pool_is_max2x2(const lct__layer *l)
{
    if (l->kind != LCT__L_MAXPOOL || l->in.rank != 3) return 0;
    lct__geom g = lct__geom_of(l);
    return is_2x2(&g);
}

typedef float pool_v8 __attribute__((vector_size(32)));
typedef int32_t pool_vi8 __attribute__((vector_size(32)));

/* Horizontal pairs of a plane with even width, read as one flat run: t = max(x[2i], x[2i+1]), k = 1 where
 * the right one wins (strictly). */
LCT__VEC static void hmax_pairs(const float *x, size_t n, float *t, int32_t *k)
{
    for (size_t i = 0; i < n; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        int32_t r = b > a;
        t[i] = r ? b : a;
        k[i] = r;
    }
}

/* Rows of pooled outputs from the pair maxima of input rows 2·oy and 2·oy + 1, 8 at a time: reads and
 * writes may run up to 7 lanes past a row (into the next row, or the buffers' padding). */
LCT__VEC_ISA static void vmax_rows(const float *t, const int32_t *k, size_t oh, size_t ow, size_t w, float *y,
                                   int32_t *arg)
{
    const pool_vi8 lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
    for (size_t oy = 0; oy < oh; oy++) {
        const float *t0 = t + 2 * oy * ow, *t1 = t0 + ow;
        const int32_t *k0 = k + 2 * oy * ow, *k1 = k0 + ow;
        for (size_t ox = 0; ox < ow; ox += 8) {
            pool_v8 a, b;
            pool_vi8 ka, kb;
            LCT__LOAD(a, t0 + ox);
            LCT__LOAD(b, t1 + ox);
            LCT__LOAD(ka, k0 + ox);
            LCT__LOAD(kb, k1 + ox);
            pool_vi8 down = b > a; /* the lower row wins only if strictly larger: first maximum in scan order */
            pool_v8 m = (pool_v8)((down & (pool_vi8)b) | (~down & (pool_vi8)a));
            pool_vi8 idx = lane2 + (int32_t)(2 * oy * w + 2 * ox) + ((down & kb) | (~down & ka)) + (down & (int32_t)w);
            LCT__STORE(y + oy * ow + ox, m);
            LCT__STORE(arg + oy * ow + ox, idx);
        }
    }
}

void lct__max2x2_plane_fast(const float *x, size_t h, size_t w, float *y, int32_t *arg)
{
    size_t oh = h / 2, ow = w / 2;
    if ((w & 1) || 2 * oh * ow > LCT__FUSE_PLANE / 2) {
        lct__max2x2_plane(x, h, w, y, arg);
        return;
    }
    float t[LCT__FUSE_PLANE / 2 + 8] __attribute__((aligned(64)));
    int32_t k[LCT__FUSE_PLANE / 2 + 8] __attribute__((aligned(64)));
    float yt[LCT__FUSE_PLANE / 4 + 8] __attribute__((aligned(64)));
    int32_t at[LCT__FUSE_PLANE / 4 + 8] __attribute__((aligned(64)));
    hmax_pairs(x, 2 * oh * ow, t, k);
    memset(t + 2 * oh * ow, 0, 8 * sizeof *t);
    memset(k + 2 * oh * ow, 0, 8 * sizeof *k);
    vmax_rows(t, k, oh, ow, w, yt, at);
    memcpy(y, yt, oh * ow * sizeof *y);
    memcpy(arg, at, oh * ow * sizeof *arg);
}

LCT__VEC static void masked(const float *dy, const float *mask, float *t, size_t n)
{
    for (size_t q = 0; q < n; q++) t[q] = mask[q] > 0.0f ? dy[q] : 0.0f;
}

void lct__unmax2x2_scatter(const float *dy, const float *mask, const int32_t *arg, size_t n, size_t hw, float *dx)
{
    memset(dx, 0, hw * sizeof *dx);
    if (mask) {
        /* the mask is applied vectorised first: a branch per output would mispredict about half the time */
        float t[LCT__FUSE_PLANE / 4];
        for (size_t q0 = 0; q0 < n; q0 += LCT__FUSE_PLANE / 4) {
            size_t len = n - q0 < LCT__FUSE_PLANE / 4 ? n - q0 : LCT__FUSE_PLANE / 4;
            masked(dy + q0, mask + q0, t, len);
            for (size_t q = 0; q < len; q++) dx[arg[q0 + q]] = t[q];
        }
    } else {
        for (size_t q = 0; q < n; q++) dx[arg[q]] = dy[q];
    }
}

float *lct__pool_sel(const lct__layer *pool, size_t batch)
{
    return pool->ws + lct__round16(batch * pool->out_size);
}

void lct__max2x2_plane(const float *x, size_t h, size_t w, float *y, int32_t *arg)
{
    size_t oh = h / 2, ow = w / 2;
    for (size_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + 2 * oy * w;
        max2x2_row(r0, r0 + w, ow, 2 * oy * w, w, y + oy * ow, arg + oy * ow);
    }
}

void lct__unmax2x2_plane(const float *dy, const float *mask, const int32_t *arg, size_t h, size_t w, float *dx)
{
    size_t oh = h / 2, ow = w / 2;
    if ((h & 1) || (w & 1)) memset(dx, 0, h * w * sizeof *dx); /* a last row or column no window covers */
    for (size_t oy = 0; oy < oh; oy++)
        unmax2x2_row(dy + oy * ow, mask ? mask + oy * ow : NULL, arg + oy * ow, ow, 2 * oy * w, w, dx + 2 * oy * w,
                     dx + (2 * oy + 1) * w);
}

/* What the plane loops read: GAP planes of s values, or pooling geometry g with its window choices in arg. */
typedef struct pool_job {
    const lct__layer *l;
    lct__geom g;
    size_t s, n;
    int max;
    float inv;
    int32_t *arg;
    const float *x, *dy, *mask;
    float *out; /* y forward, dx backward */
} pool_job;

static void forward_planes(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const pool_job *pj = ctx;
    const float *x = pj->x;
    float *y = pj->out, inv = pj->inv;
    if (pj->l->kind == LCT__L_GAP) {
        size_t s = pj->s;
        for (size_t r = r0; r < r1; r++) {
            float acc = 0.0f;
            for (size_t i = 0; i < s; i++) acc += x[r * s + i];
            y[r] = acc * inv;
        }
        return;
    }
    lct__geom g = pj->g;
    int max = pj->max;
    int32_t *arg = pj->arg;
    if (max && is_2x2(&g)) {
        for (size_t r = r0; r < r1; r++)
            lct__max2x2_plane(x + r * g.h * g.w, g.h, g.w, y + r * g.oh * g.ow, arg + r * g.oh * g.ow);
        return;
    }
    for (size_t r = r0; r < r1; r++) {
        const float *xc = x + r * g.h * g.w;
        float *yc = y + r * g.oh * g.ow;
        int32_t *ac = arg + r * g.oh * g.ow;
        for (size_t oy = 0; oy < g.oh; oy++)
            for (size_t ox = 0; ox < g.ow; ox++) {
                size_t y0 = oy * g.sh, x0 = ox * g.sw;
                if (max) {
                    float best = -FLT_MAX;
                    size_t bi = y0 * g.w + x0;
                    int first = 1;
                    for (size_t i = 0; i < g.kh; i++)
                        for (size_t j = 0; j < g.kw; j++) {
                            size_t idx = (y0 + i) * g.w + x0 + j;
                            float v = xc[idx];
                            if (first || v > best || v != v) {
                                best = v;
                                bi = idx;
                                first = 0;
                            }
                        }
                    yc[oy * g.ow + ox] = best;
                    ac[oy * g.ow + ox] = (int32_t)bi;
                } else {
                    float acc = 0.0f;
                    for (size_t i = 0; i < g.kh; i++)
                        for (size_t j = 0; j < g.kw; j++) acc += xc[(y0 + i) * g.w + x0 + j];
                    yc[oy * g.ow + ox] = acc * inv;
                }
            }
    }
}

/* The job of a pass over B samples' planes; returns their number. */
static size_t pool_job_of(const lct__layer *l, size_t B, pool_job *pj)
{
    pj->l = l;
    if (l->kind == LCT__L_GAP) {
        size_t c = l->in.d[0], s = l->in_size / c;
        pj->s = s;
        pj->inv = 1.0f / (float)s;
        return B * c;
    }
    pj->g = lct__geom_of(l);
    pj->max = l->kind == LCT__L_MAXPOOL;
    pj->arg = (int32_t *)l->ws;
    pj->inv = 1.0f / (float)(pj->g.kh * pj->g.kw);
    pj->n = pj->g.oh * pj->g.ow;
    return B * pj->g.c;
}

void lct__pool_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t B = p->batch;
    pool_job pj = {.x = x, .out = y};
    size_t planes = pool_job_of(l, B, &pj);
    lct__parallel(p->rt, B * l->in_size > LCT__PAR_MIN ? p->threads : 1, planes, 1, forward_planes, &pj);
}

static void backward_planes(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const pool_job *pj = ctx;
    const float *dy = pj->dy, *mask = pj->mask;
    float *dx = pj->out, inv = pj->inv;
    if (pj->l->kind == LCT__L_GAP) {
        size_t s = pj->s;
        for (size_t r = r0; r < r1; r++)
            for (size_t i = 0; i < s; i++) dx[r * s + i] = dy[r] * inv;
        return;
    }
    lct__geom g = pj->g;
    int max = pj->max;
    const int32_t *arg = pj->arg;
    if (max && is_2x2(&g)) {
        size_t n = pj->n;
        for (size_t r = r0; r < r1; r++)
            lct__unmax2x2_plane(dy + r * n, mask ? mask + r * n : NULL, arg + r * n, g.h, g.w, dx + r * g.h * g.w);
        return;
    }
    for (size_t r = r0; r < r1; r++) {
        float *dxc = dx + r * g.h * g.w;
        const float *dyc = dy + r * g.oh * g.ow;
        memset(dxc, 0, g.h * g.w * sizeof *dxc);
        if (max) {
            const int32_t *ac = arg + r * g.oh * g.ow;
            const float *mc = mask ? mask + r * g.oh * g.ow : NULL;
            for (size_t o = 0; o < g.oh * g.ow; o++)
                if (!mc || mc[o] > 0.0f) dxc[ac[o]] += dyc[o];
        } else {
            for (size_t oy = 0; oy < g.oh; oy++)
                for (size_t ox = 0; ox < g.ow; ox++) {
                    float d = dyc[oy * g.ow + ox] * inv;
                    for (size_t i = 0; i < g.kh; i++)
                        for (size_t j = 0; j < g.kw; j++) dxc[(oy * g.sh + i) * g.w + ox * g.sw + j] += d;
                }
        }
    }
}

void lct__pool_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                        float *dx)
{
    (void)x;
    size_t B = p->batch;
    pool_job pj = {.dy = dy, .out = dx};
    size_t planes = pool_job_of(l, B, &pj);
    pj.mask = pj.max && l->relu_mask ? y : NULL;
    lct__parallel(p->rt, B * l->in_size > LCT__PAR_MIN ? p->threads : 1, planes, 1, backward_planes, &pj);
}

static int spec_pool(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "%s %u s%u", lct__layer_kind_name(l->kind), l->kernel, l->stride);
}

/* Only a max pool keeps its window choices. */
const lct__layer_ops lct__maxpool_ops = {lct__pool_init, lct__no_tensors, lct__pool_ws, lct__pool_forward,
                                         lct__pool_backward, spec_pool, 0};
const lct__layer_ops lct__avgpool_ops = {lct__pool_init, lct__no_tensors, NULL, lct__pool_forward, lct__pool_backward,
                                         spec_pool, 0};
const lct__layer_ops lct__gap_ops = {lct__pool_init, lct__no_tensors, NULL, lct__pool_forward, lct__pool_backward,
                                     lct__spec_name, 0};
