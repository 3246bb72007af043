/*
 * Batch normalisation over the first axis of each sample (features of D,
 * channels of C×L and C×H×W). Statistics are summed in double, each channel by
 * one thread in a fixed order, so results do not depend on the thread count.
 * Layout: x[b][c][s] with S = spatial size (1 for vectors).
 */
#include <math.h>

#include "encoder_internal.h"
#include "../comm/comm.h"


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
    /* mean, invstd, Σdy, Σdy·x̂, k1, k2, k3, spare; then partials (k, Σ, Σ²) per sample and channel */
    size_t c = l->in.d[0];
    return 8 * lct__round16(c) + (l->in_size > c ? lct__round16(3 * batch * c) : 0);
}

float *lct__bn_partials(const lct__layer *bn)
{
    return bn->ws + 8 * lct__round16(bn->in.d[0]);
}

typedef struct bn_view {
    size_t c, s, n; /* channels, spatial, elements per channel over the batch */
    float *mean, *invstd, *sdy, *sdyx, *k1, *k2, *k3;
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
    v.k1 = l->ws + 4 * r;
    v.k2 = l->ws + 5 * r;
    v.k3 = l->ws + 6 * r;
    return v;
}

/* What the loops over channels, samples or column blocks read. */
typedef struct bn_job {
    const lct__pass *p;
    const lct__layer *l;
    const bn_view *v;
    const float *x, *dy, *mask, *a, *b;
    float *y, *part, *dx;
    double *var_out;
    size_t cols; /* per column block (S = 1) */
    int relu;
    /* backward with a fused pool: its window choices, selected inputs and outputs per plane */
    const int32_t *arg;
    const float *sel;
    size_t pn;
} bn_job;

