/* Negative sampling: per-sample generators keyed by (bank stream, call count, sample). */
#include <stdlib.h>

#include "bank_internal.h"

/* Key of the shared-mode generator within a call (per-sample modes use the sample's position). */
#define LCT__SHARED_KEY (UINT64_MAX - 1)

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const int64_t *self_idx;
    int64_t *out;
    uint64_t seed, call, n;
    size_t k;
    int mode;
} sample_ctx;

/* The per-sample modes: sample b draws from its own generator. */
static void sample_rows(void *ctx, size_t b0, size_t b1, size_t slot)
{
    const sample_ctx *c = ctx;
    const int64_t *self_idx = c->self_idx;
    const uint64_t seed = c->seed, call = c->call, n = c->n;
    const size_t k = c->k;
    const int mode = c->mode;
    (void)slot;
    for (size_t b = b0; b < b1; b++) {
        lct__rng r;
        lct__rng_seed(&r, seed, lct__hash64(call, b));
        int64_t *o = c->out + b * k;
        if (mode == LCT_BANK_SAMPLE_EXCLUDE_SELF) {
            uint64_t self = (uint64_t)self_idx[b];
            for (size_t j = 0; j < k; j++) {
                uint64_t v = lct__rng_below(&r, n - 1);
                o[j] = (int64_t)(v >= self ? v + 1 : v);
            }
        } else {
            for (size_t j = 0; j < k; j++) o[j] = (int64_t)lct__rng_below(&r, n);
        }
    }
}

int lct_bank_sample(lct_bank *bank, const int64_t *self_idx, size_t batch, size_t k, int mode, int64_t *out)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(out);
    if (mode < LCT_BANK_SAMPLE_REPLACE || mode > LCT_BANK_SAMPLE_SHARED_EXCLUDE)
        return LCT__FAIL(LCT_EINVAL, "mode is %d; it must be one of lct_bank_sample_mode (0..3)", mode);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (k == 0) return LCT__FAIL(LCT_EINVAL, "k is 0");
    int exclude = mode == LCT_BANK_SAMPLE_EXCLUDE_SELF || mode == LCT_BANK_SAMPLE_SHARED_EXCLUDE;
    if (exclude && self_idx == NULL)
        return LCT__FAIL(LCT_EINVAL, "argument 'self_idx' is NULL; mode %d excludes the batch's own rows", mode);
    if (!lct__fits2(batch, k, sizeof *out) || !lct__fits2(batch, 2, sizeof *out))
        return LCT__FAIL(LCT_ESHAPE, "batch (%zu) x k (%zu) overflows", batch, k);
    if (self_idx) {
        int rc = lct__bank_check_idx(bank, self_idx, batch, __func__, "self_idx");
        if (rc) return rc;
    }
    return lct__bank_sample_unchecked(bank, self_idx, batch, k, mode, out, __func__);
}

int lct__bank_sample_unchecked(lct_bank *bank, const int64_t *self_idx, size_t batch, size_t k, int mode,
                               int64_t *out, const char *func)
{
    if (mode == LCT_BANK_SAMPLE_EXCLUDE_SELF && bank->n < 2)
        return lct__fail(LCT_EINVAL, func, "the bank has %zu row; excluding a sample's own row leaves nothing to draw",
                         bank->n);
    uint64_t seed = lct_runtime_seed(bank->rt), call = lct__hash64(bank->stream, bank->sample_calls);
    uint64_t n = bank->n;
    if (mode == LCT_BANK_SAMPLE_SHARED_EXCLUDE) {
        int rc = lct__bank_reserve(bank, batch, 0);
        if (rc) return rc;
        int64_t *ex = bank->work;
        memcpy(ex, self_idx, batch * sizeof *ex);
        qsort(ex, batch, sizeof *ex, cmp_i64);
        size_t m = 0;
        for (size_t i = 0; i < batch; i++)
            if (m == 0 || ex[m - 1] != ex[i]) ex[m++] = ex[i];
        if (m >= n)
            return lct__fail(LCT_EINVAL, func, "self_idx covers all %zu rows; nothing is left to draw from", bank->n);
        lct__rng r;
        lct__rng_seed(&r, seed, lct__hash64(call, LCT__SHARED_KEY));
        for (size_t j = 0; j < k; j++) {
            /* The r-th row that is not excluded: step past every excluded index at or below it. */
            uint64_t v = lct__rng_below(&r, n - m);
            for (size_t e = 0; e < m && (uint64_t)ex[e] <= v; e++) v++;
            out[j] = (int64_t)v;
        }
    } else if (mode == LCT_BANK_SAMPLE_SHARED) {
        lct__rng r;
        lct__rng_seed(&r, seed, lct__hash64(call, LCT__SHARED_KEY));
        for (size_t j = 0; j < k; j++) out[j] = (int64_t)lct__rng_below(&r, n);
    } else {
        sample_ctx c = {self_idx, out, seed, call, n, k, mode};
        lct__parallel(bank->rt, batch * k >= LCT__BANK_PAR_MIN ? lct__threads(bank->rt) : 1, batch, 1, sample_rows,
                      &c);
    }
    bank->sample_calls++;
    return LCT_OK;
}
