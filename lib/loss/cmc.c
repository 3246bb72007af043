/* CMC: contrast every pair of views of the graph, both directions, by NCE over banks or in-batch softmax. */
#include <math.h>
#include <stdio.h>

#include "../bank/bank.h"
#include "loss_internal.h"

int lct_loss_new_cmc(lct_loss **out, lct_runtime *rt, size_t views, size_t dim, lct_bank *const *banks,
                     const lct_loss_cmc_options *opts)
{
    int rc = lct__loss_new_args(__func__, out, rt, NULL, NULL);
    if (rc) return rc;
    lct_loss_cmc_options o;
    LCT__OPTIONS_COPY(LCT__OPT_LOSS_CMC, lct_loss_cmc_options_init, o, opts);
    if ((rc = lct__loss_check_range(__func__, "views", views, 2, LCT__LOSS_MAX_VIEWS)) ||
        (rc = lct__loss_check_range(__func__, "dim", dim, 1, LCT__LOSS_MAX_DIM)))
        return rc;
    if (o.graph != LCT_CMC_CORE && o.graph != LCT_CMC_FULL)
        return LCT__FAIL(LCT_EINVAL, "opts->graph is %d; it must be an lct_cmc_graph", (int)o.graph);
    if (o.objective != LCT_CMC_NCE && o.objective != LCT_CMC_SOFTMAX)
        return LCT__FAIL(LCT_EINVAL, "opts->objective is %d; it must be an lct_cmc_objective", (int)o.objective);
    if (o.objective == LCT_CMC_NCE) {
        if (banks == NULL) return LCT__FAIL(LCT_EINVAL, "argument 'banks' is NULL (LCT_CMC_NCE needs one bank per view)");
        for (size_t v = 0; v < views; v++) {
            char what[32];
            snprintf(what, sizeof what, "banks[%zu]", v);
            if ((rc = lct__loss_check_bank(__func__, rt, banks[v], what))) return rc;
            if (lct__bank_d(banks[v]) != dim)
                return LCT__FAIL(LCT_ESHAPE, "banks[%zu] has D = %zu, but dim is %zu", v, lct__bank_d(banks[v]), dim);
            if (lct__bank_n(banks[v]) != lct__bank_n(banks[0]))
                return LCT__FAIL(LCT_ESHAPE, "banks[%zu] has N = %zu, but banks[0] has %zu", v, lct__bank_n(banks[v]),
                                 lct__bank_n(banks[0]));
        }
        if ((rc = lct__loss_check_sampling(__func__, o.k, o.sample_mode))) return rc;
        if (o.z_policy < LCT_Z_FIRST_BATCH || o.z_policy > LCT_Z_FIXED)
            return LCT__FAIL(LCT_EINVAL, "opts->z_policy is %d; it must be an lct_z_policy", (int)o.z_policy);
    }
    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_CMC);
    if (loss == NULL) return LCT_ENOMEM;
    loss->views = views;
    loss->dim = dim;
    loss->graph = o.graph;
    loss->objective = o.objective;
    if (o.objective == LCT_CMC_NCE) {
        if ((rc = lct__loss_setup_z(loss, views, o.z_policy, __func__))) {
            lct_loss_free(loss);
            return LCT__FAIL(LCT_ENOMEM, "cannot allocate the loss state");
        }
        for (size_t v = 0; v < views; v++) loss->banks[v] = banks[v];
        loss->n_rows = lct__bank_n(banks[0]);
        loss->k = o.k;
        loss->sample_mode = o.sample_mode;
    }
    *out = loss;
    return LCT_OK;
}

/* The in-batch softmax's workspace (ws NULL: the sizing pass): the rows' losses, two batch x B_g score
 * blocks; with more than one rank also the gathered views and their gradients (V x B_g x D each). */
typedef struct {
    double *row_loss; /* 2B */
    float *s, *t;     /* B x B_g each */
    float *fg, *dg;   /* V x B_g x D each, distributed only */
} cmc_ws;