/* Σ(x − k) and Σ(x − k)² in one pass; the shift k (a sample of the channel) keeps the variance accurate. */
LCT__VEC static void sums_shifted(const float *x, size_t n, float k, float *s1, float *s2)
{
    /* 16 independent lanes: vectorised, and no sum's order depends on the thread count */
    lct__v16 a = {0}, b = {0}, kv = a + k;
    float sa = 0.0f, sb = 0.0f;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lct__v16 d;
        LCT__LOAD(d, x + i);
        d -= kv;
        a += d;
        b += d * d;
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

/* Row kernels of the vector (S = 1) layout: columns are channels, each row one sample. */
LCT__VEC static void row_add(float *acc, const float *x, size_t n)
{
    for (size_t j = 0; j < n; j++) acc[j] += x[j];
}

LCT__VEC static void row_sqdev(float *acc, const float *x, const float *m, size_t n)
{
    for (size_t j = 0; j < n; j++) acc[j] += (x[j] - m[j]) * (x[j] - m[j]);
}

LCT__VEC static void row_dot2(float *s1, float *s2, const float *dy, const float *x, const float *y, const float *m,
                              size_t n)
{
    if (y)
        for (size_t j = 0; j < n; j++) {
            float d = y[j] > 0.0f ? dy[j] : 0.0f;
            s1[j] += d;
            s2[j] += d * (x[j] - m[j]);
        }
    else
        for (size_t j = 0; j < n; j++) {
            s1[j] += dy[j];
            s2[j] += dy[j] * (x[j] - m[j]);
        }
}

LCT__VEC static void row_dx(float *dx, const float *dy, const float *x, const float *y, const float *m,
                            const float *k1, const float *k2, const float *k3, size_t n)
{
    if (y)
        for (size_t j = 0; j < n; j++) dx[j] = k1[j] * (y[j] > 0.0f ? dy[j] : 0.0f) - k2[j] - k3[j] * (x[j] - m[j]);
    else
        for (size_t j = 0; j < n; j++) dx[j] = k1[j] * dy[j] - k2[j] - k3[j] * (x[j] - m[j]);
}

/* Columns per block of the vector layout's column sums: one contiguous block per thread, so that
 * each row is read in long sequential runs (blocks of a few hundred columns read 1 KB pieces 4 KB
 * apart, which the prefetcher does not follow across pages). Every column is summed over the rows in
 * order whatever the blocks, so the sums do not depend on them. */
static size_t col_block(size_t c, size_t rows, int threads)
{
    if (threads < 2 || rows * c <= LCT__PAR_MIN) return c;
    size_t w = ((c + (size_t)threads - 1) / (size_t)threads + 15) & ~(size_t)15;
    return w < c ? w : c;
}

void lct__bn_partial(const float *y, size_t n, float *out3)
{
    /* two passes over values still in cache: the sample's mean, then squared deviations around it */
    float s1, s2, unused;
    sums_shifted(y, n, 0.0f, &s1, &unused);
    float m = s1 / (float)n;
    sums_shifted(y, n, m, &s1, &s2);
    out3[0] = m;
    out3[1] = s1; /* Σ(y − m): rounding residue, kept for the merge */
    out3[2] = s2;
}

static void merge_channels(void *ctx, size_t c0, size_t c1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const bn_view *v = job->v;
    double ns = (double)v->s;
    for (size_t c = c0; c < c1; c++) {
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (size_t b = 0; b < job->p->batch; b++) {
            const float *q = job->part + (b * v->c + c) * 3;
            double mb = (double)q[0] + (double)q[1] / ns, m2b = (double)q[2] - (double)q[1] * q[1] / ns;
            if (m2b < 0.0) m2b = 0.0;
            double tot = n + ns, d = mb - mean;
            mean += d * ns / tot;
            m2 += m2b + d * d * n * ns / tot;
            n = tot;
        }
        v->mean[c] = (float)mean;
        job->var_out[c] = m2 / n;
    }
}

/* Mean and variance from per-sample partials, merged in sample order in double (Chan et al.). */
static void merge_partials(const lct__pass *p, const bn_view *v, float *part, double *var_out)
{
    bn_job job = {.p = p, .v = v, .part = part, .var_out = var_out};
    lct__parallel(p->rt, p->batch * v->c > 4096 ? p->threads : 1, v->c, 1, merge_channels, &job);
}

static void stats_blocks(void *ctx, size_t k0, size_t k1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const bn_view *v = job->v;
    const float *x = job->x;
    double *var_out = job->var_out;
    size_t B = job->p->batch, cols = job->cols;
    for (size_t k = k0; k < k1; k++) {
        size_t j0 = k * cols, len = j0 + cols < v->c ? cols : v->c - j0;
        float *s1 = v->k1 + j0, *s2 = v->k2 + j0;
        memset(s1, 0, len * sizeof *s1);
        memset(s2, 0, len * sizeof *s2);
        for (size_t b = 0; b < B; b++) row_add(s1, x + b * v->c + j0, len);
        for (size_t j = 0; j < len; j++) v->mean[j0 + j] = s1[j] / (float)v->n;
        for (size_t b = 0; b < B; b++) row_sqdev(s2, x + b * v->c + j0, v->mean + j0, len);
        for (size_t j = 0; j < len; j++) var_out[j0 + j] = (double)s2[j] / (double)v->n;
    }
}

static void partial_planes(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const bn_view *v = job->v;
    for (size_t r = r0; r < r1; r++) lct__bn_partial(job->x + r * v->s, v->s, job->part + r * 3);
}

/* Batch mean and variance per channel into v.mean and v.invstd (as variance, for now). */
static void batch_stats(const lct__pass *p, const bn_view *v, const float *x, float *part, double *var_out)
{
    size_t B = p->batch;
    bn_job job = {.p = p, .v = v, .x = x, .part = part, .var_out = var_out};
    if (v->s == 1) {
        /* each thread owns whole columns and sums their rows in order */
        job.cols = col_block(v->c, B, p->threads);
        size_t nblk = (v->c + job.cols - 1) / job.cols;
        lct__parallel(p->rt, nblk > 1 ? p->threads : 1, nblk, 1, stats_blocks, &job);
    } else {
        /* per (sample, channel) partials, each plane read twice while in cache, then merged in order */
        lct__parallel(p->rt, B * v->c * v->s > LCT__PAR_MIN ? p->threads : 1, B * v->c, 1, partial_planes, &job);
        merge_partials(p, v, part, var_out);
    }
}

int lct__bn_fuses_pool(const lct__layer *bn, const lct__layer *relu, const lct__layer *pool)
{
    return bn->kind == LCT__L_BATCHNORM && relu->kind == LCT__L_RELU && lct__pool_is_max2x2(pool) &&
           bn->in.rank == 3 && bn->in_size / bn->in.d[0] <= LCT__FUSE_PLANE;
}

/* Fused with ReLU and the 2x2 max pool. relu(a·x + b) with a = γ·σ⁻¹ is monotone in x (rising where
 * γ >= 0, falling where γ < 0), so each window's winner is its largest (smallest) input: the raw planes
 * are pooled, only the pooled values are normalised, and the winners' inputs x_sel are kept for backward. */
LCT__VEC static void neg(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = -x[i];
}

void lct__bn_pool_plane(const lct__layer *l, const lct__pass *p, size_t b, size_t c, const float *x)
{
    size_t h = l->in.d[1], w = l->in.d[2], C = l->in.d[0], s = h * w, n = l->pool->out_size / C, r = b * C + c;
    float *sr = lct__pool_sel(l->pool, p->batch) + r * n;
    int32_t *arg = (int32_t *)l->pool->ws + r * n;
    if (!(l->value[0][c] < 0.0f)) {
        lct__max2x2_plane_fast(x, h, w, sr, arg);
    } else {
        float plane[LCT__FUSE_PLANE] __attribute__((aligned(64)));
        neg(x, plane, s);
        lct__max2x2_plane_fast(plane, h, w, sr, arg);
        neg(sr, sr, n);
    }
}

static void normalise_pool_planes(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const lct__pass *p = job->p;
    const lct__layer *l = job->l;
    const bn_view *v = job->v;
    const float *x = job->x, *a = job->a, *b = job->b;
    size_t n = l->pool->out_size / v->c;
    float *y = l->pool_y, *sel = lct__pool_sel(l->pool, p->batch);
    for (size_t r = r0; r < r1; r++) {
        size_t c = r % v->c;
        /* a convolution before has already made the choice on each plane while it was in cache */
        if (!l->by_conv) lct__bn_pool_plane(l, p, r / v->c, c, x + r * v->s);
        affine_relu(sel + r * n, y + r * n, n, a[c], b[c]);
    }
}

/* Rows of the vector layout (S = 1) or planes. */
static void normalise_rows(void *ctx, size_t r0, size_t r1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    const bn_view *v = job->v;
    const float *x = job->x, *a = job->a, *b = job->b;
    float *y = job->y;
    int relu = job->relu;
    if (v->s == 1) {
        for (size_t r = r0; r < r1; r++) {
            if (relu) affine_cols_relu(x + r * v->c, y + r * v->c, v->c, a, b);
            else affine_cols(x + r * v->c, y + r * v->c, 0, v->c, a, b);
        }
    } else {
        for (size_t r = r0; r < r1; r++) {
            size_t c = r % v->c;
            if (relu) affine_relu(x + r * v->s, y + r * v->s, v->s, a[c], b[c]);
            else affine(x + r * v->s, y + r * v->s, v->s, a[c], b[c]);
        }
    }
}

/* y = x·a[c] + b[c], optionally followed by ReLU; with a pool behind, into the pooled output. */
static void normalise(const lct__pass *p, const lct__layer *l, const bn_view *v, const float *x, float *y,
                      const float *a, const float *b)
{
    size_t B = p->batch;
    bn_job job = {.p = p, .l = l, .v = v, .x = x, .y = y, .a = a, .b = b, .relu = l->fuse_relu};
    int threads = B * v->c * v->s > LCT__PAR_MIN ? p->threads : 1; /* B·C when S = 1 */
    if (l->pool) lct__parallel(p->rt, threads, B * v->c, 1, normalise_pool_planes, &job);
    else lct__parallel(p->rt, threads, v->s == 1 ? B : B * v->c, 1, normalise_rows, &job);
}

/*
 * Synchronised statistics: every rank's (mean, M2) per channel are gathered and merged in rank order
 * (Chan et al.), so every rank normalises with the statistics of the global batch, bit for bit the
 * same. Returns 0, or records the failure in p->comm_rc.
 */
static int sync_stats(const lct__pass *p, bn_view *v, double *var)
{
    const size_t C = v->c, P = (size_t)lct__comm_size(p->comm);
    double *send = p->sync, *recv = p->sync + 2 * C, nl = (double)v->n;
    for (size_t c = 0; c < C; c++) {
        send[2 * c] = v->mean[c];
        send[2 * c + 1] = var[c] * nl;
    }
    int rc = lct__comm_allgather(p->comm, send, recv, 2 * C * sizeof *send, p->func);
    if (rc) {
        *p->comm_rc = rc;
        return rc;
    }
    for (size_t c = 0; c < C; c++) {
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (size_t r = 0; r < P; r++) {
            double mb = recv[r * 2 * C + 2 * c], m2b = recv[r * 2 * C + 2 * c + 1];
            double tot = n + nl, d = mb - mean;
            mean += d * nl / tot;
            m2 += m2b + d * d * n * nl / tot;
            n = tot;
        }
        v->mean[c] = (float)mean;
        var[c] = m2 / n;
    }
    v->n *= P;
    return 0;
}

/* Σdy and Σdy·x̂ of the global batch: every rank's, summed in rank order in double. */
static int sync_sums(const lct__pass *p, bn_view *v)
{
    const size_t C = v->c, P = (size_t)lct__comm_size(p->comm);
    double *send = p->sync, *recv = p->sync + 2 * C;
    for (size_t c = 0; c < C; c++) {
        send[2 * c] = v->sdy[c];
        send[2 * c + 1] = v->sdyx[c];
    }
    int rc = lct__comm_allgather(p->comm, send, recv, 2 * C * sizeof *send, p->func);
    if (rc) {
        *p->comm_rc = rc;
        return rc;
    }
    for (size_t c = 0; c < C; c++) {
        double a = 0.0, b = 0.0;
        for (size_t r = 0; r < P; r++) {
            a += recv[r * 2 * C + 2 * c];
            b += recv[r * 2 * C + 2 * c + 1];
        }
        v->sdy[c] = (float)a;
        v->sdyx[c] = (float)b;
    }
    v->n *= P;
    return 0;
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
        if (l->stats_in)
            merge_partials(p, &v, lct__bn_partials(l), vp);
        else
            batch_stats(p, &v, x, lct__bn_partials(l), vp);
        if (p->comm && sync_stats(p, &v, vp)) return;
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
    normalise(p, l, &v, x, y, a, b);
}

/* With a fused ReLU, dy only passes where the output y is positive (a bit mask, so it vectorises). */
LCT__VEC static void dot2(const float *x, const float *dy, const float *y, size_t n, float m, float *s1, float *s2)
{
    lct__v16 a = {0}, b = {0}, zero = {0}, mv = zero + m;
    float sa = 0.0f, sb = 0.0f;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lct__v16 xv, dv, yv;
        LCT__LOAD(xv, x + i);
        LCT__LOAD(dv, dy + i);
        if (y) {
            LCT__LOAD(yv, y + i);
            dv = (lct__v16)((lct__vi16)dv & (yv > zero));
        }
        a += dv;
        b += dv * (xv - mv);
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
    lct__v16 zero = {0}, mv = zero + m, k1v = zero + k1, k2v = zero + k2, k3v = zero + k3;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lct__v16 xv, dv, yv, r;
        LCT__LOAD(xv, x + i);
        LCT__LOAD(dv, dy + i);
        if (y) {
            LCT__LOAD(yv, y + i);
            dv = (lct__v16)((lct__vi16)dv & (yv > zero));
        }
        r = k1v * dv - k2v - k3v * (xv - mv);
        LCT__STORE(dx + i, r);
    }
    for (; i < n; i++) dx[i] = k1 * (y && !(y[i] > 0.0f) ? 0.0f : dy[i]) - k2 - k3 * (x[i] - m);
}

