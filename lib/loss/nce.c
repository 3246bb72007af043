/* InstDisc NCE over a memory bank: sample, score, NCE core, gradient through the bank rows. */
#include <math.h>

#include "../bank/bank.h"
#include "loss_internal.h"

#define MAX_K ((size_t)1 << 24)

int lct__loss_check_bank(const char *func, lct_runtime *rt, lct_bank *bank, const char *what)
{
    if (bank == NULL) return lct__fail(LCT_EINVAL, func, "argument '%s' is NULL", what);
    if (lct__bank_runtime(bank) != rt)
        return lct__fail(LCT_EMISMATCH, func, "%s was created from another runtime", what);
    return LCT_OK;
}

int lct__loss_setup_z(lct_loss *loss, size_t n_banks, int z_policy, const char *func)
{
    if (z_policy < LCT_Z_FIRST_BATCH || z_policy > LCT_Z_FIXED)
        return lct__fail(LCT_EINVAL, func, "opts->z_policy is %d; it must be an lct_z_policy", z_policy);
    loss->z_policy = z_policy;
    loss->n_banks = n_banks;
    loss->banks = lct__calloc(loss->rt, n_banks, sizeof *loss->banks);
    loss->log_z = lct__calloc(loss->rt, n_banks, sizeof *loss->log_z);
    loss->z_known = lct__calloc(loss->rt, n_banks, sizeof *loss->z_known);
    loss->z_warned = lct__calloc(loss->rt, n_banks, sizeof *loss->z_warned);
    if (!loss->banks || !loss->log_z || !loss->z_known || !loss->z_warned) return LCT_ENOMEM;
    return LCT_OK;
}

int lct__loss_check_sampling(const char *func, uint32_t k, int mode)
{
    if (k == 0 || k > MAX_K) return lct__fail(LCT_EINVAL, func, "opts->k is %u; it must be in 1..%zu", k, MAX_K);
    if (mode < LCT_BANK_SAMPLE_REPLACE || mode > LCT_BANK_SAMPLE_SHARED_EXCLUDE)
        return lct__fail(LCT_EINVAL, func, "opts->sample_mode is %d; it must be an lct_bank_sample_mode", mode);
    return LCT_OK;
}

int lct_loss_new_nce(lct_loss **out, lct_runtime *rt, lct_bank *bank, const lct_loss_nce_options *opts)
{
    int rc = lct__loss_new_args(__func__, out, rt, bank, "bank");
    if (rc) return rc;
    lct_loss_nce_options o;
    LCT__OPTIONS_COPY(LCT__OPT_LOSS_NCE, lct_loss_nce_options_init, o, opts);
    if ((rc = lct__loss_check_sampling(__func__, o.k, o.sample_mode))) return rc;
    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_NCE);
    if (loss == NULL) return LCT_ENOMEM;
    if ((rc = lct__loss_setup_z(loss, 1, o.z_policy, __func__))) {
        lct_loss_free(loss);
        return rc == LCT_ENOMEM ? LCT__FAIL(LCT_ENOMEM, "cannot allocate the loss state") : rc;
    }
    loss->banks[0] = bank;
    loss->n_rows = lct__bank_n(bank);
    loss->dim = lct__bank_d(bank);
    loss->k = o.k;
    loss->sample_mode = o.sample_mode;
    *out = loss;
    return LCT_OK;
}

/* The workspace of one unsharded direction (ws NULL: the sizing pass). row_loss doubles as the
 * positive's dL/ds once the core has run. */
typedef struct {
    double *row_loss; /* batch */
    int64_t *neg;     /* batch x k */
    float *s;         /* batch x (k + 1) */
} nce_ws;

static lct__wksp nce_layout(const lct_loss *loss, size_t batch, void *ws, nce_ws *p)
{
    lct__wksp w = lct__wksp_begin(ws);
    size_t k = loss->k;
    p->row_loss = lct__wksp_take(&w, batch, sizeof(double));
    p->neg = lct__wksp_take(&w, batch, k * sizeof(int64_t));
    p->s = lct__wksp_take(&w, batch, (k + 1) * sizeof(float));
    return w;
}

int lct__nce_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    if (loss->n_banks && lct__bank_sharded(loss->banks[0])) {
        size_t gb;
        if (lct__mul_size(batch, lct__bank_world_size(loss->banks[0]), &gb))
            return LCT__FAIL(LCT_ESHAPE, "global batch %zu x ranks overflows", batch);
        return lct__nce_sharded_workspace(loss, gb, bytes);
    }
    nce_ws p;
    return lct__loss_ws_size(nce_layout(loss, batch, NULL, &p), batch, bytes, __func__);
}

