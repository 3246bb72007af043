/* CPC's InfoNCE: scores z_{t+k}^T W_k c_t, cross-entropy over a named set of negatives. */
#include <math.h>
#include <stdio.h>

#include "loss_internal.h"

int lct_loss_new_infonce(lct_loss **out, lct_runtime *rt, size_t seq_len, size_t latent_dim, size_t context_dim,
                         const lct_loss_infonce_options *opts)
{
    int rc = lct__loss_new_args(__func__, out, rt, NULL, NULL);
    if (rc) return rc;
    lct_loss_infonce_options o;
    LCT__OPTIONS_COPY(LCT__OPT_LOSS_INFONCE, lct_loss_infonce_options_init, o, opts);
    if ((rc = lct__loss_check_range(__func__, "seq_len", seq_len, 2, LCT__LOSS_MAX_DIM)) ||
        (rc = lct__loss_check_range(__func__, "latent_dim", latent_dim, 1, LCT__LOSS_MAX_DIM)) ||
        (rc = lct__loss_check_range(__func__, "context_dim", context_dim, 1, LCT__LOSS_MAX_DIM)))
        return rc;
    if (o.steps == 0 || o.steps >= seq_len)
        return LCT__FAIL(LCT_EINVAL, "opts->steps is %u; it must be in 1..seq_len-1 (%zu)", (unsigned)o.steps,
                         seq_len - 1);
    if (o.negatives != LCT_INFONCE_BATCH && o.negatives != LCT_INFONCE_ALL && o.negatives != LCT_INFONCE_SEQUENCE)
        return LCT__FAIL(LCT_EINVAL, "opts->negatives is %d; it must be an lct_infonce_negatives",
                         (int)o.negatives);
    size_t per = latent_dim * context_dim, count;
    if (lct__mul_size(per, o.steps, &count) || count > ((size_t)1 << 31))
        return LCT__FAIL(LCT_EINVAL, "steps x latent_dim x context_dim (%u x %zu x %zu) is too large",
                         (unsigned)o.steps, latent_dim, context_dim);

    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_INFONCE);
    if (loss == NULL) return LCT_ENOMEM;
    loss->seq_len = seq_len;
    loss->dim = latent_dim;
    loss->ctx_dim = context_dim;
    loss->steps = o.steps;
    loss->negatives = o.negatives;
    loss->w = lct__malloc(rt, count * sizeof(float));
    loss->gw = lct__calloc(rt, count, sizeof(float));
    loss->tensors = lct__calloc(rt, o.steps, sizeof *loss->tensors);
    loss->names = lct__calloc(rt, o.steps, 24);
    if (!loss->w || !loss->gw || !loss->tensors || !loss->names) {
        lct_loss_free(loss);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate %zu W_k weights", count);
    }
    /* PyTorch's nn.Linear default: uniform in +-1/sqrt(fan_in). */
    lct__rng r;
    lct__rng_seed(&r, lct_runtime_seed(rt), lct__runtime_next_stream(rt));
    float bound = (float)(1.0 / sqrt((double)context_dim));
    for (size_t i = 0; i < count; i++) loss->w[i] = (2.0f * lct__rng_uniform(&r) - 1.0f) * bound;
    for (size_t k = 0; k < o.steps; k++) {
        char *name = loss->names + 24 * k;
        snprintf(name, 24, "infonce.w%zu", k + 1);
        loss->tensors[k] =
            (lct__tensor){.name = name, .value = loss->w + k * per, .grad = loss->gw + k * per, .count = per};
    }
    loss->params.tensors = loss->tensors;
    loss->params.n_tensors = o.steps;
    *out = loss;
    return LCT_OK;
}

/* LCT_INFONCE_ALL scores a chunk of sequences at a time against all B·T candidates, one GEMM per chunk:
 * as many sequences as keep the chunk's scores within 4 Mi floats (at least one; tests set fewer). */
