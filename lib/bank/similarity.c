/*
 * Similarities of embeddings with bank rows, and the matching gradients with
 * respect to the embeddings. Per-sample negatives are read in place (a dot
 * product per row, rows prefetched ahead), never copied into a B×K×D block;
 * shared negatives are gathered once (K×D) and multiplied with one GEMM.
 */
#include "bank_internal.h"

/* Rows ahead of the one being read whose cache lines are requested early. */
#define LCT__PREFETCH_AHEAD 8

static inline float dot_row(const lct_bank *b, const float *f, size_t i)
{
    if (b->storage == LCT_BANK_FP32) return lct__dot_f32(f, (const float *)b->rows + i * b->d, b->d);
    return lct__dot_f16(f, (const uint16_t *)b->rows + i * b->d, b->d);
}

static inline void axpy_row(const lct_bank *b, float a, size_t i, float *y)
{
    if (b->storage == LCT_BANK_FP32) lct__axpy_f32(a, (const float *)b->rows + i * b->d, y, b->d);
    else lct__axpy_f16(a, (const uint16_t *)b->rows + i * b->d, y, b->d);
}

static inline void prefetch_row(const lct_bank *b, size_t i)
{
    size_t bytes = b->d * lct__bank_elem(b->storage);
    const char *p = (const char *)b->rows + i * bytes;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 3);
}

/* What the parallel loops below read: x is f (similarities) or ds (gradients), y is out or df. */
typedef struct {
    lct_bank *b;
    const float *x;
    const int64_t *pos_idx, *neg_idx;
    size_t k, ld;
    float *y;
    int accumulate; /* gradients: add to y instead of overwriting it */
    int shared;     /* one set of k negatives for every row */
} sim_ctx;

static void gather_rows(void *ctx, size_t j0, size_t j1, size_t slot)
{
    const sim_ctx *c = ctx;
    lct_bank *b = c->b;
    const int64_t *neg = c->neg_idx;
    const size_t d = b->d;
    (void)slot;
    for (size_t j = j0; j < j1; j++) {
        float *dst = b->gather + j * d;
        const float *src = lct__bank_row(b, (size_t)neg[j], dst);
        if (src != dst) memcpy(dst, src, d * sizeof *dst);
    }
}

void lct__bank_dots(const lct_bank *b, const float *f, size_t first, size_t count, float *out)
{
    for (size_t j = 0; j < count; j++) out[j] = dot_row(b, f, first + j);
}

void lct__bank_dots_many(const lct_bank *b, const float *f, size_t nq, size_t first, size_t count, float *out,
                         size_t ldo)
{
    for (size_t j = 0; j < count; j++)
        for (size_t i = 0; i < nq; i++) out[i * ldo + j] = dot_row(b, f + i * b->d, first + j);
}

/* Copy the shared negatives' rows into the gather workspace (sized by the caller). */
static void gather_shared(lct_bank *b, const int64_t *neg, size_t k)
{
    size_t d = b->d;
    sim_ctx c = {.b = b, .neg_idx = neg};
    lct__parallel(b->rt, k * d >= LCT__BANK_PAR_MIN ? lct__threads(b->rt) : 1, k, 1, gather_rows, &c);
}

/* Local row of global index i, or -1 when another rank owns it. */
static inline int64_t owned(const lct_bank *b, int64_t i)
{
    return (uint64_t)i >= b->first && (uint64_t)i < b->first + b->count ? i - (int64_t)b->first : -1;
}

/* How walk_rows treats a row's entries: the positive only (the shared modes, whose negatives go
 * through one GEMM), all of them, or only those of rows this rank owns (sharded banks). */
enum { WALK_POS, WALK_ALL, WALK_OWNED };

/*
 * Rows r0 .. r1 of the similarities (grad 0: y[r·ld + j] = x_r · row) or of the gradients (grad 1:
 * y_r += x[r·ld + j] · row), entry 0 the positive and 1 .. k the negatives; the same dot products and
 * axpys in the same order for every caller. Inlined into each loop below with constant grad and walk.
 */
