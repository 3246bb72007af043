/*
 * conv1d as polyphase GEMMs, without im2col. With stride s and kernel k, take
 * m = ⌈k/s⌉ taps and U = X + m − 1 columns per sample (X outputs), and the
 * polyphase matrix P[c·s + r][u] = x[c][u·s + r − pad] (zero outside the
 * input). Output x of channel o reads input t = (x + q)·s + r − pad for tap
 * j = q·s + r, so
 *     y[o][x] = bias[o] + Σ_q Σ_(c,r) W_q[o][c·s + r] · P[c·s + r][x + q],
 * with W_q[o][c·s + r] = W[o][c][q·s + r] (zero for q·s + r ≥ k): m GEMMs over
 * shifted views of P. Samples sit side by side (ld = B·U); the m − 1 columns
 * after each sample's X outputs are junk in the forward pass and zero in dY,
 * so they add nothing to dW. Backward:
 *     dW_q = dY · P[:, q:]ᵀ,  dP[:, q:] += W_qᵀ · dY,
 *     dx[c][t] = dP[c·s + r][u] for t + pad = u·s + r.
 * BLIS splits a GEMM over its M and N dimensions only, never over K, so the
 * results do not depend on the thread count.
 *
 * P stays in the layer's workspace from the forward pass to the backward pass
 * (dP has a buffer of its own), so the input is dealt once per step. It is
 * dealt, and dx collected, one channel at a time, channels in parallel.
 *
 * Two taps (s < k ≤ 2s, CPC's layers after the first) take three GEMMs over
 * half the columns instead (Winograd's F(2,2), "Two taps" below).
 *
 * Layers with few columns (C·k ≤ SMALL_K, e.g. a first layer on one channel)
 * run their forward pass and dW through the small kernels below: GEMMs that
 * thin run far below BLIS's speed.
 *
 * A ReLU right after the layer is applied here (l->fuse_relu): the forward
 * pass clamps while it writes the output, the backward pass masks dY (y > 0)
 * while it lays it out for the GEMMs; the encoder skips the ReLU layer.
 */
#include "encoder_internal.h"

#define SMALL_K 16
/* Scratch slots of the two-tap path (at most this many tasks share its channel loops). */
#define SLOTS 16

typedef struct plan {
    size_t c, w, k, s, pad, o, x;   /* input channels and width, kernel, stride, padding, outputs, width */
    size_t m, cs, u, ld, ncol;      /* taps, C·s rows, columns per sample, B·U, GEMM columns */
    int small;                      /* C·k ≤ SMALL_K: small kernels for forward and dW */
    int wino;                       /* two taps (s < k ≤ 2s) and not small: the three-product form below */
    size_t half, ldp, total;        /* wino: column pairs L = ⌈ld/2⌉; row stride of the dealt P (2L + 2); floats */
    float *wr, *p, *y, *dw, *dp;    /* W_q (m × O × C·s), P (C·s × ld), Y / dY (O × ld), dW_q (m × O × C·s),
                                     * dP */
    float *yg, *dd;                 /* wino: dY side by side (O × 2L), dD1..dD3 (3 × C·s × L) */
    size_t slots;                   /* wino: scratch slots of s rows × ldp in dp */
} plan;

static plan plan_of(const lct__layer *l, size_t batch, float *ws)
{
    plan q;
    q.c = l->in.d[0];
    q.w = l->in.d[1];
    q.k = l->kernel;
    q.s = l->stride;
    q.pad = l->padding;
    q.o = l->units;
    q.x = l->out.d[1];
    q.m = (q.k + q.s - 1) / q.s;
    q.cs = q.c * q.s;
    q.u = q.x + q.m - 1;
    q.ld = batch * q.u;
    q.ncol = q.ld - (q.m - 1);
    q.small = q.c * q.k <= SMALL_K;
    q.wino = !q.small && q.m == 2;
    q.half = (q.ld + 1) / 2;
    q.ldp = 2 * q.half + 2;
    q.yg = q.dd = NULL;
    q.slots = q.c < SLOTS ? q.c : SLOTS;
    if (q.wino) {
        /* W0, W0 + W1, W1; D1..D3 (kept from forward); M1..M3, then E, S, O; dY; G1..G3; dD1..dD3;
         * per-thread scratch for P (forward) and dP (backward), one channel (s rows) at a time */
        size_t wm = lct__round16(3 * q.o * q.cs), dm = lct__round16(3 * q.cs * q.half);
        q.wr = ws;
        q.p = q.wr + wm;
        q.y = q.p + dm;
        q.yg = q.y + lct__round16(3 * q.o * q.half);
        q.dw = q.yg + lct__round16(q.o * 2 * q.half);
        q.dd = q.dw + wm;
        q.dp = q.dd + dm;
        q.total = lct__round16(3 * q.o * q.cs) * 2 + lct__round16(3 * q.cs * q.half) * 2 +
                  lct__round16(3 * q.o * q.half) + lct__round16(q.o * 2 * q.half) +
                  lct__round16(q.slots * q.s * q.ldp);
        return q;
    }
    q.wr = ws;
    q.p = q.wr + lct__round16(q.m * q.o * q.cs);
    q.y = q.p + lct__round16(q.cs * q.ld);
    q.dw = q.y + lct__round16(q.o * q.ld);
    q.dp = q.dw + lct__round16(q.m * q.o * q.cs);
    return q;
}