/* Σdy and Σdy·(x − mean) per channel over the batch: column blocks of the vector layout, or channels. */
static void sum_dy(void *ctx, size_t k0, size_t k1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    bn_view v = *job->v;
    size_t B = job->p->batch, pn = job->pn;
    const lct__layer *pool = job->l->pool;
    const float *x = job->x, *dy = job->dy, *mask = job->mask, *sel = job->sel, *pool_y = job->l->pool_y;
    if (v.s == 1) {
        size_t cols = job->cols;
        for (size_t k = k0; k < k1; k++) {
            size_t j0 = k * cols, len = j0 + cols < v.c ? cols : v.c - j0;
            memset(v.sdy + j0, 0, len * sizeof(float));
            memset(v.sdyx + j0, 0, len * sizeof(float));
            for (size_t b = 0; b < B; b++)
                row_dot2(v.sdy + j0, v.sdyx + j0, dy + b * v.c + j0, x + b * v.c + j0,
                         mask ? mask + b * v.c + j0 : NULL, v.mean + j0, len);
            for (size_t j = j0; j < j0 + len; j++) v.sdyx[j] *= v.invstd[j];
        }
    } else {
        for (size_t c = k0; c < k1; c++) {
            double s1 = 0.0, s2 = 0.0;
            for (size_t b = 0; b < B; b++) {
                float a, bb;
                size_t off = (b * v.c + c) * v.s;
                if (pool) {
                    /* dy is zero off the winners: the sums run over the pooled plane and the winners' inputs */
                    size_t po = (b * v.c + c) * pn;
                    dot2(sel + po, dy + po, pool_y + po, pn, v.mean[c], &a, &bb);
                } else {
                    dot2(x + off, dy + off, mask ? mask + off : NULL, v.s, v.mean[c], &a, &bb);
                }
                s1 += a;
                s2 += bb;
            }
            v.sdy[c] = (float)s1;
            v.sdyx[c] = (float)(s2 * v.invstd[c]);
        }
    }
}

