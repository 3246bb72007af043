/*
 * Novelty: the mean cosine distance of an embedding to its k nearest bank rows, and a running mean
 * and variance of that score. Similarities come from the bank in blocks of 64 queries x 1024 rows
 * (one GEMM each; a dot product per row for one or two queries, where packing would dominate), and
 * each query keeps its k best in a sorted array: the workspace is fixed at creation.
 */
#include <math.h>

#include "replay_internal.h"
#include "../bank/bank.h"

/* Below this many queries a block is computed as dot products instead of a GEMM. */
#define NOVELTY_GEMM_MIN 3

int lct_novelty_options_init(lct_novelty_options *opts, uint32_t version)
{
    LCT__OPTIONS_DEFAULTS(lct_novelty_options, opts, version, LCT__OPT_NOVELTY, .k = 10, .momentum = 0.99f);
}

int lct_novelty_new(lct_novelty **out, lct_runtime *rt, lct_bank *bank, const lct_novelty_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    LCT__REQUIRE(bank);
    lct_novelty_options local;
    LCT__OPTIONS_COPY(LCT__OPT_NOVELTY, lct_novelty_options_init, local, opts);
    if (opts->k == 0 || opts->k > LCT__NOVELTY_MAX_K)
        return LCT__FAIL(LCT_EINVAL, "opts->k is %u; it must be in 1..%u", (unsigned)opts->k, LCT__NOVELTY_MAX_K);
    if (!(opts->momentum >= 0.0f && opts->momentum < 1.0f))
        return LCT__FAIL(LCT_EINVAL, "opts->momentum is %g; it must be in [0, 1)", (double)opts->momentum);
    if (lct__bank_runtime(bank) != rt) return LCT__FAIL(LCT_EMISMATCH, "bank was created from another runtime than rt");
    if (lct__bank_sharded(bank))
        return LCT__FAIL(LCT_EUNSUPPORTED, "bank is sharded over several ranks; novelty needs every row");
    lct_novelty *nv = lct__calloc(rt, 1, sizeof *nv);
    if (nv == NULL) return LCT_ENOMEM;
    nv->rt = rt;
    nv->bank = bank;
    nv->k = opts->k;
    nv->momentum = opts->momentum;
    nv->sims = lct__malloc(rt, (size_t)LCT__NOVELTY_QB * LCT__NOVELTY_RB * sizeof *nv->sims);
    nv->best = lct__malloc(rt, (size_t)LCT__NOVELTY_QB * opts->k * sizeof *nv->best);
    if (nv->sims == NULL || nv->best == NULL) {
        lct_novelty_free(nv);
        return LCT__FAIL(LCT_ENOMEM, "cannot allocate the novelty workspace");
    }
    *out = nv;
    return LCT_OK;
}

void lct_novelty_free(lct_novelty *nv)
{
    if (nv == NULL) return;
    lct__free(nv->rt, nv->sims);
    lct__free(nv->rt, nv->best);
    lct__free(nv->rt, nv);
}

/* Keep the k largest of best[0..k) (descending) and the n similarities s[0..n). */
static void keep_best(float *best, size_t k, const float *s, size_t n)
{
    float floor = best[k - 1];
    for (size_t j = 0; j < n; j++) {
        float v = s[j];
        if (!(v > floor)) continue;
        size_t i = k - 1;
        while (i > 0 && best[i - 1] < v) {
            best[i] = best[i - 1];
            i--;
        }
        best[i] = v;
        floor = best[k - 1];
    }
}

int lct_novelty_score(lct_novelty *nv, const float *f, size_t batch, size_t rows, float *score, float *z)
{
    LCT__REQUIRE(nv);
    LCT__REQUIRE(f);
    LCT__REQUIRE(score);
    if (batch == 0) return LCT__FAIL(LCT_EINVAL, "batch is 0");
    if (rows == 0) return LCT__FAIL(LCT_EINVAL, "rows is 0; score against at least one bank row");
    size_t n = lct__bank_n(nv->bank), d = lct__bank_d(nv->bank), t;
    if (rows > n) return LCT__FAIL(LCT_ERANGE, "rows is %zu; the bank has %zu", rows, n);
    if (lct__mul_size(batch, d, &t) != 0 || t > SIZE_MAX / sizeof(float))
        return LCT__FAIL(LCT_ESHAPE, "batch (%zu) x D (%zu) overflows", batch, d);
    if (!lct__all_finite(f, t)) return LCT__FAIL(LCT_ENUMERIC, "f holds NaN or Inf");
    const size_t k = rows < nv->k ? rows : nv->k;
    const double mean0 = nv->mean, sd0 = nv->n >= 2 ? sqrt(nv->var) : 0.0;
    for (size_t q0 = 0; q0 < batch; q0 += LCT__NOVELTY_QB) {
        size_t m = batch - q0 < LCT__NOVELTY_QB ? batch - q0 : LCT__NOVELTY_QB;
        for (size_t i = 0; i < m * k; i++) nv->best[i] = -INFINITY;
        for (size_t r0 = 0; r0 < rows; r0 += LCT__NOVELTY_RB) {
            size_t nr = rows - r0 < LCT__NOVELTY_RB ? rows - r0 : LCT__NOVELTY_RB;
            if (m < NOVELTY_GEMM_MIN)
                for (size_t i = 0; i < m; i++) lct__bank_dots(nv->bank, f + (q0 + i) * d, r0, nr, nv->sims + i * nr);
            else
                lct_bank_similarity_all(nv->bank, f + q0 * d, m, r0, nr, nv->sims, nr);
            for (size_t i = 0; i < m; i++) keep_best(nv->best + i * k, k, nv->sims + i * nr, nr);
        }
        for (size_t i = 0; i < m; i++) {
            double s = 0.0;
            for (size_t j = 0; j < k; j++) s += nv->best[i * k + j];
            score[q0 + i] = (float)(1.0 - s / (double)k);
        }
    }
    for (size_t b = 0; b < batch; b++) {
        if (z) z[b] = sd0 > 0.0 ? (float)(((double)score[b] - mean0) / sd0) : 0.0f;
        nv->n++;
        double a = 1.0 / (double)nv->n, floor = 1.0 - (double)nv->momentum;
        if (a < floor) a = floor;
        double delta = (double)score[b] - nv->mean;
        nv->mean += a * delta;
        nv->var = (1.0 - a) * (nv->var + a * delta * delta);
    }
    return LCT_OK;
}

int lct_novelty_stats(const lct_novelty *nv, double *mean, double *deviation, uint64_t *count)
{
    LCT__REQUIRE(nv);
    if (mean) *mean = nv->mean;
    if (deviation) *deviation = sqrt(nv->var);
    if (count) *count = nv->n;
    return LCT_OK;
}

int lct_novelty_reset(lct_novelty *nv)
{
    LCT__REQUIRE(nv);
    nv->n = 0;
    nv->mean = nv->var = 0.0;
    return LCT_OK;
}