size_t lct__conv1d_ws(const lct__layer *l, size_t batch)
{
    plan q = plan_of(l, batch, NULL);
    if (q.wino) return q.total;
    return 2 * lct__round16(q.m * q.o * q.cs) + 2 * lct__round16(q.cs * q.ld) + lct__round16(q.o * q.ld);
}

/* What a parallel loop of this file reads (each loop some of it): the layer, its plan, and the tensors of
 * one pass. */
typedef struct job {
    const lct__layer *l;
    const plan *q;
    size_t batch, nt;           /* samples; tasks of the two-tap channel loops */
    const float *in, *mask;     /* x, dY or W; a fused ReLU's output (NULL: none) */
    float *out;                 /* y or dx */
    int collect;                /* wino_channels: backward's collect (else forward's split) */
} job;

/* Runs of s floats: dst[i·s + r] = src[i·ld + r] (r < s, i < rows); constant s for the common strides. */
LCT__VEC static void copy_runs(float *restrict dst, const float *restrict src, size_t ld, size_t s, size_t rows)
{
    switch (s) {
    case 2:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < 2; r++) dst[i * 2 + r] = src[i * ld + r];
        return;
    case 4:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < 4; r++) dst[i * 4 + r] = src[i * ld + r];
        return;
    default:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < s; r++) dst[i * s + r] = src[i * ld + r];
    }
}

/* The inverse, added: dst[i·ld + r] += src[i·s + r]. */
LCT__VEC static void add_runs(float *restrict dst, const float *restrict src, size_t ld, size_t s, size_t rows)
{
    switch (s) {
    case 2:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < 2; r++) dst[i * ld + r] += src[i * 2 + r];
        return;
    case 4:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < 4; r++) dst[i * ld + r] += src[i * 4 + r];
        return;
    default:
        for (size_t i = 0; i < rows; i++)
            for (size_t r = 0; r < s; r++) dst[i * ld + r] += src[i * s + r];
    }
}

/* W_q from W (O × C × k): row o of W_q is the C runs W[o][c][q·s .. q·s + s), zero past the kernel. */
static void poly_weight_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    const float *w = cx->in;
    size_t full = q->k / q->s; /* taps with all s entries inside the kernel */
    for (size_t o = o0; o < o1; o++)
        for (size_t t = 0; t < q->m; t++) {
            float *dst = q->wr + (t * q->o + o) * q->cs;
            const float *src = w + o * q->c * q->k + t * q->s;
            if (t < full) {
                copy_runs(dst, src, q->k, q->s, q->c);
                continue;
            }
            size_t n = q->k - t * q->s;
            for (size_t c = 0; c < q->c; c++)
                for (size_t r = 0; r < q->s; r++) dst[c * q->s + r] = r < n ? src[c * q->k + r] : 0.0f;
        }
}

