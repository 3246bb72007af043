/* The loss handle: lifecycle, option defaults, tunable parameters, Z state, workspace. */
#if defined(__GNUC__) && !defined(__clang__)
/* Lets the score check's max and compare loops vectorise: this file never inspects FP exception flags. */
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdio.h>

#include "../bank/bank.h"
#include "loss_internal.h"

/* ---- option defaults ---------------------------------------------------- */


int lct_loss_nce_options_init(lct_loss_nce_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_loss_nce_options, opts, version, LCT__OPT_LOSS_NCE,
                          .k = 4096, .sample_mode = LCT_BANK_SAMPLE_REPLACE, .z_policy = LCT_Z_FIRST_BATCH);
}

int lct_loss_npsoftmax_options_init(lct_loss_npsoftmax_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_loss_npsoftmax_options, opts, version, LCT__OPT_LOSS_NPSOFTMAX, .chunk = 16384);
}

int lct_loss_invaspread_options_init(lct_loss_invaspread_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_loss_invaspread_options, opts, version, LCT__OPT_LOSS_INVASPREAD,
                          .form = LCT_INVASPREAD_PAPER);
}

int lct_loss_infonce_options_init(lct_loss_infonce_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_loss_infonce_options, opts, version, LCT__OPT_LOSS_INFONCE,
                          .steps = 12, .negatives = LCT_INFONCE_BATCH);
}

int lct_loss_cmc_options_init(lct_loss_cmc_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_loss_cmc_options, opts, version, LCT__OPT_LOSS_CMC,
                          .graph = LCT_CMC_CORE, .objective = LCT_CMC_NCE, .k = 16384,
                          .sample_mode = LCT_BANK_SAMPLE_REPLACE, .z_policy = LCT_Z_FIRST_BATCH);
}

/* ---- lifecycle ------------------------------------------------------------------ */

lct_loss *lct__loss_alloc(lct_runtime *rt, int kind)
{
    lct_loss *loss = lct__calloc(rt, 1, sizeof *loss);
    if (loss == NULL) return NULL;
    loss->rt = rt;
    loss->kind = kind;
    loss->tau = kind == LCT_LOSS_INVASPREAD ? 0.1 : kind == LCT_LOSS_INFONCE ? 1.0 : 0.07;
    loss->z_policy = LCT_Z_FIRST_BATCH;
    loss->z_momentum = 0.99;
    loss->neg_weight = 1.0;
    loss->params.rt = rt;
    return loss;
}

void lct_loss_free(lct_loss *loss)
{
    if (loss == NULL) return;
    void *const owned[] = {loss->ws,      loss->banks, loss->log_z,   loss->z_known, loss->z_warned,
                           loss->w,       loss->gw,    loss->tensors, loss->names,   loss};
    lct__free_each(loss->rt, owned, sizeof owned / sizeof *owned);
}

int lct_loss_set_comm(lct_loss *loss, lct_comm *comm)
{
    LCT__REQUIRE(loss);
    if (comm && lct__comm_runtime(comm) != loss->rt)
        return LCT__FAIL(LCT_EMISMATCH, "comm belongs to another runtime than the loss");
    int ok = loss->kind == LCT_LOSS_INVASPREAD || loss->kind == LCT_LOSS_INFONCE ||
             (loss->kind == LCT_LOSS_CMC && loss->objective == LCT_CMC_SOFTMAX);
    if (!ok)
        return LCT__FAIL(LCT_EUNSUPPORTED, "a loss of kind %d has no in-batch negatives to gather; objectives over a "
                         "memory bank follow the bank's sharding (lct_bank_new_sharded)", loss->kind);
    loss->comm = comm;
    return LCT_OK;
}

int lct_loss_get_kind(const lct_loss *loss)
{
    LCT__REQUIRE(loss);
    return loss->kind;
}

lct_params *lct_loss_params(lct_loss *loss)
{
    return loss ? &loss->params : NULL;
}

/* ---- parameters -------------------------------------------------------------- */

static int has_z(const lct_loss *loss)
{
    return loss->kind == LCT_LOSS_NCE || (loss->kind == LCT_LOSS_CMC && loss->objective == LCT_CMC_NCE);
}