static lct__wksp cmc_layout(const lct_loss *loss, size_t batch, void *ws, cmc_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    size_t P = lct__loss_ranks(loss), bg = batch * P;
    p->row_loss = lct__wksp_take(&w, batch, 2 * sizeof(double));
    p->s = lct__wksp_take(&w, batch, bg * sizeof(float));
    p->t = lct__wksp_take(&w, batch, bg * sizeof(float));
    p->fg = p->dg = NULL;
    if (P > 1) {
        p->fg = lct__wksp_take(&w, loss->views * bg, loss->dim * sizeof(float));
        p->dg = lct__wksp_take(&w, loss->views * bg, loss->dim * sizeof(float));
    }
    return w;
}

int lct__cmc_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    if (loss->objective == LCT_CMC_NCE) return lct__nce_workspace(loss, batch, bytes);
    cmc_ws p;
    return lct__loss_ws_size(cmc_layout(loss, batch, NULL, &p), batch, bytes, __func__);
}

/* The rows of both directions' score blocks, s (anchors of view a) then t (anchors of view b), each
 * batch x w; anchor i's positive is candidate off + i. */
typedef struct {
    float *s, *t;
    double *row_loss;
    size_t batch, w, off;
    double inv_tau, scale;
    int grad;
} pair_rows_ctx;

static void pair_rows(void *ctx, size_t r0, size_t r1, size_t slot)
{
    const pair_rows_ctx *c = ctx;
    const size_t batch = c->batch, w = c->w;
    (void)slot;
    for (size_t r = r0; r < r1; r++) {
        float *row = r < batch ? c->s + r * w : c->t + (r - batch) * w;
        size_t label = c->off + (r < batch ? r : r - batch);
        c->row_loss[r] = lct__softmax_xent_row(row, w, label, c->inv_tau, c->grad ? row : NULL, c->scale, NULL);
    }
}

/* Both directions of the in-batch softmax between views a and b; gradients added to ga, gb. */
static double softmax_pair(lct_loss *loss, const float *fa, const float *fb, size_t batch, float *ga, float *gb)
{
    lct_runtime *rt = loss->rt;
    const size_t d = loss->dim;
    cmc_ws p;
    cmc_layout(loss, batch, loss->ws, &p);
    double *row_loss = p.row_loss;
    float *s = p.s, *t = p.t;
    lct__gemm(rt, 0, 1, batch, batch, d, 1.0f, fa, d, fb, d, 0.0f, s, batch);
    for (size_t i = 0; i < batch; i++)
        for (size_t j = 0; j < batch; j++) t[j * batch + i] = s[i * batch + j];
    const double inv_tau = 1.0 / loss->tau, scale = 1.0 / (loss->tau * (double)batch);
    const int grad = ga != NULL;
    pair_rows_ctx pc = {s, t, row_loss, batch, batch, 0, inv_tau, scale, grad};
    lct__parallel(rt, lct__threads(rt), 2 * batch, 1, pair_rows, &pc);
    double total = 0.0;
    for (size_t r = 0; r < 2 * batch; r++) total += row_loss[r];
    if (grad) {
        /* dL/dS = G_rows + G_cols^T; then dfa += dS fb and dfb += dS^T fa. */
        for (size_t i = 0; i < batch; i++)
            for (size_t j = 0; j < batch; j++) s[i * batch + j] += t[j * batch + i];
        lct__gemm(rt, 0, 0, batch, d, batch, 1.0f, s, batch, fb, d, 1.0f, ga, d);
        lct__gemm(rt, 1, 0, batch, d, batch, 1.0f, s, batch, fa, d, 1.0f, gb, d);
    }
    return total / (double)batch;
}

/*
 * Global in-batch negatives (CMC-softmax): every view's embeddings are all-gathered (V x B_g x D, rank
 * order). For a pair (a, b) this rank's anchors of view a score against all of view b and back; the
 * gradients of other ranks' embeddings are summed into a V x B_g x D buffer, all-reduced once at the end.
 */