/* Columns u of a sample whose taps t = u·s + r − pad all fall inside the input, for every r < s. */
static void poly_inner(const plan *q, size_t *lo, size_t *hi)
{
    size_t a = (q->pad + q->s - 1) / q->s, b = q->w + q->pad >= q->s ? (q->w + q->pad - q->s) / q->s + 1 : 0;
    if (b > q->u) b = q->u;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* row[r·ld + v] = src[v·s + r] for r < s, v < n: one input run dealt out to s rows. The common
 * strides have loops of their own, which the vectoriser turns into shuffles. */
LCT__VEC static void deal(const float *restrict src, float *restrict row, size_t ld, size_t s, size_t n)
{
    float *r0 = row, *r1 = row + ld, *r2 = row + 2 * ld, *r3 = row + 3 * ld;
    switch (s) {
    case 1: memcpy(row, src, n * sizeof *row); return;
    case 2:
        for (size_t v = 0; v < n; v++) {
            r0[v] = src[2 * v];
            r1[v] = src[2 * v + 1];
        }
        return;
    case 4:
        for (size_t v = 0; v < n; v++) {
            r0[v] = src[4 * v];
            r1[v] = src[4 * v + 1];
            r2[v] = src[4 * v + 2];
            r3[v] = src[4 * v + 3];
        }
        return;
    default:
        for (size_t r = 0; r < s; r++) {
            float *dst = row + r * ld;
            for (size_t v = 0; v < n; v++) dst[v] = src[v * s + r];
        }
    }
}

/* The inverse of deal(): dst[v·s + r] = row[r·ld + v]. */
LCT__VEC static void collect(const float *restrict row, size_t ld, size_t s, size_t n, float *restrict dst)
{
    const float *r0 = row, *r1 = row + ld, *r2 = row + 2 * ld, *r3 = row + 3 * ld;
    switch (s) {
    case 1: memcpy(dst, row, n * sizeof *dst); return;
    case 2:
        for (size_t v = 0; v < n; v++) {
            dst[2 * v] = r0[v];
            dst[2 * v + 1] = r1[v];
        }
        return;
    case 4:
        for (size_t v = 0; v < n; v++) {
            dst[4 * v] = r0[v];
            dst[4 * v + 1] = r1[v];
            dst[4 * v + 2] = r2[v];
            dst[4 * v + 3] = r3[v];
        }
        return;
    default:
        for (size_t r = 0; r < s; r++) {
            const float *src = row + r * ld;
            for (size_t v = 0; v < n; v++) dst[v * s + r] = src[v];
        }
    }
}

/* Rows c·s .. c·s + s − 1 of P (channel c of every sample) at rows (stride ld): the input read in
 * order, dealt out to s rows (no division per element). */
static void poly_channel(const plan *q, const float *x, size_t in_size, size_t batch, size_t c, float *rows, size_t ld)
{
    size_t lo, hi, s = q->s;
    poly_inner(q, &lo, &hi);
    for (size_t b = 0; b < batch; b++) {
        const float *xc = x + b * in_size + c * q->w;
        float *row = rows + b * q->u;
        for (size_t u = 0; u < q->u; u++) {
            if (u == lo && hi > lo) { /* interior: every tap inside */
                deal(xc + lo * s - q->pad, row + lo, ld, s, hi - lo);
                u = hi - 1;
                continue;
            }
            for (size_t r = 0; r < s; r++) {
                ptrdiff_t t = (ptrdiff_t)(u * s + r) - (ptrdiff_t)q->pad;
                row[r * ld + u] = t >= 0 && t < (ptrdiff_t)q->w ? xc[t] : 0.0f;
            }
        }
    }
}

/* Channels c0..c1 of P (every sample). */
static void poly_channels(void *ctx, size_t c0, size_t c1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    for (size_t c = c0; c < c1; c++)
        poly_channel(q, cx->in, cx->l->in_size, cx->batch, c, q->p + c * q->s * q->ld, q->ld);
}

/* One output row: dst = src + b, clamped at 0 when a ReLU is fused (the same test as the ReLU layer). */
LCT__VEC static void out_row(float *restrict dst, const float *restrict src, int has_bias, float b, int relu,
                             size_t n)
{
    if (has_bias && relu)
        for (size_t i = 0; i < n; i++) {
            float v = src[i] + b;
            dst[i] = v > 0.0f ? v : 0.0f;
        }
    else if (has_bias)
        for (size_t i = 0; i < n; i++) dst[i] = src[i] + b;
    else if (relu)
        for (size_t i = 0; i < n; i++) dst[i] = src[i] > 0.0f ? src[i] : 0.0f;
    else
        memcpy(dst, src, n * sizeof *dst);
}

/* One row of dY laid out for the GEMMs: masked by the fused ReLU's output (y > 0) when there is one. */
LCT__VEC static void grad_row(float *restrict dst, const float *restrict dy, const float *restrict y, size_t n)
{
    if (y)
        for (size_t i = 0; i < n; i++) dst[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    else
        memcpy(dst, dy, n * sizeof *dst);
}

/* y[v] = bias + Σ_i w[i]·rows[i][v] for one output channel, clamped at 0 for a fused ReLU: 64 outputs
 * at a time in registers, then one at a time (the same operations in the same order either way). */
LCT__VEC static void small_fwd(const float *w, float bias, const float *const *rows, size_t k, size_t n, int relu,
                               float *y)
{
    const lct__v16 zero = {0};
    size_t v = 0;
    for (; v + 64 <= n; v += 64) {
        lct__v16 a0 = zero + bias, a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < k; i++) LCT__AXPY64(a0, a1, a2, a3, w[i], rows[i] + v);
        if (relu) {
            a0 = (lct__v16)((lct__vi16)a0 & (a0 > zero));
            a1 = (lct__v16)((lct__vi16)a1 & (a1 > zero));
            a2 = (lct__v16)((lct__vi16)a2 & (a2 > zero));
            a3 = (lct__v16)((lct__vi16)a3 & (a3 > zero));
        }
        LCT__STORE64(y + v, a0, a1, a2, a3);
    }
    for (; v < n; v++) {
        float a = bias;
        for (size_t i = 0; i < k; i++) a += w[i] * rows[i][v];
        y[v] = relu && !(a > 0.0f) ? 0.0f : a;
    }
}

/* g = dY masked by a fused ReLU's output (y > 0; y NULL: no mask), 16 values at v. */
#define MASKED16(g, dy, y, v)                                                                            \
    do {                                                                                                 \
        LCT__LOAD(g, (dy) + (v));                                                                        \
        if (y) {                                                                                         \
            lct__v16 m__, z__ = {0};                                                                     \
            LCT__LOAD(m__, (y) + (v));                                                                   \
            g = (lct__v16)((lct__vi16)g & (m__ > z__));                                                  \
        }                                                                                                \
    } while (0)

/* dW and db of one output channel over one sample, for the small kernels: acc[i] += Σ_v g[v]·rows[i][v]
 * and acc[k] += Σ_v g[v], with g = dy masked by a fused ReLU's output, in 16 fixed lanes per sum
 * (acc: k + 1 vectors), the last n mod 16 values in tail[0..k]. Rows go four at a time, their sums in
 * registers. The order never depends on threads. */
LCT__VEC static void small_dw(const float *dy, const float *y, const float *const *rows, size_t k, size_t n,
                              lct__v16 *acc, float *tail)
{
    size_t nv = n & ~(size_t)15;
    size_t i = 0;
    for (; i + 4 <= k; i += 4) {
        const float *r0 = rows[i], *r1 = rows[i + 1], *r2 = rows[i + 2], *r3 = rows[i + 3];
        lct__v16 a0 = acc[i], a1 = acc[i + 1], a2 = acc[i + 2], a3 = acc[i + 3];
        for (size_t v = 0; v < nv; v += 16) {
            lct__v16 g, c0, c1, c2, c3;
            MASKED16(g, dy, y, v);
            LCT__LOAD(c0, r0 + v);
            LCT__LOAD(c1, r1 + v);
            LCT__LOAD(c2, r2 + v);
            LCT__LOAD(c3, r3 + v);
            a0 += g * c0;
            a1 += g * c1;
            a2 += g * c2;
            a3 += g * c3;
        }
        acc[i] = a0;
        acc[i + 1] = a1;
        acc[i + 2] = a2;
        acc[i + 3] = a3;
    }
    for (; i < k; i++) {
        const float *r0 = rows[i];
        lct__v16 a0 = acc[i];
        for (size_t v = 0; v < nv; v += 16) {
            lct__v16 g, c0;
            MASKED16(g, dy, y, v);
            LCT__LOAD(c0, r0 + v);
            a0 += g * c0;
        }
        acc[i] = a0;
    }
    lct__v16 ab = acc[k];
    for (size_t v = 0; v < nv; v += 16) {
        lct__v16 g;
        MASKED16(g, dy, y, v);
        ab += g;
    }
    acc[k] = ab;
    for (size_t v = nv; v < n; v++) {
        float g = y && !(y[v] > 0.0f) ? 0.0f : dy[v];
        for (size_t j = 0; j < k; j++) tail[j] += g * rows[j][v];
        tail[k] += g;
    }
}

/* Row of P that tap j of channel c reads, shifted to the tap: P[c·s + j mod s][j div s + …]. */
static const float *tap_row(const plan *q, size_t c, size_t j)
{
    return q->p + (c * q->s + j % q->s) * q->ld + j / q->s;
}


/* Channel c of dx (every sample) from its s rows of dP (stride ld): every input position t is read by
 * exactly one (u, r), t + pad = u·s + r; those with u >= U by none (zero). */
static void collect_channel(const lct__layer *l, const plan *q, size_t batch, size_t c, const float *rows, size_t ld,
                            float *dx)
{
    size_t lo, hi, s = q->s;
    poly_inner(q, &lo, &hi);
    size_t covered = q->u * s > q->pad ? q->u * s - q->pad : 0;
    if (covered > q->w) covered = q->w;
    for (size_t b = 0; b < batch; b++) {
        float *dxc = dx + b * l->in_size + c * q->w;
        const float *row = rows + b * q->u;
        memset(dxc + covered, 0, (q->w - covered) * sizeof *dxc);
        for (size_t u = 0; u < q->u; u++) {
            if (u == lo && hi > lo) {
                collect(row + lo, ld, s, hi - lo, dxc + lo * s - q->pad);
                u = hi - 1;
                continue;
            }
            for (size_t r = 0; r < s; r++) {
                ptrdiff_t t = (ptrdiff_t)(u * s + r) - (ptrdiff_t)q->pad;
                if (t >= 0 && t < (ptrdiff_t)q->w) dxc[t] = row[r * ld + u];
            }
        }
    }
}

/*
 * Two taps (s < k ≤ 2s: CPC's layers after the first) take three products of half the columns
 * instead of two of all of them (Winograd's F(2,2) along the polyphase columns). Over column pairs
 * (2i, 2i + 1) of the whole side-by-side batch, with P zero past its ld columns,
 *     D1 = P[2i] − P[2i+1],  D2 = P[2i+1],  D3 = P[2i+2] − P[2i+1],
 *     M1 = W0·D1,  M2 = (W0 + W1)·D2,  M3 = W1·D3,
 *     Y[2i] = M1 + M2,  Y[2i+1] = M2 + M3                                  (= W0·P[v] + W1·P[v+1]).
 * Backward is the exact adjoint: with E = dY[2i], O = dY[2i+1], S = E + O,
 *     dW0 = E·D1ᵀ + S·D2ᵀ,  dW1 = S·D2ᵀ + O·D3ᵀ,
 *     dD1 = W0ᵀ·E,  dD2 = (W0 + W1)ᵀ·S,  dD3 = W1ᵀ·O,
 *     dP[2i] = dD1[i] + dD3[i−1],  dP[2i+1] = dD2[i] − dD1[i] − dD3[i].
 * Three quarters of the multiplications; the rounding differs from the direct sums by a few ulps
 * of the terms. D1..D3 stay in the workspace from forward to backward.
 */

/* D1..D3 of one row of P (p has 2L + 1 valid columns). */
LCT__VEC static void wino_split(const float *restrict p, size_t n, float *restrict d1, float *restrict d2,
                                float *restrict d3)
{
    for (size_t i = 0; i < n; i++) {
        float a = p[2 * i], b = p[2 * i + 1], c = p[2 * i + 2];
        d1[i] = a - b;
        d2[i] = b;
        d3[i] = c - b;
    }
}

/* One output row from M1..M3 (rows m1..m3), starting at global column v, n outputs, bias and fused ReLU. */
LCT__VEC static void wino_out_row(float *restrict dst, const float *m1, const float *m2, const float *m3, size_t v,
                                  size_t n, int has_bias, float bias, int relu)
{
    size_t x = 0;
#define WINO_OUT(val)                                                                                    \
    do {                                                                                                 \
        float o__ = (val);                                                                               \
        if (has_bias) o__ += bias;                                                                       \
        if (relu) o__ = o__ > 0.0f ? o__ : 0.0f;                                                         \
        dst[x] = o__;                                                                                    \
    } while (0)
    if (n > 0 && (v & 1)) {
        WINO_OUT(m2[v / 2] + m3[v / 2]);
        x = 1;
    }
    size_t i0 = (v + x) / 2, pairs = (n - x) / 2;
    const float *a = m1 + i0, *b = m2 + i0, *c = m3 + i0;
    float *d = dst + x;
    if (has_bias && relu)
        for (size_t j = 0; j < pairs; j++) {
            float e = a[j] + b[j] + bias, o = b[j] + c[j] + bias;
            d[2 * j] = e > 0.0f ? e : 0.0f;
            d[2 * j + 1] = o > 0.0f ? o : 0.0f;
        }
    else if (has_bias)
        for (size_t j = 0; j < pairs; j++) {
            d[2 * j] = a[j] + b[j] + bias;
            d[2 * j + 1] = b[j] + c[j] + bias;
        }
    else if (relu)
        for (size_t j = 0; j < pairs; j++) {
            float e = a[j] + b[j], o = b[j] + c[j];
            d[2 * j] = e > 0.0f ? e : 0.0f;
            d[2 * j + 1] = o > 0.0f ? o : 0.0f;
        }
    else
        for (size_t j = 0; j < pairs; j++) {
            d[2 * j] = a[j] + b[j];
            d[2 * j + 1] = b[j] + c[j];
        }
    x += 2 * pairs;
    if (x < n) WINO_OUT(a[pairs] + b[pairs]);
#undef WINO_OUT
}

/* E, S, O of one row of dY (2L columns). */
LCT__VEC static void wino_grad_split(const float *restrict g, size_t n, float *restrict e, float *restrict s,
                                     float *restrict o)
{
    for (size_t i = 0; i < n; i++) {
        float a = g[2 * i], b = g[2 * i + 1];
        e[i] = a;
        o[i] = b;
        s[i] = a + b;
    }
}

/* One row of dP (ld columns) from dD1..dD3 (n = L columns each). */
LCT__VEC static void wino_join(const float *restrict d1, const float *restrict d2, const float *restrict d3, size_t n,
                               size_t ld, float *restrict out)
{
    out[0] = d1[0];
    if (ld > 1) out[1] = d2[0] - d1[0] - d3[0];
    size_t full = ld / 2; /* pairs with both columns inside ld */
    for (size_t i = 1; i < full; i++) {
        out[2 * i] = d1[i] + d3[i - 1];
        out[2 * i + 1] = d2[i] - d1[i] - d3[i];
    }
    if (full < n && full > 0) out[2 * full] = d1[full] + d3[full - 1]; /* ld odd: its last column */
}

/* One row of W0, W0 + W1, W1 from row o of W (C runs of k = s + n taps; W1 zero past n). */
LCT__VEC static void wino_weight_row(const float *restrict w, size_t c, size_t k, size_t s, size_t n,
                                     float *restrict w0, float *restrict w01, float *restrict w1)
{
    for (size_t i = 0; i < c; i++) {
        const float *a = w + i * k, *b = a + s;
        float *d0 = w0 + i * s, *d01 = w01 + i * s, *d1 = w1 + i * s;
        for (size_t r = 0; r < s; r++) {
            float x0 = a[r], x1 = r < n ? b[r] : 0.0f;
            d0[r] = x0;
            d01[r] = x0 + x1;
            d1[r] = x1;
        }
    }
}

/* W0, W0 + W1, W1 (each O × C·s). */
static void wino_weight_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    const float *w = cx->in;
    size_t oc = q->o * q->cs;
    for (size_t o = o0; o < o1; o++)
        wino_weight_row(w + o * q->c * q->k, q->c, q->k, q->s, q->k - q->s, q->wr + o * q->cs,
                        q->wr + oc + o * q->cs, q->wr + 2 * oc + o * q->cs);
}