/* Bounds of a parameter for this loss; LCT_EINVAL if it does not apply. */
static int bounds(const lct_loss *loss, int param, double *lo, double *hi, const char *func)
{
    switch (param) {
    case LCT_LOSS_PARAM_TEMPERATURE:
        *lo = 1e-4;
        *hi = 1e4;
        return LCT_OK;
    case LCT_LOSS_PARAM_Z_POLICY:
    case LCT_LOSS_PARAM_Z_MOMENTUM:
        if (!has_z(loss))
            return lct__fail(LCT_EINVAL, func, "param %d (Z) does not apply to a loss of kind %d without NCE", param,
                             loss->kind);
        *lo = 0.0;
        *hi = param == LCT_LOSS_PARAM_Z_POLICY ? 2.0 : nextafter(1.0, 0.0);
        return LCT_OK;
    case LCT_LOSS_PARAM_NEG_WEIGHT:
        if (loss->kind != LCT_LOSS_INVASPREAD)
            return lct__fail(LCT_EINVAL, func, "param %d (negative weight) applies to InvaSpread only, not to a loss of "
                             "kind %d", param, loss->kind);
        *lo = 1.0;
        *hi = 1e4;
        return LCT_OK;
    default:
        return lct__fail(LCT_EINVAL, func, "param %d is not an lct_loss_param", param);
    }
}

int lct_loss_param_bounds(const lct_loss *loss, int param, double *min, double *max)
{
    LCT__REQUIRE(loss);
    LCT__REQUIRE(min);
    LCT__REQUIRE(max);
    return bounds(loss, param, min, max, __func__);
}

int lct_loss_set_param(lct_loss *loss, int param, double value)
{
    LCT__REQUIRE(loss);
    double lo, hi;
    int rc = bounds(loss, param, &lo, &hi, __func__);
    if (rc) return rc;
    if (!(value >= lo && value <= hi))
        return LCT__FAIL(LCT_ERANGE, "value %g of param %d is outside [%g, %g]", value, param, lo, hi);
    switch (param) {
    case LCT_LOSS_PARAM_TEMPERATURE: loss->tau = value; break;
    case LCT_LOSS_PARAM_Z_POLICY:
        if (value != floor(value))
            return LCT__FAIL(LCT_ERANGE, "value %g of param %d (Z policy) is not an lct_z_policy", value, param);
        loss->z_policy = (int)value;
        break;
    case LCT_LOSS_PARAM_NEG_WEIGHT: loss->neg_weight = value; break;
    default: loss->z_momentum = value; break;
    }
    return LCT_OK;
}

int lct_loss_get_param(const lct_loss *loss, int param, double *value)
{
    LCT__REQUIRE(loss);
    LCT__REQUIRE(value);
    double lo, hi;
    int rc = bounds(loss, param, &lo, &hi, __func__);
    if (rc) return rc;
    switch (param) {
    case LCT_LOSS_PARAM_TEMPERATURE: *value = loss->tau; break;
    case LCT_LOSS_PARAM_Z_POLICY: *value = loss->z_policy; break;
    case LCT_LOSS_PARAM_NEG_WEIGHT: *value = loss->neg_weight; break;
    default: *value = loss->z_momentum; break;
    }
    return LCT_OK;
}

/* ---- Z state -------------------------------------------------------------------- */

static int check_z_view(const lct_loss *loss, size_t view, const char *func)
{
    if (loss == NULL) return lct__fail(LCT_EINVAL, func, "argument 'loss' is NULL");
    if (!has_z(loss)) return lct__fail(LCT_EINVAL, func, "loss of kind %d has no NCE constant Z", loss->kind);
    if (view >= loss->n_banks)
        return lct__fail(LCT_ERANGE, func, "view %zu is past the last bank (%zu banks)", view, loss->n_banks);
    return LCT_OK;
}

int lct_loss_get_log_z(const lct_loss *loss, size_t view, double *log_z, int32_t *known)
{
    int rc = check_z_view(loss, view, __func__);
    if (rc) return rc;
    if (log_z) *log_z = loss->z_known[view] ? loss->log_z[view] : 0.0;
    if (known) *known = loss->z_known[view];
    return LCT_OK;
}