int lct__nce_direction(lct_loss *loss, size_t view, const float *f, const float *pos, const int64_t *idx,
                       size_t batch, double *loss_out, float *df, float *dpos, int accumulate, const char *func)
{
    lct_bank *bank = loss->banks[view];
    if (lct__bank_sharded(bank)) {
        if (pos) return lct__fail(LCT_EUNSUPPORTED, func, "the bank is sharded: the positive must be its row");
        return lct__nce_direction_sharded(loss, view, f, idx, batch, loss_out, df, accumulate, func);
    }
    const size_t k = loss->k, w = k + 1, d = loss->dim;
    nce_ws p;
    nce_layout(loss, batch, loss->ws, &p);
    double *row_loss = p.row_loss;
    int64_t *neg = p.neg;
    float *s = p.s;
    /* nce_checks validated idx and f and reserved the bank's workspaces: the unchecked twins follow */
    int rc = lct__bank_sample_unchecked(bank, idx, batch, k, loss->sample_mode, neg, func);
    if (rc) return rc;
    if ((rc = lct__bank_similarity_unchecked(bank, f, batch, idx, neg, k, loss->sample_mode, s))) return rc;
    if (pos) /* the positive is the host's current embedding of the sample, not its bank row */
        for (size_t b = 0; b < batch; b++) s[b * w] = lct__dot_f32(f + b * d, pos + b * d, d);
    if ((rc = lct__loss_check_scores(func, view ? "similarities with a view's bank" : "similarities with the bank", s,
                                     batch * w, loss->tau)))
        return rc;
    if ((rc = lct__nce_update_z(loss, view, s, batch * w, func))) return rc;
    double log_kpn = log((double)k) - log((double)loss->n_rows);
    const int grad = df != NULL || dpos != NULL;
    lct__nce_core(loss->rt, s, batch, k, loss->tau, log_kpn, loss->log_z[view], row_loss, loss_out, grad ? s : NULL);
    if (!grad) return LCT_OK;
    float *ds0 = (float *)row_loss; /* the positive's dL/ds, kept aside while the bank rows take the rest */
    if (pos) {
        for (size_t b = 0; b < batch; b++) {
            ds0[b] = s[b * w];
            s[b * w] = 0.0f;
        }
        if (dpos)
            for (size_t b = 0; b < batch; b++)
                for (size_t e = 0; e < d; e++) dpos[b * d + e] = ds0[b] * f[b * d + e];
    }
    if (df) {
        if ((rc = lct__bank_grad(bank, s, batch, idx, neg, k, loss->sample_mode, accumulate, df))) return rc;
        if (pos)
            for (size_t b = 0; b < batch; b++)
                for (size_t e = 0; e < d; e++) df[b * d + e] += ds0[b] * pos[b * d + e];
    }
    return LCT_OK;
}

static int nce_checks(lct_loss *loss, const float *f, const float *pos, const int64_t *idx, size_t batch,
                      float *loss_out, const char *func)
{
    int rc;
    if (f == NULL) return lct__fail(LCT_EINVAL, func, "argument 'f' is NULL");
    if (idx == NULL) return lct__fail(LCT_EINVAL, func, "argument 'idx' is NULL");
    if (loss_out == NULL) return lct__fail(LCT_EINVAL, func, "argument 'loss_out' is NULL");
    if ((rc = lct__loss_check_finite(func, "f", f, batch * loss->dim))) return rc;
    if (pos && (rc = lct__loss_check_finite(func, "pos", pos, batch * loss->dim))) return rc;
    if (pos && (rc = lct__bank_unsharded(loss->banks[0], func, ": the positive must be its row"))) return rc;
    if ((rc = lct__bank_check_idx(loss->banks[0], idx, batch, func, "idx"))) return rc;
    if (loss->z_policy == LCT_Z_FIXED && !loss->z_known[0])
        return lct__fail(LCT_ESTATE, func, "Z policy is LCT_Z_FIXED but log Z was never set (lct_loss_set_log_z)");
    size_t bytes;
    if ((rc = lct__nce_workspace(loss, batch, &bytes))) return rc;
    size_t gather = loss->sample_mode >= LCT_BANK_SAMPLE_SHARED ? loss->k : 0; /* rows of the shared draw */
    return lct__loss_reserve_banks(loss, bytes, batch, gather, func);
}

static int nce_compute(lct_loss *loss, const float *f, const float *pos, const int64_t *idx, size_t batch,
                       float *loss_out, float *df, float *dpos, const char *func)
{
    int rc = lct__loss_check_call(func, loss, LCT_LOSS_NCE, batch);
    if (rc) return rc;
    rc = nce_checks(loss, f, pos, idx, batch, loss_out, func);
    /* a sharded bank: every rank learns whether all are ready, and the batch sizes must agree */
    if (lct__bank_sharded(loss->banks[0])) rc = lct__comm_agree(lct__bank_comm(loss->banks[0]), rc, batch, "batch", func);
    if (rc) return rc;
    double l = 0.0;
    uint64_t stream, calls;
    lct__bank_rng_state(loss->banks[0], &stream, &calls);
    if ((rc = lct__nce_direction(loss, 0, f, pos, idx, batch, &l, df, dpos, 0, func))) {
        lct__bank_set_rng_state(loss->banks[0], stream, calls); /* a failed call draws nothing */
        return rc;
    }
    *loss_out = (float)l;
    return LCT_OK;
}

int lct_loss_nce_compute(lct_loss *loss, const float *f, const int64_t *idx, size_t batch, float *loss_out,
                         float *df)
{
    return nce_compute(loss, f, NULL, idx, batch, loss_out, df, NULL, __func__);
}

int lct_loss_nce_compute_pos(lct_loss *loss, const float *f, const float *pos, const int64_t *idx, size_t batch,
                             float *loss_out, float *df, float *dpos)
{
    if (loss != NULL && pos == NULL) return LCT__FAIL(LCT_EINVAL, "argument 'pos' is NULL");
    return nce_compute(loss, f, pos, idx, batch, loss_out, df, dpos, __func__);
}