/* The GEMMs' weights from W: W_q of every tap, or W0, W0 + W1, W1 for two taps. */
static void weights(const plan *q, const float *w, const lct__pass *p)
{
    job cx = {.q = q, .in = w};
    size_t n = (q->wino ? 3 : q->m) * q->o * q->cs;
    lct__parallel(p->rt, n > LCT__PAR_MIN ? p->threads : 1, q->o, 1, q->wino ? wino_weight_rows : poly_weight_rows,
                  &cx);
}

/* Row o of dW (C runs of k = s + n taps) += G1 + G2 (first tap), G2 + G3 (second tap, n entries). */
LCT__VEC static void wino_grad_row(float *restrict gw, const float *g1, const float *g2, const float *g3, size_t c,
                                   size_t k, size_t s, size_t n)
{
    for (size_t i = 0; i < c; i++) {
        float *d = gw + i * k;
        const float *a = g1 + i * s, *b = g2 + i * s, *e = g3 + i * s;
        for (size_t r = 0; r < s; r++) d[r] += a[r] + b[r];
        for (size_t r = 0; r < n; r++) d[s + r] += b[r] + e[r];
    }
}

/* Tasks of the two-tap channel loops: each deals or collects its share of the channels one at a time,
 * in a scratch slot of its own (q->slots of them). */
