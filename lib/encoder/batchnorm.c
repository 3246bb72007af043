/*
 * Batch normalisation over the first axis of each sample (features of D,
 * channels of C×L and C×H×W). Statistics are summed in double, each channel by
 * one thread in a fixed order, so results do not depend on the thread count.
 * Layout: x[b][c][s] with S = spatial size (1 for vectors).
 */
#include <math.h>

#include "layer.h"

#define COLBLOCK 128

int lct__bn_init(lct__layer *l, const char *func)
{
    if (!(l->eps > 0.0f) || !isfinite(l->eps))
        return lct__fail(LCT_EINVAL, func, "batchnorm eps is %g; it must be finite and > 0", (double)l->eps);
    if (!(l->momentum >= 0.0f && l->momentum <= 1.0f))
        return lct__fail(LCT_EINVAL, func, "batchnorm momentum is %g; it must be in [0, 1]", (double)l->momentum);
    return LCT_OK;
}

size_t lct__bn_ws(const lct__layer *l, size_t batch)
{
    (void)batch;
    return 4 * lct__round16(l->in.d[0]); /* mean, invstd, Σdy, Σdy·x̂ */
}

typedef struct bn_view {
    size_t c, s, n; /* channels, spatial, elements per channel over the batch */
    float *mean, *invstd, *sdy, *sdyx;
} bn_view;

static bn_view view(const lct__layer *l, size_t batch)
{
    bn_view v;
    v.c = l->in.d[0];
    v.s = l->in_size / v.c;
    v.n = batch * v.s;
    size_t r = lct__round16(v.c);
    v.mean = l->ws;
    v.invstd = l->ws + r;
    v.sdy = l->ws + 2 * r;
    v.sdyx = l->ws + 3 * r;
    return v;
}

/* Σ(x − k) and Σ(x − k)² in one pass; the shift k (a sample of the channel) keeps the variance accurate. */
LCT__VEC static void sums_shifted(const float *x, size_t n, float k, float *s1, float *s2)
{
    /* 16 independent lanes: vectorises without reordering any single sum */
    float a[16] = {0}, b[16] = {0}, sa = 0.0f, sb = 0.0f;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = x[i + j] - k;
            a[j] += d;
            b[j] += d * d;
        }
    for (; i < n; i++) {
        float d = x[i] - k;
        sa += d;
        sb += d * d;
    }
    for (int j = 0; j < 16; j++) {
        sa += a[j];
        sb += b[j];
    }
    *s1 = sa;
    *s2 = sb;
}

LCT__VEC static void affine(const float *x, float *y, size_t n, float a, float b)
{
    for (size_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}

LCT__VEC static void affine_cols(const float *x, float *y, size_t j0, size_t j1, const float *a, const float *b)
{
    for (size_t j = j0; j < j1; j++) y[j] = x[j] * a[j] + b[j];
}

LCT__VEC static void affine_relu(const float *x, float *y, size_t n, float a, float b)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i] * a + b;
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

LCT__VEC static void affine_cols_relu(const float *x, float *y, size_t n, const float *a, const float *b)
{
    for (size_t j = 0; j < n; j++) {
        float v = x[j] * a[j] + b[j];
        y[j] = v > 0.0f ? v : 0.0f;
    }
}

/* Batch mean and variance per channel into v.mean and v.invstd (as variance, for now). */
static void batch_stats(const lct__pass *p, const bn_view *v, const float *x, double *var_out)
{
    size_t B = p->batch;
    if (v->s == 1) {
        size_t nblk = (v->c + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v->c > LCT__PAR_MIN && nblk > 1)
        for (size_t k = 0; k < nblk; k++) {
            size_t j0 = k * COLBLOCK, j1 = j0 + COLBLOCK < v->c ? j0 + COLBLOCK : v->c;
            double acc[COLBLOCK], acc2[COLBLOCK];
            for (size_t j = j0; j < j1; j++) acc[j - j0] = acc2[j - j0] = 0.0;
            for (size_t b = 0; b < B; b++)
                for (size_t j = j0; j < j1; j++) acc[j - j0] += x[b * v->c + j];
            for (size_t j = j0; j < j1; j++) acc[j - j0] /= (double)v->n;
            for (size_t b = 0; b < B; b++)
                for (size_t j = j0; j < j1; j++) {
                    double d = x[b * v->c + j] - acc[j - j0];
                    acc2[j - j0] += d * d;
                }
            for (size_t j = j0; j < j1; j++) {
                v->mean[j] = (float)acc[j - j0];
                var_out[j] = acc2[j - j0] / (double)v->n;
            }
        }
    } else {
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v->c * v->s > LCT__PAR_MIN)
        for (size_t c = 0; c < v->c; c++) {
            double s = 0.0, q = 0.0;
            float k = x[c * v->s];
            for (size_t b = 0; b < B; b++) {
                float s1, s2;
                sums_shifted(x + (b * v->c + c) * v->s, v->s, k, &s1, &s2);
                s += s1;
                q += s2;
            }
            double md = s / (double)v->n, var = q / (double)v->n - md * md;
            v->mean[c] = (float)(md + k);
            var_out[c] = var > 0.0 ? var : 0.0;
        }
    }
}

