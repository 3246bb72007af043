/*
 * Augmenters in checkpoints: random stream and call counter.
 * Record layout in docs/checkpoint-format.md; the container's record API in checkpoint/checkpoint.h.
 */
#include "augment_internal.h"
#include "../checkpoint/checkpoint.h"

#define RECORD_SIZE 20u

int lct_checkpoint_add_augmenter(lct_checkpoint_writer *w, const char *name, const lct_augmenter *aug)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, aug, aug ? aug->rt : NULL, "aug", __func__);
    if (rc) return rc;
    lct__ckpt_put_u64(&rec, aug->stream);
    lct__ckpt_put_u64(&rec, aug->counter);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_AUGMENT, &rec, NULL, 0, 0, NULL, NULL, __func__);
}

static void commit_augmenter(void *target, const void *payload, size_t size)
{
    ((lct_augmenter *)target)->stream = lct__ckpt_u64_at(payload, 4);
    ((lct_augmenter *)target)->counter = lct__ckpt_u64_at(payload, 12);
}

static const lct__ckpt_record AUGMENT_RECORD = {LCT__CKPT_TYPE_AUGMENT, "aug", NULL, commit_augmenter, NULL};

int lct_checkpoint_load_augmenter(lct_checkpoint_reader *r, const char *name, lct_augmenter *aug)
{
    return lct__ckpt_load_record(r, name, aug, aug ? aug->rt : NULL, &AUGMENT_RECORD, RECORD_SIZE, NULL, __func__);
}
