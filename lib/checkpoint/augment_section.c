/*
 * Augmenters in checkpoints: random stream and call counter.
 * Record layout in docs/checkpoint-format.md; helpers in records.c.
 */
#include "checkpoint_internal.h"
#include "../augment/augment_internal.h"

int lct_checkpoint_add_augmenter(lct_checkpoint_writer *w, const char *name, const lct_augmenter *aug)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(aug);
    LCT__CKPT_WRITER_RT(w, aug->rt, "aug");
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u64(&rec, aug->stream);
    lct__ckpt_put_u64(&rec, aug->counter);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_AUGMENT, &rec, NULL, 0, 0, NULL, NULL, __func__);
}

static void commit_augmenter(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_augmenter *aug = target;
    aug->stream = lct__le64_load((const unsigned char *)payload + 4);
    aug->counter = lct__le64_load((const unsigned char *)payload + 12);
}

int lct_checkpoint_load_augmenter(lct_checkpoint_reader *r, const char *name, lct_augmenter *aug)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(aug);
    LCT__CKPT_READER_RT(r, aug->rt, "aug");
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    int rc = lct__ckpt_read_record(r, name, LCT__CKPT_TYPE_AUGMENT, 20, &data, &size, &g, __func__);
    if (rc == LCT_OK && size != 20) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes, not 20", name, size);
    return lct__ckpt_finish(r, rc, aug, commit_augmenter, data, size);
}