/* y = x·a[c] + b[c], optionally followed by ReLU. */
static void normalise(const lct__pass *p, const bn_view *v, const float *x, float *y, const float *a, const float *b,
                      int relu)
{
    size_t B = p->batch;
    if (v->s == 1) {
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v->c > LCT__PAR_MIN)
        for (size_t r = 0; r < B; r++) {
            if (relu) affine_cols_relu(x + r * v->c, y + r * v->c, v->c, a, b);
            else affine_cols(x + r * v->c, y + r * v->c, 0, v->c, a, b);
        }
    } else {
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v->c * v->s > LCT__PAR_MIN)
        for (size_t r = 0; r < B * v->c; r++) {
            size_t c = r % v->c;
            if (relu) affine_relu(x + r * v->s, y + r * v->s, v->s, a[c], b[c]);
            else affine(x + r * v->s, y + r * v->s, v->s, a[c], b[c]);
        }
    }
}

void lct__bn_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    bn_view v = view(l, p->batch);
    const float *gamma = l->value[0], *beta = l->value[1];
    float *rm = l->value[2], *rv = l->value[3];
    /* scale and shift reuse the Σ slots: backward recomputes what it needs from mean and invstd */
    float *a = v.sdy, *b = v.sdyx;
    if (p->train) {
        double var[512], *vp = var;
        /* channels beyond the stack buffer borrow the Σ slots pairwise as doubles */
        if (v.c > 512) vp = (double *)v.sdy; /* 2·round16(C) floats = round16(C) doubles */
        batch_stats(p, &v, x, vp);
        double unbias = v.n > 1 ? (double)v.n / (double)(v.n - 1) : 1.0;
        for (size_t c = 0; c < v.c; c++) {
            double is = 1.0 / sqrt(vp[c] + (double)l->eps);
            v.invstd[c] = (float)is;
            rm[c] = (float)((1.0 - l->momentum) * rm[c] + (double)l->momentum * v.mean[c]);
            rv[c] = (float)((1.0 - l->momentum) * rv[c] + (double)l->momentum * vp[c] * unbias);
        }
    } else {
        for (size_t c = 0; c < v.c; c++) {
            v.mean[c] = rm[c];
            v.invstd[c] = (float)(1.0 / sqrt((double)rv[c] + (double)l->eps));
        }
    }
    for (size_t c = 0; c < v.c; c++) {
        a[c] = gamma[c] * v.invstd[c];
        b[c] = beta[c] - v.mean[c] * a[c];
    }
    normalise(p, &v, x, y, a, b, l->fuse_relu);
}

/* With a fused ReLU, dy only passes where the output y is positive. */
LCT__VEC static void dot2(const float *x, const float *dy, const float *y, size_t n, float m, float *s1, float *s2)
{
    float a[16] = {0}, b[16] = {0}, sa = 0.0f, sb = 0.0f;
    size_t i = 0;
    if (y)
        for (; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) {
                float d = y[i + j] > 0.0f ? dy[i + j] : 0.0f;
                a[j] += d;
                b[j] += d * (x[i + j] - m);
            }
    else
        for (; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) {
                a[j] += dy[i + j];
                b[j] += dy[i + j] * (x[i + j] - m);
            }
    for (; i < n; i++) {
        float d = y && !(y[i] > 0.0f) ? 0.0f : dy[i];
        sa += d;
        sb += d * (x[i] - m);
    }
    for (int j = 0; j < 16; j++) {
        sa += a[j];
        sb += b[j];
    }
    *s1 = sa;
    *s2 = sb;
}