static size_t channel_tasks(const plan *q, const lct__pass *p)
{
    return (size_t)p->threads < q->slots ? (size_t)p->threads : q->slots;
}

/* Task t of the two-tap channel loops, in a scratch of its own (s rows in dP's buffer): forward, its
 * channels of P (zero past ld) split into D1..D3 while they are still in cache; backward (collect), its
 * channels of dP from dD1..dD3, collected into dx while still in cache. */
static void wino_channels(void *ctx, size_t t, size_t end, size_t slot)
{
    (void)end;
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    size_t nt = cx->nt, L = q->half, ld = cx->collect ? q->ld : q->ldp;
    float *rows = q->dp + t * q->s * ld;
    if (!cx->collect)
        for (size_t r = 0; r < q->s; r++) memset(rows + r * ld + q->ld, 0, (ld - q->ld) * sizeof(float));
    for (size_t c = q->c * t / nt; c < q->c * (t + 1) / nt; c++) {
        if (cx->collect) {
            for (size_t r = 0, i = c * q->s; r < q->s; r++, i++)
                wino_join(q->dd + i * L, q->dd + (q->cs + i) * L, q->dd + (2 * q->cs + i) * L, L, q->ld,
                          rows + r * ld);
            collect_channel(cx->l, q, cx->batch, c, rows, ld, cx->out);
            continue;
        }
        poly_channel(q, cx->in, cx->l->in_size, cx->batch, c, rows, ld);
        for (size_t r = 0, i = c * q->s; r < q->s; r++, i++)
            wino_split(rows + r * ld, L, q->p + i * L, q->p + (q->cs + i) * L, q->p + (2 * q->cs + i) * L);
    }
}