static inline __attribute__((always_inline)) void walk_rows(const sim_ctx *c, size_t r0, size_t r1, int grad,
                                                              int walk)
{
    lct_bank *bank = c->b;
    const size_t d = bank->d, k = walk == WALK_POS ? 0 : c->k, ld = c->ld;
    for (size_t r = r0; r < r1; r++) {
        const float *x = c->x + r * (grad ? ld : d);
        float *y = c->y + r * (grad ? d : ld);
        const int64_t *nr = c->neg_idx + (c->shared ? 0 : r * k);
        if (grad && walk != WALK_POS && (walk == WALK_OWNED || !c->accumulate)) memset(y, 0, d * sizeof *y);
        if (walk == WALK_ALL)
            for (size_t j = 0; j < k && j < LCT__PREFETCH_AHEAD; j++) prefetch_row(bank, (size_t)nr[j]);
        for (size_t j = 0; j <= k; j++) {
            int64_t i = j == 0 ? c->pos_idx[r] : nr[j - 1];
            if (walk == WALK_ALL && j >= 1 && j - 1 + LCT__PREFETCH_AHEAD < k)
                prefetch_row(bank, (size_t)nr[j - 1 + LCT__PREFETCH_AHEAD]);
            if (walk == WALK_OWNED) i = owned(bank, i);
            if (grad) {
                if (i >= 0) axpy_row(bank, x[j], (size_t)i, y);
            } else {
                y[j] = i >= 0 ? dot_row(bank, x, (size_t)i) : 0.0f;
            }
        }
    }
}

static void pos_sims(void *ctx, size_t b0, size_t b1, size_t slot) { (void)slot; walk_rows(ctx, b0, b1, 0, WALK_POS); }
static void sample_sims(void *ctx, size_t b0, size_t b1, size_t slot) { (void)slot; walk_rows(ctx, b0, b1, 0, WALK_ALL); }
static void owned_sims(void *ctx, size_t r0, size_t r1, size_t slot) { (void)slot; walk_rows(ctx, r0, r1, 0, WALK_OWNED); }
static void pos_grads(void *ctx, size_t b0, size_t b1, size_t slot) { (void)slot; walk_rows(ctx, b0, b1, 1, WALK_POS); }
static void sample_grads(void *ctx, size_t b0, size_t b1, size_t slot) { (void)slot; walk_rows(ctx, b0, b1, 1, WALK_ALL); }
static void owned_grads(void *ctx, size_t r0, size_t r1, size_t slot) { (void)slot; walk_rows(ctx, r0, r1, 1, WALK_OWNED); }

/* Checks shared by lct_bank_similarity and the gradient's public callers. */
static int check_sim_args(lct_bank *bank, const float *f, size_t batch, const int64_t *pos_idx,
                          const int64_t *neg_idx, size_t k, int mode, const char *func)
{
    if (mode < LCT_BANK_SAMPLE_REPLACE || mode > LCT_BANK_SAMPLE_SHARED_EXCLUDE)
        return lct__fail(LCT_EINVAL, func, "mode is %d; it must be one of lct_bank_sample_mode (0..3)", mode);
    if (batch == 0) return lct__fail(LCT_EINVAL, func, "batch is 0");
    if (k == 0) return lct__fail(LCT_EINVAL, func, "k is 0");
    int shared = mode >= LCT_BANK_SAMPLE_SHARED;
    /* every buffer the call reads or writes must be one that can exist, before any is touched */
    if (k == SIZE_MAX || !lct__fits2(batch, k + 1, sizeof(float)) || !lct__fits2(batch, bank->d, sizeof(float)) ||
        !lct__fits(batch, sizeof(int64_t)) || !lct__fits2(shared ? 1 : batch, k, sizeof(int64_t)))
        return lct__fail(LCT_ESHAPE, func, "batch (%zu) x (k (%zu) + 1) overflows", batch, k);
    int rc = lct__bank_check_idx(bank, pos_idx, batch, func, "pos_idx");
    if (rc) return rc;
    rc = lct__bank_check_idx(bank, neg_idx, shared ? k : batch * k, func, "neg_idx");
    if (rc) return rc;
    if (!lct__all_finite(f, batch * bank->d)) return lct__fail(LCT_ENUMERIC, func, "f holds NaN or Inf");
    return LCT_OK;
}

