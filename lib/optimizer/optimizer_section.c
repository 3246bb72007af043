/*
 * Optimisers in checkpoints: step counter, plus "<name>.state" (momenta, Adam moments).
 * Record layout in docs/checkpoint-format.md; the container's record API in checkpoint/checkpoint.h.
 */
#include "optimizer_internal.h"
#include "../checkpoint/checkpoint.h"

#define RECORD_SIZE 12u

int lct_checkpoint_add_optimizer(lct_checkpoint_writer *w, const char *name, lct_optimizer *opt)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, opt, opt ? opt->rt : NULL, "opt", __func__);
    if (rc) return rc;
    lct__ckpt_put_u64(&rec, opt->step);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_OPTIMIZER, &rec, NULL, 0, 0, ".state", lct_optimizer_state(opt),
                                __func__);
}

static void commit_optimizer(void *target, const void *payload, size_t size)
{
    ((lct_optimizer *)target)->step = lct__ckpt_u64_at(payload, 4);
}

static const lct__ckpt_record OPTIMIZER_RECORD = {LCT__CKPT_TYPE_OPTIMIZER, "opt", NULL, commit_optimizer, ".state"};

int lct_checkpoint_load_optimizer(lct_checkpoint_reader *r, const char *name, lct_optimizer *opt)
{
    return lct__ckpt_load_record(r, name, opt, opt ? opt->rt : NULL, &OPTIMIZER_RECORD, RECORD_SIZE,
                                 lct_optimizer_state(opt), __func__);
}