static size_t all_chunk(size_t batch, size_t t, size_t all)
{
    size_t all_block = (size_t)lct__test_control(LCT__TESTCTRL_GET_INFONCE_BLOCK);
    size_t per = t * all * t, g = per >= all_block ? 1 : all_block / per;
    return g < batch ? g : batch;
}

/* Score blocks of one step k: all blocks at once for the modes whose blocks run in parallel. `all`:
 * sequences of the global batch (the candidates; = batch in one process). */
static size_t block_elems(const lct_loss *loss, size_t batch, size_t all)
{
    size_t t = loss->seq_len;
    switch (loss->negatives) {
    case LCT_INFONCE_BATCH: return (t - 1) * batch * all;
    case LCT_INFONCE_SEQUENCE: return batch * (t - 1) * t;
    default: return all_chunk(batch, t, all) * t * all * t;
    }
}

/* The workspace (ws NULL: the sizing pass): per anchor row its loss and verdict, the K predictions of
 * every row and their gradients, the score blocks; with more than one rank also the latents of the
 * global batch and their gradient. */
typedef struct {
    double *row_loss;  /* BT */
    int32_t *correct;  /* 2 BT */
    float *pred, *dpred; /* BT x KD each */
    float *s;          /* block_elems */
    float *zg, *dzg;   /* (P B) T x D each, distributed only */
} infonce_ws;

static lct__wksp infonce_layout(const lct_loss *loss, size_t batch, void *ws, infonce_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    const size_t T = loss->seq_len, KD = loss->dim * loss->steps, P = lct__loss_ranks(loss);
    size_t bt, all, blk;
    if (lct__mul_size(batch, T, &bt) || lct__mul_size(batch, P, &all) || lct__mul_size(all, T * T, &blk)) {
        w.overflow = 1;
        return w;
    }
    p->row_loss = lct__wksp_take(&w, bt, sizeof(double));
    p->correct = lct__wksp_take(&w, bt, 2 * sizeof(int32_t));
    p->pred = lct__wksp_take(&w, bt, KD * sizeof(float));
    p->dpred = lct__wksp_take(&w, bt, KD * sizeof(float));
    p->s = lct__wksp_take(&w, block_elems(loss, batch, all), sizeof(float));
    p->zg = p->dzg = NULL;
    if (P > 1) {
        p->zg = lct__wksp_take(&w, all * T, loss->dim * sizeof(float));
        p->dzg = lct__wksp_take(&w, all * T, loss->dim * sizeof(float));
    }
    return w;
}

int lct__infonce_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    infonce_ws p;
    return lct__loss_ws_size(infonce_layout(loss, batch, NULL, &p), batch, bytes, __func__);
}

static double max_row_norm(const float *x, size_t rows, size_t cols)
{
    double best = 0.0;
    for (size_t r = 0; r < rows; r++) {
        double acc = 0.0;
        for (size_t j = 0; j < cols; j++) acc += (double)x[r * cols + j] * x[r * cols + j];
        if (acc > best) best = acc;
    }
    return sqrt(best);
}

/* Blocks this small (the batch mode's B × B scores) cost BLIS more in call and packing overhead
 * than in arithmetic: plain loops instead, in a fixed order. */
#define SMALL_BLOCK 65536

typedef float small_v16 __attribute__((vector_size(64)));

/* s = a zcᵀ (m × n), dot products over D in 16 lanes, summed in a fixed order. */
LCT__VEC static void small_scores(const float *a, size_t lda, const float *zc, size_t ldz, size_t m, size_t n,
                                  size_t D, float *s)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            const float *x = a + i * lda, *y = zc + j * ldz;
            small_v16 acc = {0}, u, v;
            size_t d = 0;
            for (; d + 16 <= D; d += 16) {
                memcpy(&u, x + d, sizeof u);
                memcpy(&v, y + d, sizeof v);
                acc += u * v;
            }
            float t = 0.0f;
            for (; d < D; d++) t += x[d] * y[d];
            for (int l = 0; l < 16; l++) t += acc[l];
            s[i * n + j] = t;
        }
}

