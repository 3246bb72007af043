/* NCE on a similarity matrix (InstDisc's NCECriterion in log space) and the policies for Z. */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets the clamps of lct__expf become vector min/max: this file never inspects FP exception flags. */
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdio.h>

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

/*
 * Log a warning, once per decade, when this batch's estimate of Z and the Z the loss uses differ by a
 * factor of 10 or more: every run that collapsed in bench/nce_small.py passed 10 (a running Z lagging
 * by 10^1.4 to 10^1.9 included), none that matched the softmax did (docs/methods.md, "NCE on small data
 * sets"); 100 would have missed the lagging ones.
 * A first-batch or fixed Z goes stale as the bank moves; a running Z lags when the bank turns over
 * faster than its momentum follows.
 */
static void watch_z(lct_loss *loss, size_t view, double est, const char *func)
{
    const double decades = (est - loss->log_z[view]) / 2.302585092994045684;
    const double mag = fabs(decades);
    if (!(mag >= 1.0)) return;
    const int d = mag < 1e6 ? (int)mag : 1000000;
    if (d <= loss->z_warned[view]) return;
    loss->z_warned[view] = d;
    char cause[160];
    if (loss->z_policy == LCT_Z_RUNNING)
        snprintf(cause, sizeof cause, "the running Z (LCT_Z_RUNNING, momentum %g) lags the bank: lower "
                 "LCT_LOSS_PARAM_Z_MOMENTUM", loss->z_momentum);
    else
        snprintf(cause, sizeof cause, "%s", loss->z_policy == LCT_Z_FIXED
                 ? "the Z set with lct_loss_set_log_z (LCT_Z_FIXED) does not fit the bank"
                 : "Z was estimated on the first batch (LCT_Z_FIRST_BATCH) and the bank has moved since");
    lct__log(loss->rt, LCT_LOG_WARN,
             "%s: this batch's estimate of NCE's Z for bank %zu is 10^%+.1f times the Z in use (N = %zu, "
             "K = %zu): %s; NCE then degrades, the non-parametric softmax has no Z (docs/methods.md)",
             func, view, decades, loss->n_rows, loss->k, cause);
}

int lct__nce_update_z(lct_loss *loss, size_t view, const float *s, size_t count, const char *func)
{
    /* For the warning alone, first-batch (once estimated) and fixed Z take their estimate from the first
     * whole rows of scores, up to 65,536 of them: a check to a decade needs no more, and the whole pass
     * would cost 7 ms a call at B = 256, K = 4096 on the 2.8 GHz Xeon of docs/methods.md. */
    const int watch = lct__log_enabled(loss->rt, LCT_LOG_WARN);
    const size_t w = loss->k + 1, rows = (65536 + w - 1) / w;
    const size_t part = count > 65536 && rows * w < count ? rows * w : count;
    double est = 0.0;
    switch (loss->z_policy) {
    case LCT_Z_FIXED:
        if (!loss->z_known[view])
            return lct__fail(LCT_ESTATE, func, "Z policy is LCT_Z_FIXED but log Z of bank %zu was never set "
                             "(lct_loss_set_log_z)", view);
        if (watch) est = lct__nce_estimate_log_z(s, part, loss->tau, loss->n_rows);
        break;
    case LCT_Z_FIRST_BATCH:
        if (!loss->z_known[view]) {
            est = lct__nce_estimate_log_z(s, count, loss->tau, loss->n_rows);
            loss->log_z[view] = est;
            loss->z_known[view] = 1;
        } else if (watch) {
            est = lct__nce_estimate_log_z(s, part, loss->tau, loss->n_rows);
        }
        break;
    default: {
        est = lct__nce_estimate_log_z(s, count, loss->tau, loss->n_rows);
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
        break;
    }
    }
    if (watch) watch_z(loss, view, est, func);
    return LCT_OK;
}
