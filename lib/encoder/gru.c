/*
 * GRU over the time axis (PyTorch's gate order r, z, n and equations), every
 * step's hidden state returned. The input projection of all steps is one
 * GEMM (and so are the weight gradients and dx in backward). The recurrent
 * product of each step (a few rows: the batch) is too small for BLIS's call
 * and packing overhead: it runs as plain loops next to the gates, its sums
 * over k in a fixed order. Samples are independent through time, so each
 * thread runs whole sequences of its samples (no barrier per step). Input
 * x[b][t][d], output y[b][t][h], h₀ = 0.
 */
#include <math.h>

#include "encoder_internal.h"

int lct__gru_init(lct__layer *l, const char *func)
{
    if (l->units == 0) return lct__fail(LCT_EINVAL, func, "gru: hidden is 0");
    if (l->in.rank != 2)
        return lct__fail(LCT_ESHAPE, func, "gru needs a T x D input (rank 2), got rank %u", l->in.rank);
    if (l->units > (1u << 20)) return lct__fail(LCT_EINVAL, func, "gru: hidden %u exceeds 2^20", l->units);
    l->out.d[1] = l->units;
    return LCT_OK;
}

typedef struct gru_ws {
    float *gi, *gh, *r, *z, *n, *ghn, *hprev, *dh, *wt;
} gru_ws;

/* The layer's workspace in one layout, for the sizing pass (base NULL) and the carving pass; every
 * piece on a 64-byte (16-float) boundary. */
static lct__wksp layout(const lct__layer *l, size_t batch, float *base, gru_ws *w)
{
    size_t h = l->units, bt = batch * l->in.d[0];
    lct__wksp s = lct__wksp_begin(base);
    w->gi = lct__wksp_take(&s, bt * 3 * h, sizeof(float)); /* input gates; dGi in backward */
    w->gh = lct__wksp_take(&s, bt * 3 * h, sizeof(float)); /* recurrent gates of one step; dGh of all steps in backward */
    w->r = lct__wksp_take(&s, bt * h, sizeof(float));
    w->z = lct__wksp_take(&s, bt * h, sizeof(float));
    w->n = lct__wksp_take(&s, bt * h, sizeof(float));
    w->ghn = lct__wksp_take(&s, bt * h, sizeof(float));
    w->hprev = lct__wksp_take(&s, bt * h, sizeof(float));
    w->dh = lct__wksp_take(&s, batch * h, sizeof(float));
    w->wt = lct__wksp_take(&s, 3 * h * h, sizeof(float)); /* W_hhᵀ (H × 3H), for the recurrent product */
    return s;
}

static gru_ws carve(const lct__layer *l, size_t batch, float *base)
{
    gru_ws w;
    layout(l, batch, base, &w);
    return w;
}

size_t lct__gru_ws(const lct__layer *l, size_t batch)
{
    gru_ws w;
    lct__wksp s = layout(l, batch, NULL, &w);
    size_t bytes;
    lct__wksp_size(&s, &bytes);
    return bytes / sizeof(float);
}

/* g[j] += Σ_k h[k]·wt[k][j] (j < n, k < m; wt row-major m × n): k in order for every j, 64 sums of g
 * in registers at a time. */
LCT__VEC static void matvec_t(const float *h, const float *wt, size_t m, size_t n, float *g)
{
    size_t j0 = 0;
    for (; j0 + 64 <= n; j0 += 64) {
        lct__v16 a0, a1, a2, a3;
        LCT__LOAD64(a0, a1, a2, a3, g + j0);
        for (size_t k = 0; k < m; k++) LCT__AXPY64(a0, a1, a2, a3, h[k], wt + k * n + j0);
        LCT__STORE64(g + j0, a0, a1, a2, a3);
    }
    for (size_t k = 0; k < m; k++) {
        float hk = h[k];
        const float *row = wt + k * n;
        for (size_t j = j0; j < n; j++) g[j] += hk * row[j];
    }
}

static inline float sigm(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

/* What the parallel loops below read: the workspace, the sizes, and the tensors of one pass. */
typedef struct gru_job {
    gru_ws w;
    size_t T, H, H3;
    const float *bhh, *whh, *dy;
    float *y;
} gru_job;

/* Samples b0..b1, each through its whole sequence. */
static void forward_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const gru_job *cx = ctx;
    size_t T = cx->T, H = cx->H, H3 = cx->H3;
    const float *bhh = cx->bhh;
    const gru_ws w = cx->w;
    float *y = cx->y;
    for (size_t b = b0; b < b1; b++) {
        for (size_t t = 0; t < T; t++) {
            size_t row = b * T + t;
            const float *gi = w.gi + row * H3;
            const float *hp = t > 0 ? y + (row - 1) * H : NULL;
            /* gh = b_hh + h_{t-1} W_hhᵀ */
            float *gh = w.gh + b * H3;
            memcpy(gh, bhh, H3 * sizeof(float));
            if (hp) matvec_t(hp, w.wt, H, H3, gh);
            float *r = w.r + row * H, *z = w.z + row * H, *n = w.n + row * H, *ghn = w.ghn + row * H;
            float *hprev = w.hprev + row * H, *h = y + row * H;
            for (size_t j = 0; j < H; j++) {
                float rv = sigm(gi[j] + gh[j]);
                float zv = sigm(gi[H + j] + gh[H + j]);
                float nv = tanhf(gi[2 * H + j] + rv * gh[2 * H + j]);
                float pv = hp ? hp[j] : 0.0f;
                r[j] = rv;
                z[j] = zv;
                n[j] = nv;
                ghn[j] = gh[2 * H + j];
                hprev[j] = pv;
                h[j] = (1.0f - zv) * nv + zv * pv;
            }
        }
    }
}

