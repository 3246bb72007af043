/*
 * Losses in checkpoints: log Z per bank, plus "<name>.params" (CPC's W_k).
 * Record layout in docs/checkpoint-format.md; the container's record API in checkpoint/checkpoint.h.
 */
#include "loss_internal.h"
#include "../checkpoint/checkpoint.h"

int lct_checkpoint_add_loss(lct_checkpoint_writer *w, const char *name, lct_loss *loss)
{
    lct__ckpt_put rec;
    int rc = lct__ckpt_record_begin(&rec, w, name, loss, loss ? loss->rt : NULL, "loss", __func__);
    if (rc) return rc;
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

/* The record against the loss: same kind, as many banks, finite log Z. */
static int check_loss(const void *target, lct__ckpt_get *g, unsigned char *payload, const char *name,
                      const char *func)
{
    (void)payload;
    const lct_loss *loss = target;
    size_t views = loss->log_z ? loss->n_banks : 0;
    uint32_t kind = lct__ckpt_get_u32(g);
    uint64_t n = lct__ckpt_get_u64(g);
    if (g->failed || n > lct__ckpt_get_left(g) / 12 || lct__ckpt_get_left(g) != 12 * n)
        return lct__fail(LCT_EFORMAT, func, "section '%s' is malformed", name);
    if ((int)kind != loss->kind || n != views)
        return lct__fail(LCT_ESHAPE, func, "section '%s' holds a loss of kind %u with %llu banks; the loss is kind %d "
                         "with %zu", name, (unsigned)kind, (unsigned long long)n, loss->kind, views);
    for (size_t v = 0; v < views; v++) {
        uint64_t bits = lct__ckpt_get_u64(g);
        uint32_t known = lct__ckpt_get_u32(g);
        double z;
        memcpy(&z, &bits, 8);
        if (!(z - z == 0.0) || known > 1)
            return lct__fail(LCT_ENUMERIC, func, "section '%s' holds a non-finite log Z for bank %zu", name, v);
    }
    return LCT_OK;
}

static const lct__ckpt_record LOSS_RECORD = {LCT__CKPT_TYPE_LOSS, "loss", check_loss, commit_loss, ".params"};

int lct_checkpoint_load_loss(lct_checkpoint_reader *r, const char *name, lct_loss *loss)
{
    lct_params *params = lct_loss_params(loss);
    return lct__ckpt_load_record(r, name, loss, loss ? loss->rt : NULL, &LOSS_RECORD, 16 + 12 * LCT__LOSS_MAX_VIEWS,
                                 params && params->n_tensors ? params : NULL, __func__);
}