static void dx_samples(void *ctx, size_t b0, size_t b1, size_t slot)
{
    (void)slot;
    const bn_job *job = ctx;
    bn_view v = *job->v;
    size_t pn = job->pn;
    const lct__layer *pool = job->l->pool;
    const float *x = job->x, *dy = job->dy, *mask = job->mask, *pool_y = job->l->pool_y;
    const int32_t *arg = job->arg;
    float *dx = job->dx;
    for (size_t b = b0; b < b1; b++) {
        if (v.s == 1) {
            size_t off = b * v.c;
            row_dx(dx + off, dy + off, x + off, mask ? mask + off : NULL, v.mean, v.k1, v.k2, v.k3, v.c);
        } else {
            for (size_t c = 0; c < v.c; c++) {
                size_t off = (b * v.c + c) * v.s;
                if (pool) {
                    float plane[LCT__FUSE_PLANE] __attribute__((aligned(64)));
                    size_t po = (b * v.c + c) * pn;
                    lct__unmax2x2_scatter(dy + po, pool_y + po, arg + po, pn, v.s, plane);
                    bn_dx(x + off, plane, NULL, dx + off, v.s, v.mean[c], v.k1[c], v.k2[c], v.k3[c]);
                    continue;
                }
                bn_dx(x + off, dy + off, mask ? mask + off : NULL, dx + off, v.s, v.mean[c], v.k1[c], v.k2[c], v.k3[c]);
            }
        }
    }
}

