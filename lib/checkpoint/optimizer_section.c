/*
 * Optimisers in checkpoints: step counter, plus "<name>.state" (momenta, Adam moments).
 * Record layout in docs/checkpoint-format.md; helpers in records.c.
 */
#include "checkpoint_internal.h"
#include "../optimizer/optimizer.h"

int lct_checkpoint_add_optimizer(lct_checkpoint_writer *w, const char *name, lct_optimizer *opt)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(opt);
    LCT__CKPT_WRITER_RT(w, opt->rt, "opt");
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u64(&rec, opt->step);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_OPTIMIZER, &rec, NULL, 0, 0, ".state", lct_optimizer_state(opt),
                      __func__);
}

static void commit_optimizer(void *target, const void *payload, size_t size)
{
    (void)size;
    ((lct_optimizer *)target)->step = lct__le64_load((const unsigned char *)payload + 4);
}

int lct_checkpoint_load_optimizer(lct_checkpoint_reader *r, const char *name, lct_optimizer *opt)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(opt);
    LCT__CKPT_READER_RT(r, opt->rt, "opt");
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = lct__ckpt_sub_name(sub, name, ".state", __func__);
    if (rc) return rc;
    int opened = lct__ckpt_implicit_begin(r);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = lct__ckpt_read_record(r, name, LCT__CKPT_TYPE_OPTIMIZER, 12, &data, &size, &g, __func__);
    if (rc == LCT_OK && size != 12) rc = LCT__FAIL(LCT_EFORMAT, "section '%s' holds %zu bytes, not 12", name, size);
    rc = lct__ckpt_finish(r, rc, opt, commit_optimizer, data, size);
    if (rc == LCT_OK) rc = lct_checkpoint_load_params(r, sub, lct_optimizer_state(opt));
    return lct__ckpt_implicit_end(r, opened, rc);
}

