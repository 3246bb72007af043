/* Data parallelism: gradients averaged over the ranks of a communicator, in buckets. */
#include "optimizer_internal.h"
#include "../comm/comm.h"

int lct_optimizer_set_comm(lct_optimizer *opt, lct_comm *comm)
{
    LCT__REQUIRE(opt);
    if (comm && lct__comm_runtime(comm) != opt->rt) return LCT__FAIL(LCT_EMISMATCH, "comm belongs to another runtime than the optimiser");
    opt->comm = comm;
    return LCT_OK;
}

/* Copy the bucket back into the gradients of the small trainable tensors [lo, hi) (flat order), scaled. */
static void unpack(lct_optimizer *opt, size_t lo, size_t hi, float scale)
{
    size_t j = 0, off = 0;
    for (size_t s = 0; s < opt->n_sets && j < hi; s++) {
        lct_params *p = opt->sets[s].p;
        for (size_t i = 0; i < p->n_tensors && j < hi; i++) {
            lct__tensor *t = &p->tensors[i];
            if (!t->grad) continue;
            if (j >= lo && t->count < LCT__OPT_BUCKET_FLOATS) {
                for (size_t e = 0; e < t->count; e++) t->grad[e] = opt->bucket[off + e] * scale;
                off += t->count;
            }
            j++;
        }
    }
}

int lct__optimizer_allreduce(lct_optimizer *opt, const char *func)
{
    lct_comm *c = opt->comm;
    if (!lct__comm_active(c)) return LCT_OK;
    const float scale = (float)(1.0 / (double)lct__comm_size(c));
    if (opt->bucket == NULL) {
        size_t small = 0;
        for (size_t s = 0; s < opt->n_sets; s++)
            for (size_t i = 0; i < opt->sets[s].p->n_tensors; i++) {
                const lct__tensor *t = &opt->sets[s].p->tensors[i];
                if (t->grad && t->count < LCT__OPT_BUCKET_FLOATS) small += t->count;
            }
        size_t cap = small < LCT__OPT_BUCKET_FLOATS ? small : LCT__OPT_BUCKET_FLOATS;
        if (cap) {
            opt->bucket = lct__malloc(opt->rt, cap * sizeof(float));
            if (opt->bucket == NULL) return lct__fail(LCT_ENOMEM, func, "cannot allocate the %zu-float all-reduce bucket", cap);
            opt->bucket_cap = cap;
        }
    }
    size_t j = 0, lo = 0, fill = 0;
    int rc;
    for (size_t s = 0; s < opt->n_sets; s++) {
        lct_params *p = opt->sets[s].p;
        for (size_t i = 0; i < p->n_tensors; i++) {
            lct__tensor *t = &p->tensors[i];
            if (!t->grad) continue;
            if (t->count >= LCT__OPT_BUCKET_FLOATS) {
                /* large: alone, in place (the pending bucket keeps its own order) */
                if ((rc = lct__comm_allreduce_f32(c, t->grad, t->count, func))) return rc;
                for (size_t e = 0; e < t->count; e++) t->grad[e] *= scale;
            } else {
                if (fill + t->count > opt->bucket_cap) {
                    if ((rc = lct__comm_allreduce_f32(c, opt->bucket, fill, func))) return rc;
                    unpack(opt, lo, j, scale);
                    lo = j;
                    fill = 0;
                }
                if (fill == 0) lo = j;
                memcpy(opt->bucket + fill, t->grad, t->count * sizeof(float));
                fill += t->count;
            }
            j++;
        }
    }
    if (fill) {
        if ((rc = lct__comm_allreduce_f32(c, opt->bucket, fill, func))) return rc;
        unpack(opt, lo, j, scale);
    }
    return LCT_OK;
}