void lct__bn_backward(lct__layer *l, const lct__pass *p, const float *x, const float *y, const float *dy, float *dx)
{
    bn_view v = view(l, p->batch);
    size_t B = p->batch;
    bn_job job = {.p = p, .l = l, .v = &v, .x = x, .dy = dy, .dx = dx};
    /* the fused ReLU's mask, unless the max pool behind it already applied it (on 4x fewer values) */
    job.mask = l->fuse_relu && !l->mask_in_pool ? y : NULL;
    /* fused with ReLU and max pool: dy is the pooled gradient; the ReLU mask is the pooled output */
    const lct__layer *pool = l->pool;
    if (pool) {
        job.arg = (const int32_t *)pool->ws;
        job.sel = lct__pool_sel(pool, B);
        job.pn = pool->out_size / v.c;
    }
    const float *gamma = l->value[0];
    float *gg = l->grad[0], *gb = l->grad[1];
    /* Σdy and Σdy·(x − mean) per channel, in double over the batch */
    if (v.s == 1) {
        job.cols = col_block(v.c, B, p->threads);
        size_t nblk = (v.c + job.cols - 1) / job.cols;
        lct__parallel(p->rt, nblk > 1 ? p->threads : 1, nblk, 1, sum_dy, &job);
    } else {
        lct__parallel(p->rt, B * v.c * v.s > LCT__PAR_MIN ? p->threads : 1, v.c, 1, sum_dy, &job);
    }
    for (size_t c = 0; c < v.c; c++) {
        gg[c] += v.sdyx[c];
        gb[c] += v.sdy[c];
    }
    if (!dx) return;
    /* synchronised: dx needs the sums over the global batch (γ and β keep this rank's share, which the
     * optimiser averages) */
    if (p->comm && p->train && sync_sums(p, &v)) return;
    /* train: dx = γ·σ⁻¹·(dy − Σdy/N − x̂·Σdy·x̂/N); eval: dx = γ·σ⁻¹·dy */
    float inv_n = 1.0f / (float)v.n;
    for (size_t c = 0; c < v.c; c++) {
        v.k1[c] = gamma[c] * v.invstd[c];
        v.k2[c] = p->train ? v.k1[c] * v.sdy[c] * inv_n : 0.0f;
        v.k3[c] = p->train ? v.k1[c] * v.sdyx[c] * inv_n * v.invstd[c] : 0.0f;
    }
    if (l->by_conv) return; /* the convolution before makes each plane (lct__bn_dx_plane) */
    lct__parallel(p->rt, B * v.c * v.s > LCT__PAR_MIN ? p->threads : 1, B, 1, dx_samples, &job);
}

