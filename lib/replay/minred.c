/*
 * MinRed (minimum redundancy): each slot keeps its nearest other slot and their similarity, measured
 * on the bound bank's rows. A new row is measured against every stored row (one pass over the bank)
 * and updates the others' nearest neighbours on the way; rows the host changed (a batch's, after its
 * bank update) are queued and re-measured a bounded number per insertion (in a GEMM through the bank
 * when there are many, else in dot products).
 * A slot whose nearest neighbour moved away keeps that similarity as a lower bound and is queued too.
 * With no row changed after its insertion, every measure is exact.
 */
#include <math.h>

#include "replay_internal.h"
#include "../bank/bank.h"

void lct__minred_mark(lct_replay *rp, size_t s)
{
    if (rp->dirty[s]) return;
    rp->dirty[s] = 1;
    rp->queue[(rp->q_head + rp->q_len) % rp->capacity] = (int64_t)s;
    rp->q_len++;
}

void lct__minred_measure(lct_replay *rp, const float *e, size_t count, float *sim)
{
    if (count == 0) return;
    if (e == NULL) {
        memset(sim, 0, count * sizeof *sim); /* a reset row is orthogonal to everything */
        return;
    }
    lct__bank_dots(rp->bank, e, 0, count, sim);
}

void lct__minred_enter(lct_replay *rp, size_t s, const float *sim)
{
    float best = -INFINITY;
    int64_t bi = -1;
    float *nn_sim = rp->nn_sim;
    int64_t *nn_idx = rp->nn_idx;
    for (size_t t = 0; t < rp->count; t++) {
        if (t == s) continue;
        float v = sim[t];
        if (v > best) best = v, bi = (int64_t)t; /* t ascending: ties keep the smaller slot */
        if (nn_idx[t] == (int64_t)s) {
            /* t's nearest was s's old row: still nearest if no less similar; else a lower bound, re-measure t */
            if (!(v >= nn_sim[t])) lct__minred_mark(rp, t);
            nn_sim[t] = v;
        } else if (v > nn_sim[t] || (v == nn_sim[t] && (int64_t)s < nn_idx[t])) {
            nn_sim[t] = v;
            nn_idx[t] = (int64_t)s;
        }
    }
    nn_sim[s] = best;
    nn_idx[s] = bi;
}

/* Below this many rows, re-measuring takes dot products in one pass over the bank: a GEMM would spend
 * more packing the bank than multiplying. */
#define MINRED_GEMM_MIN 32

/* Re-measure the n slots of `which` (rows gathered into rp->rows) against every row. */
static void remeasure(lct_replay *rp, const int64_t *which, size_t n)
{
    size_t c = rp->count;
    lct_bank_gather(rp->bank, which, n, rp->rows);
    if (n < MINRED_GEMM_MIN)
        lct__bank_dots_many(rp->bank, rp->rows, n, 0, c, rp->sims, c);
    else
        lct_bank_similarity_all(rp->bank, rp->rows, n, 0, c, rp->sims, c);
    for (size_t i = 0; i < n; i++) lct__minred_enter(rp, (size_t)which[i], rp->sims + i * c);
}

void lct__minred_refresh(lct_replay *rp)
{
    int64_t *which = rp->perm; /* free between calls: the batch draws use it only inside their call */
    size_t n = 0;
    while (rp->q_len > 0 && n < rp->refresh) {
        int64_t s = rp->queue[rp->q_head];
        rp->q_head = (rp->q_head + 1) % rp->capacity;
        rp->q_len--;
        rp->dirty[s] = 0;
        which[n++] = s;
    }
    if (n) remeasure(rp, which, n);
}

size_t lct__minred_victim(lct_replay *rp, const float *sim)
{
    int64_t checked[LCT__REPLAY_MAX_RECHECK];
    int n_checked = 0;
    for (;;) {
        float bv = -INFINITY;
        size_t best = 0;
        for (size_t t = 0; t < rp->count; t++) {
            float v = rp->nn_sim[t] > sim[t] ? rp->nn_sim[t] : sim[t];
            if (v > bv || (v == bv && rp->age[t] < rp->age[best])) bv = v, best = t;
        }
        /* A measure from the table is stale if the row changed since: measure it now and look again
         * (it stays queued: the queue holds each changed slot once). */
        int fresh = !rp->dirty[best] || !(rp->nn_sim[best] > sim[best]);
        for (int i = 0; i < n_checked; i++) fresh |= checked[i] == (int64_t)best;
        if (fresh || n_checked == LCT__REPLAY_MAX_RECHECK) return best;
        checked[n_checked] = (int64_t)best;
        remeasure(rp, &checked[n_checked++], 1);
    }
}