int lct_loss_set_log_z(lct_loss *loss, size_t view, double log_z)
{
    int rc = check_z_view(loss, view, __func__);
    if (rc) return rc;
    if (!isfinite(log_z) || fabs(log_z) > 1e6)
        return LCT__FAIL(LCT_ERANGE, "log_z is %g; it must be finite with |log_z| <= 1e6", log_z);
    loss->log_z[view] = log_z;
    loss->z_known[view] = 1;
    loss->z_warned[view] = 0;
    return LCT_OK;
}

int lct_loss_reset_z(lct_loss *loss)
{
    LCT__REQUIRE(loss);
    if (!has_z(loss)) return LCT__FAIL(LCT_EINVAL, "loss of kind %d has no NCE constant Z", loss->kind);
    for (size_t v = 0; v < loss->n_banks; v++) {
        loss->z_known[v] = 0;
        loss->log_z[v] = 0.0;
        loss->z_warned[v] = 0;
    }
    return LCT_OK;
}

/* ---- workspace -------------------------------------------------------------------- */

int lct_loss_workspace_bytes(const lct_loss *loss, size_t batch, size_t *bytes)
{
    LCT__REQUIRE(loss);
    LCT__REQUIRE(bytes);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (batch > LCT__LOSS_MAX_BATCH)
        return LCT__FAIL(LCT_ESHAPE, "batch %zu exceeds the limit %zu", batch, LCT__LOSS_MAX_BATCH);
    switch (loss->kind) {
    case LCT_LOSS_NCE: return lct__nce_workspace(loss, batch, bytes);
    case LCT_LOSS_NPSOFTMAX: return lct__npsoftmax_workspace(loss, batch, bytes);
    case LCT_LOSS_INVASPREAD: return lct__invaspread_workspace(loss, batch, bytes);
    case LCT_LOSS_INFONCE: return lct__infonce_workspace(loss, batch, bytes);
    default: return lct__cmc_workspace(loss, batch, bytes);
    }
}

int lct__loss_check_range(const char *func, const char *what, size_t v, size_t lo, size_t hi)
{
    if (v >= lo && v <= hi) return LCT_OK;
    return lct__fail(LCT_EINVAL, func, "%s is %zu; it must be in %zu..%zu", what, v, lo, hi);
}

int lct__loss_new_args(const char *func, lct_loss **out, lct_runtime *rt, lct_bank *bank, const char *what)
{
    if (out == NULL) return lct__fail(LCT_EINVAL, func, "argument 'out' is NULL");
    *out = NULL;
    if (rt == NULL) return lct__fail(LCT_EINVAL, func, "argument 'rt' is NULL");
    return what ? lct__loss_check_bank(func, rt, bank, what) : LCT_OK;
}

int lct__loss_ws_size(lct__wksp w, size_t batch, size_t *bytes, const char *func)
{
    if (lct__wksp_size(&w, bytes))
        return lct__fail(LCT_ESHAPE, func, "workspace for batch %zu overflows size_t", batch);
    return LCT_OK;
}

int lct__loss_reserve(lct_loss *loss, size_t bytes)
{
    if (bytes <= loss->ws_bytes) return LCT_OK;
    void *p = lct__malloc(loss->rt, bytes);
    if (p == NULL) return LCT_ENOMEM;
    lct__free(loss->rt, loss->ws);
    loss->ws = p;
    loss->ws_bytes = bytes;
    return LCT_OK;
}

int lct__loss_reserve_banks(lct_loss *loss, size_t bytes, size_t batch, size_t gather_rows, const char *func)
{
    lct__bank_grow grow[LCT__LOSS_MAX_VIEWS];
    size_t n = loss->n_banks < LCT__LOSS_MAX_VIEWS ? loss->n_banks : LCT__LOSS_MAX_VIEWS, ready = 0;
    void *ws = NULL;
    int rc = LCT_OK;
    if (bytes > loss->ws_bytes && (ws = lct__malloc(loss->rt, bytes)) == NULL) rc = LCT_ENOMEM;
    for (; rc == LCT_OK && ready < n; ready++)
        if (lct__bank_prepare(loss->banks[ready], LCT__BANK_UPDATE_ENTRIES(batch), gather_rows, &grow[ready]))
            rc = LCT_ENOMEM;
    if (rc) {
        /* all or nothing: a failed call keeps none of what it allocated */
        while (ready-- > 0) lct__bank_abort(loss->banks[ready], &grow[ready]);
        lct__free(loss->rt, ws);
        return lct__fail(LCT_ENOMEM, func, "cannot allocate the workspaces for batch %zu", batch);
    }
    if (ws) {
        lct__free(loss->rt, loss->ws);
        loss->ws = ws;
        loss->ws_bytes = bytes;
    }
    for (size_t i = 0; i < n; i++) lct__bank_commit(loss->banks[i], &grow[i]);
    return LCT_OK;
}

