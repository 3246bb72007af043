/* Max and average pooling (2-d on C×H×W, 1-d on C×L; no padding) and global average pooling. */
#include <float.h>

#include "layer.h"

typedef struct pgeom {
    size_t c, h, w, kh, kw, sh, sw, oh, ow;
} pgeom;

static pgeom pool_geom(const lct__layer *l)
{
    pgeom g;
    int two = l->in.rank == 3;
    g.c = l->in.d[0];
    g.h = two ? l->in.d[1] : 1;
    g.w = two ? l->in.d[2] : l->in.d[1];
    g.kh = two ? l->kernel : 1;
    g.kw = l->kernel;
    g.sh = two ? l->stride : 1;
    g.sw = l->stride;
    g.oh = two ? l->out.d[1] : 1;
    g.ow = two ? l->out.d[2] : l->out.d[1];
    return g;
}

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

void lct__pool_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t B = p->batch;
    if (l->kind == LCT__L_GAP) {
        size_t c = l->in.d[0], s = l->in_size / c;
        float inv = 1.0f / (float)s;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * l->in_size > LCT__PAR_MIN)
        for (size_t r = 0; r < B * c; r++) {
            float acc = 0.0f;
            for (size_t i = 0; i < s; i++) acc += x[r * s + i];
            y[r] = acc * inv;
        }
        return;
    }
    pgeom g = pool_geom(l);
    int max = l->kind == LCT__L_MAXPOOL;
    int32_t *arg = (int32_t *)l->ws;
    float inv = 1.0f / (float)(g.kh * g.kw);
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * l->in_size > LCT__PAR_MIN)
    for (size_t r = 0; r < B * g.c; r++) {
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

void lct__pool_backward(lct__layer *l, const lct__pass *p, const float *dy, float *dx)
{
    size_t B = p->batch;
    if (l->kind == LCT__L_GAP) {
        size_t c = l->in.d[0], s = l->in_size / c;
        float inv = 1.0f / (float)s;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * l->in_size > LCT__PAR_MIN)
        for (size_t r = 0; r < B * c; r++)
            for (size_t i = 0; i < s; i++) dx[r * s + i] = dy[r] * inv;
        return;
    }
    pgeom g = pool_geom(l);
    int max = l->kind == LCT__L_MAXPOOL;
    const int32_t *arg = (const int32_t *)l->ws;
    float inv = 1.0f / (float)(g.kh * g.kw);
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * l->in_size > LCT__PAR_MIN)
    for (size_t r = 0; r < B * g.c; r++) {
        float *dxc = dx + r * g.h * g.w;
        const float *dyc = dy + r * g.oh * g.ow;
        memset(dxc, 0, g.h * g.w * sizeof *dxc);
        if (max) {
            const int32_t *ac = arg + r * g.oh * g.ow;
            for (size_t o = 0; o < g.oh * g.ow; o++) dxc[ac[o]] += dyc[o];
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