/* Output rows of samples b0..b1 (bias, fused ReLU, and a following batch norm's partial sums): by the
 * small kernels, from the GEMMs' Y, or from M1..M3 for two taps. */
static void out_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const lct__layer *l = cx->l;
    const plan *q = cx->q;
    const float *w = l->value[0], *bias = l->has_bias ? l->value[1] : NULL;
    float *st = l->stats_out, *y = cx->out;
    int relu = l->fuse_relu;
    size_t L = q->half;
    const float *m1 = q->y, *m2 = q->y + q->o * L, *m3 = q->y + 2 * q->o * L;
    for (size_t b = b0; b < b1; b++) {
        const float *rows[SMALL_K];
        if (q->small)
            for (size_t c = 0; c < q->c; c++)
                for (size_t j = 0; j < q->k; j++) rows[c * q->k + j] = tap_row(q, c, j) + b * q->u;
        for (size_t o = 0; o < q->o; o++) {
            float *dst = y + b * l->out_size + o * q->x;
            if (q->small)
                small_fwd(w + o * q->c * q->k, bias ? bias[o] : 0.0f, rows, q->c * q->k, q->x, relu, dst);
            else if (q->wino)
                wino_out_row(dst, m1 + o * L, m2 + o * L, m3 + o * L, b * q->u, q->x, bias != NULL,
                             bias ? bias[o] : 0.0f, relu);
            else
                out_row(dst, q->y + o * q->ld + b * q->u, bias != NULL, bias ? bias[o] : 0.0f, relu, q->x);
            if (st) lct__bn_partial(dst, q->x, st + (b * q->o + o) * 3);
        }
    }
}

/* dY of samples b0..b1 side by side (masked by a fused ReLU), zero in the junk columns (and, for two
 * taps, past ld). */
static void grad_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const lct__layer *l = cx->l;
    const plan *q = cx->q;
    const float *dy = cx->in, *mask = cx->mask;
    size_t batch = cx->batch, L2 = 2 * q->half;
    float *base = q->wino ? q->yg : q->y;
    size_t ld = q->wino ? L2 : q->ld;
    for (size_t b = b0; b < b1; b++)
        for (size_t o = 0; o < q->o; o++) {
            size_t at = b * l->out_size + o * q->x;
            float *dst = base + o * ld + b * q->u;
            grad_row(dst, dy + at, mask ? mask + at : NULL, q->x);
            size_t end = q->wino && b + 1 == batch ? L2 - b * q->u : q->u;
            memset(dst + q->x, 0, (end - q->x) * sizeof(float));
        }
}