/* out_i = Σ_j g[i][j] y_j (beta 0: overwrite) or out_j += Σ_i g[i][j] y_i (trans: the transposed product, beta 1). */
LCT__VEC static void small_combine(const float *g, size_t m, size_t n, const float *y, size_t ldy, size_t D, float *out,
                          size_t ldo, int trans)
{
    if (!trans) {
        for (size_t i = 0; i < m; i++) {
            float *o = out + i * ldo;
            memset(o, 0, D * sizeof *o);
            for (size_t j = 0; j < n; j++) {
                float w = g[i * n + j];
                const float *yj = y + j * ldy;
                for (size_t d = 0; d < D; d++) o[d] += w * yj[d];
            }
        }
    } else {
        for (size_t j = 0; j < n; j++) {
            float *o = out + j * ldo;
            for (size_t i = 0; i < m; i++) {
                float w = g[i * n + j];
                const float *yi = y + i * ldy;
                for (size_t d = 0; d < D; d++) o[d] += w * yi[d];
            }
        }
    }
}

/* The score rows of run_block (rl, cr: its anchors' entries) or of run_all (row_loss, correct: the batch's). */
typedef struct {
    float *s;
    double *row_loss;
    int32_t *correct;
    size_t n, b_off, k, T, na, q0;
    double inv_tau, scale;
    int grad, mode;
} xent_ctx;

static void block_rows(void *ctx, size_t r0, size_t r1, size_t slot)
{
    const xent_ctx *c = ctx;
    float *s = c->s;
    double *rl = c->row_loss;
    int32_t *cr = c->correct;
    const size_t n = c->n, b_off = c->b_off, k = c->k;
    const int grad = c->grad, mode = c->mode;
    (void)slot;
    for (size_t r = r0; r < r1; r++) {
        size_t label = mode == LCT_INFONCE_BATCH ? r + b_off : r + k;
        int ok = 0;
        rl[r] = lct__softmax_xent_row(s + r * n, n, label, c->inv_tau, grad ? s + r * n : NULL, c->scale, &ok);
        cr[r] = ok;
    }
}

static void all_rows(void *ctx, size_t r0, size_t r1, size_t slot)
{
    const xent_ctx *c = ctx;
    float *s = c->s;
    double *row_loss = c->row_loss;
    int32_t *correct = c->correct;
    const size_t n = c->n, b_off = c->b_off, k = c->k, T = c->T, na = c->na, q0 = c->q0;
    const int grad = c->grad;
    (void)slot;
    for (size_t r = r0; r < r1; r++) {
        size_t q = q0 + r / T, t = r % T;
        if (t >= na) { /* no step k ahead of this row: not an anchor */
            if (grad) memset(s + r * n, 0, n * sizeof *s);
            continue;
        }
        int ok = 0;
        row_loss[q * na + t] = lct__softmax_xent_row(s + r * n, n, (q + b_off) * T + t + k, c->inv_tau,
                                                     grad ? s + r * n : NULL, c->scale, &ok);
        correct[q * na + t] = ok;
    }
}

/*
 * One block of anchors of step k against their candidates: scores, softmax cross-entropy per anchor,
 * and the gradients into dpred (the anchors' rows) and dz (the candidates' rows). `inner`: the call runs
 * inside a parallel region, so it uses single-threaded GEMMs and a serial row loop.
 */