static double softmax_pair_dist(lct_loss *loss, size_t a, size_t b, const float *const *f, size_t batch,
                                const float *fg, float *dg, float *const *df)
{
    lct_runtime *rt = loss->rt;
    lct_comm *c = loss->comm;
    const size_t d = loss->dim, bg = batch * (size_t)lct__comm_size(c), off = batch * (size_t)lct__comm_rank(c);
    cmc_ws p;
    cmc_layout(loss, batch, loss->ws, &p);
    double *row_loss = p.row_loss;
    float *s = p.s, *t = p.t;
    const float *fag = fg + a * bg * d, *fbg = fg + b * bg * d;
    lct__gemm(rt, 0, 1, batch, bg, d, 1.0f, f[a], d, fbg, d, 0.0f, s, bg);
    lct__gemm(rt, 0, 1, batch, bg, d, 1.0f, f[b], d, fag, d, 0.0f, t, bg);
    const double inv_tau = 1.0 / loss->tau, scale = 1.0 / (loss->tau * (double)batch);
    const int grad = df != NULL;
    pair_rows_ctx pc = {s, t, row_loss, batch, bg, off, inv_tau, scale, grad};
    lct__parallel(rt, lct__threads(rt), 2 * batch, 1, pair_rows, &pc);
    double total = 0.0;
    for (size_t r = 0; r < 2 * batch; r++) total += row_loss[r];
    if (grad) {
        /* own anchors: df_a += G_s fb_g, df_b += G_t fa_g; candidates: dg_b += G_s^T f_a, dg_a += G_t^T f_b */
        lct__gemm(rt, 0, 0, batch, d, bg, 1.0f, s, bg, fbg, d, 1.0f, df[a], d);
        lct__gemm(rt, 0, 0, batch, d, bg, 1.0f, t, bg, fag, d, 1.0f, df[b], d);
        lct__gemm(rt, 1, 0, bg, d, batch, 1.0f, s, bg, f[a], d, 1.0f, dg + b * bg * d, d);
        lct__gemm(rt, 1, 0, bg, d, batch, 1.0f, t, bg, f[b], d, 1.0f, dg + a * bg * d, d);
    }
    return total / (double)batch;
}

/* The checks of a compute call: LCT_OK or the error recorded. */
static int cmc_checks(lct_loss *loss, const float *const *f, const int64_t *idx, size_t batch, float *const *df,
                      const char *func)
{
    const size_t views = loss->views, d = loss->dim;
    int rc;
    for (size_t v = 0; v < views; v++) {
        char what[32];
        snprintf(what, sizeof what, "f[%zu]", v);
        if (f[v] == NULL) return lct__fail(LCT_EINVAL, func, "argument '%s' is NULL", what);
        if (df && df[v] == NULL) return lct__fail(LCT_EINVAL, func, "argument 'df[%zu]' is NULL", v);
        if ((rc = lct__loss_check_finite(func, what, f[v], batch * d))) return rc;
    }
    if (loss->objective != LCT_CMC_NCE) {
        if (batch < 2)
            return lct__fail(LCT_EINVAL, func, "batch is 1: LCT_CMC_SOFTMAX needs other samples of the batch as negatives");
        return LCT_OK;
    }
    if (idx == NULL) return lct__fail(LCT_EINVAL, func, "argument 'idx' is NULL");
    if ((rc = lct__bank_check_idx(loss->banks[0], idx, batch, func, "idx"))) return rc;
    if (loss->z_policy == LCT_Z_FIXED)
        for (size_t v = 0; v < views; v++)
            if (!loss->z_known[v])
                return lct__fail(LCT_ESTATE, func, "Z policy is LCT_Z_FIXED but log Z of bank %zu was never set", v);
    return LCT_OK;
}

/* CMC-softmax over the global batch (see softmax_pair_dist); collective. */
static int cmc_softmax_dist(lct_loss *loss, const float *const *f, size_t batch, float *loss_out, float *const *df,
                            const char *func)
{
    lct_comm *c = loss->comm;
    const size_t views = loss->views, d = loss->dim, bg = batch * (size_t)lct__comm_size(c);
    cmc_ws p;
    cmc_layout(loss, batch, loss->ws, &p);
    float *fg = p.fg, *dg = p.dg;
    int rc;
    for (size_t v = 0; v < views; v++)
        if ((rc = lct__comm_allgather(c, f[v], fg + v * bg * d, batch * d * sizeof(float), func))) return rc;
    if (df) memset(dg, 0, views * bg * d * sizeof *dg);
    double total = 0.0;
    for (size_t a = 0; a < views; a++)
        for (size_t b = a + 1; b < views; b++) {
            if (loss->graph == LCT_CMC_CORE && a != 0) continue;
            total += softmax_pair_dist(loss, a, b, f, batch, fg, dg, df);
        }
    if ((rc = lct__comm_sum_f64(c, &total, 1, func))) return rc;
    if (df) {
        if ((rc = lct__comm_allreduce_f32(c, dg, views * bg * d, func))) return rc;
        for (size_t v = 0; v < views; v++) {
            const float *mine = dg + (v * bg + (size_t)lct__comm_rank(c) * batch) * d;
            for (size_t i = 0; i < batch * d; i++) df[v][i] += mine[i];
        }
    }
    *loss_out = (float)(total / (double)lct__comm_size(c));
    return LCT_OK;
}