/* E, S, O of output channels o0..o1 (two taps). */
static void wino_grad_split_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    size_t L = q->half, L2 = 2 * L;
    float *ge = q->y, *gs = q->y + q->o * L, *go = q->y + 2 * q->o * L;
    for (size_t o = o0; o < o1; o++) wino_grad_split(q->yg + o * L2, L, ge + o * L, gs + o * L, go + o * L);
}

/* dW of output channels o0..o1 in W's layout: gw[o][c][t·s + r] += dW_t[o][c·s + r], taps in order, or
 * G1 + G2 and G2 + G3 for two taps. */
static void grad_weight_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    float *gw = cx->l->grad[0];
    size_t full = q->k / q->s, oc = q->o * q->cs;
    for (size_t o = o0; o < o1; o++) {
        if (q->wino) {
            wino_grad_row(gw + o * q->c * q->k, q->dw + o * q->cs, q->dw + oc + o * q->cs,
                          q->dw + 2 * oc + o * q->cs, q->c, q->k, q->s, q->k - q->s);
            continue;
        }
        for (size_t t = 0; t < q->m; t++) {
            float *dst = gw + o * q->c * q->k + t * q->s;
            const float *src = q->dw + (t * q->o + o) * q->cs;
            if (t < full) {
                add_runs(dst, src, q->k, q->s, q->c);
                continue;
            }
            for (size_t c = 0; c < q->c; c++)
                for (size_t r = 0; t * q->s + r < q->k; r++) dst[c * q->k + r] += src[c * q->s + r];
        }
    }
}

/* db of output channels o0..o1: the sums of their rows of dY. */
static void grad_bias_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    float *gb = cx->l->grad[1];
    size_t ld = q->wino ? 2 * q->half : q->ld, n = q->wino ? ld : q->ncol;
    const float *g = q->wino ? q->yg : q->y;
    for (size_t o = o0; o < o1; o++) gb[o] += lct__sum_lanes(g + o * ld, n);
}

/* dW and db of output channels o0..o1 by the small kernels: each channel's summed over the whole batch
 * in one range, samples in order. */
static void small_grad_rows(void *ctx, size_t o0, size_t o1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    const float *dy = cx->in, *mask = cx->mask;
    float *gw = cx->l->grad[0], *gb = cx->l->has_bias ? cx->l->grad[1] : NULL;
    size_t k = q->c * q->k, out_size = cx->l->out_size;
    for (size_t o = o0; o < o1; o++) {
        lct__v16 acc[SMALL_K + 1];
        float tail[SMALL_K + 1];
        const float *rows[SMALL_K];
        for (size_t i = 0; i <= k; i++) {
            acc[i] = (lct__v16){0};
            tail[i] = 0.0f;
        }
        for (size_t b = 0; b < cx->batch; b++) {
            for (size_t c = 0; c < q->c; c++)
                for (size_t j = 0; j < q->k; j++) rows[c * q->k + j] = tap_row(q, c, j) + b * q->u;
            size_t at = b * out_size + o * q->x;
            small_dw(dy + at, mask ? mask + at : NULL, rows, k, q->x, acc, tail);
        }
        for (size_t i = 0; i <= k; i++) {
            float sum = tail[i];
            for (int j = 0; j < 16; j++) sum += acc[i][j];
            if (i < k) gw[o * k + i] += sum; /* i = c·k + j: W's own layout */
            else if (gb) gb[o] += sum;
        }
    }
}

/* Channels c0..c1 of dx from their rows of dP. */
static void collect_channels(void *ctx, size_t c0, size_t c1, size_t slot)
{
    (void)slot;
    const job *cx = ctx;
    const plan *q = cx->q;
    for (size_t c = c0; c < c1; c++) collect_channel(cx->l, q, cx->batch, c, q->dp + c * q->s * q->ld, q->ld, cx->out);
}

static void wino_forward(lct__layer *l, const lct__pass *p, const plan *q, const float *x, float *y)
{
    size_t L = q->half, oc = q->o * q->cs;
    job cx = {.l = l, .q = q, .batch = p->batch, .nt = channel_tasks(q, p), .in = x, .out = y};
    lct__parallel_tasks(p->rt, (int)cx.nt, wino_channels, &cx);
    weights(q, l->value[0], p);
    for (size_t j = 0; j < 3; j++)
        lct__gemm(p->rt, 0, 0, q->o, L, q->cs, 1.0f, q->wr + j * oc, q->cs, q->p + j * q->cs * L, L, 0.0f,
                  q->y + j * q->o * L, L);
    lct__parallel(p->rt, p->threads, p->batch, 1, out_rows, &cx);
}