static void run_block(const lct_loss *loss, const float *z, const float *pred, float *dpred, float *dz, float *s,
                      size_t batch, size_t all, size_t b_off, size_t k, size_t q, double scale, int grad, int inner,
                      double *row_loss, int32_t *correct)
{
    /* z, dz: latents of the `all` sequences of the global batch, this rank's from sequence b_off on */
    const size_t T = loss->seq_len, D = loss->dim, KD = loss->steps * D, na = T - k, col = (k - 1) * D;
    const int mode = loss->negatives;
    size_t m, n, lda, ldz, a_off, z_off;
    if (mode == LCT_INFONCE_BATCH) {
        a_off = q * KD + col, lda = T * KD, m = batch;
        z_off = (q + k) * D, ldz = T * D, n = all;
    } else { /* LCT_INFONCE_SEQUENCE (LCT_INFONCE_ALL: run_all) */
        a_off = q * T * KD + col, lda = KD, m = na;
        z_off = (q + b_off) * T * D, ldz = D, n = T;
    }
    const float *a = pred + a_off, *zc = z + z_off;
    int (*gemm)(lct_runtime *, int, int, size_t, size_t, size_t, float, const float *, size_t, const float *, size_t,
                float, float *, size_t) = inner ? lct__gemm1 : lct__gemm;
    lct_runtime *rt = loss->rt;
    const int small = inner && m * n * D <= SMALL_BLOCK;
    if (small) small_scores(a, lda, zc, ldz, m, n, D, s);
    else gemm(rt, 0, 1, m, n, D, 1.0f, a, lda, zc, ldz, 0.0f, s, n);
    double *rl = row_loss + q * m;
    int32_t *cr = correct + q * m;
    const double inv_tau = 1.0 / loss->tau;
    xent_ctx xc = {.s = s, .row_loss = rl, .correct = cr, .n = n, .b_off = b_off, .k = k, .inv_tau = inv_tau,
                   .scale = scale, .grad = grad, .mode = mode};
    lct__parallel(rt, !inner && m * n >= 16384 ? lct__threads(rt) : 1, m, 1, block_rows, &xc);
    if (grad && small) {
        small_combine(s, m, n, zc, ldz, D, dpred + a_off, lda, 0);
        if (dz) small_combine(s, m, n, a, lda, D, dz + z_off, ldz, 1);
    } else if (grad) {
        gemm(rt, 0, 0, m, D, n, 1.0f, s, n, zc, ldz, 0.0f, dpred + a_off, lda);
        if (dz) gemm(rt, 1, 0, n, D, m, 1.0f, s, n, a, lda, 1.0f, dz + z_off, ldz);
    }
}

/*
 * LCT_INFONCE_ALL, step k: the anchors of sequences q0 .. q0+g-1 (all their T rows, the last k of
 * each masked out) against every latent of the batch, one GEMM each way. dz accumulates over chunks.
 */
static void run_all(const lct_loss *loss, const float *z, const float *pred, float *dpred, float *dz, float *s,
                    size_t all, size_t b_off, size_t k, size_t q0, size_t g, double scale, int grad, double *row_loss,
                    int32_t *correct)
{
    const size_t T = loss->seq_len, D = loss->dim, KD = loss->steps * D, na = T - k, m = g * T, n = all * T;
    const float *a = pred + q0 * T * KD + (k - 1) * D;
    lct_runtime *rt = loss->rt;
    const double inv_tau = 1.0 / loss->tau;
    lct__gemm(rt, 0, 1, m, n, D, 1.0f, a, KD, z, D, 0.0f, s, n);
    xent_ctx xc = {.s = s, .row_loss = row_loss, .correct = correct, .n = n, .b_off = b_off, .k = k, .T = T,
                   .na = na, .q0 = q0, .inv_tau = inv_tau, .scale = scale, .grad = grad};
    lct__parallel(rt, m * n >= 16384 ? lct__threads(rt) : 1, m, 1, all_rows, &xc);
    if (grad) {
        lct__gemm(rt, 0, 0, m, D, n, 1.0f, s, n, z, D, 0.0f, dpred + q0 * T * KD + (k - 1) * D, KD);
        if (dz) lct__gemm(rt, 1, 0, n, D, m, 1.0f, s, n, a, KD, 1.0f, dz, D);
    }
}

/* The blocks of one step (LCT_INFONCE_BATCH, LCT_INFONCE_SEQUENCE), each with its own score block. */
typedef struct {
    const lct_loss *loss;
    const float *z, *pred;
    float *dpred, *dz, *s;
    size_t per, batch, all, b_off, k;
    double scale;
    int grad;
    double *row_loss;
    int32_t *correct;
} step_ctx;

