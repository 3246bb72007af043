/*
 * Row updates: v <- normalise(m v + (1 - m) f). Samples that share a row are
 * applied one after the other in batch order; distinct rows are independent,
 * so they run in parallel and the result never depends on the thread count.
 */
#include <math.h>
#include <stdlib.h>

#include "bank_internal.h"

int lct_bank_update_options_init(lct_bank_update_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_bank_update_options, opts, version, LCT__OPT_BANK_UPDATE,
                          .rule = LCT_BANK_UPDATE_MOMENTUM, .momentum = 0.5f, .lambda = 1.0f,
                          .normalize = 1);
}

typedef struct {
    int64_t row, pos;
} upd_pair;

static int cmp_pair(const void *a, const void *b)
{
    const upd_pair *x = a, *y = b;
    if (x->row != y->row) return (x->row > y->row) - (x->row < y->row);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* One sample into one row: blend, then (optionally) scale to unit length. */
static void update_row(lct_bank *b, size_t row, const float *f, float m, int normalize)
{
    size_t d = b->d;
    float w = 1.0f - m;
    double ss = 0.0;
    if (b->storage == LCT_BANK_FP32) {
        float *v = (float *)b->rows + row * d;
        for (size_t j = 0; j < d; j++) {
            v[j] = m * v[j] + w * f[j];
            ss += (double)v[j] * v[j];
        }
        if (normalize && ss > 0.0) {
            float s = (float)(1.0 / sqrt(ss));
            for (size_t j = 0; j < d; j++) v[j] *= s;
        }
    } else {
        /* Two passes over the halves (same arithmetic twice) instead of a d-float temporary. */
        uint16_t *v = (uint16_t *)b->rows + row * d;
        for (size_t j = 0; j < d; j++) {
            float t = m * lct__h2f(v[j]) + w * f[j];
            ss += (double)t * t;
        }
        float s = normalize && ss > 0.0 ? (float)(1.0 / sqrt(ss)) : 1.0f;
        for (size_t j = 0; j < d; j++) v[j] = lct__f2h((m * lct__h2f(v[j]) + w * f[j]) * s);
    }
}

typedef struct {
    lct_bank *bank;
    const upd_pair *order;
    const float *f;
    size_t m;
    float m_;
    int normalize;
} update_ctx;

/* A group of samples that share a row runs in the range that holds its first entry, past the range's end. */
static void update_groups(void *ctx, size_t i0, size_t i1, size_t slot)
{
    const update_ctx *c = ctx;
    const upd_pair *order = c->order;
    const size_t m = c->m, d = c->bank->d;
    (void)slot;
    for (size_t i = i0; i < i1; i++) {
        if (i > 0 && order[i - 1].row == order[i].row) continue; /* handled with its group's first */
        for (size_t g = i; g < m && order[g].row == order[i].row; g++)
            update_row(c->bank, (size_t)order[g].row, c->f + (size_t)order[g].pos * d, c->m_, c->normalize);
    }
}

/* Both public entries; errors name the entry the caller used. */
static int update_impl(const char *func, lct_bank *bank, const float *f, const int64_t *idx, size_t batch,
                       const lct_bank_update_options *opts)
{
    if (bank == NULL) return lct__fail(LCT_EINVAL, func, "argument 'bank' is NULL");
    if (f == NULL) return lct__fail(LCT_EINVAL, func, "argument 'f' is NULL");
    if (idx == NULL) return lct__fail(LCT_EINVAL, func, "argument 'idx' is NULL");
    lct_bank_update_options local;
    lct_bank_update_options_init(&local, LCT_BANK_UPDATE_OPTIONS_VERSION);
    int rc_opts = lct__options_load(LCT__OPT_BANK_UPDATE, &local, opts, func);
    if (rc_opts) return rc_opts;
    opts = &local;
    if (batch == 0) return lct__fail(LCT_EINVAL, func, "batch is 0");
    float m_;
    if (opts->rule == LCT_BANK_UPDATE_MOMENTUM) {
        if (!(opts->momentum >= 0.0f && opts->momentum <= 1.0f))
            return lct__fail(LCT_EINVAL, func, "momentum is %g; it must be in [0, 1]", (double)opts->momentum);
        m_ = opts->momentum;
    } else if (opts->rule == LCT_BANK_UPDATE_PROXIMAL) {
        if (!(opts->lambda >= 0.0f && opts->lambda <= 1e6f))
            return lct__fail(LCT_EINVAL, func, "lambda is %g; it must be in [0, 1e6]", (double)opts->lambda);
        m_ = (float)((double)opts->lambda / (1.0 + (double)opts->lambda));
    } else {
        return lct__fail(LCT_EINVAL, func, "opts->rule is %d; it must be MOMENTUM (0) or PROXIMAL (1)",
                         (int)opts->rule);
    }
    if (opts->normalize != 0 && opts->normalize != 1)
        return lct__fail(LCT_EINVAL, func, "opts->normalize is %d; it must be 0 or 1", (int)opts->normalize);
    int rc = LCT_OK;
    const int sharded = lct__bank_sharded(bank);
    const size_t P = (size_t)lct__comm_size(bank->comm), d = bank->d;
    size_t gb = 0;
    /* f, idx and the work entries (2 x batch; 3 x the global batch, and its embeddings, when sharded) must all
     * be buffers that can exist, before any of them is read */
    if (!lct__fits2(batch, d, sizeof *f) || !lct__fits2(batch, 2, sizeof *idx) || lct__mul_size(batch, P, &gb) ||
        !lct__fits2(gb, d, sizeof *f) || !lct__fits2(gb, 3, sizeof *idx))
        rc = lct__fail(LCT_ESHAPE, func, "batch (%zu) x d (%zu) overflows", batch, d);
    if (rc == LCT_OK) rc = lct__bank_check_idx(bank, idx, batch, func, "idx");
    if (rc == LCT_OK && !lct__all_finite(f, batch * d)) rc = lct__fail(LCT_ENUMERIC, func, "f holds NaN or Inf");
    if (rc == LCT_OK) rc = lct__bank_reserve(bank, sharded ? 3 * gb : LCT__BANK_UPDATE_ENTRIES(batch), 0);
    if (rc == LCT_OK && sharded && bank->fg_cap < gb * d) {
        float *fg = lct__malloc(bank->rt, gb * d * sizeof *fg);
        if (fg == NULL) rc = lct__fail(LCT_ENOMEM, func, "cannot allocate the %zu x %zu gathered batch", gb, d);
        else {
            lct__free(bank->rt, bank->fg);
            bank->fg = fg;
            bank->fg_cap = gb * d;
        }
    }
    if (sharded) {
        /* Collective from here: every rank learns whether every rank is ready, and the batch sizes agree. */
        if ((rc = lct__comm_agree(bank->comm, rc, batch, "batch", func))) return rc;
        int64_t *gidx = bank->work + 2 * gb;
        if ((rc = lct__comm_allgather(bank->comm, idx, gidx, batch * sizeof *idx, func))) return rc;
        if ((rc = lct__comm_allgather(bank->comm, f, bank->fg, batch * d * sizeof *f, func))) return rc;
        idx = gidx;
        f = bank->fg;
        batch = gb;
    } else if (rc) {
        return rc;
    }

    /* This rank's rows of the (global) batch, grouped by row in batch order. */
    upd_pair *order = (upd_pair *)(void *)bank->work;
    size_t m = 0;
    for (size_t i = 0; i < batch; i++)
        if ((uint64_t)idx[i] >= bank->first && (uint64_t)idx[i] < bank->first + bank->count)
            order[m++] = (upd_pair){idx[i] - (int64_t)bank->first, (int64_t)i};
    qsort(order, m, sizeof *order, cmp_pair);
    int normalize = opts->normalize;
    update_ctx c = {bank, order, f, m, m_, normalize};
    lct__parallel(bank->rt, m * d >= LCT__BANK_PAR_MIN ? lct__threads(bank->rt) : 1, m, 1, update_groups, &c);
    return LCT_OK;
}

int lct_bank_update_ex(lct_bank *bank, const float *f, const int64_t *idx, size_t batch,
                       const lct_bank_update_options *opts)
{
    return update_impl(__func__, bank, f, idx, batch, opts);
}

int lct_bank_update(lct_bank *bank, const float *f, const int64_t *idx, size_t batch, float momentum)
{
    lct_bank_update_options o;
    lct_bank_update_options_init(&o, LCT_BANK_UPDATE_OPTIONS_VERSION);
    o.momentum = momentum;
    return update_impl(__func__, bank, f, idx, batch, &o);
}

int lct_bank_proximal(const lct_bank *bank, const float *f, const int64_t *idx, size_t batch, float lambda,
                      float *grad, double *penalty)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(f);
    LCT__REQUIRE(idx);
    int rc = lct__bank_unsharded(bank, __func__, "; the proximal term needs every row");
    if (rc) return rc;
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (!(lambda >= 0.0f) || !isfinite(lambda))
        return LCT__FAIL(LCT_EINVAL, "lambda is %g; it must be finite and >= 0", (double)lambda);
    if (!lct__fits2(batch, bank->d, sizeof *f) || !lct__fits(batch, sizeof *idx))
        return LCT__FAIL(LCT_ESHAPE, "batch (%zu) x d (%zu) overflows", batch, bank->d);
    rc = lct__bank_check_idx(bank, idx, batch, __func__, "idx");
    if (rc) return rc;
    if (!lct__all_finite(f, batch * bank->d)) return LCT__FAIL(LCT_ENUMERIC, "f holds NaN or Inf");
    size_t d = bank->d;
    double total = 0.0;
    /* Sequential over the batch: the sum's order is fixed, and B x D is small. */
    for (size_t b = 0; b < batch; b++) {
        size_t row = (size_t)idx[b];
        for (size_t j = 0; j < d; j++) {
            float v = bank->storage == LCT_BANK_FP32 ? ((const float *)bank->rows)[row * d + j]
                                                     : lct__h2f(((const uint16_t *)bank->rows)[row * d + j]);
            double diff = (double)f[b * d + j] - (double)v;
            total += diff * diff;
            if (grad) grad[b * d + j] += (float)(2.0 * (double)lambda * diff);
        }
    }
    if (penalty) *penalty = (double)lambda * total;
    return LCT_OK;
}