/* Samples b0..b1, each back through its whole sequence. */
static void backward_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const gru_job *cx = ctx;
    size_t T = cx->T, H = cx->H, H3 = cx->H3;
    const float *whh = cx->whh, *dy = cx->dy;
    const gru_ws w = cx->w;
    float *dgi = w.gi, *dgh = w.gh;
    for (size_t b = b0; b < b1; b++) {
        for (size_t t = T; t-- > 0;) {
            size_t row = b * T + t;
            const float *r = w.r + row * H, *z = w.z + row * H, *n = w.n + row * H, *ghn = w.ghn + row * H;
            const float *hp = w.hprev + row * H, *dyr = dy + row * H;
            float *dh = w.dh + b * H, *gi = dgi + row * H3, *gh = dgh + row * H3;
            for (size_t j = 0; j < H; j++) {
                float g = dh[j] + dyr[j];
                float dn = g * (1.0f - z[j]);
                float dz = g * (hp[j] - n[j]);
                float dan = dn * (1.0f - n[j] * n[j]);
                float dar = dan * ghn[j] * r[j] * (1.0f - r[j]);
                float daz = dz * z[j] * (1.0f - z[j]);
                gi[j] = dar;
                gi[H + j] = daz;
                gi[2 * H + j] = dan;
                gh[j] = dar;
                gh[H + j] = daz;
                gh[2 * H + j] = dan * r[j];
                dh[j] = g * z[j];
            }
            /* dh_{t-1} += dGh_t W_hh */
            if (t > 0) matvec_t(gh, whh, H3, H, dh);
        }
    }
}

void lct__gru_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    size_t B = p->batch, T = l->in.d[0], D = l->in.d[1], H = l->units, H3 = 3 * H, BT = B * T;
    const float *wih = l->value[0], *whh = l->value[1], *bih = l->value[2], *bhh = l->value[3];
    gru_ws w = carve(l, B, l->ws);
    gru_job cx = {.w = w, .T = T, .H = H, .H3 = H3, .bhh = bhh, .y = y};
    lct__rows_set(p, bih, BT, H3, w.gi); /* the input gates start at b_ih; the GEMM adds x W_ihᵀ */
    lct__gemm(p->rt, 0, 1, BT, H3, D, 1.0f, x, D, wih, D, 1.0f, w.gi, H3);
    for (size_t j = 0; j < H3; j++)
        for (size_t k = 0; k < H; k++) w.wt[k * H3 + j] = whh[j * H + k];
    /* samples are independent through time: each task runs its samples' whole sequences */
    lct__parallel(p->rt, B * T * H * H3 > LCT__PAR_MIN ? p->threads : 1, B, 1, forward_samples, &cx);
}

void lct__gru_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy, float *dx)
{
    (void)y;
    size_t B = p->batch, T = l->in.d[0], D = l->in.d[1], H = l->units, H3 = 3 * H, BT = B * T;
    const float *wih = l->value[0], *whh = l->value[1];
    gru_ws w = carve(l, B, l->ws);
    float *dgi = w.gi, *dgh = w.gh;
    memset(w.dh, 0, B * H * sizeof(float));
    gru_job cx = {.w = w, .T = T, .H = H, .H3 = H3, .whh = whh, .dy = dy};
    lct__parallel(p->rt, B * T * H * H3 > LCT__PAR_MIN ? p->threads : 1, B, 1, backward_samples, &cx);
    lct__gemm(p->rt, 1, 0, H3, D, BT, 1.0f, dgi, H3, x, D, 1.0f, l->grad[0], D);
    lct__gemm(p->rt, 1, 0, H3, H, BT, 1.0f, dgh, H3, w.hprev, H, 1.0f, l->grad[1], H);
    lct__colsum_add(p, dgi, BT, H3, l->grad[2]);
    lct__colsum_add(p, dgh, BT, H3, l->grad[3]);
    if (dx) lct__gemm(p->rt, 0, 0, BT, D, H3, 1.0f, dgi, H3, wih, D, 0.0f, dx, D);
}

static size_t gru_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t h = l->units, in = l->in.d[1];
    double bound = 1.0 / sqrt((double)h);
    d[0] = (lct__tensor_desc){"weight_ih", 3 * h * in, 1, 0, LCT__INIT_UNIFORM, bound};
    d[1] = (lct__tensor_desc){"weight_hh", 3 * h * h, 1, 0, LCT__INIT_UNIFORM, bound};
    d[2] = (lct__tensor_desc){"bias_ih", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
    d[3] = (lct__tensor_desc){"bias_hh", 3 * h, 1, 1, LCT__INIT_UNIFORM, bound};
    return 4;
}

static int spec_gru(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "gru %u", l->units);
}

const lct__layer_ops lct__gru_ops = {lct__gru_init, gru_tensors, lct__gru_ws, lct__gru_forward, lct__gru_backward,
                                     spec_gru, 1};
