/* InstDisc's non-parametric softmax over all N bank rows, in chunks of rows (bounded memory). */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets the clamps of lct__expf become vector min/max: this file never inspects FP exception flags. */
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>

#include "../bank/bank.h"
#include "loss_internal.h"

LCT__VEC_ISA static float row_max(const float *x, size_t n)
{
    float m = -INFINITY;
LCT__SIMD_WITH(reduction(max : m))
    for (size_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

/* x[j] <- exp(x[j] / tau - m) (tails below 1e-30 as 0, see lct__ftz); returns their sum. */
LCT__VEC_ISA static float row_exp(float *x, size_t n, float inv_tau, float m)
{
    float acc = 0.0f;
LCT__SIMD_WITH(reduction(+ : acc))
    for (size_t j = 0; j < n; j++) {
        float e = lct__expf(x[j] * inv_tau - m);
        e = e < 1e-30f ? 0.0f : e;
        x[j] = e;
        acc += e;
    }
    return acc;
}

int lct_loss_new_npsoftmax(lct_loss **out, lct_runtime *rt, lct_bank *bank, const lct_loss_npsoftmax_options *opts)
{
    int rc = lct__loss_new_args(__func__, out, rt, bank, "bank");
    if (rc) return rc;
    if ((rc = lct__bank_unsharded(bank, __func__, "; the softmax over every row is not available on a sharded bank "
                                                  "(use NCE)")))
        return rc;
    lct_loss_npsoftmax_options o;
    LCT__OPTIONS_COPY(LCT__OPT_LOSS_NPSOFTMAX, lct_loss_npsoftmax_options_init, o, opts);
    if (o.chunk == 0 || o.chunk > (1u << 24))
        return LCT__FAIL(LCT_EINVAL, "opts->chunk is %u; it must be in 1..%u", (unsigned)o.chunk, 1u << 24);
    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_NPSOFTMAX);
    if (loss == NULL) return LCT_ENOMEM;
    loss->banks = lct__calloc(rt, 1, sizeof *loss->banks);
    if (loss->banks == NULL) {
        lct_loss_free(loss);
        return LCT_ENOMEM;
    }
    loss->banks[0] = bank;
    loss->n_banks = 1;
    loss->n_rows = lct__bank_n(bank);
    loss->dim = lct__bank_d(bank);
    loss->chunk = o.chunk < loss->n_rows ? o.chunk : loss->n_rows;
    *out = loss;
    return LCT_OK;
}

/* The workspace (ws NULL: the sizing pass): four running values per row, a chunk of scores, u. */
typedef struct {
    double *mx, *sum, *lab, *resc; /* batch each */
    float *s;                      /* batch x chunk */
    float *u;                      /* batch x d: u_b accumulates here; df is written at the end */
} np_ws;

static lct__wksp np_layout(const lct_loss *loss, size_t batch, void *ws, np_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    p->mx = lct__wksp_take(&w, batch, sizeof(double));
    p->sum = lct__wksp_take(&w, batch, sizeof(double));
    p->lab = lct__wksp_take(&w, batch, sizeof(double));
    p->resc = lct__wksp_take(&w, batch, sizeof(double));
    p->s = lct__wksp_take(&w, batch, loss->chunk * sizeof(float));
    p->u = lct__wksp_take(&w, batch, loss->dim * sizeof(float));
    return w;
}

int lct__npsoftmax_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    np_ws p;
    return lct__loss_ws_size(np_layout(loss, batch, NULL, &p), batch, bytes, __func__);
}

/* What the two row loops below read: the chunk of scores [first, first + cnt) and the running state. */
typedef struct {
    const lct_bank *bank;
    float *s, *u, *df;
    const int64_t *idx;
    double *mx, *sum, *lab, *resc;
    size_t first, cnt, d;
    float inv_tau;
    double scale;
} np_ctx;

