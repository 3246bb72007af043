/*
 * NCE over a sharded bank. The batch embeddings and indices (small) are all-gathered; every rank
 * draws the negatives of the whole global batch with the bank's keyed sampling (the draw one process
 * makes); each rank scores the sampled rows it owns, the B x (K+1) scores are assembled by one
 * all-reduce (each entry has one owner: the sum is exact), and the NCE loss of the global batch
 * follows on every rank. The gradient of every anchor is summed from the owners of its rows by a
 * second all-reduce (B x D); each rank keeps its own anchors'. No bank row leaves its rank.
 */
#include <math.h>

#include "../bank/bank.h"
#include "loss_internal.h"

/* The workspace of one sharded direction over a global batch of gb (ws NULL: the sizing pass). */
typedef struct {
    double *row_loss; /* gb */
    int64_t *neg;     /* gb x k */
    int64_t *ig;      /* gb: the gathered indices */
    float *s;         /* gb x (k + 1) */
    float *fg, *g;    /* gb x d each: the gathered embeddings, their gradients */
} sharded_ws;

static lct__wksp sharded_layout(const lct_loss *loss, size_t gb, void *ws, sharded_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    size_t k = loss->k, d = loss->dim;
    p->row_loss = lct__wksp_take(&w, gb, sizeof(double));
    p->neg = lct__wksp_take(&w, gb, k * sizeof(int64_t));
    p->ig = lct__wksp_take(&w, gb, sizeof(int64_t));
    p->s = lct__wksp_take(&w, gb, (k + 1) * sizeof(float));
    p->fg = lct__wksp_take(&w, gb, d * sizeof(float));
    p->g = lct__wksp_take(&w, gb, d * sizeof(float));
    return w;
}

int lct__nce_sharded_workspace(const lct_loss *loss, size_t gb, size_t *bytes)
{
    sharded_ws p;
    return lct__loss_ws_size(sharded_layout(loss, gb, NULL, &p), gb, bytes, __func__);
}

int lct__nce_direction_sharded(lct_loss *loss, size_t view, const float *f, const int64_t *idx, size_t batch,
                               double *loss_out, float *df, int accumulate, const char *func)
{
    lct_bank *bank = loss->banks[view];
    lct_comm *c = lct__bank_comm(bank);
    const size_t P = (size_t)lct__comm_size(c), gb = P * batch, k = loss->k, w = k + 1, d = loss->dim;
    const int mode = loss->sample_mode;
    sharded_ws p;
    sharded_layout(loss, gb, loss->ws, &p);
    double *row_loss = p.row_loss;
    int64_t *neg = p.neg, *ig = p.ig;
    float *s = p.s, *fg = p.fg, *g = p.g;
    int rc;
    if ((rc = lct__comm_allgather(c, idx, ig, batch * sizeof *idx, func))) return rc;
    if ((rc = lct__comm_allgather(c, f, fg, batch * d * sizeof *f, func))) return rc;
    if ((rc = lct__bank_sample_unchecked(bank, ig, gb, k, mode, neg, func))) return rc; /* every rank checked its idx */
    lct__bank_sim_owned(bank, fg, gb, ig, neg, k, mode, s);
    if ((rc = lct__comm_allreduce_f32(c, s, gb * w, func))) return rc;
    if ((rc = lct__loss_check_scores(func, view ? "similarities with a view's bank" : "similarities with the bank", s,
                                     gb * w, loss->tau)))
        return rc;
    if ((rc = lct__nce_update_z(loss, view, s, gb * w, func))) return rc;
    double log_kpn = log((double)k) - log((double)loss->n_rows);
    lct__nce_core(loss->rt, s, gb, k, loss->tau, log_kpn, loss->log_z[view], row_loss, loss_out, df ? s : NULL);
    if (!df) return LCT_OK;
    lct__bank_grad_owned(bank, s, gb, ig, neg, k, mode, g);
    if ((rc = lct__comm_allreduce_f32(c, g, gb * d, func))) return rc;
    /* The core scaled by 1/B_global; this rank's anchors get P times that, so that the optimiser's
     * average over the ranks gives the gradient of the global mean (docs/distributed.md). */
    const float scale = (float)P;
    const float *mine = g + (size_t)lct__comm_rank(c) * batch * d;
    for (size_t i = 0; i < batch * d; i++) df[i] = (accumulate ? df[i] : 0.0f) + scale * mine[i];
    return LCT_OK;
}
