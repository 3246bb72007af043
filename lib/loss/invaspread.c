/* InvaSpread: in-batch instance loss with log(1 - p) terms for the negatives. */
#include <math.h>

#include "loss_internal.h"

int lct_loss_new_invaspread(lct_loss **out, lct_runtime *rt, size_t dim, const lct_loss_invaspread_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    lct_loss_invaspread_options o;
    LCT__OPTIONS_COPY(LCT__OPT_LOSS_INVASPREAD, lct_loss_invaspread_options_init, o, opts);
    if (dim == 0 || dim > LCT__LOSS_MAX_DIM)
        return LCT__FAIL(LCT_EINVAL, "dim is %zu; it must be in 1..%d", dim, LCT__LOSS_MAX_DIM);
    if (o.form != LCT_INVASPREAD_PAPER && o.form != LCT_INVASPREAD_CODE)
        return LCT__FAIL(LCT_EINVAL, "opts->form is %d; it must be an lct_invaspread_form", (int)o.form);
    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_INVASPREAD);
    if (loss == NULL) return LCT_ENOMEM;
    loss->dim = dim;
    loss->form = o.form;
    *out = loss;
    return LCT_OK;
}

/* The workspace (ws NULL: the sizing pass): per own row its loss and its scores against the ng rows of
 * the global batch; with more than one rank also the gathered batch and its gradient (ng x D each). */
typedef struct {
    double *row_loss; /* 2B */
    float *s;         /* 2B x ng */
    float *xg, *cg;   /* ng x D each, distributed only */
} spread_ws;

static lct__wksp spread_layout(const lct_loss *loss, size_t batch, void *ws, spread_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    size_t P = lct__loss_ranks(loss), n = 2 * batch, ng = n * P;
    p->row_loss = lct__wksp_take(&w, n, sizeof(double));
    p->s = lct__wksp_take(&w, n, ng * sizeof(float));
    p->xg = p->cg = NULL;
    if (P > 1) {
        p->xg = lct__wksp_take(&w, ng, loss->dim * sizeof(float));
        p->cg = lct__wksp_take(&w, ng, loss->dim * sizeof(float));
    }
    return w;
}

int lct__invaspread_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    spread_ws p;
    return lct__loss_ws_size(spread_layout(loss, batch, NULL, &p), batch, bytes, __func__);
}

/* log(e^a + e^b) without overflow. */
static double logaddexp(double a, double b)
{
    double hi = a > b ? a : b, lo = a > b ? b : a;
    return hi + log1p(exp(lo - hi));
}

/*
 * One anchor row i of S (n similarities), z_k = s_k / tau. Candidates of the softmax are every k != i,
 * plus k == i when `self` (the paper's denominator); every candidate but the positive is weighted by m
 * (the negative weight): D = e^z_pos + m Σ e^z_k, p_k = e^z_k / D. Loss of the row:
 * -log p_pos - m Σ_{j neg} log(1 - p_j), negatives being the candidates other than i and pos.
 * With m >= 1 at most one negative can have p > 1/2; its log(1 - p) comes from a log-sum-exp without
 * it, so the row stays finite however peaked the softmax is. Writes dL/ds_i* * scale into g (may alias s).
 *
 * Gradient: with q_k = w_k p_k (w = 1 for pos, m otherwise) and A = Σ_j p_j / (1 - p_j),
 * dL/dz_k = q_k - [k = pos] - m q_k A + m [k neg] p_k / (1 - p_k).
 */