/* One chunk's scores into rows b: the label's score, the running maximum and sum, u_b rescaled. */
static void chunk_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    const np_ctx *c = ctx;
    float *s = c->s, *u = c->u;
    const int64_t *idx = c->idx;
    double *mx = c->mx, *sum = c->sum, *lab = c->lab, *resc = c->resc;
    const size_t first = c->first, cnt = c->cnt, d = c->d;
    const float inv_tau = c->inv_tau;
    const int df = c->df != NULL;
    (void)slot;
    for (size_t b = b0; b < b1; b++) {
        float *sr = s + b * cnt;
        size_t label = (size_t)idx[b];
        if (label >= first && label < first + cnt) lab[b] = (double)sr[label - first] * inv_tau;
        float cm = row_max(sr, cnt);
        double m = (double)cm * inv_tau > mx[b] ? (double)cm * inv_tau : mx[b];
        resc[b] = mx[b] == -INFINITY ? 0.0 : exp(mx[b] - m);
        float acc = row_exp(sr, cnt, inv_tau, (float)m);
        sum[b] = sum[b] * resc[b] + acc;
        mx[b] = m;
        if (df && first > 0 && resc[b] != 1.0)
            for (size_t e = 0; e < d; e++) u[b * d + e] *= (float)resc[b];
    }
}

static void grad_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    const np_ctx *c = ctx;
    const float *u = c->u;
    float *df = c->df;
    const int64_t *idx = c->idx;
    const double *sum = c->sum;
    const double scale = c->scale;
    const size_t d = c->d;
    (void)slot;
    for (size_t b = b0; b < b1; b++) {
        /* v points into an fp32 bank, or is the label row converted into df's row (fp16). */
        const float *v = lct__bank_row(c->bank, (size_t)idx[b], df + b * d);
        for (size_t e = 0; e < d; e++)
            df[b * d + e] = lct__ftz(((double)u[b * d + e] / sum[b] - (double)v[e]) * scale);
    }
}

/*
 * One pass over the chunks of rows, as an online softmax: per row b a running maximum m_b, the sum
 * l_b = sum_j exp(z_bj - m_b) and u_b = sum_j exp(z_bj - m_b) v_j (in df). When a chunk raises m_b,
 * l_b and u_b are rescaled by exp(m_old - m_new) first. At the end softmax(z_b) V = u_b / l_b, and
 * df_b = (u_b / l_b - v_label) / (tau B). Two GEMMs per chunk (scores, then E V), one exp per score.
 */
int lct_loss_npsoftmax_compute(lct_loss *loss, const float *f, const int64_t *idx, size_t batch, float *loss_out,
                               float *df)
{
    int rc = lct__loss_check_call(__func__, loss, LCT_LOSS_NPSOFTMAX, batch);
    if (rc) return rc;
    LCT__REQUIRE(f);
    LCT__REQUIRE(idx);
    LCT__REQUIRE(loss_out);
    lct_bank *bank = loss->banks[0];
    if ((rc = lct__loss_check_finite(__func__, "f", f, batch * loss->dim))) return rc;
    if ((rc = lct__bank_check_idx(bank, idx, batch, __func__, "idx"))) return rc;
    size_t bytes;
    if ((rc = lct__npsoftmax_workspace(loss, batch, &bytes))) return rc;
    if ((rc = lct__loss_reserve_banks(loss, bytes, batch, 0, __func__))) return rc;
    np_ws p;
    np_layout(loss, batch, loss->ws, &p);
    double *mx = p.mx, *sum = p.sum, *lab = p.lab, *resc = p.resc;
    float *s = p.s, *u = p.u;
    lct_runtime *rt = loss->rt;
    const size_t n = loss->n_rows, chunk = loss->chunk, d = loss->dim;
    const float inv_tau = (float)(1.0 / loss->tau);
    for (size_t b = 0; b < batch; b++) {
        mx[b] = -INFINITY;
        sum[b] = 0.0;
    }
    np_ctx c = {bank, s, u, df, idx, mx, sum, lab, resc, 0, 0, d, inv_tau, 0.0};
    for (size_t first = 0; first < n; first += chunk) {
        size_t cnt = n - first < chunk ? n - first : chunk;
        if ((rc = lct__bank_similarity_all_unchecked(bank, f, batch, first, cnt, s, cnt))) return rc;
        if ((rc = lct__loss_check_scores(__func__, "similarities with the bank", s, batch * cnt, loss->tau))) return rc;
        c.first = first;
        c.cnt = cnt;
        lct__parallel(rt, lct__threads(rt), batch, 1, chunk_rows, &c);
        if (df && (rc = lct__bank_grad_all(bank, s, batch, first, cnt, cnt, first > 0, u))) return rc;
    }
    double total = 0.0;
    for (size_t b = 0; b < batch; b++) total += mx[b] + log(sum[b]) - lab[b];
    if (df) {
        c.scale = 1.0 / (loss->tau * (double)batch);
        lct__parallel(rt, lct__threads(rt), batch, 1, grad_rows, &c);
    }
    *loss_out = (float)(total / (double)batch);
    return LCT_OK;
}