int lct__loss_check_finite(const char *func, const char *what, const float *x, size_t n)
{
    if (lct__all_finite(x, n)) return LCT_OK;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return lct__fail(LCT_ENUMERIC, func, "%s[%zu] is %s; nothing was computed", what, i,
                             isnan(x[i]) ? "NaN" : "Inf");
    return lct__fail(LCT_ENUMERIC, func, "%s contains NaN or Inf", what);
}

/* one vectorised pass: the largest magnitude, and x * 0 summed (NaN iff some x is NaN or Inf) */
LCT__VEC_ISA static void scan_scores(const float *s, size_t n, float *big_out, float *bad_out)
{
    float big = 0.0f, bad = 0.0f;
LCT__SIMD_WITH(reduction(max : big) reduction(+ : bad))
    for (size_t i = 0; i < n; i++) {
        float a = __builtin_fabsf(s[i]);
        big = a > big ? a : big;
        bad += s[i] * 0.0f;
    }
    *big_out = big;
    *bad_out = bad;
}

int lct__loss_check_scores(const char *func, const char *what, const float *s, size_t n, double tau)
{
    float big, bad;
    scan_scores(s, n, &big, &bad);
    if (bad != 0.0f || (double)big / tau > 1e37)
        return lct__fail(LCT_ENUMERIC, func, "%s overflow float (largest |s| %g, tau %g); scale the embeddings down",
                         what, (double)big, tau);
    return LCT_OK;
}

int lct__loss_check_call(const char *func, const lct_loss *loss, int kind, size_t batch)
{
    if (loss == NULL) return lct__fail(LCT_EINVAL, func, "argument 'loss' is NULL");
    if (loss->kind != kind)
        return lct__fail(LCT_EINVAL, func, "loss is of kind %d, this call needs kind %d", loss->kind, kind);
    if (batch == 0) return lct__fail(LCT_EINVAL, func, "batch is 0");
    if (batch > LCT__LOSS_MAX_BATCH)
        return lct__fail(LCT_EINVAL, func, "batch %zu exceeds the limit %zu", batch, LCT__LOSS_MAX_BATCH);
    return LCT_OK;
}

/* Softmax cross-entropy of one row in float vector loops (exp by lct__expf), the log-sum-exp in double. */
LCT__VEC_ISA double lct__softmax_xent_row(const float *s, size_t n, size_t label, double inv_tau, float *g,
                                           double scale, int *argmax_ok)
{
    float m = -INFINITY;
LCT__SIMD_WITH(reduction(max : m))
    for (size_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    const float it = (float)inv_tau, sl = s[label];
    /* A step counts as correct only if the positive strictly beats every candidate. */
    if (argmax_ok) {
        int beaten = 0;
LCT__SIMD_WITH(reduction(+ : beaten))
        for (size_t j = 0; j < n; j++) beaten += (j != label && s[j] >= sl) ? 1 : 0;
        *argmax_ok = beaten == 0;
    }
    float sum = 0.0f;
    if (g) {
        /* g may alias s: every s[j] is read before g[j] is written */
LCT__SIMD_WITH(reduction(+ : sum))
        for (size_t j = 0; j < n; j++) {
            float e = lct__expf((s[j] - m) * it);
            g[j] = e;
            sum += e;
        }
    } else {
LCT__SIMD_WITH(reduction(+ : sum))
        for (size_t j = 0; j < n; j++) sum += lct__expf((s[j] - m) * it);
    }
    double lse = log((double)sum);
    double l = lse - ((double)sl - (double)m) * inv_tau;
    if (g) {
        const float w = (float)(scale / (double)sum), sc = (float)scale;
LCT__SIMD
        for (size_t j = 0; j < n; j++) {
            float v = g[j] * w - (j == label ? sc : 0.0f);
            g[j] = (v < 1e-30f && v > -1e-30f) ? 0.0f : v; /* see lct__ftz */
        }
    }
    return l;
}