void lct__bn_dx_plane(const lct__layer *l, const lct__pass *p, const float *dy, size_t b, size_t c, const float *x,
                      float *dst)
{
    bn_view v = view(l, p->batch);
    const lct__layer *pool = l->pool;
    size_t pn = pool->out_size / v.c, po = (b * v.c + c) * pn;
    if (!x) x = l->bn_x + (b * v.c + c) * v.s;
    /* the plane's dy, scattered from the pooled gradient, then turned into dx in place */
    lct__unmax2x2_scatter(dy + po, l->pool_y + po, (const int32_t *)pool->ws + po, pn, v.s, dst);
    bn_dx(x, dst, NULL, dst, v.s, v.mean[c], v.k1[c], v.k2[c], v.k3[c]);
}

static size_t bn_tensors(const lct__layer *l, lct__tensor_desc *d)
{
    size_t c = l->in.d[0];
    d[0] = (lct__tensor_desc){"weight", c, 1, 1, LCT__INIT_ONES, 0};
    d[1] = (lct__tensor_desc){"bias", c, 1, 1, LCT__INIT_ZEROS, 0};
    d[2] = (lct__tensor_desc){"running_mean", c, 0, 0, LCT__INIT_ZEROS, 0};
    d[3] = (lct__tensor_desc){"running_var", c, 0, 0, LCT__INIT_ONES, 0};
    return 4;
}

static int spec_bn(const lct__layer *l, char *buf, size_t size)
{
    return snprintf(buf, size, "batchnorm momentum=%.9g eps=%.9g", (double)l->momentum, (double)l->eps);
}

const lct__layer_ops lct__bn_ops = {lct__bn_init, bn_tensors, lct__bn_ws, lct__bn_forward, lct__bn_backward,
                                    spec_bn, 1};