static void step_blocks(void *ctx, size_t q0, size_t q1, size_t slot)
{
    const step_ctx *c = ctx;
    (void)slot;
    for (size_t q = q0; q < q1; q++)
        run_block(c->loss, c->z, c->pred, c->dpred, c->dz, c->s + q * c->per, c->batch, c->all, c->b_off, c->k, q,
                  c->scale, c->grad, 1, c->row_loss, c->correct);
}

/* The checks of a compute call, then the workspace: LCT_OK or the error recorded (not yet agreed on). */
static int infonce_checks(lct_loss *loss, const float *z, const float *c, size_t batch, const char *func)
{
    const size_t T = loss->seq_len, D = loss->dim, H = loss->ctx_dim, K = loss->steps, BT = batch * T;
    size_t bytes;
    int rc = lct__infonce_workspace(loss, batch, &bytes);
    if (rc == LCT_OK) rc = lct__loss_check_finite(func, "z", z, BT * D);
    if (rc == LCT_OK) rc = lct__loss_check_finite(func, "c", c, BT * H);
    if (rc == LCT_OK) rc = lct__loss_check_finite(func, "W_k (lct_loss_params)", loss->w, K * D * H);
    if (rc) return rc;
    /* |z^T W_k c| <= |z| |W_k|_F |c|: refuse up front what could overflow, so that no W_k gradient is
     * half accumulated when an error is returned. (Across ranks: max |z| over the global batch.) */
    double zmax = max_row_norm(z, BT, D), cmax = max_row_norm(c, BT, H), wmax = max_row_norm(loss->w, K, D * H);
    if (zmax * wmax * cmax > 1e37)
        return lct__fail(LCT_ENUMERIC, func, "scores could overflow float: max |z| %g, max |W_k| %g, max |c| %g; "
                         "scale the inputs down", zmax, wmax, cmax);
    return lct__loss_reserve(loss, bytes);
}

/* Step k's scores, loss and gradients for every anchor of the batch; returns the step's mean loss. */
static double infonce_step(lct_loss *loss, const infonce_ws *p, const float *zc, float *dzc, size_t batch, size_t all,
                           size_t b_off, size_t k, int grad, float *accuracy)
{
    const size_t T = loss->seq_len, na = T - k, nk = batch * na;
    const double scale = 1.0 / ((double)loss->steps * (double)nk * loss->tau);
    const int mode = loss->negatives;
    if (mode == LCT_INFONCE_ALL) {
        /* every chunk's dz touches every latent: chunks in turn, each GEMM with all threads */
        const size_t g = all_chunk(batch, T, all);
        for (size_t q0 = 0; q0 < batch; q0 += g)
            run_all(loss, zc, p->pred, p->dpred, dzc, p->s, all, b_off, k, q0, batch - q0 < g ? batch - q0 : g, scale,
                    grad, p->row_loss, p->correct);
    } else {
        /* blocks write disjoint rows of dpred and dz: one parallel region per step, blocks on single
         * threads (the batch mode's blocks are B x B, far too small to split) */
        size_t blocks = mode == LCT_INFONCE_BATCH ? na : batch;
        size_t per = mode == LCT_INFONCE_BATCH ? batch * all : (T - 1) * T;
        step_ctx sc = {loss,  zc, p->pred, p->dpred, dzc,         p->s,       per, batch,
                       all,   b_off, k,     scale,    grad, p->row_loss, p->correct};
        lct__parallel(loss->rt, lct__threads(loss->rt), blocks, 1, step_blocks, &sc);
    }
    double lk = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < nk; i++) {
        lk += p->row_loss[i];
        hits += (size_t)p->correct[i];
    }
    if (accuracy) accuracy[k - 1] = (float)((double)hits / (double)nk);
    return lk / (double)nk;
}

/* Global means over the ranks (every rank has the same number of anchors), and this rank's dz from the
 * all-reduced gradient of every candidate. */