int lct_bank_similarity(lct_bank *bank, const float *f, size_t batch, const int64_t *pos_idx,
                        const int64_t *neg_idx, size_t k, int mode, float *out)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(f);
    LCT__REQUIRE(pos_idx);
    LCT__REQUIRE(neg_idx);
    LCT__REQUIRE(out);
    int rc = lct__bank_unsharded(bank, __func__, ": its similarities are computed collectively by the NCE loss");
    if (rc == LCT_OK) rc = check_sim_args(bank, f, batch, pos_idx, neg_idx, k, mode, __func__);
    if (rc) return rc;
    return lct__bank_similarity_unchecked(bank, f, batch, pos_idx, neg_idx, k, mode, out);
}

/* The similarities (grad 0) or gradients (grad 1) of c over a batch. Shared modes: the k rows gathered
 * once and one GEMM for the negatives (out[:, 1:] = F Gᵀ, or df (+)= dS[:, 1:] G), then the positives
 * row by row; per-sample modes: every entry row by row. */
static int sims_or_grads(lct_bank *bank, sim_ctx *c, size_t batch, int grad)
{
    lct_runtime *rt = bank->rt;
    const size_t d = bank->d, k = c->k, ld = c->ld;
    if (!c->shared) {
        lct__parallel(rt, batch * k * d >= LCT__BANK_PAR_MIN ? lct__threads(rt) : 1, batch, 1,
                      grad ? sample_grads : sample_sims, c);
        return LCT_OK;
    }
    int rc = lct__bank_reserve(bank, 0, k);
    if (rc) return rc;
    gather_shared(bank, c->neg_idx, k);
    if (grad)
        rc = lct__gemm(rt, 0, 0, batch, d, k, 1.0f, c->x + 1, ld, bank->gather, d, c->accumulate ? 1.0f : 0.0f, c->y,
                       d);
    else
        rc = lct__gemm(rt, 0, 1, batch, k, d, 1.0f, c->x, d, bank->gather, d, 0.0f, c->y + 1, ld);
    if (rc) return rc;
    lct__parallel(rt, batch * d >= LCT__BANK_PAR_MIN ? lct__threads(rt) : 1, batch, 1, grad ? pos_grads : pos_sims, c);
    return LCT_OK;
}

int lct__bank_similarity_unchecked(lct_bank *bank, const float *f, size_t batch, const int64_t *pos_idx,
                                   const int64_t *neg_idx, size_t k, int mode, float *out)
{
    sim_ctx c = {bank, f, pos_idx, neg_idx, k, k + 1, out, 0, mode >= LCT_BANK_SAMPLE_SHARED};
    return sims_or_grads(bank, &c, batch, 0);
}

int lct__bank_grad(lct_bank *bank, const float *ds, size_t batch, const int64_t *pos_idx, const int64_t *neg_idx,
                   size_t k, int mode, int accumulate, float *df)
{
    sim_ctx c = {bank, ds, pos_idx, neg_idx, k, k + 1, df, accumulate, mode >= LCT_BANK_SAMPLE_SHARED};
    return sims_or_grads(bank, &c, batch, 1);
}

