/* InstDisc's non-parametric softmax over all N bank rows, in chunks of rows (bounded memory). */
#include <math.h>

#include "../bank/bank_internal.h"
#include "loss_internal.h"

int lct_loss_new_npsoftmax(lct_loss **out, lct_runtime *rt, lct_bank *bank, const lct_loss_npsoftmax_options *opts)
{
    LCT__REQUIRE(out);
    *out = NULL;
    LCT__REQUIRE(rt);
    int rc = lct__loss_check_bank(__func__, rt, bank, "bank");
    if (rc) return rc;
    lct_loss_npsoftmax_options o;
    lct_loss_npsoftmax_options_init(&o, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION);
    if (opts) {
        LCT__CHECK_VERSION(opts, LCT_LOSS_NPSOFTMAX_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.chunk == 0 || o.chunk > (1u << 24))
        return LCT__FAIL(LCT_EINVAL, "opts->chunk is %u; it must be in 1..%u", (unsigned)o.chunk, 1u << 24);
    lct_loss *loss = lct__loss_alloc(rt, LCT_LOSS_NPSOFTMAX);
    if (loss == NULL) return LCT_ENOMEM;
    loss->banks = lct__calloc(rt, 1, sizeof *loss->banks);
    if (loss->banks == NULL) {
        lct_loss_free(loss);
        return LCT_ENOMEM;
    }
    loss->banks[0] = bank;
    loss->n_banks = 1;
    loss->n_rows = lct__bank_n(bank);
    loss->dim = lct__bank_d(bank);
    loss->chunk = o.chunk < loss->n_rows ? o.chunk : loss->n_rows;
    *out = loss;
    return LCT_OK;
}

int lct__npsoftmax_workspace(const lct_loss *loss, size_t batch, size_t *bytes)
{
    size_t sim, a;
    if (lct__mul_size(batch, loss->chunk, &sim) || lct__mul_size(sim, sizeof(float), &a) || a > SIZE_MAX / 2 ||
        batch > SIZE_MAX / 64)
        return LCT__FAIL(LCT_ESHAPE, "workspace for batch %zu overflows size_t", batch);
    *bytes = a + 4 * batch * sizeof(double) + 256;
    return LCT_OK;
}

/*
 * Pass 1 keeps, per row, a running maximum and sum of exp(z - max) over the chunks (an online
 * log-sum-exp) and the label's score; pass 2 recomputes each chunk's similarities, turns them into
 * softmax - onehot and multiplies them back through the bank rows. With one chunk, pass 2 reuses pass 1.
 */
int lct_loss_npsoftmax_compute(lct_loss *loss, const float *f, const int64_t *idx, size_t batch, float *loss_out,
                               float *df)
{
    int rc = lct__loss_check_call(__func__, loss, LCT_LOSS_NPSOFTMAX, batch);
    if (rc) return rc;
    LCT__REQUIRE(f);
    LCT__REQUIRE(idx);
    LCT__REQUIRE(loss_out);
    lct_bank *bank = loss->banks[0];
    if ((rc = lct__loss_check_finite(__func__, "f", f, batch * loss->dim))) return rc;
    if ((rc = lct__bank_check_idx(bank, idx, batch, __func__, "idx"))) return rc;
    size_t bytes;
    if ((rc = lct__npsoftmax_workspace(loss, batch, &bytes))) return rc;
    if ((rc = lct__loss_reserve(loss, bytes))) return rc;
    double *mx = loss->ws, *sum = mx + batch, *lab = sum + batch, *row_loss = lab + batch;
    float *s = (float *)(row_loss + batch);
    lct_runtime *rt = loss->rt;
    const size_t n = loss->n_rows, chunk = loss->chunk;
    const double inv_tau = 1.0 / loss->tau;
    for (size_t b = 0; b < batch; b++) {
        mx[b] = -INFINITY;
        sum[b] = 0.0;
    }
    for (size_t first = 0; first < n; first += chunk) {
        size_t cnt = n - first < chunk ? n - first : chunk;
        if ((rc = lct_bank_similarity_all(bank, f, batch, first, cnt, s, cnt))) return rc;
        if (!lct__all_finite(s, batch * cnt))
            return LCT__FAIL(LCT_ENUMERIC, "similarities with the bank overflow float; scale the embeddings down");
#pragma omp parallel for num_threads(lct__threads(rt)) schedule(static)
        for (size_t b = 0; b < batch; b++) {
            const float *sr = s + b * cnt;
            double m = mx[b];
            for (size_t j = 0; j < cnt; j++)
                if (sr[j] * inv_tau > m) m = sr[j] * inv_tau;
            double acc = sum[b] * exp(mx[b] - m);
            for (size_t j = 0; j < cnt; j++) acc += exp(sr[j] * inv_tau - m);
            mx[b] = m;
            sum[b] = acc;
            size_t label = (size_t)idx[b];
            if (label >= first && label < first + cnt) lab[b] = sr[label - first] * inv_tau;
        }
    }
    double total = 0.0;
    for (size_t b = 0; b < batch; b++) {
        double lse = mx[b] + log(sum[b]);
        row_loss[b] = lse - lab[b];
        mx[b] = lse; /* reused as log-sum-exp below */
        total += row_loss[b];
    }
    if (df) {
        const double scale = 1.0 / (loss->tau * (double)batch);
        for (size_t first = 0; first < n; first += chunk) {
            size_t cnt = n - first < chunk ? n - first : chunk;
            if (chunk < n && (rc = lct_bank_similarity_all(bank, f, batch, first, cnt, s, cnt))) return rc;
#pragma omp parallel for num_threads(lct__threads(rt)) schedule(static)
            for (size_t b = 0; b < batch; b++) {
                float *sr = s + b * cnt;
                size_t label = (size_t)idx[b];
                for (size_t j = 0; j < cnt; j++) {
                    double p = exp(sr[j] * inv_tau - mx[b]);
                    if (first + j == label) p -= 1.0;
                    sr[j] = (float)(p * scale);
                }
            }
            if ((rc = lct__bank_grad_all(bank, s, batch, first, cnt, cnt, first > 0, df))) return rc;
        }
    }
    *loss_out = (float)(total / (double)batch);
    return LCT_OK;
}