static double row(const float *s, size_t n, size_t i, size_t pos, int self, double inv_tau, double m, float *g,
                  double scale)
{
    const double lm = log(m);
#define CAND(k) ((k) != i || self)
#define T_OF(k) (s[k] * inv_tau + ((k) == pos ? 0.0 : lm))
    double mx = -INFINITY;
    for (size_t k = 0; k < n; k++)
        if (CAND(k) && T_OF(k) > mx) mx = T_OF(k);
    double d = 0.0;
    for (size_t k = 0; k < n; k++)
        if (CAND(k)) d += exp(T_OF(k) - mx);
    double log_d = mx + log(d);

    double a_small = 0.0, sum_l = 0.0, log_r = 0.0, log_r0 = 0.0;
    size_t star = n; /* the negative with p > 1/2, if any */
    for (size_t j = 0; j < n; j++) {
        if (j == i || j == pos) continue;
        double p = exp(s[j] * inv_tau - log_d);
        if (p <= 0.5) {
            sum_l += log1p(-p);
            a_small += p / (1.0 - p);
        } else {
            star = j;
        }
    }
    if (star < n) {
        /* log(D - m e_star) and log(1 - p_star) = log(D - e_star) - log D */
        double m2 = -INFINITY;
        for (size_t k = 0; k < n; k++)
            if (CAND(k) && k != star && T_OF(k) > m2) m2 = T_OF(k);
        double r = 0.0;
        for (size_t k = 0; k < n; k++)
            if (CAND(k) && k != star) r += exp(T_OF(k) - m2);
        log_r0 = m2 + log(r);
        log_r = m > 1.0 ? logaddexp(log_r0, s[star] * inv_tau + log(m - 1.0)) : log_r0;
        sum_l += log_r - log_d;
    }
    double loss = -(s[pos] * inv_tau - log_d) - m * sum_l;
    if (g) {
        double z_star = star < n ? s[star] * inv_tau : 0.0;
        for (size_t k = 0; k < n; k++) {
            if (!CAND(k)) {
                g[k] = 0.0f;
                continue;
            }
            double zk = s[k] * inv_tau, tk = T_OF(k);
            double p = exp(zk - log_d), q = exp(tk - log_d);
            double v = q - (k == pos ? 1.0 : 0.0) - m * q * a_small;
            if (k != i && k != pos) /* m p / (1 - p), split as in A */
                v += k != star ? m * (p + p * (p / (1.0 - p))) : m * p * exp(log_r0 - log_r);
            if (star < n && k != star) v -= m * exp(tk + z_star - log_d - log_r);
            g[k] = lct__ftz(v * scale);
        }
    }
#undef CAND
#undef T_OF
    return loss;
}

/* Anchor rows j of this rank's scores (ng columns each): global row gi, positive the other view's. */
typedef struct {
    const float *s;
    float *g;
    double *row_loss;
    size_t batch, bg, off, ng;
    int self;
    double inv_tau, neg_weight, scale;
} spread_rows_ctx;

static void spread_rows(void *ctx, size_t j0, size_t j1, size_t slot)
{
    const spread_rows_ctx *c = ctx;
    const size_t batch = c->batch, bg = c->bg, off = c->off, ng = c->ng;
    float *g = c->g;
    (void)slot;
    for (size_t j = j0; j < j1; j++) {
        size_t gi = j < batch ? off + j : bg + off + (j - batch);
        c->row_loss[j] = row(c->s + j * ng, ng, gi, (gi + bg) % ng, c->self, c->inv_tau, c->neg_weight,
                             g ? g + j * ng : NULL, c->scale);
    }
}

/*
 * Global in-batch negatives. Global row layout as one process given the whole batch: first views of
 * every rank's samples (rank order), then second views. This rank's 2B rows are global rows
 * rank·B + i and B_g + rank·B + i. Paper form: dX = G X + G^T X; the G^T X part of other ranks'
 * anchors comes back through one all-reduce of a 2B_g x D buffer.
 */