int lct_bank_similarity_all(lct_bank *bank, const float *f, size_t batch, size_t first, size_t count, float *out,
                            size_t ldo)
{
    LCT__REQUIRE(bank);
    LCT__REQUIRE(f);
    LCT__REQUIRE(out);
    int rc = lct__bank_unsharded(bank, __func__, "; similarities with all its rows are not available");
    if (rc) return rc;
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (count == 0) return LCT__FAIL(LCT_EINVAL, "count is 0");
    if (first >= bank->n || count > bank->n - first)
        return LCT__FAIL(LCT_ERANGE, "rows [%zu, %zu + %zu) exceed the bank's %zu rows", first, first, count, bank->n);
    if (ldo < count) return LCT__FAIL(LCT_ESHAPE, "ldo (%zu) is smaller than count (%zu)", ldo, count);
    if (!lct__fits2(batch, ldo, sizeof *out) || !lct__fits2(batch, bank->d, sizeof *f))
        return LCT__FAIL(LCT_ESHAPE, "batch (%zu) x ldo (%zu) overflows", batch, ldo);
    if (!lct__all_finite(f, batch * bank->d)) return LCT__FAIL(LCT_ENUMERIC, "f holds NaN or Inf");
    return lct__bank_similarity_all_unchecked(bank, f, batch, first, count, out, ldo);
}

int lct__bank_similarity_all_unchecked(lct_bank *bank, const float *f, size_t batch, size_t first, size_t count,
                                       float *out, size_t ldo)
{
    size_t d = bank->d;
    if (bank->storage == LCT_BANK_FP32)
        return lct__gemm(bank->rt, 0, 1, batch, count, d, 1.0f, f, d, (const float *)bank->rows + first * d, d, 0.0f,
                         out, ldo);
    for (size_t c = 0; c < count; c += LCT__BANK_CHUNK) {
        size_t m = count - c < LCT__BANK_CHUNK ? count - c : LCT__BANK_CHUNK;
        lct__bank_rows_f32(bank, first + c, m, bank->chunk);
        int rc = lct__gemm(bank->rt, 0, 1, batch, m, d, 1.0f, f, d, bank->chunk, d, 0.0f, out + c, ldo);
        if (rc) return rc;
    }
    return LCT_OK;
}

int lct__bank_grad_all(lct_bank *bank, const float *ds, size_t batch, size_t first, size_t count, size_t ldd,
                       int accumulate, float *df)
{
    size_t d = bank->d;
    if (bank->storage == LCT_BANK_FP32)
        return lct__gemm(bank->rt, 0, 0, batch, d, count, 1.0f, ds, ldd, (const float *)bank->rows + first * d, d,
                         accumulate ? 1.0f : 0.0f, df, d);
    for (size_t c = 0; c < count; c += LCT__BANK_CHUNK) {
        size_t m = count - c < LCT__BANK_CHUNK ? count - c : LCT__BANK_CHUNK;
        lct__bank_rows_f32(bank, first + c, m, bank->chunk);
        int rc = lct__gemm(bank->rt, 0, 0, batch, d, m, 1.0f, ds + c, ldd, bank->chunk, d,
                           (accumulate || c > 0) ? 1.0f : 0.0f, df, d);
        if (rc) return rc;
    }
    return LCT_OK;
}

/* ---- sharded banks: the entries of the rows this rank owns -------------------------------------- */


/* Rows of the global batch, owned entries only (see bank.h), in parallel. */
static void walk_owned(lct_bank *b, const float *x, size_t gb, const int64_t *pos_idx, const int64_t *neg_idx, size_t k,
                       int mode, float *y, int grad)
{
    sim_ctx c = {b, x, pos_idx, neg_idx, k, k + 1, y, 0, mode >= LCT_BANK_SAMPLE_SHARED};
    lct__parallel(b->rt, gb * k * b->d >= LCT__BANK_PAR_MIN ? lct__threads(b->rt) : 1, gb, 1,
                  grad ? owned_grads : owned_sims, &c);
}

void lct__bank_sim_owned(lct_bank *b, const float *fg, size_t gb, const int64_t *pos_idx, const int64_t *neg_idx,
                         size_t k, int mode, float *out)
{
    walk_owned(b, fg, gb, pos_idx, neg_idx, k, mode, out, 0);
}

void lct__bank_grad_owned(lct_bank *b, const float *ds, size_t gb, const int64_t *pos_idx, const int64_t *neg_idx,
                          size_t k, int mode, float *df_all)
{
    walk_owned(b, ds, gb, pos_idx, neg_idx, k, mode, df_all, 1);
}
