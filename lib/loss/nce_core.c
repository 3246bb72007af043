/* NCE on a similarity matrix (InstDisc's NCECriterion in log space) and the policies for Z. */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets the clamps of lct__expf become vector min/max: this file never inspects FP exception flags. */
#pragma GCC optimize("no-trapping-math")
#endif
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

/* sum over the noise scores of softplus(a), a = s / tau - shift (see lct__nce_core) */
LCT__VEC_ISA static double noise_loss(const float *sr, size_t k, float inv_tau, float shift)
{
    double lsum = 0.0;
    float relu = 0.0f;
    for (size_t j0 = 0; j0 < k; j0 += 64) {
        size_t j1 = j0 + 64 < k ? j0 + 64 : k;
        double prod = 1.0;
LCT__SIMD_WITH(reduction(* : prod) reduction(+ : relu))
        for (size_t j = j0; j < j1; j++) {
            float a = sr[j] * inv_tau - shift;
            float na = a < 0.0f ? a : -a;
            relu += a > 0.0f ? a : 0.0f;
            prod *= 1.0 + (double)lct__expf(na);
        }
        lsum += log(prod);
    }
    return lsum + relu;
}

/* dr[j] = sigmoid(a_j) * scale, tails below 1e-30 as 0 (see lct__ftz); dr may alias sr */
LCT__VEC_ISA static void noise_grad(const float *sr, float *dr, size_t k, float inv_tau, float shift, float scale)
{
LCT__SIMD
    for (size_t j = 0; j < k; j++) {
        float a = sr[j] * inv_tau - shift;
        float e = lct__expf(a < 0.0f ? a : -a);
        float g = (a >= 0.0f ? 1.0f : e) / (1.0f + e) * scale;
        dr[j] = g < 1e-30f ? 0.0f : g;
    }
}

typedef struct {
    const float *s;
    float *ds;
    double *row_loss;
    size_t k;
    double inv_tau, scale, shift;
} nce_rows_ctx;

static void nce_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    const nce_rows_ctx *c = ctx;
    const float *s = c->s;
    float *ds = c->ds;
    const size_t k = c->k, w = k + 1;
    const double inv_tau = c->inv_tau, scale = c->scale, shift = c->shift;
    const float inv_tau_f = (float)inv_tau, shift_f = (float)shift, scale_f = (float)scale;
    (void)slot;
    for (size_t b = b0; b < b1; b++) {
        const float *sr = s + b * w;
        /* positive, in double */
        double a0 = sr[0] * inv_tau - shift;
        double l = softplus(-a0);
        float g0 = lct__ftz(-sigmoid(-a0) * scale);
        /* noise samples: softplus(a) = max(a, 0) + log1p(e), sigmoid(a) = (a >= 0 ? 1 : e) / (1 + e),
         * e = exp(-|a|) <= 1, in float vector loops. The log1p terms are summed as logs of products of
         * (1 + e) over blocks of 64 (each product <= 2^64, in double). The loss pass reads s only, so
         * the gradient pass may then overwrite s in place. */
        l += noise_loss(sr + 1, k, inv_tau_f, shift_f);
        if (ds) noise_grad(sr + 1, ds + b * w + 1, k, inv_tau_f, shift_f, scale_f);
        if (ds) ds[b * w] = g0;
        c->row_loss[b] = l;
    }
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
    const double inv_tau = 1.0 / tau, scale = 1.0 / (tau * (double)batch), shift = log_z + log_kpn;
    nce_rows_ctx c = {s, ds, row_loss, k, inv_tau, scale, shift};
    lct__parallel(rt, lct__threads(rt), batch, 1, nce_rows, &c);
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