static int infonce_reduce(lct_loss *loss, double *total, float *accuracy, const float *dzc, float *dz, size_t batch,
                          size_t b_off)
{
    lct_comm *comm = loss->comm;
    const size_t K = loss->steps, TD = loss->seq_len * loss->dim, P = (size_t)lct__comm_size(comm);
    double sums[1 + 64];
    size_t nk = accuracy && K <= 64 ? K : 0;
    sums[0] = *total;
    for (size_t k = 0; k < nk; k++) sums[1 + k] = accuracy[k];
    int rc = lct__comm_sum_f64(comm, sums, 1 + nk, "lct_loss_infonce_compute");
    if (rc) return rc;
    *total = sums[0] / (double)P;
    for (size_t k = 0; k < nk; k++) accuracy[k] = (float)(sums[1 + k] / (double)P);
    if (dz) {
        if ((rc = lct__comm_allreduce_f32(comm, (float *)dzc, P * batch * TD, "lct_loss_infonce_compute"))) return rc;
        memcpy(dz, dzc + b_off * TD, batch * TD * sizeof *dz);
    }
    return LCT_OK;
}

int lct_loss_infonce_compute(lct_loss *loss, const float *z, const float *c, size_t batch, float *loss_out,
                             float *dz, float *dc, float *accuracy)
{
    int rc = lct__loss_check_call(__func__, loss, LCT_LOSS_INFONCE, batch);
    if (rc) return rc;
    LCT__REQUIRE(z);
    LCT__REQUIRE(c);
    LCT__REQUIRE(loss_out);
    if (batch < 2 && loss->negatives == LCT_INFONCE_BATCH)
        return LCT__FAIL(LCT_EINVAL, "batch is 1: LCT_INFONCE_BATCH needs other sequences as negatives");
    rc = infonce_checks(loss, z, c, batch, __func__);
    if ((rc = lct__loss_agree(loss, rc, batch, __func__))) return rc;

    const size_t T = loss->seq_len, D = loss->dim, H = loss->ctx_dim, K = loss->steps, BT = batch * T, KD = K * D;
    lct_runtime *rt = loss->rt;
    infonce_ws p;
    infonce_layout(loss, batch, loss->ws, &p);
    const int grad = dz != NULL || dc != NULL;
    /* Global in-batch negatives: the latents of every rank's sequences (rank order) are the candidates;
     * the gradient of every candidate comes back through one all-reduce. */
    lct_comm *comm = lct__comm_active(loss->comm) ? loss->comm : NULL;
    const size_t all = batch * (size_t)lct__comm_size(comm), b_off = batch * (size_t)lct__comm_rank(comm);
    const float *zc = z;
    float *dzc = dz;
    if (comm) {
        if ((rc = lct__comm_allgather(comm, z, p.zg, BT * D * sizeof *z, __func__))) return rc;
        zc = p.zg;
        dzc = dz ? p.dzg : NULL;
    }

    /* All K predictions at once: row (b, t) of pred holds W_1 c, ..., W_K c (BT x KD, one GEMM with the
     * stacked W_k); their gradients come back the same way (dc = dpred W, dW += dpred^T c). */
    lct__gemm(rt, 0, 1, BT, KD, H, 1.0f, c, H, loss->w, H, 0.0f, p.pred, KD);
    if (grad) memset(p.dpred, 0, BT * KD * sizeof *p.dpred);
    if (dzc) memset(dzc, 0, all * T * D * sizeof *dzc);
    double total = 0.0;
    for (size_t k = 1; k <= K; k++) total += infonce_step(loss, &p, zc, dzc, batch, all, b_off, k, grad, accuracy);
    if (comm && (rc = infonce_reduce(loss, &total, accuracy, dzc, dz, batch, b_off))) return rc;
    if (grad) {
        lct__gemm(rt, 1, 0, KD, H, BT, 1.0f, p.dpred, KD, c, H, 1.0f, loss->gw, H);
        if (dc) lct__gemm(rt, 0, 0, BT, H, KD, 1.0f, p.dpred, KD, loss->w, H, 0.0f, dc, H);
    }
    *loss_out = (float)(total / (double)K);
    return LCT_OK;
}