LCT__VEC static void bn_dx(const float *x, const float *dy, const float *y, float *dx, size_t n, float m, float k1,
                           float k2, float k3)
{
    /* dx = k1·dy − k2 − k3·(x − m) */
    if (y)
        for (size_t i = 0; i < n; i++) dx[i] = k1 * (y[i] > 0.0f ? dy[i] : 0.0f) - k2 - k3 * (x[i] - m);
    else
        for (size_t i = 0; i < n; i++) dx[i] = k1 * dy[i] - k2 - k3 * (x[i] - m);
}

void lct__bn_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy, float *dx)
{
    bn_view v = view(l, p->batch);
    size_t B = p->batch;
    const float *mask = l->fuse_relu ? y : NULL;
    const float *gamma = l->value[0];
    float *gg = l->grad[0], *gb = l->grad[1];
    /* Σdy and Σdy·(x − mean) per channel, in double over the batch */
    if (v.s == 1) {
        size_t nblk = (v.c + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v.c > LCT__PAR_MIN && nblk > 1)
        for (size_t k = 0; k < nblk; k++) {
            size_t j0 = k * COLBLOCK, j1 = j0 + COLBLOCK < v.c ? j0 + COLBLOCK : v.c;
            double s1[COLBLOCK], s2[COLBLOCK];
            for (size_t j = j0; j < j1; j++) s1[j - j0] = s2[j - j0] = 0.0;
            for (size_t b = 0; b < B; b++)
                for (size_t j = j0; j < j1; j++) {
                    float d = dy[b * v.c + j];
                    if (mask && !(mask[b * v.c + j] > 0.0f)) d = 0.0f;
                    s1[j - j0] += d;
                    s2[j - j0] += d * (x[b * v.c + j] - v.mean[j]);
                }
            for (size_t j = j0; j < j1; j++) {
                v.sdy[j] = (float)s1[j - j0];
                v.sdyx[j] = (float)(s2[j - j0] * v.invstd[j]);
            }
        }
    } else {
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v.c * v.s > LCT__PAR_MIN)
        for (size_t c = 0; c < v.c; c++) {
            double s1 = 0.0, s2 = 0.0;
            for (size_t b = 0; b < B; b++) {
                float a, bb;
                size_t off = (b * v.c + c) * v.s;
                dot2(x + off, dy + off, mask ? mask + off : NULL, v.s, v.mean[c], &a, &bb);
                s1 += a;
                s2 += bb;
            }
            v.sdy[c] = (float)s1;
            v.sdyx[c] = (float)(s2 * v.invstd[c]);
        }
    }
    for (size_t c = 0; c < v.c; c++) {
        gg[c] += v.sdyx[c];
        gb[c] += v.sdy[c];
    }
    if (!dx) return;
    /* train: dx = γ·σ⁻¹·(dy − Σdy/N − x̂·Σdy·x̂/N); eval: dx = γ·σ⁻¹·dy */
    float inv_n = 1.0f / (float)v.n;
#pragma omp parallel for num_threads(p->threads) schedule(static) if (B * v.c * v.s > LCT__PAR_MIN)
    for (size_t b = 0; b < B; b++) {
        if (v.s == 1) {
            for (size_t j = 0; j < v.c; j++) {
                float k1 = gamma[j] * v.invstd[j];
                float k2 = p->train ? k1 * v.sdy[j] * inv_n : 0.0f;
                float k3 = p->train ? k1 * v.sdyx[j] * inv_n * v.invstd[j] : 0.0f;
                size_t i = b * v.c + j;
                float d = mask && !(mask[i] > 0.0f) ? 0.0f : dy[i];
                dx[i] = k1 * d - k2 - k3 * (x[i] - v.mean[j]);
            }
        } else {
            for (size_t c = 0; c < v.c; c++) {
                float k1 = gamma[c] * v.invstd[c];
                float k2 = p->train ? k1 * v.sdy[c] * inv_n : 0.0f;
                float k3 = p->train ? k1 * v.sdyx[c] * inv_n * v.invstd[c] : 0.0f;
                size_t off = (b * v.c + c) * v.s;
                bn_dx(x + off, dy + off, mask ? mask + off : NULL, dx + off, v.s, v.mean[c], k1, k2, k3);
            }
        }
    }
}