static int invaspread_distributed(lct_loss *loss, const float *x, size_t batch, float *loss_out, float *dx,
                                  const char *func)
{
    lct_comm *c = loss->comm;
    lct_runtime *rt = loss->rt;
    const size_t P = (size_t)lct__comm_size(c), n = 2 * batch, bg = P * batch, ng = 2 * bg, d = loss->dim;
    const size_t off = (size_t)lct__comm_rank(c) * batch;
    spread_ws p;
    spread_layout(loss, batch, loss->ws, &p);
    double *row_loss = p.row_loss;
    float *s = p.s, *xg = p.xg, *cg = p.cg;
    int rc;
    if ((rc = lct__comm_allgather(c, x, xg, batch * d * sizeof *x, func))) return rc;
    if ((rc = lct__comm_allgather(c, x + batch * d, xg + bg * d, batch * d * sizeof *x, func))) return rc;
    if ((rc = lct__gemm(rt, 0, 1, n, ng, d, 1.0f, x, d, xg, d, 0.0f, s, ng))) return rc;
    /* the scores are the same on every rank's copy of a row: every rank sees an overflow alike only if it
     * is in its own rows, so the verdict is agreed on */
    rc = lct__all_finite(s, n * ng) ? LCT_OK
                                    : lct__fail(LCT_ENUMERIC, func, "the similarities x x^T overflow float; scale the embeddings down");
    if ((rc = lct__comm_agree(c, rc, 0, "", func))) return rc;
    const double inv_tau = 1.0 / loss->tau, scale = 1.0 / (loss->tau * (double)n);
    const int self = loss->form == LCT_INVASPREAD_PAPER;
    float *g = dx ? s : NULL;
    spread_rows_ctx sc = {s, g, row_loss, batch, bg, off, ng, self, inv_tau, loss->neg_weight, scale};
    lct__parallel(rt, lct__threads(rt), n, 1, spread_rows, &sc);
    double total = 0.0;
    for (size_t j = 0; j < n; j++) total += row_loss[j];
    total /= (double)n;
    if ((rc = lct__comm_sum_f64(c, &total, 1, func))) return rc;
    total /= (double)P;
    if (!isfinite(total)) return lct__fail(LCT_ENUMERIC, func, "the loss is not finite (%g)", total);
    if (dx) {
        if ((rc = lct__gemm(rt, 0, 0, n, d, ng, 1.0f, s, ng, xg, d, 0.0f, dx, d))) return rc;
        if (self) {
            if ((rc = lct__gemm(rt, 1, 0, ng, d, n, 1.0f, s, ng, x, d, 0.0f, cg, d))) return rc;
            if ((rc = lct__comm_allreduce_f32(c, cg, ng * d, func))) return rc;
            const float *c1 = cg + off * d, *c2 = cg + (bg + off) * d;
            for (size_t i = 0; i < batch * d; i++) {
                dx[i] += c1[i];
                dx[batch * d + i] += c2[i];
            }
        }
    }
    *loss_out = (float)total;
    return LCT_OK;
}

int lct_loss_invaspread_compute(lct_loss *loss, const float *x, size_t batch, float *loss_out, float *dx)
{
    int rc = lct__loss_check_call(__func__, loss, LCT_LOSS_INVASPREAD, batch);
    if (rc) return rc;
    LCT__REQUIRE(x);
    LCT__REQUIRE(loss_out);
    size_t n = 2 * batch, d = loss->dim, bytes;
    rc = lct__loss_check_finite(__func__, "x", x, n * d);
    if (rc == LCT_OK) rc = lct__invaspread_workspace(loss, batch, &bytes);
    if (rc == LCT_OK) rc = lct__loss_reserve(loss, bytes);
    if ((rc = lct__loss_agree(loss, rc, batch, __func__))) return rc;
    if (lct__comm_active(loss->comm)) return invaspread_distributed(loss, x, batch, loss_out, dx, __func__);
    spread_ws p;
    spread_layout(loss, batch, loss->ws, &p);
    double *row_loss = p.row_loss;
    float *s = p.s;
    lct_runtime *rt = loss->rt;

    if ((rc = lct__gemm(rt, 0, 1, n, n, d, 1.0f, x, d, x, d, 0.0f, s, n))) return rc;
    if (!lct__all_finite(s, n * n))
        return LCT__FAIL(LCT_ENUMERIC, "the similarities x x^T overflow float; scale the embeddings down");

    const double inv_tau = 1.0 / loss->tau, scale = 1.0 / (loss->tau * (double)n);
    const int self = loss->form == LCT_INVASPREAD_PAPER;
    float *g = dx ? s : NULL;
    /* one rank: global rows are local rows (off 0, bg batch, ng n), so the row and partner indices match */
    spread_rows_ctx sc = {s, g, row_loss, batch, batch, 0, n, self, inv_tau, loss->neg_weight, scale};
    lct__parallel(rt, lct__threads(rt), n, 1, spread_rows, &sc);
    double total = 0.0;
    for (size_t i = 0; i < n; i++) total += row_loss[i];
    total /= (double)n;
    if (!isfinite(total)) return LCT__FAIL(LCT_ENUMERIC, "the loss is not finite (%g)", total);

    if (dx) {
        if (self) {
            /* Both operands carry the gradient: dX = (G + G^T) X. */
            for (size_t i = 0; i < n; i++) {
                s[i * n + i] *= 2.0f;
                for (size_t j = i + 1; j < n; j++) {
                    float t = s[i * n + j] + s[j * n + i];
                    s[i * n + j] = t;
                    s[j * n + i] = t;
                }
            }
        }
        /* Code form: the right operand is detached, so only dX = G X flows back. */
        if ((rc = lct__gemm(rt, 0, 0, n, d, n, 1.0f, s, n, x, d, 0.0f, dx, d))) return rc;
    }
    *loss_out = (float)total;
    return LCT_OK;
}
