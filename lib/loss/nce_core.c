/* NCE on a similarity matrix (InstDisc's NCECriterion in log space) and the policies for Z. */
#include <math.h>

#include "loss_internal.h"

/* log(1 + e^x) without overflow. */
static double softplus(double x)
{
    return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

static double sigmoid(double x)
{
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/*
 * With log P_j = s_j / tau - log Z and c = log(K Pn) = log(K / N):
 *   -log(P_0 / (P_0 + K Pn))   = softplus(c - log P_0)
 *   -log(K Pn / (P_j + K Pn))  = softplus(log P_j - c)
 * Both are finite for any finite inputs, where the ratio form overflows once exp(s / tau) or Z does.
 */
void lct__nce_core(lct_runtime *rt, const float *s, size_t batch, size_t k, double tau, double log_kpn,
                   double log_z, double *row_loss, double *loss_out, float *ds)
{
    const size_t w = k + 1;
    const double inv_tau = 1.0 / tau, scale = 1.0 / (tau * (double)batch);
#pragma omp parallel for num_threads(lct__threads(rt)) schedule(static)
    for (size_t b = 0; b < batch; b++) {
        const float *sr = s + b * w;
        double a0 = sr[0] * inv_tau - log_z - log_kpn;
        double l = softplus(-a0);
        if (ds) ds[b * w] = (float)(-sigmoid(-a0) * scale);
        for (size_t j = 1; j < w; j++) {
            double a = sr[j] * inv_tau - log_z - log_kpn;
            l += softplus(a);
            if (ds) ds[b * w + j] = (float)(sigmoid(a) * scale);
        }
        row_loss[b] = l;
    }
    double total = 0.0;
    for (size_t b = 0; b < batch; b++) total += row_loss[b];
    *loss_out = total / (double)batch;
}

double lct__nce_estimate_log_z(const float *s, size_t count, double tau, size_t n_rows)
{
    const double inv_tau = 1.0 / tau;
    double m = -INFINITY;
    for (size_t i = 0; i < count; i++)
        if (s[i] * inv_tau > m) m = s[i] * inv_tau;
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) sum += exp(s[i] * inv_tau - m);
    return m + log(sum) - log((double)count) + log((double)n_rows);
}

int lct__nce_update_z(lct_loss *loss, size_t view, const float *s, size_t count, const char *func)
{
    switch (loss->z_policy) {
    case LCT_Z_FIXED:
        if (!loss->z_known[view])
            return lct__fail(LCT_ESTATE, func, "Z policy is LCT_Z_FIXED but log Z of bank %zu was never set "
                             "(lct_loss_set_log_z)", view);
        return LCT_OK;
    case LCT_Z_FIRST_BATCH:
        if (!loss->z_known[view]) {
            loss->log_z[view] = lct__nce_estimate_log_z(s, count, loss->tau, loss->n_rows);
            loss->z_known[view] = 1;
        }
        return LCT_OK;
    default: {
        double est = lct__nce_estimate_log_z(s, count, loss->tau, loss->n_rows);
        double m = loss->z_momentum;
        if (!loss->z_known[view] || m == 0.0) {
            loss->log_z[view] = est;
        } else {
            /* log(m Z + (1 - m) Z_batch), as a log-sum-exp of the two terms. */
            double a = log(m) + loss->log_z[view], b = log1p(-m) + est;
            double hi = a > b ? a : b;
            loss->log_z[view] = hi + log(exp(a - hi) + exp(b - hi));
        }
        loss->z_known[view] = 1;
        return LCT_OK;
    }
    }
}