/* Every pair of the graph in one process (NCE: over the banks, which may be sharded). A failure after the
 * first direction restores the banks' draw counters and the Z state. */
static int cmc_pairs(lct_loss *loss, const float *const *f, const int64_t *idx, size_t batch, float *loss_out,
                     float *const *df, const char *func)
{
    const size_t views = loss->views;
    const int nce = loss->objective == LCT_CMC_NCE;
    uint64_t rng[LCT__LOSS_MAX_VIEWS][2];
    double log_z[LCT__LOSS_MAX_VIEWS];
    int z_known[LCT__LOSS_MAX_VIEWS];
    if (nce)
        for (size_t v = 0; v < views; v++) {
            lct__bank_rng_state(loss->banks[v], &rng[v][0], &rng[v][1]);
            log_z[v] = loss->log_z[v];
            z_known[v] = loss->z_known[v];
        }
    double total = 0.0;
    for (size_t a = 0; a < views; a++) {
        for (size_t b = a + 1; b < views; b++) {
            if (loss->graph == LCT_CMC_CORE && a != 0) continue;
            if (!nce) {
                total += softmax_pair(loss, f[a], f[b], batch, df ? df[a] : NULL, df ? df[b] : NULL);
                continue;
            }
            /* Anchor view a against view b's bank (positive: b's row of the sample), and back. */
            double l1 = 0.0, l2 = 0.0;
            int rc;
            if ((rc = lct__nce_direction(loss, b, f[a], NULL, idx, batch, &l1, df ? df[a] : NULL, NULL, 1, func)) ||
                (rc = lct__nce_direction(loss, a, f[b], NULL, idx, batch, &l2, df ? df[b] : NULL, NULL, 1, func))) {
                for (size_t v = 0; v < views; v++) {
                    lct__bank_set_rng_state(loss->banks[v], rng[v][0], rng[v][1]);
                    loss->log_z[v] = log_z[v];
                    loss->z_known[v] = z_known[v];
                }
                return rc;
            }
            total += l1 + l2;
        }
    }
    *loss_out = (float)total;
    return LCT_OK;
}

int lct_loss_cmc_compute(lct_loss *loss, const float *const *f, const int64_t *idx, size_t batch, float *loss_out,
                         float *const *df)
{
    int rc = lct__loss_check_call(__func__, loss, LCT_LOSS_CMC, batch);
    if (rc) return rc;
    LCT__REQUIRE(f);
    LCT__REQUIRE(loss_out);
    if ((rc = cmc_checks(loss, f, idx, batch, df, __func__))) return rc;
    const int nce = loss->objective == LCT_CMC_NCE;
    size_t bytes;
    rc = lct__cmc_workspace(loss, batch, &bytes);
    size_t gather = nce && loss->sample_mode >= LCT_BANK_SAMPLE_SHARED ? loss->k : 0;
    if (rc == LCT_OK) rc = lct__loss_reserve_banks(loss, bytes, batch, gather, __func__);
    if ((rc = lct__loss_agree(loss, rc, batch, __func__))) return rc;
    if (df)
        for (size_t v = 0; v < loss->views; v++) memset(df[v], 0, batch * loss->dim * sizeof(float));
    if (!nce && lct__comm_active(loss->comm)) return cmc_softmax_dist(loss, f, batch, loss_out, df, __func__);
    return cmc_pairs(loss, f, idx, batch, loss_out, df, __func__);
}
