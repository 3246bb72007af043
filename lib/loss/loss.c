/* The loss handle: lifecycle, option defaults, tunable parameters, Z state, workspace. */
#include <math.h>
#include <stdio.h>

#include "loss_internal.h"

/* ---- option defaults ---------------------------------------------------- */

#define OPTIONS_INIT(opts, version, max)                                                                 \
    do {                                                                                                 \
        LCT__REQUIRE(opts);                                                                              \
        if ((version) == 0 || (version) > (max))                                                         \
            return LCT__FAIL(LCT_EVERSION, "version is %u; this library knows versions 1..%u",           \
                             (unsigned)(version), (unsigned)(max));                                      \
        memset((opts), 0, sizeof *(opts));                                                               \
        (opts)->version = (version);                                                                     \
    } while (0)

int lct_loss_nce_options_init(lct_loss_nce_options *opts, uint32_t version)
{
    OPTIONS_INIT(opts, version, LCT_LOSS_NCE_OPTIONS_VERSION);
    opts->k = 4096;
    opts->sample_mode = LCT_BANK_SAMPLE_REPLACE;
    opts->z_policy = LCT_Z_FIRST_BATCH;
    return LCT_OK;
}

int lct_loss_npsoftmax_options_init(lct_loss_npsoftmax_options *opts, uint32_t version)
{
    OPTIONS_INIT(opts, version, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION);
    opts->chunk = 4096;
    return LCT_OK;
}

int lct_loss_invaspread_options_init(lct_loss_invaspread_options *opts, uint32_t version)
{
    OPTIONS_INIT(opts, version, LCT_LOSS_INVASPREAD_OPTIONS_VERSION);
    opts->form = LCT_INVASPREAD_PAPER;
    return LCT_OK;
}

int lct_loss_infonce_options_init(lct_loss_infonce_options *opts, uint32_t version)
{
    OPTIONS_INIT(opts, version, LCT_LOSS_INFONCE_OPTIONS_VERSION);
    opts->steps = 12;
    opts->negatives = LCT_INFONCE_BATCH;
    return LCT_OK;
}

int lct_loss_cmc_options_init(lct_loss_cmc_options *opts, uint32_t version)
{
    OPTIONS_INIT(opts, version, LCT_LOSS_CMC_OPTIONS_VERSION);
    opts->graph = LCT_CMC_CORE;
    opts->objective = LCT_CMC_NCE;
    opts->k = 16384;
    opts->sample_mode = LCT_BANK_SAMPLE_REPLACE;
    opts->z_policy = LCT_Z_FIRST_BATCH;
    return LCT_OK;
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
    loss->params.rt = rt;
    return loss;
}

void lct_loss_free(lct_loss *loss)
{
    if (loss == NULL) return;
    lct_runtime *rt = loss->rt;
    lct__free(rt, loss->ws);
    lct__free(rt, loss->banks);
    lct__free(rt, loss->log_z);
    lct__free(rt, loss->z_known);
    lct__free(rt, loss->w);
    lct__free(rt, loss->gw);
    lct__free(rt, loss->tensors);
    lct__free(rt, loss->names);
    lct__free(rt, loss);
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
    return LCT_OK;
}

int lct_loss_reset_z(lct_loss *loss)
{
    LCT__REQUIRE(loss);
    if (!has_z(loss)) return LCT__FAIL(LCT_EINVAL, "loss of kind %d has no NCE constant Z", loss->kind);
    for (size_t v = 0; v < loss->n_banks; v++) {
        loss->z_known[v] = 0;
        loss->log_z[v] = 0.0;
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

int lct__loss_check_finite(const char *func, const char *what, const float *x, size_t n)
{
    if (lct__all_finite(x, n)) return LCT_OK;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return lct__fail(LCT_ENUMERIC, func, "%s[%zu] is %s; nothing was computed", what, i,
                             isnan(x[i]) ? "NaN" : "Inf");
    return lct__fail(LCT_ENUMERIC, func, "%s contains NaN or Inf", what);
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

double lct__softmax_xent_row(const float *s, size_t n, size_t label, double inv_tau, float *g, double scale,
                             int *argmax_ok)
{
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++)
        if ((double)s[j] > m) m = s[j];
    double sum = 0.0;
    for (size_t j = 0; j < n; j++) sum += exp(((double)s[j] - m) * inv_tau);
    double lse = log(sum);
    double l = lse - ((double)s[label] - m) * inv_tau;
    /* A step counts as correct only if the positive strictly beats every candidate. */
    if (argmax_ok) {
        int ok = 1;
        for (size_t j = 0; j < n && ok; j++)
            if (j != label && s[j] >= s[label]) ok = 0;
        *argmax_ok = ok;
    }
    if (g) {
        for (size_t j = 0; j < n; j++) {
            double p = exp(((double)s[j] - m) * inv_tau - lse);
            g[j] = (float)((p - (j == label ? 1.0 : 0.0)) * scale);
        }
    }
    return l;
}