static void wino_backward(lct__layer *l, const lct__pass *p, const plan *q, const float *mask, const float *dy,
                          float *dx)
{
    size_t L = q->half, L2 = 2 * L, oc = q->o * q->cs;
    job cx = {.l = l, .q = q, .batch = p->batch, .nt = channel_tasks(q, p), .in = dy, .mask = mask, .out = dx};
    lct__parallel(p->rt, p->threads, p->batch, 1, grad_rows, &cx);
    lct__parallel(p->rt, q->o * L2 > LCT__PAR_MIN ? p->threads : 1, q->o, 1, wino_grad_split_rows, &cx);
    /* G1 = E·D1ᵀ, G2 = S·D2ᵀ, G3 = O·D3ᵀ; dW0 = G1 + G2, dW1 = G2 + G3 */
    for (size_t j = 0; j < 3; j++)
        lct__gemm(p->rt, 0, 1, q->o, q->cs, L, 1.0f, q->y + j * q->o * L, L, q->p + j * q->cs * L, L, 0.0f,
                  q->dw + j * oc, q->cs);
    lct__parallel(p->rt, q->o * q->c * q->k > LCT__PAR_MIN ? p->threads : 1, q->o, 1, grad_weight_rows, &cx);
    if (l->has_bias) lct__parallel(p->rt, p->threads, q->o, 1, grad_bias_rows, &cx);
    if (!dx) return;
    weights(q, l->value[0], p);
    /* dD1 = W0ᵀ·E, dD2 = (W0 + W1)ᵀ·S, dD3 = W1ᵀ·O */
    for (size_t j = 0; j < 3; j++)
        lct__gemm(p->rt, 1, 0, q->cs, L, q->o, 1.0f, q->wr + j * oc, q->cs, q->y + j * q->o * L, L, 0.0f,
                  q->dd + j * q->cs * L, L);
    cx.collect = 1;
    lct__parallel_tasks(p->rt, (int)cx.nt, wino_channels, &cx);
}

void lct__conv1d_forward(lct__layer *l, const lct__pass *p, const float *x, float *y)
{
    plan q = plan_of(l, p->batch, l->ws);
    if (q.wino) {
        wino_forward(l, p, &q, x, y);
        return;
    }
    job cx = {.l = l, .q = &q, .batch = p->batch, .in = x, .out = y};
    lct__parallel(p->rt, p->threads, q.c, 1, poly_channels, &cx);
    if (!q.small) {
        weights(&q, l->value[0], p);
        for (size_t t = 0; t < q.m; t++)
            lct__gemm(p->rt, 0, 0, q.o, q.ncol, q.cs, 1.0f, q.wr + t * q.o * q.cs, q.cs, q.p + t, q.ld,
                      t ? 1.0f : 0.0f, q.y, q.ld);
    }
    lct__parallel(p->rt, p->threads, p->batch, 1, out_rows, &cx);
}

void lct__conv1d_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy,
                          float *dx)
{
    (void)x; /* P is still in the workspace from the forward pass of this input */
    plan q = plan_of(l, p->batch, l->ws);
    /* (a max pool after the ReLU applies the mask itself, as after a batch norm) */
    const float *mask = l->fuse_relu && !l->mask_in_pool ? y : NULL;
    if (q.wino) {
        wino_backward(l, p, &q, mask, dy, dx);
        return;
    }
    job cx = {.l = l, .q = &q, .batch = p->batch, .in = dy, .mask = mask, .out = dx};
    if (q.small) {
        lct__parallel(p->rt, p->threads, q.o, 1, small_grad_rows, &cx);
        if (!dx) return;
    }
    lct__parallel(p->rt, p->threads, p->batch, 1, grad_rows, &cx);
    if (!q.small) {
        /* dW_q of every tap, then W's layout */
        for (size_t t = 0; t < q.m; t++)
            lct__gemm(p->rt, 0, 1, q.o, q.cs, q.ncol, 1.0f, q.y, q.ld, q.p + t, q.ld, 0.0f, q.dw + t * q.o * q.cs,
                      q.cs);
        lct__parallel(p->rt, q.o * q.c * q.k > LCT__PAR_MIN ? p->threads : 1, q.o, 1, grad_weight_rows, &cx);
        if (l->has_bias) lct__parallel(p->rt, p->threads, q.o, 1, grad_bias_rows, &cx);
    }
    if (!dx) return;
    weights(&q, l->value[0], p);
    /* dP: the first tap writes its columns, the last m − 1 start at zero */
    for (size_t c = 0; c < q.cs; c++) memset(q.dp + c * q.ld + q.ncol, 0, (q.ld - q.ncol) * sizeof(float));
    for (size_t t = 0; t < q.m; t++)
        lct__gemm(p->rt, 1, 0, q.cs, q.ncol, q.o, 1.0f, q.wr + t * q.o * q.cs, q.cs, q.y, q.ld, t ? 1.0f : 0.0f,
                  q.dp + t, q.ld);
    lct__parallel(p->rt, p->threads, q.c, 1, collect_channels, &cx);
}

const lct__layer_ops lct__conv1d_ops = {lct__conv_init, lct__dense_tensors, lct__conv1d_ws, lct__conv1d_forward,
                                        lct__conv1d_backward, lct__conv_spec, 1};
