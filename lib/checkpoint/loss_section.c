/*
 * Losses in checkpoints: log Z per bank, plus "<name>.params" (CPC's W_k).
 * Record layout in docs/checkpoint-format.md; helpers in records.c.
 */
#include "checkpoint_internal.h"
#include "../loss/loss_internal.h"

int lct_checkpoint_add_loss(lct_checkpoint_writer *w, const char *name, lct_loss *loss)
{
    LCT__REQUIRE(w);
    LCT__REQUIRE(name);
    LCT__REQUIRE(loss);
    LCT__CKPT_WRITER_RT(w, loss->rt, "loss");
    lct__ckpt_put rec;
    lct__ckpt_put_init(&rec, lct__ckpt_writer_runtime(w));
    lct__ckpt_put_u32(&rec, LCT__CKPT_RECORD_VERSION);
    lct__ckpt_put_u32(&rec, (uint32_t)loss->kind);
    size_t views = loss->log_z ? loss->n_banks : 0;
    lct__ckpt_put_u64(&rec, views);
    for (size_t v = 0; v < views; v++) {
        uint64_t bits;
        memcpy(&bits, &loss->log_z[v], 8);
        lct__ckpt_put_u64(&rec, bits);
        lct__ckpt_put_u32(&rec, (uint32_t)(loss->z_known[v] != 0));
    }
    lct_params *params = lct_loss_params(loss);
    return lct__ckpt_add_record(w, name, LCT__CKPT_TYPE_LOSS, &rec, NULL, 0, 0, ".params",
                      params && params->n_tensors ? params : NULL, __func__);
}

static void commit_loss(void *target, const void *payload, size_t size)
{
    (void)size;
    lct_loss *loss = target;
    const unsigned char *p = payload;
    size_t views = (size_t)lct__le64_load(p + 8);
    for (size_t v = 0; v < views; v++) {
        uint64_t bits = lct__le64_load(p + 16 + 12 * v);
        memcpy(&loss->log_z[v], &bits, 8);
        loss->z_known[v] = (int)lct__le32_load(p + 24 + 12 * v);
    }
}

int lct_checkpoint_load_loss(lct_checkpoint_reader *r, const char *name, lct_loss *loss)
{
    LCT__REQUIRE(r);
    LCT__REQUIRE(name);
    LCT__REQUIRE(loss);
    LCT__CKPT_READER_RT(r, loss->rt, "loss");
    char sub[LCT_CHECKPOINT_MAX_NAME + 1];
    int rc = lct__ckpt_sub_name(sub, name, ".params", __func__);
    if (rc) return rc;
    lct_params *params = lct_loss_params(loss);
    size_t views = loss->log_z ? loss->n_banks : 0;
    int opened = lct__ckpt_implicit_begin(r);
    void *data = NULL;
    size_t size = 0;
    lct__ckpt_get g;
    rc = lct__ckpt_read_record(r, name, LCT__CKPT_TYPE_LOSS, 16 + 12 * LCT__LOSS_MAX_VIEWS, &data, &size, &g, __func__);
    if (rc == LCT_OK) {
        uint32_t kind = lct__ckpt_get_u32(&g);
        uint64_t n = lct__ckpt_get_u64(&g);
        if (g.failed || n > lct__ckpt_get_left(&g) / 12 || lct__ckpt_get_left(&g) != 12 * n)
            rc = LCT__FAIL(LCT_EFORMAT, "section '%s' is malformed", name);
        else if ((int)kind != loss->kind || n != views)
            rc = LCT__FAIL(LCT_ESHAPE, "section '%s' holds a loss of kind %u with %llu banks; the loss is kind %d with %zu",
                           name, (unsigned)kind, (unsigned long long)n, loss->kind, views);
        for (size_t v = 0; rc == LCT_OK && v < views; v++) {
            uint64_t bits = lct__ckpt_get_u64(&g);
            uint32_t known = lct__ckpt_get_u32(&g);
            double z;
            memcpy(&z, &bits, 8);
            if (!(z - z == 0.0) || known > 1)
                rc = LCT__FAIL(LCT_ENUMERIC, "section '%s' holds a non-finite log Z for bank %zu", name, v);
        }
    }
    rc = lct__ckpt_finish(r, rc, loss, commit_loss, data, size);
    if (rc == LCT_OK && params && params->n_tensors) rc = lct_checkpoint_load_params(r, sub, params);
    return lct__ckpt_implicit_end(r, opened, rc);
}

